"""combine_files under issue 13: weights with statistics, gzip outputs, grow radii, stale
temporary files of killed runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import imcombiners as imc

fits = pytest.importorskip("astropy.io.fits")

N, NY, NX = 5, 24, 19
WEIGHTS = [1.0, 2.0, 0.5, 3.0, 1.5]


def _stack(seed: int = 0, dtype: str = "float32") -> np.ndarray:
    """Frames at different levels with a few cosmic rays."""
    rng = np.random.default_rng(seed)
    levels = np.linspace(900.0, 1300.0, N)[:, None, None]
    data = rng.normal(0.0, 6.0, (N, NY, NX)) + levels
    hits = rng.random(data.shape) < 0.02
    data[hits] += rng.uniform(500, 3000, hits.sum())
    return data.astype(dtype)


def _write(folder: Path, stack: np.ndarray, weights=None) -> list[Path]:
    paths = []
    for i, frame in enumerate(stack):
        hdr = fits.Header()
        hdr["EXPTIME"] = 10.0 + i
        if weights is not None:
            hdr["WGT"] = weights[i]
        p = folder / f"f{i:02d}.fits"
        fits.writeto(p, frame, hdr)
        paths.append(p)
    return paths


def _partials(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".partial"))


# --------------------------------------------------------------------------------------------
# A: numeric and "!KEYWORD" weights with statistic zero/scale (issue 13, item 2)

WEIGHT_CASES = {
    "mean-scale": {"method": "mean", "scale": "median"},
    "mean-zero": {"method": "mean", "zero": "mean"},
    "wavg-zero-scale": {"method": "weighted_average", "zero": "median", "scale": "mode"},
    "mean-scale-sigclip": {
        "method": "mean",
        "scale": "median",
        "rejectors": imc.SigClip(sigma=2.5),
    },
    "wavg-zero-minmax-grow": {
        "method": "weighted_average",
        "zero": "median",
        "rejectors": imc.MinMaxClip(n_min=1, n_max=1),
        "grow": 1.0,
    },
    "mean-no-statistic": {"method": "mean", "scale": [1.0, 1.1, 0.9, 1.2, 1.0]},
}


@pytest.mark.parametrize("case", list(WEIGHT_CASES))
@pytest.mark.parametrize("source", ["numbers", "keyword"])
def test_weights_with_statistics_equal_the_in_memory_combiner(tmp_path, case, source):
    stack = _stack(seed=len(case))
    paths = _write(tmp_path, stack, weights=WEIGHTS)
    kwargs = WEIGHT_CASES[case]
    expected = imc.Combiner(stack).combine(weights=WEIGHTS, **kwargs)
    given = WEIGHTS if source == "numbers" else "!WGT"
    for mem_limit in ("1GB", 15_000):  # one band, then bands of a few rows
        res = imc.combine_files(paths, mem_limit=mem_limit, weights=given, progress=False, **kwargs)
        assert (res.bands == 1) == (mem_limit == "1GB")
        np.testing.assert_array_equal(res.data, expected, strict=True)
        assert [f.weight for f in res.frames] == WEIGHTS
    plain = imc.Combiner(stack).combine(**{k: v for k, v in kwargs.items() if k != "method"})
    assert not np.array_equal(plain, expected)  # the weights matter in these cases


@pytest.mark.parametrize("stats", [{"scale": "median"}, {"zero": "mean"}, {}])
def test_weights_of_the_wrong_length_are_refused(tmp_path, stats):
    paths = _write(tmp_path, _stack())
    with pytest.raises(ValueError, match=r"weights must have shape \(5,\)"):
        imc.combine_files(paths, method="mean", weights=[1.0, 2.0], progress=False, **stats)


def test_weights_with_a_method_that_ignores_them_are_refused(tmp_path):
    paths = _write(tmp_path, _stack())
    with pytest.raises(ValueError, match="weights are used only by"):
        imc.combine_files(
            paths,
            method="median",
            scale="median",
            weights=WEIGHTS,
            rejectors=imc.SigClip(),
            progress=False,
        )
    with pytest.raises(ValueError, match="weights are required"):
        imc.combine_files(paths, method="weighted_average", progress=False)


# --------------------------------------------------------------------------------------------
# C: grow radii beyond the image (issue 13, item 11)


@pytest.mark.parametrize("grow", [1e6, 1e300])
def test_a_grow_beyond_the_image_equals_the_image_diagonal(tmp_path, grow):
    stack = _stack(seed=3)
    paths = _write(tmp_path, stack)
    rule = imc.SigClip(sigma=2.0)
    # Any radius reaching past the image diagonal (~30 pixels) grows over the whole frame.
    expected = imc.Combiner(stack).combine("mean", rejectors=rule, grow=40.0)
    res = imc.combine_files(paths, rejectors=rule, grow=grow, method="mean", progress=False)
    np.testing.assert_array_equal(res.data, expected, strict=True)
    assert f"grow radius {grow:g}" in str(res.header["HISTORY"])


def test_a_grow_within_the_image_is_unchanged(tmp_path):
    stack = _stack(seed=4)
    paths = _write(tmp_path, stack)
    rule = imc.SigClip(sigma=2.0)
    expected = imc.Combiner(stack).combine("median", rejectors=rule, grow=5.5)
    res = imc.combine_files(paths, mem_limit=60_000, rejectors=rule, grow=5.5, progress=False)
    assert res.bands > 1
    np.testing.assert_array_equal(res.data, expected, strict=True)


@pytest.mark.parametrize("grow", [float("nan"), float("inf"), -1.0, -1e-300])
def test_a_bad_grow_is_refused_naming_grow(tmp_path, grow):
    paths = _write(tmp_path, _stack())
    with pytest.raises(ValueError, match="grow"):
        imc.combine_files(paths, rejectors=imc.SigClip(), grow=grow, progress=False)


def test_a_budget_too_small_for_the_grow_halo_names_grow(tmp_path):
    paths = _write(tmp_path, _stack())
    with pytest.raises(ValueError, match=r"mem_limit .*grow=10 adds 10 rows"):
        imc.combine_files(
            paths, mem_limit=20_000, rejectors=imc.SigClip(), grow=10.0, progress=False
        )


def test_a_large_grow_does_not_read_the_image_once_per_thin_band(tmp_path, monkeypatch):
    from imcombiners import files

    stack = _stack(seed=6)
    paths = _write(tmp_path, stack)
    rule = imc.SigClip(sigma=2.0)
    monkeypatch.setattr(files, "_BAND_TARGET", 1000)  # bands of ~2 rows without grow
    assert imc.combine_files(paths, rejectors=rule, progress=False).bands > 10
    res = imc.combine_files(paths, rejectors=rule, grow=1e6, progress=False)
    assert res.bands == 1  # every band would read the whole image: one band does it once
    expected = imc.Combiner(stack).combine("median", rejectors=rule, grow=40.0)
    np.testing.assert_array_equal(res.data, expected, strict=True)
