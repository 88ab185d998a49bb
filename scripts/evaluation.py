"""Accuracy of an experiment's classification images as a template classifier."""

from revcor.base import logs
from revcor.pipeline import evaluation

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
result = evaluation.evaluate_templates(s.input.maps, s.input.dataset, s.output[0])
log.info("template accuracy %s at n=%d", result["final"]["bias_maps"]["accuracy"], result["n"])
