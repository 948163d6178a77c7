"""The compact one-call wrapper."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import kernels
from ._validation import as_mask, as_stack, method_name


def ndcombine(
    stack: Any,
    *,
    combine: str = "mean",
    mask: Any = None,
    weights: Any = None,
    ddof: int = 0,
) -> np.ndarray:
    """Combine a stack along axis 0 in one call.

    Gives the same numbers as ``Combiner(stack, mask).combine(combine, ...)``. When nothing but
    the method is given, ``lmedian``, ``min`` and ``max`` of an integer stack keep its dtype.

    Parameters
    ----------
    stack : array_like of shape (N, *spatial)
        The frames.
    combine : str, default "mean"
        The combine method (see `Combiner.combine`); case-insensitive.
    mask : array_like of bool and shape (N, *spatial), optional
        True where a sample must not be used.
    weights : array_like of shape (N,), optional
        One weight per frame for the weighted average.
    ddof : int, default 0
        Delta degrees of freedom of ``variance``.

    Returns
    -------
    ndarray of shape (*spatial)

    Examples
    --------
    >>> imc.ndcombine(np.array([[2, 7], [5, 1]], dtype="uint16"), combine="lmed")
    array([2, 1], dtype=uint16)
    """
    name = method_name(combine, name="combine")
    s = as_stack(stack, name="stack")
    m = as_mask(mask, s)
    return kernels._combine_by_name(s, name, mask=m, weights=weights, ddof=ddof, keep_dtype=True)
