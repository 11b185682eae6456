#!/usr/bin/env python3
"""Processes for the tracer's GPU check of issue 4's "nothing lost" rules
(tests/gpu/procs.sh).

procs.py rank     a torchrun rank: allocates (RANK + 1) * 64 MiB on cuda:0
procs.py loader   a DataLoader with fork and spawn workers around CUDA work
procs.py kill9    allocates 256 MiB, then SIGKILLs itself
"""
import os
import signal
import sys

import torch

MIB = 1 << 20


def main():
    dev = torch.device("cuda", 0)
    mode = sys.argv[1]

    if mode == "rank":
        rank = int(os.environ.get("RANK", "0"))
        x = torch.empty((rank + 1) * 64 * MIB, dtype=torch.uint8, device=dev)
        torch.cuda.synchronize()
        del x
    elif mode == "loader":
        from torch.utils.data import DataLoader, TensorDataset

        data = TensorDataset(torch.arange(64, dtype=torch.float32).reshape(16, 4))
        total = torch.zeros(4, device=dev)
        for ctx in ("fork", "spawn"):
            for (batch,) in DataLoader(data, batch_size=4, num_workers=2, multiprocessing_context=ctx):
                total += batch.to(dev).sum(0)
        torch.cuda.synchronize()
        print("loader total", total.sum().item())
    elif mode == "kill9":
        x = torch.empty(256 * MIB, dtype=torch.uint8, device=dev)
        torch.cuda.synchronize()
        os.kill(os.getpid(), signal.SIGKILL)
    else:
        sys.exit("unknown mode " + mode)


# The guard keeps spawn workers, which import this file, from running it.
if __name__ == "__main__":
    main()
