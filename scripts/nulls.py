"""Null maps of one noise source and size."""

from revcor.base import device, logs
from revcor.pipeline import nulls

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
device.set_threads(s.threads)
nulls.write(
    s.params.noise,
    s.input.dataset,
    s.output[0],
    s.params.statistics,
    s.params.storage,
    input_size=s.params.input_size,
    generator=s.input.get("generator"),
    device=device.resolve(s.params.device),
    progress=s.config["progress"],
)
log.info("wrote %s", s.output[0])
