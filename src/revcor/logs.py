"""Logging for workflow scripts: to the rule's log file and to the terminal."""
from __future__ import annotations

import logging
import sys
from pathlib import Path


def setup(logfile: str | Path | None = None, name: str = "revcor") -> logging.Logger:
    """Return a logger writing to stderr and, when given, to ``logfile``."""
    log = logging.getLogger(name)
    log.setLevel(logging.INFO)
    log.handlers.clear()
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if logfile:
        Path(logfile).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(logfile, mode="w"))
    for h in handlers:
        h.setFormatter(fmt)
        log.addHandler(h)
    return log
