#!/bin/sh
# bench/tracer.sh: the tracer's cost on the program's thread and the drain's
# rate (issue 4), through the CUDA/CUPTI test doubles, for
# docs/performance.md.
#
#   [RUNS=5] bench/tracer.sh [BUILD_DIR] [PAIRS]
#
# Runs fake_app's `churn PAIRS 4096` (runtime cudaMalloc/cudaFree pairs; each
# call also makes a nested driver call: 2 trace events and 4 traced API calls
# a pair) RUNS times untraced and RUNS times under `gpu-trace record`, with
# a ring large enough that nothing is dropped. Per event: (traced - untraced)
# / (2 * PAIRS), the whole cost of one cudaMalloc or cudaFree with its nested
# driver call on the program's thread, from the best of each (fake_app times the loop itself, so
# process start and the drain after it are not in it). "after the loop" is
# the trace's events over record's wall time after the program's loop ended:
# it flatters a drain that kept up during the loop, so the drain's own rate
# comes from bench_drain (one ring of 2 M records drained with nothing else
# running), run last when it was built.
# BUILD_DIR (default ./build) needs gpu-trace, tracer/libgputrace-inject.so
# and tests/fake/ (fake_app, lib/) from a Release build.
set -eu

build=${1:-build}
pairs=${2:-1000000}
runs=${RUNS:-5}
gt=$build/gpu-trace
app=$build/tests/fake/fake_app
fake=$build/tests/fake/lib
inject=$build/tracer/libgputrace-inject.so
for f in "$gt" "$app" "$inject" "$fake/libcupti.so.13"; do
    if [ ! -e "$f" ]; then
        echo "bench/tracer.sh: error: '$f' not found; build with -DCMAKE_BUILD_TYPE=Release first" >&2
        exit 1
    fi
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gt-tracer-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
printf 'churn %s 4096\n' "$pairs" >"$tmp/scenario"
capacity=1
while [ "$capacity" -lt $((pairs * 4 + 1024)) ]; do capacity=$((capacity * 2)); done

echo "date        $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "host        $(uname -srm); $(nproc) CPUs; $(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)"
echo "commit      $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo unknown)"

loop_ns() { sed -n 's/^churn: [0-9]* pairs in \([0-9]*\) ns$/\1/p' "$1"; }
best() { sort -n | head -n 1; }

# The floor: the same loop with the doubles' CUPTI dispatching every call to
# a subscriber that does nothing (tests/fake/fake_inject_stub.c), as the
# driver loads an injection: what the double itself costs, not the tracer.
stub=$build/tests/fake/libfake_inject_stub.so
: >"$tmp/floors"
for i in $(seq "$runs"); do
    if [ -e "$stub" ]; then
        LD_LIBRARY_PATH=$fake CUDA_INJECTION64_PATH=$stub GPUTRACE_CUPTI="$fake/libcupti.so.13" \
            FAKE_STUB_FREES=1 FAKE_APP_TIMING=1 "$app" "$tmp/scenario" 2>"$tmp/floor$i"
        loop_ns "$tmp/floor$i" >>"$tmp/floors"
    fi
done
# Untraced and traced runs alternate, so that a slow spell of this shared
# machine hits both; the best of each is kept.
: >"$tmp/plains"
: >"$tmp/runs"
for i in $(seq "$runs"); do
    LD_LIBRARY_PATH=$fake FAKE_APP_TIMING=1 "$app" "$tmp/scenario" 2>"$tmp/plain$i"
    loop_ns "$tmp/plain$i" >>"$tmp/plains"
    rm -f "$tmp/t$i.db"
    start=$(date +%s%N)
    GPUTRACE_INJECT=$inject "$gt" record -o "$tmp/t$i.db" -- env LD_LIBRARY_PATH="$fake" \
        GPUTRACE_CUPTI="$fake/libcupti.so.13" GPUTRACE_RING_CAPACITY="$capacity" FAKE_APP_TIMING=1 \
        "$app" "$tmp/scenario" 2>"$tmp/traced$i" >/dev/null
    end=$(date +%s%N)
    echo "$(loop_ns "$tmp/traced$i") $((end - start))" >>"$tmp/runs"
done
plain=$(best <"$tmp/plains")
floor=$(best <"$tmp/floors")
floor=${floor:-0}
traced=$(cut -d' ' -f1 "$tmp/runs" | best)
# Through `gpu-trace sql`: since format v2 `events` is a view it provides.
events=$("$gt" sql "$tmp/t1.db" "SELECT count(*) FROM events" --format list)
lost=$("$gt" sql "$tmp/t1.db" "SELECT value FROM meta WHERE key = 'lost_events'" --format list)
record_ns=$(sort -n "$tmp/runs" | head -n 1 | cut -d' ' -f2)
loop_of_that=$(sort -n "$tmp/runs" | head -n 1 | cut -d' ' -f1)
awk -v p="$plain" -v t="$traced" -v n="$pairs" -v e="$events" -v l="$lost" \
    -v r="$record_ns" -v lt="$loop_of_that" -v f="$floor" 'BEGIN {
    printf "untraced    %d pairs in %.3f s: %.1f ns a call\n", n, p / 1e9, p / (2 * n)
    if (f > 0)
        printf "floor       %.3f s: %.1f ns a call (the doubles dispatching to an empty subscriber)\n", f / 1e9, f / (2 * n)
    printf "traced      %.3f s: %.1f ns a call\n", t / 1e9, t / (2 * n)
    printf "per event (traced - untraced) / (2 * pairs): %.1f ns, the double'"'"'s dispatch included\n", (t - p) / (2 * n)
    if (f > 0)
        printf "per event, the tracer alone (traced - floor) / (2 * pairs): %.1f ns (target <= 100)\n", (t - f) / (2 * n)
    printf "trace       %d events, lost_events %s\n", e, l
    printf "record      %.3f s wall; after the loop %.3f s: %.2f M events/s drained (target >= 2)\n", r / 1e9, (r - lt) / 1e9, e / ((r - lt) / 1e3)
}'
if [ -x "$build/bench_drain" ]; then
    TMPDIR=${TMPDIR:-/tmp} "$build/bench_drain" --events 2000000 | sed 's/^/bench_drain /'
fi
