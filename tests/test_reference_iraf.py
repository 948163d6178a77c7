"""Fast checks of the IRAF IMCOMBINE reference (``reference_iraf``) on hand-worked cases.

Each expected number is one measured on IRAF 2.17 and written down in
``docs/iraf-behaviour.md`` section 4 (the section is named in each test), or, for the
behaviour that page does not describe, a small case measured on IRAF 2.17 when the reference
was written (``# IRAF 2.17:``).
"""

from __future__ import annotations

import numpy as np
import pytest
import reference_iraf as ri


def col(*values: float, dtype: type = np.float32) -> np.ndarray:
    """A stack of 1x1 images with these values (one per image)."""
    return np.array(values, dtype=dtype).reshape(-1, 1, 1)


def out(stack: np.ndarray, **kw: object) -> float:
    """The single output value of a 1x1 combine."""
    return float(ri.imcombine_ref(stack, **kw)["output"][0, 0])


def res(stack: np.ndarray, **kw: object) -> dict[str, np.ndarray]:
    return ri.imcombine_ref(stack, **kw)


# ----------------------------------------------------------------- 4.1 calculation type


def test_41_float32_accumulation_and_double():
    assert out(col(1e8, 1, -1e8)) == 0.0
    assert out(col(1e8, 1, -1e8, dtype=np.float64), calc="double") == pytest.approx(
        1 / 3, rel=1e-12
    )


def test_41_ushort_input_real_calculation():
    assert out(col(1, 2, dtype=np.uint16)) == 1.5


@pytest.mark.parametrize(
    ("values", "combine", "expected"),
    [
        ((1, 2), "average", 1),
        ((1, 2, 2), "average", 1),
        ((40000, 40001), "average", 40000),
        ((1, 2), "median", 1),
        ((-3, -2), "average", -2),
    ],
)
def test_41_integer_output_truncates(values, combine, expected):
    assert out(col(*values), combine=combine, outint=True) == expected


def test_41_file_zero_offsets_real_output():
    szw = ri.scale_zero_weight(zero="file", zero_values=[0, 0.7, 0.7, 0.7])
    got = out(col(10, 10, 10, 10), combine="sum", zeros=szw["zeros"], scales=szw["scales"])
    assert got == pytest.approx(42.1, rel=1e-6)


def test_41_average_and_sigma_are_float32_running_sums():
    rng = np.random.default_rng(0)
    stack = rng.normal(1000, 10, (15, 4, 5)).astype(np.float32)
    r = res(stack)
    f32 = np.float32
    for y in range(4):
        for x in range(5):
            s = f32(0)
            for v in stack[:, y, x]:
                s = f32(s + v)
            a = f32(s / f32(15))
            assert r["output"][y, x] == a
            q = f32(0)
            for v in stack[:, y, x]:
                q = f32(q + f32(v - a) * f32(v - a))
            assert r["sigma"][y, x] == np.sqrt(f32(q * f32(f32(1) / f32(14))))


# ------------------------------------------------------------------------- 4.2 median


def test_42_median_even_and_odd():
    assert out(col(1, 2, 3, 4), combine="median") == 2.5
    assert out(col(1, 2), combine="median") == 1.5
    assert out(col(3, 1, 2), combine="median") == 2


def test_42_lmedian():
    assert out(col(1, 2), combine="lmedian") == 1
    assert out(col(1, 2, 3, 4), combine="lmedian") == 2.5


def test_42_statistics_median_is_lower_element():
    assert ri.stat_median([1, 2, 3, 4, 5]) == 2
    assert ri.stat_median([4, 1, 3, 2]) == 2


# -------------------------------------------------------------------------- 4.3 sigma


def test_43_sigma_about_output():
    r = res(col(1, 2, 3, 4, 10))
    assert r["sigma"][0, 0] == pytest.approx(3.535534, rel=1e-6)
    r = res(col(1, 2, 3, 4, 10), combine="median")
    assert r["output"][0, 0] == 3
    assert r["sigma"][0, 0] == pytest.approx(3.708099, rel=1e-6)


def test_43_sigma_single_and_no_pixel():
    assert res(col(7))["sigma"][0, 0] == 0
    r = res(col(5, 6), hthreshold=1, blank=-1)
    assert r["sigma"][0, 0] == -1


def test_43_weighted_sigma():
    w = np.array([1, 1, 2, 2, 4], np.float32)
    szw = ri.scale_zero_weight(weight="file", weight_values=w)
    r = res(col(1, 2, 3, 4, 10), weights=szw["weights"])
    assert r["output"][0, 0] == pytest.approx(5.7, rel=1e-6)
    assert r["sigma"][0, 0] == pytest.approx(4.032679, rel=1e-6)


# ------------------------------------------------------------------------ 4.4 sigclip


def test_44_sigclip_needs_three():
    assert out(col(1, 100), reject="sigclip", lsigma=0.1, hsigma=0.1) == 50.5


def test_44_mclip_yes_and_no():
    stack = col(10, 10, 10, 11, 12, 30)
    assert out(stack, reject="sigclip", lsigma=1.5, hsigma=1.5) == 10
    assert out(stack, reject="sigclip", lsigma=1.5, hsigma=1.5, mclip=False) == 10.25


def test_44_stale_median_and_uncompacted_median():
    stack = col(0, 10, 11, 100)
    kw = {"reject": "sigclip", "lsigma": 1.0, "hsigma": 1.0}
    iraf = res(stack, combine="median", iraf_defects=True, **kw)
    assert iraf["output"][0, 0] == 10
    assert iraf["rejmask"][:, 0, 0].tolist() == [False, False, True, True]
    assert iraf["sigma"][0, 0] == 10
    good = res(stack, combine="median", **kw)
    assert good["output"][0, 0] == 10.5
    assert good["rejmask"][:, 0, 0].tolist() == [True, False, False, True]
    assert good["sigma"][0, 0] == pytest.approx(0.70710677, rel=1e-6)
    assert out(stack, **kw) == 10.5
    assert iraf["nrejmask"][0, 0] == good["nrejmask"][0, 0] == 2


def test_44_uncompacted_median_ccdclip():
    stack = col(*([100] * 9), 20)
    kw = {"combine": "median", "reject": "ccdclip", "rdnoise": 0.0, "gain": 1.0}
    iraf = res(stack, iraf_defects=True, **kw)
    assert iraf["output"][0, 0] == 100
    assert iraf["sigma"][0, 0] == pytest.approx(28.284271, rel=1e-6)
    assert not iraf["rejmask"][9, 0, 0]
    good = res(stack, **kw)
    assert good["sigma"][0, 0] == 0
    assert good["rejmask"][:, 0, 0].tolist() == [False] * 9 + [True]


def test_44_five_images_cannot_clip_at_three_sigma():
    assert out(col(100, 101, 99, 100, 10000), reject="sigclip") == 2080


# ---------------------------------------------------------------------- 4.5 avsigclip


def test_45_avsigclip_sigma_is_per_row():
    stack = np.full((5, 2, 4), 100, np.float32)
    stack[4, :, 0] = 1000
    stack[:, 1, 1] = [100, 700, -500, 100, 100]
    stack[:, 1, 2] = [100, -500, 700, 100, 100]
    r = res(stack, reject="avsigclip")
    assert r["output"][0, 0] == 100
    assert r["output"][1, 0] == 280
    r = res(stack, reject="sigclip")
    assert r["output"][0, 0] == r["output"][1, 0] == 280


# ------------------------------------------------------------------------ 4.6 ccdclip


@pytest.mark.parametrize(
    ("gain", "snoise", "x", "expected"),
    [
        (1.0, 0.0, 133, 103.3),
        (1.0, 0.0, 135, 100),
        (2.0, 0.0, 120, 102),
        (2.0, 0.0, 125, 100),
        (1.0, 0.1, 140, 104),
        (1.0, 0.1, 146, 100),
    ],
)
def test_46_ccdclip_noise_model(gain, snoise, x, expected):
    stack = col(*([100] * 9), x)
    got = out(stack, reject="ccdclip", rdnoise=5.0, gain=gain, snoise=snoise)
    assert got == pytest.approx(expected, rel=1e-6)


def test_46_crreject_keeps_low():
    assert out(col(*([100] * 9), 50), reject="crreject", rdnoise=5.0) == 95
    assert out(col(*([100] * 9), 150), reject="crreject", rdnoise=5.0) == 100


def test_46_ccdclip_mclip_no_centre_every_pass():
    kw = {"reject": "ccdclip", "rdnoise": 0.0, "gain": 1.0}
    assert out(col(*([100] * 6), 131, 1000), mclip=False, **kw) == 100
    stack = col(*([100] * 5), 131, 132, 200)
    assert out(stack, **kw) == 100
    assert out(stack, mclip=False, **kw) == 109


# -------------------------------------------------------------------------- 4.7 pclip


def test_47_pclip():
    assert out(col(1, 5, 6, 7, 30), reject="pclip") == 6
    assert out(col(1, 5, 6, 7, 30), reject="pclip", hsigma=24.0) == 6
    assert out(col(1, 5, 6, 7, 30), reject="pclip", hsigma=24.5) == 12
    assert out(col(1, 4, 6, 20), reject="pclip") == pytest.approx(3.6666667, rel=1e-6)
    assert out(col(1, 4, 6, 20), reject="pclip", combine="median") == 4
    assert out(col(1, 4, 6, 20), reject="pclip", pclip=1.0) == 7.75


# ------------------------------------------------------------------------- 4.8 minmax


@pytest.mark.parametrize(("usable", "expected"), [(10, 5), (9, 4.5), (5, 2.5), (4, 2.5)])
def test_48_minmax_counts_follow_usable_pixels(usable, expected):
    stack = col(*range(1, 11))
    mask = np.zeros(stack.shape, bool)
    mask[usable:] = True
    assert out(stack, mask=mask, reject="minmax", nlow=1, nhigh=2) == expected


def test_48_minmax_examples():
    stack = col(5, 1, 4, 100, 3)
    assert out(stack, reject="minmax", nlow=1, nhigh=1) == 4
    assert out(stack, reject="minmax", nlow=0, nhigh=2) == pytest.approx(2.6666667, rel=1e-6)
    with pytest.raises(ValueError, match="minmax"):
        ri.imcombine_ref(stack, reject="minmax", nlow=3, nhigh=2)


# ----------------------------------------------------------------- 4.9 scale/zero/weight


def test_49_thresholds_on_raw_values():
    szw = ri.scale_zero_weight(scale="file", scale_values=[1, 0.5])
    assert out(col(5, 20), scales=szw["scales"], hthreshold=12) == 5


def test_49_file_and_keyword_scales_multiply():
    szw = ri.scale_zero_weight(scale="file", scale_values=[2, 4])
    assert out(col(10, 5), scales=szw["scales"]) == 10
    szw = ri.scale_zero_weight(scale="keyword", scale_values=[10, 5])
    assert out(col(10, 5), scales=szw["scales"]) == 6.25


def test_49_file_zeros_add():
    szw = ri.scale_zero_weight(zero="file", zero_values=[1, 6])
    assert out(col(10, 5), scales=szw["scales"], zeros=szw["zeros"]) == 11


def test_49_exposure_scaling():
    szw = ri.scale_zero_weight(scale="exposure", nimages=2)  # expname empty: all 0.001
    assert out(col(10, 5), scales=szw["scales"]) == 7.5
    szw = ri.scale_zero_weight(scale="exposure", exptime=[10, 5])
    assert out(col(10, 5), scales=szw["scales"]) == 10


def test_49_median_statistic_for_zero():
    frames = [np.arange(1, 6, dtype=np.float32), 2 * np.arange(1, 6, dtype=np.float32)]
    medians = [ri.stat_median(ri.stat_grid(f)) for f in frames]
    assert medians == [2, 4]


def test_49_weights_from_file_and_sum_ignores_them():
    szw = ri.scale_zero_weight(weight="file", weight_values=[1, 3])
    assert out(col(10, 5), weights=szw["weights"]) == 6.25
    assert out(col(10, 5), weights=szw["weights"], combine="sum") == 15


def test_49_grid_step():
    frame = np.zeros((2048, 2048), np.float32)
    frame[::7, ::7] = 1
    sample = ri.stat_grid(frame)
    assert sample.size == 293 * 293
    assert (sample == 1).all()


# -------------------------------------------------------------------------- 4.10 nkeep


@pytest.mark.parametrize(("nkeep", "expected"), [(1, 10), (4, 7.5), (-1, 7.5), (-2, 10), (5, 10.2)])
def test_410_nkeep(nkeep, expected):
    got = out(col(0, 9, 10, 11, 21), reject="sigclip", lsigma=1.0, hsigma=1.0, nkeep=nkeep)
    assert got == pytest.approx(expected, rel=1e-6)


def test_410_equal_residuals_come_back_together():
    r = res(col(0, 9, 10, 11, 20), reject="sigclip", lsigma=1.0, hsigma=1.0, nkeep=-1)
    assert r["output"][0, 0] == 10
    assert not r["rejmask"].any()


def test_410_nkeep_does_not_protect_masked():
    mask = np.zeros((5, 1, 1), bool)
    mask[:3] = True
    r = res(col(1, 2, 3, 4, 5), mask=mask, nkeep=5)
    assert r["output"][0, 0] == 4.5
    assert r["nrejmask"][0, 0] == 3


# --------------------------------------------------------------------------- 4.11 grow


@pytest.mark.parametrize(("radius", "count"), [(1.0, 5), (1.5, 9), (2.0, 13)])
def test_411_grow_disc(radius, count):
    stack = np.full((5, 7, 7), 100, np.float32)
    stack[:, :, :] += np.arange(5, dtype=np.float32)[:, None, None]
    stack[4, 3, 3] = 10000
    r = res(stack, reject="sigclip", lsigma=1.5, hsigma=1.5, grow=radius)
    assert int(r["rejmask"][4].sum()) == count
    assert not r["rejmask"][:4].any()


def test_411_grow_median_unsorted():
    stack = np.zeros((5, 1, 2), np.float32)
    stack[:, 0, 0] = [100, 101, 99, 100, 1000]
    stack[:, 0, 1] = [1, 2, 3, 4, 0]
    kw = {"reject": "sigclip", "lsigma": 1.5, "hsigma": 1.5, "grow": 1.0}
    assert res(stack, combine="median", iraf_defects=True, **kw)["output"][0, 1] == 1.5
    assert res(stack, combine="median", **kw)["output"][0, 1] == 2.5
    assert res(stack, **kw)["output"][0, 1] == 2.5


# ------------------------------------------------------------------- 4.12 blank, masks


def test_412_blank():
    r = res(col(5, 6), hthreshold=1, blank=-1)
    assert r["output"][0, 0] == -1
    assert r["nrejmask"][0, 0] == 2


def test_412_thresholds_closed_interval():
    assert out(col(5, 6, 50), lthreshold=1, hthreshold=10) == 5.5
    assert out(col(1, 10, 50), lthreshold=1, hthreshold=10) == 5.5


def test_412_masked_pixels_in_rejmask():
    mask = np.zeros((3, 1, 1), bool)
    mask[1] = True
    r = res(col(1, 2, 3), mask=mask)
    assert r["output"][0, 0] == 2
    assert r["rejmask"][:, 0, 0].tolist() == [False, True, False]


# ------------------------------- behaviour not in docs/iraf-behaviour.md (measured on IRAF)


def test_lmedian_pair_after_sorting():
    # IRAF 2.17: (1, 2) sigclip -> 2; (1, 2, 100) ccdclip rdnoise 0 -> 1.5 (100 rejected)
    assert out(col(1, 2), combine="lmedian", reject="sigclip", iraf_defects=True) == 2
    assert out(col(1, 2), combine="lmedian", reject="sigclip") == 1
    kw = {"combine": "lmedian", "reject": "ccdclip", "rdnoise": 0.0}
    assert out(col(1, 2, 100), iraf_defects=True, **kw) == 1.5
    assert out(col(1, 2, 100), **kw) == 1


def test_stale_average_mclip_no():
    # IRAF 2.17: output 11 and sigma 1 (only 10 survives)
    kw = {"reject": "sigclip", "mclip": False, "lsigma": 0.5, "hsigma": 0.05}
    iraf = res(col(0, 10, 12, 30), iraf_defects=True, **kw)
    assert (iraf["output"][0, 0], iraf["sigma"][0, 0]) == (11, 1)
    good = res(col(0, 10, 12, 30), **kw)
    assert (good["output"][0, 0], good["sigma"][0, 0]) == (10, 0)
    assert iraf["rejmask"][:, 0, 0].tolist() == [True, False, True, True]


def test_sigclip_weight_shift():
    # IRAF 2.17: 81, frames 2-5 rejected (correct: 96.25, frames 1, 2, 3, 5)
    v = col(74, 104, 94, 95, 98, 80)
    szw = ri.scale_zero_weight(scale="file", scale_values=[1.0, 1.6, 0.7, 1.1, 1.3, 1.1])
    kw = {"reject": "sigclip", "mclip": False, "lsigma": 1.0, "hsigma": 1.0}
    iraf = res(v, scales=szw["scales"], iraf_defects=True, **kw)
    assert iraf["output"][0, 0] == 81
    assert iraf["rejmask"][:, 0, 0].tolist() == [False, True, True, True, True, False]
    good = res(v, scales=szw["scales"], **kw)
    assert good["output"][0, 0] == 96.25
    assert good["rejmask"][:, 0, 0].tolist() == [True, True, True, False, True, False]


def test_avsigclip_sigma_clobbered_by_addback():
    # IRAF 2.17: (105.33333, 92.833336, 102) and nothing rejected in columns 2 and 3
    cols = [
        [101, 80, 112, 103, 88, 114],
        [90, 91, 78, 94, 104, 100],
        [108, 107, 95, 116, 90, 96],
    ]
    stack = np.array(cols, np.float32).T.reshape(6, 1, 3)
    kw = {"reject": "avsigclip", "mclip": False, "lsigma": 1.0, "hsigma": 1.0, "nkeep": 3}
    iraf = res(stack, iraf_defects=True, **kw)
    assert iraf["output"][0].tolist() == pytest.approx([105.333336, 92.833336, 102.0], rel=1e-7)
    assert iraf["nrejmask"][0].tolist() == [3, 0, 0]
    good = res(stack, **kw)
    assert good["output"][0].tolist() == pytest.approx([105.333336, 93.75, 101.5], rel=1e-7)


def test_pclip_high_tie_not_added_back():
    # IRAF 2.17: 9.75; only one of the two 13s comes back
    kw = {"reject": "pclip", "lsigma": 0.5, "hsigma": 0.5, "nkeep": 4}
    v = col(13, 9, 13, 15, 10, 7, 6)
    assert out(v, iraf_defects=True, **kw) == 9.75
    assert out(v, **kw) == pytest.approx(10.4, rel=1e-6)


def test_grow_empty_pixel_keeps_previous_line():
    # IRAF 2.17: nkeep=0 -> (2, 2); nkeep=1 -> (2, 6): all three frames grown away
    v = np.array([[1, 6], [2, 5], [3, 7]], np.float32).reshape(3, 2, 1)
    kw = {"reject": "minmax", "nlow": 1, "nhigh": 1, "grow": 1.0}
    assert res(v, nkeep=0, iraf_defects=True, **kw)["output"].ravel().tolist() == [2, 2]
    assert res(v, nkeep=0, **kw)["output"].ravel().tolist() == [0, 0]
    assert res(v, nkeep=1, **kw)["output"].ravel().tolist() == [2, 6]


def test_sum_sigma_about_sum_and_quadrature_nmodel():
    # IRAF 2.17: sum (1,2,3) -> 6, sigma 5; quadrature (3,4) -> 2.5;
    # nmodel (100,100) rdnoise 5 gain 2 -> 5.3033009
    r = res(col(1, 2, 3), combine="sum")
    assert (r["output"][0, 0], r["sigma"][0, 0]) == (6, 5)
    assert out(col(3, 4), combine="quadrature") == 2.5
    got = out(col(100, 100), combine="nmodel", rdnoise=5.0, gain=2.0)
    assert got == pytest.approx(5.3033009, rel=1e-7)


def test_mean_statistic_sorted_when_mode_or_median_needed():
    rng = np.random.default_rng(1)
    sample = rng.normal(1000, 10, 1001).astype(np.float32)
    plain, sorted_ = ri.stat_mean(sample), ri.stat_mean(sample, sort=True)
    assert plain == pytest.approx(sorted_, rel=1e-6)
    assert sorted_ == ri.stat_mean(np.sort(sample))


def test_weights_zero_adjustment_stops_at_nonpositive_zero():
    # IRAF 2.17 log: weights 0.083 0.334 0.250 0.333 (zero=mean, weight=exposure)
    szw = ri.scale_zero_weight(
        zero="mean",
        weight="exposure",
        stats={"mean": [100.3, 50.086, -9.7258, 80.019]},
        exptime=[10, 20, 30, 40],
    )
    assert szw["weights"].tolist() == pytest.approx([0.083, 0.334, 0.25, 0.333], abs=5e-4)
    assert szw["warnings"]


def test_double_thresholds_compare_as_float32():
    v = col(1000.00000001, 999.0, 998.0, dtype=np.float64)
    assert out(v, calc="double", hthreshold=1000.0) == pytest.approx(999.0000000033, rel=1e-12)
