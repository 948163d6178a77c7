"""imcombiners 0.1.1 spellings and attributes (issue 15, part 2): each gives our numbers."""

import numpy as np
import pytest

import imcombiners as imc
from imcombiners.flags import SampleFlags


def _stack(seed=0, shape=(9, 12, 10)):
    rng = np.random.default_rng(seed)
    x = rng.normal(100, 5, shape).astype(np.float32)
    x[2, 3, 3] = 1e4
    x[5, 1, 1] = -1e3
    return x


def test_combiner_copy_keyword_and_copy_method():
    x = _stack()
    cmb = imc.Combiner(x, copy=True)
    assert not np.shares_memory(cmb.arr, x)
    x[0] = 0.0  # the copy does not follow the caller's array
    np.testing.assert_array_equal(cmb.arr[0], _stack()[0])
    assert np.shares_memory(imc.Combiner(x).arr, x)
    with pytest.raises(TypeError, match="copy"):
        imc.Combiner(x, copy="yes")
    first = imc.Combiner(_stack()).reject(imc.SigClip(sigma=2.5))
    second = first.copy().reject(imc.MinMaxClip())
    assert len(first.history) == 1
    assert len(second.history) == 2
    assert first.n_rejected < second.n_rejected


def test_last_rejection_attributes_by_name():
    cmb = imc.Combiner(_stack()).reject(imc.SigClip(sigma=2.5), diagnostics="full")
    r = cmb.last_reject
    for name, value in (("std", r.std), ("low", r.low), ("upp", r.upp), ("nit", r.nit)):
        assert getattr(cmb, name) is value, name
    assert cmb.last_sample_flags is cmb.sample_flags
    assert cmb.n_rejected == int(cmb.mask.sum())
    assert cmb.reject_history == [r]


def test_threshold_method_equals_thresholds_argument():
    x = _stack()
    a = imc.Combiner(x).threshold(0, 5000).combine("mean", rejectors=imc.SigClip(sigma=2.5))
    b = imc.Combiner(x).combine("mean", rejectors=imc.SigClip(sigma=2.5), thresholds=(0, 5000))
    np.testing.assert_array_equal(a, b)
    cmb = imc.Combiner(x).threshold(0, 5000)
    np.testing.assert_array_equal(cmb.mask_thresh, (x < 0) | (x > 5000))


def test_ndcombine_old_spellings():
    x = _stack()
    w = np.arange(1.0, 10.0)
    np.testing.assert_array_equal(
        imc.ndcombine(x, weight=w), imc.ndcombine(x, weights=w, combine="weighted_average")
    )
    np.testing.assert_array_equal(
        imc.ndcombine(x, reject="minmax", n_minmax=(1, 2)),
        imc.ndcombine(x, reject="minmax", n_min=1, n_max=2),
    )
    np.testing.assert_array_equal(
        imc.ndcombine(x, reject="pclip", pclip=-0.3), imc.ndcombine(x, reject="pclip", frac=-0.3)
    )
    scale = np.linspace(1, 2, 9, dtype=np.float32)[:, None, None]
    y = x * scale
    np.testing.assert_array_equal(
        imc.ndcombine(y, scale="med_sc", scale_to_0th=False, scale_sigclip_kwargs={"sigma": 2}),
        imc.Combiner(y).combine(
            "mean",
            scale=imc.resolve_zero_scale(y, None, "sigclip_median", normalize=False, sigma=2)[1],
        ),
    )
    with pytest.raises(TypeError, match="not both"):
        imc.ndcombine(x, weight=w, weights=w)
    with pytest.raises(ValueError, match="only sigma and maxiters"):
        imc.ndcombine(x, zero="mean_sc", zero_sigclip_kwargs={"cenfunc": "mean"})


@pytest.mark.parametrize("level", ["simple", "full"])
def test_ndcombine_diagnostics_tuple(level):
    x = _stack()
    got = imc.ndcombine(x, reject="sigclip", sigma=2.5, thresholds=(0, 5000), diagnostics=level)
    image, mask_rej, mask_thresh, std, low, upp, nit, flags = got[:8]
    cmb = imc.Combiner(x)
    want = cmb.combine(
        "mean", rejectors=imc.SigClip(sigma=2.5), thresholds=(0, 5000), diagnostics=level
    )
    np.testing.assert_array_equal(image, want)
    np.testing.assert_array_equal(mask_rej, cmb.mask_rej)
    np.testing.assert_array_equal(mask_thresh, (x < 0) | (x > 5000))
    for a, b in zip((std, low, upp, nit, flags), cmb.last_reject[1:], strict=True):
        np.testing.assert_array_equal(a, b)
    if level == "full":
        assert len(got) == 9
        assert (got[8] & SampleFlags.THRESHOLD).any()
    else:
        assert len(got) == 8
    plain = imc.ndcombine(x, full=True)
    assert len(plain) == 8
    assert plain[1] is None


def test_kernels_nanaverage_is_weighted_average():
    x = _stack()
    w = np.arange(9.0)
    np.testing.assert_array_equal(imc.kernels.nanaverage(x, w), imc.kernels.weighted_average(x, w))


def test_grow_on_the_rule_equals_grow_on_the_call():
    x = _stack(3, shape=(11, 14, 13))
    rule = imc.SigClip(sigma=2.5)
    grown_rule = imc.SigClip(sigma=2.5, grow=1.5)
    want = imc.Combiner(x).combine("median", rejectors=rule, grow=1.5)
    np.testing.assert_array_equal(imc.Combiner(x).combine("median", rejectors=grown_rule), want)
    cmb = imc.Combiner(x).reject(rule, grow=1.5)
    np.testing.assert_array_equal(imc.Combiner(x).reject(grown_rule).mask_rej, cmb.mask_rej)
    np.testing.assert_array_equal(imc.kernels.sigclip(x, sigma=2.5, grow=1.5)[0], cmb.mask_rej)
    np.testing.assert_array_equal(imc.kernels.sigclip_mask(x, sigma=2.5, grow=1.5), cmb.mask_rej)
    assert not np.array_equal(imc.kernels.sigclip_mask(x, sigma=2.5), cmb.mask_rej)
    with pytest.raises(ValueError, match="different radii"):
        imc.Combiner(x).combine("mean", rejectors=grown_rule, grow=1.0)
    with pytest.raises(ValueError, match="grow"):
        imc.SigClip(grow=-1)


def test_one_dimensional_kernels_and_top_level_names():
    v = np.array([10.0, 11, 9, 10, 10, 10, 9, 11, 10, 1e4])
    stack = v.reshape(-1, 1)
    full = imc.kernels.sigclip(stack)
    one = imc.kernels.sigclip_1d(v)
    np.testing.assert_array_equal(one[0], full[0][:, 0])
    assert [float(x) for x in one[1:]] == [float(x[0]) for x in full[1:]]
    np.testing.assert_array_equal(
        imc.kernels.minmax_mask_1d(v), imc.kernels.minmax_mask(stack)[:, 0]
    )
    assert (
        imc.kernels.pclip_combine_1d(v, "median") == imc.kernels.pclip_combine(stack, "median")[0]
    )
    assert imc.sigclip is imc.kernels.sigclip
    assert imc.median is imc.kernels.median
    assert imc.nanaverage is imc.kernels.nanaverage
    np.testing.assert_array_equal(imc.ndcombine(stack, validate=False), imc.ndcombine(stack))
    np.testing.assert_array_equal(imc.kernels.sigclip_mask(stack, validate=True), full[0])


def test_clip_cen_measures_the_spread_about_another_centre():
    """clip_cen (seed 002): bounds about cenfunc, spread about clip_cen; None = cenfunc."""
    x = np.array([[0.0], [9.0], [10.0], [10.0], [11.0], [30.0]])
    # median 10, mean 11.667; rms about the median 8.37, about the mean 8.03
    about_median = imc.kernels.sigclip(x, sigma=1.5, maxiters=1)
    about_mean = imc.kernels.sigclip(x, sigma=1.5, maxiters=1, clip_cen="mean")
    assert float(about_median.std[0]) == pytest.approx(np.sqrt(np.mean((x - 10.0) ** 2)))
    assert float(about_mean.std[0]) == pytest.approx(np.std(x))
    np.testing.assert_array_equal(
        imc.kernels.sigclip(x, sigma=1.5, maxiters=1, clip_cen="median")[0], about_median[0]
    )
    np.testing.assert_array_equal(
        imc.ndcombine(x, reject="sigclip", sigma=1.5, maxiters=1, clip_cen="mean"),
        imc.Combiner(x).combine(
            "mean", rejectors=imc.SigClip(sigma=1.5, maxiters=1, clip_cen="mean")
        ),
    )
    with pytest.raises(ValueError, match="clip_cen"):
        imc.SigClip(clip_cen="mode")


def test_maxiters_zero_rejects_nothing():
    x = _stack()
    r = imc.kernels.sigclip(x, maxiters=0)
    assert not r.mask_rej.any()
    assert not r.nit.any()
    np.testing.assert_array_equal(
        imc.Combiner(x).combine("mean", rejectors=imc.SigClip(maxiters=0)), imc.kernels.mean(x)
    )
