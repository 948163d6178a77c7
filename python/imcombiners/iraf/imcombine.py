"""``imcombiners.iraf.imcombine``: IRAF IMCOMBINE's parameters and results on the Rust core."""

from __future__ import annotations

import concurrent.futures
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from .. import _core, kernels
from .._threads import get_num_threads
from .._threads import threads as imc_threads
from ..placement import place_into_padded
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

    frames = _inputs.load(input, hdu, headers)
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

    if frames.raw is not None and off is None and grow == 0:
        # Plain FITS files. Rows are independent without grow: read and combine them in bands
        # (read with pread, not memory-mapped, so that a file shrunk by another process during
        # the run is a ValueError naming it, not a bus error; it is as fast here).
        image, sigma, ncomb, rej = _run_in_bands(frames, bad, run)
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


#: Bytes of input per band when plain FITS files are read in bands.
_BAND_BYTES = 8 * 2**20


def _run_in_bands(frames: _inputs.Frames, bad: list, run) -> tuple:
    """``run(stack, mask)`` over bands of rows read straight from the files (reading the next
    band while the current one is combined); the per-band results assembled."""
    n = len(frames.data)
    shape = frames.data[0].shape
    ny = shape[0]
    row_bytes = n * frames.raw[1].itemsize * int(np.prod(shape[1:], dtype=np.int64))
    rows = max(1, min(ny, _BAND_BYTES // max(1, row_bytes)))
    bounds = [(y, min(ny, y + rows)) for y in range(0, ny, rows)]
    readers = [_inputs.BandReader(frames, rows) for _ in range(min(2, len(bounds)))]
    outs: list | None = None
    try:
        with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="imc-read") as pool:
            pending = pool.submit(readers[0].read, *bounds[0])
            for k, (y0, y1) in enumerate(bounds):
                band = pending.result()
                if k + 1 < len(bounds):
                    pending = pool.submit(readers[(k + 1) % len(readers)].read, *bounds[k + 1])
                mask = None
                if any(b is not None for b in bad):
                    mask = np.zeros(band.shape, np.uint8)
                    for i, b in enumerate(bad):
                        if b is not None:
                            mask[i] = b[y0:y1]
                got = run(band, mask)
                if outs is None:
                    outs = [
                        None if g is None else np.empty((ny, *g.shape[1:]), g.dtype) for g in got
                    ]
                for o, g in zip(outs, got, strict=True):
                    if o is not None:
                        o[y0:y1] = g
    finally:
        for r in readers:
            r.close()
    return tuple(outs)


def _stack_of(frames: _inputs.Frames, bad: list, off) -> tuple[np.ndarray, np.ndarray | None]:
    """One (N, ...) array for the core and its bad-pixel mask (uint8) or None."""
    any_bad = any(b is not None for b in bad)
    raw = None if frames.raw is None else _inputs.read_stack(frames)
    if off is not None:
        masks = [
            np.zeros(f.shape, bool) if b is None else b
            for f, b in zip(frames.data, bad, strict=False)
        ]
        pixels = frames.data if raw is None else list(raw)
        data = [np.asarray(f, dtype=f.dtype.newbyteorder("=")) for f in pixels]
        stack, pmask = place_into_padded(data, off, masks=masks)
        return stack, pmask.view(np.uint8)
    if raw is not None:
        stack = raw
    elif frames.stack is not None:
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
