#!/usr/bin/env python3
"""A small convolutional training loop with cudnn.benchmark on, for the
tracer's cuDNN-probe check (tests/gpu/probe.sh). Under
PYTORCH_CUDA_ALLOC_CONF=backend:cudaMallocAsync (record's requests mode),
cuDNN's algorithm search asks the allocator's cacheInfo for a workspace
size, which probes with cudaMallocAsync. Writes a few figures to OUT.json.
"""
import json
import os
import sys

import torch
import torch.nn as nn

out = sys.argv[1]
torch.backends.cudnn.benchmark = True
dev = torch.device("cuda", 0)
torch.manual_seed(0)
model = nn.Sequential(
    nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(),
    nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(),
    nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10),
).to(dev)
opt = torch.optim.SGD(model.parameters(), lr=0.01)
for step, hw in enumerate([64, 96, 64, 128, 96]):
    x = torch.randn(16, 3, hw, hw, device=dev)
    y = torch.randint(0, 10, (16,), device=dev)
    loss = nn.functional.cross_entropy(model(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
torch.cuda.synchronize()
json.dump({"torch": torch.__version__,
           "alloc_conf": os.environ.get("PYTORCH_CUDA_ALLOC_CONF", ""),
           "max_memory_reserved": torch.cuda.max_memory_reserved()}, open(out, "w"))
