"""Run one part of a noise experiment through its model; store its responses and their statistics."""

from revcor.base import device, logs
from revcor.pipeline import responses

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
device.set_threads(s.threads)
responses.part(
    s.params.spec,
    s.params.engine,
    s.input.model,
    s.output.responses,
    s.output.stats,
    int(s.wildcards.part),
    dataset_path=s.input.get("dataset"),
    generator=s.input.get("generator"),
    device=device.resolve(s.params.device),
    precision=s.params.precision,
    progress=s.config["progress"],
    name=s.wildcards.exp,
)
log.info("wrote %s and %s", s.output.responses, s.output.stats)
