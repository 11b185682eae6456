#!/bin/sh
# bench/run.sh: the figures of docs/performance.md. Generates a seeded
# 10 M-event training-loop trace with gen_trace in a temporary directory (or
# reuses $GT_BENCH_TRACE if it names an existing trace) and runs bench_replay
# on it. A trace written before the batch summaries (docs/trace-format.md)
# is still read, but its card pass decodes every event: regenerate it to
# measure today's reader.
#
#   bench/run.sh [BUILD_DIR] [EVENTS]
#
# BUILD_DIR defaults to ./build (it must hold gen_trace and bench_replay, e.g.
# cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build;
# for a machine without libsqlite3, scripts/relink-static.sh build DIR
# gen_trace bench_replay, then bench/run.sh DIR there);
# EVENTS defaults to 10000000. Extra bench_replay options go in
# $GT_BENCH_ARGS (e.g. "--configs default", "--rounds 5"). The output ends
# with the ratios of issue 15 (docs/performance.md): the simulator alone per
# config, one config end to end, the 12-config sweep on one thread and on all
# threads, in CPU time against a one-column scan of the same file, each the
# best of --rounds interleaved runs. The trace is removed at the end
# unless GT_BENCH_KEEP=1.
set -eu

build=${1:-build}
events=${2:-10000000}
for exe in gen_trace bench_replay; do
    if [ ! -x "$build/$exe" ]; then
        echo "bench/run.sh: error: '$build/$exe' not found; build with -DCMAKE_BUILD_TYPE=Release first" >&2
        exit 1
    fi
done

echo "date        $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "host        $(uname -srm); $(nproc) CPUs; $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)"
echo "memory      $(free -h 2>/dev/null | awk '/^Mem:/ {print $2}') RAM"
echo "sqlite      $(sqlite3 --version 2>/dev/null | cut -d' ' -f1 || echo 'no shell')"

if [ -n "${GT_BENCH_TRACE:-}" ] && [ -f "$GT_BENCH_TRACE" ]; then
    trace=$GT_BENCH_TRACE
else
    dir=$(mktemp -d "${TMPDIR:-/tmp}/gt-bench.XXXXXX")
    if [ "${GT_BENCH_KEEP:-0}" != 1 ]; then
        trap 'rm -rf "$dir"' EXIT INT TERM
    fi
    trace=$dir/train-$events.db
    start=$(date +%s)
    "$build/gen_trace" --seed 1 --events "$events" -o "$trace"
    echo "generate    $(($(date +%s) - start)) s: $build/gen_trace --seed 1 --events $events -o $trace"
fi

echo "command     $build/bench_replay $trace ${GT_BENCH_ARGS:-}"
echo
# shellcheck disable=SC2086
"$build/bench_replay" "$trace" ${GT_BENCH_ARGS:-}
