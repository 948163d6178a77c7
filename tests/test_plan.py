"""The combine plan (`imcombiners._plan`): one set of rules, three ways to run them."""

import numpy as np
import pytest
import reference as ref
from hypothesis import given, settings
from hypothesis import strategies as st

import imcombiners as imc
from imcombiners import _plan
from imcombiners._validation import as_mask, as_stack
from imcombiners.flags import SampleFlags
from imcombiners.registry import RULES


def _stack(seed, shape=(12, 9, 11), outliers=0.02):
    rng = np.random.default_rng(seed)
    x = rng.normal(100, 5, shape).astype(np.float32)
    hit = rng.random(shape) < outliers
    x[hit] += rng.uniform(100, 1000, int(hit.sum())).astype(np.float32)
    x[rng.random(shape) < 0.02] = np.nan
    return x


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    method=st.sampled_from(["mean", "median", "lmedian", "sum", "min", "max", "variance"]),
    radius=st.sampled_from([0.0, 1.0, 1.5, 2.5]),
    corrected=st.booleans(),
)
def test_grow_recombines_only_what_grow_changed(seed, method, radius, corrected):
    """The grow path reuses its fused pass; it equals combining the final mask from scratch."""
    x = _stack(seed)
    zero = np.linspace(-3, 3, x.shape[0]) if corrected else None
    scale = np.linspace(0.8, 1.2, x.shape[0]) if corrected else None
    cmb = imc.Combiner(x)
    got = cmb.combine(method, rejectors=imc.SigClip(sigma=2.5), grow=radius, zero=zero, scale=scale)
    stack = as_stack(x, name="x")
    plan = _plan.Plan(method=method, zero=zero, scale=scale)
    want = _plan.combine_masked(plan, stack, cmb.mask.view(np.uint8))
    np.testing.assert_array_equal(got, want)


def test_full_sample_flags_split_rule_and_grow_under_a_correction():
    """REJECTED marks what the rule rejected on the corrected values, GROW only what grow added."""
    x = _stack(3, shape=(10, 16, 16))
    scale = np.array([1.0, 3.0] * 5)
    x = x * scale[:, None, None].astype(np.float32)
    rule = imc.SigClip(sigma=2.0)
    alone = imc.Combiner(x).reject(rule, diagnostics="simple")  # no correction: differs
    cmb = imc.Combiner(x).zero_scale(scale=scale, normalize=False)
    no_grow = imc.Combiner(x).zero_scale(scale=scale, normalize=False).reject(rule)
    cmb.combine("mean", rejectors=rule, grow=1.0, diagnostics="full")
    rejected = (cmb.sample_flags & SampleFlags.REJECTED) != 0
    grown = (cmb.sample_flags & SampleFlags.GROW) != 0
    np.testing.assert_array_equal(rejected, no_grow.mask_rej)
    np.testing.assert_array_equal(rejected | grown, cmb.mask_rej)
    assert not np.array_equal(alone.mask_rej, no_grow.mask_rej)  # the test can tell them apart


@pytest.mark.parametrize("name", list(RULES))
def test_every_registered_rule_runs_in_every_mode(name):
    """ndcombine, the kernels, Combiner (fused and chained) agree for each registered rule."""
    x = _stack(11, shape=(15, 6, 7))
    cls = RULES[name].cls
    rule = cls()
    # Rules that read a variance plane get one (the same for every mode).
    var = {"variance": np.full(x.shape, 0.5)} if cls.needs_variance else {}
    fused = imc.Combiner(x, **var).combine("mean", rejectors=rule)
    chained = imc.Combiner(x, **var).reject(rule).combine("mean")
    kernel = getattr(imc.kernels, f"{name}_combine")(x, **var)
    nd = imc.ndcombine(x, combine="mean", reject=name, **var)
    for other in (chained, kernel, nd):
        np.testing.assert_array_equal(fused, other)
    mask = getattr(imc.kernels, f"{name}_mask")(x, **var)
    np.testing.assert_array_equal(mask, getattr(imc.kernels, name)(x, **var).mask_rej)


def test_weights_rules_are_stated_once():
    x = _stack(1)
    stack = as_stack(x, name="x")
    with pytest.raises(ValueError, match=r"weights are used only by .*combine='median'"):
        _plan.build(stack, None, method="median", weights=np.ones(12), method_param="combine")
    with pytest.raises(ValueError, match="weights are required"):
        _plan.build(stack, None, method="weighted_average")
    plan = _plan.build(stack, None, method="mean", weights=np.arange(12))
    assert plan.method == "weighted_average"
    assert plan.weights.dtype == np.float64


def test_plain_plan_keeps_integer_dtype_only_when_asked():
    x = np.arange(24, dtype=np.uint16).reshape(4, 6)
    stack = as_stack(x, name="x")
    kept = _plan.execute(_plan.Plan(method="lmedian", keep_dtype=True), stack, None).combined
    work = _plan.execute(_plan.Plan(method="lmedian"), stack, None).combined
    assert kept.dtype == np.uint16
    assert work.dtype == np.float32
    np.testing.assert_array_equal(kept, ref.lmedian(x))
    m = as_mask(np.zeros(x.shape, bool), stack)
    assert _plan.execute(_plan.Plan(method="max", keep_dtype=True), stack, m).combined.dtype == (
        np.float32
    )


def test_every_registered_rule_has_a_strategy_and_a_reference():
    """Registering a rule without its test strategy or NumPy reference fails here."""
    import reference
    import strategies

    for name, entry in RULES.items():
        assert name in strategies.RULE_PARAMS, name
        assert callable(getattr(reference, name, None)), name
        x = _stack(2, shape=(9, 4, 5))
        var = {"variance": np.full(x.shape, 0.5)} if entry.cls.needs_variance else {}
        got = getattr(imc.kernels, name)(x, **var)
        want = reference.of_rule(entry.cls(), x, **var)
        np.testing.assert_array_equal(got.mask_rej, want[0])
