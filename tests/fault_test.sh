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
# The runs of a case, split among as many workers as CPUs: worker w runs
# allocations w+1, w+1+jobs, ... in a directory of its own (the inputs
# linked in), printing a FAIL line for each broken rule.
jobs=$(nproc 2>/dev/null || echo 2)
run_share() {
    local w=$1 n rc
    mkdir -p "$work/w$w" && cd "$work/w$w" || exit 1
    for f in train.db small.csv small.db leak.db parting.db; do ln -sf "$work/$f" "$f"; done
    for ((n = w + 1; n <= total; n += jobs)); do
        rm -f out.db out.html out.pickle out.json
        # shellcheck disable=SC2086
        GT_FAIL_ALLOC=$n timeout 60 "$bin" $cmd >stdout 2>stderr
        rc=$?
        if [ $rc -ne 0 ] && [ $rc -ne 1 ]; then
            echo "FAIL $name, allocation $n of $total: exit $rc"
            tail -5 stderr
        elif [ $rc -eq 1 ] && ! grep -q '^gpu-trace: error: ' stderr; then
            echo "FAIL $name, allocation $n of $total: exit 1 without an error line"
        elif [ $rc -eq 1 ] && [ -n "$out" ] && [ -e "$out" ]; then
            echo "FAIL $name, allocation $n of $total: a failed run left '$out'"
        fi
    done
}
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
    for ((w = 0; w < jobs; w++)); do
        run_share "$w" >"$work/report.$w" &
    done
    wait
    runs=$((runs + total))
    broken=$(cat "$work"/report.* | grep -c '^FAIL ')
    if [ "$broken" -gt 0 ]; then
        cat "$work"/report.*
        failures=$((failures + broken))
    fi
    rm -f "$work"/report.*
    echo "ok $name: $total allocations, each failed once"
done
echo "$runs runs, $failures failures"
[ $failures -eq 0 ]
