"""IMCOMBINE's inputs: arrays, FITS files or an @list, their headers, masks and offsets."""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._params import MAX_INT, iraf_type


@dataclass
class Frames:
    """The images to combine, with what IMCOMBINE reads from their headers."""

    #: One array per image (2-D, or 1-D for spectra); possibly big-endian or memory-mapped.
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
    #: For plain big-endian FITS images: where each image's pixels start in its file and their
    #: stored dtype. Their pixels are then read from the files when needed (`read_rows`,
    #: `BandReader`, `read_stack`), and `data` holds read-only stand-ins of the right shape and
    #: dtype whose values are all 0: never read pixels from them.
    raw: tuple[list[int], np.dtype] | None = None


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


def _fits_frame(path: str, hdu: int | str) -> tuple[np.ndarray, dict]:
    """The pixels and header of one FITS image, read with one copy into native memory."""
    from astropy.io import fits

    if not os.path.isfile(path):
        raise FileNotFoundError(f"input image {path} does not exist")
    with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
        try:
            h = hdul[hdu]
        except (IndexError, KeyError):
            raise ValueError(f"{path} has no HDU {hdu!r}") from None
        header = dict(h.header)
        if getattr(hdul._file, "compression", None) is None and h.header.get("NAXIS", 0) > 0:
            naxes = [int(h.header.get(f"NAXIS{k}", 0)) for k in range(1, h.header["NAXIS"] + 1)]
            bitpix = abs(int(h.header.get("BITPIX", 8)))
            _check_size(path, h._data_offset + bitpix // 8 * int(np.prod(naxes, dtype=np.int64)))
        data = h.data
        if data is None:
            raise ValueError(f"{path} HDU {hdu!r} holds no image")
        data = np.asarray(data)
    return data, header


# Raw FITS pixel layouts that can be read straight into a stack (big-endian, unscaled).
_RAW_DTYPES = {8: ">u1", 16: ">i2", 32: ">i4", -32: ">f4", -64: ">f8"}


#: FITS header blocks are 2880 bytes of 80-character cards.
_BLOCK = 2880


def _primary_header(path: str):
    """The primary header of a plain FITS file read straight from its blocks, with the offset
    of its data: ``(astropy Header, offset)``. None for anything else (gzip, not FITS ...), left
    to astropy. The header's values are parsed only when looked up."""
    from astropy.io import fits

    blocks = []
    with open(path, "rb") as f:
        while True:
            block = f.read(_BLOCK)
            if len(block) != _BLOCK or (not blocks and not block.startswith(b"SIMPLE  =")):
                return None
            blocks.append(block)
            if any(block[i : i + 8] == b"END     " for i in range(0, _BLOCK, 80)):
                break
    try:
        header = fits.Header.fromstring(b"".join(blocks).decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return None
    return header, _BLOCK * len(blocks)


def _image_header(path: str, hdu: int | str):
    """``(header, data offset)`` of HDU ``hdu`` when it is an uncompressed image HDU, else None."""
    from astropy.io import fits

    if hdu == 0:
        got = _primary_header(path)
        if got is not None:
            return got
    with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
        try:
            h = hdul[hdu]
        except (IndexError, KeyError):
            raise ValueError(f"{path} has no HDU {hdu!r}") from None
        if not isinstance(h, (fits.PrimaryHDU, fits.ImageHDU)):
            return None
        if getattr(hdul._file, "compression", None) is not None:
            return None
        return h.header, h._data_offset


def _fits_layout(
    paths: list[str], hdu: int | str
) -> tuple[tuple[int, ...], int, bool, list[Mapping], list[int]] | None:
    """``(shape, bitpix, unsigned, headers, data offsets)`` when every image is a plain
    uncompressed image of the same shape and type (unsigned 16-bit via BZERO=32768 too).

    None when any file needs astropy's general path (scaling, compression, mixed types).
    """
    layout = None
    headers, offsets = [], []
    for path in paths:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"input image {path} does not exist")
        got = _image_header(path, hdu)
        if got is None:
            return None
        hdr, offset = got
        bitpix = hdr.get("BITPIX")
        naxis = hdr.get("NAXIS", 0)
        shape = tuple(hdr.get(f"NAXIS{k}", 0) for k in range(naxis, 0, -1))
        bzero, bscale = hdr.get("BZERO", 0), hdr.get("BSCALE", 1)
        if bitpix not in _RAW_DTYPES or naxis not in (1, 2) or bscale != 1:
            return None
        if hdr.get("GROUPS", False):
            return None
        unsigned = bitpix == 16 and bzero == 32768
        if bzero != 0 and not unsigned:
            return None
        this = (shape, bitpix, unsigned)
        if layout is None:
            layout = this
        elif this != layout:
            return None
        _check_size(path, offset + abs(bitpix) // 8 * int(np.prod(shape, dtype=np.int64)))
        headers.append(hdr)
        offsets.append(offset)
    shape, bitpix, unsigned = layout
    return shape, bitpix, unsigned, headers, offsets


def _truncated(path: str | os.PathLike, need: int) -> ValueError:
    """The error for a file shorter than the image its header describes."""
    try:
        size = f"{os.path.getsize(path)} bytes"
    except OSError as e:
        size = f"unreadable ({e.strerror})"
    return ValueError(
        f"{os.fspath(path)}: the file ends before its image data: its header and pixels need "
        f"{need} bytes, the file has {size} (truncated, or changed during the run?)"
    )


def _check_size(path: str | os.PathLike, need: int) -> None:
    """A ValueError naming ``path`` when the file is shorter than ``need`` bytes."""
    if os.path.getsize(path) < need:
        raise _truncated(path, need)


def _pread(fd: int, path: str | os.PathLike, view: memoryview, pos: int, need: int) -> None:
    """Fills ``view`` from byte ``pos`` of the open file ``fd``, or raises the ValueError of
    `_truncated` (``need``: the bytes the whole image needs) when the file ends too soon.

    Reading with pread (not a memory map) makes a file shrunk by another process an error
    here, never a bus error.
    """
    got = os.preadv(fd, [view], pos)
    if got != view.nbytes:
        raise _truncated(path, need)


def _read_fits_stack(
    paths: list[str], shape: tuple[int, ...], bitpix: int, unsigned: bool, offsets: list[int]
) -> np.ndarray:
    """All images read with one copy each into one big-endian stack."""
    stack = np.empty((len(paths), *shape), dtype=_RAW_DTYPES[bitpix])

    def read(i: int) -> None:
        view = memoryview(stack[i].reshape(-1).view(np.uint8))
        fd = os.open(paths[i], os.O_RDONLY)
        try:
            _pread(fd, paths[i], view, offsets[i], offsets[i] + view.nbytes)
        finally:
            os.close(fd)

    # Two readers: the copies and the first touch of the new pages run in parallel.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(read, range(len(paths))))
    if unsigned:
        # Stored as signed 16-bit with BZERO 32768: flipping the sign bit gives the value.
        stack = stack.view(">u2")
        stack.view(np.uint8)[..., 0::2] ^= 0x80
    return stack


def read_stack(frames: Frames) -> np.ndarray:
    """The whole ``(N, ...)`` stack of plain FITS images (``frames.raw``), read with pread.

    Raises
    ------
    ValueError
        Naming the file, when one ends before its image data.
    """
    offsets, dtype = frames.raw
    stack = np.empty((len(offsets), *frames.data[0].shape), dtype)

    def read(i: int) -> None:
        read_rows(frames, i, 0, stack.shape[1], stack[i])

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(read, range(len(offsets))))
    return stack


def read_rows(frames: Frames, i: int, y0: int, y1: int, out: np.ndarray, fd: int = -1) -> None:
    """Rows ``y0:y1`` of plain FITS image ``i`` (``frames.raw``) into ``out``.

    Rows are indices of the first axis (pixels for a 1-D image, as for the bands). ``fd`` is
    the open file, or -1 to open it here.

    Raises
    ------
    ValueError
        Naming the file, when it ends before its image data.
    """
    offsets, dtype = frames.raw
    shape = frames.data[i].shape
    row_bytes = dtype.itemsize * int(np.prod(shape[1:], dtype=np.int64))
    need = offsets[i] + dtype.itemsize * int(np.prod(shape, dtype=np.int64))
    path = frames.paths[i]
    view = memoryview(out.reshape(-1).view(np.uint8))
    if view.nbytes != (y1 - y0) * row_bytes:
        raise ValueError(f"read_rows: {view.nbytes} bytes of buffer for {y1 - y0} rows")
    own = fd < 0
    if own:
        fd = os.open(path, os.O_RDONLY)
    try:
        _pread(fd, path, view, offsets[i] + y0 * row_bytes, need)
    finally:
        if own:
            os.close(fd)


class BandReader:
    """Reads rows ``y0:y1`` of every image of plain FITS files into a reused buffer."""

    def __init__(self, frames: Frames, rows: int) -> None:
        offsets, dtype = frames.raw
        self.frames = frames
        self.shape = frames.data[0].shape
        self.buffer = np.empty((len(offsets), rows, *self.shape[1:]), dtype)
        self.fds: list[int] = []
        try:
            for p in frames.paths:
                self.fds.append(os.open(p, os.O_RDONLY))
        except BaseException:
            self.close()
            raise

    def read(self, y0: int, y1: int) -> np.ndarray:
        """Rows ``y0:y1`` of every image, ``(N, y1 - y0, ...)`` (a view of the buffer)."""
        band = self.buffer[:, : y1 - y0]
        for i, fd in enumerate(self.fds):
            read_rows(self.frames, i, y0, y1, band[i], fd)
        return band

    def close(self) -> None:
        """Closes the files."""
        for fd in self.fds:
            os.close(fd)
        self.fds = []


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
            str_paths = [os.fspath(p) for p in input]
            layout = _fits_layout(str_paths, hdu)
            if layout is not None:
                shape, bitpix, unsigned, hdrs, offsets = layout
                names = [os.path.basename(p) for p in str_paths]
                paths = [Path(p) for p in input]
                if not unsigned:
                    # Nothing is read yet: the statistics and the combine read the rows they
                    # need from the files (with pread: a file shrunk meanwhile is a clear
                    # error, where a memory map would die of a bus error).
                    dtype = np.dtype(_RAW_DTYPES[bitpix])
                    stand_in = np.broadcast_to(np.zeros((), dtype), shape)
                    data = [stand_in] * len(paths)
                    types = [iraf_type(dtype)] * len(names)
                    return Frames(data, types, hdrs, names, None, paths, raw=(offsets, dtype))
                stack = _read_fits_stack(str_paths, shape, bitpix, unsigned, offsets)
                types = [iraf_type(stack.dtype)] * len(names)
                return Frames(list(stack), types, hdrs, names, stack, paths)
            frames, hdrs = [], []
            for p in input:
                d, h = _fits_frame(os.fspath(p), hdu)
                frames.append(d)
                hdrs.append(h)
            names = [os.path.basename(os.fspath(p)) for p in input]
            types = [iraf_type(f.dtype) for f in frames]
            return Frames(frames, types, hdrs, names, None, [Path(p) for p in input])
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
