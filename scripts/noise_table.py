"""Sample complexity of the noise kinds as a table: convergence and accuracy versus n."""

from pathlib import Path

from revcor.base import logs, store
from revcor.report import read, tables

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
rows = tables.noise_rows(*read.noise_curves(list(s.input.maps), list(s.input.evaluations)))
with store.atomic_path(s.output.md) as tmp:
    Path(tmp).write_text(tables.noise_markdown(rows))
tables.write_csv(rows, s.output.csv)
log.info("wrote %s", s.output.md)
