"""The compact one-call wrapper."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from . import _plan
from ._validation import as_mask, as_stack
from ._variance import plane_of
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
    clip_cen: str | None = None,
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
    diagnostics: str | None = None,
    variance: Any = None,
    return_variance: bool = False,
    weight: Any = None,
    n_minmax: Any = None,
    pclip: float | None = None,
    zero_to_0th: bool | None = None,
    scale_to_0th: bool | None = None,
    zero_sigclip_kwargs: dict[str, Any] | None = None,
    scale_sigclip_kwargs: dict[str, Any] | None = None,
    full: bool = False,
    validate: bool = True,
    **rule_options: Any,
) -> np.ndarray | tuple[Any, ...]:
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
    reject : str, optional
        The rejection rule by its name in `imcombiners.registry` (``"sigclip"``, ``"ccdclip"``,
        ``"linearclip"``, ``"minmax"``, ``"pclip"``, ``"varclip"``, ``"winsorized"``,
        ``"biweight"``, ``"percentile"``, ``"gesd"``, ``"linearfit"``, ``"auto"``); None: no
        rejection.
    mask : array_like of bool and shape (N, *spatial), optional
        True where a sample must not be used.
    thresholds : (float, float), optional
        Samples outside ``[low, high]`` are not used.
    zero, scale : None, number, sequence of N numbers, str or callable, optional
        Per-frame correction ``(x - zero_i) / scale_i`` (after the thresholds): numbers, or a
        statistic of each frame (see `imcombiners.resolve_zero_scale`).
    weights : array_like of shape (N,) or {"mean", "median", "mode", "ivar"}, optional
        One weight per frame for the weighted average (see `Combiner.combine`); ``"ivar"``
        weights each sample by its inverse variance (needs ``variance``).
    ddof : int, default 0
        Delta degrees of freedom, of ``sigclip``'s spread and of ``variance``.
    grow : float, optional
        Grow radius of the rejection.
    stat_region : tuple of slice, optional
        Region of each frame the zero/scale/weight statistics use.
    normalize : bool, default True
        Statistics relative to the first frame.
    sigma, maxiters, cenfunc, clip_cen, stdfunc, nkeep, maxrej, revert_on_nkeep, gain, rdnoise,
    snoise, zero_ref, scale_ref, low_scale, low, upp_scale, upp, n_min, n_max, keep_ties, frac
        Options of the chosen rule (see `SigClip`, `CcdClip`, `LinearClip`, `MinMaxClip`,
        `PClip`).
    diagnostics : {None, "simple", "full"}, default None
        None returns the image. ``"simple"`` returns ``(image, mask_rej, mask_thresh, std, low,
        upp, nit, output_flags)`` (see `Combiner.reject`; the rejection fields are None without
        ``reject``, ``mask_thresh`` is None without ``thresholds``); ``"full"`` appends the
        per-sample ``sample_flags``.
    variance : array_like or "ccd", optional
        The variance of every sample (the stack's shape) or one per frame (``(N,)``): the input
        of ``return_variance``, ``weights="ivar"`` and ``reject="varclip"``. Samples whose
        variance is NaN, infinite or negative are not used. ``"ccd"``: the CCD noise model of
        the raw values, ``(rdnoise / gain)**2 + max(x, 0) / gain + (snoise * x)**2``, with
        ``gain``, ``rdnoise`` (required) and ``snoise`` (which then also serve ``ccdclip``).
        See ``docs/uncertainty.md``.
    return_variance : bool, default False
        Also return the propagated variance of the result (needs ``variance``): ``(image,
        variance)``, or the diagnostics tuple with the variance appended.
    weight, n_minmax, pclip, zero_to_0th, scale_to_0th, zero_sigclip_kwargs,
    scale_sigclip_kwargs, full, validate
        imcombiners 0.1.1 spellings, accepted for compatibility (see ``docs/compatibility.md``):
        ``weights``; ``(n_min, n_max)``; ``frac``; ``normalize`` for zero and for scale;
        the clipping of the ``sigclip_*`` statistics (keys ``sigma`` and ``maxiters``; the
        statistics clip about the median with ``ddof=0``); ``diagnostics="simple"``.
        ``validate`` is accepted and ignored (arguments are always checked).
    **rule_options
        Options of other rules in `imcombiners.registry`, by their field names.

    Returns
    -------
    ndarray of shape (*spatial), or tuple
        The image; a tuple with ``diagnostics`` or ``return_variance``.

    Examples
    --------
    >>> imc.ndcombine(np.array([[2, 7], [5, 1]], dtype="uint16"), combine="lmed")
    array([2, 1], dtype=uint16)
    >>> x = np.array([[10.0], [12.0], [11.0]])
    >>> imc.ndcombine(x, variance=[4.0, 4.0, 1.0], return_variance=True)
    (array([11.]), array([1.]))
    >>> x = np.array([[10.0], [11.0], [9.0], [10.0], [500.0]])
    >>> imc.ndcombine(x, combine="mean", reject="minmax", n_min=0, n_max=1)
    array([10.])
    """
    weights, n_min, n_max, frac = _aliases(weights, weight, n_min, n_max, n_minmax, frac, pclip)
    if zero_to_0th is not None or scale_to_0th is not None:
        normalize = (
            normalize if zero_to_0th is None else zero_to_0th,
            normalize if scale_to_0th is None else scale_to_0th,
        )
    stat_sigma, stat_maxiters = _stat_clipping(zero_sigclip_kwargs, scale_sigclip_kwargs)
    if full and diagnostics is None:
        diagnostics = "simple"
    if not isinstance(return_variance, bool):
        raise TypeError(
            f"return_variance must be True or False, got {type(return_variance).__name__}"
        )
    if return_variance and variance is None:
        raise ValueError("return_variance=True needs variance= (the variance of every sample)")
    known = {f for entry in RULES.values() for f in entry.fields}
    odd = sorted(set(rule_options) - known)
    if odd:
        raise TypeError(f"ndcombine() got unexpected keyword arguments: {odd}")
    options = {
        "sigma": sigma,
        "maxiters": maxiters,
        "cenfunc": cenfunc,
        "clip_cen": clip_cen,
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
    noise_model = isinstance(variance, str)
    noise = {"gain": gain, "rdnoise": rdnoise, "snoise": snoise}
    if noise_model and (reject is None or "gain" not in rule_class(reject).__dataclass_fields__):
        for key in noise:  # the noise model's, not a rule's options
            options[key] = None
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
    if variance is not None:
        variance = plane_of(variance, s, **noise)
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
        stat_sigma=stat_sigma,
        stat_maxiters=stat_maxiters,
        diagnostics=diagnostics,
        keep_dtype=True,
        variance=variance,
        method_param="combine",
    )
    if plan.diagnostics is None:
        outcome = _plan.execute(plan, s, m)
        return (outcome.combined, outcome.variance) if return_variance else outcome.combined
    out = _with_diagnostics(plan, s, m)
    return (*out[:-1], out[-1]) if return_variance else out[:-1]


def _with_diagnostics(plan: _plan.Plan, stack: Any, mask: Any) -> tuple[Any, ...]:
    """The image and the diagnostics tuple of imcombiners 0.1.1's ``ndcombine``, then the
    propagated variance (None without a variance plane)."""
    if not plan.rules and plan.grow is None:
        outcome = _plan.execute(replace(plan, diagnostics=None), stack, mask)
        image, step = outcome.combined, None
    else:
        outcome = _plan.execute(plan, stack, mask, input_mask=mask)
        image, step = outcome.combined, outcome.step
    thresh = None if plan.thresholds is None else _plan.outside(stack, plan.thresholds)
    if step is None:
        out: tuple[Any, ...] = (image, None, thresh, None, None, None, None, None)
        sample_flags = None
    else:
        r = step.result
        out = (image, r.mask_rej, thresh, r.std, r.low, r.upp, r.nit, r.output_flags)
        sample_flags = step.sample_flags
    if plan.diagnostics == "full":
        if sample_flags is None:
            full_plan = replace(plan, method=None, diagnostics="full")
            sample_flags = _plan.reject(full_plan, stack, mask, input_mask=mask).sample_flags
        out = (*out, sample_flags)
    return (*out, outcome.variance)


def _aliases(
    weights: Any,
    weight: Any,
    n_min: Any,
    n_max: Any,
    n_minmax: Any,
    frac: Any,
    pclip: Any,
) -> tuple[Any, Any, Any, Any]:
    """Resolve the imcombiners 0.1.1 spellings; giving both spellings of one option is an error."""
    if weight is not None:
        if weights is not None:
            raise TypeError("give weights or its older spelling weight, not both")
        weights = weight
    if n_minmax is not None:
        if n_min is not None or n_max is not None:
            raise TypeError("give n_min/n_max or their older spelling n_minmax, not both")
        if isinstance(n_minmax, str) or len(n_minmax) != 2:
            raise ValueError(f"n_minmax must be a pair (n_min, n_max), got {n_minmax!r}")
        n_min, n_max = n_minmax
    if pclip is not None:
        if frac is not None:
            raise TypeError("give frac or its older spelling pclip, not both")
        frac = pclip
    return weights, n_min, n_max, frac


def _stat_clipping(*given: dict[str, Any] | None) -> tuple[Any, Any]:
    """``sigma`` and ``maxiters`` of the clipped statistics from 0.1.1's ``*_sigclip_kwargs``."""
    sigma: Any = 3.0
    maxiters: Any = 5
    seen: dict[str, Any] = {}
    for kwargs in given:
        if kwargs is None:
            continue
        if not isinstance(kwargs, dict):
            raise TypeError(f"*_sigclip_kwargs must be a dict, got {type(kwargs).__name__}")
        odd = set(kwargs) - {"sigma", "maxiters", "cenfunc", "clip_cen", "ddof"}
        if odd:
            raise ValueError(
                f"*_sigclip_kwargs takes sigma, maxiters, cenfunc, clip_cen and "
                f"ddof, got {sorted(odd)}"
            )
        if (
            kwargs.get("cenfunc", "median") not in ("median", "med")
            or kwargs.get("clip_cen") not in (None, "median", "med")
            or kwargs.get("ddof", 0) != 0
        ):
            raise ValueError(
                "the sigma-clipped statistics clip about the median with ddof=0; "
                "*_sigclip_kwargs may set only sigma and maxiters"
            )
        for key in ("sigma", "maxiters"):
            if key in kwargs:
                if key in seen and seen[key] != kwargs[key]:
                    raise ValueError(
                        f"zero_sigclip_kwargs and scale_sigclip_kwargs give different {key}; "
                        "one clipping serves both statistics here"
                    )
                seen[key] = kwargs[key]
    sigma = seen.get("sigma", sigma)
    maxiters = seen.get("maxiters", maxiters)
    return sigma, maxiters
