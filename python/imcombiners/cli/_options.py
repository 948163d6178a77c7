"""Option values both styles (and the demo) read the same way: HDU, memory limit, threads, and
the ranges of whole numbers (so that no value too large for the core reaches it)."""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator

from ._errors import USAGE, CliError

#: The most worker threads ``--threads`` accepts.
MAX_THREADS = 1024

#: Bounds of a count (``--nkeep``, ``nkeep=``, ``nlow=`` ...): a signed 64-bit integer.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

#: The most clipping passes ``--maxiters`` accepts.
MAXITERS_MAX = 2**31 - 1


def hdu_of(text: str) -> int | str:
    s = text.strip()
    return int(s) if re.fullmatch(r"[+-]?\d+", s) else s


def mem_limit_of(text: str | None) -> int | str | None:
    if text is None:
        return None
    s = text.strip()
    return int(s) if s.isdigit() else s


def _bound(limit: int) -> str:
    """A range bound as people read it (``2**63-1`` rather than 19 digits)."""
    for power in (31, 63):
        if limit == 2**power - 1:
            return f"{limit} (2**{power}-1)"
        if limit == -(2**power):
            return f"{limit} (-2**{power})"
    return str(limit)


def int_in_range(value: int | None, option: str, low: int, high: int) -> int | None:
    """``value`` (None passes) if ``low <= value <= high``, else a usage error naming the
    option and its range."""
    if value is None or low <= value <= high:
        return value
    raise CliError(
        f"{option} must be an integer from {_bound(low)} to {_bound(high)}, got {value}", USAGE
    )


def threads_of(value: int | None, option: str = "--threads") -> int | None:
    """A worker thread count, 1 to `MAX_THREADS`."""
    return int_in_range(value, option, 1, MAX_THREADS)


def _count_or_fraction(value: float | None, option: str) -> float | None:
    """A count (a whole number below 2**63) or a fraction, >= 0 and finite."""
    if value is None or (math.isfinite(value) and 0 <= value < 2.0**63):
        return value
    raise CliError(
        f"{option} must be a fraction from 0 to 1 or a count from 1 to {_bound(INT64_MAX)}, "
        f"got {value}",
        USAGE,
    )


@contextlib.contextmanager
def thread_count(n: int | None) -> Iterator[None]:
    if n is None:
        yield
        return
    import imcombiners as imc

    with imc.threads(threads_of(n)):
        yield
