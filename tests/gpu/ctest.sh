#!/usr/bin/env bash
# CTest entry of the GPU check (label gpu): exits 77 (skipped) on a machine
# without an NVIDIA GPU and PyTorch, else builds what run.sh needs and runs it.
set -u
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
    echo "skipped: no NVIDIA GPU here"
    exit 77
fi
if ! python3 -c 'import torch; assert torch.cuda.is_available()' >/dev/null 2>&1; then
    echo "skipped: no PyTorch with CUDA here"
    exit 77
fi
"$here/prebuild.sh" && "$here/run.sh" && "$here/summaries.sh"
