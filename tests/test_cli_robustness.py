"""The ``imcombine`` command under issue 13: weights with statistics, out-of-range numbers
(one line, the option and its range, exit status 2, never a traceback), gzip outputs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import imcombiners as imc
from imcombiners import cli

fits = pytest.importorskip("astropy.io.fits")

N, SHAPE = 4, (20, 17)
WEIGHTS = [1.0, 3.0, 0.5, 2.0]


@pytest.fixture
def frames(tmp_path) -> list[str]:
    """N float32 frames at different levels, each with a WGT keyword."""
    rng = np.random.default_rng(5)
    paths = []
    for i in range(N):
        data = rng.normal(1000.0 + 80 * i, 5.0, SHAPE).astype("float32")
        data[3, 4 + i] += 2000.0
        hdr = fits.Header()
        hdr["WGT"] = WEIGHTS[i]
        path = tmp_path / f"in{i}.fits"
        fits.writeto(path, data, hdr)
        paths.append(str(path))
    return paths


def _stack(paths) -> np.ndarray:
    return np.stack([fits.getdata(p) for p in paths])


def _error_line(capsys) -> str:
    """The one line the command wrote to stderr (asserting there is exactly one)."""
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("imcombine: error: "), err
    assert "Traceback" not in err
    return lines[0]


# --------------------------------------------------------------------------------------------
# Weights with statistic zero/scale in the flag style (issue 13, item 2)


@pytest.mark.parametrize("weights", ["1,3,0.5,2", "!WGT"])
@pytest.mark.parametrize(
    ("flags", "kwargs"),
    [
        (["--combine", "mean", "--scale", "median"], {"method": "mean", "scale": "median"}),
        (
            [
                "--combine",
                "weighted_average",
                "--zero",
                "mean",
                "--reject",
                "sigclip",
                "--sigma",
                "1.8",
            ],
            {"method": "weighted_average", "zero": "mean", "rejectors": imc.SigClip(sigma=1.8)},
        ),
    ],
)
def test_flag_style_weights_with_statistics(frames, tmp_path, weights, flags, kwargs):
    out = tmp_path / "out.fits"
    assert cli.main([*frames, "-o", str(out), "-q", "--weights", weights, *flags]) == 0
    expected = imc.Combiner(_stack(frames)).combine(weights=WEIGHTS, **kwargs)
    np.testing.assert_array_equal(fits.getdata(out), expected)


def test_flag_style_weights_of_the_wrong_length(frames, tmp_path, capsys):
    out = tmp_path / "out.fits"
    argv = [*frames, "-o", str(out), "-q", "--combine", "mean", "--scale", "median"]
    assert cli.main([*argv, "--weights", "1,2"]) == 1
    line = _error_line(capsys)
    assert "weights" in line
    assert "(4,)" in line
    assert not out.exists()


# --------------------------------------------------------------------------------------------
# Numbers out of range (issue 13, item 10): a usage error naming the option and its range

HUGE = "99999999999999999999"


@pytest.mark.parametrize(
    ("argv", "option", "allowed"),
    [
        (["--reject", "sigclip", "--maxiters", HUGE], "--maxiters", "from 0 to 2147483647"),
        (["--reject", "sigclip", "--maxiters", "-1"], "--maxiters", "from 0 to 2147483647"),
        (["--threads", HUGE], "--threads", "from 1 to 1024"),
        (["--threads", "-1"], "--threads", "from 1 to 1024"),
        (["--threads", "0"], "--threads", "from 1 to 1024"),
        (["--threads", "1025"], "--threads", "from 1 to 1024"),
        (["--reject", "sigclip", "--nkeep", HUGE], "--nkeep", "9223372036854775807"),
        (["--reject", "pclip", "--nkeep", "-" + HUGE], "--nkeep", "-9223372036854775808"),
        (["--reject", "minmax", "--nlow", "9223372036854775807"], "--nlow", "count from 1"),
        (["--reject", "minmax", "--nlow", "6e18", "--nhigh", "6e18"], "--nlow + --nhigh", "2**63"),
        (["--reject", "minmax", "--nhigh", "1e300"], "--nhigh", "9223372036854775807"),
        (["--reject", "minmax", "--nlow", "nan"], "--nlow", "fraction from 0 to 1"),
        (["--reject", "minmax", "--nlow", "-1"], "--nlow", "fraction from 0 to 1"),
    ],
)
def test_flag_numbers_out_of_range(frames, tmp_path, capsys, argv, option, allowed):
    out = tmp_path / "out.fits"
    assert cli.main([*frames, "-o", str(out), "-q", *argv]) == 2
    line = _error_line(capsys)
    assert option in line
    assert allowed in line
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "option", "allowed"),
    [
        (["reject=sigclip", "nkeep=1180591620717411303424"], "nkeep=", "9223372036854775807"),
        (["reject=minmax", "nlow=-" + HUGE], "nlow=", "-9223372036854775808"),
        (["reject=minmax", "nhigh=" + HUGE], "nhigh=", "9223372036854775807"),
        (["maskvalue=" + HUGE], "maskvalue=", "9223372036854775807"),
        (["combine=average", "--threads", HUGE], "--threads", "from 1 to 1024"),
        (["combine=average", "--threads", "-1"], "--threads", "from 1 to 1024"),
    ],
)
def test_iraf_numbers_out_of_range(frames, tmp_path, capsys, argv, option, allowed):
    out = tmp_path / "out.fits"
    assert cli.main([",".join(frames), str(out), "-q", *argv]) == 2
    line = _error_line(capsys)
    assert option in line
    assert allowed in line
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["--frames", HUGE], "--frames"),
        (["--size", "1"], "--size"),
        (["--threads", "-1"], "--threads"),
    ],
)
def test_demo_numbers_out_of_range(capsys, argv, option):
    assert cli.main(["demo", *argv]) == 2
    assert option in _error_line(capsys)


def test_an_unexpected_failure_is_one_line(frames, tmp_path, capsys, monkeypatch):
    def broken(*args, **kwargs):
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr(imc, "combine_files", broken)
    assert cli.main([*frames, "-o", str(tmp_path / "out.fits"), "-q"]) == 1
    line = _error_line(capsys)
    assert "internal error (ZeroDivisionError): simulated bug" in line
    monkeypatch.setenv("IMCOMBINERS_TRACEBACK", "1")
    with pytest.raises(ZeroDivisionError):
        cli.main([*frames, "-o", str(tmp_path / "out.fits"), "-q"])


@pytest.mark.parametrize(
    "argv",
    [
        ["-o", "{out}", "--reject", "sigclip", "--maxiters", HUGE],
        ["-o", "{out}", "--threads", HUGE],
        ["{out}", "reject=sigclip", "nkeep=1180591620717411303424"],
    ],
)
def test_the_program_prints_no_traceback(frames, tmp_path, argv):
    out = tmp_path / "out.fits"
    args = [a.format(out=out) for a in argv]
    inputs = [",".join(frames)] if "reject=sigclip" in args else frames
    cmd = [sys.executable, "-m", "imcombiners.cli", *inputs, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1
    assert proc.stderr.startswith("imcombine: error: ")
    assert not Path(out).exists()


# --------------------------------------------------------------------------------------------
# Outputs named *.fits.gz are gzip-compressed in both styles (issue 13, item 3)


@pytest.mark.parametrize("style", ["flags", "iraf"])
def test_gz_outputs_are_compressed(frames, tmp_path, style):
    out, sigma = tmp_path / "out.fits.gz", tmp_path / "sig.fits.gz"
    if style == "flags":
        argv = [*frames, "-o", str(out), "--sigma-out", str(sigma), "--combine", "mean", "-q"]
        expected = imc.Combiner(_stack(frames)).combine("mean")
    else:
        argv = [",".join(frames), str(out), f"sigmas={sigma}", "combine=average", "-q"]
        expected = imc.iraf.imcombine(frames, combine="average").output
    assert cli.main(argv) == 0
    for path in (out, sigma):
        assert path.read_bytes()[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(fits.getdata(out), expected)
    assert fits.getdata(sigma).shape == SHAPE
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
