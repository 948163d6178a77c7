"""GESD and LinearFitClip (issue 18).

* GESD reproduces Rosner's (1983) worked example as the NIST/SEMATECH e-Handbook prints it
  (section 1.3.5.17.3): 54 values, R_i and lambda_i for i = 1..10, 3 outliers at alpha 0.05.
* Both rules against their slow references (``reference.gesd``, ``reference.linearfit``) on
  random stacks with NaN, masks, ties and odd layouts, N from 1 to 200.
* Every usage mode: Combiner (fused and chained), ndcombine, the kernels, combine_files, the
  command line and the Dask adapter on the threaded scheduler; nkeep, maxrej, grow and the
  diagnostics as for SigClip; clear errors for bad parameters.
* A statistical check on Gaussian stacks with injected cosmic rays (`rejection_rates`; run this
  file as a script to print the table recorded in ``docs/rejection-semantics.md``).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import reference
import strategies
from hypothesis import given, note, settings
from hypothesis import strategies as st
from test_rejection_properties import Snapshot, assert_result_matches, entry_mask

import imcombiners as imc
import imcombiners.kernels as imck
from imcombiners import cli

KINDS = ("gesd", "linearfit")

#: Rosner (1983), Table 1; the NIST handbook's example data (1.3.5.17.3), typed from the page.
ROSNER = [
    -0.25, 0.68, 0.94, 1.15, 1.20, 1.26, 1.26, 1.34, 1.38, 1.43, 1.49, 1.49, 1.55, 1.56,
    1.58, 1.65, 1.69, 1.70, 1.76, 1.77, 1.81, 1.91, 1.94, 1.96, 1.99, 2.06, 2.09, 2.10,
    2.14, 2.15, 2.23, 2.24, 2.26, 2.35, 2.37, 2.40, 2.47, 2.54, 2.62, 2.64, 2.90, 2.92,
    2.92, 2.93, 3.21, 3.26, 3.30, 3.59, 3.68, 4.30, 4.64, 5.34, 5.42, 6.01,
]  # fmt: skip

#: The handbook's summary table at alpha = 0.05: (R_i, lambda_i), i = 1..10, three decimals
#: (the printed values are truncated, not rounded: 3.1188... is printed 3.118).
NIST_TABLE = [
    (3.118, 3.158),
    (2.942, 3.151),
    (3.179, 3.143),
    (2.810, 3.136),
    (2.815, 3.128),
    (2.848, 3.120),
    (2.279, 3.111),
    (2.310, 3.103),
    (2.101, 3.094),
    (2.067, 3.085),
]


def fields(rule):
    return {f.name: getattr(rule, f.name) for f in dataclasses.fields(rule) if f.name != "grow"}


def column(values, dtype="float64"):
    return np.array(values, dtype=dtype).reshape(-1, 1)


def gaussian_stack(rng, n, shape, *, rays=0.02, dtype="float32"):
    """Frames of N(1000, 10) with cosmic rays (+200 to +2000) in a fraction ``rays`` of samples,
    a few low outliers, and integer values (exact sums in the references)."""
    x = np.rint(rng.normal(1000.0, 10.0, size=(n, *shape)))
    hot = rng.random(x.shape) < rays
    x[hot] += np.rint(rng.uniform(200, 2000, int(hot.sum())))
    cold = rng.random(x.shape) < rays / 4
    x[cold] -= 500
    return x.astype(dtype)


# ---------------------------------------------------------------- the NIST worked example


def _truncated(v):
    return math.floor(v * 1000) / 1000


def test_gesd_reference_reproduces_the_nist_table():
    """The reference's R_i and lambda_i, to the handbook's printed precision."""
    y = sorted(ROSNER)
    n, lo, hi = len(y), 0, len(y)
    for i, (r_nist, lambda_nist) in enumerate(NIST_TABLE, start=1):
        m, s = reference._mean_std1(y[lo:hi])  # the textbook two-pass statistics
        d_low, d_high = m - y[lo], y[hi - 1] - m
        assert _truncated(max(d_low, d_high) / s) == pytest.approx(r_nist, abs=1e-9), i
        lam = reference.gesd_critical_value(0.05, n, i)
        assert _truncated(lam) == pytest.approx(lambda_nist, abs=1e-9), i
        lo, hi = (lo + 1, hi) if d_low > d_high else (lo, hi - 1)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("low_relaxation", [1.0, 1.5])
def test_gesd_finds_the_three_outliers_of_the_nist_example(dtype, low_relaxation):
    rng = np.random.default_rng(0)
    values = rng.permutation(ROSNER)  # frame order does not matter
    stack = column(values, dtype)
    # floor(0.19 * 54) = 10 candidates, as in the handbook.
    rule = imc.GESD(outlier_fraction=0.19, alpha=0.05, low_relaxation=low_relaxation)
    got = imck.gesd(stack, **fields(rule))
    rejected = sorted(np.asarray(values, dtype)[got.mask_rej[:, 0]].astype(float))
    np.testing.assert_allclose(rejected, [5.34, 5.42, 6.01], rtol=1e-6)
    assert got.nit[0] == 1
    assert got.output_flags[0] == 0
    assert_result_matches(got, reference.gesd(stack, **fields(rule)), stack, str(rule))
    # alpha = 0.01: lambda_3 grows past R_3 = 3.179, and R_1, R_2 were already below theirs.
    strict = imck.gesd(stack, outlier_fraction=0.19, alpha=0.01, low_relaxation=low_relaxation)
    assert not strict.mask_rej.any()


@pytest.mark.parametrize("alpha", [1e-300, 1e-100, 1e-12, 0.999])
def test_gesd_extreme_alpha(alpha):
    """A tiny alpha makes t huge (t**2 overflows): lambda_i tends to its bound
    (n - i) / sqrt(n - i + 1), which no R_i can exceed, so nothing goes; a large alpha rejects
    more. The core agrees with the reference either way."""
    rng = np.random.default_rng(1)
    stack = np.rint(rng.normal(0, 5, size=(30, 40)))
    stack[0] += 1000
    stack[:3, :5] = [[0.0], [1.0], [50.0]]  # n = 3 candidates in a few columns
    got = imck.gesd(stack, alpha=alpha, outlier_fraction=0.9)
    want = reference.gesd(stack, alpha=alpha, outlier_fraction=0.9)
    assert_result_matches(got, want, stack, f"alpha={alpha}")
    if alpha < 1e-50:
        assert not got.mask_rej.any()
    else:
        assert got.mask_rej[0, 5:].all()


# ---------------------------------------------------------------- core vs reference, N 1..200


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_core_matches_reference_up_to_200_frames(kind, data):
    case = data.draw(strategies.rejection_cases(max_n=200, max_pixels=12), label="case")
    stack, mask = case.stack, case.mask
    params = data.draw(strategies.rule_params(kind), label="params")
    rule = imc.registry.RULES[kind].cls(**params)
    thresholds = data.draw(strategies.thresholds_for(stack), label="thresholds")
    note(case.describe())
    snapshot = Snapshot(stack, mask)
    err = f"{rule} thresholds={thresholds} {case.describe()}"
    want = reference.of_rule(rule, stack, mask=entry_mask(stack, mask, thresholds))
    got = getattr(imck, kind)(stack, mask=mask, thresholds=thresholds, **params)
    assert_result_matches(got, want, stack, err)
    snapshot.check(err)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 15, 16, 50, 199, 200])
def test_every_depth_matches_reference(kind, n):
    """N = 1..200 on purpose (hypothesis may not draw the ends): noise, ties and outliers."""
    rng = np.random.default_rng(n)
    stack = gaussian_stack(rng, n, (3, 4), rays=0.05, dtype="float64")
    stack[:, 2, :] = np.rint(rng.integers(0, 3, size=(n, 4)))  # ties
    stack[rng.random(stack.shape) < 0.05] = np.nan
    mask = rng.random(stack.shape) < 0.05
    for rule in (
        imc.registry.RULES[kind].cls(),
        imc.GESD(alpha=0.2, low_relaxation=1.0) if kind == "gesd" else imc.LinearFitClip(sigma=2),
    ):
        got = getattr(imck, kind)(stack, mask=mask, **fields(rule))
        assert_result_matches(got, reference.of_rule(rule, stack, mask=mask), stack, str(rule))


def test_ties_are_cut_by_frame_order_as_minmax():
    """GESD removes one sample at a time, so it can cut a run of equal values: the lowest
    frame goes first at the low end, the highest frame first at the high end."""
    x = column([10.0, 11, 9, 10, 10, 12, 9, 10, 11, 10, 300, 300, 10, 11, 9, 10])
    rule = imc.GESD(outlier_fraction=0.45, alpha=0.05)
    got = imck.gesd(x, **fields(rule))
    assert_result_matches(got, reference.gesd(x, **fields(rule)), x, "ties")
    assert got.mask_rej[[10, 11], 0].all()


# ---------------------------------------------------------------- the usage modes

RULES = {
    "gesd": imc.GESD(alpha=0.1, low_relaxation=1.0),
    "linearfit": imc.LinearFitClip(sigma=(4.0, 3.0)),
}


def _reference_mean(rule, stack, mask=None):
    """The mean of the samples the reference keeps."""
    rej = reference.of_rule(rule, stack, mask=mask)[0]
    use = np.isfinite(stack) & ~rej
    if mask is not None:
        use &= ~mask
    return reference.mean(np.where(use, stack, np.nan))


@pytest.mark.parametrize("kind", KINDS)
def test_combiner_fused_and_chained_ndcombine_and_kernels(kind):
    rng = np.random.default_rng(3)
    stack = gaussian_stack(rng, 20, (17, 13))
    mask = rng.random(stack.shape) < 0.03
    rule = RULES[kind]
    fused = imc.Combiner(stack, mask).combine("mean", rejectors=rule)
    want = _reference_mean(rule, stack.astype(np.float64), mask)
    np.testing.assert_allclose(fused, want, rtol=2e-7)
    assert reference.of_rule(rule, stack, mask=mask)[0].any()

    cmb = imc.Combiner(stack, mask).reject(rule)
    np.testing.assert_array_equal(cmb.combine("mean"), fused)
    np.testing.assert_array_equal(cmb.mask_rej, reference.of_rule(rule, stack, mask=mask)[0])

    nd = imc.ndcombine(stack, combine="mean", reject=kind, mask=mask, **fields(rule))
    np.testing.assert_array_equal(nd, fused)
    kern = getattr(imck, f"{kind}_combine")(stack, "mean", mask=mask, **fields(rule))
    np.testing.assert_array_equal(kern, fused)
    one = getattr(imck, f"{kind}_combine_1d")(stack[:, 4, 5], "mean", **fields(rule))
    np.testing.assert_array_equal(
        one, imc.Combiner(stack[:, 4:5, 5]).combine("mean", rejectors=rule)[0]
    )
    # A chain: minmax first, then the rule, equals two chained steps.
    chain = imc.Combiner(stack, mask).combine("median", rejectors=[imc.MinMaxClip(), rule])
    steps = imc.Combiner(stack, mask).reject(imc.MinMaxClip()).reject(rule).combine("median")
    np.testing.assert_array_equal(chain, steps)


@pytest.mark.parametrize("kind", KINDS)
def test_combine_files_and_the_command_line(kind, tmp_path):
    fits = pytest.importorskip("astropy.io.fits")
    rng = np.random.default_rng(8)
    stack = gaussian_stack(rng, 16, (40, 30))
    paths = []
    for i, frame in enumerate(stack):
        path = tmp_path / f"f{i:02d}.fits"
        fits.PrimaryHDU(frame).writeto(path)
        paths.append(str(path))
    rule = RULES[kind]
    want = imc.Combiner(stack).combine("mean", rejectors=rule, grow=1.0)
    got = imc.combine_files(
        paths, method="mean", rejectors=rule, grow=1.0, mem_limit="256KB", progress=False
    )
    assert got.bands > 1
    np.testing.assert_array_equal(got.data, want)

    out = tmp_path / "master.fits"
    flags = {
        "gesd": ["--alpha", "0.1", "--low-relaxation", "1.0", "--outlier-fraction", "0.3"],
        "linearfit": ["--sigma", "4", "3", "--maxiters", "5"],
    }[kind]
    argv = [*paths, "-o", str(out), "--combine", "mean", "--reject", kind, *flags]
    assert cli.main([*argv, "--no-progress", "-q"]) == 0
    np.testing.assert_array_equal(
        fits.getdata(out), imc.Combiner(stack).combine("mean", rejectors=rule)
    )


def test_command_line_refuses_a_flag_of_another_rule(tmp_path, capsys):
    fits = pytest.importorskip("astropy.io.fits")
    paths = []
    for i in range(3):
        paths.append(str(tmp_path / f"f{i}.fits"))
        fits.PrimaryHDU(np.full((4, 4), float(i), dtype=np.float32)).writeto(paths[-1])
    out = str(tmp_path / "o.fits")
    argv = [*paths, "-o", out, "--reject", "sigclip", "--alpha", "0.1", "--no-progress"]
    assert cli.main(argv) != 0
    assert "--alpha applies to --reject gesd, not --reject sigclip" in capsys.readouterr().err


@pytest.mark.parametrize("kind", KINDS)
def test_dask_threaded_equals_in_memory(kind):
    da = pytest.importorskip("dask.array")
    imcd = pytest.importorskip("imcombiners.dask")
    dask = pytest.importorskip("dask")
    rng = np.random.default_rng(4)
    x = gaussian_stack(rng, 18, (23, 19))
    x[rng.random(x.shape) < 0.03] = np.nan
    rule = RULES[kind]
    stack = da.from_array(x, chunks=(18, 10, 7))
    with dask.config.set(scheduler="threads"):
        got = imcd.combine(stack, "mean", rejectors=rule, grow=1.5).image.compute()
    np.testing.assert_array_equal(got, imc.Combiner(x).combine("mean", rejectors=rule, grow=1.5))


# ---------------------------------------------------------------- nkeep, maxrej, grow, diagnostics


def test_gesd_maxrej_and_nkeep_keep_the_least_extreme_candidates():
    x = column([10.0, 11, 9, 10, 10, 12, 9, 10, 11, 10, 10, 11, 2000, 900, 400])
    free = imck.gesd(x)
    np.testing.assert_array_equal(np.flatnonzero(free.mask_rej[:, 0]), [12, 13, 14])
    capped = imck.gesd(x, maxrej=1)
    np.testing.assert_array_equal(np.flatnonzero(capped.mask_rej[:, 0]), [12])
    assert capped.output_flags[0] == imc.OutputFlags.MAXREJ
    kept = imck.gesd(x, nkeep=13)
    np.testing.assert_array_equal(np.flatnonzero(kept.mask_rej[:, 0]), [12, 13])
    assert kept.output_flags[0] == imc.OutputFlags.NKEEP
    for got, rule in ((capped, imc.GESD(maxrej=1)), (kept, imc.GESD(nkeep=13))):
        assert_result_matches(got, reference.gesd(x, **fields(rule)), x, str(rule))
    # As for SigClip, ndcombine takes the same limits.
    nd = imc.ndcombine(x, combine="mean", reject="gesd", maxrej=1)
    np.testing.assert_allclose(nd, np.mean(np.delete(x[:, 0], 12)), rtol=1e-12)


def test_linearfit_maxrej_and_nkeep_undo_a_pass_as_sigclip():
    ramp = list(range(100, 118))
    x = column([*ramp, 2000.0, 5000.0])
    free = imck.linearfit(x)
    assert free.mask_rej[18:, 0].all()
    assert not free.mask_rej[:18].any()
    for rule in (imc.LinearFitClip(maxrej=1), imc.LinearFitClip(nkeep=19)):
        got = imck.linearfit(x, **fields(rule))
        want = reference.of_rule(rule, x)
        assert_result_matches(got, want, x, str(rule))
        flag = imc.OutputFlags.MAXREJ if rule.maxrej is not None else imc.OutputFlags.NKEEP
        assert got.output_flags[0] & flag
        assert got.mask_rej.sum() <= 1
    # The same limits on SigClip behave alike (one pass with two rejections is undone).
    sc = imck.sigclip(x, sigma=1.0, maxrej=1)
    assert sc.output_flags[0] & imc.OutputFlags.MAXREJ


@pytest.mark.parametrize("kind", KINDS)
def test_grow_and_diagnostics(kind):
    rng = np.random.default_rng(12)
    stack = gaussian_stack(rng, 16, (9, 8), rays=0.01, dtype="float64")
    rule = RULES[kind]
    cmb = imc.Combiner(stack).reject(rule, grow=1.0, diagnostics="full")
    want, grown = reference.grow(reference.of_rule(rule, stack), 1.0, stack=stack)
    assert_result_matches(cmb.last_reject, want, stack, f"{rule} grow=1")
    assert grown.any()
    assert (cmb.output_flags & imc.OutputFlags.GROW).any()
    # Diagnostics: a spread, the kept range, one test (GESD) or the passes made (LinearFitClip).
    result = cmb.last_reject
    assert result.std is not None
    assert np.isfinite(result.std).all()
    assert (result.low <= result.upp).all()
    if kind == "gesd":
        np.testing.assert_array_equal(result.nit, 1)
    else:
        assert result.nit.max() >= 2
    # The rule's own grow= (imcombiners 0.1.1 spelling) gives the same.
    own = dataclasses.replace(rule, grow=1.0)
    np.testing.assert_array_equal(
        imc.Combiner(stack).combine("mean", rejectors=own),
        imc.Combiner(stack).combine("mean", rejectors=rule, grow=1.0),
    )


def test_below_five_samples_linearfit_leaves_the_element_alone():
    got = imck.linearfit(column([1.0, 2.0, 3.0, 1e6]))
    assert not got.mask_rej.any()
    assert got.nit[0] == 1
    assert np.isnan(got.std[0])
    assert (got.low[0], got.upp[0]) == (1.0, 1e6)


def test_below_three_samples_gesd_leaves_the_element_alone():
    got = imck.gesd(column([1.0, 1e6]), outlier_fraction=0.9)
    assert not got.mask_rej.any()
    assert got.nit[0] == 1
    assert got.output_flags[0] == 0
    np.testing.assert_allclose(got.std[0], np.std([1.0, 1e6], ddof=1))


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("make", "exc", "words"),
    [
        (lambda: imc.GESD(alpha=0.0), ValueError, "alpha must be > 0"),
        (lambda: imc.GESD(alpha=1.0), ValueError, "alpha must be between 0 and 1"),
        (lambda: imc.GESD(alpha="0.05"), TypeError, "alpha must be a real number"),
        (lambda: imc.GESD(outlier_fraction=1.5), ValueError, "outlier_fraction must be between"),
        (lambda: imc.GESD(low_relaxation=0), ValueError, "low_relaxation must be > 0"),
        (lambda: imc.GESD(low_relaxation=math.nan), ValueError, "low_relaxation must be finite"),
        (lambda: imc.GESD(nkeep=-1), ValueError, "nkeep must be >= 0"),
        (lambda: imc.GESD(maxrej=1.5), TypeError, "maxrej must be an integer"),
        (lambda: imc.LinearFitClip(sigma=-1), ValueError, "sigma must be >= 0"),
        (lambda: imc.LinearFitClip(sigma=(1, 2, 3)), ValueError, "sigma must be a number"),
        (lambda: imc.LinearFitClip(maxiters=-1), ValueError, "maxiters must be >= 0"),
        (lambda: imc.LinearFitClip(revert_on_nkeep=1), TypeError, "revert_on_nkeep must be"),
        (lambda: imc.GESD(grow=-1.0), ValueError, "grow must be >= 0"),
    ],
)
def test_bad_parameters_are_named(make, exc, words):
    with pytest.raises(exc, match=words):
        make()


def test_ndcombine_refuses_options_of_other_rules():
    with pytest.raises(ValueError, match=r"reject='gesd' does not take \['sigma'\]"):
        imc.ndcombine(column([1.0, 2, 3]), reject="gesd", sigma=3.0)


# ---------------------------------------------------------------- statistics


def rejection_rates(rule, n, *, pixels=20_000, seed=0):
    """(good samples rejected, outliers kept), as fractions, on N(0, 1) stacks of depth ``n``
    with cosmic rays (+8 to +100 sigma) in 2% of the samples."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, 1.0, size=(n, pixels))
    ray = rng.random(x.shape) < 0.02
    x[ray] += rng.uniform(8.0, 100.0, int(ray.sum()))
    rej = imc.Combiner(x).reject(rule).mask_rej
    return float(rej[~ray].mean()), float((~rej[ray]).mean())


#: Upper bounds (good rejected, outliers kept) per rule and depth, about twice the measured
#: values (see docs/rejection-semantics.md).
RATE_BOUNDS = {
    ("gesd", 5): (0.01, 0.15),
    ("gesd", 10): (0.012, 0.005),
    ("gesd", 20): (0.005, 0.002),
    ("gesd", 50): (0.002, 0.002),
    # Below about 12 frames one ray pulls the line to itself (its leverage): nothing goes.
    ("linearfit", 5): (0.001, 1.0),
    ("linearfit", 10): (0.001, 1.0),
    ("linearfit", 20): (0.02, 0.2),
    # The sorted Gaussian's tails bend away from the line: ~1 good sample of 50 goes.
    ("linearfit", 50): (0.05, 0.002),
}


@pytest.mark.parametrize(("kind", "n"), list(RATE_BOUNDS))
def test_gaussian_stacks_with_cosmic_rays(kind, n):
    good, kept = rejection_rates(imc.registry.RULES[kind].cls(), n)
    max_good, max_kept = RATE_BOUNDS[kind, n]
    assert good <= max_good, good
    assert kept <= max_kept, kept


def rates_svg(table):
    """An SVG plot (no plotting library needed) of ``{rule: [(n, good, kept), ...]}``: two
    panels, fractions on a log axis from 1e-4 to 1 (0 is drawn at 1e-4)."""
    width, height, pad = 330, 260, 48
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"]
    depths = sorted({n for rows in table.values() for n, _, _ in rows})

    def x_of(n, left):
        span = math.log(depths[-1]) - math.log(depths[0])
        return left + pad + (math.log(n) - math.log(depths[0])) / span * (width - 1.5 * pad)

    def y_of(v):
        v = min(max(v, 1e-4), 1.0)
        return 20 + (-math.log10(v)) / 4 * (height - 20 - pad)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{2 * width}" height="{height + 20}" '
        'font-family="sans-serif" font-size="11">'
    ]
    for panel, title in enumerate(("good samples rejected", "cosmic-ray samples kept")):
        left = panel * width
        out.append(f'<text x="{left + width / 2}" y="14" text-anchor="middle">{title}</text>')
        for e in range(5):
            y = y_of(10.0**-e)
            out.append(
                f'<line x1="{left + pad}" x2="{left + width - pad / 2}" y1="{y}" y2="{y}" '
                'stroke="#ddd"/>'
            )
            out.append(f'<text x="{left + pad - 4}" y="{y + 4}" text-anchor="end">1e-{e}</text>')
        for n in depths:
            out.append(
                f'<text x="{x_of(n, left)}" y="{height - pad + 16}" text-anchor="middle">{n}</text>'
            )
        out.append(
            f'<text x="{left + width / 2}" y="{height - pad + 32}" text-anchor="middle">N</text>'
        )
        for k, (name, rows) in enumerate(table.items()):
            points = " ".join(f"{x_of(n, left):.1f},{y_of(r[panel]):.1f}" for n, *r in rows)
            colour = colours[k % len(colours)]
            out.append(
                f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
            if panel == 0:
                out.append(
                    f'<text x="{left + pad + 8}" y="{height + 4 + 12 * (k - len(table) + 1)}" '
                    f'fill="{colour}">{name}</text>'
                )
    out.append("</svg>")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    # The table (and with an argument, the plot) of docs/rejection-semantics.md.
    import sys

    table = {}
    print("| rule | N | good samples rejected | cosmic rays kept |")
    print("| --- | --- | --- | --- |")
    for rule in (imc.SigClip(), imc.GESD(), imc.LinearFitClip()):
        name = type(rule).__name__
        table[name] = []
        for n in (5, 10, 20, 50):
            good, kept = rejection_rates(rule, n)
            table[name].append((n, good, kept))
            print(f"| {name} | {n} | {good:.4f} | {kept:.4f} |")
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            f.write(rates_svg(table))
