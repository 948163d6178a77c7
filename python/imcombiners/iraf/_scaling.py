"""IMCOMBINE's scale, zero and weight factors (IRAF's ic_scale), in IRAF's real arithmetic.

Statistics come from the sub-sampled grid of each input image (statsec, masks and thresholds
applied). "median" is the sorted sample's element at 1-based index n/2, "mean" the running real
sum over n, "mode" IRAF's binned mode. Scales from statistics are normalised to the first image;
numbers from a file, array or keyword multiply (scale) or add (zero) and are not statistics.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .. import _core
from ..errors import ImcombinersWarning
from ._inputs import MISSING, Frames, header_value, keyword

STAT_TYPES = ("mode", "median", "mean")
f32 = np.float32


@dataclass
class Factors:
    """Internal per-image factors: a value x becomes x / scales - zeros."""

    scales: np.ndarray
    zeros: np.ndarray
    weights: np.ndarray
    doscale: bool
    doscale1: bool
    dowts: bool
    stats: dict[str, np.ndarray]
    ncombine: np.ndarray
    exptime: np.ndarray


def _section(text: str, shape: tuple[int, ...], statsec: str) -> list[tuple[int, int]]:
    """An IRAF section "[x1:x2,y1:y2]" (1-based, inclusive, x first) on an image of ``shape``
    as 1-based inclusive (lo, hi) pairs in numpy axis order (a step is ignored, as IRAF's
    statistics use their own grid step)."""
    if not (text.startswith("[") and text.endswith("]")):
        raise ValueError(f"statsec={statsec!r}: expected '[x1:x2,y1:y2]'")
    parts = text[1:-1].split(",")
    if len(parts) != len(shape):
        raise ValueError(f"statsec={statsec!r}: {len(parts)} axes for {len(shape)}-D images")
    out = []
    for part, size in zip(reversed(parts), shape, strict=False):
        part = part.strip()
        if part == "*":
            out.append((1, size))
            continue
        bounds = part.split(":")
        try:
            lo, hi = int(bounds[0]), int(bounds[1] if len(bounds) > 1 else bounds[0])
        except ValueError:
            raise ValueError(f"statsec={statsec!r}: cannot read {part!r}") from None
        out.append((lo, hi))
    return out


def parse_statsec(statsec: str, shape: tuple[int, ...]) -> list[tuple[int, int]] | None:
    """An input section "[x1:x2,y1:y2]" (1-based, inclusive, x first) as numpy (start, stop).

    Sections "output ..." and "overlap" depend on the offsets (see `stat_regions`); here they
    are only checked for syntax.
    """
    mode, text = split_statsec(statsec)
    if not text or mode == "overlap":
        return None
    section = _section(text, shape, statsec)
    if mode == "output":
        return None
    region = []
    for (lo, hi), size in zip(section, shape, strict=True):
        if not 1 <= lo <= hi <= size:
            raise ValueError(f"statsec={statsec!r}: {lo}:{hi} is outside 1..{size}")
        region.append((lo - 1, hi))
    return region


def split_statsec(statsec: str) -> tuple[str, str]:
    """``(mode, section)`` of IMCOMBINE's statsec: mode "input", "output" or "overlap"."""
    s = (statsec or "").strip()
    for mode in ("input", "output", "overlap"):
        if s.lower().startswith(mode):
            return mode, s[len(mode) :].strip()
    return "input", s


def stat_regions(
    statsec: str, shapes: list[tuple[int, ...]], offsets: np.ndarray | None
) -> list[list[tuple[int, int]] | None]:
    """Each image's statistics region (numpy (start, stop) per axis, None = whole image).

    "input" sections are in each image's own pixels. "output" sections are in the output
    image's pixels and move by each image's offset; "overlap" is the part of the output that
    every image covers (any section after it is ignored). As in IRAF's ic_stat, the region is
    then clipped to the image.
    """
    mode, text = split_statsec(statsec)
    if mode == "input" or (mode == "output" and not text):
        return [parse_statsec(statsec, shape) for shape in shapes]
    n, ndim = len(shapes), len(shapes[0])
    off = np.zeros((n, ndim), np.int64) if offsets is None else np.asarray(offsets, np.int64)
    off = off - off.min(axis=0)
    if mode == "overlap":
        lo = [int(max(off[i, k] for i in range(n))) + 1 for k in range(ndim)]
        hi = [int(min(off[i, k] + shapes[i][k] for i in range(n))) for k in range(ndim)]
        section = list(zip(lo, hi, strict=True))
        if any(a > b for a, b in section):
            raise ValueError(f"statsec={statsec!r}: the images have no common overlap")
    else:
        out_shape = tuple(int(max(off[i, k] + shapes[i][k] for i in range(n))) for k in range(ndim))
        section = _section(text, out_shape, statsec)
    regions = []
    for i, shape in enumerate(shapes):
        region = []
        for k, ((a, b), size) in enumerate(zip(section, shape, strict=True)):
            a, b = a - int(off[i, k]), b - int(off[i, k])
            v1, v2 = max(1, min(a, b)), min(size, max(a, b))
            if v1 > v2:
                raise ValueError(
                    f"statsec={statsec!r}: the section does not reach image {i + 1} on axis "
                    f"{ndim - k} (its offset is {int(off[i, k])})"
                )
            region.append((v1 - 1, v2))
        regions.append(region)
    return regions


def _grid_step(shape: tuple[int, ...], region) -> int:
    """IRAF's grid step (as the core chooses it): the smallest j in 1..10 giving fewer than
    100000 samples of ``region`` (numpy (start, stop) per axis; None = whole image), else 10."""
    sizes = [n for n in shape] if region is None else [b - a for a, b in region]
    for j in range(1, 11):
        if int(np.prod([-(-n // j) for n in sizes], dtype=np.int64)) < 100_000:
            return j
    return 10


def _stat_frame(frames: Frames, i: int, region) -> tuple[np.ndarray, int]:
    """``(pixels, step)`` of image ``i`` for its statistics on IRAF's grid.

    FITS images (``frames.files``) are read from their files here: for plain files only the
    rows the grid samples, into an image-sized buffer whose other rows are never touched (so
    never read, and never given memory); scaled or compressed ones over the rows of the
    region at once. Arrays are returned as they are. ``step`` is 0 (the core's automatic step)
    for arrays, and the step whose rows were read for files.
    """
    if frames.files is None:
        return frames.data[i], 0
    f = frames.files[i]
    shape = f.shape
    step = _grid_step(shape, region)
    out = np.empty(shape, f.dtype)
    if len(shape) == 1:
        f.read_rows(0, shape[0], out)
        return out, step
    y0, y1 = (0, shape[0]) if region is None else region[0]
    if not f.plain:
        f.read_rows(y0, y1, out[y0:y1])
        return out, step
    for y in range(y0, y1, step):
        f.read_rows(y, y + 1, out[y : y + 1])
    return out, step


def _grid_samples(
    frame: np.ndarray, bad: np.ndarray | None, region, thresholds, step: int = 0
) -> np.ndarray:
    stack = frame[None]
    swapped = not stack.dtype.isnative
    if swapped:
        stack = stack.view(stack.dtype.newbyteorder("="))
    mask = None if bad is None else bad[None].view(np.uint8)
    if stack.ndim == 2:  # 1-D images: a stack of (1, nx)
        stack = stack[:, None, :]
        mask = None if mask is None else mask[:, None, :]
        region = None if region is None else [(0, 1), *region]
    return _core.frame_samples(
        stack,
        0,
        mask=mask,
        thresholds=thresholds,
        region=region,
        step=step,
        swapped=swapped,
    ).astype(np.float32)


def _mode(sample: np.ndarray) -> float:
    """IRAF's binned mode of a sorted sample, in real arithmetic."""
    # IMCOMBINE always calls IRAF's real-typed mode, so integer data get no special bins.
    data = sample.astype(np.float32)
    values, _, _ = _core.frame_stats(data[None, None, :], ["mode"], step=1)
    return float(values[0, 0])


def image_stats(
    frames: Frames, bad: list, statsec: str, thresholds, which: set[str], offsets=None
) -> dict[str, np.ndarray]:
    """The mode, median and/or mean of every image on IRAF's statistics grid."""
    out = {k: np.zeros(len(frames.data), np.float32) for k in which}
    regions = stat_regions(statsec, [f.shape for f in frames.data], offsets)
    for i, b in enumerate(bad):
        region = regions[i]
        f, step = _stat_frame(frames, i, region)
        a = _grid_samples(f, b, region, thresholds, step)
        if a.size == 0:
            raise ValueError(f"no usable pixels for statistics in {frames.names[i]}")
        # IRAF sorts the sample only when a median or mode is wanted, and takes the mean (a
        # running real sum, whose order decides the last bit) from the sample as it stands.
        if which & {"median", "mode"}:
            a.sort()
        if "mean" in which:
            out["mean"][i] = np.cumsum(a, dtype=np.float32)[-1] / f32(a.size)
        if "median" in which:
            out["median"][i] = a[max(a.size // 2 - 1, 0)]
        if "mode" in which:
            out["mode"][i] = f32(_mode(a))
    return out


def _values(
    name: str, spec: object, frames: Frames, stats: dict, exptime: np.ndarray
) -> tuple[str, np.ndarray | None]:
    """(type, values) of one of scale/zero/weight: none, stat, exposure, file, keyword."""
    n = len(frames.data)
    if spec is None:
        return "none", None
    if isinstance(spec, str):
        s = spec.strip()
        if s.lower() in ("", "none"):
            return "none", None
        if s.startswith("@"):
            with open(s[1:]) as f:
                nums = [float(w.split()[0]) for w in f.read().splitlines() if w.split()]
            if len(nums) < n:
                raise ValueError(f"{name}: insufficient values in {s[1:]} ({len(nums)} for {n})")
            return "file", np.array(nums[:n], np.float32)
        if s.startswith("!"):
            return "file", header_value(frames, s[1:], name)
        low = s.lower()
        if low in STAT_TYPES:
            return "stat", stats[low]
        if low == "exposure" and name != "zero":
            return "stat", np.maximum(f32(0.001), exptime)
        raise ValueError(
            f"{name}={spec!r}: expected none, mode, median, mean, exposure, @file or !KEY"
        )
    try:
        values = np.asarray(spec, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        values = None
    expected = f"{name}: expected {n} finite numbers within IRAF's real range"
    if values is None or values.shape != (n,):
        raise ValueError(f"{expected}, got {spec!r}")
    with np.errstate(over="ignore"):
        real = values.astype(np.float32)
    if not np.all(np.isfinite(real)):
        raise ValueError(f"{expected}, got {spec!r}")
    return "file", real


def resolve(
    frames: Frames,
    bad: list,
    *,
    scale: object,
    zero: object,
    weight: object,
    statsec: str,
    expname: str,
    thresholds,
    sigscale: float,
    combine: str,
    offsets=None,
) -> Factors:
    """IRAF's ic_scale: per-image scales, zeros and weights and the flags that go with them."""
    n = len(frames.data)
    ncombine = np.ones(n, np.float32)
    exptime = np.zeros(n, np.float32)
    for i, h in enumerate(frames.headers):
        value = keyword(h, "NCOMBINE")
        if value is not MISSING:
            ncombine[i] = float(value)
        value = keyword(h, expname) if expname else MISSING
        if value is not MISSING:
            exptime[i] = float(value)
    wanted = set()
    for spec in (scale, zero, weight):
        if isinstance(spec, str) and spec.strip().lower() in STAT_TYPES:
            wanted.add(spec.strip().lower())
    stats = image_stats(frames, bad, statsec, thresholds, wanted, offsets) if wanted else {}

    stype, svals = _values("scale", scale, frames, stats, exptime)
    ztype, zvals = _values("zero", zero, frames, stats, exptime)
    wtype, wvals = _values("weight", weight, frames, stats, exptime)
    scales = np.ones(n, np.float32) if svals is None else svals.copy()
    zeros = np.zeros(n, np.float32) if zvals is None else zvals.copy()
    wts = np.ones(n, np.float32) if wvals is None else wvals.copy()

    if np.any(scales <= 0):
        warnings.warn(
            "negative scale factors -- ignoring scaling", ImcombinersWarning, stacklevel=3
        )
        scales[:] = 1
    snorm = stype == "file"
    znorm = ztype == "file"
    wflag = wtype == "file"
    if snorm:
        scales = (f32(1) / scales).astype(np.float32)
    scales = (scales / scales[0]).astype(np.float32)
    zeros = (zeros / scales).astype(np.float32)
    zref = zeros[0]
    if wtype != "none":
        # IRAF's loop, image by image: a bad weight resets them all, a bad zero level stops the
        # zero adjustment from that image on (the earlier images keep theirs).
        for i in range(n):
            if wts[i] <= 0:
                warnings.warn(
                    "negative weights -- using only NCOMBINE weights",
                    ImcombinersWarning,
                    stacklevel=3,
                )
                wts = ncombine.copy()
                break
            if ztype == "none" or znorm or wflag:
                wts[i] = f32(ncombine[i] * wts[i])
            elif zeros[i] <= 0:
                warnings.warn(
                    "negative zero offsets -- ignoring zero weight adjustments",
                    ImcombinersWarning,
                    stacklevel=3,
                )
                wts = (ncombine * wts).astype(np.float32)
                break
            else:
                wts[i] = f32(f32(ncombine[i] * wts[i]) * zref / zeros[i])
    if znorm:
        zeros = -zeros
    else:
        zeros = (zeros - zref).astype(np.float32)
        if np.all(zeros == zeros[0]):
            zeros[:] = 0
    wts = (wts / np.cumsum(wts, dtype=np.float32)[-1]).astype(np.float32)

    doscale = bool(snorm or np.any(scales[1:] != scales[0]))
    dozero = bool(znorm or np.any(zeros[1:] != zeros[0]))
    # IRAF turns weights off for medians; sum ignores them but its sigma uses them.
    dowts = bool(np.any(wts[1:] != wts[0])) and combine not in ("median", "lmedian")
    doscale1 = False
    if doscale and sigscale != 0:
        doscale1 = bool(np.any(np.abs(scales - f32(1)) > f32(sigscale)))
        if not doscale1 and zref > 0:
            doscale1 = bool(np.any(np.abs(zeros / zref) > f32(sigscale)))
    return Factors(
        scales=scales,
        zeros=zeros,
        weights=wts,
        doscale=doscale or dozero,
        doscale1=doscale1,
        dowts=dowts,
        stats=stats,
        ncombine=ncombine,
        exptime=exptime,
    )
