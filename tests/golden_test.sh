#!/usr/bin/env bash
# Golden CLI cases: for every tests/data/<case>/ with a trace.csv, import the
# CSV into a fresh trace, run `gpu-trace <command> trace.db $(cat cmd)` and
# diff stdout with `expected` and stderr with `expected_stderr` (empty when
# that file is absent). <command> is the word in the case's file `command`,
# analyze when there is none. GT_GOLDEN_UPDATE=1 rewrites the expected files.
#
# usage: golden_test.sh GPU_TRACE_BINARY DATA_DIR
set -u

if [ $# -ne 2 ]; then
    echo "usage: $0 GPU_TRACE_BINARY DATA_DIR" >&2
    exit 2
fi
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
data=$(cd "$2" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failed=0
ran=0
for dir in "$data"/*/; do
    dir=${dir%/}
    if [ ! -f "$dir/trace.csv" ] || [ ! -f "$dir/cmd" ]; then
        continue
    fi
    name=$(basename "$dir")
    ran=$((ran + 1))
    mkdir "$work/$name"
    # Run inside the case's own folder so the trace is named 'trace.db' in
    # the output whatever the temporary directory is.
    if ! (cd "$work/$name" && "$bin" import "$dir/trace.csv" -o trace.db >/dev/null); then
        echo "FAIL $name: import of trace.csv failed"
        failed=$((failed + 1))
        continue
    fi
    read -r -a args <"$dir/cmd"
    command=analyze
    [ -f "$dir/command" ] && read -r command <"$dir/command"
    (cd "$work/$name" && "$bin" "$command" trace.db "${args[@]}" >stdout 2>stderr)
    rc=$?
    if [ "${GT_GOLDEN_UPDATE:-0}" = 1 ]; then
        cp "$work/$name/stdout" "$dir/expected"
        if [ -s "$work/$name/stderr" ]; then
            cp "$work/$name/stderr" "$dir/expected_stderr"
        else
            rm -f "$dir/expected_stderr"
        fi
        echo "updated $name"
        continue
    fi
    ok=1
    if [ $rc -ne 0 ]; then
        echo "FAIL $name: $command exited $rc"
        ok=0
    fi
    if ! diff -u "$dir/expected" "$work/$name/stdout"; then
        echo "FAIL $name: stdout differs from $dir/expected"
        ok=0
    fi
    expected_stderr=/dev/null
    [ -f "$dir/expected_stderr" ] && expected_stderr=$dir/expected_stderr
    if ! diff -u "$expected_stderr" "$work/$name/stderr"; then
        echo "FAIL $name: stderr differs from $expected_stderr"
        ok=0
    fi
    if [ $ok = 1 ]; then
        echo "ok   $name"
    else
        failed=$((failed + 1))
    fi
done

if [ $ran = 0 ]; then
    echo "FAIL: no golden cases under $data"
    exit 1
fi
echo "$ran cases, $failed failed"
[ $failed = 0 ]
