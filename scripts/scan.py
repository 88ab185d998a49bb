"""Backdoor scan of one model against clean references."""

from revcor.base import logs
from revcor.pipeline import scan

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
result = scan.run(s.input.model, list(s.input.references), s.params.spec, s.output[0])
log.info(
    "%s: score %s, suspected target %s, suspect %s",
    s.wildcards.scan,
    result["score"],
    result["target_class"],
    result["suspect"],
)
