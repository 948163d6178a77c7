"""Property tests: every combine method, through every entry point, against the oracle.

For each method the three entry points (``imc.kernels``, ``imc.Combiner``,
``imc.ndcombine``) must give identical numbers, agree with ``reference`` to
within rounding to the output dtype, put NaN exactly where the oracle does,
return the contract's dtype, and leave every input untouched.
"""

import warnings

import numpy as np
import pytest
import reference
import strategies
from hypothesis import given, note
from hypothesis import strategies as st

import imcombiners as imc

ENTRIES = ("kernels", "Combiner", "ndcombine")
F32_RTOL = 2 * float(np.finfo(np.float32).eps)  # 2 float32 ulp
F64_RTOL = 1e-12


# ---------------------------------------------------------------- assertions


def assert_matches_reference(got, want, dtype, err_msg):
    """``got`` has ``dtype``, NaN exactly where ``want`` has, and the values of ``want``.

    ``want`` is the float64 oracle. Integer outputs (lmedian/min/max) must be exact;
    float outputs may differ by the rounding to ``dtype`` (a few ulp of float32, or
    ~1e-12 relative for float64, which allows a different summation order).
    """
    assert isinstance(got, np.ndarray), f"{err_msg}: got {type(got).__name__}"
    assert got.dtype == dtype, f"{err_msg}: dtype {got.dtype}, expected {dtype}"
    assert got.shape == want.shape, f"{err_msg}: shape {got.shape}, expected {want.shape}"
    got64 = got.astype(np.float64)
    np.testing.assert_array_equal(
        np.isnan(got64), np.isnan(want), err_msg=f"{err_msg}: NaN positions differ"
    )
    if dtype.kind in "iu":
        np.testing.assert_array_equal(got64, want, err_msg=f"{err_msg}: integer output")
        return
    rtol = F32_RTOL if dtype == np.float32 else F64_RTOL
    np.testing.assert_allclose(got64, want, rtol=rtol, atol=0, equal_nan=True, err_msg=err_msg)


def assert_identical(a, b, err_msg):
    """Same numbers (NaN equal); compared as float64 when one side keeps an integer dtype."""
    if a.dtype != b.dtype:
        a, b = a.astype(np.float64), b.astype(np.float64)
    np.testing.assert_array_equal(a, b, err_msg=err_msg, strict=True)


class Snapshot:
    """Copies of the inputs, to prove afterwards that nothing was modified."""

    def __init__(self, *arrays):
        self.arrays = arrays
        self.copies = [None if a is None else np.array(a, copy=True) for a in arrays]
        self.meta = [None if a is None else (a.dtype, a.strides, a.flags.writeable) for a in arrays]

    def check(self, err_msg):
        for a, copy, meta in zip(self.arrays, self.copies, self.meta, strict=True):
            if a is None:
                continue
            assert (a.dtype, a.strides, a.flags.writeable) == meta, f"{err_msg}: input metadata"
            np.testing.assert_array_equal(a, copy, err_msg=f"{err_msg}: input modified")


def _extras(method, data, n):
    weights = (
        data.draw(strategies.weights(n), label="weights") if method == "weighted_average" else None
    )
    ddof = data.draw(st.integers(0, 3), label="ddof") if method == "variance" else None
    return weights, ddof


# ---------------------------------------------------------------- properties


@pytest.mark.parametrize("method", reference.METHODS)
@given(data=st.data())
def test_entry_points_agree_with_reference(method, data, combine_via):
    case = data.draw(strategies.stack_cases(), label="case")
    stack, mask = case.stack, case.mask
    weights, ddof = _extras(method, data, stack.shape[0])
    note(case.describe())
    snapshot = Snapshot(stack, mask, weights)

    want = reference.combine(method, stack, mask, weights=weights, ddof=ddof or 0)
    got = {
        entry: combine_via(entry, method, stack, mask, weights=weights, ddof=ddof)
        for entry in ENTRIES
    }
    for entry, out in got.items():
        err = f"{entry} {method} ddof={ddof} weights={weights} {case.describe()}"
        dtype = reference.expected_dtype(stack.dtype, method, entry=entry, masked=mask is not None)
        assert_matches_reference(out, want, dtype, err)
        assert_identical(out, got["kernels"], f"{entry} vs kernels: {err}")
    snapshot.check(f"{method} {case.describe()}")


@pytest.mark.parametrize("ddof", [0, 1, 2])
@given(case=strategies.stack_cases())
def test_variance_return_mean(case, ddof):
    stack, mask = case.stack, case.mask
    snapshot = Snapshot(stack, mask)
    want_var, want_mean = reference.variance(stack, ddof=ddof, return_mean=True, mask=mask)
    dtype = reference.work_dtype(stack.dtype)
    err = f"ddof={ddof} {case.describe()}"

    k_var, k_mean = imc.kernels.variance(stack, ddof, True, mask=mask)
    c_var, c_mean = imc.Combiner(stack, mask=mask).variance(ddof=ddof, return_mean=True)
    plain = imc.kernels.variance(stack, ddof=ddof, mask=mask)
    for label, var, mean in (("kernels", k_var, k_mean), ("Combiner", c_var, c_mean)):
        assert_matches_reference(var, want_var, dtype, f"{label} variance {err}")
        assert_matches_reference(mean, want_mean, dtype, f"{label} mean {err}")
        assert_identical(var, plain, f"{label} variance vs return_mean=False: {err}")
        # mean = sum / n: with exact (integer-valued) sums it is the mean kernel's number
        assert_identical(mean, imc.kernels.mean(stack, mask=mask), f"{label} mean: {err}")
    snapshot.check(err)


@pytest.mark.parametrize("ddof", [0, 1])
@given(case=strategies.stack_cases())
def test_variance_matches_numpy_nanvar(case, ddof):
    stack, mask = case.stack, case.mask
    filled = reference.nan_filled(stack, mask)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices, ddof >= n
        want = np.nanvar(filled, axis=0, ddof=ddof)
    dtype = reference.work_dtype(stack.dtype)
    for entry in ENTRIES:
        if entry == "kernels":
            got = imc.kernels.variance(stack, ddof=ddof, mask=mask)
        elif entry == "Combiner":
            got = imc.Combiner(stack, mask=mask).combine("variance", ddof=ddof)
        else:
            got = imc.ndcombine(stack, combine="variance", mask=mask, ddof=ddof)
        assert_matches_reference(got, want, dtype, f"{entry} ddof={ddof} {case.describe()}")


# ---------------------------------------------------------------- names


_ALIAS_CASES = [
    (alias, name)
    for name, aliases in reference.ALIASES.items()
    for alias in (*aliases, name.upper(), name.title(), *(a.upper() for a in aliases))
]


@pytest.mark.parametrize(("alias", "name"), _ALIAS_CASES)
@pytest.mark.parametrize("entry", ["Combiner", "ndcombine"])
def test_method_aliases_and_case(alias, name, entry, combine_via):
    rng = np.random.default_rng(7)
    stack = rng.integers(0, 50, size=(6, 4, 5)).astype(np.float32)
    stack[rng.random(stack.shape) < 0.2] = np.nan
    mask = rng.random(stack.shape) < 0.2
    weights = np.array([1.0, 2.0, 0.0, 0.5, 3.0, 1.0]) if name == "weighted_average" else None
    ddof = 1 if name == "variance" else None
    want = combine_via(entry, name, stack, mask, weights=weights, ddof=ddof)
    got = combine_via(entry, alias, stack, mask, weights=weights, ddof=ddof)
    np.testing.assert_array_equal(got, want, strict=True, err_msg=f"{entry} {alias!r}")


# ---------------------------------------------------------------- precision


def assert_float64_accumulated(got, stack64, err_msg):
    """``got`` is the float64 result rounded once to float32.

    At most 1 float32 ulp anywhere (the double rounding float64 -> float32 can
    only rarely differ from one exact rounding) and exact on >= 99.9% of pixels.
    """
    want = stack64.astype(np.float32)
    assert got.dtype == np.float32, err_msg
    np.testing.assert_array_max_ulp(got, want, maxulp=1)
    exact = np.mean(got == want)
    assert exact >= 0.999, f"{err_msg}: only {exact:.1%} of pixels exactly rounded"


@pytest.fixture(scope="module")
def stack_near_1e4():
    rng = np.random.default_rng(20250311)
    return (1e4 + rng.normal(0.0, 1.0, size=(100, 40, 40))).astype(np.float32)


def test_float32_stack_accumulates_in_float64(stack_near_1e4):
    stack = stack_near_1e4
    x = stack.astype(np.float64)
    n = stack.shape[0]
    want_sum = x.sum(axis=0)  # exact: 100 float32 values near 1e4 fit in 53 bits
    want_mean = want_sum / n
    want_var = ((x - want_mean) ** 2).sum(axis=0) / n
    for entry in ENTRIES:
        for method, want in (("mean", want_mean), ("sum", want_sum)):
            if entry == "kernels":
                got = getattr(imc.kernels, method)(stack)
            elif entry == "Combiner":
                got = imc.Combiner(stack).combine(method)
            else:
                got = imc.ndcombine(stack, combine=method)
            assert_float64_accumulated(got, want, f"{entry} {method}")
    assert_float64_accumulated(imc.kernels.variance(stack), want_var, "kernels variance")


def test_float32_accumulation_would_be_detected(stack_near_1e4):
    """The check above rejects float32 accumulation, naive or pairwise."""
    stack = stack_near_1e4
    want = stack.astype(np.float64).mean(axis=0)
    naive = np.zeros(stack.shape[1:], dtype=np.float32)
    for frame in stack:
        naive += frame
    naive /= np.float32(stack.shape[0])
    pairwise = np.ascontiguousarray(np.moveaxis(stack, 0, -1)).mean(axis=-1)
    for label, float32_mean in (
        ("np.mean", stack.mean(axis=0)),
        ("naive", naive),
        ("pairwise", pairwise),
    ):
        assert float32_mean.dtype == np.float32
        with pytest.raises(AssertionError):
            assert_float64_accumulated(float32_mean, want, label)


# ---------------------------------------------------------------- threads


@pytest.mark.parametrize("method", reference.METHODS)
def test_results_do_not_depend_on_thread_count(method, combine_via):
    rng = np.random.default_rng(3)
    stack = rng.normal(100.0, 10.0, size=(9, 257, 263)).astype(np.float32)
    stack[rng.random(stack.shape) < 0.05] = np.nan
    mask = rng.random(stack.shape) < 0.05
    weights = rng.random(9) if method == "weighted_average" else None
    ddof = 1 if method == "variance" else None
    results = []
    for n in (1, 2, 4):
        with imc.threads(n):
            results.append(combine_via("kernels", method, stack, mask, weights=weights, ddof=ddof))
    for out in results[1:]:
        np.testing.assert_array_equal(out, results[0], strict=True)


# ---------------------------------------------------------------- several tiles


def _multi_tile_case(dtype, shape, seed):
    rng = np.random.default_rng(seed)
    stack = rng.integers(0, 30, size=shape).astype(dtype)
    if stack.dtype.kind == "f":
        stack[rng.random(shape) < 0.1] = np.nan
        stack[rng.random(shape) < 0.02] = -np.inf
    mask = rng.random(shape) < 0.1
    mask[:, -1] = True  # all-masked pixels at the far end
    return stack, mask


MULTI_TILE_CASES = {
    # > 2048 pixels: several streaming tiles, the last one partial
    "f32-3x45x50": ("float32", (3, 45, 50)),
    # N > 128: selection instead of sorting networks, 16-pixel median tiles
    "i16-600x5x8": ("int16", (600, 5, 8)),
    # N at and just past the largest sorting network
    "f64-128x40": ("float64", (128, 40)),
    "u8-129x3x13": ("uint8", (129, 3, 13)),
    "i32-300x2x3x7": ("int32", (300, 2, 3, 7)),
}


@pytest.mark.parametrize("masked", [False, True], ids=["nomask", "mask"])
@pytest.mark.parametrize("case", list(MULTI_TILE_CASES))
@pytest.mark.parametrize("method", reference.METHODS)
def test_multi_tile_stacks_match_reference(method, case, masked, combine_via):
    dtype, shape = MULTI_TILE_CASES[case]
    stack, mask = _multi_tile_case(dtype, shape, seed=len(shape))
    mask = mask if masked else None
    weights = np.arange(shape[0]) % 4 * 0.5 if method == "weighted_average" else None
    ddof = 1 if method == "variance" else None
    want = reference.combine(method, stack, mask, weights=weights, ddof=ddof or 0)
    for entry in ENTRIES:
        got = combine_via(entry, method, stack, mask, weights=weights, ddof=ddof)
        dtype_out = reference.expected_dtype(dtype, method, entry=entry, masked=masked)
        assert_matches_reference(got, want, dtype_out, f"{entry} {method} {case}")


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.uint16, np.int16, np.float64])
def test_complete_medians_match_reference_at_every_depth(dtype):
    """Stacks without missing samples take the median networks (in vector registers for
    16- and 32-bit keys up to depth 25 with AVX-512): every depth, rows of whole and partial
    vector groups, many ties, negative values."""
    rng = np.random.default_rng(int(np.dtype(dtype).num))
    for n in range(1, 30):
        stack = rng.integers(-40, 40, (n, 3, 1000))
        if np.dtype(dtype).kind == "u":
            stack += 40
        if np.dtype(dtype).kind == "f":
            stack = stack * 0.37
        stack = stack.astype(dtype)
        for method, ref in (("median", reference.median), ("lmedian", reference.lmedian)):
            got = getattr(imc.kernels, method)(stack)
            want = ref(stack)
            np.testing.assert_array_equal(got, want.astype(got.dtype), err_msg=f"{method} n={n}")
