"""Template-classifier accuracies of all experiments and baselines, beside the paper's."""

import re

from revcor.base import logs
from revcor.report import tables

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
evals = {re.sub(r".*/evaluation/(.*)\.json$", r"\1", p): p for p in s.input.evals}
baselines = {re.sub(r".*/evaluation/(.*)/baselines\.json$", r"\1", p): p for p in s.input.baselines}
rows = tables.template_rows({n: (*s.params.models[n], p) for n, p in evals.items()}, baselines)
tables.write(rows, s.output.md, s.output.csv)
log.info("wrote %s", s.output.md)
