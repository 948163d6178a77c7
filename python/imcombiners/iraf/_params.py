"""IMCOMBINE's parameters: names, allowed values, and their conversion to IRAF's internal form.

Everything here is checked before any pixel is read, so a bad value gives a ValueError naming
the parameter (IRAF itself would re-ask forever).
"""

from __future__ import annotations

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
    value = float(value)
    if not value >= 0:
        raise ValueError(f"{name}={value!r} must be >= 0 (or None for no limit)")
    return value


def pclip_count(pclip: float | None, nimages: int) -> float:
    """Converts IRAF's pclip parameter to the signed pixel offset used per pixel.

    A fraction (|pclip| < 1) is taken of int(N/2); the result is truncated and kept within
    -int(N/2)..-1 or 1..int(N/2).
    """
    p = np.float32(-0.5 if pclip is None else pclip)
    if p == 0:
        raise ValueError("pclip=0 is not allowed (IRAF refuses it); use a nonzero value")
    half = int(nimages / 2)
    if abs(p) < 1:
        p = np.float32(p * np.float32(half))
    if p < 0:
        return float(min(-1, max(-half, int(p))))
    return float(max(1, min(half, int(p))))


def minmax_fractions(nlow: int, nhigh: int, nimages: int) -> tuple[float, float] | None:
    """nlow/nhigh as IRAF's fractions of the stack; None when nothing would be rejected."""
    for name, v in (("nlow", nlow), ("nhigh", nhigh)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 0:
            raise ValueError(f"{name}={v!r} must be an integer >= 0 (IRAF's nlow/nhigh are int)")
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


def nmodel_terms(
    rdnoise: np.ndarray, gain: np.ndarray, snoise: np.ndarray, scales: np.ndarray
) -> list[list[float]]:
    """combine=nmodel's noise model of the scaled values: the CCD model with gain * scale."""
    g = np.float32(np.asarray(gain, np.float32) * np.asarray(scales, np.float32))
    return noise_model(rdnoise, g, snoise)


def noise_model(rdnoise: np.ndarray, gain: np.ndarray, snoise: np.ndarray) -> list[list[float]]:
    """Per-image CCD noise terms as IRAF keeps them: ((rdnoise/gain)^2, gain, snoise), in real."""
    rd = np.asarray(rdnoise, np.float32)
    g = np.asarray(gain, np.float32)
    sn = np.asarray(snoise, np.float32)
    if np.any(~np.isfinite(g)) or np.any(g <= 0):
        raise ValueError(f"gain must be > 0, got {g.tolist()}")
    if np.any(~np.isfinite(rd)) or np.any(~np.isfinite(sn)):
        raise ValueError("rdnoise and snoise must be finite")
    tiny = np.float32(1e4) / np.float32(MAX_REAL)
    q = np.float32(rd / g)
    var = np.maximum(q * q, tiny)
    return [[float(a), float(b), float(c)] for a, b, c in zip(var, g, sn, strict=False)]
