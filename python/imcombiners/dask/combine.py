"""`combine`: the in-memory combine of every spatial block of a dask stack."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import Combiner, ImcombinersWarning, Rejector
from ..registry import RULES
from . import _stats
from ._block import PRODUCTS, BlockPlan, run_block

#: The rules a block can apply: each decides every output pixel from that pixel's samples only.
PER_PIXEL_RULES = tuple(entry.cls for entry in RULES.values())

#: Weight statistics `combine` accepts by name (as `imcombiners.Combiner.combine`).
WEIGHT_STATISTICS = ("mean", "median", "mode")


@dataclass
class DaskCombined:
    """The lazy result of `combine`.

    Attributes
    ----------
    image : dask.array.Array of shape (*spatial)
        The combined image, in the floating workspace dtype (float32, or float64 for int32
        and float64 stacks), chunked as the stack's spatial axes.
    variance : dask.array.Array of shape (*spatial) or None
        The propagated variance of the image (the workspace dtype, as the image), with
        ``return_variance=True``.
    products : dict of str to dask.array.Array
        The requested products: ``sigma`` and ``variance`` (ddof=1, of the samples combined;
        workspace dtype), ``nrej``, ``ncombine``, ``low`` and ``high`` (per-pixel counts;
        int16, or int32 from 32768 frames on) and ``rejmask`` (uint8 cube ``(N, *spatial)``).
    method : str
        The combine method as given.
    rejectors : tuple of Rejector
        The rules applied, in order.
    thresholds : (float, float) or None
    grow : float or None
    zero, scale, weights : ndarray of shape (N,) or None
        The per-frame corrections every block applied (resolved on the client).
    ivar : bool
        Whether the samples were weighted by the inverse of their variance
        (``weights="ivar"``; ``weights`` is None then).
    paths : list of str or None
        The input files, when the stack came from `read_fits`.
    header : astropy.io.fits.Header or None
        The first input's header, when the stack came from `read_fits`.
    exptimes : list of float or None
        Every input's EXPTIME, when the stack came from `read_fits` and all have one.
    threads : int
        Kernel threads each block task uses.
    n_frames : int
        N, the number of frames combined.
    """

    image: Any
    variance: Any = None
    products: dict[str, Any] = field(default_factory=dict)
    method: str = "mean"
    rejectors: tuple[Any, ...] = ()
    thresholds: tuple[float, float] | None = None
    grow: float | None = None
    zero: np.ndarray | None = None
    scale: np.ndarray | None = None
    weights: np.ndarray | None = None
    paths: list[str] | None = None
    header: Any = None
    exptimes: list[float] | None = None
    threads: int = 1
    n_frames: int = 0
    ivar: bool = False

    def arrays(self) -> dict[str, Any]:
        """``{"image": image, "var": variance, **products}``: every lazy output by name
        (``"var"`` only with the propagated variance)."""
        var = {} if self.variance is None else {"var": self.variance}
        return {"image": self.image, **var, **self.products}

    def compute(self, **kwargs: Any) -> dict[str, np.ndarray]:
        """Compute the image and every product in one graph (shared blocks computed once).

        Parameters
        ----------
        **kwargs
            Passed to `dask.compute` (``scheduler=...`` and so on).

        Returns
        -------
        dict of str to numpy.ndarray
            ``"image"``, ``"var"`` (the propagated variance, when returned) and each product.
        """
        import dask

        names = list(self.arrays())
        values = dask.compute(*self.arrays().values(), **kwargs)
        return dict(zip(names, values, strict=True))


def combine(
    stack: Any,
    method: str = "mean",
    *,
    mask: Any = None,
    rejectors: Any = None,
    thresholds: Any = None,
    zero: Any = None,
    scale: Any = None,
    weights: Any = None,
    ddof: int = 0,
    grow: float | None = None,
    stat_region: Any = None,
    stat_step: int | None = None,
    normalize: bool = True,
    products: Any = (),
    threads: int | None = None,
    rechunk: bool = True,
    variance: Any = None,
    return_variance: bool = False,
) -> DaskCombined:
    """Combine a dask stack along axis 0, block by block, with the in-memory core.

    Every spatial block runs ``Combiner(block, mask).combine(method, ...)``, so the image equals
    ``Combiner(stack, mask).combine(method, ...)`` of the whole stack in memory, bit for bit,
    whatever the chunks.

    Parameters
    ----------
    stack : dask.array.Array, array_like or FitsFrames
        The frames ``(N, *spatial)``: uint8, uint16, int16, int32, float32 or float64. A numpy
        array is wrapped with ``dask.array.from_array``; a `FitsFrames` from `read_fits` brings
        its mask, file names and first header. The stack axis must be one chunk; it is
        rechunked with ``{0: -1}`` if needed (a warning says so when that makes the blocks
        larger than Dask's ``array.chunk-size``).
    method : str, default "mean"
        The combine method (see `imcombiners.Combiner.combine`).
    mask : dask.array.Array or array_like of bool, optional
        True where a sample must not be used; shape of ``stack``.
    rejectors : Rejector or list of Rejector, optional
        `SigClip`, `CcdClip`, `LinearClip`, `MinMaxClip` or `PClip` rules, applied in order.
    thresholds : (float, float), optional
        Samples outside ``[low, high]`` are not used.
    zero, scale : None, number, sequence of N numbers, str or callable, optional
        The per-frame correction. A statistic (``"median"`` ...) or callable is measured in a
        first pass on the statistics grid, gathered to the client; blocks receive numbers.
    weights : array_like of shape (N,), {"mean", "median", "mode"} or "ivar", optional
        Per-frame weights of the (weighted) average; ``"ivar"``: each sample weighted by the
        inverse of its variance (needs ``variance``).
    ddof : int, default 0
        Delta degrees of freedom (of ``variance`` and of `SigClip`'s spread).
    grow : float, optional
        Grow radius of the rejection; blocks overlap by ``ceil(grow)`` pixels on every spatial
        axis (``dask.array.overlap``), so rejections grow across block borders.
    stat_region : tuple of slice, optional
        The region the statistics use.
    stat_step : int, optional
        The statistics grid step (IRAF's automatic step by default).
    normalize : bool, default True
        Statistics relative to the first frame.
    products : sequence of str, default ()
        Any of ``"sigma"``, ``"variance"``, ``"nrej"``, ``"ncombine"``, ``"low"``, ``"high"``,
        ``"rejmask"`` (defined as in `imcombiners.combine_files`).
    threads : int, optional
        Kernel threads per block task. Default 1: Dask already runs one task per worker
        thread, so more would oversubscribe the cores.
    rechunk : bool, default True
        Whether a chunked stack axis may be rechunked to one chunk (else `ValueError`).
    variance : dask.array.Array, array_like or scalar sequence, optional
        The variance of every sample: the stack's shape (rechunked as the stack), or one
        number per frame. A `FitsFrames` read with ``variance=`` or ``error=`` brings its own.
        Blocks pass it to the in-memory combine (``Combiner(block, mask, variance=...)``), so
        rejection (`imcombiners.VarClip`), ``weights="ivar"`` and the propagated variance
        equal the in-memory ones.
    return_variance : bool, default False
        Also compute the propagated variance of the image (`DaskCombined.variance`); needs
        ``variance``.

    Returns
    -------
    DaskCombined
        The lazy image and products, and the resolved per-frame corrections.

    Raises
    ------
    TypeError
        For an unsupported dtype or a rule that is not a per-pixel rule.
    ValueError
        For a stack axis that cannot be made one chunk, unknown chunk sizes, an unknown
        product, or any parameter `imcombiners.Combiner.combine` refuses.

    Examples
    --------
    >>> import dask.array as da
    >>> import imcombiners.dask as imcd
    >>> stack = da.from_array(np.arange(24.0).reshape(4, 2, 3), chunks=(4, 1, 2))
    >>> imcd.combine(stack, "median").image.compute(scheduler="sync")
    array([[ 9., 10., 11.],
           [12., 13., 14.]])
    """
    import dask.array as da

    from .fits import FitsFrames

    paths = header = exptimes = None
    if isinstance(stack, FitsFrames):
        if mask is None:
            mask = stack.mask
        if variance is None:
            variance = stack.variance
        paths = [str(p) for p in stack.paths]
        header = stack.headers[0]
        exptimes = stack.exptimes()
        stack = stack.data
    if not isinstance(stack, da.Array):
        stack = da.from_array(np.asarray(stack))
    if stack.ndim < 2:
        raise ValueError(
            f"stack must be (N, *spatial) with at least one spatial axis, got shape {stack.shape}"
        )
    if any(math.isnan(c) for axis in stack.chunks for c in axis):
        raise ValueError(
            "stack has unknown chunk sizes (after boolean indexing, say); call "
            "stack.compute_chunk_sizes() first"
        )
    n = int(stack.shape[0])
    if n == 0:
        raise ValueError("stack has no frames (N = 0)")
    stack = _one_stack_chunk(stack, rechunk, "stack")
    if mask is not None:
        mask = _as_mask(mask, stack)
    if not isinstance(return_variance, bool):
        raise TypeError(f"return_variance must be True or False, got {return_variance!r}")
    if return_variance and variance is None:
        raise ValueError(
            "return_variance=True needs variance= (the variance of every sample, or one per "
            "frame): without it there is nothing to propagate"
        )
    if variance is not None:
        variance = _as_variance(variance, stack)
    rules = _rules(rejectors)
    wanted = _products(products)
    nthreads = 1 if threads is None else int(threads)
    if nthreads < 1:
        raise ValueError(f"threads must be a positive integer, got {threads!r}")
    ivar = isinstance(weights, str) and weights.lower() == "ivar"
    if ivar:
        if variance is None:
            raise ValueError(
                "weights='ivar' needs variance= (each sample's weight is 1 / its variance)"
            )
        weights = None  # every block weights its samples by their own variance
    if isinstance(weights, str) and weights.lower() not in WEIGHT_STATISTICS:
        raise ValueError(
            f"weights={weights!r} is not a weight statistic; valid names are: "
            f"{', '.join(WEIGHT_STATISTICS)}"
        )
    thresholds = None if thresholds is None else tuple(float(t) for t in thresholds)
    # Check every parameter on a tiny block first (clear errors now, not inside a worker).
    work = _work_dtype(stack.dtype, stack.ndim)
    z, s, w = _stats.resolve(
        stack,
        mask,
        thresholds,
        zero,
        scale,
        weights,
        region=stat_region,
        step=stat_step,
        normalize=normalize,
    )
    own_grow = {float(r.grow) for r in rules if getattr(r, "grow", None) is not None}
    if grow is None and len(own_grow) == 1:
        grow = own_grow.pop()  # a rule's own grow needs the same halo (a conflict fails below)
    plan = BlockPlan(
        method=method,
        rules=tuple(rules),
        thresholds=thresholds,
        zero=z,
        scale=s,
        weights="ivar" if ivar else w,
        ddof=ddof,
        grow=None if grow is None else float(grow),
        products=wanted,
        threads=nthreads,
        n=n,
        has_variance=variance is not None,
        return_variance=return_variance,
    )
    probe = np.ones((n,) + (1,) * (stack.ndim - 1), dtype=stack.dtype)
    run_block(probe, None, plan, None if variance is None else np.ones(probe.shape))
    stacked = _map(stack, mask, plan, variance)
    image = stacked[0].astype(work)
    out: dict[str, Any] = {}
    k = 1
    propagated = None
    if return_variance:
        propagated = stacked[1].astype(work)
        k = 2
    count = np.dtype(np.int16 if n < 2**15 else np.int32)
    for name in wanted:
        if name == "rejmask":
            out[name] = stacked[k : k + n].astype(np.uint8)
            k += n
        else:
            out[name] = stacked[k].astype(work if name in ("sigma", "variance") else count)
            k += 1
    return DaskCombined(
        image=image,
        variance=propagated,
        products=out,
        method=method,
        rejectors=tuple(rules),
        thresholds=thresholds,
        grow=plan.grow,
        zero=z,
        scale=s,
        weights=w,
        ivar=ivar,
        paths=paths,
        header=header,
        exptimes=exptimes,
        threads=nthreads,
        n_frames=n,
    )


def _work_dtype(dtype: np.dtype, ndim: int) -> np.dtype:
    """The workspace dtype, and the library's own error for an unsupported dtype."""
    tiny = np.ones((1,) * ndim, dtype=dtype)
    return Combiner(tiny).combine("mean").dtype


def _one_stack_chunk(x: Any, rechunk: bool, name: str) -> Any:
    """``x`` with its stack axis as one chunk."""
    import dask
    from dask.utils import parse_bytes

    if len(x.chunks[0]) == 1:
        return x
    if not rechunk:
        raise ValueError(
            f"{name} is chunked along the stack axis (axis 0: chunks {x.chunks[0]}); every "
            "block needs all N frames. Rechunk it with .rechunk({0: -1}) or pass rechunk=True"
        )
    x = x.rechunk({0: -1})
    largest = x.shape[0] * math.prod(max(c) for c in x.chunks[1:]) * x.dtype.itemsize
    limit = parse_bytes(dask.config.get("array.chunk-size"))
    if largest > limit:
        warnings.warn(
            f"{name} was rechunked to one chunk along the stack axis: its blocks are now up to "
            f"{largest / 2**20:.0f} MiB (Dask's array.chunk-size is {limit / 2**20:.0f} MiB); "
            "give smaller spatial chunks, e.g. .rechunk({0: -1, 1: 'auto', 2: 'auto'})",
            ImcombinersWarning,
            stacklevel=3,
        )
    return x


def _as_mask(mask: Any, stack: Any) -> Any:
    import dask.array as da

    if not isinstance(mask, da.Array):
        mask = np.asarray(mask)
    if tuple(mask.shape) != tuple(stack.shape):
        raise ValueError(f"mask has shape {mask.shape}, the stack {stack.shape}")
    if mask.dtype != bool:
        mask = mask != 0
    if not isinstance(mask, da.Array):
        return da.from_array(mask, chunks=stack.chunks)
    return mask.rechunk(stack.chunks)


def _as_variance(variance: Any, stack: Any) -> Any:
    """The variance as a float dask array of the stack's shape and chunks.

    One number per frame (shape ``(N,)``) is broadcast; the values themselves are checked by
    the in-memory combine of every block, as `imcombiners.ndcombine` checks them.
    """
    import dask.array as da

    if not isinstance(variance, da.Array):
        variance = np.asarray(variance)
        if variance.dtype.kind not in "iuf":
            raise TypeError(
                f"variance must hold numbers (integer or floating point), got {variance.dtype}"
            )
    n = stack.shape[0]
    if tuple(variance.shape) == (n,):
        shape = (n,) + (1,) * (stack.ndim - 1)
        variance = variance.reshape(shape)
    if tuple(variance.shape) != tuple(stack.shape):
        try:
            variance = (
                da.broadcast_to(variance, stack.shape)
                if isinstance(variance, da.Array)
                else np.broadcast_to(variance, stack.shape)
            )
        except ValueError:
            raise ValueError(
                f"variance has shape {tuple(variance.shape)}; it must be the stack's shape "
                f"{tuple(stack.shape)} or one number per frame ({n},)"
            ) from None
    if not isinstance(variance, da.Array):
        return da.from_array(variance, chunks=stack.chunks)
    return variance.rechunk(stack.chunks)


def _rules(rejectors: Any) -> list[Any]:
    if rejectors is None:
        return []
    rules = list(rejectors) if isinstance(rejectors, list | tuple) else [rejectors]
    # A registered rule's name ("auto", "sigclip", ...) is that rule with its defaults.
    # (other names fall through to the error below, which points to imcombiners.iraf)
    rules = [
        RULES[r.lower()].cls() if isinstance(r, str) and r.lower() in RULES else r for r in rules
    ]
    for r in rules:
        if not isinstance(r, Rejector):
            raise TypeError(
                f"imcombiners.dask applies imcombiners rules (Rejector objects, which decide each "
                f"pixel from its own samples: {', '.join(c.__name__ for c in PER_PIXEL_RULES)} "
                f"or a rule of your own); got {r!r}. Rules that need whole image rows (such as "
                "IRAF's avsigclip, in imcombiners.iraf) cannot run on spatial blocks: combine "
                "such stacks in memory or with imcombiners.iraf.imcombine"
            )
    return rules


def _products(products: Any) -> tuple[str, ...]:
    if isinstance(products, str):
        products = (products,)
    wanted = []
    for p in products:
        if p not in PRODUCTS:
            raise ValueError(f"products: unknown product {p!r}; choose from {', '.join(PRODUCTS)}")
        if p not in wanted:
            wanted.append(p)
    return tuple(wanted)


def _halo(plan: BlockPlan, spatial: tuple[int, ...]) -> dict[int, int]:
    """Overlap depth per axis: ceil(grow) on spatial axes (at most the axis length - 1)."""
    depth = {0: 0}
    for k, size in enumerate(spatial, start=1):
        g = 0 if plan.grow is None or not plan.rules else math.ceil(plan.grow)
        depth[k] = min(g, size - 1)
    return depth


def _map(stack: Any, mask: Any, plan: BlockPlan, variance: Any = None) -> Any:
    """The stacked outputs ``(layers, *spatial)`` of every block."""
    import dask.array as da

    layers = plan.layers()
    depth = _halo(plan, tuple(stack.shape[1:]))
    if any(depth.values()):
        # dask.array.overlap rechunks blocks narrower than the halo (allow_rechunk).
        boundary = dict.fromkeys(depth, "none")
        stack = da.overlap.overlap(stack, depth=depth, boundary=boundary)
        if mask is not None:
            mask = da.overlap.overlap(mask, depth=depth, boundary=boundary)
        if variance is not None:
            variance = da.overlap.overlap(variance, depth=depth, boundary=boundary)
    chunks = ((layers,), *stack.chunks[1:])
    meta = np.empty((0,) * stack.ndim, dtype=np.float64)
    if variance is not None:
        arrays = (stack, variance) if mask is None else (stack, variance, mask)
        out = da.map_blocks(
            _block_variance,
            *arrays,
            plan=plan,
            chunks=chunks,
            dtype=np.float64,
            meta=meta,
            token="imcombine-var",
        )
    elif mask is None:
        out = da.map_blocks(
            _block_nomask,
            stack,
            plan=plan,
            chunks=chunks,
            dtype=np.float64,
            meta=meta,
            token="imcombine",
        )
    else:
        out = da.map_blocks(
            run_block,
            stack,
            mask,
            plan=plan,
            chunks=chunks,
            dtype=np.float64,
            meta=meta,
            token="imcombine",
        )
    if any(depth.values()):
        out = da.overlap.trim_internal(out, depth, boundary=dict.fromkeys(depth, "none"))
    return out


def _block_nomask(block: np.ndarray, plan: BlockPlan) -> np.ndarray:
    return run_block(block, None, plan)


def _block_variance(
    block: np.ndarray, variance: np.ndarray, mask: np.ndarray | None = None, *, plan: BlockPlan
) -> np.ndarray:
    return run_block(block, mask, plan, variance)
