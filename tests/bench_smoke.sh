#!/usr/bin/env bash
# The benchmarks as programs: gen_trace writes a small trace, bench_replay
# runs every pass over it (scans, simulator, replays, sweeps, the --rss-only
# child) and exits 1 when their checksums disagree, then times the
# simulator alone (--sim-only, every config of the sweep), and bench_drain
# moves events from a ring into a trace. Timings on a trace this small mean
# nothing; what is tested is that the benchmark code runs clean (under ASan
# in CI) and that the passes agree.
#
# usage: bench_smoke.sh BUILD_DIR
set -u

if [ $# -ne 1 ]; then
    echo "usage: $0 BUILD_DIR" >&2
    exit 2
fi
build=$(cd "$1" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failures=0

check() { # NAME CMD...: runs CMD, output in $work/NAME.out
    local name=$1
    shift
    "$@" >"$work/$name.out" 2>&1
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "FAIL $name: exit status $rc from $*"
        sed 's/^/    /' "$work/$name.out"
        failures=$((failures + 1))
    fi
}

check gen_trace "$build/gen_trace" --seed 1 --events 30000 -o "$work/train.db"
check bench_replay "$build/bench_replay" "$work/train.db" --configs default --rounds 1
if ! grep -q "threads=1 and single-config runs agree" "$work/bench_replay.out"; then
    echo "FAIL bench_replay: no agreement line"
    failures=$((failures + 1))
fi
if grep -q "MISMATCH\|DISAGREE" "$work/bench_replay.out"; then
    echo "FAIL bench_replay: a checksum differs but the exit status was 0"
    failures=$((failures + 1))
fi
check sim_only "$build/bench_replay" "$work/train.db" --sim-only --rounds 1
if ! grep -q "^  checksum (sum of peak reserved)" "$work/sim_only.out" ||
    grep -q "^replay" "$work/sim_only.out"; then
    echo "FAIL bench_replay --sim-only: not the simulator section alone"
    failures=$((failures + 1))
fi
check bench_drain "$build/bench_drain" --events 20000 --dir "$work"

echo "bench_smoke: $failures failure(s)"
[ "$failures" -eq 0 ]
