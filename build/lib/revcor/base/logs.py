"""Logging for workflow scripts: everything a job writes to stderr goes to the rule's log.

:func:`setup` points ``sys.stderr`` at the log file, so tracebacks, warnings and progress
bars land in the log that ``snakemake --show-failed-logs`` prints. Progress bars redraw
their line with carriage returns; in a file that becomes one line per bar state, so the
log keeps a line at most every ``interval`` seconds per bar, and its final state. The
script's own INFO messages also go to the terminal.
"""

from __future__ import annotations

import atexit
import io
import logging
import sys
import time
from pathlib import Path
from typing import TextIO

PROGRESS_INTERVAL = 30.0  # seconds between two logged states of a progress bar


class LineLog(io.TextIOBase):
    """A text stream onto ``out`` that turns carriage-return redraws into periodic lines."""

    def __init__(self, out: TextIO, interval: float = PROGRESS_INTERVAL, clock=time.monotonic):
        self.out, self.interval, self.clock = out, interval, clock
        self.line = ""  # the text of the current line, as last redrawn
        self.shown: str | None = None  # what of it was last written out
        self.last = -float("inf")

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        parts = text.replace("\r\n", "\n").split("\n")
        for i, part in enumerate(parts):
            if "\r" in part:  # a redraw: only its last state counts
                part = part.rsplit("\r", 1)[1]
                self.line = part
            else:
                self.line += part
            if i < len(parts) - 1:  # the line is finished
                self._emit(force=True)
                self.line, self.shown = "", None
        if self.line and self.clock() - self.last >= self.interval:
            self._emit()
        return len(text)

    def _emit(self, force: bool = False) -> None:
        """Write the current line unless it was just written (an empty line only when ``force``)."""
        if self.line != self.shown and (self.line.strip() or force):
            self.out.write(self.line.rstrip() + "\n")
            self.out.flush()
            self.shown, self.last = self.line, self.clock()

    def flush(self) -> None:
        self.out.flush()

    def close(self) -> None:
        self._emit()
        self.out.flush()
        super().close()


def setup(logfile: str | Path | None = None, name: str = "revcor") -> logging.Logger:
    """Return a logger for a script; with ``logfile``, send all of stderr there as well.

    INFO messages go to the terminal and to the log; everything else written to stderr
    (tracebacks, warnings, progress bars) goes to the log only.
    """
    log = logging.getLogger(name)
    log.setLevel(logging.INFO)
    log.handlers.clear()
    log.propagate = False
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S")
    terminal = logging.StreamHandler(sys.__stderr__)
    terminal.setFormatter(fmt)
    log.addHandler(terminal)
    if logfile:
        Path(logfile).parent.mkdir(parents=True, exist_ok=True)
        sys.stderr = LineLog(open(logfile, "w", buffering=1))  # noqa: SIM115 (lives as long as the job)
        atexit.register(sys.stderr.close)  # the last, unfinished line too
        to_file = logging.StreamHandler(sys.stderr)
        to_file.setFormatter(fmt)
        log.addHandler(to_file)
    return log
