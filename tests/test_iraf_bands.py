"""imc.iraf.imcombine reads plain FITS files in bands of rows: the same bits as one stack."""

from __future__ import annotations

import importlib
import itertools

import numpy as np
import pytest

import imcombiners as imc

imcombine_module = importlib.import_module("imcombiners.iraf.imcombine")

fits = pytest.importorskip("astropy.io.fits")


@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.float64])
def test_bands_equal_the_whole_stack(tmp_path, monkeypatch, dtype):
    rng = np.random.default_rng(7)
    n, ny, nx = 9, 23, 17
    stack = rng.normal(1000.0, 10.0, (n, ny, nx))
    hits = rng.random(stack.shape) < 0.05
    stack[hits] += rng.uniform(30, 3000, hits.sum())
    stack = np.round(stack).astype(dtype)
    bad = rng.random(stack.shape) < 0.05
    paths = []
    for i in range(n):
        fits.writeto(tmp_path / f"m{i}.fits", bad[i].astype(np.int16))
        hdr = fits.Header({"BPM": f"m{i}.fits", "EXPTIME": 10.0 + i})
        p = tmp_path / f"f{i}.fits"
        fits.writeto(p, stack[i], hdr)
        paths.append(p)
    products = ("sigma", "rejmask", "nrejmask", "bpmask")
    monkeypatch.setattr(imcombine_module, "_BAND_BYTES", 1)  # one row per band
    bands = []
    original = imcombine_module._run_in_bands

    def counting(frames, bad, run):
        bands.append(frames.data[0].shape[0])
        return original(frames, bad, run)

    monkeypatch.setattr(imcombine_module, "_run_in_bands", counting)
    for combine, reject, masktype in itertools.product(
        ("average", "median"), ("none", "sigclip", "avsigclip", "minmax"), ("none", "badvalue")
    ):
        params = dict(combine=combine, reject=reject, masktype=masktype, maskvalue=1)
        banded = imc.iraf.imcombine(paths, products=products, **params)
        whole = imc.iraf.imcombine(
            stack,
            products=products,
            masks=list(bad.astype(np.int16)) if masktype != "none" else None,
            **params,
        )
        for name in ("output", *products):
            np.testing.assert_array_equal(
                getattr(banded, name), getattr(whole, name), err_msg=f"{name} {params}"
            )
    assert len(bands) == 16  # every file combine took the banded route (23 bands each)
