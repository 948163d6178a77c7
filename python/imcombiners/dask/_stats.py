"""The first pass: per-frame zero, scale and weights measured on the statistics grid.

The grid is the one the in-memory core samples (the statistics region, every ``step``-th
element along each spatial axis, IRAF's automatic step by default), gathered from the dask
stack as one small numpy array; the statistics are then computed by the public in-memory
`imcombiners.resolve_zero_scale` on it, so they equal what ``Combiner(stack).combine`` measures.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import resolve_zero_scale
from ..normalization import region_bounds


def needs_statistics(*values: Any) -> bool:
    """Whether any correction is a statistic name or a callable."""
    return any(isinstance(v, str) or callable(v) for v in values)


def stat_region(value: Any, spatial: tuple[int, ...]) -> list[tuple[int, int]]:
    """The statistics region as ``(start, stop)`` per spatial axis (the whole axis by default),
    checked as the in-memory statistics check it."""
    return region_bounds(value, spatial) or [(0, n) for n in spatial]


def auto_step(region: list[tuple[int, int]]) -> int:
    """IRAF's statistics step: the smallest of 1..10 giving fewer than 100 000 grid points."""
    for step in range(1, 11):
        if math.prod(-(-(b - a) // step) for a, b in region) < 100_000:
            return step
    return 10


def resolve(
    stack: Any,
    mask: Any,
    thresholds: tuple[float, float] | None,
    zero: Any,
    scale: Any,
    weights: Any,
    *,
    region: Any = None,
    step: int | None = None,
    normalize: bool = True,
) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """Resolve zero, scale and weights for a dask stack, as float64 arrays of shape (N,).

    Parameters
    ----------
    stack : dask.array.Array of shape (N, *spatial)
        The frames.
    mask : dask.array.Array of bool or None
        True where a sample is not used.
    thresholds : (float, float) or None
        Samples outside ``[low, high]`` do not enter the statistics.
    zero, scale, weights : Any
        As `imcombiners.Combiner.combine` takes them.
    region : tuple of slice, optional
        The statistics region (``stat_region``).
    step : int, optional
        The grid step (``stat_step``); IRAF's automatic step by default.
    normalize : bool, default True
        Statistics relative to the first frame.

    Returns
    -------
    zero, scale, weights : ndarray of shape (N,) or None
        Numbers only: what each block receives.
    """
    n = stack.shape[0]
    if not needs_statistics(zero, scale, weights):
        fake = np.ones((n, 1), dtype=np.float32)
        z, s = resolve_zero_scale(fake, zero, scale, normalize=normalize)
        return z, s, _numeric_weights(weights, n)
    spans = stat_region(region, tuple(stack.shape[1:]))
    step = auto_step(spans) if step is None else int(step)
    if step < 1:
        raise ValueError(f"stat_step must be a positive integer, got {step}")
    index = (slice(None), *(slice(a, b, step) for a, b in spans))
    import dask

    if mask is None:
        (grid,) = dask.compute(stack[index])
        grid_mask = None
    else:
        grid, grid_mask = dask.compute(stack[index], mask[index])
    options = {"mask": grid_mask, "thresholds": thresholds, "stat_step": 1}
    z, s = resolve_zero_scale(grid, zero, scale, normalize=normalize, **options)
    w = _numeric_weights(weights, n)
    if isinstance(weights, str):
        w, _ = resolve_zero_scale(grid, weights, None, normalize=False, **options)
        if z is not None:
            w = w - z
        if s is not None:
            w = w / s
        bad = np.flatnonzero(~(np.isfinite(w) & (w > 0)))
        if bad.size:
            raise ValueError(
                f"weights={weights!r} must give finite values > 0 for every frame; frame "
                f"{bad[0]} has {w[bad[0]]!r}"
            )
    return z, s, w


def _numeric_weights(weights: Any, n: int) -> np.ndarray | None:
    """Numbers as float64 (checked later by the Combiner), or None for None or a name."""
    if weights is None or isinstance(weights, str):
        return None
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"weights must have one value per frame ({n}), got shape {w.shape}")
    return w
