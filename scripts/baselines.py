"""Mean-image and logistic-regression-weight template classifiers of a dataset."""

from revcor.base import logs
from revcor.pipeline import baselines

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
result = baselines.baselines(s.input.dataset, s.output.json, s.output.h5, s.input.get("logreg"))
log.info("mean images: %.4f", result["mean_images"]["accuracy"])
