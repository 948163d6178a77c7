"""IMCOMBINE's inputs: arrays, FITS files or an @list, their headers, masks and offsets."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..io.reader import FitsFrame, frames_close
from ._params import MAX_INT, iraf_type


@dataclass
class Frames:
    """The images to combine, with what IMCOMBINE reads from their headers."""

    #: One array per image (2-D, or 1-D for spectra). For FITS input, read-only stand-ins of
    #: each image's shape and dtype whose values are all 0: the pixels are read from `files`
    #: when needed (statistics, bands); never read pixels from the stand-ins.
    data: list[np.ndarray]
    #: IRAF pixel type of each image.
    types: list[str]
    #: Header of each image (empty dicts for arrays).
    headers: list[Mapping[str, object]]
    #: Names for the log and IMCMBnnn (file names, or "image 1" ...).
    names: list[str]
    #: The stack itself when the input was one (N, ...) array: no copy needed.
    stack: np.ndarray | None = None
    paths: list[Path] = field(default_factory=list)
    #: For FITS input: each image's open HDU, read band by band with pread
    #: (`imcombiners.io.reader.FitsFrame`).
    files: list[FitsFrame] | None = None

    def close(self) -> None:
        """Close the files of FITS input."""
        if self.files is not None:
            frames_close(self.files)


def _read_list(spec: str) -> list[str]:
    path = Path(spec[1:])
    if not path.is_file():
        raise FileNotFoundError(f"input list {path} does not exist")
    base = path.parent
    names = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            p = Path(line)
            names.append(str(p if p.is_absolute() or p.exists() else base / p))
    if not names:
        raise ValueError(f"input list {path} names no images")
    return names


def _open_files(paths: Sequence[str | os.PathLike], hdu: int | str) -> Frames:
    """FITS images opened (headers read, no pixels): the stand-ins and the open frames."""
    files: list[FitsFrame] = []
    try:
        for i, p in enumerate(paths):
            path = Path(os.fspath(p))
            if not path.is_file():
                raise FileNotFoundError(f"input image {path} does not exist")
            f = FitsFrame(path, hdu)
            files.append(f)
            if len(f.shape) not in (1, 2):
                raise ValueError(
                    f"input: image {i + 1} ({path}) has {len(f.shape)} dimensions; expected 1 or 2"
                )
    except BaseException:
        frames_close(files)
        raise
    data = [np.broadcast_to(np.zeros((), f.dtype), f.shape) for f in files]
    return Frames(
        data,
        [iraf_type(f.dtype) for f in files],
        [f.header for f in files],
        [f.path.name for f in files],
        None,
        [f.path for f in files],
        files=files,
    )


def load(
    input: object, hdu: int | str = 0, headers: Sequence[Mapping[str, object]] | None = None
) -> Frames:
    """Reads IMCOMBINE's ``input``: an (N, ...) array, a list of arrays, a list of FITS paths,
    or an "@file" listing paths (one per line)."""
    if isinstance(input, np.ndarray):
        if input.ndim < 2:
            raise ValueError(f"input: expected a stack (N, ...) of images, got shape {input.shape}")
        if input.shape[0] == 0:
            raise ValueError("input: the stack holds no images")
        frames = list(input)
        stack = input
    elif isinstance(input, (str, os.PathLike)):
        s = os.fspath(input)
        if not s.startswith("@"):
            raise ValueError(f"input: a single path {s!r}; give a list of images or an @list")
        return load(_read_list(s), hdu, headers)
    elif isinstance(input, Sequence) and len(input) > 0:
        stack = None
        if all(isinstance(x, (str, os.PathLike)) for x in input):
            # Nothing is read yet: the statistics and the combine read the rows they need
            # from the files (with pread: a file shrunk meanwhile is a clear error, where a
            # memory map would die of a bus error).
            return _open_files(input, hdu)
        frames = [np.asarray(x) for x in input]
    else:
        raise ValueError("input: expected a stack, a list of arrays or paths, or an @list")
    for i, f in enumerate(frames):
        if f.ndim not in (1, 2):
            raise ValueError(f"input: image {i + 1} has {f.ndim} dimensions; expected 1 or 2")
    hdrs = [dict(h) for h in headers] if headers is not None else [{} for _ in frames]
    if len(hdrs) != len(frames):
        raise ValueError(f"headers: {len(hdrs)} given for {len(frames)} images")
    names = [str(h.get("_NAME", f"image{i + 1}")) for i, h in enumerate(hdrs)]
    types = [iraf_type(f.dtype) for f in frames]
    return Frames(frames, types, hdrs, names, stack)


#: What :func:`keyword` returns for a keyword that is not there.
MISSING = object()


def keyword(header: Mapping[str, object], key: str) -> object:
    """The value of ``key`` in a header, ignoring case; :data:`MISSING` when absent.

    Only that card's value is parsed (an astropy header parses values when they are read).
    """
    for k in (key, key.upper()):
        if k in header:
            return header[k]
    up = key.upper()
    for k in header:
        if str(k).upper() == up:
            return header[k]
    return MISSING


def header_value(frames: Frames, key: str, what: str) -> np.ndarray:
    """The numeric keyword ``key`` of every image (for !KEY scales, rdnoise="KEY" ...)."""
    out = []
    for name, h in zip(frames.names, frames.headers, strict=False):
        value = keyword(h, key)
        if value is MISSING:
            raise ValueError(f"{what}: keyword {key!r} not found in the header of {name}")
        try:
            out.append(float(value))
        except (TypeError, ValueError):
            raise ValueError(
                f"{what}: keyword {key!r} of {name} is not a number: {value!r}"
            ) from None
    return np.array(out, dtype=np.float32)


def bad_pixels(
    masks: Sequence[np.ndarray | None] | None,
    frames: Frames,
    masktype: str,
    maskvalue: int,
) -> list[np.ndarray | None]:
    """Per-image boolean bad-pixel masks from IMCOMBINE's masktype/maskvalue.

    ``masks`` gives one integer mask per image (None for none); for FITS input without
    ``masks`` the BPM keyword of each image names its mask file. An all-zero mask counts as no
    mask (every pixel good), as in IRAF, even for goodbits.
    """
    n = len(frames.data)
    if masktype == "none":
        return [None] * n
    if masks is None:
        masks = []
        for h, path in zip(frames.headers, frames.paths or [None] * n, strict=False):
            bpm = {str(k).upper(): v for k, v in h.items()}.get("BPM")
            if bpm is None:
                masks.append(None)
                continue
            p = Path(str(bpm))
            if not p.is_absolute() and path is not None:
                p = path.parent / p
            from astropy.io import fits

            masks.append(np.asarray(fits.getdata(p)))
    if len(masks) != n:
        raise ValueError(f"masks: {len(masks)} given for {n} images")
    out: list[np.ndarray | None] = []
    v = int(maskvalue)
    for i, (m, f) in enumerate(zip(masks, frames.data, strict=False)):
        if m is None:
            out.append(None)
            continue
        m = np.asarray(m)
        if m.shape != f.shape:
            raise ValueError(f"masks: mask {i + 1} has shape {m.shape}, image has {f.shape}")
        if m.dtype.kind not in "iub":
            raise TypeError(f"masks: mask {i + 1} must hold integers, got {m.dtype}")
        m = m.astype(np.int64)
        if not m.any():
            out.append(None)
            continue
        if masktype == "goodvalue":
            bad = m != v
        elif masktype == "badvalue":
            bad = m == v
        elif masktype == "goodbits":
            bad = (m & v) == 0
        else:
            bad = (m & v) != 0
        out.append(bad)
    return out


def offsets_of(spec: object, frames: Frames) -> np.ndarray | None:
    """Integer (N, ndim) offsets in numpy axis order from IMCOMBINE's ``offsets``.

    Accepts "none", an (N, ndim) array in IRAF's order (x first), "grid n1 s1 [n2 s2]", or
    "wcs" (integer CRPIX differences of FITS headers).
    """
    n = len(frames.data)
    ndim = frames.data[0].ndim
    if spec is None or (isinstance(spec, str) and spec.strip().lower() == "none"):
        return None
    if isinstance(spec, str):
        words = spec.split()
        kind = words[0].lower()
        if kind == "grid":
            try:
                nums = [int(w) for w in words[1:]]
            except ValueError:
                nums = []
            if len(nums) < 2 or len(nums) % 2:
                raise ValueError(f"offsets={spec!r}: expected 'grid n1 s1 [n2 s2]' (integers)")
            if any(not 1 <= c <= MAX_INT for c in nums[::2]):
                raise ValueError(f"offsets={spec!r}: the grid counts must be in 1..{MAX_INT}")
            if any(abs(step) > MAX_INT for step in nums[1::2]):
                raise ValueError(f"offsets={spec!r}: the grid steps must be within +-{MAX_INT}")
            off = np.zeros((n, ndim), dtype=np.int64)
            for i in range(n):
                k = i
                for axis in range(len(nums) // 2):
                    count, step = nums[2 * axis], nums[2 * axis + 1]
                    off[i, axis] = (k % count) * step
                    k //= count
            return off[:, ::-1][:, -ndim:] if ndim > 1 else off
        if kind == "wcs":
            off = np.zeros((n, ndim))
            for axis in range(ndim):
                key = f"CRPIX{axis + 1}"
                crpix = header_value(frames, key, "offsets='wcs'").astype(np.float64)
                off[:, axis] = crpix[0] - crpix
            if not np.allclose(off, np.round(off)):
                raise ValueError("offsets='wcs': the images are not shifted by whole pixels")
            return np.round(off).astype(np.int64)[:, ::-1]
        raise ValueError(f"offsets={spec!r}: expected none, grid, wcs or an (N, ndim) array")
    expected = f"offsets: expected ({n}, {ndim}) whole numbers within +-{MAX_INT} (x first)"
    try:
        off = np.asarray(spec, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{expected}, got {spec!r}") from None
    if off.shape != (n, ndim) or not np.all(np.isfinite(off)) or np.any(off != np.round(off)):
        raise ValueError(f"{expected}, got {spec!r}")
    if np.any(np.abs(off) > MAX_INT):
        raise ValueError(f"{expected}, got {spec!r}")
    return off.astype(np.int64)[:, ::-1]
