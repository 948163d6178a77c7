"""``Combiner`` with ccdproc 2.5's interface, computed by the imcombiners core."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
from astropy.nddata import CCDData, StdDevUncertainty

import imcombiners.kernels as imck

from ._funcs import MAD_TO_SIGMA, _default_std, kind_of, sigma_func

__all__ = ["Combiner"]

# Dtypes the core reads directly; anything else is worked in float64.
_CORE_DTYPES = {np.dtype(t) for t in ("uint8", "uint16", "int16", "float32", "int32", "float64")}
_DEFAULT_STD = _default_std()


def _work(data: np.ndarray) -> np.ndarray:
    return data if data.dtype in _CORE_DTYPES else data.astype(np.float64)


class Combiner:
    """Combine a list of CCDData along a new first axis, as ``ccdproc.Combiner`` does.

    Rejections (`minmax_clipping`, `sigma_clipping`, `clip_extrema`) add to the mask of
    `data_arr`; the ``*_combine`` methods return a `~astropy.nddata.CCDData` with a mask where
    no sample survived and a `~astropy.nddata.StdDevUncertainty`. ccdproc's built-in
    statistics run on the imcombiners core; other callables are called as ccdproc calls them.

    Parameters
    ----------
    ccd_iter : iterable of astropy.nddata.CCDData
        Images of one shape and one unit.
    dtype : numpy dtype, optional
        Dtype of `data_arr` and of the results; float64 when None.

    Raises
    ------
    TypeError
        If ``ccd_iter`` is None, holds something else than CCDData, or the shapes or units
        differ.
    """

    def __init__(self, ccd_iter: Iterable[CCDData], dtype: Any = None) -> None:
        if ccd_iter is None:
            raise TypeError("ccd_iter should be a list or a generator of CCDData objects.")
        ccds = list(ccd_iter)
        if not ccds:
            raise TypeError("ccd_iter holds no CCDData objects.")
        for ccd in ccds:
            if not isinstance(ccd, CCDData):
                raise TypeError("ccd_list should only contain CCDData objects.")
            if ccd.shape != ccds[0].shape:
                raise TypeError("CCDData objects are not the same size.")
            if ccd.unit != ccds[0].unit:
                raise TypeError("CCDData objects don't have the same unit.")
        dtype = np.dtype(np.float64 if dtype is None else dtype)
        data = np.empty((len(ccds), *ccds[0].shape), dtype=dtype)
        mask = np.zeros(data.shape, dtype=bool)
        for i, ccd in enumerate(ccds):
            data[i] = ccd.data
            if ccd.mask is not None:
                mask[i] = ccd.mask
        self.ccd_list = ccds
        self._setup(data, mask, ccds[0].unit)

    @classmethod
    def _from_arrays(
        cls, data: np.ndarray, mask: np.ndarray, unit: Any, dtype: Any = None
    ) -> Combiner:
        """Build a Combiner on a stack already in memory (used by `combine`).

        ``dtype`` is the result dtype when it differs from the stack's (an integer stack the
        core reads exactly in float32).
        """
        self = cls.__new__(cls)
        self.ccd_list = []
        self._setup(data, mask, unit)
        if dtype is not None:
            self._dtype = np.dtype(dtype)
        return self

    def _setup(self, data: np.ndarray, mask: np.ndarray, unit: Any) -> None:
        self.unit = unit
        self._dtype = data.dtype
        self.data_arr = np.ma.MaskedArray(data, mask=mask, copy=False)
        self._weights: np.ndarray | None = None
        self._scaling: np.ndarray | None = None

    # ----------------------------------------------------------------- properties
    @property
    def dtype(self) -> np.dtype:
        """Dtype of the stack and of the combined images."""
        return self._dtype

    @property
    def weights(self) -> np.ndarray | None:
        """Weights of the average and sum: one per image, or one per sample.

        Raises
        ------
        TypeError
            If set to something else than a `numpy.ndarray` or None.
        ValueError
            If the shape is neither the stack's nor ``(n_images,)``.
        """
        return self._weights

    @weights.setter
    def weights(self, value: np.ndarray | None) -> None:
        if value is None:
            self._weights = None
            return
        if not isinstance(value, np.ndarray):
            raise TypeError("weights must be a numpy.ndarray.")
        if value.shape != self.data_arr.shape:
            if value.ndim != 1:
                raise ValueError("1D weights expected when shapes of the data and weights differ.")
            if value.shape[0] != self.data_arr.shape[0]:
                raise ValueError("Length of weights not compatible with specified axis.")
        self._weights = value

    @property
    def scaling(self) -> np.ndarray | None:
        """Factors the images are MULTIPLIED by before combining (ccdproc's convention).

        Set a callable (called on each image, a masked array, to give its factor) or one number
        per image; read back as an array shaped to broadcast against the stack.

        Raises
        ------
        TypeError
            If set to something that is neither callable nor a sequence.
        ValueError
            If the number of factors is not the number of images.
        """
        return self._scaling

    @scaling.setter
    def scaling(self, value: Callable[[Any], Any] | Any) -> None:
        if value is None:
            self._scaling = None
            return
        n = self.data_arr.shape[0]
        if callable(value):
            factors = np.array([value(self.data_arr[i]) for i in range(n)])
        else:
            try:
                length = len(value)
            except TypeError as err:
                raise TypeError(
                    "scaling must be a function or an array the same length as the number of "
                    "images."
                ) from err
            if length != n:
                raise ValueError(
                    "scaling must be a function or an array the same length as the number of "
                    "images."
                )
            factors = np.array(value)
        self._scaling = factors.reshape(factors.shape + (1,) * (self.data_arr.ndim - 1))

    # ----------------------------------------------------------------- rejection
    def clip_extrema(self, nlow: int | None = 0, nhigh: int | None = 0) -> None:
        """Mask the ``nlow`` lowest and ``nhigh`` highest values of each pixel.

        As in ccdproc, the ranks are taken over all samples, already masked ones included.

        Parameters
        ----------
        nlow, nhigh : int or None, default 0
            How many low and high values to mask (None is 0).
        """
        nlow, nhigh = int(nlow or 0), int(nhigh or 0)
        if nlow <= 0 and nhigh <= 0:
            return
        mask = self.data_arr.mask
        if nlow + nhigh >= self.data_arr.shape[0]:
            mask[...] = True
            return
        mask |= imck.minmax_mask(_work(self.data_arr.data), n_min=nlow, n_max=nhigh)

    def minmax_clipping(self, min_clip: float | None = None, max_clip: float | None = None) -> None:
        """Mask the samples below ``min_clip`` or above ``max_clip``.

        Parameters
        ----------
        min_clip, max_clip : float or None
            The bounds; None leaves that side open.
        """
        data, mask = self.data_arr.data, self.data_arr.mask
        with np.errstate(invalid="ignore"):
            if min_clip is not None:
                mask |= data < min_clip
            if max_clip is not None:
                mask |= data > max_clip

    def sigma_clipping(
        self,
        low_thresh: float | None = 3,
        high_thresh: float | None = 3,
        func: str | Callable[..., Any] = "mean",
        dev_func: str | Callable[..., Any] = "std",
        **kwd: Any,
    ) -> None:
        """Mask samples further than the thresholds from the centre, in units of the spread.

        One pass by default (``maxiters=1``), as in ccdproc: the centre ``func`` and the spread
        ``dev_func`` are measured on each pixel's unmasked samples, and a sample is masked if
        it lies below ``centre - low_thresh * spread`` or above ``centre + high_thresh *
        spread``. ``(np.ma.median, mad_std)`` and ``(np.ma.mean, np.ma.std)`` (and their NumPy,
        string and bottleneck spellings) run in the core; other pairs run in NumPy.

        Parameters
        ----------
        low_thresh, high_thresh : float or None, default 3
            Thresholds in units of the spread; None disables that side.
        func : {"mean", "median"} or callable, default "mean"
            The centre; a callable is called as ``func(masked_stack, axis=0)``.
        dev_func : {"std", "mad_std"} or callable, default "std"
            The spread, called like ``func``.
        **kwd
            ``maxiters`` (default 1; None iterates until nothing changes); ``use_astropy`` and
            ``axis=0`` are accepted and ignored.
        """
        kwd.pop("use_astropy", None)
        if kwd.pop("axis", 0) not in (0, None):
            raise ValueError("sigma_clipping only clips along axis 0")
        kwd.pop("copy", None)
        maxiters = kwd.pop("maxiters", 1)
        if kwd:
            raise TypeError(f"unsupported sigma_clipping arguments: {sorted(kwd)}")
        low = np.inf if low_thresh is None else abs(float(low_thresh))
        high = np.inf if high_thresh is None else abs(float(high_thresh))
        stats = _clip_statistics(func, dev_func)
        mask = self.data_arr.mask
        data = _work(self.data_arr.data)
        remaining = 2**62 if maxiters is None else int(maxiters)
        while remaining > 0:
            remaining -= 1
            cen, dev = stats(data, mask)
            with np.errstate(invalid="ignore"):
                lower, upper = _bounds(data.dtype, cen - low * dev, cen + high * dev)
                before = int(np.count_nonzero(mask)) if remaining > 0 else 0
                mask |= data < lower
                mask |= data > upper
            if remaining == 0 or int(np.count_nonzero(mask)) == before:
                break

    # ----------------------------------------------------------------- combining
    def _prepare(self, scale_to: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Scaled work stack, its exclusion mask and the count of usable samples per pixel."""
        data = self.data_arr.data
        factors = scale_to if scale_to is not None else self._scaling
        if factors is not None:
            factors = np.asarray(factors)
            if factors.ndim == 1 and factors.shape[0] == data.shape[0] and data.ndim > 1:
                factors = factors.reshape(factors.shape + (1,) * (data.ndim - 1))
            data = data * factors
        data = _work(data)
        mask = self.data_arr.mask
        excluded = mask | ~np.isfinite(data) if data.dtype.kind == "f" else mask
        # Summing bytes along axis 0 is much faster than count_nonzero(axis=0).
        small = np.uint8 if data.shape[0] < 256 else np.intp
        count = data.shape[0] - excluded.view(np.uint8).sum(axis=0, dtype=small).astype(np.intp)
        return data, excluded, count

    def _user_view(self, data: np.ndarray, excluded: np.ndarray, masked_input: bool) -> Any:
        """The stack as ccdproc hands it to a user callable."""
        if masked_input:
            return np.ma.MaskedArray(data, mask=excluded)
        if excluded.any():
            return np.where(excluded, np.nan, data.astype(np.float64, copy=False))
        return data

    def _spread(
        self,
        func: Callable[..., Any],
        data: np.ndarray,
        excluded: np.ndarray,
        masked_input: bool,
        centre: np.ndarray | None = None,
    ) -> np.ndarray:
        """Per-pixel spread by ``func``: core for std/sigma_func, else the user's callable."""
        kind = kind_of(func)
        if kind == "std":
            var = imck.variance(data, ddof=0, mask=excluded)
            return np.sqrt(np.asarray(var, dtype=np.float64))
        if kind == "sigma_func":
            if centre is None:
                centre = imck.median(data, mask=excluded)
            return MAD_TO_SIGMA * _core_mad(data, excluded, centre)
        view = self._user_view(data, excluded, masked_input)
        if func is sigma_func:
            return np.asarray(func(view, axis=0, ignore_nan=True), dtype=np.float64)
        return np.asarray(np.ma.filled(func(view, axis=0), np.nan), dtype=np.float64)

    def _result(
        self, value: Any, count: np.ndarray, uncertainty: np.ndarray, per_sample: bool
    ) -> CCDData:
        with np.errstate(divide="ignore", invalid="ignore"):
            root = np.sqrt(count)
            unc = np.asarray(uncertainty, dtype=np.float64)
            unc = unc * root if per_sample else unc / root
        out = CCDData(
            np.asarray(np.ma.filled(value, np.nan) if np.ma.isMaskedArray(value) else value).astype(
                self.dtype, copy=False
            ),
            mask=count == 0,
            unit=self.unit,
            uncertainty=StdDevUncertainty(unc),
        )
        out.meta["NCOMBINE"] = self.data_arr.shape[0]
        return out

    def median_combine(
        self,
        median_func: Callable[..., Any] | None = None,
        scale_to: Any = None,
        uncertainty_func: Callable[..., Any] = sigma_func,
    ) -> CCDData:
        """Median of the unmasked samples of each pixel.

        The uncertainty is ccdproc's: ``1.4826 * MAD / sqrt(n)`` with ``n`` the usable samples
        (the MAD taken about the median of those samples), or ``uncertainty_func(stack,
        axis=0) / sqrt(n)``.

        Parameters
        ----------
        median_func : callable, optional
            The median; ``np.ma.median``/``np.median``/``np.nanmedian`` (and None) run in the
            core, another callable gets the masked stack and ``axis=0``.
        scale_to : float or array_like, optional
            Factors multiplying the images; overrides `scaling`.
        uncertainty_func : callable, default `sigma_func`
            Spread of the samples per pixel.

        Returns
        -------
        astropy.nddata.CCDData
            The median, a mask where no sample was usable, the uncertainty, and
            ``meta["NCOMBINE"]``.
        """
        data, excluded, count = self._prepare(scale_to)
        user = median_func is not None and kind_of(median_func) != "median"
        core_median = imck.median(data, mask=excluded)
        value = median_func(np.ma.MaskedArray(data, mask=excluded), axis=0) if user else core_median
        unc = self._spread(uncertainty_func, data, excluded, user, centre=core_median)
        return self._result(value, count, unc, False)

    def _weighted(self, data: np.ndarray, excluded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Weighted sum and sum of weights over the usable samples of each pixel."""
        weights = np.asarray(self._weights, dtype=np.float64)
        if weights.shape != data.shape:
            weights = weights.reshape(weights.shape + (1,) * (data.ndim - 1))
        weighted = imck.sum(np.asarray(data * weights, dtype=np.float64), mask=excluded)
        total = np.sum(np.where(excluded, 0.0, np.broadcast_to(weights, data.shape)), axis=0)
        return np.asarray(weighted), total

    def average_combine(
        self,
        scale_func: Callable[..., Any] | None = None,
        scale_to: Any = None,
        uncertainty_func: Callable[..., Any] = _DEFAULT_STD,
        sum_func: Callable[..., Any] = np.nansum,
    ) -> CCDData:
        """Mean (or weighted mean with `weights`) of the unmasked samples of each pixel.

        The uncertainty is the standard deviation of the usable samples divided by
        ``sqrt(n)``. Weights are renormalised over each pixel's usable samples.

        Parameters
        ----------
        scale_func : callable, optional
            The average; ``np.ma.mean``/``np.mean``/``np.nanmean`` (and None) run in the core,
            another callable gets the masked stack and ``axis=0``.
        scale_to : float or array_like, optional
            Factors multiplying the images; overrides `scaling`.
        uncertainty_func : callable, default `numpy.nanstd`
            Spread of the samples per pixel.
        sum_func : callable, default `numpy.nansum`
            Sum used for the weighted mean; a user callable is called on ``stack * weights``
            and on the weights, as ccdproc does.

        Returns
        -------
        astropy.nddata.CCDData
            The mean, a mask where no sample was usable, the uncertainty, and
            ``meta["NCOMBINE"]``.
        """
        data, excluded, count = self._prepare(scale_to)
        user = scale_func is not None and kind_of(scale_func) != "mean"
        if self._weights is not None:
            if kind_of(sum_func) == "sum":
                wsum, wtot = self._weighted(data, excluded)
                with np.errstate(divide="ignore", invalid="ignore"):
                    value = wsum / wtot
            else:
                view = self._user_view(data, excluded, user)
                weights = np.asarray(self._weights, dtype=np.float64)
                if weights.shape != data.shape:
                    weights = weights.reshape(weights.shape + (1,) * (data.ndim - 1))
                value = sum_func(view * weights, axis=0) / sum_func(weights, axis=0)
        elif user:
            value = scale_func(np.ma.MaskedArray(data, mask=excluded), axis=0)
        else:
            value = imck.mean(data, mask=excluded)
        unc = self._spread(uncertainty_func, data, excluded, user)
        return self._result(value, count, unc, False)

    def sum_combine(
        self,
        sum_func: Callable[..., Any] | None = None,
        scale_to: Any = None,
        uncertainty_func: Callable[..., Any] = _DEFAULT_STD,
    ) -> CCDData:
        """Sum (weighted with `weights`) of the unmasked samples of each pixel.

        A pixel without usable samples sums to 0 and is masked. The uncertainty is the standard
        deviation of the usable samples times ``sqrt(n)``.

        Parameters
        ----------
        sum_func : callable, optional
            The sum; ``np.ma.sum``/``np.sum``/``np.nansum`` (and None) run in the core, another
            callable gets the masked stack and ``axis=0``.
        scale_to : float or array_like, optional
            Factors multiplying the images; overrides `scaling`.
        uncertainty_func : callable, default `numpy.nanstd`
            Spread of the samples per pixel.

        Returns
        -------
        astropy.nddata.CCDData
            The sum, a mask where no sample was usable, the uncertainty, and
            ``meta["NCOMBINE"]``.
        """
        data, excluded, count = self._prepare(scale_to)
        user = sum_func is not None and kind_of(sum_func) != "sum"
        if user:
            view = np.ma.MaskedArray(data, mask=excluded)
            if self._weights is not None:
                weights = np.asarray(self._weights, dtype=np.float64)
                if weights.shape != data.shape:
                    weights = weights.reshape(weights.shape + (1,) * (data.ndim - 1))
                view = view * weights
            value = sum_func(view, axis=0)
        else:
            if self._weights is not None:
                value = self._weighted(data, excluded)[0]
            else:
                value = np.asarray(imck.sum(data, mask=excluded))
            value = np.where(count == 0, 0, value)
        unc = self._spread(uncertainty_func, data, excluded, user)
        return self._result(value, count, unc, True)


def _bounds(dtype: np.dtype, lower: np.ndarray, upper: np.ndarray) -> tuple[Any, Any]:
    """Clipping bounds in a dtype cheap to compare with, giving the same decisions.

    For 8/16-bit integers ``x < lower`` is ``x < ceil(lower)`` and ``x > upper`` is
    ``x > floor(upper)``; those integers are exact in float32.
    """
    if dtype.kind in "iu" and dtype.itemsize <= 2:
        lo = np.clip(np.ceil(lower), -(2.0**17), 2.0**17).astype(np.float32)
        hi = np.clip(np.floor(upper), -(2.0**17), 2.0**17).astype(np.float32)
        return lo, hi
    return lower, upper


def _core_median_mad(data: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median and ``1.4826 * MAD`` of each pixel's unmasked samples, both by the core."""
    centre = imck.median(data, mask=mask)
    return np.asarray(centre, dtype=np.float64), MAD_TO_SIGMA * _core_mad(data, mask, centre)


def _core_mad(data: np.ndarray, mask: np.ndarray, centre: Any) -> np.ndarray:
    """Median of ``|x - centre|`` over each pixel's unmasked samples (core median)."""
    # |x - median| is exact in float32 for the 8- and 16-bit integers the core reads.
    if data.dtype.kind == "f":
        work = data.dtype
    else:
        work = np.dtype(np.float32 if data.dtype.itemsize <= 2 else np.float64)
    dev = data.astype(work)
    dev -= np.asarray(centre, dtype=work)
    np.abs(dev, out=dev)
    return np.asarray(imck.median(dev, mask=mask), dtype=np.float64)


def _core_mean_std(data: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population standard deviation of each pixel's unmasked samples (core)."""
    var, mean = imck.variance(data, ddof=0, return_mean=True, mask=mask)
    return np.asarray(mean, dtype=np.float64), np.sqrt(np.asarray(var, dtype=np.float64))


def _clip_statistics(
    func: Any, dev_func: Any
) -> Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Centre and spread of the unmasked samples, per pixel, as ``sigma_clipping`` needs them.

    ``(median, mad_std)`` and ``(mean, std)`` are measured by the core (the bounds are then
    formed in float64, as astropy forms them); any other pair calls the functions on the
    masked stack.
    """
    pair = (kind_of(func), kind_of(dev_func))
    if pair == ("median", "mad_std"):
        return _core_median_mad
    if pair == ("mean", "std"):
        return _core_mean_std
    centre = {"median": np.ma.median, "mean": np.ma.mean}.get(pair[0] or "", func)
    spread = {"std": np.ma.std, "mad_std": _ma_mad_std}.get(pair[1] or "", dev_func)

    def numpy_stats(data: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        bad = mask | ~np.isfinite(data) if data.dtype.kind == "f" else mask
        masked = np.ma.MaskedArray(data, mask=bad)
        cen = np.ma.filled(np.ma.asarray(centre(masked, axis=0)).astype(np.float64), np.nan)
        dev = np.ma.filled(np.ma.asarray(spread(masked, axis=0)).astype(np.float64), np.nan)
        return cen, dev

    return numpy_stats


def _ma_mad_std(arr: Any, axis: int | None = None) -> Any:
    from astropy.stats import mad_std

    return mad_std(arr, axis=axis, ignore_nan=True)
