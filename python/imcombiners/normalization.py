"""Per-frame zero, scale and weights: numbers as given, or statistics measured on the frames.

The correction applied to frame ``i`` is ``(x - zero_i) / scale_i``, after the thresholds.
A statistic is measured in the compiled core on a sample grid of each frame (see
`resolve_zero_scale`); nothing of stack size is copied.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from . import _core
from ._threads import get_num_threads
from ._validation import (
    MAX_ITERS,
    Stack,
    as_mask,
    as_stack,
    per_frame,
    positive_int,
    real,
    thresholds_pair,
)

#: The statistics a string ``zero=``, ``scale=`` or ``weights=`` may name.
STATISTICS = ("mean", "median", "mode", "sigclip_mean", "sigclip_median")

#: imcombiners 0.1.1's spellings of the clipped statistics.
STATISTIC_ALIASES = {
    "mean_sc": "sigclip_mean",
    "median_sc": "sigclip_median",
    "med_sc": "sigclip_median",
}

#: The statistics ``weights=`` may name.
WEIGHT_STATISTICS = ("mean", "median", "mode")


class StatOptions(NamedTuple):
    """How the statistics are measured (validated)."""

    region: list[tuple[int, int]] | None
    step: int  # 0: IRAF's automatic step
    normalize: tuple[bool, bool]  # zero, scale
    sigma: float
    maxiters: int | None


def stat_options(
    stack: Stack,
    *,
    stat_region: Any = None,
    stat_step: Any = None,
    normalize: Any = True,
    sigma: Any = 3.0,
    maxiters: Any = 5,
) -> StatOptions:
    """Validate the statistics options for ``stack``.

    ``normalize`` is one flag for zero and scale, or a pair ``(zero, scale)``.
    """
    pair = normalize if isinstance(normalize, tuple) and len(normalize) == 2 else (normalize,) * 2
    if not all(isinstance(flag, bool | np.bool_) for flag in pair):
        raise TypeError(
            f"normalize must be True or False (or a pair of them for zero and scale), "
            f"got {normalize!r}"
        )
    step = 0 if stat_step is None else positive_int(stat_step, name="stat_step")
    return StatOptions(
        region=region_bounds(stat_region, stack.array.shape[1:]),
        step=step,
        normalize=(bool(pair[0]), bool(pair[1])),
        sigma=real(sigma, name="sigma", low=0.0, low_open=True),
        maxiters=None
        if maxiters is None
        else positive_int(maxiters, name="maxiters", high=MAX_ITERS),
    )


def region_bounds(value: Any, spatial: tuple[int, ...]) -> list[tuple[int, int]] | None:
    """``None`` or a tuple of slices (one per leading spatial axis) as ``(start, stop)`` pairs."""
    if value is None:
        return None
    if isinstance(value, slice):
        value = (value,)
    if not isinstance(value, tuple | list) or not all(isinstance(s, slice) for s in value):
        raise ValueError(
            f"stat_region must be a tuple of slices such as np.s_[100:200, 50:], got {value!r}"
        )
    if len(value) > len(spatial):
        raise ValueError(
            f"stat_region has {len(value)} slices for {len(spatial)} spatial axes {spatial}"
        )
    out = []
    for k, n in enumerate(spatial):
        s = value[k] if k < len(value) else slice(None)
        if s.step not in (None, 1):
            raise ValueError(
                f"stat_region slices must have step 1 (the grid step is stat_step), "
                f"got {s} on axis {k}"
            )
        start, stop, _ = s.indices(n)
        if start >= stop:
            raise ValueError(f"stat_region is empty on spatial axis {k} ({s} of length {n})")
        out.append((start, stop))
    return out


def canonical_statistic(value: Any) -> Any:
    """A statistic name with its alias resolved (anything else unchanged)."""
    if isinstance(value, str):
        return STATISTIC_ALIASES.get(value.lower(), value)
    return value


def _kind(value: Any, name: str, allowed: Sequence[str]) -> str | None:
    """``"stat"``, ``"callable"``, ``"numbers"`` or None, validating a statistic name."""
    if value is None:
        return None
    if isinstance(value, str):
        if value.lower() not in allowed:
            raise ValueError(
                f"{name}={value!r} is not a statistic; valid names are: {', '.join(allowed)}"
            )
        return "stat"
    if callable(value):
        return "callable"
    return "numbers"


class Corrections(NamedTuple):
    """Resolved per-frame factors (float64 arrays of shape (N,), or None)."""

    zero: np.ndarray | None
    scale: np.ndarray | None
    weights: np.ndarray | None


def resolve(
    stack: Stack,
    mask: np.ndarray | None,
    thresholds: tuple[float, float] | None,
    zero: Any,
    scale: Any,
    weights: Any,
    options: StatOptions,
) -> Corrections:
    """Resolve zero, scale and (statistic) weights of validated arguments."""
    n = stack.array.shape[0]
    zero, scale, weights = (canonical_statistic(v) for v in (zero, scale, weights))
    kinds = {
        "zero": _kind(zero, "zero", STATISTICS),
        "scale": _kind(scale, "scale", STATISTICS),
        "weights": _kind(weights, "weights", WEIGHT_STATISTICS)
        if isinstance(weights, str)
        else None,
    }
    given = {"zero": zero, "scale": scale, "weights": weights}
    names = sorted({given[k].lower() for k, kind in kinds.items() if kind == "stat"})
    sampler = _Sampler(stack, mask, thresholds, options)
    stats = sampler.statistics(names) if names else {}

    z = _measure("zero", zero, kinds["zero"], stats, sampler, n, None)
    if z is not None and kinds["zero"] in ("stat", "callable") and options.normalize[0]:
        z = z - z[0]
    s = _measure("scale", scale, kinds["scale"], stats, sampler, n, z)
    if s is not None and kinds["scale"] in ("stat", "callable") and options.normalize[1]:
        with np.errstate(divide="ignore", invalid="ignore"):  # a zero s[0] is refused below
            s = s / s[0]
    if s is not None:
        _check_positive("scale", scale, s)
    w = None
    if kinds["weights"] == "stat":
        w = stats[weights.lower()].copy()
        if z is not None:
            w -= z
        if s is not None:
            w /= s
        _check_positive("weights", weights, w)
    return Corrections(z, s, w)


def _check_positive(name: str, source: Any, values: np.ndarray) -> None:
    bad = np.flatnonzero(~(np.isfinite(values) & (values > 0)))
    if bad.size:
        what = f"{name}={source!r}" if isinstance(source, str) else name
        raise ValueError(
            f"{what} must give finite values > 0 for every frame; frame {bad[0]} has "
            f"{values[bad[0]]!r}"
        )


def _measure(
    name: str,
    value: Any,
    kind: str | None,
    stats: dict[str, np.ndarray],
    sampler: _Sampler,
    n: int,
    zero: np.ndarray | None,
) -> np.ndarray | None:
    """The raw per-frame values of ``zero`` or ``scale`` (a scale on the zero-corrected frame)."""
    if kind is None:
        return None
    if kind == "numbers":
        return per_frame(value, n, name=name, positive=(name == "scale"))
    if kind == "stat":
        out = stats[value.lower()].copy()
        if zero is not None:
            out -= zero
        return out
    out = np.empty(n)
    for i in range(n):
        samples = sampler.samples(i)
        if zero is not None:
            samples -= zero[i]
        out[i] = _call(value, samples, name, i)
    return out


def _call(func: Callable[[np.ndarray], Any], samples: np.ndarray, name: str, i: int) -> float:
    """A callable's value for frame ``i`` as a finite float."""
    result = func(samples)
    arr = np.asarray(result)
    if arr.ndim != 0 or arr.dtype.kind not in "iuf" or isinstance(result, bool | np.bool_):
        raise TypeError(
            f"the {name} callable must return one real number per frame; for frame {i} it "
            f"returned {type(result).__name__}" + (f" of shape {arr.shape}" if arr.ndim else "")
        )
    value = float(arr)
    if not np.isfinite(value):
        raise ValueError(f"the {name} callable returned {value} for frame {i}")
    return value


class _Sampler:
    """The statistics samples of one stack (a thin layer over the core)."""

    def __init__(
        self,
        stack: Stack,
        mask: np.ndarray | None,
        thresholds: tuple[float, float] | None,
        options: StatOptions,
    ) -> None:
        self.stack, self.mask, self.thresholds, self.options = stack, mask, thresholds, options

    def statistics(self, names: list[str]) -> dict[str, np.ndarray]:
        o = self.options
        values, counts, _ = _core.frame_stats(
            self.stack.array,
            names,
            mask=self.mask,
            thresholds=self.thresholds,
            region=o.region,
            step=o.step,
            sigma=o.sigma,
            maxiters=o.maxiters,
            swapped=self.stack.swapped,
            threads=get_num_threads(),
        )
        _check_counts(counts)
        out = {}
        for name, row in zip(names, values, strict=True):
            bad = np.flatnonzero(~np.isfinite(row))
            if bad.size:
                raise ValueError(f"the {name} of frame {bad[0]} is not finite ({row[bad[0]]})")
            out[name] = row
        return out

    def samples(self, i: int) -> np.ndarray:
        o = self.options
        values = _core.frame_samples(
            self.stack.array,
            i,
            mask=self.mask,
            thresholds=self.thresholds,
            region=o.region,
            step=o.step,
            swapped=self.stack.swapped,
        )
        _check_counts(np.array([values.size]), first=i)
        return values


def _check_counts(counts: np.ndarray, first: int = 0) -> None:
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        raise ValueError(
            f"frame {first + empty[0]} has no usable sample for its statistics (all masked, "
            "non-finite or outside the thresholds in the statistics region)"
        )


def resolve_zero_scale(
    stack: Any,
    zero: Any = None,
    scale: Any = None,
    *,
    mask: Any = None,
    thresholds: Any = None,
    stat_region: Any = None,
    stat_step: int | None = None,
    normalize: bool = True,
    sigma: float = 3.0,
    maxiters: int | None = 5,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The per-frame ``zero`` and ``scale`` a combine would apply, as float64 arrays.

    Frame ``i`` is corrected as ``(x - zero[i]) / scale[i]``.

    Parameters
    ----------
    stack : array_like of shape (N, *spatial)
        The frames.
    zero, scale : None, number, sequence of N numbers, str or callable
        A number or sequence is used as given. A string names a statistic of each frame:
        ``"mean"``, ``"median"``, ``"mode"`` (IRAF's binned mode), ``"sigclip_mean"`` or
        ``"sigclip_median"`` (mean or median after iterated clipping at ``sigma`` standard
        deviations about the median). A callable is called once per frame with the frame's
        samples (1-D float64, finite) and must return one number. The scale is measured on the
        zero-corrected frame.
    mask : array_like of bool and shape (N, *spatial), optional
        True where a sample must not be used.
    thresholds : (float, float), optional
        Samples outside ``[low, high]`` (raw values) are not used.
    stat_region : tuple of slice, optional
        The region of each frame the statistics use (step-1 slices over the leading spatial
        axes), e.g. ``np.s_[100:900, 200:]``.
    stat_step : int, optional
        Sample every ``stat_step``-th element along each spatial axis. By default, as in IRAF,
        the smallest step of 1 to 10 that gives fewer than 100 000 samples (every 7th pixel of
        a 2048 x 2048 frame).
    normalize : bool, default True
        Statistics are relative to the first frame, as in IRAF: ``zero[i] - zero[0]`` and
        ``scale[i] / scale[0]``. False uses them as measured.
    sigma : float, default 3.0
        Clipping limit of the ``sigclip_*`` statistics.
    maxiters : int or None, default 5
        Passes of the ``sigclip_*`` statistics at most (None: until nothing changes).

    Returns
    -------
    zero, scale : ndarray of shape (N,) or None
        None where the argument was None.

    Raises
    ------
    ValueError
        For a frame without usable samples, a non-finite statistic, a scale that is not
        > 0, a sequence of the wrong length, or an unknown statistic name.
    TypeError
        When a callable returns anything but one real number.

    Examples
    --------
    >>> frames = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0]])
    >>> zero, scale = imc.resolve_zero_scale(frames, scale="median")
    >>> print(zero, scale)
    None [1. 2.]
    >>> imc.resolve_zero_scale(frames, zero="mean", normalize=False)[0]
    array([2., 4.])
    """
    s = as_stack(stack, name="stack")
    options = {"stat_region": stat_region, "stat_step": stat_step, "normalize": normalize}
    return zero_scale_of(
        s, as_mask(mask, s), thresholds, zero, scale, sigma=sigma, maxiters=maxiters, **options
    )


def zero_scale_of(
    stack: Stack, mask: np.ndarray | None, thresholds: Any, zero: Any, scale: Any, **options: Any
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """`resolve_zero_scale` of a validated stack and mask (``options`` as `stat_options`)."""
    out = resolve(
        stack, mask, thresholds_pair(thresholds), zero, scale, None, stat_options(stack, **options)
    )
    return out.zero, out.scale
