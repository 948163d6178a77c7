"""Reading spatial bands of many FITS images, each file opened once.

Plain uncompressed images (and unsigned 16-bit images stored with ``BZERO = 32768``) are read
with one ``preadv`` per frame straight into the band buffer, in the file's big-endian byte order
(the core reads byte-swapped data in place). Everything else (``BSCALE``/``BZERO`` scaling,
tile compression) goes through astropy's ``section`` access, which reads only the rows asked for.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_dtype

_RAW = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}


def _select_hdu(hdul: Any, hdu: int | str, path: Path) -> Any:
    try:
        return hdul[hdu]
    except (IndexError, KeyError):
        names = [h.name or str(i) for i, h in enumerate(hdul)]
        raise ValueError(
            f"{path} has no HDU {hdu!r}; it has {len(hdul)}: {', '.join(names)}"
        ) from None


class _Frame:
    """One open image HDU: its shape, dtype and how to read rows of it."""

    def __init__(self, path: Path, hdu: int | str, *, role: str, opened: Any = None) -> None:
        from astropy.io import fits

        self.path = path
        # A mask HDU of an input shares the input's open file (closed with the input).
        self._owns = opened is None
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
            self._raw = self._raw_layout()
            if self._raw is not None:
                self.dtype = np.dtype(self._raw[1])
            else:
                probe = self.hdu.section[0:1]
                self.dtype = probe.dtype
        except BaseException:
            if self._owns:
                self.hdul.close()
            raise

    def _raw_layout(self) -> tuple[int, str, bool] | None:
        """``(data offset, stored dtype, unsigned-16)`` when the bytes can be read directly."""
        from astropy.io import fits

        h = self.hdu
        if isinstance(h, fits.CompImageHDU) or not isinstance(h, fits.PrimaryHDU | fits.ImageHDU):
            return None
        hdr = h.header
        bitpix = hdr.get("BITPIX")
        bzero, bscale = hdr.get("BZERO", 0), hdr.get("BSCALE", 1)
        if bitpix not in _RAW or bscale != 1 or getattr(h, "_data_offset", None) is None:
            return None
        if getattr(self.hdul._file, "compression", None) is not None:
            return None  # a gzip/bzip2 file: offsets are in the decompressed stream
        if bzero == 0:
            return h._data_offset, _RAW[bitpix], False
        if bitpix == 16 and bzero == 32768:
            return h._data_offset, ">u2", True
        return None

    def read_rows(self, y0: int, y1: int, out: np.ndarray) -> None:
        """Rows ``y0:y1`` of the first axis into ``out`` (shape ``(y1 - y0, *rest)``)."""
        if self._raw is None:
            out[...] = self.hdu.section[y0:y1]
            return
        offset, _, unsigned = self._raw
        row_bytes = out.dtype.itemsize * int(np.prod(self.shape[1:], dtype=np.int64))
        view = memoryview(out.reshape(-1).view(np.uint8))
        fd = self.hdul._file._file.fileno()
        got = os.preadv(fd, [view], offset + y0 * row_bytes)
        if got != view.nbytes:
            raise ValueError(f"{self.path}: the file ends before its image data")
        if unsigned:
            # Stored as signed 16-bit with BZERO 32768: flipping the sign bit (the first byte,
            # big-endian) gives the unsigned value.
            u = out.reshape(-1).view(np.uint16)
            np.bitwise_xor(u, np.uint16(0x0080 if np.little_endian else 0x8000), out=u)

    def close(self) -> None:
        if self._owns:
            self.hdul.close()


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

    Attributes
    ----------
    shape : tuple of int
        The spatial shape shared by every frame.
    dtype : numpy.dtype
        The dtype of the data as read (big-endian for plain files).
    headers : list of astropy.io.fits.Header
    """

    def __init__(self, paths: list[Path], hdu: int | str = 0, masks: Any = None) -> None:
        self.paths = paths
        self.frames: list[_Frame] = []
        self.masks: list[_Frame] | None = None
        try:
            for p in paths:
                self.frames.append(_Frame(p, hdu, role="image"))
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
        except BaseException:
            self.close()
            raise
        self.headers = [f.header for f in self.frames]

    def _open_masks(self, masks: Any) -> list[_Frame]:
        if isinstance(masks, int | str) and not isinstance(masks, bool):
            frames = [_Frame(f.path, masks, role="mask", opened=f.hdul) for f in self.frames]
        else:
            if len(masks) != len(self.paths):
                raise ValueError(
                    f"masks: {len(masks)} mask files for {len(self.paths)} images; give one per "
                    "image"
                )
            frames = [_Frame(p, _first_image_hdu(p), role="mask") for p in masks]
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

    def __len__(self) -> int:
        return len(self.frames)

    def read_band(self, y0: int, y1: int, out: np.ndarray) -> np.ndarray:
        """Rows ``y0:y1`` of every frame into ``out[:, :y1 - y0]``; returns that view."""
        band = out[:, : y1 - y0]
        for i, f in enumerate(self.frames):
            f.read_rows(y0, y1, band[i])
        return band

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

    def __enter__(self) -> FitsStack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def frames_close(frames: list[_Frame]) -> None:
    for f in frames:
        with contextlib.suppress(Exception):
            f.close()


def _fits_shape(shape: tuple[int, ...]) -> str:
    """A NumPy shape as FITS people write it (NAXIS1 x NAXIS2 ...)."""
    return " x ".join(str(n) for n in reversed(shape))


def _first_image_hdu(path: Path) -> int:
    """The number of the first HDU of ``path`` that holds image data."""
    from astropy.io import fits

    with fits.open(path, memmap=False, lazy_load_hdus=True) as hdul:
        for i, h in enumerate(hdul):
            if isinstance(h, fits.PrimaryHDU | fits.ImageHDU | fits.CompImageHDU) and h.shape:
                return i
    raise ValueError(f"masks: {path} holds no image")
