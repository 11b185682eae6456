#!/usr/bin/env python3
"""compare_native.py NATIVE.db SNAPSHOT.pickle: do the segment events that
`gpu-trace record --mode native` saw match PyTorch's own record of the same
run? Prints the counts and writes nothing else. The tracer sees every
cudaMalloc of the process (also those outside PyTorch's allocator), so the
snapshot's events are searched for as a subsequence, in order and size."""
import os
import pickle
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gtsql  # noqa: E402

db, snap = sys.argv[1], sys.argv[2]
traced = [(k, s) for k, s in gtsql.rows(
    db, "SELECT kind, size FROM events WHERE kind IN (3, 4, 5, 6) ORDER BY seq")]
names = {"segment_alloc": 3, "segment_free": 4, "segment_map": 5, "segment_unmap": 6}
real = [(names[e["action"]], e["size"]) for e in pickle.load(open(snap, "rb"))["device_traces"][0]
        if e["action"] in names]
i = 0
matched = 0
for ev in real:
    j = i
    while j < len(traced) and traced[j] != ev:
        j += 1
    if j == len(traced):
        break
    matched += 1
    i = j + 1
print("native-vs-snapshot: snapshot segment events %d, found in order in the trace %d, "
      "trace segment events %d (%d not PyTorch's or after a divergence)"
      % (len(real), matched, len(traced), len(traced) - matched))
