"""CCDData / NDData support: `stack_from_nddata` and `combine_ccddata` against slow references.

The references loop over pixels and frames in plain Python (``statistics``, ``math.fsum``) and
take the survivors of each pixel from an explicit list, never from the package.
"""

from __future__ import annotations

import copy
import doctest
import importlib
import math
import statistics

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import (
    CCDData,
    InverseVariance,
    NDData,
    StdDevUncertainty,
    UnknownUncertainty,
    VarianceUncertainty,
)

import imcombiners as imc
from imcombiners.ccddata import combine_ccddata, stack_from_nddata

SQRT_PI_2 = math.sqrt(math.pi / 2)


# ---------------------------------------------------------------- helpers and references


def make_frames(data, *, masks=None, sigmas=None, unit="adu", cls=CCDData, unc_type=None):
    """One NDData object per frame of ``data``; ``masks``/``sigmas`` are per-frame or None."""
    out = []
    for i in range(len(data)):
        kw = {}
        if masks is not None and masks[i] is not None:
            kw["mask"] = np.array(masks[i], dtype=bool)
        if sigmas is not None and sigmas[i] is not None:
            sigma = np.array(sigmas[i], dtype=float)
            if unc_type is None or unc_type is StdDevUncertainty:
                kw["uncertainty"] = StdDevUncertainty(sigma)
            elif unc_type is VarianceUncertainty:
                kw["uncertainty"] = VarianceUncertainty(sigma**2)
            elif unc_type is InverseVariance:
                kw["uncertainty"] = InverseVariance(1.0 / sigma**2)
            else:
                raise AssertionError(unc_type)
        out.append(cls(np.array(data[i]), unit=unit, **kw))
    return out


def survivors(data, masks=None, rejected=()):
    """bool (N, *spatial): finite, not masked, not in ``rejected`` (a list of indices)."""
    used = np.isfinite(data)
    if masks is not None:
        for i, m in enumerate(masks):
            if m is not None:
                used[i] &= ~np.asarray(m, dtype=bool)
    for idx in rejected:
        used[idx] = False
    return used


def ref_combine(data, used, method, *, zero=None, scale=None, weights=None):
    """The combined value of each pixel over its survivors (float64)."""
    n_frames = data.shape[0]
    zero = np.zeros(n_frames) if zero is None else np.asarray(zero, float)
    scale = np.ones(n_frames) if scale is None else np.asarray(scale, float)
    out = np.full(data.shape[1:], np.nan)
    for idx in np.ndindex(*data.shape[1:]):
        sel = [i for i in range(n_frames) if used[(i, *idx)]]
        if not sel:
            continue
        vals = [(float(data[(i, *idx)]) - zero[i]) / scale[i] for i in sel]
        if method == "mean" and weights is not None:
            num = math.fsum(weights[i] * v for i, v in zip(sel, vals, strict=True))
            out[idx] = num / math.fsum(weights[i] for i in sel)
        elif method == "mean":
            out[idx] = math.fsum(vals) / len(vals)
        elif method == "median":
            out[idx] = statistics.median(vals)
        elif method == "lmedian":
            out[idx] = sorted(vals)[(len(vals) - 1) // 2]
        elif method == "sum":
            out[idx] = math.fsum(vals)
        else:
            raise AssertionError(method)
    return out


def ref_propagated(sigmas, used, method, *, scale=None, weights=None):
    """sqrt(sum sigma_i^2)/n etc. over the survivors, sigma_i divided by scale_i."""
    n_frames = used.shape[0]
    scale = np.ones(n_frames) if scale is None else np.asarray(scale, float)
    out = np.full(used.shape[1:], np.nan)
    for idx in np.ndindex(*used.shape[1:]):
        sel = [i for i in range(n_frames) if used[(i, *idx)]]
        if not sel:
            continue
        s = {i: float(np.asarray(sigmas[i])[idx]) / scale[i] for i in sel}
        if weights is not None:
            num = math.sqrt(math.fsum((weights[i] * s[i]) ** 2 for i in sel))
            out[idx] = num / math.fsum(weights[i] for i in sel)
            continue
        root = math.sqrt(math.fsum(s[i] ** 2 for i in sel))
        if method == "sum":
            out[idx] = root
        elif method == "mean":
            out[idx] = root / len(sel)
        elif method in ("median", "lmedian"):
            out[idx] = SQRT_PI_2 * root / len(sel)
        else:
            raise AssertionError(method)
    return out


def ref_scatter(data, used, method, *, zero=None, scale=None, weights=None, ddof=1):
    """Uncertainty from the survivors' standard deviation; NaN where n < max(2, ddof + 1)."""
    n_frames = data.shape[0]
    zero = np.zeros(n_frames) if zero is None else np.asarray(zero, float)
    scale = np.ones(n_frames) if scale is None else np.asarray(scale, float)
    out = np.full(data.shape[1:], np.nan)
    for idx in np.ndindex(*data.shape[1:]):
        sel = [i for i in range(n_frames) if used[(i, *idx)]]
        n = len(sel)
        if n < max(2, ddof + 1):
            continue
        vals = [(float(data[(i, *idx)]) - zero[i]) / scale[i] for i in sel]
        mu = math.fsum(vals) / n
        sd = math.sqrt(math.fsum((v - mu) ** 2 for v in vals) / (n - ddof))
        if weights is not None:
            sum_w2 = math.fsum(weights[i] ** 2 for i in sel)
            out[idx] = sd * math.sqrt(sum_w2) / math.fsum(weights[i] for i in sel)
        elif method == "sum":
            out[idx] = sd * math.sqrt(n)
        elif method == "mean":
            out[idx] = sd / math.sqrt(n)
        elif method in ("median", "lmedian"):
            out[idx] = SQRT_PI_2 * sd / math.sqrt(n)
        else:
            raise AssertionError(method)
    return out


def snapshot(frames):
    """Deep copies of every array and meta of the inputs, to check they are not modified."""
    return [
        (
            f.data.copy(),
            None if f.mask is None else np.array(f.mask, copy=True),
            None if f.uncertainty is None else f.uncertainty.array.copy(),
            copy.deepcopy(dict(f.meta)),
        )
        for f in frames
    ]


def assert_unchanged(frames, before):
    for f, (data, mask, unc, meta) in zip(frames, before, strict=True):
        np.testing.assert_array_equal(f.data, data)
        if mask is None:
            assert f.mask is None
        else:
            np.testing.assert_array_equal(f.mask, mask)
        if unc is None:
            assert f.uncertainty is None
        else:
            np.testing.assert_array_equal(f.uncertainty.array, unc)
        assert dict(f.meta) == meta


@pytest.fixture
def small():
    """A (5, 3, 4) stack with masks, a NaN, per-frame sigmas and a fully-masked pixel."""
    rng = np.random.default_rng(42)
    data = rng.normal(100.0, 3.0, (5, 3, 4))
    data[2, 1, 1] = np.nan
    masks = [None] * 5
    masks[0] = np.zeros((3, 4), bool)
    masks[0][0, 0] = True
    masks[3] = np.zeros((3, 4), bool)
    masks[3][0, 0] = masks[3][2, 3] = True
    for i in (1, 2, 4):  # pixel (2, 3): masked or NaN in every frame
        masks[i] = np.zeros((3, 4), bool) if masks[i] is None else masks[i]
        masks[i][2, 3] = True
    data[0, 2, 3] = np.nan
    sigmas = [rng.uniform(1.0, 4.0, (3, 4)) for _ in range(5)]
    return data, masks, sigmas


# ---------------------------------------------------------------- stack_from_nddata


def test_stack_from_nddata_masks_per_frame_and_inputs_untouched():
    data = np.arange(24, dtype=float).reshape(3, 2, 4)
    m0 = np.zeros((2, 4), bool)
    m0[0, 1] = True
    m2 = np.array([[0, 0, 3, 0], [1, 0, 0, 0]], dtype=np.int16)  # nonzero = bad
    frames = [
        CCDData(data[0].copy(), unit="adu", mask=m0),
        CCDData(data[1].copy(), unit="adu"),
        NDData(data[2].copy(), unit="adu", mask=m2),
    ]
    before = snapshot(frames)
    stack, mask, unit = stack_from_nddata(frames)
    np.testing.assert_array_equal(stack, data)
    assert unit == u.adu
    assert mask.dtype == np.bool_
    assert mask.shape == (3, 2, 4)
    np.testing.assert_array_equal(mask[0], m0)
    assert not mask[1].any()
    np.testing.assert_array_equal(mask[2], m2 != 0)
    # The result owns its memory: writing to it leaves the inputs alone.
    mask[...] = True
    stack[...] = -1.0
    assert_unchanged(frames, before)
    assert not np.shares_memory(mask, m0)


def test_stack_from_nddata_no_masks_gives_none_and_none_unit():
    frames = [NDData(np.ones((2, 2))), NDData(np.zeros((2, 2)))]
    stack, mask, unit = stack_from_nddata(frames)
    assert mask is None
    assert unit is None
    assert stack.shape == (2, 2, 2)


def test_stack_from_nddata_shape_mismatch_names_index():
    frames = [
        CCDData(np.ones((2, 2)), unit="adu"),
        CCDData(np.ones((2, 2)), unit="adu"),
        CCDData(np.ones((2, 3)), unit="adu"),
    ]
    with pytest.raises(ValueError, match=r"item 2 has shape \(2, 3\)"):
        stack_from_nddata(frames)


@pytest.mark.parametrize(
    ("unit1", "message"),
    [("electron", r"item 1 has unit electron, item 0 has adu"), (None, r"item 1 has unit None")],
)
def test_stack_from_nddata_unit_mismatch_names_index(unit1, message):
    frames = [NDData(np.ones((2, 2)), unit="adu"), NDData(np.ones((2, 2)), unit=unit1)]
    with pytest.raises(ValueError, match=message):
        stack_from_nddata(frames)


def test_stack_from_nddata_rejects_non_nddata():
    with pytest.raises(TypeError, match=r"item 1 is a ndarray"):
        stack_from_nddata([CCDData(np.ones((2, 2)), unit="adu"), np.ones((2, 2))])
    with pytest.raises(TypeError, match="single"):
        stack_from_nddata(CCDData(np.ones((2, 2)), unit="adu"))
    with pytest.raises(ValueError, match="empty"):
        stack_from_nddata([])


def test_stack_from_nddata_mask_shape_mismatch():
    bad = NDData(np.ones((2, 2)), unit="adu", mask=np.zeros((3,), bool))
    with pytest.raises(ValueError, match=r"mask of item 1"):
        stack_from_nddata([NDData(np.ones((2, 2)), unit="adu"), bad])


# ---------------------------------------------------------------- propagated uncertainty


@pytest.mark.parametrize("method", ["mean", "median", "lmedian", "sum"])
def test_propagated_uncertainty_masks_and_nan(small, method):
    data, masks, sigmas = small
    frames = make_frames(data, masks=masks, sigmas=sigmas)
    before = snapshot(frames)
    out = combine_ccddata(frames, method)
    assert_unchanged(frames, before)

    used = survivors(data, masks)
    np.testing.assert_allclose(out.data, ref_combine(data, used, method), rtol=1e-12)
    expected = ref_propagated(sigmas, used, method)
    np.testing.assert_allclose(out.uncertainty.array, expected, rtol=1e-12)
    assert isinstance(out.uncertainty, StdDevUncertainty)
    # Pixel (2, 3) had no usable sample; (1, 1) lost one to NaN and still has some.
    np.testing.assert_array_equal(out.mask, np.isnan(expected))
    assert out.mask[2, 3]
    assert out.mask.sum() == 1
    assert np.isnan(out.data[2, 3])
    assert np.isnan(out.uncertainty.array[2, 3])
    assert out.unit == u.adu
    assert out.meta["NCOMBINE"] == 5


def test_propagated_uncertainty_is_not_the_scatter(small):
    """Guard against a tautology: the two estimates differ on these data."""
    data, masks, sigmas = small
    with_unc = combine_ccddata(make_frames(data, masks=masks, sigmas=sigmas), "mean")
    without = combine_ccddata(make_frames(data, masks=masks), "mean")
    np.testing.assert_array_equal(with_unc.data, without.data)
    good = ~with_unc.mask
    assert not np.allclose(with_unc.uncertainty.array[good], without.uncertainty.array[good])


def _cosmic_ray_stack():
    rng = np.random.default_rng(7)
    data = 500.0 + rng.uniform(-1.0, 1.0, (15, 4, 5))
    data[6, 2, 3] = 9000.0  # a cosmic ray
    data[11, 0, 1] = 7000.0  # another
    sigmas = [np.full((4, 5), 0.5 + 0.1 * i) for i in range(15)]
    masks = [None] * 15
    masks[2] = np.zeros((4, 5), bool)
    masks[2][2, 3] = True
    return data, masks, sigmas, [(6, 2, 3), (11, 0, 1)]


@pytest.mark.parametrize("method", ["mean", "median", "sum"])
def test_propagated_uncertainty_with_sigclip(method):
    data, masks, sigmas, crs = _cosmic_ray_stack()
    frames = make_frames(data, masks=masks, sigmas=sigmas)
    before = snapshot(frames)
    out = combine_ccddata(frames, method, rejectors=imc.SigClip(sigma=3.0))
    assert_unchanged(frames, before)

    used = survivors(data, masks, rejected=crs)
    # The cosmic rays were really rejected: the result matches the survivors without them...
    np.testing.assert_allclose(out.data, ref_combine(data, used, method), rtol=1e-12)
    assert out.data[2, 3] < 600 if method != "sum" else out.data[2, 3] < 13 * 600
    expected = ref_propagated(sigmas, used, method)
    np.testing.assert_allclose(out.uncertainty.array, expected, rtol=1e-12)
    # ...and the uncertainty counts 13 samples at (2, 3), 14 at (0, 1), 15 elsewhere.
    without_rejection = ref_propagated(sigmas, survivors(data, masks), method)
    assert out.uncertainty.array[2, 3] != pytest.approx(without_rejection[2, 3])
    assert out.uncertainty.array[0, 1] != pytest.approx(without_rejection[0, 1])
    assert not out.mask.any()


def test_sigclip_with_grow_rejects_neighbours():
    data, masks, sigmas, _ = _cosmic_ray_stack()
    frames = make_frames(data, masks=masks, sigmas=sigmas)
    out = combine_ccddata(frames, "mean", rejectors=imc.SigClip(sigma=3.0), grow=1.0)
    rejected = []
    for f, y, x in [(6, 2, 3), (11, 0, 1)]:
        for dy, dx in [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]:
            if 0 <= y + dy < 4 and 0 <= x + dx < 5:
                rejected.append((f, y + dy, x + dx))
    used = survivors(data, masks, rejected=rejected)
    np.testing.assert_allclose(out.data, ref_combine(data, used, "mean"), rtol=1e-12)
    np.testing.assert_allclose(
        out.uncertainty.array, ref_propagated(sigmas, used, "mean"), rtol=1e-12
    )


def test_thresholds_exclude_samples_from_the_uncertainty():
    data, masks, sigmas, crs = _cosmic_ray_stack()
    out = combine_ccddata(
        make_frames(data, masks=masks, sigmas=sigmas), "mean", thresholds=(0.0, 5000.0)
    )
    used = survivors(data, masks, rejected=crs)  # both cosmic rays are above 5000
    np.testing.assert_allclose(out.data, ref_combine(data, used, "mean"), rtol=1e-12)
    np.testing.assert_allclose(
        out.uncertainty.array, ref_propagated(sigmas, used, "mean"), rtol=1e-12
    )


@pytest.mark.parametrize("unc_type", [VarianceUncertainty, InverseVariance])
def test_variance_and_inverse_variance_inputs(small, unc_type):
    data, masks, sigmas = small
    frames = make_frames(data, masks=masks, sigmas=sigmas, unc_type=unc_type)
    before = snapshot(frames)
    out = combine_ccddata(frames, "mean")
    assert_unchanged(frames, before)
    expected = ref_propagated(sigmas, survivors(data, masks), "mean")
    assert type(out.uncertainty) is unc_type  # the first input's class
    got = out.uncertainty.represent_as(StdDevUncertainty).array
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_mixed_uncertainty_types():
    rng = np.random.default_rng(3)
    data = rng.normal(10, 1, (3, 2, 2))
    sig = [np.full((2, 2), s) for s in (1.0, 2.0, 3.0)]
    frames = [
        CCDData(data[0], unit="adu", uncertainty=StdDevUncertainty(sig[0])),
        CCDData(data[1], unit="adu", uncertainty=VarianceUncertainty(sig[1] ** 2)),
        CCDData(data[2], unit="adu", uncertainty=InverseVariance(1 / sig[2] ** 2)),
    ]
    out = combine_ccddata(frames, "sum")
    np.testing.assert_allclose(out.uncertainty.array, math.sqrt(1 + 4 + 9))


def test_uncertainty_in_a_different_compatible_unit():
    data = np.ones((2, 2, 2))
    in_mjy = StdDevUncertainty(np.full((2, 2), 300.0), unit="mJy")
    frames = [
        CCDData(data[0], unit="Jy", uncertainty=in_mjy),
        CCDData(data[1], unit="Jy", uncertainty=StdDevUncertainty(np.full((2, 2), 0.4))),
    ]
    out = combine_ccddata(frames, "sum")
    np.testing.assert_allclose(out.uncertainty.array, 0.5)
    assert out.unit == u.Jy


def test_zero_scale_divides_sigma_by_scale():
    rng = np.random.default_rng(5)
    levels = np.array([100.0, 200.0, 400.0, 50.0])
    data = levels[:, None, None] * (1 + rng.normal(0, 0.01, (4, 3, 3)))
    sigmas = [np.full((3, 3), 0.01 * lv) for lv in levels]
    scale = levels / levels[0]
    zero = np.array([0.0, 1.0, -2.0, 3.0])
    frames = make_frames(data, sigmas=sigmas)
    out = combine_ccddata(frames, "mean", zero=zero, scale=scale)
    used = survivors(data)
    np.testing.assert_allclose(
        out.data, ref_combine(data, used, "mean", zero=zero, scale=scale), rtol=1e-12
    )
    expected = ref_propagated(sigmas, used, "mean", scale=scale)
    np.testing.assert_allclose(out.uncertainty.array, expected, rtol=1e-12)
    np.testing.assert_allclose(expected, 0.01 * 100 / 2)  # sigma_i / scale_i == 1 for all i


def test_scale_statistic_matches_resolved_numbers():
    rng = np.random.default_rng(6)
    levels = np.array([100.0, 150.0, 300.0])
    data = levels[:, None, None] + rng.normal(0, 1, (3, 6, 6))
    sigmas = [np.full((6, 6), 1.0)] * 3
    out = combine_ccddata(make_frames(data, sigmas=sigmas), "median", scale="median")
    _, scale = imc.resolve_zero_scale(data, scale="median")
    used = survivors(data)
    np.testing.assert_allclose(out.data, ref_combine(data, used, "median", scale=scale), rtol=1e-6)
    np.testing.assert_allclose(
        out.uncertainty.array, ref_propagated(sigmas, used, "median", scale=scale), rtol=1e-12
    )


@pytest.mark.parametrize("method", ["mean", "weighted_average", "wvg"])
def test_weighted_mean_uncertainty(small, method):
    data, masks, sigmas = small
    weights = np.array([1.0, 2.0, 0.5, 3.0, 1.5])
    out = combine_ccddata(make_frames(data, masks=masks, sigmas=sigmas), method, weights=weights)
    used = survivors(data, masks)
    np.testing.assert_allclose(
        out.data, ref_combine(data, used, "mean", weights=weights), rtol=1e-12
    )
    expected = ref_propagated(sigmas, used, "mean", weights=weights)
    np.testing.assert_allclose(out.uncertainty.array, expected, rtol=1e-12)
    # Not the unweighted formula.
    plain = ref_propagated(sigmas, used, "mean")
    assert not np.allclose(expected[~out.mask], plain[~out.mask])


# ---------------------------------------------------------------- uncertainty from the scatter


@pytest.mark.parametrize("method", ["mean", "median", "lmedian", "sum"])
def test_scatter_uncertainty_when_inputs_have_none(small, method):
    data, masks, _ = small
    frames = make_frames(data, masks=masks)
    before = snapshot(frames)
    out = combine_ccddata(frames, method)
    assert_unchanged(frames, before)
    used = survivors(data, masks)
    np.testing.assert_allclose(out.data, ref_combine(data, used, method), rtol=1e-12)
    np.testing.assert_allclose(out.uncertainty.array, ref_scatter(data, used, method), rtol=1e-10)
    assert out.mask[2, 3]
    assert out.mask.sum() == 1


def test_scatter_uncertainty_nan_below_two_survivors():
    data = np.array(
        [[[1.0, 2.0, np.nan]], [[3.0, np.nan, np.nan]], [[8.0, np.nan, np.nan]]]
    )  # pixel 0: 3 samples, pixel 1: 1 sample, pixel 2: none
    out = combine_ccddata(make_frames(data), "mean")
    expected_sd = statistics.stdev([1.0, 3.0, 8.0])
    np.testing.assert_allclose(out.uncertainty.array[0, 0], expected_sd / math.sqrt(3))
    assert np.isnan(out.uncertainty.array[0, 1])
    assert out.data[0, 1] == 2.0
    assert not out.mask[0, 1]
    assert np.isnan(out.uncertainty.array[0, 2])
    assert out.mask.tolist() == [[False, False, True]]
    # With ddof=0 a single sample would have std 0: it still has no scatter to measure.
    out0 = combine_ccddata(make_frames(data), "mean", ddof=0)
    assert np.isnan(out0.uncertainty.array[0, 1])
    np.testing.assert_allclose(
        out0.uncertainty.array[0, 0], np.std([1.0, 3.0, 8.0]) / math.sqrt(3), rtol=1e-12
    )


def test_scatter_uncertainty_ddof():
    data = np.random.default_rng(8).normal(0, 1, (6, 2, 3))
    out0 = combine_ccddata(make_frames(data), "mean", ddof=0)
    out1 = combine_ccddata(make_frames(data), "mean")
    used = survivors(data)
    np.testing.assert_allclose(out0.uncertainty.array, ref_scatter(data, used, "mean", ddof=0))
    np.testing.assert_allclose(out1.uncertainty.array, ref_scatter(data, used, "mean", ddof=1))
    np.testing.assert_allclose(out1.uncertainty.array / out0.uncertainty.array, math.sqrt(6 / 5))


def test_scatter_uncertainty_with_rejection_zero_scale_and_weights():
    data, masks, _, crs = _cosmic_ray_stack()
    zero = np.linspace(-1, 1, 15)
    scale = np.linspace(1, 2, 15)
    weights = np.linspace(0.5, 2.0, 15)
    out = combine_ccddata(
        make_frames(data, masks=masks),
        "mean",
        rejectors=imc.SigClip(sigma=3.0),
        zero=zero,
        scale=scale,
        weights=weights,
    )
    used = survivors(data, masks, rejected=crs)
    kw = {"zero": zero, "scale": scale, "weights": weights}
    np.testing.assert_allclose(out.data, ref_combine(data, used, "mean", **kw), rtol=1e-12)
    np.testing.assert_allclose(
        out.uncertainty.array, ref_scatter(data, used, "mean", **kw), rtol=1e-10
    )


def test_one_input_without_uncertainty_falls_back_to_scatter(small):
    data, masks, sigmas = small
    sigmas = list(sigmas)
    sigmas[3] = None
    out = combine_ccddata(make_frames(data, masks=masks, sigmas=sigmas), "mean")
    used = survivors(data, masks)
    np.testing.assert_allclose(out.uncertainty.array, ref_scatter(data, used, "mean"), rtol=1e-10)


def test_unknown_uncertainty_warns_and_falls_back():
    data = np.random.default_rng(9).normal(0, 1, (4, 2, 2))
    frames = make_frames(data, sigmas=[np.ones((2, 2))] * 4)
    frames[1] = CCDData(data[1], unit="adu", uncertainty=UnknownUncertainty(np.ones((2, 2))))
    with pytest.warns(imc.ImcombinersWarning, match="item 1"):
        out = combine_ccddata(frames, "mean")
    np.testing.assert_allclose(
        out.uncertainty.array, ref_scatter(data, survivors(data), "mean"), rtol=1e-10
    )


# ---------------------------------------------------------------- masks, NaN, dtype, meta


def test_mask_where_nothing_survived_after_rejection():
    # Pixel (0, 0): every sample masked or NaN; pixel (0, 1): MinMaxClip removes all but one.
    data = np.array([[[1.0, 1.0]], [[np.nan, 2.0]], [[3.0, 3.0]]])
    masks = [np.array([[True, False]]), None, np.array([[True, False]])]
    sigmas = [np.ones((1, 2))] * 3
    out = combine_ccddata(
        make_frames(data, masks=masks, sigmas=sigmas),
        "mean",
        rejectors=imc.MinMaxClip(n_min=1, n_max=1),
    )
    assert out.mask.tolist() == [[True, False]]
    assert np.isnan(out.data[0, 0])
    assert np.isnan(out.uncertainty.array[0, 0])
    assert out.data[0, 1] == 2.0
    assert out.uncertainty.array[0, 1] == 1.0


def test_a_sample_with_a_nan_uncertainty_is_missing():
    data = np.array([[[1.0, 1.0]], [[7.0, 1.0]], [[1.0, 1.0]]])
    sig = [np.ones((1, 2)), np.array([[np.nan, 1.0]]), np.ones((1, 2))]
    masks = [None, np.array([[False, True]]), None]
    out = combine_ccddata(make_frames(data, sigmas=sig, masks=masks), "mean")
    assert out.data[0, 0] == 1.0  # the sample with an unknown sigma is not used
    np.testing.assert_allclose(out.uncertainty.array, math.sqrt(2) / 2)
    assert not out.mask.any()


def test_float32_inputs_give_float32_result():
    data = np.random.default_rng(2).normal(10, 1, (4, 3, 3)).astype(np.float32)
    sig = [np.ones((3, 3), np.float32)] * 4
    out = combine_ccddata(make_frames(data, sigmas=sig), "median")
    assert out.data.dtype == np.float32
    assert out.uncertainty.array.dtype == np.float32
    np.testing.assert_allclose(out.uncertainty.array, SQRT_PI_2 * 2 / 4, rtol=1e-6)


def test_meta_copied_with_ncombine_and_first_input_untouched():
    header = fits.Header({"OBJECT": "bias", "EXPTIME": 0.0})
    frames = [
        CCDData(np.ones((2, 2)), unit="adu", meta=header),
        CCDData(np.ones((2, 2)), unit="adu", meta={"OBJECT": "other"}),
    ]
    out = combine_ccddata(frames, "mean")
    assert out.meta["NCOMBINE"] == 2
    assert out.meta["OBJECT"] == "bias"
    assert "NCOMBINE" not in frames[0].meta
    out.meta["OBJECT"] = "changed"
    assert frames[0].meta["OBJECT"] == "bias"


def test_data_equals_one_shot_combiner():
    data, masks, sigmas, _ = _cosmic_ray_stack()
    frames = make_frames(data, masks=masks, sigmas=sigmas)
    kw = {
        "rejectors": [imc.SigClip(sigma=3.0)],
        "thresholds": (0.0, 8000.0),
        "zero": "median",
        "scale": "mean",
        "weights": "median",
    }
    out = combine_ccddata(frames, "mean", grow=1.0, **kw)
    stack, mask, _ = stack_from_nddata(frames)
    expected = imc.Combiner(stack, mask=mask).combine("mean", grow=1.0, **kw)
    np.testing.assert_array_equal(out.data, expected)


# ---------------------------------------------------------------- errors


def test_unit_and_shape_mismatch_errors_in_combine():
    a = CCDData(np.ones((2, 2)), unit="adu")
    with pytest.raises(ValueError, match="item 1 has unit electron"):
        combine_ccddata([a, CCDData(np.ones((2, 2)), unit="electron")])
    with pytest.raises(ValueError, match=r"item 1 has shape \(3, 2\)"):
        combine_ccddata([a, CCDData(np.ones((3, 2)), unit="adu")])


def test_inputs_without_unit_raise():
    with pytest.raises(ValueError, match="no unit"):
        combine_ccddata([NDData(np.ones((2, 2))), NDData(np.ones((2, 2)))])


def test_unsupported_methods():
    frames = make_frames(np.ones((3, 2, 2)))
    with pytest.raises(ValueError, match=r"mean.*median.*lmedian.*sum.*min.*max.*variance"):
        combine_ccddata(frames, "nonsense")


@pytest.mark.parametrize("method", ["min", "max", "variance"])
def test_min_max_variance_need_input_uncertainties(method):
    frames = make_frames(np.ones((3, 2, 2)))
    with pytest.raises(ValueError, match="not every input has one"):
        combine_ccddata(frames, method)


def test_weights_only_with_mean():
    frames = make_frames(np.ones((3, 2, 2)))
    with pytest.raises(ValueError, match="weights"):
        combine_ccddata(frames, "median", weights=[1, 2, 3])
    with pytest.raises(ValueError, match="weights are required"):
        combine_ccddata(frames, "weighted_average")


def test_plain_nddata_with_unit_is_accepted():
    data = np.random.default_rng(1).normal(0, 1, (3, 2, 2))
    frames = make_frames(data, cls=NDData, unit="electron", sigmas=[np.ones((2, 2))] * 3)
    out = combine_ccddata(frames, "sum")
    assert isinstance(out, CCDData)
    assert out.unit == u.electron
    np.testing.assert_allclose(out.uncertainty.array, math.sqrt(3))


# ---------------------------------------------------------------- Combiner hook and doctest


def test_combiner_accepts_a_list_of_ccddata():
    data = np.arange(12, dtype=float).reshape(3, 2, 2)
    m = np.array([[True, False], [False, False]])
    frames = [
        CCDData(data[0], unit="adu", mask=m),
        CCDData(data[1], unit="adu"),
        CCDData(data[2], unit="adu", mask=~m),
    ]
    out = imc.Combiner(frames).combine("mean")
    expected = np.array([[data[1, 0, 0] + data[2, 0, 0], 0.0], [0.0, 0.0]]) / 2
    expected[0, 1] = (data[0, 0, 1] + data[1, 0, 1]) / 2
    expected[1] = (data[0, 1] + data[1, 1]) / 2
    np.testing.assert_allclose(out, expected)
    stack, mask, _ = stack_from_nddata(frames)
    np.testing.assert_array_equal(out, imc.Combiner(stack, mask=mask).combine("mean"))


def test_docstring_examples_run():
    module = importlib.import_module("imcombiners.ccddata")
    result = doctest.testmod(
        module, extraglobs={"np": np, "imc": imc}, optionflags=doctest.NORMALIZE_WHITESPACE
    )
    assert result.attempted > 0
    assert result.failed == 0
