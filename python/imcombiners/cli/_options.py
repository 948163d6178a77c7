"""Option values both styles (and the demo) read the same way: HDU, memory limit, threads."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator


def _hdu_of(text: str) -> int | str:
    s = text.strip()
    return int(s) if re.fullmatch(r"[+-]?\d+", s) else s


def _mem_limit_of(text: str | None) -> int | str | None:
    if text is None:
        return None
    s = text.strip()
    return int(s) if s.isdigit() else s


@contextlib.contextmanager
def _thread_count(n: int | None) -> Iterator[None]:
    if n is None:
        yield
        return
    import imcombiners as imc

    with imc.threads(n):
        yield
