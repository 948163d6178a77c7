"""The ``imcombine`` command (imcombiners.cli): both styles, products, errors and the demo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import imcombiners as imc
from imcombiners import cli

fits = pytest.importorskip("astropy.io.fits")

N, SHAPE = 5, (64, 64)


def _write_frames(folder: Path, dtype: str, *, stem: str = "frame", levels=None) -> list[str]:
    """N frames with noise, a cosmic ray in frame 2 and a small header each."""
    rng = np.random.default_rng(11 if dtype == "uint16" else 12)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(N):
        level = 1000.0 if levels is None else levels[i]
        frame = rng.normal(level, 5.0, SHAPE)
        if i == 2:
            frame[10:12, 20:23] += 3000.0
        hdu = fits.PrimaryHDU(
            np.rint(frame).astype(dtype) if dtype == "uint16" else frame.astype(dtype)
        )
        hdu.header["EXPTIME"] = float(10 + i)
        hdu.header["IMAGETYP"] = "FLAT"
        hdu.header["GAIN"] = 2.0
        path = folder / f"{stem}{i + 1}.fits"
        hdu.writeto(path)
        paths.append(str(path))
    return paths


@pytest.fixture
def u16(tmp_path):
    return _write_frames(tmp_path / "u16", "uint16")


@pytest.fixture
def f32(tmp_path):
    return _write_frames(tmp_path / "f32", "float32", levels=[1000, 1100, 950, 1050, 1000])


def _stack(paths) -> np.ndarray:
    return np.stack([fits.getdata(p) for p in paths])


def _bytes(paths) -> dict[str, bytes]:
    return {p: Path(p).read_bytes() for p in paths}


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _read(path) -> np.ndarray:
    return np.asarray(fits.getdata(path))


# --------------------------------------------------------------------------------------------
# Help and style selection


def test_help_documents_both_styles(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "conventional style" in out
    assert "IRAF style" in out
    assert "imcombine demo" in out
    for word in ("combine=average", "reject=none", "lsigma=3.0", "lthreshold=INDEF"):
        assert word in out
    for flag in ("--reject", "--mem-limit", "--sigma-out", "--overwrite", "--threads"):
        assert flag in out
    assert "sigmas=FILE" in out
    assert "rejmasks=FILE" in out


def test_help_in_iraf_style_and_demo_help(capsys):
    assert cli.main(["a.fits", "b.fits", "combine=median", "--help"]) == 0
    assert "IRAF style" in capsys.readouterr().out
    assert cli.main(["demo", "--help"]) == 0
    assert "--frames" in capsys.readouterr().out


def test_no_arguments_is_a_usage_error(capsys):
    assert cli.main([]) == 2
    assert "imcombine: error:" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# Conventional style


def test_flags_style_matches_the_in_memory_combine(u16, tmp_path, capsys):
    before = _bytes(u16)
    out = tmp_path / "master.fits"
    args = [*u16, "-o", str(out), "--combine", "median", "--reject", "sigclip", "--sigma", "3"]
    assert cli.main([*args, "--no-progress"]) == 0
    expected = imc.Combiner(_stack(u16)).combine("median", rejectors=imc.SigClip(sigma=3.0))
    np.testing.assert_array_equal(_read(out), expected)
    assert _read(out).dtype == np.dtype(">f4")
    header = fits.getheader(out)
    assert header["NCOMBINE"] == N
    assert header["IMAGETYP"] == "FLAT"
    text = capsys.readouterr().out
    for p in u16:
        assert os.path.basename(p) in text
    assert "rej %" in text
    assert "MB/s" in text
    assert _bytes(u16) == before


def test_flags_style_takes_a_glob_and_an_at_list(u16, tmp_path):
    folder = Path(u16[0]).parent
    listing = tmp_path / "frames.txt"
    listing.write_text("# the frames\n" + "\n".join(Path(p).name for p in u16) + "\n")
    out_glob, out_list = tmp_path / "a.fits", tmp_path / "b.fits"
    assert cli.main([str(folder / "frame*.fits"), "-o", str(out_glob), "-q"]) == 0
    # The list names files relative to its own folder.
    (tmp_path / "u16" / "frames.txt").write_text(listing.read_text())
    assert cli.main(["@" + str(folder / "frames.txt"), "-o", str(out_list), "-q"]) == 0
    expected = imc.Combiner(_stack(u16)).combine("median")
    np.testing.assert_array_equal(_read(out_glob), expected)
    np.testing.assert_array_equal(_read(out_list), expected)


@pytest.mark.parametrize(
    ("flags", "rule"),
    [
        (
            [
                "--reject",
                "sigclip",
                "--sigma",
                "2.5",
                "3.5",
                "--maxiters",
                "2",
                "--cenfunc",
                "mean",
            ],
            imc.SigClip(sigma=(2.5, 3.5), maxiters=2, cenfunc="mean"),
        ),
        (["--reject", "minmax", "--nlow", "1", "--nhigh", "2"], imc.MinMaxClip(n_min=1, n_max=2)),
        (
            [
                "--reject",
                "ccdclip",
                "--gain",
                "2",
                "--rdnoise",
                "7",
                "--snoise",
                "0.01",
                "--nkeep",
                "2",
            ],
            imc.CcdClip(gain=2.0, rdnoise=7.0, snoise=0.01, nkeep=2),
        ),
        (["--reject", "pclip", "--pclip", "-0.3", "--sigma", "2"], imc.PClip(frac=-0.3, sigma=2.0)),
        (["--reject", "none"], None),
    ],
    ids=["sigclip", "minmax", "ccdclip", "pclip", "none"],
)
def test_flags_style_rejectors(f32, tmp_path, flags, rule):
    out = tmp_path / "out.fits"
    argv = [*f32, "-o", str(out), "--combine", "mean", *flags, "-q", "--mem-limit", "64MB"]
    assert cli.main(argv) == 0
    expected = imc.Combiner(_stack(f32)).combine("mean", rejectors=rule)
    np.testing.assert_array_equal(_read(out), expected)


def test_flags_style_corrections_and_thresholds(f32, tmp_path):
    out = tmp_path / "out.fits"
    argv = [
        *f32,
        "-o",
        str(out),
        "--combine",
        "mean",
        "--scale",
        "median",
        "--thresholds",
        "0",
        "5000",
        "--weights",
        "1,2,3,2,1",
        "--reject",
        "sigclip",
        "--grow",
        "1",
        "--threads",
        "1",
        "-q",
    ]
    assert cli.main(argv) == 0
    expected = imc.combine_files(
        f32,
        None,
        method="mean",
        scale="median",
        thresholds=(0.0, 5000.0),
        weights=[1.0, 2.0, 3.0, 2.0, 1.0],
        rejectors=imc.SigClip(),
        grow=1.0,
        progress=False,
    ).data
    np.testing.assert_array_equal(_read(out), expected)


def test_flags_style_writes_products(u16, tmp_path, capsys):
    out = tmp_path / "out.fits"
    names = {"sigma": "s.fits", "nrej": "n.fits", "ncombine": "c.fits", "rejmask": "r.fits"}
    flags = {
        "sigma": "--sigma-out",
        "nrej": "--nrej-out",
        "ncombine": "--ncombine-out",
        "rejmask": "--rejmask-out",
    }
    argv = [*u16, "-o", str(out), "--reject", "sigclip", "--no-progress"]
    for k, name in names.items():
        argv += [flags[k], str(tmp_path / name)]
    assert cli.main(argv) == 0
    ref = imc.combine_files(
        u16, None, rejectors=imc.SigClip(), products=tuple(names), progress=False
    )
    np.testing.assert_array_equal(_read(out), ref.data)
    for k, name in names.items():
        np.testing.assert_array_equal(_read(tmp_path / name), ref.products[k])
    assert "s.fits" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# IRAF style


def test_iraf_style_matches_imcombine(u16, tmp_path, capsys):
    before = _bytes(u16)
    listing = tmp_path / "bias.lis"
    listing.write_text("\n".join(u16) + "\n")
    out = tmp_path / "Zero.fits"
    argv = [
        "@" + str(listing),
        str(out),
        "combine=median",
        "reject=sigclip",
        "lsigma=3",
        "hsigma=3",
    ]
    assert cli.main(argv) == 0
    ref = imc.iraf.imcombine(u16, combine="median", reject="sigclip", lsigma=3.0, hsigma=3.0)
    np.testing.assert_array_equal(_read(out), ref.output)
    header = fits.getheader(out)
    assert header["NCOMBINE"] == N
    assert header["IMCMB001"] == os.path.basename(u16[0])
    assert header["EXPTIME"] == 10.0
    text = capsys.readouterr().out
    assert os.path.basename(u16[-1]) in text
    assert "MB/s" in text
    assert _bytes(u16) == before


def test_iraf_style_input_forms_agree(u16, tmp_path):
    folder = Path(u16[0]).parent
    forms = {
        "comma": [",".join(u16)],
        "glob": [str(folder / "frame*.fits")],
        "shell": list(u16),
        "keywords": [f"input={','.join(u16)}"],
    }
    ref = imc.iraf.imcombine(u16, combine="average", reject="minmax")
    for name, inputs in forms.items():
        out = tmp_path / f"{name}.fits"
        argv = [*inputs, f"output={out}"] if name == "keywords" else [*inputs, str(out)]
        assert cli.main([*argv, "reject=minmax", "-q"]) == 0, name
        np.testing.assert_array_equal(_read(out), ref.output)


def test_iraf_style_value_syntax(f32, tmp_path):
    out = tmp_path / "out"
    argv = [
        *f32,
        str(out),
        'combine="average"',
        "reject='ccdclip'",
        "mclip=no",
        "lthreshold=INDEF",
        "hthreshold=5000",
        "nkeep=2",
        "rdnoise=5",
        "gain=GAIN",
        "scale=median",
        "statsec=[5:60,5:60]",
        "sigscale=INDEF",
        "outtype=double",
        "-q",
    ]
    assert cli.main(argv) == 0
    ref = imc.iraf.imcombine(
        f32,
        combine="average",
        reject="ccdclip",
        mclip=False,
        lthreshold=None,
        hthreshold=5000.0,
        nkeep=2,
        rdnoise="5",
        gain="GAIN",
        scale="median",
        statsec="[5:60,5:60]",
        sigscale=None,
        outtype="double",
    )
    # IRAF appends .fits to an output name without a FITS suffix.
    written = _read(tmp_path / "out.fits")
    assert written.dtype == np.dtype(">f8")
    np.testing.assert_array_equal(written, ref.output)


def test_iraf_style_writes_products(u16, tmp_path, capsys):
    out = tmp_path / "out.fits"
    names = {
        "sigmas": "sig",
        "rejmasks": "rej.fits",
        "nrejmasks": "nrej.fits",
        "bpmasks": "bpm.fits",
        "expmasks": "exp.fits",
    }
    argv = [*u16, str(out), "combine=average", "reject=minmax", "expname=EXPTIME"]
    argv += [f"{k}={tmp_path / v}" for k, v in names.items()]
    assert cli.main(argv) == 0
    products = ("sigma", "rejmask", "nrejmask", "bpmask", "expmask")
    ref = imc.iraf.imcombine(
        u16, combine="average", reject="minmax", expname="EXPTIME", products=products
    )
    np.testing.assert_array_equal(_read(out), ref.output)
    for (key, name), product in zip(names.items(), products, strict=True):
        path = tmp_path / (name if name.endswith(".fits") else name + ".fits")
        np.testing.assert_array_equal(_read(path), getattr(ref, product), err_msg=key)
    text = capsys.readouterr().out
    # With the rejection masks written, the table gives each frame's rejected fraction.
    row = next(line for line in text.splitlines() if line.startswith("frame3.fits"))
    assert not row.rstrip().endswith("-")
    assert float(row.split()[-1]) > 0


def test_iraf_style_table_shows_dash_for_unknown_values(u16, tmp_path, capsys):
    assert cli.main([*u16, str(tmp_path / "o.fits"), "combine=median"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("frame")]
    assert len(rows) == N + 1  # the heading and one row per frame
    assert all(r.rstrip().endswith("-") for r in rows[1:])


def test_shared_options_work_in_both_styles(u16, tmp_path, capsys):
    out = tmp_path / "o.fits"
    assert cli.main([*u16, str(out), "combine=median", "--threads", "1", "-q"]) == 0
    assert cli.main([*u16, str(out), "combine=median", "--overwrite", "--no-progress", "-q"]) == 0
    assert cli.main([*u16, "-o", str(out), "--overwrite", "--threads", "2", "--quiet"]) == 0
    assert capsys.readouterr().out == ""


# --------------------------------------------------------------------------------------------
# Errors


def _fails(argv, capsys, *, status=None, message=""):
    code = cli.main(argv)
    err = capsys.readouterr().err
    assert code != 0
    if status is not None:
        assert code == status
    assert "imcombine: error:" in err
    assert message.lower() in err.lower(), err
    return err


@pytest.fixture
def mixed(tmp_path, u16):
    """The u16 frames plus one of another shape, one non-FITS file and a multi-HDU file."""
    folder = tmp_path / "u16"
    fits.PrimaryHDU(np.zeros((32, 64), np.uint16)).writeto(folder / "small.fits")
    (folder / "notfits.fits").write_text("this is not a FITS file\n" * 200)
    return u16, folder


@pytest.mark.parametrize("style", ["flags", "iraf"])
@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "does not exist"),
        ("shapes", "shape"),
        ("notfits", "notfits.fits"),
        ("hdu", "hdu"),
        ("exists", "--overwrite"),
        ("into_input", "input"),
        ("no_folder", "folder"),
        ("no_match", "matches"),
    ],
)
def test_bad_input_fails_cleanly(mixed, tmp_path, capsys, style, case, message):
    paths, folder = mixed
    out = tmp_path / "out.fits"
    inputs, extra = list(paths), []
    if case == "missing":
        inputs[1] = str(folder / "absent.fits")
    elif case == "shapes":
        inputs[1] = str(folder / "small.fits")
    elif case == "notfits":
        inputs[1] = str(folder / "notfits.fits")
    elif case == "hdu":
        extra = ["--hdu", "SCI"] if style == "flags" else ["hdu=SCI"]
    elif case == "exists":
        out.write_bytes(b"keep me")
    elif case == "into_input":
        out = Path(paths[0])
        extra = ["--overwrite"]
    elif case == "no_folder":
        out = tmp_path / "nowhere" / "out.fits"
    elif case == "no_match":
        inputs = [str(folder / "nothing*.fits")]
    before = _bytes([*paths, *([str(out)] if out.exists() else [])])
    listing = _listing(tmp_path)
    if style == "flags":
        argv = [*inputs, "-o", str(out), "--no-progress", *extra]
    else:
        argv = [",".join(inputs), str(out), "combine=median", *extra]
    err = _fails(argv, capsys, message=message)
    assert len(err.strip().splitlines()) == 1, err
    assert _bytes(before) == before
    assert _listing(tmp_path) == listing  # no output, no temporary file left behind


def test_mem_limit_too_small(u16, tmp_path, capsys):
    out = tmp_path / "out.fits"
    _fails([*u16, "-o", str(out), "--mem-limit", "100"], capsys, status=1, message="mem_limit")
    assert not out.exists()


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["--combine", "bogus"], 1, "bogus"),
        (["--sigma", "1", "2", "3"], 1, "--sigma"),
        (["--reject", "sigclip", "--nlow", "1"], 1, "--nlow applies to --reject minmax"),
        (["--reject", "sigclip", "--sigma", "-1"], 1, "sigma"),
        (["--reject", "magic"], 2, "invalid choice"),
        (["--reject", "minmax", "--nlow", "1.5"], 1, "n_min"),
        (["--threads", "0"], 2, "--threads"),
        (["--weights", "1,x"], 1, "numbers"),
    ],
)
def test_bad_flag_values(u16, tmp_path, capsys, argv, status, message):
    out = tmp_path / "out.fits"
    _fails([*u16, "-o", str(out), "-q", *argv], capsys, status=status, message=message)
    assert not out.exists()


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        (["combine=bogus"], 1, "combine="),
        (["nkeep=abc"], 1, "nkeep=abc: expected an integer"),
        (["lsigma=-1"], 1, "lsigma"),
        (["mclip=maybe"], 1, "expected yes or no"),
        (["nlow=INDEF"], 1, "nlow"),
        (["reject=minmax", "nlow=3", "nhigh=3"], 1, "nlow"),
        (["scale=!NOSUCHKEY"], 1, "NOSUCHKEY"),
        (["frobnicate=1"], 2, "valid parameters: input, output, combine"),
        (["logfile=log.txt"], 2, "not supported"),
        (["overwrite=yes"], 2, "--overwrite"),
        (["combine=median", "combine=average"], 2, "twice"),
    ],
)
def test_bad_iraf_parameters(u16, tmp_path, capsys, params, status, message):
    out = tmp_path / "out.fits"
    _fails([*u16, str(out), *params], capsys, status=status, message=message)
    assert not out.exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["combine=median", "--combine", "mean"],
        ["reject=sigclip", "-o", "x.fits"],
        ["-o", "x.fits", "--reject", "sigclip", "lsigma=3"],
    ],
)
def test_mixing_the_styles_is_refused(u16, tmp_path, capsys, argv):
    err = _fails([*u16, str(tmp_path / "out.fits"), *argv], capsys, status=2)
    assert "IRAF" in err
    assert "flags" in err


def test_iraf_style_needs_an_output(tmp_path, capsys):
    _fails(["combine=median"], capsys, status=2, message="no output")


# --------------------------------------------------------------------------------------------
# Interruption


def test_interrupt_in_flags_style(u16, tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(imc, "combine_files", interrupted)
    out = tmp_path / "out.fits"
    assert cli.main([*u16, "-o", str(out)]) == 130
    assert "imcombine: interrupted; no output written" in capsys.readouterr().err
    assert not out.exists()


def test_interrupt_while_writing_iraf_products_removes_what_was_written(
    u16, tmp_path, capsys, monkeypatch
):
    import imcombiners.io

    real_write = imcombiners.io.write_fits
    calls = []

    def write_then_interrupt(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_write(*args, **kwargs)

    monkeypatch.setattr(imcombiners.io, "write_fits", write_then_interrupt)
    listing = _listing(tmp_path)
    argv = [*u16, str(tmp_path / "out.fits"), "reject=sigclip", f"sigmas={tmp_path / 's.fits'}"]
    assert cli.main(argv) == 130
    assert "interrupted; no output written" in capsys.readouterr().err
    assert len(calls) == 2
    assert _listing(tmp_path) == listing


# --------------------------------------------------------------------------------------------
# As a program


def test_runs_as_a_program(u16, tmp_path):
    out = tmp_path / "out.fits"
    cmd = [sys.executable, "-m", "imcombiners.cli", *u16, "-o", str(out), "--reject", "sigclip"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    expected = imc.Combiner(_stack(u16)).combine("median", rejectors=imc.SigClip())
    np.testing.assert_array_equal(_read(out), expected)
    assert "MB/s" in proc.stdout

    proc = subprocess.run(
        [sys.executable, "-m", "imcombiners.cli", *u16, str(out), "combine=median"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith("imcombine: error:")
    assert "--overwrite" in proc.stderr


# --------------------------------------------------------------------------------------------
# Demo


def test_demo_runs_and_cleans_up(capsys):
    assert cli.main(["demo", "--frames", "5", "--size", "64", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "identical to the in-memory combine: True" in out
    assert "noise of the master bias" in out
    assert "cosmic rays" in out
    assert "bias_005.fits" in out
    assert len(out.splitlines()) < 40
    removed = [line for line in out.splitlines() if line.startswith("removed ")]
    assert removed
    assert not Path(removed[0].split(" ", 1)[1]).exists()


def test_demo_keeps_its_files(tmp_path, capsys):
    keep = tmp_path / "demo"
    argv = ["demo", "--frames", "4", "--size", "32", "--keep", str(keep), "--no-progress"]
    assert cli.main(argv) == 0
    assert cli.main(argv) == 0  # again, into the same folder
    assert "identical to the in-memory combine: True" in capsys.readouterr().out
    files = sorted(p.name for p in keep.iterdir())
    assert files == [
        "bias_001.fits",
        "bias_002.fits",
        "bias_003.fits",
        "bias_004.fits",
        "master_bias.fits",
    ]
    header = fits.getheader(keep / "bias_001.fits")
    assert header["BITPIX"] == 16
    assert header["BZERO"] == 32768
    assert header["IMAGETYP"] == "BIAS"
    assert header["EXPTIME"] == 0
    assert "DATE-OBS" in header
    assert fits.getdata(keep / "bias_001.fits").dtype.kind == "u"


def test_demo_rejects_bad_sizes(capsys):
    assert cli.main(["demo", "--frames", "1"]) == 2
    assert "--frames" in capsys.readouterr().err


def test_missing_output_flag_points_to_both_styles(u16, capsys):
    err = _fails([*u16], capsys, status=2, message="no output given")
    assert "-o OUTPUT" in err
    assert "name=value" in err


def test_unknown_iraf_parameter_suggests_a_name(u16, tmp_path, capsys):
    err = _fails([*u16, str(tmp_path / "o.fits"), "comine=median"], capsys, status=2)
    assert "comine (did you mean combine?)" in err


@pytest.mark.parametrize("style", ["flags", "iraf"])
def test_threads_option_reaches_the_combine(u16, tmp_path, monkeypatch, style):
    seen = []
    if style == "flags":
        real = imc.combine_files

        def spy(*args, **kwargs):
            seen.append(imc.get_num_threads())
            return real(*args, **kwargs)

        monkeypatch.setattr(imc, "combine_files", spy)
        argv = [*u16, "-o", str(tmp_path / "o.fits"), "--threads", "1", "-q"]
    else:
        real = imc.iraf.imcombine

        def spy(*args, **kwargs):
            seen.append(imc.get_num_threads())
            return real(*args, **kwargs)

        monkeypatch.setattr(imc.iraf, "imcombine", spy)
        argv = [*u16, str(tmp_path / "o.fits"), "combine=median", "--threads", "1", "-q"]
    assert cli.main(argv) == 0
    assert seen == [1]


def test_both_styles_agree_on_minmax_with_integer_ties(tmp_path):
    """Issue 13 item 4: minmax rejects exactly nlow + nhigh in both styles (ties on uint16)."""
    rng = np.random.default_rng(13)
    paths = []
    for i in range(7):
        p = tmp_path / f"bias{i}.fits"
        fits.writeto(p, rng.integers(1000, 1005, size=(64, 64)).astype(np.uint16))
        paths.append(str(p))
    iraf_out, flag_out = tmp_path / "iraf.fits", tmp_path / "flags.fits"
    argv = [*paths, str(iraf_out), "combine=median", "reject=minmax", "nlow=1", "nhigh=1"]
    assert cli.main([*argv, "-q"]) == 0
    flags = ["-o", str(flag_out), "--combine", "median", "--reject", "minmax"]
    assert cli.main([*paths, *flags, "--nlow", "1", "--nhigh", "1", "-q"]) == 0
    got, want = _read(flag_out), _read(iraf_out)
    np.testing.assert_array_equal(got, want)
    stack = np.sort(_stack(paths).astype(np.float64), axis=0)[1:-1]
    np.testing.assert_array_equal(got, np.median(stack, axis=0))
