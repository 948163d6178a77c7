"""``combine`` with ccdproc 2.5's signature: FITS paths, CCDData or arrays, combined in bands."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
from astropy.io import fits
from astropy.nddata import CCDData, StdDevUncertainty

import imcombiners as imc

from ._funcs import kind_of
from .combiner import Combiner

__all__ = ["combine"]

_METHODS = {"average": "average_combine", "median": "median_combine", "sum": "sum_combine"}
# Working set per band is kept below this, whatever mem_limit allows: small bands stay in cache.
_BAND_BYTES = 48 * 2**20
_NARROW = {np.dtype(t) for t in ("uint8", "uint16", "int16")}


class _Source:
    """One input image: a CCDData in memory, or a plain FITS image read band by band."""

    def __init__(self, item: Any, ccdkwargs: dict[str, Any]) -> None:
        self.ccd: CCDData | None = None
        self.hdul: fits.HDUList | None = None
        self.uint16 = False
        if isinstance(item, CCDData):
            self.ccd = item
        elif isinstance(item, np.ndarray) and item.ndim >= 1 and item.dtype.kind in "uifb":
            self.ccd = CCDData(item, unit=ccdkwargs.get("unit", "adu"))
        else:
            path = os.fspath(item)
            if set(ccdkwargs) <= {"unit"}:
                hdul = fits.open(path, memmap=False, do_not_scale_image_data=True)
                header = hdul[0].header
                if len(hdul) == 1 and header.get("NAXIS", 0) > 0:
                    scaled = header.get("BSCALE", 1) != 1 or header.get("BZERO", 0) != 0
                    # uint16 is stored as int16 + 32768: flip the sign bit ourselves.
                    self.uint16 = (
                        header["BITPIX"] == 16
                        and header.get("BSCALE", 1) == 1
                        and header.get("BZERO", 0) == 32768
                        and "BLANK" not in header
                    )
                    if not scaled or self.uint16:
                        self.hdul = hdul
                        return
                hdul.close()
                hdul = fits.open(path, memmap=False)
                if len(hdul) == 1 and hdul[0].header.get("NAXIS", 0) > 0:
                    self.hdul = hdul
                    return
                hdul.close()
            self.ccd = CCDData.read(path, **ccdkwargs)

    def band(self, sl: slice) -> tuple[np.ndarray, np.ndarray | None]:
        if self.hdul is not None:
            raw = self.hdul[0].section[sl]
            if self.uint16:
                out = np.empty(raw.shape, dtype=np.uint16)
                out.view(np.int16)[...] = raw
                out ^= 0x8000
                return out, None
            return raw, None
        assert self.ccd is not None
        mask = None if self.ccd.mask is None else np.asarray(self.ccd.mask)[sl]
        return np.asarray(self.ccd.data)[sl], mask

    def dtype(self) -> np.dtype:
        if self.hdul is not None:
            return np.dtype(np.uint16) if self.uint16 else self.hdul[0].section[:1].dtype
        assert self.ccd is not None
        return np.asarray(self.ccd.data).dtype

    def full(self) -> np.ndarray:
        return self.band(slice(None))[0]

    def close(self) -> None:
        if self.hdul is not None:
            self.hdul.close()


def combine(
    img_list: Any,
    output_file: str | os.PathLike[str] | None = None,
    method: str = "average",
    weights: np.ndarray | None = None,
    scale: Callable[[Any], Any] | Any = None,
    mem_limit: float = 16e9,
    clip_extrema: bool = False,
    nlow: int = 1,
    nhigh: int = 1,
    minmax_clip: bool = False,
    minmax_clip_min: float | None = None,
    minmax_clip_max: float | None = None,
    sigma_clip: bool = False,
    sigma_clip_low_thresh: float | None = 3,
    sigma_clip_high_thresh: float | None = 3,
    sigma_clip_func: str | Callable[..., Any] = np.ma.mean,
    sigma_clip_dev_func: str | Callable[..., Any] = np.ma.std,
    dtype: Any = None,
    combine_uncertainty_function: Callable[..., Any] | None = None,
    overwrite_output: bool = False,
    **ccdkwargs: Any,
) -> CCDData:
    """Combine images as ``ccdproc.combine`` does, on the imcombiners core.

    The images are combined in bands of rows (at most ``mem_limit`` and ~100 MB of work
    stack at a time); each band runs, in ccdproc's order, `Combiner.clip_extrema`,
    `Combiner.minmax_clipping` and `Combiner.sigma_clipping`, then the combine ``method``.
    Plain single-HDU FITS files are read band by band; other inputs are read whole.

    Parameters
    ----------
    img_list : list, numpy.ndarray or str
        FITS paths, `~astropy.nddata.CCDData` or numeric arrays, or one string of paths
        separated by commas.
    output_file : str or path, optional
        Write the result there too.
    method : {"average", "median", "sum"}, default "average"
        How to combine.
    weights : numpy.ndarray, optional
        One weight per image or per sample (see `Combiner.weights`).
    scale : callable or array_like, optional
        Factors MULTIPLYING the images, or a callable giving one from each image's data.
    mem_limit : float, default 16e9
        Upper bound in bytes for a band's working memory.
    clip_extrema : bool, default False
        Mask the ``nlow`` lowest and ``nhigh`` highest values of each pixel.
    nlow, nhigh : int, default 1
        For ``clip_extrema``.
    minmax_clip : bool, default False
        Mask values outside ``[minmax_clip_min, minmax_clip_max]``.
    minmax_clip_min, minmax_clip_max : float, optional
        Bounds of ``minmax_clip``.
    sigma_clip : bool, default False
        One pass of sigma clipping.
    sigma_clip_low_thresh, sigma_clip_high_thresh : float or None, default 3
        Thresholds of ``sigma_clip``.
    sigma_clip_func, sigma_clip_dev_func : str or callable
        Centre and spread of ``sigma_clip`` (default ``np.ma.mean`` and ``np.ma.std``).
    dtype : numpy dtype, optional
        Work and result dtype (float64 when None).
    combine_uncertainty_function : callable, optional
        Passed to the combine method as ``uncertainty_func``.
    overwrite_output : bool, default False
        Allow replacing ``output_file``.
    **ccdkwargs
        Passed to `~astropy.nddata.CCDData.read` (``unit`` and so on).

    Returns
    -------
    astropy.nddata.CCDData
        The first image's metadata with the combined data, mask and uncertainty.

    Raises
    ------
    ValueError
        For an unusable ``img_list`` or an unknown ``method``.
    """
    if not isinstance(img_list, list):
        if isinstance(img_list, np.ndarray) and img_list.dtype.kind in "US":
            img_list = img_list.tolist()
        elif isinstance(img_list, str) and "," in img_list:
            img_list = img_list.split(",")
        else:
            try:
                img_list = list(img_list)
            except TypeError as err:
                raise ValueError("unrecognised input for list of images to combine.") from err
    if method not in _METHODS:
        raise ValueError(f"unrecognised combine method : {method}.")
    if not img_list:
        raise ValueError("unrecognised input for list of images to combine.")
    dtype = np.dtype(np.float64 if dtype is None else dtype)

    sources = [_Source(item, ccdkwargs) for item in img_list]
    try:
        first = img_list[0]
        if isinstance(first, CCDData):
            out = first.copy()
        elif sources[0].ccd is not None:
            out = sources[0].ccd.copy()
        else:
            out = CCDData.read(os.fspath(first), **ccdkwargs)
        units = {s.ccd.unit for s in sources if s.ccd is not None}
        if len(units | {out.unit}) > 1:
            raise TypeError("CCDData objects don't have the same unit.")
        shape = out.shape
        out.data = np.zeros(shape, dtype=dtype)
        out.mask = np.zeros(shape, dtype=bool)
        out.uncertainty = StdDevUncertainty(np.zeros(shape, dtype=np.float64))

        factors = None
        if scale is not None:
            if callable(scale):
                factors = np.array(
                    [scale(s.ccd.data if s.ccd is not None else s.full()) for s in sources]
                )
            else:
                factors = scale

        n = len(sources)
        row_bytes = n * int(np.prod(shape[1:], dtype=np.int64)) * max(dtype.itemsize, 8) * 3
        rows = int(max(1, min(shape[0], min(mem_limit, _BAND_BYTES) // max(row_bytes, 1))))
        per_pixel = weights is not None and np.ndim(weights) > 1
        kwds = {}
        if combine_uncertainty_function is not None:
            kwds["uncertainty_func"] = combine_uncertainty_function
        # A median of 8/16-bit integers (with its MAD uncertainty) is exact when the core reads
        # them in float32, so such stacks stay in their own dtype: no float64 copy to make.
        narrow = (
            method == "median"
            and dtype.kind == "f"
            and weights is None
            and factors is None
            and combine_uncertainty_function is None
            and all(s.dtype() in _NARROW for s in sources)
        )
        read_lock = threading.Lock()

        def one_band(r0: int) -> None:
            sl = slice(r0, min(shape[0], r0 + rows))
            with read_lock:  # the files are read by one thread at a time
                bands = [src.band(sl) for src in sources]
            stack_dtype = bands[0][0].dtype if narrow else dtype
            data = np.empty((n, sl.stop - r0, *shape[1:]), dtype=stack_dtype)
            mask = np.zeros(data.shape, dtype=bool)
            for i, (band, bmask) in enumerate(bands):
                data[i] = band
                if bmask is not None:
                    mask[i] = bmask
            del bands
            comb = Combiner._from_arrays(data, mask, out.unit, dtype=dtype)
            if weights is not None:
                comb.weights = np.asarray(weights)[:, sl] if per_pixel else weights
            if factors is not None:
                comb.scaling = factors
            if clip_extrema:
                comb.clip_extrema(nlow=nlow, nhigh=nhigh)
            if minmax_clip:
                comb.minmax_clipping(min_clip=minmax_clip_min, max_clip=minmax_clip_max)
            if sigma_clip:
                comb.sigma_clipping(
                    low_thresh=sigma_clip_low_thresh,
                    high_thresh=sigma_clip_high_thresh,
                    func=sigma_clip_func,
                    dev_func=sigma_clip_dev_func,
                )
            tile = getattr(comb, _METHODS[method])(**kwds)
            out.data[sl] = tile.data
            out.mask[sl] = tile.mask
            out.uncertainty.array[sl] = tile.uncertainty.array

        starts = range(0, shape[0], rows)
        # Bands run concurrently (one core thread each) when only built-in statistics are
        # involved: NumPy's share of the work then uses every core too. User callables run
        # one band at a time, in this thread.
        builtin = combine_uncertainty_function is None and (
            not sigma_clip
            or (kind_of(sigma_clip_func) is not None and kind_of(sigma_clip_dev_func) is not None)
        )
        workers = min(imc.get_num_threads(), len(starts)) if builtin else 1
        if workers > 1:

            def run(r0: int) -> None:
                with imc.threads(1):
                    one_band(r0)

            with ThreadPoolExecutor(max_workers=workers) as pool:
                for _ in pool.map(run, starts):
                    pass
        else:
            for r0 in starts:
                one_band(r0)
    finally:
        for src in sources:
            src.close()

    if output_file is not None:
        out.write(output_file, overwrite=overwrite_output)
    return out
