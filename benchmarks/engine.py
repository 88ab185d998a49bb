"""Throughput of the noise engine against the bare forward pass, in one run.

    python benchmarks/engine.py --model results/models/mnist-5k/cnn.pt --n 1000000
    python benchmarks/engine.py --arch torchvision:resnet18 --shape 3,32,32 --n 20000 --precisions fp32
    python benchmarks/engine.py --arch mnist_cnn --shape 1,24,40 --n 200000

Measures, for the given model (or a randomly initialised ``--arch`` for images of ``--shape``:
any revcor architecture, ``torchvision:NAME`` or ``factory:module:function``) on this
machine's CPU (or GPU with --device):
  * bare forward: the model on pre-generated batches already in memory (the baseline);
  * engine: generate noise chunks, forward, write stimuli and responses to HDF5, then
    reduce them to sufficient statistics from the file (the workflow's noise + stats steps); both with the model in the engine's memory format;
at fp32 and bf16, as samples per second and as a ratio to the bare forward pass at the same
precision. Then the correlation of bf16 and fp32 bias maps, and the peak memory of the
engine at n/10 and n samples (each in a fresh process). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from revcor.base import store
from revcor.base.device import dtype, resolve
from revcor.core import engine
from revcor.core import maps as core_maps
from revcor.models import loading
from revcor.models.architectures import build
from revcor.pipeline import responses as pipeline_responses
from revcor.pipeline import stats_part

ENGINE = {
    "batch_size": 256,
    "chunk_size": 65536,
    "storage": "uint8",
    "compression": "none",
    "store_stimuli": True,
    "threshold": 0.9,
}


def bare_forward(
    model: torch.nn.Module,
    shape: tuple[int, int, int],
    n: int,
    device: torch.device,
    batch: int,
    precision: str = "fp32",
) -> float:
    """Samples per second of the model alone on pre-generated inputs, in the engine's memory
    format (so that only the engine's overhead differs)."""
    layout = engine.prepare(model)
    pool = torch.rand(min(n, 65536), *shape, device=device).to(dtype(precision))
    pool = pool.contiguous(memory_format=layout)
    engine.forward(model, pool[:batch], batch)  # warm-up
    t = time.perf_counter()
    done = 0
    while done < n:
        size = min(len(pool), n - done)
        engine.forward(model, pool[:size], batch)
        done += size
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t)


def full_engine(
    model_path: str, n: int, precision: str, device: torch.device, folder: Path, batch: int
) -> tuple[float, Path]:
    """Samples per second of noise generation + forward + HDF5 + reduction; the maps file."""
    spec = {
        "model": "bench",
        "n": n,
        "seed": 0,
        "jobs": 1,
        "checkpoints": [],
        "signal": None,
        "noise": {"kind": "white", "distribution": "uniform"},
    }
    cfg = dict(ENGINE, batch_size=batch)
    responses, stats, out = (folder / f"{precision}-{n}-{k}.h5" for k in ("responses", "stats", "maps"))
    t = time.perf_counter()
    pipeline_responses.part(spec, cfg, model_path, responses, 0, device=device, precision=precision, progress=False)
    stats_part.part(spec, cfg, responses, stats, device=device)
    elapsed = time.perf_counter() - t
    core_maps.write(stats, out)
    responses.unlink()
    return n / elapsed, out


def peak_memory(model_path: str, n: int, device: str, batch: int) -> float:
    """Peak resident memory (MiB) of a fresh process running the engine on n samples."""
    code = (
        f"import sys, tempfile, pathlib, resource; sys.path.insert(0, {str(Path(__file__).parent)!r});"
        f"import engine as b, torch; torch.set_num_threads({torch.get_num_threads()});"
        f"b.full_engine({model_path!r}, {n}, 'fp32', b.resolve({device!r}), "
        f"pathlib.Path(tempfile.mkdtemp()), {batch});"
        f"print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[-1]) / 1024


def map_correlation(a: Path, b: Path) -> float:
    """Pearson correlation of two maps files' bias maps (classes present in both)."""
    with store.open_artifact(a, "maps") as fa, store.open_artifact(b, "maps") as fb:
        x, y = fa["maps_centered"][()], fb["maps_centered"][()]
    ok = np.isfinite(x).all(axis=(1, 2, 3)) & np.isfinite(y).all(axis=(1, 2, 3))
    return float(np.corrcoef(x[ok].ravel(), y[ok].ravel())[0, 1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", help="a revcor model file, e.g. results/models/mnist-5k/cnn.pt")
    what.add_argument("--arch", help="a randomly initialised architecture, e.g. torchvision:resnet18")
    p.add_argument("--shape", default="3,32,32", help="C,H,W of --arch's images")
    p.add_argument("--classes", type=int, default=10, help="outputs of --arch")
    p.add_argument("--precisions", default="fp32,bf16", help="comma-separated: fp32, bf16")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=ENGINE["batch_size"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3, help="interleaved repetitions; the median is kept")
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve(args.device)
    if args.arch:  # a random model of that architecture, as a revcor model file
        shape = tuple(int(v) for v in args.shape.split(","))
        args.model = str(Path(tempfile.mkdtemp()) / "model.pt")
        net = build(args.arch, shape, args.classes).eval()
        loading.save(net, args.model, arch=args.arch, in_shape=shape, num_classes=args.classes, kwargs={}, meta={})
    results = {
        "n": args.n,
        "device": str(device),
        "threads": args.threads,
        "repeats": args.repeats,
        "torch": torch.__version__,
        "model": args.arch or args.model,
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        files = {}
        precisions = args.precisions.split(",")
        for precision in precisions:
            runs = []
            for _ in range(args.repeats):  # interleaved, so drifts in machine speed hit both
                loaded = loading.load(str(args.model), device=device)
                loaded.module.to(dtype(precision))
                bare = bare_forward(loaded.module, loaded.in_shape, args.n, device, args.batch_size, precision)
                full, files[precision] = full_engine(args.model, args.n, precision, device, folder, args.batch_size)
                runs.append((full / bare, bare, full))
            ratio, bare, full = sorted(runs)[len(runs) // 2]  # the run with the median ratio
            results[precision] = {
                "bare_forward": bare,
                "engine": full,
                "ratio": ratio,
                "engine_seconds": args.n / full,
                "ratios": [r[0] for r in runs],
            }
            spread = ", ".join(f"{r[0]:.3f}" for r in runs)
            rows.append(f"| {precision} | {bare:,.0f} | {full:,.0f} | {ratio:.3f} ({spread}) | {args.n / full:.1f} |")
        if {"fp32", "bf16"} <= set(precisions):
            results["bf16_fp32_map_correlation"] = map_correlation(files["fp32"], files["bf16"])
    loaded = loading.load(str(args.model))
    print(
        f"{results['model']} on {loaded.in_shape} images, n = {args.n:,} samples, device {device}, "
        f"{args.threads} threads, torch {torch.__version__}\n"
    )
    print(
        "| precision | bare forward (img/s) | engine (img/s) | engine / bare, median (each run) "
        "| engine time for n (s) |"
    )
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    if "bf16_fp32_map_correlation" in results:
        print(f"\nbf16 vs fp32 bias maps: correlation {results['bf16_fp32_map_correlation']:.5f}")
    if not args.no_memory:
        peaks = {args.n // 10: [], args.n: []}
        for _ in range(args.repeats):  # the allocator makes single peaks vary by +-20%
            for n in peaks:
                peaks[n].append(peak_memory(args.model, n, args.device, args.batch_size))
        small, large = (float(np.median(peaks[n])) for n in peaks)
        results["peak_mib"] = {str(n): v for n, v in peaks.items()} | {"median_ratio": large / small}
        print(
            f"peak memory, median of {args.repeats}: {small:.0f} MiB at n={args.n // 10:,} "
            f"({', '.join(f'{v:.0f}' for v in peaks[args.n // 10])}), {large:.0f} MiB at n={args.n:,} "
            f"({', '.join(f'{v:.0f}' for v in peaks[args.n])}); ratio {large / small:.3f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
