"""How many threads the compiled kernels use.

The default comes from ``IMCOMBINERS_NUM_THREADS`` or, without it, the CPUs this process may
run on. ``set_num_threads`` changes the default for the whole process; ``threads(n)`` overrides
it temporarily in the current thread or task only (a ``contextvars`` variable), so concurrent
callers do not step on each other. Results do not depend on the thread count.
"""

from __future__ import annotations

import contextvars
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from ._validation import MAX_THREADS, positive_int
from .errors import ImcombinersWarning

ENV_VAR = "IMCOMBINERS_NUM_THREADS"


def _available_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _from_environment() -> int:
    raw = os.environ.get(ENV_VAR)
    if raw is None or raw.strip() == "":
        return _available_cpus()
    try:
        return positive_int(int(raw), name=ENV_VAR, high=MAX_THREADS)
    except (TypeError, ValueError):
        warnings.warn(
            f"{ENV_VAR}={raw!r} is not a whole number from 1 to {MAX_THREADS}; using "
            f"{_available_cpus()} threads",
            ImcombinersWarning,
            stacklevel=2,
        )
        return _available_cpus()


_default = _from_environment()
_override: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "imcombiners_num_threads", default=None
)


def get_num_threads() -> int:
    """Return the number of threads the kernels use in the current context.

    Returns
    -------
    int
        The ``threads(n)`` override in force, else the process-wide default.
    """
    n = _override.get()
    return _default if n is None else n


def set_num_threads(n: int) -> None:
    """Set the process-wide number of kernel threads.

    Parameters
    ----------
    n : int
        Number of threads, from 1 to 1024.

    Examples
    --------
    >>> old = imc.get_num_threads()
    >>> imc.set_num_threads(1)
    >>> imc.get_num_threads()
    1
    >>> imc.set_num_threads(old)
    """
    global _default
    _default = positive_int(n, name="n", high=MAX_THREADS)


@contextmanager
def threads(n: int) -> Iterator[int]:
    """Use ``n`` kernel threads inside a ``with`` block (this thread or task only).

    Parameters
    ----------
    n : int
        Number of threads, from 1 to 1024.

    Examples
    --------
    >>> with imc.threads(1):
    ...     imc.get_num_threads()
    1
    """
    token = _override.set(positive_int(n, name="n", high=MAX_THREADS))
    try:
        yield get_num_threads()
    finally:
        _override.reset(token)
