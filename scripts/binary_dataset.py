"""Derive a binary task (digits a vs b) from its base dataset."""

from revcor.base import logs
from revcor.data import datasets

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
datasets.derive_binary(s.input[0], s.output[0], int(s.wildcards.a), int(s.wildcards.b))
log.info("derived %s", s.output[0])
