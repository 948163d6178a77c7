"""imc.iraf.imcombine reads plain FITS files in bands of rows (without grow or offsets) or
whole (with pread, never memory-mapped): the same bits as one stack either way."""

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
    assert len(bands) == 16  # every file combine took the banded route (23 bands each)


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


def test_memory_maps_need_equal_header_lengths(tmp_path):
    mapped_stack = importlib.import_module("imcombiners.io.mapped").mapped_stack
    rng = np.random.default_rng(9)
    stack = rng.normal(0.0, 1.0, (4, 13, 9)).astype(np.float32)
    # A long header for one image: its data starts one FITS block later.
    headers = [{}, {f"KEY{k}": k for k in range(40)}, {}, {}]
    paths = _write_stack(tmp_path, stack, headers)
    frames = importlib.import_module("imcombiners.iraf._inputs").load(paths)
    offsets, dtype = frames.raw
    assert len(set(offsets)) == 2
    with mapped_stack(paths, offsets, stack.shape[1:], dtype) as got:
        assert got is None
    # The pipeline then reads the files in bands, with the same result.
    for reject in ("none", "sigclip"):
        np.testing.assert_array_equal(
            imc.iraf.imcombine(paths, reject=reject).output,
            imc.iraf.imcombine(stack, reject=reject).output,
        )
    # Equal headers: the map is the files' data, read-only.
    same = [offsets[0]] * 2
    with mapped_stack(paths[::2], same, stack.shape[1:], dtype) as got:
        np.testing.assert_array_equal(got, stack[::2])
        assert got.dtype == np.dtype(">f4")
        assert not got.flags.writeable
    # A file shorter than its image is never mapped (reading past its end would crash).
    with open(paths[2], "r+b") as f:
        f.truncate(offsets[2] + 10)
    with mapped_stack(paths[2:], [offsets[2]] * 2, stack.shape[1:], dtype) as got:
        assert got is None
