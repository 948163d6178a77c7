"""imc.iraf.imcombine reads FITS files in bands of rows (with pread, never memory-mapped; with a
halo of rows for grow, each input placed at its offset): the same bits as one stack, for any
mem_limit."""

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

    def counting(plan, run, progress):
        bands.append(len(plan.bounds))
        return original(plan, run, progress)

    monkeypatch.setattr(imcombine_module, "_run_in_bands", counting)
    for combine, reject, masktype in itertools.product(
        ("average", "median"),
        ("none", "sigclip", "avsigclip", "minmax"),
        ("none", "badvalue"),
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
    assert bands == [23] * 16  # every file combine took the banded route, one row per band


def _write_stack(tmp_path, stack, headers=None):
    paths = []
    for i, frame in enumerate(stack):
        p = tmp_path / f"f{i}.fits"
        fits.writeto(p, frame, fits.Header(headers[i]) if headers else None)
        paths.append(p)
    return paths


@pytest.mark.parametrize("dtype", [np.float32, np.int16, np.int32, np.float64, np.uint8])
def test_files_equal_the_whole_stack(tmp_path, dtype):
    rng = np.random.default_rng(8)
    stack = rng.normal(100.0, 10.0, (11, 19, 70))
    hits = rng.random(stack.shape) < 0.05
    stack[hits] += rng.uniform(30, 150, hits.sum())
    stack = np.round(stack).astype(dtype)
    paths = _write_stack(tmp_path, stack)
    products = ("sigma", "rejmask", "nrejmask")
    cases = itertools.product(
        ("average", "median"),
        ("none", "sigclip", "ccdclip", "minmax"),
        ((), products),
        (0, 1),
    )
    for combine, reject, wanted, grow in cases:
        params = dict(combine=combine, reject=reject, rdnoise=3.0, grow=grow, products=wanted)
        from_files = imc.iraf.imcombine(paths, **params)
        whole = imc.iraf.imcombine(stack, **params)
        for name in ("output", *wanted):
            np.testing.assert_array_equal(
                getattr(from_files, name),
                getattr(whole, name),
                err_msg=f"{name} {params}",
            )


def test_headers_of_different_lengths(tmp_path):
    rng = np.random.default_rng(9)
    stack = rng.normal(0.0, 1.0, (4, 13, 9)).astype(np.float32)
    # A long header for one image: its data starts one FITS block later.
    headers = [{}, {f"KEY{k}": k for k in range(40)}, {}, {}]
    paths = _write_stack(tmp_path, stack, headers)
    for reject in ("none", "sigclip"):
        np.testing.assert_array_equal(
            imc.iraf.imcombine(paths, reject=reject, mem_limit="100kB").output,
            imc.iraf.imcombine(stack, reject=reject).output,
        )


def _shifted_files(tmp_path, dtype, n=7, ny=61, nx=37):
    """Files of one shape and type, with bad-pixel masks and cosmic rays."""
    rng = np.random.default_rng(12)
    stack = rng.normal(1000.0, 10.0, (n, ny, nx))
    hits = rng.random(stack.shape) < 0.02
    stack[hits] += rng.uniform(100, 3000, hits.sum())
    stack = np.round(stack).astype(dtype)
    return stack, _write_stack(tmp_path, stack)


CASES = [
    dict(combine="median", reject="sigclip"),
    dict(combine="average", reject="avsigclip", grow=2.0, products=("sigma", "rejmask")),
    dict(combine="average", reject="ccdclip", rdnoise=5.0, grow=1.5, nkeep=2),
    dict(
        combine="median",
        reject="minmax",
        offsets=[[0, 0], [3, -2], [-1, 5], [7, 1], [0, 9], [2, 2], [-4, -3]],
    ),
    dict(
        combine="average",
        reject="avsigclip",
        grow=3.0,
        offsets="grid 3 5 3 4",
        products=("sigma", "nrejmask", "bpmask"),
    ),
    dict(combine="lmedian", reject="pclip", scale="median", statsec="[5:30,10:50]"),
    dict(combine="median", reject="none"),
]


def _banded(paths, mem_limit, params):
    """The result for ``paths`` and the (done, total) calls of its progress callable, or None
    when ``mem_limit`` is below one row of the stack."""
    calls = []
    try:
        got = imc.iraf.imcombine(
            paths, mem_limit=mem_limit, progress=lambda *a: calls.append(a), **params
        )
    except ValueError as e:
        if "too small for one row" not in str(e):
            raise
        return None, calls
    return got, calls


@pytest.mark.parametrize("dtype", [np.uint16, np.float32, np.int32])
@pytest.mark.parametrize("params", CASES, ids=range(len(CASES)))
def test_any_mem_limit_gives_the_same_bits(tmp_path, dtype, params):
    stack, paths = _shifted_files(tmp_path, dtype)
    params = dict(params)
    if isinstance(params.get("offsets"), list):
        params["offsets"] = np.array(params["offsets"])
    want = imc.iraf.imcombine(stack, **params)
    products = ("output", *params.get("products", ()))
    seen = []
    # No limit, a large one, then smaller and smaller ones until one row no longer fits.
    limits = [None, "1GB", *(int(400_000 * 0.8**k) for k in range(25))]
    for mem_limit in limits:
        got, calls = _banded(paths, mem_limit, params)
        if got is None:
            assert isinstance(mem_limit, int)
            break
        for name in products:
            np.testing.assert_array_equal(
                getattr(got, name), getattr(want, name), err_msg=f"{name} {mem_limit}"
            )
        strip = [{k: v for k, v in row.items() if k != "image"} for row in got.table]
        assert strip == [{k: v for k, v in row.items() if k != "image"} for row in want.table]
        total = calls[-1][1] if calls else 1
        assert calls == [(k, total) for k in range(1, total + 1)]
        seen.append(total)
    assert seen[0] == 1
    assert max(seen) > 3, seen  # small limits did split the stack


def test_one_dimensional_images_are_one_band(tmp_path):
    rng = np.random.default_rng(13)
    spectra = rng.normal(100.0, 3.0, (6, 5000)).astype(np.float32)
    paths = _write_stack(tmp_path, spectra)
    calls = []
    got = imc.iraf.imcombine(
        paths, reject="avsigclip", mem_limit="50kB", progress=lambda *a: calls.append(a)
    )
    np.testing.assert_array_equal(
        got.output, imc.iraf.imcombine(spectra, reject="avsigclip").output
    )
    assert calls == [(1, 1)]


def test_mem_limit_and_progress_are_checked(tmp_path):
    _, paths = _shifted_files(tmp_path, np.float32, n=3, ny=5, nx=4)
    with pytest.raises(ValueError, match="mem_limit: cannot read '12 parsecs'"):
        imc.iraf.imcombine(paths, mem_limit="12 parsecs")
    with pytest.raises(ValueError, match="too small for one row"):
        imc.iraf.imcombine(paths, mem_limit=100)
    with pytest.raises(TypeError, match="progress must be"):
        imc.iraf.imcombine(paths, progress="yes")


def test_a_progress_bar_over_bands(tmp_path, capsys):
    _, paths = _shifted_files(tmp_path, np.float32)
    imc.iraf.imcombine(paths, mem_limit="100kB")
    assert "imcombine" in capsys.readouterr().err
    imc.iraf.imcombine(paths, mem_limit="100kB", progress=False)
    assert capsys.readouterr().err == ""
