"""Throughput of `revcor images` when two runs share the CPU, under OpenMP wait policies.

    .venv/bin/python benchmarks/shared_cpu.py --model results/models/mnist-5k/cnn.pt --n 300000

For each setting of the OpenMP runtime (torch's CPU threads): one `revcor images MODEL -n N
--compile off` (or ``--compile``) alone, then two at once, each in a fresh process with the machine's threads;
wall times, images per second, and the pair's combined throughput as a fraction of one run
alone (1.0: sharing loses nothing). Settings: libgomp's default (spin about 300,000 times,
then sleep), ``OMP_WAIT_POLICY=PASSIVE`` (sleep at once), ``OMP_WAIT_POLICY=ACTIVE`` (spin
for ever), and shorter spins (``GOMP_SPINCOUNT``). Settings are interleaved over repetitions;
medians are printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# revcor sets GOMP_SPINCOUNT=10000 where neither it nor OMP_WAIT_POLICY is set, so libgomp's
# default is asked for by its spin count (which wins over the policy)
SETTINGS = {
    "libgomp default": {"GOMP_SPINCOUNT": "300000"},
    "OMP_WAIT_POLICY=PASSIVE": {"OMP_WAIT_POLICY": "PASSIVE"},
    "OMP_WAIT_POLICY=ACTIVE": {"OMP_WAIT_POLICY": "ACTIVE"},
    "GOMP_SPINCOUNT=3000": {"GOMP_SPINCOUNT": "3000"},
    "GOMP_SPINCOUNT=10000": {"GOMP_SPINCOUNT": "10000"},
    "GOMP_SPINCOUNT=30000": {"GOMP_SPINCOUNT": "30000"},
    "GOMP_SPINCOUNT=100000": {"GOMP_SPINCOUNT": "100000"},
}
POLICY = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def runs(model: str, n: int, copies: int, env: dict[str, str], compile: str = "off") -> list[float]:
    """Wall seconds of ``copies`` concurrent `revcor images` runs with the OpenMP ``env``."""
    base = {k: v for k, v in os.environ.items() if k not in POLICY} | env
    cli = str(Path(sys.executable).with_name("revcor"))
    with tempfile.TemporaryDirectory() as tmp:
        cmds = [
            [cli, "images", model, "-n", str(n), "--compile", compile, "--out", f"{tmp}/{i}.h5", "--quiet"]
            for i in range(copies)
        ]
        t = time.perf_counter()
        procs = [subprocess.Popen(c, env=base, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for c in cmds]
        ends = []
        for p in procs:
            _, err = p.communicate()
            if p.returncode:
                raise RuntimeError(err.decode()[-2000:])
            ends.append(time.perf_counter() - t)
    return ends


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--n", type=int, default=300_000)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--settings", default=",".join(SETTINGS), help="comma-separated names of SETTINGS")
    p.add_argument("--compile", default="off", help="the runs' --compile: off (as the issue measured), on, auto")
    args = p.parse_args()
    chosen = args.settings.split(",")
    alone: dict[str, list[float]] = {s: [] for s in chosen}
    pair: dict[str, list[float]] = {s: [] for s in chosen}
    for _ in range(args.repeats):
        for s in chosen:
            alone[s] += runs(args.model, args.n, 1, SETTINGS[s], args.compile)
            pair[s].append(max(runs(args.model, args.n, 2, SETTINGS[s], args.compile)))
    ref = float(np.median(alone["libgomp default"])) if "libgomp default" in alone else None
    print(f"{args.n:,} images per run, --compile {args.compile}, {os.cpu_count()} CPUs, median of {args.repeats}\n")
    print("| setting | one alone (s) | alone vs default | two at once (s, last to end) | together / alone |")
    print("|---|---|---|---|---|")
    for s in chosen:
        one, two = float(np.median(alone[s])), float(np.median(pair[s]))
        vs = f"{one / ref:.3f}" if ref else "-"
        print(f"| {s} | {one:.1f} | {vs} | {two:.1f} | **{2 * one / two:.2f}** |")


if __name__ == "__main__":
    main()
