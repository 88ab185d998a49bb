"""Script logging: carriage-return progress redraws become periodic lines, and everything a
script writes to stderr after logs.setup lands in its log file."""

import io
import subprocess
import sys

from revcor.base.logs import LineLog


class Clock:
    """A fake monotonic clock, moved by hand."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class Timed(io.StringIO):
    """A sink that records the fake time at which each line was written."""

    def __init__(self, clock):
        super().__init__()
        self.clock, self.times = clock, []

    def write(self, text):
        self.times += [self.clock()] * text.count("\n")
        return super().write(text)


def line_log(interval=10.0):
    clock = Clock()
    out = Timed(clock)
    return LineLog(out, interval=interval, clock=clock), out, clock


def test_redraws_become_one_line_per_interval_plus_the_final_state():
    log, out, clock = line_log(interval=10.0)
    for i in range(100):  # a bar redrawn every half second for 50 s
        clock.t = 1000 + 0.5 * i
        assert log.write(f"\rwork: {i:3d}%") == len(f"\rwork: {i:3d}%")
    clock.t += 0.5
    log.write("\n")  # the bar finishes: its last state is kept
    lines = out.getvalue().splitlines()
    assert lines == ["work:   0%", "work:  20%", "work:  40%", "work:  60%", "work:  80%", "work:  99%"]
    assert all(b - a >= 10.0 for a, b in zip(out.times[:-2], out.times[1:-1], strict=True))
    assert "\r" not in out.getvalue()


def test_a_bar_that_redraws_less_often_than_the_interval_keeps_every_state():
    log, out, clock = line_log(interval=10.0)
    for i in range(4):
        clock.t = 1000 + 15 * i
        log.write(f"\rstep {i}")
    log.write("\n")
    assert out.getvalue() == "step 0\nstep 1\nstep 2\nstep 3\n"  # the final state is not repeated


def test_ordinary_and_blank_lines_are_kept_as_written():
    log, out, clock = line_log(interval=30.0)
    log.write("first line\n\n")
    log.write("second ")  # a line written in pieces, in the same instant
    log.write("line   \r\n")  # CRLF ends a line; trailing blanks go
    log.write("\n")
    log.write("third\n")
    assert out.getvalue() == "first line\n\nsecond line\n\nthird\n"


def test_a_redraw_within_a_line_keeps_only_its_last_state():
    log, out, clock = line_log(interval=30.0)
    log.write("downloading\n")  # the interval starts with this line
    log.write("\r 10%\r 50%\r 90%\rdone  \n")
    log.write("\rnext 0%")
    clock.t += 5
    log.write("\rnext 1%")
    assert out.getvalue() == "downloading\ndone\n"  # the second bar is within the interval: not yet shown
    clock.t += 30
    log.write("\rnext 2%")
    log.close()  # closing writes the state not yet shown
    assert out.getvalue() == "downloading\ndone\nnext 2%\n"


def test_close_does_not_repeat_the_last_state():
    log, out, clock = line_log()
    log.write("\rbar 1")
    log.close()
    assert out.getvalue() == "bar 1\n"


SCRIPT = r"""
import sys, traceback, warnings
from tqdm import tqdm
from revcor.base import logs

log = logs.setup(sys.argv[1])
for _ in tqdm(range(200), desc="work", mininterval=0, miniters=1):
    pass
log.info("hello from the script")
try:
    1 / 0
except ZeroDivisionError:
    traceback.print_exc()
warnings.warn("careful")
print("to stdout")
print(type(sys.stderr).__name__, sys.stderr is sys.__stderr__)
"""


def run_script(tmp_path, script=SCRIPT):
    """``script`` in a fresh interpreter with the log at tmp_path/logs/job.log (the folder is made)."""
    logfile = tmp_path / "logs" / "job.log"
    result = subprocess.run([sys.executable, "-c", script, str(logfile)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result, logfile.read_text()


def test_setup_sends_stderr_to_the_log_file(tmp_path):
    result, log = run_script(tmp_path)
    lines = log.splitlines()
    # the progress bar: its first state and its final state, no carriage returns
    bars = [line for line in lines if line.startswith("work:")]
    assert len(bars) == 2 and "  0%" in bars[0] and "100%" in bars[1] and "200/200" in bars[1], bars
    assert "\r" not in log
    # the script's messages, the traceback and the warning, in the order written
    info = next(i for i, line in enumerate(lines) if line.endswith("INFO hello from the script"))
    tb = lines.index("Traceback (most recent call last):")
    assert info < tb < lines.index("ZeroDivisionError: division by zero")
    assert any(line.endswith("UserWarning: careful") for line in lines[tb:])
    # stdout stays stdout; stderr is not restored; the terminal gets the INFO message only
    assert "to stdout" not in log and result.stdout == "to stdout\nLineLog False\n"
    assert result.stderr.strip().endswith("INFO hello from the script") and len(result.stderr.splitlines()) == 1


def test_without_a_logfile_stderr_is_left_alone(tmp_path):
    script = (
        "import sys\nfrom revcor.base import logs\nlog = logs.setup(None)\nlog.info('hi')\n"
        "sys.stderr.write('plain\\n')\nprint(sys.stderr is sys.__stderr__)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout == "True\n"
    assert result.stderr.splitlines()[0].endswith("INFO hi") and result.stderr.splitlines()[1] == "plain"
    assert not list(tmp_path.iterdir())


def test_the_last_unfinished_line_reaches_the_log(tmp_path):
    script = (
        "import sys\nfrom tqdm import tqdm\nfrom revcor.base import logs\nlogs.setup(sys.argv[1])\n"
        "for _ in tqdm(range(3), desc='bar', mininterval=0, miniters=1): pass\n"
        "sys.stderr.write('\\rwork: 50%')\n"
    )
    _, log = run_script(tmp_path, script)
    assert log.splitlines()[-1] == "work: 50%"
