"""Headline numbers per training seed, with their mean and standard deviation."""

from pathlib import Path

from revcor.base import logs
from revcor.report import tables

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
# the file of each name, by section: evaluation/{name}.json, attacks/{name}.json, microstim/{name}.h5
files = {f"{kind}:{Path(p).stem}": p for kind in ("eval", "attack", "microstim") for p in getattr(s.input, kind)}
rows = tables.seed_spread_rows(s.params.spread, files, s.params.models)
tables.write_seed_spread(rows, s.output.md, s.output.csv)
log.info("wrote %s (%d values)", s.output.md, len(rows))
