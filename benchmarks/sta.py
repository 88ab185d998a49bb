"""Cost of spike-triggered averaging against the bare forward pass.

    python benchmarks/sta.py --model results/models/mnist-5k/cnn.pt --n 1000000 [--compile]

Measures, interleaved ``--repeats`` times (the machine may be shared: the run with the
median ratio is kept):
  * bare forward: the model alone on pre-generated uniform noise already in memory, in the
    engine's memory format (the baseline);
  * STA: :func:`revcor.analyses.units.run` for all conv layers (noise generation, the forward pass
    with hooks and the STA reductions at every position of every layer);
and prints img/s, the ratio STA / bare (target <= 2) and, as a sanity check, the smallest
correlation of the conv1 STA with the trained kernels. With ``--compile`` both forward passes
are compiled (``torch.compile``, before the clock starts for the bare pass; the STA run's
compiling is timed and left out: the steady state).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from engine import bare_forward  # benchmarks/engine.py, beside this script
from torch import nn

from revcor.analyses import units
from revcor.base.device import resolve
from revcor.core import engine, maps
from revcor.models import loading
from revcor.noise.sources import WhiteNoise


def conv_layers(model: nn.Module) -> list[str]:
    """Names of every Conv2d module, in definition order."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def sta_run(
    model: nn.Module,
    shape: tuple[int, int, int],
    layers: list[str],
    n: int,
    device: torch.device,
    batch: int,
    chunk: int,
    compiled: str | None = None,
) -> tuple[float, dict]:
    """Samples per second of units.run over all ``layers`` (compiling left out), and its result."""
    spent = []
    real = engine.Compiled

    def timed(*args: object) -> engine.Compiled:  # records the seconds spent compiling
        c = real(*args)
        spent.append(c)
        return c

    engine.Compiled = timed
    try:
        t = time.perf_counter()
        res = units.run(
            model,
            layers,
            WhiteNoise(shape),
            n=n,
            seed=0,
            chunk_size=chunk,
            batch_size=batch,
            device=device,
            progress=False,
            compiled=compiled,
        )
        if device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - t
    finally:
        engine.Compiled = real
    return n / (elapsed - sum(c.seconds for c in spent)), res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="results/models/mnist-5k/cnn.pt", help="a revcor model file")
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=256, help="the engine's batch on a CPU")
    p.add_argument("--chunk-size", type=int, default=65536)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3, help="interleaved repetitions; the median is kept")
    p.add_argument("--compile", action="store_true", help="compile both forward passes (torch.compile)")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve(args.device)
    loaded = loading.load(str(args.model), device=device)
    model, shape = loaded.module, loaded.in_shape
    layers = conv_layers(model)
    compiled = "default" if args.compile else None
    runs = []
    for _ in range(args.repeats):  # interleaved, so drifts in machine speed hit both
        bare = bare_forward(model, shape, args.n, device, args.batch_size, compiled=compiled)
        full, res = sta_run(model, shape, layers, args.n, device, args.batch_size, args.chunk_size, compiled)
        runs.append((bare / full, bare, full))
    ratio, bare, full = sorted(runs)[len(runs) // 2]  # the run with the median ratio
    first = res[layers[0]]
    corr = maps.similarity(first["sta"], first["kernel"])
    results = {
        "model": args.model,
        "n": args.n,
        "device": str(device),
        "threads": args.threads,
        "repeats": args.repeats,
        "batch_size": args.batch_size,
        "compiled": compiled or "eager",
        "torch": torch.__version__,
        "layers": {
            name: {"rf": [res[name]["rf"].height, res[name]["rf"].width], "stride": res[name]["rf"].stride_y}
            for name in layers
        },
        "bare_forward": bare,
        "sta": full,
        "ratio": ratio,
        "sta_seconds": args.n / full,
        "ratios": [r[0] for r in runs],
        f"{layers[0]}_kernel_correlation_min": float(np.min(corr)),
    }
    print(
        f"n = {args.n:,} samples, device {device}, {args.threads} threads, batch {args.batch_size}, "
        f"{'compiled' if compiled else 'eager'} forward passes, "
        f"torch {torch.__version__}; STA of {', '.join(layers)}\n"
    )
    print("| bare forward (img/s) | STA run (img/s) | STA / bare time, median (each run) | STA time for n (s) |")
    print("|---|---|---|---|")
    spread = ", ".join(f"{r[0]:.3f}" for r in runs)
    print(f"| {bare:,.0f} | {full:,.0f} | {ratio:.3f} ({spread}) | {args.n / full:.1f} |")
    print(f"\n{layers[0]} STA vs trained kernels: correlation min {np.min(corr):.4f}, median {np.median(corr):.4f}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
