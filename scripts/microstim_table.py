"""Threshold shifts of the fitted psychometric functions, per layer, k and direction."""

from revcor.base import logs
from revcor.report import tables

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
tables.write_microstim(s.input[0], s.output.md, s.output.csv)
log.info("wrote %s", s.output.md)
