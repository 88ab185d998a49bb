"""The kinds of noise, from the one list in the config schema (``noise.kind``); every module
that names them takes them from here. Reading this module does not load torch."""

from __future__ import annotations

from revcor.base.config import schema

KINDS: tuple[str, ...] = tuple(schema()["$defs"]["noise"]["properties"]["kind"]["enum"])  # white first
GENERATED: tuple[str, ...] = tuple(k for k in KINDS if k != "white")  # drawn by a generator fitted on images
AUTOENCODERS: tuple[str, ...] = tuple(k for k in GENERATED if k.endswith("ae"))  # decoders of random codes
LABELS = {"white": "white", "gabor": "Gabor-PCA", "ae": "autoencoder", "vae": "VAE"}  # names in figures and tables
assert set(LABELS) == set(KINDS), "a noise kind without a label"
