#!/usr/bin/env bash
# The snapshot export opened by PyTorch's own viewer code
# (torch.cuda._memory_viz: segsum, trace, trace_plot, segment_plot; pure
# Python, no GPU needed) on every shared real snapshot: the recorded run's
# export must read as PyTorch's own dump does, a simulated one must open.
# Needs PyTorch 2.1 or newer (the snapshot layout gpu-trace writes); where
# it cannot be installed (CI: Debian has only 1.13, whose viewer reads the
# older layout, and pip's registry is out of reach) the test is skipped
# (77) and says why. tests/gpu/run.sh runs the same check on the GPU host.
#
# usage: viewer_test.sh GPU_TRACE SHARED_TRACES_DIR
set -u
bin=$1
shared=$2
here=$(cd "$(dirname "$0")" && pwd)
if ! python3 -c 'import sys, torch
v = tuple(int(x) for x in torch.__version__.split("+")[0].split(".")[:2])
sys.exit(0 if v >= (2, 1) else 1)' 2>/dev/null; then
    echo "skipped: PyTorch 2.1 or newer is not installed here (torch.cuda._memory_viz reads"
    echo "the 2.1+ snapshot layout); tests/gpu/run.sh runs this check on the GPU host"
    exit 77
fi
snaps=$(ls "$shared"/*/*.pickle 2>/dev/null)
if [ -z "$snaps" ]; then
    echo "skipped: no shared snapshots in $shared"
    exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0
for s in $snaps; do
    name=$(basename "$(dirname "$s")")
    "$bin" import "$s" -o "$work/$name.db" >/dev/null &&
        "$bin" export "$work/$name.db" -o "$work/$name.rec.pickle" >/dev/null &&
        "$bin" export "$work/$name.db" -o "$work/$name.sim.pickle" \
            --config expandable_segments:True >/dev/null &&
        python3 "$here/viz_export.py" "$s" "$work/$name.rec.pickle" "$work/$name.sim.pickle" ||
        { echo "FAIL $name"; failed=$((failed + 1)); }
done
[ $failed = 0 ]
