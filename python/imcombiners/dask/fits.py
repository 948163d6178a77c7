"""FITS in and out: a lazy stack read in bands, and a single writer that streams bands.

Reading: one task per (file, band of rows), each opening its file and reading only its rows
(`imcombiners.io.FitsStack`, as `imcombiners.combine_files` reads: raw reads for plain images,
astropy sections for BSCALE/BZERO and tile-compressed images). Writing: astropy cannot write one
FITS file from several processes, so bands are computed a window at a time by whatever
scheduler is in force and written, in order, by the calling process into a temporary file
renamed on success (`imcombiners.io.FitsImageWriter`), with the provenance header of
`combine_files`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..io import FitsImageWriter, FitsStack, resolve_paths
from ..io.header import exptimes, provenance_header


@dataclass
class FitsFrames:
    """A lazy stack of FITS images, from `read_fits`.

    Attributes
    ----------
    data : dask.array.Array of shape (N, *spatial)
        The frames in native byte order (uint16 for BZERO 32768 images, float for BSCALE
        scaling, as astropy reads them), chunked ``(1, rows, *spatial[1:])``: one task per
        (file, band).
    mask : dask.array.Array of bool or None
        True where a sample must not be used (nonzero mask values), chunked as ``data``.
    paths : list of pathlib.Path
        The files, in order.
    headers : list of astropy.io.fits.Header
        Each image HDU's header.
    variance : dask.array.Array or None
        The variance of every sample (from ``variance=`` or ``error=`` of `read_fits`), in
        native byte order, chunked as ``data``; `combine` uses it unless given another.
    """

    data: Any
    mask: Any
    paths: list[Path]
    headers: list[Any]
    variance: Any = None

    def exptimes(self) -> list[float] | None:
        """EXPTIME of every input when all have a number, else None."""
        return exptimes(self.headers)


def read_fits(
    paths: Any,
    *,
    hdu: int | str = 0,
    masks: Any = None,
    chunks: int | str = "auto",
    variance: Any = None,
    error: Any = None,
) -> FitsFrames:
    """A lazy stack of FITS images, read in bands of rows.

    Parameters
    ----------
    paths : str, os.PathLike or sequence of them
        The images: a list, a glob pattern (sorted by name) or an ``"@list.txt"`` file.
    hdu : int or str, default 0
        The HDU of each file holding the image (number or EXTNAME).
    masks : None, int, str, or paths, optional
        Bad-pixel masks (nonzero = not used): an HDU of each input (a number, or an EXTNAME
        such as ``"DQ"``), or one mask file per input (a list, glob or ``@list``).
    variance : None, int, str, or paths, optional
        The variance of every sample, as ``masks``: an HDU of each input (``"VAR"``, a
        number), or one file per input (a list, glob or ``@list``).
    error : None, int, str, or paths, optional
        As ``variance``, for planes of standard deviations (``"ERR"``), squared as they are
        read. At most one of ``variance`` and ``error``.
    chunks : int or "auto", default "auto"
        Rows (first spatial axis) per band. ``"auto"`` makes a band of all N frames (with
        their variance planes) about Dask's ``array.chunk-size``, so `combine`'s blocks stay
        near it; with a current distributed Client whose workers have a memory limit, also
        small enough that every worker thread's band (about 3x its bytes at its peak: pieces
        read, their concatenation, the core's workspace) fits below the spill threshold
        beside the worker process itself (`WORKER_BASELINE`).

    Returns
    -------
    FitsFrames
        ``data`` (and ``mask``) as dask arrays; pass it to `combine` as the stack.

    Raises
    ------
    ValueError
        For files of different shapes or dtypes, a missing HDU or a mask that does not match.
    TypeError
        For an unsupported image dtype.
    FileNotFoundError
        For a missing file or a pattern that matches nothing.
    """
    import dask.array as da

    if variance is not None and error is not None:
        raise ValueError("give variance= or error=, not both")
    files = resolve_paths(paths, what="paths")
    mask_spec: Any = masks
    if masks is not None and not (isinstance(masks, int | str) and not _is_pathlike(masks)):
        mask_spec = resolve_paths(masks, what="masks")
    role = "variance" if variance is not None else "error" if error is not None else None
    plane_spec: Any = variance if variance is not None else error
    if plane_spec is not None and not (
        isinstance(plane_spec, int | str) and not _is_pathlike(plane_spec)
    ):
        plane_spec = resolve_paths(plane_spec, what=role)
    # Open every file once on the client: shapes, dtypes, masks and planes are checked here.
    with FitsStack(
        files,
        hdu,
        _stack_masks(mask_spec, files, None),
        planes=_stack_masks(plane_spec, files, None),
        plane_role=role or "variance",
    ) as frames:
        shape = tuple(frames.shape)
        stored = frames.dtype
        plane_dtype = None if role is None else frames.plane_dtype()
        headers = [h.copy() for h in frames.headers]
        # Where the bytes of a plain image start (as FitsStack reads them raw), so that a reader
        # task reads its rows with one pread, without parsing the header again.
        layouts = [_RawLayout.of(f) for f in frames.frames]
    n = len(files)
    dtype = stored.newbyteorder("=")
    # A band of the variance planes is read and combined beside each band of the data: "auto"
    # sizes the two together.
    plane_bytes = 0 if plane_dtype is None else plane_dtype.itemsize
    rows = _rows(chunks, n, shape, dtype.itemsize + plane_bytes)
    bands = tuple(min(rows, shape[0] - y) for y in range(0, shape[0], rows))
    grid = ((1,) * n, bands, *((s,) for s in shape[1:]))
    data = da.map_blocks(
        _read_block,
        chunks=grid,
        dtype=dtype,
        meta=np.empty((0,) * (1 + len(shape)), dtype=dtype),
        files=files,
        hdu=hdu,
        dtype_out=dtype,
        layouts=layouts,
        token="read-fits",
    )
    mask = None
    if mask_spec is not None:
        mask = da.map_blocks(
            _read_mask_block,
            chunks=grid,
            dtype=bool,
            meta=np.empty((0,) * (1 + len(shape)), dtype=bool),
            files=files,
            hdu=hdu,
            masks=mask_spec,
            token="read-fits-mask",
        )
    var = None
    if role is not None:
        var_dtype = plane_dtype
        if role == "error":
            from .._variance import variance_from_error

            var_dtype = variance_from_error(np.ones(1, dtype=plane_dtype)).dtype
        var = da.map_blocks(
            _read_plane_block,
            chunks=grid,
            dtype=var_dtype,
            meta=np.empty((0,) * (1 + len(shape)), dtype=var_dtype),
            files=files,
            hdu=hdu,
            planes=plane_spec,
            role=role,
            token=f"read-fits-{role}",
        )
    return FitsFrames(data=data, mask=mask, paths=files, headers=headers, variance=var)


def _is_pathlike(value: Any) -> bool:
    """A string naming files (a path, glob or @list) rather than an EXTNAME."""
    if not isinstance(value, str):
        return isinstance(value, os.PathLike)
    return value.startswith("@") or any(c in value for c in "*?[/") or value.endswith(".fits")


def _stack_masks(spec: Any, files: list[Path], i: int | None) -> Any:
    if spec is None or isinstance(spec, int | str):
        return spec
    return list(spec) if i is None else [spec[i]]


#: A band's peak in a worker, in units of the band's bytes: the N pieces read, their
#: concatenation into one (N, rows, ...) block, and the core's workspace (measured ~3x for a
#: sigma-clipped median of uint16 frames).
BAND_PEAK_FACTOR = 3

#: What a worker process holds besides its bands (Python, numpy, astropy, distributed: ~110-130
#: MiB measured). A fixed allowance, not the worker's current memory: a worker that has run a
#: band keeps freed memory mapped, and sizing from that would shrink every later band.
WORKER_BASELINE = 128 * 2**20


def _rows(chunks: int | str, n: int, shape: tuple[int, ...], itemsize: int) -> int:
    row_bytes = max(1, math.prod(shape[1:]) * itemsize)
    if chunks == "auto":
        import dask
        from dask.utils import parse_bytes

        target = parse_bytes(dask.config.get("array.chunk-size"))
        budget = _worker_band_budget(_current_workers())
        if budget is not None:
            target = min(target, budget)
        return max(1, min(shape[0], target // (n * row_bytes)))
    if isinstance(chunks, bool) or not isinstance(chunks, int | np.integer) or chunks < 1:
        raise ValueError(f"chunks must be a positive number of rows or 'auto', got {chunks!r}")
    return int(min(chunks, shape[0]))


@dataclass(frozen=True)
class _RawLayout:
    """Where a plain FITS image's bytes are: read directly, as `FitsStack` reads them."""

    offset: int
    stored: str  # big-endian dtype of the bytes (">i2" for BZERO 32768 data, flipped below)
    unsigned: bool
    file_size: int

    @classmethod
    def of(cls, frame: Any) -> _RawLayout | None:
        raw = getattr(frame, "_raw", None)
        if raw is None:
            return None
        offset, stored, unsigned = raw
        return cls(int(offset), str(stored), bool(unsigned), os.stat(frame.path).st_size)

    def read(self, path: Path, y0: int, y1: int, shape: tuple[int, ...]) -> np.ndarray | None:
        """Rows ``y0:y1`` in native byte order, or None if the file is no longer as it was."""
        fd = os.open(path, os.O_RDONLY)
        try:
            if os.fstat(fd).st_size != self.file_size:
                return None
            out = np.empty((1, y1 - y0, *shape[1:]), dtype=np.dtype(self.stored))
            view = memoryview(out.reshape(-1).view(np.uint8))
            row_bytes = out.dtype.itemsize * math.prod(shape[1:])
            if os.preadv(fd, [view], self.offset + y0 * row_bytes) != view.nbytes:
                return None
        finally:
            os.close(fd)
        # To native order in place (no copy); BZERO 32768: flipping the sign bit gives uint16.
        out = out.byteswap(inplace=True).view(out.dtype.newbyteorder("="))
        if self.unsigned:
            u = out.view(np.uint16)
            np.bitwise_xor(u, np.uint16(0x8000), out=u)
            return u
        return out


def _current_workers() -> dict[str, Any] | None:
    """The workers of the current distributed Client (``scheduler_info``), or None."""
    try:
        from distributed import Client
    except ImportError:
        return None
    try:
        client = Client.current()
    except ValueError:
        return None
    try:
        return dict(client.scheduler_info(n_workers=-1).get("workers", {}))
    except Exception:  # a closed or unreachable client: size bands as without one
        return None


def _worker_band_budget(workers: dict[str, Any] | None) -> int | None:
    """Bytes of one band (all N frames) that fit every worker's memory limit, or None.

    A worker runs one band per thread at a time; each band peaks at about `BAND_PEAK_FACTOR`
    times its bytes. What every thread may use is the part of the memory limit below Dask's
    spill threshold (``distributed.worker.memory.spill``, 0.7) less `WORKER_BASELINE` for the
    worker process itself, shared by its threads.
    """
    import dask

    if not workers:
        return None
    spill = dask.config.get("distributed.worker.memory.spill", 0.7)
    fraction = float(spill) if spill else 0.7
    budgets = []
    for w in workers.values():
        limit = w.get("memory_limit") or 0
        if limit <= 0:
            continue
        threads = max(1, int(w.get("nthreads", 1) or 1))
        free = max(0, int(fraction * limit) - WORKER_BASELINE)
        budgets.append(free // (threads * BAND_PEAK_FACTOR))
    return max(1, min(budgets)) if budgets else None


def _read_block(
    *,
    files: list[Path],
    hdu: int | str,
    dtype_out: np.dtype,
    layouts: list[_RawLayout | None] | None = None,
    block_info: Any = None,
) -> np.ndarray:
    """Rows of one file: the block at ``block_info``'s location."""
    info = block_info[None]
    loc = info["array-location"]
    i = loc[0][0]
    y0, y1 = loc[1]
    layout = None if layouts is None else layouts[i]
    if layout is not None:
        shape = tuple(info["shape"][1:])
        got = layout.read(files[i], y0, y1, shape)
        if got is not None:
            return got.astype(dtype_out, copy=False)
    with FitsStack([files[i]], hdu) as frame:
        out = np.empty((1, y1 - y0, *frame.shape[1:]), dtype=frame.dtype)
        frame.read_band(y0, y1, out)
    return out.astype(dtype_out, copy=False)


def _read_mask_block(
    *, files: list[Path], hdu: int | str, masks: Any, block_info: Any = None
) -> np.ndarray:
    loc = block_info[None]["array-location"]
    i = loc[0][0]
    y0, y1 = loc[1]
    with FitsStack([files[i]], hdu, _stack_masks(masks, files, i)) as frame:
        return frame.read_mask_band(y0, y1)


def _read_plane_block(
    *, files: list[Path], hdu: int | str, planes: Any, role: str, block_info: Any = None
) -> np.ndarray:
    """Rows of one file's variance (or error, squared) plane."""
    loc = block_info[None]["array-location"]
    i = loc[0][0]
    y0, y1 = loc[1]
    spec = _stack_masks(planes, files, i)
    with FitsStack([files[i]], hdu, planes=spec, plane_role=role) as frame:
        plane = frame.read_plane_band(y0, y1)
    if role == "error":
        from .._variance import variance_from_error

        return variance_from_error(plane)
    return plane


def _product_path(output: Path, product: str) -> Path:
    """``out.fits`` -> ``out_sigma.fits``; ``out.fits.gz`` -> ``out_sigma.fits.gz``."""
    name = output.name
    gz = name.lower().endswith(".gz")
    base = name[: -len(".gz")] if gz else name
    stem = base[: -len(".fits")] if base.endswith(".fits") else base
    return output.with_name(f"{stem}_{product}.fits" + (".gz" if gz else ""))


_PRODUCT_DOC = {
    "var": "variance of the combined image, propagated",
    "sigma": "std (ddof=1) of the samples combined",
    "variance": "variance (ddof=1) of the samples combined",
    "nrej": "samples rejected (rejectors, grow)",
    "ncombine": "samples combined",
    "low": "rejected samples below the result",
    "high": "rejected samples above the result",
    "rejmask": "1 where a sample was rejected",
}


def _steps(result: Any) -> list[str]:
    steps = []
    if result.thresholds is not None:
        steps.append(f"thresholds: samples outside {list(result.thresholds)} not used")
    for r in result.rejectors:
        steps.append(f"rejection: {r!r}")
    if result.grow is not None:
        steps.append(f"grow radius {result.grow:g}")
    if getattr(result, "variance", None) is not None:
        steps.append("variance propagated from the input variance")
    if getattr(result, "ivar", False):
        steps.append("weights: the inverse of each sample's variance")
    return steps


def _header(result: Any, extra: Any) -> Any:
    from astropy.io import fits

    if result.paths is not None:
        names = [Path(p).name for p in result.paths]
        first = result.header
    else:
        names = [f"array frame {i}" for i in range(result.n_frames)]
        first = fits.Header()
    header = provenance_header(
        first,
        names,
        method=result.method,
        exptimes=result.exptimes,
        steps=_steps(result),
        zero=result.zero,
        scale=result.scale,
        weights=result.weights,
        version=__version__,
    )
    header["HISTORY"] = "imcombiners.dask: combined block by block with dask"
    if extra is not None:
        for key, value in dict(extra).items():
            header[key] = value
    return header


def _distributed_client(compute_kwargs: dict[str, Any]) -> Any:
    """The distributed Client that will run the graph, or None for a local scheduler."""
    from dask.base import get_scheduler

    try:
        from distributed import Client
    except ImportError:
        return None
    sched = get_scheduler(scheduler=compute_kwargs.get("scheduler"))
    owner = getattr(sched, "__self__", None)
    return owner if isinstance(owner, Client) else None


def _in_process(compute_kwargs: dict[str, Any]) -> bool:
    """Whether the scheduler runs tasks in this process (threads or sync)."""
    import dask.local
    import dask.threaded
    from dask.base import get_scheduler

    sched = get_scheduler(scheduler=compute_kwargs.get("scheduler"))
    return sched is None or sched in (dask.threaded.get, dask.local.get_sync)


class _RowTarget:
    """A `dask.array.store` target writing whole-row blocks through a `FitsImageWriter`."""

    def __init__(self, writer: FitsImageWriter, cube: bool) -> None:
        self.writer, self.cube = writer, cube
        self.shape = writer.shape
        self.dtype = writer.dtype
        self.ndim = len(writer.shape)

    def __setitem__(self, index: tuple[slice, ...], block: np.ndarray) -> None:
        if self.cube:
            f0 = index[0].start or 0
            y0 = index[1].start or 0
            for i in range(block.shape[0]):
                self.writer.write(y0, block[i], frame=f0 + i)
        else:
            self.writer.write(index[0].start or 0, block)


def write_fits(
    result: Any,
    path: str | os.PathLike,
    *,
    header: Any = None,
    overwrite: bool = False,
    **compute_kwargs: Any,
) -> dict[str, Path]:
    """Compute a `combine` result and write it into FITS files by this process only.

    The image goes to ``path`` and each product to ``<stem>_<product>.fits`` beside it (as
    `imcombiners.combine_files` names them; the propagated variance, when `combine` returned
    it, to ``<stem>_var.fits``), with the provenance header of `combine_files`.
    Outputs are rechunked to whole rows (bands along the first spatial axis). On a distributed
    cluster every band is submitted at once and the bands are gathered and written in order,
    each released once written; with the threaded or synchronous scheduler,
    `dask.array.store` writes each band from the task that made it, under a lock. Either way
    one process writes, into temporary files renamed on success: on any error nothing is left.

    Parameters
    ----------
    result : DaskCombined
        What `combine` returned.
    path : str or os.PathLike
        The output image (``*.fits``, or ``*.fits.gz`` for gzip).
    header : mapping or astropy.io.fits.Header, optional
        Cards to add to the provenance header (the first input's header when the stack came
        from `read_fits`, NCOMBINE, IMCMBnnn, EXPTIME, HISTORY of the steps and corrections).
    overwrite : bool, default False
        Replace existing files.
    **compute_kwargs
        Passed to `dask.compute` (``scheduler=...``).

    Returns
    -------
    dict of str to pathlib.Path
        ``"image"``, ``"var"`` and each product's file.
    """
    import dask
    import dask.array as da

    out = Path(path)
    arrays = {}
    for name, arr in result.arrays().items():
        whole = {k: -1 for k in range(1, arr.ndim)}
        if name == "rejmask":  # (N, *spatial): bands along axis 1
            whole = {0: -1, **{k: -1 for k in range(2, arr.ndim)}}
        arrays[name] = arr.rechunk(whole)
    hdr = _header(result, header)
    image = arrays["image"]
    bounds = []
    y = 0
    for rows in image.chunks[0]:
        bounds.append((y, y + rows))
        y += rows
    writers: dict[str, FitsImageWriter] = {}
    try:
        for name, arr in arrays.items():
            dest = out if name == "image" else _product_path(out, name)
            h = hdr.copy()
            if name != "image":
                h["PRODUCT"] = (name, _PRODUCT_DOC[name])
            writers[name] = FitsImageWriter(dest, arr.shape, arr.dtype, h, overwrite=overwrite)
        client = _distributed_client(compute_kwargs)
        if client is not None:
            lazy = [
                [arr[:, y0:y1] if name == "rejmask" else arr[y0:y1] for name, arr in arrays.items()]
                for y0, y1 in bounds
            ]
            futures = _compute_bands(client, lazy)
            for (y0, _), band in zip(bounds, futures, strict=True):
                for name, part in zip(arrays, band.result(), strict=True):
                    _RowTarget(writers[name], name == "rejmask")[_index(name, y0)] = part
                band.release()
        elif _in_process(compute_kwargs):
            targets = [_RowTarget(writers[name], name == "rejmask") for name in arrays]
            da.store(list(arrays.values()), targets, lock=True, **compute_kwargs)
        else:  # a multiprocessing scheduler: a band at a time, written here
            for y0, y1 in bounds:
                parts = dask.compute(
                    *[arr[:, y0:y1] if n == "rejmask" else arr[y0:y1] for n, arr in arrays.items()],
                    **compute_kwargs,
                )
                for name, part in zip(arrays, parts, strict=True):
                    _RowTarget(writers[name], name == "rejmask")[_index(name, y0)] = part
        return {("image" if name == "image" else name): w.commit() for name, w in writers.items()}
    except BaseException:
        for w in writers.values():
            w.abort()
        raise


def _compute_bands(client: Any, bands: list[Any]) -> list[Any]:
    """Submit every band, each band's graph (its reader tasks and its combine) asked to run on
    one worker, the bands dealt round-robin over the workers' threads.

    Left to itself the scheduler spreads a band's reader tasks over every worker, and the combine
    of the band then fetches the pieces read elsewhere; here the pieces are read where they are
    combined. The restriction is loose (``allow_other_workers``): a band whose worker is gone runs
    elsewhere, and the result is the same wherever a band runs.
    """
    info = client.scheduler_info(n_workers=-1).get("workers", {})
    threads = {addr: max(1, int(w.get("nthreads", 1))) for addr, w in info.items()}
    if len(threads) < 2:
        return client.compute(bands)
    # One slot per worker thread, the workers interleaved (a, b, a, b rather than a, a, b, b):
    # neighbouring bands, submitted together, run at once on different workers.
    slots = [
        addr for k in range(max(threads.values())) for addr in sorted(threads) if threads[addr] > k
    ]
    # Each band is its own graph, so its own priorities: the band's number orders them, or a
    # worker would run the reader tasks of all its bands before combining any (holding them all).
    return [
        client.compute(
            [band],
            workers=[slots[b % len(slots)]],
            allow_other_workers=True,
            priority=len(bands) - b,
        )[0]
        for b, band in enumerate(bands)
    ]


def _index(name: str, y0: int) -> tuple[slice, ...]:
    return (slice(0, None), slice(y0, None)) if name == "rejmask" else (slice(y0, None),)
