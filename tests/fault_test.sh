#!/usr/bin/env bash
# Allocation-failure injection over every command: for each command line
# below, the Nth allocation of gpu-trace's own code fails, for every N up to
# the number the command makes (tests/fault/fail_alloc.c). Each run must end
# in exit 0 (the failure was absorbed) or in exit 1 with gpu-trace's error
# line, never a crash, a hang or (under the sanitizers) a leak, and a
# failed import or report leaves no output behind.
#
# usage: fault_test.sh GPU_TRACE_FAULT SOURCE_DIR
set -u
bin=$1
src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
cp "$src/examples/h100-train-loop.db" train.db
cp "$src/tests/data/split-avoids-oom/trace.csv" small.csv
"$bin" import small.csv -o small.db >/dev/null 2>&1 || { echo "setup failed"; exit 1; }
"$bin" import "$src/tests/data/iterations-leak/trace.csv" -o leak.db >/dev/null 2>&1 ||
    { echo "setup failed"; exit 1; }
# 2 MiB requests past the first batch of ops, then one of 100 MiB: the
# sweep's max_split_size_mb:64 shares default's simulator and then parts
# from it with a copy (replay.c: part_followers, gt_sim_clone)
{
    echo "ts_ns,action,addr,size,stream,device"
    awk 'BEGIN { for (i = 0; i < 2500; i++) {
        printf "%d,alloc,0x%x,2097152,0,0\n", 2 * i + 1, 4096 * (i + 1)
        printf "%d,free,0x%x,,0,0\n", 2 * i + 2, 4096 * (i + 1) } }'
    echo "9000,alloc,0x7f0000000000,104857600,0,0"
} >parting.csv
"$bin" import parting.csv -o parting.db >/dev/null 2>&1 || { echo "setup failed"; exit 1; }

failures=0
runs=0
# name|output to check|command...
cases=(
    "import csv|out.db|import small.csv -o out.db"
    "import snapshot|out.db|import $src/tests/data/snapshot/midrun.pickle -o out.db"
    "import chrome|out.db|import $src/tests/data/chrome/two-devices.json -o out.db"
    "import chrome gzip|out.db|import $src/tests/data/chrome/two-devices.json.gz -o out.db"
    "import v1 trace|out.db|import $src/tests/data/v1/h100-train-loop-v1.db -o out.db"
    "analyze||analyze small.db"
    "analyze --fit json||analyze small.db --fit --format json --device-memory 150MiB"
    "analyze, shared then parted||analyze parting.db -c default -c max_split_size_mb:64 --threads 1"
    "oom||oom small.db --device-memory 110MiB"
    "oom --message||oom --message $src/tests/data/oom-messages/cuda21-2.txt"
    "stats||stats train.db"
    "stats --top||stats small.db --top 3"
    "stats --iterations||stats leak.db --iterations"
    "validate||validate small.db"
    "sql||sql train.db SELECT(count(*))FROM(events)"
    "report|out.html|report small.db -o out.html --device-memory 110MiB"
    "export|out.pickle|export train.db -o out.pickle"
    "export --config|out.pickle|export small.db -o out.pickle --config expandable_segments:True --device-memory 110MiB"
    "export perfetto|out.json|export small.db -f perfetto -o out.json --device-memory 110MiB"
)
for c in "${cases[@]}"; do
    IFS='|' read -r name out cmd <<<"$c"
    rm -f out.db out.html out.pickle out.json
    # shellcheck disable=SC2086
    total=$(GT_FAIL_ALLOC_COUNT=1 "$bin" $cmd 2>&1 >/dev/null | sed -n 's/^allocations: //p' | tail -1)
    if [ -z "$total" ]; then
        echo "FAIL $name: the run without failures did not finish"
        failures=$((failures + 1))
        continue
    fi
    for n in $(seq 1 "$total"); do
        rm -f out.db out.html out.pickle out.json
        runs=$((runs + 1))
        # shellcheck disable=SC2086
        GT_FAIL_ALLOC=$n timeout 60 "$bin" $cmd >stdout 2>stderr
        rc=$?
        if [ $rc -ne 0 ] && [ $rc -ne 1 ]; then
            echo "FAIL $name, allocation $n of $total: exit $rc"
            tail -5 stderr
            failures=$((failures + 1))
        elif [ $rc -eq 1 ] && ! grep -q '^gpu-trace: error: ' stderr; then
            echo "FAIL $name, allocation $n of $total: exit 1 without an error line"
            failures=$((failures + 1))
        elif [ $rc -eq 1 ] && [ -n "$out" ] && [ -e "$out" ]; then
            echo "FAIL $name, allocation $n of $total: a failed run left '$out'"
            failures=$((failures + 1))
        fi
    done
    echo "ok $name: $total allocations, each failed once"
done
echo "$runs runs, $failures failures"
[ $failures -eq 0 ]
