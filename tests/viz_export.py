"""Issue 16: gpu-trace's snapshot export opened by PyTorch's own viewer code
(torch.cuda._memory_viz), on the GPU machine where PyTorch is installed.

usage: viz_export.py PYTORCH_SNAPSHOT RECORDED_EXPORT SIMULATED_EXPORT

The export of the recorded run must give the same segsum text as the
snapshot PyTorch dumped (segsum reads segments and blocks only) and the same
trace text less the frames gpu-trace does not keep; every export must go
through segsum, trace, trace_plot and segment_plot without an error.
Exit 0 when all hold, 1 otherwise."""
import pickle
import sys

from torch.cuda import _memory_viz as viz


def load(path):
    with open(path, "rb") as f:
        return pickle.load(f)


def main():
    torch_snap, recorded, simulated = (load(p) for p in sys.argv[1:4])
    ok = True
    for name, snap in (("recorded", recorded), ("simulated", simulated)):
        for fn in (viz.segsum, viz.trace, viz.trace_plot, viz.segment_plot):
            try:
                out = fn(snap)
                print("%s: %s ok (%d characters)" % (name, fn.__name__, len(out)))
            except Exception as e:  # the viewer's own failure is the finding
                print("FAIL %s: %s raised %r" % (name, fn.__name__, e))
                ok = False
    if viz.segsum(torch_snap) != viz.segsum(recorded):
        print("FAIL segsum of the recorded export differs from PyTorch's snapshot")
        ok = False
    else:
        print("segsum of the recorded export equals PyTorch's")
    if viz.trace(torch_snap) != viz.trace(recorded):
        print("FAIL trace text of the recorded export differs from PyTorch's snapshot")
        ok = False
    else:
        print("trace text of the recorded export equals PyTorch's")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
