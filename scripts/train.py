"""Train one model of the config on its dataset; write the model and its metrics."""

from revcor.base import device, logs
from revcor.pipeline import train

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
device.set_threads(s.threads)
metrics = train.train_on_dataset(
    s.input[0],
    s.params.settings,
    model_out=s.output.model,
    metrics_out=s.output.metrics,
    device=device.resolve(s.params.device),
    progress=s.config["progress"],
)
log.info(
    "%s/%s: test accuracy %.4f in %.0f s",
    s.wildcards.dataset,
    s.wildcards.model,
    metrics["test"]["accuracy"],
    metrics["wall_time_s"],
)
