"""Memory budgets: parsing ``mem_limit`` and sizing the spatial bands of a file combine."""

from __future__ import annotations

import math
import re
from typing import Any

_UNITS = {
    "": 1,
    "B": 1,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "K": 2**10,
    "M": 2**20,
    "G": 2**30,
    "T": 2**40,
    "KIB": 2**10,
    "MIB": 2**20,
    "GIB": 2**30,
    "TIB": 2**40,
}
_PATTERN = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]*)\s*$")


def parse_mem_limit(value: Any, *, name: str = "mem_limit") -> int:
    """A memory size in bytes.

    Parameters
    ----------
    value : int, float or str
        Bytes as a number, or a string with a unit: ``"64MB"`` (10**6 bytes per MB, as disk
        makers and ccdproc count), ``"1.5GiB"`` or ``"512M"`` (powers of 1024).

    Returns
    -------
    int
        The size in bytes (> 0).
    """
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number of bytes or a string like '1GB', got {value!r}")
    if isinstance(value, int | float):
        size = float(value)
    elif isinstance(value, str):
        m = _PATTERN.match(value)
        unit = m.group(2).upper() if m else None
        if m is None or unit not in _UNITS:
            raise ValueError(
                f"{name}: cannot read {value!r} as a memory size; write e.g. '64MB', '1.5GB', "
                "'512MiB' or a number of bytes"
            )
        size = float(m.group(1)) * _UNITS[unit]
    else:
        raise TypeError(
            f"{name} must be a number of bytes or a string like '1GB', got {type(value).__name__}"
        )
    if not math.isfinite(size) or size < 1:
        raise ValueError(f"{name} must be at least 1 byte, got {value!r}")
    return int(size)


def format_bytes(n: float) -> str:
    """``n`` bytes for people: ``'64.0 MB'``."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def band_rows(
    budget: int,
    fixed: int,
    per_row: int,
    n_rows: int,
    halo: int,
    *,
    name: str = "mem_limit",
    grow: float | None = None,
) -> int:
    """How many rows (along the first spatial axis) one band may hold.

    Parameters
    ----------
    budget : int
        The memory limit in bytes.
    fixed : int
        Bytes needed whatever the band size (outputs held whole, per-frame tables).
    per_row : int
        Bytes one row of the band costs (inputs of every frame, masks, scratch).
    n_rows : int
        Rows in the image.
    halo : int
        Extra rows read on each side of a band (for ``grow``).
    name : str, default "mem_limit"
        The parameter named in the error.
    grow : float, optional
        The grow radius the halo serves, named in the error when there is a halo.

    Returns
    -------
    int
        Rows per band, 1 to ``n_rows``.

    Raises
    ------
    ValueError
        When not even one row fits.
    """
    available = budget - fixed
    if per_row <= 0 or available // per_row >= n_rows:
        return n_rows  # the whole image in one band: no halo to read
    rows = available // per_row - 2 * halo
    if rows < 1:
        need = fixed + (1 + 2 * halo) * per_row
        raise ValueError(
            f"{name} of {format_bytes(budget)} is too small for one row of the stack: "
            f"at least {format_bytes(need)} are needed (outputs, statistics grid and "
            f"reserve take {format_bytes(fixed)}, each row of all frames "
            f"{format_bytes(per_row)})"
            + (
                f"; grow={grow:g} adds {halo} rows above and below each band"
                if halo and grow is not None
                else ""
            )
        )
    return int(min(rows, n_rows))


#: Input bytes of one band at most, so that reading overlaps combining and progress moves.
BAND_TARGET = 8 * 2**20


def band_bounds(
    budget: int,
    fixed: int,
    per_row: int,
    n_rows: int,
    halo: int,
    *,
    input_row_bytes: int,
    target: int = BAND_TARGET,
    grow: float | None = None,
) -> list[tuple[int, int]]:
    """The bands ``[(y0, y1), ...]`` of a banded combine: the one sizing rule.

    Bands hold as many rows as ``budget`` allows (`band_rows`), but about ``target`` bytes of
    input at most (``input_row_bytes``: one row of every frame as read), so that reading
    overlaps combining and progress moves; and not much thinner than their halo (each band
    reads its halo again: with a large grow, thin bands would read the image many times over).

    Parameters
    ----------
    budget, fixed, per_row, n_rows, halo, grow
        As in `band_rows`.
    input_row_bytes : int
        Bytes of one row of every frame as read from the files.
    target : int, default BAND_TARGET
        Input bytes per band aimed at.

    Returns
    -------
    list of (int, int)
        Row ranges covering ``0:n_rows`` in order, halo not included.
    """
    rows = band_rows(budget, fixed, per_row, n_rows, halo, grow=grow)
    rows = max(1, min(rows, max(target // max(1, input_row_bytes), 2 * halo)))
    return [(y, min(n_rows, y + rows)) for y in range(0, n_rows, rows)]
