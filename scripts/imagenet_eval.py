"""Table 1 numbers of one ImageNet experiment: template accuracy, empty classes, run time."""

from revcor.base import logs
from revcor.pipeline import imagenet

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
result = imagenet.evaluate_maps(s.input.maps, s.input.dataset, list(s.input.responses), s.output[0])
log.info(
    "accuracy %s, %d empty classes, noise step %.1f s",
    result["accuracy"],
    result["empty_classes"],
    result["run_time_s"],
)
