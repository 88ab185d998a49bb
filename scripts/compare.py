"""The difference of two experiments' maps, with the pixels that differ."""

from revcor.base import logs
from revcor.pipeline import maps

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
maps.compare(s.input.a, s.input.b, s.input.null_a, s.input.null_b, s.output[0], s.params.statistics)
log.info("wrote %s", s.output[0])
