#!/usr/bin/env bash
# ThreadSanitizer over the threaded replay: gpu-trace built with
# -fsanitize=thread (clang: gcc's TSan refuses the ring's atomic fences)
# runs analyze, with 2 to 4 worker threads, --fit and the uncapped replay,
# on every golden case, the bundled examples and the shared real traces.
# Any data race or lock-order report fails the run (halt_on_error).
#   scripts/tsan.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if ! command -v clang >/dev/null 2>&1; then
    echo "tsan: skipped (clang not installed; scripts/deps.sh installs it)"
    exit 0
fi
build="$root/build-tsan"
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DGT_WERROR=ON -DGT_SANITIZE=thread -DBUILD_TESTING=OFF -DGT_WITH_CUPTI=OFF >/dev/null
cmake --build "$build" -j "$(nproc 2>/dev/null || echo 2)" --target gpu-trace >/dev/null
gt="$build/gpu-trace"
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 exitcode=66"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
traces=()
for csv in "$root"/tests/data/*/trace.csv; do
    db="$work/$(basename "$(dirname "$csv")").db"
    "$gt" import "$csv" -o "$db" >/dev/null && traces+=("$db")
done
traces+=("$root"/examples/*.db)
shared="$root/../shared/data/traces"
for f in "$shared"/*/*.pickle "$shared"/*/*.json.gz; do
    [ -e "$f" ] || continue
    db="$work/$(basename "$(dirname "$f")").db"
    "$gt" import "$f" -o "$db" >/dev/null && traces+=("$db")
done
runs=0
for db in "${traces[@]}"; do
    for t in 2 4; do
        rc=0
        "$gt" analyze "$db" --threads "$t" >/dev/null 2>"$work/err" || rc=$?
        if [ $rc = 66 ] || grep -q "ThreadSanitizer" "$work/err"; then
            cat "$work/err"; echo "tsan: a report on $(basename "$db") with $t threads"; exit 1
        fi
        runs=$((runs + 1))
    done
    rc=0
    "$gt" analyze "$db" --threads 3 --fit --device-memory 1GiB >/dev/null 2>"$work/err" || rc=$?
    if [ $rc = 66 ] || grep -q "ThreadSanitizer" "$work/err"; then
        cat "$work/err"; echo "tsan: a report on $(basename "$db") with --fit"; exit 1
    fi
    runs=$((runs + 1))
done
echo "tsan: $runs threaded replays of ${#traces[@]} traces, no report"
