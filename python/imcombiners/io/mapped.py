"""Many image files seen as one stack array, without reading them: a memory map per file, all
placed side by side in one reserved address range.

Each file's pages are mapped read-only at ``base + i * stride`` (``stride`` a whole number of
pages), so the images form one ``(N, *shape)`` array with a constant frame stride that the
compiled core reads in place, straight from the page cache: no copy, no new memory. This needs
every image's data to start at the same offset within a page (FITS headers of equal length), and
Linux; :func:`mapped_stack` yields None otherwise and the caller reads the files another way.

The files must not shrink while mapped (reading a page past the end of a file is a bus error);
:func:`mapped_stack` checks their sizes first.
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import os
import sys
from collections.abc import Iterator, Sequence

import numpy as np

_PROT_NONE = 0
_MAP_FIXED = 0x10  # Linux
_MAP_NORESERVE = 0x4000  # Linux


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_long,
    ]
    libc.munmap.restype = ctypes.c_int
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    return libc


_FAILED = ctypes.c_void_p(-1).value


@contextlib.contextmanager
def mapped_stack(
    paths: Sequence[str | os.PathLike],
    offsets: Sequence[int],
    shape: tuple[int, ...],
    dtype: np.dtype,
) -> Iterator[np.ndarray | None]:
    """A read-only ``(N, *shape)`` array of the images at byte ``offsets`` of ``paths``, valid
    inside the ``with`` block; None where that cannot be done (then nothing is mapped).

    Do not keep views of the array beyond the block: the mapping is removed on exit.
    """
    dtype = np.dtype(dtype)
    page = mmap.PAGESIZE
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    within = {off % page for off in offsets}
    usable = (
        sys.platform.startswith("linux")
        and len(paths) > 0
        and len(within) == 1
        and nbytes > 0
        and all(os.path.getsize(p) >= off + nbytes for p, off in zip(paths, offsets, strict=True))
    )
    if not usable:
        yield None
        return
    (start,) = within
    stride = -(-(start + nbytes) // page) * page
    size = stride * len(paths)
    libc = _libc()
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | _MAP_NORESERVE
    base = libc.mmap(None, size, _PROT_NONE, flags, -1, 0)
    if base in (None, _FAILED):
        yield None
        return
    try:
        for i, (path, off) in enumerate(zip(paths, offsets, strict=True)):
            fd = os.open(path, os.O_RDONLY)
            try:
                at = libc.mmap(
                    base + i * stride,
                    stride,
                    mmap.PROT_READ,
                    mmap.MAP_SHARED | _MAP_FIXED,
                    fd,
                    off - start,
                )
            finally:
                os.close(fd)
            if at != base + i * stride:
                yield None
                return
        buffer = (ctypes.c_char * size).from_address(base)
        strides = [dtype.itemsize] * len(shape)
        for k in range(len(shape) - 2, -1, -1):
            strides[k] = strides[k + 1] * shape[k + 1]
        stack = np.ndarray(
            (len(paths), *shape),
            dtype=dtype,
            buffer=buffer,
            offset=start,
            strides=(stride, *strides),
        )
        stack.flags.writeable = False
        yield stack
    finally:
        libc.munmap(base, size)
