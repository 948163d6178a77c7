"""What one block runs: the in-memory Combiner on a piece of the stack, and its products.

A block is ``(N, *spatial_piece)`` with the whole stack axis. Its outputs are stacked on a new
leading axis as float64 (every output value, float32 or a count, is exact in float64), so that a
single task computes the image and every product; `combine` slices them apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import Combiner
from .. import threads as _threads_context
from .._validation import aligned

#: The products `combine` can return besides the image (as `imcombiners.combine_files`).
PRODUCTS = ("sigma", "variance", "nrej", "ncombine", "low", "high", "rejmask")


@dataclass(frozen=True)
class BlockPlan:
    """Everything a block needs, resolved on the client: only numbers and numpy arrays."""

    method: str
    rules: tuple[Any, ...]
    thresholds: tuple[float, float] | None
    zero: np.ndarray | None
    scale: np.ndarray | None
    weights: np.ndarray | str | None  # "ivar": per sample, from the variance
    ddof: int
    grow: float | None
    products: tuple[str, ...]
    threads: int
    n: int
    #: Whether blocks receive a variance plane (the stack's shape).
    has_variance: bool = False
    #: Whether blocks return the propagated variance (the layer after the image).
    return_variance: bool = False

    def layers(self) -> int:
        """How many layers a block's stacked output has (image, propagated variance,
        products, N for rejmask)."""
        extra = 1 if self.return_variance else 0
        return 1 + extra + sum(self.n if p == "rejmask" else 1 for p in self.products)


def run_block(
    block: np.ndarray,
    mask: np.ndarray | None,
    plan: BlockPlan,
    variance: np.ndarray | None = None,
) -> np.ndarray:
    """Combine one block; returns its outputs stacked as float64, shape (layers, *spatial)."""
    with _threads_context(plan.threads):
        return _run(
            np.asarray(block),
            None if mask is None else np.asarray(mask),
            plan,
            # A block that crossed the network may be unaligned: the core reads aligned items.
            None if variance is None else aligned(np.asarray(variance)),
        )


def _run(
    block: np.ndarray, mask: np.ndarray | None, plan: BlockPlan, variance: np.ndarray | None
) -> np.ndarray:
    spatial = block.shape[1:]
    out = np.empty((plan.layers(), *spatial), dtype=np.float64)
    if 0 in block.shape:
        return out
    wanted = plan.products
    extra = {} if variance is None else {"variance": variance}
    cmb = Combiner(block, mask=mask, **extra)
    image = cmb.combine(
        plan.method,
        thresholds=plan.thresholds,
        zero=plan.zero,
        scale=plan.scale,
        rejectors=list(plan.rules) or None,
        weights=plan.weights,
        ddof=plan.ddof,
        grow=plan.grow,
        diagnostics="simple" if wanted else None,
    )
    out[0] = image
    k = 1
    if plan.return_variance:
        out[1] = cmb.out_variance
        k = 2
    if not wanted:
        return out
    rej = cmb.mask_rej if cmb.mask_rej is not None else np.zeros(block.shape, dtype=bool)
    layers = _products(block, mask, rej, image, plan)
    for name in wanted:
        if name == "rejmask":
            out[k : k + plan.n] = rej
            k += plan.n
        else:
            out[k] = layers[name]
            k += 1
    return out


def _products(
    block: np.ndarray,
    mask: np.ndarray | None,
    rej: np.ndarray,
    image: np.ndarray,
    plan: BlockPlan,
) -> dict[str, np.ndarray]:
    """The products of one block, defined as `imcombiners.combine_files` defines them."""
    wanted = plan.products
    out: dict[str, np.ndarray] = {}
    values = block.astype(np.float64)
    usable = np.isfinite(values)
    if mask is not None:
        usable &= ~mask.astype(bool)
    if plan.thresholds is not None:
        low, high = plan.thresholds
        usable &= (values >= low) & (values <= high)
    if "nrej" in wanted:
        out["nrej"] = np.count_nonzero(rej, axis=0)
    if "ncombine" in wanted:
        out["ncombine"] = np.count_nonzero(usable & ~rej, axis=0)
    if "sigma" in wanted or "variance" in wanted:
        # The variance (ddof=1) of the samples combined: every sample not usable or rejected is
        # masked, and the same correction is applied.
        var = Combiner(block, mask=~usable | rej).combine(
            "variance",
            zero=plan.zero,
            scale=plan.scale,
            thresholds=plan.thresholds,
            ddof=1,
        )
        out["variance"] = var
        out["sigma"] = np.sqrt(var)
    if "low" in wanted or "high" in wanted:
        shape = (-1,) + (1,) * (block.ndim - 1)
        if plan.zero is not None:
            values -= plan.zero.reshape(shape)
        if plan.scale is not None:
            values /= plan.scale.reshape(shape)
        below = rej & (values < image[None])
        out["low"] = np.count_nonzero(below, axis=0)
        out["high"] = np.count_nonzero(rej & ~below, axis=0)
    return out
