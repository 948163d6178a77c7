"""The IRAF defects of docs/iraf.md: corrected by default, reproduced with iraf_defects=True.

Each example is computed by hand (the corrected value) and run through the real IRAF 2.17 (the
reproduced value), so both halves of the claim are checked.
"""

from __future__ import annotations

import iraf_cl
import numpy as np
import pytest

import imcombiners as imc


def _column(values) -> np.ndarray:
    return np.asarray(values, np.float32).reshape(-1, 1, 1)


def _iraf(tmp_path, stack, **params):
    iraf_cl.require_iraf()
    paths = []
    for i, frame in enumerate(stack):
        path = tmp_path / f"d{i:02d}.fits"
        iraf_cl.write_fits(path, frame)
        paths.append(path)
    products = ("sigma", "rejmask", "nrejmask")
    return iraf_cl.imcombine(paths, tmp_path, products=products, **params)


def test_stale_median_and_unsorted_survivors(tmp_path):
    stack = _column([0, 10, 11, 100])
    params = dict(combine="median", reject="sigclip", lsigma=1.0, hsigma=1.0)
    products = ("sigma", "rejmask", "nrejmask")
    fixed = imc.iraf.imcombine(stack, products=products, **params)
    # Survivors 10 and 11: their median, their sigma, and frames 1 and 4 rejected.
    assert fixed.output.item() == np.float32(10.5)
    assert fixed.sigma.item() == pytest.approx(np.sqrt(0.5), rel=1e-6)
    assert fixed.rejmask.ravel().tolist() == [1, 0, 0, 1]
    legacy = imc.iraf.imcombine(stack, products=products, iraf_defects=True, **params)
    assert legacy.output.item() == 10.0
    assert legacy.sigma.item() == 10.0
    assert legacy.rejmask.ravel().tolist() == [0, 0, 1, 1]
    ref = _iraf(tmp_path, stack, **params)
    assert ref.output.item() == legacy.output.item()
    assert ref.sigma.item() == legacy.sigma.item()
    np.testing.assert_array_equal(ref.rejmask, legacy.rejmask)
    np.testing.assert_array_equal(ref.nrejmask, fixed.nrejmask)


def test_lmedian_of_two_after_sort(tmp_path):
    stack = _column([2, 1])
    params = dict(combine="lmedian", reject="sigclip")
    assert imc.iraf.imcombine(stack, **params).output.item() == 1.0
    legacy = imc.iraf.imcombine(stack, iraf_defects=True, **params)
    assert legacy.output.item() == 2.0
    assert _iraf(tmp_path, stack, **params).output.item() == 2.0


def test_lmedian_without_sort_is_the_lower_value(tmp_path):
    stack = _column([2, 1])
    for defects in (False, True):
        out = imc.iraf.imcombine(stack, combine="lmedian", iraf_defects=defects).output
        assert out.item() == 1.0
    assert _iraf(tmp_path, stack, combine="lmedian").output.item() == 1.0


def _grow_case() -> np.ndarray:
    # Pixel 1 of frame 5 holds 0; the high outlier at pixel 0 of frame 5 is rejected by minmax
    # and grown (radius 1) onto pixel 1, which then keeps (1, 2, 3, 4).
    stack = np.zeros((5, 1, 3), np.float32)
    stack[:, 0, 0] = [10, 10, 10, 10, 1000]
    stack[:, 0, 1] = [1, 2, 3, 4, 0]
    stack[:, 0, 2] = [10, 11, 12, 13, 14]
    return stack


def test_grow_median_of_unsorted_survivors(tmp_path):
    stack = _grow_case()
    params = dict(combine="median", reject="pclip", pclip=-1.0, lsigma=10.0, hsigma=1.0, grow=1.0)
    fixed = imc.iraf.imcombine(stack, products=("rejmask",), **params)
    legacy = imc.iraf.imcombine(stack, products=("rejmask",), iraf_defects=True, **params)
    ref = _iraf(tmp_path, stack, **params)
    np.testing.assert_array_equal(ref.output, legacy.output)
    np.testing.assert_array_equal(ref.rejmask, legacy.rejmask)
    # The corrected output is the median of what each pixel kept.
    kept = fixed.rejmask == 0
    for x in range(3):
        values = stack[kept[:, 0, x], 0, x]
        assert fixed.output[0, x] == np.float32(np.median(values))


def test_nmodel_noise_terms_by_list_position(tmp_path):
    """Defect 9: combine=nmodel looks up each value's noise terms by its position in the
    pixel's (sorted) list, not by its image."""
    iraf_cl.require_iraf()
    stack = _column([100, 50, 200])
    paths = []
    for i, (frame, gain) in enumerate(zip(stack, (1.0, 2.0, 4.0), strict=True)):
        path = tmp_path / f"g{i}.fits"
        iraf_cl.write_fits(path, frame, {"GAIN": gain})
        paths.append(path)
    params = dict(combine="nmodel", reject="sigclip", gain="GAIN", rdnoise=0.0)
    # Sorted (50, 100, 200) from images (2, 1, 3): variances 50/2 + 100/1 + 200/4 = 175.
    fixed = imc.iraf.imcombine(paths, **params)
    assert fixed.output.item() == np.float32(np.sqrt(175.0) / 3)
    # IRAF uses the gains of images 1, 2, 3 for positions 1, 2, 3: 50/1 + 100/2 + 200/4 = 150.
    legacy = imc.iraf.imcombine(paths, iraf_defects=True, **params)
    assert legacy.output.item() == np.float32(np.sqrt(150.0) / 3)
    ref = iraf_cl.imcombine(paths, tmp_path, products=(), **params)
    assert ref.output.item() == legacy.output.item()
