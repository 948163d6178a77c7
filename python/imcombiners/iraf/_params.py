"""IMCOMBINE's parameters: names, allowed values, and their conversion to IRAF's internal form.

Everything here is checked before any pixel is read, so a bad value gives a ValueError naming
the parameter (IRAF itself would re-ask forever).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

#: IRAF's largest real (MAX_REAL), used for INDEF sigma limits.
MAX_REAL = float(np.finfo(np.float32).max)

COMBINES = ("average", "median", "lmedian", "sum", "quadrature", "nmodel")
REJECTS = ("none", "minmax", "ccdclip", "crreject", "sigclip", "avsigclip", "pclip")
OUTTYPES = ("short", "ushort", "integer", "long", "real", "double")
MASKTYPES = ("none", "goodvalue", "badvalue", "goodbits", "badbits")
PRODUCTS = ("sigma", "rejmask", "nrejmask", "bpmask", "expmask")

# IRAF's type precedence (ty_max): short < ushort < int < long < real < double.
_RANK = {"short": 0, "ushort": 1, "integer": 2, "long": 3, "real": 4, "double": 5}
_INTEGER_CALC = ("short", "ushort", "integer", "long")

#: Output dtype of each IRAF output type.
OUT_DTYPES = {
    "short": np.int16,
    "ushort": np.uint16,
    "integer": np.int32,
    "long": np.int32,
    "real": np.float32,
    "double": np.float64,
}


#: IRAF's integers are 32-bit: the range of nkeep, nlow, nhigh and offsets.
MAX_INT = 2**31 - 1
#: The most worker threads a call may ask for.
MAX_THREADS = 1024


def integer(name: str, value: object, low: int, high: int) -> int:
    """``value`` as an int if it is a whole number in ``low..high``.

    Parameters
    ----------
    name : str
        The parameter's name, for the messages.
    value : object
        An int (NumPy integers too) or a float holding a whole number; bool is refused.
    low, high : int
        The allowed range (inclusive).

    Returns
    -------
    int
        The value.

    Raises
    ------
    TypeError
        If ``value`` is not a number.
    ValueError
        If it is not a whole number or lies outside ``low..high``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}={value!r} must be an integer in {low}..{high}")
    if not isinstance(value, numbers.Integral):
        f = float(value)
        if not math.isfinite(f) or f != math.floor(f):
            raise ValueError(f"{name}={value!r} must be an integer in {low}..{high}")
        value = int(f)
    value = int(value)
    if not low <= value <= high:
        raise ValueError(f"{name}={value!r} is outside the allowed range {low}..{high}")
    return value


def real(name: str, value: object, *, low: float | None = None, allow: str = "") -> float:
    """``value`` as a float, refusing NaN, and infinities unless ``allow`` says so.

    Parameters
    ----------
    name : str
        The parameter's name, for the messages.
    value : object
        A real number (a numeric string is refused: IMCOMBINE's reals are numbers here).
    low : float, optional
        Smallest allowed value.
    allow : str
        ``"inf"`` to accept +-infinity (for limits, where it means "no limit").

    Returns
    -------
    float
        The value.

    Raises
    ------
    TypeError
        If ``value`` is not a real number.
    ValueError
        If it is NaN, infinite (unless allowed) or below ``low``.
    """
    wanted = "a number" if low is None else f"a number >= {low:g}"
    if allow != "inf":
        wanted += " (finite)"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}={value!r} must be {wanted}")
    f = float(value)
    if math.isnan(f) or (math.isinf(f) and allow != "inf") or (low is not None and f < low):
        raise ValueError(f"{name}={value!r} must be {wanted}")
    return f


def grow_radius(grow: object) -> float:
    """IMCOMBINE's grow: a finite radius >= 0 in pixels."""
    return real("grow", grow, low=0.0)


def bounded_grow(grow: float, shape: tuple[int, ...]) -> float:
    """``grow`` capped just past the diagonal of images of ``shape`` (1-D or 2-D).

    IRAF's grow is a disc of radius ``grow`` (``dx^2 + dy^2 <= grow^2``) about each rejected
    pixel. Once the radius passes the image diagonal, the disc covers the whole image, so any
    larger radius removes exactly the same pixels; only the work grows (with the radius
    squared). One pixel past the diagonal keeps the disc test of the core (float32 squares)
    clear of rounding for any image size that fits in memory.

    Parameters
    ----------
    grow : float
        A finite radius >= 0 (see `grow_radius`).
    shape : tuple of int
        Spatial shape of the images the core combines.

    Returns
    -------
    float
        ``min(grow, diagonal + 1)``.
    """
    diagonal = math.hypot(*[max(0, int(s) - 1) for s in shape]) if shape else 0.0
    return min(grow, math.floor(diagonal) + 2.0)


def threads_count(threads: object) -> int | None:
    """The ``threads`` parameter: None (the default) or 1..MAX_THREADS."""
    if threads is None:
        return None
    return integer("threads", threads, 1, MAX_THREADS)


def hdu_spec(hdu: object) -> int | str:
    """The ``hdu`` parameter: an extension number >= 0 or an extension name."""
    if isinstance(hdu, str):
        return hdu
    return integer("hdu", hdu, 0, MAX_INT)


def blank_value(blank: object, outtype: str) -> float:
    """``blank`` for an output of ``outtype``: within IRAF's real range; NaN and infinities only
    for the floating-point outtypes (an integer image cannot hold them)."""
    is_real = isinstance(blank, numbers.Real) and not isinstance(blank, bool)
    if outtype in ("real", "double"):
        if is_real and math.isnan(float(blank)):
            return math.nan
        value = real("blank", blank, allow="inf")
        if math.isfinite(value) and abs(value) > MAX_REAL:
            raise ValueError(f"blank={blank!r} is beyond IRAF's real range (+-{MAX_REAL:g})")
        return value
    if is_real and not math.isfinite(float(blank)):
        raise ValueError(f"blank={blank!r} must be finite for outtype={outtype!r}")
    value = real("blank", blank)
    if abs(value) > MAX_REAL:
        raise ValueError(f"blank={blank!r} is beyond IRAF's real range (+-{MAX_REAL:g})")
    return value


def choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    """Lower-cased ``value`` if it is one of ``allowed``, else a ValueError naming ``name``."""
    if not isinstance(value, str) or value.lower() not in allowed:
        raise ValueError(f"{name}={value!r} is not one of {', '.join(allowed)}")
    return value.lower()


def iraf_type(dtype: np.dtype) -> str:
    """The IRAF pixel type an input array of ``dtype`` (any byte order) is read as."""
    dtype = np.dtype(dtype).newbyteorder("=")
    if dtype == np.uint8 or dtype == np.uint16:
        return "ushort"
    if dtype == np.int16:
        return "short"
    if dtype == np.int32:
        return "integer"
    if dtype == np.float32:
        return "real"
    if dtype == np.float64:
        return "double"
    raise TypeError(
        f"IMCOMBINE input of dtype {dtype} is not supported; cast to float32 or float64 first"
    )


def calc_type(in_types: list[str], outtype: str) -> str:
    """IRAF's calculation type: the highest of the input types and the output type.

    A mix of short and ushort inputs is promoted to integer, as IRAF does.
    """
    types = set(in_types)
    if {"short", "ushort"} <= types:
        types = (types - {"short", "ushort"}) | {"integer"}
    best = max([*types, outtype], key=_RANK.__getitem__)
    return best


def is_integer_calc(calc: str) -> bool:
    """True when IRAF computes in an integer instantiation (scaled values are truncated)."""
    return calc in _INTEGER_CALC


def sigma_limit(name: str, value: float | None) -> float:
    """A clipping limit in sigma; None (INDEF) means no limit."""
    if value is None:
        return MAX_REAL
    value = real(name, value, low=0.0, allow="inf")
    return min(value, MAX_REAL)


def pclip_count(pclip: float | None, nimages: int) -> float:
    """Converts IRAF's pclip parameter to the signed pixel offset used per pixel.

    A fraction (|pclip| < 1) is taken of int(N/2); the result is truncated and kept within
    -int(N/2)..-1 or 1..int(N/2).
    """
    p = np.float32(pclip_value(pclip))
    if p == 0:
        raise ValueError(
            f"pclip={pclip!r} is not allowed (IRAF refuses 0); use a nonzero finite number "
            f"within +-{MAX_REAL:g}"
        )
    half = int(nimages / 2)
    if abs(p) < 1:
        p = np.float32(p * np.float32(half))
    if p < 0:
        return float(min(-1, max(-half, int(p))))
    return float(max(1, min(half, int(p))))


def pclip_value(pclip: object) -> float:
    """The ``pclip`` parameter: a finite number (None is IRAF's default, -0.5).

    Zero is refused only where pclip is used (`pclip_count`), as IRAF does.
    """
    if pclip is None:
        return -0.5
    wanted = (
        f"must be a finite nonzero number within +-{MAX_REAL:g} (|pclip| < 1: a fraction of "
        "N/2; else a count of pixels, limited to 1..N/2)"
    )
    if isinstance(pclip, bool) or not isinstance(pclip, numbers.Real):
        raise TypeError(f"pclip={pclip!r} {wanted}")
    value = float(pclip)
    if not abs(value) <= MAX_REAL:
        raise ValueError(f"pclip={pclip!r} {wanted}")
    return value


def minmax_fractions(nlow: int, nhigh: int, nimages: int) -> tuple[float, float] | None:
    """nlow/nhigh as IRAF's fractions of the stack; None when nothing would be rejected."""
    nlow, nhigh = minmax_count("nlow", nlow), minmax_count("nhigh", nhigh)
    n = np.float32(nimages)
    flow, fhigh = np.float32(nlow), np.float32(nhigh)
    if flow >= 1:
        flow = np.float32(flow / n)
    if fhigh >= 1:
        fhigh = np.float32(fhigh / n)
    lo, hi = int(flow * n), int(fhigh * n)
    if lo + hi == 0:
        return None
    if lo + hi >= nimages:
        raise ValueError(
            f"bad minmax rejection parameters: nlow + nhigh = {nlow + nhigh} leaves no pixel "
            f"of {nimages} images"
        )
    return float(flow), float(fhigh)


def int_param(name: str, value: object, low: int, high: int) -> int:
    """An IRAF int parameter (nlow, nhigh, nkeep): a Python or NumPy int in ``low..high``.

    Floats are refused (IRAF would silently truncate 0.5 to 0).
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name}={value!r} must be an integer in {low}..{high}")
    return integer(name, value, low, high)


def minmax_count(name: str, value: object) -> int:
    """nlow or nhigh: an integer in 0..MAX_INT (IRAF's nlow/nhigh are int)."""
    return int_param(name, value, 0, MAX_INT)


def _noise_term(name: str, values: np.ndarray) -> np.ndarray:
    """One CCD noise parameter as IRAF's reals, refusing NaN and values beyond the real range."""
    v = np.asarray(values, np.float64)
    if not np.all(np.abs(v) <= MAX_REAL):
        raise ValueError(
            f"{name} must be finite and within IRAF's real range (+-{MAX_REAL:g}), got {v.tolist()}"
        )
    return v.astype(np.float32)


def nmodel_terms(
    rdnoise: np.ndarray, gain: np.ndarray, snoise: np.ndarray, scales: np.ndarray
) -> list[list[float]]:
    """combine=nmodel's noise model of the scaled values: the CCD model with gain * scale."""
    g = _noise_term("gain", gain)
    with np.errstate(over="ignore"):
        g = np.float32(g * np.asarray(scales, np.float32))
    return noise_model(rdnoise, g, snoise)


def noise_model(rdnoise: np.ndarray, gain: np.ndarray, snoise: np.ndarray) -> list[list[float]]:
    """Per-image CCD noise terms as IRAF keeps them: ((rdnoise/gain)^2, gain, snoise), in real.

    Raises
    ------
    ValueError
        Naming the parameter: gain must be > 0; all must be finite reals, and so must
        ``(rdnoise/gain)**2``.
    """
    rd = _noise_term("rdnoise", rdnoise)
    g = _noise_term("gain", gain)
    sn = _noise_term("snoise", snoise)
    if np.any(g <= 0):
        raise ValueError(f"gain must be > 0, got {g.tolist()}")
    tiny = np.float32(1e4) / np.float32(MAX_REAL)
    with np.errstate(over="ignore"):
        q = np.float32(rd / g)
        var = np.maximum(q * q, tiny)
    if not np.all(np.isfinite(var)):
        raise ValueError(
            f"rdnoise / gain is too large: its square overflows IRAF's real range "
            f"(rdnoise {rd.tolist()}, gain {g.tolist()})"
        )
    return [[float(a), float(b), float(c)] for a, b, c in zip(var, g, sn, strict=False)]
