"""IMCOMBINE's parameters as the IRAF style reads them: ``name=value`` and IRAF's value syntax.

The tables here say which parameters exist (`_IRAF_KINDS`, with the type of each value), which
name output files (`IRAF_PRODUCTS`) and which imcombiners does not implement; `iraf_value`
reads a value (``yes``/``no``, ``INDEF``, numbers, optionally quoted strings).
"""

from __future__ import annotations

import inspect
import re
from typing import Any

from ._errors import CliError
from ._options import INT64_MAX, INT64_MIN, hdu_of, int_in_range

# IMCOMBINE parameters the IRAF style accepts, with how their values are read.
_IRAF_KINDS: dict[str, str] = {
    "combine": "str",
    "reject": "str",
    "outtype": "str",
    "offsets": "str",
    "masktype": "str",
    "maskvalue": "int",
    "blank": "real",
    "scale": "str",
    "zero": "str",
    "weight": "str",
    "statsec": "str",
    "expname": "str",
    "lthreshold": "indef",
    "hthreshold": "indef",
    "nlow": "int",
    "nhigh": "int",
    "nkeep": "int",
    "mclip": "bool",
    "lsigma": "indef",
    "hsigma": "indef",
    "rdnoise": "str",
    "gain": "str",
    "snoise": "str",
    "sigscale": "indef",
    "pclip": "indef",
    "grow": "real",
    "hdu": "hdu",
    "iraf_defects": "bool",
}

# IRAF's output-name parameters -> the product of imc.iraf.imcombine they name.
IRAF_PRODUCTS = {
    "sigmas": "sigma",
    "rejmasks": "rejmask",
    "nrejmasks": "nrejmask",
    "bpmasks": "bpmask",
    "expmasks": "expmask",
}

# IMCOMBINE parameters that imcombiners does not implement.
_IRAF_UNSUPPORTED = ("headers", "imcmb", "logfile", "project", "outlimits")


_KEY_VALUE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_FITS_SUFFIXES = (".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz", ".fits.fz")


def is_key_value(arg: str) -> bool:
    return not arg.startswith("-") and bool(_KEY_VALUE.match(arg))


def _unquote(text: str) -> str:
    s = text.strip()
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"'":
        return s[1:-1]
    return s


def iraf_value(name: str, text: str) -> Any:
    """An IMCOMBINE parameter value from IRAF's syntax.

    Parameters
    ----------
    name : str
        The parameter (decides the type).
    text : str
        The value as typed: ``yes``/``no`` for booleans, ``INDEF`` for no value (None), a
        number, or a string (optionally quoted).

    Returns
    -------
    bool, int, float, str or None

    Raises
    ------
    CliError
        When the text is not a value of the parameter's type.

    Examples
    --------
    >>> iraf_value("mclip", "no"), iraf_value("lsigma", "INDEF"), iraf_value("nkeep", "2")
    (False, None, 2)
    """
    kind = _IRAF_KINDS[name]
    s = _unquote(text)
    if kind == "str":
        return s
    if kind == "hdu":
        return hdu_of(s) if s else 0
    if kind == "bool":
        low = s.lower()
        if low in ("yes", "y", "true"):
            return True
        if low in ("no", "n", "false"):
            return False
        raise CliError(f"{name}={text}: expected yes or no")
    if kind == "indef" and s.upper() == "INDEF":
        return None
    try:
        if kind == "int":
            return int_in_range(int(s), f"{name}=", INT64_MIN, INT64_MAX)
        return float(s)
    except ValueError:
        what = {"int": "an integer", "real": "a number", "indef": "a number or INDEF"}[kind]
        raise CliError(f"{name}={text}: expected {what}") from None


def _fits_name(name: str) -> str:
    """IRAF's output naming: ``.fits`` is appended to a name without a FITS suffix."""
    return name if name.lower().endswith(_FITS_SUFFIXES) else name + ".fits"


def iraf_defaults() -> dict[str, Any]:
    from ..iraf import imcombine

    params = inspect.signature(imcombine).parameters
    return {name: params[name].default for name in _IRAF_KINDS if name in params}


def iraf_syntax(value: Any) -> str:
    if value is None:
        return "INDEF"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value if value and " " not in value else f'"{value}"'
    return str(value)
