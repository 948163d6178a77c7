"""imc.iraf.imcombine never crashes, hangs or leaks an OverflowError (issue 13, items 8-11).

* grow: non-finite or negative radii are refused; huge radii cost no more than one just past
  the image diagonal, and give the same result (item 8).
* FITS inputs shrunk by another process before or during the run give a ValueError naming the
  file, never a bus error (items 9 and 11). These run in child processes: a crash would kill
  the test process.
* Every numeric parameter at 0, -1, NaN, inf, 2**63, 2**64 and 2**70 gives a result or a
  ValueError/TypeError naming the parameter (items 10 and 11).

No IRAF needed.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from astropy.io import fits

import imcombiners as imc
from imcombiners.iraf import _params

STACK = np.random.default_rng(13).normal(100.0, 5.0, (5, 6, 7)).astype(np.float32)
STACK[2, 3, 4] = 1000.0  # one clear outlier, so that sigclip rejects and grow grows
STACK[4, 0, 6] = -500.0

CHILD_TIMEOUT = 60


def _child(code: str) -> subprocess.CompletedProcess:
    """Runs ``code`` in a fresh interpreter (a crash or hang cannot stall this process)."""
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
    )


# --- item 8: grow ------------------------------------------------------------------------


@pytest.mark.parametrize("grow", [math.inf, -math.inf, math.nan, -1.0, -1e-9])
def test_grow_must_be_finite_and_not_negative(grow):
    with pytest.raises(ValueError, match=r"grow=.* must be a number >= 0 \(finite\)"):
        imc.iraf.imcombine(STACK, reject="sigclip", grow=grow)


def test_huge_grow_finishes_quickly():
    # Before the fix, grow=1e6 looped over a 1e6-pixel disc per rejected pixel (hours), and
    # 1e300 (infinite in float32) never ended.
    code = """
        import time
        import numpy as np
        import imcombiners as imc

        stack = np.random.default_rng(1).normal(100.0, 5.0, (15, 40, 50)).astype(np.float32)
        stack[:, ::7, ::9] += 400.0 * (np.arange(15) == 3)[:, None, None]
        times = []
        for grow in (1e6, 1e300, 3.4e38, 2.0**70):
            t = time.perf_counter()
            got = imc.iraf.imcombine(stack, reject="sigclip", grow=grow, products=("rejmask",))
            times.append(time.perf_counter() - t)
            assert got.rejmask[3].all()  # the disc covers image 3
        print(max(times))
    """
    try:
        done = _child(code)
    except subprocess.TimeoutExpired:
        pytest.fail(f"imcombine with a huge grow did not finish in {CHILD_TIMEOUT} s")
    assert done.returncode == 0, done.stderr
    assert float(done.stdout.split()[-1]) < 2.0


@pytest.mark.parametrize("shape", [(6, 7), (1, 9), (23,), (12, 1)])
def test_huge_grow_equals_a_radius_just_past_the_diagonal(shape):
    rng = np.random.default_rng(5)
    stack = rng.normal(100.0, 5.0, (6, *shape)).astype(np.float32)
    flat = stack.reshape(6, -1)
    flat[1, 0] = 900.0  # outliers in two images, at opposite corners
    flat[4, -1] = -900.0
    diagonal = math.hypot(*[n - 1 for n in shape])
    products = ("rejmask", "sigma", "nrejmask")
    kwargs = dict(reject="sigclip", lsigma=1.5, hsigma=1.5, products=products)
    # Just past the diagonal: below the cap (diagonal + 1), so the core gets it unchanged.
    just_past = imc.iraf.imcombine(stack, grow=diagonal + 0.01, **kwargs)
    assert diagonal + 0.01 == _params.bounded_grow(diagonal + 0.01, shape)
    assert just_past.rejmask[1].all()
    assert just_past.rejmask[4].all()
    for grow in (diagonal + 1.5, 1e6, 1e300, float(np.finfo(np.float64).max)):
        assert _params.bounded_grow(grow, shape) <= diagonal + 2
        huge = imc.iraf.imcombine(stack, grow=grow, **kwargs)
        for name in ("output", "ncombine", *products):
            np.testing.assert_array_equal(getattr(huge, name), getattr(just_past, name), name)


def test_grow_bound_covers_the_image_for_large_images():
    # The cap (diagonal + 1 or more) must cover every pixel under the core's float32 disc test
    # (i*i > grow*grow - l*l skips a pixel) for any image that fits in memory.
    for ny, nx in [(1, 2), (2048, 2048), (10_000, 30), (100_000, 100_000), (1_000_000, 3)]:
        g = np.float32(_params.bounded_grow(1e300, (ny, nx)))
        dy, dx = np.float32(ny - 1), np.float32(nx - 1)
        assert not (dx * dx > g * g - dy * dy)


# --- items 9 and 11: files shrunk before or during the run --------------------------------


def _write(tmp_path, stack, prefix="f", **header):
    paths = []
    for i, frame in enumerate(stack):
        p = tmp_path / f"{prefix}{i}.fits"
        fits.writeto(p, frame, fits.Header(header) if header else None)
        paths.append(str(p))
    return paths


def _truncate(path: str, keep: int) -> None:
    with open(path, "r+b") as f:
        f.truncate(keep)


_TRUNCATING_CHILD = """
    import importlib, json, sys
    import numpy as np
    import imcombiners as imc
    from imcombiners import _core
    from imcombiners.iraf import _inputs

    module = importlib.import_module("imcombiners.iraf.imcombine")

    args = json.loads(sys.argv[1])
    victim = args["paths"][args["victim"]]

    def cut():
        with open(victim, "r+b") as f:
            f.truncate(args["keep"])

    if args["when"] == "after_load":
        load = _inputs.load
        def hooked_load(*a, **k):
            got = load(*a, **k)
            cut()
            return got
        _inputs.load = hooked_load
    else:  # "in_core": the first call of the core (or of the median kernel), a run started
        calls = []
        def hooked(original):
            def call(*a, **k):
                if not calls:
                    cut()
                calls.append(1)
                return original(*a, **k)
            return call
        _core.iraf_combine = hooked(_core.iraf_combine)
        module.kernels.median = hooked(module.kernels.median)
    module._BAND_BYTES = 1  # one row per band: the rows after the cut are read afterwards
    kwargs = args["kwargs"]
    if "offsets" in kwargs:
        kwargs["offsets"] = np.array(kwargs["offsets"])
    try:
        imc.iraf.imcombine(args["paths"], **kwargs)
    except ValueError as e:
        print("ValueError:", e)
    else:
        print("OK")
"""


@pytest.mark.parametrize("when", ["after_load", "in_core"])
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"reject": "sigclip", "products": ["sigma", "rejmask"]},
        {"combine": "median"},
        {"scale": "median"},
        {"reject": "sigclip", "grow": 1.5},
        {"offsets": [[0, 0], [1, 0], [0, 2], [1, 1]]},
    ],
    ids=["plain", "sigclip", "median", "scale", "grow", "offsets"],
)
def test_a_file_shrunk_during_the_run_is_a_value_error(tmp_path, when, kwargs):
    stack = np.random.default_rng(3).normal(100.0, 5.0, (4, 48, 1100)).astype(np.float32)
    paths = _write(tmp_path, stack)
    keep = 2880 + 4 * 1100 * 3  # three rows left: the file ends inside its first page
    args = dict(paths=paths, victim=2, keep=keep, when=when, kwargs=kwargs)
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_TRUNCATING_CHILD), json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
    )
    assert done.returncode == 0, f"child died (signal {-done.returncode}): {done.stderr[-2000:]}"
    out = done.stdout.strip()
    if when == "after_load" or (not kwargs.get("grow") and "offsets" not in kwargs):
        # Pixels are read after the cut: the run must stop with a clear message. (With grow or
        # offsets the whole stack is read before the core runs, so the run may complete with
        # the pixels as they were.)
        assert out.startswith("ValueError:"), out
    if out.startswith("ValueError:"):
        assert paths[2] in out
        assert "ends before its image data" in out
        assert f"has {keep} bytes" in out


@pytest.mark.parametrize(
    ("dtype", "header"),
    [
        (np.float32, {}),
        (np.int16, {}),
        (np.uint16, {}),  # BITPIX 16 with BZERO 32768
        (np.float64, {"BSCALE": 2.0}),  # read by astropy (scaled data)
    ],
    ids=["float32", "int16", "uint16", "astropy"],
)
def test_a_file_truncated_before_the_call_is_named(tmp_path, dtype, header):
    stack = (np.arange(3 * 5 * 5).reshape(3, 5, 5) % 7).astype(dtype)
    paths = _write(tmp_path, stack)
    if header:
        for p in paths:
            with fits.open(p, mode="update") as hdul:
                hdul[0].header.update(header)
    size = 2880 + 25 * np.dtype(dtype).itemsize
    _truncate(paths[1], 2880 + 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # astropy's "File may have been truncated"
        with pytest.raises(ValueError, match="ends before its image data") as err:
            imc.iraf.imcombine(paths)
    message = str(err.value)
    assert paths[1] in message
    assert f"need {size} bytes, the file has 2890 bytes" in message


@pytest.mark.parametrize("statsec", ["", "[3:290,2:17]", "[5:5,*]"])
@pytest.mark.parametrize("stat", ["median", "mode", "mean"])
def test_statistics_read_from_files_equal_those_of_arrays(tmp_path, stat, statsec):
    # Files are read for the statistics row by row (only the rows the grid samples): the
    # result must equal that of the same stack given as an array.
    rng = np.random.default_rng(11)
    stack = rng.normal(100.0, 5.0, (4, 370, 300)).astype(np.float32)  # 111000 px: step 2
    stack *= np.float32([1.0, 1.1, 0.9, 1.3])[:, None, None]
    stack[:, ::13, 5] = 4000.0
    paths = _write(tmp_path, stack)
    kwargs = dict(scale=stat, zero="none", statsec=statsec, lthreshold=0.0, hthreshold=3000.0)
    from_files = imc.iraf.imcombine(paths, **kwargs)
    from_array = imc.iraf.imcombine(stack, **kwargs)
    np.testing.assert_array_equal(from_files.output, from_array.output)
    assert [r[stat] for r in from_files.table] == [r[stat] for r in from_array.table]
    spectra = _write(tmp_path, stack[:, 7], prefix="s")
    one_d = dict(kwargs, statsec="[3:290]" if statsec else "")
    got = imc.iraf.imcombine(spectra, **one_d)
    want = imc.iraf.imcombine(stack[:, 7], **one_d)
    np.testing.assert_array_equal(got.output, want.output)
    assert [r[stat] for r in got.table] == [r[stat] for r in want.table]


def test_files_with_masks_and_offsets_equal_arrays(tmp_path):
    stack = np.random.default_rng(2).normal(100.0, 5.0, (4, 9, 8)).astype(np.float32)
    stack[1, 4, 4] = 900.0
    paths = _write(tmp_path, stack)
    masks = [np.zeros((9, 8), np.int16) for _ in range(4)]
    masks[2][1, 1] = 1
    offsets = np.array([[0, 0], [1, 0], [0, 2], [1, 1]])
    for kwargs in (
        dict(masktype="badvalue", maskvalue=1, masks=masks, reject="sigclip", grow=1.0),
        dict(offsets=offsets, reject="sigclip", scale="mean"),
    ):
        products = ("sigma", "rejmask")
        got = imc.iraf.imcombine(paths, products=products, **kwargs)
        want = imc.iraf.imcombine(stack, products=products, **kwargs)
        for name in ("output", "ncombine", *products):
            np.testing.assert_array_equal(getattr(got, name), getattr(want, name), name)


# --- items 10 and 11: every numeric parameter at and beyond its limits ---------------------

EXTREMES = [0, -1, math.nan, math.inf, -math.inf, 2**63, 2**64, 2**70, 1e300]

MASKS = [np.zeros((6, 7), np.int16) for _ in range(5)]
MASKS[1][2, 3] = 3

# Each parameter with the settings that make IMCOMBINE use it.
USES = {
    "maskvalue": dict(masktype="goodbits", masks=MASKS),
    "blank": dict(lthreshold=101.0, hthreshold=101.5),
    "lthreshold": {},
    "hthreshold": {},
    "nlow": dict(reject="minmax"),
    "nhigh": dict(reject="minmax"),
    "nkeep": dict(reject="sigclip", lsigma=0.5, hsigma=0.5),
    "lsigma": dict(reject="avsigclip"),
    "hsigma": dict(reject="sigclip"),
    "rdnoise": dict(reject="ccdclip"),
    "gain": dict(reject="crreject"),
    "snoise": dict(combine="nmodel"),
    "sigscale": dict(reject="avsigclip", scale=[1.0, 1.5, 1.0, 1.0, 1.0]),
    "pclip": dict(reject="pclip"),
    "grow": dict(reject="sigclip", lsigma=1.0, hsigma=1.0),
    "threads": dict(reject="sigclip"),
    "scale": {},
    "zero": {},
    "weight": {},
    "offsets": {},
}


def _value_for(name: str, v):
    if name in ("scale", "zero", "weight"):
        return [1.0, v, 1.0, 2.0, 1.0]
    if name == "offsets":
        return np.array([[0, 0], [1, 1], [v, 0], [0, 0], [0, 1]], dtype=object)
    return v


def _check_outcome(call, name: str) -> None:
    """``call()`` returns, or raises a ValueError/TypeError whose message names ``name``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", imc.ImcombinersWarning)
        try:
            result = call()
        except (ValueError, TypeError) as e:
            error = e
        else:
            assert result.output.shape[-1] >= 7
            return
    assert name in str(error), f"{type(error).__name__} does not name {name}: {error}"


@pytest.mark.parametrize("value", EXTREMES, ids=repr)
@pytest.mark.parametrize("name", sorted(USES))
def test_numeric_parameters_at_their_limits(name, value):
    kwargs = dict(USES[name], **{name: _value_for(name, value)})
    _check_outcome(lambda: imc.iraf.imcombine(STACK, **kwargs), name)


@pytest.mark.parametrize("value", EXTREMES, ids=repr)
def test_hdu_at_its_limits(tmp_path, value):
    paths = _write(tmp_path, STACK)
    _check_outcome(lambda: imc.iraf.imcombine(paths, hdu=value), "hdu")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"nkeep": 2**70}, r"nkeep=\d+ is outside the allowed range -2147483647\.\.2147483647"),
        ({"nkeep": -(2**64)}, "nkeep=.* is outside the allowed range"),
        ({"reject": "minmax", "nlow": 2**64}, r"nlow=\d+ is outside the allowed range 0\.\."),
        ({"nhigh": -1}, "nhigh=-1 is outside the allowed range 0..2147483647"),
        ({"threads": -1}, r"threads=-1 is outside the allowed range 1\.\.1024"),
        ({"threads": 2**64}, "threads=.* is outside the allowed range 1..1024"),
        ({"maskvalue": 2**64}, "maskvalue=.* is outside the allowed range"),
        ({"reject": "pclip", "pclip": math.nan}, r"pclip=nan must be a finite nonzero number"),
        ({"reject": "pclip", "pclip": math.inf}, r"pclip=inf must be a finite nonzero number"),
        ({"pclip": math.nan}, "pclip=nan must be a finite nonzero number"),
        ({"reject": "pclip", "pclip": 1e300}, "pclip=1e[+]300 must be a finite nonzero"),
        ({"lsigma": math.nan}, r"lsigma=nan must be a number >= 0"),
        ({"sigscale": -1}, "sigscale=-1 must be a number >= 0"),
        ({"lthreshold": math.nan}, "lthreshold=nan must be a number"),
        ({"blank": math.nan, "outtype": "short"}, "blank=nan must be finite for outtype='short'"),
        ({"blank": 1e300}, "blank=1e[+]300 is beyond IRAF's real range"),
        ({"offsets": np.array([[0, 0]] * 4 + [[2**40, 0]])}, "within [+]-2147483647"),
        ({"offsets": "grid 0 5"}, "the grid counts must be in 1.."),
        ({"scale": [1.0, 1e300, 1.0, 1.0, 1.0]}, "scale: expected 5 finite numbers within"),
        ({"grow": "3"}, "grow='3' must be a number"),
    ],
)
def test_out_of_range_messages(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        imc.iraf.imcombine(STACK, **kwargs)


def test_infinite_limits_mean_no_limit():
    plain = imc.iraf.imcombine(STACK, reject="sigclip", lsigma=None, hsigma=None)
    infinite = imc.iraf.imcombine(STACK, reject="sigclip", lsigma=math.inf, hsigma=math.inf)
    np.testing.assert_array_equal(plain.output, infinite.output)
    open_ = imc.iraf.imcombine(STACK, lthreshold=-math.inf, hthreshold=math.inf)
    np.testing.assert_array_equal(open_.output, imc.iraf.imcombine(STACK).output)
