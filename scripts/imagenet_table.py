"""Table 1: ImageNet backbones' bias maps as template classifiers, beside the paper's numbers."""

import re

from revcor.base import logs
from revcor.report import tables

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
evals = {re.sub(r".*/imagenet/(.*)\.json$", r"\1", p): p for p in s.input}
rows = tables.imagenet_rows({n: (*s.params.backbones[n], p) for n, p in evals.items()})
tables.write_imagenet(rows, s.output.md, s.output.csv)
log.info("wrote %s", s.output.md)
