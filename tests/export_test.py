#!/usr/bin/env python3
"""`gpu-trace export --format snapshot` against real consumers, on every
shared real trace (../shared/data/traces, imported here):

  - Python's own pickle module loads every export;
  - the export of an imported snapshot is the snapshot PyTorch dumped, field
    for field: the same keys in the same order and of the same Python types,
    segments and blocks equal (block stacks included), trace entries equal
    but for what gpu-trace does not keep (the stacks of frees and of a
    segment's cudaMalloc; compile_context and user_metadata of 2.6+),
    allocator_settings equal;
  - a round trip through gpu-trace's own importer gives the same trace:
    events, start and end state, stacks and settings, table for table;
  - --format perfetto is trace-event JSON of the shape Perfetto and
    chrome://tracing read, whose reserved counters peak at analyze's peak
    and whose OOM markers are analyze's OOMs, config for config;
  - a simulated run (--config, on the card the trace reveals and on a card
    too small for it) is a consistent snapshot, as torch.cuda._memory_viz's
    segsum asserts it (blocks tile their segments, the sizes add up), its
    trace only frees what was allocated and never hands out overlapping
    blocks, and its peak reserved and out-of-memory count are analyze's for
    the same config on the same card (one truth).
Exit 0 when all hold, 1 with the failures, 77 when the shared traces are
missing (CTest: skipped).

usage: export_test.py GPU_TRACE SHARED_TRACES_DIR
"""
import bisect
import glob
import json
import os
import pickle
import subprocess
import sys
import tempfile

failures = []
SQL_TABLES = ["events", "initial_blocks", "final_blocks", "event_stacks", "stacks", "frames",
              "event_totals", "devices"]
# What gpu-trace does not keep, per trace entry (PyTorch 2.6+ adds these).
NOT_KEPT = {"compile_context", "user_metadata"}
# What gpu-trace writes as the newest PyTorch does and older ones lack.
NEWER = {"graph_capture_record_stream_reuse"}


def fail(name, what):
    failures.append("%s: %s" % (name, what))
    print("FAIL %s: %s" % (name, what))


def run(gt, *args):
    p = subprocess.run([gt] + list(args), capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError("gpu-trace %s: exit %d: %s" % (" ".join(args), p.returncode,
                                                          p.stderr.strip()))
    return p.stdout


def load(path):
    with open(path, "rb") as f:
        return pickle.load(f)


def same_types(name, where, a, b):
    """b has a's keys (less NOT_KEPT) and the same types. The order of keys
    is not compared: PyTorch's releases differ (2.5's Python snapshot puts a
    segment's blocks before its frames, the C++ pickler after)."""
    if isinstance(a, dict):
        keys = sorted(k for k in a if k not in NOT_KEPT)
        if not isinstance(b, dict) or sorted(k for k in b if k in a or k not in NEWER) != keys:
            fail(name, "%s: keys %s, PyTorch has %s" % (
                where, list(b.keys()) if isinstance(b, dict) else type(b).__name__, keys))
            return False
        return all(same_types(name, "%s.%s" % (where, k), a[k], b[k]) for k in keys)
    if type(a) is not type(b):
        fail(name, "%s: %s where PyTorch has %s" % (where, type(b).__name__, type(a).__name__))
        return False
    if isinstance(a, (list, tuple)) and a and b:
        return same_types(name, where + "[0]", a[0], b[0])
    return True


def compare_snapshot(name, orig, exp):
    if not same_types(name, "snapshot", {k: orig[k] for k in orig}, exp):
        return
    # not kept: the stack of a segment's cudaMalloc, and of a block
    # allocated before the trace began (its alloc is not in the trace)
    allocated_in = {e["addr"] for t in orig["device_traces"] for e in t
                    if e["action"] == "alloc"}
    segs = [dict(s, frames=[], blocks=[
        b if b["address"] in allocated_in else dict(b, frames=[]) for b in s["blocks"]])
        for s in orig["segments"]]
    if segs != exp["segments"]:
        fail(name, "segments differ from PyTorch's")
    for d, (to, te) in enumerate(zip(orig["device_traces"], exp["device_traces"])):
        if len(to) != len(te):
            fail(name, "device %d: %d trace entries, PyTorch has %d" % (d, len(te), len(to)))
            continue
        for i, (eo, ee) in enumerate(zip(to, te)):
            want = {k: v for k, v in eo.items() if k not in NOT_KEPT}
            if eo["action"] not in ("alloc", "oom", "segment_alloc"):
                want["frames"] = []
            if eo["action"] == "free_completed" and i > 0 and \
                    to[i - 1]["action"] == "free_requested":
                # a free completed at once is one event in a trace: one time
                want["time_us"] = te[i - 1]["time_us"]
            if want != ee:
                fail(name, "device %d entry %d: %r, PyTorch has %r" % (
                    d, i, {k: v for k, v in ee.items() if k != "frames"},
                    {k: v for k, v in want.items() if k != "frames"}))
                break
    settings = {k: v for k, v in exp["allocator_settings"].items()
                if k in orig["allocator_settings"] or k not in NEWER}
    if orig["allocator_settings"] != settings:
        fail(name, "allocator_settings differ")


def sql_dump(gt, db, table):
    return run(gt, "sql", db, "select * from %s" % table)


def check_round_trip(gt, name, db, pickle_path, work):
    db2 = os.path.join(work, name + ".again.db")
    run(gt, "import", pickle_path, "-o", db2)
    for t in SQL_TABLES:
        if sql_dump(gt, db, t) != sql_dump(gt, db2, t):
            fail(name, "round trip: table %s differs" % t)
    if run(gt, "sql", db, "select value from meta where key = 'alloc_conf'") != \
            run(gt, "sql", db2, "select value from meta where key = 'alloc_conf'"):
        fail(name, "round trip: the recorded settings differ")


def check_segsum(name, snap):
    """The invariants torch.cuda._memory_viz.segsum asserts, and more."""
    for s in snap["segments"]:
        at, alloc, active, req = s["address"], 0, 0, 0
        for b in s["blocks"]:
            if b["address"] != at:
                fail(name, "segment %#x: block at %#x, expected %#x" % (
                    s["address"], b["address"], at))
                return
            at += b["size"]
            if b["state"] != "inactive":
                active += b["size"]
                req += b["requested_size"]
                if b["requested_size"] > b["size"]:
                    fail(name, "block %#x asked more than its size" % b["address"])
            if b["state"] == "active_allocated":
                alloc += b["size"]
        if (at - s["address"], alloc, active, req) != \
                (s["total_size"], s["allocated_size"], s["active_size"], s["requested_size"]):
            fail(name, "segment %#x: sums do not add up" % s["address"])


def walk_trace(name, snap, device):
    """Peak reserved along the trace, OOMs; every free names a live block,
    live blocks never overlap."""
    trace = snap["device_traces"][device]
    segs = [s for s in snap["segments"] if s["device"] == device]
    delta = {"segment_alloc": 1, "segment_map": 1, "segment_free": -1, "segment_unmap": -1}
    reserved = sum(s["total_size"] for s in segs)
    reserved -= sum(delta.get(e["action"], 0) * e["size"] for e in trace)
    peak, ooms = reserved, 0
    # blocks live before the trace: those whose first entry is a free, and
    # those active at the end that the trace never allocates
    first = {}
    for e in trace:
        if e["action"] in ("alloc", "free_requested"):
            first.setdefault(e["addr"], e["action"])
    live_start = {a for a, act in first.items() if act == "free_requested"}
    live_start |= {b["address"] for s in segs for b in s["blocks"]
                   if b["state"] != "inactive" and b["address"] not in first}
    starts, ends, live = [], [], set(live_start)
    for i, e in enumerate(trace):
        a = e["action"]
        if a in delta:
            reserved += delta[a] * e["size"]
            peak = max(peak, reserved)
        elif a == "oom":
            ooms += 1
        elif a == "alloc":
            k = bisect.bisect_left(starts, e["addr"])
            if (k < len(starts) and starts[k] < e["addr"] + max(e["size"], 1)) or \
                    (k > 0 and ends[k - 1] > e["addr"]):
                fail(name, "entry %d: alloc at %#x overlaps a live block" % (i, e["addr"]))
                return peak, ooms
            starts.insert(k, e["addr"])
            ends.insert(k, e["addr"] + max(e["size"], 1))
            live.add(e["addr"])
        elif a == "free_requested" and e["addr"] not in live:
            fail(name, "entry %d: free of %#x, which is not live" % (i, e["addr"]))
            return peak, ooms
        elif a == "free_completed" and e["addr"] in live:
            live.discard(e["addr"])
            k = bisect.bisect_left(starts, e["addr"])
            if k < len(starts) and starts[k] == e["addr"]:
                del starts[k]
                del ends[k]
    return peak, ooms


def check_simulated(gt, name, db, work, config, memory=None):
    out = os.path.join(work, "%s.%s.pickle" % (name, "small" if memory else "card"))
    card = ["--device-memory", memory] if memory else []
    if os.path.exists(out):
        os.unlink(out)
    run(gt, "export", db, "-o", out, "--config", config, *card)
    snap = load(out)
    check_segsum(name, snap)
    an = json.loads(run(gt, "analyze", db, "--config", config, *card, "--format", "json"))
    for d in an["devices"]:
        r = [x for x in d["results"] if x["config"] == config][0]
        peak, ooms = walk_trace("%s (%s%s)" % (name, config, " on " + memory if memory else ""),
                                snap, d["device"])
        if memory:
            print("  %s on a %s-byte card: %d OOMs, peak reserved %d" % (name, memory, ooms, peak))
        if (peak, ooms) != (r["peak_reserved_bytes"], r["num_ooms"]):
            fail(name, "%s%s: export's peak reserved %d and %d OOMs, analyze's %d and %d" % (
                config, " on " + memory if memory else "", peak, ooms,
                r["peak_reserved_bytes"], r["num_ooms"]))
    return an


def check_timeline(gt, name, db, work, an, configs, memory=None):
    """--format perfetto: valid trace-event JSON as Perfetto and
    chrome://tracing read it (a schema check), each config's reserved
    counter peaking where analyze's peak is, and one OOM marker per OOM."""
    out = os.path.join(work, name + ".json")
    if os.path.exists(out):
        os.unlink(out)
    args = ["export", db, "--format", "perfetto", "-o", out]
    for c in configs:
        args += ["--config", c]
    if memory:
        args += ["--device-memory", memory]
    run(gt, *args)
    with open(out) as f:
        doc = json.load(f)
    if set(doc) != {"displayTimeUnit", "traceEvents"}:
        fail(name, "timeline: top-level keys %s" % sorted(doc))
        return
    names, peaks, ooms, last_ts = {}, {}, {}, {}
    for e in doc["traceEvents"]:
        ph = e.get("ph")
        if ph == "M":
            if e.get("name") != "process_name" or not isinstance(e["args"].get("name"), str):
                fail(name, "timeline: bad metadata %r" % e)
                return
            names[e["pid"]] = e["args"]["name"]
            continue
        if ph not in ("C", "i") or not isinstance(e.get("pid"), int) or \
                not isinstance(e.get("ts"), (int, float)) or not isinstance(e.get("args"), dict):
            fail(name, "timeline: bad event %r" % e)
            return
        track = (e["pid"], e["name"])
        if e["ts"] < last_ts.get(track, float("-inf")):
            fail(name, "timeline: track %r goes back in time" % (track,))
            return
        last_ts[track] = e["ts"]
        if ph == "C":
            if list(e["args"]) != ["bytes"] or not isinstance(e["args"]["bytes"], int):
                fail(name, "timeline: counter args %r" % e["args"])
                return
            peaks[track] = max(peaks.get(track, 0), e["args"]["bytes"])
        else:
            ooms[e["pid"]] = ooms.get(e["pid"], 0) + 1
    for di, d in enumerate(an["devices"]):
        for k, c in enumerate(configs):
            r = [x for x in d["results"] if x["config"] == c][0]
            pid = 1 + 1000 * di + 1 + k
            if names.get(pid) != "GPU %d: %s" % (d["device"], c):
                fail(name, "timeline: process %d is %r" % (pid, names.get(pid)))
            got = (peaks.get((pid, "reserved")), peaks.get((1 + 1000 * di, "reserved (%s)" % c)),
                   ooms.get(pid, 0))
            want = (r["peak_reserved_bytes"], r["peak_reserved_bytes"], r["num_ooms"])
            if got != want:
                fail(name, "timeline %s: peak, compared peak, OOMs %s; analyze %s" % (
                    c, got, want))


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    gt, shared = sys.argv[1], sys.argv[2]
    inputs = sorted(glob.glob(os.path.join(shared, "*", "*.pickle")) +
                    glob.glob(os.path.join(shared, "*", "*.json.gz")))
    if not inputs:
        print("skipped: no shared traces in %s" % shared)
        return 77
    with tempfile.TemporaryDirectory() as work:
        for path in inputs:
            name = os.path.basename(os.path.dirname(path))
            db = os.path.join(work, name + ".db")
            run(gt, "import", path, "-o", db)
            exp = os.path.join(work, name + ".pickle")
            run(gt, "export", db, "--format", "snapshot", "-o", exp)
            snap = load(exp)
            if path.endswith(".pickle"):
                compare_snapshot(name, load(path), snap)
                check_round_trip(gt, name, db, exp, work)
            check_segsum(name, snap)
            for config in ("default", "expandable_segments:True"):
                an = check_simulated(gt, name, db, work, config)
            sweep = ["default", "expandable_segments:True", "max_split_size_mb:128"]
            an_sweep = json.loads(run(gt, "analyze", db, *sum((["--config", c] for c in sweep), []),
                                      "--format", "json"))
            check_timeline(gt, name, db, work, an_sweep, sweep)
            # a card too small for the run, above what the start state
            # holds: the simulated OOMs in the export
            d0 = an["devices"][0]
            peak = max(r["peak_reserved_bytes"] for r in d0["results"])
            small = (d0["start_reserved_bytes"] + peak) // 2
            if small > d0["start_reserved_bytes"] + (2 << 20):
                an_small = check_simulated(gt, name, db, work, "default", str(small))
                check_timeline(gt, name, db, work, an_small, ["default"], str(small))
            print("ok %s" % name)
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
