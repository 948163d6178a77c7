"""The Combiner: a stack, its mask, the rejection steps taken, and the combine methods."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from . import _plan, _rejection, normalization
from ._validation import as_mask, as_stack, nonnegative_int, thresholds_pair
from ._variance import plane_of


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
    variance : array_like or "ccd", optional
        The variance of every sample (the stack's shape), or one per frame (shape ``(N,)``), or
        ``"ccd"``: the CCD noise model of the raw values with ``gain`` and ``rdnoise``.
        `combine` then also propagates it to `out_variance`, ``weights="ivar"`` weights each
        sample by its inverse variance, and `VarClip` can run. A sample whose variance is NaN,
        infinite or negative is not used. See ``docs/uncertainty.md``.
    gain, rdnoise, snoise : float, optional
        The noise model of ``variance="ccd"`` (electrons per ADU, electrons, fraction):
        ``(rdnoise / gain)**2 + max(x, 0) / gain + (snoise * x)**2``.
    copy : bool, default False
        Work on a copy of ``stack``. Not needed for safety (the stack is never written); it
        only decouples the Combiner from later changes the caller makes to the array.
        (imcombiners 0.1.1 copied by default.)

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
    reject_history : list of tuple
        The ``last_reject`` tuple of every step, in order.
    mask_thresh : ndarray of bool and shape (N, *spatial) or None
        Samples `threshold` took out.
    std, low, upp, nit : ndarray or None
        The fields of ``last_reject``, by name.
    n_rejected : int
        Samples masked so far (input mask, thresholds and rejections) over the whole stack.
    unit : astropy.units.Unit or None
        The unit of CCDData/NDData input (None otherwise).
    zero, scale : ndarray of shape (N,) or None
        The correction set by `zero_scale`, applied by later `reject`, `combine` and
        `variance` calls.
    out_variance : ndarray or None
        The propagated variance of the latest `combine` (with ``variance=`` only).
    auto_choice : ndarray of uint8 or None
        Per output element, the rule the latest step's `AutoReject` chose (an index into
        ``AutoReject.CHOICES``); None when the step had none.

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

    def __init__(
        self,
        stack: Any,
        mask: Any = None,
        *,
        variance: Any = None,
        gain: float | None = None,
        rdnoise: float | None = None,
        snoise: float | None = None,
        copy: bool = False,
    ) -> None:
        if not isinstance(copy, bool):
            raise TypeError(f"copy must be True or False, got {type(copy).__name__}")
        self.unit = None
        if _nddata_sequence(stack):
            from .ccddata import stack_from_nddata

            stack, own_mask, self.unit = stack_from_nddata(stack)
            if own_mask is not None:
                mask = own_mask if mask is None else (np.asarray(mask) != 0) | own_mask
        if copy:
            stack = stack.copy() if isinstance(stack, np.ma.MaskedArray) else np.array(stack)
        self._stack = as_stack(stack, name="stack")
        self._arr = np.asarray(stack.data if isinstance(stack, np.ma.MaskedArray) else stack)
        self._input_mask = as_mask(mask, self._stack)
        noise = {"gain": gain, "rdnoise": rdnoise, "snoise": snoise}
        if variance is None or isinstance(variance, str):
            given = [k for k, v in noise.items() if v is not None]
            if given and variance is None:
                raise ValueError(f"{given} are options of variance='ccd' (the noise model)")
        self._variance = None if variance is None else plane_of(variance, self._stack, **noise)
        self.out_variance: np.ndarray | None = None
        self.auto_choice: np.ndarray | None = None
        self._mask = self._input_mask  # uint8 view; replaced (never written) by rejections
        self.mask_rej: np.ndarray | None = None
        self.last_reject: _rejection.RejectResult | None = None
        self.output_flags: np.ndarray | None = None
        self.sample_flags: np.ndarray | None = None
        self.history: list[Step] = []
        self.reject_history: list[_rejection.RejectResult] = []
        self.mask_thresh: np.ndarray | None = None
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

    # The latest rejection step's per-element diagnostics, by name (imcombiners 0.1.1 names).

    @property
    def std(self) -> np.ndarray | None:
        """Spread of the latest step's last pass (None before a step, or for rules without)."""
        return None if self.last_reject is None else self.last_reject.std

    @property
    def low(self) -> np.ndarray | None:
        """Lowest kept value of the latest step (linear clipping: its lower bound)."""
        return None if self.last_reject is None else self.last_reject.low

    @property
    def upp(self) -> np.ndarray | None:
        """Highest kept value of the latest step (linear clipping: its upper bound)."""
        return None if self.last_reject is None else self.last_reject.upp

    @property
    def nit(self) -> np.ndarray | None:
        """Passes the latest step made at each element."""
        return None if self.last_reject is None else self.last_reject.nit

    @property
    def last_sample_flags(self) -> np.ndarray | None:
        """Same as `sample_flags` (the imcombiners 0.1.1 name)."""
        return self.sample_flags

    @property
    def n_rejected(self) -> int:
        """Samples not used so far: the input mask, thresholds and every rejection, counted
        over the whole stack (non-finite samples are not counted)."""
        return 0 if self._mask is None else int(np.count_nonzero(self._mask))

    def threshold(self, low: float = -np.inf, upp: float = np.inf) -> Combiner:
        """Stop using the samples outside ``[low, upp]`` (chainable).

        The samples go into `mask` (and `mask_thresh`), so later statistics, rejection steps
        and combines skip them, as with ``thresholds=`` on each call.

        Parameters
        ----------
        low, upp : float
            The closed interval of kept values.

        Returns
        -------
        Combiner
            ``self``.
        """
        bounds = thresholds_pair((low, upp))
        outside = _plan.outside(self._stack, bounds)
        self.mask_thresh = outside if self.mask_thresh is None else (self.mask_thresh | outside)
        current = outside if self._mask is None else (self._mask.view(bool) | outside)
        self._mask = current.view(np.uint8)
        return self

    def copy(self) -> Combiner:
        """An independent Combiner: the same stack (not copied: it is never written), its own
        copies of the mask, the corrections and the history.

        Returns
        -------
        Combiner
        """
        new = object.__new__(Combiner)
        new.__dict__.update(self.__dict__)
        for name in ("_mask", "mask_thresh", "zero", "scale"):
            value = getattr(self, name)
            setattr(new, name, None if value is None else value.copy())
        new.history = list(self.history)
        new.reject_history = list(self.reject_history)
        return new

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
        level = _plan.diagnostics_level(diagnostics) or "simple"
        rules = _rejection.as_rejector_list(rejector, name="rejector")
        plan = _plan.Plan(
            method=None,
            rules=tuple(rules),
            thresholds=thresholds_pair(thresholds),
            zero=self.zero,
            scale=self.scale,
            grow=_plan.step_grow(rules, _plan.grow_radius(grow)),
            diagnostics=level,
            variance=self._variance,
        )
        _plan.check_variance_rules(rules, self._variance)
        self._record(plan, _plan.reject(plan, self._stack, self._mask, input_mask=self._input_mask))
        return self

    def _record(self, plan: _plan.Plan, step: _plan.Step) -> None:
        """Keep a rejection step's results and log it in `history`."""
        self._mask = step.mask
        self.mask_rej = step.result.mask_rej
        self.last_reject = step.result
        self.output_flags = step.result.output_flags
        self.sample_flags = step.sample_flags
        self.auto_choice = step.auto_choice
        n_rejected = int(np.count_nonzero(step.result.mask_rej))
        self.history.append(Step(plan.rules, plan.grow, plan.thresholds, n_rejected))
        self.reject_history.append(step.result)

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
        rejectors : Rejector, list of Rejector or str, optional
            Rejection rules, applied in order; a registered rule's name (``"auto"``,
            ``"sigclip"``, ...) runs it with its defaults.
        weights : array_like of shape (N,) or {"mean", "median", "mode", "ivar"}, optional
            One finite, non-negative weight per frame, for ``weighted_average`` (or ``mean``,
            which then becomes the weighted average); renormalised over the survivors of each
            element and never used inside rejection. A statistic name weights each frame by
            that statistic of the corrected frame (IRAF's weighting by signal level).
            ``"ivar"`` (needs ``variance=``) weights each sample by ``1 / v_i``.
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
            With ``variance=`` on the Combiner, its propagated variance is left in
            `out_variance` (formulas in ``docs/uncertainty.md``).
        """
        if zero is None and scale is None:
            zero, scale = self.zero, self.scale
        plan = _plan.build(
            self._stack,
            self._mask,
            method=method,
            rejectors=rejectors,
            weights=weights,
            ddof=ddof,
            thresholds=thresholds,
            zero=zero,
            scale=scale,
            grow=grow,
            diagnostics=diagnostics,
            stat_region=stat_region,
            normalize=normalize,
            variance=self._variance,
        )
        outcome = _plan.execute(plan, self._stack, self._mask, input_mask=self._input_mask)
        if outcome.step is not None:
            self._record(plan, outcome.step)
        self.out_variance = outcome.variance
        return outcome.combined

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
        return _plan.variance(
            self._stack,
            self._mask,
            ddof=nonnegative_int(ddof, name="ddof"),
            return_mean=bool(return_mean),
            zero=self.zero,
            scale=self.scale,
        )

    def __repr__(self) -> str:
        return (
            f"Combiner(shape={self._arr.shape}, dtype={self._arr.dtype}, steps={len(self.history)})"
        )


def _nddata_sequence(obj: Any) -> bool:
    """True for a list or tuple of astropy NDData/CCDData (astropy is never imported here)."""
    from .ccddata import is_nddata_sequence

    return is_nddata_sequence(obj)
