"""Reduce one part's stimuli and responses to sufficient statistics."""

from revcor.base import device, logs
from revcor.pipeline import stats_part

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
device.set_threads(s.threads)
stats_part.part(
    s.params.spec,
    s.params.engine,
    s.input.responses,
    s.output[0],
    dataset_path=s.input.get("dataset"),
    generator=s.input.get("generator"),
    device=device.resolve(s.params.device),
    progress=s.config["progress"],
)
log.info("wrote %s", s.output[0])
