"""Single-unit analyses of one model: STA, STC, layer activations, activation injection."""

from revcor.base import device, logs
from revcor.pipeline import units

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
device.set_threads(s.threads)
units.run(
    s.params.spec,
    s.params.engine,
    s.input.model,
    s.input.dataset,
    s.output[0],
    generator=s.input.get("generator"),
    device=device.resolve(s.params.device),
    progress=s.config["progress"],
)
log.info("wrote %s", s.output[0])
