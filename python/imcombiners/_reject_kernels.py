"""The direct rejection kernels: ``<rule>``, ``<rule>_mask`` and ``<rule>_combine`` per rule.

They are built from the rejector dataclasses so that names, defaults and validation are the
same as in `Combiner` and `ndcombine`.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _plan
from ._rejection import RejectResult
from ._validation import as_mask, as_stack, nonnegative_int, thresholds_pair
from ._variance import as_variance
from .rejectors import Rejector


def _rule_parameters(cls: type[Rejector]) -> list[inspect.Parameter]:
    return [
        inspect.Parameter(
            f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=f.type
        )
        for f in dataclasses.fields(cls)
    ]


def make(cls: type[Rejector], module: str) -> tuple[Callable[..., Any], ...]:
    """The kernels of one rejection rule, named as members of ``module``: ``<rule>``,
    ``<rule>_mask``, ``<rule>_combine`` and their ``_1d`` forms for one vector of values."""
    name = cls.kind
    fields = {f.name for f in dataclasses.fields(cls)}

    def split(kwargs: dict[str, Any]) -> tuple[Rejector, Any, Any]:
        kwargs.pop("validate", None)  # imcombiners 0.1.1's switch: arguments are always checked
        unknown = set(kwargs) - fields - {"mask", "thresholds", "variance"}
        if unknown:
            raise TypeError(f"{name}() got unexpected keyword arguments: {sorted(unknown)}")
        rule = cls(**{k: v for k, v in kwargs.items() if k in fields})
        return rule, kwargs.get("mask"), thresholds_pair(kwargs.get("thresholds"))

    def step_plan(arr: Any, kwargs: dict[str, Any], diagnostics: str | None) -> tuple[Any, ...]:
        rule, mask, thresholds = split(kwargs)
        stack = as_stack(arr, name="arr")
        given = kwargs.get("variance")
        variance = None if given is None else as_variance(given, stack)
        _plan.check_variance_rules([rule], variance)
        plan = _plan.Plan(
            method=None,
            rules=(rule,),
            thresholds=thresholds,
            grow=rule.grow,
            diagnostics=diagnostics,
            variance=variance,
        )
        return plan, stack, as_mask(mask, stack)

    def reject(arr: Any, **kwargs: Any) -> RejectResult:
        plan, stack, m = step_plan(arr, kwargs, "simple")
        return _plan.reject(plan, stack, m, input_mask=m).result

    def reject_mask(arr: Any, **kwargs: Any) -> np.ndarray:
        plan, stack, m = step_plan(arr, kwargs, None)
        return _plan.rejected_mask(plan, stack, m)

    def reject_combine(
        arr: Any,
        combine: str = "mean",
        *,
        weights: Any = None,
        return_variance: bool = False,
        **kwargs: Any,
    ) -> Any:
        # `ddof` is the variance's (and, for sigma clipping, also the rule's, as in ndcombine).
        ddof = nonnegative_int(kwargs.get("ddof", 0), name="ddof")
        if "ddof" not in fields:
            kwargs.pop("ddof", None)
        rule, mask, thresholds = split(kwargs)
        stack = as_stack(arr, name="arr")
        m = as_mask(mask, stack)
        plan = _plan.build(
            stack,
            m,
            method=combine,
            rejectors=[rule],
            weights=weights,
            ddof=ddof,
            thresholds=thresholds,
            variance=kwargs.get("variance"),
            method_param="combine",
        )
        if return_variance and plan.variance is None:
            raise ValueError("return_variance=True needs variance= (the variance of every sample)")
        outcome = _plan.execute(plan, stack, m)
        return (outcome.combined, outcome.variance) if return_variance else outcome.combined

    kw = inspect.Parameter.KEYWORD_ONLY
    extra = [
        inspect.Parameter("mask", kw, default=None, annotation="Any"),
        inspect.Parameter("thresholds", kw, default=None, annotation="Any"),
        inspect.Parameter("variance", kw, default=None, annotation="Any"),
    ]
    arr = inspect.Parameter("arr", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation="Any")
    rule_params = _rule_parameters(cls)
    reject.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [arr, *rule_params, *extra], return_annotation="RejectResult"
    )
    reject_mask.__signature__ = reject.__signature__.replace(  # type: ignore[attr-defined]
        return_annotation="np.ndarray"
    )
    combine = inspect.Parameter(
        "combine", inspect.Parameter.POSITIONAL_OR_KEYWORD, default="mean", annotation="str"
    )
    ddof = [] if "ddof" in fields else [inspect.Parameter("ddof", kw, default=0, annotation="int")]
    reject_combine.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            arr,
            combine,
            inspect.Parameter("weights", kw, default=None, annotation="Any"),
            *rule_params,
            *ddof,
            *extra,
            inspect.Parameter("return_variance", kw, default=False, annotation="bool"),
        ],
        return_annotation="Any",
    )
    title = cls.__name__
    reject.__name__, reject.__qualname__ = name, name
    reject.__doc__ = (
        f"Reject with `{title}` and return ``(mask_rej, std, low, upp, nit, output_flags)``.\n\n"
        f"The keyword arguments are those of `imcombiners.{title}`, plus ``mask`` (True = do\n"
        f"not use) and ``thresholds`` ``(low, high)``. ``mask_rej`` lists only the samples\n"
        f"this rejection removed; apply it yourself (e.g. set them to NaN) before combining.\n"
        f"``variance`` is the input variance plane (see `imcombiners.Combiner`).\n"
    )
    reject_mask.__name__ = reject_mask.__qualname__ = f"{name}_mask"
    reject_mask.__doc__ = (
        f"Reject with `{title}` and return only ``mask_rej`` (bool, shape of ``arr``).\n\n"
        f"Cheaper than `{name}`: no per-element diagnostics are produced.\n"
    )
    reject_combine.__name__ = reject_combine.__qualname__ = f"{name}_combine"
    reject_combine.__doc__ = (
        f"Reject with `{title}` and combine the survivors in the same pass.\n\n"
        f"``combine`` is any combine method (mean, median, lmedian, sum, min, max, variance,\n"
        f"weighted_average); no per-sample mask is made, so memory stays near the output's.\n"
        f"With ``variance`` (the input variance plane) and ``return_variance=True`` it returns\n"
        f"``(image, propagated variance)``.\n"
    )
    one_d = _one_dimensional(reject, reject_mask, reject_combine)
    for func in (reject, reject_mask, reject_combine, *one_d):
        func.__module__ = module
    return (reject, reject_mask, reject_combine, *one_d)


def _column(values: Any, mask: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """A 1-D vector of values (and its mask) as an (n, 1) stack."""
    v = np.asarray(values)
    if v.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {v.shape}")
    m = None if mask is None else np.asarray(mask).reshape(-1, 1)
    return v.reshape(-1, 1), m


def _column_variance(kwargs: dict[str, Any]) -> None:
    """A 1-D variance vector (one per value) as an (n, 1) plane, in place in ``kwargs``."""
    var = kwargs.get("variance")
    if var is not None:
        v = np.asarray(var)
        kwargs["variance"] = v.reshape(-1, 1) if v.ndim == 1 else v


def _one_dimensional(
    reject: Callable[..., Any], reject_mask: Callable[..., Any], reject_combine: Callable[..., Any]
) -> tuple[Callable[..., Any], ...]:
    """``<rule>_1d``, ``<rule>_mask_1d`` and ``<rule>_combine_1d``: the kernels on one vector of
    values (imcombiners 0.1.1 names), with scalar diagnostics."""

    def reject_1d(values: Any, **kwargs: Any) -> tuple[Any, ...]:
        arr, mask = _column(values, kwargs.pop("mask", None))
        _column_variance(kwargs)
        r = reject(arr, mask=mask, **kwargs)
        scalars = (None if x is None else x.reshape(-1)[0] for x in r[1:])
        return (r[0].reshape(-1), *scalars)

    def reject_mask_1d(values: Any, **kwargs: Any) -> np.ndarray:
        arr, mask = _column(values, kwargs.pop("mask", None))
        _column_variance(kwargs)
        return reject_mask(arr, mask=mask, **kwargs).reshape(-1)

    def reject_combine_1d(values: Any, combine: str = "mean", **kwargs: Any) -> Any:
        arr, mask = _column(values, kwargs.pop("mask", None))
        _column_variance(kwargs)
        got = reject_combine(arr, combine, mask=mask, **kwargs)
        if isinstance(got, tuple):
            return tuple(x.reshape(-1)[0] for x in got)
        return got.reshape(-1)[0]

    pairs = (
        (reject_1d, reject),
        (reject_mask_1d, reject_mask),
        (reject_combine_1d, reject_combine),
    )
    for func, base in pairs:
        name = f"{base.__name__}_1d"
        func.__name__ = func.__qualname__ = name
        sig = base.__signature__  # type: ignore[attr-defined]
        params = list(sig.parameters.values())
        params[0] = params[0].replace(name="values")
        func.__signature__ = sig.replace(  # type: ignore[attr-defined]
            parameters=params,
            return_annotation="tuple[Any, ...]"
            if base is reject
            else ("np.ndarray" if base is reject_mask else "Any"),
        )
        func.__doc__ = f"`{base.__name__}` on one 1-D vector of values (diagnostics as scalars).\n"
    return reject_1d, reject_mask_1d, reject_combine_1d
