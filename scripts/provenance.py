"""Provenance of every dataset artifact of the run, as a table for the report."""

from revcor.base import logs
from revcor.report import tables

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
tables.write_csv(tables.provenance_rows(list(s.input)), s.output[0])
log.info("wrote %s", s.output[0])
