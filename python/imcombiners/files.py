"""Combining FITS files in bounded memory: `combine_files`.

Every file is opened once. A sampled pass reads the statistics grid of each frame (for
statistic zero/scale/weights), then the stack is processed in spatial bands (along the first
spatial axis) sized from ``mem_limit``, reading the next band while the current one is
combined. Each band goes through the same `Combiner` call as an in-memory stack, so the result is
the in-memory result, bit for bit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import _core, _plan, _rejection, _variance, normalization
from ._validation import (
    WORK_DTYPES,
    as_mask,
    as_stack,
    as_weights,
    method_name,
    nonnegative_int,
    positive_int,
    real,
    thresholds_pair,
)
from .io import (
    FitsImageWriter,
    FitsMefWriter,
    FitsStack,
    MefImage,
    format_bytes,
    parse_mem_limit,
    resolve_paths,
)
from .io.bands import BandProgress, read_ahead
from .io.header import exptimes, provenance_header
from .io.memory import BAND_TARGET, band_bounds
from .io.paths import GLOB_CHARS
from .io.planes import UncertaintyRequest, band_variance, uncertainty_request

logger = logging.getLogger("imcombiners")

#: The products `combine_files` can write besides the combined image.
PRODUCTS = ("sigma", "variance", "nrej", "ncombine", "low", "high", "rejmask")

_PRODUCT_DOC = {
    "sigma": "std (ddof=1) of the samples combined",
    "variance": "variance (ddof=1) of the samples combined",
    "nrej": "samples rejected (rejectors, grow)",
    "ncombine": "samples combined",
    "low": "rejected samples below the result",
    "high": "rejected samples at or above the result",
    "rejmask": "1 where a sample was rejected",
}

#: What the extensions of a multi-extension output (``mef=True``) hold, besides the products.
_PLANE_DOC = {
    "VAR": "variance of the combined image, propagated",
    "ERR": "standard deviation of the combined image, propagated",
    "DQ": "1: no sample survived (the image is NaN)",
}

#: DQ value of an output pixel without a value (NaN): no sample survived it (or, for
#: ``method="variance"``, no more than ``ddof``).
DQ_NO_DATA = 1

#: Memory set aside for the allocator, the threads and the per-file state.
_RESERVE = 8 * 2**20

#: Input bytes of one band at most (the shared rule of `imcombiners.io.memory.band_bounds`).
_BAND_TARGET = BAND_TARGET


@dataclass(frozen=True)
class FrameInfo:
    """What `combine_files` did with one input frame.

    Attributes
    ----------
    path : str
        The file.
    median : float
        Median of the frame's statistics grid (usable samples; NaN if it has none).
    zero, scale, weight : float
        The correction ``(x - zero) / scale`` and the weight applied (0, 1, 1 when none; the
        weight is NaN for ``weights="ivar"``, where every sample has its own).
    rejected_fraction : float
        Rejected samples over usable samples of this frame (0 without rejection).
    """

    path: str
    median: float
    zero: float
    scale: float
    weight: float
    rejected_fraction: float


@dataclass
class FilesResult:
    """The result of `combine_files`.

    Attributes
    ----------
    data : numpy.ndarray
        The combined image. With an ``output`` file, a read-only memory map of the data in
        that file (big-endian, as FITS stores it), so the image is never held twice; for a
        ``*.gz`` output, of the uncompressed data written before compression.
    header : astropy.io.fits.Header
        The output header: the first input's header, NCOMBINE, IMCMBnnn, EXPTIME, HISTORY.
    products : dict of str to numpy.ndarray
        The products kept in memory (those not written to files).
    paths : dict of str to pathlib.Path
        ``"output"`` and every product written to disk.
    frames : list of FrameInfo
        One entry per input.
    seconds : float
        Wall time of the whole call.
    bands : int
        Number of spatial bands processed.
    variance : numpy.ndarray or None
        The propagated variance of ``data`` (with an input variance, error or noise model;
        else None): in memory, or a read-only memory map of the ``VAR`` extension of a
        multi-extension output.
    error : numpy.ndarray or None
        Its square root, instead of ``variance``, when ``error_out=True`` (a memory map of the
        ``ERR`` extension of a multi-extension output).
    dq : numpy.ndarray or None
        The ``DQ`` plane of a multi-extension output (a memory map; `DQ_NO_DATA` where no
        sample survived), else None.
    """

    data: np.ndarray
    header: Any
    products: dict[str, np.ndarray] = field(default_factory=dict)
    paths: dict[str, Path] = field(default_factory=dict)
    frames: list[FrameInfo] = field(default_factory=list)
    seconds: float = 0.0
    bands: int = 1
    variance: np.ndarray | None = None
    error: np.ndarray | None = None
    dq: np.ndarray | None = None


@dataclass
class _Plan:
    """Validated settings of one `combine_files` call."""

    method: str
    rules: list[Any]
    thresholds: tuple[float, float] | None
    grow: float | None
    ddof: int
    zero: np.ndarray | None = None
    scale: np.ndarray | None = None
    weights: np.ndarray | None = None
    #: How each band's input variance is made: None (no input variance), ("variance",),
    #: ("error",) from the planes read, or ("noise", gain, rdnoise, snoise) from the data.
    source: tuple[Any, ...] | None = None
    #: Inverse-variance weights (``weights="ivar"``).
    ivar: bool = False


def _auto_step(region: list[tuple[int, int]]) -> int:
    """IRAF's statistics step: the smallest of 1..10 giving fewer than 100 000 grid points."""
    for step in range(1, 11):
        if math.prod(-(-(b - a) // step) for a, b in region) < 100_000:
            return step
    return 10


def _keyword_values(frames: FitsStack, value: str, name: str) -> np.ndarray:
    """``"!KEY"``: the number ``KEY`` holds in every input header."""
    key = value[1:].strip().upper()
    out = []
    for path, hdr in zip(frames.paths, frames.headers, strict=True):
        if key not in hdr:
            raise ValueError(f"{name}={value!r}: {path} has no keyword {key}")
        v = hdr[key]
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"{name}={value!r}: {key} of {path} is not a number: {v!r}")
        out.append(float(v))
    return np.array(out)


def _needs_statistics(*values: Any) -> bool:
    """Whether any correction is a statistic name or a callable (measured on the grid)."""
    return any(isinstance(v, str) or callable(v) for v in values)


def _products(products: Any, output: Path | None) -> dict[str, Path | None]:
    """Product name -> destination (None: kept in memory)."""
    if isinstance(products, str):
        products = (products,)
    if isinstance(products, Mapping):
        items = [(k, Path(v) if v is not None else None) for k, v in products.items()]
    elif isinstance(products, Sequence):
        items = []
        for k in products:
            dest = None
            if output is not None and isinstance(k, str):
                dest = _product_path(output, k.lower())
            items.append((k, dest))
    else:
        raise TypeError(
            f"products must be a sequence of names or a dict name -> path, got "
            f"{type(products).__name__}"
        )
    out: dict[str, Path | None] = {}
    for k, dest in items:
        key = k.lower() if isinstance(k, str) else k
        if key not in PRODUCTS:
            raise ValueError(f"products: unknown product {k!r}; choose from {', '.join(PRODUCTS)}")
        out[key] = dest
    return out


def _product_path(output: Path, product: str) -> Path:
    """``out.fits`` -> ``out_sigma.fits``; ``out.fits.gz`` -> ``out_sigma.fits.gz``."""
    name = output.name
    gz = name.lower().endswith(".gz")
    base = name[: -len(".gz")] if gz else name
    stem = base[: -len(".fits")] if base.endswith(".fits") else base
    return output.with_name(f"{stem}_{product}.fits" + (".gz" if gz else ""))


def _measure(
    frames: FitsStack,
    plan: _Plan,
    zero: Any,
    scale: Any,
    weights: Any,
    region: list[tuple[int, int]],
    step: int,
    normalize: bool,
) -> np.ndarray:
    """The sampled pass: reads the grid of every frame, resolves the corrections into `plan`
    and returns the per-frame medians of the grid."""
    grid = frames.read_grid(region, step)
    grid_mask = frames.read_grid_masks(region, step)
    sub = as_stack(grid, name="grid")
    m = None if grid_mask is None else grid_mask.view(np.uint8)
    options = normalization.stat_options(sub, stat_step=1, normalize=normalize)
    got = normalization.resolve(sub, m, plan.thresholds, zero, scale, weights, options)
    plan.zero, plan.scale = got.zero, got.scale
    if got.weights is not None:
        plan.weights = got.weights
    return _grid_medians(sub, m, plan.thresholds)


def _grid_medians(
    sub: Any, mask: np.ndarray | None, thresholds: tuple[float, float] | None
) -> np.ndarray:
    values, counts, _ = _core.frame_stats(
        sub.array,
        ["median"],
        mask=mask,
        thresholds=thresholds,
        region=None,
        step=1,
        sigma=3.0,
        maxiters=5,
        swapped=sub.swapped,
        threads=1,
    )
    return np.where(counts > 0, values[0], np.nan)


def _band_products(
    band: np.ndarray,
    mask: np.ndarray | None,
    mask_rej: np.ndarray | None,
    combined: np.ndarray,
    plan: _Plan,
    wanted: Sequence[str],
) -> dict[str, np.ndarray]:
    """The products of one band (halo rows included)."""
    stack = as_stack(band, name="band")
    usable = _rejection.usable(
        stack, None if mask is None else mask.view(np.uint8), plan.thresholds
    )
    rej = mask_rej if mask_rej is not None else np.zeros(band.shape, dtype=bool)
    out: dict[str, np.ndarray] = {}
    n_type = np.int16 if band.shape[0] < 2**15 else np.int32
    if "nrej" in wanted:
        out["nrej"] = np.count_nonzero(rej, axis=0).astype(n_type)
    if "ncombine" in wanted:
        out["ncombine"] = np.count_nonzero(usable & ~rej, axis=0).astype(n_type)
    if "rejmask" in wanted:
        out["rejmask"] = rej.view(np.uint8)
    if "sigma" in wanted or "variance" in wanted:
        final = rej if mask is None else (rej | mask)
        variance_plan = _plan.Plan(
            method="variance",
            ddof=1,
            thresholds=plan.thresholds,
            zero=plan.zero,
            scale=plan.scale,
        )
        var = _plan.combine_masked(variance_plan, stack, final.view(np.uint8))
        if "variance" in wanted:
            out["variance"] = var
        if "sigma" in wanted:
            out["sigma"] = np.sqrt(var)
    if "low" in wanted or "high" in wanted:
        values = _rejection.values(stack).astype(np.float64)
        shape = (-1,) + (1,) * (band.ndim - 1)
        if plan.zero is not None:
            values -= plan.zero.reshape(shape)
        if plan.scale is not None:
            values /= plan.scale.reshape(shape)
        below = rej & (values < combined[None])
        if "low" in wanted:
            out["low"] = np.count_nonzero(below, axis=0).astype(n_type)
        if "high" in wanted:
            out["high"] = np.count_nonzero(rej & ~below, axis=0).astype(n_type)
    return out


def _fusable(plan: _Plan) -> bool:
    """The rules run in the core's fused pass (which then propagates a variance plane too)."""
    return all(r.in_core for r in plan.rules)


def _combine_band(
    band: np.ndarray,
    mask: np.ndarray | None,
    plan: _Plan,
    diagnostics: bool,
    inner: slice,
    plane: np.ndarray | None = None,
) -> tuple[
    np.ndarray,
    np.ndarray | None,
    tuple[np.ndarray, np.ndarray] | None,
    np.ndarray | None,
    np.ndarray | None,
]:
    """One band through the same combine plan an in-memory stack would run.

    Returns the combined band, the band's rejection mask (None when no step kept one), the
    per-frame (rejected, usable) sample counts of the band's own rows ``inner`` (None without
    rejectors), the propagated variance (None without an input variance) and the band's mask
    with the samples of unusable variance added (bool; ``mask`` without a variance). ``plane``
    is the band's uncertainty plane as read.
    """
    stack = as_stack(band, name="band")
    band_mask = as_mask(mask, stack)
    given = band_variance(band, plane, plan.source)
    var = None if given is None else _variance.as_variance(given, stack)
    band_plan = _plan.build(
        stack,
        band_mask,
        method=plan.method,
        rejectors=plan.rules,
        weights="ivar" if plan.ivar else plan.weights,
        ddof=plan.ddof,
        thresholds=plan.thresholds,
        zero=plan.zero,
        scale=plan.scale,
        grow=plan.grow,
        # With a variance plane, rules outside the core's fused pass (VarClip, rules of one's
        # own) run as a step that keeps its mask: the per-frame counts are taken from it.
        diagnostics="simple" if diagnostics or (var is not None and not _fusable(plan)) else None,
        variance=var,
    )
    used_mask = mask
    if var is not None:
        bad = _variance.unusable(var)
        if bad is not None:
            used_mask = bad if mask is None else (mask | bad)
    if plan.rules and not band_plan.chained:
        # The fused pass, also counting each frame's rejections in the core (without grow the
        # band has no halo rows).
        combined, counts, propagated = _plan.fused_with_counts(band_plan, stack, band_mask)
        return combined, None, counts, propagated, used_mask
    outcome = _plan.execute(band_plan, stack, band_mask, input_mask=band_mask)
    if outcome.step is None:
        return outcome.combined, None, None, outcome.variance, used_mask
    mask_rej = outcome.step.result.mask_rej
    counts = _frame_counts(band, used_mask, mask_rej, plan.thresholds, inner)
    return outcome.combined, mask_rej, counts, outcome.variance, used_mask


def combine_files(
    inputs: Any,
    output: str | os.PathLike | None = None,
    *,
    hdu: int | str = 0,
    mem_limit: int | str = "1GB",
    method: str = "median",
    rejectors: Any = None,
    thresholds: Any = None,
    zero: Any = None,
    scale: Any = None,
    weights: Any = None,
    masks: Any = None,
    grow: float | None = None,
    ddof: int = 0,
    stat_region: Any = None,
    stat_step: int | None = None,
    normalize: bool = True,
    products: Any = (),
    progress: Any = True,
    overwrite: bool = False,
    variance: Any = None,
    error: Any = None,
    noise_model: Any = None,
    mef: bool = False,
    error_out: bool | None = None,
) -> FilesResult:
    """Combine FITS images, reading them in spatial bands within a memory budget.

    The result equals ``Combiner(stack, mask).combine(method, ...)`` of the whole stack held in
    memory, bit for bit, for any ``mem_limit``.

    Parameters
    ----------
    inputs : list of paths, str or os.PathLike
        The images: a list of paths, a glob pattern (``"raw/bias*.fits"``, sorted) or an
        ``"@list.txt"`` file naming one path per line.
    output : str or os.PathLike, optional
        Write the combined image here (FITS, float32 or float64; gzip-compressed when the
        name ends in ``.gz``, e.g. ``master.fits.gz``). Without it the result is only
        returned.
    hdu : int or str, default 0
        The HDU holding the image in every file (number or EXTNAME).
    mem_limit : int or str, default "1GB"
        The most memory the combine may use for its data: bands of inputs and masks, the
        working memory of rejection and products, and the outputs held in memory. ``"64MB"``
        counts 10**6 bytes per MB; ``"512MiB"`` counts 2**20.
    method : str, default "median"
        The combine method, as in `Combiner.combine`.
    rejectors : Rejector or list of Rejector, optional
        Rejection rules, applied in order.
    thresholds : (float, float), optional
        Samples outside ``[low, high]`` (raw values) are not used.
    zero, scale : None, number, sequence, str or callable, optional
        As in `Combiner.combine` (statistics are measured on the sample grid before the band
        loop); ``"!KEYWORD"`` takes each frame's value from its header keyword, used as given.
    weights : None, sequence, {"mean", "median", "mode"} or "!KEYWORD", optional
        As in `Combiner.combine`.
    masks : None, int, str or list of paths, optional
        Bad-pixel masks, nonzero = do not use: an HDU of every input (``"DQ"``, ``"BPM"``, a
        number), or one mask file per input (a list, a glob or an ``"@list"``).
    grow : float, optional
        Grow radius of the rejection, finite and >= 0 (bands overlap by ``ceil(grow)`` rows
        for it). A radius beyond the image diagonal grows over the whole frame, as the
        diagonal (plus one pixel) does, and is clamped to it.
    ddof : int, default 0
        Delta degrees of freedom of ``method="variance"``.
    stat_region, stat_step, normalize
        Where and how the statistics are measured, as in `imcombiners.resolve_zero_scale`.
    products : sequence of str or dict, default ()
        Extra results among ``"sigma"``, ``"variance"`` (of the samples combined, ddof=1),
        ``"nrej"``, ``"ncombine"``, ``"low"``, ``"high"`` (per-pixel counts) and
        ``"rejmask"`` (per-frame rejection cube). Names alone are written beside ``output``
        (``out_sigma.fits`` ..., ``out_sigma.fits.gz`` for ``out.fits.gz``) or, without
        ``output``, returned in ``products``; a dict maps names to paths (None: keep in
        memory).
    progress : bool or callable, default True
        A progress bar over bands on multi-band combines; False for none; a callable is called
        as ``progress(done, total)`` after every band.
    overwrite : bool, default False
        Replace existing output files.
    variance : None, int, str or list of paths, optional
        The variance of every sample, propagated to the output (see ``docs/uncertainty.md``):
        an HDU of every input (``"VAR"``, a number), or one variance file per input, of the
        image's shape (a list, a glob or an ``"@list"``). A non-finite or negative variance
        marks its sample as missing.
    error : None, int, str or list of paths, optional
        As ``variance``, but the planes hold standard deviations (``"ERR"``); they are squared.
    noise_model : (gain, rdnoise) or (gain, rdnoise, snoise), optional
        The variance of raw frames in ADU from IRAF's CCD noise model,
        ``rdnoise**2 / gain**2 + max(x, 0) / gain + (snoise * x)**2`` (gain in electrons per
        ADU, rdnoise in electrons). At most one of ``variance``, ``error`` and
        ``noise_model``.
    mef : bool, default False
        Write ``output`` as one multi-extension FITS file: the image in the primary HDU
        (``EXTNAME = 'SCI'``, with the provenance header), then ``VAR`` (or ``ERR``) with the
        propagated variance when an input variance is given, ``DQ`` (uint8, `DQ_NO_DATA`
        where no sample survived) and one extension per product, named in capitals
        (``NREJ``, ``NCOMBINE``, ``SIGMA`` ...). Needs ``output``; products are then given by
        name only.
    error_out : bool, optional
        Return (and write) the propagated standard deviation (``ERR``) rather than the
        variance (``VAR``). Default: True when ``error`` is given, else False.

    Returns
    -------
    FilesResult

    Raises
    ------
    FileNotFoundError
        A missing input, mask or list file.
    FileExistsError
        An output exists and ``overwrite`` is False.
    ValueError
        Inputs of different shapes or types, a missing HDU, a ``mem_limit`` too small for one
        row of the stack, an output that is also an input, or a bad parameter.

    Notes
    -----
    Inputs are only read. Outputs go to temporary files renamed at the end, so an error or
    Ctrl-C leaves no partial file. A run killed outright (SIGKILL, a crash) cannot remove its
    hidden temporary files (``.<name>.imc-...partial``); the next run writing to the same
    folder on the same host removes those whose process has ended. Messages about each frame
    go to the ``imcombiners`` logger.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from astropy.io import fits
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> rng = np.random.default_rng(0)
    >>> for i in range(5):
    ...     fits.writeto(folder / f"bias{i}.fits", rng.normal(1000, 5, (64, 64)).astype("f4"))
    >>> res = imc.combine_files(str(folder / "bias*.fits"), folder / "master.fits",
    ...                         rejectors=imc.SigClip(sigma=3.0), progress=False)
    >>> res.data.shape, res.header["NCOMBINE"], res.paths["output"].name
    ((64, 64), 5, 'master.fits')
    """
    start = time.perf_counter()
    plan = _Plan(
        method=method_name(method),
        rules=_own_grow_removed(_rejection.as_rejector_list(rejectors)),
        thresholds=thresholds_pair(thresholds),
        grow=_plan.step_grow(
            _rejection.as_rejector_list(rejectors),
            None if grow is None else real(grow, name="grow", low=0.0),
        ),
        ddof=nonnegative_int(ddof, name="ddof"),
    )
    budget = parse_mem_limit(mem_limit)
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be True or False, got {overwrite!r}")
    out_path = None if output is None else Path(os.fspath(output))
    unc = uncertainty_request(variance, error, noise_model, mef, error_out, out_path)
    if unc.mef and isinstance(products, Mapping):
        raise ValueError(
            "products: with mef=True every product is an extension of output; give the "
            "products by name (a list), not a dict of paths"
        )
    wanted = _products(products, None if unc.mef else out_path)
    if unc.mef:
        wanted = dict.fromkeys(wanted, out_path)
    plan.source = unc.source
    needs = [r for r in plan.rules if getattr(r, "needs_variance", False)]
    if needs and not unc.propagated:
        raise ValueError(
            f"{type(needs[0]).__name__} tests each sample against its own variance: give "
            "variance=, error= or noise_model= (on the command line --variance-hdu, "
            "--error-hdu or --noise-model)"
        )
    if isinstance(weights, str) and weights.lower() == "ivar":
        if not unc.propagated:
            raise ValueError(
                "weights='ivar' needs an input variance: variance=, error= or noise_model="
            )
        if plan.method not in ("mean", "weighted_average"):
            raise ValueError(
                f"weights='ivar' is used only by the mean (method='mean'), not by "
                f"method={plan.method!r}"
            )
        plan.ivar, weights = True, None
    paths = resolve_paths(inputs)
    _rejection.warn_if_inert(plan.rules, len(paths))  # once per call, not once per band
    if isinstance(unc.planes, list) and len(unc.planes) != len(paths):
        raise ValueError(
            f"{unc.role}: {len(unc.planes)} {unc.role} files for {len(paths)} images; give one "
            "per image"
        )
    if isinstance(masks, str) and (masks.startswith("@") or GLOB_CHARS & set(masks)):
        masks = resolve_paths(masks, what="masks")
    elif isinstance(masks, Sequence) and not isinstance(masks, str):
        masks = resolve_paths(list(masks), what="masks")
    read = list(paths)  # every file read: inputs, and variance or mask files
    for extra in (unc.planes, masks):
        if isinstance(extra, list):
            read += extra
    _check_destinations(out_path, {} if unc.mef else wanted, read, overwrite)

    with FitsStack(paths, hdu, masks, planes=unc.planes, plane_role=unc.role or "") as frames:
        request = _Request(
            budget,
            out_path,
            wanted,
            overwrite,
            progress,
            {"zero": zero, "scale": scale, "weights": weights},
            (stat_region, stat_step, normalize),
            start,
            unc,
        )
        return _run(frames, plan, request)


def _own_grow_removed(rules: list[Any]) -> list[Any]:
    """The rules without their own grow radius (the plan holds the step's radius, clamped to
    the image, and applies it once)."""
    return [
        dataclasses.replace(r, grow=None) if getattr(r, "grow", None) is not None else r
        for r in rules
    ]


def _check_destinations(
    out_path: Path | None, wanted: dict[str, Path | None], inputs: list[Path], overwrite: bool
) -> None:
    dests = [("output", out_path), *wanted.items()]
    resolved_inputs = {p.resolve() for p in inputs}
    seen: dict[Path, str] = {}
    for name, dest in dests:
        if dest is None:
            continue
        if dest.name.lower().endswith(".fz"):
            raise ValueError(
                f"{name}: cannot write {dest}: tile-compressed (.fz) files are not written; "
                "name it *.fits, or *.fits.gz for a gzip-compressed file"
            )
        r = dest.resolve()
        if r in resolved_inputs:
            raise ValueError(f"{name}: {dest} is one of the inputs; inputs are never written to")
        if r in seen:
            raise ValueError(f"{name} and {seen[r]} would both be written to {dest}")
        seen[r] = name
        if dest.exists() and not overwrite:
            raise FileExistsError(f"{name}: {dest} exists; pass overwrite=True to replace it")
        if not dest.parent.is_dir():
            raise FileNotFoundError(f"{name}: cannot write {dest}: the folder does not exist")


def _resolve_corrections(
    frames: FitsStack, plan: _Plan, given: dict[str, Any], stats: tuple[Any, Any, bool]
) -> tuple[np.ndarray | None, list[tuple[int, int]], int]:
    """Fill plan.zero/scale/weights; returns the grid medians (None if not measured yet), the
    statistics region and step."""
    stat_region, stat_step, normalize = stats
    given = dict(given)
    for key, value in given.items():
        if isinstance(value, str) and value.startswith("!"):
            given[key] = _keyword_values(frames, value, key)
    whole = [(0, n) for n in frames.shape]
    region = normalization.region_bounds(stat_region, frames.shape) or whole
    step = _auto_step(region) if stat_step is None else positive_int(stat_step, name="stat_step")
    n = len(frames)
    numeric_weights = None
    if given["weights"] is not None and not isinstance(given["weights"], str):
        # Numbers (or the values of a "!KEYWORD"): used as given whatever zero and scale are;
        # checked here, before any statistic is measured.
        numeric_weights = as_weights(given["weights"], n)
    _plan.weighted_method(plan.method, given["weights"])  # the one statement of the rule
    if _needs_statistics(given["zero"], given["scale"], given["weights"]):
        medians = _measure(
            frames, plan, given["zero"], given["scale"], given["weights"], region, step, normalize
        )
        if numeric_weights is not None:
            plan.weights = numeric_weights
        return medians, region, step
    fake = as_stack(np.empty((n,) + (1,) * len(frames.shape), dtype=np.float32), name="grid")
    got = normalization.resolve(
        fake,
        None,
        None,
        given["zero"],
        given["scale"],
        given["weights"],
        normalization.stat_options(fake, normalize=normalize),
    )
    plan.zero, plan.scale = got.zero, got.scale
    if numeric_weights is not None:
        plan.weights = numeric_weights
    return None, region, step


@dataclass
class _Run:
    """The state of one `combine_files` run, shared by its steps."""

    frames: FitsStack
    plan: _Plan
    out_path: Path | None
    wanted: dict[str, Path | None]
    #: The grow radius as given (the plan holds it clamped to the image).
    given_grow: float | None
    #: The statistics grid's medians (None: picked from the bands and measured at the end).
    medians: np.ndarray | None
    region: list[tuple[int, int]]
    step: int
    work: np.dtype = field(init=False)
    diagnostics: bool = field(init=False)
    halo: int = 0
    bounds: list[tuple[int, int]] = field(default_factory=list)
    header: Any = None
    data: np.ndarray | None = None
    kept: dict[str, np.ndarray] = field(default_factory=dict)
    writers: dict[str, FitsImageWriter] = field(default_factory=dict)
    rejected: np.ndarray = field(init=False)
    usable: np.ndarray = field(init=False)
    grid: np.ndarray | None = None
    grid_mask: np.ndarray | None = None
    unc: UncertaintyRequest | None = None
    #: The propagated variance (or error) held in memory (not written to a MEF).
    variance: np.ndarray | None = None
    #: The multi-extension output (``mef=True``); also in ``writers["output"]``.
    mef: FitsMefWriter | None = None

    def __post_init__(self) -> None:
        n = len(self.frames)
        self.work = WORK_DTYPES[self.frames.dtype.newbyteorder("=")]
        self.diagnostics = bool(self.wanted) or self.plan.grow is not None
        self.rejected = np.zeros(n, dtype=np.int64)
        self.usable = np.zeros(n, dtype=np.int64)

    @property
    def in_memory(self) -> list[str]:
        """The products kept in memory."""
        return [k for k, dest in self.wanted.items() if dest is None]

    @property
    def propagated(self) -> bool:
        """Whether an input variance is propagated."""
        return self.unc is not None and self.unc.propagated

    @property
    def plane_name(self) -> str:
        """The extension of the propagated uncertainty: ``"ERR"`` or ``"VAR"``."""
        return "ERR" if self.unc is not None and self.unc.error_out else "VAR"


@dataclass(frozen=True)
class _Request:
    """The checked arguments of one `combine_files` call that its steps use."""

    budget: int
    out_path: Path | None
    wanted: dict[str, Path | None]
    overwrite: bool
    progress: Any
    #: zero, scale and weights as given.
    given: dict[str, Any]
    #: stat_region, stat_step, normalize.
    stats: tuple[Any, Any, bool]
    #: perf_counter at the call.
    start: float
    #: The uncertainty arguments.
    unc: UncertaintyRequest | None = None


def _run(frames: FitsStack, plan: _Plan, req: _Request) -> FilesResult:
    """`combine_files` once its arguments are checked and its files open: the corrections,
    the memory plan, the outputs, the band loop, the result."""
    medians, region, step = _resolve_corrections(frames, plan, req.given, req.stats)
    run = _Run(frames, plan, req.out_path, req.wanted, plan.grow, medians, region, step)
    run.unc = req.unc
    _plan_bands(run, req.budget)
    run.header = _output_header(run)
    _allocate(run)
    try:
        _open_writers(run, req.overwrite)
        _band_loop(run, req.progress)
        written = {k: w.commit() for k, w in run.writers.items()}
    except BaseException:
        for w in run.writers.values():
            w.abort()
        raise
    return _result(run, written, req.start)


def _plan_bands(run: _Run, budget: int) -> None:
    """The memory plan: the halo and the bands (``run.bounds``) within ``budget``.

    Fixed: the outputs kept whole, the statistics grid, and a reserve for the allocator and
    threads. Per sample of a band: two input buffers (the next band is read while this one is
    combined), masks, and the rejection mask with its temporaries (counted twice: freed
    blocks are not always returned to the system at once).
    """
    frames, plan, wanted = run.frames, run.plan, run.wanted
    n, spatial = len(frames), frames.shape
    row_items = math.prod(spatial[1:])
    fixed = min(_RESERVE, budget // 8)
    if run.out_path is None:
        fixed += math.prod(spatial) * run.work.itemsize
    for k in run.in_memory:
        fixed += math.prod(spatial) * (n if k == "rejmask" else run.work.itemsize)
    if run.propagated and not (run.unc is not None and run.unc.mef):
        fixed += math.prod(spatial) * run.work.itemsize  # the propagated variance, kept
    if run.medians is None:
        grid = math.prod(len(range(a, b, run.step)) for a, b in run.region)
        fixed += n * grid * (frames.dtype.itemsize + (1 if frames.masks is not None else 0))
    sample = 2 * frames.dtype.itemsize + (4 if frames.masks is not None else 0)
    if run.diagnostics or (run.propagated and plan.rules):  # a rejection step with its mask
        sample += 12 + 2 * frames.dtype.itemsize
    elif plan.rules:
        sample += 3
    if "low" in wanted or "high" in wanted:
        sample += 16
    plane_bytes = 0
    if run.propagated:
        # The planes as read (this band's and the next one's), their float64 variance and
        # the float64 copy the core may make; per output element the variance and the DQ.
        plane_bytes = 0 if frames.planes is None else frames.plane_dtype().itemsize
        sample += 2 * plane_bytes + 16
    per_row = n * row_items * sample + row_items * 8 * (2 + len(wanted) + 2 * run.propagated)
    plan.grow = _grow_within(plan.grow, spatial)
    run.halo = 0 if plan.grow is None else min(math.ceil(plan.grow), spatial[0] - 1)
    run.bounds = band_bounds(
        budget,
        fixed,
        per_row,
        spatial[0],
        run.halo,
        input_row_bytes=n * row_items * (frames.dtype.itemsize + plane_bytes),
        target=_BAND_TARGET,
        grow=run.given_grow,
    )
    logger.info(
        "combining %d frames of %s %s in %d band(s) of up to %d rows (mem_limit %s)",
        n,
        " x ".join(map(str, reversed(spatial))),
        frames.dtype.newbyteorder("=").name,
        len(run.bounds),
        run.bounds[0][1] - run.bounds[0][0],
        format_bytes(budget),
    )


def _output_header(run: _Run) -> Any:
    frames, plan = run.frames, run.plan
    return provenance_header(
        frames.headers[0],
        [p.name for p in frames.paths],
        method=plan.method,
        exptimes=exptimes(frames.headers),
        steps=_steps(plan, run.given_grow) + _uncertainty_steps(run),
        zero=plan.zero,
        scale=plan.scale,
        weights=plan.weights,
        version=_core.__version__,
    )


def _allocate(run: _Run) -> None:
    """The outputs held in memory and the statistics grid picked from the bands."""
    n, spatial, work = len(run.frames), run.frames.shape, run.work
    run.data = np.empty(spatial, dtype=work) if run.out_path is None else None
    if run.propagated and not (run.unc is not None and run.unc.mef):
        run.variance = np.empty(spatial, dtype=work)
    run.kept = {
        k: np.empty((n, *spatial) if k == "rejmask" else spatial, dtype=_product_dtype(k, n, work))
        for k in run.in_memory
    }
    if run.medians is None:
        grid_shape = tuple(len(range(a, b, run.step)) for a, b in run.region)
        run.grid = np.empty((n, *grid_shape), dtype=run.frames.dtype)
        if run.frames.masks is not None:
            run.grid_mask = np.empty(run.grid.shape, dtype=bool)


def _open_writers(run: _Run, overwrite: bool) -> None:
    """The output files (written to temporary names until committed)."""
    n, spatial, work = len(run.frames), run.frames.shape, run.work
    if run.unc is not None and run.unc.mef:
        run.mef = FitsMefWriter(run.out_path, _mef_images(run), overwrite=overwrite)
        run.writers["output"] = run.mef
        return
    if run.out_path is not None:
        run.writers["output"] = FitsImageWriter(
            run.out_path, spatial, work, run.header, overwrite=overwrite
        )
    for k, dest in run.wanted.items():
        if dest is not None:
            shape = (n, *spatial) if k == "rejmask" else spatial
            hdr = run.header.copy()
            hdr["PRODUCT"] = (k, _PRODUCT_DOC[k])
            run.writers[k] = FitsImageWriter(
                dest, shape, _product_dtype(k, n, work), hdr, overwrite=overwrite
            )


def _mef_images(run: _Run) -> list[MefImage]:
    """The images of a multi-extension output: SCI, VAR or ERR, DQ, the products."""
    from astropy.io import fits

    def card(key: str, value: str, comment: str) -> Any:
        header = fits.Header()
        header[key] = (value, comment)
        return header

    n, spatial, work = len(run.frames), run.frames.shape, run.work
    images = [MefImage("SCI", spatial, work, run.header)]
    if run.propagated:
        name = run.plane_name
        images.append(MefImage(name, spatial, work, card("CONTENT", name, _PLANE_DOC[name])))
    images.append(MefImage("DQ", spatial, np.uint8, card("CONTENT", "DQ", _PLANE_DOC["DQ"])))
    for k in run.wanted:
        shape = (n, *spatial) if k == "rejmask" else spatial
        dtype = _product_dtype(k, n, work)
        images.append(MefImage(k.upper(), shape, dtype, card("PRODUCT", k, _PRODUCT_DOC[k])))
    return images


def _band_loop(run: _Run, progress: Any) -> None:
    """Every band read (the next one while this one is combined), combined and stored."""
    frames, bounds, halo = run.frames, run.bounds, run.halo
    ny = frames.shape[0]
    rows = bounds[0][1] - bounds[0][0]
    buffers = [
        np.empty((len(frames), min(ny, rows + 2 * halo), *frames.shape[1:]), dtype=frames.dtype)
        for _ in range(2 if len(bounds) > 1 else 1)
    ]

    def read(k: int) -> tuple[np.ndarray, np.ndarray | None, int, np.ndarray | None]:
        y0, y1 = bounds[k]
        a, b = max(0, y0 - halo), min(ny, y1 + halo)
        band = frames.read_band(a, b, buffers[k % len(buffers)])
        return band, frames.read_mask_band(a, b), a, frames.read_plane_band(a, b)

    bar = BandProgress(progress, len(bounds), "imcombine")
    try:
        with contextlib.closing(read_ahead(len(bounds), read)) as bands:
            for k, (band, mask, a, plane) in bands:
                _store_band(run, band, mask, a, bounds[k], plane)
                bar.update()
    finally:
        bar.close()


def _store_band(
    run: _Run,
    band: np.ndarray,
    mask: np.ndarray | None,
    a: int,
    rows: tuple[int, int],
    plane: np.ndarray | None = None,
) -> None:
    """Combine one band (read from row ``a``, halo included) and store its own ``rows``."""
    y0, y1 = rows
    inner = slice(y0 - a, y0 - a + (y1 - y0))
    combined, mask_rej, counts, variance, used_mask = _combine_band(
        band, mask, run.plan, run.diagnostics, inner, plane
    )
    if run.data is not None:
        run.data[y0:y1] = combined[inner]
    if run.propagated:
        if variance is None:
            raise RuntimeError("the combine returned no propagated variance")  # a bug
        part = np.sqrt(variance[inner]) if run.unc.error_out else variance[inner]
        if run.mef is not None:
            run.mef.write_to(run.plane_name, y0, part)
        else:
            run.variance[y0:y1] = part
    if run.mef is not None:
        dq = np.where(np.isnan(combined[inner]), np.uint8(DQ_NO_DATA), np.uint8(0))
        run.mef.write_to("DQ", y0, dq)
    if run.grid is not None:
        _grid_pick(band, mask, a, rows, run.region, run.step, run.grid, run.grid_mask)
    if counts is not None:
        run.rejected += counts[0]
        run.usable += counts[1]
    if run.diagnostics:
        prods = _band_products(band, used_mask, mask_rej, combined, run.plan, run.wanted)
        for key, arr in prods.items():
            _store_product(run, key, arr[:, inner] if key == "rejmask" else arr[inner], y0)
    if run.mef is not None:
        run.mef.write_to("SCI", y0, combined[inner])
    elif "output" in run.writers:
        run.writers["output"].write(y0, combined[inner])


def _store_product(run: _Run, key: str, part: np.ndarray, y0: int) -> None:
    """One band's rows of product ``key``: into memory or to its file."""
    y1 = y0 + part.shape[1 if key == "rejmask" else 0]
    if key in run.kept:
        if key == "rejmask":
            run.kept[key][:, y0:y1] = part
        else:
            run.kept[key][y0:y1] = part
    elif run.mef is not None:
        if key == "rejmask":
            for i in range(part.shape[0]):
                run.mef.write_to(key, y0, part[i], frame=i)
        else:
            run.mef.write_to(key, y0, part)
    elif key == "rejmask":
        for i in range(part.shape[0]):
            run.writers[key].write(y0, part[i], frame=i)
    else:
        run.writers[key].write(y0, part)


def _result(run: _Run, written: dict[str, Path], start: float) -> FilesResult:
    """The FilesResult, with the per-frame table logged."""
    medians = run.medians
    if medians is None:
        m = None if run.grid_mask is None else run.grid_mask.view(np.uint8)
        medians = _grid_medians(as_stack(run.grid, name="grid"), m, run.plan.thresholds)
    infos = _frame_infos(run.frames, run.plan, medians, run.rejected, run.usable)
    for f in infos:
        logger.info(
            "%s: median %.6g, zero %.6g, scale %.6g, weight %.6g, rejected %.3f%%",
            f.path,
            f.median,
            f.zero,
            f.scale,
            f.weight,
            100 * f.rejected_fraction,
        )
    data = run.data
    if data is None:
        data = run.writers["output"].mapped()  # the written file, not a copy in memory
    plane = run.variance
    dq = None
    if run.mef is not None:
        dq = run.mef.mapped_image("DQ")
        if run.propagated:
            plane = run.mef.mapped_image(run.plane_name)
    error_out = run.unc is not None and run.unc.error_out
    return FilesResult(
        data=data,
        header=run.header,
        products=run.kept,
        paths=written,
        frames=infos,
        seconds=time.perf_counter() - start,
        bands=len(run.bounds),
        variance=None if error_out else plane,
        error=plane if error_out else None,
        dq=dq,
    )


def _frame_counts(
    band: np.ndarray,
    mask: np.ndarray | None,
    rej: np.ndarray,
    thresholds: tuple[float, float] | None,
    inner: slice,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame rejected and usable samples of the band's own rows (halo excluded)."""
    core = (slice(None), inner)
    n = band.shape[0]
    r = rej[core]
    rejected = np.array([np.count_nonzero(r[i]) for i in range(n)], dtype=np.int64)
    part = band[core].reshape(n, -1)
    if band.dtype.kind == "f" or mask is not None or thresholds is not None:
        ok = np.isfinite(part) if band.dtype.kind == "f" else np.ones(part.shape, dtype=bool)
        if mask is not None:
            ok &= ~mask[core].reshape(n, -1)
        if thresholds is not None:
            ok &= (part >= thresholds[0]) & (part <= thresholds[1])
        usable = np.array([np.count_nonzero(ok[i]) for i in range(n)], dtype=np.int64)
    else:
        usable = np.full(n, part.shape[1], dtype=np.int64)
    return rejected, usable


def _grid_pick(
    band: np.ndarray,
    mask: np.ndarray | None,
    a: int,
    rows: tuple[int, int],
    region: list[tuple[int, int]],
    step: int,
    grid: np.ndarray,
    grid_mask: np.ndarray | None,
) -> None:
    """Copy the statistics-grid samples of band rows ``rows`` (band starts at row ``a``)."""
    (r0, r1), rest = region[0], region[1:]
    lo = max(rows[0], r0)
    first = r0 + -(-(lo - r0) // step) * step
    ys = range(first, min(rows[1], r1), step)
    if not ys:
        return
    k0 = (first - r0) // step
    index = (
        slice(None),
        slice(ys.start - a, ys.stop - a, step),
        *(slice(p, q, step) for p, q in rest),
    )
    grid[:, k0 : k0 + len(ys)] = band[index]
    if grid_mask is not None and mask is not None:
        grid_mask[:, k0 : k0 + len(ys)] = mask[index]


def _product_dtype(name: str, n: int, work: np.dtype) -> np.dtype:
    if name in ("sigma", "variance"):
        return work
    if name == "rejmask":
        return np.dtype(np.uint8)
    return np.dtype(np.int16 if n < 2**15 else np.int32)


def _steps(plan: _Plan, grow: float | None) -> list[str]:
    steps = []
    if plan.thresholds is not None:
        steps.append(f"thresholds: samples outside {list(plan.thresholds)} not used")
    for r in plan.rules:
        steps.append(f"rejection: {r!r}")
    if grow is not None:
        steps.append(f"grow radius {grow:g}")
    return steps


def _uncertainty_steps(run: _Run) -> list[str]:
    """The HISTORY of the input variance, when one is propagated."""
    if run.unc is None:
        return []
    steps = run.unc.history()
    if run.plan.ivar:
        steps.append("weights: the inverse of each sample's variance")
    return steps


def _grow_within(grow: float | None, spatial: tuple[int, ...]) -> float | None:
    """The grow radius clamped to the image: one past its diagonal.

    No two pixels of the image are farther apart than the diagonal, so every radius beyond it
    grows a rejection over the whole frame; the clamped radius gives the same result, with
    work and band overlap that depend on the image, not on the radius.
    """
    if grow is None:
        return None
    reach = math.sqrt(sum((n - 1) ** 2 for n in spatial)) + 1.0
    return min(grow, reach)


def _frame_infos(
    frames: FitsStack,
    plan: _Plan,
    medians: np.ndarray,
    rejected: np.ndarray,
    usable: np.ndarray,
) -> list[FrameInfo]:
    n = len(frames)
    zero = np.zeros(n) if plan.zero is None else plan.zero
    scale = np.ones(n) if plan.scale is None else plan.scale
    weights = np.ones(n) if plan.weights is None else plan.weights
    if plan.ivar:
        weights = np.full(n, np.nan)  # per sample: 1 / its variance
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(usable > 0, rejected / np.maximum(usable, 1), 0.0)
    return [
        FrameInfo(
            path=str(frames.paths[i]),
            median=float(medians[i]),
            zero=float(zero[i]),
            scale=float(scale[i]),
            weight=float(weights[i]),
            rejected_fraction=float(frac[i]),
        )
        for i in range(n)
    ]
