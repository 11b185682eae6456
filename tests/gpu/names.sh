#!/usr/bin/env bash
set -u
# The device-name check (issue 4): records the smoke program and the PyTorch
# loop, prints the devices table of each and analyzes the PyTorch trace with no
# --device-memory, so the card comes from the recording. Output: $OUT.
export PATH="$PWD/gpu-bin:$PATH" GPUTRACE_INJECT="$PWD/gpu-bin/libgputrace-inject.so" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total --format=csv
timeout 60 gpu-trace record -o "$OUT/smoke.db" -- gpu-bin/smoke > "$OUT/smoke.log" 2>&1; echo "smoke record exit $?"
timeout 150 gpu-trace record --mode requests -o "$OUT/requests.db" -- python3 tests/gpu/torch_loop.py --stats "$OUT/requests.json" > "$OUT/torch.log" 2>&1; echo "torch record exit $?"
for f in smoke requests; do python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); print(sys.argv[1].split('/')[-1], list(c.execute('SELECT device,name,total_memory FROM devices')))" "$OUT/$f.db"; done
gpu-trace analyze "$OUT/requests.db" 2>&1 | head -30
