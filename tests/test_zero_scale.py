"""Per-frame zero/scale correction ``(x - zero_i) / scale_i``, applied in the core.

The oracle builds the corrected stack explicitly (thresholds on the raw values first, the
correction in float64, rounded to the work dtype) and combines it; the core corrects tile by
tile. Both must give the same bits in every usage mode.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import imcombiners as imc
import imcombiners.kernels as imck

METHODS = ["mean", "median", "lmedian", "sum", "min", "max", "variance"]


def corrected(stack, zero, scale, thresholds=None):
    """The stack as the combine sees it: thresholds on raw values, then (x - z) / s."""
    work = np.float64 if stack.dtype in (np.int32, np.float64) else np.float32
    raw = stack.astype(np.float64)
    out = (raw - np.asarray(zero, float).reshape(-1, *[1] * (stack.ndim - 1))) / np.asarray(
        scale, float
    ).reshape(-1, *[1] * (stack.ndim - 1))
    if thresholds is not None:
        out[(raw < thresholds[0]) | (raw > thresholds[1])] = np.nan
    out[~np.isfinite(raw)] = np.nan
    return out.astype(work)


def same(a, b):
    np.testing.assert_array_equal(a, b)
    assert a.dtype == b.dtype


def _stack(rng, n, shape, dtype):
    base = rng.normal(1000.0, 20.0, (n, *shape))
    base *= rng.uniform(0.5, 2.0, (n,) + (1,) * len(shape))  # frames at different levels
    if np.dtype(dtype).kind in "iu":
        return np.clip(np.rint(base), 0, 30000).astype(dtype)
    stack = base.astype(dtype)
    stack[rng.random(stack.shape) < 0.02] = np.nan
    return stack


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", ["float32", "float64", "uint16", "int32"])
def test_correction_matches_the_explicitly_corrected_stack(method, dtype):
    rng = np.random.default_rng(5)
    stack = _stack(rng, 9, (13, 17), dtype)
    zero = rng.normal(50.0, 10.0, 9)
    scale = rng.uniform(0.5, 2.0, 9)
    want = imc.Combiner(corrected(stack, zero, scale)).combine(method)
    got = imc.Combiner(stack).combine(method, zero=zero, scale=scale)
    same(got, want)
    same(imc.ndcombine(stack, combine=method, zero=zero, scale=scale), want)


@pytest.mark.parametrize("method", METHODS)
def test_correction_with_rejection_in_every_mode(method):
    rng = np.random.default_rng(6)
    stack = _stack(rng, 15, (20, 21), "float32")
    stack[3, 5, 5] = 1e5
    zero = rng.normal(0.0, 30.0, 15)
    scale = rng.uniform(0.7, 1.5, 15)
    thresholds = (0.0, 5e4)
    rule = imc.SigClip(sigma=3.0, maxiters=5)
    want = imc.Combiner(corrected(stack, zero, scale, thresholds)).combine(method, rejectors=rule)
    kwargs = {"zero": zero, "scale": scale, "thresholds": thresholds, "rejectors": rule}
    same(imc.Combiner(stack).combine(method, **kwargs), want)
    same(imc.Combiner(stack).combine(method, diagnostics="simple", **kwargs), want)
    cmb = imc.Combiner(stack)
    same(cmb.combine(method, diagnostics="full", **kwargs), want)
    assert cmb.last_reject is not None
    assert cmb.sample_flags is not None
    same(
        imc.ndcombine(
            stack,
            combine=method,
            reject="sigclip",
            sigma=3.0,
            maxiters=5,
            zero=zero,
            scale=scale,
            thresholds=thresholds,
        ),
        want,
    )


def test_weighted_average_with_correction():
    rng = np.random.default_rng(7)
    stack = _stack(rng, 6, (8, 9), "float32")
    w = rng.uniform(0.1, 3.0, 6)
    want = imck.weighted_average(corrected(stack, 10.0, 2.0), w)
    same(imc.Combiner(stack).combine("wvg", zero=10.0, scale=2.0, weights=w), want)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 30),
    seed=st.integers(0, 2**32 - 1),
    method=st.sampled_from(METHODS),
    scalar=st.booleans(),
)
def test_random_corrections(n, seed, method, scalar):
    rng = np.random.default_rng(seed)
    stack = _stack(rng, n, (5, 7), "float32")
    zero = float(rng.normal(0, 5)) if scalar else rng.normal(0, 5, n)
    scale = float(rng.uniform(0.5, 2)) if scalar else rng.uniform(0.5, 2, n)
    zero_arr = np.broadcast_to(zero, (n,))
    scale_arr = np.broadcast_to(scale, (n,))
    want = imc.Combiner(corrected(stack, zero_arr, scale_arr)).combine(method)
    same(imc.Combiner(stack).combine(method, zero=zero, scale=scale), want)


def test_inputs_are_not_modified():
    rng = np.random.default_rng(8)
    stack = _stack(rng, 5, (6, 6), "float32")
    zero, scale = np.arange(5.0), np.ones(5) * 2
    copies = (stack.copy(), zero.copy(), scale.copy())
    imc.Combiner(stack).combine("median", zero=zero, scale=scale, rejectors=imc.SigClip())
    for a, b in zip((stack, zero, scale), copies, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"zero": [1.0, 2.0]}, ValueError, "zero must be a number or have shape"),
        ({"scale": [1.0, 0.0, 1.0, 1.0]}, ValueError, "scale must be > 0"),
        ({"scale": -1.0}, ValueError, "scale must be > 0"),
        ({"zero": np.nan}, ValueError, "zero must be finite"),
        ({"scale": "medain"}, ValueError, "not a statistic"),
        ({"zero": lambda v: v}, TypeError, "must return one real number"),
        ({"zero": ["a", "b", "c", "d"]}, TypeError, "zero must be real numbers"),
    ],
)
def test_bad_corrections_are_refused(kwargs, error, match):
    stack = np.ones((4, 3, 3), dtype=np.float32)
    with pytest.raises(error, match=match):
        imc.Combiner(stack).combine("mean", **kwargs)
