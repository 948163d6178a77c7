"""Writing FITS images band by band, atomically.

A `FitsImageWriter` creates a temporary file beside the destination, writes the header, and
then receives blocks of rows (of one frame, for cubes) at their place in the data unit. Only
`commit` moves the finished file to its name; `abort` (or any exception, Ctrl-C included, in a
``with`` block) deletes it, so a failed run leaves no partial output.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

BLOCK = 2880

_BITPIX = {
    np.dtype(np.uint8): 8,
    np.dtype(np.int16): 16,
    np.dtype(np.int32): 32,
    np.dtype(np.int64): 64,
    np.dtype(np.float32): -32,
    np.dtype(np.float64): -64,
}
_UNSIGNED = {np.dtype(np.uint16): (np.dtype(np.int16), 32768)}

#: Keywords that describe the data layout and are set by the writer, never copied.
STRUCTURAL = frozenset(
    {"SIMPLE", "XTENSION", "BITPIX", "NAXIS", "EXTEND", "PCOUNT", "GCOUNT", "BZERO", "BSCALE"}
    | {"BLANK", "CHECKSUM", "DATASUM", "END", "ZIMAGE", "ZBITPIX", "ZNAXIS", "ZCMPTYPE", "ZTILE"}
)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _is_structural(key: str) -> bool:
    k = key.upper()
    if k in STRUCTURAL:
        return True
    return any(k.startswith(p) and k[len(p) :].isdigit() for p in ("NAXIS", "ZNAXIS", "ZTILE"))


def image_header(shape: tuple[int, ...], dtype: np.dtype, header: Any = None) -> Any:
    """A primary header for an image of ``shape`` and ``dtype`` with the cards of ``header``
    (layout keywords replaced)."""
    from astropy.io import fits

    dtype = np.dtype(dtype).newbyteorder("=")
    stored, bzero = _UNSIGNED.get(dtype, (dtype, None))
    if stored not in _BITPIX:
        raise TypeError(f"cannot write {dtype.name} data to FITS")
    out = fits.Header()
    out["SIMPLE"] = (True, "conforms to FITS standard")
    out["BITPIX"] = _BITPIX[stored]
    out["NAXIS"] = len(shape)
    for k, n in enumerate(reversed(shape), start=1):
        out[f"NAXIS{k}"] = n
    out["EXTEND"] = True
    if bzero is not None:
        out["BZERO"] = bzero
        out["BSCALE"] = 1
    if header is not None:
        for card in fits.Header(header).cards:
            if not _is_structural(card.keyword):
                out.append(card, end=True)
    return out


class FitsImageWriter:
    """Write one FITS image, in blocks of rows, into a temporary file renamed on `commit`.

    Parameters
    ----------
    path : str or os.PathLike
        The destination.
    shape : tuple of int
        The image shape (NumPy order); for a cube ``(N, *spatial)``.
    dtype : numpy.dtype
        uint8, int16, uint16 (stored with BZERO 32768), int32, float32 or float64.
    header : astropy.io.fits.Header or mapping, optional
        Cards to add (layout keywords are set by the writer).
    overwrite : bool
        Replace an existing file on `commit`; else `FileExistsError` at once.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        shape: tuple[int, ...],
        dtype: Any,
        header: Any = None,
        *,
        overwrite: bool = False,
    ) -> None:
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path} exists; pass overwrite=True to replace it")
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"cannot write {self.path}: the folder does not exist")
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype).newbyteorder("=")
        self.overwrite = overwrite
        hdr = image_header(self.shape, self.dtype, header)
        text = hdr.tostring(padding=True).encode("ascii")
        self._stored, self._bzero = _UNSIGNED.get(self.dtype, (self.dtype, None))
        self._data_offset = len(text)
        n_bytes = int(np.prod(self.shape, dtype=np.int64)) * self._stored.itemsize
        self._end = self._data_offset + -(-n_bytes // BLOCK) * BLOCK
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".partial", dir=self.path.parent
        )
        self._tmp = Path(tmp)
        self._fd: int | None = fd
        try:
            os.pwrite(fd, text, 0)
            os.ftruncate(fd, self._end)  # the data unit, zero-padded to whole blocks
        except BaseException:
            self.abort()
            raise

    def write(self, y0: int, block: np.ndarray, frame: int | None = None) -> None:
        """Write ``block`` (rows ``y0:y0 + len(block)`` of the image, or of cube ``frame``)."""
        if self._fd is None:
            raise ValueError(f"the writer of {self.path} is closed")
        spatial = self.shape if frame is None else self.shape[1:]
        rows_before = y0 if frame is None else frame * spatial[0] + y0
        row_items = int(np.prod(spatial[1:], dtype=np.int64))
        if block.shape[1:] != spatial[1:] or y0 + block.shape[0] > spatial[0]:
            raise ValueError(f"block of shape {block.shape} does not fit rows from {y0}")
        if self._bzero is not None:
            data = (np.asarray(block, dtype=np.int32) - self._bzero).astype(">i2")
        else:
            data = np.asarray(block).astype(self._stored.newbyteorder(">"), copy=False)
        offset = self._data_offset + rows_before * row_items * self._stored.itemsize
        buf = memoryview(np.ascontiguousarray(data).reshape(-1).view(np.uint8))
        while buf.nbytes:
            done = os.pwrite(self._fd, buf, offset)
            buf, offset = buf[done:], offset + done

    def commit(self) -> Path:
        """Close the file and give it its name; returns the path."""
        if self._fd is None:
            raise ValueError(f"the writer of {self.path} is closed")
        os.fchmod(self._fd, 0o666 & ~_umask())  # mkstemp made it private; files are not
        os.close(self._fd)
        self._fd = None
        if self.path.exists() and not self.overwrite:
            self._tmp.unlink(missing_ok=True)
            raise FileExistsError(f"{self.path} appeared while writing; nothing was replaced")
        os.replace(self._tmp, self.path)
        return self.path

    def mapped(self) -> np.ndarray:
        """A read-only memory map of the committed file's data (big-endian, as stored)."""
        if self._fd is not None:
            raise ValueError(f"{self.path} is not committed yet")
        if self._bzero is not None:
            raise TypeError("unsigned data are stored with an offset; read them with astropy")
        return np.memmap(
            self.path,
            dtype=self._stored.newbyteorder(">"),
            mode="r",
            offset=self._data_offset,
            shape=self.shape,
        )

    def abort(self) -> None:
        """Delete the temporary file (nothing is written to ``path``)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> FitsImageWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if self._fd is not None:
            if exc_type is None:
                self.commit()
            else:
                self.abort()


def write_fits(
    path: str | os.PathLike, data: np.ndarray, header: Any = None, *, overwrite: bool = False
) -> Path:
    """Write ``data`` as the primary image of a new FITS file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The destination.
    data : numpy.ndarray
        uint8, int16, uint16, int32, float32 or float64 (bool is written as uint8; int64 as
        int64).
    header : astropy.io.fits.Header or mapping, optional
        Cards to write (layout keywords are set from ``data``).
    overwrite : bool, default False
        Replace an existing file.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileExistsError
        When ``path`` exists and ``overwrite`` is False.
    """
    arr = np.asarray(data)
    if arr.dtype == np.bool_:
        arr = arr.view(np.uint8)
    with FitsImageWriter(path, arr.shape, arr.dtype, header, overwrite=overwrite) as w:
        if arr.ndim == 0:
            raise ValueError("cannot write a 0-dimensional array as an image")
        w.write(0, arr)
    return Path(path)
