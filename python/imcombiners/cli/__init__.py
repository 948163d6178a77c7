"""The ``imcombine`` command: combine FITS images from the shell.

Two styles of command line are accepted::

    imcombine raw/bias*.fits -o master.fits --reject sigclip --sigma 3     # flags
    imcombine @bias.lis master.fits combine=median reject=sigclip           # IRAF's parameters

The first runs `imcombiners.combine_files` (the stack is read in bands within a memory limit),
the second `imcombiners.iraf.imcombine` (IRAF IMCOMBINE's parameters and arithmetic). Any
argument of the form ``name=value`` selects the IRAF style. ``imcombine demo`` writes a sample
set of bias frames, combines it and checks the result.

The package holds the parts of the command, each in its own module:

- ``_errors``: the exit statuses, `CliError` and one-line descriptions of exceptions;
- ``_files``: input paths (globs, ``@lists``), input and output checks, `fits_header` and the
  writing of the IRAF style's images;
- ``_options``: values both styles read the same way (HDU, memory limit, threads);
- ``_report``: the table of the frames and the timing printed after a combine;
- ``_iraf_params``: IMCOMBINE's parameters and IRAF's value syntax (`iraf_value`);
- ``_iraf_style``: the IRAF style's parsing and run;
- ``_flags``: the conventional style's flags (and the ``--help`` of the command) and run;
- ``_demo``: ``imcombine demo``.

`main` (here) picks the style and turns failures into an error line and an exit status. No
failure prints a Python traceback: an unexpected exception (a bug) is reported on one line as an
internal error, unless the environment variable ``IMCOMBINERS_TRACEBACK`` is set (then it is
raised again, with its traceback).
"""

from __future__ import annotations

import contextlib
import os
import sys
import warnings
from collections.abc import Iterator, Sequence

from ._demo import run_demo
from ._errors import FAILED, INTERRUPTED, OK, PROG, USAGE, CliError, describe
from ._files import expand_inputs, fits_header
from ._flags import run_flags
from ._iraf_params import iraf_value, is_key_value
from ._iraf_style import run_iraf

__all__ = [
    "FAILED",
    "INTERRUPTED",
    "OK",
    "PROG",
    "USAGE",
    "CliError",
    "expand_inputs",
    "fits_header",
    "iraf_value",
    "main",
]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``imcombine`` command.

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status: 0 on success, 1 for an error (bad input, existing output ...), 2 for
        a usage error, 130 when interrupted.

    Examples
    --------
    >>> from imcombiners.cli import main
    >>> main(["raw/bias*.fits", "-o", "master.fits", "--reject", "sigclip"])  # doctest: +SKIP
    0
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        with _cli_warnings():
            if args and args[0] == "demo":
                return run_demo(args[1:])
            if any(is_key_value(a) for a in args):
                return run_iraf(args)
            return run_flags(args)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; no output written", file=sys.stderr)
        return INTERRUPTED
    except CliError as exc:
        _error(str(exc))
        return exc.status
    except SystemExit as exc:  # argparse: --help, or a usage error it has already printed
        return exc.code if isinstance(exc.code, int) else (OK if exc.code is None else USAGE)
    except ImportError as exc:
        needs = " (reading and writing FITS files needs astropy)" if "astropy" in str(exc) else ""
        _error(f"{describe(exc)}{needs}")
        return FAILED
    except _expected_errors() as exc:
        _error(describe(exc))
        return FAILED
    except Exception as exc:  # a bug: still one line, unless a traceback is asked for
        return _unexpected(exc)
    except BaseException as exc:  # a Rust panic (PanicException derives from BaseException)
        if type(exc).__name__ != "PanicException":
            raise
        return _unexpected(exc)


def _unexpected(exc: BaseException) -> int:
    if os.environ.get("IMCOMBINERS_TRACEBACK"):
        raise exc
    _error(
        f"internal error ({type(exc).__name__}): {describe(exc)}; please report it (set "
        "IMCOMBINERS_TRACEBACK=1 to see where it happened)"
    )
    return FAILED


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def _expected_errors() -> tuple[type[BaseException], ...]:
    errors: tuple[type[BaseException], ...] = (
        OSError,
        ValueError,
        TypeError,
        KeyError,
        OverflowError,
        MemoryError,
    )
    with contextlib.suppress(ImportError):
        from astropy.io.fits.verify import VerifyError

        errors += (VerifyError,)
    return errors


@contextlib.contextmanager
def _cli_warnings() -> Iterator[None]:
    """Show warnings as ``imcombine: warning: ...`` lines."""

    def show(message, category, filename, lineno, file=None, line=None) -> None:
        print(f"{PROG}: warning: {message}", file=sys.stderr)

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield
