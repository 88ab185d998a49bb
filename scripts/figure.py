"""Draw one figure: call revcor.report.figures.{params.fig} with the rule's named inputs."""

from pathlib import Path

from revcor.base import logs
from revcor.report import figures

s = snakemake  # noqa: F821 (injected by Snakemake)
log = logs.setup(s.log[0])
stem = Path(s.output.png).with_suffix("")
getattr(figures, s.params.fig)(**dict(s.input.items()), stem=str(stem))
log.info("wrote %s.png and %s.pdf", stem, stem)
