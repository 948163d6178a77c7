"""Property tests of the rejectors: each rule against its slow twin, and the usage modes.

* Each rule (`SigClip`, `CcdClip`, `LinearClip`, `MinMaxClip`, `PClip`), with every parameter
  drawn, through ``imck.<rule>`` and ``Combiner.reject``, against ``reference.<rule>``: masks
  exactly equal, ``std``/``low``/``upp`` within rounding to the work dtype, ``nit`` and
  ``output_flags`` equal. Stacks are small-integer valued (exact float64 arithmetic), N from
  1 to 100, with NaN/+-inf, input masks, thresholds, every accepted dtype and nasty layouts.
* grow (radius 1, sqrt(2), 2) on 2-D and 3-D spatial shapes against ``reference.grow``.
* The usage modes give bitwise-identical combined outputs for every combine method:
  fused ``Combiner.combine(rejectors=...)`` (diagnostics None and "simple"), chained
  ``Combiner.reject(...).combine(...)``, ``ndcombine(reject=...)``, ``imck.<rule>_combine``
  and ``imck.<rule>`` + ``imck.<method>`` on the stack with the rejected samples set to NaN.
* A list of two rejectors equals ``.reject(a).reject(b)`` and the chained oracles.
* Inputs are never modified; results do not depend on the thread count.
"""

import dataclasses
import math

import numpy as np
import pytest
import reference
import strategies
from hypothesis import given, note
from hypothesis import strategies as st

import imcombiners as imc
import imcombiners.kernels as imck

RULES = strategies.RULE_KINDS
CLASSES = {name: entry.cls for name, entry in imc.registry.RULES.items()}
METHODS = reference.METHODS  # mean median lmedian sum min max variance weighted_average
F32_RTOL = 2 * float(np.finfo(np.float32).eps)
F64_RTOL = 1e-12


# ---------------------------------------------------------------- helpers


def oracle(rule, stack, mask):
    """``reference.<rule>`` for a rejector object (``mask`` already holds the thresholds)."""
    return reference.of_rule(rule, stack, mask=mask)


def entry_mask(stack, mask, thresholds):
    """bool (N, *spatial): the input mask OR the samples outside the thresholds."""
    out = np.zeros(stack.shape, dtype=bool) if mask is None else np.array(mask, dtype=bool)
    if thresholds is not None:
        x = np.asarray(stack, dtype=np.float64)
        out |= (x < thresholds[0]) | (x > thresholds[1])
    return out


def unusable(stack, mask, thresholds):
    """Masked, thresholded or non-finite: what no combine may use."""
    return entry_mask(stack, mask, thresholds) | ~np.isfinite(np.asarray(stack, np.float64))


def assert_result_matches(got, want, stack, err):
    """A package 6-tuple against an oracle 6-tuple."""
    assert len(got) == 6, err
    g_mask, g_std, g_low, g_upp, g_nit, g_flags = got
    w_mask, w_std, w_low, w_upp, w_nit, w_flags = want
    assert g_mask.dtype == np.bool_, err
    assert g_mask.shape == stack.shape, err
    np.testing.assert_array_equal(g_mask, w_mask, err_msg=f"mask_rej: {err}")
    assert (g_std is None) == (w_std is None), f"std None-ness: {err}"
    for name, g, w in (("std", g_std, w_std), ("low", g_low, w_low), ("upp", g_upp, w_upp)):
        if w is None:
            continue
        assert g.shape == stack.shape[1:], f"{name} shape: {err}"
        assert g.dtype.kind == "f", f"{name} dtype {g.dtype}: {err}"
        rtol = F32_RTOL if g.dtype == np.float32 else F64_RTOL
        np.testing.assert_allclose(
            g.astype(np.float64), w, rtol=rtol, atol=0, equal_nan=True, err_msg=f"{name}: {err}"
        )
    np.testing.assert_array_equal(g_nit, w_nit, err_msg=f"nit: {err}")
    np.testing.assert_array_equal(g_flags, w_flags, err_msg=f"output_flags: {err}")


def assert_bitwise(a, b, err):
    """Same dtype, shape, values, NaN positions and signs of zero."""
    np.testing.assert_array_equal(a, b, strict=True, err_msg=err)
    if a.dtype.kind == "f":
        np.testing.assert_array_equal(np.signbit(a), np.signbit(b), err_msg=f"signs: {err}")


def assert_results_identical(a, b, err):
    """Two package 6-tuples, bit for bit."""
    for name, x, y in zip(("mask_rej", "std", "low", "upp", "nit", "flags"), a, b, strict=True):
        if x is None or y is None:
            assert x is None, f"{name}: {err}"
            assert y is None, f"{name}: {err}"
            continue
        assert_bitwise(x, y, f"{name}: {err}")


class Snapshot:
    """Copies of the inputs, to prove afterwards that nothing was modified."""

    def __init__(self, *arrays):
        self.arrays = arrays
        self.copies = [None if a is None else np.array(a, copy=True) for a in arrays]
        self.meta = [None if a is None else (a.dtype, a.strides, a.flags.writeable) for a in arrays]

    def check(self, err):
        for a, copy, meta in zip(self.arrays, self.copies, self.meta, strict=True):
            if a is None:
                continue
            assert (a.dtype, a.strides, a.flags.writeable) == meta, f"input metadata: {err}"
            np.testing.assert_array_equal(a, copy, err_msg=f"input modified: {err}")


def fields(rule):
    """The rule's parameters as keyword arguments (as normalised by the dataclass)."""
    # grow is the combine's option too (the rule's own grow is its 0.1.1 spelling).
    return {f.name: getattr(rule, f.name) for f in dataclasses.fields(rule) if f.name != "grow"}


def method_extras(method, data, n, rule):
    """weights for weighted_average, ddof for variance (sigclip's ddof where modes share it)."""
    weights = ddof = None
    if method == "weighted_average":
        weights = data.draw(strategies.weights(n), label="weights")
    if method == "variance":
        # ndcombine and imck.sigclip_combine have one ddof for SigClip and for variance.
        ddof = rule.ddof if isinstance(rule, imc.SigClip) else data.draw(st.integers(0, 2))
    return weights, ddof


def nan_filled_work(stack, unused):
    """The stack in its float work dtype (native order) with the unused samples set to NaN."""
    arr = np.array(stack, dtype=reference.work_dtype(stack.dtype))
    arr[unused] = np.nan
    return arr


def direct_combine(method, arr, *, weights, ddof):
    fn = getattr(imck, reference.KERNEL_NAMES[method])
    if method == "weighted_average":
        return fn(arr, weights)
    if method == "variance":
        return fn(arr, ddof=ddof)
    return fn(arr)


def draw_rule(data, kind):
    params = data.draw(strategies.rule_params(kind), label=f"{kind} params")
    return CLASSES[kind](**params), params


# ---------------------------------------------------------------- each rule vs its oracle


@pytest.mark.parametrize("kind", RULES)
@given(data=st.data())
def test_rule_matches_reference(kind, data):
    case = data.draw(strategies.rejection_cases(), label="case")
    stack, mask = case.stack, case.mask
    rule, params = draw_rule(data, kind)
    thresholds = data.draw(strategies.thresholds_for(stack), label="thresholds")
    note(case.describe())
    snapshot = Snapshot(stack, mask)
    err = f"{rule} thresholds={thresholds} {case.describe()}"

    want = oracle(rule, stack, entry_mask(stack, mask, thresholds))
    got = getattr(imck, kind)(stack, mask=mask, thresholds=thresholds, **params)
    assert_result_matches(got, want, stack, f"imck.{kind}: {err}")

    only_mask = getattr(imck, f"{kind}_mask")(stack, mask=mask, thresholds=thresholds, **params)
    assert_bitwise(only_mask, got[0], f"imck.{kind}_mask: {err}")

    cmb = imc.Combiner(stack, mask).reject(rule, thresholds=thresholds)
    assert_results_identical(cmb.last_reject, got, f"Combiner.reject: {err}")
    assert_bitwise(cmb.mask_rej, got[0], f"Combiner.mask_rej: {err}")
    assert_bitwise(cmb.output_flags, got[5], f"Combiner.output_flags: {err}")
    snapshot.check(err)


# ---------------------------------------------------------------- grow


@pytest.mark.parametrize("radius", [1, math.sqrt(2), 2])
@given(data=st.data())
def test_grow_matches_reference(radius, data):
    kind = data.draw(st.sampled_from(RULES), label="kind")
    case = data.draw(
        strategies.rejection_cases(max_n=30, ndims=(2, 3), max_pixels=64, max_side=6),
        label="case",
    )
    stack, mask = case.stack, case.mask
    rule, _ = draw_rule(data, kind)
    thresholds = data.draw(strategies.thresholds_for(stack), label="thresholds")
    note(case.describe())
    snapshot = Snapshot(stack, mask)
    err = f"{rule} grow={radius} thresholds={thresholds} {case.describe()}"

    before = entry_mask(stack, mask, thresholds)
    want, _ = reference.grow(oracle(rule, stack, before), radius, stack=stack, mask=before)
    cmb = imc.Combiner(stack, mask).reject(rule, grow=radius, thresholds=thresholds)
    assert_result_matches(cmb.last_reject, want, stack, f"Combiner.reject(grow): {err}")

    # Every mode that takes grow: fused (diagnostics None), ndcombine, chained.
    method = data.draw(st.sampled_from(("mean", "median", "max")), label="method")
    fused = imc.Combiner(stack, mask).combine(
        method, rejectors=rule, grow=radius, thresholds=thresholds
    )
    extra = {"ddof": rule.ddof} if kind == "sigclip" else {}
    opts = {k: v for k, v in fields(rule).items() if k != "ddof"}
    nd = imc.ndcombine(
        stack,
        combine=method,
        reject=kind,
        mask=mask,
        thresholds=thresholds,
        grow=radius,
        **opts,
        **extra,
    )
    chained = cmb.combine(method)
    direct = direct_combine(
        method,
        nan_filled_work(stack, unusable(stack, mask, thresholds) | want[0]),
        weights=None,
        ddof=0,
    )
    assert_bitwise(fused, direct, f"fused vs direct: {err}")
    assert_bitwise(nd, direct, f"ndcombine vs direct: {err}")
    assert_bitwise(chained, direct, f"chained vs direct: {err}")
    snapshot.check(err)


@pytest.mark.parametrize("radius", [0, 0.5, 1, math.sqrt(2), 2, math.sqrt(3), 2.5])
@given(data=st.data())
def test_grow_mask_matches_reference(radius, data):
    ndim = data.draw(st.integers(1, 3), label="spatial ndim")
    spatial = tuple(data.draw(st.lists(st.integers(1, 7), min_size=ndim, max_size=ndim)))
    n = data.draw(st.integers(1, 3))
    seed = data.draw(st.integers(0, 2**32 - 1))
    frac = data.draw(st.sampled_from((0.0, 0.02, 0.1, 0.5, 1.0)))
    mask = np.random.default_rng(seed).random((n, *spatial)) < frac
    mask = data.draw(strategies.layouts(allow_byteswap=False)).apply(mask)
    before = mask.copy()
    got = imck.grow_mask(mask, radius)
    assert got.dtype == np.bool_
    np.testing.assert_array_equal(got, reference.grow_mask(mask, radius), err_msg=f"{mask!r}")
    np.testing.assert_array_equal(mask, before)


# ---------------------------------------------------------------- the usage modes


def _modes(kind, rule, stack, mask, method, *, thresholds, weights, ddof):
    """The combined output of every usage mode (name -> array)."""
    extra = {}
    if weights is not None:
        extra["weights"] = weights
    if ddof is not None:
        extra["ddof"] = ddof
    out = {}
    out["fused"] = imc.Combiner(stack, mask).combine(
        method, rejectors=rule, thresholds=thresholds, **extra
    )
    out["fused simple"] = imc.Combiner(stack, mask).combine(
        method, rejectors=rule, thresholds=thresholds, diagnostics="simple", **extra
    )
    cmb = imc.Combiner(stack, mask).reject(rule, thresholds=thresholds)
    out["chained"] = cmb.combine(method, **extra)

    opts = {k: v for k, v in fields(rule).items() if k != "ddof"}
    nd_extra = dict(extra)
    if kind == "sigclip":
        nd_extra["ddof"] = rule.ddof if ddof is None else ddof
    out["ndcombine"] = imc.ndcombine(
        stack,
        combine=method,
        reject=kind,
        mask=mask,
        thresholds=thresholds,
        **opts,
        **nd_extra,
    )
    # imck.<rule>_combine: its ddof is the rule's (SigClip) and the variance's. The other
    # rules' kernels take no ddof (see test_rule_combine_kernels_take_variance_ddof).
    k_extra = {} if weights is None else {"weights": weights}
    if kind == "sigclip" or not ddof:
        out["imck combine"] = getattr(imck, f"{kind}_combine")(
            stack, method, mask=mask, thresholds=thresholds, **fields(rule), **k_extra
        )
    mask_rej = getattr(imck, kind)(stack, mask=mask, thresholds=thresholds, **fields(rule))[0]
    arr = nan_filled_work(stack, unusable(stack, mask, thresholds) | mask_rej)
    out["imck direct"] = direct_combine(method, arr, weights=weights, ddof=ddof or 0)
    return out, cmb.mask


def _check_modes(data, *, with_thresholds):
    kind = data.draw(st.sampled_from(RULES), label="kind")
    method = data.draw(st.sampled_from(METHODS), label="method")
    case = data.draw(strategies.rejection_cases(), label="case")
    stack, mask = case.stack, case.mask
    rule, _ = draw_rule(data, kind)
    thresholds = None
    if with_thresholds:
        thresholds = data.draw(strategies.thresholds_for(stack), label="thresholds")
    weights, ddof = method_extras(method, data, stack.shape[0], rule)
    note(case.describe())
    snapshot = Snapshot(stack, mask, weights)
    err = f"{method} ddof={ddof} {rule} thresholds={thresholds} {case.describe()}"

    outs, final_mask = _modes(
        kind, rule, stack, mask, method, thresholds=thresholds, weights=weights, ddof=ddof
    )
    for name, out in outs.items():
        assert out.shape == stack.shape[1:], f"{name}: {err}"
        assert out.dtype == reference.work_dtype(stack.dtype), f"{name} dtype: {err}"
        assert_bitwise(out, outs["imck direct"], f"{name} vs imck direct: {err}")
    # The chained Combiner's mask: input mask OR thresholds OR the rejections.
    want_rej = oracle(rule, stack, entry_mask(stack, mask, thresholds))[0]
    np.testing.assert_array_equal(
        final_mask | ~np.isfinite(np.asarray(stack, np.float64)),
        unusable(stack, mask, thresholds) | want_rej,
        err_msg=f"Combiner.mask after reject: {err}",
    )
    snapshot.check(err)


@given(data=st.data())
def test_usage_modes_are_bitwise_identical(data):
    _check_modes(data, with_thresholds=False)


@given(data=st.data())
def test_usage_modes_are_bitwise_identical_with_thresholds(data):
    _check_modes(data, with_thresholds=True)


@pytest.mark.parametrize("kind", RULES)
def test_rule_combine_kernels_take_variance_ddof(kind):
    """``imck.<rule>_combine(stack, "variance", ddof=1)`` is the variance with ddof=1.

    `Combiner.combine` and `ndcombine` take ``ddof`` with any rule; the kernels must too
    (STYLE item 8: the same names in all four modes).
    """
    rng = np.random.default_rng(5)
    stack = rng.integers(90, 110, size=(9, 3, 4)).astype(np.float32)
    stack[4, 1, 1] = 5000.0
    rule = {
        "sigclip": imc.SigClip(ddof=1),  # one ddof for the rule and the variance here
        "ccdclip": imc.CcdClip(),
        "linearclip": imc.LinearClip(low=20.0, upp=20.0),
        "minmax": imc.MinMaxClip(),
        "pclip": imc.PClip(),
        # Modern rules (issue 18).
        "winsorized": imc.WinsorizedSigClip(),
        "biweight": imc.BiweightClip(),
        "percentile": imc.PercentileClip(),
        "gesd": imc.GESD(),
        "linearfit": imc.LinearFitClip(),
        "auto": imc.AutoReject(),
    }[kind]
    want = imc.Combiner(stack).combine("variance", rejectors=rule, ddof=1)
    kwargs = {**fields(rule), "ddof": 1}
    got = getattr(imck, f"{kind}_combine")(stack, "variance", **kwargs)
    assert_bitwise(got, want, kind)
    assert not np.array_equal(got, imc.Combiner(stack).combine("variance", rejectors=rule))


# ---------------------------------------------------------------- chains


@given(data=st.data())
def test_list_of_two_equals_chained_and_reference(data):
    kinds = data.draw(st.tuples(st.sampled_from(RULES), st.sampled_from(RULES)), label="kinds")
    case = data.draw(strategies.rejection_cases(max_n=60, max_pixels=24), label="case")
    stack, mask = case.stack, case.mask
    first, _ = draw_rule(data, kinds[0])
    second, _ = draw_rule(data, kinds[1])
    method = data.draw(st.sampled_from(("mean", "median", "sum", "max")), label="method")
    note(case.describe())
    snapshot = Snapshot(stack, mask)
    err = f"[{first}, {second}] {method} {case.describe()}"

    m0 = entry_mask(stack, mask, None)
    want_a = oracle(first, stack, m0)[0]
    want_b = oracle(second, stack, m0 | want_a)[0]

    listed = imc.Combiner(stack, mask).reject([first, second])
    np.testing.assert_array_equal(listed.mask_rej, want_a | want_b, err_msg=f"list: {err}")
    chained = imc.Combiner(stack, mask).reject(first)
    np.testing.assert_array_equal(chained.mask_rej, want_a, err_msg=f"first step: {err}")
    chained.reject(second)
    np.testing.assert_array_equal(chained.mask_rej, want_b, err_msg=f"second step: {err}")
    assert_bitwise(listed.mask, chained.mask, f"Combiner.mask: {err}")

    fused = imc.Combiner(stack, mask).combine(method, rejectors=[first, second])
    assert_bitwise(fused, chained.combine(method), f"fused list vs chained: {err}")
    assert_bitwise(fused, listed.combine(method), f"fused list vs reject(list): {err}")
    want = reference.combine(method, stack, mask=m0 | want_a | want_b)
    np.testing.assert_allclose(
        fused.astype(np.float64),
        want,
        rtol=F32_RTOL if fused.dtype == np.float32 else F64_RTOL,
        equal_nan=True,
        err_msg=f"fused list vs reference: {err}",
    )
    snapshot.check(err)


# ---------------------------------------------------------------- full diagnostics


@given(data=st.data())
def test_sample_flags_match_reference(data):
    kind = data.draw(st.sampled_from(RULES), label="kind")
    case = data.draw(
        strategies.rejection_cases(max_n=30, ndims=(2,), max_pixels=36, max_side=6), label="case"
    )
    stack, mask = case.stack, case.mask
    rule, _ = draw_rule(data, kind)
    thresholds = data.draw(strategies.thresholds_for(stack), label="thresholds")
    radius = data.draw(st.sampled_from((None, 1, math.sqrt(2))), label="grow")
    note(case.describe())
    err = f"{rule} grow={radius} thresholds={thresholds} {case.describe()}"

    before = entry_mask(stack, mask, thresholds)
    result = oracle(rule, stack, before)
    added = None
    if radius is not None:
        _, added = reference.grow(result, radius, stack=stack, mask=before)
    outside = entry_mask(stack, None, thresholds) if thresholds is not None else None
    want = reference.sample_flags(
        stack, mask=mask, threshold=outside, rejected=result[0], grown=added
    )
    cmb = imc.Combiner(stack, mask).reject(
        rule, grow=radius, thresholds=thresholds, diagnostics="full"
    )
    assert cmb.sample_flags.dtype == np.uint8
    np.testing.assert_array_equal(cmb.sample_flags, want, err_msg=err)


# ---------------------------------------------------------------- threads


def _thread_stack():
    rng = np.random.default_rng(11)
    stack = np.rint(rng.normal(100.0, 5.0, size=(23, 57, 83))).astype(np.float32)
    stack[rng.random(stack.shape) < 0.03] = 3000.0
    stack[rng.random(stack.shape) < 0.03] = -800.0
    stack[rng.random(stack.shape) < 0.02] = np.nan
    stack[:, 0, 0] = np.nan
    mask = rng.random(stack.shape) < 0.05
    return stack, mask


_THREAD_RULES = {
    "sigclip": imc.SigClip(sigma=(2.5, 2.0), cenfunc="mean", maxrej=4),
    "ccdclip": imc.CcdClip(gain=2.0, rdnoise=5.0, snoise=0.1),
    "linearclip": imc.LinearClip(low=10.0, upp=12.0, maxiters=3),
    "minmax": imc.MinMaxClip(n_min=0.1, n_max=2),
    "pclip": imc.PClip(frac=-0.3, sigma=(2.0, 3.0)),
    # Modern rules (issue 18).
    "winsorized": imc.WinsorizedSigClip(sigma=(3.0, 2.5), maxrej=3),
    "biweight": imc.BiweightClip(sigma=2.5, c_scale=6.0),
    "percentile": imc.PercentileClip(low=0.05, high=0.04, nkeep=5),
    "gesd": imc.GESD(alpha=0.1, maxrej=3),
    "linearfit": imc.LinearFitClip(sigma=(4.0, 3.0), maxrej=4),
    "auto": imc.AutoReject(winsorized_from=3, linearfit_from=6, gesd_from=8),
}


@pytest.mark.parametrize("kind", RULES)
def test_results_do_not_depend_on_thread_count(kind):
    stack, mask = _thread_stack()
    rule = _THREAD_RULES[kind]
    results = {}
    for n in (1, 3):
        with imc.threads(n):
            fused = {
                m: imc.Combiner(stack, mask).combine(m, rejectors=rule, thresholds=(-500, 2500))
                for m in ("mean", "median", "variance")
            }
            cmb = imc.Combiner(stack, mask).reject(rule, grow=math.sqrt(2), diagnostics="full")
            results[n] = (fused, cmb.last_reject, cmb.sample_flags, cmb.combine("lmedian"))
    (f1, r1, s1, c1), (f3, r3, s3, c3) = results[1], results[3]
    for m in f1:
        assert_bitwise(f1[m], f3[m], f"{kind} fused {m}")
    assert_results_identical(r1, r3, f"{kind} last_reject")
    assert_bitwise(s1, s3, f"{kind} sample_flags")
    assert_bitwise(c1, c3, f"{kind} chained lmedian")
