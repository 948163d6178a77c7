"""Running rejectors through the compiled core, shared by every usage mode."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from . import _core
from ._threads import get_num_threads
from ._validation import Stack
from .errors import warn
from .rejectors import CcdClip, MinMaxClip, Rejector, SigClip


class RejectResult(NamedTuple):
    """The diagnostics of one rejection step (the seeds' 6-tuple)."""

    mask_rej: np.ndarray
    """bool (N, *spatial): samples this step rejected (grown samples included)."""
    std: np.ndarray | None
    """Per element: spread of the last pass (None for rules without a spread)."""
    low: np.ndarray
    """Per element: lowest kept value (linear clipping: the lower bound)."""
    upp: np.ndarray
    """Per element: highest kept value (linear clipping: the upper bound)."""
    nit: np.ndarray
    """Per element: passes made."""
    output_flags: np.ndarray
    """Per element: bit-OR of `OutputFlags`."""


def as_rejector_list(rejectors: Any, *, name: str = "rejectors") -> list[Rejector]:
    """``None``, one `Rejector`, a registered rule's name (``"auto"``, ``"sigclip"``, ... with
    its defaults) or a sequence of them, as a list."""
    if rejectors is None:
        return []
    if isinstance(rejectors, Rejector | str):
        return [_one_rule(rejectors, name)]
    if isinstance(rejectors, Sequence):
        return [_one_rule(r, name) for r in rejectors]
    raise TypeError(f"{name} must be a Rejector or a list of them, got {type(rejectors).__name__}")


def _one_rule(rule: Any, name: str) -> Rejector:
    """A `Rejector`, or a registered rule's name made into the rule with its defaults."""
    if isinstance(rule, Rejector):
        return rule
    if isinstance(rule, str):
        from .registry import rule_class  # the registry imports the rules: import it late

        return rule_class(rule, param=name)()
    raise TypeError(
        f"{name} must hold Rejector objects (imc.SigClip(...), ...) or rule names, "
        f"got {type(rule).__name__}"
    )


def _largest_deviation(rule: SigClip, n: int) -> float:
    """The largest ``|x - c| / s`` any ``n`` samples can reach under ``rule`` (std spread).

    About the mean (Samuelson's inequality, divisor ``n - ddof``) it is
    ``sqrt((n - 1) * (n - ddof) / n)``; about a median one sample can carry the whole sum of
    squares, so ``sqrt(n - ddof)``.
    """
    dof = n - rule.ddof
    if dof <= 0:
        return 0.0
    if rule.cenfunc == "mean":
        return float(np.sqrt((n - 1) * dof / n))
    return float(np.sqrt(dof))


def warn_if_inert(rejectors: Sequence[Rejector], n: int) -> None:
    """Warn (once per call) about rules that cannot reject anything on a stack of ``n`` frames."""
    for rule in rejectors:
        if isinstance(rule, MinMaxClip):
            k_lo, k_hi = (
                int(n * k + 0.001) if 0 < k < 1 else int(k) for k in (rule.n_min, rule.n_max)
            )
            if k_lo + k_hi >= n and k_lo + k_hi > 0:
                warn(
                    f"MinMaxClip(n_min={rule.n_min:g}, n_max={rule.n_max:g}) asks for "
                    f"{k_lo} + {k_hi} = {k_lo + k_hi} rejections on a stack of {n} frames; an "
                    f"element is never emptied, so nothing is rejected (n_min + n_max must be "
                    f"below {n})"
                )
        elif (
            isinstance(rule, SigClip)
            and rule.stdfunc == "std"
            and rule.clip_cen in (None, rule.cenfunc)  # the bound holds about one centre
        ):
            reach = _largest_deviation(rule, n)
            sigma = min(rule.sigma)
            if sigma >= reach:
                warn(
                    f"SigClip(sigma={sigma:g}, cenfunc={rule.cenfunc!r}, ddof={rule.ddof}) cannot "
                    f"reject anything on a stack of {n} frames: no sample can lie more than "
                    f"{reach:.4g} spreads from the centre there (sigma must be below {reach:.4g}, "
                    f"or use more frames or stdfunc='mad')"
                )


def core_rule(rule: Rejector, zero: np.ndarray | None, scale: np.ndarray | None) -> Rejector:
    """The rule as the core reads it: a CCD noise model follows the zero/scale correction."""
    if isinstance(rule, CcdClip):
        zero_ref, scale_ref, rdnoise = rule.noise_terms(zero, scale)
        return dataclasses.replace(rule, zero_ref=zero_ref, scale_ref=scale_ref, rdnoise=rdnoise)
    return rule


def values(stack: Stack) -> np.ndarray:
    """The stack's values in native byte order (a copy only for byte-swapped input)."""
    return stack.array.byteswap() if stack.swapped else stack.array


def usable(
    stack: Stack, mask: np.ndarray | None, thresholds: tuple[float, float] | None
) -> np.ndarray:
    """bool (N, *spatial): samples that are finite, unmasked and within the thresholds."""
    data = values(stack)
    ok = np.isfinite(data) if data.dtype.kind == "f" else np.ones(data.shape, dtype=bool)
    if mask is not None:
        ok &= ~mask.view(bool)
    if thresholds is not None:
        ok &= (data >= thresholds[0]) & (data <= thresholds[1])
    return ok


def grow(mask_rej: np.ndarray, radius: float) -> np.ndarray:
    """Grow a boolean (N, *spatial) mask spatially by an exact Euclidean radius."""
    grown = _core.grow_mask(
        np.ascontiguousarray(mask_rej).view(np.uint8), float(radius), threads=get_num_threads()
    )
    return grown.view(bool)
