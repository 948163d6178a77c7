"""The ``imcombine`` command with variance planes: --variance-hdu, --error-hdu, --noise-model,
--mef, --products, --error-out, against the in-memory combine; errors are one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import imcombiners as imc
from imcombiners import _variance, cli

fits = pytest.importorskip("astropy.io.fits")

N, SHAPE = 5, (40, 33)


def _write(
    folder: Path, *, ext: str = "VAR", dtype: str = "float32"
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """N files: the image (primary) and a variance (or error) extension."""
    rng = np.random.default_rng(31)
    sigma = np.array([3.0, 5.0, 8.0, 4.0, 6.0])[:, None, None]
    data = 1000.0 + rng.normal(0.0, 1.0, (N, *SHAPE)) * sigma
    data[2, 10:12, 20:23] += 3000.0
    var = np.broadcast_to(sigma**2, data.shape).astype(np.float32)
    data = data.astype(dtype) if dtype != "uint16" else np.rint(data).astype(dtype)
    paths = []
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(N):
        plane = np.sqrt(var[i]) if ext == "ERR" else var[i]
        hdr = fits.Header({"EXPTIME": 5.0})
        p = folder / f"f{i}.fits"
        fits.HDUList([fits.PrimaryHDU(data[i], hdr), fits.ImageHDU(plane, name=ext)]).writeto(p)
        paths.append(str(p))
    planes = np.stack([fits.getdata(p, ext) for p in paths])
    return paths, data, planes


def _run(argv, capsys):
    status = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_variance_hdu_and_mef(tmp_path, capsys):
    paths, data, var = _write(tmp_path / "in")
    out = tmp_path / "stack.fits"
    status, stdout, err = _run(
        [
            *paths,
            "-o",
            out,
            "--combine",
            "mean",
            "--reject",
            "varclip",
            "--sigma",
            "4",
            "--variance-hdu",
            "VAR",
            "--mef",
            "--products",
            "nrej,ncombine",
            "--no-progress",
        ],
        capsys,
    )
    assert status == 0, err
    assert f"wrote {out}" in stdout
    image, variance = imc.ndcombine(
        data, combine="mean", reject="varclip", sigma=4.0, variance=var, return_variance=True
    )
    with fits.open(out) as hdul:
        assert [h.name for h in hdul] == ["SCI", "VAR", "DQ", "NREJ", "NCOMBINE"]
        np.testing.assert_array_equal(hdul["SCI"].data, image)
        np.testing.assert_array_equal(hdul["VAR"].data, variance)
        np.testing.assert_array_equal(hdul["DQ"].data, np.isnan(image).astype(np.uint8))
        assert hdul["NREJ"].data[10, 20] == 1  # the cosmic ray in frame 2


def test_variance_hdu_without_mef_changes_nothing_but_uses_the_variance(tmp_path, capsys):
    """Without --mef the image is written alone; a rule that needs the variance uses it."""
    paths, data, var = _write(tmp_path / "in")
    out = tmp_path / "o.fits"
    status, _, err = _run(
        [
            *paths,
            "-o",
            out,
            "--combine",
            "mean",
            "--weights",
            "ivar",
            "--variance-hdu",
            "VAR",
            "-q",
        ],
        capsys,
    )
    assert status == 0, err
    image = imc.ndcombine(data, combine="mean", weights="ivar", variance=var)
    with fits.open(out) as hdul:
        assert len(hdul) == 1
        np.testing.assert_array_equal(hdul[0].data, image)


def test_error_hdu_writes_err(tmp_path, capsys):
    paths, data, err_planes = _write(tmp_path / "in", ext="ERR")
    out = tmp_path / "o.fits"
    status, _, err = _run(
        [*paths, "-o", out, "--combine", "median", "--error-hdu", "ERR", "--mef", "-q"], capsys
    )
    assert status == 0, err
    _, variance = imc.ndcombine(
        data,
        combine="median",
        variance=_variance.variance_from_error(err_planes),
        return_variance=True,
    )
    with fits.open(out) as hdul:
        assert [h.name for h in hdul] == ["SCI", "ERR", "DQ"]
        np.testing.assert_array_equal(hdul["ERR"].data, np.sqrt(variance))


def test_variance_as_error_out(tmp_path, capsys):
    paths, data, var = _write(tmp_path / "in")
    out = tmp_path / "o.fits"
    status, _, err = _run(
        [
            *paths,
            "-o",
            out,
            "--combine",
            "sum",
            "--variance-hdu",
            "1",
            "--mef",
            "--error-out",
            "-q",
        ],
        capsys,
    )
    assert status == 0, err
    _, variance = imc.ndcombine(data, combine="sum", variance=var, return_variance=True)
    with fits.open(out) as hdul:
        np.testing.assert_array_equal(hdul["ERR"].data, np.sqrt(variance))


def test_noise_model(tmp_path, capsys):
    paths, data, _ = _write(tmp_path / "in", dtype="uint16")
    out = tmp_path / "o.fits"
    status, _, err = _run(
        [
            *paths,
            "-o",
            out,
            "--combine",
            "mean",
            "--reject",
            "varclip",
            "--noise-model",
            "2.0,4.5,0.01",
            "--mef",
            "-q",
        ],
        capsys,
    )
    assert status == 0, err
    given = _variance.variance_from_noise(data, gain=2.0, rdnoise=4.5, snoise=0.01)
    image, variance = imc.ndcombine(
        data, combine="mean", reject="varclip", variance=given, return_variance=True
    )
    with fits.open(out) as hdul:
        np.testing.assert_array_equal(hdul["SCI"].data, image)
        np.testing.assert_array_equal(hdul["VAR"].data, variance)


@pytest.mark.parametrize(
    ("extra", "status", "message"),
    [
        (["--variance-hdu", "VAR", "--error-hdu", "ERR"], 2, "not allowed with argument"),
        (["--noise-model", "2"], 2, "--noise-model takes GAIN,RDNOISE"),
        (["--noise-model", "a,b"], 2, "--noise-model takes GAIN,RDNOISE"),
        (["--noise-model", "0,3"], 2, "the gain must be > 0"),
        (["--noise-model", "2,-1"], 2, "the noises >= 0"),
        (["--noise-model", "2,nan"], 2, "--noise-model takes"),
        (["--error-out"], 2, "--error-out needs an input uncertainty"),
        (["--products", "nrej"], 2, "--products names extensions of a --mef output"),
        (["--mef", "--nrej-out", "n.fits"], 2, "with --mef the products are extensions"),
        (["--mef", "--products", "nrej,bogus"], 2, "unknown product"),
        (["--variance-hdu", "NOPE"], 1, "has no HDU 'NOPE'"),
        (["--reject", "varclip"], 1, "VarClip tests each sample against its own variance"),
    ],
)
def test_errors_are_one_line(tmp_path, capsys, extra, status, message):
    paths, _, _ = _write(tmp_path / "in")
    out = tmp_path / "o.fits"
    got, _, err = _run([*paths, "-o", out, "-q", *extra], capsys)
    assert got == status
    assert message in err
    assert "Traceback" not in err
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_through_the_installed_entry_point(tmp_path):
    paths, data, var = _write(tmp_path / "in")
    out = tmp_path / "o.fits"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "imcombiners.cli",
            *paths,
            "-o",
            str(out),
            "--combine",
            "mean",
            "--variance-hdu",
            "VAR",
            "--mef",
            "-q",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    _, variance = imc.ndcombine(data, combine="mean", variance=var, return_variance=True)
    np.testing.assert_array_equal(fits.getdata(out, "VAR"), variance)
