"""Quick checks of the IRAF runner (``iraf_cl.py``) against known IRAF imcombine facts.

The expected values are from ``docs/iraf-behaviour.md`` section 4, measured on Debian's
IRAF 2.17. Tests that run IRAF skip when it is missing, and fail when ``CI=true``.
"""

from __future__ import annotations

import time
from pathlib import Path

import iraf_cl
import numpy as np
import pytest
from iraf_cl import IrafError, imcombine, run_cl, write_fits


@pytest.fixture
def iraf() -> str:
    """Skip (or, with ``CI=true``, fail) when IRAF cannot run; return its version."""
    return iraf_cl.require_iraf()


def _stack(workdir: Path, values, shape=(2, 3), dtype=np.float32, headers=None) -> list[Path]:
    """Write one constant image per value (or the given arrays) as in00.fits, in01.fits, ..."""
    paths = []
    for i, v in enumerate(values):
        arr = np.asarray(v, dtype) if np.ndim(v) else np.full(shape, v, dtype)
        path = workdir / f"in{i:02d}.fits"
        write_fits(path, arr, headers[i] if headers else None)
        paths.append(path)
    return paths


# ---- without IRAF ----------------------------------------------------------------------


def test_require_iraf_skips_or_fails_by_ci(monkeypatch):
    monkeypatch.setattr(iraf_cl, "iraf_available", lambda: (False, "not installed (test)"))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="not installed"):
        iraf_cl.require_iraf()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        iraf_cl.require_iraf()
    monkeypatch.setattr(iraf_cl, "iraf_available", lambda: (True, "IRAF V0"))
    assert iraf_cl.require_iraf() == "IRAF V0"


@pytest.mark.parametrize(
    ("dtype", "bitpix"),
    [(np.float32, -32), (np.float64, -64), (np.int16, 16), (np.uint16, 16), (np.int32, 32)],
)
def test_write_fits_bitpix(tmp_path, dtype, bitpix):
    from astropy.io import fits

    data = np.arange(6, dtype=dtype).reshape(2, 3)
    write_fits(tmp_path / "a.fits", data, {"EXPTIME": 10.0, "BPM": "m.fits"})
    with fits.open(tmp_path / "a.fits") as hdul:
        hdr = hdul[0].header
        assert hdr["BITPIX"] == bitpix
        assert hdr["EXPTIME"] == 10.0
        assert hdr["BPM"] == "m.fits"
        assert (hdr.get("BZERO") == 32768) == (dtype is np.uint16)
        np.testing.assert_array_equal(hdul[0].data, data)


def test_write_fits_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="unsupported dtype"):
        write_fits(tmp_path / "a.fits", np.zeros((2, 2), np.int64))
    with pytest.raises(ValueError, match="set from the array"):
        write_fits(tmp_path / "a.fits", np.zeros((2, 2), np.float32), {"NAXIS1": 3})


# ---- parameter validation (needs only imcombine.par, but it ships with IRAF) --------


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"combine": "nonsense"}, "not one of"),
        ({"outtype": "none"}, "not one of"),  # in the help, not in imcombine.par
        ({"nlow": -1}, "below the minimum"),
        ({"nlow": 0.5}, "integer parameter"),  # the CL would silently store 0
        ({"lsigma": -0.1}, "below the minimum"),
        ({"grow": float("inf")}, "not finite"),
        ({"mclip": 1}, "boolean"),
        ({"bogus": 1}, "no parameter"),
    ],
)
def test_format_params_rejects(iraf, params, match):
    with pytest.raises(ValueError, match=match):
        iraf_cl.format_params(params)


def test_format_params_literals(iraf):
    out = iraf_cl.format_params(
        {"mclip": False, "lsigma": None, "hsigma": 2.5, "nkeep": -2, "rdnoise": 5, "gain": "GAIN"}
    )
    assert out == {
        "mclip": "no",
        "lsigma": "INDEF",
        "hsigma": "2.5",
        "nkeep": "-2",
        "rdnoise": '"5"',
        "gain": '"GAIN"',
    }


def test_imcombine_refuses_runner_parameters(iraf, tmp_path):
    paths = _stack(tmp_path, [1, 2])
    with pytest.raises(ValueError, match="set by the runner"):
        imcombine(paths, tmp_path, logfile="x.log")
    with pytest.raises(ValueError, match="unknown products"):
        imcombine(paths, tmp_path, products=["sigmas"])
    with pytest.raises(ValueError, match="expected 2 numbers"):
        imcombine(paths, tmp_path, scale=[1, 2, 3])


# ---- against IRAF --------------------------------------------------------------------


def test_float32_accumulation_and_header(iraf, tmp_path):
    paths = _stack(tmp_path, [1e8, 1, -1e8])
    res = imcombine(paths, tmp_path, combine="average", reject="none")
    assert res.output.dtype == np.float32
    np.testing.assert_array_equal(res.output, 0)  # float32 running sum
    assert res.header["NCOMBINE"] == 3
    assert res.header["IMCMB001"] == "in00.fits"
    assert "IMCOMBINE" in res.log
    assert 0 < res.task_seconds < res.wall_seconds
    dbl = imcombine(paths, tmp_path, outtype="double", output="dbl.fits")
    assert dbl.output.dtype == np.float64
    np.testing.assert_allclose(dbl.output, 1 / 3, rtol=1e-12)


def test_median_and_sigma(iraf, tmp_path):
    paths = _stack(tmp_path, [1, 2, 3, 4, 10])
    res = imcombine(paths[:4], tmp_path, combine="median", reject="none")
    np.testing.assert_array_equal(res.output, 2.5)
    res = imcombine(paths, tmp_path, combine="average", products=["sigma"], output="s.fits")
    np.testing.assert_allclose(res.sigma, 3.535534, atol=1e-6)  # ddof=1 about the mean


def test_pclip_rejmask_plane_order(iraf, tmp_path):
    paths = _stack(tmp_path, [1, 5, 6, 7, 30])
    res = imcombine(paths, tmp_path, reject="pclip", products=["rejmask", "nrejmask"])
    np.testing.assert_array_equal(res.output, 6)
    assert res.rejmask.shape == (5, 2, 3)  # (N, ny, nx), plane i = input i
    np.testing.assert_array_equal(res.rejmask[:, 1, 2], [1, 0, 0, 0, 1])
    np.testing.assert_array_equal(res.nrejmask, 2)


def test_minmax_bad_parameters_raise_with_warning(iraf, tmp_path):
    paths = _stack(tmp_path, [1, 2])
    with pytest.raises(IrafError, match="wrote no output") as info:
        imcombine(paths, tmp_path, reject="minmax", nlow=1, nhigh=1)
    assert any("Bad minmax rejection parameters" in w for w in info.value.warnings)
    assert "imcombine" in info.value.transcript


def test_ushort_input(iraf, tmp_path):
    paths = _stack(tmp_path, [[[1, 40000]], [[2, 40001]]], dtype=np.uint16)
    res = imcombine(paths, tmp_path, combine="average")
    assert res.output.dtype == np.float32
    np.testing.assert_array_equal(res.output, [[1.5, 40000.5]])
    res = imcombine(paths, tmp_path, combine="average", outtype="ushort", output="u.fits")
    assert res.output.dtype == np.uint16
    np.testing.assert_array_equal(res.output, [[1, 40000]])  # truncation


def test_scale_list_and_offsets(iraf, tmp_path):
    paths = _stack(tmp_path, [10, 5])
    res = imcombine(paths, tmp_path, scale=[2, 4])  # normalised to the first image
    np.testing.assert_array_equal(res.output, 10)
    res = imcombine(paths, tmp_path, offsets=[[0, 0], [2, 1]], blank=-1, output="o.fits")
    assert res.output.shape == (3, 5)
    assert res.output[0, 4] == -1  # covered by no image
    assert res.output[1, 2] == 7.5  # the overlap is averaged


def test_bpm_goodvalue_masks(iraf, tmp_path):
    for i in range(3):
        mask = np.zeros((2, 3), np.int16)
        mask[0, 0] = i == 2  # the 1000 in frame 2 is bad at (0, 0)
        write_fits(tmp_path / f"m{i}.fits", mask)
    paths = _stack(tmp_path, [1, 2, 1000], headers=[{"BPM": f"m{i}.fits"} for i in range(3)])
    res = imcombine(paths, tmp_path, masktype="goodvalue", maskvalue=0, products=["rejmask"])
    assert res.output[0, 0] == 1.5
    assert res.output[1, 1] == pytest.approx(1003 / 3)
    np.testing.assert_array_equal(res.rejmask[:, 0, 0], [0, 0, 1])  # masked pixels flagged


def test_ccdclip_rdnoise_keyword(iraf, tmp_path):
    # sigma = sqrt(rdnoise^2 + 100) = 11.18 at 100: 133 is kept (r 2.95), 135 is not (3.13).
    headers = [{"RDNOISE": 5.0, "GAIN": 1.0}] * 10
    paths = _stack(tmp_path, [[[100, 100]]] * 9 + [[[133, 135]]], headers=headers)
    res = imcombine(paths, tmp_path, reject="ccdclip", rdnoise="RDNOISE", gain="GAIN")
    np.testing.assert_allclose(res.output, [[103.3, 100.0]], atol=1e-4)


def test_hang_is_killed_fast(iraf, tmp_path):
    start = time.monotonic()
    # A bad enumerated value makes the CL re-ask forever ("... try again").
    with pytest.raises(IrafError, match="looping"):
        run_cl('imcombine ("a.fits", "b.fits", combine="nonsense")', tmp_path)
    with pytest.raises(IrafError, match="timed out"):
        run_cl("sleep 30", tmp_path, timeout=1)
    assert time.monotonic() - start < 4


def test_run_cl_imstatistics(iraf, tmp_path):
    _stack(tmp_path, [np.arange(6, dtype=np.float32).reshape(2, 3)])
    out = run_cl('imstatistics ("in00.fits", fields="mean,npix,max", format=no)', tmp_path)
    rows = [line.split() for line in out.splitlines() if not line.startswith("ecl>")]
    assert ["2.5", "6", "5."] in rows
