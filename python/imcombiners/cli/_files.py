"""The files of a combine: input paths (globs, ``@lists``), input and output checks, writing.

Both styles name their inputs the same way (`expand_inputs`), refuse the same outputs
(`check_outputs`), and the IRAF style writes its images with a header made by `fits_header`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._errors import USAGE, CliError, describe


def expand_inputs(items: Sequence[str], *, split_commas: bool = False) -> list[str]:
    """The image paths named by command-line arguments.

    Parameters
    ----------
    items : sequence of str
        Paths, glob patterns (``raw/bias*.fits``) and ``@list`` files (one path per line; blank
        lines and ``#`` comments are skipped; a relative path is taken from the current folder
        when it exists there, else from the list's folder).
    split_commas : bool, default False
        Also split each item at commas (IRAF's ``a.fits,b.fits``).

    Returns
    -------
    list of str
        The paths, in order (the matches of a pattern sorted by name).

    Raises
    ------
    CliError
        When a pattern matches nothing, a list does not exist, or no path is left.

    Examples
    --------
    >>> expand_inputs(["a.fits,b.fits", "c.fits"], split_commas=True)
    ['a.fits', 'b.fits', 'c.fits']
    """
    paths: list[str] = []
    for item in items:
        for part in item.split(",") if split_commas else [item]:
            part = part.strip()
            if not part:
                continue
            if part.startswith("@"):
                paths.extend(read_list(part[1:]))
            elif any(c in part for c in "*?[") and not os.path.exists(part):
                matches = sorted(glob.glob(part))
                if not matches:
                    raise CliError(
                        f"no file matches {part!r} (image sections and extensions in names are "
                        "not supported: name the extension with hdu= or --hdu)"
                    )
                paths.extend(matches)
            else:
                paths.append(part)
    if not paths:
        raise CliError("no input images given", USAGE)
    return paths


def read_list(name: str) -> list[str]:
    path = Path(name)
    if not path.is_file():
        raise CliError(f"list file {name} does not exist")
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"cannot read list file {name}: {describe(exc)}") from None
    out = []
    for line in lines:
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        p = Path(entry).expanduser()
        out.append(str(p if p.is_absolute() or p.exists() else path.parent / p))
    if not out:
        raise CliError(f"list file {name} names no images")
    return out


def check_inputs(paths: Sequence[str]) -> None:
    for p in paths:
        if not os.path.exists(p):
            raise CliError(f"input file {p} does not exist")
        if os.path.isdir(p):
            raise CliError(f"input {p} is a folder, not a FITS file")
        if not os.access(p, os.R_OK):
            raise CliError(f"cannot read input file {p}: permission denied")


def check_outputs(outputs: Mapping[str, str], inputs: Sequence[str], overwrite: bool) -> None:
    """Refuse outputs that exist (without --overwrite), repeat, or would replace an input."""
    input_files = {os.path.realpath(p) for p in inputs}
    seen: dict[str, str] = {}
    for label, path in outputs.items():
        real = os.path.realpath(path)
        if real in seen:
            raise CliError(f"{label} and {seen[real]} name the same file {path}")
        seen[real] = label
        if real in input_files:
            raise CliError(f"{label} {path} is one of the inputs; inputs are never overwritten")
        if os.path.isdir(real):
            raise CliError(f"{label} {path} is a folder")
        if not os.path.isdir(os.path.dirname(real)):
            raise CliError(f"the folder of {label} {path} does not exist")
        if os.path.lexists(path) and not overwrite:
            raise CliError(f"{label} {path} exists; give --overwrite to replace it")


def fits_header(cards: Mapping[str, Any]) -> Any:
    """An ``astropy.io.fits.Header`` for a new image from a mapping of keywords.

    The structural keywords (SIMPLE, BITPIX, NAXISn, BZERO, ...) are left out: the image
    written decides them. COMMENT and HISTORY entries may hold several lines; values FITS
    cannot hold are skipped.

    Parameters
    ----------
    cards : mapping of str to value
        Keywords and values, e.g. ``ImcombineResult.header``.

    Returns
    -------
    astropy.io.fits.Header
    """
    from astropy.io import fits

    structural = re.compile(
        r"^(SIMPLE|EXTEND|XTENSION|BITPIX|NAXIS\d*|PCOUNT|GCOUNT|BZERO|BSCALE|BLANK|"
        r"CHECKSUM|DATASUM|Z[A-Z0-9_]*|TFIELDS|TTYPE\d+|TFORM\d+)$"
    )
    header = fits.Header()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for key, value in cards.items():
            k = str(key).upper()
            if structural.match(k):
                continue
            if k in ("COMMENT", "HISTORY", ""):
                lines = [value] if isinstance(value, str) else list(value)
                for line in lines:
                    header.append((k, str(line)), end=True)
                continue
            with contextlib.suppress(ValueError, TypeError, KeyError):
                header[k] = value
    return header


def write_all(
    images: Mapping[str, tuple[str, np.ndarray]], cards: Mapping[str, Any], overwrite: bool
) -> None:
    """Write every image, or none: on any failure the files already written are removed."""
    from ..io import write_fits

    header = fits_header(cards)
    written: list[str] = []
    try:
        for path, data in images.values():
            write_fits(path, data, header, overwrite=overwrite)
            written.append(path)
    except BaseException:
        for path in written:
            with contextlib.suppress(OSError):
                os.remove(path)
        raise
