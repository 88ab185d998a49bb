"""Cost of drawing each kind of noise against the model's forward pass, in one run.

    python benchmarks/noise_sources.py --model results/models/mnist-5k/cnn.pt \\
        --gabor results/generators/mnist-5k/gabor.h5 --ae results/generators/mnist-5k/ae.h5 \\
        --vae results/generators/mnist-5k/vae.h5

For each noise source: the time to draw one chunk of stimuli in stored form (uint8) on the
device, against the time for the model's forward pass over the same chunk (the baseline,
measured interleaved in the same run). A ratio well below 1 means sampling is not the
engine's bottleneck. Optionally (--cifar-model with --cifar-gabor) the same for a 32x32 RGB
model and its per-channel Gabor-PCA. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from revcor.base.device import resolve
from revcor.core import engine
from revcor.models import loading
from revcor.noise import sources


def seconds(fn, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def measure(
    model_path: str, generators: dict[str, str | None], chunk: int, repeats: int, device: torch.device, batch: int
) -> list[dict]:
    """Median chunk time of each source and of the forward pass, interleaved."""
    loaded = loading.load(str(model_path), device=device)
    layout = engine.prepare(loaded.module)
    shape = loaded.in_shape
    made = {
        kind: sources.make({"kind": kind, "storage": "uint8"}, shape, path, device) for kind, path in generators.items()
    }
    x = torch.rand(chunk, *shape, device=device).contiguous(memory_format=layout)
    engine.forward(loaded.module, x[:batch], batch)  # warm-up
    times: dict[str, list[float]] = {k: [] for k in ["forward", *made]}
    for r in range(repeats):
        times["forward"] += seconds(lambda: engine.forward(loaded.module, x, batch), 1)
        for kind, src in made.items():
            times[kind] += seconds(lambda src=src, r=r: engine.draw(src, 0, r, repeats * chunk, chunk, device), 1)
    fwd = statistics.median(times["forward"])
    return [
        {
            "model": model_path,
            "noise": kind,
            "chunk_seconds": statistics.median(t),
            "images_per_second": chunk / statistics.median(t),
            "ratio_to_forward": statistics.median(t) / fwd,
        }
        for kind, t in times.items()
    ]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--gabor")
    p.add_argument("--ae")
    p.add_argument("--vae")
    p.add_argument("--cifar-model")
    p.add_argument("--cifar-gabor")
    p.add_argument("--chunk", type=int, default=65536)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="auto")
    p.add_argument("--json")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve(args.device)
    generators = {"white": None, **{k: getattr(args, k) for k in ("gabor", "ae", "vae") if getattr(args, k)}}
    rows = measure(args.model, generators, args.chunk, args.repeats, device, args.batch_size)
    if args.cifar_model and args.cifar_gabor:
        rows += measure(
            args.cifar_model,
            {"white": None, "gabor": args.cifar_gabor},
            args.chunk // 8,
            args.repeats,
            device,
            args.batch_size,
        )
    print(f"chunk {args.chunk:,} images, {args.repeats} interleaved repeats (medians), device {device}\n")
    print("| model | noise | seconds per chunk | images/s | time / forward pass |\n|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} | {r['noise']} | {r['chunk_seconds']:.3f} | {r['images_per_second']:,.0f} | "
            f"{r['ratio_to_forward']:.3f} |"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"chunk": args.chunk, "device": str(device), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
