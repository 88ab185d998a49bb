"""`revcor images MODEL -n N` end to end against the compiled bare forward pass, interleaved.

    python benchmarks/cli.py --model results/models/mnist-5k/cnn.pt --n 1000000 --repeats 3

Each repetition times the bare forward pass of the model on pre-generated inputs (compiled
before the clock starts, in this process; ``engine.py``'s baseline) and then the command in a
fresh process (start-up, imports, compiling from warm caches, noise, reduction, null maps,
significance tests, writing the maps), so drifts in the machine's speed hit both alike. A first,
untimed run of the command warms inductor's caches. Prints each repetition's ratio and the
median; ``--profile FILE`` also writes a cProfile of one more run of the command.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from engine import bare_forward

from revcor.base.device import resolve
from revcor.core import engine
from revcor.models import loading


def command(model_path: str, n: int, out: str, profile: str | None = None) -> list[str]:
    """The command line of ``revcor images`` for ``n`` images (under cProfile with ``profile``)."""
    args = ["images", model_path, "-n", str(n), "--out", out, "--quiet"]
    if profile:
        return [sys.executable, "-m", "cProfile", "-o", profile, "-m", "revcor.cli", *args]
    return [str(Path(sys.executable).with_name("revcor")), *args]


def cli_seconds(model_path: str, n: int, profile: str | None = None) -> float:
    """Wall time of ``revcor images MODEL -n n`` in a fresh process."""
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        subprocess.run(command(model_path, n, f"{tmp}/maps.h5", profile), check=True, capture_output=True)
        return time.perf_counter() - t


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="a revcor model file, e.g. results/models/mnist-5k/cnn.pt")
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=256, help="the command's batch size on the CPU (auto)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--profile", help="also profile one run of the command into this file")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve("auto")
    cli_seconds(args.model, min(args.n, 65536))  # warms inductor's caches
    ratios = []
    for _ in range(args.repeats):
        loaded = loading.load(args.model, device=device)
        mode = engine.compile_mode(loaded.module, True, args.n, device)
        bare = args.n / bare_forward(loaded.module, loaded.in_shape, args.n, device, args.batch_size, "fp32", mode)
        cli = cli_seconds(args.model, args.n)
        ratios.append(cli / bare)
        print(f"bare compiled forward {bare:.1f} s, revcor images {cli:.1f} s: {cli / bare:.3f}x", flush=True)
    print(f"\n`revcor images` for {args.n:,} images / compiled bare forward: median **{np.median(ratios):.3f}x**")
    if args.profile:
        print(f"profiled run: {cli_seconds(args.model, args.n, args.profile):.1f} s, profile in {args.profile}")


if __name__ == "__main__":
    main()
