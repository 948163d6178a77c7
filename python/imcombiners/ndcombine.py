"""The compact one-call wrapper."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _plan
from ._validation import as_mask, as_stack
from .registry import RULES, rule_class
from .rejectors import Rejector

#: ``reject=`` names and the rule each builds (read from `imcombiners.registry`).
REJECT_NAMES: dict[str, type[Rejector]] = {name: entry.cls for name, entry in RULES.items()}


def _rule(reject: str, options: dict[str, Any]) -> Rejector:
    cls = rule_class(reject)
    fields = set(cls.__dataclass_fields__)
    given = {k: v for k, v in options.items() if v is not None}
    unused = set(given) - fields
    if unused:
        raise ValueError(f"reject={reject!r} does not take {sorted(unused)}")
    return cls(**given)


def ndcombine(
    stack: Any,
    *,
    combine: str = "mean",
    reject: str | None = None,
    mask: Any = None,
    thresholds: Any = None,
    zero: Any = None,
    scale: Any = None,
    weights: Any = None,
    ddof: int = 0,
    grow: float | None = None,
    stat_region: Any = None,
    normalize: bool = True,
    sigma: float | tuple[float, float] | None = None,
    maxiters: int | None = None,
    cenfunc: str | None = None,
    stdfunc: str | None = None,
    nkeep: int | None = None,
    maxrej: int | None = None,
    revert_on_nkeep: bool | None = None,
    gain: float | None = None,
    rdnoise: float | None = None,
    snoise: float | None = None,
    zero_ref: float | None = None,
    scale_ref: float | None = None,
    low_scale: float | None = None,
    low: float | None = None,
    upp_scale: float | None = None,
    upp: float | None = None,
    n_min: float | None = None,
    n_max: float | None = None,
    keep_ties: bool | None = None,
    frac: float | None = None,
    **rule_options: Any,
) -> np.ndarray:
    """Combine a stack along axis 0 in one call, with optional rejection.

    Gives the same numbers as ``Combiner(stack, mask).combine(combine, rejectors=rule, ...)``
    with ``rule`` built from ``reject`` and the rule's options (an option left at None takes
    the rule's default). When nothing but the method is given, ``lmedian``, ``min`` and
    ``max`` of an integer stack keep its dtype.

    Parameters
    ----------
    stack : array_like of shape (N, *spatial)
        The frames.
    combine : str, default "mean"
        The combine method (see `Combiner.combine`); case-insensitive.
    reject : {None, "sigclip", "ccdclip", "linearclip", "minmax", "pclip"}, default None
        The rejection rule.
    mask : array_like of bool and shape (N, *spatial), optional
        True where a sample must not be used.
    thresholds : (float, float), optional
        Samples outside ``[low, high]`` are not used.
    zero, scale : None, number, sequence of N numbers, str or callable, optional
        Per-frame correction ``(x - zero_i) / scale_i`` (after the thresholds): numbers, or a
        statistic of each frame (see `imcombiners.resolve_zero_scale`).
    weights : array_like of shape (N,) or {"mean", "median", "mode"}, optional
        One weight per frame for the weighted average (see `Combiner.combine`).
    ddof : int, default 0
        Delta degrees of freedom, of ``sigclip``'s spread and of ``variance``.
    grow : float, optional
        Grow radius of the rejection.
    stat_region : tuple of slice, optional
        Region of each frame the zero/scale/weight statistics use.
    normalize : bool, default True
        Statistics relative to the first frame.
    sigma, maxiters, cenfunc, stdfunc, nkeep, maxrej, revert_on_nkeep, gain, rdnoise, snoise,
    zero_ref, scale_ref, low_scale, low, upp_scale, upp, n_min, n_max, keep_ties, frac
        Options of the chosen rule (see `SigClip`, `CcdClip`, `LinearClip`, `MinMaxClip`,
        `PClip`).
    **rule_options
        Options of other rules in `imcombiners.registry`, by their field names.

    Returns
    -------
    ndarray of shape (*spatial)

    Examples
    --------
    >>> imc.ndcombine(np.array([[2, 7], [5, 1]], dtype="uint16"), combine="lmed")
    array([2, 1], dtype=uint16)
    >>> x = np.array([[10.0], [11.0], [9.0], [10.0], [500.0]])
    >>> imc.ndcombine(x, combine="mean", reject="minmax", n_min=0, n_max=1)
    array([10.])
    """
    known = {f for entry in RULES.values() for f in entry.fields}
    odd = sorted(set(rule_options) - known)
    if odd:
        raise TypeError(f"ndcombine() got unexpected keyword arguments: {odd}")
    options = {
        "sigma": sigma,
        "maxiters": maxiters,
        "cenfunc": cenfunc,
        "stdfunc": stdfunc,
        "nkeep": nkeep,
        "maxrej": maxrej,
        "revert_on_nkeep": revert_on_nkeep,
        "gain": gain,
        "rdnoise": rdnoise,
        "snoise": snoise,
        "zero_ref": zero_ref,
        "scale_ref": scale_ref,
        "low_scale": low_scale,
        "low": low,
        "upp_scale": upp_scale,
        "upp": upp,
        "n_min": n_min,
        "n_max": n_max,
        "keep_ties": keep_ties,
        "frac": frac,
        **rule_options,
    }
    rules: list[Rejector] = []
    if reject is None:
        given = sorted(k for k, v in options.items() if v is not None)
        if given:
            raise ValueError(f"{given} are rejection options, but reject=None")
    else:
        if "ddof" in rule_class(reject).__dataclass_fields__:
            options["ddof"] = ddof  # one ddof: the rule's spread and the variance method
        rules = [_rule(reject, options)]
    s = as_stack(stack, name="stack")
    m = as_mask(mask, s)
    plan = _plan.build(
        s,
        m,
        method=combine,
        rejectors=rules,
        weights=weights,
        ddof=ddof,
        thresholds=thresholds,
        zero=zero,
        scale=scale,
        grow=grow,
        stat_region=stat_region,
        normalize=normalize,
        keep_dtype=True,
        method_param="combine",
    )
    return _plan.execute(plan, s, m).combined
