"""Bad input gets a clear ValueError/TypeError naming the argument, never a crash.

Kernels call the stack ``arr``; ``Combiner`` and ``ndcombine`` call it ``stack``.
"""

import numpy as np
import pytest
import reference

import imcombiners as imc

SHAPE = (4, 3, 5)


def _stack(shape=SHAPE, dtype=np.float32):
    return np.arange(np.prod(shape), dtype=dtype).reshape(shape)


# One call per entry point and method family; each takes (stack, mask).
KERNEL_CALLS = {
    "kernels.mean": lambda s, m=None: imc.kernels.mean(s, mask=m),
    "kernels.median": lambda s, m=None: imc.kernels.median(s, mask=m),
    "kernels.lmedian": lambda s, m=None: imc.kernels.lmedian(s, mask=m),
    "kernels.sum": lambda s, m=None: imc.kernels.sum(s, mask=m),
    "kernels.minimum": lambda s, m=None: imc.kernels.minimum(s, mask=m),
    "kernels.maximum": lambda s, m=None: imc.kernels.maximum(s, mask=m),
    "kernels.variance": lambda s, m=None: imc.kernels.variance(s, mask=m),
    "kernels.weighted_average": lambda s, m=None: imc.kernels.weighted_average(
        s, np.ones(len(s) if np.ndim(s) else 1), mask=m
    ),
}
STACK_CALLS = {
    "Combiner.combine": lambda s, m=None: imc.Combiner(s, mask=m).combine("mean"),
    "Combiner.combine(median)": lambda s, m=None: imc.Combiner(s, mask=m).combine("median"),
    "Combiner.variance": lambda s, m=None: imc.Combiner(s, mask=m).variance(),
    "ndcombine": lambda s, m=None: imc.ndcombine(s, mask=m),
    "ndcombine(max)": lambda s, m=None: imc.ndcombine(s, combine="max", mask=m),
}
ALL_CALLS = {**KERNEL_CALLS, **STACK_CALLS}


def _arg_name(call):
    return "arr" if call.startswith("kernels.") else "stack"


# ---------------------------------------------------------------- the stack


@pytest.mark.parametrize(
    "bad",
    [
        np.array(1.0, dtype=np.float32),
        np.arange(5, dtype=np.float32),
        np.zeros((0, 3, 4), dtype=np.float32),
        np.zeros((0, 3), dtype=np.float64),
    ],
    ids=["0d", "1d", "N=0", "N=0-2d"],
)
@pytest.mark.parametrize("call", list(ALL_CALLS))
def test_bad_stack_shape(call, bad):
    with pytest.raises(ValueError, match=rf"\b{_arg_name(call)}\b"):
        ALL_CALLS[call](bad)


@pytest.mark.parametrize("call", list(ALL_CALLS))
def test_single_frame_is_fine(call):
    """N == 1 is a valid stack (the edge of the N == 0 error)."""
    out = ALL_CALLS[call](_stack((1, 3, 5)))
    assert out.shape == (3, 5)


# ---------------------------------------------------------------- mask


@pytest.mark.parametrize(
    "mask_shape",
    [(3, 5), (4, 3, 6), (5, 3, 5), (4, 15), (1, 3, 5), (4, 3, 5, 1)],
    ids=["spatial-only", "wrong-x", "wrong-N", "flattened", "broadcastable-N", "extra-axis"],
)
@pytest.mark.parametrize("call", list(ALL_CALLS))
def test_mask_of_wrong_shape(call, mask_shape):
    mask = np.zeros(mask_shape, dtype=bool)
    with pytest.raises(ValueError, match=r"\bmask\b"):
        ALL_CALLS[call](_stack(), mask)


# ---------------------------------------------------------------- weights

WEIGHT_CALLS = {
    "kernels": lambda s, w: imc.kernels.weighted_average(s, w),
    "Combiner": lambda s, w: imc.Combiner(s).combine("weighted_average", weights=w),
    "Combiner(wvg)": lambda s, w: imc.Combiner(s).combine("wvg", weights=w),
    "ndcombine": lambda s, w: imc.ndcombine(s, combine="weighted_average", weights=w),
}
BAD_WEIGHTS = {
    "too-short": np.ones(3),
    "too-long": np.ones(5),
    "empty": np.ones(0),
    "2d": np.ones((4, 1)),
    "per-pixel": np.ones(SHAPE),
    "scalar": np.float64(1.0),
    "nan": np.array([1.0, np.nan, 1.0, 1.0]),
    "inf": np.array([1.0, np.inf, 1.0, 1.0]),
    "-inf": np.array([1.0, 1.0, 1.0, -np.inf]),
    "negative": np.array([1.0, 2.0, -0.5, 1.0]),
}


@pytest.mark.parametrize("weights", list(BAD_WEIGHTS))
@pytest.mark.parametrize("call", list(WEIGHT_CALLS))
def test_bad_weights(call, weights):
    w = BAD_WEIGHTS[weights]
    before = np.array(w, copy=True)
    with pytest.raises(ValueError, match=r"\bweights\b"):
        WEIGHT_CALLS[call](_stack(), w)
    np.testing.assert_array_equal(w, before)


# ---------------------------------------------------------------- method names


@pytest.mark.parametrize("name", ["mode", "", "averages", "minimum", "clip"])
@pytest.mark.parametrize("entry", ["Combiner", "ndcombine"])
def test_unknown_method_lists_valid_names(entry, name):
    call = {
        "Combiner": lambda: imc.Combiner(_stack()).combine(name),
        "ndcombine": lambda: imc.ndcombine(_stack(), combine=name),
    }[entry]
    with pytest.raises(ValueError, match=r"\b(combine|method)\b") as excinfo:
        call()
    message = str(excinfo.value)
    missing = [m for m in reference.METHODS if m not in message]
    assert not missing, f"valid names {missing} not listed in {message!r}"


# ---------------------------------------------------------------- ddof

DDOF_CALLS = {
    "kernels.variance": lambda s, d: imc.kernels.variance(s, ddof=d),
    "kernels.variance(return_mean)": lambda s, d: imc.kernels.variance(s, d, True),
    "Combiner.combine": lambda s, d: imc.Combiner(s).combine("variance", ddof=d),
    "Combiner.variance": lambda s, d: imc.Combiner(s).variance(ddof=d),
    "ndcombine": lambda s, d: imc.ndcombine(s, combine="var", ddof=d),
}


@pytest.mark.parametrize("ddof", [-1, -100])
@pytest.mark.parametrize("call", list(DDOF_CALLS))
def test_negative_ddof(call, ddof):
    with pytest.raises(ValueError, match=r"\bddof\b"):
        DDOF_CALLS[call](_stack(), ddof)


@pytest.mark.parametrize("ddof", [1.5, "1", None, [1]], ids=["1.5", "str", "None", "list"])
@pytest.mark.parametrize("call", list(DDOF_CALLS))
def test_non_integer_ddof(call, ddof):
    with pytest.raises((TypeError, ValueError), match=r"\bddof\b"):
        DDOF_CALLS[call](_stack(), ddof)


@pytest.mark.parametrize("ddof", [np.int64(1), np.int32(2), 7])
@pytest.mark.parametrize("call", list(DDOF_CALLS))
def test_integer_ddof_is_accepted(call, ddof):
    """NumPy integers are integers; ddof >= N is allowed and gives NaN."""
    out = DDOF_CALLS[call](_stack(), ddof)
    var = out[0] if isinstance(out, tuple) else out
    want = reference.variance(_stack(), ddof=int(ddof))
    np.testing.assert_allclose(var, want, rtol=1e-6, equal_nan=True)


@pytest.mark.parametrize("ddof", [-1, 1.5])
@pytest.mark.parametrize("method", ["mean", "median"])
@pytest.mark.parametrize("entry", ["Combiner", "ndcombine"])
def test_invalid_ddof_is_rejected_whatever_the_method(entry, method, ddof):
    """The contract's ddof rule has no exception for methods that do not use ddof."""
    stack = _stack()
    weights = np.ones(len(stack)) if method == "weighted_average" else None
    call = {
        "Combiner": lambda: imc.Combiner(stack).combine(method, weights=weights, ddof=ddof),
        "ndcombine": lambda: imc.ndcombine(stack, combine=method, weights=weights, ddof=ddof),
    }[entry]
    with pytest.raises((TypeError, ValueError), match=r"\bddof\b"):
        call()
