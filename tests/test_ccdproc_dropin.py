"""ccdproc 2.5.1's own combination tests, run against ``imcombiners.ccdproc``.

The installed ccdproc test files are copied to a temporary folder, their imports of
``Combiner``/``combine`` (and the helpers imported beside them) are swapped for
``imcombiners.ccdproc``, and pytest runs them in a subprocess. At least 95% must pass, and the
failing tests must be exactly those listed in docs/compatibility.md ("ccdproc drop-in").
"""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from astropy.nddata import CCDData

ccdproc = pytest.importorskip("ccdproc")

import imcombiners.ccdproc as iccd  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs" / "compatibility.md"

# file -> replacements (old, new); every one must apply, so a changed ccdproc fails loudly.
SWAPS: dict[str, list[tuple[str, str]]] = {
    "test_combiner.py": [
        ("from ccdproc.combiner import (", "from imcombiners.ccdproc import ("),
        ("from ..combiner import Combiner", "from imcombiners.ccdproc import Combiner"),
        # The data file is found relative to the test module, which no longer sits in ccdproc.
        (
            'get_pkg_data_filename("data/a8280271.fits")',
            'get_pkg_data_filename("data/a8280271.fits", package="ccdproc.tests")',
        ),
    ],
    "test_combine_open_files.py": [],
    "run_with_file_number_limit.py": [
        ("from ccdproc import combine", "from imcombiners.ccdproc import combine"),
    ],
}


def _documented_failures() -> set[str]:
    """Test names listed under "Failing ccdproc tests" in the ccdproc drop-in section."""
    text = DOCS.read_text()
    section = text.split("## ccdproc drop-in", 1)[1].split("\n## ", 1)[0]
    failing = section.split("### Failing ccdproc tests", 1)[1].split("\n### ", 1)[0]
    return set(re.findall(r"^- `([^`]+)`", failing, flags=re.MULTILINE))


def _copy_swapped(dest: Path) -> None:
    src = Path(ccdproc.__file__).parent / "tests"
    for name, swaps in SWAPS.items():
        text = (src / name).read_text()
        for old, new in swaps:
            assert old in text, f"{name} no longer contains {old!r}"
            text = text.replace(old, new)
        assert "from ccdproc.combiner" not in text
        assert "from ccdproc import combine" not in text
        (dest / name).write_text(text)


def test_ccdproc_version():
    assert ccdproc.__version__.startswith("2.5.1")


def test_ccdproc_own_tests_pass(tmp_path: Path):
    pytest.importorskip("psutil")  # test_combine_open_files counts open files with it
    run = tmp_path / "suite" / "tests"
    run.mkdir(parents=True)
    _copy_swapped(run)
    (run / "pytest.ini").write_text("[pytest]\n")
    report = tmp_path / "report.xml"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-c",
            str(run / "pytest.ini"),
            f"--junitxml={report}",
            *sorted(n for n in SWAPS if n.startswith("test_")),
        ],
        cwd=run,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert report.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    passed, failed, skipped = [], [], []
    for case in ET.parse(report).getroot().iter("testcase"):
        name = case.get("name", "")
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(name)
        elif case.find("skipped") is not None:
            skipped.append(name)
        else:
            passed.append(name)
    ran = len(passed) + len(failed)
    assert ran >= 70, proc.stdout[-3000:]
    assert len(passed) / ran >= 0.95, f"{failed}\n{proc.stdout[-3000:]}"
    assert {n.split("[")[0] for n in failed} == _documented_failures(), proc.stdout[-3000:]


def _stack(seed: int = 0, n: int = 9, shape: tuple[int, int] = (12, 10)) -> list[CCDData]:
    rng = np.random.default_rng(seed)
    data = rng.normal(100.0, 5.0, (n, *shape))
    data[2, 3, 4] = 1e4
    data[5, 1, 1] = -1e4
    masks = rng.random((n, *shape)) < 0.1
    return [CCDData(d, unit="adu", mask=m) for d, m in zip(data, masks, strict=True)]


@pytest.mark.parametrize("method", ["average", "median", "sum"])
def test_sigma_clip_combine_matches_ccdproc_without_masks(method: str):
    from astropy.stats import mad_std

    ccds = [CCDData(c.data, unit="adu") for c in _stack()]
    kw = {
        "method": method,
        "sigma_clip": True,
        "sigma_clip_func": np.ma.median,
        "sigma_clip_dev_func": mad_std,
    }
    ours, theirs = iccd.combine(ccds, **kw), ccdproc.combine(ccds, **kw)
    np.testing.assert_allclose(ours.data, theirs.data, rtol=1e-12)
    np.testing.assert_array_equal(ours.mask, theirs.mask)
    np.testing.assert_allclose(ours.uncertainty.array, theirs.uncertainty.array, rtol=1e-10)


@pytest.mark.parametrize("method", ["average_combine", "median_combine", "sum_combine"])
def test_masks_and_scaling_match_ccdproc(method: str):
    ccds = _stack(1)
    scale = np.linspace(0.5, 2.0, len(ccds))
    ours, theirs = iccd.Combiner(ccds), ccdproc.Combiner(ccds)
    for c in (ours, theirs):
        c.scaling = scale  # multiplies, as in ccdproc
        c.minmax_clipping(min_clip=-100, max_clip=1000)
        c.clip_extrema(nlow=1, nhigh=1)
    np.testing.assert_array_equal(ours.data_arr.mask, theirs.data_arr.mask)
    a, b = getattr(ours, method)(), getattr(theirs, method)()
    np.testing.assert_allclose(a.data, b.data, rtol=1e-12)
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_allclose(a.uncertainty.array, b.uncertainty.array, rtol=1e-10)


def test_user_callables_take_the_numpy_path():
    ccds = _stack(2)
    ours, theirs = iccd.Combiner(ccds), ccdproc.Combiner(ccds)

    def centre(x, axis=None):
        return np.ma.median(x, axis=axis)

    def spread(x, axis=None):
        return np.ma.std(x, axis=axis)

    for c in (ours, theirs):
        c.data_arr.mask[:] = False  # ccdproc's clip statistics ignore masks; ours honour them
        c.sigma_clipping(low_thresh=2, high_thresh=2, func=centre, dev_func=spread)
    np.testing.assert_array_equal(ours.data_arr.mask, theirs.data_arr.mask)
    a = ours.average_combine(scale_func=np.ma.average)
    b = theirs.average_combine(scale_func=np.ma.average)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-12)


def test_per_pixel_weights_renormalise_over_survivors():
    data = np.array([[[1.0]], [[2.0]], [[4.0]]])
    mask = np.array([[[False]], [[True]], [[False]]])
    c = iccd.Combiner([CCDData(d, unit="adu", mask=m) for d, m in zip(data, mask, strict=True)])
    c.weights = np.array([[[1.0]], [[5.0]], [[3.0]]])
    assert c.average_combine().data[0, 0] == pytest.approx((1.0 + 12.0) / 4.0)
    c.weights = np.array([1.0, 5.0, 3.0])
    assert c.average_combine().data[0, 0] == pytest.approx((1.0 + 12.0) / 4.0)


def test_combine_reads_fits_in_bands(tmp_path: Path):
    rng = np.random.default_rng(4)
    paths = []
    for i in range(7):
        path = tmp_path / f"f{i}.fits"
        CCDData(rng.integers(900, 1100, (40, 30)).astype("uint16"), unit="adu").write(path)
        paths.append(str(path))
    kw = {"method": "median", "sigma_clip": True, "mem_limit": 2e4}
    ours, theirs = iccd.combine(paths, **kw), ccdproc.combine(paths, **kw)
    assert ours.data.dtype == np.float64
    np.testing.assert_allclose(ours.data, theirs.data)
    np.testing.assert_allclose(ours.uncertainty.array, theirs.uncertainty.array, rtol=1e-10)


def test_mean_std_clip_matches_ccdproc():
    ccds = [CCDData(c.data, unit="adu") for c in _stack(5, n=15)]
    ours, theirs = iccd.Combiner(ccds), ccdproc.Combiner(ccds)
    for c in (ours, theirs):
        c.sigma_clipping(low_thresh=2, high_thresh=2.5, func="mean", dev_func="std")
    np.testing.assert_array_equal(ours.data_arr.mask, theirs.data_arr.mask)


def test_sigma_clip_ignores_masked_samples():
    data = np.array([10.0, 11.0, 9.0, 10.0, 10.5, 9.5, 1e6]).reshape(7, 1, 1)
    mask = np.zeros(data.shape, dtype=bool)
    mask[6] = True  # already masked: must not widen the bounds
    data[5] = 30.0
    c = iccd.Combiner([CCDData(d, unit="adu", mask=m) for d, m in zip(data, mask, strict=True)])
    c.sigma_clipping(low_thresh=2, high_thresh=2, func="mean", dev_func="std")
    assert c.data_arr.mask[:, 0, 0].tolist() == [False] * 5 + [True, True]


def test_threaded_bands_equal_one_band(tmp_path: Path):
    import imcombiners as imc

    rng = np.random.default_rng(6)
    frames = rng.normal(1000, 10, (11, 64, 48))
    frames[3, 10, 10] = 5e4
    paths = []
    for i, frame in enumerate(frames.astype("uint16")):
        path = tmp_path / f"f{i}.fits"
        CCDData(frame, unit="adu").write(path)
        paths.append(str(path))
    kw = {"method": "median", "sigma_clip": True, "sigma_clip_func": "median"}
    kw["sigma_clip_dev_func"] = "mad_std"
    with imc.threads(2):
        banded = iccd.combine(paths, mem_limit=3e5, **kw)
    whole = iccd.Combiner([CCDData(f, unit="adu") for f in frames.astype("uint16")])
    whole.sigma_clipping(func="median", dev_func="mad_std")
    ref = whole.median_combine()
    assert banded.mask[10, 10] == ref.mask[10, 10]
    np.testing.assert_array_equal(banded.data, ref.data)
    np.testing.assert_allclose(banded.uncertainty.array, ref.uncertainty.array, rtol=1e-12)
