"""Build data/{dataset}.h5 from the configured source."""

from revcor.base import logs
from revcor.data import datasets

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
settings = s.params.settings
used = datasets.build(
    s.wildcards.base, s.output[0], source=settings["source"], root=settings["root"], mirror=settings["mirror"]
)
log.info("built %s from source %r", s.output[0], used)
