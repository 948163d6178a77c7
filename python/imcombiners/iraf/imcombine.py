"""``imcombiners.iraf.imcombine``: IRAF IMCOMBINE's parameters and results on the Rust core."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _core, kernels
from .._threads import get_num_threads
from .._threads import threads as imc_threads
from .._validation import WORK_DTYPES
from ..io.bands import BandProgress, read_ahead
from ..io.memory import BAND_TARGET, band_bounds, parse_mem_limit
from ..io.reader import read_frames_band
from ..placement import MAX_ELEMENTS, _axis_order, place_into_padded
from . import _inputs, _params, _scaling
from ._params import MAX_REAL


@dataclass
class ImcombineResult:
    """What IMCOMBINE produces.

    Attributes
    ----------
    output : numpy.ndarray
        The combined image, of the dtype ``outtype`` names.
    sigma : numpy.ndarray or None
        Sigma of the combined pixels about the output value (n - 1), at least float32.
    rejmask : numpy.ndarray or None
        ``(N, *shape)`` int32, 1 where image i did not contribute (masked, thresholded,
        rejected, grown or outside its offset footprint).
    nrejmask : numpy.ndarray or None
        Number of images that did not contribute, int32.
    bpmask : numpy.ndarray or None
        1 where no image contributed, int32.
    expmask : numpy.ndarray or None
        Sum of the exposure times of the contributing images (float32).
    ncombine : numpy.ndarray
        Number of images combined per pixel.
    table : list of dict
        One row per image as IRAF logs it: name, ncombine, exptime, the statistics, scale (as
        the multiplier 1/s IRAF prints), zero (the value added, -z), weight, offsets.
    header : dict
        The first image's header plus NCOMBINE and IMCMBnnn.
    """

    output: np.ndarray
    sigma: np.ndarray | None = None
    rejmask: np.ndarray | None = None
    nrejmask: np.ndarray | None = None
    bpmask: np.ndarray | None = None
    expmask: np.ndarray | None = None
    ncombine: np.ndarray | None = None
    table: list[dict] = field(default_factory=list)
    header: dict = field(default_factory=dict)


def _noise_values(value: object, frames: _inputs.Frames, name: str) -> np.ndarray:
    n = len(frames.data)
    if isinstance(value, str):
        try:
            return np.full(n, float(value))
        except ValueError:
            return _inputs.header_value(frames, value.strip().lstrip("!"), name)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        arr = None
    if arr is not None and arr.ndim == 0:
        return np.full(n, float(arr))
    if arr is None or arr.shape != (n,):
        raise ValueError(f"{name}: expected a number, a keyword or {n} values, got {value!r}")
    return arr


def _to_outtype(image: np.ndarray, outtype: str) -> np.ndarray:
    dtype = np.dtype(_params.OUT_DTYPES[outtype])
    if dtype.kind == "f":
        return image.astype(dtype, copy=False)
    info = np.iinfo(dtype)
    return np.clip(np.trunc(image), info.min, info.max).astype(dtype)


def imcombine(
    input: object,
    *,
    combine: str = "average",
    reject: str = "none",
    outtype: str = "real",
    offsets: object = "none",
    masktype: str = "none",
    maskvalue: int = 0,
    masks: Sequence[np.ndarray | None] | None = None,
    blank: float = 0.0,
    scale: object = "none",
    zero: object = "none",
    weight: object = "none",
    statsec: str = "",
    expname: str = "",
    lthreshold: float | None = None,
    hthreshold: float | None = None,
    nlow: int = 1,
    nhigh: int = 1,
    nkeep: int = 1,
    mclip: bool = True,
    lsigma: float | None = 3.0,
    hsigma: float | None = 3.0,
    rdnoise: object = "0.",
    gain: object = "1.",
    snoise: object = "0.",
    sigscale: float | None = 0.1,
    pclip: float | None = -0.5,
    grow: float = 0.0,
    products: Iterable[str] = (),
    hdu: int | str = 0,
    headers: Sequence[Mapping[str, object]] | None = None,
    iraf_defects: bool = False,
    threads: int | None = None,
    mem_limit: int | str | None = None,
    progress: Any = True,
) -> ImcombineResult:
    """Combine images exactly as IRAF IMCOMBINE (V2.17) does.

    Parameters keep IMCOMBINE's names, defaults and meanings (``help imcombine``); see
    ``docs/iraf.md`` for the details and for what differs.

    Parameters
    ----------
    input : array, list of arrays, list of paths, or str
        A stack ``(N, ny, nx)`` (or ``(N, nx)``), a list of 1-D/2-D arrays, a list of FITS
        paths, or ``"@list"`` naming a text file with one path per line.
    combine : {"average", "median", "lmedian", "sum", "quadrature", "nmodel"}
        ``nmodel`` is the noise of the average from the CCD noise model (rdnoise, gain,
        snoise): ``sqrt(sum((rdnoise/g)**2 + x/g + (snoise*x)**2)) / n``, ``g = gain * scale``.
    reject : {"none", "minmax", "ccdclip", "crreject", "sigclip", "avsigclip", "pclip"}
    outtype : {"real", "double", "short", "ushort", "integer", "long"}
        Output type; the computation runs in the higher of it and the input type (float32
        arithmetic for real, truncation of scaled values for integer types).
    offsets : "none", "grid n1 s1 [n2 s2]", "wcs" or array (N, ndim)
        Whole-pixel offsets (x first, as IRAF); the output grows to cover every image.
    masktype, maskvalue : str, int
        How per-image integer masks select bad pixels: none, goodvalue, badvalue, goodbits,
        badbits. All-zero masks mean "no mask".
    masks : list of arrays, optional
        One integer mask per image; for FITS input the BPM keyword is used when omitted.
    blank : float
        Output value where no pixel is left.
    scale, zero, weight : str or array
        none, mode, median, mean, exposure (scale and weight), "@file", "!KEYWORD", or one
        number per image (as from a file: scales multiply, zeros add).
    statsec : str
        Section ``"[x1:x2,y1:y2]"`` of each input for the statistics.
    expname : str
        Header keyword of the exposure time.
    lthreshold, hthreshold : float or None
        Raw values outside ``[lthreshold, hthreshold]`` are excluded (None: no limit).
    nlow, nhigh, nkeep, mclip, lsigma, hsigma, rdnoise, gain, snoise, sigscale, pclip, grow
        The rejection parameters. rdnoise/gain/snoise take numbers or header keywords.
    products : iterable of str
        Any of "sigma", "rejmask", "nrejmask", "bpmask", "expmask".
    hdu : int or str
        FITS extension to read.
    headers : list of dict, optional
        Headers for array input (EXPTIME, NCOMBINE, RDNOISE ... keywords).
    iraf_defects : bool
        Reproduce IRAF's known defects bit for bit instead of returning the correct values.
    threads : int, optional
        Worker threads (default: ``imc.get_num_threads()``).
    mem_limit : int or str, optional
        For FITS input, the most memory the combine may use for its data, as in
        `imcombiners.combine_files`: bands of rows of every input (read with pread, the next
        band while this one is combined), the core's working memory, and the outputs held
        whole. ``"64MB"`` counts 10**6 bytes per MB, ``"512MiB"`` 2**20; a number is bytes.
        None (default): no limit, bands of about 8 MiB of input. The result is the same, bit
        for bit, for any limit. Arrays given in memory are combined whole; 1-D images are
        read in one band.
    progress : bool or callable, default True
        A progress bar over bands when FITS input takes more than one band; False for none;
        a callable is called as ``progress(done, total)`` after every band.

    Returns
    -------
    ImcombineResult
    """
    combine = _params.choice("combine", combine, _params.COMBINES)
    reject = _params.choice("reject", reject, _params.REJECTS)
    outtype = _params.choice("outtype", outtype, _params.OUTTYPES)
    masktype = _params.choice("masktype", masktype, _params.MASKTYPES)
    products = tuple(products)
    for p in products:
        _params.choice("products", p, _params.PRODUCTS)
    # Every number is checked here, before any pixel is read, whether or not it is used.
    nkeep = _params.int_param("nkeep", nkeep, -_params.MAX_INT, _params.MAX_INT)
    nlow = _params.minmax_count("nlow", nlow)
    nhigh = _params.minmax_count("nhigh", nhigh)
    grow = _params.grow_radius(grow)
    ls = _params.sigma_limit("lsigma", lsigma)
    hs = _params.sigma_limit("hsigma", hsigma)
    if sigscale is None:
        sigscale = 0.0
    sigscale = min(_params.real("sigscale", sigscale, low=0.0, allow="inf"), MAX_REAL)
    _params.pclip_value(pclip)
    blank = _params.blank_value(blank, outtype)
    maskvalue = _params.integer("maskvalue", maskvalue, -(2**63), 2**63 - 1)
    threads = _params.threads_count(threads)
    hdu = _params.hdu_spec(hdu)
    lo = -MAX_REAL if lthreshold is None else _params.real("lthreshold", lthreshold, allow="inf")
    hi = MAX_REAL if hthreshold is None else _params.real("hthreshold", hthreshold, allow="inf")
    thresholds = None if lthreshold is None and hthreshold is None else (lo, hi)
    budget = None if mem_limit is None else parse_mem_limit(mem_limit)
    if not (isinstance(progress, bool) or callable(progress)):
        raise TypeError(
            f"progress must be True, False or a callable(done, total), got {progress!r}"
        )

    frames = _inputs.load(input, hdu, headers)
    try:
        n = len(frames.data)
        calc = _params.calc_type(frames.types, outtype)
        double = calc == "double"
        truncate = _params.is_integer_calc(calc)
        bad = _inputs.bad_pixels(masks, frames, masktype, maskvalue)

        _scaling.parse_statsec(statsec, frames.data[0].shape)  # checked even when unused
        off = _inputs.offsets_of(offsets, frames)
        shapes = {f.shape for f in frames.data}
        if off is None and len(shapes) > 1:
            raise ValueError(f"input: images differ in shape {sorted(shapes)}; give offsets")

        factors = _scaling.resolve(
            frames,
            bad,
            scale=scale,
            zero=zero,
            weight=weight,
            statsec=statsec,
            expname=expname,
            thresholds=thresholds,
            sigscale=sigscale,
            combine=combine,
            offsets=off,
        )

        flow = fhigh = 0.0
        if reject == "minmax":
            fr = _params.minmax_fractions(nlow, nhigh, n)
            if fr is None:
                reject = "none"
            else:
                flow, fhigh = fr
        pcount = _params.pclip_count(pclip, n) if reject == "pclip" else 0.0
        use_mclip = bool(mclip)
        if reject == "pclip":
            use_mclip = True
        if reject in ("minmax", "none"):
            use_mclip = False
        if reject == "crreject":
            ls = MAX_REAL
        noise = [[0.0, 1.0, 0.0]] * n
        nmodel = []
        if combine == "nmodel":
            nmodel = _params.nmodel_terms(
                _noise_values(rdnoise, frames, "rdnoise"),
                _noise_values(gain, frames, "gain"),
                _noise_values(snoise, frames, "snoise"),
                factors.scales,
            )
        if reject in ("ccdclip", "crreject"):
            noise = _params.noise_model(
                _noise_values(rdnoise, frames, "rdnoise"),
                _noise_values(gain, frames, "gain"),
                _noise_values(snoise, frames, "snoise"),
            )

        has_mask = off is not None or any(b is not None for b in bad)
        shortcut = _median_shortcut(
            combine, reject, n, flow, fhigh, products, has_mask, thresholds, factors
        )
        nthreads = get_num_threads() if threads is None else threads
        want_sigma = "sigma" in products
        want_rej = any(p in products for p in ("rejmask", "expmask"))
        core_args = dict(
            double=double,
            combine=combine,
            reject=reject,
            mclip=use_mclip,
            nkeep=nkeep,
            lsigma=ls,
            hsigma=hs,
            pclip=pcount,
            flow=flow,
            fhigh=fhigh,
            doscale=factors.doscale,
            doscale1=factors.doscale1,
            scales=factors.scales.tolist(),
            zeros=factors.zeros.tolist(),
            weights=factors.weights.tolist(),
            dowts=factors.dowts,
            noise=noise,
            nmodel=nmodel,
            thresholds=thresholds,
            blank=blank,
            grow=grow,
            truncate=truncate,
            defects=bool(iraf_defects),
            sigma=want_sigma,
            rejmask=want_rej,
            threads=nthreads,
        )

        def run(stack: np.ndarray, mask: np.ndarray | None) -> tuple:
            if shortcut:
                # Every pixel keeps all N values (minus equal counts at both ends), so IRAF's
                # median is the plain median of the stack: the vectorised kernel gives the same
                # bits.
                with imc_threads(nthreads):
                    return kernels.median(stack), None, None, None
            swapped = not stack.dtype.isnative
            if swapped:
                stack = stack.view(stack.dtype.newbyteorder("="))
            # A disc past the image diagonal removes the same pixels as one just past it.
            args = {**core_args, "grow": _params.bounded_grow(grow, stack.shape[1:])}
            return _core.iraf_combine(stack, mask=mask, swapped=swapped, **args)

        if frames.files is not None:
            # FITS files: read and combined in bands of rows (with a halo for grow), read with
            # pread, not memory-mapped, so that a file shrunk by another process during the
            # run is a ValueError naming it, not a bus error.
            bands = _Bands.plan(frames, bad, off, grow if reject != "none" else 0.0)
            bands.size(budget, n, calc_bytes=8 if double else 4, products=products)
            image, sigma, ncomb, rej = _run_in_bands(bands, run, progress)
        else:
            image, sigma, ncomb, rej = run(*_stack_of(frames, bad, off))
        if shortcut:
            ncomb = np.full(image.shape, n - 2 * _minmax_counts(flow, fhigh, n)[0], np.uint16)
        result = ImcombineResult(output=_to_outtype(image, outtype), ncombine=ncomb)
        if want_sigma:
            result.sigma = sigma if outtype != "double" else sigma.astype(np.float64)
        if rej is not None:
            cube = np.moveaxis(rej, -1, 0)
            if "rejmask" in products:
                result.rejmask = cube.astype(np.int32)
            if "expmask" in products:
                used = 1 - cube.astype(np.float32)
                result.expmask = np.tensordot(factors.exptime, used, axes=1).astype(np.float32)
        if "nrejmask" in products:
            result.nrejmask = n - ncomb.astype(np.int32)
        if "bpmask" in products:
            result.bpmask = (ncomb == 0).astype(np.int32)
        result.table = _table(frames, factors, off)
        result.header = _header(frames)
        return result
    finally:
        frames.close()


def _minmax_counts(flow: float, fhigh: float, n: int) -> tuple[int, int]:
    """Numbers of low and high values minmax rejects from n (IRAF's real arithmetic)."""
    f32 = np.float32
    return int(f32(flow) * f32(n) + f32(0.001)), int(f32(fhigh) * f32(n) + f32(0.001))


def _median_shortcut(
    combine, reject, n, flow, fhigh, products, has_mask, thresholds, factors
) -> bool:
    """True when IRAF's result is the plain median of every pixel's N values."""
    if products or has_mask or thresholds is not None or factors.doscale:
        return False
    if combine == "median" or (combine == "lmedian" and n >= 3):
        if reject == "none":
            return True
        if reject == "minmax":
            lo, hi = _minmax_counts(flow, fhigh, n)
            return lo == hi and n - 2 * lo >= 3
    return False


#: Bytes of input per band aimed at when FITS files are read in bands (the shared rule of
#: `imcombiners.io.memory.band_bounds`).
_BAND_BYTES = BAND_TARGET

#: Memory set aside for the allocator, the threads and the per-file state (as combine_files).
_RESERVE = 8 * 2**20


@dataclass
class _Bands:
    """How FITS input is read band by band: rows of the output grid, each input's rows placed
    at its offset."""

    frames: _inputs.Frames
    bad: list
    #: ``(N, ndim)`` position of each input's first pixel on the output grid; None when the
    #: inputs are read as they are (one shape and type, no offsets).
    starts: np.ndarray | None
    #: The output grid.
    shape: tuple[int, ...]
    #: The band's dtype (the inputs' as read, or the float workspace with offsets).
    dtype: np.dtype
    #: Value of samples no input covers (with offsets).
    fill: float | None
    #: Rows read on each side of a band for grow.
    halo: int
    bounds: list[tuple[int, int]] = field(default_factory=list)

    @property
    def masked(self) -> bool:
        """Whether the core gets a mask (offsets, or bad pixels)."""
        return (self.starts is not None and self.fill is not None) or any(
            b is not None for b in self.bad
        )

    @classmethod
    def plan(cls, frames: _inputs.Frames, bad: list, off, grow: float) -> _Bands:
        """The output grid, band dtype and halo of FITS input."""
        files = frames.files
        n, ndim = len(files), len(files[0].shape)
        starts, fill = None, None
        if off is None:
            shape = files[0].shape
            dtypes = {f.dtype for f in files}
            dtype = files[0].dtype
            if len(dtypes) > 1:  # read into the common type, as one stack of them would be
                dtype = np.result_type(*[d.newbyteorder("=") for d in dtypes])
                starts = np.zeros((n, ndim), np.int64)
        else:
            starts = np.asarray(off, np.int64) - np.asarray(off, np.int64).min(axis=0)
            shape = tuple(
                int(max(starts[i, k] + f.shape[k] for i, f in enumerate(files)))
                for k in range(ndim)
            )
            if n * math.prod(shape) > MAX_ELEMENTS:
                raise ValueError(
                    f"offsets spread the images over an output of shape {(n, *shape)}, "
                    f"{n * math.prod(shape)} elements, more than the limit of 2**40 = "
                    f"{MAX_ELEMENTS}; check the offsets (rows in {_axis_order(ndim)} order, "
                    "in samples)"
                )
            # The float workspace of place_into_padded, NaN where an input does not reach.
            work = {WORK_DTYPES.get(f.dtype.newbyteorder("="), np.dtype(np.float64)) for f in files}
            dtype = np.dtype(np.float64 if np.dtype(np.float64) in work else np.float32)
            fill = np.nan
        halo = 0
        if grow >= 1.0 and ndim == 2:
            g = _params.bounded_grow(grow, shape)
            halo = min(math.ceil(g), shape[0] - 1)
        return cls(frames, bad, starts, shape, np.dtype(dtype), fill, halo)

    def size(self, budget: int | None, n: int, *, calc_bytes: int, products) -> None:
        """The bands within ``budget`` bytes (None: no limit)."""
        ny = self.shape[0]
        if len(self.shape) == 1:
            self.bounds = [(0, ny)]  # a 1-D image is one IRAF line (avsigclip's sigma)
            return
        row = math.prod(self.shape[1:])
        npix = math.prod(self.shape)
        rej = any(p in products for p in ("rejmask", "expmask"))
        # Fixed: the outputs held whole (image, ncombine, sigma, the rejection cube) and what
        # the products made of them take, plus a reserve.
        per_px = calc_bytes + 2 + (calc_bytes if "sigma" in products else 0) + (n if rej else 0)
        per_px += 4 * n * ("rejmask" in products) + 4 * ("expmask" in products)
        per_px += 4 * ("nrejmask" in products) + 4 * ("bpmask" in products)
        fixed = npix * per_px
        # Per sample of a band: two input buffers (the next band is read while this one is
        # combined), two masks, the core's grow marks and lists; per pixel, the band's outputs
        # from the core.
        sample = 2 * self.dtype.itemsize + 2 * self.masked + (9 if self.halo else 0)
        per_row = row * (n * sample + 3 * calc_bytes + 2 + (n if rej else 0))
        if budget is None:
            budget = fixed + 2 * ny * per_row + _RESERVE
        fixed += min(_RESERVE, budget // 8)
        self.bounds = band_bounds(
            budget,
            fixed,
            per_row,
            ny,
            self.halo,
            input_row_bytes=n * row * self.dtype.itemsize,
            target=_BAND_BYTES,
        )

    def read(self, a: int, b: int, out: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Rows ``a:b`` of the output grid: the stack band (in ``out``) and its mask."""
        files, starts = self.frames.files, self.starts
        if self.fill is not None:
            out[:, : b - a] = self.fill
        band = read_frames_band(files, a, b, out, starts)
        if not self.masked:
            return band, None
        if starts is None:
            mask = np.zeros(band.shape, np.uint8)
            for i, bd in enumerate(self.bad):
                if bd is not None:
                    mask[i] = bd[a:b]
            return band, mask
        mask = np.ones(band.shape, np.uint8)
        for i, (f, bd) in enumerate(zip(files, self.bad, strict=True)):
            sy = int(starts[i][0])
            r0, r1 = max(a, sy), min(b, sy + f.shape[0])
            if r0 >= r1:
                continue
            where = (
                i,
                slice(r0 - a, r1 - a),
                *(
                    slice(int(s), int(s) + m)
                    for s, m in zip(starts[i][1:], f.shape[1:], strict=True)
                ),
            )
            mask[where] = 0 if bd is None else bd[r0 - sy : r1 - sy]
        return band, mask


def _run_in_bands(bands: _Bands, run, progress: Any) -> tuple:
    """``run(stack, mask)`` over the bands (reading the next band while the current one is
    combined); the per-band results (halo rows dropped) assembled."""
    n, ny, halo, bounds = len(bands.frames.files), bands.shape[0], bands.halo, bands.bounds
    rows = min(ny, bounds[0][1] - bounds[0][0] + 2 * halo)
    buffers = [
        np.empty((n, rows, *bands.shape[1:]), bands.dtype) for _ in range(min(2, len(bounds)))
    ]

    def read(k: int) -> tuple[np.ndarray, np.ndarray | None, int]:
        y0, y1 = bounds[k]
        a, b = max(0, y0 - halo), min(ny, y1 + halo)
        return (*bands.read(a, b, buffers[k % len(buffers)]), a)

    outs: list | None = None
    bar = BandProgress(progress, len(bounds), "imcombine")
    try:
        with contextlib.closing(read_ahead(len(bounds), read)) as reads:
            for k, (band, mask, a) in reads:
                y0, y1 = bounds[k]
                got = run(band, mask)
                if outs is None:
                    outs = [
                        None if g is None else np.empty((ny, *g.shape[1:]), g.dtype) for g in got
                    ]
                for o, g in zip(outs, got, strict=True):
                    if o is not None:
                        o[y0:y1] = g[y0 - a : y1 - a]
                bar.update()
    finally:
        bar.close()
    return tuple(outs)


def _stack_of(frames: _inputs.Frames, bad: list, off) -> tuple[np.ndarray, np.ndarray | None]:
    """One (N, ...) array for the core and its bad-pixel mask (uint8) or None."""
    any_bad = any(b is not None for b in bad)
    if off is not None:
        masks = [
            np.zeros(f.shape, bool) if b is None else b
            for f, b in zip(frames.data, bad, strict=False)
        ]
        data = [np.asarray(f, dtype=f.dtype.newbyteorder("=")) for f in frames.data]
        stack, pmask = place_into_padded(data, off, masks=masks)
        return stack, pmask.view(np.uint8)
    if frames.stack is not None:
        stack = frames.stack
    else:
        dtype = np.result_type(*[f.dtype.newbyteorder("=") for f in frames.data])
        stack = np.empty((len(frames.data), *frames.data[0].shape), dtype)
        for i, f in enumerate(frames.data):
            stack[i] = f
    mask = None
    if any_bad:
        mask = np.zeros(stack.shape, np.uint8)
        for i, b in enumerate(bad):
            if b is not None:
                mask[i] = b
    return stack, mask


def _table(frames: _inputs.Frames, f: _scaling.Factors, off) -> list[dict]:
    rows = []
    for i, name in enumerate(frames.names):
        row = {
            "image": name,
            "ncombine": int(f.ncombine[i]),
            "exptime": float(f.exptime[i]),
            "scale": float(np.float32(1) / f.scales[i]),
            "zero": float(-f.zeros[i]),
            "weight": float(f.weights[i]),
        }
        for k, v in f.stats.items():
            row[k] = float(v[i])
        if off is not None:
            row["offsets"] = tuple(int(v) for v in off[i][::-1])
        rows.append(row)
    return rows


def _header(frames: _inputs.Frames) -> dict:
    header = dict(frames.headers[0]) if frames.headers else {}
    header["NCOMBINE"] = len(frames.names)
    width = max(3, int(math.log10(max(1, len(frames.names)))) + 1)
    for i, name in enumerate(frames.names, 1):
        header[f"IMCMB{i:0{width}d}"] = name
    return header
