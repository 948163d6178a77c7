"""Memory layout never changes an answer.

Byte-swapped, non-contiguous, Fortran-ordered, negative-stride, permuted and
read-only stacks (and masks) must give bitwise the same result, with the same
dtype, as a native C-contiguous copy, for every method and entry point.
"""

import numpy as np
import pytest
import reference
import strategies
from hypothesis import given
from hypothesis import strategies as st
from strategies import Layout

ENTRIES = ("kernels", "Combiner", "ndcombine")
SHAPES = {"2d": (7, 11), "3d": (6, 5, 9), "4d": (5, 3, 4, 6)}

LAYOUTS = {
    "fortran": Layout(order="F"),
    "permuted": Layout(order="permuted"),
    "step2": Layout(step2=True),
    "reversed-all": Layout(reverse="all"),
    "reversed-first": Layout(reverse="first"),
    "reversed-last": Layout(reverse="last"),
    "readonly": Layout(readonly=True),
    "fortran-step2-reversed-readonly": Layout(order="F", step2=True, reverse="all", readonly=True),
}
SWAPPED_DTYPES = (">f4", ">i2", ">u2", ">f8", ">i4")


def make_values(dtype, shape, seed):
    """Native C-contiguous values: ties, NaN/inf and a dead pixel for floats."""
    dtype = np.dtype(dtype)
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 40, size=shape).astype(dtype.name)
    if dtype.kind == "f":
        values[rng.random(shape) < 0.1] = np.nan
        values[rng.random(shape) < 0.03] = np.inf
        values[rng.random(shape) < 0.03] = -np.inf
        values[(slice(None),) + (0,) * (len(shape) - 1)] = np.nan
    return values


def make_mask(shape, seed):
    rng = np.random.default_rng(seed + 1)
    mask = rng.random(shape) < 0.2
    mask[(slice(None),) + (-1,) * (len(shape) - 1)] = True  # one all-masked pixel
    return mask


def _extras(method, n):
    weights = np.arange(n, dtype=np.float64) % 3 if method == "weighted_average" else None
    if weights is not None:
        weights[0] = 1.0  # N == 1 still has a nonzero weight
    ddof = 1 if method == "variance" else None
    return weights, ddof


def assert_same_as_native(combine_via, method, stack, mask, native, native_mask, label):
    weights, ddof = _extras(method, stack.shape[0])
    stack_before, mask_before = stack.copy(), None if mask is None else mask.copy()
    for entry in ENTRIES:
        want = combine_via(entry, method, native, native_mask, weights=weights, ddof=ddof)
        got = combine_via(entry, method, stack, mask, weights=weights, ddof=ddof)
        err = f"{entry} {method} {label} dtype={stack.dtype.str} strides={stack.strides}"
        np.testing.assert_array_equal(got, want, strict=True, err_msg=err)
    np.testing.assert_array_equal(stack, stack_before, strict=True)
    if mask is not None:
        np.testing.assert_array_equal(mask, mask_before, strict=True)


@pytest.mark.parametrize("method", reference.METHODS)
@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("dtype", SWAPPED_DTYPES)
def test_byteswapped_stack(dtype, shape, method, combine_via):
    native = make_values(dtype, shape, seed=len(shape))
    stack = native.astype(np.dtype(dtype))
    assert not stack.dtype.isnative
    assert np.array_equal(stack, native, equal_nan=True)
    assert_same_as_native(combine_via, method, stack, None, native, None, "byteswapped")


@pytest.mark.parametrize("method", reference.METHODS)
@pytest.mark.parametrize("shape", list(SHAPES.values()), ids=list(SHAPES))
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", reference.ACCEPTED_DTYPES)
def test_strided_stack(dtype, layout, shape, method, combine_via):
    native = make_values(dtype, shape, seed=len(shape))
    stack = LAYOUTS[layout].apply(native)
    assert stack.dtype.isnative
    if layout != "readonly":
        assert not stack.flags.c_contiguous, stack.strides
    assert_same_as_native(combine_via, method, stack, None, native, None, layout)


@pytest.mark.parametrize("method", reference.METHODS)
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", ["float32", ">f8", "int16", ">u2"])
def test_strided_mask(dtype, layout, method, combine_via):
    """Mask in any layout; stack byte-swapped or native, in the same layout."""
    shape = SHAPES["3d"]
    native = make_values(dtype, shape, seed=5)
    native_mask = make_mask(shape, seed=5)
    stack = LAYOUTS[layout].apply(native.astype(np.dtype(dtype)))
    mask = LAYOUTS[layout].apply(native_mask)
    assert_same_as_native(combine_via, method, stack, mask, native, native_mask, layout)


# Big enough that the core splits the pixels into several tiles (2048 pixels per streaming
# tile; median tiles shrink as N grows), so tile edges fall inside strided spatial rows.


@pytest.mark.parametrize("method", reference.METHODS)
@given(data=st.data())
def test_strided_multi_tile_stack_matches_contiguous_copy(method, data, combine_via):
    case = data.draw(strategies.stack_cases(sizes=strategies.multi_tile_sizes()), label="case")
    stack, mask = case.stack, case.mask
    native = np.ascontiguousarray(stack, dtype=stack.dtype.newbyteorder("="))
    native_mask = None if mask is None else np.ascontiguousarray(mask)
    assert_same_as_native(combine_via, method, stack, mask, native, native_mask, case.describe())
