"""What every part of the ``imcombine`` command shares: exit statuses and `CliError`.

A failure the command reports is a `CliError` (one line ``imcombine: error: ...`` and an exit
status); `describe` turns any other exception into such a line, and `STYLES` is the hint of a
usage error that mixes the two styles of command line.
"""

from __future__ import annotations

PROG = "imcombine"

#: Exit statuses.
OK, FAILED, USAGE, INTERRUPTED = 0, 1, 2, 130


class CliError(Exception):
    """A failure reported as one line ``imcombine: error: ...`` with an exit status."""

    def __init__(self, message: str, status: int = FAILED) -> None:
        super().__init__(message)
        self.status = status


def describe(exc: BaseException) -> str:
    """One line saying what went wrong."""
    if isinstance(exc, OSError) and exc.filename and exc.strerror:
        message = f"{exc.filename}: {exc.strerror}"
    elif isinstance(exc, KeyError) and exc.args:
        message = str(exc.args[0])
    else:
        message = str(exc) or type(exc).__name__
    return " ".join(message.split())


# The hint given when a command line mixes flags and IRAF-style name=value parameters.
STYLES = (
    "Use one style: 'imcombine INPUT... -o OUTPUT --combine median --reject sigclip' "
    "(flags) or 'imcombine INPUT OUTPUT combine=median reject=sigclip' (IRAF parameters)."
)
