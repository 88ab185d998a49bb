"""Throughput of the noise engine against the bare forward pass and the machine's limit, in one run.

    python benchmarks/engine.py --model results/models/mnist-5k/cnn.pt --n 1000000
    python benchmarks/engine.py --model results/models/mnist-5k/cnn.pt --n 1000000 --compile --precisions fp32 \
        --also arch:cifar_cnn:3,32,32=100000 arch:torchvision:resnet18:3,32,32=10000
    python benchmarks/engine.py --arch torchvision:resnet18 --shape 3,32,32 --n 20000 --precisions fp32

Measures, for the given model (or a randomly initialised ``--arch`` for images of ``--shape``:
any revcor architecture, ``torchvision:NAME`` or ``factory:module:function``) on this
machine's CPU (or GPU with --device):
  * bare forward: the model on pre-generated batches already in memory (the baseline);
  * engine: the workflow's noise step: generate noise chunks, forward, reduce each chunk to
    sufficient statistics while it is in memory, write responses and statistics to HDF5 (noise
    is a seed: stimuli not stored); both with the model in the engine's memory format;
  * stages: each of the engine's own stages timed alone on the same images (draw the noise,
    make the model inputs, reduce, store the answers), in microseconds per image, so the
    engine's own cost (engine time minus bare forward time) can be traced to a stage;
at fp32 and bf16, as samples per second and as a ratio to the bare forward pass at the same
precision; with ``--compile`` each also with the forward pass compiled (``torch.compile``,
compiling before the clock starts: the steady state). The roofline: the machine's measured
matrix-multiply peak and the model's FLOPs per image (``torch.utils.flop_counter``) bound
the rate at peak/FLOPs; every rate is also given as a fraction of that bound. ``--also``
measures more models in the same run (``PATH=n`` or ``arch:ARCH:C,H,W=n``); ``--baseline REV``
also times the eager engine of an older revision (exported with ``git archive``) on ``--model``
in each repetition, so a speed-up over the code of that day is measured in the same run. Then the
correlation of bf16 and fp32 bias maps, and the peak memory of the engine at n/10 and n
samples (each in a fresh process). Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from revcor.base import store
from revcor.base.device import dtype, resolve
from revcor.core import engine, responses
from revcor.core import maps as core_maps
from revcor.core.reduce import Reducer, reduce_chunk
from revcor.core.stats import Layout
from revcor.models import loading
from revcor.models.architectures import build, predict_labels
from revcor.noise import sources
from revcor.pipeline import responses as pipeline_responses

ROOT = Path(__file__).resolve().parents[1]

ENGINE = {
    "batch_size": 256,
    "chunk_size": 65536,
    "storage": "uint8",
    "compression": "none",
    "store_stimuli": False,
    "threshold": 0.9,
    "compile": False,
}


def bare_forward(
    model: torch.nn.Module,
    shape: tuple[int, int, int],
    n: int,
    device: torch.device,
    batch: int,
    precision: str = "fp32",
    compiled: str | None = None,
) -> float:
    """Samples per second of the model alone on pre-generated inputs, in the engine's memory
    format (so that only the engine's overhead differs); with ``compiled`` (a torch.compile
    mode) compiled as the engine compiles it, before the clock starts."""
    layout = engine.prepare(model)
    net = model if compiled is None else engine.Compiled(model, batch, compiled)
    pool = torch.rand(min(n, 65536), *shape, device=device).to(dtype(precision))
    pool = pool.contiguous(memory_format=layout)
    engine.forward(net, pool[:batch], batch)  # warm-up (and compiling)
    t = time.perf_counter()
    done = 0
    while done < n:
        size = min(len(pool), n - done)
        engine.forward(net, pool[:size], batch)
        done += size
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n / (time.perf_counter() - t)


def full_engine(
    model_path: str, n: int, precision: str, device: torch.device, folder: Path, batch: int, compile: bool = False
) -> tuple[float, float, Path]:
    """Seconds for noise generation + forward + reduction + HDF5 of ``n`` samples, of which
    compiling (with ``compile``: from inductor's caches, warm after the first time); the maps file."""
    spec = {
        "model": "bench",
        "n": n,
        "seed": 0,
        "jobs": 1,
        "checkpoints": [],
        "signal": None,
        "noise": {"kind": "white", "distribution": "uniform"},
    }
    cfg = dict(ENGINE, batch_size=batch, compile=compile)
    responses, stats, out = (folder / f"{precision}-{n}-{compile}-{k}.h5" for k in ("responses", "stats", "maps"))
    t = time.perf_counter()
    pipeline_responses.part(
        spec, cfg, model_path, responses, stats, 0, device=device, precision=precision, progress=False
    )
    elapsed = time.perf_counter() - t
    with store.open_artifact(responses, "responses") as f:
        compiling = float(f.attrs["compile_s"])
    core_maps.write(stats, out)
    responses.unlink()
    return elapsed, compiling, out


def stages(model_path: str, n: int, device: torch.device, batch: int, chunk_size: int = 65536) -> dict[str, float]:
    """Microseconds per image of each of the engine's own stages, each timed alone over ``n``
    images (whole chunks; no forward pass): draw the noise, make the model inputs (uint8 levels
    to floats in the engine's memory format), reduce the trials to sufficient statistics (with
    the model's real logits), store the answers (logits and labels to HDF5)."""
    loaded = loading.load(str(model_path), device=device)
    layout = engine.prepare(loaded.module)
    src = sources.for_experiment({"noise": {"kind": "white"}}, "uint8", loaded.in_shape, None, device)
    stored = engine.draw(src, 0, 0, chunk_size, chunk_size, device)[0]
    logits = engine.forward(loaded.module, src.to_input(stored).contiguous(memory_format=layout), batch)
    chunks = range(max(1, n // chunk_size))
    n = len(chunks) * chunk_size
    reducer = Reducer(Layout(loaded.class_names(logits.shape[1])), src.shape, logits.shape[1], [n], 0, n, device)

    def inputs() -> None:
        for j in range(0, chunk_size, batch):
            engine.stimuli(src, stored[j : j + batch], torch.float32).contiguous(memory_format=layout)

    with tempfile.TemporaryDirectory() as tmp:
        steps = {
            "draw": lambda i: engine.draw(src, 0, i, n, chunk_size, device),
            "inputs": lambda i: inputs(),
            "reduce": lambda i: reduce_chunk(reducer, src, i * chunk_size, stored, logits),
        }
        out = {}
        for name, step in steps.items():
            t = time.perf_counter()
            for i in chunks:
                step(i)
            if device.type == "cuda":
                torch.cuda.synchronize()
            out[name] = (time.perf_counter() - t) / n * 1e6
        t = time.perf_counter()  # one file for all chunks, as a part writes it
        responses.write(
            Path(tmp) / "responses.h5",
            (engine.Chunk(i, i * chunk_size, stored, logits) for i in chunks),
            n=n,
            chunk_size=chunk_size,
            chunk_indices=chunks,
            source=src,
            n_logits=logits.shape[1],
            attrs={},
        )
        out["store"] = (time.perf_counter() - t) / n * 1e6
    return out


def fresh_engine(
    model_path: str,
    n: int,
    device: str,
    batch: int,
    *,
    compile: bool = False,
    tree: Path | None = None,
    env: dict[str, str] | None = None,
) -> tuple[float, float, float]:
    """:func:`full_engine` at fp32 in a fresh process (with ``tree``, the code ``--baseline``
    exported there): its seconds, the seconds of them spent compiling, and the process's peak
    resident memory (MiB)."""
    paths = [str(tree / "src"), str(tree / "benchmarks")] if tree else [str(Path(__file__).parent)]
    code = (
        f"import sys, pathlib, resource, tempfile, torch; sys.path[:0] = {paths!r};"
        f"import engine as b; torch.set_num_threads({torch.get_num_threads()});"
        f"r = b.full_engine({model_path!r}, {n}, 'fp32', b.resolve({device!r}), "
        f"pathlib.Path(tempfile.mkdtemp()), {batch}, compile={compile});"
        f"print(r[0], r[1], resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"
    )
    env = {k: v for k, v in os.environ.items() if not (tree and k == "PYTHONPATH")} | (env or {})
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env)
    seconds, compiling, peak_kib = out.stdout.split()[-3:]
    return float(seconds), float(compiling), int(peak_kib) / 1024


def compile_seconds(model_path: str, device: str, batch: int) -> tuple[float, float]:
    """Seconds to compile the engine's forward pass in a fresh process with empty inductor
    caches, then in another fresh process with the caches the first one left (a second job)."""
    with tempfile.TemporaryDirectory() as cache:
        cold, warm = (
            fresh_engine(model_path, batch, device, batch, compile=True, env={"TORCHINDUCTOR_CACHE_DIR": cache})[1]
            for _ in range(2)
        )
    return cold, warm


def matmul_peak(device: torch.device, precision: str, size: int = 2048, repeats: int = 10) -> float:
    """The machine's matrix-multiply rate (FLOP/s): the best of ``repeats`` products of two
    ``size`` x ``size`` matrices at ``precision``."""
    a, b = (torch.rand(size, size, device=device, dtype=dtype(precision)) for _ in range(2))
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        torch.mm(a, b)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best


def flops_per_image(model: torch.nn.Module, shape: tuple[int, ...], device: torch.device, precision: str) -> float:
    """FLOPs of one forward pass per image (``torch.utils.flop_counter``: convolutions and
    matrix products, which bound the rate)."""
    x = torch.rand(8, *shape, device=device, dtype=dtype(precision))
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        model(x)
    return counter.get_total_flops() / len(x)


def model_file(target: str, classes: int) -> tuple[str, str]:
    """(a revcor model file, its label) for ``PATH`` or ``arch:ARCH:C,H,W`` (randomly initialised)."""
    if not target.startswith("arch:"):
        return target, target
    arch, shape_text = target.removeprefix("arch:").rsplit(":", 1)
    shape = tuple(int(v) for v in shape_text.split(","))
    path = str(Path(tempfile.mkdtemp()) / "model.pt")
    net = build(arch, shape, classes).eval()
    loading.save(net, path, arch=arch, in_shape=shape, num_classes=classes, kwargs={}, meta={})
    return path, f"{arch} (random weights, {'x'.join(map(str, shape))})"


def map_correlation(a: Path, b: Path) -> float:
    """Pearson correlation of two maps files' bias maps (classes present in both)."""
    with store.open_artifact(a, "maps") as fa, store.open_artifact(b, "maps") as fb:
        x, y = fa["maps_centered"][()], fb["maps_centered"][()]
    ok = np.isfinite(x).all(axis=(1, 2, 3)) & np.isfinite(y).all(axis=(1, 2, 3))
    return float(np.corrcoef(x[ok].ravel(), y[ok].ravel())[0, 1])


def label_agreement(model_path: str, n: int, device: torch.device, batch: int, chunk_size: int = 65536) -> float:
    """The fraction of ``n`` of the engine's white-noise images that the model labels the same
    at bf16 as at fp32."""
    loaded = loading.load(str(model_path), device=device)
    layout = engine.prepare(loaded.module)
    src = sources.for_experiment({"noise": {"kind": "white"}}, "uint8", loaded.in_shape, None, device)
    same = 0
    for i in range(engine.n_chunks(n, chunk_size)):
        x = src.to_input(engine.draw(src, 0, i, n, chunk_size, device)[0]).contiguous(memory_format=layout)
        labels = []
        for precision in ("fp32", "bf16"):
            loaded.module.to(dtype(precision))
            labels.append(predict_labels(engine.forward(loaded.module, x.to(dtype(precision)), batch)))
        same += int((labels[0] == labels[1]).sum())
    return same / n


def measure(model_path: str, n: int, args: argparse.Namespace, device: torch.device, peak: dict, folder: Path) -> dict:
    """Bare forward and engine rates of one model at each precision, eager and (with
    ``--compile``) compiled, in interleaved repetitions; the median-ratio run of each. The
    engine's rate is its steady state: the seconds spent compiling are left out (and reported)."""
    out: dict = {"n": n, "rows": {}}
    loaded = loading.load(str(model_path), device=device)
    out["flops_per_image"] = flops_per_image(loaded.module, loaded.in_shape, device, "fp32")
    for precision in args.precisions.split(","):
        runs: dict[str, list] = {}
        for _ in range(args.repeats):  # interleaved, so drifts in machine speed hit all alike
            for mode in ("eager", "compiled") if args.compile else ("eager",):
                loaded = loading.load(str(model_path), device=device)
                loaded.module.to(dtype(precision))
                compiled = engine.compile_mode(loaded.module, mode == "compiled", n, device)
                bare = bare_forward(loaded.module, loaded.in_shape, n, device, args.batch_size, precision, compiled)
                elapsed, compiling, maps = full_engine(
                    model_path, n, precision, device, folder, args.batch_size, compile=mode == "compiled"
                )
                full = n / (elapsed - compiling)
                runs.setdefault(mode, []).append((full / bare, bare, full, compiling, maps))
            if args.baseline_tree and precision == "fp32" and model_path == args.model:
                out.setdefault("baseline_seconds", []).append(
                    fresh_engine(model_path, n, args.device, args.batch_size, tree=args.baseline_tree)[0]
                )
        for mode, rows in runs.items():
            ratio, bare, full, compiling, maps = sorted(rows, key=lambda r: r[0])[len(rows) // 2]
            out["rows"][f"{precision} {mode}"] = {
                "bare_forward": bare,
                "engine": full,
                "ratio": ratio,
                "ratios": [r[0] for r in rows],
                "bare_best": max(r[1] for r in rows),
                "engine_best": max(r[2] for r in rows),
                "engine_seconds": n / full,
                "compile_seconds": compiling,
                "bound": peak[precision] / out["flops_per_image"],  # images/s at the matrix-multiply peak
                "maps": str(maps),
            }
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--model", help="a revcor model file, e.g. results/models/mnist-5k/cnn.pt")
    what.add_argument("--arch", help="a randomly initialised architecture, e.g. torchvision:resnet18")
    p.add_argument("--shape", default="3,32,32", help="C,H,W of --arch's images")
    p.add_argument("--classes", type=int, default=10, help="outputs of --arch")
    p.add_argument("--precisions", default="fp32,bf16", help="comma-separated: fp32, bf16")
    p.add_argument("--compile", action="store_true", help="also with compiled forward passes (torch.compile)")
    p.add_argument("--also", nargs="*", default=[], help="more models: PATH=n or arch:ARCH:C,H,W=n")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory runs")
    p.add_argument("--n", type=int, default=1_000_000)
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=int, default=ENGINE["batch_size"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3, help="interleaved repetitions; the median is kept")
    p.add_argument(
        "--baseline",
        metavar="REV",
        help="also time the eager engine of git revision REV (e.g. the code an issue was filed against) "
        "for --model, in a fresh process in each repetition",
    )
    p.add_argument("--json", help="also write the results here")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    args.baseline_tree = None
    if args.baseline:
        args.baseline_tree = Path(tempfile.mkdtemp())
        archive = subprocess.run(
            ["git", "archive", args.baseline, "src", "benchmarks"], check=True, capture_output=True, cwd=ROOT
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(args.baseline_tree)], input=archive, check=True)
    device = resolve(args.device)
    first = f"arch:{args.arch}:{args.shape}" if args.arch else args.model
    targets = [(first, args.n)] + [(a.rsplit("=", 1)[0], int(a.rsplit("=", 1)[1])) for a in args.also]
    peak = {precision: matmul_peak(device, precision) for precision in args.precisions.split(",")}
    results = {
        "device": str(device),
        "threads": args.threads,
        "repeats": args.repeats,
        "torch": torch.__version__,
        "matmul_peak_flops": peak,
        "models": {},
    }
    print(
        f"device {device}, {args.threads} threads, torch {torch.__version__}; matrix-multiply peak "
        + ", ".join(f"{k} {v / 1e9:.0f} GFLOP/s" for k, v in peak.items())
        + f"; median of {args.repeats} interleaved runs\n"
    )
    print(
        "| model | n | precision, forward | FLOPs/img | bound (img/s) | bare forward (img/s, of bound) "
        "| engine (img/s, of bound) | engine / bare, median (each run) | engine time for n (s) | compiling (s) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for target, n in targets:
            path, label = model_file(target, args.classes)
            r = results["models"][label] = measure(path, n, args, device, peak, Path(tmp))
            for key, row in r["rows"].items():
                spread = ", ".join(f"{v:.3f}" for v in row["ratios"])
                print(
                    f"| {label} | {n:,} | {key} | {r['flops_per_image'] / 1e6:.2f} M | {row['bound']:,.0f} "
                    f"| {row['bare_forward']:,.0f} ({row['bare_forward'] / row['bound']:.0%}) "
                    f"| {row['engine']:,.0f} ({row['engine'] / row['bound']:.0%}) "
                    f"| {row['ratio']:.3f} ({spread}) | {row['engine_seconds']:.1f} | {row['compile_seconds']:.1f} |"
                )
            rows = r["rows"]
            if "fp32 compiled" in rows:
                eager, comp = rows["fp32 eager"], rows["fp32 compiled"]
                cold, warm = compile_seconds(path, args.device, args.batch_size)
                r["compile_seconds_fresh_process"] = {"cold": cold, "warm": warm}
                r["compiled_engine_speedup"] = eager["engine_seconds"] / (comp["engine_seconds"] + warm)
                print(
                    f"\n{label}, fp32: compiling in a fresh process {cold:.1f} s with empty caches, {warm:.1f} s "
                    f"with warm ones; compiled engine / compiled bare (steady state) **{comp['ratio']:.3f}**; "
                    f"eager engine time / (compiled engine time + warm compile) **{r['compiled_engine_speedup']:.2f}**"
                )
            if "baseline_seconds" in r:
                base = float(np.median(r["baseline_seconds"]))
                ours = rows["fp32 compiled"]["engine_seconds"] + warm if "fp32 compiled" in rows else None
                ours = ours or rows["fp32 eager"]["engine_seconds"]
                r["speedup_over_baseline"] = base / ours
                print(
                    f"\n{label}: the eager engine of {args.baseline} took {base:.1f} s in a fresh process (median; "
                    f"{', '.join(f'{v:.1f}' for v in r['baseline_seconds'])}); / this engine's time "
                    f"({'compiled, + warm compile' if 'fp32 compiled' in rows else 'eager'}) "
                    f"**{r['speedup_over_baseline']:.2f}**"
                )
            r["stages_us"] = stages(path, n, device, args.batch_size)
            own = {key: 1e6 / row["engine"] - 1e6 / row["bare_forward"] for key, row in rows.items()}
            best = {key: 1e6 / row["engine_best"] - 1e6 / row["bare_best"] for key, row in rows.items()}
            r["engine_own_us"], r["engine_own_us_best"] = own, best
            print(
                f"\n{label}: the engine's own cost (engine time - bare forward time, per image; median-ratio run, "
                "and fastest engine run - fastest bare run): "
                + ", ".join(f"{key} **{v:.2f} us** ({best[key]:.2f})" for key, v in own.items())
                + "; its stages timed alone (us/image): "
                + ", ".join(f"{key} {v:.2f}" for key, v in r["stages_us"].items())
            )
            if {"fp32 eager", "bf16 eager"} <= set(rows):
                r["bf16_fp32_map_correlation"] = map_correlation(
                    Path(rows["fp32 eager"]["maps"]), Path(rows["bf16 eager"]["maps"])
                )
                agree = r["bf16_fp32_label_agreement"] = label_agreement(path, min(n, 262144), device, args.batch_size)
                print(
                    f"\nbf16 vs fp32: bias maps correlate at {r['bf16_fp32_map_correlation']:.5f}; labels agree on "
                    f"{agree:.4%} of {min(n, 262144):,} noise images"
                )
    if not args.no_memory:
        path = model_file(first, args.classes)[0]
        peaks = {args.n // 10: [], args.n: []}
        for _ in range(args.repeats):  # the allocator makes single peaks vary by +-20%
            for n in peaks:
                peaks[n].append(fresh_engine(path, n, args.device, args.batch_size)[2])
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
