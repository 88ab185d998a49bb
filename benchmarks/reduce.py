"""Throughput of the reduction to sufficient statistics, uint8 noise as its levels against the
same noise as float64 values, in one run.

    python benchmarks/reduce.py --shape 1,28,28 --classes 10 --n 65536 --repeats 7

The noise and logits are in memory (no HDF5, no model): this is the reducer's own cost per
image. uint8 levels sum their indicator rows and squares exactly in float32; float64 values
take every product in float64 (what every reduction did before). Prints the best and median
microseconds per image of each, interleaved, and the largest relative difference of the
statistics.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from revcor.core.reduce import Reducer
from revcor.core.stats import Layout, Stats


def reduce_once(
    levels: torch.Tensor, logits: torch.Tensor, as_float: bool, batch: int, checkpoints: list[int]
) -> tuple[float, Stats]:
    """Seconds per image to reduce ``levels`` (or their float64 values, converted a batch at a
    time as the reductions convert stored noise), and the statistics."""
    n, shape, k = levels.shape[0], tuple(levels.shape[1:]), logits.shape[1]
    reducer = Reducer(Layout([str(c) for c in range(k)]), shape, k, checkpoints, 0, n, torch.device("cpu"))
    t = time.perf_counter()
    for i in range(0, n, batch):
        noise = levels[i : i + batch]
        reducer.update(i, noise.double().div_(255) if as_float else noise, logits[i : i + batch])
    return (time.perf_counter() - t) / n, reducer.result()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", default="1,28,28")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--n", type=int, default=65536)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    shape = tuple(int(v) for v in args.shape.split(","))
    g = torch.Generator().manual_seed(0)
    levels = torch.randint(0, 256, (args.n, *shape), dtype=torch.uint8, generator=g)
    logits = torch.randn(args.n, args.classes, generator=g)
    checkpoints = [100, 1000, 10_000, args.n]
    times: dict[str, list[float]] = {"uint8 levels": [], "float64 values": []}
    last: dict[str, Stats] = {}
    for _ in range(args.repeats):  # interleaved, so drifts in machine speed hit both alike
        for name in times:
            seconds, last[name] = reduce_once(levels, logits, name == "float64 values", args.batch_size, checkpoints)
            times[name].append(seconds)
    a, b = last["uint8 levels"], last["float64 values"]
    print(
        f"{args.n:,} images of {args.shape}, {args.classes} classes, batches of {args.batch_size}, {args.threads} threads\n"
    )
    print("| reduction | best (µs/img) | median (µs/img) |\n|---|---|---|")
    for name, values in times.items():
        print(f"| {name} | {1e6 * min(values):.2f} | {1e6 * float(np.median(values)):.2f} |")
    ratio = np.median(times["float64 values"]) / np.median(times["uint8 levels"])
    worst = max(float(np.abs(a[k] - b[k]).max() / max(np.abs(b[k]).max(), 1e-300)) for k in a.arrays)
    print(f"\nlevels {ratio:.2f}x faster (medians); statistics agree to {worst:.1e} relative")


if __name__ == "__main__":
    main()
