"""Fit the Gabor-PCA noise generator of a dataset."""

from revcor.base import device, logs
from revcor.pipeline import gabor

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
device.set_threads(s.threads)
gabor.fit(s.input[0], s.params.settings, s.output[0], progress=s.config["progress"])
log.info("wrote %s", s.output[0])
