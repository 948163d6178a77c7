"""imc.iraf.imcombine refuses bad parameters and inputs with clear errors (no IRAF needed)."""

from __future__ import annotations

import numpy as np
import pytest

import imcombiners as imc

STACK = np.random.default_rng(0).normal(100.0, 5.0, (5, 6, 7)).astype(np.float32)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"combine": "nonsense"}, "combine='nonsense' is not one of"),
        ({"reject": "clip"}, "reject='clip' is not one of"),
        ({"outtype": "none"}, "outtype='none' is not one of"),
        ({"masktype": "novalue"}, "masktype='novalue' is not one of"),
        ({"products": ("sigmas",)}, "products='sigmas'"),
        ({"nkeep": 1.5}, "nkeep=1.5 must be an integer"),
        ({"grow": -1}, "grow"),
        ({"lsigma": -1}, "lsigma"),
        ({"reject": "pclip", "pclip": 0}, "pclip=0"),
        ({"reject": "minmax", "nlow": 3, "nhigh": 2}, "bad minmax rejection parameters"),
        ({"reject": "minmax", "nlow": 0.5}, "nlow=0.5 must be an integer"),
        ({"reject": "ccdclip", "gain": 0}, "gain must be > 0"),
        ({"reject": "ccdclip", "rdnoise": "RDNOISE"}, "keyword 'RDNOISE' not found"),
        ({"scale": "nonsense"}, "scale='nonsense'"),
        ({"zero": "exposure"}, "zero='exposure'"),
        ({"scale": [1.0, 2.0]}, "scale: expected 5 finite numbers"),
        ({"statsec": "[1:9,1:3]"}, "outside"),
        ({"statsec": "output [1:3]", "scale": "median"}, "1 axes for 2-D images"),
        (
            {"statsec": "overlap", "scale": "median", "offsets": np.array([[0, 0]] * 4 + [[9, 0]])},
            "no common overlap",
        ),
        (
            {"statsec": "output [30:40,1:5]", "scale": "median", "offsets": np.zeros((5, 2))},
            "does not reach image 1",
        ),
        ({"combine": "nmodel", "gain": -1.0}, "gain must be > 0"),
        ({"offsets": np.zeros((4, 2))}, "offsets: expected"),
        ({"offsets": "spiral"}, "offsets='spiral'"),
    ],
)
def test_bad_parameters_name_themselves(kwargs, match):
    with pytest.raises(ValueError, match=match):
        imc.iraf.imcombine(STACK, **kwargs)


def test_bad_inputs():
    with pytest.raises(ValueError, match="expected a stack"):
        imc.iraf.imcombine(np.zeros(5, np.float32))
    with pytest.raises(ValueError, match="differ in shape"):
        imc.iraf.imcombine([np.zeros((3, 3), np.float32), np.zeros((3, 4), np.float32)])
    with pytest.raises(TypeError, match="int64"):
        imc.iraf.imcombine(np.zeros((3, 4, 4), np.int64))
    with pytest.raises(FileNotFoundError):
        imc.iraf.imcombine(["/nonexistent/a.fits", "/nonexistent/b.fits"])
    with pytest.raises(FileNotFoundError):
        imc.iraf.imcombine("@/nonexistent/list.txt")


def test_inputs_are_not_modified():
    stack = STACK.copy()
    masks = [np.zeros((6, 7), np.int16) for _ in range(5)]
    masks[1][2, 3] = 1
    imc.iraf.imcombine(
        stack,
        reject="sigclip",
        scale="median",
        masktype="badvalue",
        maskvalue=1,
        masks=masks,
        products=("sigma", "rejmask"),
    )
    np.testing.assert_array_equal(stack, STACK)
    assert masks[1][2, 3] == 1
    assert masks[1].sum() == 1


def test_results_do_not_depend_on_threads():
    stack = STACK.copy()
    stack[2, 1, 1] = 5000.0
    kw = {"combine": "average", "reject": "avsigclip", "products": ("sigma", "rejmask")}
    one = imc.iraf.imcombine(stack, threads=1, **kw)
    two = imc.iraf.imcombine(stack, threads=2, **kw)
    np.testing.assert_array_equal(one.output, two.output)
    np.testing.assert_array_equal(one.sigma, two.sigma)
    np.testing.assert_array_equal(one.rejmask, two.rejmask)
    assert one.rejmask[2, 1, 1] == 1


def test_nan_is_missing():
    stack = STACK.copy()
    stack[0, 0, 0] = np.nan
    stack[:, 1, 1] = np.inf
    res = imc.iraf.imcombine(stack, blank=-1.0, products=("nrejmask",))
    assert res.output[0, 0] == np.float32(np.mean(stack[1:, 0, 0], dtype=np.float32))
    assert res.output[1, 1] == -1.0
    assert res.nrejmask[0, 0] == 1
    assert res.nrejmask[1, 1] == 5
