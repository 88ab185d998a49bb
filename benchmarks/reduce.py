"""Throughput of the reduction to sufficient statistics: uint8 noise as its levels, the same
noise as float64 values, and (``--baseline REV``) the reducer of an older revision, in one run.

    python benchmarks/reduce.py --shape 1,28,28 --classes 10 --n 65536 --repeats 7 --baseline 8853142

The noise and logits are in memory (no HDF5, no model): this is the reducer's own cost per
image, against a pass over the same memory (``memory``: one read of the uint8 batch, summed
per column). uint8 levels sum their indicator rows and squares as exact int8 products; float64
values take every product in float64. Prints the best and median microseconds per image of
each, interleaved, and the largest relative difference of each one's statistics from the
float64 values'.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import torch

from revcor.core import reduce
from revcor.core.stats import Layout, Stats

ROOT = Path(__file__).resolve().parents[1]


def old_reduce(rev: str) -> ModuleType:
    """``revcor.core.reduce`` as it was at git revision ``rev`` (its imports from this tree)."""
    text = subprocess.run(
        ["git", "show", f"{rev}:src/revcor/core/reduce.py"], check=True, capture_output=True, text=True, cwd=ROOT
    ).stdout
    path = Path(tempfile.mkdtemp()) / "reduce_baseline.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("reduce_baseline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def reduce_once(
    module: ModuleType, levels: torch.Tensor, logits: torch.Tensor, as_float: bool, batch: int, checkpoints: list[int]
) -> tuple[float, Stats]:
    """Seconds per image to reduce ``levels`` (or their float64 values, converted a batch at a
    time as the reductions convert stored noise) with ``module``'s Reducer, and the statistics."""
    n, shape, k = levels.shape[0], tuple(levels.shape[1:]), logits.shape[1]
    reducer = module.Reducer(Layout([str(c) for c in range(k)]), shape, k, checkpoints, 0, n, torch.device("cpu"))
    t = time.perf_counter()
    for i in range(0, n, batch):
        noise = levels[i : i + batch]
        reducer.update(i, noise.double().div_(255) if as_float else noise, logits[i : i + batch])
    return (time.perf_counter() - t) / n, reducer.result()


def memory_pass(levels: torch.Tensor, batch: int) -> float:
    """Seconds per image to read ``levels`` once, a batch at a time (a column sum)."""
    t = time.perf_counter()
    for i in range(0, levels.shape[0], batch):
        levels[i : i + batch].reshape(min(batch, levels.shape[0] - i), -1).sum(0, dtype=torch.int32)
    return (time.perf_counter() - t) / levels.shape[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--shape", default="1,28,28")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--n", type=int, default=65536)
    p.add_argument("--batch-size", type=int, default=reduce.BATCH)
    p.add_argument("--baseline", metavar="REV", help="also the Reducer of git revision REV, in its batches")
    p.add_argument("--baseline-batch-size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    shape = tuple(int(v) for v in args.shape.split(","))
    g = torch.Generator().manual_seed(0)
    levels = torch.randint(0, 256, (args.n, *shape), dtype=torch.uint8, generator=g)
    logits = torch.randn(args.n, args.classes, generator=g)
    checkpoints = [100, 1000, 10_000, args.n]
    runs = {
        "uint8 levels": (reduce, False, args.batch_size),
        "float64 values": (reduce, True, args.batch_size),
    }
    if args.baseline:
        runs[f"uint8 levels, {args.baseline}"] = (old_reduce(args.baseline), False, args.baseline_batch_size)
    times: dict[str, list[float]] = {name: [] for name in [*runs, "memory"]}
    last: dict[str, Stats] = {}
    for _ in range(args.repeats):  # interleaved, so drifts in machine speed hit all alike
        for name, (module, as_float, batch) in runs.items():
            seconds, last[name] = reduce_once(module, levels, logits, as_float, batch, checkpoints)
            times[name].append(seconds)
        times["memory"].append(memory_pass(levels, args.batch_size))
    print(
        f"{args.n:,} images of {args.shape}, {args.classes} classes, batches of {args.batch_size} "
        f"(baseline {args.baseline_batch_size}), {args.threads} threads, torch {torch.__version__}\n"
    )
    ref = last["float64 values"]
    base = float(np.median(times["uint8 levels"]))
    print("| reduction | best (µs/img) | median (µs/img) | median / uint8 levels | largest relative difference |")
    print("|---|---|---|---|---|")
    for name, values in times.items():
        worst = "" if name == "memory" else _worst(last[name], ref)
        median = float(np.median(values))
        print(f"| {name} | {1e6 * min(values):.3f} | {1e6 * median:.3f} | {median / base:.2f} | {worst} |")


def _worst(a: Stats, b: Stats) -> str:
    return f"{max(float(np.abs(a[k] - b[k]).max() / max(np.abs(b[k]).max(), 1e-300)) for k in b.arrays):.1e}"


if __name__ == "__main__":
    sys.exit(main())
