"""Writing FITS images band by band, atomically.

A `FitsImageWriter` creates a temporary file beside the destination, writes the header, and
then receives blocks of rows (of one frame, for cubes) at their place in the data unit. Only
`commit` moves the finished file to its name; `abort` (or any exception, Ctrl-C included, in a
``with`` block) deletes it, so a failed run leaves no partial output.

A destination named ``*.gz`` (``master.fits.gz``) is written gzip-compressed, as astropy reads
it: the plain FITS file is written to the temporary file as above, and `commit` streams it
through gzip into a second temporary file, which is renamed to the destination. Memory stays
bounded (the data pass through in chunks); the plain temporary file is deleted at once (its
data stay readable through `FitsImageWriter.mapped` until the map is released). Tile-compressed
names (``*.fz``) are refused.

Temporary files are hidden and named
``.<name>.imc-<host>-<pid>-<start>-<random>.partial``: a hash of the host name, the id of the
process writing them and its start time. A process killed outright (SIGKILL, a crash, a power
cut) cannot delete its temporary files, so every new writer first removes those of earlier runs
in its folder (`clean_stale_partials`): only files matching that pattern exactly, written on
this host, whose process has ended (or whose id now belongs to a process started later). Files
of running processes, of other hosts (a shared folder) and any other file are left alone.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import logging
import os
import re
import socket
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger("imcombiners")

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


#: Bytes read and compressed at a time when writing ``*.gz`` files.
_GZIP_CHUNK = 4 * 2**20

#: The start of a temporary name keeps at most this much of the destination name.
_NAME_KEEP = 100

#: A short hash of the host name, in the temporary names (folders may be shared by hosts).
_HOST = hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:8]

_TEMP_NAME = re.compile(
    r"^\..+\.imc-(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]{1,20})-(?P<start>[0-9]{1,20})-"
    r"[A-Za-z0-9_]+\.partial$"
)


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks after boot) of a process, from /proc; None without."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
        fields = text[text.rindex(")") + 2 :].split()
        return fields[0], int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


_OWN_START: dict[int, int] = {}


def _own_start() -> int:
    pid = os.getpid()
    if pid not in _OWN_START:  # per pid: a forked child has its own
        stat = _proc_stat(pid)
        _OWN_START[pid] = 0 if stat is None else stat[1]
    return _OWN_START[pid]


def _temp_name(name: str, pid: int, random: str, *, start: int = 0, host: str = _HOST) -> str:
    """The temporary name of a file written to ``name`` by process ``pid``."""
    return f".{name[:_NAME_KEEP]}.imc-{host}-{pid}-{start}-{random}.partial"


def _temp_prefix(name: str) -> str:
    """The start of this process's temporary names for ``name`` (the random part follows)."""
    return _temp_name(name, os.getpid(), "", start=_own_start())[: -len(".partial")]


def _owner_gone(host: str, pid: int, start: int) -> bool:
    """Whether the process that named a temporary file has certainly ended."""
    if host != _HOST or pid <= 0:
        return False  # another host's process (cannot be checked), or not a process id
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # it exists, run by another user
    except (OSError, OverflowError, ValueError):
        return False
    stat = _proc_stat(pid)
    if stat is None:
        return False  # no /proc: alive as far as we can tell
    state, started = stat
    if state in ("Z", "X"):
        return True  # killed, not yet reaped: it writes nothing any more
    return start != 0 and started != start  # the id now belongs to a newer process


def clean_stale_partials(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that killed runs left in ``folder``.

    Only hidden files named as `FitsImageWriter` names its temporary files, written on this
    host by a process that has ended, are deleted (see the module notes).

    Parameters
    ----------
    folder : str or os.PathLike
        The folder to clean (a missing or unreadable folder is skipped).

    Returns
    -------
    list of pathlib.Path
        The files deleted.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in sorted(entries, key=lambda e: e.name):
        m = _TEMP_NAME.match(entry.name)
        if m is None:
            continue
        with contextlib.suppress(OSError):
            if not entry.is_file(follow_symlinks=False):
                continue
            if _owner_gone(m["host"], int(m["pid"]), int(m["start"])):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
                logger.info("removed %s, left by an earlier run that was killed", entry.path)
    return removed


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def is_structural(key: str) -> bool:
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
            if not is_structural(card.keyword):
                out.append(card, end=True)
    return out


def extension_header(name: str, shape: tuple[int, ...], dtype: np.dtype, header: Any = None) -> Any:
    """An IMAGE extension header named ``name`` for ``shape`` and ``dtype`` with the cards of
    ``header`` (layout keywords and EXTNAME replaced)."""
    from astropy.io import fits

    primary = image_header(shape, dtype, header)
    out = fits.Header()
    out["XTENSION"] = ("IMAGE", "image extension")
    for key in ("BITPIX", "NAXIS", *(f"NAXIS{k}" for k in range(1, len(shape) + 1))):
        out[key] = primary[key]
    out["PCOUNT"] = 0
    out["GCOUNT"] = 1
    for key in ("BZERO", "BSCALE"):
        if key in primary:
            out[key] = primary[key]
    out["EXTNAME"] = (name, "extension name")
    for card in primary.cards:
        if not is_structural(card.keyword) and card.keyword not in ("EXTEND", "EXTNAME"):
            out.append(card, end=True)
    return out


@dataclass(frozen=True)
class _Unit:
    """Where one image of a file being written lives: its data offset, shape and storage."""

    offset: int
    shape: tuple[int, ...]
    stored: np.dtype
    bzero: int | None
    end: int


def _layout(headers: Sequence[tuple[Any, tuple[int, ...], np.dtype]]) -> tuple[bytes, ...]:
    """The header blocks of each HDU, as bytes (padded to whole FITS blocks)."""
    return tuple(h.tostring(padding=True).encode("ascii") for h, _, _ in headers)


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

    Notes
    -----
    A ``path`` ending in ``.gz`` is written gzip-compressed (see the module notes); one ending
    in ``.fz`` (tile compression) is refused with `ValueError`. Creating a writer first deletes
    the temporary files killed runs left in the destination folder (`clean_stale_partials`).
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
        self._destination(path, overwrite)
        self.shape = tuple(int(n) for n in shape)
        self.dtype = np.dtype(dtype).newbyteorder("=")
        self._create([(image_header(self.shape, self.dtype, header), self.shape, self.dtype)])

    def _destination(self, path: str | os.PathLike, overwrite: bool) -> None:
        """Check the destination: its name, whether it exists, its folder."""
        self.path = Path(path)
        suffix = self.path.name.lower()
        if suffix.endswith(".fz"):
            raise ValueError(
                f"cannot write {self.path}: tile-compressed (.fz) files are not written; name "
                "it *.fits, or *.fits.gz for a gzip-compressed file"
            )
        self._gzip = suffix.endswith(".gz")
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path} exists; pass overwrite=True to replace it")
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"cannot write {self.path}: the folder does not exist")
        self.overwrite = overwrite

    def _create(self, hdus: Sequence[tuple[Any, tuple[int, ...], np.dtype]]) -> None:
        """Lay out the HDUs (header, shape, native dtype) in a new temporary file."""
        self._units: list[_Unit] = []
        texts = _layout(hdus)
        pos = 0
        for text, (_, shape, dtype) in zip(texts, hdus, strict=True):
            stored, bzero = _UNSIGNED.get(dtype, (dtype, None))
            offset = pos + len(text)
            n_bytes = int(np.prod(shape, dtype=np.int64)) * stored.itemsize
            pos = offset + -(-n_bytes // BLOCK) * BLOCK
            self._units.append(_Unit(offset, tuple(shape), stored, bzero, pos))
        self._end = pos
        self._maps: dict[int, np.ndarray] = {}
        clean_stale_partials(self.path.parent)
        fd, tmp = tempfile.mkstemp(
            prefix=_temp_prefix(self.path.name), suffix=".partial", dir=self.path.parent
        )
        self._tmp = Path(tmp)
        self._fd: int | None = fd
        try:
            starts = [0, *(u.end for u in self._units[:-1])]
            for text, start in zip(texts, starts, strict=True):
                os.pwrite(fd, text, start)
            os.ftruncate(fd, self._end)  # the data units, zero-padded to whole blocks
        except BaseException:
            self.abort()
            raise

    def write(self, y0: int, block: np.ndarray, frame: int | None = None) -> None:
        """Write ``block`` (rows ``y0:y0 + len(block)`` of the image, or of cube ``frame``)."""
        self._write_unit(0, y0, block, frame)

    def _write_unit(self, k: int, y0: int, block: np.ndarray, frame: int | None) -> None:
        if self._fd is None:
            raise ValueError(f"the writer of {self.path} is closed")
        unit = self._units[k]
        spatial = unit.shape if frame is None else unit.shape[1:]
        rows_before = y0 if frame is None else frame * spatial[0] + y0
        row_items = int(np.prod(spatial[1:], dtype=np.int64))
        if block.shape[1:] != spatial[1:] or y0 + block.shape[0] > spatial[0]:
            raise ValueError(f"block of shape {block.shape} does not fit rows from {y0}")
        if unit.bzero is not None:
            data = (np.asarray(block, dtype=np.int32) - unit.bzero).astype(">i2")
        else:
            data = np.asarray(block).astype(unit.stored.newbyteorder(">"), copy=False)
        offset = unit.offset + rows_before * row_items * unit.stored.itemsize
        buf = memoryview(np.ascontiguousarray(data).reshape(-1).view(np.uint8))
        while buf.nbytes:
            done = os.pwrite(self._fd, buf, offset)
            buf, offset = buf[done:], offset + done

    def commit(self) -> Path:
        """Close the file and give it its name (compressed, for ``*.gz``); returns the path."""
        if self._fd is None:
            raise ValueError(f"the writer of {self.path} is closed")
        mode = 0o666 & ~_umask()  # mkstemp made the file private; outputs are not
        final = self._tmp
        try:
            if self._gzip:
                final = self._compress(mode)
                for k, unit in enumerate(self._units):
                    if unit.bzero is None:  # the data stay readable once the plain file is gone
                        self._maps[k] = self._map_data(self._tmp, k)
                os.close(self._fd)
                self._fd = None
                self._tmp.unlink()
            else:
                os.fchmod(self._fd, mode)
                os.close(self._fd)
                self._fd = None
            if self.path.exists() and not self.overwrite:
                raise FileExistsError(f"{self.path} appeared while writing; nothing was replaced")
            os.replace(final, self.path)
        except BaseException:
            self.abort()
            final.unlink(missing_ok=True)
            self._maps = {}
            raise
        return self.path

    def _compress(self, mode: int) -> Path:
        """Stream the plain temporary file through gzip into a second one; returns its path."""
        assert self._fd is not None
        fd, name = tempfile.mkstemp(
            prefix=_temp_prefix(self.path.name), suffix=".partial", dir=self.path.parent
        )
        out = Path(name)
        try:
            with (
                os.fdopen(fd, "wb") as raw,
                gzip.GzipFile(
                    filename=self.path.name[: -len(".gz")], mode="wb", fileobj=raw, mtime=0
                ) as packed,
            ):
                offset = 0
                while offset < self._end:
                    chunk = os.pread(self._fd, min(_GZIP_CHUNK, self._end - offset), offset)
                    if not chunk:
                        raise OSError(f"{self._tmp} ended at byte {offset} of {self._end}")
                    packed.write(chunk)
                    offset += len(chunk)
            os.chmod(out, mode)
        except BaseException:
            out.unlink(missing_ok=True)
            raise
        return out

    def _map_data(self, path: Path, k: int = 0) -> np.ndarray:
        unit = self._units[k]
        return np.memmap(
            path,
            dtype=unit.stored.newbyteorder(">"),
            mode="r",
            offset=unit.offset,
            shape=unit.shape,
        )

    def mapped(self) -> np.ndarray:
        """A read-only memory map of the committed file's data (big-endian, as stored).

        For a ``*.gz`` file, a map of the uncompressed data (of the deleted plain temporary
        file, whose space the system reclaims when the map is released).
        """
        return self._mapped_unit(0)

    def _mapped_unit(self, k: int) -> np.ndarray:
        if self._fd is not None:
            raise ValueError(f"{self.path} is not committed yet")
        if self._units[k].bzero is not None:
            raise TypeError("unsigned data are stored with an offset; read them with astropy")
        if self._gzip:
            if k not in self._maps:
                raise ValueError(f"{self.path} was not committed")
            return self._maps[k]
        return self._map_data(self.path, k)

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


@dataclass(frozen=True)
class MefImage:
    """One image of a multi-extension FITS file written by `FitsMefWriter`.

    Attributes
    ----------
    name : str
        Its EXTNAME (``"SCI"``, ``"VAR"``, ``"DQ"`` ...).
    shape : tuple of int
        NumPy order; ``(N, *spatial)`` for a cube.
    dtype : numpy.dtype
        As `FitsImageWriter` accepts.
    header : astropy.io.fits.Header or mapping, optional
        Cards to add (layout keywords and EXTNAME are set by the writer).
    """

    name: str
    shape: tuple[int, ...]
    dtype: Any
    header: Any = None


class FitsMefWriter(FitsImageWriter):
    """Write a multi-extension FITS file, in blocks of rows, renamed on `commit`.

    The first image is the primary HDU (with ``EXTNAME`` set to its name), the others follow as
    IMAGE extensions, in order. As `FitsImageWriter`: a temporary file beside the destination,
    renamed only by `commit`; `abort` (or an exception in a ``with`` block) deletes it; ``*.gz``
    names are written gzip-compressed.

    Parameters
    ----------
    path : str or os.PathLike
        The destination.
    images : sequence of MefImage
        The images, primary first; their names must differ.
    overwrite : bool
        Replace an existing file on `commit`; else `FileExistsError` at once.
    """

    def __init__(
        self, path: str | os.PathLike, images: Sequence[MefImage], *, overwrite: bool = False
    ) -> None:
        images = list(images)
        if not images:
            raise ValueError("FitsMefWriter needs at least one image")
        names = [im.name.upper() for im in images]
        if len(set(names)) != len(names):
            raise ValueError(f"the extension names must differ, got {names}")
        self.names = names
        self._destination(path, overwrite)
        hdus = []
        for k, im in enumerate(images):
            dtype = np.dtype(im.dtype).newbyteorder("=")
            shape = tuple(int(n) for n in im.shape)
            if k == 0:
                header = image_header(shape, dtype, im.header)
                header["EXTNAME"] = (names[0], "extension name")
            else:
                header = extension_header(names[k], shape, dtype, im.header)
            hdus.append((header, shape, dtype))
        self.shape, self.dtype = hdus[0][1], hdus[0][2]
        self._create(hdus)

    def _index(self, name: str) -> int:
        try:
            return self.names.index(name.upper())
        except ValueError:
            raise KeyError(f"{self.path} has no image {name!r}; it has {self.names}") from None

    def write_to(self, name: str, y0: int, block: np.ndarray, frame: int | None = None) -> None:
        """Write ``block`` into image ``name`` (rows from ``y0``, of cube ``frame``)."""
        self._write_unit(self._index(name), y0, block, frame)

    def mapped_image(self, name: str) -> np.ndarray:
        """A read-only memory map of image ``name`` of the committed file (as `mapped`)."""
        return self._mapped_unit(self._index(name))


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
