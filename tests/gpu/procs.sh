#!/usr/bin/env bash
# Issue 4's "nothing lost, nothing broken" on a real GPU: torchrun ranks,
# DataLoader workers (fork and spawn) and a SIGKILLed program, each under
# gpu-trace record in requests mode. Binaries from tests/gpu/prebuild.sh;
# output in $OUT.
set -u
export PATH="$PWD/gpu-bin:$PATH" GPUTRACE_INJECT="$PWD/gpu-bin/libgputrace-inject.so" PYTHONUNBUFFERED=1
here=tests/gpu
show() {
    python3 - "$1" <<'PY'
import sqlite3, sys
sys.path.insert(0, "tests/gpu")
import gtsql
c = sqlite3.connect(sys.argv[1])
meta = dict(c.execute("SELECT key, value FROM meta"))
print("  processes", [(r[0] > 0, r[1]) for r in c.execute("SELECT pid, rank FROM processes ORDER BY rank")])
print("  allocs by rank", gtsql.rows(sys.argv[1], "SELECT p.rank, e.requested FROM events e JOIN processes p USING(pid) "
                                          "WHERE e.kind = 1 AND e.requested >= 67108864 ORDER BY p.rank"))
print("  events", gtsql.rows(sys.argv[1], "SELECT count(*) FROM events")[0][0], "lost", meta.get("lost_events"),
      "exit", meta.get("exit_code"), meta.get("exit_signal"))
PY
}
echo "== torchrun, 2 ranks on one GPU"
timeout 120 gpu-trace record -o "$OUT/ranks.db" -- python3 -m torch.distributed.run --standalone --nproc-per-node 2 \
    "$here/procs.py" rank > "$OUT/ranks.log" 2>&1; echo "record exit $?"
show "$OUT/ranks.db"
echo "== DataLoader, fork and spawn workers"
timeout 120 gpu-trace record -o "$OUT/loader.db" -- python3 "$here/procs.py" loader \
    > "$OUT/loader.log" 2>&1; echo "record exit $?"; grep 'loader total' "$OUT/loader.log"
show "$OUT/loader.db"
echo "== SIGKILL after a 256 MiB tensor"
timeout 120 gpu-trace record -o "$OUT/kill9.db" -- python3 "$here/procs.py" kill9 \
    > "$OUT/kill9.log" 2>&1; echo "record exit $? (137 expected)"
show "$OUT/kill9.db"
