"""Whether an n: auto experiment may stop after this round."""

from revcor.base import logs
from revcor.pipeline import stats

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
decision = stats.converged(list(s.input), s.params.spec, s.output[0])
log.info("round %d, n = %d: %s", decision["round"], decision["n"], "done" if decision["done"] else "go on")
