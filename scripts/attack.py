"""Bias maps and mean images as a hard-label attack on the experiment's model."""

from revcor.base import device, logs
from revcor.pipeline import attack

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
device.set_threads(s.threads)
attack.run(
    s.input.maps,
    s.input.model,
    s.input.dataset,
    s.input.baselines,
    s.output.h5,
    s.output.json,
    s.params.settings,
    device=device.resolve(s.params.device),
    compile=s.params.compile,
    progress=s.config["progress"],
)
log.info("wrote %s", s.output.h5)
