"""Fit an autoencoder or VAE noise generator of a dataset."""

from revcor.base import device, logs
from revcor.pipeline import autoencoder

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
device.set_threads(s.threads)
autoencoder.fit(
    s.wildcards.kind,
    s.input[0],
    s.params.settings,
    s.output[0],
    device=device.resolve(s.params.device),
    progress=s.config["progress"],
)
log.info("wrote %s", s.output[0])
