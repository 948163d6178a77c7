"""Argument checks shared by every entry point: dtype policy, shapes, parameters, messages.

Errors name the argument, say what was expected and show what arrived. Wrong types raise
``TypeError``; wrong values raise ``ValueError``.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, NamedTuple

import numpy as np

#: Accepted stack dtypes and the floating workspace each is combined in.
WORK_DTYPES: dict[np.dtype, np.dtype] = {
    np.dtype(np.uint8): np.dtype(np.float32),
    np.dtype(np.uint16): np.dtype(np.float32),
    np.dtype(np.int16): np.dtype(np.float32),
    np.dtype(np.int32): np.dtype(np.float64),
    np.dtype(np.float32): np.dtype(np.float32),
    np.dtype(np.float64): np.dtype(np.float64),
}

#: Canonical combine method names and their aliases (matched case-insensitively).
METHOD_ALIASES: dict[str, str] = {
    "mean": "mean",
    "average": "mean",
    "avg": "mean",
    "median": "median",
    "med": "median",
    "lmedian": "lmedian",
    "lmed": "lmedian",
    "sum": "sum",
    "min": "min",
    "max": "max",
    "variance": "variance",
    "var": "variance",
    "weighted_average": "weighted_average",
    "wvg": "weighted_average",
}

#: Methods whose result is one of the samples, so an integer stack can keep its dtype.
SAMPLE_SELECTING = frozenset({"lmedian", "min", "max"})


def _cast_advice(dtype: np.dtype, arr: str) -> str:
    """The explicit cast to suggest for an unsupported dtype of the argument named ``arr``."""
    if dtype.kind == "b":
        return f"{arr}.astype(np.uint8)"
    if dtype.kind == "i" and dtype.itemsize == 1:
        return f"{arr}.astype(np.int16)"
    if dtype.kind in "iu":
        return (
            f"{arr}.astype(np.float64) (exact for |values| < 2**53), or "
            f"{arr}.astype(np.int32) "
            "if every value fits"
        )
    if dtype.kind == "f" and dtype.itemsize < 4:
        return f"{arr}.astype(np.float32)"
    if dtype.kind == "f":
        return f"{arr}.astype(np.float64) (this rounds extended precision)"
    if dtype.kind == "c":
        return f"np.abs({arr}).astype(np.float64) or {arr}.real.astype(np.float64)"
    return f"np.asarray({arr}).astype(np.float64)"


def check_dtype(dtype: np.dtype, *, name: str) -> None:
    """Raise ``TypeError`` unless ``dtype`` is one of the accepted stack dtypes."""
    native = dtype.newbyteorder("=") if dtype.byteorder not in "=|" else dtype
    if native not in WORK_DTYPES:
        accepted = ", ".join(str(d) for d in WORK_DTYPES)
        raise TypeError(
            f"{name} has unsupported dtype {dtype} ({dtype.name}); accepted dtypes are "
            f"{accepted}. Nothing is cast silently: convert explicitly, e.g. "
            f"{_cast_advice(native, name)}"
        )


class Stack(NamedTuple):
    """A validated stack ready for the core."""

    array: np.ndarray
    """The caller's data in native byte order (a view; a copy only when the items are not aligned,
    see `aligned`)."""
    swapped: bool
    """True when the caller's data were in foreign byte order (the core swaps on read)."""
    dtype: np.dtype
    """The accepted dtype in native byte order."""
    masked: np.ndarray | None
    """The mask of a ``numpy.ma.MaskedArray`` input, if any."""

    @property
    def work_dtype(self) -> np.dtype:
        return WORK_DTYPES[self.dtype]

    @property
    def is_integer(self) -> bool:
        return self.dtype.kind in "iu"


def aligned(a: np.ndarray) -> np.ndarray:
    """``a`` itself, or an aligned contiguous copy when the core could not address its items.

    A field of a packed record array has byte strides that are not a multiple of the item size
    (and may start at an odd address); the core reads whole items, so such arrays are copied
    (the caller's array is not touched).
    """
    size = a.dtype.itemsize
    # An axis of length 1 is never stepped along, so its stride does not matter.
    steps = zip(a.strides, a.shape, strict=True)
    if a.flags.aligned and all(s % size == 0 for s, n in steps if n > 1):
        return a
    return np.array(a, order="C", copy=True)  # not ascontiguousarray: it may return `a` itself


def as_stack(arr: Any, *, name: str) -> Stack:
    """Validate a stack ``(N, *spatial)``; lists of frames are stacked with ``np.asarray``."""
    masked = None
    if isinstance(arr, np.ma.MaskedArray):
        masked = np.ma.getmask(arr)
        masked = None if masked is np.ma.nomask else masked
        arr = arr.data
    a = np.asarray(arr)
    check_dtype(a.dtype, name=name)
    if a.ndim < 2:
        raise ValueError(
            f"{name} must have at least 2 dimensions (N, *spatial), got shape {a.shape}"
        )
    if a.shape[0] == 0:
        raise ValueError(f"{name} holds no frames: shape {a.shape} has N = 0")
    a = aligned(a)
    swapped = not a.dtype.isnative
    if swapped:
        # Reinterpret the bytes as native (no copy); the core swaps each sample as it reads.
        a = a.view(a.dtype.newbyteorder("="))
    return Stack(a, swapped, a.dtype, masked)


def as_mask(mask: Any, stack: Stack, *, name: str = "mask") -> np.ndarray | None:
    """Validate a per-sample mask (True = do not use) and return it as a ``uint8`` view.

    The mask of a masked-array stack is OR-ed in; the caller's arrays are never modified.
    """
    m = None
    if mask is not None:
        m = np.asarray(mask)
        if m.shape != stack.array.shape:
            raise ValueError(
                f"{name} must have the stack's shape {stack.array.shape}, got shape {m.shape}"
            )
        if m.dtype != np.bool_:
            if m.dtype.kind not in "iu":
                raise TypeError(f"{name} must be a boolean array, got dtype {m.dtype}")
            m = m != 0  # an integer mask becomes a boolean copy: nonzero means masked
    if stack.masked is not None:
        m = stack.masked if m is None else (m | stack.masked)
    if m is None:
        return None
    return m.view(np.uint8)


def method_name(method: Any, *, name: str = "method") -> str:
    """The canonical name of a combine method (case-insensitive, aliases resolved)."""
    if not isinstance(method, str):
        raise TypeError(f"{name} must be a string, got {type(method).__name__}")
    canonical = METHOD_ALIASES.get(method.lower())
    if canonical is None:
        valid = ", ".join(sorted(METHOD_ALIASES))
        raise ValueError(f"{name} {method!r} is not a combine method; valid names are: {valid}")
    return canonical


def as_weights(weights: Any, n: int, *, name: str = "weights") -> np.ndarray:
    """One finite, non-negative weight per frame, as a float64 array of shape ``(n,)``."""
    w = np.asarray(weights)
    if w.dtype.kind not in "iuf" or w.dtype.kind == "b":
        raise TypeError(f"{name} must be real numbers, got dtype {w.dtype}")
    w = w.astype(np.float64)
    if w.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), one weight per frame, got {w.shape}")
    if not np.all(np.isfinite(w)):
        raise ValueError(f"{name} must be finite, got {w[~np.isfinite(w)][:3].tolist()}")
    if np.any(w < 0):
        raise ValueError(f"{name} must be >= 0, got {w[w < 0][:3].tolist()}")
    return w


#: Largest whole number a count parameter takes (the core's 64-bit range).
MAX_INT = 2**63 - 1
#: Largest number of passes of an iterative rule.
MAX_ITERS = 2**31 - 1
#: Most kernel threads (the core refuses more).
MAX_THREADS = 1024


def _whole(value: Any, *, name: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}")
    if value > high:
        raise ValueError(f"{name} must be between {low} and {high}, got {value}")
    return int(value)


def nonnegative_int(value: Any, *, name: str, high: int = MAX_INT) -> int:
    """A whole number from 0 to ``high`` (``bool`` is refused)."""
    return _whole(value, name=name, low=0, high=high)


def positive_int(value: Any, *, name: str, high: int = MAX_INT) -> int:
    """A whole number from 1 to ``high`` (``bool`` is refused)."""
    return _whole(value, name=name, low=1, high=high)


#: Rejection centres and their aliases.
CENTRE_ALIASES: dict[str, str] = {
    "mean": "mean",
    "average": "mean",
    "avg": "mean",
    "median": "median",
    "med": "median",
    "lmedian": "lmedian",
    "lmed": "lmedian",
}


def centre_name(value: Any, *, name: str = "cenfunc") -> str:
    """The canonical rejection centre (case-insensitive, aliases resolved)."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    canonical = CENTRE_ALIASES.get(value.lower())
    if canonical is None:
        raise ValueError(
            f"{name} {value!r} is not a centre; valid names are: {', '.join(CENTRE_ALIASES)}"
        )
    return canonical


def spread_name(value: Any, *, name: str = "stdfunc") -> str:
    """``std`` or ``mad``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}")
    if value.lower() not in ("std", "mad"):
        raise ValueError(f"{name} {value!r} is not a spread; valid names are: std, mad")
    return value.lower()


def real(value: Any, *, name: str, low: float | None = None, low_open: bool = False) -> float:
    """A finite real number, optionally bounded below (``low_open``: strictly above ``low``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value}")
    return value


def sigma_pair(value: Any, *, name: str = "sigma") -> tuple[float, float]:
    """A clipping multiplier or a ``(lower, upper)`` pair, each >= 0 (``inf``: that side off)."""
    if isinstance(value, tuple | list | np.ndarray):
        if len(value) != 2:
            raise ValueError(f"{name} must be a number or a (lower, upper) pair, got {value!r}")
        pair = (value[0], value[1])
    else:
        pair = (value, value)
    out = []
    for side in pair:
        if isinstance(side, numbers.Real) and not isinstance(side, bool) and side == math.inf:
            out.append(math.inf)  # no clipping on that side
        else:
            out.append(real(side, name=name, low=0.0))
    return (out[0], out[1])


def per_frame(value: Any, n: int, *, name: str, positive: bool = False) -> np.ndarray | None:
    """``None``, a number, or one finite number per frame, as a float64 array of shape ``(n,)``.

    Statistics such as ``"median"`` are resolved before (`imcombiners.normalization`).
    """
    if value is None:
        return None
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf" or arr.dtype.kind == "b":
        raise TypeError(f"{name} must be real numbers, got dtype {arr.dtype}")
    arr = np.broadcast_to(arr.astype(np.float64), (n,)) if arr.ndim == 0 else arr.astype(float)
    if arr.shape != (n,):
        raise ValueError(f"{name} must be a number or have shape ({n},), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr[~np.isfinite(arr)][:3].tolist()}")
    if positive and np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0, got {arr[arr <= 0][:3].tolist()}")
    return np.ascontiguousarray(arr)


def thresholds_pair(value: Any, *, name: str = "thresholds") -> tuple[float, float] | None:
    """``None`` or a ``(low, high)`` pair of real numbers with low <= high (either may be +-inf)."""
    if value is None:
        return None
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise ValueError(f"{name} must be a (low, high) pair, got {value!r}")
    bounds = []
    for side, v in zip(("low", "high"), value, strict=True):
        if isinstance(v, bool) or not isinstance(v, numbers.Real):
            raise TypeError(
                f"{name} must be a (low, high) pair of real numbers (use -inf or inf for an "
                f"open side), got {side} = {v!r} ({type(v).__name__})"
            )
        bounds.append(float(v))
    low, high = bounds
    if np.isnan(low) or np.isnan(high) or low > high:
        raise ValueError(f"{name} must satisfy low <= high, got {value!r}")
    return (low, high)
