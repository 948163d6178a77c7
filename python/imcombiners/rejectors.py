"""Rejection rules: frozen, validated descriptions. The compiled core does the work.

Every rule keeps, for each output element, the valid samples inside a closed interval: values
equal to a bound are kept. The iterative rules (`SigClip`, `CcdClip`, `LinearClip`) recompute
their centre from the survivors on every pass, stop when a pass rejects nothing (that pass counts
in ``nit``) or after ``maxiters`` passes, undo a pass that would leave fewer than ``nkeep``
samples (``revert_on_nkeep=True``) and undo a pass that would bring their total above
``maxrej``.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from . import _validation as v

__all__ = [
    "GESD",
    "AutoReject",
    "BiweightClip",
    "CcdClip",
    "LinearClip",
    "LinearFitClip",
    "MinMaxClip",
    "PClip",
    "PercentileClip",
    "Rejector",
    "SigClip",
    "VarClip",
    "WinsorizedSigClip",
]


class Rejector:
    """Base class of the rejection rules; also the way to write a rule of your own.

    The built-in rules run in the compiled core. A rule of your own is a subclass that defines
    `bounds`: for the sorted valid values of one output element (after the thresholds, the
    zero/scale correction and the rules before it in a chain) it returns the closed interval
    of values to keep. It then works wherever a built-in rule does (`Combiner`, `ndcombine`
    after `imcombiners.registry.register`, `combine_files`, chains with built-in rules, grow and
    the diagnostics), one Python call per output element, so expect seconds per million
    elements.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class KeepBelow(imc.Rejector):
    ...     limit: float = 100.0
    ...     def bounds(self, x):
    ...         return -np.inf, self.limit
    >>> x = np.array([[1.0], [2.0], [500.0]])
    >>> imc.Combiner(x).combine("mean", rejectors=KeepBelow())
    array([1.5])
    """

    __slots__ = ()
    kind: ClassVar[str] = ""
    """The rule's name in `imcombiners.registry` (``reject=`` and ``--reject`` values)."""
    has_spread: ClassVar[bool] = False
    """True when the rule measures a spread (reported as ``std`` in the diagnostics)."""
    in_core: ClassVar[bool] = False
    """True for the rules the compiled core runs on sorted values (the built-in ones)."""
    needs_variance: ClassVar[bool] = False
    """True for rules that read the input variance plane (`VarClip`)."""

    def bounds(self, x: np.ndarray) -> tuple[float, float]:
        """The values ``[low, high]`` to keep among ``x``, the sorted valid values (float64) of
        one output element. Rules of your own define it; the built-in rules run in the core."""
        raise NotImplementedError(
            f"{type(self).__name__} must define bounds(x) -> (low, high), the interval of values "
            f"to keep among the sorted values x of one output element"
        )


def _grow_check(obj: Any) -> None:
    if obj.grow is not None:
        _set(obj, "grow", v.real(obj.grow, name="grow", low=0.0))


def _set(obj: Any, name: str, value: Any) -> None:
    object.__setattr__(obj, name, value)


def _limit_checks(obj: Any) -> None:
    """``nkeep``, ``maxrej`` and, where the rule has it, ``revert_on_nkeep`` (every rule's)."""
    _set(obj, "nkeep", v.nonnegative_int(obj.nkeep, name="nkeep"))
    if obj.maxrej is not None:
        _set(obj, "maxrej", v.nonnegative_int(obj.maxrej, name="maxrej"))
    revert = getattr(obj, "revert_on_nkeep", True)
    if not isinstance(revert, bool):
        raise TypeError(f"revert_on_nkeep must be True or False, got {type(revert).__name__}")


def _maxiters_check(obj: Any) -> None:
    # 0 passes is allowed (nothing is rejected), as imcombiners 0.1.1 allowed it.
    _set(obj, "maxiters", v.nonnegative_int(obj.maxiters, name="maxiters", high=v.MAX_ITERS))


def _iterative_checks(obj: Any) -> None:
    _maxiters_check(obj)
    _limit_checks(obj)
    _set(obj, "cenfunc", v.centre_name(obj.cenfunc))
    if obj.clip_cen is not None:
        _set(obj, "clip_cen", v.centre_name(obj.clip_cen, name="clip_cen"))


@dataclass(frozen=True, slots=True, kw_only=True)
class SigClip(Rejector):
    """Iterative sigma clipping about a centre with a measured spread.

    On each pass, for the surviving samples ``x`` of one output element::

        c = cenfunc(x)
        s = sqrt(sum((x - c)**2) / (n - ddof))       stdfunc="std"
        s = 1.4826 * median(|x - c|)                  stdfunc="mad"
        rejected where  x < c - sigma_lower * s  or  x > c + sigma_upper * s

    Parameters
    ----------
    sigma : float or (float, float), default 3.0
        The multiplier of the spread, or ``(lower, upper)``.
    maxiters : int, default 5
        Most passes (0: no pass, nothing is rejected).
    ddof : int, default 0
        Delta degrees of freedom of ``stdfunc="std"`` (the MAD has none: ignored with "mad").
    cenfunc : {"median", "mean", "lmedian"}, default "median"
        The centre the bounds are placed about (aliases ``med``, ``average``, ``avg``,
        ``lmed``).
    clip_cen : {"median", "mean", "lmedian"}, optional
        The centre the spread is measured about, when it is not ``cenfunc`` (None: the same).
        ``cenfunc="median", clip_cen="mean"`` is astropy ``sigma_clip``'s pairing: bounds about
        the median, standard deviation about the mean. (`CcdClip` evaluates its noise model
        at ``clip_cen``; `LinearClip`, which has no spread, uses ``clip_cen`` as its centre.)
    stdfunc : {"std", "mad"}, default "std"
        The spread about the centre.
    nkeep : int, default 1
        Fewest samples a pass may leave.
    maxrej : int, optional
        Most samples this rule may reject at an element.
    revert_on_nkeep : bool, default True
        Undo a pass that would leave fewer than ``nkeep`` samples (else keep it and stop).
    grow : float, optional
        Grow radius of this rule's rejections, as ``grow=`` of a combine (the imcombiners 0.1.1
        place for it; every rule takes it). The rules of one step and the call's ``grow`` must
        not give different radii.

    Examples
    --------
    >>> x = np.array([9, 10, 11, 10, 10, 10, 9, 11, 10, 1e4], dtype="float32").reshape(10, 1)
    >>> float(imc.Combiner(x).combine("mean", rejectors=imc.SigClip())[0])
    10.0
    """

    kind: ClassVar[str] = "sigclip"
    has_spread: ClassVar[bool] = True
    in_core: ClassVar[bool] = True

    sigma: float | tuple[float, float] = 3.0
    maxiters: int = 5
    ddof: int = 0
    cenfunc: str = "median"
    clip_cen: str | None = None
    stdfunc: str = "std"
    nkeep: int = 1
    maxrej: int | None = None
    revert_on_nkeep: bool = True
    grow: float | None = None

    def __post_init__(self) -> None:
        _grow_check(self)
        _set(self, "sigma", v.sigma_pair(self.sigma))
        _set(self, "ddof", v.nonnegative_int(self.ddof, name="ddof"))
        _set(self, "stdfunc", v.spread_name(self.stdfunc))
        _iterative_checks(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class VarClip(Rejector):
    """Iterative clipping of each sample against its own variance (needs ``variance=``).

    The rule of Gemini's DRAGONS (``varclip`` of its stacking primitives): a sample is
    rejected when it lies further from the centre than its own noise allows. On each pass, for
    the surviving samples ``x_i`` of one output element with variances ``v_i`` (after the
    zero/scale correction, ``v_i / scale_i**2``)::

        c = cenfunc(x)
        rejected where  x_i - c < -sigma_lower * sqrt(v_i)  or  x_i - c > sigma_upper * sqrt(v_i)

    Passes repeat until one rejects nothing or after ``maxiters``, and ``nkeep``, ``maxrej``
    and ``revert_on_nkeep`` act as for `SigClip`. A sample of variance 0 is rejected whenever it
    differs from the centre. Unlike the other rules, a noisy extreme sample may survive where a
    precise, less extreme one does not, so the survivors are not always an interval of values:
    the diagnostics' ``low``/``upp`` are the extreme survivors. The rule has no spread
    (``std`` is None).

    Parameters
    ----------
    sigma : float or (float, float), default 3.0
        The multiplier of each sample's standard deviation, or ``(lower, upper)``.
    maxiters : int, default 100
        Most passes (0: nothing is rejected). DRAGONS iterates to convergence.
    cenfunc : {"median", "mean", "lmedian"}, default "median"
        The centre of the survivors.
    nkeep : int, default 1
        Fewest samples a pass may leave.
    maxrej : int, optional
        Most samples this rule may reject at an element.
    revert_on_nkeep : bool, default True
        Undo a pass that would leave fewer than ``nkeep`` samples (else keep it and stop).
    grow : float, optional
        Grow radius of this rule's rejections (as for every rule).

    Examples
    --------
    >>> x = np.array([10.0, 11.0, 9.0, 30.0, 13.0]).reshape(5, 1)
    >>> var = np.array([1.0, 1.0, 1.0, 100.0, 0.25]).reshape(5, 1)
    >>> imc.Combiner(x, variance=var).combine("mean", rejectors=imc.VarClip())
    array([15.])
    """

    kind: ClassVar[str] = "varclip"
    needs_variance: ClassVar[bool] = True

    sigma: float | tuple[float, float] = 3.0
    maxiters: int = 100
    cenfunc: str = "median"
    nkeep: int = 1
    maxrej: int | None = None
    revert_on_nkeep: bool = True
    grow: float | None = None

    def __post_init__(self) -> None:
        _grow_check(self)
        _set(self, "sigma", v.sigma_pair(self.sigma))
        _maxiters_check(self)
        _limit_checks(self)
        _set(self, "cenfunc", v.centre_name(self.cenfunc))


@dataclass(frozen=True, slots=True, kw_only=True)
class CcdClip(Rejector):
    """Iterative sigma clipping with the spread of a CCD noise model.

    The values are taken to electrons (``x * gain``); on each pass, at centre ``c``::

        sigma = sqrt((1 + snoise) * |c + zero_ref| * scale_ref + rdnoise**2)
        rejected where  x*gain < c - sigma_lower * sigma  or  x*gain > c + sigma_upper * sigma

    ``zero_ref`` and ``scale_ref`` carry the additive and multiplicative corrections of a
    normalised stack into the noise model. Left at None they are 0 and 1 (raw data), unless a
    combine applies its own ``zero``/``scale`` correction ``y = (x - z_i) / s_i`` first: then
    the model follows that correction (see `noise_terms`), so ``gain`` and ``rdnoise`` keep
    describing the raw frames. Values you set override.

    Parameters
    ----------
    sigma : float or (float, float), default 3.0
        The multiplier, or ``(lower, upper)``.
    gain : float, default 1.0
        Electrons per data unit (> 0).
    rdnoise : float, default 0.0
        Read noise in electrons (>= 0).
    snoise : float, default 0.0
        Sensitivity noise term (>= 0).
    zero_ref, scale_ref : float, optional
        Noise-model references (``scale_ref > 0``); None follows the combine's correction
        (0 and 1 without one).
    maxiters, cenfunc, nkeep, maxrej, revert_on_nkeep
        As in `SigClip`.

    Examples
    --------
    >>> x = np.array([100, 102, 98, 101, 99, 100, 135], dtype="float32").reshape(7, 1)
    >>> float(imc.Combiner(x).combine("mean", rejectors=imc.CcdClip(rdnoise=5.0))[0])
    100.0
    """

    kind: ClassVar[str] = "ccdclip"
    has_spread: ClassVar[bool] = True
    in_core: ClassVar[bool] = True

    sigma: float | tuple[float, float] = 3.0
    gain: float = 1.0
    rdnoise: float = 0.0
    snoise: float = 0.0
    zero_ref: float | None = None
    scale_ref: float | None = None
    maxiters: int = 5
    cenfunc: str = "median"
    clip_cen: str | None = None
    nkeep: int = 1
    maxrej: int | None = None
    revert_on_nkeep: bool = True
    grow: float | None = None

    def __post_init__(self) -> None:
        _grow_check(self)
        _set(self, "sigma", v.sigma_pair(self.sigma))
        _set(self, "gain", v.real(self.gain, name="gain", low=0.0, low_open=True))
        _set(self, "rdnoise", v.real(self.rdnoise, name="rdnoise", low=0.0))
        _set(self, "snoise", v.real(self.snoise, name="snoise", low=0.0))
        if self.zero_ref is not None:
            _set(self, "zero_ref", v.real(self.zero_ref, name="zero_ref"))
        if self.scale_ref is not None:
            _set(
                self, "scale_ref", v.real(self.scale_ref, name="scale_ref", low=0.0, low_open=True)
            )
        _iterative_checks(self)

    def noise_terms(self, zero: Any = None, scale: Any = None) -> tuple[float, float, float]:
        """``(zero_ref, scale_ref, rdnoise)`` the model uses on corrected data.

        With a correction ``y_i = (x_i - zero_i) / scale_i`` of the raw frames, the variance of
        ``gain * y_i`` at centre ``c`` is ``(c + gain * zero_i / scale_i) / scale_i +
        (rdnoise / scale_i)**2``. One model serves all frames, so its terms are the frame
        averages: ``scale_ref = mean(1 / scale_i)``, ``zero_ref = gain * mean(zero_i /
        scale_i**2) / scale_ref`` and read noise ``rdnoise * sqrt(mean(1 / scale_i**2))``. That
        is exact when the scales are equal and a close average when they differ by tens of
        per cent, as normalised flats do. A ``zero_ref`` or ``scale_ref`` set on the rule is used
        as given (and an explicit ``scale_ref`` leaves ``rdnoise`` as given).

        Parameters
        ----------
        zero, scale : array_like of shape (N,), optional
            The correction the combine applies (None: no correction).

        Returns
        -------
        (float, float, float)

        Examples
        --------
        >>> imc.CcdClip(gain=2.0, rdnoise=5.0).noise_terms(scale=[1000.0, 1000.0])
        (0.0, 0.001, 0.005)
        """
        if zero is None and scale is None:
            return (
                0.0 if self.zero_ref is None else self.zero_ref,
                1.0 if self.scale_ref is None else self.scale_ref,
                self.rdnoise,
            )
        z = np.zeros(1) if zero is None else np.asarray(zero, dtype=np.float64)
        inv = 1.0 / (np.ones(1) if scale is None else np.asarray(scale, dtype=np.float64))
        z, inv = np.broadcast_arrays(z, inv)
        k = float(np.mean(inv))
        scale_ref = k if self.scale_ref is None else self.scale_ref
        zero_ref = self.zero_ref
        if zero_ref is None:
            zero_ref = float(self.gain * np.mean(z * inv * inv) / k)
        rdnoise = (
            float(self.rdnoise * np.sqrt(np.mean(inv * inv)))
            if self.scale_ref is None
            else self.rdnoise
        )
        return (zero_ref, scale_ref, rdnoise)


@dataclass(frozen=True, slots=True, kw_only=True)
class LinearClip(Rejector):
    """Keep the samples inside an affine envelope around the centre.

    On each pass, at centre ``c`` of the survivors::

        kept where  low_scale * c - low  <=  x  <=  upp_scale * c + upp

    The default margins ``low = upp = inf`` make ``LinearClip()`` a no-op (the tutorial calls
    the default a no-op; with margins of 0 the formula would keep only samples equal to the
    centre). Set ``low`` and ``upp`` (>= 0) to the envelope you want. ``maxiters=1`` is one
    pass; a larger value iterates like the other rules.

    Examples
    --------
    >>> x = np.array([100, 104, 96, 130, 101], dtype="float32").reshape(5, 1)
    >>> rule = imc.LinearClip(low=10.0, upp=10.0)
    >>> float(imc.Combiner(x).combine("mean", rejectors=rule)[0])
    100.25
    """

    kind: ClassVar[str] = "linearclip"
    in_core: ClassVar[bool] = True

    low_scale: float = 1.0
    low: float = math.inf
    upp_scale: float = 1.0
    upp: float = math.inf
    maxiters: int = 1
    cenfunc: str = "median"
    clip_cen: str | None = None
    nkeep: int = 1
    maxrej: int | None = None
    revert_on_nkeep: bool = True
    grow: float | None = None

    def __post_init__(self) -> None:
        _grow_check(self)
        for name in ("low_scale", "upp_scale"):
            _set(self, name, v.real(getattr(self, name), name=name))
        for name in ("low", "upp"):  # margins may be +inf (no bound on that side)
            value = getattr(self, name)
            if isinstance(value, numbers.Real) and value == math.inf:
                _set(self, name, math.inf)
            else:
                _set(self, name, v.real(value, name=name, low=0.0))
        _iterative_checks(self)


#: Largest sample count a rule takes (exact as a float; far beyond any stack).
_MAX_COUNT = 2**53


def _count(value: Any, *, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a count or a fraction, got {type(value).__name__}")
    if value < 0 or value > _MAX_COUNT or not math.isfinite(value):
        raise ValueError(
            f"{name} must be a count (a whole number from 1 to 2**53) or a fraction of the stack "
            f"(0 <= {name} < 1), got {value}"
        )
    value = float(value)
    if value >= 1 and not value.is_integer():
        raise ValueError(f"{name} must be a whole count (>= 1) or a fraction (< 1), got {value}")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class MinMaxClip(Rejector):
    """Reject the lowest and highest samples of each output element (one pass).

    A value >= 1 is a number of samples; a value between 0 and 1 is a fraction of the stack
    depth N, converted as IRAF does: ``int(N * fraction + 0.001)``. With ``k_lo`` and ``k_hi``
    samples to go at ``n`` survivors sorted by (value, frame number)::

        kept: the samples of ranks k_lo .. n - 1 - k_hi

    Exactly ``k_lo + k_hi`` samples are rejected, as IRAF's minmax does; among equal values the
    lower frame number counts as the lower sample (it goes first at the low end and last at the
    high end). When ``k_lo + k_hi >= n`` nothing is rejected at that element (it is never emptied)
    and the NKEEP flag is set; a call where that holds for the whole stack warns.

    Parameters
    ----------
    n_min, n_max : float, default 1
        Samples to reject at the low and the high end: a count (a whole number >= 1, at most
        2**53) or a fraction of N (0 <= value < 1).
    keep_ties : bool, default False
        The older tie-keeping rule: keep every sample equal to a kept extreme
        (``x[k_lo] <= x <= x[n - 1 - k_hi]``), so on integer data fewer than ``k_lo + k_hi``
        samples may go.

    Examples
    --------
    >>> x = np.array([1, 5, 6, 7, 30], dtype="float32").reshape(5, 1)
    >>> float(imc.Combiner(x).combine("mean", rejectors=imc.MinMaxClip(n_min=1, n_max=1))[0])
    6.0
    """

    kind: ClassVar[str] = "minmax"
    in_core: ClassVar[bool] = True

    n_min: float = 1
    n_max: float = 1
    keep_ties: bool = False
    grow: float | None = None

    def __post_init__(self) -> None:
        _grow_check(self)
        _set(self, "n_min", _count(self.n_min, name="n_min"))
        _set(self, "n_max", _count(self.n_max, name="n_max"))
        if not isinstance(self.keep_ties, bool):
            raise TypeError(f"keep_ties must be True or False, got {type(self.keep_ties).__name__}")


@dataclass(frozen=True, slots=True, kw_only=True)
class PClip(Rejector):
    """IRAF-style percentile clipping: one pass, spread from a ranked sample.

    ``frac`` becomes a rank offset ``p`` (with ``i = N // 2``: ``p = int(frac * i)`` for
    ``|frac| < 1``, else ``int(frac)``, clamped to ``-i..-1`` or ``1..i``). For ``n`` survivors
    sorted as ``x`` (1-based ranks), ``med`` their median::

        r = nint(n/2 + 1 + p)   (odd n, or p > 0);   r = nint(n/2 + p)   (even n, p < 0)
        s = |x_r - med|
        rejected where  med - x >= sigma_lower * s  or  x - med >= sigma_upper * s

    Examples
    --------
    >>> x = np.array([1, 5, 6, 7, 30], dtype="float32").reshape(5, 1)
    >>> float(imc.Combiner(x).combine("mean", rejectors=imc.PClip())[0])
    6.0
    """

    kind: ClassVar[str] = "pclip"
    in_core: ClassVar[bool] = True

    frac: float = -0.5
    sigma: float | tuple[float, float] = 3.0
    nkeep: int = 1
    grow: float | None = None

    def __post_init__(self) -> None:
        _grow_check(self)
        if not isinstance(self.frac, numbers.Real) and np.ndim(self.frac) != 0:
            raise ValueError(
                f"frac must be one number (IRAF's pclip takes a single rank offset), "
                f"got {self.frac!r}"
            )
        frac = v.real(self.frac, name="frac")
        if frac == 0:
            raise ValueError("frac must not be 0 (it sets the rank offset from the median)")
        _set(self, "frac", frac)
        _set(self, "sigma", v.sigma_pair(self.sigma))
        _set(self, "nkeep", v.nonnegative_int(self.nkeep, name="nkeep"))


# ---- Modern rules (issue 18): winsorized sigma, biweight and percentile clipping.


@dataclass(frozen=True, slots=True, kw_only=True)
class WinsorizedSigClip(Rejector):
    """Iterative sigma clipping with a robust spread from iterated winsorisation.

    The "winsorized sigma clipping" of Siril and PixInsight, after Huber's winsorisation
    (P. J. Huber and E. M. Ronchetti, *Robust Statistics*, 2nd ed., Wiley 2009; Siril's
    documentation, "Average stacking with rejection"; PixInsight's ImageIntegration reference).
    On each pass, for the ``n`` surviving samples ``x`` of one output element::

        m = median(x);   s = sqrt(sum((x - mean(x))**2) / (n - 1))
        repeat (at most 50 times) while s > 0:
            w = clip(x, m - cutoff * s, m + cutoff * s)
            s_new = 1.134 * sqrt(sum((w - mean(w))**2) / (n - 1));   m = median(w)
            stop after this step if |s_new - s| < 5e-4 * s;   s = s_new
        rejected where  x < m - sigma_lower * s  or  x > m + sigma_upper * s

    Passes repeat until one rejects nothing, or ``maxiters``. The standard deviations use the
    divisor ``n - 1`` (the sample standard deviation); 1.134 makes the standard deviation of a
    normal sample winsorized at 1.5 sigma consistent with sigma. With fewer than 2 survivors
    there is no spread (``std`` NaN) and nothing is rejected; with ``s == 0`` (all survivors
    equal) nothing is rejected. If winsorisation has not converged after 50 steps (rare: heavy
    contamination, or huge outliers that shrink ``s`` only slowly) the last ``s`` is used.
    Clamping keeps the median, so ``m`` stays the median of the survivors.

    Parameters
    ----------
    sigma : float or (float, float), default (4.0, 3.0)
        The multiplier of the spread, or ``(lower, upper)`` (``inf``: that side off).
    cutoff : float, default 1.5
        Winsorisation clamps at ``m -+ cutoff * s`` (>= 1.5: the factor 1.134 is consistent
        at 1.5; with a smaller cutoff it would shrink ``s`` towards 0 on normal data, while a
        larger one makes ``s`` up to 13% wider than the standard deviation).
    maxiters : int, default 10
        Most passes (0: no pass, nothing is rejected).
    nkeep, maxrej, revert_on_nkeep, grow
        As in `SigClip`.

    Examples
    --------
    >>> x = np.array([99, 101, 100, 98, 102, 100, 99, 101, 5000], dtype="float32").reshape(9, 1)
    >>> float(imc.Combiner(x).combine("mean", rejectors=imc.WinsorizedSigClip())[0])
    100.0
    """

    kind: ClassVar[str] = "winsorized"
    has_spread: ClassVar[bool] = True
    in_core: ClassVar[bool] = True

    sigma: float | tuple[float, float] = (4.0, 3.0)
    cutoff: float = 1.5
    maxiters: int = 10
    nkeep: int = 1
    maxrej: int | None = None
    revert_on_nkeep: bool = True
    grow: float | None = None

    def __post_init__(self) -> None:
        _grow_check(self)
        _set(self, "sigma", v.sigma_pair(self.sigma))
        cutoff = v.real(self.cutoff, name="cutoff")
        if cutoff < 1.5:
            raise ValueError(
                f"cutoff must be >= 1.5 (1.134 is the consistency factor of winsorisation at 1.5 "
                f"sigma; below it the spread shrinks towards 0 on normal data), got {cutoff}"
            )
        _set(self, "cutoff", cutoff)
        _maxiters_check(self)
        _limit_checks(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class BiweightClip(Rejector):
    """Iterative clipping about Tukey's biweight location with the biweight scale as spread.

    The biweight (bisquare) estimators of F. Mosteller and J. W. Tukey, *Data Analysis and
    Regression* (Addison-Wesley 1977), as T. C. Beers, K. Flynn and K. Gebhardt (1990, AJ 100,
    32) write them and `astropy.stats.biweight_location` / `astropy.stats.biweight_scale` compute
    them (with their defaults: the scale about the median, sample size ``n``). On each pass, for
    the ``n`` surviving samples ``x`` of one output element::

        M = median(x);   MAD = median(|x - M|)
        u = (x - M) / (c * MAD)
        T = M + sum((x - M) * (1 - u**2)**2) / sum((1 - u**2)**2)          over |u| < 1
        u = (x - M) / (c_scale * MAD)
        S = sqrt(n * sum((x - M)**2 * (1 - u**2)**4))
            / |sum((1 - u**2) * (1 - 5 * u**2))|                             over |u| < 1
        MAD == 0:  T = M and S = 0 (as astropy)
        rejected where  x < T - sigma_lower * S  or  x > T + sigma_upper * S

    Passes repeat until one rejects nothing, or ``maxiters``. A zero (or non-finite) ``S``
    rejects nothing: on quantised data where most samples are equal the MAD is 0, and clipping
    at zero width would reject every other sample (`SigClip` with ``stdfunc="mad"`` does that).
    The diagnostics' ``std`` is ``S``.

    Parameters
    ----------
    sigma : float or (float, float), default 3.0
        The multiplier of ``S``, or ``(lower, upper)`` (``inf``: that side off).
    c : float, default 6.0
        Tuning constant of the location, in MADs (> 0; astropy's default).
    c_scale : float, default 9.0
        Tuning constant of the scale, in MADs (> 0; astropy's default).
    maxiters : int, default 10
        Most passes (0: no pass, nothing is rejected).
    nkeep, maxrej, revert_on_nkeep, grow
        As in `SigClip`.

    Examples
    --------
    >>> x = np.array([9, 10, 10, 10.5, 11, 12, 500], dtype="float64").reshape(7, 1)
    >>> float(imc.Combiner(x).combine("mean", rejectors=imc.BiweightClip())[0])
    10.416666666666666
    """

    kind: ClassVar[str] = "biweight"
    has_spread: ClassVar[bool] = True
    in_core: ClassVar[bool] = True

    sigma: float | tuple[float, float] = 3.0
    c: float = 6.0
    c_scale: float = 9.0
    maxiters: int = 10
    nkeep: int = 1
    maxrej: int | None = None
    revert_on_nkeep: bool = True
    grow: float | None = None

    def __post_init__(self) -> None:
        _grow_check(self)
        _set(self, "sigma", v.sigma_pair(self.sigma))
        _set(self, "c", v.real(self.c, name="c", low=0.0, low_open=True))
        _set(self, "c_scale", v.real(self.c_scale, name="c_scale", low=0.0, low_open=True))
        _maxiters_check(self)
        _limit_checks(self)


def _fraction(value: Any, *, name: str) -> float:
    """A relative deviation >= 0, or ``inf`` (that side not clipped)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and value == math.inf:
        return math.inf
    return v.real(value, name=name, low=0.0)


@dataclass(frozen=True, slots=True, kw_only=True)
class PercentileClip(Rejector):
    """Siril's and PixInsight's percentile clipping: one pass, deviations relative to the median.

    Not IRAF's pclip, which is `PClip` here (a rank offset sets its spread): the two share a
    name only. As Siril's documentation ("Average stacking with rejection", percentile clipping,
    suited to small stacks) and PixInsight's ImageIntegration reference describe it, for the
    surviving samples ``x`` of one output element with median ``m``::

        rejected where  (m - x) / |m| > low   or   (x - m) / |m| > high
        computed as     x < m - low * |m|     or   x > m + high * |m|

    ``|m|`` makes the rule work on negative medians (the interval keeps its orientation: ``low``
    still bounds the values below the median). At ``m == 0`` there is no scale to be relative
    to and nothing is rejected. One pass: ``nit`` is 1 where a sample was usable.

    Parameters
    ----------
    low : float, default 0.2
        Largest kept relative deviation below the median (>= 0, ``inf``: none rejected).
    high : float, default 0.1
        Largest kept relative deviation above the median (>= 0, ``inf``: none rejected).
    nkeep : int, default 1
        A pass that would leave fewer samples is undone (``revert_on_nkeep``) and flagged.
    maxrej : int, optional
        Most samples it may reject at an element (more: the pass is undone).
    revert_on_nkeep : bool, default True
        As in `SigClip`.
    grow : float, optional
        As in `SigClip`.

    Examples
    --------
    >>> x = np.array([70, 95, 100, 104, 150], dtype="float32").reshape(5, 1)
    >>> float(imc.Combiner(x).combine("mean", rejectors=imc.PercentileClip())[0])
    99.66666412353516
    """

    kind: ClassVar[str] = "percentile"
    in_core: ClassVar[bool] = True

    low: float = 0.2
    high: float = 0.1
    nkeep: int = 1
    maxrej: int | None = None
    revert_on_nkeep: bool = True
    grow: float | None = None

    def __post_init__(self) -> None:
        _grow_check(self)
        _set(self, "low", _fraction(self.low, name="low"))
        _set(self, "high", _fraction(self.high, name="high"))
        _limit_checks(self)


# ---- end of the modern rules.


# ---------------------------------------------------------------- issue 18: GESD, LinearFitClip


def _open_fraction(value: Any, *, name: str) -> float:
    """A real number strictly between 0 and 1."""
    value = v.real(value, name=name, low=0.0, low_open=True)
    if value >= 1.0:
        raise ValueError(f"{name} must be between 0 and 1 (exclusive), got {value}")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class GESD(Rejector):
    """Rosner's generalized extreme Studentized deviate (ESD) test, one pass per element.

    The many-outlier test of Rosner (1983), "Percentage points for a generalized ESD
    many-outlier procedure", Technometrics 25(2), 165-172, as the NIST/SEMATECH e-Handbook of
    Statistical Methods (section 1.3.5.17.3, "Generalized ESD Test for Outliers") states it,
    with the low-side relaxation Siril and PixInsight describe for image stacks. For the ``n``
    surviving samples of one output element::

        r = min(floor(outlier_fraction * n), n - 2)        (no test when n < 3)
        for i = 1..r, over the values not yet removed (mean m, std s with ddof = 1):
            d_low  = (m - lowest) / low_relaxation
            d_high = highest - m
            R_i = max(d_low, d_high) / s         remove the value giving it (the highest on a tie)
            lambda_i = (n - i) t / sqrt((n - i - 1 + t**2) (n - i + 1))
                       t = t_{p, n-i-1}, the Student-t quantile, p = 1 - alpha / (2 (n - i + 1))
        k = the largest i with R_i > lambda_i (0 if none): the first k removed are rejected

    With ``low_relaxation = 1`` this is Rosner's test; a larger value tests low values against
    a proportionally larger threshold (``R_i > lambda_i`` for a low candidate means its
    deviation exceeds ``low_relaxation * lambda_i * s``), so dark samples, which a cosmic-ray
    stack rarely has, are rejected less readily. The removed values are always the lowest or
    highest left, so the survivors stay a contiguous run of the sorted values.

    A stack with fewer than 3 usable samples is left alone (there is no standard deviation to
    test against with ``n - i - 1 >= 1`` degrees of freedom); so is a run of equal values.
    ``maxrej`` caps ``k`` (the most extreme candidates go; flag MAXREJ) and so does ``nkeep``
    (``k <= n - nkeep``; flag NKEEP): the test ranks its candidates, so a cap keeps the least
    extreme of them rather than undoing the pass. The critical values are computed in the core
    (the regularized incomplete beta function and a Newton inverse), once per thread for each
    ``(alpha, n, i)``. ``std`` in the diagnostics is the standard deviation (ddof 1) of the
    survivors; ``nit`` is 1 (one test) where there was any sample.

    Parameters
    ----------
    outlier_fraction : float, default 0.3
        Most outliers tested for, as a fraction of the usable samples (0 < value < 1).
    alpha : float, default 0.05
        Significance level of the test (0 < alpha < 1).
    low_relaxation : float, default 1.5
        Divides the deviation of a low candidate before the test (> 0; 1: Rosner's test).
    nkeep : int, default 1
        Fewest samples the test may leave.
    maxrej : int, optional
        Most samples this rule may reject at an element.
    grow : float, optional
        Grow radius of this rule's rejections, as for `SigClip`.

    Examples
    --------
    >>> x = np.array([10, 11, 9, 10, 10, 12, 9, 10, 11, 8, 300], dtype="float32").reshape(11, 1)
    >>> float(imc.Combiner(x).combine("mean", rejectors=imc.GESD())[0])
    10.0
    """

    kind: ClassVar[str] = "gesd"
    has_spread: ClassVar[bool] = True
    in_core: ClassVar[bool] = True

    outlier_fraction: float = 0.3
    alpha: float = 0.05
    low_relaxation: float = 1.5
    nkeep: int = 1
    maxrej: int | None = None
    grow: float | None = None

    def __post_init__(self) -> None:
        _grow_check(self)
        fraction = _open_fraction(self.outlier_fraction, name="outlier_fraction")
        _set(self, "outlier_fraction", fraction)
        _set(self, "alpha", _open_fraction(self.alpha, name="alpha"))
        _set(
            self,
            "low_relaxation",
            v.real(self.low_relaxation, name="low_relaxation", low=0.0, low_open=True),
        )
        _limit_checks(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class LinearFitClip(Rejector):
    """Linear fit clipping: a straight line through the sorted samples against their rank.

    The rule PixInsight's ImageIntegration documentation and Siril's manual ("Linear Fit
    Clipping") describe: fit a line to the sorted pixel values, measure the spread as the mean
    absolute deviation about it, and clip. On each pass, for the ``n`` sorted survivors
    ``y_0 <= ... <= y_{n-1}`` of one output element::

        ibar = (n - 1) / 2;   ybar = sum(y) / n
        b = sum((i - ibar) (y_i - ybar)) / sum((i - ibar)**2);   a = ybar - b * ibar
        r_i = y_i - (a + b i);   sigma = sum(|r_i|) / n
        trim the low end while  r_i < -sigma_lower * sigma   (lowest survivor first)
        trim the high end while r_i >  sigma_upper * sigma   (highest survivor first)

    Passes repeat on the survivors (a new fit, new ranks) until one rejects nothing, after
    ``maxiters`` passes, or at an ``nkeep``/``maxrej`` stop, exactly as for `SigClip`.

    Only the ends are trimmed. Our survivors are always a contiguous run of the sorted values
    (every rule keeps a value interval), and a sample's rank, hence its fitted value, changes
    as others go; more to the point, an interior value of a sorted run lies between two
    neighbours that the line fits, so it is never the cosmic ray or dead pixel the rule is
    meant for: a large interior residual only says the line bends there.

    Edge cases: with fewer than 5 survivors no line is fitted and nothing is rejected (``nit``
    counts the pass, ``std`` is NaN). A fit exact to rounding (``sigma <= 64 * eps *
    max(|y_0|, |y_{n-1}|)``, e.g. equal values) rejects nothing. One extreme value pulls the
    line towards itself (its leverage grows as ``n`` shrinks): however large, it lies at most
    3.53 mean absolute deviations above the line at ``n = 10`` and 4.29 at ``n = 12``, so with
    the default ``sigma=(5, 4)`` a single hot pixel is out of reach below 12 samples; the rule
    is meant for deep stacks. ``std`` in the diagnostics is the last pass's ``sigma``;
    ``low``/``upp`` are the lowest and highest kept values.

    Parameters
    ----------
    sigma : float or (float, float), default (5.0, 4.0)
        Multipliers of the mean absolute deviation below and above the line.
    maxiters : int, default 5
        Most passes (0: nothing is rejected).
    nkeep : int, default 1
        Fewest samples a pass may leave.
    maxrej : int, optional
        Most samples this rule may reject at an element.
    revert_on_nkeep : bool, default True
        Undo a pass that would leave fewer than ``nkeep`` samples (else keep it and stop).
    grow : float, optional
        Grow radius of this rule's rejections, as for `SigClip`.

    Examples
    --------
    >>> x = np.array([*range(100, 115), 900], dtype="float32").reshape(16, 1)
    >>> float(imc.Combiner(x).combine("mean", rejectors=imc.LinearFitClip())[0])
    107.0
    """

    kind: ClassVar[str] = "linearfit"
    has_spread: ClassVar[bool] = True
    in_core: ClassVar[bool] = True

    sigma: float | tuple[float, float] = (5.0, 4.0)
    maxiters: int = 5
    nkeep: int = 1
    maxrej: int | None = None
    revert_on_nkeep: bool = True
    grow: float | None = None

    def __post_init__(self) -> None:
        _grow_check(self)
        _set(self, "sigma", v.sigma_pair(self.sigma))
        _maxiters_check(self)
        _limit_checks(self)


# ---------------------------------------------------------------- issue 18: the rule by depth


@dataclass(frozen=True, slots=True, kw_only=True)
class AutoReject(Rejector):
    """The modern rule suited to the number of samples, chosen per output element.

    ``rejectors="auto"`` (``reject="auto"``, ``--reject auto``). For the ``n`` samples an
    element has when this rule runs (after masks, thresholds and the rules before it)::

        n <  winsorized_from                 percentile   (PercentileClip)
        n <  linearfit_from                  winsorized   (WinsorizedSigClip)
        n <  gesd_from                       linearfit    (LinearFitClip)
        otherwise                            gesd         (GESD)

    The defaults follow Siril's documented advice for its rejection algorithms: percentile
    clipping for very few frames (below 6), winsorized sigma clipping up to about 15, linear
    fit clipping up to about 25 and the generalized ESD test for more. Each rule runs with its
    own parameters (the fields below), so nkeep, maxrej and grow are theirs. With diagnostics,
    ``Combiner.auto_choice`` gives each element's choice (an index into `CHOICES`).

    Parameters
    ----------
    percentile, winsorized, linearfit, gesd : Rejector
        The four rules (`PercentileClip`, `WinsorizedSigClip`, `LinearFitClip`, `GESD`), with
        their defaults unless given.
    winsorized_from, linearfit_from, gesd_from : int, default 6, 16, 26
        The depths from which the choice moves to the next rule (non-decreasing, >= 0).
    grow : float, optional
        Grow radius of this rule's rejections.

    Examples
    --------
    >>> imc.AutoReject().choose(10), imc.AutoReject().choose(40)
    ('winsorized', 'gesd')
    """

    kind: ClassVar[str] = "auto"
    has_spread: ClassVar[bool] = True
    in_core: ClassVar[bool] = True
    #: The names of ``Combiner.auto_choice``'s codes (0: no sample to choose for).
    CHOICES: ClassVar[tuple[str, ...]] = ("none", "percentile", "winsorized", "linearfit", "gesd")

    percentile: PercentileClip = PercentileClip()
    winsorized: WinsorizedSigClip = WinsorizedSigClip()
    linearfit: LinearFitClip = LinearFitClip()
    gesd: GESD = GESD()
    winsorized_from: int = 6
    linearfit_from: int = 16
    gesd_from: int = 26
    grow: float | None = None

    def __post_init__(self) -> None:
        _grow_check(self)
        for name, cls in (
            ("percentile", PercentileClip),
            ("winsorized", WinsorizedSigClip),
            ("linearfit", LinearFitClip),
            ("gesd", GESD),
        ):
            if type(getattr(self, name)) is not cls:
                raise TypeError(
                    f"AutoReject.{name} must be a {cls.__name__}, got "
                    f"{type(getattr(self, name)).__name__}"
                )
        depths = []
        for name in ("winsorized_from", "linearfit_from", "gesd_from"):
            _set(self, name, v.nonnegative_int(getattr(self, name), name=name))
            depths.append(getattr(self, name))
        if depths != sorted(depths):
            raise ValueError(
                f"winsorized_from <= linearfit_from <= gesd_from is required, got {depths}"
            )

    def choose(self, n: int) -> str:
        """The name of the rule this one runs on an element of ``n`` samples."""
        return self.CHOICES[int(self.codes(np.asarray(n)))]

    def codes(self, counts: np.ndarray) -> np.ndarray:
        """uint8 codes of `CHOICES` for elements with ``counts`` samples (0 where none)."""
        counts = np.asarray(counts)
        code = np.select(
            [counts < self.winsorized_from, counts < self.linearfit_from, counts < self.gesd_from],
            [1, 2, 3],
            default=4,
        ).astype(np.uint8)
        return np.where(counts > 0, code, 0).astype(np.uint8)
