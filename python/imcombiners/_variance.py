"""Input variance planes: validation, and the variance of raw frames from errors or a noise model.

A variance plane has one value per sample, the variance of that sample in the stack's units
squared. It can be given as an array of the stack's shape, as one value per frame, or derived
from a standard-deviation (error) plane or from the CCD noise model. A sample whose variance is
NaN, infinite or negative is not used (`SampleFlags.BAD_VARIANCE`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from ._threads import get_num_threads
from ._validation import Stack, aligned, real

__all__ = ["as_variance", "plane_of", "unusable", "variance_from_error", "variance_from_noise"]


def plane_of(
    value: Any,
    stack: Stack,
    *,
    gain: Any = None,
    rdnoise: Any = None,
    snoise: Any = None,
    name: str = "variance",
) -> np.ndarray:
    """`as_variance`, or for ``value="ccd"`` the CCD noise model of the stack's raw values
    (`variance_from_noise` with ``gain`` and ``rdnoise``, which it then requires)."""
    if isinstance(value, str):
        if value.lower() != "ccd":
            raise ValueError(
                f"{name} must be an array (the stack's shape or one value per frame), a number, "
                f"or 'ccd' (the CCD noise model, with gain= and rdnoise=), got {value!r}"
            )
        if gain is None or rdnoise is None:
            raise ValueError(
                f"{name}='ccd' needs gain= (electrons per ADU) and rdnoise= (electrons); "
                f"snoise= is optional"
            )
        raw = stack.array.byteswap() if stack.swapped else stack.array
        value = variance_from_noise(
            raw, gain=gain, rdnoise=rdnoise, snoise=0.0 if snoise is None else snoise
        )
    return as_variance(value, stack, name=name)


def as_variance(value: Any, stack: Stack, *, name: str = "variance") -> np.ndarray:
    """The variance plane of ``stack``: float32 or float64, native byte order, the stack's shape.

    Parameters
    ----------
    value : array_like
        Of the stack's shape ``(N, *spatial)``, or of shape ``(N,)`` (one variance per frame,
        broadcast without a copy), or a scalar (the same for every sample). float32 and float64
        are used as they are; integers and other real types are converted to float64 (exact
        for every integer up to 2**53).
    stack : Stack
        The validated stack.
    name : str
        The parameter's name in error messages.

    Returns
    -------
    ndarray
        Read-only when it is a broadcast view.
    """
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf" or arr.dtype.kind == "b":
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        arr = arr.astype(np.float64)
    elif not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    arr = aligned(arr)  # the core reads whole, aligned items
    shape = stack.array.shape
    n = shape[0]
    if arr.shape == shape:
        return arr
    if arr.ndim == 0:
        return np.broadcast_to(arr, shape)
    if arr.shape == (n,):
        return np.broadcast_to(arr.reshape((n,) + (1,) * (len(shape) - 1)), shape)
    raise ValueError(
        f"{name} has shape {arr.shape}; expected the stack's shape {shape}, one value per "
        f"frame ({n},), or a scalar"
    )


def unusable(variance: np.ndarray) -> np.ndarray | None:
    """bool, the plane's shape: variances that are NaN, infinite or negative; None when there
    are none (checked in one parallel pass of the core, without a temporary array)."""
    if variance.size == 0 or _core.variance_usable(variance, threads=get_num_threads()):
        return None
    return ~((variance >= 0) & np.isfinite(variance))


def variance_from_error(error: Any, *, name: str = "error") -> np.ndarray:
    """The variance of samples whose standard deviation (1-sigma error) is ``error``.

    Parameters
    ----------
    error : array_like
        Standard deviations (``StdDevUncertainty``, an ``ERR`` extension).
    name : str
        The parameter's name in error messages.

    Returns
    -------
    ndarray
        ``error**2`` (float32 for float32 input, else float64). Negative errors give a
        negative variance, which marks the sample unusable like a NaN.
    """
    err = np.asarray(error)
    if err.dtype.kind not in "iuf" or err.dtype.kind == "b":
        raise TypeError(f"{name} must hold real numbers, got dtype {err.dtype}")
    dtype = np.float32 if err.dtype == np.float32 else np.float64
    err = err.astype(dtype, copy=False)
    # A negative error is not an error: keep it unusable after squaring.
    return np.where(err >= 0, np.square(err), -1.0).astype(dtype, copy=False)


def variance_from_noise(
    data: Any, *, gain: float, rdnoise: float, snoise: float = 0.0
) -> np.ndarray:
    """The variance of raw CCD samples from the noise model IRAF's ``ccdclip`` uses.

    In data units (ADU), for a sample ``x``::

        var = (rdnoise / gain)**2 + max(x, 0) / gain + (snoise * x)**2

    Parameters
    ----------
    data : array_like
        The raw samples (bias included only if ``rdnoise`` should see it; subtract the bias
        level first for a correct Poisson term).
    gain : float
        Electrons per ADU, > 0.
    rdnoise : float
        Read noise in electrons, >= 0.
    snoise : float, default 0.0
        Fractional "sensitivity" noise (flat-field errors), >= 0.

    Returns
    -------
    ndarray
        float32 for data of at most 16 bits (float32 or 8/16-bit integers), else float64.
        Non-finite samples give NaN (unusable).
    """
    gain = real(gain, name="gain", low=0.0, low_open=True)
    rdnoise = real(rdnoise, name="rdnoise", low=0.0)
    snoise = real(snoise, name="snoise", low=0.0)
    x = np.asarray(data)
    if x.dtype.kind not in "iuf" or x.dtype.kind == "b":
        raise TypeError(f"data must hold real numbers, got dtype {x.dtype}")
    small = x.dtype == np.float32 or (x.dtype.kind in "iu" and x.dtype.itemsize <= 2)
    dtype = np.float32 if small else np.float64
    xf = x.astype(dtype)
    out = np.maximum(xf, 0) / dtype(gain)
    out += dtype((rdnoise / gain) ** 2)
    if snoise:
        out += np.square(xf * dtype(snoise))
    return out
