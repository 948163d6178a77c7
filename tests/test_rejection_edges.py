"""Edge cases of the rejectors, written out by hand (docs/rejection-semantics.md, section 8).

N=1 and N=2, all-masked elements, constant stacks, +-1e30, integer stacks through every rule,
the per-sample flags of ``diagnostics="full"``, the flag enums, ``imck.grow_mask`` on 1 to 3
spatial axes, and agreement with ``astropy.stats.sigma_clip`` where the conventions coincide.
Each case is also checked against the oracle in ``tests/reference.py``.
"""

import dataclasses
import enum
import math
import warnings

import numpy as np
import pytest
import reference

import imcombiners as imc
import imcombiners.kernels as imck

#: The data-only rules (`VarClip`, which reads a variance plane, has its edges in
#: ``tests/test_variance_planes.py``).
RULES = tuple(k for k, e in imc.registry.RULES.items() if not e.cls.needs_variance)
DTYPES = ("uint8", "uint16", "int16", "int32", "float32", "float64")
METHODS = ("mean", "median", "lmedian", "sum", "min", "max", "variance", "weighted_average")

#: The rule of each kind used by the table of section 8 (CcdClip rdnoise 5, LinearClip margins 1).
TABLE_RULES = {
    "sigclip": imc.SigClip(),
    "ccdclip": imc.CcdClip(rdnoise=5.0),
    "linearclip": imc.LinearClip(low=1.0, upp=1.0),
    "minmax": imc.MinMaxClip(),
    "pclip": imc.PClip(),
    # Modern rules (issue 18).
    "winsorized": imc.WinsorizedSigClip(),
    "biweight": imc.BiweightClip(),
    "percentile": imc.PercentileClip(),
    "gesd": imc.GESD(),  # issue 18
    "linearfit": imc.LinearFitClip(),
    "auto": imc.AutoReject(),
}


def params(rule):
    return {f.name: getattr(rule, f.name) for f in dataclasses.fields(rule)}


def oracle(kind, rule, stack, mask=None):
    assert kind == rule.kind
    return reference.of_rule(rule, stack, mask=mask)


def assert_like_oracle(got, want, err=""):
    np.testing.assert_array_equal(got[0], want[0], err_msg=f"mask_rej {err}")
    assert (got[1] is None) == (want[1] is None), f"std {err}"
    for name, g, w in (
        ("std", got[1], want[1]),
        ("low", got[2], want[2]),
        ("upp", got[3], want[3]),
    ):
        if w is not None:
            np.testing.assert_allclose(g, w, rtol=1e-6, equal_nan=True, err_msg=f"{name} {err}")
    np.testing.assert_array_equal(got[4], want[4], err_msg=f"nit {err}")
    np.testing.assert_array_equal(got[5], want[5], err_msg=f"output_flags {err}")


def column(values, dtype="float64"):
    """A stack of shape (N, 1) holding one element."""
    return np.array(values, dtype=dtype).reshape(-1, 1)


# ---------------------------------------------------------------- N = 1 and N = 2


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", RULES)
def test_single_frame_rejects_nothing(kind, dtype):
    stack = np.array([[7, 3, 0, 120]], dtype=dtype).reshape(1, 2, 2)
    rule = TABLE_RULES[kind]
    got = getattr(imck, kind)(stack, **params(rule))
    assert not got.mask_rej.any()
    np.testing.assert_array_equal(got.nit, 1)
    margin = 1 if kind == "linearclip" else 0  # LinearClip reports its bounds c -+ 1
    np.testing.assert_array_equal(got.low, stack[0].astype(float) - margin)
    np.testing.assert_array_equal(got.upp, stack[0].astype(float) + margin)
    # MinMaxClip cannot take 2 of 1 sample: nothing goes, NKEEP says so (section 8).
    np.testing.assert_array_equal(got.output_flags, 4 if kind == "minmax" else 0)
    if kind == "sigclip":
        np.testing.assert_array_equal(got.std, 0)
    if kind == "ccdclip":
        np.testing.assert_allclose(got.std, np.sqrt(stack[0].astype(float) + 25), rtol=1e-6)
    assert_like_oracle(got, oracle(kind, rule, stack), f"{kind} {dtype}")
    for method in ("mean", "median", "max"):
        out = imc.Combiner(stack).combine(method, rejectors=rule)
        np.testing.assert_array_equal(out, stack[0].astype(out.dtype))


@pytest.mark.parametrize("kind", RULES)
def test_single_frame_pclip_positive_frac_and_other_rules(kind):
    """No rule fails on N=1 with any of its offsets (pclip's rank offset has i = N//2 = 0)."""
    stack = np.full((1, 3), 5.0)
    rules = {
        "sigclip": [imc.SigClip(sigma=0.0), imc.SigClip(stdfunc="mad")],
        "ccdclip": [imc.CcdClip(sigma=0.0)],
        "linearclip": [imc.LinearClip(low=0.0, upp=0.0)],
        "minmax": [imc.MinMaxClip(n_min=0.5, n_max=0.9)],
        "pclip": [imc.PClip(frac=-0.9), imc.PClip(frac=0.5), imc.PClip(frac=3)],
        # Modern rules (issue 18).
        "winsorized": [imc.WinsorizedSigClip(sigma=0.0)],
        "biweight": [imc.BiweightClip(sigma=0.0)],
        "percentile": [imc.PercentileClip(low=0.0, high=0.0)],
        "gesd": [imc.GESD(), imc.GESD(outlier_fraction=0.9, low_relaxation=1.0)],
        "linearfit": [imc.LinearFitClip(sigma=0.0)],
        "auto": [imc.AutoReject()],
    }[kind]
    for rule in rules:
        got = imc.Combiner(stack).reject(rule).last_reject
        assert not got.mask_rej.any(), rule
        assert_like_oracle(got, oracle(kind, rule, stack), str(rule))


@pytest.mark.parametrize("kind", RULES)
def test_two_frames(kind):
    """(1, 100): the N=2 row of the table in section 8."""
    stack = column([1.0, 100.0])
    rule = TABLE_RULES[kind]
    got = getattr(imck, kind)(stack, **params(rule))
    assert not got.mask_rej.any()  # nothing, or both out and reverted by nkeep
    want_flags = {"sigclip": 0, "ccdclip": 4, "linearclip": 4, "minmax": 4, "pclip": 0}
    # Modern rules (issue 18): both values are 98% off the median for PercentileClip.
    want_flags.update({"winsorized": 0, "biweight": 0, "percentile": 4})
    want_flags.update(gesd=0, linearfit=0)  # too few samples to test or to fit: nothing goes
    want_flags.update(auto=4)  # two samples: percentile clipping
    want_flags = want_flags[kind]
    np.testing.assert_array_equal(got.output_flags, want_flags)
    np.testing.assert_array_equal(got.nit, 1)
    assert_like_oracle(got, oracle(kind, rule, stack), kind)


# ---------------------------------------------------------------- all-masked elements


@pytest.mark.parametrize("how", ["mask", "nonfinite", "thresholds"])
@pytest.mark.parametrize("kind", RULES)
def test_all_masked_element(kind, how):
    rng = np.random.default_rng(3)
    stack = np.rint(rng.normal(100, 5, size=(9, 2, 3)))
    mask = np.zeros(stack.shape, dtype=bool)
    thresholds = None
    if how == "mask":
        mask[:, 1, 2] = True
    elif how == "nonfinite":
        stack[:, 1, 2] = [np.nan, np.inf, -np.inf] * 3
    else:
        stack[:, 1, 2] = 1e4
        thresholds = (0.0, 1000.0)
    rule = TABLE_RULES[kind]
    got = getattr(imck, kind)(stack, mask=mask, thresholds=thresholds, **params(rule))
    assert not got.mask_rej[:, 1, 2].any()
    assert got.nit[1, 2] == 0
    assert got.output_flags[1, 2] == imc.OutputFlags.PREMASKED
    for name in ("std", "low", "upp"):
        value = getattr(got, name)
        if value is not None:
            assert np.isnan(value[1, 2]), name
    for method in METHODS:
        extra = {"weights": np.arange(1.0, 10.0)} if method == "weighted_average" else {}
        out = imc.Combiner(stack, mask).combine(
            method, rejectors=rule, thresholds=thresholds, **extra
        )
        assert np.isnan(out[1, 2]), method
        assert np.isfinite(out[0]).all(), method


# ---------------------------------------------------------------- constant stacks


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", RULES)
def test_constant_stack_loses_nothing(kind, dtype):
    stack = np.full((11, 3, 4), 42, dtype=dtype)
    rules = {
        "sigclip": [imc.SigClip(), imc.SigClip(sigma=0.0, cenfunc="mean"), imc.SigClip(ddof=1)],
        "ccdclip": [imc.CcdClip(), imc.CcdClip(rdnoise=5.0, gain=2.0)],
        "linearclip": [imc.LinearClip(low=0.0, upp=0.0), imc.LinearClip(low=1.0, upp=1.0)],
        "minmax": [imc.MinMaxClip(), imc.MinMaxClip(n_min=3, n_max=0.5)],
        "pclip": [imc.PClip(), imc.PClip(frac=0.5, sigma=0.0)],
        # Modern rules (issue 18).
        "winsorized": [imc.WinsorizedSigClip(), imc.WinsorizedSigClip(sigma=0.0)],
        "biweight": [imc.BiweightClip(), imc.BiweightClip(sigma=0.0, c=1.0)],
        "percentile": [imc.PercentileClip(), imc.PercentileClip(low=0.0, high=0.0)],
        "gesd": [imc.GESD(), imc.GESD(alpha=0.5, low_relaxation=1.0)],
        "linearfit": [imc.LinearFitClip(), imc.LinearFitClip(sigma=0.0)],
        "auto": [
            imc.AutoReject(),
            imc.AutoReject(winsorized_from=0, linearfit_from=0, gesd_from=0),  # GESD always
        ],
    }[kind]
    for rule in rules:
        got = getattr(imck, kind)(stack, **params(rule))
        if kind == "minmax":
            # Exactly n_min + n_max samples go even when all are equal (as IRAF's minmax).
            k = sum(int(11 * c + 0.001) if 0 < c < 1 else int(c) for c in (rule.n_min, rule.n_max))
            np.testing.assert_array_equal(got.mask_rej.sum(axis=0), k)
        else:
            assert not got.mask_rej.any(), rule
        assert_like_oracle(got, oracle(kind, rule, stack), f"{rule} {dtype}")
        out = imc.Combiner(stack).combine("mean", rejectors=rule)
        np.testing.assert_array_equal(out, 42)


def test_sigclip_mad_on_quantised_data_rejects_off_centre_values():
    """Zero MAD spread: every value different from the centre goes (section 2)."""
    got = imck.sigclip(column([10, 10, 10, 11, 10]), stdfunc="mad")
    np.testing.assert_array_equal(got.mask_rej[:, 0], [0, 0, 0, 1, 0])


# ---------------------------------------------------------------- +-1e30


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    ("kind", "want"),
    [
        ("sigclip", [0, 0, 0, 0, 0]),  # n too small to clip at sigma 3
        ("ccdclip", [0, 0, 0, 0, 1]),
        ("linearclip", [0, 0, 0, 0, 1]),
        ("minmax", [1, 0, 0, 0, 1]),  # exactly one low: frame 0 goes first among the tied 10s
        ("pclip", [0, 0, 0, 0, 0]),  # zero rank spread
        ("gesd", [0, 0, 0, 0, 1]),  # R_1 = 4/sqrt(5) = 1.789 > lambda_1 = 1.715
        ("linearfit", [0, 0, 0, 0, 0]),  # its leverage: 1.67 mean absolute deviations
        ("auto", [0, 0, 0, 0, 1]),  # five samples: percentile clipping
    ],
)
def test_one_huge_value(kind, want, dtype):
    stack = column([10, 10, 10, 10, 1e30], dtype)
    rule = TABLE_RULES[kind]
    got = getattr(imck, kind)(stack, **params(rule))
    np.testing.assert_array_equal(got.mask_rej[:, 0], want)
    assert_like_oracle(got, oracle(kind, rule, stack), kind)
    if kind == "ccdclip":
        assert got.nit[0] == 2
    if kind == "linearclip":
        assert got.output_flags[0] == imc.OutputFlags.MAXITERS


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", RULES)
def test_huge_values_on_both_sides(kind, dtype):
    stack = column([-1e30, 10, 11, 9, 10, 1e30], dtype)
    rule = TABLE_RULES[kind]
    got = getattr(imck, kind)(stack, **params(rule))
    # Nothing goes for sigclip (n too small), gesd (floor(0.3 * 6) = 1 candidate, masked by the
    # other) and linearfit (the line through both leaves each 1 mean absolute deviation off).
    # WinsorizedSigClip: with 2 of 6 samples at -+1e30 each winsorisation step shrinks s by
    # only 2%, so 50 steps leave it near 1e30 and nothing goes (docs/rejection-semantics.md).
    spared = ("sigclip", "gesd", "linearfit", "winsorized", "auto")  # auto: winsorized at 6
    want = [0] * 6 if kind in spared else [1, 0, 0, 0, 0, 1]
    np.testing.assert_array_equal(got.mask_rej[:, 0], want)
    assert_like_oracle(got, oracle(kind, rule, stack), kind)
    out = imc.Combiner(stack).combine("mean", rejectors=rule)
    if kind not in spared:
        assert out[0] == 10.0


# ---------------------------------------------------------------- integer stacks


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "int32"])
@pytest.mark.parametrize("kind", RULES)
def test_integer_stacks_equal_their_float64_twin(kind, dtype):
    rng = np.random.default_rng(17)
    values = np.clip(np.rint(rng.normal(120, 6, size=(15, 4, 5))), 0, 255)
    values[3, 1, 1] = 255
    values[7, 2, 3] = 0
    values[9, 0, 0] = 250
    stack = values.astype(dtype)
    twin = values.astype(np.float64)
    mask = rng.random(stack.shape) < 0.1
    rule = {
        "sigclip": imc.SigClip(sigma=2.5),
        "ccdclip": imc.CcdClip(rdnoise=3.0, gain=2.0),
        "linearclip": imc.LinearClip(low=12.0, upp=12.0, maxiters=3),
        "minmax": imc.MinMaxClip(n_min=1, n_max=2),
        "pclip": imc.PClip(),
        # Modern rules (issue 18).
        "winsorized": imc.WinsorizedSigClip(sigma=2.5),
        "biweight": imc.BiweightClip(sigma=2.5),
        "percentile": imc.PercentileClip(low=0.05, high=0.05),
        "gesd": imc.GESD(),
        "linearfit": imc.LinearFitClip(),
        "auto": imc.AutoReject(),
    }[kind]
    got = imc.Combiner(stack, mask).reject(rule).last_reject
    twin_got = imc.Combiner(twin, mask).reject(rule).last_reject
    np.testing.assert_array_equal(got.mask_rej, twin_got.mask_rej)
    np.testing.assert_array_equal(got.nit, twin_got.nit)
    np.testing.assert_array_equal(got.output_flags, twin_got.output_flags)
    assert got.mask_rej.any()
    assert_like_oracle(got, oracle(kind, rule, stack, mask), f"{kind} {dtype}")
    for method in METHODS:
        extra = {"weights": np.linspace(0.5, 2.0, 15)} if method == "weighted_average" else {}
        out = imc.Combiner(stack, mask).combine(method, rejectors=rule, **extra)
        want = imc.Combiner(twin, mask).combine(method, rejectors=rule, **extra)
        assert out.dtype == reference.work_dtype(dtype)
        np.testing.assert_allclose(out, want, rtol=3e-7, err_msg=method)


# ---------------------------------------------------------------- hand-made semantics


def test_a_pass_over_nothing_left_is_not_counted():
    """nkeep=0: once everything is rejected the loop ends; nit counts passes evaluated (1.1)."""
    got = imck.sigclip(column([3.0, 2.0]), sigma=0.0, maxiters=2, nkeep=0)
    np.testing.assert_array_equal(got.mask_rej[:, 0], [1, 1])
    assert got.nit[0] == 1
    got = imck.linearclip(column([25.0, 24.0]), low=0.0, upp=0.0, maxiters=4, nkeep=0)
    np.testing.assert_array_equal(got.mask_rej[:, 0], [1, 1])
    assert got.nit[0] == 1


def test_maxrej_stop_also_flags_nkeep():
    """A pass over maxrej that would also leave fewer than nkeep flags MAXREJ | NKEEP (1.1)."""
    got = imck.sigclip(column([1.0, 2.0]), sigma=0.5, maxrej=0)
    assert not got.mask_rej.any()
    assert got.output_flags[0] == imc.OutputFlags.MAXREJ | imc.OutputFlags.NKEEP == 12
    got = imck.sigclip(column([1.0, 2.0]), sigma=0.5, maxrej=5)
    assert got.output_flags[0] == imc.OutputFlags.NKEEP


def test_maxrej_caps_the_total_by_whole_passes():
    x = column([0, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 50.0, 1000.0])
    free = imck.sigclip(x, sigma=2.0)
    capped = imck.sigclip(x, sigma=2.0, maxrej=1)
    assert free.mask_rej.sum() > 1
    assert capped.mask_rej.sum() <= 1
    assert capped.output_flags[0] & imc.OutputFlags.MAXREJ
    assert_like_oracle(capped, oracle("sigclip", imc.SigClip(sigma=2.0, maxrej=1), x))


def test_std_is_nan_when_the_last_pass_has_n_le_ddof():
    """``n - ddof <= 0`` gives s = NaN; std is the spread of the last pass evaluated (2)."""
    got = imck.sigclip(column([5.0, -1.0, -8.0]), sigma=0.5, ddof=1, nkeep=0)
    np.testing.assert_array_equal(got.mask_rej[:, 0], [1, 0, 1])
    assert got.nit[0] == 2
    assert np.isnan(got.std[0])


def test_pclip_flags_nkeep_only_when_something_would_go():
    """nkeep above n with nothing to reject: nothing was undone, so no NKEEP (as in 1.1)."""
    got = imck.pclip(column([1.0, 2.0, 3.0]), nkeep=5)
    assert not got.mask_rej.any()
    assert got.output_flags[0] == 0
    got = imck.pclip(column([1.0, 5, 6, 7, 30]), nkeep=5)  # IRAF example: would reject 1, 30
    assert not got.mask_rej.any()
    assert got.output_flags[0] == imc.OutputFlags.NKEEP


def test_pclip_iraf_examples():
    x = column([1.0, 5, 6, 7, 30])
    np.testing.assert_array_equal(imck.pclip(x).mask_rej[:, 0], [1, 0, 0, 0, 1])
    np.testing.assert_array_equal(imck.pclip(x, sigma=(3, 24)).mask_rej[:, 0], [1, 0, 0, 0, 1])
    np.testing.assert_array_equal(imck.pclip(x, sigma=(3, 24.5)).mask_rej[:, 0], [1, 0, 0, 0, 0])
    y = column([1.0, 4, 6, 20])
    np.testing.assert_array_equal(imck.pclip(y).mask_rej[:, 0], [0, 0, 0, 1])
    assert not imck.pclip(y, frac=1).mask_rej.any()


def test_minmax_ties_with_a_kept_bound_stay_with_keep_ties():
    def tied(x, **kw):
        return imck.minmax(column(x), keep_ties=True, **kw).mask_rej[:, 0]

    np.testing.assert_array_equal(tied([1, 1, 2, 3, 3]), 0)
    np.testing.assert_array_equal(tied([1, 1, 1, 9]), [0, 0, 0, 1])
    got = imck.minmax(column([1, 2, 3]), n_min=2, n_max=0, keep_ties=True)
    np.testing.assert_array_equal(got.mask_rej[:, 0], [1, 1, 0])
    assert (got.low[0], got.upp[0]) == (3, 3)


@pytest.mark.parametrize("dtype", ["uint16", "float32"])
def test_minmax_rejects_exactly_the_count_with_ties_split_by_frame(dtype):
    """Issue 13 item 4: ties are split by frame number (lower frame = lower sample)."""
    got = imck.minmax(column([3, 1, 1, 2, 3, 3], dtype), n_min=1, n_max=2).mask_rej[:, 0]
    np.testing.assert_array_equal(got, [0, 1, 0, 0, 1, 1])
    got = imck.minmax(column([5, 5, 5, 5], dtype), n_min=1, n_max=1).mask_rej[:, 0]
    np.testing.assert_array_equal(got, [1, 0, 0, 1])
    # The combine after it uses the survivors: median of (1, 2, 3) and the mean of the middle.
    stack = column([3, 1, 1, 2, 3, 3], dtype)
    rule = imc.MinMaxClip(n_min=1, n_max=2)
    assert imc.Combiner(stack).combine("mean", rejectors=rule)[0] == 2.0
    assert imc.Combiner(stack).combine("median", rejectors=rule)[0] == 2.0
    chained = imc.Combiner(stack).reject(rule)
    assert chained.combine("mean")[0] == 2.0


def test_minmax_on_integer_biases_equals_iraf_style_count():
    """Issue 13 item 4: on uint16 data the number rejected is always n_min + n_max."""
    rng = np.random.default_rng(4)
    stack = rng.integers(1000, 1004, size=(9, 32, 32)).astype(np.uint16)
    cmb = imc.Combiner(stack).reject(imc.MinMaxClip(n_min=1, n_max=1))
    np.testing.assert_array_equal(cmb.mask_rej.sum(axis=0), 2)
    want = np.sort(stack.astype(np.float64), axis=0)[1:-1].mean(axis=0)
    got = imc.Combiner(stack).combine("mean", rejectors=imc.MinMaxClip(n_min=1, n_max=1))
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_nit_is_int32_and_counts_past_255():
    """nit is int32 (section 1.2): 3**j peels a few samples per pass for ~260 passes."""
    x = column(3.0 ** np.arange(300))
    want = reference.sigclip(x, sigma_lower=1e6, sigma_upper=5.3, maxiters=1000)
    assert want[4][0] > 255
    got = imck.sigclip(x, sigma=(1e6, 5.3), maxiters=1000)
    np.testing.assert_array_equal(got.mask_rej, want[0])
    assert got.nit.dtype == np.int32
    assert got.nit[0] == want[4][0]


def test_thresholds_stay_excluded_after_reject():
    """Samples outside the thresholds are not used by the combine that follows a reject."""
    x = np.array([1, 2, 3, 100, 4], dtype=np.float32).reshape(-1, 1)
    rule = imc.SigClip()
    fused = imc.Combiner(x).combine("mean", rejectors=rule, thresholds=(0, 50))
    assert fused[0] == 2.5
    cmb = imc.Combiner(x).reject(rule, thresholds=(0, 50))
    assert cmb.mask[3, 0]
    assert not cmb.mask_rej[3, 0]  # a threshold is not a rejection of this step
    assert cmb.combine("mean")[0] == 2.5
    simple = imc.Combiner(x).combine(
        "mean", rejectors=rule, thresholds=(0, 50), diagnostics="simple"
    )
    assert simple[0] == 2.5
    grown = imc.ndcombine(x.reshape(5, 1, 1), reject="sigclip", thresholds=(0, 50), grow=1)
    assert grown[0, 0] == 2.5


# ---------------------------------------------------------------- full diagnostics


def _flag_stack():
    """N=7, spatial (1, 4); see test_sample_flags_hand_made for what each sample is."""
    stack = np.full((7, 1, 4), 10.0)
    mask = np.zeros(stack.shape, dtype=bool)
    mask[0, 0, 0] = True  # input mask
    stack[2, 0, 0] = 5.0  # unique minimum (goes in step 2)
    stack[6, 0, 0] = 50.0  # unique maximum (goes in step 1)
    stack[1, 0, 1] = np.nan
    stack[5, 0, 1] = 60.0  # unique maximum
    mask[3, 0, 2] = True
    stack[4, 0, 2] = np.nan  # element 2: the rest ties, nothing goes
    stack[0, 0, 3] = 1000.0  # outside the thresholds
    stack[1, 0, 3] = np.nan
    mask[1, 0, 3] = True  # NaN under the input mask
    stack[2, 0, 3] = 20.0  # unique maximum of the rest
    return stack, mask


def test_sample_flags_hand_made():
    stack, mask = _flag_stack()
    before = stack.copy(), mask.copy()
    cmb = imc.Combiner(stack, mask).reject(
        imc.MinMaxClip(n_min=0, n_max=1, keep_ties=True),
        grow=1,
        thresholds=(0, 100),
        diagnostics="full",
    )
    # 1 input mask, 2 non-finite, 4 threshold, 8 rejected, 16 grown, 32 excluded on entry.
    want = np.array(
        [
            [33, 0, 0, 36],
            [0, 34, 0, 35],
            [0, 0, 16, 8],
            [0, 0, 33, 0],
            [0, 0, 34, 0],
            [16, 8, 16, 0],
            [8, 16, 0, 0],
        ],
        dtype=np.uint8,
    )
    assert cmb.sample_flags.dtype == np.uint8
    np.testing.assert_array_equal(cmb.sample_flags[:, 0, :], want)
    np.testing.assert_array_equal(cmb.output_flags[0], [17, 17, 17, 1])
    np.testing.assert_array_equal(cmb.mask_rej, (want[:, None, :] & 24) > 0)

    # The oracle's sample_flags gives the same array.
    outside = (stack < 0) | (stack > 100)
    result = reference.minmax(stack, mask=mask | outside, n_min=0, n_max=1, keep_ties=True)
    _, added = reference.grow(result, 1, stack=stack, mask=mask | outside)
    oracle_flags = reference.sample_flags(
        stack, mask=mask, threshold=outside, rejected=result[0], grown=added
    )
    np.testing.assert_array_equal(oracle_flags[:, 0, :], want)

    # Step 2: everything excluded before it carries 32; the input mask keeps 1, NaN keeps 2.
    cmb.reject(imc.MinMaxClip(n_min=1, n_max=0, keep_ties=True), diagnostics="full")
    want2 = np.array(
        [
            [33, 0, 0, 32],
            [0, 34, 0, 35],
            [8, 0, 32, 32],
            [0, 0, 33, 0],
            [0, 0, 34, 0],
            [32, 32, 32, 0],
            [32, 32, 0, 0],
        ],
        dtype=np.uint8,
    )
    np.testing.assert_array_equal(cmb.sample_flags[:, 0, :], want2)
    np.testing.assert_array_equal(cmb.output_flags[0], [1, 1, 1, 1])
    np.testing.assert_array_equal(stack, before[0])
    np.testing.assert_array_equal(mask, before[1])


def test_sample_flags_only_with_full():
    stack, mask = _flag_stack()
    cmb = imc.Combiner(stack, mask).reject(imc.MinMaxClip(), diagnostics="simple")
    assert cmb.sample_flags is None
    cmb = imc.Combiner(stack, mask)
    cmb.combine("mean", rejectors=imc.MinMaxClip(), diagnostics="full")
    assert cmb.sample_flags is not None
    assert cmb.sample_flags.shape == stack.shape


def test_flag_enums():
    assert issubclass(imc.OutputFlags, enum.IntFlag)
    assert issubclass(imc.SampleFlags, enum.IntFlag)
    assert {f.name: int(f) for f in imc.OutputFlags} == {
        "PREMASKED": 1,
        "MAXITERS": 2,
        "NKEEP": 4,
        "MAXREJ": 8,
        "GROW": 16,
    }
    assert {f.name: int(f) for f in imc.SampleFlags} == {
        "INPUT_MASK": 1,
        "NONFINITE": 2,
        "THRESHOLD": 4,
        "REJECTED": 8,
        "GROW": 16,
        "PREVIOUS": 32,
        "BAD_VARIANCE": 64,  # beyond the seeds' six bits: only with variance=
    }
    assert imc.SampleFlags.INPUT_MASK | imc.SampleFlags.NONFINITE | imc.SampleFlags.PREVIOUS == 35
    assert reference.OUTPUT_GROW == imc.OutputFlags.GROW
    assert reference.SAMPLE_PRIOR == imc.SampleFlags.PREVIOUS


# ---------------------------------------------------------------- grow_mask


def _one(shape, at):
    m = np.zeros(shape, dtype=bool)
    m[at] = True
    return m


@pytest.mark.parametrize(
    ("spatial", "radius", "count"),
    [
        ((9,), 0, 1),
        ((9,), 1, 3),
        ((9,), 2.5, 5),
        ((7, 7), 0, 1),
        ((7, 7), 0.99, 1),
        ((7, 7), 1, 5),
        ((7, 7), math.sqrt(2), 9),
        ((7, 7), 2, 13),
        ((5, 5, 5), 1, 7),
        ((5, 5, 5), math.sqrt(2), 19),
        ((5, 5, 5), math.sqrt(3), 27),
        ((5, 5, 5), 2, 33),
    ],
)
def test_grow_mask_footprints(spatial, radius, count):
    centre = tuple(s // 2 for s in spatial)
    mask = _one((3, *spatial), (1, *centre))
    got = imck.grow_mask(mask, radius)
    assert got.dtype == np.bool_
    assert got.shape == mask.shape
    assert not got[0].any()
    assert not got[2].any()  # never along axis 0
    assert got[1].sum() == count
    np.testing.assert_array_equal(got, reference.grow_mask(mask, radius))


def test_grow_mask_exact_shapes_and_edges():
    mask = _one((1, 5, 5), (0, 2, 2))
    plus = imck.grow_mask(mask, 1)[0].astype(int)
    np.testing.assert_array_equal(
        plus,
        [[0, 0, 0, 0, 0], [0, 0, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0]],
    )
    corner = imck.grow_mask(_one((1, 4, 4), (0, 0, 0)), 2)[0].astype(int)
    np.testing.assert_array_equal(
        corner, [[1, 1, 1, 0], [1, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    )  # no wrap-around
    line = imck.grow_mask(_one((2, 6), (1, 5)), 1)
    np.testing.assert_array_equal(line.astype(int), [[0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 1, 1]])
    empty = np.zeros((2, 3, 3), dtype=bool)
    np.testing.assert_array_equal(imck.grow_mask(empty, 2), empty)


def test_grow_mask_radius_zero_is_identity_and_input_untouched():
    rng = np.random.default_rng(2)
    mask = rng.random((4, 6, 5)) < 0.2
    before = mask.copy()
    np.testing.assert_array_equal(imck.grow_mask(mask, 0), mask)
    np.testing.assert_array_equal(imck.grow_mask(mask[:, ::-1, ::2], 0), mask[:, ::-1, ::2])
    np.testing.assert_array_equal(mask, before)


# ---------------------------------------------------------------- astropy


@pytest.mark.parametrize("maxiters", [1, 3, 5])
@pytest.mark.parametrize("n", [3, 5, 10, 25])
def test_sigclip_agrees_with_astropy_sigma_clip(n, maxiters):
    """cenfunc="mean", stdfunc="std", ddof=0, nkeep=0: astropy's conventions (section 11).

    With string cenfunc/stdfunc astropy takes its compiled path, which masks with the final
    bounds only (a sample rejected in an early pass comes back if they contain it); at
    sigma 1 and several passes that happens, so that path is compared at sigma >= 2. The
    generic path (callables) keeps every rejection, like us, and is compared at sigma 1 too.
    """
    import astropy.stats as stats

    rng = np.random.default_rng(1000 * n + maxiters)
    rejected = 0
    cases = [(s, "mean", "std") for s in (2.0, 2.5, 3.0)]
    cases += [(s, np.nanmean, np.nanstd) for s in (1.0, 2.0, 3.0)]
    for sigma, cenfunc, stdfunc in cases:
        stack = rng.normal(100.0, 5.0, size=(n, 24, 24))
        hit = rng.random(stack.shape) < 0.05
        stack[hit] += rng.choice([-1.0, 1.0], hit.sum()) * rng.uniform(20, 200, hit.sum())
        stack[rng.random(stack.shape) < 0.03] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # all-NaN slices
            want = stats.sigma_clip(
                stack,
                sigma=sigma,
                maxiters=maxiters,
                cenfunc=cenfunc,
                stdfunc=stdfunc,
                axis=0,
                masked=True,
            ).mask
        got = imck.sigclip(
            stack,
            sigma=sigma,
            maxiters=maxiters,
            cenfunc="mean",
            stdfunc="std",
            ddof=0,
            nkeep=0,
        )
        err = f"sigma={sigma} {cenfunc}"
        np.testing.assert_array_equal(got.mask_rej | ~np.isfinite(stack), want, err_msg=err)
        rejected += got.mask_rej.sum()
    assert rejected > 0
