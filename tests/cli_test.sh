#!/usr/bin/env bash
# CLI contract of gpu-trace (docs/notes/conventions.md, CLI and Errors): every --help
# works, usage errors exit 2, bad files and values exit 1 with exactly one
# line "gpu-trace: error: ..." naming the file or value, and output that
# cannot be written is an error.
#
# usage: cli_test.sh GPU_TRACE_BINARY
set -u

if [ $# -ne 1 ]; then
    echo "usage: $0 GPU_TRACE_BINARY" >&2
    exit 2
fi
bin=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1

failures=0
cases=0

fail() {
    echo "FAIL $1: $2"
    sed 's/^/    stdout: /' out
    sed 's/^/    stderr: /' err
    failures=$((failures + 1))
}

# run NAME CMD...: runs CMD with stdout in ./out, stderr in ./err; sets rc.
run() {
    cases=$((cases + 1))
    shift
    "$@" >out 2>err
    rc=$?
}

# expect_ok NAME CMD...: exit 0.
expect_ok() {
    local name=$1
    run "$@"
    [ $rc -eq 0 ] || fail "$name" "exit $rc, expected 0"
}

# expect_usage NAME CMD...: exit 2, stderr starts with the error line.
expect_usage() {
    local name=$1
    run "$@"
    if [ $rc -ne 2 ]; then
        fail "$name" "exit $rc, expected 2"
    elif ! head -n 1 err | grep -q '^gpu-trace: error: '; then
        fail "$name" "stderr does not start with 'gpu-trace: error: '"
    fi
}

# expect_error NAME TEXT CMD...: exit 1, exactly one stderr line, starting
# with "gpu-trace: error:" and containing TEXT (the file or value).
expect_error() {
    local name=$1 text=$2
    shift
    run "$@"
    if [ $rc -ne 1 ]; then
        fail "$name" "exit $rc, expected 1"
    elif [ "$(wc -l <err)" -ne 1 ]; then
        fail "$name" "expected exactly one line on stderr"
    elif ! grep -q '^gpu-trace: error: ' err; then
        fail "$name" "stderr does not start with 'gpu-trace: error: '"
    elif ! grep -qF -- "$text" err; then
        fail "$name" "stderr does not name $text"
    fi
}

# A good trace, imported from the interchange format.
cat >good.csv <<'CSV'
ts_ns,action,addr,size,stream,device
1000,alloc,0x7f0000000000,5242880,0,0
2000,alloc,0x7f0000500000,1000,0,0
3000,free,0x7f0000000000,,0,0
4000,free,0x7f0000500000,,0,0
CSV
{
    echo 'ts_ns,action,addr,size,stream,device'
    for i in $(seq 1 2000); do
        echo "$i,alloc,$((4096 * i)),1000,0,0"
    done
} >big.csv
expect_ok "import of a good CSV" "$bin" import good.csv -o good.db
grep -q 'imported 4 events' out || fail "import summary" "no 'imported 4 events' on stdout"
expect_ok "import of a larger CSV" "$bin" import big.csv -o big.db
expect_ok "analyze of a good trace" "$bin" analyze good.db
grep -q 'PYTORCH_CUDA_ALLOC_CONF' out || fail "analyze of a good trace" "no recommendation"
[ -s err ] && fail "analyze of a good trace" "stderr is not empty (no terminal, no progress)"

# Every command the top-level help lists has a --help.
expect_ok "gpu-trace --help" "$bin" --help
grep -q '^Usage' out || fail "gpu-trace --help" "no Usage on stdout"
commands=$(sed -n '/^Commands:/,/^$/p' out | awk 'NR > 1 && NF { print $1 }')
[ -n "$commands" ] || fail "command list" "no commands under 'Commands:' in gpu-trace --help"
for cmd in $commands; do
    expect_ok "gpu-trace $cmd --help" "$bin" "$cmd" --help
    grep -q '^Usage' out || fail "gpu-trace $cmd --help" "no Usage on stdout"
    if [ "$cmd" != help ]; then
        grep -q '^EXAMPLES' out || fail "gpu-trace $cmd --help" "no EXAMPLES section"
        expect_ok "gpu-trace help $cmd" "$bin" help "$cmd"
        grep -q '^Usage' out || fail "gpu-trace help $cmd" "no Usage on stdout"
    fi
done
expect_ok "gpu-trace --version" "$bin" --version
grep -q '^gpu-trace [0-9]' out || fail "gpu-trace --version" "no version on stdout"

# Usage errors: exit 2.
expect_usage "no command" "$bin"
expect_usage "unknown command" "$bin" frobnicate
grep -q "'frobnicate'" err || fail "unknown command" "the command is not named"
expect_usage "unknown top-level option" "$bin" --bogus
expect_usage "unknown analyze option" "$bin" analyze good.db --bogus
grep -q "'--bogus'" err || fail "unknown analyze option" "the option is not named"
expect_usage "unknown short option" "$bin" analyze good.db -x
expect_usage "analyze without a trace" "$bin" analyze
expect_usage "--config without a value" "$bin" analyze good.db --config
expect_usage "import without -o" "$bin" import good.csv
expect_usage "import without a CSV" "$bin" import -o x.db
expect_usage "help of an unknown command" "$bin" help frobnicate

# Bad trace files: exit 1, one line naming the file.
expect_error "missing trace" "'missing.db'" "$bin" analyze missing.db
echo 'this is not a database' >text.db
expect_error "non-SQLite trace" "'text.db'" "$bin" analyze text.db
sqlite3 foreign.db 'CREATE TABLE t(x); INSERT INTO t VALUES (1);'
expect_error "foreign SQLite file" "'foreign.db'" "$bin" analyze foreign.db
cp good.db newer.db
sqlite3 newer.db 'PRAGMA user_version=99'
expect_error "newer trace version" "'newer.db'" "$bin" analyze newer.db
for n in 100 5000 20000; do
    head -c "$n" big.db >"truncated$n.db"
    expect_error "trace truncated to $n bytes" "'truncated$n.db'" "$bin" analyze "truncated$n.db"
done
: >empty.db
expect_error "empty trace" "'empty.db'" "$bin" analyze empty.db

# Bad values: exit 1, one line naming the value.
expect_error "invalid config" "invalid config 'max_split_size_mb:2'" \
    "$bin" analyze good.db --config max_split_size_mb:2
grep -q 'must be >= 20' err || fail "invalid config" "PyTorch's reason is missing"
expect_error "unknown config key" "'no_such_key:1'" "$bin" analyze good.db --config no_such_key:1
expect_error "device memory with a bad unit" "invalid size '8XB'" \
    "$bin" analyze good.db --device-memory 8XB
expect_error "zero device memory" "'0'" "$bin" analyze good.db --device-memory 0
expect_error "unknown format" "'xml'" "$bin" analyze good.db --format xml
expect_error "bad thread count" "'many'" "$bin" analyze good.db --threads many

# The importer: bad rows name the line, nothing is overwritten.
printf 'ts_ns,action,addr,size,stream,device\n1,alloc,0x10,512,0,0\n2,allocate,0x20,512,0,0\n' >bad.csv
expect_error "import of a bad row" "line 3" "$bin" import bad.csv -o bad.db
[ -e bad.db ] && fail "import of a bad row" "left bad.db behind"
expect_error "import of a missing CSV" "'nothere.csv'" "$bin" import nothere.csv -o n.db
expect_error "import over an existing trace" "'good.csv'" "$bin" import good.csv -o good.db
expect_error "import with an invalid --alloc-conf" "'max_split_size_mb:3'" \
    "$bin" import good.csv -o opt.db --alloc-conf max_split_size_mb:3
expect_error "import with a bad --device-memory" "'3XB'" \
    "$bin" import good.csv -o opt.db --device-memory 3XB
expect_ok "import with the run's settings and card" "$bin" import good.csv -o opt.db \
    --alloc-conf max_split_size_mb:64 --device-name 'Card X' --device-memory 8GiB
expect_ok "analyze of a trace with recorded settings" "$bin" analyze opt.db
grep -q 'max_split_size_mb:64 (recorded)' out || fail "recorded settings" "no '(recorded)' row"
grep -q 'Card X' out || fail "recorded card" "the card's name is not in the header"
grep -q "card: 8.00 GiB, the card's memory as recorded" out ||
    fail "recorded card" "the card's memory is not the cap"

# Several traces of one job: rows for each, one recommendation for the job.
expect_ok "analyze with two traces" "$bin" analyze good.db opt.db
grep -q "trace 'opt.db'" out || fail "analyze with two traces" "the second trace has no rows"
grep -q '^recommended for the job: ' out || fail "analyze with two traces" "no job recommendation"
[ "$(grep -c '^recommended' out)" = 1 ] || fail "analyze with two traces" "more than one recommendation"

# A --device-memory without a unit is bytes: a card of 8 bytes is a mistake.
expect_error "device memory of 8 bytes" "did you mean 8GiB?" "$bin" analyze good.db --device-memory 8

# Control characters from arguments never reach the terminal.
expect_error "control characters in a file name" "gpu-trace: error:" \
    "$bin" analyze "$(printf 'bad\033[2Jname\n.db')"
grep -q "$(printf '\033')" err && fail "control characters in a file name" "ESC printed"

# Output that cannot be written is an error.
if [ -w /dev/full ]; then
    cases=$((cases + 1))
    "$bin" analyze good.db >/dev/full 2>err
    rc=$?
    : >out
    [ $rc -eq 1 ] || fail "analyze > /dev/full" "exit $rc, expected 1"
    grep -q '^gpu-trace: error: ' err || fail "analyze > /dev/full" "no error line"
    for format in json csv; do
        cases=$((cases + 1))
        "$bin" analyze good.db --format "$format" >/dev/full 2>err
        rc=$?
        [ $rc -eq 1 ] || fail "analyze --format $format > /dev/full" "exit $rc, expected 1"
    done
    cases=$((cases + 1))
    "$bin" --help >/dev/full 2>err
    rc=$?
    [ $rc -eq 1 ] || fail "--help > /dev/full" "exit $rc, expected 1"
fi

# plot: help, and a missing trace named in one error line.
expect_ok "plot --help" "$bin" plot --help
expect_error "plot of a missing file" "'missing.db'" "$bin" plot missing.db
# import picks the importer by content; validate compares with the real allocator.
data=$(cd "$(dirname "$0")/data" && pwd)
expect_ok "import of a memory snapshot" "$bin" import "$data/snapshot/midrun.pickle" -o snap.db
grep -q 'start state (rebuilt): 1 segments' out || fail "snapshot import" "no start state line"
expect_ok "validate of a snapshot" "$bin" validate snap.db
grep -q '2 reproduced in order (100.00%)' out || fail "validate of a snapshot" "not 2 of 2"

# One start state for every command: the snapshot started mid-run with 20 MiB
# reserved; on a card that cannot hold its live segments every command
# refuses with the verdict, naming the shrink needed.
expect_ok "analyze of a snapshot starts from its start state" "$bin" analyze snap.db --config default
grep -q '^start: 20.00 MiB reserved, 6.86 MiB allocated before the first event' out ||
    fail "analyze of a snapshot" "no start line"
for cmd in analyze oom stats validate report plot; do
    extra=()
    [ "$cmd" = report ] && extra=(-o small.html)
    [ "$cmd" = plot ] && extra=(-o small-plots)
    expect_error "$cmd on a card below the start state" "already exceeds the card" \
        "$bin" $cmd snap.db --device-memory 2MiB "${extra[@]}"
    grep -q "must shrink by 18.00 MiB" err || fail "$cmd on a card below the start state" "no shrink"
done
[ -e small.html ] && fail "report on a card below the start state" "wrote a report"
expect_error "export on a card below the start state" "already exceeds the card" \
    "$bin" export snap.db -o small.pickle --config default --device-memory 2MiB
[ -e small.pickle ] && fail "export on a card below the start state" "wrote a snapshot"

# stats --iterations: the golden case has the table; JSON has the same numbers.
"$bin" import "$data/iterations-leak/trace.csv" -o leak.db >/dev/null
expect_ok "stats --iterations in JSON" "$bin" stats leak.db --iterations --format json
if command -v python3 >/dev/null; then
    python3 -c "
import json,sys
i=json.load(open(sys.argv[1]))['iterations'][0]
assert (i['found'], i['period_allocations'], i['iterations'], i['leak']) == (True, 3, 6, True), i
assert [b['allocated_bytes'] for b in i['boundaries']] == [k * 3145728 for k in range(6)], i
assert (i['kept_allocations'], i['kept_bytes'], i['top'][0]['count']) == (4, 12582912, 4), i
" out || fail "stats --iterations in JSON" "not the hand-derived numbers"
fi

# export: the snapshot of the recorded run and of a simulated one; Python's
# pickle module reads both (tests/export_test.py checks them field by field).
expect_ok "export of a snapshot's recorded run" "$bin" export snap.db -o snap.pickle
grep -q "the recorded run" out || fail "export of a recorded run" "does not say which run"
expect_ok "export of a simulated run" "$bin" export snap.db -o sim.pickle \
    --config expandable_segments:True --device-memory 1GiB
grep -q "simulated under 'expandable_segments:True'" out || fail "export simulated" "no config"
grep -q "1.00 GiB" out || fail "export simulated" "no card"
if command -v python3 >/dev/null; then
    python3 -c "import pickle,sys; [pickle.load(open(f,'rb')) for f in sys.argv[1:]]" \
        snap.pickle sim.pickle || fail "export" "python3 cannot load the snapshots"
fi
expect_ok "export of a trace without an end state" "$bin" export good.db -o good.pickle
grep -q "records no end state" err || fail "export without an end state" "no warning"
expect_usage "export without -o" "$bin" export good.db
expect_usage "export in an unknown format" "$bin" export good.db -o x.svg --format svg
expect_usage "export --device-memory without --config" "$bin" export good.db -o x.pickle -m 1GiB
expect_error "export under an invalid config" "invalid config 'max_split_size_mb:2'" \
    "$bin" export good.db -o x.pickle --config max_split_size_mb:2
expect_error "export under nocache" "nocache has no cache" \
    "$bin" export good.db -o x.pickle --config nocache
[ -e x.pickle ] && fail "export errors" "wrote a file"
expect_ok "export of a timeline" "$bin" export snap.db --format perfetto -o snap.json \
    --config default --config nocache --config expandable_segments:True
grep -q "3 configs on 1 device" out || fail "export of a timeline" "not 3 configs"
if command -v python3 >/dev/null; then
    python3 -c "import json,sys; json.load(open(sys.argv[1]))" snap.json ||
        fail "export of a timeline" "not JSON"
fi
expect_ok "export of a timeline with the default configs" "$bin" export snap.db -f perfetto \
    -o snap2.json
grep -q "expandable_segments:True" out || fail "export of a default timeline" "no expandable"
expect_usage "a snapshot of two configs" "$bin" export good.db -o x.pickle --config default \
    --config nocache
expect_error "a timeline under an invalid config" "invalid config 'bogus'" \
    "$bin" export good.db -f perfetto -o x.json --config bogus
[ -e x.json ] && fail "export errors" "wrote a timeline"

# Format v1 (one row per event) is still read, and converted with import.
expect_ok "analyze of a format 1 trace" "$bin" analyze "$data/v1/h100-train-loop-v1.db" --format json
sed 's#"trace": "[^"]*"#"trace": ""#' out >v1.json
expect_ok "import of a format 1 trace" "$bin" import "$data/v1/h100-train-loop-v1.db" -o v1-up.db
grep -q "imported 10178 events" out || fail "import of a format 1 trace" "not 10178 events"
expect_ok "analyze of the converted trace" "$bin" analyze v1-up.db --format json
sed 's#"trace": "[^"]*"#"trace": ""#' out >v2.json
cmp -s v1.json v2.json || fail "format 1 and its conversion" "analyze differs"
expect_ok "sql on a format 1 trace" "$bin" sql "$data/v1/h100-train-loop-v1.db" \
    "SELECT count(*), sum(size) FROM events" --format list
cp out v1-sum
expect_ok "sql on the converted trace" "$bin" sql v1-up.db \
    "SELECT count(*), sum(size) FROM events" --format list
cmp -s out v1-sum || fail "sql on both formats" "$(cat v1-sum) vs $(cat out)"
expect_usage "sql without a trace" "$bin" sql
expect_error "sql with a bad query" "query on 'v1-up.db' failed" "$bin" sql v1-up.db "SELEC 1"
expect_error "sql cannot write" "query on 'v1-up.db' failed" "$bin" sql v1-up.db \
    "DELETE FROM meta"

# Special files are refused at once, never read (a FIFO would hang).
mkfifo fifo.db
expect_error "analyze of a FIFO" "is not a regular file (a FIFO)" timeout 10 "$bin" analyze fifo.db
expect_error "import of a FIFO" "is not a regular file (a FIFO)" timeout 10 "$bin" import fifo.db -o f.db
expect_error "import of /dev/zero" "a character device" timeout 10 "$bin" import /dev/zero -o z.db
expect_error "stats of /dev/zero" "a character device" timeout 10 "$bin" stats /dev/zero

# Outputs never destroy: not the trace being read, not a FIFO, not through
# a hard link.
cp good.db keep.db
before=$(cksum <keep.db)
expect_error "report over its own trace" "it is the input 'keep.db'" \
    "$bin" report keep.db -o keep.db
[ "$(cksum <keep.db)" = "$before" ] || fail "report over its own trace" "the trace changed"
expect_error "report over a FIFO" "it exists and is a FIFO" "$bin" report good.db -o fifo.db
expect_error "export over its own trace" "it is the input 'keep.db'" \
    "$bin" export keep.db -o keep.db
[ "$(cksum <keep.db)" = "$before" ] || fail "export over its own trace" "the trace changed"
expect_error "export over a FIFO" "it exists and is a FIFO" "$bin" export good.db -o fifo.db
mkdir -p linked && echo precious >precious.txt && ln -f precious.txt linked/fit.png
expect_ok "plot into a folder with a hard link" "$bin" plot good.db -o linked
[ "$(cat precious.txt)" = precious ] || fail "plot into a folder with a hard link" \
    "wrote through the link"

# A trace with no events, and a plot of a device without requests.
printf 'ts_ns,action,addr,size,stream,device\n' >no-events.csv
"$bin" import no-events.csv -o no-events.db >/dev/null
expect_error "analyze of an empty trace" "the trace has no events" "$bin" analyze no-events.db
expect_error "plot of a device without requests" "device 7 has no requests" \
    "$bin" plot good.db --device 7 -o dev7
expect_error "plot of a device that is not a number" "invalid device 'x'" \
    "$bin" plot good.db --device x -o devx
expect_ok "validate --format json" "$bin" validate snap.db --format json
grep -q '"segment_events_matched": 2' out || fail "validate json" "no matched count"
expect_error "import of a hostile pickle" "refused" \
    "$bin" import "$data/pickle/evil_reduce_p4.pickle" -o evil.db
[ -e evil.db ] && fail "import of a hostile pickle" "left evil.db behind"
expect_error "import of a pickle that is not a snapshot" "not a PyTorch memory snapshot" \
    "$bin" import "$data/snapshot/notasnapshot.pickle" -o no.db
expect_ok "import of a gzipped profiler trace" "$bin" import "$data/chrome/two-devices.json.gz" -o ch.db
expect_ok "validate of a profiler trace" "$bin" validate ch.db
grep -q 'events match the recorded Total Allocated' out || fail "validate of a profiler trace" "no totals"
printf 'hello\n' > text.txt
expect_error "import of an unknown format" "not a CSV, chrome trace or memory snapshot" \
    "$bin" import text.txt -o t.db
expect_error "validate of a missing file" "'missing.db'" "$bin" validate missing.db
expect_usage "validate without a trace" "$bin" validate
expect_ok "validate --help" "$bin" validate --help

# record: the program's status (128+signal, 127 unstarted); no CUDA, an empty trace.
: >inject.so && export GPUTRACE_INJECT=$work/inject.so
run "record exit 3" "$bin" record -o r3.db -- sh -c 'exit 3'; [ $rc -eq 3 ] || fail "record exit 3" "exit $rc"
grep -q "recorded 0 events from 0 processes into 'r3.db'" err || fail "record exit 3" "no summary"
run "record killed" "$bin" record -o r9.db -- sh -c 'kill -9 $$'; [ $rc -eq 137 ] || fail "record killed" "exit $rc"
run "record missing" "$bin" record -o rx.db -- ./no-such; [ $rc -eq 127 ] && [ ! -e rx.db ] || fail "record missing" "exit $rc"
expect_error "record under Nsight" "CUDA_INJECTION64_PATH" env CUDA_INJECTION64_PATH=/x "$bin" record -- true
expect_usage "record without a command" "$bin" record -o r.db
# record -o placeholders (docs/record.md, "Many nodes"): expanded before
# anything runs; a wrong one stops record before COMMAND.
run "record -o placeholders" env GPUTRACE_HOSTNAME=n1 RANK=2 "$bin" record -o 'p-%h-%r-%%.db' -- true
[ $rc -eq 0 ] && [ -f p-n1-2-%.db ] || fail "record -o placeholders" "exit $rc, or no p-n1-2-%.db"
expect_usage "record -o unknown placeholder" "$bin" record -o 'p-%x.db' -- touch ran
grep -q "'%x'" err || fail "record -o unknown placeholder" "the placeholder is not named"
[ ! -e ran ] && [ ! -e p-%x.db ] || fail "record -o unknown placeholder" "COMMAND ran or a trace was left"
expect_error "record -o %r without a rank" "%r: no rank" \
    env -u RANK -u SLURM_PROCID -u OMPI_COMM_WORLD_RANK -u PMI_RANK "$bin" record -o 'p-%r.db' -- true
# Passing a recording that still needs importing says so.
expect_error "analyze of a snapshot pickle" "which 'gpu-trace import' converts" \
    "$bin" analyze "$data/snapshot/midrun.pickle"

# Two processes on one device ordinal (ranks that each see their GPU as
# device 0): replayed as one allocator, and every command says so.
cat >ranks.json <<'JSON'
{"traceEvents": [
 {"name": "[memory]", "ph": "i", "ts": 1, "pid": 101, "tid": 1, "args": {"Device Type": 1, "Device Id": 0, "Addr": 4096, "Bytes": 1048576}},
 {"name": "[memory]", "ph": "i", "ts": 2, "pid": 202, "tid": 1, "args": {"Device Type": 1, "Device Id": 0, "Addr": 8192, "Bytes": 1048576}}
]}
JSON
expect_ok "import of two ranks on one ordinal" "$bin" import ranks.json -o ranks.db
for cmd in analyze stats oom; do
    expect_ok "$cmd of two ranks on one ordinal" "$bin" $cmd ranks.db
    grep -q "1 of its 2 requests come from processes other than 101 on the same ordinal" err ||
        fail "$cmd of two ranks on one ordinal" "no warning"
done

# oom --message: a pasted error, no trace; the verdict in both formats.
msgs="$data/oom-messages"
expect_ok "oom --message" "$bin" oom --message "$msgs/cuda21-2.txt"
grep -q '^verdict: fragmentation$' out || fail "oom --message" "no fragmentation verdict"
grep -q 'expandable_segments:True' out || fail "oom --message" "no setting to try"
run "oom --message json" "$bin" oom --message - --format json <"$msgs/cuda21-16.txt"
python3 -c 'import json,sys; d=json.load(open("out")); sys.exit(0 if d["verdict"]=="genuine" and d["shrink_bytes"]>0 and d["free_bytes"] and d["reserved_bytes"] and "reserved_bytes" in d["derived"] else 1)' ||
    fail "oom --message json" "bad JSON or verdict"
printf 'Traceback (most recent call last):\nRuntimeError: CUDA out of memory.\n' >bare.txt
expect_error "oom --message without numbers" "bare.txt" "$bin" oom --message bare.txt
expect_error "oom --message of a missing file" "nothere.txt" "$bin" oom --message nothere.txt
expect_error "oom --message of a device" "/dev/zero" "$bin" oom --message /dev/zero
mkfifo msg.fifo
expect_error "oom --message of a FIFO" "msg.fifo" timeout 10 "$bin" oom --message msg.fifo
expect_usage "oom --message with a trace" "$bin" oom --message bare.txt good.db
expect_usage "oom --message with a card" "$bin" oom --message bare.txt --device-memory 8GiB

# docs/cli.md is the --help of every command, word for word.
cases=$((cases + 1))
"$(dirname "$0")/../scripts/cli-doc.sh" "$bin" > cli.md 2>err || fail "cli-doc.sh" "it failed"
diff -u "$(dirname "$0")/../docs/cli.md" cli.md > cli.diff ||
    fail "docs/cli.md" "out of date: run scripts/cli-doc.sh build/gpu-trace > docs/cli.md"

echo "$cases cases, $failures failed"
[ $failures -eq 0 ]
