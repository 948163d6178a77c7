"""The Combiner: a stack, its mask, and the combine methods run on them."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import kernels
from ._validation import as_mask, as_stack, method_name, nonnegative_int


class Combiner:
    """Combine a stack of images along axis 0.

    Parameters
    ----------
    stack : array_like of shape (N, *spatial)
        The frames: uint8, uint16, int16, int32, float32 or float64, any byte order or strides.
        A ``numpy.ma.MaskedArray`` contributes its mask. The array is never modified or copied.
    mask : array_like of bool and shape (N, *spatial), optional
        True where a sample must not be used (bad pixels). NaN and +-inf samples are always
        treated as masked.

    Notes
    -----
    Results are in the floating workspace: float32 for uint8, uint16, int16 and float32 stacks,
    float64 for int32 and float64 stacks.

    Examples
    --------
    >>> stack = np.array([[1.0, 2.0], [3.0, np.nan], [2.0, 9.0]], dtype="float32")
    >>> imc.Combiner(stack).combine("median")
    array([2. , 5.5], dtype=float32)
    """

    def __init__(self, stack: Any, mask: Any = None) -> None:
        self._stack = as_stack(stack, name="stack")
        self._arr = np.asarray(stack.data if isinstance(stack, np.ma.MaskedArray) else stack)
        self._mask = as_mask(mask, self._stack)

    @property
    def arr(self) -> np.ndarray:
        """ndarray of shape (N, *spatial): the stack as given (not a copy)."""
        return self._arr

    @property
    def mask(self) -> np.ndarray:
        """ndarray of bool and shape (N, *spatial): True where a sample is not used.

        Non-finite samples are not listed here; they are excluded in any case.
        """
        if self._mask is None:
            return np.zeros(self._arr.shape, dtype=bool)
        return self._mask.view(bool)

    @property
    def shape(self) -> tuple[int, ...]:
        """The stack's shape ``(N, *spatial)``."""
        return self._arr.shape

    def combine(self, method: str = "mean", *, weights: Any = None, ddof: int = 0) -> np.ndarray:
        """Combine the valid samples of each output element.

        Parameters
        ----------
        method : str, default "mean"
            ``mean`` (``average``, ``avg``), ``median`` (``med``), ``lmedian`` (``lmed``),
            ``sum``, ``min``, ``max``, ``variance`` (``var``) or ``weighted_average``
            (``wvg``); case-insensitive.
        weights : array_like of shape (N,), optional
            One finite, non-negative weight per frame, for ``weighted_average`` (or ``mean``,
            which then becomes the weighted average). Renormalised over the valid samples of
            each output element.
        ddof : int, default 0
            Delta degrees of freedom of ``variance``.

        Returns
        -------
        ndarray of shape (*spatial)
        """
        name = method_name(method)
        return kernels._combine_by_name(
            self._stack, name, mask=self._mask, weights=weights, ddof=ddof, keep_dtype=False
        )

    def variance(
        self, ddof: int = 0, return_mean: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Variance of the valid samples, as ``np.nanvar(arr_eff, axis=0, ddof=ddof)``.

        Parameters
        ----------
        ddof : int, default 0
            Delta degrees of freedom (divisor ``n - ddof``; NaN where that is <= 0).
        return_mean : bool, default False
            Also return the mean of the same samples.

        Returns
        -------
        variance : ndarray of shape (*spatial)
        mean : ndarray of shape (*spatial)
            Only with ``return_mean=True``.
        """
        ddof = nonnegative_int(ddof, name="ddof")
        return kernels._variance(
            self._stack, ddof=ddof, return_mean=bool(return_mean), mask=self._mask
        )

    def __repr__(self) -> str:
        return f"Combiner(shape={self._arr.shape}, dtype={self._arr.dtype})"
