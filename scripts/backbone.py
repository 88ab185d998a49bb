"""Write a torchvision backbone (pretrained or random weights) for a dataset as a model file."""

from revcor.base import device, logs
from revcor.pipeline import backbone

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
device.set_threads(s.threads)
metrics = backbone.prepare(
    s.input[0],
    s.params.settings,
    model_out=s.output.model,
    metrics_out=s.output.metrics,
    device=device.resolve(s.params.device),
    progress=s.config["progress"],
)
log.info(
    "%s: %s weights, input %s",
    s.wildcards.backbone,
    (metrics["weights"] or {}).get("enum", "random"),
    metrics["in_shape"],
)
