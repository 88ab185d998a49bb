"""Calibrated backdoor scans of clean and poisoned models against clean references."""

from revcor.base import device, logs
from revcor.pipeline import backdoor

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
device.set_threads(s.threads)
result = backdoor.evaluate_detection(
    {key: list(paths) for key, paths in s.input.items()},
    s.params.models,
    s.params.spec,
    s.params.settings,
    s.output[0],
    device=device.resolve(s.params.device),
)
log.info(
    "AUROC %.3f (paper's score %.3f); suspect: %s; wrote %s",
    result["auroc"],
    result["paper_auroc"],
    result["suspects"],
    s.output[0],
)
