#!/bin/sh
# The record pipeline without a GPU: `gpu-trace record` runs fake_app, whose
# fake libcuda.so.1 loads the real injection library from cuInit, which
# subscribes to the fake libcupti.so.13; the rows that reach SQLite are
# checked against what each scenario (tests/fake/scenarios) did.
#
# usage: test_pipeline.sh GPU_TRACE INJECT_LIB FAKE_APP FAKE_LIB_DIR SCENARIOS
# Exit 0 when every check passes, 1 otherwise, 77 (skipped) when
# `gpu-trace record` or the injection library is missing.
set -u

if [ $# -ne 5 ]; then
    echo "usage: $0 GPU_TRACE INJECT_LIB FAKE_APP FAKE_LIB_DIR SCENARIOS" >&2
    exit 2
fi
GT=$1
INJECT=$2
APP=$3
FAKE_DIR=$4
SCEN=$5

if [ ! -f "$INJECT" ]; then
    echo "skipped: no injection library at '$INJECT'"
    exit 77
fi
if ! "$GT" record --help >/dev/null 2>&1; then
    echo "skipped: '$GT' has no record command"
    exit 77
fi
if ! command -v sqlite3 >/dev/null 2>&1; then
    echo "skipped: no sqlite3 shell"
    exit 77
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/gt-pipeline.XXXXXX") || exit 1
trap 'rm -rf "$TMP"' EXIT
# The launcher finds the injection library through GPUTRACE_INJECT; the
# traced program must not inherit one from the caller (record refuses it).
GPUTRACE_INJECT=$INJECT
export GPUTRACE_INJECT
unset CUDA_INJECTION64_PATH

failures=0
checks=0
fail() {
    echo "FAIL [$scenario]: $*"
    failures=$((failures + 1))
}

# record NAME MODE WANT_RC [VAR=VALUE...]: records scenario NAME into
# $TMP/NAME-MODE.db with the doubles, extra environment for fake_app, and
# checks record's exit status. Sets $db, $out (record's stderr+stdout).
# $label, when set, names the run instead of the scenario (record never
# overwrites a trace, so a second run of one scenario needs another name).
record() {
    scenario=$1
    mode=$2
    want_rc=$3
    shift 3
    db=$TMP/${label:-$scenario}-$mode.db
    out=$TMP/${label:-$scenario}-$mode.out
    timeout 120 "$GT" record -o "$db" --mode "$mode" -- \
        env LD_LIBRARY_PATH="$FAKE_DIR" GPUTRACE_CUPTI="$FAKE_DIR/libcupti.so.13" "$@" \
        "$APP" "$SCEN/$scenario" >"$out" 2>&1
    rc=$?
    checks=$((checks + 1))
    if [ "$rc" -ne "$want_rc" ]; then
        fail "record exited $rc, expected $want_rc; its output:"
        sed 's/^/    /' "$out"
        return 1
    fi
    if [ ! -f "$db" ]; then
        fail "no trace written"
        return 1
    fi
    # Every trace the drain wrote must be sound to SQLite itself.
    checks=$((checks + 1))
    integrity=$(sqlite3 -batch -noheader "$db" "PRAGMA integrity_check;" 2>&1)
    if [ "$integrity" != "ok" ]; then
        fail "integrity_check: $integrity"
        return 1
    fi
    return 0
}

# q SQL: one value from the current trace, through `gpu-trace sql` (events
# is one row per event in every format version), in sqlite3's list mode.
q() {
    "$GT" sql "$db" "$1" --format list 2>&1
}

# says_oom yes|no: whether record's last line says the program ran out of
# GPU memory.
says_oom() {
    checks=$((checks + 1))
    case $(tail -n 1 "$out") in
    *'the program ran out of GPU memory: gpu-trace oom '*) said=yes ;;
    *) said=no ;;
    esac
    if [ "$said" != "$1" ]; then
        fail "last line says an OOM: $said, expected $1:"
        sed 's/^/    /' "$out"
    fi
}

# eq WHAT SQL WANT: the query's value must be WANT.
eq() {
    checks=$((checks + 1))
    got=$(q "$2")
    if [ "$got" != "$3" ]; then
        fail "$1: got '$got', expected '$3' ($2)"
    fi
}

# Kinds (schema.h): 1 alloc, 2 free, 5 segment_map, 6 segment_unmap, 7 oom,
# 9 host_alloc, 10 host_free.
count() {
    echo "SELECT count(*) FROM events WHERE kind = $1${2:+ AND $2};"
}

# basic: one of each kind, on stream 0 and 7, all on device 0.
if record basic requests 0; then
    eq "allocs" "$(count 1)" 3
    eq "frees" "$(count 2)" 3
    eq "host allocs" "$(count 9)" 2
    eq "host frees" "$(count 10)" 2
    eq "alloc sizes" "SELECT group_concat(requested) FROM (SELECT requested FROM events
        WHERE kind = 1 ORDER BY seq);" "1048576,4096,2097152"
    eq "host sizes" "SELECT group_concat(requested) FROM (SELECT requested FROM events
        WHERE kind = 9 ORDER BY seq);" "65536,131072"
    eq "streams" "SELECT group_concat(stream) FROM (SELECT stream FROM events
        WHERE kind = 1 ORDER BY seq);" "0,7,0"
    eq "async free on its stream" "$(count 2 'stream = 7')" 1
    eq "every free matches an alloc" "SELECT count(*) FROM events f WHERE kind = 2
        AND NOT EXISTS (SELECT 1 FROM events a WHERE a.kind = 1 AND a.addr = f.addr);" 0
    eq "all results ok" "SELECT count(*) FROM events WHERE result != 0;" 0
    eq "devices" "SELECT group_concat(DISTINCT device) FROM events;" 0
    eq "device row" "SELECT count(*) FROM devices WHERE device = 0;" 1
    eq "device name from the driver" "SELECT name FROM devices WHERE device = 0;" "Fake GPU 0"
    eq "device memory from the driver" "SELECT total_memory > 0 FROM devices WHERE device = 0;" 1
    eq "one process" "SELECT count(*) FROM processes;" 1
    eq "events of that process" "SELECT count(*) FROM events
        WHERE pid != (SELECT pid FROM processes);" 0
    eq "mode" "SELECT value FROM meta WHERE key = 'recording_mode';" requests
    eq "nothing lost" "SELECT value FROM meta WHERE key = 'lost_events';" 0
    eq "the CUPTI file in the trace" "SELECT value FROM meta WHERE key = 'cupti_library';" \
        "$FAKE_DIR/libcupti.so.13"
    checks=$((checks + 1))
    if [ "$(grep -c "^gpu-trace: tracing with CUPTI '$FAKE_DIR/libcupti.so.13' (pid [0-9]*)\$" \
        "$out")" != 1 ]; then
        fail "record did not name the CUPTI file once; its output:"
        sed 's/^/    /' "$out"
    fi
    eq "time order" "SELECT count(*) FROM events a JOIN events b ON b.seq = a.seq + 1
        WHERE b.ts_ns < a.ts_ns;" 0
    checks=$((checks + 1))
    if ! "$GT" analyze "$db" >"$TMP/analyze.out" 2>&1; then
        fail "gpu-trace analyze failed on the basic trace:"
        sed 's/^/    /' "$TMP/analyze.out"
    fi
fi

# nested: runtime calls with a driver call inside each, counted once.
if record nested requests 0; then
    eq "allocs once" "$(count 1)" 3
    eq "frees once" "$(count 2)" 3
    eq "host once" "$(count 9)" 1
    eq "sizes" "SELECT group_concat(requested) FROM (SELECT requested FROM events
        WHERE kind = 1 ORDER BY seq);" "1000000,2000000,3000000"
    eq "async stream" "$(count 1 'stream = 3')" 1
fi

# threads: four threads, 1000 allocations and 1000 frees each.
if record threads requests 0; then
    eq "allocs" "$(count 1)" 4000
    eq "frees" "$(count 2)" 4000
    eq "threads" "SELECT count(DISTINCT tid) FROM events;" 4
    eq "per thread" "SELECT group_concat(n) FROM (SELECT count(*) AS n FROM events
        GROUP BY tid);" "2000,2000,2000,2000"
    eq "async per thread" "SELECT count(*) FROM (SELECT tid FROM events WHERE kind = 1
        AND stream = 5 GROUP BY tid HAVING count(*) = 500);" 4
    eq "nothing lost" "SELECT value FROM meta WHERE key = 'lost_events';" 0
fi

# twodevices: contexts 1 and 2 are devices 0 and 1.
if record twodevices requests 0; then
    eq "device 0 allocs" "$(count 1 'device = 0')" 1
    eq "device 1 allocs" "$(count 1 'device = 1')" 2
    eq "device 1 sizes" "SELECT group_concat(requested) FROM (SELECT requested FROM events
        WHERE kind = 1 AND device = 1 ORDER BY seq);" "2097152,4096"
    eq "frees on their devices" "SELECT count(*) FROM events f JOIN events a
        ON a.kind = 1 AND a.addr = f.addr WHERE f.kind = 2 AND f.device = a.device;" 3
    eq "device rows" "SELECT group_concat(device) FROM (SELECT device FROM devices
        ORDER BY device);" "0,1"
    eq "device names" "SELECT group_concat(name) FROM (SELECT name FROM devices
        ORDER BY device);" "Fake GPU 0,Fake GPU 1"
fi

# vmm: requests mode keeps no VMM events; native mode has the mappings.
if record vmm requests 0; then
    eq "no request events" "SELECT count(*) FROM events;" 0
fi
if record vmm native 0; then
    eq "maps" "$(count 5 'size = 20971520')" 2
    eq "unmaps" "$(count 6 'size = 20971520')" 2
    eq "map addresses" "SELECT count(DISTINCT addr) FROM events WHERE kind = 5;" 2
    eq "unmap matches map" "SELECT count(*) FROM events u WHERE kind = 6 AND EXISTS
        (SELECT 1 FROM events m WHERE m.kind = 5 AND m.addr = u.addr);" 2
fi

# oom_retry: 1 GiB per device; a 1 TiB request fails, the retry succeeds.
if record oom_retry requests 0 FAKE_CUDA_MEMORY=1G; then
    eq "failed alloc kept" "$(count 1 'result = 2')" 1
    eq "its size" "SELECT requested FROM events WHERE kind = 1 AND result = 2;" 1099511627776
    eq "free memory when it failed (1 GiB - 512 MiB)" \
        "SELECT addr FROM events WHERE kind = 1 AND result = 2;" 536870912
    eq "successful allocs" "$(count 1 'result = 0')" 2
    eq "retry after the failure" "SELECT count(*) FROM events a JOIN events o
        ON o.kind = 1 AND o.result = 2 WHERE a.kind = 1 AND a.result = 0 AND a.seq > o.seq
        AND a.requested = 268435456;" 1
    says_oom no # the program recovered and exited 0
fi
if record oom_retry native 0 FAKE_CUDA_MEMORY=1G; then
    eq "oom event" "$(count 7)" 1
    eq "oom size" "SELECT requested FROM events WHERE kind = 7;" 1099511627776
    eq "free memory at the oom" "SELECT addr FROM events WHERE kind = 7;" 536870912
    eq "segments" "$(count 3)" 2
    says_oom no
fi

# oom_exit: the failed allocation ends the program (exit 1). record's last
# line says so and names the command that explains it, with the trace's
# path quoted for the shell: the label puts a space and a quote in it.
label="oom it's"
if record oom_exit requests 1 FAKE_CUDA_MEMORY=1G; then
    says_oom yes
    eq "failed alloc kept" "$(count 1 'result = 2')" 1
    # The command as printed, run by the shell (gpu-trace is $GT here).
    checks=$((checks + 1))
    named=$(tail -n 1 "$out" | sed 's/.*the program ran out of GPU memory: gpu-trace //')
    if ! eval "\"\$GT\" $named" >"$TMP/oom.out" 2>&1 || ! grep -q '^OOM at event 1 ' "$TMP/oom.out"; then
        fail "the command named, gpu-trace $named, did not explain the OOM:"
        sed 's/^/    /' "$TMP/oom.out"
    fi
fi
if record oom_exit native 1 FAKE_CUDA_MEMORY=1G; then
    says_oom yes
fi
label=

# cudnn_probe: the probe's cudaMemGetInfo/cudaMallocAsync/cudaFreeAsync leave
# the request stream; the tensor around it stays.
if record cudnn_probe requests 0 FAKE_CUDA_MEMORY=1G; then
    eq "only the tensor" "SELECT group_concat(kind || ':' || requested, ' ') FROM events;" \
        "1:1048576 2:0"
    eq "probe counted" "SELECT value FROM meta WHERE key = 'probe_events_dropped';" 2
fi
if record cudnn_probe native 0 FAKE_CUDA_MEMORY=1G; then
    eq "native mode keeps the probe's segments" "$(count 3)" 2
fi

# fork: children exit through atexit without CUDA; nothing doubled.
if record fork requests 0; then
    eq "allocs" "$(count 1)" 2
    eq "frees" "$(count 2)" 2
    eq "one process" "SELECT count(*) FROM processes;" 1
    eq "no duplicates" "SELECT count(*) FROM (SELECT kind, addr FROM events
        GROUP BY kind, addr HAVING count(*) > 1);" 0
fi

# multiproc: a spawned fake_app is a second traced process.
if record multiproc requests 0; then
    eq "processes" "SELECT count(*) FROM processes;" 2
    eq "pids in events" "SELECT count(DISTINCT pid) FROM events;" 2
    eq "child's alloc" "$(count 1 'requested = 4194304')" 1
    eq "child's pid" "SELECT count(*) FROM events e JOIN processes p ON p.pid = e.pid
        WHERE e.requested = 4194304;" 1
fi

# kill9 / abort: what was published before the signal is kept; the exit
# status is 128 + the signal.
for scenario in kill9 abort; do
    if [ "$scenario" = kill9 ]; then want=137; else want=134; fi
    if record "$scenario" requests "$want"; then
        eq "allocs before the signal" "$(count 1)" 2
        eq "sizes" "SELECT group_concat(requested) FROM (SELECT requested FROM events
            WHERE kind = 1 ORDER BY seq);" "1048576,4096"
        eq "host alloc" "$(count 9 'requested = 8192')" 1
        eq "nothing after" "$(count 1 'requested = 1')" 0
        eq "process row" "SELECT count(*) FROM processes;" 1
        says_oom no # died, but not of an OOM
    fi
done

# busy: another tool holds CUPTI. The program runs untouched, exits 0, and
# the user is told once (tracer and launcher together) why there is no
# trace: one line naming the incumbent, whatever its wording.
label=busy
if record basic requests 0 FAKE_CUPTI_BUSY=1; then
    scenario=busy
    eq "no events" "SELECT count(*) FROM events;" 0
    checks=$((checks + 1))
    n=$(grep -c 'nsight-fake' "$out")
    if [ "$n" -ne 1 ]; then
        fail "output names the incumbent 'nsight-fake' on $n lines, expected 1:"
        sed 's/^/    /' "$out"
    fi
    eq "status kept in the trace" "SELECT count(*) FROM meta WHERE key = 'tracer_status'
        AND value LIKE '%nsight-fake%';" 1
fi
label=

# overflow: a 64-record ring cannot keep up with 400000 records.
if record overflow requests 0 GPUTRACE_RING_CAPACITY=64; then
    checks=$((checks + 1))
    lost=$(q "SELECT value FROM meta WHERE key = 'lost_events';")
    case $lost in
    '' | *[!0-9]* | 0) fail "lost_events is '$lost', expected a number > 0" ;;
    esac
    eq "at most the calls made" "SELECT count(*) <= 200000 FROM events;" 1
fi

# lazyinit: the first runtime call initializes the driver between its
# ENTER and EXIT, so the tracer sees that call's nested driver call without
# the runtime ENTER around it; it must still be counted once.
if record lazyinit requests 0; then
    eq "allocs once" "$(count 1)" 2
    eq "frees" "$(count 2)" 2
fi

# Two nodes: one record each, at once, into one shared folder, named by
# -o 'run-%h-%r.db' as `srun gpu-trace record` would be on each node;
# GPUTRACE_HOSTNAME stands for each node's host name, RANK for the rank.
scenario=nodes
mkdir "$TMP/nodes"
for n in 0 1; do
    GPUTRACE_HOSTNAME=node$n RANK=$n timeout 120 "$GT" record -o "$TMP/nodes/run-%h-%r.db" -- \
        env LD_LIBRARY_PATH="$FAKE_DIR" GPUTRACE_CUPTI="$FAKE_DIR/libcupti.so.13" \
        "$APP" "$SCEN/basic" >"$TMP/node$n.out" 2>&1 &
    eval "pid$n=\$!"
done
for n in 0 1; do
    checks=$((checks + 1))
    eval "wait \$pid$n"
    rc=$?
    if [ "$rc" -ne 0 ]; then
        fail "node $n: record exited $rc; its output:"
        sed 's/^/    /' "$TMP/node$n.out"
    fi
done
checks=$((checks + 1))
files=$(cd "$TMP/nodes" && echo *)
if [ "$files" != "run-node0-0.db run-node1-1.db" ]; then
    fail "files '$files', expected 'run-node0-0.db run-node1-1.db'"
fi
for n in 0 1; do
    db=$TMP/nodes/run-node$n-$n.db
    if [ -f "$db" ]; then
        eq "node $n: host in the trace, as in its name" \
            "SELECT value FROM meta WHERE key = 'host';" "node$n"
        eq "node $n: its process's rank" "SELECT group_concat(rank) FROM processes;" "$n"
        eq "node $n: allocs" "$(count 1)" 3
    fi
done
# analyze of both: one table per trace and one answer for the job.
checks=$((checks + 1))
if ! "$GT" analyze "$TMP"/nodes/run-*.db >"$TMP/nodes.out" 2>&1; then
    fail "gpu-trace analyze of both nodes failed:"
    sed 's/^/    /' "$TMP/nodes.out"
else
    n=$(grep -c '^recommended for the job: ' "$TMP/nodes.out")
    tables=$(grep -c "^trace '.*/nodes/run-node[01]-[01].db': " "$TMP/nodes.out")
    if [ "$n" -ne 1 ] || [ "$tables" -ne 2 ]; then
        fail "analyze gave $tables tables and $n answers for the job, expected 2 and 1:"
        sed 's/^/    /' "$TMP/nodes.out"
    fi
fi

# python: a Python program allocating through the doubles with ctypes
# (tests/fake/py_alloc.py). The allocations it makes holding the GIL carry
# its Python stack, innermost first; the one made without the GIL says so;
# --no-frames takes none.
scenario=python
PY_SRC=$(cd "$SCEN/.." && pwd)/py_alloc.py
if command -v python3 >/dev/null 2>&1; then
    # record_py NAME [OPTION...]: records py_alloc.py into $TMP/NAME.db.
    record_py() {
        db=$TMP/$1.db
        out=$TMP/$1.out
        shift
        checks=$((checks + 1))
        if ! timeout 120 "$GT" record -o "$db" "$@" -- env LD_LIBRARY_PATH="$FAKE_DIR" \
            GPUTRACE_CUPTI="$FAKE_DIR/libcupti.so.13" python3 "$PY_SRC" "$FAKE_DIR" \
            >"$out" 2>&1; then
            fail "record of py_alloc.py failed; its output:"
            sed 's/^/    /' "$out"
            return 1
        fi
    }
    # stack_of SIZE: the stack of the allocation of SIZE bytes, as name:line
    # from the innermost frame out.
    stack_of() {
        q "SELECT group_concat(name || ':' || line, ' < ') FROM (SELECT f.name, f.line
            FROM events e JOIN event_stacks es ON es.seq = e.seq
            JOIN stacks s ON s.stack = es.stack JOIN frames f ON f.frame = s.frame
            WHERE e.kind = 1 AND e.requested = $1 ORDER BY s.depth);"
    }
    line_of() {
        grep -n "$1" "$PY_SRC" | head -n 1 | cut -d: -f1
    }
    if record_py python; then
        want="allocate:$(line_of '# the allocating line') < layer:$(line_of 'return allocate(WITH_GIL')"
        want="$want < allocations:$(line_of 'kept = \[layer') < <module>:$(line_of '^        allocations()')"
        for size in 1048576 2097152; do
            checks=$((checks + 1))
            got=$(stack_of $size)
            [ "$got" = "$want" ] || fail "stack of $size: got '$got', expected '$want'"
        done
        eq "the frames name the program's file" "SELECT count(DISTINCT filename) FROM frames
            WHERE name != '<no Python stack: the allocating thread did not hold the GIL>';" 1
        eq "that file" "SELECT DISTINCT filename FROM frames WHERE name = 'allocate';" "$PY_SRC"
        eq "one stack for both" "SELECT count(DISTINCT es.stack) FROM events e
            JOIN event_stacks es ON es.seq = e.seq WHERE e.requested IN (1048576, 2097152);" 1
        checks=$((checks + 1))
        got=$(stack_of 3145728)
        [ "$got" = "<no Python stack: the allocating thread did not hold the GIL>:0" ] ||
            fail "stack of the allocation without the GIL: '$got'"
        eq "frees have no stack" "SELECT count(*) FROM events e JOIN event_stacks es
            ON es.seq = e.seq WHERE e.kind != 1;" 0
    fi
    if record_py python-no-frames --no-frames; then
        eq "--no-frames: no stacks" "SELECT count(*) FROM event_stacks;" 0
        eq "--no-frames: the allocations" "$(count 1)" 3
    fi
else
    echo "python: skipped (no python3)"
fi

echo "$checks checks, $failures failed"
[ "$failures" -eq 0 ]
