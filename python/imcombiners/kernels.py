"""Direct kernels: validated entry points to the compiled core, one per operation.

Every kernel reduces a stack ``(N, *spatial)`` along axis 0 to ``(*spatial)``. NaN and
+-inf samples are missing; a ``mask`` (True = do not use) marks more samples as missing.
An output element with no valid sample is NaN. Accumulations run in float64.

Output dtypes: uint8, uint16, int16 and float32 stacks give float32; int32 and float64 stacks
give float64. `lmedian`, `minimum` and `maximum` of an integer stack without a mask keep the
integer dtype, because their result is one of the samples.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _plan, _rejection
from ._reject_kernels import make as _make_rule_kernels
from ._validation import as_mask, as_stack, as_weights, nonnegative_int, real
from .registry import RULES

__all__ = [
    "grow_mask",
    "lmedian",
    "maximum",
    "mean",
    "median",
    "minimum",
    "nanaverage",
    "sum",
    "variance",
    "weighted_average",
]


def _simple(arr: Any, method: str, mask: Any, *, keep_dtype: bool = False) -> np.ndarray:
    stack = as_stack(arr, name="arr")
    m = as_mask(mask, stack)
    return _plan.execute(_plan.Plan(method=method, keep_dtype=keep_dtype), stack, m).combined


def median(arr: Any, *, mask: Any = None) -> np.ndarray:
    """Median along axis 0 of the valid samples.

    For an even number ``n`` of valid samples the result is the mean of the two middle values.

    Parameters
    ----------
    arr : array_like of shape (N, *spatial)
        The stack; uint8, uint16, int16, int32, float32 or float64, any byte order or strides.
    mask : array_like of bool and shape (N, *spatial), optional
        True where a sample must not be used.

    Returns
    -------
    ndarray of shape (*spatial)
        float32 for uint8/uint16/int16/float32 stacks, float64 for int32/float64 stacks.

    Examples
    --------
    >>> imck.median(np.array([[1.0, 5.0], [3.0, np.nan], [2.0, 7.0]], dtype="float32"))
    array([2., 6.], dtype=float32)
    """
    return _simple(arr, "median", mask)


def lmedian(arr: Any, *, mask: Any = None) -> np.ndarray:
    """Lower median along axis 0: the sorted valid sample at index ``(n - 1) // 2``.

    For odd ``n`` this is the median; for even ``n`` the lower of the two middle values (IRAF's
    convention). An integer stack without a mask keeps its dtype.

    Parameters
    ----------
    arr : array_like of shape (N, *spatial)
        The stack.
    mask : array_like of bool and shape (N, *spatial), optional
        True where a sample must not be used.

    Returns
    -------
    ndarray of shape (*spatial)

    Examples
    --------
    >>> imck.lmedian(np.array([[4], [1], [3], [2]], dtype="uint16"))
    array([2], dtype=uint16)
    """
    return _simple(arr, "lmedian", mask, keep_dtype=mask is None)


def mean(arr: Any, *, mask: Any = None) -> np.ndarray:
    """Mean along axis 0 of the valid samples, accumulated in float64.

    Parameters
    ----------
    arr : array_like of shape (N, *spatial)
        The stack.
    mask : array_like of bool and shape (N, *spatial), optional
        True where a sample must not be used.

    Returns
    -------
    ndarray of shape (*spatial)

    Examples
    --------
    >>> imck.mean(np.array([[1.0, np.inf], [2.0, 4.0]], dtype="float32"))
    array([1.5, 4. ], dtype=float32)
    """
    return _simple(arr, "mean", mask)


def sum(arr: Any, *, mask: Any = None) -> np.ndarray:
    """Sum along axis 0 of the valid samples, accumulated in float64.

    An output element with no valid sample is NaN, not 0.

    Parameters
    ----------
    arr : array_like of shape (N, *spatial)
        The stack.
    mask : array_like of bool and shape (N, *spatial), optional
        True where a sample must not be used.

    Returns
    -------
    ndarray of shape (*spatial)

    Examples
    --------
    >>> imck.sum(np.array([[1.0, np.nan], [2.0, np.nan]]))
    array([ 3., nan])
    """
    return _simple(arr, "sum", mask)


def minimum(arr: Any, *, mask: Any = None) -> np.ndarray:
    """Smallest valid sample along axis 0 (an integer stack without a mask keeps its dtype).

    Parameters
    ----------
    arr : array_like of shape (N, *spatial)
        The stack.
    mask : array_like of bool and shape (N, *spatial), optional
        True where a sample must not be used.

    Returns
    -------
    ndarray of shape (*spatial)

    Examples
    --------
    >>> imck.minimum(np.array([[3, 9], [5, 2]], dtype="int16"))
    array([3, 2], dtype=int16)
    """
    return _simple(arr, "min", mask, keep_dtype=mask is None)


def maximum(arr: Any, *, mask: Any = None) -> np.ndarray:
    """Largest valid sample along axis 0 (an integer stack without a mask keeps its dtype).

    Parameters
    ----------
    arr : array_like of shape (N, *spatial)
        The stack.
    mask : array_like of bool and shape (N, *spatial), optional
        True where a sample must not be used.

    Returns
    -------
    ndarray of shape (*spatial)

    Examples
    --------
    >>> imck.maximum(np.array([[3, 9], [5, 2]], dtype="int16"))
    array([5, 9], dtype=int16)
    """
    return _simple(arr, "max", mask, keep_dtype=mask is None)


def variance(
    arr: Any, ddof: int = 0, return_mean: bool = False, *, mask: Any = None
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Variance along axis 0 of the valid samples, as ``np.nanvar(arr, axis=0, ddof=ddof)``.

    Computed in float64 with two passes::

        mean = sum(x) / n;   variance = sum((x - mean)**2) / (n - ddof)

    An output element with ``n - ddof <= 0`` is NaN.

    Parameters
    ----------
    arr : array_like of shape (N, *spatial)
        The stack.
    ddof : int, default 0
        Delta degrees of freedom.
    return_mean : bool, default False
        Also return the mean of the same samples.
    mask : array_like of bool and shape (N, *spatial), optional
        True where a sample must not be used.

    Returns
    -------
    variance : ndarray of shape (*spatial)
    mean : ndarray of shape (*spatial)
        Only with ``return_mean=True``.

    Examples
    --------
    >>> imck.variance(np.array([[1.0], [3.0]]), ddof=1)
    array([2.])
    """
    stack = as_stack(arr, name="arr")
    ddof = nonnegative_int(ddof, name="ddof")
    m = as_mask(mask, stack)
    return _plan.variance(stack, m, ddof=ddof, return_mean=bool(return_mean))


def weighted_average(arr: Any, weights: Any, *, mask: Any = None) -> np.ndarray:
    """Weighted mean along axis 0, renormalised over the valid samples of each element::

        result = sum(w_i * x_i) / sum(w_i)      (sums over valid samples only)

    A masked or missing sample therefore never pulls the result towards zero. An element whose
    valid samples all have weight 0 is NaN.

    Parameters
    ----------
    arr : array_like of shape (N, *spatial)
        The stack.
    weights : array_like of shape (N,)
        One finite, non-negative weight per frame.
    mask : array_like of bool and shape (N, *spatial), optional
        True where a sample must not be used.

    Returns
    -------
    ndarray of shape (*spatial)

    Examples
    --------
    >>> imck.weighted_average(np.array([[1.0, 1.0], [4.0, np.nan]]), [1, 2])
    array([3., 1.])
    """
    stack = as_stack(arr, name="arr")
    w = as_weights(weights, stack.array.shape[0])
    plan = _plan.Plan(method="weighted_average", weights=w)
    return _plan.execute(plan, stack, as_mask(mask, stack)).combined


def grow_mask(mask: Any, radius: float) -> np.ndarray:
    """Grow a per-sample mask spatially, within each frame, by an exact Euclidean radius.

    Parameters
    ----------
    mask : array_like of bool and shape (N, *spatial)
        The samples to grow from.
    radius : float
        Distance on the integer grid of the spatial axes: in 2-D, 1 reaches the four direct
        neighbours and ``sqrt(2)`` also the diagonals. Axis 0 (the stack) is never crossed.

    Returns
    -------
    ndarray of bool and shape (N, *spatial)

    Examples
    --------
    >>> m = np.zeros((1, 3, 3), dtype=bool); m[0, 1, 1] = True
    >>> imck.grow_mask(m, 1)[0].astype(int)
    array([[0, 1, 0],
           [1, 1, 1],
           [0, 1, 0]])
    """
    m = np.asarray(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"mask must be a boolean array, got dtype {m.dtype}")
    if m.ndim < 2:
        raise ValueError(f"mask must have at least 2 dimensions (N, *spatial), got {m.shape}")
    return _rejection.grow(m, real(radius, name="radius", low=0.0))


def nanaverage(arr: Any, weights: Any, *, mask: Any = None) -> np.ndarray:
    """Same as `weighted_average` (the imcombiners 0.1.1 name).

    Examples
    --------
    >>> imck.nanaverage(np.array([[1.0, 1.0], [4.0, np.nan]]), [1, 2])
    array([3., 1.])
    """
    return weighted_average(arr, weights, mask=mask)


def _rule_kernels() -> list[str]:
    """Define ``<rule>``, ``<rule>_mask`` and ``<rule>_combine`` for every registered rule."""
    names = []
    for entry in RULES.values():
        for func in _make_rule_kernels(entry.cls, __name__):
            globals()[func.__name__] = func
            names.append(func.__name__)
    return names


__all__ += _rule_kernels()
