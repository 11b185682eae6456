#!/usr/bin/env bash
# Long fuzzing runs (issue 11): every libFuzzer target for SECONDS (default
# 3600) each, with its committed corpus plus the real traces of
# ../shared/data/traces (snapshots and profiler traces as they are, and
# imported into traces for the reader and the commands). Prints per target
# the runs, the executions per second, the corpus grown and any crash; the
# crashing inputs stay in WORK for turning into tests.
#   scripts/fuzz-long.sh [SECONDS] [WORK]
#   GT_FUZZ_TARGETS="chrome csv"  only these targets (default: all)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-3600}
work=${2:-$(mktemp -d "${TMPDIR:-/tmp}/gt-fuzz-long.XXXXXX")}
shared=${GT_SHARED_TRACES:-$root/../shared/data/traces}
fb="$root/build-fuzz"
cmake -S "$root" -B "$fb" -DCMAKE_C_COMPILER=clang -DGT_FUZZ=ON -DBUILD_TESTING=OFF \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$fb" -j "$(nproc)" >/dev/null
cmake -S "$root" -B "$root/build-rel" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$root/build-rel" -j "$(nproc)" --target gpu-trace >/dev/null
gt="$root/build-rel/gpu-trace"

mkdir -p "$work"
for t in "$fb"/fuzz_*; do
    name=$(basename "$t")
    corpus="$work/${name#fuzz_}"
    mkdir -p "$corpus"
    [ -d "$root/fuzz/corpus/${name#fuzz_}" ] && cp -r "$root/fuzz/corpus/${name#fuzz_}"/. "$corpus"/
done
# The real traces as seeds: snapshots for the pickle decoder and the
# import, profiles for the chrome importer, every one imported for the
# reader and the commands.
if [ -d "$shared" ]; then
    for f in "$shared"/*/*; do
        case "$f" in
        *.pickle) cp "$f" "$work/pickle/"; cp "$f" "$work/import_snapshot/" ;;
        *.json.gz) cp "$f" "$work/chrome/" ;;
        *) continue ;;
        esac
        db="$work/$(basename "$(dirname "$f")").db"
        "$gt" import "$f" -o "$db" >/dev/null 2>&1 && cp "$db" "$work/trace/" && cp "$db" "$work/commands/"
    done
fi
for t in "$fb"/fuzz_*; do
    name=$(basename "$t")
    if [ -n "${GT_FUZZ_TARGETS:-}" ] && [[ " $GT_FUZZ_TARGETS " != *" ${name#fuzz_} "* ]]; then
        continue
    fi
    corpus="$work/${name#fuzz_}"
    log="$work/$name.log"
    before=$(find "$corpus" -type f | wc -l)
    (cd "$work" && "$t" -max_total_time="$secs" -timeout=30 -rss_limit_mb=4096 \
        -print_final_stats=1 -artifact_prefix="$work/$name-" "$corpus" >"$log" 2>&1) && rc=0 || rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    after=$(find "$corpus" -type f | wc -l)
    crashes=$(find "$work" -maxdepth 1 -name "$name-*" | wc -l)
    echo "$name: ${secs}s, ${runs:-?} runs (${eps:-?}/s), corpus $before -> $after, exit $rc, crash files $crashes"
done
echo "work folder: $work"
