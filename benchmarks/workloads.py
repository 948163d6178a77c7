"""The benchmark workloads: seeded image stacks and what to compute on them.

This module needs only NumPy, because the peer worker (running in a separate virtual
environment) imports it too and so builds bit-identical stacks. Adding a workload is one
entry in ``WORKLOADS``; a new ``method`` also needs its contenders in ``peers.py`` and,
where the public 0.1.1 package can do it, a line in ``peer_worker.py``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

MIB = 1024 * 1024


@dataclass(frozen=True, kw_only=True)
class Workload:
    """One benchmark case: combine a seeded ``(N, ny, nx)`` stack along axis 0."""

    key: str
    method: str
    shape: tuple[int, int, int]
    quick_shape: tuple[int, int, int]
    dtype: str = "float32"
    seed: int = 2
    outlier_fraction: float = 5e-4
    #: Frame ``i`` is multiplied by ``1 + level_spread * (2 i / (N - 1) - 1)`` (flats taken at
    #: different levels); 0 leaves every frame at the same level.
    level_spread: float = 0.0

    def shape_for(self, *, quick: bool) -> tuple[int, int, int]:
        """Stack shape for a full or a ``--quick`` run."""
        return self.quick_shape if quick else self.shape

    def label(self, *, quick: bool) -> str:
        """Human-readable name, e.g. ``W1 median 15x2048x2048 float32``."""
        dims = "x".join(str(n) for n in self.shape_for(quick=quick))
        return f"{self.key} {self.method} {dims} {self.dtype}"

    def output_bytes(self, *, quick: bool) -> int:
        """Size of the combined image in the float work dtype of the API contract."""
        work = np.float64 if self.dtype in ("int32", "float64") else np.float32
        n_pixels = math.prod(self.shape_for(quick=quick)[1:])
        return n_pixels * np.dtype(work).itemsize


WORKLOADS: dict[str, Workload] = {
    w.key: w
    for w in (
        Workload(key="W1", method="median", shape=(15, 2048, 2048), quick_shape=(15, 256, 256)),
        Workload(key="W2", method="mean", shape=(15, 2048, 2048), quick_shape=(15, 256, 256)),
        Workload(key="W6", method="median", shape=(100, 1024, 1024), quick_shape=(100, 128, 128)),
        Workload(
            key="W7",
            method="median",
            shape=(15, 2048, 2048),
            quick_shape=(15, 256, 256),
            dtype="uint16",
        ),
        # Rejection (issue 3): 0.1% outliers. "c" = the Chained Combiner (diagnostics kept).
        *(
            Workload(
                key=key,
                method=method,
                shape=shape,
                quick_shape=quick,
                outlier_fraction=1e-3,
            )
            for key, method, shape, quick in (
                ("W3", "sigclip_mean", (15, 2048, 2048), (15, 256, 256)),
                ("W3m", "sigclip_mean", (15, 1024, 1024), (15, 128, 128)),
                ("W3c", "sigclip_mean_chained", (15, 2048, 2048), (15, 256, 256)),
                ("W4", "minmax_mean", (15, 2048, 2048), (15, 256, 256)),
                ("W4c", "minmax_mean_chained", (15, 2048, 2048), (15, 256, 256)),
                ("W5", "sigclip_median", (31, 256, 256), (31, 64, 64)),
                ("W5c", "sigclip_median_chained", (31, 256, 256), (31, 64, 64)),
            )
        ),
        # grow (issue 14): the seed's stack, sigma-clipped median with grow=1 beside no grow.
        Workload(
            key="W9",
            method="sigclip_median_grow",
            shape=(31, 256, 256),
            quick_shape=(31, 64, 64),
            outlier_fraction=1e-3,
        ),
        # Variance planes (issue 17): W3 with a float32 variance plane propagated to the output.
        Workload(
            key="W3v",
            method="sigclip_mean_variance",
            shape=(15, 2048, 2048),
            quick_shape=(15, 256, 256),
            outlier_fraction=1e-3,
        ),
        # Normalisation (issue 4): frames at levels 0.7..1.3 of the sky, median scaling.
        Workload(
            key="W8",
            method="scaled_sigclip_mean",
            shape=(15, 2048, 2048),
            quick_shape=(15, 256, 256),
            outlier_fraction=1e-3,
            level_spread=0.3,
        ),
    )
}

# Sky level and noise of the synthetic frames (the share of samples hit by cosmic rays is each
# workload's ``outlier_fraction``).
LEVEL = 1000.0
NOISE = 10.0


def make_stack(workload: Workload, *, quick: bool) -> np.ndarray:
    """Build the workload's stack: ``normal(1000, 10)`` frames with a few cosmic rays.

    Float stacks are float32 straight from the generator; integer stacks are the same
    values rounded, as bias-like counts. The same seed gives the same bytes in any process.
    """
    shape = workload.shape_for(quick=quick)
    rng = np.random.default_rng(workload.seed)
    stack = rng.standard_normal(shape, dtype=np.float32)
    stack *= np.float32(NOISE)
    stack += np.float32(LEVEL)
    flat = stack.reshape(-1)
    n_hits = max(1, int(flat.size * workload.outlier_fraction))
    where = rng.integers(0, flat.size, size=n_hits)
    flat[where] += rng.uniform(200.0, 30000.0, size=n_hits).astype(np.float32)
    if workload.level_spread:
        n = shape[0]
        levels = 1.0 + workload.level_spread * (2.0 * np.arange(n) / max(n - 1, 1) - 1.0)
        stack *= levels.astype(np.float32).reshape(n, *([1] * (len(shape) - 1)))
    if workload.dtype == "float32":
        return stack
    info = np.iinfo(workload.dtype)
    np.rint(stack, out=stack)
    np.clip(stack, info.min, info.max, out=stack)
    return stack.astype(workload.dtype)


def fingerprint(stack: np.ndarray) -> str:
    """Short hash of the stack's bytes, to prove two processes built the same input."""
    return hashlib.blake2b(np.ascontiguousarray(stack).data, digest_size=8).hexdigest()


def summarize(result: object) -> dict[str, object]:
    """Shape, NaN count and float64 sum of a combined image, for a cheap cross-check."""
    arr = np.asarray(result)
    finite = np.isfinite(arr)
    return {
        "shape": list(arr.shape),
        "nan": int(arr.size - np.count_nonzero(finite)),
        "sum": float(np.sum(arr, dtype=np.float64, where=finite)),
    }


def same_result(got: dict[str, object], want: dict[str, object], *, rtol: float = 1e-6) -> bool:
    """True when two summaries agree: same shape and NaN count, sums within ``rtol``."""
    if got["shape"] != want["shape"] or got["nan"] != want["nan"]:
        return False
    g, w = float(got["sum"]), float(want["sum"])  # type: ignore[arg-type]
    return abs(g - w) <= rtol * max(abs(w), 1.0)
