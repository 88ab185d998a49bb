"""The errors a user can act on. Each message names the problem and what to do; the command
line prints it in one line. Any other exception is a bug and keeps its traceback."""


class RevcorError(Exception):
    """Base class of the errors whose message is all a user needs."""
