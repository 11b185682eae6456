#!/bin/sh
# bench/ab.sh: the ratios of bench_replay (docs/performance.md) for two
# builds in alternation on one trace, so that both see the same machine:
# a change is measured against its parent in one run.
#
#   bench/ab.sh OLD_DIR NEW_DIR [ROUNDS] [EVENTS]
#
# Each DIR holds gen_trace and bench_replay (a Release build, or
# scripts/relink-static.sh's output for a machine without libsqlite3).
# ROUNDS (default 2) runs of each, alternating, OLD first in odd rounds;
# EVENTS defaults to 10000000. Extra bench_replay options go in
# $GT_BENCH_ARGS (default "--configs default": the per-config tables are
# skipped, the ratios kept; "--configs default --sim-only --rounds 5" times
# only the simulator, a few seconds a run, for tuning it; both builds must
# know --sim-only). The trace is made by NEW's gen_trace in a temporary
# directory and removed at the end; with GT_AB_OWN_TRACES=1 each build
# reads a trace its own gen_trace made (the same events), for a change to
# what a trace holds, which the old build would otherwise read too.
set -eu
if [ $# -lt 2 ]; then
    echo "usage: bench/ab.sh OLD_DIR NEW_DIR [ROUNDS] [EVENTS]" >&2
    exit 2
fi
old=$1
new=$2
rounds=${3:-2}
events=${4:-10000000}
for d in "$old" "$new"; do
    for exe in gen_trace bench_replay; do
        if [ ! -x "$d/$exe" ]; then
            echo "bench/ab.sh: error: '$d/$exe' not found" >&2
            exit 1
        fi
    done
done
dir=$(mktemp -d "${TMPDIR:-/tmp}/gt-ab.XXXXXX")
trap 'rm -rf "$dir"' EXIT INT TERM
"$new/gen_trace" --seed 1 --events "$events" -o "$dir/new.db" >/dev/null
if [ "${GT_AB_OWN_TRACES:-0}" = 1 ]; then
    "$old/gen_trace" --seed 1 --events "$events" -o "$dir/old.db" >/dev/null
else
    ln -s new.db "$dir/old.db"
fi
echo "date   $(date -u +%Y-%m-%dT%H:%M:%SZ); $(nproc) CPUs; $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)"
echo "trace  gen_trace --seed 1 --events $events${GT_AB_OWN_TRACES:+ (GT_AB_OWN_TRACES=$GT_AB_OWN_TRACES)}; bench_replay ${GT_BENCH_ARGS:---configs default}"
r=1
while [ "$r" -le "$rounds" ]; do
    if [ $((r % 2)) -eq 1 ]; then order="$old $new"; else order="$new $old"; fi
    for d in $order; do
        echo "== round $r: $d"
        trace=$dir/new.db
        if [ "$d" = "$old" ]; then trace=$dir/old.db; fi
        # shellcheck disable=SC2086
        "$d/bench_replay" "$trace" ${GT_BENCH_ARGS:---configs default} |
            sed -n '/^sim /,/^  mean /p;/^sweep /p;/^  checksum/p;/^ratios/,$p'
    done
    r=$((r + 1))
done
