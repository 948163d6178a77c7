"""Adversarial attack on every public in-memory entry point (issue 13, "beyond the fixes").

Three parts:

1. Layouts. Hypothesis draws stacks (N = 1..6, 1-3 small spatial axes) of every accepted dtype
   in both byte orders and stores them oddly: C or Fortran order, negative strides, every other
   element of a bigger buffer, ``as_strided`` views with zero (broadcast) strides, and fields
   of packed record arrays (byte strides not a multiple of the item size, possibly at an odd
   address). Each entry point must give on the odd layout exactly what it gives on a
   contiguous native-order copy, and must leave its input (and the record buffer around it)
   untouched.
2. Limits. Every numeric parameter is swept over 0, -1, nan, +-inf, 2**63, 2**64, 2**70,
   1e300, None, "x" and 1j: each call succeeds with a result of the right shape or raises
   ValueError/TypeError naming the parameter; never OverflowError, SystemError, a Rust panic
   or a hang.
3. Child processes. A record-array field in a fresh interpreter; Ctrl-C latency of a long
   core call (KeyboardInterrupt within 0.5 s, process usable afterwards); thread pools bounded
   after ``set_num_threads(n)`` for n = 1..40.
"""

from __future__ import annotations

import faulthandler
import math
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.lib.stride_tricks import as_strided

import imcombiners as imc
import imcombiners.kernels as imck

pytestmark = pytest.mark.filterwarnings("ignore::imcombiners.ImcombinersWarning")

ATTACK_SETTINGS = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

DTYPES = ("uint8", "uint16", "int16", "int32", "float32", "float64")
LAYOUTS = (
    "C",
    "F",
    "reversed",
    "every_other",
    "broadcast",
    "record",
    "record_offset",
    "record_F",
)


# --------------------------------------------------------------------------------------------
# Part 1: odd layouts give the same results as a contiguous native copy; inputs unchanged
# --------------------------------------------------------------------------------------------


def _values(rng: np.random.Generator, shape: tuple[int, ...], dtype: str, style: int):
    """Native-order values of ``dtype``: ties, full range, or floats with NaN/inf."""
    dt = np.dtype(dtype)
    if dt.kind in "iu":
        info = np.iinfo(dt)
        if style == 0:  # many ties
            return rng.integers(0, 4, shape).astype(dt)
        return rng.integers(info.min, info.max, shape, endpoint=True).astype(dt)
    if style == 0:
        x = np.round(rng.normal(10.0, 3.0, shape))  # ties
    elif style == 1:
        x = rng.normal(100.0, 20.0, shape)
    else:  # wide dynamic range
        x = rng.normal(0.0, 1.0, shape) * 10.0 ** rng.integers(-30, 30, shape)
    x = x.astype(dt)
    u = rng.random(shape)
    x[u < 0.12] = np.nan
    x[(u >= 0.12) & (u < 0.17)] = np.inf
    x[(u >= 0.17) & (u < 0.21)] = -np.inf
    return x


def _layout(
    native: np.ndarray,
    dt: np.dtype,
    layout: str,
    flips: tuple[int, ...],
    rng: np.random.Generator,
    bcast: tuple[int, ...] = (),
) -> tuple[np.ndarray, np.ndarray]:
    """``(odd, buffer)``: ``odd`` holds ``native``'s values in dtype ``dt`` stored as ``layout``.

    ``buffer`` is the whole memory ``odd`` is a view of (checked unchanged after each call).
    For ``layout="broadcast"``, ``native`` must be constant along the axes ``bcast``.
    """
    shape = native.shape
    ndim = native.ndim
    flip = tuple(slice(None, None, -1) if ax in flips else slice(None) for ax in range(ndim))
    src = native[flip]  # stored flipped, viewed through `flip` again: negative strides
    if layout in ("C", "reversed"):
        buf = np.ascontiguousarray(src.astype(dt))
        odd = buf
    elif layout == "F":
        buf = np.asfortranarray(src.astype(dt))
        odd = buf
    elif layout == "every_other":
        buf = np.zeros(tuple(2 * s for s in shape), dtype=dt)
        odd = buf[(slice(None, None, 2),) * ndim]
        odd[...] = src
    elif layout == "broadcast":
        base_shape = tuple(1 if ax in bcast else s for ax, s in enumerate(shape))
        buf = np.ascontiguousarray(src[tuple(slice(0, b) for b in base_shape)].astype(dt))
        strides = tuple(0 if ax in bcast else buf.strides[ax] for ax in range(ndim))
        odd = as_strided(buf, shape=shape, strides=strides)
    elif layout.startswith("record"):
        # record_offset: the field starts at an odd address
        fields = [("f", "u1"), ("v", dt)] if layout == "record_offset" else [("v", dt), ("f", "u1")]
        order = "F" if layout == "record_F" else "C"
        buf = np.zeros(shape, dtype=fields, order=order)
        buf["f"] = rng.integers(0, 256, shape, dtype=np.uint8)
        odd = buf["v"]
        odd[...] = src
    else:  # pragma: no cover
        raise AssertionError(layout)
    return odd[flip], buf


@st.composite
def stacks(draw, dtypes=DTYPES):
    """``(odd, buffer, native_copy, description)`` of one adversarial stack."""
    n = draw(st.integers(1, 6))
    spatial = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    shape = (n, *spatial)
    dtype = draw(st.sampled_from(dtypes))
    order = draw(st.sampled_from("<>"))
    layout = draw(st.sampled_from(LAYOUTS))
    flips = tuple(draw(st.sets(st.integers(0, len(shape) - 1))))
    style = draw(st.integers(0, 2))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    native = _values(rng, shape, dtype, style)
    if layout == "reversed" and not flips:
        flips = (len(shape) - 1,)
    bcast: tuple[int, ...] = ()
    if layout == "broadcast":
        # make the values constant along a random non-empty set of axes
        bcast = tuple(draw(st.sets(st.integers(0, len(shape) - 1), min_size=1)))
        pick = tuple(slice(0, 1) if ax in bcast else slice(None) for ax in range(len(shape)))
        native = np.ascontiguousarray(np.broadcast_to(native[pick], shape))
        flips = tuple(f for f in flips if f not in bcast)
    dt = np.dtype(dtype).newbyteorder(order)
    odd, buf = _layout(native, dt, layout, flips, rng, bcast)
    np.testing.assert_array_equal(odd, native)  # the layout keeps the values
    desc = f"{dtype}{order} {layout} flips={flips} shape={shape} strides={odd.strides}"
    return odd, buf, np.ascontiguousarray(native.copy()), desc


def _as_tuple(result):
    if isinstance(result, np.ndarray):
        return (result,)
    if isinstance(result, tuple):
        return tuple(result)
    raise AssertionError(f"unexpected result type {type(result).__name__}")


def _reject_diagnostics(stack):
    cmb = imc.Combiner(stack).reject(imc.MinMaxClip(n_min=1, n_max=0))
    return (*cmb.last_reject, cmb.mask_rej, cmb.mask)


def _zero_scale(stack):
    try:
        return ("ok", *imc.resolve_zero_scale(stack, scale="median"))
    except ValueError:
        return ("ValueError",)


ENTRY_POINTS = {
    "median": imck.median,
    "mean": imck.mean,
    "sum": imck.sum,
    "lmedian": imck.lmedian,
    "minimum": imck.minimum,
    "maximum": imck.maximum,
    "variance": lambda s: imck.variance(s, ddof=1, return_mean=True),
    "sigclip_combine": lambda s: imck.sigclip_combine(s, "mean"),
    "sigclip_mask": imck.sigclip_mask,
    "Combiner.combine(median, SigClip)": lambda s: imc.Combiner(s).combine(
        "median", rejectors=imc.SigClip()
    ),
    "Combiner.reject(MinMaxClip) diagnostics": _reject_diagnostics,
    "ndcombine(mean, minmax)": lambda s: imc.ndcombine(s, combine="mean", reject="minmax"),
    "resolve_zero_scale(scale=median)": _zero_scale,
}


def _assert_same(got, want, desc):
    got, want = _as_tuple(got), _as_tuple(want)
    assert len(got) == len(want), desc
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if isinstance(w, str) or w is None or isinstance(g, str) or g is None:
            assert g == w, f"{desc}: item {i}: {g!r} != {w!r}"
            continue
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape, f"{desc}: item {i}: shape {g.shape} != {w.shape}"
        assert g.dtype.newbyteorder("=") == w.dtype.newbyteorder("="), (
            f"{desc}: item {i}: dtype {g.dtype} != {w.dtype}"
        )
        np.testing.assert_array_equal(g, w, err_msg=f"{desc}: item {i}")


def _snapshot(*arrays):
    return [np.array(a, copy=True) for a in arrays]


def _assert_unchanged(arrays, before, desc):
    for a, b in zip(arrays, before, strict=True):
        assert a.tobytes() == b.tobytes(), f"{desc}: the input was modified"


@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
@ATTACK_SETTINGS
@given(case=stacks())
def test_odd_layout_equals_contiguous_copy(entry, case):
    odd, buf, native, desc = case
    fn = ENTRY_POINTS[entry]
    before = _snapshot(odd, buf)
    want = fn(native)
    got = fn(odd)
    _assert_unchanged((odd, buf), before, f"{entry} on {desc}")
    _assert_same(got, want, f"{entry} on {desc}")


def _odd_mask(native_mask, layout, flips, rng):
    odd, buf = _layout(native_mask, np.dtype(bool), layout, flips, rng)
    return odd, buf


@ATTACK_SETTINGS
@given(
    case=stacks(),
    layout=st.sampled_from([x for x in LAYOUTS if x != "broadcast"]),
    flips=st.sets(st.integers(0, 3)),
    seed=st.integers(0, 2**32 - 1),
    method=st.sampled_from(["median", "mean", "lmedian", "sum", "variance"]),
)
def test_combiner_with_odd_layout_mask(case, layout, flips, seed, method):
    odd, buf, native, desc = case
    rng = np.random.default_rng(seed)
    mask = rng.random(native.shape) < 0.3
    flips = tuple(f for f in flips if f < mask.ndim)
    odd_mask, mask_buf = _odd_mask(mask, layout, flips, rng)
    np.testing.assert_array_equal(odd_mask, mask)
    desc = f"{desc}; mask {layout} flips={flips} strides={odd_mask.strides}"
    before = _snapshot(odd, buf, odd_mask, mask_buf)
    want = imc.Combiner(native, mask=mask.copy()).combine(method)
    got = imc.Combiner(odd, mask=odd_mask).combine(method)
    _assert_same(got, want, f"Combiner(mask=...).combine({method!r}) on {desc}")
    want = imc.Combiner(native, mask=mask.copy()).combine("median", rejectors=imc.SigClip())
    got = imc.Combiner(odd, mask=odd_mask).combine("median", rejectors=imc.SigClip())
    _assert_same(got, want, f"Combiner(mask=...).combine(median, SigClip) on {desc}")
    want = imck.mean(native, mask=mask.copy())
    got = imck.mean(odd, mask=odd_mask)
    _assert_same(got, want, f"imck.mean(mask=...) on {desc}")
    _assert_unchanged((odd, buf, odd_mask, mask_buf), before, desc)


def test_record_field_median_is_right():
    """The issue's own example: a packed record field must not be reinterpreted."""
    for order in "<>":
        rec = np.zeros((3, 2), [("v", f"{order}f4"), ("f", "u1")])
        rec["v"] = [[1, 5], [3, 6], [2, 7]]
        rec["f"] = 255
        before = rec.tobytes()
        np.testing.assert_array_equal(imck.median(rec["v"]), np.array([2, 6], "f4"))
        np.testing.assert_array_equal(
            imc.Combiner(rec["v"]).combine("mean"), np.array([2, 6], "f4")
        )
        assert rec.tobytes() == before


@pytest.mark.parametrize(
    "make",
    [
        lambda: np.zeros((1, 1), [("v", "<u2"), ("f", "u1")])["v"],
        lambda: np.zeros((1, 1, 1), [("f", "u1"), ("v", ">f4")])["v"],
        lambda: as_strided(np.arange(4.0, dtype="f4"), shape=(4, 1), strides=(4, 3)),
    ],
    ids=["record-1x1", "record-1x1x1-offset", "as_strided-size1-odd-stride"],
)
def test_contiguous_by_numpy_but_odd_stride_on_size_one_axis(make):
    """NumPy calls these C-contiguous (a size-1 axis's stride is ignored), so
    ``np.ascontiguousarray`` returns them unchanged; they must still be read correctly."""
    odd = make()
    native = np.ascontiguousarray(odd.astype(odd.dtype.newbyteorder("=")))
    for fn in (imck.median, imck.mean, lambda s: imc.Combiner(s).combine("median")):
        _assert_same(fn(odd), fn(native), f"strides {odd.strides}")


# --------------------------------------------------------------------------------------------
# Part 2: parameters at and beyond their limits
# --------------------------------------------------------------------------------------------

BAD_VALUES = [0, -1, math.nan, math.inf, -math.inf, 2**63, 2**64, 2**70, 1e300, None, "x", 1j]
FORBIDDEN = {"OverflowError", "SystemError", "PanicException"}

_rng = np.random.default_rng(13)
SWEEP_STACK = _rng.normal(100.0, 5.0, (7, 4, 5))
SWEEP_STACK[3, 1, 2] = 1e4
SWEEP_STACK[0, 0, 0] = np.nan
SWEEP_STACK_U16 = _rng.integers(0, 5, (6, 3, 4)).astype(">u2")


@pytest.fixture(autouse=False)
def watchdog():
    """A hang must not stall the suite: dump the stacks and exit after 120 s."""
    faulthandler.dump_traceback_later(120, exit=True)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def _check_outcome(call, param, *, check=None, max_seconds=10.0, must_succeed=False):
    """Run ``call``; it must succeed (then ``check(result)``) or raise a clear error.

    ``must_succeed``: the value is documented as valid, so no error is acceptable.
    """
    t0 = time.monotonic()
    error: BaseException | None = None
    try:
        result = call()
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # a PanicException derives from BaseException
        error = exc
    if error is not None:
        name = type(error).__name__
        if must_succeed:
            pytest.fail(f"{param}: a valid value was refused: {name}: {error}")
        if name in FORBIDDEN or not isinstance(error, ValueError | TypeError):
            pytest.fail(f"{param}: {name} (must be ValueError/TypeError): {error}")
        assert re.search(rf"\b{re.escape(param)}\b", str(error)), (
            f"{param}: {name} does not name the parameter: {error}"
        )
        return None
    elapsed = time.monotonic() - t0
    assert elapsed < max_seconds, f"{param}: took {elapsed:.1f} s"
    if check is not None:
        check(result)
    return result


RULE_PARAMS = [
    (imc.SigClip, "sigma"),
    (imc.SigClip, "maxiters"),
    (imc.SigClip, "ddof"),
    (imc.SigClip, "nkeep"),
    (imc.SigClip, "maxrej"),
    (imc.MinMaxClip, "n_min"),
    (imc.MinMaxClip, "n_max"),
    (imc.PClip, "frac"),
    (imc.PClip, "nkeep"),
    (imc.PClip, "sigma"),
    (imc.CcdClip, "gain"),
    (imc.CcdClip, "rdnoise"),
    (imc.CcdClip, "snoise"),
    (imc.LinearClip, "low"),
    (imc.LinearClip, "upp"),
]


#: (param, value) pairs that are valid and must be accepted (sigma=inf: no clipping on that side)
MUST_ACCEPT = {
    ("sigma", math.inf),
    ("sigma", 0),
    ("ddof", 0),
    ("nkeep", 0),
    ("maxrej", 0),
    ("n_min", 0),
    ("n_max", 0),
    ("rdnoise", 0),
    ("snoise", 0),
    ("low", 0),
    ("upp", 0),
    ("low", math.inf),
    ("upp", math.inf),
}


def _must_accept(param, value):
    return any(p == param and v == value and type(v) is type(value) for p, v in MUST_ACCEPT)


def _ids(value):
    return repr(value)


@pytest.mark.usefixtures("watchdog")
@pytest.mark.parametrize("value", BAD_VALUES, ids=_ids)
@pytest.mark.parametrize(("cls", "param"), RULE_PARAMS, ids=lambda x: getattr(x, "__name__", x))
def test_rule_parameter_limits(cls, param, value):
    valid = _must_accept(param, value)
    rule = _check_outcome(lambda: cls(**{param: value}), param, must_succeed=valid)
    if rule is None:
        return
    for stack in (SWEEP_STACK, SWEEP_STACK_U16):
        spatial = stack.shape[1:]

        def shape_is(expected):
            def check(result):
                assert np.shape(result) == expected, f"{param}={value!r}: shape {np.shape(result)}"

            return check

        _check_outcome(
            lambda s=stack: imc.Combiner(s).combine("mean", rejectors=rule),
            param,
            check=shape_is(spatial),
            must_succeed=valid,
        )
        _check_outcome(
            lambda s=stack: imc.Combiner(s).reject(rule).mask_rej,
            param,
            check=shape_is(stack.shape),
            must_succeed=valid,
        )
        kernel = getattr(imck, f"{cls.kind}_combine")
        _check_outcome(
            lambda s=stack, k=kernel: k(s, "median", **{param: value}),
            param,
            check=shape_is(spatial),
            must_succeed=valid,
        )


@pytest.mark.usefixtures("watchdog")
@pytest.mark.parametrize("value", BAD_VALUES, ids=_ids)
@pytest.mark.parametrize("form", ["scalar", "low", "high"])
def test_thresholds_limits(form, value):
    thresholds = {"scalar": value, "low": (value, math.inf), "high": (-math.inf, value)}[form]
    if value is None and form != "scalar":
        thresholds = (None, 1.0) if form == "low" else (1.0, None)

    def check(result):
        assert result.shape == SWEEP_STACK.shape[1:]

    _check_outcome(
        lambda: imc.Combiner(SWEEP_STACK).combine("mean", thresholds=thresholds),
        "thresholds",
        check=check,
    )
    _check_outcome(
        lambda: imc.Combiner(SWEEP_STACK).combine(
            "median", thresholds=thresholds, rejectors=imc.SigClip()
        ),
        "thresholds",
        check=check,
    )


def _assert_shape(result, shape):
    assert result.shape == shape


def _grown_everywhere(mask):
    """What any radius beyond the image gives: a frame with a set sample is all set."""
    frames = mask.reshape(mask.shape[0], -1).any(axis=1)
    return np.broadcast_to(frames.reshape((-1,) + (1,) * (mask.ndim - 1)), mask.shape)


@pytest.mark.usefixtures("watchdog")
@pytest.mark.parametrize("value", BAD_VALUES, ids=_ids)
def test_grow_limits(value):
    rule = imc.MinMaxClip(n_min=1, n_max=1)
    valid = value is None or (type(value) in (int, float) and value in (0, 1e300))

    def check_reject(cmb):
        assert cmb.mask_rej.shape == SWEEP_STACK.shape
        if isinstance(value, int | float) and value is not None and value >= 1e6:
            usable = np.isfinite(SWEEP_STACK)  # a missing sample is not "rejected"
            expected = _grown_everywhere(cmb.mask_rej)
            np.testing.assert_array_equal(cmb.mask_rej[usable], expected[usable])

    _check_outcome(
        lambda: imc.Combiner(SWEEP_STACK).reject(rule, grow=value),
        "grow",
        check=check_reject,
        max_seconds=5.0,
        must_succeed=valid,
    )
    _check_outcome(
        lambda: imc.Combiner(SWEEP_STACK).combine("mean", rejectors=rule, grow=value),
        "grow",
        check=lambda r: _assert_shape(r, SWEEP_STACK.shape[1:]),
        max_seconds=5.0,
        must_succeed=valid,
    )


@pytest.mark.usefixtures("watchdog")
@pytest.mark.parametrize("value", BAD_VALUES, ids=_ids)
@pytest.mark.parametrize("shape", [(3, 5, 6), (2, 3, 4, 5), (4, 7)], ids=str)
def test_grow_mask_limits(shape, value):
    rng = np.random.default_rng(len(shape))
    mask = rng.random(shape) < 0.1
    mask[-1] = False  # one frame with nothing to grow
    before = mask.copy()

    def check(grown):
        assert grown.shape == mask.shape
        assert grown.dtype == np.bool_
        assert np.all(grown[mask]), "grow_mask dropped a set sample"
        if value in (2**63, 2**64, 2**70, 1e300):
            np.testing.assert_array_equal(grown, _grown_everywhere(mask))

    valid = type(value) in (int, float) and value in (0, 1e300)
    _check_outcome(
        lambda: imck.grow_mask(mask, value),
        "radius",
        check=check,
        max_seconds=5.0,
        must_succeed=valid,
    )
    np.testing.assert_array_equal(mask, before)


@pytest.mark.usefixtures("watchdog")
@pytest.mark.parametrize("value", BAD_VALUES, ids=_ids)
def test_thread_count_limits(value):
    old = imc.get_num_threads()
    small = SWEEP_STACK[:, :2, :2]
    try:
        _check_outcome(lambda: imc.set_num_threads(value), "n")
        assert imck.median(small).shape == small.shape[1:]
    finally:
        imc.set_num_threads(old)
    assert imc.get_num_threads() == old

    def in_context():
        with imc.threads(value):
            return imck.median(small)

    def check(result):
        assert result.shape == small.shape[1:]

    _check_outcome(in_context, "n", check=check)
    assert imc.get_num_threads() == old


# --------------------------------------------------------------------------------------------
# Part 3: child processes
# --------------------------------------------------------------------------------------------


def _child(code: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_record_field_in_child_process():
    proc = _child(
        """
        import warnings
        import numpy as np
        import imcombiners as imc, imcombiners.kernels as imck
        warnings.simplefilter("ignore", imc.ImcombinersWarning)
        out = []
        for fields in ([("v", ">f4"), ("f", "u1")], [("f", "u1"), ("v", "<f8")],
                       [("v", "<u2"), ("f", "u1")], [("f", "u1"), ("v", ">i4")]):
            rec = np.zeros((3, 2), fields)
            rec["v"] = [[1, 5], [3, 6], [2, 7]]
            rec["f"] = 255
            out.append(imck.median(rec["v"]).tolist())
            out.append(imc.Combiner(rec["v"]).combine("median", rejectors=imc.SigClip()).tolist())
            out.append(imck.sigclip_combine(rec["v"], "mean").tolist())
        print(out)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert eval(proc.stdout.strip()) == [[2.0, 6.0]] * 12, proc.stdout


_INTERRUPT_CHILD = """
import sys, time
import numpy as np
from numpy.lib.stride_tricks import as_strided
import imcombiners as imc, imcombiners.kernels as imck

imc.set_num_threads(min(2, imc.get_num_threads()))
kind = sys.argv[1]
rng = np.random.default_rng(0)
N, W = 200, 4000
base = rng.normal(100.0, 5.0, (N, 1, W)).astype("float32")

def stack(rows):
    # rows share their samples (zero stride): a long call without gigabytes of input
    return as_strided(base, shape=(N, rows, W), strides=(base.strides[0], 0, base.strides[2]),
                      writeable=False)

def call(x):
    if kind == "median":
        return imck.median(x)
    return imck.sigclip_combine(x, "mean")

rows, t = 4, 0.0
while t < 0.3:
    rows *= 2
    t0 = time.monotonic(); call(stack(rows)); t = time.monotonic() - t0
rows = min(40000, int(rows * 6.0 / t) + 1)
print("plan", rows, round(t, 3), flush=True)
big = stack(rows)
print("start", flush=True)
t0 = time.monotonic()
try:
    call(big)
    print("finished", time.monotonic() - t0, flush=True)
except KeyboardInterrupt:
    print("caught", repr(time.monotonic()), flush=True)
small = imck.median(rng.normal(size=(5, 10, 10)))
assert small.shape == (10, 10) and np.isfinite(small).all()
out = imc.Combiner(rng.normal(size=(7, 20, 20))).combine("mean", rejectors=imc.SigClip())
assert out.shape == (20, 20)
print("ok", flush=True)
"""


@pytest.mark.parametrize("kind", ["median", "sigclip_combine"])
def test_ctrl_c_interrupts_long_core_call(kind):
    proc = subprocess.Popen(
        [sys.executable, "-c", _INTERRUPT_CHILD, kind],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        while True:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line.strip())
            if line.strip() == "start":
                break
        assert lines, proc.stderr.read()
        assert lines[-1] == "start", (lines, proc.stderr.read())
        time.sleep(1.0)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines += out.split()
    text = " ".join(lines)
    assert proc.returncode == 0, f"exit {proc.returncode}: {text}\n{err}"
    assert "finished" not in lines, f"the call was not interrupted: {text}"
    assert "caught" in lines, f"no KeyboardInterrupt: {text}\n{err}"
    caught = float(lines[lines.index("caught") + 1])
    latency = caught - sent
    assert latency <= 0.5, f"KeyboardInterrupt {latency:.2f} s after SIGINT ({text})"
    assert lines[-1] == "ok", text


def test_thread_pools_are_bounded():
    """The core keeps the default pool and the most recent other one, not one pool per n.

    Before the fix, ``set_num_threads(n)`` for n = 1..40 left 1 + 2 + ... + 40 = 820 pool
    threads alive. A dropped pool's threads exit asynchronously, so right after a switch an old
    pool may still be winding down: the peak is bounded by two other pools, the settled count
    by one.
    """
    proc = _child(
        """
        import os, time, warnings
        import numpy as np
        import imcombiners as imc, imcombiners.kernels as imck
        warnings.simplefilter("ignore", imc.ImcombinersWarning)
        cpus = os.cpu_count()
        bound = cpus + 40 + 10
        x = np.random.default_rng(0).normal(size=(9, 256, 256))
        def count():
            return len(os.listdir("/proc/self/task"))
        def settled():
            deadline = time.monotonic() + 3.0
            while count() > bound and time.monotonic() < deadline:
                time.sleep(0.01)
            return count()
        first = count()
        imck.median(x)
        peak = steady = 0
        for n in range(1, 41):
            imc.set_num_threads(n)
            imck.median(x)
            peak = max(peak, count())
            imc.Combiner(x).combine("mean", rejectors=imc.SigClip())
            peak = max(peak, count())
            steady = max(steady, settled())
        for n in range(1, 41):
            with imc.threads(n):
                imck.sigclip_combine(x, "mean")
            peak = max(peak, count())
            steady = max(steady, settled())
        print(first, peak, steady, count(), cpus)
        """
    )
    assert proc.returncode == 0, proc.stderr
    first, peak, steady, last, cpus = map(int, proc.stdout.split())
    detail = f"at start {first}, peak {peak}, settled max {steady}, at end {last}, cpus {cpus}"
    # the default pool (cpus) + the most recent other pool (<= 40) + main thread and a few
    assert steady <= cpus + 40 + 10, detail
    assert last <= cpus + 40 + 10, detail
    # plus at most one more pool (<= 40 threads) still shutting down right after a switch
    assert peak <= cpus + 2 * 40 + 10, detail
