"""The workflow schema's defaults, read once: the defaults of every function of
:mod:`revcor.api` and of every option of the command line (which must not import torch to
print its help)."""

from __future__ import annotations

from revcor.base.config import defaults, schema

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
