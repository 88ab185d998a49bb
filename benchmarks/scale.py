"""How wall time and memory grow with the number of noise samples and with parallel jobs.

    .venv/bin/python benchmarks/scale.py --ns 1e4,1e5,1e6,1e7 --jobs 1,2 --parallel-n 1e6

Runs the real pipeline of one experiment part, as the workflow does: ``pipeline.responses.part``
(draw white noise chunk by chunk, MNIST CNN forward pass, class-conditional float64 reductions
of each chunk while it is in memory, logits and statistics to HDF5), with the engine settings
of config.yaml (``store_stimuli: false``: 1e7 stored stimuli would be 7.8 GB). Model: the trained ``results/models/mnist-5k/cnn.pt`` if present,
else a randomly initialised ``mnist_cnn`` (same cost), or ``--model``.

  1. time vs n: one fresh subprocess per n (torch threads = --cores); the time of each step,
     samples/s and the child's peak resident memory (flat in n: the engine is chunked);
  2. parallel jobs: --parallel-n samples split into J parts (the experiment's ``jobs``,
     ``engine.part_chunks``), run as J concurrent subprocesses with cores // J threads each,
     then ``pipeline.stats.merge_parts``; wall time of the whole, and a check that the merged
     counts equal the 1-job counts exactly;
  3. baseline: the bare forward pass (benchmarks/engine.py ``bare_forward``) of --parallel-n
     samples in a fresh subprocess, in the same run, so every time is also given as a ratio to
     the bare forward time of the same n.
Each --repeats pass runs everything once in that order (interleaved); the median is kept.
Prints Markdown tables, writes the raw numbers (--json) and a figure (--plot).

Duration: the pipeline runs at about 0.9x the bare forward pass (25-30k img/s for this model
on 2 cores), so the full measurement above takes roughly 11.1M + 3M + 1M samples at ~27k/s,
plus ~2 s of start-up per process: about 10 minutes per repeat on the 2-core machine when
it is quiet (several times longer when it is shared). The test run ``--ns 1e4,3e4 --jobs 1,2
--parallel-n 3e4`` takes under a minute.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from engine import ENGINE as BENCH_ENGINE  # benchmarks/engine.py, beside this script
from engine import bare_forward

from revcor.base.device import resolve
from revcor.core.stats import Stats
from revcor.models import architectures, loading
from revcor.pipeline import responses as pipeline_responses
from revcor.pipeline import stats as pipeline_stats

ROOT = Path(__file__).resolve().parents[1]
TRAINED = ROOT / "results/models/mnist-5k/cnn.pt"
ENGINE = BENCH_ENGINE  # config.yaml's engine defaults
CHECKPOINTS = [100, 1000, 10000, 100000]  # the config schema's default
EXACT = ("count", "tcount")  # integer-valued statistics: must merge bit for bit


def spec_for(n: int, jobs: int) -> dict:
    """A white-noise experiment entry as the workflow passes it to the steps."""
    return {
        "model": "bench",
        "n": n,
        "seed": 0,
        "jobs": jobs,
        "checkpoints": CHECKPOINTS,
        "signal": None,
        "noise": {"kind": "white", "distribution": "uniform"},
    }


def child(task: dict) -> dict:
    """Run in a fresh process: one part of the pipeline, or the bare forward pass."""
    torch.set_num_threads(task["threads"])
    device = resolve(task["device"])
    out: dict[str, Any] = {}
    if task["kind"] == "bare":
        loaded = loading.load(str(task["model"]), device=device)
        out["rate"] = bare_forward(loaded.module, loaded.in_shape, task["n"], device, ENGINE["batch_size"])
    else:
        spec, part = spec_for(task["n"], task["jobs"]), task["part"]
        cfg = ENGINE | {"chunk_size": task["chunk_size"]}
        responses, stats = Path(task["responses"]), Path(task["stats"])
        t0 = time.perf_counter()
        pipeline_responses.part(spec, cfg, task["model"], responses, stats, part, device=device, progress=False)
        out["steps_s"] = time.perf_counter() - t0
        responses.unlink()
    out["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return out


def launch(task: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, __file__, "--child", json.dumps(task)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def collect(proc: subprocess.Popen) -> dict:
    stdout, stderr = proc.communicate()
    if proc.returncode:
        raise RuntimeError(f"child failed ({proc.returncode}):\n{stderr[-3000:]}")
    return json.loads(stdout.strip().splitlines()[-1])


def run_parts(base: dict, n: int, jobs: int, threads: int, chunk: int, folder: Path, tag: str) -> dict:
    """J concurrent part processes, then the merge; wall time of the whole."""
    t = time.perf_counter()
    procs = [
        launch(
            base
            | {
                "kind": "part",
                "n": n,
                "jobs": jobs,
                "part": p,
                "threads": threads,
                "chunk_size": chunk,
                "responses": str(folder / f"{tag}-responses{p}.h5"),
                "stats": str(folder / f"{tag}-stats{p}.h5"),
            }
        )
        for p in range(jobs)
    ]
    parts = [collect(p) for p in procs]
    children_s = time.perf_counter() - t
    merged = folder / f"{tag}-merged.h5"
    pipeline_stats.merge_parts([folder / f"{tag}-stats{p}.h5" for p in range(jobs)], merged)
    wall = time.perf_counter() - t
    return {
        "n": n,
        "jobs": jobs,
        "threads": threads,
        "wall_s": wall,
        "children_s": children_s,
        "merge_s": wall - children_s,
        "parts": parts,
        "merged": str(merged),
        "steps_s": max(p["steps_s"] for p in parts),
        "peak_mib_sum": sum(p["peak_mib"] for p in parts),
    }


def compare(one: Path, merged: Path, n: int) -> dict:
    """Merged J-job statistics against the 1-job statistics."""
    a, b = Stats.load(one), Stats.load(merged)
    rel = max(float(np.max(np.abs(a[k] - b[k])) / max(float(np.max(np.abs(a[k]))), 1e-300)) for k in a.arrays)
    return {
        "counts_equal": all(np.array_equal(a[k], b[k]) for k in EXACT),
        "total_count": float(b["count"][-1].sum()),
        "expected": n,
        "max_rel_diff_sums": rel,
    }


def median_of(runs: list[dict], key: str) -> float:
    return float(statistics.median(r[key] for r in runs))


def machine(device: str, cores: int) -> str:
    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "unknown CPU",
        )
        if Path("/proc/cpuinfo").exists()
        else "CPU"
    )
    return f"{cores} cores ({cpu}), torch {torch.__version__}, device {device}"


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def plot(res: dict, path: Path) -> None:
    """Three panels: time vs n (log-log), peak RSS vs n, wall time vs parallel jobs."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ns = np.array([p["n"] for p in res["by_n"]], dtype=float)
    total = np.array([p["steps_s"] for p in res["by_n"]])
    rate = res["bare_forward"]["rate"]
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(16, 5.2))
    a.loglog(ns, total, "o-", color="C0", lw=2, label="noise + stats (whole part)")
    a.loglog(ns, ns / rate, ":", color="k", label=f"bare forward pass ({rate:,.0f} img/s)")
    a.loglog(
        ns, total[-1] * ns / ns[-1], "-", color="0.6", lw=1, zorder=0, label="slope 1 (time ∝ n), through the largest n"
    )
    for x, y in zip(ns, total, strict=False):
        a.annotate(
            f"{x / y:,.0f}/s", (x, y), textcoords="offset points", xytext=(0, 9), ha="center", fontsize=8, color="C0"
        )
    a.margins(x=0.12)
    low = min(min(total), ns[0] / rate)
    a.set_ylim(low / 2, max(total) * 12)  # room for the legend above the data
    a.set(
        xlabel="noise samples n",
        ylabel="wall time of the step(s) (s)",
        title=f"Time vs n (1 job, {res['cores']} threads; annotated: samples/s)",
    )
    a.legend(fontsize=8, loc="upper left")
    a.grid(True, which="both", alpha=0.3)

    peak = [p["peak_mib"] for p in res["by_n"]]
    b.semilogx(ns, peak, "o-", color="C3", lw=2)
    if ns.max() >= ENGINE["chunk_size"]:
        b.axvline(
            ENGINE["chunk_size"],
            color="0.6",
            ls="--",
            label=f"one chunk ({ENGINE['chunk_size']:,}): memory is bounded from here on",
        )
        b.legend(fontsize=8, loc="lower right")
    b.margins(x=0.12)
    for x, y in zip(ns, peak, strict=False):
        b.annotate(f"{y:,.0f}", (x, y), textcoords="offset points", xytext=(0, 8), ha="center", fontsize=8)
    b.set(
        xlabel="noise samples n",
        ylabel="peak resident memory of the process (MiB)",
        title="Peak memory vs n (chunked: flat beyond one chunk)",
        ylim=(0, max(peak) * 1.3),
    )
    b.grid(True, which="both", alpha=0.3)

    par = res["parallel"]
    jobs = np.array([p["jobs"] for p in par], dtype=float)
    wall = np.array([p["wall_s"] for p in par])
    c.plot(jobs, wall, "o-", color="C4", lw=2, label="J concurrent processes + merge")
    one = next(p["wall_s"] for p in par if p["jobs"] == 1)
    c.plot(jobs, one / jobs, "--", color="0.6", label="ideal: 1-job time / J")
    c.axhline(
        res["parallel_n"] / rate, color="k", ls=":", label=f"bare forward pass of the same n, {res['cores']} threads"
    )
    for x, y, p in zip(jobs, wall, par, strict=False):
        c.annotate(
            f"{y:.1f} s\n{p['threads']} thread(s)/job",
            (x, y),
            textcoords="offset points",
            xytext=(0, 9),
            ha="center",
            fontsize=8,
            bbox={"fc": "white", "ec": "none", "alpha": 0.8},
        )
    ok = all(p.get("check", {}).get("counts_equal", True) for p in par)
    c.set(
        xlabel="parallel jobs J (parts)",
        ylabel="wall time of all jobs + merge (s)",
        xticks=jobs,
        xlim=(jobs.min() - 0.4, jobs.max() + 0.4),
        ylim=(0, max(wall) * 1.35),
        title=f"n = {res['parallel_n']:,} split over J jobs (chunk {res['parallel_chunk_size']:,})\n"
        f"(merged counts = 1-job counts: "
        f"{'yes' if ok else 'NO'})",
    )
    c.legend(fontsize=8, loc="lower left")
    c.grid(True, alpha=0.3)
    fig.suptitle(
        f"revcor pipeline scaling, MNIST CNN ({res['model_kind']}), white uint8 noise, batch "
        f"{ENGINE['batch_size']}, chunk {ENGINE['chunk_size']:,}, stimuli not stored; median of "
        f"{res['repeats']} run(s)\n{res['machine']}; {res['date']}",
        fontsize=10,
    )
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    write_atomic(path, buf.getvalue())


def numbers(text: str) -> list[int]:
    return [int(float(x)) for x in text.split(",") if x]


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(child(json.loads(sys.argv[2]))))
        return
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ns", type=numbers, default=numbers("1e4,1e5,1e6,1e7"), help="sample counts, e.g. 1e4,1e5")
    p.add_argument("--jobs", type=numbers, default=[1, 2], help="parallel job counts; must include 1")
    p.add_argument("--parallel-n", type=lambda s: int(float(s)), default=1_000_000)
    p.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="torch threads of a 1-job run")
    p.add_argument("--device", default="auto")
    p.add_argument(
        "--model",
        help=f"a revcor model file (default: {TRAINED.relative_to(ROOT)} if it "
        "exists, else a randomly initialised mnist_cnn)",
    )
    p.add_argument("--repeats", type=int, default=1, help="interleaved repetitions; the median is kept")
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/scale.json")
    p.add_argument("--plot", type=Path, default=ROOT / "docs/img/scale.png")
    args = p.parse_args()
    if 1 not in args.jobs:
        p.error("--jobs must include 1 (the reference for the merge check)")
    device = str(resolve(args.device))
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="revcor-scale-") as tmp:
        folder = Path(tmp)
        model, kind = args.model, "given model"
        if model is None and TRAINED.exists():
            model, kind = str(TRAINED), "trained, mnist-5k"
        elif model is None:
            torch.manual_seed(0)
            model, kind = str(folder / "cnn.pt"), "random init"
            loading.save(
                architectures.build("mnist_cnn", (1, 28, 28), 10),
                model,
                arch="mnist_cnn",
                in_shape=(1, 28, 28),
                num_classes=10,
                kwargs={},
                meta={"note": "random init"},
            )
        base = {"model": model, "device": device}
        # every job needs a chunk (noise is keyed by chunk, so all J use the same chunk size)
        par_chunk = min(ENGINE["chunk_size"], -(-args.parallel_n // max(args.jobs)))
        bare: list[dict] = []
        by_n: dict[int, list[dict]] = {n: [] for n in args.ns}
        par: dict[int, list[dict]] = {j: [] for j in args.jobs}
        for r in range(args.repeats):  # interleaved, so drifts in machine speed hit every point
            bare.append(collect(launch(base | {"kind": "bare", "n": args.parallel_n, "threads": args.cores})))
            for n in args.ns:
                t = time.perf_counter()
                run = run_parts(base, n, 1, args.cores, ENGINE["chunk_size"], folder, f"n{n}-r{r}")
                part = run["parts"][0]
                by_n[n].append(
                    {
                        "n": n,
                        "steps_s": run["steps_s"],
                        "process_s": time.perf_counter() - t,
                        "peak_mib": part["peak_mib"],
                    }
                )
            for j in args.jobs:
                run = run_parts(base, args.parallel_n, j, max(1, args.cores // j), par_chunk, folder, f"j{j}-r{r}")
                par[j].append(run)
            for j in args.jobs:
                par[j][-1]["check"] = compare(Path(par[1][-1]["merged"]), Path(par[j][-1]["merged"]), args.parallel_n)
        rate = median_of(bare, "rate")
        res: dict[str, Any] = {
            "machine": machine(device, args.cores),
            "cores": args.cores,
            "device": device,
            "torch": torch.__version__,
            "model": model if kind != "random init" else None,
            "model_kind": kind,
            "engine": ENGINE,
            "checkpoints": CHECKPOINTS,
            "repeats": args.repeats,
            "date": datetime.date.today().isoformat(),
            "parallel_n": args.parallel_n,
            "parallel_chunk_size": par_chunk,
            "bare_forward": {"n": args.parallel_n, "threads": args.cores, "rate": rate, "runs": bare},
            "by_n": [
                {
                    "n": n,
                    **{k: median_of(runs, k) for k in ("steps_s", "process_s", "peak_mib")},
                    "runs": runs,
                }
                for n, runs in by_n.items()
            ],
            "parallel": [
                {
                    "jobs": j,
                    "threads": runs[0]["threads"],
                    **{k: median_of(runs, k) for k in ("wall_s", "steps_s", "merge_s", "peak_mib_sum")},
                    "check": {
                        "counts_equal": all(x["check"]["counts_equal"] for x in runs),
                        "max_rel_diff_sums": max(x["check"]["max_rel_diff_sums"] for x in runs),
                    },
                    "runs": [{k: v for k, v in x.items() if k != "merged"} for x in runs],
                }
                for j, runs in par.items()
            ],
        }
    res["total_run_s"] = time.perf_counter() - start

    print(f"{res['machine']}; model: MNIST CNN ({kind}); median of {args.repeats} run(s)\n")
    print(f"bare forward pass ({args.cores} threads, n = {args.parallel_n:,}): {rate:,.0f} img/s\n")
    print("| n | noise + stats (s) | samples/s | / bare forward time | process wall (s) | peak RSS (MiB) |")
    print("|---|---|---|---|---|---|")
    for row in res["by_n"]:
        n = row["n"]
        print(
            f"| {n:,} | {row['steps_s']:.2f} | "
            f"{n / row['steps_s']:,.0f} | {row['steps_s'] * rate / n:.2f} | {row['process_s']:.2f} | "
            f"{row['peak_mib']:,.0f} |"
        )
    one = next(row["wall_s"] for row in res["parallel"] if row["jobs"] == 1)
    print(
        f"\nn = {args.parallel_n:,} split over J jobs (concurrent processes, then merge_stats; "
        f"chunk size {par_chunk:,}):\n"
    )
    print(
        "| jobs | threads/job | wall (s) | speed-up vs 1 job | / bare forward time | merge (s) "
        "| peak RSS, all jobs (MiB) | merged counts == 1-job | max rel. diff of float sums |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in res["parallel"]:
        print(
            f"| {row['jobs']} | {row['threads']} | {row['wall_s']:.2f} | {one / row['wall_s']:.2f} | "
            f"{row['wall_s'] * rate / args.parallel_n:.2f} | {row['merge_s']:.3f} | "
            f"{row['peak_mib_sum']:,.0f} | {'yes' if row['check']['counts_equal'] else 'NO'} | "
            f"{row['check']['max_rel_diff_sums']:.1e} |"
        )
    print(f"\ntotal time of this run: {res['total_run_s']:.0f} s")
    write_atomic(args.json, json.dumps(res, indent=2).encode())
    plot(res, args.plot)
    print(f"wrote {args.json} and {args.plot}")


if __name__ == "__main__":
    main()
