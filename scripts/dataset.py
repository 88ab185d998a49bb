"""Build data/{dataset}.h5 from the configured source."""

from revcor.base import logs
from revcor.data import datasets

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
settings = {k: v for k, v in s.params.settings.items() if v is not None}
used = datasets.build(s.wildcards.base, s.output[0], **settings)
log.info("built %s from source %r", s.output[0], used)
