#!/usr/bin/env bash
# The whole test suite: builds with -Werror and runs every CTest label (unit,
# cli, golden), then the fuzz targets briefly (fuzz-smoke, needs clang) and
# the threaded replay under ThreadSanitizer (scripts/tsan.sh, needs clang).
#   GT_SANITIZE=address,undefined scripts/test.sh   runs it all under ASan+UBSan
#   GT_FUZZ_SECONDS=N                                seconds per fuzz target (default 10)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
san=${GT_SANITIZE:-}
build="$root/build-test${san:+-san}"
jobs=$(nproc 2>/dev/null || echo 2)

# Formatting: every tracked C file as .clang-format says (clang-format 14).
if command -v clang-format >/dev/null 2>&1 && git -C "$root" rev-parse >/dev/null 2>&1; then
    (cd "$root" && git ls-files -z '*.c' '*.h' | xargs -0 clang-format --dry-run --Werror)
fi
# The C dialect of CONTRIBUTING.md (pointers against NULL, sizeof of objects
# without parentheses), where coccinelle is installed (scripts/deps.sh does).
if command -v spatch >/dev/null 2>&1 && git -C "$root" rev-parse >/dev/null 2>&1; then
    "$root/scripts/dialect.sh" --check
fi

cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGT_WERROR=ON \
      -DGT_SANITIZE="$san" >/dev/null
cmake --build "$build" -j "$jobs"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir "$build" --output-on-failure -j "$jobs"

# fuzz-smoke: every libFuzzer target over its seed corpus for a bounded time.
# The fuzz targets are built with ASan and UBSan already: one run is enough,
# so the sanitized pass (GT_SANITIZE set) skips them.
if [ -n "$san" ]; then
    echo "fuzz-smoke: run by the plain pass (the targets are sanitized builds)"
elif command -v clang >/dev/null 2>&1; then
    fb="$root/build-fuzz"
    cmake -S "$root" -B "$fb" -DCMAKE_C_COMPILER=clang -DGT_FUZZ=ON -DBUILD_TESTING=OFF \
          -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$fb" -j "$jobs"
    secs=${GT_FUZZ_SECONDS:-10}
    for t in "$fb"/fuzz_*; do
        [ -x "$t" ] || continue
        name=$(basename "$t")
        corpus="$root/fuzz/corpus/${name#fuzz_}"
        work=$(mktemp -d)
        [ -d "$corpus" ] && cp -r "$corpus"/. "$work"/
        echo "fuzz-smoke: $name for ${secs}s"
        (cd "$work" && "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=0 "$work" >"$work/log" 2>&1) || {
            tail -40 "$work/log"; echo "fuzz-smoke: $name found a crash"; exit 1; }
        rm -rf "$work"
    done
else
    echo "fuzz-smoke: skipped (clang not installed; scripts/deps.sh installs it)"
fi
# ThreadSanitizer over the threaded replay, once, by the plain pass.
[ -n "$san" ] || "$root/scripts/tsan.sh"
echo "all tests passed${san:+ (sanitizers: $san)}"
