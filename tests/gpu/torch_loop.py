#!/usr/bin/env python3
"""A small PyTorch training loop for the tracer's GPU check (tests/gpu/run.sh).

torch_loop.py --stats OUT.json [--snapshot OUT.pickle] [--steps N]
Runs a dynamic-shape transformer training loop from a cold start, records
PyTorch's own memory history when --snapshot is given, and writes
max_memory_reserved, the step times and the allocator settings to OUT.json.
"""
import argparse
import json
import os
import pickle
import random
import time

ap = argparse.ArgumentParser()
ap.add_argument("--stats", required=True)
ap.add_argument("--snapshot")
ap.add_argument("--steps", type=int, default=10)
args = ap.parse_args()

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

if args.snapshot:
    torch.cuda.memory._record_memory_history(max_entries=2_000_000)
dev = torch.device("cuda", 0)
torch.manual_seed(0)
rng = random.Random(1234)
vocab, d = 8192, 512
model = nn.Sequential(
    nn.Embedding(vocab, d),
    *[nn.TransformerEncoderLayer(d, 8, 4 * d, batch_first=True, dropout=0.1) for _ in range(4)],
    nn.Linear(d, vocab),
).to(dev)
opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
times = []
for step in range(args.steps):
    bs = rng.choice([8, 12, 16])
    seq = rng.randint(64, 512)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    x = torch.randint(0, vocab, (bs, seq), device=dev)
    logits = model(x)
    loss = F.cross_entropy(logits.view(-1, vocab), x.view(-1))
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    del logits, loss, x
    torch.cuda.synchronize()
    times.append(time.perf_counter() - t0)
out = {
    "alloc_conf": os.environ.get("PYTORCH_CUDA_ALLOC_CONF", ""),
    "torch": torch.__version__,
    "max_memory_reserved": torch.cuda.max_memory_reserved(dev),
    "max_memory_allocated": torch.cuda.max_memory_allocated(dev),
    "step_seconds": times,
}
if args.snapshot:
    snap = torch.cuda.memory._snapshot()
    with open(args.snapshot, "wb") as f:
        pickle.dump(snap, f)
with open(args.stats, "w") as f:
    json.dump(out, f, indent=1)
print("torch_loop:", json.dumps({k: v for k, v in out.items() if k != "step_seconds"}),
      "median step %.4f s" % sorted(times)[len(times) // 2], flush=True)
