"""Poison a dataset's training split with a patch (backdoor) and add a patched test split."""

from revcor.base import logs
from revcor.pipeline import backdoor

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
spec = dict(s.params.spec)
if spec.pop("dataset") != s.wildcards.base:
    raise ValueError(f"backdoor {s.wildcards.name!r} poisons {s.params.spec['dataset']!r}, not {s.wildcards.base!r}")
backdoor.derive(s.input[0], s.output[0], name=s.wildcards.name, **spec)
log.info("wrote %s", s.output[0])
