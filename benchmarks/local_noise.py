"""Throughput of local-noise trials (the backdoor scan's probe) against the bare forward pass.

    python benchmarks/local_noise.py --model results/models/mnist-5k/cnn.pt --data data/mnist-5k.h5 --n 100000

Each repetition times ``revcor.analyses.localnoise.run`` (draw the windows and noise bits
from the keyed generator, paste them into clean test images, forward, reduce the answers to
counts and noise sums) and the model's bare forward pass over the same number of clean
images in batches of the same size, interleaved. Prints microseconds per trial of each, their
ratio, and the cost of the probe's own work per trial.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from revcor.analyses import localnoise
from revcor.core.engine import forward, prepare
from revcor.data import datasets
from revcor.models import loading


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    model = loading.load(args.model).module
    test = datasets.load(args.data, "test")
    k = len(test.classes)
    x = datasets.to_tensor(test.images).contiguous(memory_format=prepare(model))
    reps = -(-args.n // len(x))
    times: dict[str, list[float]] = {"local noise": [], "bare forward": []}
    for _ in range(args.repeats):
        t = time.perf_counter()
        localnoise.run(model, test.images, test.labels, k, args.n, batch_size=args.batch_size)
        times["local noise"].append((time.perf_counter() - t) / args.n)
        t = time.perf_counter()
        for _ in range(reps):
            forward(model, x, args.batch_size)
        times["bare forward"].append((time.perf_counter() - t) / (reps * len(x)))
    local, bare = (float(np.median(v)) for v in times.values())
    for name, v in times.items():
        print(f"{name}: {1e6 * np.median(v):.1f} us per image (runs: {', '.join(f'{1e6 * s:.1f}' for s in v)})")
    print(
        f"local noise / bare forward: {local / bare:.2f}; the probe's own work: {1e6 * (local - bare):.1f} us per trial"
    )


if __name__ == "__main__":
    main()
