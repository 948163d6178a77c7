"""Reading spatial bands of many FITS images, each file opened once.

Plain uncompressed images (and unsigned 16-bit images stored with ``BZERO = 32768``) are read
with one ``preadv`` per frame straight into the band buffer, in the file's big-endian byte order
(the core reads byte-swapped data in place). Everything else (``BSCALE``/``BZERO`` scaling,
tile compression) goes through astropy's ``section`` access, which reads only the rows asked for.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_dtype

_RAW = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}

#: FITS header blocks are 2880 bytes of 80-character cards.
_BLOCK = 2880


def _select_hdu(hdul: Any, hdu: int | str, path: Path) -> Any:
    try:
        return hdul[hdu]
    except (IndexError, KeyError):
        names = [h.name or str(i) for i, h in enumerate(hdul)]
        raise ValueError(
            f"{path} has no HDU {hdu!r}; it has {len(hdul)}: {', '.join(names)}"
        ) from None


def truncated_error(path: str | os.PathLike, need: int) -> ValueError:
    """The error for a file shorter than the image its header describes.

    Parameters
    ----------
    path : str or os.PathLike
        The file, named in the message.
    need : int
        Bytes its header and pixels need.

    Returns
    -------
    ValueError
    """
    try:
        size = f"{os.path.getsize(path)} bytes"
    except OSError as e:
        size = f"unreadable ({e.strerror})"
    return ValueError(
        f"{os.fspath(path)}: the file ends before its image data: its header and pixels need "
        f"{need} bytes, the file has {size} (truncated, or changed during the run?)"
    )


def _primary_header(path: Path) -> tuple[Any, int] | None:
    """The primary header of a plain FITS file read straight from its blocks, with the offset
    of its data: ``(astropy Header, offset)``. None for anything else (gzip, not FITS ...), left
    to astropy. The header's values are parsed only when looked up (fast for many files)."""
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


def _raw_layout(header: Any) -> tuple[str, bool] | None:
    """``(stored dtype, unsigned-16)`` when an uncompressed image's bytes can be read as they
    are (unscaled, or unsigned 16-bit stored with ``BZERO = 32768``), else None."""
    bitpix = header.get("BITPIX")
    bzero, bscale = header.get("BZERO", 0), header.get("BSCALE", 1)
    if bitpix not in _RAW or bscale != 1 or header.get("GROUPS", False):
        return None
    if bzero == 0:
        return _RAW[bitpix], False
    if bitpix == 16 and bzero == 32768:
        return ">u2", True
    return None


class FitsFrame:
    """One image HDU of a FITS file: its header, shape, dtype and reads of its rows.

    Plain images (and unsigned 16-bit ones) are read with ``preadv`` from the open file, never
    memory-mapped: a file shrunk by another process is a ValueError naming it, not a bus
    error. Scaled or compressed images are read through astropy's ``section``.

    Parameters
    ----------
    path : pathlib.Path
        The file.
    hdu : int or str
        The HDU (number or EXTNAME).
    role : str, default "image"
        What the HDU holds, for messages ("image", "mask").
    opened : astropy.io.fits.HDUList, optional
        The file already open (a mask HDU of an input shares the input's file).

    Attributes
    ----------
    header : astropy.io.fits.Header
    shape : tuple of int
    dtype : numpy.dtype
        The dtype of the rows as read (big-endian for plain files).
    """

    def __init__(
        self, path: Path, hdu: int | str, *, role: str = "image", opened: Any = None
    ) -> None:
        self.path = path
        self.hdul: Any = None
        self.hdu: Any = None
        self._fd = -1
        # The raw layout: (data offset, stored dtype, unsigned-16), or None (astropy reads).
        self._raw: tuple[int, str, bool] | None = None
        self._owns = opened is None
        got = _primary_header(path) if hdu == 0 and opened is None else None
        if got is not None and got[0].get("NAXIS", 0) > 0 and _raw_layout(got[0]) is not None:
            header, offset = got
            self.header = header
            self.shape = tuple(
                int(header.get(f"NAXIS{k}", 0)) for k in range(header["NAXIS"], 0, -1)
            )
            self._raw = (offset, *_raw_layout(header))
            self._open_fd()
        else:
            self._open_astropy(hdu, role, opened)
        self.dtype = np.dtype(self._raw[1]) if self._raw is not None else self.dtype
        if self._raw is not None:
            self._check_size()

    def _open_fd(self) -> None:
        try:
            self._fd = os.open(self.path, os.O_RDONLY)
        except OSError as exc:
            raise ValueError(f"{self.path} cannot be read: {exc.strerror}") from None

    def _open_astropy(self, hdu: int | str, role: str, opened: Any) -> None:
        from astropy.io import fits

        path = self.path
        try:
            self.hdul = fits.open(path, memmap=False, lazy_load_hdus=True) if self._owns else opened
        except OSError as exc:
            raise ValueError(f"{path} cannot be read as FITS: {exc}") from None
        try:
            self.hdu = _select_hdu(self.hdul, hdu, path)
            if not isinstance(self.hdu, fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU):
                raise ValueError(
                    f"{path}: HDU {hdu!r} is a {type(self.hdu).__name__}, not an image"
                )
            self.header = self.hdu.header
            self.shape = tuple(self.hdu.shape)
            if len(self.shape) == 0:
                raise ValueError(f"{path}: HDU {hdu!r} holds no {role} data (NAXIS = 0)")
            plain = (
                isinstance(self.hdu, fits.PrimaryHDU | fits.ImageHDU)
                and not isinstance(self.hdu, fits.CompImageHDU)
                and getattr(self.hdu, "_data_offset", None) is not None
                and getattr(self.hdul._file, "compression", None) is None
            )
            layout = _raw_layout(self.header) if plain else None
            if plain:
                # A gzip/bzip2 file has its offsets in the decompressed stream: never here.
                self._data_offset = self.hdu._data_offset
                bitpix = abs(int(self.header.get("BITPIX", 8)))
                self._need = self._data_offset + bitpix // 8 * math.prod(self.shape)
                if os.path.getsize(path) < self._need:
                    raise truncated_error(path, self._need)
            if layout is not None:
                self._raw = (self.hdu._data_offset, *layout)
                self._open_fd()
            else:
                self.dtype = self.hdu.section[0:1].dtype
        except BaseException:
            self.close()
            raise

    def _check_size(self) -> None:
        offset, dtype, _ = self._raw
        need = offset + np.dtype(dtype).itemsize * math.prod(self.shape)
        self._need = need
        try:
            short = os.fstat(self._fd).st_size < need
        except OSError:
            short = True
        if short:
            self.close()
            raise truncated_error(self.path, need)

    @property
    def plain(self) -> bool:
        """Whether rows are read straight from the file (no astropy scaling or decompression)."""
        return self._raw is not None

    def read_rows(self, y0: int, y1: int, out: np.ndarray) -> None:
        """Rows ``y0:y1`` of the first axis into ``out`` (shape ``(y1 - y0, *rest)``).

        For a 1-D image the rows are its pixels.

        Raises
        ------
        ValueError
            Naming the file, when it ends before the rows asked for.
        """
        if self._raw is None:
            out[...] = self.hdu.section[y0:y1]
            return
        offset, _, unsigned = self._raw
        row_bytes = out.dtype.itemsize * math.prod(self.shape[1:])
        view = memoryview(out.reshape(-1).view(np.uint8))
        if view.nbytes != (y1 - y0) * row_bytes:
            raise ValueError(f"read_rows: {view.nbytes} bytes of buffer for {y1 - y0} rows")
        if view.nbytes and os.preadv(self._fd, [view], offset + y0 * row_bytes) != view.nbytes:
            raise truncated_error(self.path, self._need)
        if unsigned:
            # Stored as signed 16-bit with BZERO 32768: flipping the sign bit (the first byte,
            # big-endian) gives the unsigned value.
            u = out.reshape(-1).view(np.uint16)
            np.bitwise_xor(u, np.uint16(0x0080 if np.little_endian else 0x8000), out=u)

    def close(self) -> None:
        """Close the file (not a file shared with another frame)."""
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
        if self._owns and self.hdul is not None:
            self.hdul.close()


def read_frames_band(
    frames: Sequence[FitsFrame],
    y0: int,
    y1: int,
    out: np.ndarray,
    starts: np.ndarray | None = None,
) -> np.ndarray:
    """Rows ``y0:y1`` of a stack of frames into ``out[:, :y1 - y0]``; returns that view.

    Parameters
    ----------
    frames : sequence of FitsFrame
        The images, all of one shape when ``starts`` is None.
    y0, y1 : int
        The rows (of the output grid when ``starts`` is given).
    out : numpy.ndarray
        ``(N, rows >= y1 - y0, *rest)``. Without ``starts`` it takes the frames' rows as they
        are read; with ``starts`` its dtype may differ (values are converted), and the samples
        no frame covers are left untouched (fill them first).
    starts : numpy.ndarray, optional
        ``(N, ndim)`` integer positions of each frame's first element on the output grid
        (all >= 0).

    Returns
    -------
    numpy.ndarray
    """
    band = out[:, : y1 - y0]
    if starts is None:
        for i, f in enumerate(frames):
            f.read_rows(y0, y1, band[i])
        return band
    for i, f in enumerate(frames):
        sy = int(starts[i][0])
        r0, r1 = max(y0, sy), min(y1, sy + f.shape[0])
        if r0 >= r1:
            continue
        rows = np.empty((r1 - r0, *f.shape[1:]), dtype=f.dtype)
        f.read_rows(r0 - sy, r1 - sy, rows)
        where = (
            i,
            slice(r0 - y0, r1 - y0),
            *(slice(int(s), int(s) + n) for s, n in zip(starts[i][1:], f.shape[1:], strict=True)),
        )
        band[where] = rows
    return band


class FitsStack:
    """A stack of FITS images read band by band; every file is opened once.

    Parameters
    ----------
    paths : list of pathlib.Path
        The images.
    hdu : int or str
        The HDU of each file that holds the image (number or EXTNAME).
    masks : None, int, str or list of pathlib.Path
        Bad-pixel masks (nonzero = do not use): an HDU of each input (``"DQ"``, ``"BPM"``,
        a number), or one mask file per input (its first image HDU).
    planes : None, int, str or list of pathlib.Path
        A per-sample uncertainty plane, as ``masks``: an HDU of each input (``"VAR"``,
        ``"ERR"``, a number), or one file per input (its first image HDU). Read with
        `read_plane_band`.
    plane_role : str, default "variance"
        What the plane holds, for messages (``"variance"``, ``"error"``).

    Attributes
    ----------
    shape : tuple of int
        The spatial shape shared by every frame.
    dtype : numpy.dtype
        The dtype of the data as read (big-endian for plain files).
    headers : list of astropy.io.fits.Header
    """

    def __init__(
        self,
        paths: list[Path],
        hdu: int | str = 0,
        masks: Any = None,
        *,
        planes: Any = None,
        plane_role: str = "variance",
    ) -> None:
        self.paths = paths
        self.frames: list[FitsFrame] = []
        self.masks: list[FitsFrame] | None = None
        self.planes: list[FitsFrame] | None = None
        self.plane_role = plane_role
        try:
            for p in paths:
                self.frames.append(FitsFrame(p, hdu, role="image"))
            first = self.frames[0]
            for f in self.frames[1:]:
                if f.shape != first.shape:
                    raise ValueError(
                        f"the images differ in shape: {first.path} is "
                        f"{_fits_shape(first.shape)}, {f.path} is {_fits_shape(f.shape)}"
                    )
                if f.dtype.newbyteorder("=") != first.dtype.newbyteorder("="):
                    raise ValueError(
                        f"the images differ in type: {first.path} reads as "
                        f"{first.dtype.newbyteorder('=').name}, {f.path} as "
                        f"{f.dtype.newbyteorder('=').name}; convert them to one type first"
                    )
            check_dtype(first.dtype, name=f"the data of {first.path}")
            self.shape = first.shape
            self.dtype = first.dtype
            if masks is not None:
                self.masks = self._open_masks(masks)
            if planes is not None:
                self.planes = self._open_planes(planes)
        except BaseException:
            self.close()
            raise
        self.headers = [f.header for f in self.frames]

    def _open_masks(self, masks: Any) -> list[FitsFrame]:
        if isinstance(masks, int | str) and not isinstance(masks, bool):
            frames = [_mask_frame(f, masks) for f in self.frames]
        else:
            if len(masks) != len(self.paths):
                raise ValueError(
                    f"masks: {len(masks)} mask files for {len(self.paths)} images; give one per "
                    "image"
                )
            frames = [FitsFrame(p, _first_image_hdu(p), role="mask") for p in masks]
        for f, image in zip(frames, self.frames, strict=True):
            if f.shape != self.shape:
                frames_close(frames)
                raise ValueError(
                    f"masks: the mask {f.path} is {_fits_shape(f.shape)} but the image "
                    f"{image.path} is {_fits_shape(self.shape)}"
                )
            if f.dtype.kind not in "iub":
                frames_close(frames)
                raise ValueError(
                    f"masks: the mask {f.path} holds {f.dtype.name} data; a mask must be integer "
                    "(nonzero = bad pixel)"
                )
        return frames

    def _open_planes(self, planes: Any) -> list[FitsFrame]:
        role = self.plane_role
        frames: list[FitsFrame] = []
        try:
            if isinstance(planes, int | str) and not isinstance(planes, bool):
                for f in self.frames:
                    frames.append(_plane_frame(f, planes, role))
            else:
                if len(planes) != len(self.paths):
                    raise ValueError(
                        f"{role}: {len(planes)} {role} files for {len(self.paths)} images; give "
                        "one per image"
                    )
                for p in planes:
                    frames.append(FitsFrame(p, _first_image_hdu(p, role), role=role))
            for f, image in zip(frames, self.frames, strict=True):
                if f.shape != self.shape:
                    raise ValueError(
                        f"{role}: the {role} plane of {image.path} ({f.path}) is "
                        f"{_fits_shape(f.shape)} but the image is {_fits_shape(self.shape)}"
                    )
                if f.dtype.kind not in "iuf":
                    raise ValueError(
                        f"{role}: the {role} plane {f.path} holds {f.dtype.name} data; it must "
                        "be numbers (integer or floating point)"
                    )
        except BaseException:
            frames_close(frames)
            raise
        return frames

    def __len__(self) -> int:
        return len(self.frames)

    def plane_dtype(self) -> np.dtype:
        """The dtype `read_plane_band` returns (native byte order)."""
        if self.planes is None:
            raise ValueError("this stack has no uncertainty planes")
        return np.result_type(*(f.dtype.newbyteorder("=") for f in self.planes))

    def read_plane_band(self, y0: int, y1: int) -> np.ndarray | None:
        """The uncertainty plane of rows ``y0:y1`` of every frame, ``(N, rows, *rest)`` in
        native byte order (the planes' common dtype), or None without planes."""
        if self.planes is None:
            return None
        dtype = self.plane_dtype()
        out = np.empty((len(self.frames), y1 - y0, *self.shape[1:]), dtype=dtype)
        raw = None
        for i, f in enumerate(self.planes):
            if raw is None or raw.dtype != f.dtype:
                raw = np.empty((y1 - y0, *self.shape[1:]), dtype=f.dtype)
            f.read_rows(y0, y1, raw)
            out[i] = raw  # to native byte order (and the common dtype)
        return out

    def read_band(self, y0: int, y1: int, out: np.ndarray) -> np.ndarray:
        """Rows ``y0:y1`` of every frame into ``out[:, :y1 - y0]``; returns that view."""
        return read_frames_band(self.frames, y0, y1, out)

    def read_mask_band(self, y0: int, y1: int) -> np.ndarray | None:
        """The bad-pixel mask of rows ``y0:y1`` (bool, True = bad), or None without masks."""
        if self.masks is None:
            return None
        out = np.empty((len(self.frames), y1 - y0, *self.shape[1:]), dtype=bool)
        for i, f in enumerate(self.masks):
            raw = np.empty((y1 - y0, *self.shape[1:]), dtype=f.dtype)
            f.read_rows(y0, y1, raw)
            np.not_equal(raw, 0, out=out[i])
        return out

    def read_grid(self, region: list[tuple[int, int]], step: int) -> np.ndarray:
        """The statistics grid of every frame: rows ``r0:r1:step`` with the other axes
        subsampled the same way, as ``(N, *grid)`` in the frames' dtype."""
        (r0, r1), rest = region[0], region[1:]
        rows = range(r0, r1, step)
        index = tuple(slice(a, b, step) for a, b in rest)
        grid_shape = (len(rows), *(len(range(a, b, step)) for a, b in rest))
        out = np.empty((len(self.frames), *grid_shape), dtype=self.dtype)
        row = np.empty((1, *self.shape[1:]), dtype=self.dtype)
        for i, f in enumerate(self.frames):
            for k, y in enumerate(rows):
                f.read_rows(y, y + 1, row)
                out[i, k] = row[0][index]
        return out

    def read_grid_masks(self, region: list[tuple[int, int]], step: int) -> np.ndarray | None:
        """The masks on the statistics grid (as `read_grid`), or None without masks."""
        if self.masks is None:
            return None
        (r0, r1), rest = region[0], region[1:]
        rows = range(r0, r1, step)
        index = tuple(slice(a, b, step) for a, b in rest)
        grid_shape = (len(rows), *(len(range(a, b, step)) for a, b in rest))
        out = np.empty((len(self.frames), *grid_shape), dtype=bool)
        for i, f in enumerate(self.masks):
            row = np.empty((1, *self.shape[1:]), dtype=f.dtype)
            for k, y in enumerate(rows):
                f.read_rows(y, y + 1, row)
                out[i, k] = row[0][index] != 0
        return out

    def close(self) -> None:
        """Close every file."""
        frames_close(self.frames)
        if self.masks is not None:
            frames_close(self.masks)
        if self.planes is not None:
            frames_close(self.planes)

    def __enter__(self) -> FitsStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _mask_frame(image: FitsFrame, hdu: int | str) -> FitsFrame:
    """The mask HDU ``hdu`` of an input file (sharing its open file when astropy has it)."""
    if image.hdul is not None:
        return FitsFrame(image.path, hdu, role="mask", opened=image.hdul)
    return FitsFrame(image.path, hdu, role="mask")


def _plane_frame(image: FitsFrame, hdu: int | str, role: str) -> FitsFrame:
    """The ``role`` HDU ``hdu`` of an input file (sharing its open file when astropy has it)."""
    try:
        if image.hdul is not None:
            return FitsFrame(image.path, hdu, role=role, opened=image.hdul)
        return FitsFrame(image.path, hdu, role=role)
    except ValueError as exc:
        raise ValueError(f"{role}: {exc}") from None


def frames_close(frames: list[FitsFrame]) -> None:
    for f in frames:
        with contextlib.suppress(Exception):
            f.close()


def _fits_shape(shape: tuple[int, ...]) -> str:
    """A NumPy shape as FITS people write it (NAXIS1 x NAXIS2 ...)."""
    return " x ".join(str(n) for n in reversed(shape))


def _first_image_hdu(path: Path, role: str = "masks") -> int:
    """The number of the first HDU of ``path`` that holds image data."""
    from astropy.io import fits

    with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
        for i, h in enumerate(hdul):
            if isinstance(h, fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU) and h.shape:
                return i
    raise ValueError(f"{role}: {path} holds no image")
