"""place_into_padded: frames of different shapes at integer offsets, padded into one stack."""

import doctest
import itertools
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference import ACCEPTED_DTYPES

import imcombiners as imc
import imcombiners.placement

place = imc.place_into_padded

#: The output dtype for each accepted input dtype (the floating workspace).
WORK = {
    "uint8": np.float32,
    "uint16": np.float32,
    "int16": np.float32,
    "float32": np.float32,
    "int32": np.float64,
    "float64": np.float64,
}


def _frame(shape, dtype=np.float64, start=1):
    """Distinct, exactly representable values start, start + 1, ... in the given shape."""
    return (np.arange(math.prod(shape)) + start).reshape(shape).astype(dtype)


# ---------------------------------------------------------------- shapes and normalisation


def test_negative_offsets_are_shifted_to_zero():
    a, b = _frame((2, 3)), _frame((3, 2), start=100)
    stack = place([a, b], [(-1, 2), (1, -3)])
    # per-axis minimum (-1, -3): offsets become (0, 5) and (2, 0)
    assert stack.shape == (2, 5, 8)
    assert stack.dtype == np.float64
    expected = np.full((2, 5, 8), np.nan)
    expected[0, 0:2, 5:8] = a
    expected[1, 2:5, 0:2] = b
    np.testing.assert_array_equal(stack, expected)


def test_all_positive_offsets_are_shifted_to_zero():
    a, b = _frame((2, 3)), _frame((3, 2), start=100)
    far = place([a, b], [(5, 7), (6, 9)])
    near = place([a, b], [(0, 0), (1, 2)])
    assert far.shape == near.shape == (2, 4, 4)
    np.testing.assert_array_equal(far, near)
    np.testing.assert_array_equal(far[0, 0:2, 0:3], a)
    np.testing.assert_array_equal(far[1, 1:4, 2:4], b)


def test_common_shift_of_all_offsets_changes_nothing():
    frames = [_frame((3, 4)), _frame((2, 5), start=50), _frame((4, 1), start=90)]
    offsets = np.array([(0, 1), (-2, 3), (1, -1)])
    base = place(frames, offsets)
    for shift in [(7, 0), (0, -9), (-4, 11), (2**40, -(2**40))]:
        np.testing.assert_array_equal(place(frames, offsets + shift), base)


def test_huge_but_close_offsets_are_normalised_exactly():
    """Offsets near the int64 limits work: normalisation is done with Python ints."""
    a, b = _frame((2,)), _frame((2,), start=10)
    top = np.iinfo(np.int64).max
    stack = place([a, b], np.array([[top - 3], [top - 1]], dtype=np.int64))
    np.testing.assert_array_equal(stack, [[1, 2, np.nan, np.nan], [np.nan, np.nan, 10, 11]])
    stack = place([a, b], [[-(2**70)], [-(2**70) + 1]])  # beyond int64: Python ints
    np.testing.assert_array_equal(stack, [[1, 2, np.nan], [np.nan, 10, 11]])


def test_1d_images():
    stack = place([_frame((3,)), _frame((2,), start=7)], [[2], [-1]])
    np.testing.assert_array_equal(
        stack, [[np.nan, np.nan, np.nan, 1, 2, 3], [7, 8, np.nan, np.nan, np.nan, np.nan]]
    )


def test_3d_images():
    a, b, c = _frame((2, 3, 4)), _frame((1, 2, 2), start=100), _frame((3, 1, 1), start=200)
    offsets = [(0, 0, 0), (2, -1, 3), (-1, 4, 0)]
    stack = place([a, b, c], offsets)
    # minimum (-1, -1, 0): offsets become (1, 1, 0), (3, 0, 3), (0, 5, 0)
    assert stack.shape == (3, 4, 6, 5)
    expected = np.full(stack.shape, np.nan)
    expected[0, 1:3, 1:4, 0:4] = a
    expected[1, 3:4, 0:2, 3:5] = b
    expected[2, 0:3, 5:6, 0:1] = c
    np.testing.assert_array_equal(stack, expected)


def test_outer_shape_covers_every_image():
    frames = [_frame((5, 1)), _frame((1, 7)), _frame((2, 2))]
    offsets = [(0, 0), (3, 0), (0, 9)]
    stack = place(frames, offsets)
    assert stack.shape == (3, max(5, 3 + 1, 2), max(1, 7, 9 + 2))


def test_stack_array_is_a_sequence_of_frames():
    arr = _frame((3, 2, 4), dtype=np.int16)
    offsets = [(0, 0), (1, 2), (-1, 1)]
    np.testing.assert_array_equal(place(arr, offsets), place(list(arr), offsets))


def test_zero_offsets_and_equal_shapes_give_the_stack_as_float():
    arr = _frame((4, 3, 5), dtype=np.uint16)
    stack = place(arr, np.zeros((4, 2), dtype=int))
    assert stack.dtype == np.float32
    np.testing.assert_array_equal(stack, arr.astype(np.float32))


@pytest.mark.parametrize(
    "offsets",
    [
        [[0, 1], [2, 0]],
        [[0.0, 1.0], [2.0, -0.0]],
        np.array([[0, 1], [2, 0]], dtype=np.int8),
        np.array([[0, 1], [2, 0]], dtype=np.uint64),
        np.array([[0, 1], [2, 0]], dtype=np.float32),
        ((0, 1), (2, 0)),
        [np.array([0, 1]), np.array([2, 0])],
        [[np.int32(0), 1], [2.0, np.uint8(0)]],
    ],
    ids=["ints", "integral-floats", "int8", "uint64", "float32", "tuples", "rows", "mixed"],
)
def test_offsets_of_any_integer_or_integral_type(offsets):
    frames = [_frame((2, 2)), _frame((1, 3), start=10)]
    np.testing.assert_array_equal(place(frames, offsets), place(frames, [[0, 1], [2, 0]]))


def test_single_image():
    a = _frame((2, 3), dtype=np.uint8)
    stack = place([a], [(-5, 4)])
    assert stack.shape == (1, 2, 3)
    np.testing.assert_array_equal(stack[0], a)


def test_generator_of_images():
    frames = [_frame((2,)), _frame((3,), start=5)]
    np.testing.assert_array_equal(place((f for f in frames), [[0], [1]]), place(frames, [[0], [1]]))


# ---------------------------------------------------------------- dtypes


@pytest.mark.parametrize("dtype", ACCEPTED_DTYPES)
def test_output_dtype_and_exact_values(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        values = np.array([info.min, 0, 1, info.max], dtype=dtype)
    else:
        values = np.array([-1.5, 0.0, np.nan, np.inf], dtype=dtype)
    stack = place([values, values[:2]], [[0], [3]])
    assert stack.dtype == WORK[dtype.name]
    expected = np.array(
        [[*values.tolist(), np.nan], [np.nan, np.nan, np.nan, *values[:2].tolist()]]
    )
    np.testing.assert_array_equal(stack, expected.astype(WORK[dtype.name]))
    np.testing.assert_array_equal(stack[0, :4].astype(np.float64), values.astype(np.float64))


@pytest.mark.parametrize(("d1", "d2"), list(itertools.product(ACCEPTED_DTYPES, repeat=2)))
def test_mixed_dtypes_take_the_wider_workspace(d1, d2):
    a = np.array([[1, 2]], dtype=d1)
    b = np.array([[3], [4]], dtype=d2)
    stack = place([a, b], [(0, 0), (0, 2)])
    wide = np.float64 in (WORK[np.dtype(d1).name], WORK[np.dtype(d2).name])
    assert stack.dtype == (np.float64 if wide else np.float32)
    np.testing.assert_array_equal(stack[0], [[1, 2, np.nan], [np.nan, np.nan, np.nan]])
    np.testing.assert_array_equal(stack[1], [[np.nan, np.nan, 3], [np.nan, np.nan, 4]])


def test_int32_extremes_are_exact_in_float64():
    a = np.array([np.iinfo(np.int32).max, np.iinfo(np.int32).min], dtype=np.int32)
    stack = place([a, np.zeros(1, np.uint8)], [[0], [0]])
    assert stack.dtype == np.float64
    assert stack[0].tolist() == [2**31 - 1, -(2**31)]


def test_foreign_byte_order_is_read_correctly():
    a = _frame((2, 3), dtype=">i2")
    b = _frame((2, 3), dtype=">f8", start=-3)
    stack = place([a, b], [(0, 0), (1, 1)])
    assert stack.dtype == np.float64
    assert stack.dtype.isnative
    np.testing.assert_array_equal(stack[0, 0:2, 0:3], a.astype(np.float64))
    np.testing.assert_array_equal(stack[1, 1:3, 1:4], b.astype(np.float64))


def test_strided_and_readonly_images():
    big = _frame((6, 8), dtype=np.float32)
    view = big[::2, ::-3]
    view.flags.writeable = False
    stack = place([view, big], [(0, 0), (0, 0)])
    np.testing.assert_array_equal(stack[0, : view.shape[0], : view.shape[1]], view)
    np.testing.assert_array_equal(stack[1], big)


_UNSUPPORTED = ["int64", "uint32", "uint64", "int8", "float16", "bool", "complex128", "object"]
if np.dtype(np.longdouble) != np.dtype(np.float64):
    _UNSUPPORTED.append("longdouble")


@pytest.mark.parametrize("dtype", _UNSUPPORTED)
def test_unsupported_dtype_names_the_image_and_the_cast(dtype):
    good = np.zeros((2, 2), dtype=np.float32)
    bad = np.zeros((2, 2), dtype=dtype)
    with pytest.raises(TypeError, match=r"images\[1\]") as excinfo:
        place([good, bad], [(0, 0), (1, 1)])
    message = str(excinfo.value)
    assert np.dtype(dtype).name in message
    assert ".astype(" in message or "np.abs(" in message


def test_python_int_lists_are_int64_and_refused():
    with pytest.raises(TypeError, match=r"images\[0\].*int64"):
        place([[1, 2, 3]], [[0]])


def test_unicode_images_are_refused():
    with pytest.raises(TypeError, match=r"images\[0\]"):
        place([np.array(["a", "b"])], [[0]])


# ---------------------------------------------------------------- errors

TWO = [np.zeros((2, 3)), np.ones((3, 2))]


@pytest.mark.parametrize(
    "images",
    [[], (), np.zeros((0, 3)), np.zeros((0, 2, 2)), iter([])],
    ids=["list", "tuple", "N=0-2d", "N=0-3d", "iterator"],
)
def test_no_images(images):
    with pytest.raises(ValueError, match=r"\bimages\b.*empty"):
        place(images, np.zeros((0, 1)))


@pytest.mark.parametrize("images", [5, 2.5, None, "abc", b"ab", np.float32(1), np.array(3.0)])
def test_images_not_a_sequence(images):
    with pytest.raises(TypeError, match=r"\bimages\b"):
        place(images, [[0]])


def test_images_as_one_1d_array():
    with pytest.raises(ValueError, match=r"\bimages\b.*at least 2 dimensions"):
        place(np.zeros(4), [[0]] * 4)


def test_0d_image():
    with pytest.raises(ValueError, match=r"images\[1\].*at least 1 dimension"):
        place([np.zeros(2), np.float64(1.0)], [[0], [0]])


@pytest.mark.parametrize(
    "shapes", [[(3,), (2, 2)], [(2, 2), (2, 2, 1)], [(2, 2), (2, 2), (4,)]], ids=str
)
def test_images_of_different_ndim(shapes):
    frames = [np.zeros(s) for s in shapes]
    with pytest.raises(ValueError, match=r"\bimages\b.*same number of dimensions"):
        place(frames, np.zeros((len(shapes), len(shapes[0])), dtype=int))


@pytest.mark.parametrize(
    "offsets",
    [
        [(0, 0)],
        [(0, 0), (1, 1), (2, 2)],
        [0, 0],
        [[0], [0]],
        [(0, 0, 0), (1, 1, 1)],
        [[(0, 0)], [(1, 1)]],
        [(0, 0), (1,)],
        7,
        [],
        np.zeros((2, 2, 1), dtype=int),
        np.zeros((2, 2)).T[:1],
    ],
    ids=[
        "one-row",
        "three-rows",
        "flat",
        "one-column",
        "three-columns",
        "3d",
        "ragged",
        "scalar",
        "empty",
        "extra-axis",
        "1x2",
    ],
)
def test_offsets_of_wrong_shape(offsets):
    with pytest.raises(ValueError, match=r"\boffsets\b.*shape \(2, 2\)"):
        place(TWO, offsets)


def test_1d_images_need_one_column_offsets():
    with pytest.raises(ValueError, match=r"\boffsets\b.*shape \(2, 1\)"):
        place([np.zeros(3), np.zeros(2)], [0, 1])


@pytest.mark.parametrize(
    "offsets",
    [
        [(0, 1.5), (0, 0)],
        [(0, 0), (-0.5, 0)],
        np.array([[0, 0], [1e-9, 0]]),
        np.array([[0, 0], [2, 3]], dtype=np.float32) + np.float32(0.25),
    ],
    ids=["1.5", "-0.5", "tiny", "float32-quarter"],
)
def test_fractional_offsets(offsets):
    with pytest.raises(ValueError, match=r"\boffsets\b.*whole numbers"):
        place(TWO, offsets)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_offsets(bad):
    with pytest.raises(ValueError, match=r"\boffsets\b.*finite"):
        place(TWO, [(0, 0), (bad, 1)])


@pytest.mark.parametrize(
    "offsets",
    [
        np.array([[True, False], [False, True]]),
        [(0, 1), (True, 0)],
        [(0, np.bool_(False)), (1, 0)],
        [(0, 1), (0, 1j)],
        np.array([[0, 1], [2, 3]], dtype=complex),
        [("0", "1"), ("2", "3")],
        [(0, None), (1, 1)],
        np.array([[0, 1], [2, 3]], dtype="datetime64[s]"),
    ],
    ids=["bool-array", "bool-in-list", "np-bool", "complex", "complex-array", "str", "None", "dt"],
)
def test_non_integer_offset_types(offsets):
    with pytest.raises(TypeError, match=r"\boffsets\b.*integers"):
        place(TWO, offsets)


@pytest.mark.parametrize(
    "offsets",
    [
        [(0, 0), (0, 2**41)],
        [(-(2**20), 0), (2**20, 2**20)],
        [(0, 0), (2**62, -(2**62))],
        [(0, 0), (np.iinfo(np.int64).max, np.iinfo(np.int64).min)],
        [(0, 0), (10**30, 0)],
        [(0, 0), (1e300, 0)],
    ],
    ids=["2**41", "2**20-square", "2**62", "int64-limits", "10**30", "1e300"],
)
def test_output_too_large_is_refused_before_allocating(offsets):
    with pytest.raises(ValueError, match=r"\boffsets\b.*2\*\*40"):
        place(TWO, offsets)


def test_output_size_limit_counts_the_frames():
    """2 frames of 2**39 + 1 samples each are above the limit; one frame is not checked here."""
    frames = [np.zeros(1, np.uint8), np.zeros(1, np.uint8)]
    with pytest.raises(ValueError, match=r"2\*\*40"):
        place(frames, [[0], [2**39]])


def test_mask_count_mismatch():
    with pytest.raises(ValueError, match=r"\bmasks\b.*1 masks for 2 images"):
        place(TWO, [(0, 0), (1, 1)], masks=[np.zeros((2, 3), bool)])
    with pytest.raises(ValueError, match=r"\bmasks\b.*3 masks for 2 images"):
        place(TWO, [(0, 0), (1, 1)], masks=[np.zeros((2, 3), bool)] * 3)
    with pytest.raises(ValueError, match=r"\bmasks\b.*0 masks for 2 images"):
        place(TWO, [(0, 0), (1, 1)], masks=[])


@pytest.mark.parametrize(
    "mask_shape", [(2, 3), (3, 2, 1), (6,), (3, 3), ()], ids=["swapped", "extra", "flat", "x", "0d"]
)
def test_mask_shape_mismatch(mask_shape):
    masks = [np.zeros((2, 3), bool), np.zeros(mask_shape, bool)]
    with pytest.raises(ValueError, match=r"masks\[1\].*images\[1\]"):
        place(TWO, [(0, 0), (1, 1)], masks=masks)


@pytest.mark.parametrize("dtype", ["float64", "float32", "complex64", "U1", "object"])
def test_mask_of_non_boolean_dtype(dtype):
    masks = [np.zeros((2, 3), bool), np.zeros((3, 2), dtype=dtype)]
    with pytest.raises(TypeError, match=r"masks\[1\].*boolean"):
        place(TWO, [(0, 0), (1, 1)], masks=masks)


@pytest.mark.parametrize("masks", [5, "ab", np.bool_(True)])
def test_masks_not_a_sequence(masks):
    with pytest.raises(TypeError, match=r"\bmasks\b"):
        place(TWO, [(0, 0), (1, 1)], masks=masks)


def test_masked_array_image_is_refused():
    image = np.ma.masked_array(np.zeros(3), mask=[False, True, False])
    with pytest.raises(TypeError, match=r"images\[0\].*MaskedArray"):
        place([image], [[0]])


# ---------------------------------------------------------------- masks


def test_masks_are_placed_like_the_images_and_uncovered_is_masked():
    a, b = _frame((2, 3)), _frame((3, 2), start=10)
    ma = np.array([[True, False, False], [False, False, True]])
    mb = np.array([[False, True], [False, False], [True, True]])
    stack, mask = place([a, b], [(0, 1), (1, -1)], masks=[ma, mb])
    # offsets become (0, 2) and (1, 0); outer shape (4, 5)
    assert stack.shape == mask.shape == (2, 4, 5)
    assert mask.dtype == np.bool_
    expected = np.ones((2, 4, 5), dtype=bool)
    expected[0, 0:2, 2:5] = ma
    expected[1, 1:4, 0:2] = mb
    np.testing.assert_array_equal(mask, expected)
    np.testing.assert_array_equal(stack, place([a, b], [(0, 1), (1, -1)]))
    # uncovered samples are exactly the NaN fill
    covered = np.zeros((2, 4, 5), dtype=bool)
    covered[0, 0:2, 2:5] = True
    covered[1, 1:4, 0:2] = True
    np.testing.assert_array_equal(np.isnan(stack), ~covered)
    assert np.all(mask[~covered])


def test_all_false_masks_mark_only_uncovered():
    frames = [_frame((3,)), _frame((1,), start=5)]
    stack, mask = place(frames, [[0], [4]], masks=[np.zeros(3, bool), np.zeros(1, bool)])
    np.testing.assert_array_equal(mask, np.isnan(stack))


def test_integer_masks_mean_nonzero_is_bad():
    frames = [_frame((4,)), _frame((1,))]
    masks = [np.array([0, 2, 0, -1], dtype=np.int16), np.array([0], dtype=np.uint8)]
    _, mask = place(frames, [[1], [0]], masks=masks)
    np.testing.assert_array_equal(
        mask, [[True, False, True, False, True], [False, True, True, True, True]]
    )
    assert mask.dtype == np.bool_


def test_masks_as_a_stack_array_and_nested_lists():
    arr = _frame((2, 2, 2), dtype=np.uint8)
    m = np.array([[[True, False], [False, False]], [[False, False], [False, True]]])
    offsets = [(0, 0), (1, 1)]
    s1, m1 = place(arr, offsets, masks=m)
    s2, m2 = place(list(arr), offsets, masks=m.tolist())
    np.testing.assert_array_equal(s1, s2)
    np.testing.assert_array_equal(m1, m2)


def test_no_masks_returns_only_the_stack():
    out = place(TWO, [(0, 0), (1, 1)])
    assert isinstance(out, np.ndarray)
    out = place(TWO, [(0, 0), (1, 1)], masks=[np.zeros((2, 3), bool), np.zeros((3, 2), bool)])
    assert isinstance(out, tuple)
    assert len(out) == 2


def test_placed_mask_is_honoured_by_the_combiner():
    a = np.array([1.0, 100.0, 3.0])
    b = np.array([5.0, 7.0])
    stack, mask = place([a, b], [[0], [1]], masks=[[False, True, False], [False, False]])
    np.testing.assert_array_equal(imc.Combiner(stack, mask=mask).combine("mean"), [1, 5, 5])


# ---------------------------------------------------------------- fill


@pytest.mark.parametrize(
    "fill", [0, -1, 0.5, np.nan, np.inf, -np.inf, np.float32(2.5), np.int16(-7), 2**70]
)
@pytest.mark.parametrize("dtype", [np.uint8, np.float64])
def test_fill_values(fill, dtype):
    a = _frame((2,), dtype=dtype)
    stack = place([a, a], [[0], [1]], fill=fill)
    out_dtype = WORK[np.dtype(dtype).name]
    expected = np.array([[1, 2, fill], [fill, 1, 2]], dtype=np.float64).astype(out_dtype)
    np.testing.assert_array_equal(stack, expected)


def test_default_fill_is_nan():
    stack = place([np.zeros(1), np.zeros(1)], [[0], [1]])
    assert np.isnan(stack[0, 1])
    assert np.isnan(stack[1, 0])


def test_fill_with_masks():
    stack, mask = place([np.ones(2)], [[0]], fill=0, masks=[[True, False]])
    np.testing.assert_array_equal(stack, [[1, 1]])
    np.testing.assert_array_equal(mask, [[True, False]])


@pytest.mark.parametrize("fill", [None, "0", True, np.bool_(False), 1j, [0], np.array([0.0])])
def test_fill_must_be_a_real_number(fill):
    with pytest.raises(TypeError, match=r"\bfill\b"):
        place([np.zeros(2)], [[0]], fill=fill)


def test_fill_too_large_for_the_output_dtype():
    with pytest.raises(ValueError, match=r"\bfill\b.*float32"):
        place([np.zeros(2, np.float32)], [[0]], fill=1e300)
    with pytest.raises(ValueError, match=r"\bfill\b"):
        place([np.zeros(2)], [[0]], fill=10**400)
    # float64 holds it
    assert place([np.zeros(2), np.zeros(1)], [[1], [0]], fill=1e300)[0, 0] == 1e300


# ---------------------------------------------------------------- inputs untouched


def test_inputs_are_not_modified_and_not_aliased():
    frames = [
        _frame((3, 4), dtype=np.float64),
        _frame((2, 2), dtype=np.float32, start=20),
        _frame((4, 1), dtype=np.uint16, start=40),
    ]
    masks = [np.zeros(f.shape, bool) for f in frames]
    masks[0][1, 2] = True
    offsets = np.array([(0, 0), (2, 3), (-1, 1)])
    before = [f.copy() for f in frames], [m.copy() for m in masks], offsets.copy()
    stack, mask = place(frames, offsets, masks=masks)
    for f in frames:
        assert not np.shares_memory(stack, f)
    for m in masks:
        assert not np.shares_memory(mask, m)
    stack[...] = -123
    mask[...] = False
    for f, f0 in zip(frames, before[0], strict=True):
        np.testing.assert_array_equal(f, f0)
        assert f.dtype == f0.dtype
    for m, m0 in zip(masks, before[1], strict=True):
        np.testing.assert_array_equal(m, m0)
    np.testing.assert_array_equal(offsets, before[2])


def test_output_does_not_alias_a_float64_stack_with_zero_offsets():
    arr = _frame((2, 3, 3))
    stack = place(arr, np.zeros((2, 2), dtype=int))
    np.testing.assert_array_equal(stack, arr)
    assert not np.shares_memory(stack, arr)
    stack[0, 0, 0] = 99
    assert arr[0, 0, 0] == 1


def test_two_calls_give_independent_outputs():
    frames = [np.ones(2)]
    first = place(frames, [[0]])
    second = place(frames, [[0]])
    assert not np.shares_memory(first, second)


# ---------------------------------------------------------------- combining a placed stack

CONSTANTS = (1.0, 2.0, 4.0)  # every subset has a different sum
SHAPES = ((4, 5), (3, 6), (5, 3))
OFFSETS = ((0, 0), (2, 3), (-1, 4))


def _covering_values(out_index, offsets, shapes, values):
    """The values of the frames that cover one output pixel (by hand, no NumPy slicing)."""
    lowest = [min(o[k] for o in offsets) for k in range(len(out_index))]
    found = []
    for off, shape, value in zip(offsets, shapes, values, strict=True):
        local = [out_index[k] - (off[k] - lowest[k]) for k in range(len(out_index))]
        if all(0 <= local[k] < shape[k] for k in range(len(shape))):
            found.append(value)
    return found


def test_combine_counts_only_covered_samples():
    frames = [np.full(s, c, dtype=np.float32) for s, c in zip(SHAPES, CONSTANTS, strict=True)]
    stack = place(frames, OFFSETS)
    assert stack.shape == (3, 6, 9)
    results = {
        "mean": imc.Combiner(stack).combine("mean"),
        "median": imc.Combiner(stack).combine("median"),
        "sum": imc.ndcombine(stack, combine="sum"),
    }
    numpy_ref = {"mean": np.nanmean, "median": np.nanmedian, "sum": np.nansum}
    counts = set()
    for index in itertools.product(*(range(s) for s in stack.shape[1:])):
        covering = _covering_values(index, OFFSETS, SHAPES, CONSTANTS)
        counts.add(len(covering))
        for name, result in results.items():
            if covering:
                expected = numpy_ref[name](np.array(covering))
                np.testing.assert_allclose(result[index], expected, rtol=1e-6, err_msg=name)
            else:
                assert np.isnan(result[index]), (name, index)
    assert counts == {0, 1, 2, 3}  # uncovered, single, double and triple coverage all occur


def test_combine_of_placed_integer_frames_with_masks():
    frames = [np.full(s, int(c), dtype=np.uint16) for s, c in zip(SHAPES, CONSTANTS, strict=True)]
    masks = [np.zeros(s, bool) for s in SHAPES]
    masks[1][:, 0] = True  # the first column of frame 1 is bad
    stack, mask = place(frames, OFFSETS, masks=masks, fill=0)
    result = imc.Combiner(stack, mask=mask).combine("mean")
    for index in itertools.product(*(range(s) for s in stack.shape[1:])):
        covering = _covering_values(index, OFFSETS, SHAPES, CONSTANTS)
        lowest = [min(o[k] for o in OFFSETS) for k in range(2)]
        if covering and 2.0 in covering and index[1] == OFFSETS[1][1] - lowest[1]:
            covering.remove(2.0)
        if covering:
            np.testing.assert_allclose(result[index], np.mean(covering), rtol=1e-6)
        else:
            assert np.isnan(result[index]), index


# ---------------------------------------------------------------- dithered frames


def _sky(shape, rng):
    """A flat background of 100 with a few Gaussian stars."""
    y, x = np.indices(shape, dtype=np.float64)
    sky = np.full(shape, 100.0)
    for _ in range(8):
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        flux, width = rng.uniform(200, 800), rng.uniform(1.0, 2.5)
        sky += flux * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * width**2))
    return sky


def test_dithered_frames_recover_the_sky():
    rng = np.random.default_rng(20240607)
    sky = _sky((64, 80), rng)
    frame_shape = (48, 64)
    noise = 1.0
    # Where each frame was cut from the sky. A star at sky (y, x) appears in frame i at
    # (y, x) - cut[i]: the frame's dither shift is -cut[i], so the offsets, the negated
    # shifts, are the cut positions.
    cuts = np.array([(2, 1), (7, 4), (12, 13), (16, 16), (5, 15)])
    shifts = -cuts
    frames = []
    for cy, cx in cuts:
        frame = sky[cy : cy + frame_shape[0], cx : cx + frame_shape[1]].copy()
        frame += rng.normal(0.0, noise, frame_shape)
        hits = rng.integers(0, frame.size, size=6)
        frame.ravel()[hits] += rng.uniform(500, 3000, size=6)  # cosmic rays
        frames.append(frame.astype(np.float32))

    stack = place(frames, -shifts)
    lowest = cuts.min(axis=0)
    assert stack.shape == (5, *(cuts.max(axis=0) + frame_shape - lowest))
    truth = sky[lowest[0] :, lowest[1] :][: stack.shape[1], : stack.shape[2]]
    assert truth.shape == stack.shape[1:]

    coverage = np.zeros(stack.shape[1:], dtype=int)
    for cy, cx in cuts - lowest:
        coverage[cy : cy + frame_shape[0], cx : cx + frame_shape[1]] += 1
    np.testing.assert_array_equal(coverage, np.sum(np.isfinite(stack), axis=0))

    result = imc.Combiner(stack).combine("median", rejectors=imc.SigClip(sigma=3.0))
    assert result.dtype == np.float32
    assert not np.any(np.isnan(result[coverage >= 1]))  # nothing missing inside the union
    assert np.all(np.isnan(result[coverage == 0]))
    good = coverage >= 3
    assert good.sum() > 1000
    error = result[good] - truth[good]
    assert np.max(np.abs(error)) < 5 * noise
    assert abs(np.mean(error)) < 0.1 * noise
    assert np.std(error) < noise

    # the other sign mirrors the frames: the stars no longer line up
    wrong = imc.Combiner(place(frames, shifts)).combine("median")
    assert np.nanmax(np.abs(wrong - truth)) > 50 * noise


# ---------------------------------------------------------------- property test


def _reference(frames, offsets, fill, masks):
    """Per output element: the value of the frame that covers it, or ``fill``."""
    n, ndim = len(frames), frames[0].ndim
    lowest = [min(int(offsets[i][k]) for i in range(n)) for k in range(ndim)]
    starts = [[int(offsets[i][k]) - lowest[k] for k in range(ndim)] for i in range(n)]
    outer = [max(starts[i][k] + frames[i].shape[k] for i in range(n)) for k in range(ndim)]
    values = np.empty((n, *outer), dtype=np.float64)
    bad = np.empty((n, *outer), dtype=bool)
    for i in range(n):
        for index in itertools.product(*(range(s) for s in outer)):
            local = tuple(index[k] - starts[i][k] for k in range(ndim))
            inside = all(0 <= local[k] < frames[i].shape[k] for k in range(ndim))
            values[(i, *index)] = float(frames[i][local]) if inside else fill
            bad[(i, *index)] = bool(masks[i][local]) if inside and masks else not inside
    return values, bad


@st.composite
def placement_cases(draw):
    ndim = draw(st.integers(1, 3))
    n = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    frames, masks = [], []
    for _ in range(n):
        dtype = np.dtype(draw(st.sampled_from(ACCEPTED_DTYPES)))
        shape = tuple(draw(st.integers(0 if ndim > 1 else 1, 4)) for _ in range(ndim))
        frames.append(rng.integers(0, 200, size=shape).astype(dtype))
        masks.append(rng.random(shape) < 0.3)
    offsets = draw(
        st.lists(st.lists(st.integers(-6, 6), min_size=ndim, max_size=ndim), min_size=n, max_size=n)
    )
    base = draw(st.integers(-(2**40), 2**40))
    offsets = [[o + base for o in row] for row in offsets]
    fill = draw(st.sampled_from([np.nan, 0.0, -1.0, np.inf, 7.5]))
    use_masks = draw(st.booleans())
    return frames, offsets, fill, (masks if use_masks else None)


@given(placement_cases())
def test_matches_per_element_reference(case):
    frames, offsets, fill, masks = case
    copies = [f.copy() for f in frames]
    out = place(frames, offsets, fill, masks=masks)
    stack, mask = out if masks is not None else (out, None)
    values, bad = _reference(frames, offsets, fill, masks)
    wide = any(WORK[f.dtype.name] == np.float64 for f in frames)
    assert stack.dtype == (np.float64 if wide else np.float32)
    assert stack.shape == values.shape
    np.testing.assert_array_equal(stack, values.astype(stack.dtype))
    if masks is not None:
        assert mask.dtype == np.bool_
        np.testing.assert_array_equal(mask, bad)
    for f, c in zip(frames, copies, strict=True):
        np.testing.assert_array_equal(f, c)
        assert not np.shares_memory(stack, f)


# ---------------------------------------------------------------- docstring


def test_docstring_examples():
    globs = {"np": np, "imc": imc}
    result = doctest.testmod(
        imcombiners.placement, extraglobs=globs, optionflags=doctest.NORMALIZE_WHITESPACE
    )
    assert result.attempted > 0
    assert result.failed == 0


def test_exported():
    assert "place_into_padded" in imc.__all__
    assert imc.place_into_padded is imcombiners.placement.place_into_padded
