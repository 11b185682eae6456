#!/usr/bin/env python3
"""Record ground truth from PyTorch's own caching allocator on a real GPU.

Runs one small training loop (dynamic batch and sequence length, AdamW, an
explicit empty_cache mid-run) in a fresh process per allocator setting and
saves, for each run:
  <name>.csv    the request stream in gpu-trace's CSV interchange format
                (ts_ns,action,addr,size,stream,device), taken from
                torch.cuda.memory._record_memory_history, including the real
                allocator's segment events and any oom
  <name>.json   torch.cuda.memory_stats() at the end, the settings, the cap,
                the card and the torch version
The simulator's tests replay the CSV under the same settings and compare.
Usage: capture_truth.py OUTDIR
"""
import json
import os
import subprocess
import sys

RUNS = [
    # name, PYTORCH_CUDA_ALLOC_CONF, cap as a fraction of the default run's peak reserved
    ("default", "", None),
    ("split64", "max_split_size_mb:64", None),
    ("expandable", "expandable_segments:True", None),
    ("roundup4", "roundup_power2_divisions:4", None),
    ("default-capped", "", 0.80),
    ("split64-capped", "max_split_size_mb:64", 0.80),
    ("expandable-capped", "expandable_segments:True", 0.80),
    ("gc-capped", "garbage_collection_threshold:0.6", 0.95),
]


def child(name, outdir, cap_bytes):
    import random
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.cuda.memory._record_memory_history(max_entries=5_000_000)
    dev = torch.device("cuda", 0)
    total = torch.cuda.get_device_properties(dev).total_memory
    fraction = None
    if cap_bytes:
        fraction = cap_bytes / total
        torch.cuda.set_per_process_memory_fraction(fraction, dev)
    torch.manual_seed(0)
    rng = random.Random(1234)
    vocab, d = 8192, 512
    model = nn.Sequential(
        nn.Embedding(vocab, d),
        *[nn.TransformerEncoderLayer(d, 8, 4 * d, batch_first=True, dropout=0.1) for _ in range(4)],
        nn.Linear(d, vocab),
    ).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    empty_cache_at = None
    oom = None
    steps = 0
    try:
        for step in range(14):
            bs = rng.choice([8, 12, 16])
            seq = rng.randint(64, 512)
            x = torch.randint(0, vocab, (bs, seq), device=dev)
            logits = model(x)
            loss = F.cross_entropy(logits.view(-1, vocab), x.view(-1))
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            del logits, loss, x
            steps += 1
            if step == 7:
                snap = torch.cuda.memory._snapshot()
                empty_cache_at = len(snap["device_traces"][0])
                torch.cuda.empty_cache()
    except torch.OutOfMemoryError as e:
        oom = str(e).splitlines()[0]
    torch.cuda.synchronize()
    snap = torch.cuda.memory._snapshot()
    stats = torch.cuda.memory_stats(dev)
    trace = snap["device_traces"][0]
    rows = []
    for i, ev in enumerate(trace):
        if empty_cache_at is not None and i == empty_cache_at:
            rows.append((ev.get("time_us", 0) * 1000, "empty_cache", "", "", 0, 0))
        a = ev["action"]
        ts = ev.get("time_us", 0) * 1000
        if a == "alloc":
            rows.append((ts, "alloc", ev["addr"], ev["size"], ev["stream"], 0))
        elif a == "free_requested":
            rows.append((ts, "free", ev["addr"], ev["size"], ev["stream"], 0))
        elif a in ("segment_alloc", "segment_free", "segment_map", "segment_unmap"):
            rows.append((ts, a, ev["addr"], ev["size"], ev["stream"], 0))
        elif a == "oom":
            rows.append((ts, "oom", ev.get("device_free", 0), ev["size"], ev["stream"], 0))
    with open(os.path.join(outdir, name + ".csv"), "w") as f:
        f.write("ts_ns,action,addr,size,stream,device\n")
        for r in rows:
            f.write(",".join(str(c) for c in r) + "\n")
    info = {
        "name": name,
        "alloc_conf": os.environ.get("PYTORCH_CUDA_ALLOC_CONF", ""),
        "torch": torch.__version__,
        "device_name": torch.cuda.get_device_name(dev),
        "total_memory": total,
        "fraction": fraction,
        "limit_bytes": int(fraction * total) if fraction else None,
        "steps": steps,
        "oom": oom,
        "empty_cache_at_event": empty_cache_at,
        "allocator_settings": snap.get("allocator_settings"),
        "stats": {k: v for k, v in stats.items()},
    }
    with open(os.path.join(outdir, name + ".json"), "w") as f:
        json.dump(info, f, indent=1, sort_keys=True)
    print(name, "steps", steps, "peak reserved", stats["reserved_bytes.all.peak"],
          "peak allocated", stats["allocated_bytes.all.peak"], "oom", oom, flush=True)


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        name = sys.argv[2]
        cap = int(os.environ.get("GT_CAP_BYTES", "0"))
        child(name, sys.argv[3], cap)
        return
    outdir = sys.argv[1]
    os.makedirs(outdir, exist_ok=True)
    base_peak = None
    for name, conf, cap_frac in RUNS:
        env = dict(os.environ)
        env["PYTORCH_CUDA_ALLOC_CONF"] = conf
        env.pop("PYTORCH_ALLOC_CONF", None)
        if cap_frac and base_peak is None:
            print(name, "skipped: the default run gave no peak", flush=True)
            continue
        env["GT_CAP_BYTES"] = str(int(base_peak * cap_frac)) if cap_frac else "0"
        r = subprocess.run([sys.executable, __file__, "--child", name, outdir], env=env,
                           timeout=240)
        if r.returncode != 0:
            print(name, "failed with", r.returncode, flush=True)
            continue
        if name == "default":
            with open(os.path.join(outdir, "default.json")) as f:
                base_peak = json.load(f)["stats"]["reserved_bytes.all.peak"]


if __name__ == "__main__":
    main()
