#!/usr/bin/env python3
"""Writes the small PyTorch-format memory snapshots the snapshot tests use.

midrun.pickle: a trace that starts mid-run. At the dump, segment S1 (20 MiB,
large pool) holds block A (allocated before the trace, still live) and free
space. The trace frees block B (allocated before the trace), allocates and
frees in its place, then creates a small segment S2 and releases it in a run
of segment_free that no new segment follows: an empty_cache() to infer.
Expected: start state = S1 with A and B live (B 3,000,320 B = round_size of
3,000,000, not extended: the 13,776,896 B behind it is more than 1 MiB and
nothing was allocated into it while B lived); 1 empty_cache inferred; replay
reproduces both real segment events and ends in the dump's state.

emptycache-frames.pickle: a segment_free followed by a segment_alloc, but
its frames name emptyCache: an empty_cache() all the same.

notasnapshot.pickle: a pickled dict without device_traces.

Run: python3 make.py (writes the files next to this script; protocol 4).
"""
import os
import pickle

MIB = 1 << 20
S1 = 0x7F1000000000
S2 = 0x7F2000000000
here = os.path.dirname(os.path.abspath(__file__))


def ev(action, addr, size, frames=None):
    e = {"action": action, "addr": addr, "size": size, "stream": 0, "time_us": 1000 + len(trace)}
    if frames is not None:
        e["frames"] = frames
    return e


py = [{"filename": "train.py", "line": 42, "name": "forward"}]
trace = []
trace.append(ev("free_requested", S1 + 4 * MIB, 3_000_000))
trace.append(ev("free_completed", S1 + 4 * MIB, 3_000_000))
trace.append(ev("alloc", S1 + 4 * MIB, 2_000_000, py))
trace.append(ev("free_requested", S1 + 4 * MIB, 2_000_000))
trace.append(ev("free_completed", S1 + 4 * MIB, 2_000_000))
trace.append(ev("segment_alloc", S2, 2 * MIB, py))
trace.append(ev("alloc", S2, 1024, py))
trace.append(ev("free_requested", S2, 1024))
trace.append(ev("free_completed", S2, 1024))
trace.append(ev("segment_free", S2, 2 * MIB))

segments = [{
    "device": 0, "address": S1, "total_size": 20 * MIB, "allocated_size": 4 * MIB,
    "active_size": 4 * MIB, "requested_size": 4_000_000, "stream": 0,
    "segment_type": "large", "segment_pool_id": (0, 0), "is_expandable": False,
    "frames": [],
    "blocks": [
        {"address": S1, "size": 4 * MIB, "requested_size": 4_000_000,
         "state": "active_allocated", "frames": []},
        {"address": S1 + 4 * MIB, "size": 16 * MIB, "requested_size": 0,
         "state": "inactive", "frames": []},
    ],
}]
settings = {"PYTORCH_CUDA_ALLOC_CONF": "", "max_split_size": -1,
            "garbage_collection_threshold": 0.0, "expandable_segments": False,
            "roundup_power2_divisions": {str(1 << i): 0 for i in range(16)}}
with open(os.path.join(here, "midrun.pickle"), "wb") as f:
    pickle.dump({"segments": segments, "device_traces": [trace],
                 "allocator_settings": settings}, f, protocol=4)

trace = []
empty = [{"filename": "CUDACachingAllocator.cpp", "line": 0,
          "name": "c10::cuda::CUDACachingAllocator::Native::NativeCachingAllocator::emptyCache()"}]
trace.append(ev("segment_alloc", S2, 2 * MIB, py))
trace.append(ev("alloc", S2, 1024, py))
trace.append(ev("free_requested", S2, 1024))
trace.append(ev("free_completed", S2, 1024))
trace.append(ev("segment_free", S2, 2 * MIB, empty))
trace.append(ev("segment_alloc", S2, 2 * MIB, py))
trace.append(ev("alloc", S2, 2048, py))
seg2 = [{
    "device": 0, "address": S2, "total_size": 2 * MIB, "allocated_size": 2048,
    "active_size": 2048, "requested_size": 2048, "stream": 0, "segment_type": "small",
    "segment_pool_id": (0, 0), "is_expandable": False, "frames": [],
    "blocks": [{"address": S2, "size": 2048, "requested_size": 2048,
                "state": "active_allocated", "frames": []},
               {"address": S2 + 2048, "size": 2 * MIB - 2048, "requested_size": 0,
                "state": "inactive", "frames": []}],
}]
with open(os.path.join(here, "emptycache-frames.pickle"), "wb") as f:
    pickle.dump({"segments": seg2, "device_traces": [trace], "allocator_settings": settings}, f,
                protocol=4)

# legacy20.pickle: the PyTorch 2.0 layout: no time_us, no allocator_settings,
# blocks with a `history` list ({addr, real_size, frames}) instead of
# requested_size, traces without frames. One live block A from before the
# trace, then an alloc and its free in the same segment.
trace = [{"action": "alloc", "addr": S1 + 4 * MIB, "size": 3_000_000, "stream": 0},
         {"action": "free_requested", "addr": S1 + 4 * MIB, "size": 3_000_000, "stream": 0},
         {"action": "free_completed", "addr": S1 + 4 * MIB, "size": 3_000_000, "stream": 0}]
legacy = [{
    "device": 0, "address": S1, "total_size": 20 * MIB, "allocated_size": 4 * MIB,
    "active_size": 4 * MIB, "stream": 0, "segment_type": "large",
    "blocks": [
        {"size": 4 * MIB, "state": "active_allocated",
         "history": [{"addr": S1, "real_size": 4_000_000, "frames": []}]},
        {"size": 16 * MIB, "state": "inactive", "history": []},
    ],
}]
# (2.0 blocks may carry no address: it is the segment's plus the sizes before.)
with open(os.path.join(here, "legacy20.pickle"), "wb") as f:
    pickle.dump({"segments": legacy, "device_traces": [trace]}, f, protocol=2)

with open(os.path.join(here, "notasnapshot.pickle"), "wb") as f:
    pickle.dump({"hello": [1, 2, 3]}, f, protocol=2)

# badnumbers-*.pickle: a byte count that is not one (a float, a string, a
# negative int, a huge time): each must be an error naming where it is,
# never read as 0 or as a size near 2^64.
for name, key, value in [("float", "size", 1.5), ("string", "size", "4096"),
                         ("negative", "size", -512), ("time", "time_us", 1 << 60)]:
    bad = [{"action": "alloc", "addr": S1, "size": 4096, "stream": 0, "time_us": 1},
           {"action": "alloc", "addr": S1 + 4096, "size": 4096, "stream": 0, "time_us": 2}]
    bad[1][key] = value
    with open(os.path.join(here, "badnumbers-%s.pickle" % name), "wb") as f:
        pickle.dump({"segments": [], "device_traces": [bad]}, f, protocol=4)

# badsettings.pickle: allocator settings the simulator cannot read: the
# import names them (and --alloc-conf can replace them).
bad = [{"action": "alloc", "addr": S1, "size": 4096, "stream": 0, "time_us": 1}]
with open(os.path.join(here, "badsettings.pickle"), "wb") as f:
    pickle.dump({"segments": [], "device_traces": [bad],
                 "allocator_settings": {"PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:banana"}},
                f, protocol=4)

# overlap.pickle: two segments of device 0 that share memory.
segs = [{"device": 0, "address": S1, "total_size": 20 * MIB, "stream": 0, "blocks": [
            {"address": S1, "size": 20 * MIB, "requested_size": 0, "state": "inactive"}]},
        {"device": 0, "address": S1 + 2 * MIB, "total_size": 2 * MIB, "stream": 0, "blocks": [
            {"address": S1 + 2 * MIB, "size": 2 * MIB, "requested_size": 0,
             "state": "inactive"}]}]
bad = [{"action": "alloc", "addr": S2, "size": 4096, "stream": 0, "time_us": 1}]
with open(os.path.join(here, "overlap.pickle"), "wb") as f:
    pickle.dump({"segments": segs, "device_traces": [bad]}, f, protocol=4)

# shared-trace.pickle: one device_traces list for two devices, and
# shared-event.pickle: one event dict repeated: a pickle's memo makes both
# cost a few bytes, and both would turn a small file into many events.
ev1 = {"action": "alloc", "addr": S1, "size": 4096, "stream": 0, "time_us": 1}
one = [ev1]
with open(os.path.join(here, "shared-trace.pickle"), "wb") as f:
    pickle.dump({"segments": [], "device_traces": [one, one]}, f, protocol=4)
with open(os.path.join(here, "shared-event.pickle"), "wb") as f:
    pickle.dump({"segments": [], "device_traces": [[ev1] * 1000]}, f, protocol=4)

# pending-free.pickle: a block freed while another stream still used it
# (record_stream). A (12 MiB, segment S1 of its own: > 10 MiB is rounded to
# 2 MiB) is freed at entry 2 but its free completes only at entry 5: in
# between it is active_pending_free, so B needs a new segment S2. After the
# completion C reuses A's block; C's free completes at once. By the rules:
# 2 segment events, both reproduced; the end state (S1 free, S2 holding B)
# reproduced block for block. Freed at once instead, B would have taken A's
# block and no S2 would be made.
S3 = 0x7F3000000000
S4 = 0x7F3001000000
trace = []
trace.append(ev("segment_alloc", S3, 12 * MIB, py))
trace.append(ev("alloc", S3, 12 * MIB, py))
trace.append(ev("free_requested", S3, 12 * MIB))
trace.append(ev("segment_alloc", S4, 12 * MIB, py))
trace.append(ev("alloc", S4, 12 * MIB, py))
trace.append(ev("free_completed", S3, 12 * MIB))
trace.append(ev("alloc", S3, 12 * MIB, py))
trace.append(ev("free_requested", S3, 12 * MIB))
trace.append(ev("free_completed", S3, 12 * MIB))
segs = [{"device": 0, "address": S3, "total_size": 12 * MIB, "allocated_size": 0,
         "active_size": 0, "requested_size": 0, "stream": 0, "segment_type": "large",
         "segment_pool_id": (0, 0), "is_expandable": False, "frames": [],
         "blocks": [{"address": S3, "size": 12 * MIB, "requested_size": 0,
                     "state": "inactive", "frames": []}]},
        {"device": 0, "address": S4, "total_size": 12 * MIB, "allocated_size": 12 * MIB,
         "active_size": 12 * MIB, "requested_size": 12 * MIB, "stream": 0,
         "segment_type": "large", "segment_pool_id": (0, 0), "is_expandable": False,
         "frames": [],
         "blocks": [{"address": S4, "size": 12 * MIB, "requested_size": 12 * MIB,
                     "state": "active_allocated", "frames": []}]}]
with open(os.path.join(here, "pending-free.pickle"), "wb") as f:
    pickle.dump({"segments": segs, "device_traces": [trace],
                 "allocator_settings": settings}, f, protocol=4)

# pending-start.pickle: the same run with its first entries lost (the trace
# is a ring): A's free_requested came before the trace, so at the start A is
# active_pending_free, and D (segment S5) is pending at both ends with no
# entry at all. By the rules: the start state holds S3 with A pending and S5
# with D pending (24 MiB reserved, nothing allocated); B cannot take A's
# block and makes S4 (1 segment event, reproduced); A's free_completed
# returns it and C reuses it; the end state (S3 free, S4 holding B, S5 with
# D pending) is reproduced block for block; no free is unknown. Were A freed
# at the start, B would take its block and S4 would never be made.
S5 = 0x7F3004000000
trace = []
trace.append(ev("segment_alloc", S4, 12 * MIB, py))
trace.append(ev("alloc", S4, 12 * MIB, py))
trace.append(ev("free_completed", S3, 12 * MIB))
trace.append(ev("alloc", S3, 12 * MIB, py))
trace.append(ev("free_requested", S3, 12 * MIB))
trace.append(ev("free_completed", S3, 12 * MIB))
segs_start = segs + [{"device": 0, "address": S5, "total_size": 12 * MIB, "allocated_size": 0,
                      "active_size": 12 * MIB, "requested_size": 12 * MIB, "stream": 0,
                      "segment_type": "large", "segment_pool_id": (0, 0),
                      "is_expandable": False, "frames": [],
                      "blocks": [{"address": S5, "size": 12 * MIB, "requested_size": 12 * MIB,
                                  "state": "active_pending_free", "frames": []}]}]
with open(os.path.join(here, "pending-start.pickle"), "wb") as f:
    pickle.dump({"segments": segs_start, "device_traces": [trace],
                 "allocator_settings": settings}, f, protocol=4)

# expandable-start.pickle: a run with expandable_segments:True whose trace
# starts mid-run (pages of 20 MiB in the large pool). Its VA reservation R
# has [R, R+40 MiB) mapped at the start, holding A (39.5 MiB requested,
# allocated before the trace) and a free 0.5 MiB tail. By the rules:
#  1. B (25 MiB): no free block fits; find_expandable_block starts at the
#     free tail before the unmapped rest; 24.5 MiB more are mapped as two
#     pages: segment_map(R+40 MiB, 40 MiB); B = [R+39.5, R+64.5) (split: an
#     expandable remainder >= 512 B), free [64.5, 80).
#  2. A is freed: free [R, R+39.5).
#  3. empty_cache (its frames say so): only the page [R, R+20) lies wholly
#     in a free block: segment_unmap(R, 20 MiB); [20, 39.5) stays mapped.
#  4. C (30 MiB): no free block fits (19.5 and 15.5 MiB); the lowest
#     unmapped range is [R, R+20), which with the free block after it holds
#     39.5 MiB: segment_map(R, 20 MiB); C = [R, R+30), free [30, 39.5).
# The dump then has one mapped range [R, R+80 MiB): C, free 9.5 MiB, B,
# free 15.5 MiB. Undoing the map, the unmap and the map gives the start
# range [R, R+40); A's block is 39.5 MiB, not stretched over the 0.5 MiB
# after it (B landed there while A lived, and expandable segments split any
# remainder of 512 B or more).
R = 0x7F4000000000
A_REQ = 39 * MIB + MIB // 2
trace = []
trace.append(ev("segment_map", R + 40 * MIB, 40 * MIB, py))
trace.append(ev("alloc", R + A_REQ, 25 * MIB, py))
trace.append(ev("free_requested", R, A_REQ))
trace.append(ev("free_completed", R, A_REQ))
trace.append(ev("segment_unmap", R, 20 * MIB, empty))
trace.append(ev("segment_map", R, 20 * MIB, py))
trace.append(ev("alloc", R, 30 * MIB, py))
blocks = [(R, 30 * MIB, 30 * MIB, "active_allocated"),
          (R + 30 * MIB, A_REQ - 30 * MIB, 0, "inactive"),
          (R + A_REQ, 25 * MIB, 25 * MIB, "active_allocated"),
          (R + A_REQ + 25 * MIB, 80 * MIB - A_REQ - 25 * MIB, 0, "inactive")]
xsegs = [{"device": 0, "address": R, "total_size": 80 * MIB, "allocated_size": 55 * MIB,
          "active_size": 55 * MIB, "requested_size": 55 * MIB, "stream": 0,
          "segment_type": "large", "segment_pool_id": (0, 0), "is_expandable": True,
          "frames": [],
          "blocks": [{"address": a, "size": s, "requested_size": q, "state": st, "frames": []}
                     for a, s, q, st in blocks]}]
xsettings = dict(settings, PYTORCH_CUDA_ALLOC_CONF="expandable_segments:True",
                 expandable_segments=True)
with open(os.path.join(here, "expandable-start.pickle"), "wb") as f:
    pickle.dump({"segments": xsegs, "device_traces": [trace], "allocator_settings": xsettings},
                f, protocol=4)

# private-pool.pickle: a run that starts with two segments in private pools:
# G (20 MiB, the CUDA graph pool (1, 0)) holding Y (4 MiB, live throughout)
# and a free 16 MiB block, and H (12 MiB, the MemPool (0, 1)), all free. The
# trace (entries carrying pool_id, as the newest releases write) shows H's
# pool given up: empty_cache cudaFree's H. By the rules:
#  1. A (8 MiB): the default pools hold nothing, and a private pool serves no
#     request outside it, so G's free 16 MiB block is out of reach:
#     cudaMalloc of 20 MiB (1 MiB < 8 MiB < 10 MiB): segment_alloc(SA).
#  2. B (10 MiB) takes SA's free 12 MiB, split (2 MiB left > 1 MiB).
#  3. A and B are freed: SA is one free 20 MiB block.
#  4. empty_cache: release_cached_blocks frees the default large pool (SA,
#     20 MiB), the default small pool (nothing), then the pools no graph or
#     MemPool uses: H (12 MiB). G's pool is in use and keeps its segment.
# Segment events: segment_alloc 20, segment_free 20, segment_free 12 MiB, in
# that order (were H in the default pool, it would go first: the large
# pool's set runs by size). Reserved: 32 MiB at the start, 52 at the peak.
# The dump holds G alone, as at the start.
PG = 0x7F5000000000
PH = 0x7F5002000000
SA = 0x7F5004000000
trace = []
trace.append(dict(ev("segment_alloc", SA, 20 * MIB, py), pool_id=(0, 0)))
trace.append(ev("alloc", SA, 8 * MIB, py))
trace.append(ev("alloc", SA + 8 * MIB, 10 * MIB, py))
trace.append(ev("free_requested", SA, 8 * MIB))
trace.append(ev("free_completed", SA, 8 * MIB))
trace.append(ev("free_requested", SA + 8 * MIB, 10 * MIB))
trace.append(ev("free_completed", SA + 8 * MIB, 10 * MIB))
trace.append(dict(ev("segment_free", SA, 20 * MIB, empty), pool_id=(0, 0)))
trace.append(dict(ev("segment_free", PH, 12 * MIB, empty), pool_id=(0, 1)))
psegs = [{"device": 0, "address": PG, "total_size": 20 * MIB, "allocated_size": 4 * MIB,
          "active_size": 4 * MIB, "requested_size": 4 * MIB, "stream": 0,
          "segment_type": "large", "segment_pool_id": (1, 0), "is_expandable": False,
          "frames": [],
          "blocks": [{"address": PG, "size": 4 * MIB, "requested_size": 4 * MIB,
                      "state": "active_allocated", "frames": []},
                     {"address": PG + 4 * MIB, "size": 16 * MIB, "requested_size": 0,
                      "state": "inactive", "frames": []}]}]
with open(os.path.join(here, "private-pool.pickle"), "wb") as f:
    pickle.dump({"segments": psegs, "device_traces": [trace], "allocator_settings": settings},
                f, protocol=4)
