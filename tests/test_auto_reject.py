"""``rejectors="auto"`` (`AutoReject`): the rule chosen per element by its number of samples.

Its agreement with ``reference.auto`` on random stacks (depths and rules drawn) is in the
registry-driven property tests; here: the choice at the boundaries, the choice reported in the
diagnostics (masked corners, chains), and every usage mode.
"""

import numpy as np
import pytest
import reference

import imcombiners as imc
from imcombiners import cli


def stack_of(n, shape=(12, 10), seed=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(1000.0, 10.0, (n, *shape))
    x[0, 2, 3] += 5000.0
    x[n // 2, 7, 1] -= 3000.0
    return x


@pytest.mark.parametrize(
    ("n", "name"),
    [
        (0, "none"),
        (1, "percentile"),
        (5, "percentile"),
        (6, "winsorized"),
        (15, "winsorized"),
        (16, "linearfit"),
        (25, "linearfit"),
        (26, "gesd"),
        (200, "gesd"),
    ],
)
def test_choice_at_the_boundaries(n, name):
    assert imc.AutoReject().choose(n) == name
    rule = imc.AutoReject(winsorized_from=2, linearfit_from=2, gesd_from=3)
    assert rule.choose(2) == "linearfit" if n else True


@pytest.mark.parametrize("n", [4, 10, 20, 40])
def test_each_depth_runs_its_rule_and_reports_it(n):
    x = stack_of(n)
    chosen = imc.registry.RULES[imc.AutoReject().choose(n)].cls()
    cmb = imc.Combiner(x)
    got = cmb.combine("mean", rejectors="auto", diagnostics="simple")
    want = imc.Combiner(x).combine("mean", rejectors=chosen)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(cmb.auto_choice, imc.AutoReject.CHOICES.index(chosen.kind))
    np.testing.assert_array_equal(cmb.mask_rej, reference.of_rule(imc.AutoReject(), x)[0])


def test_a_masked_corner_chooses_by_its_own_depth_and_chains_count_survivors():
    x = stack_of(20)
    mask = np.zeros(x.shape, dtype=bool)
    mask[:16, :3, :3] = True  # 4 samples left in the corner: percentile there
    cmb = imc.Combiner(x, mask)
    cmb.combine("mean", rejectors=imc.AutoReject(), diagnostics="simple")
    assert (cmb.auto_choice[:3, :3] == 1).all()
    assert (cmb.auto_choice[3:, 3:] == 3).all()  # 20 samples: linear fit
    want = reference.of_rule(imc.AutoReject(), x, mask=mask)
    np.testing.assert_array_equal(cmb.mask_rej, want[0])
    # After MinMaxClip(n_min=2, n_max=3) 15 samples remain: winsorized, not linear fit.
    chain = imc.Combiner(x)
    chain.combine(
        "mean", rejectors=[imc.MinMaxClip(n_min=2, n_max=3), "auto"], diagnostics="simple"
    )
    assert (chain.auto_choice == 2).all()
    assert chain.auto_choice.shape == x.shape[1:]


def test_every_mode_agrees(tmp_path):
    fits = pytest.importorskip("astropy.io.fits")
    x = stack_of(18, shape=(30, 26)).astype(np.float32)
    want = imc.Combiner(x).combine("mean", rejectors=imc.AutoReject(), grow=1.0)
    np.testing.assert_array_equal(imc.ndcombine(x, reject="auto", grow=1.0), want)
    np.testing.assert_array_equal(imc.kernels.auto_combine(x, grow=1.0), want)
    np.testing.assert_array_equal(imc.Combiner(x).reject("auto", grow=1.0).combine("mean"), want)
    paths = []
    for i, frame in enumerate(x):
        paths.append(str(tmp_path / f"f{i:02d}.fits"))
        fits.PrimaryHDU(frame).writeto(paths[-1])
    got = imc.combine_files(
        paths, method="mean", rejectors="auto", grow=1.0, mem_limit="128KB", progress=False
    )
    assert got.bands > 1
    np.testing.assert_array_equal(got.data, want)
    out = tmp_path / "auto.fits"
    argv = [*paths, "-o", str(out), "--combine", "mean", "--reject", "auto", "--grow", "1"]
    assert cli.main([*argv, "--no-progress", "-q"]) == 0
    np.testing.assert_array_equal(fits.getdata(out), want)
    da = pytest.importorskip("dask.array")
    imcd = pytest.importorskip("imcombiners.dask")
    lazy = imcd.combine(da.from_array(x, chunks=(18, 11, 9)), "mean", rejectors="auto", grow=1.0)
    np.testing.assert_array_equal(lazy.image.compute(scheduler="threads"), want)


def test_bad_parameters_are_named():
    with pytest.raises(TypeError, match=r"AutoReject\.percentile must be a PercentileClip"):
        imc.AutoReject(percentile=imc.SigClip())
    with pytest.raises(ValueError, match="winsorized_from <= linearfit_from <= gesd_from"):
        imc.AutoReject(linearfit_from=30)
    with pytest.raises(ValueError, match="gesd_from"):
        imc.AutoReject(gesd_from=-1)
