#!/usr/bin/env bash
# The GPU check (issue 4, docs/notes/cupti.md §6.4), run on a machine with an NVIDIA GPU,
# PyTorch and python3 (the device tool's machine). Everything it writes goes
# to $OUT (or ./gpu-out). It uses binaries built beforehand on the
# development machine by tests/gpu/prebuild.sh (gpu-bin/: gpu-trace with
# SQLite linked in, libgputrace-inject.so, smoke), since the GPU host may
# lack SQLite's headers.
#   GT_GPU_TRUTH=1 also reruns the allocator ground truth (capture_truth.py).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${OUT:-$root/gpu-out}
bin=${GT_GPU_BIN:-$root/gpu-bin}
mkdir -p "$out"
log="$out/run.log"
exec > >(tee "$log") 2>&1
export PATH="$bin:$PATH" GPUTRACE_INJECT="$bin/libgputrace-inject.so" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
python3 -c "import torch; print('torch', torch.__version__)"
step() { echo; echo "== $*"; }

step "1. CUDA smoke program under record (requests mode)"
timeout 60 gpu-trace record -o "$out/smoke.db" -- "$bin/smoke"; echo "record exit $?"
python3 - "$out/smoke.db" <<'PY'
import sqlite3, sys
sys.path.insert(0, "tests/gpu")
import gtsql
con = sqlite3.connect(sys.argv[1])
for row in gtsql.rows(sys.argv[1], "SELECT seq, k.name, pid, device, stream, addr, size, requested,"
                      " result FROM events JOIN kinds k USING(kind) ORDER BY seq"):
    print("row", row)
print("meta", dict(con.execute("SELECT key, value FROM meta")))
print("devices", list(con.execute("SELECT device, name, total_memory FROM devices")))
PY

step "2. PyTorch, native mode, against PyTorch's own snapshot of the same run"
PYTORCH_CUDA_ALLOC_CONF='' timeout 150 gpu-trace record --mode native -o "$out/native.db" -- \
    python3 "$here/torch_loop.py" --stats "$out/native.json" --snapshot "$out/native.pickle"
echo "record exit $?"
python3 "$here/compare_native.py" "$out/native.db" "$out/native.pickle"
gpu-trace import "$out/native.pickle" -o "$out/native-snapshot.db" && \
    gpu-trace validate "$out/native-snapshot.db"

step "2b. the snapshot export opened by torch.cuda._memory_viz (issue 16)"
gpu-trace export "$out/native-snapshot.db" -o "$out/export-recorded.pickle" &&
    gpu-trace export "$out/native-snapshot.db" -o "$out/export-expandable.pickle" \
        --config expandable_segments:True &&
    python3 "$root/tests/viz_export.py" "$out/native.pickle" "$out/export-recorded.pickle" \
        "$out/export-expandable.pickle"
echo "viz_export exit $?"

step "3. PyTorch, requests mode, replayed under the native run's settings"
timeout 150 gpu-trace record --mode requests -o "$out/requests.db" -- \
    python3 "$here/torch_loop.py" --stats "$out/requests.json"
echo "record exit $?"
gpu-trace analyze "$out/requests.db" --config default --format json > "$out/analyze.json"
python3 - "$out/analyze.json" "$out/native.json" <<'PY'
import json, sys
a = json.load(open(sys.argv[1]))["devices"][0]["results"][0]
n = json.load(open(sys.argv[2]))
print("requests-replay: simulated peak reserved %d, torch.cuda.max_memory_reserved() of the "
      "native run %d, difference %+.2f%%" % (a["peak_reserved_bytes"], n["max_memory_reserved"],
      100.0 * (a["peak_reserved_bytes"] - n["max_memory_reserved"]) / n["max_memory_reserved"]))
PY

step "3b. which CUPTI traced PyTorch, and its Python stacks (issue 14)"
gpu-trace sql "$out/requests.db" "SELECT value FROM meta WHERE key = 'cupti_library'" --format list
# Allocations with a stack, with the 'no GIL' frame, and without any; PyTorch's
# operators release the GIL, so most should say 'no GIL' (docs/record.md).
gpu-trace sql "$out/requests.db" "SELECT CASE WHEN es.stack IS NULL THEN 'none'
    WHEN f.filename = '<gpu-trace>' THEN 'no GIL' ELSE 'python' END AS stack, count(*)
    FROM events e LEFT JOIN event_stacks es ON es.seq = e.seq
    LEFT JOIN stacks s ON s.stack = es.stack AND s.depth = 0
    LEFT JOIN frames f ON f.frame = s.frame WHERE e.kind = 1 GROUP BY 1" --format list

step "4. Overhead"
"$bin/smoke" bench 200000
timeout 60 gpu-trace record -o "$out/bench.db" -- "$bin/smoke" bench 200000
PYTORCH_CUDA_ALLOC_CONF=backend:cudaMallocAsync timeout 120 \
    python3 "$here/torch_loop.py" --stats "$out/untraced.json" --steps 20
timeout 150 gpu-trace record --mode requests -o "$out/traced.db" -- \
    python3 "$here/torch_loop.py" --stats "$out/traced.json" --steps 20
timeout 150 gpu-trace record --mode requests --no-frames -o "$out/traced-noframes.db" -- \
    python3 "$here/torch_loop.py" --stats "$out/traced-noframes.json" --steps 20
python3 - "$out/untraced.json" "$out/traced.json" "$out/traced-noframes.json" <<'PY'
import json, sys
def med(f):
    s = sorted(json.load(open(f))["step_seconds"][2:])
    return s[len(s) // 2]
u, t, n = med(sys.argv[1]), med(sys.argv[2]), med(sys.argv[3])
print("overhead per training step: untraced %.4f s, traced %.4f s (%+.1f%%), traced with "
      "--no-frames %.4f s (%+.1f%%)" % (u, t, 100 * (t - u) / u, n, 100 * (n - u) / u))
PY

if [ "${GT_GPU_TRUTH:-0}" = 1 ]; then
    step "5. allocator ground truth"
    python3 "$here/capture_truth.py" "$out/truth"
fi
ls -la "$out"
