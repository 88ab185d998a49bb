"""``python -m revcor``: the command line."""

from revcor.cli import run

run()
