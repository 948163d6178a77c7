"""The header of a combined image: the first input's header plus what was done to make it."""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from .writer import is_structural

_CD = re.compile(r"^CD\d+_\d+$")
_PC = re.compile(r"^PC\d+_\d+$")
_HISTORY_WIDTH = 70


def exptimes(headers: Sequence[Any]) -> list[float] | None:
    """EXPTIME of every header when all have a number, else None."""
    out = []
    for h in headers:
        v = h.get("EXPTIME")
        if isinstance(v, bool) or not isinstance(v, int | float):
            return None
        out.append(float(v))
    return out


def clean_wcs(header: Any) -> None:
    """Make the WCS of ``header`` unambiguous, in place: where a CD matrix is present, the PC
    matrix (and the CDELT scales that belong to it) go, so readers cannot mix the two."""
    keys = list(header.keys())
    if any(_CD.match(k) for k in keys):
        for k in keys:
            if _PC.match(k) or re.match(r"^CDELT\d+$", k):
                del header[k]


def _history(header: Any, text: str) -> None:
    """Add ``text`` as HISTORY cards, wrapped on spaces."""
    line = ""
    for word in text.split(" "):
        if line and len(line) + 1 + len(word) > _HISTORY_WIDTH:
            header.add_history(line)
            line = "  " + word
        else:
            line = f"{line} {word}" if line else word
    if line:
        header.add_history(line)


def provenance_header(
    first: Any,
    names: Sequence[str],
    *,
    method: str,
    exptimes: Sequence[float] | None,
    steps: Sequence[str],
    zero: np.ndarray | None,
    scale: np.ndarray | None,
    weights: np.ndarray | None,
    version: str,
) -> Any:
    """The output header.

    Parameters
    ----------
    first : astropy.io.fits.Header
        The first input's header (copied; layout keywords dropped).
    names : sequence of str
        The input file names (IMCMB001 ...).
    method : str
        The combine method.
    exptimes : sequence of float or None
        EXPTIME of every input when all have one: the output gets their sum for ``sum`` and
        their mean otherwise.
    steps : sequence of str
        Descriptions of the thresholds, rejectors and grow applied, in order.
    zero, scale, weights : ndarray of shape (N,) or None
        The per-frame corrections applied.
    version : str
        The package version.
    """
    from astropy.io import fits

    out = fits.Header()
    for card in first.cards:
        if not is_structural(card.keyword) and card.keyword not in ("NCOMBINE",):
            if re.match(r"^IMCMB\d{3}$", card.keyword):
                continue
            out.append(card, end=True)
    clean_wcs(out)
    n = len(names)
    out["NCOMBINE"] = (n, "number of images combined")
    for i, name in enumerate(names[:999], start=1):
        out[f"IMCMB{i:03d}"] = name
    if exptimes is not None:
        total = float(np.sum(exptimes))
        value = total if method == "sum" else total / n
        how = "sum" if method == "sum" else "mean"
        out["EXPTIME"] = (value, f"[s] {how} of the inputs' EXPTIME")
    out["DATE"] = (
        datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S"),
        "UTC date this file was written",
    )
    _history(out, f"imcombiners {version}: {method} of {n} images")
    for s in steps:
        _history(out, s)
    for label, values in (("zero", zero), ("scale", scale), ("weight", weights)):
        if values is None:
            continue
        for i, (name, v) in enumerate(zip(names, values, strict=True)):
            _history(out, f"{label} {i + 1} {name}: {float(v):.8g}")
    return out
