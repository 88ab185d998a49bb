"""Table 2 of the paper: fraction classified as the target class versus gamma."""

from revcor.base import logs
from revcor.report import tables

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
tables.write_attack(list(s.input), s.output.md, s.output.csv)
log.info("wrote %s", s.output.md)
