"""Local-noise trials of one model on its dataset's clean test images."""

from revcor.base import device, logs
from revcor.pipeline import scan

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
device.set_threads(s.threads)
scan.local_noise(s.input.model, s.input.dataset, s.params.spec, s.output[0], device=device.resolve(s.params.device))
log.info("wrote %s", s.output[0])
