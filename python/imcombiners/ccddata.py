"""Combine astropy `~astropy.nddata.NDData` / `~astropy.nddata.CCDData` objects.

astropy is imported only when these functions run, so ``import imcombiners`` does not need it.

`stack_from_nddata` turns a sequence of NDData objects into a stack, a per-sample mask and
their common unit; `combine_ccddata` combines them with a `Combiner` and returns a CCDData
with a mask (no surviving sample) and a standard-deviation uncertainty.
"""

from __future__ import annotations

import copy
import math
import sys
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _plan, kernels
from ._validation import as_mask, as_stack, method_name, nonnegative_int
from .errors import ImcombinersWarning

if TYPE_CHECKING:
    from astropy.nddata import CCDData, NDData
    from astropy.units import UnitBase

__all__ = ["SUPPORTED_METHODS", "combine_ccddata", "is_nddata_sequence", "stack_from_nddata"]

#: The combine methods `combine_ccddata` can attach an uncertainty to (canonical names).
SUPPORTED_METHODS = ("mean", "weighted_average", "median", "lmedian", "sum")

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
            f"(wvg), median (med), lmedian (lmed) and sum, got {method!r}"
        )
    return name


def _sigmas(items: list[Any], unit: Any) -> list[np.ndarray] | None:
    """Each input's uncertainty as a float64 standard deviation in ``unit``, or None.

    None unless every input has an uncertainty that converts to a standard deviation.
    """
    from astropy.nddata import StdDevUncertainty

    if any(item.uncertainty is None for item in items):
        return None
    out = []
    shape = np.shape(items[0].data)
    for i, item in enumerate(items):
        try:
            std = item.uncertainty.represent_as(StdDevUncertainty)
        except (TypeError, ValueError, NotImplementedError) as exc:
            warnings.warn(
                f"the uncertainty of item {i} ({type(item.uncertainty).__name__}) cannot be "
                f"used as a standard deviation ({exc}); the uncertainty of the result is "
                "estimated from the scatter of the surviving samples instead",
                ImcombinersWarning,
                stacklevel=3,
            )
            return None
        if std.unit is not None and unit is not None and std.unit != unit:
            arr = std.quantity.to_value(unit)
        else:
            arr = np.asarray(std.array)
        arr = np.asarray(arr, dtype=np.float64)
        try:
            arr = np.broadcast_to(arr, shape)
        except ValueError:
            raise ValueError(
                f"the uncertainty of item {i} has shape {arr.shape}, its data has shape {shape}"
            ) from None
        out.append(arr)
    return out


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
        excludes its samples; its uncertainty is any type that converts to a standard
        deviation (``StdDevUncertainty``, ``VarianceUncertainty``, ``InverseVariance``).
    method : {"mean", "weighted_average", "median", "lmedian", "sum"}, default "mean"
        The combine method (aliases as in `Combiner.combine`). ``mean`` with ``weights``
        is the weighted average.
    rejectors : Rejector or list of Rejector, optional
        Rejection rules (``imc.SigClip(...)``, ...), applied in order.
    thresholds : (float, float), optional
        Samples outside ``[low, high]`` (raw values) are not used.
    zero, scale : None, number, sequence of N numbers, str or callable, optional
        The per-frame correction, as in `Combiner.combine`; statistics skip the masked
        samples and those outside the thresholds.
    weights : array_like of shape (N,) or {"mean", "median", "mode"}, optional
        Weights of the weighted average (``mean`` and ``weighted_average`` only).
    grow : float, optional
        Grow radius of the rejection, in pixels.
    ddof : int, default 1
        Delta degrees of freedom of the survivors' standard deviation, used for the
        uncertainty when not every input has one.

    Returns
    -------
    astropy.nddata.CCDData
        ``data``: the combined image (float32 for uint8, uint16, int16 and float32 inputs,
        float64 otherwise). ``unit``: the inputs' unit. ``mask``: True where no sample
        survived (the data are NaN there). ``uncertainty``: a ``StdDevUncertainty`` of the
        data's dtype (see Notes). ``meta``: a deep copy of the first input's ``meta`` with
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
    With ``sigma_i`` the standard deviation of sample ``i`` divided by ``scale_i`` (a
    correction ``(x - zero_i) / scale_i`` scales the noise by ``1 / scale_i``; ``zero_i``
    does not change it), ``w_i`` the weights and sums over the ``n`` survivors of a pixel:

    When every input has an uncertainty, it is propagated, assuming independent samples:

    - mean: ``sqrt(sum sigma_i**2) / n``; weighted mean:
      ``sqrt(sum w_i**2 sigma_i**2) / sum w_i``,
    - median, lmedian: ``sqrt(pi / 2)`` times the mean's (the large-sample ratio for normal
      noise),
    - sum: ``sqrt(sum sigma_i**2)``.

    A survivor with a non-finite uncertainty makes its pixel's uncertainty NaN.

    Otherwise, the uncertainty comes from the scatter of the survivors (the corrected
    values), ``s = std(ddof=ddof)``, NaN where ``n < max(2, ddof + 1)``:

    - mean: ``s / sqrt(n)``; weighted mean: ``s * sqrt(sum w_i**2) / sum w_i``,
    - median, lmedian: ``sqrt(pi / 2)`` times the mean's,
    - sum: ``s * sqrt(n)``.

    An input whose uncertainty does not convert to a standard deviation
    (``UnknownUncertainty``) counts as one without, with an `ImcombinersWarning`.

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
    sigmas = _sigmas(items, unit)

    # One plan, as a one-shot combine would resolve it (statistics on the input mask and the
    # thresholds), run as a chain so that the survivors are known for the uncertainty.
    stack = as_stack(data, name="data")
    in_mask = as_mask(mask, stack)
    plan = _plan.build(
        stack,
        in_mask,
        method=name,
        rejectors=rejectors,
        weights=weights,
        thresholds=thresholds,
        zero=zero,
        scale=scale,
        grow=grow,
        diagnostics="simple",
    )
    final = in_mask
    if plan.rules or plan.grow is not None or plan.thresholds is not None:
        final = _plan.reject(plan, stack, in_mask, input_mask=in_mask).mask
    combined = _plan.combine_masked(plan, stack, final)
    w = plan.weights

    used = np.ones(data.shape, dtype=bool) if final is None else ~final.view(bool)
    if data.dtype.kind == "f":
        used &= np.isfinite(data)
    n = np.count_nonzero(used, axis=0)
    sum_w = None if w is None else np.einsum("i,i...->...", w, used)
    if sigmas is not None:
        unc = _propagated(sigmas, used, name, n, plan.scale, w, sum_w)
    else:
        var = _plan.variance(stack, final, ddof=ddof, zero=plan.zero, scale=plan.scale)
        var = var.astype(np.float64)
        std = np.sqrt(var)
        std[n < max(2, ddof + 1)] = np.nan
        with np.errstate(divide="ignore", invalid="ignore"):
            if name == "sum":
                unc = std * np.sqrt(n)
            elif w is not None:
                unc = std * np.sqrt(np.einsum("i,i...->...", w**2, used)) / sum_w
            else:
                unc = std / np.sqrt(n)
                if name in ("median", "lmedian"):
                    unc *= _MEDIAN_FACTOR
    unc = np.where(n == 0, np.nan, unc).astype(combined.dtype, copy=False)

    meta = copy.deepcopy(items[0].meta)
    meta["NCOMBINE"] = len(items)
    wcs = getattr(items[0], "wcs", None)
    return CCDData(
        combined,
        unit=unit,
        mask=n == 0,
        uncertainty=StdDevUncertainty(unc),
        meta=meta,
        wcs=wcs if isinstance(wcs, WCS) else None,
    )


def _propagated(
    sigmas: list[np.ndarray],
    used: np.ndarray,
    name: str,
    n: np.ndarray,
    scale: np.ndarray | None,
    weights: np.ndarray | None,
    sum_w: np.ndarray | None,
) -> np.ndarray:
    """Propagate the inputs' standard deviations through the combine (see `combine_ccddata`)."""
    var = np.empty(used.shape, dtype=np.float64)
    for i, sigma in enumerate(sigmas):
        factor = 1.0
        if scale is not None:
            factor /= scale[i] ** 2
        if weights is not None:
            factor *= weights[i] ** 2
        np.multiply(np.square(sigma), factor, out=var[i])
    # The kernel skips non-finite samples; a survivor with an unknown sigma poisons its pixel.
    poisoned = np.any(used & ~np.isfinite(var), axis=0)
    total = kernels.sum(var, mask=~used)
    total[poisoned] = np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        root = np.sqrt(total)
        if name == "sum":
            return root
        if weights is not None:
            return root / sum_w
        out = root / n
        if name in ("median", "lmedian"):
            out *= _MEDIAN_FACTOR
        return out
