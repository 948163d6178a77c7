"""combine_files under issue 13: weights with statistics, gzip outputs, grow radii, stale
temporary files of killed runs."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import imcombiners as imc
from imcombiners.io import writer as writer_module

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
        "rejectors": imc.SigClip(sigma=1.8),
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
            rejectors=imc.SigClip(sigma=1.8),
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
    rule = imc.SigClip(sigma=1.8)
    # Any radius reaching past the image diagonal (~30 pixels) grows over the whole frame.
    expected = imc.Combiner(stack).combine("mean", rejectors=rule, grow=40.0)
    res = imc.combine_files(paths, rejectors=rule, grow=grow, method="mean", progress=False)
    np.testing.assert_array_equal(res.data, expected, strict=True)
    assert f"grow radius {grow:g}" in str(res.header["HISTORY"])


def test_a_grow_within_the_image_is_unchanged(tmp_path):
    stack = _stack(seed=4)
    paths = _write(tmp_path, stack)
    rule = imc.SigClip(sigma=1.8)
    expected = imc.Combiner(stack).combine("median", rejectors=rule, grow=5.5)
    res = imc.combine_files(paths, mem_limit=60_000, rejectors=rule, grow=5.5, progress=False)
    assert res.bands > 1
    np.testing.assert_array_equal(res.data, expected, strict=True)


@pytest.mark.parametrize("grow", [float("nan"), float("inf"), -1.0, -1e-300])
def test_a_bad_grow_is_refused_naming_grow(tmp_path, grow):
    paths = _write(tmp_path, _stack())
    with pytest.raises(ValueError, match="grow"):
        imc.combine_files(paths, rejectors=imc.SigClip(sigma=1.8), grow=grow, progress=False)


def test_a_budget_too_small_for_the_grow_halo_names_grow(tmp_path):
    paths = _write(tmp_path, _stack())
    with pytest.raises(ValueError, match=r"mem_limit .*grow=10 adds 10 rows"):
        imc.combine_files(
            paths, mem_limit=20_000, rejectors=imc.SigClip(sigma=1.8), grow=10.0, progress=False
        )


def test_a_large_grow_does_not_read_the_image_once_per_thin_band(tmp_path, monkeypatch):
    from imcombiners import files

    stack = _stack(seed=6)
    paths = _write(tmp_path, stack)
    rule = imc.SigClip(sigma=1.8)
    monkeypatch.setattr(files, "_BAND_TARGET", 1000)  # bands of ~2 rows without grow
    assert imc.combine_files(paths, rejectors=rule, progress=False).bands > 10
    res = imc.combine_files(paths, rejectors=rule, grow=1e6, progress=False)
    assert res.bands == 1  # every band would read the whole image: one band does it once
    expected = imc.Combiner(stack).combine("median", rejectors=rule, grow=40.0)
    np.testing.assert_array_equal(res.data, expected, strict=True)


# --------------------------------------------------------------------------------------------
# B: outputs named *.fits.gz are gzip-compressed (issue 13, item 3)

GZIP_MAGIC = b"\x1f\x8b"


def test_a_fits_gz_output_is_compressed(tmp_path):
    stack = _stack(seed=7)
    paths = _write(tmp_path, stack)
    out = tmp_path / "master.fits.gz"
    rule = imc.SigClip(sigma=1.8)
    expected = imc.Combiner(stack).combine("median", rejectors=rule)
    res = imc.combine_files(
        paths, out, rejectors=rule, products=("sigma", "rejmask"), mem_limit=60_000, progress=False
    )
    assert res.bands > 1
    assert res.paths["sigma"].name == "master_sigma.fits.gz"
    assert res.paths["rejmask"].name == "master_rejmask.fits.gz"
    for p in res.paths.values():
        assert p.read_bytes()[:2] == GZIP_MAGIC
    with fits.open(out) as hdul:
        np.testing.assert_array_equal(hdul[0].data, expected)
        assert hdul[0].header["NCOMBINE"] == N
    np.testing.assert_array_equal(res.data, expected)  # readable after the temp file is gone
    with fits.open(res.paths["rejmask"]) as hdul:
        assert hdul[0].data.shape == (N, NY, NX)
    assert _partials(tmp_path) == []


@pytest.mark.parametrize("dtype", ["uint16", "float64", "bool"])
def test_write_fits_gz_round_trips(tmp_path, dtype):
    data = (np.arange(6 * 7).reshape(6, 7) % 5).astype(dtype)
    out = tmp_path / "x.fits.gz"
    writer_module.write_fits(out, data, {"OBJECT": "test"})
    assert out.read_bytes()[:2] == GZIP_MAGIC
    with gzip.open(out) as f:
        assert f.read(6) == b"SIMPLE"
    got = fits.getdata(out)
    np.testing.assert_array_equal(got, data.view(np.uint8) if dtype == "bool" else data)
    assert _partials(tmp_path) == []


def test_a_failure_while_compressing_leaves_nothing(tmp_path, monkeypatch):
    paths = _write(tmp_path, _stack())
    before = sorted(tmp_path.iterdir())

    class Broken(gzip.GzipFile):
        def write(self, data):
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer_module.gzip, "GzipFile", Broken)
    with pytest.raises(OSError, match="No space"):
        imc.combine_files(paths, tmp_path / "out.fits.gz", progress=False)
    assert sorted(tmp_path.iterdir()) == before


def test_a_tile_compressed_name_is_refused(tmp_path):
    paths = _write(tmp_path, _stack())
    with pytest.raises(ValueError, match=r"output.*\.fz"):
        imc.combine_files(paths, tmp_path / "out.fits.fz", progress=False)
    assert _partials(tmp_path) == []


# --------------------------------------------------------------------------------------------
# D: temporary files of killed runs are removed by the next run (issue 13, item 14)

_CHILD = """
import sys, time
from pathlib import Path
import imcombiners as imc

folder = Path(sys.argv[1])
paths = sorted(str(p) for p in folder.glob("f*.fits"))

def stall(done, total):
    (folder / "started").write_text("x")
    time.sleep(60)

rule = imc.SigClip(sigma=1.8)
imc.combine_files(paths, folder / "out.fits", products=("sigma",), rejectors=rule,
                  mem_limit=15_000, progress=stall)
"""


def test_partial_files_of_a_killed_run_are_removed_by_the_next_run(tmp_path):
    stack = _stack(seed=8)
    paths = _write(tmp_path, stack)
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_CHILD), str(tmp_path)])
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "started").exists():
            assert child.poll() is None, "the child run ended early"
            assert time.monotonic() < deadline, "the child run did not start"
            time.sleep(0.02)
        left = _partials(tmp_path)
        assert len(left) == 2  # the output and the sigma product, mid-run
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert _partials(tmp_path) == left  # SIGKILL runs no clean-up
    (tmp_path / "started").unlink()

    # An unrelated hidden file and a temporary file of a live process are left alone.
    other = tmp_path / ".notes.partial"
    other.write_text("not ours")
    live = tmp_path / writer_module._temp_prefix("mine.fits")
    live = live.with_name(live.name + "abcd1234.partial")
    live.write_text("a live run")

    res = imc.combine_files(paths, tmp_path / "second.fits", progress=False)
    assert res.paths["output"].exists()
    assert _partials(tmp_path) == sorted([other.name, live.name])
    assert not (tmp_path / "out.fits").exists()


def test_clean_stale_partials_keeps_files_of_live_and_foreign_owners(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        names = {
            "dead": writer_module._temp_name("a.fits", dead.pid, "x1"),
            "alive": writer_module._temp_name("b.fits", sleeper.pid, "x2"),
            "foreign-host": writer_module._temp_name("c.fits", dead.pid, "x3", host="0" * 8),
            "pid-zero": writer_module._temp_name("d.fits", 0, "x4"),
            "pid-huge": writer_module._temp_name("e.fits", 10**30, "x5"),
        }
        for name in names.values():
            (tmp_path / name).write_text("x")
        (tmp_path / "folder.partial").mkdir()
        removed = writer_module.clean_stale_partials(tmp_path)
        assert [p.name for p in removed] == [names["dead"]]
        kept = {k for k, v in names.items() if (tmp_path / v).exists()}
        assert kept == {"alive", "foreign-host", "pid-zero", "pid-huge"}
    finally:
        sleeper.kill()
        sleeper.wait()
    assert writer_module.clean_stale_partials(tmp_path / "missing") == []
