#!/usr/bin/env bash
# The GPU check, run on a machine with an NVIDIA GPU and PyTorch (the device tool's
# machine): records PyTorch's own allocator as ground truth for the simulator.
# Results go to $OUT (or ./gpu-out) as one tarball.
set -euo pipefail
out=${OUT:-$PWD/gpu-out}
work=$(mktemp -d)
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$work/nvidia-smi.txt"
PYTHONUNBUFFERED=1 python3 "$(dirname "$0")/capture_truth.py" "$work/truth" 2>&1 | tee "$work/capture.log"
tar -C "$work" -czf "$out/gpu-truth.tar.gz" .
ls -la "$work/truth"
