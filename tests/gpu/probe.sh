#!/usr/bin/env bash
# The cuDNN-probe check (issue 4): records a convolutional loop with
# cudnn.benchmark in requests mode and shows how many probe records the
# drain dropped, and the failed allocations left in the trace. Binaries from
# tests/gpu/prebuild.sh; output in $OUT.
set -u
export PATH="$PWD/gpu-bin:$PATH" GPUTRACE_INJECT="$PWD/gpu-bin/libgputrace-inject.so" PYTHONUNBUFFERED=1
timeout 150 gpu-trace record --mode requests -o "$OUT/conv.db" -- \
    python3 tests/gpu/conv_loop.py "$OUT/conv.json" > "$OUT/conv.log" 2>&1
echo "record exit $?"; tail -3 "$OUT/conv.log"
python3 - "$OUT/conv.db" <<'PY'
import sqlite3, sys
sys.path.insert(0, "tests/gpu")
import gtsql
c = sqlite3.connect(sys.argv[1])
meta = dict(c.execute("SELECT key, value FROM meta"))
print("probe_events_dropped", meta.get("probe_events_dropped"), "lost", meta.get("lost_events"))
print("events", gtsql.rows(sys.argv[1], "SELECT count(*) FROM events")[0][0])
print("failed allocs left", gtsql.rows(sys.argv[1], "SELECT count(*), group_concat(requested) FROM events WHERE kind = 1 AND result != 0")[0])
print("devices", list(c.execute("SELECT * FROM devices")))
PY
gpu-trace stats "$OUT/conv.db" | head -8
