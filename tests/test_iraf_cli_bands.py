"""The IRAF-style command takes --mem-limit and --no-progress (bands of imc.iraf.imcombine)."""

from __future__ import annotations

import numpy as np
import pytest

import imcombiners as imc
from imcombiners import cli

fits = pytest.importorskip("astropy.io.fits")


def test_mem_limit_and_progress_in_the_iraf_style(tmp_path, capsys):
    rng = np.random.default_rng(14)
    stack = rng.normal(1000.0, 10.0, (5, 120, 80)).astype(np.float32)
    paths = []
    for i, frame in enumerate(stack):
        p = tmp_path / f"f{i}.fits"
        fits.writeto(p, frame)
        paths.append(str(p))
    want = imc.iraf.imcombine(stack, combine="median", reject="sigclip").output
    out = tmp_path / "out.fits"
    args = [",".join(paths), str(out), "combine=median", "reject=sigclip", "--mem-limit", "300kB"]
    assert cli.main([*args, "-q"]) == 0
    np.testing.assert_array_equal(fits.getdata(out), want)
    assert cli.main([*args, "--overwrite"]) == 0
    assert "imcombine" in capsys.readouterr().err  # the bar over bands
    assert cli.main([*args, "--overwrite", "--no-progress"]) == 0
    assert "band" not in capsys.readouterr().err
    assert cli.main([*args[:-1], "1kB", "--overwrite", "-q"]) != 0
    assert "mem_limit" in capsys.readouterr().err
