"""The workflow schema's defaults, read once: the defaults of every function of
:mod:`revcor.api` and of every option of the command line (which must not import torch to
print its help)."""

from __future__ import annotations

import os
from collections.abc import MutableMapping
from pathlib import Path

from revcor.base.config import defaults, schema

# revcor's caches of this user: compiled forward passes, parsed code (XDG_CACHE_HOME wins)
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "revcor"

DEVICE, PRECISION = defaults("device"), defaults("precision")
ENGINE, STATISTICS, TRAINING = defaults("engine"), defaults("statistics"), defaults("training")
EXPERIMENT = defaults("experiments", model="data/model")
UNITS = defaults("units", model="data/model", layers=["layer"])
MICROSTIM = defaults("microstim", model="data/model")
ATTACK = defaults("attacks")
SCAN = defaults("scans", model="data/model")

# the kinds of noise: the schema's, with gaussian for white noise of a normal distribution
NOISE_KINDS = (
    "white",
    "gaussian",
    *(k for k in schema()["$defs"]["noise"]["properties"]["kind"]["enum"] if k != "white"),
)

# torch's OpenMP threads (libgomp, in torch's Linux wheels) spin only briefly when they wait,
# then sleep, so that runs sharing the CPU (Snakemake jobs side by side, a SLURM node shared
# with others) keep their throughput and a run alone keeps its speed (docs/performance.md,
# benchmarks/shared_cpu.py); set only where the user set neither of OPENMP_SETTINGS
OPENMP = {"GOMP_SPINCOUNT": "10000"}
OPENMP_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")


def share_cpu(env: MutableMapping[str, str] = os.environ) -> None:
    """Set :data:`OPENMP` in ``env`` unless a wait policy or spin count is set already; it takes
    effect in processes that load torch afterwards (the command line calls it first, the
    workflow for its jobs)."""
    if not any(key in env for key in OPENMP_SETTINGS):
        env.update(OPENMP)
