"""Check a model the user brings against its dataset and write it with its test metrics."""

from revcor.base import device, logs
from revcor.pipeline import given

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
device.set_threads(s.threads)
metrics = given.import_model(
    s.input.dataset,
    s.params.settings,
    name=s.wildcards.given,
    layers=s.params.layers,
    model_out=s.output.model,
    metrics_out=s.output.metrics,
    device=device.resolve(s.params.device),
)
log.info("%s: given model, test accuracy %.4f", metrics["source"], metrics["test"]["accuracy"])
