"""Fit a structured-noise generator (Gabor-PCA, autoencoder or VAE) on a dataset."""
from revcor import device, experiment, logs

s = snakemake  # noqa: F821  (injected by Snakemake)
log = logs.setup(s.log[0])
device.set_threads(s.threads)
experiment.fit_generator(s.wildcards.kind, s.input[0], s.params.settings, s.output[0],
                         device=device.resolve(s.params.device), progress=s.config["progress"])
log.info("wrote %s", s.output[0])
