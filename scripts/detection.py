"""Backdoor detection scores of clean and poisoned models against clean references."""

from revcor.base import logs
from revcor.pipeline import backdoor

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
result = backdoor.evaluate_detection(
    {role: list(s.input[role]) for role in ("poisoned", "clean", "reference")},
    s.params.models,
    s.params.spec,
    s.output[0],
    smooth=s.params.smooth,
)
log.info("AUROC %.3f; wrote %s", result["auroc"], s.output[0])
