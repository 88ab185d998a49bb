"""Backdoor detection over seeds: AUROC and the patch location found, per backdoor."""

from revcor.base import logs
from revcor.report import tables

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
tables.write_detection(list(s.input), s.output.md, s.output.csv)
log.info("wrote %s", s.output.md)
