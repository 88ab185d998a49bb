"""Classification images of one experiment at every checkpoint."""

from revcor.base import device, logs
from revcor.pipeline import maps

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
dev = device.resolve(s.params.device)
maps.write(
    s.input.stats,
    s.input.model,
    s.output[0],
    dev,
    null=s.input.null,
    statistics=s.params.statistics,
    noise_kind=s.params.noise,
)
log.info("wrote %s", s.output[0])
