"""Combine astropy `~astropy.nddata.NDData` / `~astropy.nddata.CCDData` objects.

astropy is imported only when these functions run, so ``import imcombiners`` does not need it.

`stack_from_nddata` turns a sequence of NDData objects into a stack, a per-sample mask and
their common unit; `combine_ccddata` combines them with a `Combiner` and returns a CCDData
with a mask (no surviving sample) and an uncertainty: the inputs' uncertainties propagated
(in the first input's uncertainty class), or the scatter of the survivors.
"""

from __future__ import annotations

import copy
import math
import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _plan
from ._validation import as_mask, as_stack, method_name, nonnegative_int
from .errors import ImcombinersWarning

if TYPE_CHECKING:
    from astropy.nddata import CCDData, NDData
    from astropy.units import UnitBase

__all__ = ["SUPPORTED_METHODS", "combine_ccddata", "is_nddata_sequence", "stack_from_nddata"]

#: The combine methods `combine_ccddata` accepts (canonical names).
SUPPORTED_METHODS = (
    "mean",
    "weighted_average",
    "median",
    "lmedian",
    "sum",
    "min",
    "max",
    "variance",
)

#: The methods whose uncertainty can also be estimated from the scatter of the survivors.
SCATTER_METHODS = ("mean", "weighted_average", "median", "lmedian", "sum")

#: Standard deviation of the median of n normal samples over that of their mean, large n.
_MEDIAN_FACTOR = math.sqrt(math.pi / 2.0)


def is_nddata_sequence(obj: Any) -> bool:
    """True when ``obj`` is a list or tuple holding at least one astropy ``NDData``.

    Never imports astropy: when astropy is not imported, no object can be an NDData.

    Parameters
    ----------
    obj : object
        Anything, e.g. the first argument given to `Combiner`.

    Returns
    -------
    bool

    Examples
    --------
    >>> from imcombiners.ccddata import is_nddata_sequence
    >>> is_nddata_sequence([np.zeros((2, 2))])
    False
    """
    nddata = sys.modules.get("astropy.nddata")
    if nddata is None or not isinstance(obj, list | tuple):
        return False
    return any(isinstance(item, nddata.NDData) for item in obj)


def _same_unit(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(a == b)


def _as_list(objs: Any) -> list[Any]:
    from astropy.nddata import NDData

    if isinstance(objs, NDData):
        raise TypeError("expected a sequence of NDData/CCDData objects, got a single one")
    if isinstance(objs, np.ndarray | str | bytes) or not isinstance(objs, Sequence):
        raise TypeError(
            f"expected a sequence (list or tuple) of NDData/CCDData objects, "
            f"got {type(objs).__name__}"
        )
    items = list(objs)
    if not items:
        raise ValueError("expected at least one NDData/CCDData object, got an empty sequence")
    for i, item in enumerate(items):
        if not isinstance(item, NDData):
            raise TypeError(
                f"item {i} is a {type(item).__name__}, not an astropy NDData/CCDData object"
            )
    return items


def stack_from_nddata(
    objs: Sequence[NDData],
) -> tuple[np.ndarray, np.ndarray | None, UnitBase | None]:
    """Stack NDData/CCDData objects into ``(data, mask, unit)`` for a `Combiner`.

    Parameters
    ----------
    objs : sequence of astropy.nddata.NDData
        The frames (``CCDData`` included), all of the same shape and unit.

    Returns
    -------
    data : ndarray of shape (N, *spatial)
        ``np.stack`` of the frames' ``.data`` (one copy; dtype as NumPy promotes them).
    mask : ndarray of bool and shape (N, *spatial) or None
        Frame ``i`` holds input ``i``'s mask (nonzero = bad); all False for an input
        without a mask. None when no input has a mask. The inputs' masks are not modified.
    unit : astropy.units.UnitBase or None
        The common unit (None when every input has none).

    Raises
    ------
    TypeError
        When ``objs`` is not a sequence, or an item is not an NDData.
    ValueError
        When ``objs`` is empty, or an item's shape, mask shape or unit differs from item 0's
        (the message names the first such item).

    Examples
    --------
    >>> from astropy.nddata import CCDData
    >>> from imcombiners.ccddata import stack_from_nddata
    >>> a = CCDData(np.zeros((2, 3)), unit="adu", mask=np.eye(2, 3, dtype=bool))
    >>> b = CCDData(np.ones((2, 3)), unit="adu")
    >>> data, mask, unit = stack_from_nddata([a, b])
    >>> data.shape, mask.sum(axis=(1, 2)).tolist(), unit
    ((2, 2, 3), [2, 0], Unit("adu"))
    """
    items = _as_list(objs)
    shape = np.shape(items[0].data)
    unit = items[0].unit
    for i, item in enumerate(items[1:], start=1):
        if np.shape(item.data) != shape:
            raise ValueError(
                f"all inputs must have the same shape: item {i} has shape "
                f"{np.shape(item.data)}, item 0 has {shape}"
            )
        if not _same_unit(item.unit, unit):
            raise ValueError(
                f"all inputs must have the same unit: item {i} has unit {item.unit!s}, "
                f"item 0 has {unit!s}"
            )
    data = np.stack([np.asarray(item.data) for item in items])
    mask = None
    if any(item.mask is not None for item in items):
        mask = np.zeros(data.shape, dtype=bool)
        for i, item in enumerate(items):
            if item.mask is None:
                continue
            m = np.asarray(item.mask)
            if m.shape != shape and m.ndim != 0:
                raise ValueError(
                    f"the mask of item {i} has shape {m.shape}, its data has shape {shape}"
                )
            mask[i] = m != 0  # writes into our own array; the input mask is only read
    return data, mask, unit


def _method(method: Any) -> str:
    try:
        name = method_name(method)
    except ValueError:
        name = None
    if name not in SUPPORTED_METHODS:
        raise ValueError(
            f"combine_ccddata supports the methods mean (average, avg), weighted_average "
            f"(wvg), median (med), lmedian (lmed), sum, min, max and variance, got {method!r}"
        )
    return name


def _variances(items: list[Any], unit: Any) -> tuple[np.ndarray, type] | None:
    """Every input's uncertainty as a float64 variance in ``unit**2``, stacked ``(N,
    *spatial)``, and the first input's uncertainty class; None unless every input has an
    uncertainty that converts to a variance."""
    from astropy.nddata import VarianceUncertainty

    if any(item.uncertainty is None for item in items):
        return None
    shape = np.shape(items[0].data)
    out = np.empty((len(items), *shape), dtype=np.float64)
    for i, item in enumerate(items):
        try:
            var = item.uncertainty.represent_as(VarianceUncertainty)
        except (TypeError, ValueError, NotImplementedError) as exc:
            warnings.warn(
                f"the uncertainty of item {i} ({type(item.uncertainty).__name__}) cannot be "
                f"used as a variance ({exc}); the uncertainty of the result is estimated from "
                "the scatter of the surviving samples instead",
                ImcombinersWarning,
                stacklevel=3,
            )
            return None
        if var.unit is not None and unit is not None and var.unit != unit**2:
            arr = var.quantity.to_value(unit**2)
        else:
            arr = np.asarray(var.array)
        try:
            out[i] = np.broadcast_to(np.asarray(arr, dtype=np.float64), shape)
        except ValueError:
            raise ValueError(
                f"the uncertainty of item {i} has shape {np.shape(arr)}, its data has shape {shape}"
            ) from None
    return out, type(items[0].uncertainty)


def _as_class(variance: np.ndarray, cls: type, dtype: np.dtype) -> Any:
    """The propagated variance as an uncertainty of class ``cls`` (StdDev, Variance,
    InverseVariance, or a subclass of one)."""
    from astropy.nddata import InverseVariance, StdDevUncertainty, VarianceUncertainty

    with np.errstate(divide="ignore", invalid="ignore"):
        if issubclass(cls, StdDevUncertainty):
            values = np.sqrt(variance)
        elif issubclass(cls, InverseVariance):
            values = 1.0 / variance
        elif issubclass(cls, VarianceUncertainty):
            values = variance
        else:  # another class that converts to a variance: given as a standard deviation
            cls, values = StdDevUncertainty, np.sqrt(variance)
    return cls(values.astype(dtype, copy=False))


def combine_ccddata(
    ccds: Sequence[NDData],
    method: str = "mean",
    *,
    rejectors: Any = None,
    thresholds: Any = None,
    zero: Any = None,
    scale: Any = None,
    weights: Any = None,
    grow: float | None = None,
    ddof: int = 1,
) -> CCDData:
    """Combine NDData/CCDData frames into a CCDData with a mask and an uncertainty.

    The data equal ``Combiner(data, mask=mask).combine(method, rejectors=rejectors,
    thresholds=thresholds, zero=zero, scale=scale, weights=weights, grow=grow)`` of
    ``data, mask, _ = stack_from_nddata(ccds)``: the stages are thresholds, the correction
    ``(x - zero_i) / scale_i``, rejection, combine. Run as a chain, they also give the
    *survivors* of each pixel: the samples that are finite, not masked by their input, within
    the thresholds and not rejected.

    Parameters
    ----------
    ccds : sequence of astropy.nddata.NDData
        The frames (``CCDData`` included): same shape, same unit (not None). An input's mask
        excludes its samples; its uncertainty is any type that converts to a variance
        (``StdDevUncertainty``, ``VarianceUncertainty``, ``InverseVariance``); the classes
        may differ between inputs.
    method : {"mean", "weighted_average", "median", "lmedian", "sum", "min", "max", \
"variance"}, default "mean"
        The combine method (aliases as in `Combiner.combine`). ``mean`` with ``weights``
        is the weighted average. ``min``, ``max`` and ``variance`` need an uncertainty on
        every input (there is no scatter estimate for them).
    rejectors : Rejector or list of Rejector, optional
        Rejection rules (``imc.SigClip(...)``, ...), applied in order.
    thresholds : (float, float), optional
        Samples outside ``[low, high]`` (raw values) are not used.
    zero, scale : None, number, sequence of N numbers, str or callable, optional
        The per-frame correction, as in `Combiner.combine`; statistics skip the masked
        samples and those outside the thresholds.
    weights : array_like of shape (N,), {"mean", "median", "mode"} or "ivar", optional
        Weights of the weighted average (``mean`` and ``weighted_average`` only); ``"ivar"``:
        the inverse of each sample's variance (every input needs an uncertainty).
    grow : float, optional
        Grow radius of the rejection, in pixels.
    ddof : int, default 1
        Delta degrees of freedom of the survivors' standard deviation, used for the
        uncertainty when not every input has one, and of ``method="variance"``.

    Returns
    -------
    astropy.nddata.CCDData
        ``data``: the combined image (float32 for uint8, uint16, int16 and float32 inputs,
        float64 otherwise). ``unit``: the inputs' unit. ``mask``: True where no sample
        survived (the data are NaN there). ``uncertainty``: of the data's dtype, in the first
        input's uncertainty class when every input has one (``StdDevUncertainty`` for the
        scatter estimate; see Notes). ``meta``: a deep copy of the first input's ``meta`` with
        ``NCOMBINE`` (the number of inputs) set. ``wcs``: the first input's WCS when it is an
        ``astropy.wcs.WCS``.

    Raises
    ------
    TypeError
        For an input that is not an NDData, or a stack dtype `Combiner` does not accept.
    ValueError
        For inputs of different shapes or units, inputs without a unit, an unsupported
        method, or weights with a method other than the (weighted) mean.

    Notes
    -----
    When every input has an uncertainty, each is converted to a variance (in the data's
    unit squared) and given to the combine as ``variance=``: it rides along through the
    correction (``var_i / scale_i**2``), rejection (`VarClip` tests each sample against it)
    and the combine, which propagates it with the formulas of ``docs/uncertainty.md``
    (mean ``sum(var_i) / n**2``; weighted mean ``sum(w_i**2 var_i) / (sum w_i)**2``; sum
    ``sum(var_i)``; median and lmedian ``pi / 2`` times the mean's; min, max and variance
    as stated there). A sample whose variance is not finite or negative is missing, as a
    masked one. The result's uncertainty has the first input's class (a standard
    deviation, a variance or an inverse variance), whatever the others' classes.

    Otherwise, the uncertainty comes from the scatter of the survivors (the corrected
    values), ``s = std(ddof=ddof)``, NaN where ``n < max(2, ddof + 1)``:

    - mean: ``s / sqrt(n)``; weighted mean: ``s * sqrt(sum w_i**2) / sum w_i``,
    - median, lmedian: ``sqrt(pi / 2)`` times the mean's,
    - sum: ``s * sqrt(n)``.

    An input whose uncertainty does not convert to a variance (``UnknownUncertainty``)
    counts as one without, with an `ImcombinersWarning`.

    Examples
    --------
    >>> from astropy.nddata import CCDData, StdDevUncertainty
    >>> from imcombiners.ccddata import combine_ccddata
    >>> frames = [
    ...     CCDData(
    ...         np.full((2, 2), level),
    ...         unit="adu",
    ...         uncertainty=StdDevUncertainty(np.full((2, 2), 2.0)),
    ...     )
    ...     for level in [9.0, 10.0, 11.0] * 4
    ... ]
    >>> frames[4].data[0, 0] = 5000.0  # a cosmic ray
    >>> frames[1].mask = np.array([[False, True], [False, False]])
    >>> out = combine_ccddata(frames, "mean", rejectors=imc.SigClip(sigma=3.0))
    >>> out.data
    array([[10., 10.],
           [10., 10.]])
    >>> out.uncertainty.array  # 2 / sqrt(11) where one sample is out, 2 / sqrt(12) elsewhere
    array([[0.60302269, 0.60302269],
           [0.57735027, 0.57735027]])
    >>> out.unit, out.meta["NCOMBINE"], bool(out.mask.any())
    (Unit("adu"), 12, False)
    """
    from astropy.nddata import CCDData, StdDevUncertainty
    from astropy.wcs import WCS

    name = _method(method)
    items = _as_list(ccds)
    data, mask, unit = stack_from_nddata(items)
    if unit is None:
        raise ValueError(
            "the inputs have no unit and a CCDData needs one: give them a unit, "
            "e.g. CCDData(data, unit='adu') or NDData(data, unit='electron')"
        )
    ddof = nonnegative_int(ddof, name="ddof")
    given = _variances(items, unit)
    if given is None and name not in SCATTER_METHODS:
        raise ValueError(
            f"method={method!r}: the uncertainty of a {name} is propagated from the inputs' "
            "uncertainties, and not every input has one (give each a StdDevUncertainty, "
            "VarianceUncertainty or InverseVariance)"
        )

    # One plan, as a one-shot combine would resolve it (statistics on the input mask and the
    # thresholds), run as a chain so that the survivors are known for the uncertainty.
    stack = as_stack(data, name="data")
    in_mask = as_mask(mask, stack)
    extra: dict[str, Any] = {}
    if given is not None:
        from ._variance import as_variance

        extra["variance"] = as_variance(given[0], stack)
    plan = _plan.build(
        stack,
        in_mask,
        method=name,
        rejectors=rejectors,
        weights=weights,
        ddof=ddof if name == "variance" else 0,
        thresholds=thresholds,
        zero=zero,
        scale=scale,
        grow=grow,
        diagnostics="simple",
        **extra,
    )
    outcome = _plan.execute(plan, stack, in_mask, input_mask=in_mask)
    combined = outcome.combined
    final = in_mask if outcome.step is None else outcome.step.mask
    if outcome.step is None and plan.thresholds is not None:
        out = _plan.outside(stack, plan.thresholds)
        final = (out if final is None else (final.view(bool) | out)).view(np.uint8)

    used = np.ones(data.shape, dtype=bool) if final is None else ~final.view(bool)
    if data.dtype.kind == "f":
        used &= np.isfinite(data)
    if given is not None:
        with np.errstate(invalid="ignore"):
            used &= np.isfinite(given[0]) & (given[0] >= 0)
    n = np.count_nonzero(used, axis=0)
    if given is not None:
        variance = np.where(n == 0, np.nan, outcome.variance)
        uncertainty = _as_class(variance, given[1], combined.dtype)
    else:
        unc = _scatter(stack, final, plan, name, used, n, ddof)
        unc = np.where(n == 0, np.nan, unc).astype(combined.dtype, copy=False)
        uncertainty = StdDevUncertainty(unc)

    meta = copy.deepcopy(items[0].meta)
    meta["NCOMBINE"] = len(items)
    wcs = getattr(items[0], "wcs", None)
    return CCDData(
        combined,
        unit=unit,
        mask=n == 0,
        uncertainty=uncertainty,
        meta=meta,
        wcs=wcs if isinstance(wcs, WCS) else None,
    )


def _scatter(
    stack: Any,
    final: np.ndarray | None,
    plan: Any,
    name: str,
    used: np.ndarray,
    n: np.ndarray,
    ddof: int,
) -> np.ndarray:
    """The uncertainty estimated from the scatter of the survivors (see `combine_ccddata`)."""
    w = plan.weights
    var = _plan.variance(stack, final, ddof=ddof, zero=plan.zero, scale=plan.scale)
    std = np.sqrt(var.astype(np.float64))
    std[n < max(2, ddof + 1)] = np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        if name == "sum":
            return std * np.sqrt(n)
        if w is not None:
            sum_w = np.einsum("i,i...->...", w, used)
            return std * np.sqrt(np.einsum("i,i...->...", w**2, used)) / sum_w
        unc = std / np.sqrt(n)
        if name in ("median", "lmedian"):
            unc *= _MEDIAN_FACTOR
        return unc
