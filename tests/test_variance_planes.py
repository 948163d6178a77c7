"""Input variance planes (``variance=``): propagation, `VarClip`, ``weights="ivar"``.

* Every combine's propagated variance against ``reference_variance.propagated`` (hypothesis:
  NaN/inf samples, masks, bad variances, per-frame variances, zero/scale, any rule riding
  along), and the combined image unchanged by a variance plane riding along.
* `VarClip` against ``reference_variance.varclip`` (hypothesis: N from 1 to 200, ties, masks,
  zero variances) and against DRAGONS' published rule worked by hand.
* Analytic values of each formula, worked by hand.
* Monte Carlo: the propagated variance against the measured scatter of combined values.
* Errors, per-frame variances, inputs never modified, thread counts.
"""

import math

import numpy as np
import pytest
import reference_variance as refvar
import strategies
from hypothesis import given, note, settings
from hypothesis import strategies as st

import imcombiners as imc
import imcombiners.kernels as imck
from imcombiners.flags import OutputFlags, SampleFlags

METHODS = ("mean", "median", "lmedian", "sum", "min", "max", "variance", "weighted_average")
WORK = {
    np.dtype(t): np.dtype(np.float64 if t in ("int32", "float64") else np.float32)
    for t in ("uint8", "uint16", "int16", "int32", "float32", "float64")
}


def work(stack):
    return WORK[np.asarray(stack).dtype.newbyteorder("=")]


def rtol_of(stack):
    return 1e-12 if work(stack) == np.float64 else 4e-7


@st.composite
def variance_planes(draw, shape):
    """A variance plane for a stack of ``shape``: full or per frame, float32/float64/int,
    with zeros and some unusable (NaN, inf, negative) values."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    per_frame = draw(st.booleans())
    vshape = (shape[0],) if per_frame else shape
    # Dyadic values keep the sums exact.
    values = rng.integers(0, 64, size=vshape) / 4.0
    dtype = draw(st.sampled_from(("float64", "float32", "int64")))
    if dtype == "int64":
        values = np.rint(values)
    else:
        bad = draw(st.sampled_from((0.0, 0.0, 0.05, 0.3)))
        hit = rng.random(vshape) < bad
        values[hit] = rng.choice([np.nan, np.inf, -1.0], size=int(hit.sum()))
    return values.astype(dtype)


def used_samples(stack, mask, variance, **combine):
    """bool: the samples a combine used, read off the Combiner's mask after the same combine
    with diagnostics (the rules themselves are checked against their references elsewhere)."""
    cmb = imc.Combiner(stack, mask, variance=variance)
    cmb.combine(**combine, diagnostics="simple")
    return ~cmb.mask


def close(got, want, rtol):
    np.testing.assert_allclose(got, want, rtol=rtol, atol=0, equal_nan=True)


# ------------------------------------------------------------------ propagation vs reference


@given(data=st.data())
def test_propagated_variance_matches_the_reference(data):
    case = data.draw(strategies.rejection_cases(max_n=40), label="case")
    x, mask = case.stack, case.mask
    n = x.shape[0]
    var = data.draw(variance_planes(x.shape), label="variance")
    method = data.draw(st.sampled_from((*METHODS, "ivar")), label="method")
    kind = data.draw(st.sampled_from((None, "sigclip", "minmax", "pclip", "varclip")), label="rule")
    options = {}
    if method == "weighted_average":
        options["weights"] = data.draw(strategies.weights(n), label="weights")
    if method == "ivar":
        options["weights"] = "ivar"
    if data.draw(st.booleans(), label="correct"):
        options["zero"] = data.draw(
            st.lists(st.sampled_from((0.0, 1.0, -2.5)), min_size=n, max_size=n)
        )
        options["scale"] = data.draw(
            st.lists(st.sampled_from((1.0, 0.5, 2.0)), min_size=n, max_size=n)
        )
    ddof = data.draw(st.integers(0, 1), label="ddof") if method == "variance" else 0
    combine = "mean" if method == "ivar" else method
    rules = []
    if kind is not None:
        cls = imc.registry.RULES[kind].cls
        # ndcombine's ddof is also the rule's, where the rule has one
        rules = [cls(ddof=ddof) if "ddof" in cls.__dataclass_fields__ else cls()]
    image, got = imc.ndcombine(
        x,
        mask=mask,
        combine=combine,
        reject=kind,
        variance=var,
        return_variance=True,
        ddof=ddof,
        **options,
    )
    used = used_samples(x, mask, var, method=combine, rejectors=rules, ddof=ddof, **options)
    want, value = refvar.propagated(
        x,
        var,
        used,
        method,
        weights=options.get("weights"),
        ddof=ddof,
        zero=options.get("zero"),
        scale=options.get("scale"),
    )
    note(f"got {got!r}\nwant {want!r}")
    assert got.dtype == work(x)
    close(got, want, rtol_of(x))
    if method == "ivar":
        close(image, value, rtol_of(x) * 8)


@given(data=st.data())
def test_a_variance_plane_rides_along_without_changing_the_image(data):
    """With every variance usable, the combined image is the image without ``variance``."""
    case = data.draw(strategies.rejection_cases(max_n=30), label="case")
    x, mask = case.stack, case.mask
    kind = data.draw(st.sampled_from(strategies.RULE_KINDS), label="kind")
    method = data.draw(st.sampled_from(("mean", "median", "sum", "min", "max")), label="method")
    var = np.full(x.shape, 2.0)
    plain = imc.ndcombine(x, mask=mask, combine=method, reject=kind)
    image, _ = imc.ndcombine(
        x, mask=mask, combine=method, reject=kind, variance=var, return_variance=True
    )
    np.testing.assert_array_equal(image, plain)


# ------------------------------------------------------------------ VarClip vs reference


@given(data=st.data())
def test_varclip_matches_the_reference(data):
    case = data.draw(strategies.rejection_cases(max_n=200, max_pixels=12), label="case")
    x, mask = case.stack, case.mask
    var = data.draw(variance_planes(x.shape), label="variance")
    params = strategies._varclip_params(data.draw)
    got = imck.varclip(x, mask=mask, variance=var, **params)
    rule = imc.VarClip(**params)
    want = refvar.varclip(
        x,
        variance=var,
        mask=mask,
        sigma_lower=rule.sigma[0],
        sigma_upper=rule.sigma[1],
        maxiters=rule.maxiters,
        cenfunc=rule.cenfunc,
        nkeep=rule.nkeep,
        maxrej=rule.maxrej,
        revert_on_nkeep=rule.revert_on_nkeep,
    )
    np.testing.assert_array_equal(got.mask_rej, want[0])
    assert got.std is None
    close(got.low, want[2], rtol_of(x))
    close(got.upp, want[3], rtol_of(x))
    np.testing.assert_array_equal(got.nit, want[4])
    np.testing.assert_array_equal(got.output_flags, want[5])


def test_varclip_on_dragons_rule_worked_by_hand():
    """DRAGONS' varclip: reject where (x - c) / sqrt(var) > hsigma or < -lsigma, c the median of
    the survivors, until nothing changes. Worked by hand on three elements (sigma 3):

    element 0: x = 10 12 9 11 22 40, sigma = 1 1 1 1 4 1
      pass 1: median(9 10 11 12 22 40) = 11.5; 40: (40 - 11.5) / 1 = 28.5 > 3, rejected;
              22: (22 - 11.5) / 4 = 2.6 kept (a noisy sample, where SigClip would clip it)
      pass 2: median(9 10 11 12 22) = 11; 22: 11 / 4 = 2.75 kept; 9: -2 kept -> converged
      mean = 64 / 5 = 12.8, variance = (1 + 1 + 1 + 1 + 16) / 25 = 0.8
    element 1: x = 10 10 10 10 14 30, sigma = 1: median 10; 14 (4 > 3) and 30 go; pass 2 keeps
      all: mean 10, variance 4 / 16 = 0.25
    element 2: x = 5 5 5 5 5.5 5, variances 0 except 5.5 (variance 0.01): median 5; 5.5 is 5
      sigmas away, rejected: mean 5, variance 0
    """
    x = np.array(
        [
            [10, 12, 9, 11, 22, 40],
            [10, 10, 10, 10, 14, 30],
            [5, 5, 5, 5, 5.5, 5],
        ]
    ).T
    sd = np.array([[1, 1, 1, 1, 4, 1], [1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0.1, 0]]).T
    r = imck.varclip(x, variance=sd**2)
    np.testing.assert_array_equal(
        r.mask_rej.T,
        [[0, 0, 0, 0, 0, 1], [0, 0, 0, 0, 1, 1], [0, 0, 0, 0, 1, 0]],
    )
    np.testing.assert_array_equal(r.nit, [2, 2, 2])
    image, var = imck.varclip_combine(x, variance=sd**2, return_variance=True)
    np.testing.assert_allclose(image, [12.8, 10.0, 5.0], rtol=1e-15)
    np.testing.assert_allclose(var, [0.8, 0.25, 0.0], rtol=1e-15)
    # SigClip on the same data clips the noisy 22 of element 0 (it knows no variances).
    assert imck.sigclip_mask(x, sigma=1.5)[4, 0]


def test_varclip_limits_and_flags():
    # median 1; 5 and 6 lie 40 and 50 sigmas away: one pass rejects both
    x = np.array([1.0, 1.0, 1.0, 5.0, 6.0]).reshape(5, 1)
    var = np.full(x.shape, 0.01)
    r = imck.varclip(x, variance=var, nkeep=4)
    assert r.output_flags[0] == OutputFlags.NKEEP
    assert not r.mask_rej.any()  # undone
    r = imck.varclip(x, variance=var, nkeep=4, revert_on_nkeep=False)
    assert r.mask_rej[3:].all()  # kept, then stopped
    r = imck.varclip(x, variance=var, maxrej=1)
    assert r.output_flags[0] == OutputFlags.MAXREJ
    assert not r.mask_rej.any()
    r = imck.varclip(x, variance=var, maxiters=1)
    assert r.output_flags[0] == OutputFlags.MAXITERS
    r = imck.varclip(x, variance=var)
    assert (r.output_flags[0], r.nit[0]) == (0, 2)
    r = imck.varclip(x, variance=var, maxiters=0)
    assert not r.mask_rej.any()
    assert r.nit[0] == 0


def test_varclip_in_chains_with_grow_and_full_diagnostics():
    rng = np.random.default_rng(3)
    x = rng.normal(100, 1, (9, 12, 13))
    x[4, 6, 6] = 200.0
    var = np.ones(x.shape)
    var[2] = np.nan  # frame 2 unusable
    cmb = imc.Combiner(x, variance=var)
    cmb.combine(
        "mean",
        rejectors=[imc.MinMaxClip(n_min=0, n_max=0), imc.VarClip(sigma=5)],
        grow=1,
        diagnostics="full",
    )
    flags = cmb.sample_flags
    assert flags[4, 6, 6] & SampleFlags.REJECTED
    assert flags[4, 6, 7] & SampleFlags.GROW
    assert flags[4, 5, 6] & SampleFlags.GROW
    assert (flags[2] & SampleFlags.BAD_VARIANCE).all()
    assert (flags[2] & SampleFlags.PREVIOUS).all()
    assert (cmb.output_flags & OutputFlags.PREMASKED).all()
    used = ~cmb.mask
    assert not used[2].any()
    want, _ = refvar.propagated(x, var, used, "mean")
    np.testing.assert_allclose(cmb.out_variance, want, rtol=1e-12)
    # The same through ndcombine and the file-free kernels.
    _image, var_out = imc.ndcombine(
        x, reject="varclip", sigma=5, grow=1, variance=var, return_variance=True
    )
    np.testing.assert_allclose(var_out, want, rtol=1e-12)


# ------------------------------------------------------------------ formulas by hand


def test_each_formula_worked_by_hand():
    x = np.array([1.0, 2.0, 4.0, 8.0]).reshape(4, 1)
    v = np.array([1.0, 2.0, 3.0, 4.0])

    def prop(method, **kw):
        return imc.ndcombine(x, combine=method, variance=v, return_variance=True, **kw)

    assert prop("mean")[1][0] == 10 / 16
    assert prop("sum")[1][0] == 10
    # weights 1 1 2 0: (1*1 + 1*2 + 4*3 + 0) / (1 + 1 + 2 + 0)**2
    assert prop("mean", weights=[1, 1, 2, 0])[1][0] == 15 / 16
    image, var = prop("mean", weights="ivar")
    assert math.isclose(var[0], 12 / 25, rel_tol=1e-15)  # 1 / (1 + 1/2 + 1/3 + 1/4)
    assert math.isclose(image[0], 64 / 25, rel_tol=1e-15)  # (1 + 2/2 + 4/3 + 8/4) * 12 / 25
    assert math.isclose(prop("median")[1][0], math.pi / 2 * 10 / 16, rel_tol=1e-15)
    assert math.isclose(prop("lmedian")[1][0], math.pi / 2 * 10 / 16, rel_tol=1e-15)
    assert prop("min")[1][0] == 1
    assert prop("max")[1][0] == 4
    assert math.isclose(prop("variance")[1][0], 2 * 2.5**2 * 3 / 16, rel_tol=1e-15)
    assert math.isclose(prop("variance", ddof=1)[1][0], 2 * 2.5**2 * 3 / 9, rel_tol=1e-15)
    # scale 1 2 1 2: variances 1, 0.5, 3, 1 -> mean 5.5 / 16
    assert prop("mean", scale=[1, 2, 1, 2], normalize=False)[1][0] == 5.5 / 16
    # small medians: one sample, two samples (the mean of two), the lower of two
    two = np.array([5.0, 1.0]).reshape(2, 1)
    tv = np.array([9.0, 1.0])
    assert imc.ndcombine(two[:1], combine="median", variance=tv[:1], return_variance=True)[1] == 9
    assert imc.ndcombine(two, combine="median", variance=tv, return_variance=True)[1] == 2.5
    assert imc.ndcombine(two, combine="lmedian", variance=tv, return_variance=True)[1] == 1
    # ivar with exact samples: their mean, variance 0
    ex = np.array([1.0, 3.0, 100.0]).reshape(3, 1)
    image, var = imc.ndcombine(ex, weights="ivar", variance=[0, 0, 5], return_variance=True)
    assert (image[0], var[0]) == (2.0, 0.0)
    # nothing usable: NaN
    image, var = imc.ndcombine(x, variance=np.full(4, np.nan), return_variance=True)
    assert np.isnan(image[0])
    assert np.isnan(var[0])


# ------------------------------------------------------------------ Monte Carlo

#: Measured Var(median) / ((pi / 2) * sigma**2 / n) for n Gaussian samples of equal variance
#: (200 000 realisations; the table of docs/uncertainty.md).
MEDIAN_EFFICIENCY = {
    3: {"median": 0.854, "lmedian": 0.854},
    4: {"median": 0.758, "lmedian": 0.918},
    5: {"median": 0.915, "lmedian": 0.915},
    10: {"median": 0.881, "lmedian": 0.962},
    20: {"median": 0.940, "lmedian": 0.986},
    50: {"median": 0.975, "lmedian": 0.994},
}


def _gaussian_stacks(n=10, realisations=2000, pixels=50, seed=7):
    """``realisations`` stacks of ``n`` frames of ``pixels`` pixels, side by side, with
    unequal per-frame noise (sigma from 1 to 3), true value 100."""
    rng = np.random.default_rng(seed)
    sigma = np.linspace(1.0, 3.0, n)
    x = 100 + sigma[:, None] * rng.standard_normal((n, realisations * pixels))
    return x, sigma**2


@pytest.mark.parametrize(
    ("method", "options"),
    [("mean", {}), ("sum", {}), ("mean", {"weights": "inverse"}), ("mean", {"weights": "ivar"})],
    ids=["mean", "sum", "weighted", "ivar"],
)
def test_monte_carlo_scatter_equals_the_propagated_variance(method, options):
    x, var = _gaussian_stacks()
    if options.get("weights") == "inverse":
        options = {"weights": 1 / var}
    image, prop = imc.ndcombine(x, combine=method, variance=var, return_variance=True, **options)
    truth = 100 * x.shape[0] if method == "sum" else 100.0
    measured = np.mean((image - truth) ** 2)
    assert abs(measured / prop.mean() - 1) < 0.03


@pytest.mark.parametrize("rule_options", [{}, {"weights": "ivar"}], ids=["mean", "ivar"])
def test_monte_carlo_with_outliers_clipped_by_varclip(rule_options):
    """2% of samples carry a +50 sigma cosmic ray; VarClip(sigma=4) removes them and the
    propagated variance (of each element's survivors) matches the scatter."""
    x, var = _gaussian_stacks(seed=11)
    rng = np.random.default_rng(12)
    hit = rng.random(x.shape) < 0.02
    x = x + hit * 50 * np.sqrt(var)[:, None]
    image, prop = imc.ndcombine(
        x, reject="varclip", sigma=4, variance=var, return_variance=True, **rule_options
    )
    measured = np.mean((image - 100) ** 2)
    assert abs(measured / prop.mean() - 1) < 0.03
    # Without the rejection the cosmic rays dominate the scatter: the test can tell.
    bare = imc.ndcombine(x, variance=var, return_variance=True, **rule_options)[0]
    assert np.mean((bare - 100) ** 2) > 3 * prop.mean()


@pytest.mark.parametrize("n", sorted(MEDIAN_EFFICIENCY))
@pytest.mark.parametrize("method", ["median", "lmedian"])
def test_monte_carlo_median_within_the_stated_efficiency(n, method):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, 200_000))
    image, prop = imc.ndcombine(x, combine=method, variance=1.0, return_variance=True)
    ratio = np.var(image) / prop.mean()
    assert abs(ratio - MEDIAN_EFFICIENCY[n][method]) < 0.02


def test_monte_carlo_median_formula_is_an_upper_bound_for_unequal_variances():
    x, var = _gaussian_stacks()
    image, prop = imc.ndcombine(x, combine="median", variance=var, return_variance=True)
    assert np.mean((image - 100) ** 2) / prop.mean() < 1.0


# ------------------------------------------------------------------ inputs, errors, guarantees


def test_per_frame_variances_equal_the_full_plane():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (6, 7, 5)).astype(np.float32)
    v = np.arange(1.0, 7.0)
    full = np.broadcast_to(v[:, None, None], x.shape).copy()
    for method in ("mean", "median", "max"):
        a = imc.ndcombine(x, combine=method, variance=v, return_variance=True)
        b = imc.ndcombine(x, combine=method, variance=full, return_variance=True)
        for p, q in zip(a, b, strict=True):
            np.testing.assert_array_equal(p, q)
    # big-endian, Fortran-ordered and integer variance planes give the same numbers
    want = imc.ndcombine(x, variance=full, return_variance=True)[1]
    for other in (full.astype(">f8"), np.asfortranarray(full), full.astype(np.int64)):
        got = imc.ndcombine(x, variance=other, return_variance=True)[1]
        np.testing.assert_array_equal(got, want)


def test_bad_variances_are_not_used_and_are_flagged():
    x = np.array([1.0, 2.0, 3.0, 4.0]).reshape(4, 1)
    v = np.array([1.0, np.nan, -1.0, np.inf]).reshape(4, 1)
    image, var = imc.ndcombine(x, variance=v, return_variance=True)
    assert (image[0], var[0]) == (1.0, 1.0)
    out = imc.ndcombine(x, reject="sigclip", variance=v, diagnostics="full")
    flags = out[8]
    np.testing.assert_array_equal(flags[:, 0] & SampleFlags.BAD_VARIANCE, [0, 64, 64, 64])
    assert out[7][0] & OutputFlags.PREMASKED


def test_errors_name_the_parameter():
    x = np.ones((3, 4))
    with pytest.raises(ValueError, match="variance has shape"):
        imc.ndcombine(x, variance=np.ones((3, 5)), return_variance=True)
    with pytest.raises(TypeError, match="variance must hold real numbers"):
        imc.ndcombine(x, variance=np.ones((3, 4), dtype=complex))
    with pytest.raises(ValueError, match="return_variance=True needs variance"):
        imc.ndcombine(x, return_variance=True)
    with pytest.raises(ValueError, match="weights='ivar' needs variance"):
        imc.ndcombine(x, weights="ivar")
    with pytest.raises(ValueError, match="weights='ivar' is used only by the mean"):
        imc.ndcombine(x, combine="median", weights="ivar", variance=1.0)
    with pytest.raises(ValueError, match="VarClip tests each sample against its own variance"):
        imc.ndcombine(x, reject="varclip")
    with pytest.raises(ValueError, match="VarClip tests each sample"):
        imc.Combiner(x).reject(imc.VarClip())
    with pytest.raises(ValueError, match="maxiters"):
        imc.VarClip(maxiters=-1)
    with pytest.raises(ValueError, match="gain must be > 0"):
        imc.variance_from_noise(x, gain=0.0, rdnoise=1.0)


def test_inputs_are_never_modified_and_threads_do_not_matter():
    rng = np.random.default_rng(5)
    x = rng.normal(10, 1, (7, 33, 40)).astype(np.float32)
    x[3, 5, 5] = 80
    v = rng.uniform(0.5, 2, x.shape)
    v[1, 2, 3] = np.nan
    x0, v0 = x.copy(), v.copy()
    results = []
    for threads in (1, 2):
        with imc.threads(threads):
            results.append(
                imc.ndcombine(x, reject="varclip", variance=v, weights="ivar", return_variance=True)
            )
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(v, v0)
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


def test_noise_model_and_errors_to_variance():
    raw = np.array([[-5, 0, 100, 10000]], dtype=np.int32)
    var = imc.variance_from_noise(raw, gain=2.0, rdnoise=4.0, snoise=0.01)
    want = (4.0 / 2.0) ** 2 + np.maximum(raw, 0) / 2.0 + (0.01 * raw) ** 2
    np.testing.assert_allclose(var, want, rtol=1e-15)
    assert imc.variance_from_noise(np.ones(3, np.uint16), gain=1, rdnoise=1).dtype == np.float32
    err = np.array([0.5, 2.0, -1.0, np.nan], dtype=np.float32)
    v = imc.variance_from_error(err)
    assert v.dtype == np.float32
    np.testing.assert_array_equal(v[:2], [0.25, 4.0])
    assert not (v[2:] >= 0).any()  # both unusable as variances


@settings(max_examples=30)
@given(data=st.data())
def test_kernels_and_combiner_agree(data):
    case = data.draw(strategies.rejection_cases(max_n=20), label="case")
    x, mask = case.stack, case.mask
    var = data.draw(variance_planes(x.shape), label="variance")
    a = imck.varclip_combine(x, mask=mask, variance=var, return_variance=True)
    cmb = imc.Combiner(x, mask, variance=var)
    b = cmb.combine("mean", rejectors=imc.VarClip())
    np.testing.assert_array_equal(a[0], b)
    np.testing.assert_array_equal(a[1], cmb.out_variance)
    chained = imc.Combiner(x, mask, variance=var).reject(imc.VarClip())
    np.testing.assert_array_equal(chained.combine("mean"), b)
    np.testing.assert_array_equal(chained.out_variance, cmb.out_variance)


def test_an_unaligned_variance_plane_is_read_correctly():
    """A variance view at an odd byte offset (e.g. a block a Dask worker received) is copied
    aligned for the core, not refused."""
    x = np.ones((3, 4, 5), np.float32)
    raw = np.zeros(3 * 4 * 5 * 4 + 1, np.uint8)[1:]
    odd = raw.view(np.float32).reshape(3, 4, 5)
    odd[:] = 2.0
    assert not odd.flags.aligned or odd.ctypes.data % 4
    _, var = imc.ndcombine(x, variance=odd, return_variance=True)
    np.testing.assert_allclose(var, 2.0 / 3.0, rtol=1e-7)


def test_ccd_noise_model_as_variance():
    """variance="ccd": the noise model of the raw values, with gain/rdnoise (and snoise)."""
    raw = np.array([[100], [104], [98], [400]], dtype=np.uint16).repeat(3, axis=1)
    want_plane = imc.variance_from_noise(raw, gain=2.0, rdnoise=4.0, snoise=0.01)
    noise = {"gain": 2.0, "rdnoise": 4.0, "snoise": 0.01}
    cases = [
        ({}, {}),
        ({"reject": "varclip"}, {"reject": "varclip"}),
        # with ccdclip the same gain/rdnoise/snoise also serve the rule
        ({"reject": "ccdclip", "sigma": 2.0}, {"reject": "ccdclip", "sigma": 2.0, **noise}),
    ]
    for model_options, plane_options in cases:
        got = imc.ndcombine(raw, variance="ccd", return_variance=True, **noise, **model_options)
        want = imc.ndcombine(raw, variance=want_plane, return_variance=True, **plane_options)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
    cmb = imc.Combiner(raw, variance="ccd", gain=2.0, rdnoise=4.0, snoise=0.01)
    cmb.combine("mean")
    np.testing.assert_array_equal(
        cmb.out_variance, imc.ndcombine(raw, variance=want_plane, return_variance=True)[1]
    )
    with pytest.raises(ValueError, match=r"variance='ccd' needs gain= .* and rdnoise="):
        imc.ndcombine(raw, variance="ccd", gain=2.0)
    with pytest.raises(ValueError, match="or 'ccd'"):
        imc.ndcombine(raw, variance="poisson")
    with pytest.raises(ValueError, match=r"are options of variance='ccd'"):
        imc.Combiner(raw, rdnoise=3.0)
