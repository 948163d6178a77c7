"""The Combiner: a stack, its mask, the rejection steps taken, and the combine methods."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from . import _rejection, kernels, normalization
from ._validation import (
    as_mask,
    as_stack,
    method_name,
    nonnegative_int,
    real,
    thresholds_pair,
)
from .flags import SampleFlags

_DIAGNOSTICS = (None, "simple", "full")


def _diagnostics_level(value: Any) -> str | None:
    if value not in _DIAGNOSTICS:
        raise ValueError(f"diagnostics must be None, 'simple' or 'full', got {value!r}")
    return value


class Step(NamedTuple):
    """One rejection step in `Combiner.history`."""

    rejectors: tuple[Any, ...]
    grow: float | None
    thresholds: tuple[float, float] | None
    n_rejected: int


class Combiner:
    """Combine a stack of images along axis 0, with optional rejection.

    Parameters
    ----------
    stack : array_like of shape (N, *spatial), or sequence of CCDData/NDData
        The frames: uint8, uint16, int16, int32, float32 or float64, any byte order or strides.
        A ``numpy.ma.MaskedArray`` contributes its mask. The array is never modified or copied.
        A list of astropy ``CCDData``/``NDData`` (same shape and unit) is stacked (one copy);
        each one's mask is OR-ed into ``mask`` and the common unit is kept in `unit`.
    mask : array_like of bool and shape (N, *spatial), optional
        True where a sample must not be used (bad pixels). NaN and +-inf samples are always
        treated as masked. The caller's mask is never modified: rejections are OR-ed into a
        mask of the Combiner's own.

    Attributes
    ----------
    arr : ndarray of shape (N, *spatial)
        The stack as given.
    mask : ndarray of bool and shape (N, *spatial)
        Samples not used: the input mask plus every rejection so far.
    mask_rej : ndarray of bool and shape (N, *spatial) or None
        Samples rejected by the latest rejection step (grown samples included).
    last_reject : tuple or None
        ``(mask_rej, std, low, upp, nit, output_flags)`` of the latest step.
    output_flags : ndarray of uint8 or None
        Per output element, `OutputFlags` bits of the latest step.
    sample_flags : ndarray of uint8 and shape (N, *spatial) or None
        Per sample, `SampleFlags` bits of the latest step (``diagnostics="full"`` only).
    history : list of Step
        The rejection steps taken, in order.
    unit : astropy.units.Unit or None
        The unit of CCDData/NDData input (None otherwise).
    zero, scale : ndarray of shape (N,) or None
        The correction set by `zero_scale`, applied by later `reject`, `combine` and
        `variance` calls.

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
        self.unit = None
        if _nddata_sequence(stack):
            from .ccddata import stack_from_nddata

            stack, own_mask, self.unit = stack_from_nddata(stack)
            if own_mask is not None:
                mask = own_mask if mask is None else (np.asarray(mask) != 0) | own_mask
        self._stack = as_stack(stack, name="stack")
        self._arr = np.asarray(stack.data if isinstance(stack, np.ma.MaskedArray) else stack)
        self._input_mask = as_mask(mask, self._stack)
        self._mask = self._input_mask  # uint8 view; replaced (never written) by rejections
        self.mask_rej: np.ndarray | None = None
        self.last_reject: _rejection.RejectResult | None = None
        self.output_flags: np.ndarray | None = None
        self.sample_flags: np.ndarray | None = None
        self.history: list[Step] = []
        self.zero: np.ndarray | None = None
        self.scale: np.ndarray | None = None

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

    def zero_scale(
        self,
        zero: Any = None,
        scale: Any = None,
        *,
        thresholds: Any = None,
        stat_region: Any = None,
        stat_step: int | None = None,
        normalize: bool = True,
        sigma: float = 3.0,
        maxiters: int | None = 5,
    ) -> Combiner:
        """Set the per-frame correction ``(x - zero_i) / scale_i`` (chainable).

        Later `reject`, `combine` and `variance` calls apply it (a `combine` given its own
        ``zero`` or ``scale`` uses those instead). Statistics skip the samples the Combiner's
        mask excludes so far.

        Parameters
        ----------
        zero, scale : None, number, sequence of N numbers, str or callable
            As in `imcombiners.resolve_zero_scale`.
        thresholds : (float, float), optional
            Samples outside ``[low, high]`` do not enter the statistics (only them).
        stat_region, stat_step, normalize, sigma, maxiters
            As in `imcombiners.resolve_zero_scale`.

        Returns
        -------
        Combiner
            ``self``.

        Examples
        --------
        >>> frames = np.array([[1.0, 2.0, 30.0], [2.0, 4.0, 6.0]]).reshape(2, 3, 1)
        >>> cmb = imc.Combiner(frames).zero_scale(scale="median")
        >>> cmb.scale
        array([1., 2.])
        >>> cmb.combine("median").ravel()
        array([ 1. ,  2. , 16.5])
        """
        self.zero, self.scale = normalization.zero_scale_of(
            self._stack,
            self._mask,
            thresholds,
            zero,
            scale,
            stat_region=stat_region,
            stat_step=stat_step,
            normalize=normalize,
            sigma=sigma,
            maxiters=maxiters,
        )
        return self

    def reject(
        self,
        rejector: Any,
        *,
        grow: float | None = None,
        thresholds: Any = None,
        diagnostics: str | None = "simple",
    ) -> Combiner:
        """Reject samples and keep the result on the Combiner (chainable).

        Parameters
        ----------
        rejector : Rejector or list of Rejector
            The rule(s), applied in order; each sees the survivors of the one before.
        grow : float, optional
            Also reject the samples within this Euclidean radius (spatial axes, same frame)
            of every sample the rule rejected.
        thresholds : (float, float), optional
            Samples outside ``[low, high]`` are not used (before rejection).
        diagnostics : {"simple", "full"}, default "simple"
            ``"full"`` also fills `sample_flags`.

        Returns
        -------
        Combiner
            ``self``, for chaining ``.reject(...).combine(...)``.
        """
        level = _diagnostics_level(diagnostics) or "simple"
        rejectors = _rejection.as_rejector_list(rejector, name="rejector")
        thresholds = thresholds_pair(thresholds)
        radius = _grow_radius(grow)
        self._step(rejectors, radius, thresholds, level, self.zero, self.scale)
        return self

    def _step(
        self,
        rejectors: list[Any],
        radius: float | None,
        thresholds: tuple[float, float] | None,
        level: str,
        zero: np.ndarray | None = None,
        scale: np.ndarray | None = None,
    ) -> None:
        """One rejection step on the current mask: run it, keep its results, log it."""
        before = self._mask
        result = _rejection.step(
            self._stack,
            rejectors,
            mask=before,
            thresholds=thresholds,
            grow_radius=radius,
            zero=zero,
            scale=scale,
        )
        self._record(result, before, thresholds, level, rejectors, radius)
        self.history.append(
            Step(tuple(rejectors), radius, thresholds, int(np.count_nonzero(result.mask_rej)))
        )

    def _record(
        self,
        result: _rejection.RejectResult,
        before: np.ndarray | None,
        thresholds: tuple[float, float] | None,
        level: str,
        rejectors: list[Any],
        radius: float | None,
    ) -> None:
        mask_rej = result.mask_rej
        new = mask_rej if before is None else (before.view(bool) | mask_rej)
        if thresholds is not None:
            # Samples outside the thresholds stay out of every later combine too.
            new = new | _outside(self._stack, thresholds)
        self._mask = new.view(np.uint8)
        self.mask_rej = mask_rej
        self.last_reject = result
        self.output_flags = result.output_flags
        self.sample_flags = None
        if level == "full":
            self.sample_flags = self._sample_flags(result, before, thresholds, rejectors, radius)

    def _sample_flags(
        self,
        result: _rejection.RejectResult,
        before: np.ndarray | None,
        thresholds: tuple[float, float] | None,
        rejectors: list[Any],
        radius: float | None,
    ) -> np.ndarray:
        data = _rejection.values(self._stack)
        flags = np.zeros(data.shape, dtype=np.uint8)
        if self._input_mask is not None:
            flags |= self._input_mask.view(bool) * np.uint8(SampleFlags.INPUT_MASK)
        if data.dtype.kind == "f":
            flags |= ~np.isfinite(data) * np.uint8(SampleFlags.NONFINITE)
        if thresholds is not None:
            outside = (data < thresholds[0]) | (data > thresholds[1])
            flags |= outside * np.uint8(SampleFlags.THRESHOLD)
        # PREVIOUS: not usable when this step's rejection started (input mask, non-finite,
        # thresholds, or an earlier step).
        entry = (flags & np.uint8(SampleFlags.INPUT_MASK | SampleFlags.NONFINITE)) != 0
        entry |= (flags & np.uint8(SampleFlags.THRESHOLD)) != 0
        if before is not None:
            entry |= before.view(bool)
        flags |= entry * np.uint8(SampleFlags.PREVIOUS)
        # Samples the rule itself rejected versus those grow added.
        plain = result.mask_rej
        if radius is not None:
            plain = _rejection.run(
                self._stack, rejectors, mask=before, thresholds=thresholds, return_mask=True
            )["mask"].view(bool)
        flags |= plain * np.uint8(SampleFlags.REJECTED)
        flags |= (result.mask_rej & ~plain) * np.uint8(SampleFlags.GROW)
        return flags

    def combine(
        self,
        method: str = "mean",
        *,
        thresholds: Any = None,
        zero: Any = None,
        scale: Any = None,
        rejectors: Any = None,
        weights: Any = None,
        ddof: int = 0,
        grow: float | None = None,
        diagnostics: str | None = None,
        stat_region: Any = None,
        normalize: bool = True,
    ) -> np.ndarray:
        """Combine the valid samples of each output element, after optional rejection.

        The stages run in this order: thresholds (on the raw values), zero/scale correction
        ``(x - zero_i) / scale_i``, rejection (each rejector in turn, then grow), combine.
        With ``diagnostics=None`` they run in one fused pass with no per-sample mask.

        Parameters
        ----------
        method : str, default "mean"
            ``mean`` (``average``, ``avg``), ``median`` (``med``), ``lmedian`` (``lmed``),
            ``sum``, ``min``, ``max``, ``variance`` (``var``) or ``weighted_average``
            (``wvg``); case-insensitive.
        thresholds : (float, float), optional
            Samples outside ``[low, high]`` are not used.
        zero : None, number, sequence of N numbers, str or callable, optional
            Subtracted from each frame (after the thresholds, before rejection): numbers as
            given, or a statistic of each frame (``"mean"``, ``"median"``, ``"mode"``,
            ``"sigclip_mean"``, ``"sigclip_median"`` or a callable; see
            `imcombiners.resolve_zero_scale`). Default: the correction set by `zero_scale`.
        scale : None, number, sequence of N numbers, str or callable, optional
            Each frame is divided by it (> 0), after subtracting ``zero``; as ``zero``, and a
            statistic is measured on the zero-corrected frame.
        rejectors : Rejector or list of Rejector, optional
            Rejection rules, applied in order.
        weights : array_like of shape (N,) or {"mean", "median", "mode"}, optional
            One finite, non-negative weight per frame, for ``weighted_average`` (or ``mean``,
            which then becomes the weighted average); renormalised over the survivors of each
            element and never used inside rejection. A statistic name weights each frame by
            that statistic of the corrected frame (IRAF's weighting by signal level).
        ddof : int, default 0
            Delta degrees of freedom of ``variance``.
        grow : float, optional
            Grow radius of the rejection (see `reject`).
        diagnostics : {None, "simple", "full"}, default None
            Keep the rejection diagnostics on the Combiner (`last_reject`, `mask_rej`, ...).
        stat_region : tuple of slice, optional
            Region of each frame the statistics use (see `imcombiners.resolve_zero_scale`).
        normalize : bool, default True
            Statistics relative to the first frame (``zero_i - zero_0``, ``scale_i / scale_0``).

        Returns
        -------
        ndarray of shape (*spatial)
        """
        name = method_name(method)
        level = _diagnostics_level(diagnostics)
        ddof = nonnegative_int(ddof, name="ddof")
        rules = _rejection.as_rejector_list(rejectors)
        thresholds = thresholds_pair(thresholds)
        radius = _grow_radius(grow)
        if zero is None and scale is None:
            zero, scale = self.zero, self.scale
        options = normalization.stat_options(
            self._stack, stat_region=stat_region, normalize=normalize
        )
        resolved = normalization.resolve(
            self._stack, self._mask, thresholds, zero, scale, weights, options
        )
        zero, scale = resolved.zero, resolved.scale
        if resolved.weights is not None:
            weights = resolved.weights
        if weights is not None and name == "mean":
            name = "weighted_average"
        if zero is not None or scale is not None:
            return self._combine_corrected(
                name, rules, thresholds, zero, scale, weights, ddof, radius, level
            )
        if not rules and thresholds is None and radius is None:
            return kernels._combine_by_name(
                self._stack, name, mask=self._mask, weights=weights, ddof=ddof, keep_dtype=False
            )
        if level is None and radius is None:
            _check_weights_use(name, weights)
            out = _rejection.run(
                self._stack,
                rules,
                mask=self._mask,
                combine=name,
                weights=weights,
                thresholds=thresholds,
                ddof=ddof,
            )
            return out["combined"]
        if rules or radius is not None:
            self.reject(rules, grow=radius, thresholds=thresholds, diagnostics=level or "simple")
            mask = self._mask
        else:
            mask = _threshold_mask(self._stack, self._mask, thresholds)
        return kernels._combine_by_name(
            self._stack, name, mask=mask, weights=weights, ddof=ddof, keep_dtype=False
        )

    def _combine_corrected(
        self,
        name: str,
        rules: list[Any],
        thresholds: tuple[float, float] | None,
        zero: np.ndarray | None,
        scale: np.ndarray | None,
        weights: Any,
        ddof: int,
        radius: float | None,
        level: str | None,
    ) -> np.ndarray:
        """Combine with a zero/scale correction: always through the fused pipeline."""
        _check_weights_use(name, weights)
        mask = self._mask
        if rules and (level is not None or radius is not None):
            self._step(rules, radius, thresholds, level or "simple", zero, scale)
            mask, rules = self._mask, []
        out = _rejection.run(
            self._stack,
            rules,
            mask=mask,
            combine=name,
            weights=weights,
            thresholds=thresholds,
            zero=zero,
            scale=scale,
            ddof=ddof,
        )
        return out["combined"]

    def variance(
        self, ddof: int = 0, return_mean: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Variance of the valid samples, as ``np.nanvar(arr_eff, axis=0, ddof=ddof)``.

        ``arr_eff`` is the stack with every masked or rejected sample set to NaN.

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
        if self.zero is None and self.scale is None:
            return kernels._variance(
                self._stack, ddof=ddof, return_mean=bool(return_mean), mask=self._mask
            )
        corrected = {"mask": self._mask, "zero": self.zero, "scale": self.scale, "ddof": ddof}
        var = _rejection.run(self._stack, [], combine="variance", **corrected)["combined"]
        if not return_mean:
            return var
        return var, _rejection.run(self._stack, [], combine="mean", **corrected)["combined"]

    def __repr__(self) -> str:
        return (
            f"Combiner(shape={self._arr.shape}, dtype={self._arr.dtype}, steps={len(self.history)})"
        )


def _nddata_sequence(obj: Any) -> bool:
    """True for a list or tuple of astropy NDData/CCDData (astropy is never imported here)."""
    from .ccddata import is_nddata_sequence

    return is_nddata_sequence(obj)


def _check_weights_use(name: str, weights: Any) -> None:
    if weights is not None and name != "weighted_average":
        raise ValueError(
            f"weights are used only by the (weighted) average, not by combine={name!r}"
        )
    if name == "weighted_average" and weights is None:
        raise ValueError("weights are required for combine='weighted_average'")


def _grow_radius(grow: Any) -> float | None:
    return None if grow is None else real(grow, name="grow", low=0.0)


def _outside(stack: Any, thresholds: tuple[float, float]) -> np.ndarray:
    """bool (N, *spatial): finite samples outside the closed thresholds interval."""
    data = _rejection.values(stack)
    return (data < thresholds[0]) | (data > thresholds[1])


def _threshold_mask(
    stack: Any, mask: np.ndarray | None, thresholds: tuple[float, float] | None
) -> np.ndarray | None:
    if thresholds is None:
        return mask
    outside = _outside(stack, thresholds)
    combined = outside if mask is None else (mask.view(bool) | outside)
    return combined.view(np.uint8)
