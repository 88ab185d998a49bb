"""Build data/imagenet.h5 from a local ImageNet-style validation folder."""

from revcor.base import logs
from revcor.data import datasets

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
settings = s.params.settings
datasets.build(
    "imagenet", s.output[0], source=settings["source"], root=settings["root"], size=settings["size"], workers=s.threads
)
log.info("built %s from %s", s.output[0], settings["root"])
