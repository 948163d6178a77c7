"""Per-frame statistics for zero/scale normalisation, against the slow twins in reference_stats.

* Self-checks of the oracle (run without the new API): IRAF's sampling step, sigma-clipped
  statistics against ``astropy.stats.sigma_clipped_stats``, IRAF's binned mode on hand-worked
  cases, the samples a region and a step select, and the errors the oracle raises.
* ``imc.resolve_zero_scale`` against ``reference_stats.resolve_zero_scale_ref``: every
  statistic, every dtype, byte-swapped and strided stacks, masks, thresholds, ``stat_region``,
  ``stat_step``, ``normalize``, callables, ``sigma``/``maxiters``, hypothesis properties, every
  error, inputs never modified. Medians, modes and everything on integer-valued data must be
  bit-identical; means of non-integer data agree to 1e-12 (the oracle sums with ``fsum``).
* ``Combiner.combine``, ``Combiner.zero_scale`` (chained) and ``ndcombine`` with statistics give
  the same output as ``resolve_zero_scale`` followed by a combine with the numeric arrays;
  ``weights="mean"|"median"|"mode"``.
* A flat-field workflow, and agreement with ccdproc's scaling.

The API tests are skipped while ``imc.resolve_zero_scale`` does not exist yet.
"""

import dataclasses
import math

import numpy as np
import pytest
import reference
import reference_stats as rs
from hypothesis import event, given, note, settings
from hypothesis import strategies as st
from strategies import Layout, stack_cases, thresholds_for

import imcombiners as imc

DTYPES = reference.ACCEPTED_DTYPES
STATS = rs.STATISTICS
#: Statistics whose value is one sample (or the mean of two): bit-identical on any data.
EXACT_STATS = ("median", "mode", "sigclip_median")
REL = 1e-12


# ============================================================================== helpers


def make_stack(rng, n, shape, dtype, *, nonfinite=0.0):
    """Frames at different levels (about 1000, or 120 for uint8) with Gaussian noise.

    Float stacks are not integer-valued and get a fraction ``nonfinite`` of NaN/+-inf.
    """
    dtype = np.dtype(dtype)
    centre, noise = (120.0, 8.0) if dtype == np.uint8 else (1000.0, 20.0)
    levels = rng.uniform(0.6, 1.6, n).reshape(-1, *[1] * len(shape))
    values = levels * rng.normal(centre, noise, (n, *shape))
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    out = values.astype(dtype)
    bad = rng.random(out.shape) < nonfinite
    out[bad] = rng.choice([np.nan, np.inf, -np.inf], size=int(bad.sum()))
    return out


def make_mask(rng, shape, frac=0.05):
    return rng.random(shape) < frac


def magnitude(stack):
    """Largest finite |value| of the stack (the scale of the absolute tolerances)."""
    x = np.asarray(stack, dtype=np.float64)
    x = x[np.isfinite(x)]
    return float(np.max(np.abs(x))) if x.size else 1.0


def assert_pair(got, want, *, exact=True, mag=1.0):
    """``got`` is ``(zero, scale)`` from the API, ``want`` from the oracle.

    Exact: bit-identical. Otherwise zero within 1e-12 relative or 1e-12 * mag absolute (the
    normalised zero is a difference), scale within 1e-11 relative.
    """
    assert isinstance(got, tuple)
    assert len(got) == 2
    for name, g, w in zip(("zero", "scale"), got, want, strict=True):
        if w is None:
            assert g is None, name
            continue
        assert isinstance(g, np.ndarray), name
        assert g.dtype == np.float64, name
        assert g.shape == w.shape, name
        if exact:
            np.testing.assert_array_equal(g, w, err_msg=name)
        elif name == "zero":
            np.testing.assert_allclose(g, w, rtol=REL, atol=REL * mag, err_msg=name)
        else:
            np.testing.assert_allclose(g, w, rtol=10 * REL, atol=0, err_msg=name)


def both(stack, zero=None, scale=None, **kwargs):
    """(API result, oracle result) for the same arguments."""
    got = imc.resolve_zero_scale(stack, zero, scale, **kwargs)
    want = rs.resolve_zero_scale_ref(stack, zero, scale, **kwargs)
    return got, want


def is_exact(*specs):
    return all(not isinstance(s, str) or s.lower() in EXACT_STATS for s in specs)


def same_image(a, b):
    np.testing.assert_array_equal(a, b)
    assert a.dtype == b.dtype


def lowest_third(v):
    """An order-independent statistic (a sample value): exact on any data."""
    return float(np.sort(v)[len(v) // 3])


# ================================================================ oracle self-checks


@pytest.mark.parametrize(
    ("shape", "step"),
    [
        ((2048, 2048), 7),  # IRAF uses every 7th pixel of a 2k x 2k frame
        ((100, 100), 1),
        ((99_999,), 1),
        ((100_000,), 2),  # 100000 points is not < 100000
        ((1000, 100), 2),
        ((316, 316), 1),
        ((317, 317), 2),
        ((4096, 4096), 10),  # 410 x 410 > 100000 at j = 10: none fits, 10 anyway
        ((10**7,), 10),
        ((40, 50, 60), 2),
        ((1,), 1),
    ],
)
def test_grid_step(shape, step):
    assert rs.grid_step(shape) == step


def test_frame_samples_region_grid_and_exclusions():
    stack = np.arange(2 * 12 * 10, dtype=np.float64).reshape(2, 12, 10)
    # Region rows 2..10, cols 3..9, step 3: rows 2, 5, 8 and cols 3, 6 (row-major order).
    got = rs.frame_samples(stack, 1, stat_region=(slice(2, 11), slice(3, 9)), stat_step=3)
    rows, cols = (2, 5, 8), (3, 6)
    np.testing.assert_array_equal(got, [stack[1, r, c] for r in rows for c in cols])
    # Fewer slices than axes: the other axes are whole.
    got = rs.frame_samples(stack, 0, stat_region=(slice(4, 6),), stat_step=1)
    np.testing.assert_array_equal(got, stack[0, 4:6].ravel())
    # Masked, non-finite and out-of-thresholds samples are dropped; bounds are inclusive.
    stack[0, 0, :4] = [np.nan, np.inf, -np.inf, 7.0]
    mask = np.zeros(stack.shape, dtype=bool)
    mask[0, 0, 4] = True
    got = rs.frame_samples(
        stack, 0, mask=mask, thresholds=(5.0, 9.0), stat_region=(slice(0, 1),), stat_step=1
    )
    np.testing.assert_array_equal(got, [7.0, 5.0, 6.0, 7.0, 8.0, 9.0])
    # The default step is IRAF's.
    big = np.zeros((1, 400, 300), dtype=np.uint16)
    assert rs.frame_samples(big, 0).size == 200 * 150


@pytest.mark.parametrize("maxiters", [1, 2, 5, 10, None])
@pytest.mark.parametrize("sigma", [2.0, 2.5, 3.0])
@pytest.mark.parametrize("seed", range(4))
def test_sigclip_stats_match_astropy(seed, sigma, maxiters):
    """astropy (axis=None, masked=False) keeps the survivors of the passes: same rule."""
    import astropy.stats as astropy_stats

    rng = np.random.default_rng(seed)
    v = rng.normal(1000.0, 25.0, 2000)
    v[rng.choice(v.size, 60, replace=False)] = rng.uniform(1200.0, 5000.0, 60)  # cosmic rays
    v[rng.choice(v.size, 10, replace=False)] = rng.uniform(0.0, 500.0, 10)  # cold pixels
    v = np.concatenate([v, rng.normal(1100.0, 200.0, 300)])  # a skewed wing
    want_mean, want_median, _ = astropy_stats.sigma_clipped_stats(v, sigma=sigma, maxiters=maxiters)
    got_mean, got_median = rs.sigclip_stats(v, sigma, maxiters)
    assert got_mean == pytest.approx(float(want_mean), rel=REL)
    assert got_median == pytest.approx(float(want_median), rel=REL)


def test_sigclip_stats_hand_worked():
    # Pass 1: median 2, std of (1,2,2,3,100) is 39.2..., nothing beyond 3 sigma except none:
    # 2 + 3 * 39.2 = 119.6 > 100, so everything is kept.
    assert rs.sigclip_stats([1, 2, 2, 3, 100], 3.0, 5) == (21.6, 2.0)
    # sigma = 1.5: pass 1 drops 100 (bounds 2 -+ 58.9); pass 2 keeps 1..3 (std 0.707).
    assert rs.sigclip_stats([1, 2, 2, 3, 100], 1.5, 5) == (2.0, 2.0)
    assert rs.sigclip_stats([1, 2, 2, 3, 100], 1.5, 1) == (2.0, 2.0)
    # maxiters limits the passes: pass 1 drops 50, pass 2 drops 10, pass 3 keeps the ones.
    v = [1.0] * 20 + [10.0, 50.0]
    assert rs.sigclip_stats(v, 2.0, 1) == (pytest.approx(30 / 21), 1.0)
    assert rs.sigclip_stats(v, 2.0, None) == (1.0, 1.0)
    # All equal: std 0, nothing is clipped.
    assert rs.sigclip_stats([4.0] * 7, 3.0, 5) == (4.0, 4.0)


def test_median_definitions():
    assert rs.median([1, 2, 3, 4, 5]) == 3.0
    assert rs.median([5, 1, 4, 2]) == 3.0  # mean of the two middle values
    rng = np.random.default_rng(0)
    for n in range(1, 30):
        v = rng.normal(size=n)
        assert rs.median(v) == np.median(v)
        assert rs.mean(v) == pytest.approx(np.mean(v), rel=REL)


def test_iraf_mode_of_few_values_is_the_lower_middle_element():
    """n < 10: a[max(n // 2, 1)] (1-based), which is NOT the median for odd n."""
    assert rs.iraf_mode([7.0], False, np.float64) == 7.0
    assert rs.iraf_mode([1.0, 2.0], False, np.float64) == 1.0
    assert rs.iraf_mode([1.0, 2.0, 3.0], False, np.float64) == 1.0
    assert rs.iraf_mode([1.0, 2.0, 3.0, 4.0], False, np.float64) == 2.0
    v = [1.0, 2.0, 3.0, 4.0, 5.0]
    assert rs.iraf_mode(v, True, np.float32) == 2.0  # a[2]
    assert rs.median(v) == 3.0
    assert rs.iraf_mode(np.arange(1.0, 10.0), False, np.float64) == 4.0  # n = 9: a[4]
    assert rs.statistic("mode", [5.0, 3.0, 1.0, 2.0, 4.0]) == 2.0  # sorts first


def test_iraf_mode_hand_worked():
    # n = 10: i = 2, j = 9; integer bins of width 1 step 1 from a[2] = 2.
    a = [1.0, 2.0, 3.0, 5.0, 5.0, 5.0, 5.0, 8.0, 9.0, 10.0]
    assert rs.iraf_mode(a, True, np.float32) == 5.0
    # Uniform values: the first bin wins.
    assert rs.iraf_mode(np.arange(1.0, 11.0), True, np.float32) == 2.0
    # z1 == z2 (more than 70% ties): that value, without binning.
    a = [0.0, 1.0] + [3.0] * 15 + [9.0, 9.0, 100.0]
    assert rs.iraf_mode(a, False, np.float64) == 3.0


@pytest.mark.parametrize("work", [np.float64, np.float32])
def test_iraf_mode_finds_a_sharp_peak(work):
    rng = np.random.default_rng(3)
    wide = rng.uniform(0.0, 100.0, 3000)
    peak = rng.normal(10.0, 0.05, 2000)
    v = np.sort(np.concatenate([wide, peak]).astype(work).astype(np.float64))
    mode = rs.iraf_mode(v, False, work)
    assert mode in v
    assert abs(mode - 10.0) < 0.2
    assert abs(np.median(v) - 10.0) > 3.0  # the median is pulled away, the mode is not


def test_iraf_mode_integer_bins_are_at_least_one():
    rng = np.random.default_rng(4)
    v = np.sort(np.concatenate([rng.integers(0, 30, 200), np.full(120, 17)]).astype(float))
    assert rs.iraf_mode(v, True, np.float32) == 17.0
    # A peak between integers needs real bins: float data of the same shape.
    assert rs.iraf_mode(v + 0.25, False, np.float64) == 17.25


def test_iraf_mode_index_arithmetic_in_float32_is_exact():
    """1 + int(n * 0.15) and 1 + int(n * 0.85): float32 gives the exact values up to 200000."""
    f32 = np.float32
    for n in [*range(10, 5000), 19_999, 20_000, 99_999, 100_000, 200_000]:
        i = 1 + int(f32(n) * (f32(1) - f32(0.7)) / f32(2))
        j = 1 + int(f32(n) * (f32(1) + f32(0.7)) / f32(2))
        assert (i, j) == (1 + (15 * n) // 100, 1 + (85 * n) // 100), n


def test_reference_resolve_on_a_hand_made_stack():
    stack = np.array(
        [
            [[10.0, 11.0], [12.0, 13.0]],
            [[20.0, 22.0], [24.0, 26.0]],
            [[40.0, 41.0], [42.0, 45.0]],
        ]
    )
    z, s = rs.resolve_zero_scale_ref(stack, "median", None, stat_step=1)
    np.testing.assert_array_equal(z, [0.0, 11.5, 30.0])
    assert s is None
    z, s = rs.resolve_zero_scale_ref(stack, None, "mean", stat_step=1)
    assert z is None
    np.testing.assert_array_equal(s, np.array([11.5, 23.0, 42.0]) / 11.5)
    # Scale measured after the zero: s_i = median_i - z_i.
    z, s = rs.resolve_zero_scale_ref(stack, 10.0, "median", normalize=False, stat_step=1)
    np.testing.assert_array_equal(z, [10.0, 10.0, 10.0])
    np.testing.assert_array_equal(s, [1.5, 13.0, 31.5])
    z, s = rs.resolve_zero_scale_ref(stack, [1, 2, 3], [2, 2, 4])  # used as given
    np.testing.assert_array_equal(z, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(s, [2.0, 2.0, 4.0])
    calls = []
    rs.resolve_zero_scale_ref(stack, 10.0, lambda v: calls.append(v.copy()) or 1.0, stat_step=1)
    np.testing.assert_array_equal(calls[2], stack[2].ravel() - 10.0)


# ------------------------------------------------------------------------------ errors

_N_ERR = 4


def _error_stack():
    rng = np.random.default_rng(11)
    return rng.normal(100.0, 5.0, (_N_ERR, 6, 7)).astype(np.float32)


ERROR_CASES = [
    # wrong length
    ({"zero": [1.0, 2.0]}, ValueError, "zero"),
    ({"scale": [1.0] * (_N_ERR + 1)}, ValueError, "scale"),
    # scales that are not > 0 or not finite
    ({"scale": 0.0}, ValueError, "scale"),
    ({"scale": -2.0}, ValueError, "scale"),
    ({"scale": [1.0, 0.0, 1.0, 1.0]}, ValueError, "scale"),
    ({"scale": [1.0, -1.0, 1.0, 1.0]}, ValueError, "scale"),
    ({"scale": np.inf}, ValueError, "scale"),
    ({"scale": np.nan}, ValueError, "scale"),
    ({"scale": lambda v: 0.0}, ValueError, "scale"),
    ({"scale": lambda v: -1.0, "normalize": False}, ValueError, "scale"),
    # zero == scale statistic without normalisation: s_i = stat_i - stat_i = 0
    ({"zero": "median", "scale": "median", "normalize": False}, ValueError, "scale"),
    # unknown statistic
    ({"zero": "average"}, ValueError, "sigclip_median"),
    ({"scale": "medain"}, ValueError, "sigclip_median"),
    ({"zero": ""}, ValueError, "sigclip_median"),
    # callables returning arrays or non-numbers
    ({"zero": lambda v: v[:2]}, TypeError, None),
    ({"scale": np.sort}, TypeError, None),
    ({"zero": lambda v: "x"}, TypeError, None),
    ({"zero": lambda v: None}, TypeError, None),
    # callables returning NaN
    ({"zero": lambda v: math.nan}, ValueError, "zero"),
    ({"scale": lambda v: np.float64("nan")}, ValueError, "scale"),
    # a statistic that is NaN: sigma = 0 on an even number of distinct samples keeps nothing
    (
        {"zero": "sigclip_mean", "sigma": 0.0, "stat_region": (slice(0, 1), slice(0, 2))},
        ValueError,
        None,
    ),
    # bad stat_region
    ({"zero": "median", "stat_region": (1, 2)}, ValueError, "stat_region"),
    ({"zero": "median", "stat_region": "0:3"}, ValueError, "stat_region"),
    ({"zero": "median", "stat_region": "0:3"}, ValueError, "stat_region"),
    ({"zero": "median", "stat_region": (slice(0, 3), 2)}, ValueError, "stat_region"),
    ({"zero": "median", "stat_region": (slice(0, 2),) * 3}, ValueError, "stat_region"),
    ({"zero": "median", "stat_region": (slice(0, 6, 2),)}, ValueError, "stat_region"),
    ({"zero": "median", "stat_region": (slice(None, None, -1),)}, ValueError, "stat_region"),
    ({"zero": "median", "stat_region": (slice(3, 3),)}, ValueError, "stat_region"),
    ({"zero": "median", "stat_region": (slice(0, 6), slice(5, 2))}, ValueError, "stat_region"),
    ({"scale": "mean", "stat_region": (slice(6, None),)}, ValueError, "stat_region"),
    # bad stat_step
    ({"zero": "median", "stat_step": 0}, ValueError, "stat_step"),
    ({"zero": "median", "stat_step": -3}, ValueError, "stat_step"),
]
ERROR_IDS = [f"{i}-{sorted(k)}" for i, (k, _, _) in enumerate(ERROR_CASES)]


def _raises(error, match):
    return pytest.raises(error, match=match) if match else pytest.raises(error)


@pytest.mark.parametrize(("kwargs", "error", "match"), ERROR_CASES, ids=ERROR_IDS)
def test_reference_errors(kwargs, error, match):
    kwargs = dict(kwargs)
    zero, scale = kwargs.pop("zero", None), kwargs.pop("scale", None)
    with _raises(error, match):
        rs.resolve_zero_scale_ref(_error_stack(), zero, scale, **kwargs)


def _frame_without_samples():
    """(stack, kwargs, frame index) cases where one frame has no usable sample."""
    rng = np.random.default_rng(12)
    stack = rng.normal(100.0, 5.0, (5, 8, 9))
    cases = []
    mask = np.zeros(stack.shape, dtype=bool)
    mask[2] = True
    cases.append((stack, {"mask": mask}, 2))
    nan_stack = stack.copy()
    nan_stack[0] = np.nan
    cases.append((nan_stack, {}, 0))
    shifted = stack.copy()
    shifted[3] += 1000.0
    cases.append((shifted, {"thresholds": (0.0, 500.0)}, 3))
    holes = stack.copy()
    holes[4, :2, :3] = np.inf
    cases.append((holes, {"stat_region": (slice(0, 2), slice(0, 3))}, 4))
    grid = stack.copy()
    grid[1, ::4, ::4] = np.nan  # exactly the samples of stat_step=4
    cases.append((grid, {"stat_step": 4}, 1))
    return cases


@pytest.mark.parametrize("case", range(5))
@pytest.mark.parametrize("role", ["zero", "scale"])
def test_reference_frame_without_samples(case, role):
    stack, kwargs, frame = _frame_without_samples()[case]
    spec = {role: "median"}
    with pytest.raises(ValueError, match=rf"\b{frame}\b"):
        rs.resolve_zero_scale_ref(stack, **spec, **kwargs)


# ====================================================================== resolve_zero_scale


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("stat", STATS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_statistic_every_dtype(dtype, stat, normalize):
    rng = np.random.default_rng(100 * DTYPES.index(dtype) + STATS.index(stat))
    n = 7
    stack = make_stack(rng, n, (40, 50), dtype, nonfinite=0.02)
    mask = make_mask(rng, stack.shape)
    exact = is_exact(stat) or np.dtype(dtype).kind in "iu"
    mag = magnitude(stack)
    given_zero = rng.uniform(-50.0, 50.0, n)
    for zero, scale in [(stat, None), (None, stat), (given_zero, stat), (3.5, stat)]:
        got, want = both(stack, zero, scale, mask=mask, normalize=normalize)
        assert_pair(got, want, exact=exact, mag=mag)
    if normalize:  # s_i = stat_i - (stat_i - stat_0): all 1 up to rounding
        got, want = both(stack, stat, stat, mask=mask, normalize=True)
        assert_pair(got, want, exact=exact, mag=mag)
        np.testing.assert_allclose(got[1], 1.0, rtol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
def test_statistics_of_integer_valued_data_are_exact(dtype):
    """Integer-valued samples: every sum is exact, so every statistic is bit-identical."""
    rng = np.random.default_rng(21)
    n = 6
    values = rng.integers(0, 120, (n, 30, 31)) + rng.integers(0, 100, (n, 1, 1))
    stack = values.astype(dtype)
    mask = make_mask(rng, stack.shape, 0.2)
    for stat in STATS:
        for normalize in (True, False):
            got, want = both(stack, stat, None, mask=mask, normalize=normalize)
            assert_pair(got, want)
            got, want = both(stack, 7.0, stat, mask=mask, normalize=normalize)
            assert_pair(got, want)


@pytest.mark.parametrize(
    "layout",
    [
        Layout(order="F"),
        Layout(order="permuted"),
        Layout(step2=True),
        Layout(reverse="all"),
        Layout(reverse="last", step2=True),
        Layout(byteswap=True),
        Layout(order="F", byteswap=True, reverse="first"),
        Layout(order="permuted", step2=True, byteswap=True, readonly=True),
    ],
    ids=str,
)
@pytest.mark.parametrize("dtype", DTYPES)
def test_layouts_give_the_same_numbers(dtype, layout):
    rng = np.random.default_rng(22)
    n = 5
    stack = make_stack(rng, n, (17, 23), dtype, nonfinite=0.05)
    mask = make_mask(rng, stack.shape, 0.1)
    kwargs = {
        "mask": dataclasses.replace(layout, byteswap=False).apply(mask),
        "stat_region": (slice(2, 15), slice(1, None)),
        "stat_step": 2,
        "thresholds": (0.0, 5000.0),
    }
    exact_kwargs = dict(kwargs, mask=mask)
    for zero, scale in [("median", "mode"), ("mean", "sigclip_median"), (None, "sigclip_mean")]:
        want_plain = imc.resolve_zero_scale(stack, zero, scale, **exact_kwargs)
        got = imc.resolve_zero_scale(layout.apply(stack), zero, scale, **kwargs)
        assert_pair(got, want_plain)  # the layout never changes a bit
        want = rs.resolve_zero_scale_ref(stack, zero, scale, **exact_kwargs)
        exact = is_exact(zero, scale) or np.dtype(dtype).kind in "iu"
        assert_pair(got, want, exact=exact, mag=magnitude(stack))


def test_default_step_is_every_seventh_pixel_of_a_2k_frame():
    stack = np.full((2, 2048, 2048), 100, dtype=np.uint16)
    stack[:, ::7, ::7] = 500  # exactly the samples of the grid with j = 7
    stack[1, ::7, ::7] = 700
    for stat in STATS:
        z, s = imc.resolve_zero_scale(stack, stat, None, normalize=False)
        np.testing.assert_array_equal(z, [500.0, 700.0])
        assert s is None
    z, _ = imc.resolve_zero_scale(stack, "median", None, normalize=False, stat_step=1)
    np.testing.assert_array_equal(z, [100.0, 100.0])


@pytest.mark.parametrize(
    ("spatial", "region", "step"),
    [
        ((99_999,), None, 1),
        ((100_000,), None, 2),  # 100000 grid points is not < 100000
        ((1000, 100), None, 2),
        ((1000, 120), (slice(None), slice(10, 110)), 2),
        ((316, 316), None, 1),
        ((317, 317), None, 2),
        ((2, 999, 100), None, 2),
        ((700, 700), None, 3),
    ],
    ids=str,
)
def test_default_step_boundaries(spatial, region, step):
    rng = np.random.default_rng(33)
    stack = rng.normal(100.0, 10.0, (2, *spatial))
    assert rs.grid_step(stack[0][rs.region_slices(spatial, region)].shape) == step
    kw = {"stat_region": region, "normalize": False}
    default = imc.resolve_zero_scale(stack, "mean", None, **kw)
    assert_pair(default, imc.resolve_zero_scale(stack, "mean", None, stat_step=step, **kw))
    for other in (step - 1, step + 1):
        if other >= 1:
            explicit = imc.resolve_zero_scale(stack, "mean", None, stat_step=other, **kw)
            assert not np.array_equal(default[0], explicit[0])


@pytest.mark.parametrize("dtype", ["uint16", "float32", "int32"])
def test_default_step_and_explicit_steps(dtype):
    rng = np.random.default_rng(23)
    stack = make_stack(rng, 3, (400, 300), dtype)  # 120000 pixels: the default step is 2
    stack[:, ::2, ::2] += np.array(50, dtype=dtype)  # the grid of j = 2 sits higher
    for stat in ("median", "mode", "sigclip_median"):
        default = imc.resolve_zero_scale(stack, stat, None, normalize=False)
        step2 = imc.resolve_zero_scale(stack, stat, None, normalize=False, stat_step=2)
        step1 = imc.resolve_zero_scale(stack, stat, None, normalize=False, stat_step=1)
        assert_pair(default, step2)
        assert np.all(default[0] > step1[0] + 20)
        for step in (None, 1, 3, 11):
            got, want = both(stack, stat, None, normalize=False, stat_step=step)
            assert_pair(got, want)


def test_stat_region_grid_starts_at_the_region_start():
    stack = np.zeros((3, 40, 30), dtype=np.float32)
    region = (slice(5, 37), slice(3, 28))
    # Samples of region + step 4: rows 5, 9, ..., 33 and cols 3, 7, ..., 27.
    stack[:, 5:37:4, 3:28:4] = np.array([10.0, 20.0, 30.0], dtype=np.float32)[:, None, None]
    for stat in STATS:
        z, _ = imc.resolve_zero_scale(
            stack, stat, None, stat_region=region, stat_step=4, normalize=False
        )
        np.testing.assert_array_equal(z, [10.0, 20.0, 30.0])
    z, _ = imc.resolve_zero_scale(stack, "median", None, stat_region=region, normalize=False)
    np.testing.assert_array_equal(z, [0.0, 0.0, 0.0])  # step 1: mostly zeros


@pytest.mark.parametrize(
    "region",
    [
        (),
        (slice(None),),
        (slice(1, 4),),
        (slice(None, 5), slice(2, None)),
        (slice(1, 4, 1), slice(0, 7), slice(3, 4)),
        (slice(0, 6), slice(-3, None)),
    ],
    ids=str,
)
def test_stat_region_on_three_spatial_axes(region):
    rng = np.random.default_rng(24)
    stack = make_stack(rng, 4, (6, 7, 8), "float64", nonfinite=0.1)
    mask = make_mask(rng, stack.shape, 0.1)
    for stat in STATS:
        for step in (None, 1, 2, 5):
            got, want = both(stack, stat, "median", mask=mask, stat_region=region, stat_step=step)
            assert_pair(got, want, exact=is_exact(stat), mag=magnitude(stack))
    padded = region + (slice(None),) * (3 - len(region))
    assert_pair(
        imc.resolve_zero_scale(stack, "mode", "mean", mask=mask, stat_region=region),
        imc.resolve_zero_scale(stack, "mode", "mean", mask=mask, stat_region=padded),
    )


def test_thresholds_are_inclusive_and_on_raw_values():
    stack = np.tile(np.arange(1.0, 11.0, dtype=np.float32), (3, 2, 1))  # each row 1..10
    stack[1] += 100.0
    stack[2] *= 3.0
    thresholds = (2.0, 30.0)
    # Frame 0: 2..10 (mean 6); frame 1: nothing inside (101..110); frame 2: 3..30 (all).
    with pytest.raises(ValueError, match=r"\b1\b"):
        imc.resolve_zero_scale(stack, "mean", None, thresholds=thresholds, stat_step=1)
    kept = stack[[0, 2]]
    for stat in STATS:
        got, want = both(kept, stat, None, thresholds=thresholds, normalize=False, stat_step=1)
        assert_pair(got, want)
        got, want = both(kept, None, stat, thresholds=thresholds, normalize=False, stat_step=1)
        assert_pair(got, want)
    z, _ = imc.resolve_zero_scale(kept, "mean", None, thresholds=thresholds, normalize=False)
    np.testing.assert_array_equal(z, [6.0, 16.5])


def test_masked_and_nonfinite_samples_are_not_used():
    rng = np.random.default_rng(25)
    stack = make_stack(rng, 4, (20, 20), "float32")
    clean = imc.resolve_zero_scale(stack, "mean", "median", stat_step=1)
    dirty = stack.copy()
    mask = np.zeros(stack.shape, dtype=bool)
    dirty[:, 3, :] = 1e30
    mask[:, 3, :] = True
    dirty[:, 7, 5] = np.nan
    dirty[:, 9, 9] = np.inf
    expect_mask = mask.copy()
    expect_mask[:, 7, 5] = expect_mask[:, 9, 9] = True
    got = imc.resolve_zero_scale(dirty, "mean", "median", mask=mask, stat_step=1)
    want = imc.resolve_zero_scale(stack, "mean", "median", mask=expect_mask, stat_step=1)
    assert_pair(got, want)
    assert not np.array_equal(got[0], clean[0])


@pytest.mark.parametrize("maxiters", [1, 2, 5, None])
@pytest.mark.parametrize("sigma", [1.5, 2.0, 3.0, 4.5])
def test_sigma_and_maxiters(sigma, maxiters):
    rng = np.random.default_rng(26)
    stack = make_stack(rng, 5, (30, 30), "float64")
    hot = rng.random(stack.shape) < 0.03
    stack[hot] += rng.uniform(200.0, 5000.0, int(hot.sum()))
    for stat in ("sigclip_mean", "sigclip_median"):
        got, want = both(stack, stat, stat, sigma=sigma, maxiters=maxiters)
        assert_pair(got, want, exact=is_exact(stat), mag=magnitude(stack))
    # The clipping changes something here.
    clipped = imc.resolve_zero_scale(stack, "sigclip_mean", None, normalize=False)[0]
    plain = imc.resolve_zero_scale(stack, "mean", None, normalize=False)[0]
    assert np.all(clipped < plain)


def test_sigclip_matches_astropy_per_frame():
    import astropy.stats as astropy_stats

    rng = np.random.default_rng(27)
    stack = make_stack(rng, 4, (50, 60), "float64")
    hot = rng.random(stack.shape) < 0.02
    stack[hot] += rng.uniform(300.0, 3000.0, int(hot.sum()))
    z_mean = imc.resolve_zero_scale(stack, "sigclip_mean", None, normalize=False, stat_step=1)[0]
    z_med = imc.resolve_zero_scale(stack, "sigclip_median", None, normalize=False, stat_step=1)[0]
    for i in range(stack.shape[0]):
        m, med, _ = astropy_stats.sigma_clipped_stats(stack[i], sigma=3.0, maxiters=5)
        assert z_mean[i] == pytest.approx(float(m), rel=REL)
        assert z_med[i] == pytest.approx(float(med), rel=REL)


def test_case_insensitive_names():
    rng = np.random.default_rng(28)
    stack = make_stack(rng, 4, (10, 11), "int16")
    for stat in STATS:
        want = imc.resolve_zero_scale(stack, stat, stat)
        for spelled in (stat.upper(), stat.title(), stat.capitalize()):
            assert_pair(imc.resolve_zero_scale(stack, spelled, spelled), want)


def test_numbers_and_sequences_are_used_as_given():
    stack = make_stack(np.random.default_rng(29), 3, (5, 6), "uint8")
    assert imc.resolve_zero_scale(stack) == (None, None)
    for normalize in (True, False):
        z, s = imc.resolve_zero_scale(stack, 5, 2, normalize=normalize)
        assert z.dtype == s.dtype == np.float64
        np.testing.assert_array_equal(z, [5.0, 5.0, 5.0])
        np.testing.assert_array_equal(s, [2.0, 2.0, 2.0])
        z, s = imc.resolve_zero_scale(stack, [1, 2, 3], (0.5, 1, 4), normalize=normalize)
        np.testing.assert_array_equal(z, [1.0, 2.0, 3.0])  # not normalised
        np.testing.assert_array_equal(s, [0.5, 1.0, 4.0])
        z, s = imc.resolve_zero_scale(
            stack, np.array([-1.5, 0.0, 2.5], dtype=np.float32), None, normalize=normalize
        )
        np.testing.assert_array_equal(z, [-1.5, 0.0, 2.5])
        assert s is None
        assert z.shape == (3,)


def test_callables_equal_the_named_statistics():
    rng = np.random.default_rng(30)
    stack = make_stack(rng, 6, (25, 26), "float32", nonfinite=0.05)
    mask = make_mask(rng, stack.shape)
    kw = {"mask": mask, "stat_region": (slice(3, 20),), "stat_step": 2}
    assert_pair(
        imc.resolve_zero_scale(stack, np.median, np.median, **kw),
        imc.resolve_zero_scale(stack, "median", "median", **kw),
    )
    assert_pair(
        imc.resolve_zero_scale(stack, np.mean, np.mean, **kw),
        imc.resolve_zero_scale(stack, "mean", "mean", **kw),
        exact=False,
        mag=magnitude(stack),
    )
    for normalize in (True, False):
        for zero, scale in [(lowest_third, None), (None, lowest_third), (3.0, np.max)]:
            got, want = both(stack, zero, scale, normalize=normalize, **kw)
            assert_pair(got, want)


def test_callables_get_the_samples_once_per_frame():
    rng = np.random.default_rng(31)
    n = 5
    stack = np.rint(rng.normal(1000.0, 20.0, (n, 30, 20))).astype(np.int32)
    mask = make_mask(rng, stack.shape, 0.3)
    kw = {"mask": mask, "thresholds": (980.0, 1030.0), "stat_region": (slice(1, 29),)}
    zero_calls, scale_calls = [], []

    def zero_fn(v):
        zero_calls.append(np.array(v, copy=True))
        return float(np.median(v))

    def scale_fn(v):
        scale_calls.append(np.array(v, copy=True))
        return float(np.max(v))

    z, s = imc.resolve_zero_scale(stack, zero_fn, scale_fn, normalize=False, stat_step=3, **kw)
    assert len(zero_calls) == n
    assert len(scale_calls) == n
    for i in range(n):
        samples = rs.frame_samples(stack, i, stat_step=3, **kw)
        for got, offset in ((zero_calls[i], 0.0), (scale_calls[i], z[i])):
            assert got.ndim == 1
            assert got.dtype == np.float64
            np.testing.assert_array_equal(np.sort(got), np.sort(samples - offset))
        # Measured on the zero-corrected samples: max(v - z_i) = max(v) - z_i.
        assert z[i] == np.median(samples)
        assert s[i] == np.max(samples) - z[i]


def test_a_callable_cannot_modify_the_stack():
    stack = np.arange(3 * 4 * 5, dtype=np.float64).reshape(3, 4, 5) + 1.0
    before = stack.copy()

    def vandal(v):
        value = float(np.median(v))
        v[...] = -1.0
        return value

    imc.resolve_zero_scale(stack, vandal, vandal, stat_step=1)
    np.testing.assert_array_equal(stack, before)


@pytest.mark.parametrize(("kwargs", "error", "match"), ERROR_CASES, ids=ERROR_IDS)
def test_errors(kwargs, error, match):
    kwargs = dict(kwargs)
    zero, scale = kwargs.pop("zero", None), kwargs.pop("scale", None)
    with _raises(error, match):
        imc.resolve_zero_scale(_error_stack(), zero, scale, **kwargs)


def test_unknown_statistic_lists_the_valid_names():
    with pytest.raises(ValueError, match="median") as info:
        imc.resolve_zero_scale(_error_stack(), "nanmedian")
    for name in STATS:
        assert name in str(info.value)


@pytest.mark.parametrize("case", range(5))
@pytest.mark.parametrize("role", ["zero", "scale"])
def test_frame_without_samples_names_the_frame(case, role):
    stack, kwargs, frame = _frame_without_samples()[case]
    with pytest.raises(ValueError, match=rf"\b{frame}\b"):
        imc.resolve_zero_scale(stack, **{role: "median"}, **kwargs)


def test_numbers_need_no_samples():
    stack, kwargs, _ = _frame_without_samples()[0]
    z, s = imc.resolve_zero_scale(stack, 3.0, [1.0, 2.0, 3.0, 4.0, 5.0], **kwargs)
    np.testing.assert_array_equal(z, 3.0)
    np.testing.assert_array_equal(s, [1.0, 2.0, 3.0, 4.0, 5.0])


def test_a_normalised_scale_that_turns_negative_is_refused():
    stack = np.full((3, 5, 5), 100.0)
    stack[2] = -50.0
    with pytest.raises(ValueError, match="scale"):
        imc.resolve_zero_scale(stack, None, "median")
    stack[2] = 0.0
    with pytest.raises(ValueError, match="scale"):
        imc.resolve_zero_scale(stack, None, "mean")
    with pytest.raises(ValueError, match="scale"):  # s_0 = 0: division by zero
        imc.resolve_zero_scale(stack[::-1], None, "mean")


def test_inputs_are_not_modified():
    rng = np.random.default_rng(32)
    stack = make_stack(rng, 4, (9, 10), "float32", nonfinite=0.1)
    mask = make_mask(rng, stack.shape)
    zero = np.array([1.0, 2.0, 3.0, 4.0])
    scale = [1.0, 2.0, 0.5, 1.0]
    copies = [stack.copy(), mask.copy(), zero.copy(), list(scale)]
    imc.resolve_zero_scale(stack, zero, scale, mask=mask)
    imc.resolve_zero_scale(stack, "mode", "sigclip_mean", mask=mask, thresholds=(0.0, 3000.0))
    imc.resolve_zero_scale(stack, zero, "median", mask=mask)
    imc.Combiner(stack, mask).combine("median", zero="median", scale="mode")
    imc.Combiner(stack, mask).combine("mean", weights="median")
    imc.Combiner(stack, mask).zero_scale(zero=zero, scale="mean").combine("mean")
    imc.ndcombine(stack, mask=mask, zero="mean", scale="median", stat_region=(slice(1, 8),))
    for now, before in zip([stack, mask, zero, scale], copies, strict=True):
        np.testing.assert_array_equal(now, before)
    readonly = stack.copy()
    readonly.flags.writeable = False
    assert_pair(
        imc.resolve_zero_scale(readonly, "median", "mean", mask=mask),
        imc.resolve_zero_scale(stack, "median", "mean", mask=mask),
    )


# ------------------------------------------------------------------- hypothesis


_CASES = ("", "upper", "title")


@st.composite
def stat_regions(draw, spatial):
    if draw(st.booleans()):
        return None
    k = draw(st.integers(0, len(spatial)))
    out = []
    for size in spatial[:k]:
        start = draw(st.one_of(st.none(), st.integers(0, size - 1)))
        low = 0 if start is None else start
        stop = draw(st.one_of(st.none(), st.integers(low + 1, size)))
        out.append(slice(start, stop, draw(st.sampled_from((None, 1)))))
    return tuple(out)


def _spell(name, how):
    return {"": name, "upper": name.upper(), "title": name.title()}[how]


@st.composite
def specs(draw, n, *, positive):
    """None, a number, N numbers, a statistic name (any case) or an exact callable."""
    kind = draw(st.sampled_from(("none", "number", "array", "name", "name", "name", "callable")))
    if kind == "none":
        return None
    if kind == "number":
        return float(draw(st.integers(1, 50) if positive else st.integers(-50, 50)))
    if kind == "array":
        values = st.integers(1, 50) if positive else st.integers(-50, 50)
        return np.array(draw(st.lists(values, min_size=n, max_size=n)), dtype=np.float64)
    if kind == "name":
        return _spell(draw(st.sampled_from(STATS)), draw(st.sampled_from(_CASES)))
    return draw(st.sampled_from((np.median, np.min, np.max, lowest_third)))


def _outcome(fn):
    try:
        return fn(), None
    except (ValueError, TypeError) as exc:
        return None, exc


@settings(max_examples=150)
@given(data=st.data(), case=stack_cases(max_n=40))
def test_random_stacks_against_the_oracle(data, case):
    """Integer-valued stacks with NaN/inf, masks, every layout: bit-identical results."""
    stack = case.stack
    n, spatial = stack.shape[0], stack.shape[1:]
    kwargs = {
        "mask": case.mask,
        "thresholds": data.draw(thresholds_for(stack), label="thresholds"),
        "stat_region": data.draw(stat_regions(spatial), label="stat_region"),
        "stat_step": data.draw(st.one_of(st.none(), st.integers(1, 4)), label="stat_step"),
        "normalize": data.draw(st.booleans(), label="normalize"),
        "sigma": data.draw(st.sampled_from((1.0, 2.0, 3.0)), label="sigma"),
        "maxiters": data.draw(st.sampled_from((1, 2, 5, None)), label="maxiters"),
    }
    zero = data.draw(specs(n, positive=False), label="zero")
    scale = data.draw(specs(n, positive=True), label="scale")
    note(case.describe())
    want, want_exc = _outcome(lambda: rs.resolve_zero_scale_ref(stack, zero, scale, **kwargs))
    got, got_exc = _outcome(lambda: imc.resolve_zero_scale(stack, zero, scale, **kwargs))
    note(f"oracle: {want!r} {want_exc!r}")
    note(f"api:    {got!r} {got_exc!r}")
    event(f"oracle: {'refused' if want_exc else 'resolved'}")
    if want_exc is not None:
        assert got_exc is not None, "the oracle refused this case, the API did not"
        assert type(got_exc) is type(want_exc)
        return
    assert got_exc is None, f"the API refused a valid case: {got_exc!r}"
    assert_pair(got, want)


# =========================================================== Combiner, zero_scale, ndcombine

_COMBINE_SPECS = [
    (zero, scale, normalize)
    for zero, scale in [
        ("median", None),
        (None, "median"),
        (25.0, "mode"),
        ("sigclip_mean", None),
        (None, "sigclip_median"),
        (-30.0, "mean"),
    ]
    for normalize in (True, False)
] + [("mode", "mean", True), ("mean", "sigclip_median", True)]  # s_i = stat_i - z_i > 0


def _combine_stack(dtype="float32", seed=40):
    rng = np.random.default_rng(seed)
    stack = make_stack(rng, 9, (21, 22), dtype, nonfinite=0.02)
    # Something to reject, at the dtype's top for integer stacks (no wrap-around).
    top = np.iinfo(dtype).max if np.dtype(dtype).kind in "iu" else np.inf
    stack[4, 5, 6] = min(float(stack[4, 5, 6]) * 50, top)
    mask = make_mask(rng, stack.shape, 0.05)
    return stack, mask


@pytest.mark.parametrize(("zero", "scale", "normalize"), _COMBINE_SPECS, ids=str)
@pytest.mark.parametrize("method", ["mean", "median", "sum", "lmedian", "variance"])
def test_combine_with_statistics_equals_combine_with_numbers(method, zero, scale, normalize):
    stack, mask = _combine_stack()
    thresholds = (10.0, 1e5)
    region = (slice(2, 19), slice(0, 20))
    z, s = imc.resolve_zero_scale(
        stack,
        zero,
        scale,
        mask=mask,
        thresholds=thresholds,
        stat_region=region,
        normalize=normalize,
    )
    for rejectors in (None, imc.SigClip(sigma=3.0)):
        want = imc.Combiner(stack, mask).combine(
            method, zero=z, scale=s, thresholds=thresholds, rejectors=rejectors
        )
        got = imc.Combiner(stack, mask).combine(
            method,
            zero=zero,
            scale=scale,
            thresholds=thresholds,
            stat_region=region,
            normalize=normalize,
            rejectors=rejectors,
        )
        same_image(got, want)
    want = imc.Combiner(stack, mask).combine(method, zero=z, scale=s, thresholds=thresholds)
    got = imc.ndcombine(
        stack,
        combine=method,
        mask=mask,
        thresholds=thresholds,
        zero=zero,
        scale=scale,
        stat_region=region,
        normalize=normalize,
    )
    same_image(got, want)


@pytest.mark.parametrize("dtype", DTYPES)
def test_combine_defaults_every_dtype(dtype):
    stack, mask = _combine_stack(dtype, seed=41)
    z, s = imc.resolve_zero_scale(stack, "mode", "median", mask=mask)
    want = imc.Combiner(stack, mask).combine("mean", zero=z, scale=s)
    same_image(imc.Combiner(stack, mask).combine("mean", zero="mode", scale="median"), want)
    same_image(imc.ndcombine(stack, mask=mask, zero="mode", scale="median"), want)
    z, s = imc.resolve_zero_scale(stack, None, "median")
    want = imc.Combiner(stack).combine("median", scale=s)
    same_image(imc.Combiner(stack).combine("median", scale="median"), want)
    same_image(imc.ndcombine(stack, combine="median", scale="median"), want)


@pytest.mark.parametrize("method", ["mean", "median", "max"])
def test_combine_with_callables(method):
    stack, mask = _combine_stack(seed=42)
    z, s = imc.resolve_zero_scale(stack, np.median, lowest_third, mask=mask)
    want = imc.Combiner(stack, mask).combine(method, zero=z, scale=s)
    same_image(imc.Combiner(stack, mask).combine(method, zero=np.median, scale=lowest_third), want)
    same_image(
        imc.ndcombine(stack, combine=method, mask=mask, zero=np.median, scale=lowest_third), want
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scale": "median"},
        {"zero": "mode", "scale": "sigclip_mean", "stat_step": 2},
        {"zero": -5.0, "scale": "mode", "normalize": False, "stat_step": 3},
        {"zero": "sigclip_median", "sigma": 2.0, "maxiters": None},
        {"zero": 5.0, "scale": "mean", "stat_region": (slice(3, 18),), "stat_step": 1},
        {"scale": np.median, "sigma": 2.5, "maxiters": 2},
    ],
    ids=lambda kwargs: "-".join(sorted(kwargs)),
)
def test_zero_scale_chain(kwargs):
    stack, mask = _combine_stack(seed=43)
    options = {k: v for k, v in kwargs.items() if k not in ("zero", "scale")}
    z, s = imc.resolve_zero_scale(
        stack, kwargs.get("zero"), kwargs.get("scale"), mask=mask, **options
    )
    cmb = imc.Combiner(stack, mask)
    assert cmb.zero_scale(**kwargs) is cmb
    same_image(cmb.combine("mean"), imc.Combiner(stack, mask).combine("mean", zero=z, scale=s))
    rule = imc.SigClip()
    want = imc.Combiner(stack, mask).combine("mean", zero=z, scale=s, rejectors=rule)
    got = imc.Combiner(stack, mask).zero_scale(**kwargs).reject(rule).combine("mean")
    same_image(got, want)
    want = imc.Combiner(stack, mask).combine("median", zero=z, scale=s, rejectors=rule)
    got = imc.Combiner(stack, mask).zero_scale(**kwargs).combine("median", rejectors=rule)
    same_image(got, want)


@pytest.mark.parametrize("wstat", rs.WEIGHT_STATISTICS)
@pytest.mark.parametrize(
    ("zero", "scale"), [(None, None), ("median", None), (None, "mode"), (10.0, "median")], ids=str
)
@pytest.mark.parametrize("method", ["mean", "wvg", "weighted_average"])
def test_weights_from_a_statistic(method, wstat, zero, scale):
    """w_i = (stat_i - z_i) / s_i on the same samples: the statistic of the corrected frame."""
    stack, mask = _combine_stack(seed=44)
    thresholds = (1.0, 1e5)
    region = (slice(1, 20),)
    common = {"mask": mask, "thresholds": thresholds, "stat_region": region}
    z, s = imc.resolve_zero_scale(stack, zero, scale, **common)
    raw = imc.resolve_zero_scale(stack, wstat, None, normalize=False, **common)[0]
    w = (raw - (0.0 if z is None else z)) / (1.0 if s is None else s)
    assert np.all(w > 0)
    np.testing.assert_allclose(w, rs.frame_weights_ref(stack, wstat, z, s, **common), rtol=1e-11)
    want = imc.Combiner(stack, mask).combine(
        "wvg", zero=z, scale=s, weights=w, thresholds=thresholds
    )
    got = imc.Combiner(stack, mask).combine(
        method, zero=zero, scale=scale, weights=wstat, thresholds=thresholds, stat_region=region
    )
    same_image(got, want)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"zero": "average"}, ValueError),
        ({"scale": "medain"}, ValueError),
        ({"scale": lambda v: v}, TypeError),
        ({"zero": lambda v: math.nan}, ValueError),
        ({"zero": "median", "stat_region": (slice(0, 6, 2),)}, ValueError),
        ({"zero": "median", "scale": "median", "normalize": False}, ValueError),
    ],
    ids=lambda v: "-".join(sorted(v)) if isinstance(v, dict) else v.__name__,
)
def test_combine_errors(kwargs, error):
    stack = _error_stack()
    with pytest.raises(error):
        imc.Combiner(stack).combine("mean", **kwargs)
    with pytest.raises(error):
        imc.ndcombine(stack, **kwargs)
    with pytest.raises(error):
        imc.Combiner(stack).zero_scale(**kwargs).combine("mean")


def test_combine_frame_without_samples_names_the_frame():
    stack, kwargs, frame = _frame_without_samples()[0]
    with pytest.raises(ValueError, match=rf"\b{frame}\b"):
        imc.Combiner(stack, kwargs["mask"]).combine("mean", scale="median")
    with pytest.raises(ValueError, match=rf"\b{frame}\b"):
        imc.ndcombine(stack, mask=kwargs["mask"], zero="mode")


@settings(max_examples=60)
@given(
    case=stack_cases(max_n=30, dtypes=("uint16", "int16", "float32", "float64")),
    zero=st.sampled_from((None, "median", "mode", "mean")),
    scale=st.sampled_from((None, "median", "sigclip_median", "mean")),
    method=st.sampled_from(("mean", "median", "min", "sum")),
    normalize=st.booleans(),
)
def test_random_combines_equal_the_numeric_path(case, zero, scale, method, normalize):
    stack, mask = case.stack, case.mask
    note(case.describe())
    _, exc = _outcome(
        lambda: imc.resolve_zero_scale(stack, zero, scale, mask=mask, normalize=normalize)
    )
    if exc is not None:
        with pytest.raises(type(exc)):
            imc.Combiner(stack, mask).combine(method, zero=zero, scale=scale, normalize=normalize)
        return
    z, s = imc.resolve_zero_scale(stack, zero, scale, mask=mask, normalize=normalize)
    want = imc.Combiner(stack, mask).combine(method, zero=z, scale=s)
    got = imc.Combiner(stack, mask).combine(method, zero=zero, scale=scale, normalize=normalize)
    same_image(got, want)
    # ndcombine keeps an integer dtype for min/max/lmedian when nothing is corrected.
    want = imc.ndcombine(stack, combine=method, mask=mask, zero=z, scale=s)
    got = imc.ndcombine(
        stack, combine=method, mask=mask, zero=zero, scale=scale, normalize=normalize
    )
    same_image(got, want)


# ================================================================== flat-field workflow


def _smooth_pattern(shape):
    y, x = np.mgrid[0 : shape[0], 0 : shape[1]]
    return np.sin(x / 17.0) * np.cos(y / 23.0) + 0.5 * np.sin((x + y) / 41.0)


@pytest.mark.parametrize("dtype", ["float32", "uint16"])
def test_flat_field_workflow(dtype):
    rng = np.random.default_rng(50)
    n, shape = 15, (128, 128)
    flat = 1.0 + 0.05 * _smooth_pattern(shape)
    levels = np.linspace(5000.0, 30000.0, n)
    rng.shuffle(levels)
    signal = levels[:, None, None] * flat
    frames = signal + rng.normal(0.0, 1.0, (n, *shape)) * np.sqrt(signal)  # Poisson-like
    # A few cosmic rays per frame, some 2 pixels long, never two on one pixel (sigma clipping
    # about the median cannot reject two equal outliers out of 15).
    hits = np.zeros(frames.shape, dtype=bool)
    starts = rng.choice(shape[0] // 2 * shape[1], size=(n, 12), replace=False)
    for i in range(n):
        ys, xs = 2 * (starts[i] // shape[1]), starts[i] % shape[1]
        hits[i, ys, xs] = True
        hits[i, ys[:4] + 1, xs[:4]] = True
    frames[hits] += rng.uniform(3000.0, 30000.0, int(hits.sum()))
    if dtype == "uint16":
        frames = np.clip(np.rint(frames), 0, 65535)
    frames = frames.astype(dtype)

    combined = imc.Combiner(frames).combine(
        "mean", scale="median", rejectors=imc.SigClip(sigma=3.0)
    )
    assert combined.dtype == np.float32
    result = combined / np.median(combined)
    truth = flat / np.median(flat)
    err = result - truth
    # Noise of one normalised frame is 1/sqrt(level); the mean of N divides the variance by N^2.
    expected = math.sqrt(np.sum(1.0 / levels)) / n
    rms = float(np.sqrt(np.mean(err**2)))
    assert rms < 1.25 * expected, (rms, expected)
    assert rms > 0.75 * expected  # the noise is really there (the test is not vacuous)
    assert float(np.max(np.abs(err))) < 6.0 * expected  # no cosmic ray survives
    assert float(np.max(np.abs(err[hits.any(axis=0)]))) < 5.0 * expected

    # The scales follow the illumination levels.
    _, s = imc.resolve_zero_scale(frames, None, "median")
    np.testing.assert_allclose(s, levels / levels[0], rtol=2e-3)
    # Without scaling the same rejection misses the cosmic rays (frames at different levels).
    unscaled = imc.Combiner(frames).combine("mean", rejectors=imc.SigClip(sigma=3.0))
    worse = unscaled / np.median(unscaled) - truth
    assert float(np.max(np.abs(worse))) > 10.0 * expected


# ====================================================================== ccdproc scaling


def _ccdproc_data(dtype, masked):
    rng = np.random.default_rng(60)
    n, shape = 10, (48, 64)
    levels = rng.uniform(1000.0, 5000.0, n)[:, None, None]
    data = levels * (1.0 + 0.05 * _smooth_pattern(shape)) + rng.normal(0, 30.0, (n, *shape))
    data = data.astype(dtype)
    mask = rng.random(data.shape) < 0.05 if masked else np.zeros(data.shape, dtype=bool)
    return data, mask


@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize(("dtype", "rtol"), [("float32", 1e-6), ("float64", 1e-12)])
def test_agrees_with_ccdproc_scaling(dtype, rtol, masked):
    """ccdproc multiplies by scaling = 1/mean; imc divides by scale = mean (normalize=False)."""
    import ccdproc
    from astropy.nddata import CCDData

    data, mask = _ccdproc_data(dtype, masked)
    ccds = [
        CCDData(d, unit="adu", mask=m if masked else None) for d, m in zip(data, mask, strict=True)
    ]
    combiner = ccdproc.Combiner(ccds)
    combiner.scaling = [1 / np.mean(d[~m]) for d, m in zip(data, mask, strict=True)]
    want_mean = combiner.average_combine().data
    want_median = combiner.median_combine().data

    imc_mask = mask if masked else None
    got_mean = imc.Combiner(data, imc_mask).combine("mean", scale="mean", normalize=False)
    np.testing.assert_allclose(got_mean, want_mean, rtol=rtol)
    got_median = imc.Combiner(data, imc_mask).combine("median", scale="mean", normalize=False)
    np.testing.assert_allclose(got_median, want_median, rtol=rtol)
    # Every pixel explicitly (the default step is 1 here anyway: 48 x 64 < 100000).
    chained = (
        imc.Combiner(data, imc_mask)
        .zero_scale(scale="mean", normalize=False, stat_step=1)
        .combine("mean")
    )
    same_image(chained, got_mean)
    _, s = imc.resolve_zero_scale(data, None, "mean", mask=imc_mask, normalize=False, stat_step=1)
    np.testing.assert_allclose(1.0 / s, np.ravel(combiner.scaling), rtol=rtol)


def test_a_bare_slice_is_the_first_spatial_axis():
    stack = np.arange(2 * 6 * 5, dtype=np.float32).reshape(2, 6, 5)
    bare = imc.resolve_zero_scale(stack, zero="mean", stat_region=np.s_[1:4], normalize=False)
    one = imc.resolve_zero_scale(stack, zero="mean", stat_region=(slice(1, 4),), normalize=False)
    np.testing.assert_array_equal(bare[0], one[0])
    np.testing.assert_array_equal(bare[0], stack[:, 1:4].mean(axis=(1, 2)))


@pytest.mark.parametrize("ddof", [0, 1])
def test_variance_after_zero_scale_uses_the_corrected_values(ddof):
    rng = np.random.default_rng(77)
    stack = rng.normal(1000, 10, (7, 9, 11)).astype(np.float32)
    stack *= np.linspace(0.8, 1.2, 7, dtype=np.float32)[:, None, None]
    stack[2, 3, 4] = np.nan
    cmb = imc.Combiner(stack).zero_scale(zero="mean", scale="median")
    corrected = (stack.astype(np.float64) - cmb.zero[:, None, None]) / cmb.scale[:, None, None]
    corrected = corrected.astype(np.float32).astype(np.float64)
    var, mean = cmb.variance(ddof=ddof, return_mean=True)
    np.testing.assert_allclose(var, np.nanvar(corrected, axis=0, ddof=ddof), rtol=1e-5)
    np.testing.assert_allclose(mean, np.nanmean(corrected, axis=0), rtol=1e-6)
    # The same numbers as combine("variance") with the correction.
    np.testing.assert_array_equal(var, cmb.combine("variance", ddof=ddof))
    np.testing.assert_array_equal(cmb.variance(ddof=ddof), var)
