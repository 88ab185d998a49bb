"""Merge the parts' statistics of one experiment by addition."""
from revcor import experiment, logs

s = snakemake  # noqa: F821  (injected by Snakemake)
log = logs.setup(s.log[0])
experiment.merge_stats(list(s.input), s.output[0])
log.info("merged %d parts into %s", len(s.input), s.output[0])
