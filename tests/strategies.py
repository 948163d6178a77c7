"""Hypothesis strategies for nasty image stacks.

Hypothesis draws the *shape* of a case (N, spatial shape, dtype, value range,
missing-sample fractions, mask fractions, memory layout) and a seed; the bulk
values come from a seeded NumPy generator, which keeps generation fast for
stacks of a few thousand elements while hypothesis still shrinks the knobs.

Values are integer-valued and small enough that every float64 sum is exact, so
the oracle and the package can only disagree through rounding to the output
dtype (or a bug).
"""

import dataclasses
import math

import numpy as np
from hypothesis import strategies as st
from reference import ACCEPTED_DTYPES

import imcombiners as imc

MAX_ELEMENTS = 4000  # N * pixels
MAX_PIXELS = 600  # the oracle loops over pixels in Python
MAX_N = 200

_ORDERS = ("C", "F", "permuted")
_REVERSALS = ("none", "all", "first", "last")


@dataclasses.dataclass(frozen=True)
class Layout:
    """How an array is stored in memory; :meth:`apply` never changes its values."""

    order: str = "C"  # C, F, or "permuted" (axes stored in rolled order)
    step2: bool = False  # a view taking every other element of a bigger buffer
    reverse: str = "none"  # which axes get negative strides
    byteswap: bool = False  # non-native byte order
    readonly: bool = False

    def __str__(self):
        parts = [self.order]
        if self.step2:
            parts.append("step2")
        if self.reverse != "none":
            parts.append(f"reversed-{self.reverse}")
        if self.byteswap:
            parts.append("byteswapped")
        if self.readonly:
            parts.append("readonly")
        return "+".join(parts)

    def _reversal(self, ndim):
        flip = {
            "none": (),
            "all": tuple(range(ndim)),
            "first": (0,),
            "last": (ndim - 1,),
        }[self.reverse]
        return tuple(slice(None, None, -1) if ax in flip else slice(None) for ax in range(ndim))

    def _perm(self, ndim):
        if self.order == "F":
            return tuple(reversed(range(ndim)))
        if self.order == "permuted":
            return (*range(1, ndim), 0)
        return tuple(range(ndim))

    def apply(self, arr):
        """A new array equal to ``arr`` (same values, shape, dtype kind) in this layout."""
        arr = np.asarray(arr)
        ndim = arr.ndim
        rev = self._reversal(ndim)
        # Build storage for arr[rev]; viewing it through rev again gives arr's values
        # with negative strides on the flipped axes.
        a = np.array(arr[rev])
        if self.byteswap:
            a = a.astype(a.dtype.newbyteorder())
        perm = self._perm(ndim)
        stored = np.ascontiguousarray(a.transpose(perm))  # C order in storage axis order
        if self.step2:
            big = np.zeros(tuple(2 * s for s in stored.shape), dtype=stored.dtype)
            every_other = (slice(None, None, 2),) * ndim
            big[every_other] = stored
            stored = big[every_other]
        a = stored.transpose(np.argsort(perm))[rev]
        if self.readonly:
            a.flags.writeable = False
        assert a.shape == arr.shape
        assert a.dtype.name == arr.dtype.name
        return a


@dataclasses.dataclass(frozen=True, repr=False)
class StackCase:
    """A stack, an optional mask, and how they were laid out (for failure messages)."""

    stack: np.ndarray
    mask: np.ndarray | None
    stack_layout: Layout
    mask_layout: Layout | None

    def describe(self):
        s = self.stack
        text = (
            f"stack dtype={s.dtype.str} shape={s.shape} strides={s.strides} "
            f"layout={self.stack_layout}"
        )
        if self.mask is not None:
            text += f"; mask strides={self.mask.strides} layout={self.mask_layout}"
        return text

    def __repr__(self):
        with np.printoptions(threshold=200, edgeitems=3):
            mask = "None" if self.mask is None else np.array2string(self.mask)
            return f"StackCase({self.describe()}\nstack={self.stack!r}\nmask={mask})"


def layouts(*, allow_byteswap=True):
    """Memory layouts: C, F, permuted, step-2 views, reversed axes, byte-swapped, read-only."""
    return st.builds(
        Layout,
        order=st.sampled_from(_ORDERS),
        step2=st.booleans(),
        reverse=st.sampled_from(_REVERSALS),
        byteswap=st.booleans() if allow_byteswap else st.just(False),
        readonly=st.booleans(),
    )


@st.composite
def stack_sizes(draw, *, min_n=1, max_n=MAX_N):
    """(N, spatial shape) with 1 to 3 spatial axes (size-1 axes included)."""
    n = draw(st.one_of(st.integers(min_n, min(max_n, 8)), st.integers(min_n, max_n)))
    budget = min(MAX_PIXELS, max(1, MAX_ELEMENTS // n))
    ndim = draw(st.integers(1, 3))
    spatial = []
    for _ in range(ndim):
        side = draw(st.integers(1, max(1, min(16, budget))))
        spatial.append(side)
        budget = max(1, budget // side)
    return n, tuple(spatial)


@st.composite
def multi_tile_sizes(draw, *, max_n=300, max_elements=40_000):
    """(N, spatial shape) with thousands of pixels, or fewer pixels and a large N.

    The core works on tiles of pixels (2048 for streaming methods, fewer for
    medians and variance as N grows), so these put tile edges inside strided
    spatial rows. Sides are mostly odd-sized; spatial axes number 1 to 3.
    """
    n = draw(st.one_of(st.integers(1, 8), st.integers(1, max_n)))
    cap = max_elements // n
    pixels = draw(st.integers(min(2049, cap), cap))
    ndim = draw(st.integers(1, 3))
    spatial = []
    for _ in range(ndim - 1):
        side = draw(st.integers(1, max(1, round(pixels ** (1 / ndim)) * 2)))
        spatial.append(side)
        pixels = max(1, pixels // side)
    spatial.append(pixels)
    return n, tuple(draw(st.permutations(spatial)))


def _value_range(dtype, kind):
    """Inclusive integer range of the sample values."""
    signed = dtype.kind != "u"
    if kind == "ties":
        return (-1, 2) if signed else (0, 3)
    if kind == "small":
        return (-100, 100) if signed else (0, 200)
    # "wide": the whole integer range, or a range whose float64 sums stay exact
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return int(info.min), int(info.max)
    bound = 2**20 if dtype == np.float32 else 2**40
    return -bound, bound


@st.composite
def stack_cases(
    draw,
    *,
    dtypes=ACCEPTED_DTYPES,
    masks=True,
    layout=True,
    min_n=1,
    max_n=MAX_N,
    sizes=None,
):
    """A :class:`StackCase` with nasty values, an optional mask and a nasty layout.

    Float stacks get NaN/+inf/-inf at random fractions and whole "dead" pixels;
    masks get random fractions and whole masked pixels. ``sizes`` draws
    ``(N, spatial)``; the default is :func:`stack_sizes` with ``min_n``/``max_n``.
    """
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    n, spatial = draw(stack_sizes(min_n=min_n, max_n=max_n) if sizes is None else sizes)
    shape = (n, *spatial)
    npix = math.prod(spatial)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))

    lo, hi = _value_range(dtype, draw(st.sampled_from(("ties", "small", "wide"))))
    values = rng.integers(lo, hi, size=shape, endpoint=True, dtype=np.int64).astype(dtype)

    if dtype.kind == "f":
        for bad in (np.nan, np.inf, -np.inf):
            frac = draw(st.sampled_from((0.0, 0.0, 0.05, 0.3, 0.9)))
            values[rng.random(shape) < frac] = bad
        n_dead = draw(st.integers(0, min(npix, 3)))
        for flat in rng.choice(npix, size=n_dead, replace=False):
            idx = np.unravel_index(flat, spatial)
            values[(slice(None), *idx)] = rng.choice([np.nan, np.inf, -np.inf], size=n)

    mask = None
    if masks and draw(st.booleans()):
        frac = draw(st.sampled_from((0.0, 0.1, 0.5, 0.95, 1.0)))
        mask = rng.random(shape) < frac
        n_dead = draw(st.integers(0, min(npix, 3)))
        for flat in rng.choice(npix, size=n_dead, replace=False):
            mask[(slice(None), *np.unravel_index(flat, spatial))] = True

    stack_layout = draw(layouts()) if layout else Layout()
    mask_layout = None
    if mask is not None:
        mask_layout = draw(layouts(allow_byteswap=False)) if layout else Layout()
        mask = mask_layout.apply(mask)
    return StackCase(stack_layout.apply(values), mask, stack_layout, mask_layout)


_WEIGHT_VALUES = (0.0, 0.25, 0.5, 1.0, 2.0, 3.0, 10.0)


def weights(n):
    """Length-n float64 weights: finite, >= 0, often zero, dyadic (so sums are exact)."""
    return st.one_of(
        st.lists(st.sampled_from(_WEIGHT_VALUES), min_size=n, max_size=n),
        st.just([0.0] * n),
        st.just([1.0] * n),
    ).map(lambda w: np.array(w, dtype=np.float64))


# ------------------------------------------------------------------ rejection (issue 3)

#: Rejection rule names, as ``ndcombine(reject=...)`` spells them.
#: The rules the property tests draw: every rule of `imcombiners.registry` (each needs an entry in
#: `RULE_PARAMS` below and a ``reference.<name>`` function), except those that read a variance
#: plane (`VarClip`: drawn with one in ``tests/test_variance_planes.py``).
RULE_KINDS = tuple(k for k, e in imc.registry.RULES.items() if not e.cls.needs_variance)

_SIGMAS = (0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 5.0)
_CENFUNCS = ("mean", "median", "lmedian", "med", "lmed", "MEDIAN")


def _sigma():
    one = st.sampled_from(_SIGMAS)
    return st.one_of(one, st.tuples(one, one))


def _limits():
    """maxiters, cenfunc, clip_cen, nkeep, maxrej and revert_on_nkeep of the iterative rules."""
    return {
        "maxiters": st.integers(1, 6),
        "cenfunc": st.sampled_from(_CENFUNCS),
        "clip_cen": st.sampled_from((None, None, None, "mean", "median", "lmed")),
        "nkeep": st.integers(0, 4),
        "maxrej": st.one_of(st.none(), st.none(), st.integers(0, 6)),
        "revert_on_nkeep": st.booleans(),
    }


def _sigclip_params(draw):
    stdfunc = draw(st.sampled_from(("std", "mad")))
    ddof = draw(st.integers(0, 1)) if stdfunc == "std" else 0
    return {
        "sigma": draw(_sigma()),
        "stdfunc": stdfunc,
        "ddof": ddof,
        **draw(st.fixed_dictionaries(_limits())),
    }


def _ccdclip_params(draw):
    return {
        "sigma": draw(_sigma()),
        "gain": draw(st.sampled_from((0.5, 1.0, 2.0, 4.0))),
        "rdnoise": draw(st.sampled_from((0.0, 1.0, 2.5, 5.0, 10.0))),
        "snoise": draw(st.sampled_from((0.0, 0.1, 0.5, 1.0))),
        "zero_ref": draw(st.sampled_from((0.0, -50.0, 20.0, 1000.0))),
        "scale_ref": draw(st.sampled_from((1.0, 0.5, 2.0, 0.001))),
        **draw(st.fixed_dictionaries(_limits())),
    }


def _linearclip_params(draw):
    scale = st.sampled_from((1.0, 0.5, 0.9, 1.5, 0.0, -1.0))
    margin = st.sampled_from((0.0, 1.0, 5.0, 25.0, 100.0, math.inf))
    limits = _limits()
    limits["maxiters"] = st.integers(1, 4)
    return {
        "low_scale": draw(scale),
        "low": draw(margin),
        "upp_scale": draw(scale),
        "upp": draw(margin),
        **draw(st.fixed_dictionaries(limits)),
    }


def _minmax_params(draw):
    count = st.sampled_from((0, 1, 2, 3, 0.08, 0.1, 0.25, 0.5, 0.9, 2.0))
    return {"n_min": draw(count), "n_max": draw(count)}


def _pclip_params(draw):
    frac = st.sampled_from((-0.9, -0.5, -0.3, -0.1, -1.0, -2.0, -5.0, 0.1, 0.3, 0.5, 1, 2, 5))
    return {"frac": draw(frac), "sigma": draw(_sigma()), "nkeep": draw(st.integers(0, 3))}


# ---- Modern rules (issue 18): winsorized sigma, biweight and percentile clipping.


def _modern_limits():
    """maxiters, nkeep, maxrej and revert_on_nkeep of the modern iterative rules."""
    return {
        "maxiters": st.one_of(st.integers(1, 6), st.just(0), st.just(100)),
        "nkeep": st.integers(0, 4),
        "maxrej": st.one_of(st.none(), st.none(), st.integers(0, 6)),
        "revert_on_nkeep": st.booleans(),
    }


def _winsorized_params(draw):
    return {
        "sigma": draw(_sigma()),
        "cutoff": draw(st.sampled_from((1.5, 1.5, 1.75, 2.0, 3.0))),
        **draw(st.fixed_dictionaries(_modern_limits())),
    }


def _biweight_params(draw):
    return {
        "sigma": draw(_sigma()),
        "c": draw(st.sampled_from((6.0, 6.0, 4.685, 9.0, 1.0))),
        "c_scale": draw(st.sampled_from((9.0, 9.0, 6.0, 4.685, 1.0))),
        **draw(st.fixed_dictionaries(_modern_limits())),
    }


def _percentile_params(draw):
    fraction = st.sampled_from((0.0, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, math.inf))
    return {
        "low": draw(fraction),
        "high": draw(fraction),
        "nkeep": draw(st.integers(0, 4)),
        "maxrej": draw(st.one_of(st.none(), st.none(), st.integers(0, 6))),
        "revert_on_nkeep": draw(st.booleans()),
    }


_MODERN_PARAMS = {
    "winsorized": _winsorized_params,
    "biweight": _biweight_params,
    "percentile": _percentile_params,
}

# ---- end of the modern rules.


def _gesd_params(draw):
    return {
        "outlier_fraction": draw(st.sampled_from((0.1, 0.2, 0.3, 0.45, 0.6, 0.9))),
        "alpha": draw(st.sampled_from((0.001, 0.01, 0.05, 0.2, 0.5))),
        "low_relaxation": draw(st.sampled_from((1.0, 1.5, 2.0, 0.5))),
        "nkeep": draw(st.integers(0, 4)),
        "maxrej": draw(st.one_of(st.none(), st.none(), st.integers(0, 6))),
    }


def _linearfit_params(draw):
    return {
        "sigma": draw(_sigma()),
        "maxiters": draw(st.integers(1, 6)),
        "nkeep": draw(st.integers(0, 4)),
        "maxrej": draw(st.one_of(st.none(), st.none(), st.integers(0, 6))),
        "revert_on_nkeep": draw(st.booleans()),
    }


#: How the property tests draw each registered rule's parameters.
RULE_PARAMS = {
    "sigclip": _sigclip_params,
    "ccdclip": _ccdclip_params,
    "linearclip": _linearclip_params,
    "minmax": _minmax_params,
    "pclip": _pclip_params,
    **_MODERN_PARAMS,
}
RULE_PARAMS.update(gesd=_gesd_params, linearfit=_linearfit_params)  # issue 18


def _auto_params(draw):
    low, middle, high = sorted(draw(st.integers(0, 40)) for _ in range(3))
    return {
        "winsorized_from": low,
        "linearfit_from": middle,
        "gesd_from": high,
        "percentile": imc.PercentileClip(**_percentile_params(draw)),
        "winsorized": imc.WinsorizedSigClip(**_winsorized_params(draw)),
        "linearfit": imc.LinearFitClip(**_linearfit_params(draw)),
        "gesd": imc.GESD(**_gesd_params(draw)),
    }


RULE_PARAMS["auto"] = _auto_params


def _varclip_params(draw):
    limits = _limits()
    del limits["clip_cen"]
    return {"sigma": draw(_sigma()), **draw(st.fixed_dictionaries(limits))}


RULE_PARAMS["varclip"] = _varclip_params


@st.composite
def rule_params(draw, kind):
    """Keyword arguments of one rejection rule (``imc.SigClip(**params)`` and the like).

    Values are dyadic where they scale data (gain), so integer-valued stacks stay exact.
    """
    return RULE_PARAMS[kind](draw)


def _rejection_range(dtype):
    """(low, high, outlier_low, outlier_high): integer values that keep float64 sums exact."""
    if dtype.kind == "u":
        top = int(np.iinfo(dtype).max)
        return 0, min(top, 2000), 0, min(top, 60000)
    if dtype == np.int16:
        return -2000, 2000, -20000, 20000
    return -2000, 2000, -(10**6), 10**6


@st.composite
def rejection_cases(
    draw, *, max_n=100, ndims=(1, 2, 3), max_pixels=40, max_side=8, dtypes=ACCEPTED_DTYPES
):
    """A :class:`StackCase` for the rejectors: integer values with clumps and outliers.

    Values are small integers (sums of squares stay exact in float64), drawn as ties
    (4 distinct values), as rounded Gaussian noise with a few outliers (so clipping has
    something to do), or uniformly. Float stacks get NaN/+-inf and dead elements, masks
    get random fractions and dead elements, and both get nasty memory layouts.
    """
    dtype = np.dtype(draw(st.sampled_from(dtypes)))
    n = draw(st.one_of(st.integers(1, 8), st.integers(min(9, max_n), max_n)))
    ndim = draw(st.sampled_from(ndims))
    budget = max(1, min(max_pixels, 3000 // n))
    spatial = []
    for _ in range(ndim):
        side = draw(st.integers(1, max(1, min(max_side, budget))))
        spatial.append(side)
        budget = max(1, budget // side)
    spatial = tuple(spatial)
    shape = (n, *spatial)
    npix = math.prod(spatial)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    low, high, out_low, out_high = _rejection_range(dtype)
    kind = draw(st.sampled_from(("ties", "noise", "noise", "noise", "uniform")))
    if kind == "ties":
        start = 0 if dtype.kind == "u" else -1
        values = rng.integers(start, start + 3, size=shape, endpoint=True)
    elif kind == "noise":
        centre = 100 if dtype.kind == "u" else draw(st.sampled_from((100, 0, -50)))
        spread = draw(st.sampled_from((1.0, 5.0, 20.0)))
        values = np.clip(np.rint(rng.normal(centre, spread, size=shape)), low, high)
        frac = draw(st.sampled_from((0.0, 0.03, 0.1, 0.2)))
        outliers = rng.random(shape) < frac
        values[outliers] = rng.choice([out_low, out_high], size=int(outliers.sum()))
        values = values.astype(np.int64)
    else:
        values = rng.integers(low, high, size=shape, endpoint=True)
    values = values.astype(dtype)

    if dtype.kind == "f":
        for bad in (np.nan, np.inf, -np.inf):
            frac = draw(st.sampled_from((0.0, 0.0, 0.05, 0.3)))
            values[rng.random(shape) < frac] = bad
        for flat in rng.choice(npix, size=draw(st.integers(0, min(npix, 2))), replace=False):
            idx = np.unravel_index(flat, spatial)
            values[(slice(None), *idx)] = rng.choice([np.nan, np.inf, -np.inf], size=n)

    mask = None
    if draw(st.booleans()):
        mask = rng.random(shape) < draw(st.sampled_from((0.0, 0.05, 0.1, 0.3, 1.0)))
        for flat in rng.choice(npix, size=draw(st.integers(0, min(npix, 2))), replace=False):
            mask[(slice(None), *np.unravel_index(flat, spatial))] = True

    stack_layout = draw(layouts())
    mask_layout = None
    if mask is not None:
        mask_layout = draw(layouts(allow_byteswap=False))
        mask = mask_layout.apply(mask)
    return StackCase(stack_layout.apply(values), mask, stack_layout, mask_layout)


def thresholds_for(stack):
    """None, or a (low, high) pair (low <= high) of the stack's own finite values or +-inf.

    Mostly a wide pair (low from the lowest quarter of the values, high from the highest),
    sometimes any pair, so that thresholds cut a few samples and leave most.
    """
    x = np.asarray(stack, dtype=np.float64)
    values = sorted({float(v) for v in x[np.isfinite(x)].ravel()[:500]})
    pick = st.sampled_from([-math.inf, *values, math.inf])
    any_pair = st.tuples(pick, pick).map(lambda p: (min(p), max(p)))
    quarter = max(1, len(values) // 4)
    low = st.sampled_from([-math.inf, *values[:quarter]])
    high = st.sampled_from([*values[-quarter:], math.inf])
    wide = st.tuples(low, high).map(lambda p: (min(p), max(p)))
    return st.one_of(st.none(), wide, wide, any_pair)
