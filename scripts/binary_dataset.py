"""Derive a binary task (digits a vs b) from its base dataset."""
from revcor import data, logs

s = snakemake  # noqa: F821  (injected by Snakemake)
log = logs.setup(s.log[0])
data.derive_binary(s.input[0], s.output[0], int(s.wildcards.a), int(s.wildcards.b))
log.info("derived %s", s.output[0])
