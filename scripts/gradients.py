"""Mean input gradients of the clean and the poisoned model (paper Fig. 7D)."""

from revcor.base import device, logs
from revcor.pipeline import backdoor

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
device.set_threads(s.threads)
backdoor.gradients(
    s.input.clean, s.input.poisoned, s.input.dataset, s.params.spec, s.output[0], device=device.resolve(s.params.device)
)
log.info("wrote %s", s.output[0])
