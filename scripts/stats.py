"""Merge the parts' statistics of one experiment by addition."""

from revcor.base import logs
from revcor.pipeline import stats

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
stats.merge_parts(list(s.input), s.output[0], auto=s.params.auto)
log.info("merged %d parts into %s", len(s.input), s.output[0])
