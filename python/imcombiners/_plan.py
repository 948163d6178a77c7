"""The combine plan: every entry point resolves its options into one `Plan` and runs it here.

`Combiner.combine`, `ndcombine`, the ``<rule>_combine`` kernels, `combine_files` (band by band)
and `combine_ccddata` all state what they want as a `Plan` (built by `build`) and call
`execute`. The rules about methods, weights and ``ddof`` are therefore written once, here, and
the three ways of running a plan are chosen here too:

- **plain**: no rejection, thresholds, grow or correction: one reduction in the core;
- **fused**: rejection and combine in one pass of the core, no per-sample mask (the fast path);
- **chained**: a rejection step that keeps its per-sample mask and diagnostics (asked for with
  ``diagnostics``, or needed by ``grow``), then the combine of the survivors. With ``grow``, the
  step and the combine still run as one pass; only the output elements that grow changed are
  combined again, so grow costs about what the grown samples cost.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from . import _core, _rejection, _variance, normalization
from ._rejection import RejectResult
from ._threads import get_num_threads
from ._validation import (
    SAMPLE_SELECTING,
    Stack,
    as_weights,
    method_name,
    nonnegative_int,
    real,
    thresholds_pair,
)
from .flags import OutputFlags, SampleFlags
from .rejectors import Rejector

#: The diagnostics levels of a rejection step.
DIAGNOSTICS = (None, "simple", "full")


def diagnostics_level(value: Any) -> str | None:
    """A valid ``diagnostics`` value (None, "simple" or "full")."""
    if value not in DIAGNOSTICS:
        raise ValueError(f"diagnostics must be None, 'simple' or 'full', got {value!r}")
    return value


def grow_radius(grow: Any) -> float | None:
    """A valid ``grow`` radius (None: no grow)."""
    return None if grow is None else real(grow, name="grow", low=0.0)


def step_grow(rules: Sequence[Rejector], grow: float | None) -> float | None:
    """The grow radius of a rejection step: ``grow=`` or the rules' own (they must agree)."""
    radii = {r.grow for r in rules if getattr(r, "grow", None) is not None}
    if grow is not None:
        radii.add(grow)
    if len(radii) > 1:
        raise ValueError(
            f"grow: the rules and grow= give different radii {sorted(radii)}; one grow radius "
            f"applies to a rejection step"
        )
    return radii.pop() if radii else None


def check_variance_rules(rules: Sequence[Rejector], variance: np.ndarray | None) -> None:
    """Rules that read the variance plane need one."""
    if variance is not None:
        return
    for rule in rules:
        if rule.needs_variance:
            raise ValueError(
                f"{type(rule).__name__} tests each sample against its own variance: give "
                f"variance= (an array of the stack's shape or one value per frame)"
            )


def weighted_method(method: str, weights: Any, *, name: str = "method") -> str:
    """The method a combine runs once ``weights`` are known.

    ``mean`` with weights is the weighted average; weights go with no other method, and the
    weighted average needs them. ``name`` is the caller's parameter name for the method.
    """
    if weights is not None and method == "mean":
        return "weighted_average"
    if weights is not None and method != "weighted_average":
        raise ValueError(
            f"weights are used only by the (weighted) average ({name}='mean' or "
            f"'weighted_average'), not by {name}={method!r}"
        )
    if method == "weighted_average" and weights is None:
        raise ValueError(f"weights are required for {name}='weighted_average' (one per frame)")
    return method


@dataclass(frozen=True)
class Plan:
    """A resolved combine: every option validated, every statistic measured.

    Attributes
    ----------
    method : str
        The canonical combine method, ``weighted_average`` when weights are given; None for a
        rejection step without a combine.
    rules : tuple of Rejector
        The rejection rules, applied in order.
    weights : ndarray of shape (N,) or None
        Per-frame weights of the weighted average.
    ddof : int
        Delta degrees of freedom of the ``variance`` method.
    thresholds : (float, float) or None
        Samples outside ``[low, high]`` are not used.
    zero, scale : ndarray of shape (N,) or None
        The per-frame correction ``(x - zero_i) / scale_i``.
    grow : float or None
        Grow radius of the rejection.
    diagnostics : {None, "simple", "full"}
        What the rejection step keeps: nothing (None), its mask and per-element diagnostics
        ("simple"), and also the per-sample flags ("full").
    keep_dtype : bool
        Sample-selecting methods of an unmasked integer stack keep its dtype (plain path).
    variance : ndarray of shape (N, *spatial) or None
        The input variance plane (`imcombiners._variance.as_variance`): the combine also gives
        the propagated variance, and `VarClip` can run.
    ivar : bool
        Inverse-variance weights (``weights="ivar"``): the value is the weighted mean with
        weights ``1 / v_i`` over the survivors.
    """

    method: str | None
    rules: tuple[Rejector, ...] = ()
    weights: np.ndarray | None = None
    ddof: int = 0
    thresholds: tuple[float, float] | None = None
    zero: np.ndarray | None = None
    scale: np.ndarray | None = None
    grow: float | None = None
    diagnostics: str | None = None
    keep_dtype: bool = False
    variance: np.ndarray | None = None
    ivar: bool = False

    @property
    def corrected(self) -> bool:
        """True when a zero/scale correction applies."""
        return self.zero is not None or self.scale is not None

    @property
    def chained(self) -> bool:
        """True when the rejection runs as a step that keeps its mask and diagnostics."""
        return bool(self.rules or self.grow is not None) and (
            self.diagnostics is not None or self.grow is not None
        )

    @property
    def plain(self) -> bool:
        """True when nothing but the reduction is asked for."""
        return not (self.rules or self.thresholds or self.grow is not None or self.corrected)


def build(
    stack: Stack,
    mask: np.ndarray | None,
    *,
    method: Any = "mean",
    rejectors: Any = None,
    weights: Any = None,
    ddof: Any = 0,
    thresholds: Any = None,
    zero: Any = None,
    scale: Any = None,
    grow: Any = None,
    diagnostics: Any = None,
    stat_region: Any = None,
    normalize: Any = True,
    stat_sigma: Any = 3.0,
    stat_maxiters: Any = 5,
    keep_dtype: bool = False,
    variance: Any = None,
    method_param: str = "method",
    rejectors_param: str = "rejectors",
) -> Plan:
    """Validate the options of a combine and measure its statistics.

    Parameters
    ----------
    stack, mask
        The validated stack and its uint8 mask (None: nothing masked); statistics skip the
        masked samples.
    method, rejectors, weights, ddof, thresholds, zero, scale, grow, diagnostics, stat_region,
    normalize
        As in `Combiner.combine`.
    stat_sigma, stat_maxiters
        The clipping of the ``sigclip_*`` statistics (see `imcombiners.resolve_zero_scale`).
    keep_dtype : bool
        As in `ndcombine` (plain path only).
    variance : array_like, optional
        The input variance plane (see `imcombiners._variance.as_variance`).
    method_param, rejectors_param : str
        The caller's names of the method and rejectors parameters, for error messages.

    Returns
    -------
    Plan
    """
    name = method_name(method, name=method_param)
    level = diagnostics_level(diagnostics)
    ddof = nonnegative_int(ddof, name="ddof")
    rules = tuple(_rejection.as_rejector_list(rejectors, name=rejectors_param))
    thresholds = thresholds_pair(thresholds)
    radius = step_grow(rules, grow_radius(grow))
    var = None if variance is None else _variance.as_variance(variance, stack)
    ivar = isinstance(weights, str) and weights.lower() == "ivar"
    if ivar:
        if var is None:
            raise ValueError(
                "weights='ivar' needs variance= (each sample's weight is 1 / its variance)"
            )
        if name not in ("mean", "weighted_average"):
            raise ValueError(
                f"weights='ivar' is used only by the mean ({method_param}='mean'), not by "
                f"{method_param}={name!r}"
            )
        name, weights = "mean", None
    check_variance_rules(rules, var)
    options = normalization.stat_options(
        stack,
        stat_region=stat_region,
        normalize=normalize,
        sigma=stat_sigma,
        maxiters=stat_maxiters,
    )
    resolved = normalization.resolve(stack, mask, thresholds, zero, scale, weights, options)
    if resolved.weights is not None:
        weights = resolved.weights
    name = weighted_method(name, weights, name=method_param)
    if name == "weighted_average":
        weights = as_weights(weights, stack.array.shape[0])
    return Plan(
        method=name,
        rules=rules,
        weights=weights,
        ddof=ddof,
        thresholds=thresholds,
        zero=resolved.zero,
        scale=resolved.scale,
        grow=radius,
        diagnostics=level,
        keep_dtype=keep_dtype,
        variance=var,
        ivar=ivar,
    )


class Step(NamedTuple):
    """What a chained rejection step found."""

    result: RejectResult
    """The seeds' 6-tuple (``mask_rej`` includes the grown samples)."""
    mask: np.ndarray
    """uint8 (N, *spatial): samples not used from now on (the mask before the step, every
    rejection, and the samples outside the thresholds)."""
    sample_flags: np.ndarray | None
    """uint8 (N, *spatial): `SampleFlags` bits (``diagnostics="full"`` only)."""
    auto_choice: np.ndarray | None = None
    """uint8 (*spatial): the rule the step's first `AutoReject` chose per element (codes of
    ``AutoReject.CHOICES``); None without one."""


class Outcome(NamedTuple):
    """The result of `execute`."""

    combined: np.ndarray | None
    """The combined image (None for a plan without a method)."""
    step: Step | None
    """The rejection step (chained path only)."""
    variance: np.ndarray | None = None
    """The propagated variance of ``combined`` (plans with an input variance plane only)."""


def execute(
    plan: Plan,
    stack: Stack,
    mask: np.ndarray | None,
    *,
    input_mask: np.ndarray | None = None,
) -> Outcome:
    """Run ``plan`` on ``stack`` whose unusable samples ``mask`` (uint8) marks.

    ``input_mask`` is the caller's own mask, where it differs from ``mask`` by earlier
    rejections (the INPUT_MASK and PREVIOUS bits of the sample flags).
    """
    if plan.variance is None:
        if plan.chained:
            return _chained(plan, stack, mask, input_mask)
        if plan.plain:
            return Outcome(_reduce(plan, stack, mask), None)
        _rejection.warn_if_inert(plan.rules, stack.array.shape[0])
        return Outcome(_core_reject(plan, stack, mask, combine=True)["combined"], None)
    return _with_variance(plan, stack, mask, input_mask)


def with_bad_variance(plan: Plan, mask: np.ndarray | None) -> np.ndarray | None:
    """``mask`` with the samples of unusable variance added (uint8; ``mask`` itself when the
    plan has no variance plane or every variance is usable)."""
    bad = None if plan.variance is None else _variance.unusable(plan.variance)
    if bad is None:
        return mask
    return (bad if mask is None else (mask.view(bool) | bad)).view(np.uint8)


def _with_variance(
    plan: Plan, stack: Stack, mask: np.ndarray | None, input_mask: np.ndarray | None
) -> Outcome:
    """`execute` for a plan with an input variance plane: the combine, then the propagation
    of the variance through the samples it used."""
    mask = with_bad_variance(plan, mask)
    step = None
    if plan.chained:
        got = _chained(plan, stack, mask, input_mask)
        combined, step = got.combined, got.step
        assert step is not None
        used = step.mask
    elif plan.plain:
        combined = None if plan.ivar or plan.method is None else _reduce(plan, stack, mask)
        used = mask
    elif plan.method is not None and all(r.in_core for r in plan.rules):
        # The fused pass propagates the variance through the survivors itself.
        _rejection.warn_if_inert(plan.rules, stack.array.shape[0])
        out = _core_reject(plan, stack, mask, combine=True, propagate=True)
        combined = out["value"] if plan.ivar else out["combined"]
        return Outcome(combined, None, out["variance"])
    else:
        _rejection.warn_if_inert(plan.rules, stack.array.shape[0])
        combine = plan.method is not None and not plan.ivar
        out = _core_reject(plan, stack, mask, combine=combine, return_mask=True)
        combined = out.get("combined")
        rejected = out["mask"].view(bool)
        used_bool = rejected if mask is None else (rejected | mask.view(bool))
        if plan.thresholds is not None:
            used_bool = used_bool | outside(stack, plan.thresholds)
        used = used_bool.view(np.uint8)
    if plan.method is None:
        return Outcome(None, step)
    var, value = propagate(plan, stack, used)
    return Outcome(value if plan.ivar else combined, step, var)


def propagate(
    plan: Plan, stack: Stack, used: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The propagated variance of the plan's combine of the samples ``used`` leaves (uint8 mask,
    1 = not used), and for inverse-variance weights the weighted mean itself (else None)."""
    assert plan.variance is not None
    assert plan.method is not None
    method = "ivar" if plan.ivar else plan.method
    got = _core.propagate_variance(
        stack.array,
        plan.variance,
        method,
        mask=used,
        weights=plan.weights if method == "weighted_average" else None,
        ddof=float(plan.ddof),
        zero=plan.zero,
        scale=plan.scale,
        swapped=stack.swapped,
        threads=get_num_threads(),
    )
    return got if plan.ivar else (got, None)


def reject(
    plan: Plan,
    stack: Stack,
    mask: np.ndarray | None,
    *,
    input_mask: np.ndarray | None = None,
) -> Step:
    """Run only the rejection step of ``plan`` (its method is ignored); as `execute`."""
    mask = with_bad_variance(plan, mask)
    return _step(plan, stack, mask, input_mask, combine=False)[0]


def rejected_mask(plan: Plan, stack: Stack, mask: np.ndarray | None) -> np.ndarray:
    """bool (N, *spatial): the samples the plan's rules reject (grown, with a grow radius)."""
    _rejection.warn_if_inert(plan.rules, stack.array.shape[0])
    mask = with_bad_variance(plan, mask)
    rejected = _core_reject(plan, stack, mask, combine=False, return_mask=True)["mask"].view(bool)
    if plan.grow is None:
        return rejected
    grown = _rejection.grow(rejected, plan.grow)
    return rejected | (grown & _rejection.usable(stack, mask, plan.thresholds))


def variance(
    stack: Stack,
    mask: np.ndarray | None,
    *,
    ddof: int,
    return_mean: bool = False,
    zero: np.ndarray | None = None,
    scale: np.ndarray | None = None,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Variance (and mean) of the samples ``mask`` leaves, after an optional correction."""
    if zero is None and scale is None:
        return _core.variance(
            stack.array,
            ddof=float(ddof),
            return_mean=return_mean,
            mask=mask,
            swapped=stack.swapped,
            threads=get_num_threads(),
        )
    plan = Plan(method="variance", ddof=ddof, zero=zero, scale=scale)
    var = combine_masked(plan, stack, mask)
    if not return_mean:
        return var
    mean = combine_masked(Plan(method="mean", zero=zero, scale=scale), stack, mask)
    return var, mean


def combine_masked(plan: Plan, stack: Stack, mask: np.ndarray | None) -> np.ndarray:
    """Combine the samples ``mask`` leaves (after the plan's thresholds and correction)."""
    if plan.corrected:
        return _core_reject(_without_rules(plan), stack, mask, combine=True)["combined"]
    if plan.thresholds is not None:
        out = outside(stack, plan.thresholds)
        mask = (out if mask is None else (mask.view(bool) | out)).view(np.uint8)
    return _reduce(_without_rules(plan), stack, mask)


def _without_rules(plan: Plan) -> Plan:
    return Plan(
        method=plan.method,
        weights=plan.weights,
        ddof=plan.ddof,
        thresholds=plan.thresholds,
        zero=plan.zero,
        scale=plan.scale,
    )


def _reduce(plan: Plan, stack: Stack, mask: np.ndarray | None) -> np.ndarray:
    """A plain reduction in the core (no thresholds or correction)."""
    threads = get_num_threads()
    if plan.method == "variance":
        return variance(stack, mask, ddof=plan.ddof)
    keep = plan.keep_dtype and mask is None and plan.method in SAMPLE_SELECTING
    return _core.combine(
        stack.array,
        plan.method,
        mask=mask,
        weights=plan.weights,
        swapped=stack.swapped,
        keep_dtype=keep,
        threads=threads,
    )


def _core_reject(
    plan: Plan,
    stack: Stack,
    mask: np.ndarray | None,
    *,
    combine: bool,
    diagnostics: bool = False,
    return_mask: bool = False,
    frame_counts: bool = False,
    propagate: bool = False,
) -> dict[str, Any]:
    """One pass of the core's fused reject-and-combine (rules of the user's own: see
    `_with_own_rules`); with ``propagate``, also the propagated variance of the plan's variance
    plane (``variance``, and ``value`` for inverse-variance weights)."""
    if not all(r.in_core for r in plan.rules):
        return _with_own_rules(
            plan,
            stack,
            mask,
            combine=combine,
            diagnostics=diagnostics,
            frame_counts=frame_counts,
        )
    return _core.reject(
        stack.array,
        [_rejection.core_rule(r, plan.zero, plan.scale) for r in plan.rules],
        combine=plan.method if combine else None,
        mask=mask,
        weights=plan.weights if combine and plan.method == "weighted_average" else None,
        thresholds=plan.thresholds,
        zero=plan.zero,
        scale=plan.scale,
        ddof=float(plan.ddof),
        diagnostics=diagnostics,
        return_mask=return_mask,
        frame_counts=frame_counts,
        variance=plan.variance if propagate else None,
        propagate=("ivar" if plan.ivar else plan.method) if propagate else None,
        swapped=stack.swapped,
        threads=get_num_threads(),
    )


def _with_own_rules(
    plan: Plan,
    stack: Stack,
    mask: np.ndarray | None,
    *,
    combine: bool,
    diagnostics: bool,
    frame_counts: bool,
) -> dict[str, Any]:
    """`_core_reject` for a chain holding rules that do not run on sorted values in the core:
    `VarClip` (its own kernel, per sample) and rules of the user's own (`Rejector.bounds`).

    The rules run one after the other, each on the survivors of the ones before (the core's
    chain semantics): built-in rules in the core, `VarClip` in its kernel, the others element
    by element in Python. Returns the core's keys; ``std`` only when the last rule is a
    built-in rule with a spread; ``nit`` and ``flags`` count `VarClip`'s passes and flags
    (other rules in such a chain count one pass where anything was usable).
    """
    n = stack.array.shape[0]
    usable = _rejection.usable(stack, mask, plan.thresholds)
    rejected = np.zeros(usable.shape, dtype=bool)
    last: dict[str, Any] = {}
    passes: list[np.ndarray] = []
    for rule in plan.rules:
        current = (~usable | rejected).view(np.uint8)
        one = Plan(method=None, rules=(rule,), zero=plan.zero, scale=plan.scale)
        if rule.in_core:
            last = _core_reject(
                one, stack, current, combine=False, diagnostics=diagnostics, return_mask=True
            )
            rejected |= last["mask"].view(bool)
        elif rule.needs_variance:
            last = {}
            got = _core.varclip(
                stack.array,
                plan.variance,
                rule,
                mask=current,
                zero=plan.zero,
                scale=plan.scale,
                swapped=stack.swapped,
                threads=get_num_threads(),
            )
            rejected |= got["mask"].view(bool)
            passes.append(got)
        else:
            last = {}
            rejected |= _own_rule_mask(rule, _corrected(stack, plan), usable & ~rejected)
    out: dict[str, Any] = {"mask": rejected.view(np.uint8)}
    if diagnostics:
        kept = usable & ~rejected
        values = np.where(kept, _corrected(stack, plan), np.nan)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN elements stay NaN
            out["low"] = np.nanmin(values, axis=0).astype(stack.work_dtype)
            out["upp"] = np.nanmax(values, axis=0).astype(stack.work_dtype)
        out["nit"] = np.where(usable.any(axis=0), 1, 0).astype(np.int32)
        premasked = ~usable.all(axis=0)
        out["flags"] = (premasked * np.uint8(OutputFlags.PREMASKED)).astype(np.uint8)
        if passes:
            out["nit"] = np.sum([got["nit"] for got in passes], axis=0, dtype=np.int32)
            for got in passes:
                out["flags"] |= got["flags"]
        if "std" in last:
            out["std"] = last["std"]
    if combine:
        final = rejected if mask is None else (rejected | mask.view(bool))
        out["combined"] = combine_masked(_without_rules(plan), stack, final.view(np.uint8))
    if frame_counts:
        axes = tuple(range(1, usable.ndim))
        out["frame_valid"] = np.count_nonzero(usable, axis=axes).astype(np.uint64).reshape(n)
        out["frame_rejected"] = np.count_nonzero(rejected, axis=axes).astype(np.uint64).reshape(n)
    return out


def _corrected(stack: Stack, plan: Plan) -> np.ndarray:
    """The stack's values after the zero/scale correction, float64."""
    values = _rejection.values(stack).astype(np.float64)
    shape = (-1,) + (1,) * (values.ndim - 1)
    if plan.zero is not None:
        values -= plan.zero.reshape(shape)
    if plan.scale is not None:
        values /= plan.scale.reshape(shape)
    return values


def _own_rule_mask(rule: Rejector, values: np.ndarray, use: np.ndarray) -> np.ndarray:
    """bool (N, *spatial): what a rule of the user's own rejects, element by element."""
    n = values.shape[0]
    flat_values = values.reshape(n, -1)
    flat_use = use.reshape(n, -1)
    out = np.zeros(flat_use.shape, dtype=bool)
    for p in np.flatnonzero(flat_use.any(axis=0)):
        col, ok = flat_values[:, p], flat_use[:, p]
        bounds = rule.bounds(np.sort(col[ok]))
        try:
            low, high = (float(b) for b in bounds)
        except (TypeError, ValueError):
            raise TypeError(
                f"{type(rule).__name__}.bounds must return two numbers (low, high), got {bounds!r}"
            ) from None
        out[:, p] = ok & ((col < low) | (col > high))
    return out.reshape(use.shape)


def fused_with_counts(
    plan: Plan, stack: Stack, mask: np.ndarray | None
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], np.ndarray | None]:
    """The fused path, also counting each frame's rejected and usable samples in the core, and
    with a variance plane the propagated variance (else None).

    Used band by band, so it does not warn about inert rules: its caller does, once. Rules
    that are not all in the core (`VarClip`, rules of one's own) need the chained path when
    the plan has a variance plane.
    """
    mask = with_bad_variance(plan, mask)
    ride = plan.variance is not None
    if ride and not all(r.in_core for r in plan.rules):
        raise ValueError("fused_with_counts: these rules propagate a variance only when chained")
    got = _core_reject(plan, stack, mask, combine=True, frame_counts=True, propagate=ride)
    counts = (got["frame_rejected"].astype(np.int64), got["frame_valid"].astype(np.int64))
    if not ride:
        return got["combined"], counts, None
    return (got["value"] if plan.ivar else got["combined"]), counts, got["variance"]


def _chained(
    plan: Plan, stack: Stack, mask: np.ndarray | None, input_mask: np.ndarray | None
) -> Outcome:
    step, combined, changed = _step(plan, stack, mask, input_mask, combine=plan.method is not None)
    if plan.method is None:
        return Outcome(None, step)
    if combined is None:
        return Outcome(combine_masked(plan, stack, step.mask), step)
    if changed is not None and changed.any():
        _recombine(plan, stack, step.mask, combined, changed)
    return Outcome(combined, step)


def _recombine(
    plan: Plan, stack: Stack, mask: np.ndarray, combined: np.ndarray, changed: np.ndarray
) -> None:
    """Combine again, in place, the output elements where grow removed samples."""
    n = stack.array.shape[0]
    flat = np.flatnonzero(changed)
    # A contiguous (N, k) stack of the affected elements only.
    cols = np.take(stack.array.reshape(n, -1), flat, axis=1)
    sub_mask = np.take(mask.reshape(n, -1), flat, axis=1)
    columns = stack._replace(array=cols, masked=None)
    combined.reshape(-1)[flat] = combine_masked(plan, columns, sub_mask)


def _step(
    plan: Plan,
    stack: Stack,
    mask: np.ndarray | None,
    input_mask: np.ndarray | None,
    *,
    combine: bool,
) -> tuple[Step, np.ndarray | None, np.ndarray | None]:
    """The rejection step; with ``combine`` and grow, also the combine of the same pass.

    Returns the step, the combined image (None when not computed) and the boolean map of the
    output elements grow changed (None without grow).
    """
    rules = list(plan.rules)
    _rejection.warn_if_inert(rules, stack.array.shape[0])
    fuse = combine and plan.grow is not None
    out = _core_reject(plan, stack, mask, combine=fuse, diagnostics=True, return_mask=True)
    plain = out["mask"].view(bool)
    mask_rej, flags, changed = plain, out["flags"], None
    if plan.grow is not None:
        grown = _rejection.grow(plain, plan.grow)
        # Grown samples count only where they were still in use.
        added = grown & ~plain & _rejection.usable(stack, mask, plan.thresholds)
        mask_rej = plain | added
        changed = np.any(added, axis=0)
        flags = flags | (changed.astype(np.uint8) * np.uint8(OutputFlags.GROW))
    std = out.get("std") if rules and rules[-1].has_spread else None
    result = RejectResult(mask_rej, std, out["low"], out["upp"], out["nit"], flags)
    new = mask_rej if mask is None else (mask.view(bool) | mask_rej)
    if plan.thresholds is not None:
        # Samples outside the thresholds stay out of every later combine too.
        new = new | outside(stack, plan.thresholds)
    sample_flags = None
    if plan.diagnostics == "full":
        sample_flags = _sample_flags(stack, plan, mask, input_mask, plain, mask_rej)
    step = Step(result, new.view(np.uint8), sample_flags, _auto_choice(plan, stack, mask))
    return step, out.get("combined") if fuse else None, changed


def _auto_choice(plan: Plan, stack: Stack, mask: np.ndarray | None) -> np.ndarray | None:
    """The choice of the step's first `AutoReject` per element, from the number of samples it
    received (the usable ones, less what the rules before it rejected)."""
    at = next((k for k, r in enumerate(plan.rules) if r.kind == "auto"), None)
    if at is None:
        return None
    usable = _rejection.usable(stack, with_bad_variance(plan, mask), plan.thresholds)
    if at > 0:
        before = Plan(
            method=None,
            rules=plan.rules[:at],
            thresholds=plan.thresholds,
            zero=plan.zero,
            scale=plan.scale,
            variance=plan.variance,
        )
        usable &= ~rejected_mask(before, stack, mask)
    rule = plan.rules[at]
    return rule.codes(np.count_nonzero(usable, axis=0))  # type: ignore[attr-defined]


def outside(stack: Stack, thresholds: tuple[float, float]) -> np.ndarray:
    """bool (N, *spatial): finite samples outside the closed thresholds interval."""
    data = _rejection.values(stack)
    return (data < thresholds[0]) | (data > thresholds[1])


def _sample_flags(
    stack: Stack,
    plan: Plan,
    before: np.ndarray | None,
    input_mask: np.ndarray | None,
    plain: np.ndarray,
    mask_rej: np.ndarray,
) -> np.ndarray:
    """Per-sample `SampleFlags` of one step."""
    data = _rejection.values(stack)
    flags = np.zeros(data.shape, dtype=np.uint8)
    if input_mask is not None:
        flags |= input_mask.view(bool) * np.uint8(SampleFlags.INPUT_MASK)
    if data.dtype.kind == "f":
        flags |= ~np.isfinite(data) * np.uint8(SampleFlags.NONFINITE)
    if plan.thresholds is not None:
        outside = (data < plan.thresholds[0]) | (data > plan.thresholds[1])
        flags |= outside * np.uint8(SampleFlags.THRESHOLD)
    bad = None if plan.variance is None else _variance.unusable(plan.variance)
    if bad is not None:
        flags |= bad * np.uint8(SampleFlags.BAD_VARIANCE)
    # PREVIOUS: not usable when this step started (input mask, non-finite, thresholds, bad
    # variance, or an earlier step).
    entry = (flags & np.uint8(SampleFlags.INPUT_MASK | SampleFlags.NONFINITE)) != 0
    entry |= (flags & np.uint8(SampleFlags.THRESHOLD | SampleFlags.BAD_VARIANCE)) != 0
    if before is not None:
        entry |= before.view(bool)
    flags |= entry * np.uint8(SampleFlags.PREVIOUS)
    # Samples the rules themselves rejected versus those grow added.
    flags |= plain * np.uint8(SampleFlags.REJECTED)
    flags |= (mask_rej & ~plain) * np.uint8(SampleFlags.GROW)
    return flags
