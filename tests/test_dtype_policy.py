"""The dtype policy of the contract: accepted dtypes, output dtypes, rejected dtypes.

Accepted: uint8, uint16, int16, int32, float32, float64. Output: float32 for
uint8/uint16/int16/float32, float64 for int32/float64; lmedian/min/max of an
integer stack keep its dtype in the kernels (no mask) and in a bare
``ndcombine``. Everything else is a TypeError naming the dtype and the cast.
"""

import numpy as np
import pytest
import reference

import imcombiners as imc

ENTRIES = ("kernels", "Combiner", "ndcombine")
SHAPE = (5, 3, 4)


def make_stack(dtype, shape=SHAPE, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 100, size=shape).astype(dtype)


def _extras(method, n):
    weights = np.linspace(0.5, 2.0, n) if method == "weighted_average" else None
    ddof = 1 if method == "variance" else None
    return weights, ddof


@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("method", reference.METHODS)
@pytest.mark.parametrize("dtype", reference.ACCEPTED_DTYPES)
def test_output_dtype(dtype, method, entry, masked, combine_via):
    stack = make_stack(dtype)
    mask = np.zeros(stack.shape, dtype=bool) if masked else None
    if masked:
        mask[0] = True
    weights, ddof = _extras(method, stack.shape[0])
    got = combine_via(entry, method, stack, mask, weights=weights, ddof=ddof)
    want = reference.expected_dtype(dtype, method, entry=entry, masked=masked)
    assert isinstance(got, np.ndarray)
    assert got.dtype == want, f"{entry} {method} {dtype} masked={masked}: got {got.dtype}"
    assert got.shape == SHAPE[1:]


@pytest.mark.parametrize("dtype", reference.ACCEPTED_DTYPES)
def test_variance_return_mean_dtype(dtype):
    stack = make_stack(dtype)
    want = reference.work_dtype(dtype)
    for var, mean in (
        imc.kernels.variance(stack, return_mean=True),
        imc.Combiner(stack).variance(return_mean=True),
    ):
        assert (var.dtype, mean.dtype) == (want, want)


INTEGER_DTYPES = ("uint8", "uint16", "int16", "int32")
KEEPERS = {"lmedian": imc.kernels.lmedian, "min": imc.kernels.minimum, "max": imc.kernels.maximum}


@pytest.mark.parametrize("method", list(KEEPERS))
@pytest.mark.parametrize("dtype", INTEGER_DTYPES)
def test_integer_selection_keeps_integer_dtype(dtype, method):
    info = np.iinfo(dtype)
    # extreme values: a detour through float32 would change the int32 ones
    stack = np.array(
        [[info.min, info.max, 1, info.max - 1], [info.max, info.min, 0, info.max - 3]] * 2
        + [[info.min + 1, info.max - 2, 2, info.max]],
        dtype=dtype,
    ).reshape(5, 2, 2)
    want = reference.combine(method, stack)
    bare = {
        "kernels": KEEPERS[method](stack),
        "ndcombine": imc.ndcombine(stack, combine=method),
    }
    for label, got in bare.items():
        assert got.dtype == np.dtype(dtype), f"{label} {method} {dtype}: {got.dtype}"
        np.testing.assert_array_equal(got, want.astype(dtype), strict=True)

    work = reference.work_dtype(dtype)
    mask = np.zeros(stack.shape, dtype=bool)
    mask[1] = True
    want_masked = reference.combine(method, stack, mask)
    floats = {
        "Combiner": imc.Combiner(stack).combine(method),
        "Combiner+mask": imc.Combiner(stack, mask=mask).combine(method),
        "kernels+mask": KEEPERS[method](stack, mask=mask),
        "ndcombine+mask": imc.ndcombine(stack, combine=method, mask=mask),
    }
    for label, got in floats.items():
        assert got.dtype == work, f"{label} {method} {dtype}: {got.dtype}"
    np.testing.assert_array_equal(floats["Combiner"], want.astype(work), strict=True)
    np.testing.assert_array_equal(floats["kernels+mask"], want_masked.astype(work), strict=True)


# ---------------------------------------------------------------- rejected dtypes


def _rejected(dtype):
    dtype = np.dtype(dtype)
    if dtype.kind == "O":
        stack = np.empty(SHAPE, dtype=object)
        stack[...] = 1.0
        return stack
    return np.ones(SHAPE, dtype=dtype)


REJECTED = (
    "int64",
    "uint64",
    "int8",
    "uint32",
    "float16",
    "longdouble",
    "complex64",
    "complex128",
    "bool",
    "object",
)

CALLS = {
    "kernels.mean": lambda s: imc.kernels.mean(s),
    "kernels.median": lambda s: imc.kernels.median(s),
    "kernels.minimum": lambda s: imc.kernels.minimum(s),
    "kernels.variance": lambda s: imc.kernels.variance(s),
    "kernels.weighted_average": lambda s: imc.kernels.weighted_average(s, np.ones(s.shape[0])),
    "Combiner.combine": lambda s: imc.Combiner(s).combine("mean"),
    "Combiner.combine(min)": lambda s: imc.Combiner(s).combine("min"),
    "ndcombine": lambda s: imc.ndcombine(s, combine="median"),
    "ndcombine(max)": lambda s: imc.ndcombine(s, combine="max"),
}


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("dtype", REJECTED)
def test_rejected_dtype_names_dtype_and_cast(dtype, call):
    stack = _rejected(dtype)
    before = stack.copy()
    name = np.dtype(dtype).name  # "float128" for longdouble on x86-64 Linux
    names = "float128|longdouble" if dtype == "longdouble" else name
    with pytest.raises(TypeError) as excinfo:
        CALLS[call](stack)
    message = str(excinfo.value)
    assert any(n in message for n in names.split("|")), f"{call} {dtype}: {message!r}"
    assert "astype" in message, f"{call} {dtype}: {message!r}"
    np.testing.assert_array_equal(stack, before)


def test_int8_message_suggests_int16():
    with pytest.raises(TypeError, match="int16"):
        imc.kernels.mean(np.ones(SHAPE, dtype=np.int8))


@pytest.mark.parametrize("dtype", ["<U3", "S3"])
def test_string_stacks_are_rejected(dtype):
    stack = np.full(SHAPE, "1", dtype=dtype)
    for call in CALLS.values():
        with pytest.raises(TypeError):
            call(stack)
