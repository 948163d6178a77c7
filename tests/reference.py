"""Slow, obviously-correct NumPy twins of the combine methods (the test oracle).

Every function loops over the output pixels, takes the samples of one pixel as
float64, drops the missing ones (non-finite or masked), and applies the formula
of the combine method literally (see ``imcombiners.kernels`` and the README; rejection rules
follow ``docs/rejection-semantics.md``). Sums use ``math.fsum`` (exactly
rounded), so the oracle is at least as accurate as any float64 accumulation.
Nothing here is shared with the package.

All functions return float64 arrays shaped ``stack.shape[1:]``; the dtype the
package must return is given separately by :func:`expected_dtype`.
"""

import dataclasses
import math

import numpy as np
from reference_variance import varclip  # noqa: F401  (found by `of_rule`)

#: Canonical method name -> accepted aliases (names are case-insensitive).
ALIASES = {
    "mean": ("average", "avg"),
    "median": ("med",),
    "lmedian": ("lmed",),
    "sum": (),
    "min": (),
    "max": (),
    "variance": ("var",),
    "weighted_average": ("wvg",),
}
METHODS = tuple(ALIASES)

#: Function name in ``imc.kernels`` for each canonical method.
KERNEL_NAMES = {
    "mean": "mean",
    "median": "median",
    "lmedian": "lmedian",
    "sum": "sum",
    "min": "minimum",
    "max": "maximum",
    "variance": "variance",
    "weighted_average": "weighted_average",
}

ACCEPTED_DTYPES = ("uint8", "uint16", "int16", "int32", "float32", "float64")
_WORK_DTYPE = {
    "uint8": "float32",
    "uint16": "float32",
    "int16": "float32",
    "float32": "float32",
    "int32": "float64",
    "float64": "float64",
}
_INTEGER_KEEPING = ("lmedian", "min", "max")


def canonical(method):
    """The canonical name of ``method`` (an alias, in any case)."""
    low = method.lower()
    for name, aliases in ALIASES.items():
        if low == name or low in aliases:
            return name
    raise KeyError(method)


def work_dtype(dtype):
    """The float work/output dtype for an accepted input dtype (native order)."""
    return np.dtype(_WORK_DTYPE[np.dtype(dtype).name])


def expected_dtype(dtype, method, *, entry, masked):
    """The output dtype the contract promises.

    Parameters
    ----------
    dtype : dtype of the stack (any byte order).
    method : combine method (alias or canonical).
    entry : {"kernels", "Combiner", "ndcombine"}
    masked : whether a mask was passed.
    """
    dtype = np.dtype(dtype)
    keeps_integer = (
        canonical(method) in _INTEGER_KEEPING
        and dtype.kind in "iu"
        and entry in ("kernels", "ndcombine")
        and not masked
    )
    if keeps_integer:
        return np.dtype(dtype.name)  # native byte order
    return work_dtype(dtype)


def _valid_samples(stack, mask, idx):
    """float64 samples of pixel ``idx`` and the boolean "use this sample" vector."""
    column = (slice(None), *idx)
    x = np.array(stack[column], dtype=np.float64)
    use = np.isfinite(x)
    if mask is not None:
        use &= ~np.asarray(mask[column], dtype=bool)
    return x, use


def _per_pixel(stack, mask, fn):
    stack = np.asarray(stack)
    out = np.empty(stack.shape[1:], dtype=np.float64)
    for idx in np.ndindex(stack.shape[1:]):
        x, use = _valid_samples(stack, mask, idx)
        out[idx] = fn(x[use]) if use.any() else math.nan
    return out


def mean(stack, mask=None):
    """sum(x) / n over the valid samples."""
    return _per_pixel(stack, mask, lambda x: math.fsum(x) / x.size)


def sum(stack, mask=None):
    """sum(x) over the valid samples (NaN when there are none)."""
    return _per_pixel(stack, mask, lambda x: math.fsum(x))


def minimum(stack, mask=None):
    """Smallest valid sample."""
    return _per_pixel(stack, mask, lambda x: float(np.min(x)))


def maximum(stack, mask=None):
    """Largest valid sample."""
    return _per_pixel(stack, mask, lambda x: float(np.max(x)))


def median(stack, mask=None):
    """Middle value; for even n the mean of the two middle values."""

    def med(x):
        s = np.sort(x)
        n = s.size
        if n % 2 == 1:
            return float(s[n // 2])
        return (float(s[n // 2 - 1]) + float(s[n // 2])) / 2.0

    return _per_pixel(stack, mask, med)


def lmedian(stack, mask=None):
    """Lower median: the sorted value at index (n - 1) // 2."""
    return _per_pixel(stack, mask, lambda x: float(np.sort(x)[(x.size - 1) // 2]))


def variance(stack, ddof=0, return_mean=False, mask=None):
    """sum((x - mean)^2) / (n - ddof), two-pass; NaN when n - ddof <= 0."""

    def var(x):
        n = x.size
        if n - ddof <= 0:
            return math.nan
        m = math.fsum(x) / n
        return math.fsum((x - m) ** 2) / (n - ddof)

    out = _per_pixel(stack, mask, var)
    if return_mean:
        return out, mean(stack, mask=mask)
    return out


def weighted_average(stack, weights, mask=None):
    """sum(w x) / sum(w) over the valid samples; NaN when their weights sum to 0."""
    stack = np.asarray(stack)
    w = np.asarray(weights, dtype=np.float64)
    out = np.empty(stack.shape[1:], dtype=np.float64)
    for idx in np.ndindex(stack.shape[1:]):
        x, use = _valid_samples(stack, mask, idx)
        total = math.fsum(w[use])
        out[idx] = math.fsum(w[use] * x[use]) / total if total > 0 else math.nan
    return out


def combine(method, stack, mask=None, *, weights=None, ddof=0):
    """Dispatch on a method name (alias or canonical)."""
    name = canonical(method)
    if name == "variance":
        return variance(stack, ddof=ddof, mask=mask)
    if name == "weighted_average":
        return weighted_average(stack, weights, mask=mask)
    fn = {
        "mean": mean,
        "median": median,
        "lmedian": lmedian,
        "sum": sum,
        "min": minimum,
        "max": maximum,
    }[name]
    return fn(stack, mask=mask)


def nan_filled(stack, mask=None):
    """float64 copy of ``stack`` with every missing sample set to NaN."""
    out = np.array(stack, dtype=np.float64)
    out[~np.isfinite(out)] = np.nan
    if mask is not None:
        out[np.asarray(mask, dtype=bool)] = np.nan
    return out


# =============================================================== rejection oracles
#
# Slow twins of the rejectors (issue: pixel rejection). The rules are written out in
# ``docs/rejection-semantics.md``; every docstring below repeats the formula it uses.
# Each rejector works on one output element at a time, on float64 copies of its samples,
# and returns the 6-tuple
#
#     (mask_rej, std, low, upp, nit, output_flags)
#
#     mask_rej      bool  (N, *spatial)  samples rejected by this rejector (never a sample
#                                        that was already missing when it started)
#     std           float64 (*spatial)   spread used by the last pass (sigclip, ccdclip),
#                   or None              (linearclip, minmax, pclip)
#     low, upp      float64 (*spatial)   lowest/highest retained finite value (sigclip,
#                                        ccdclip, minmax, pclip) or the bounds of the last
#                                        pass (linearclip); NaN where nothing is retained
#     nit           int32 (*spatial)     passes evaluated (0 where no sample was usable)
#     output_flags  uint8 (*spatial)     bit-OR of the OUTPUT_* constants below
#
# "Usable" samples are finite and not masked. Samples masked on entry (the ``mask``
# argument, non-finite values, or the rejections of an earlier rejector in a chain) are
# never touched, never counted as rejected, and never counted towards nkeep or maxrej.

#: output_flags bits (per output element).
OUTPUT_MASKED = 1  # some sample was masked or non-finite on entry
OUTPUT_MAXITERS = 2  # the last allowed pass still rejected something
OUTPUT_NKEEP = 4  # a pass was stopped by nkeep (reverted, or accepted and final)
OUTPUT_MAXREJ = 8  # a pass was reverted because it would exceed maxrej
OUTPUT_GROW = 16  # grow rejected at least one more sample here

#: sample_flags bits (per sample; a separate namespace from output_flags).
SAMPLE_MASK = 1  # input mask / bad-pixel mask
SAMPLE_NONFINITE = 2  # NaN or +-inf
SAMPLE_THRESHOLD = 4  # outside the thresholds
SAMPLE_REJECTED = 8  # final rejection by the algorithm of this step
SAMPLE_GROWN = 16  # added by grow in this step
SAMPLE_PRIOR = 32  # already excluded before this step

#: Rejection centre name -> accepted aliases (case-insensitive).
CENFUNC_ALIASES = {"mean": (), "median": ("med",), "lmedian": ("lmed",)}
#: Spread estimators of sigclip.
STDFUNCS = ("std", "mad")
#: Normal-consistency factor of the median absolute deviation.
MAD_FACTOR = 1.4826


def _cenfunc_name(cenfunc):
    low = str(cenfunc).lower()
    for name, aliases in CENFUNC_ALIASES.items():
        if low == name or low in aliases:
            return name
    raise ValueError(f"cenfunc must be one of mean, median, med, lmedian, lmed, got {cenfunc!r}")


def _centre(x, cenfunc):
    """Centre of the 1-D float64 sample ``x`` (n >= 1).

    ``mean`` is fsum(x)/n; ``median`` the middle value (mean of the two middle values for
    even n); ``lmedian`` the sorted value at index (n - 1) // 2.
    """
    name = _cenfunc_name(cenfunc)
    n = x.size
    if name == "mean":
        return math.fsum(x) / n
    s = np.sort(x)
    if name == "lmedian" or n % 2 == 1:
        return float(s[(n - 1) // 2])
    return (float(s[n // 2 - 1]) + float(s[n // 2])) / 2.0


def _usable(stack, mask):
    """float64 copy of the stack and the (N, *spatial) "usable on entry" vector."""
    x = np.array(stack, dtype=np.float64)
    use = np.isfinite(x)
    if mask is not None:
        use &= ~np.asarray(mask, dtype=bool)
    return x, use


def _retained_range(x, keep):
    """(lowest, highest) kept value of one element, NaN when nothing is kept."""
    if not keep.any():
        return math.nan, math.nan
    return float(np.min(x[keep])), float(np.max(x[keep]))


def _check_guards(nkeep, maxrej, maxiters):
    if nkeep < 0:
        raise ValueError(f"nkeep must be >= 0, got {nkeep}")
    if maxrej is not None and maxrej < 0:
        raise ValueError(f"maxrej must be None or >= 0, got {maxrej}")
    if maxiters < 1:
        raise ValueError(f"maxiters must be >= 1, got {maxiters}")


def _clip_passes(x, use, bounds, *, maxiters, nkeep, maxrej, revert_on_nkeep):
    """The pass loop shared by sigclip, ccdclip and linearclip, for ONE output element.

    ``x`` (N,) float64, ``use`` (N,) bool (usable on entry), ``bounds(xs)`` returns
    ``(lo, hi, spread)`` computed from the current survivors ``xs``. One pass::

        lo, hi, spread = bounds(x[keep])
        new = keep & ((x < lo) | (x > hi))          # equal to a bound: kept
        if not new.any(): stop (converged)
        rejected_total = n_use - keep.sum() + new.sum();  left = keep.sum() - new.sum()
        if maxrej is not None and rejected_total > maxrej:
            flag MAXREJ (and NKEEP if left < nkeep); revert this pass; stop
        if left < nkeep:
            flag NKEEP; revert this pass if revert_on_nkeep else apply it; stop
        keep &= ~new
        if this was pass number maxiters and keep.any(): flag MAXITERS; stop

    Returns ``keep, nit, flags, lo, hi, spread`` (the last pass's bounds and spread; NaN
    when no pass ran because nothing was usable).
    """
    keep = use.copy()
    n_use = int(use.sum())
    flags = 0 if use.all() else OUTPUT_MASKED
    nit = 0
    lo = hi = spread = math.nan
    while nit < maxiters and keep.any():
        nit += 1
        lo, hi, spread = bounds(x[keep])
        new = keep & ((x < lo) | (x > hi))
        n_new = int(new.sum())
        if n_new == 0:
            break
        left = int(keep.sum()) - n_new
        over_maxrej = maxrej is not None and (n_use - left) > maxrej
        under_nkeep = left < nkeep
        if under_nkeep:
            flags |= OUTPUT_NKEEP
        if over_maxrej:
            flags |= OUTPUT_MAXREJ
            break
        if under_nkeep and revert_on_nkeep:
            break
        keep &= ~new
        if under_nkeep:
            break
        if nit == maxiters and keep.any():
            flags |= OUTPUT_MAXITERS
    return keep, nit, flags, lo, hi, spread


def sigclip(
    stack,
    *,
    mask=None,
    sigma_lower=3.0,
    sigma_upper=3.0,
    maxiters=5,
    ddof=0,
    cenfunc="median",
    stdfunc="std",
    nkeep=1,
    maxrej=None,
    revert_on_nkeep=True,
    clip_cen=None,
):
    """Iterative sigma clipping (``SigClip``), one output element at a time.

    On each pass, over the current survivors ``x`` (n of them) of one element::

        c = cenfunc(x)                                   mean | median | lmedian
        s = sqrt(sum((x - c)^2) / (n - ddof))            stdfunc="std" (NaN if n <= ddof)
        s = 1.4826 * median(|x - c|)                     stdfunc="mad" (ddof not used)
        (with clip_cen, s is measured about clip_cen(x) instead of c)
        lo = c - sigma_lower * s;   hi = c + sigma_upper * s
        rejected where x < lo or x > hi                  (a value equal to a bound is kept)

    The centre is recomputed from the survivors on every pass; passes stop when a pass
    rejects nothing, after ``maxiters`` passes, or at an nkeep/maxrej stop (see
    ``_clip_passes``). "std" is the root-mean-square deviation about the clipping centre
    (not about the mean, unless ``cenfunc="mean"``). A NaN spread (n <= ddof) rejects
    nothing. Defaults (``maxiters=5``, ``ddof=0``, ``cenfunc="median"``, ``nkeep=1``)
    reproduce the seeds: 60 of 61440 in the quickstart, 70 with nit 2:58, 3:6 in the
    rejection tutorial.

    Returns ``(mask_rej, std, low, upp, nit, output_flags)``: ``std`` is the spread ``s``
    of the last pass evaluated (for an element that converged, the spread of its
    survivors); ``low``/``upp`` are the lowest/highest retained values.
    """
    _check_guards(nkeep, maxrej, maxiters)
    if stdfunc not in STDFUNCS:
        raise ValueError(f"stdfunc must be one of {STDFUNCS}, got {stdfunc!r}")
    if ddof < 0:
        raise ValueError(f"ddof must be >= 0, got {ddof}")
    _cenfunc_name(cenfunc)

    def bounds(xs):
        c = _centre(xs, cenfunc)
        about = c if clip_cen is None else _centre(xs, clip_cen)
        if stdfunc == "mad":
            s = MAD_FACTOR * float(np.median(np.abs(xs - about)))
        elif xs.size - ddof > 0:
            s = math.sqrt(math.fsum((xs - about) ** 2) / (xs.size - ddof))
        else:
            s = math.nan
        return c - sigma_lower * s, c + sigma_upper * s, s

    x_all, use_all = _usable(stack, mask)
    shape = x_all.shape[1:]
    mask_rej = np.zeros(x_all.shape, dtype=bool)
    std, low, upp = (np.full(shape, math.nan) for _ in range(3))
    nit = np.zeros(shape, dtype=np.int32)
    flags = np.zeros(shape, dtype=np.uint8)
    for idx in np.ndindex(shape):
        column = (slice(None), *idx)
        x, use = x_all[column], use_all[column]
        keep, nit[idx], flags[idx], _, _, std[idx] = _clip_passes(
            x,
            use,
            bounds,
            maxiters=maxiters,
            nkeep=nkeep,
            maxrej=maxrej,
            revert_on_nkeep=revert_on_nkeep,
        )
        mask_rej[column] = use & ~keep
        low[idx], upp[idx] = _retained_range(x, keep)
    return mask_rej, std, low, upp, nit, flags


def ccdclip(
    stack,
    *,
    mask=None,
    sigma_lower=3.0,
    sigma_upper=3.0,
    gain=1.0,
    rdnoise=0.0,
    snoise=0.0,
    zero_ref=0.0,
    scale_ref=1.0,
    maxiters=5,
    cenfunc="median",
    nkeep=1,
    maxrej=None,
    revert_on_nkeep=True,
    clip_cen=None,
):
    """Iterative clipping against a CCD noise model (``CcdClip``).

    With ``clip_cen`` the model is evaluated at ``clip_cen(e)`` instead of ``c``.

    The samples are first converted to electrons, ``e = gain * x``. On each pass, over the
    current survivors ``e`` of one element::

        c = cenfunc(e)                                          mean | median | lmedian
        s = sqrt((1 + snoise) * |c + zero_ref| * scale_ref + rdnoise^2)     (electrons)
        lo = c - sigma_lower * s;   hi = c + sigma_upper * s
        rejected where e < lo or e > hi                         (equal to a bound: kept)

    ``rdnoise`` is in electrons, ``gain`` in electrons per data unit, ``zero_ref`` in
    electrons; the formula is the seed's, not IRAF's ``(snoise * c)^2`` term. The centre is
    recomputed each pass, with the same stopping rules as ``sigclip`` (``_clip_passes``).
    Defaults reproduce the seeds (62 rejected, max nit 2, with gain=1, rdnoise=5; the
    scale_ref example rejects 0 without and 1 with scale_ref=1/1000).

    Returns ``(mask_rej, std, low, upp, nit, output_flags)``. ``std`` is the model spread
    of the last pass converted back to data units, ``s / gain``; ``low``/``upp`` are the
    lowest/highest retained values in data units. ``zero_ref``/``scale_ref`` of None (the
    rule's defaults: no zero/scale correction here) mean 0 and 1.
    """
    zero_ref = 0.0 if zero_ref is None else zero_ref
    scale_ref = 1.0 if scale_ref is None else scale_ref
    _check_guards(nkeep, maxrej, maxiters)
    _cenfunc_name(cenfunc)
    if not gain > 0:
        raise ValueError(f"gain must be > 0, got {gain}")

    def bounds(es):
        c = _centre(es, cenfunc)
        at = c if clip_cen is None else _centre(es, clip_cen)
        s = math.sqrt((1.0 + snoise) * abs(at + zero_ref) * scale_ref + rdnoise * rdnoise)
        return c - sigma_lower * s, c + sigma_upper * s, s

    x_all, use_all = _usable(stack, mask)
    shape = x_all.shape[1:]
    mask_rej = np.zeros(x_all.shape, dtype=bool)
    std, low, upp = (np.full(shape, math.nan) for _ in range(3))
    nit = np.zeros(shape, dtype=np.int32)
    flags = np.zeros(shape, dtype=np.uint8)
    for idx in np.ndindex(shape):
        column = (slice(None), *idx)
        x, use = x_all[column], use_all[column]
        keep, nit[idx], flags[idx], _, _, s = _clip_passes(
            gain * x,
            use,
            bounds,
            maxiters=maxiters,
            nkeep=nkeep,
            maxrej=maxrej,
            revert_on_nkeep=revert_on_nkeep,
        )
        std[idx] = s / gain
        mask_rej[column] = use & ~keep
        low[idx], upp[idx] = _retained_range(x, keep)
    return mask_rej, std, low, upp, nit, flags


def linearclip(
    stack,
    *,
    mask=None,
    low_scale=1.0,
    low=math.inf,
    upp_scale=1.0,
    upp=math.inf,
    maxiters=1,
    cenfunc="median",
    nkeep=1,
    maxrej=None,
    revert_on_nkeep=True,
    clip_cen=None,
):
    """Centre-relative affine clipping (``LinearClip``). ``clip_cen``, when given, is the
    centre (there is no spread to measure about another one).

    On each pass, over the current survivors ``x`` of one element::

        c = cenfunc(x)                                   mean | median | lmedian
        lo = low_scale * c - low;   hi = upp_scale * c + upp
        kept where lo <= x <= hi;   rejected where x < lo or x > hi

    One pass by default (``maxiters=1``); with ``maxiters > 1`` the centre is recomputed
    from the survivors and the same stopping rules as ``sigclip`` apply. The default
    margins are ``low = upp = inf`` so that ``linearclip()`` rejects nothing (the seed
    says the default is a no-op; with margins of 0 it would keep only values equal to the
    centre). ``linearclip(low=25, upp=25, maxiters=2)`` rejects 67 in the tutorial.
    The package has the same defaults (+inf: a no-op); margins must be >= 0 or +inf and
    scales finite, as in the package.

    Returns ``(mask_rej, None, low, upp, nit, output_flags)`` where ``low``/``upp`` are the
    bounds ``lo``/``hi`` of the last pass evaluated (NaN where nothing was usable).
    """
    _check_guards(nkeep, maxrej, maxiters)
    _cenfunc_name(cenfunc)
    for name, margin in (("low", low), ("upp", upp)):
        if not margin >= 0:  # +inf (no bound on that side) is allowed; NaN is not
            raise ValueError(f"{name} must be >= 0 or +inf, got {margin}")
    for name, scale in (("low_scale", low_scale), ("upp_scale", upp_scale)):
        if not math.isfinite(scale):
            raise ValueError(f"{name} must be finite, got {scale}")

    def bounds(xs):
        c = _centre(xs, cenfunc if clip_cen is None else clip_cen)
        return low_scale * c - low, upp_scale * c + upp, math.nan

    x_all, use_all = _usable(stack, mask)
    shape = x_all.shape[1:]
    mask_rej = np.zeros(x_all.shape, dtype=bool)
    lo_out, hi_out = np.full(shape, math.nan), np.full(shape, math.nan)
    nit = np.zeros(shape, dtype=np.int32)
    flags = np.zeros(shape, dtype=np.uint8)
    for idx in np.ndindex(shape):
        column = (slice(None), *idx)
        x, use = x_all[column], use_all[column]
        keep, nit[idx], flags[idx], lo_out[idx], hi_out[idx], _ = _clip_passes(
            x,
            use,
            bounds,
            maxiters=maxiters,
            nkeep=nkeep,
            maxrej=maxrej,
            revert_on_nkeep=revert_on_nkeep,
        )
        mask_rej[column] = use & ~keep
    return mask_rej, None, lo_out, hi_out, nit, flags


def minmax_count(value, n_frames, *, name="n"):
    """Number of samples a MinMaxClip count or fraction means for a stack of ``n_frames``.

    ``0 < value < 1`` is a fraction of the ORIGINAL stack size, truncated IRAF-style::

        count = int(n_frames * value + 0.001)

    ``value == 0`` or an integral ``value >= 1`` is a count. Anything else is an error.
    """
    value = float(value)
    if 0.0 < value < 1.0:
        return int(n_frames * value + 0.001)
    if value >= 0.0 and value == int(value):
        return int(value)
    raise ValueError(f"{name} must be 0, a fraction in (0, 1) or an integer >= 1, got {value}")


def minmax(stack, *, mask=None, n_min=1, n_max=1, keep_ties=False):
    """Reject the lowest and highest usable samples of each element (``MinMaxClip``).

    With k_lo = minmax_count(n_min, N) and k_hi = minmax_count(n_max, N) (N = the stack's
    original size, so the counts are the same at every element) and the n usable samples
    of one element sorted ascending as ``s[0..n-1]``::

        if k_lo + k_hi < n:   reject the first k_lo and the last k_hi samples in
                              (value, frame number) order: exactly k_lo + k_hi go
        else:                 reject nothing, flag NKEEP (never empties an element)

    With ``keep_ties`` the older bound rule: keep lo <= x <= hi with lo = s[k_lo],
    hi = s[n - 1 - k_hi], so ties with a kept bound stay. One pass.

    Returns ``(mask_rej, None, low, upp, nit, output_flags)``: ``low``/``upp`` are the
    lowest/highest retained values; ``nit`` is 1 (0 where nothing was usable).
    """
    x_all, use_all = _usable(stack, mask)
    n_frames = x_all.shape[0]
    k_lo = minmax_count(n_min, n_frames, name="n_min")
    k_hi = minmax_count(n_max, n_frames, name="n_max")
    shape = x_all.shape[1:]
    mask_rej = np.zeros(x_all.shape, dtype=bool)
    low, upp = np.full(shape, math.nan), np.full(shape, math.nan)
    nit = np.zeros(shape, dtype=np.int32)
    flags = np.zeros(shape, dtype=np.uint8)
    for idx in np.ndindex(shape):
        column = (slice(None), *idx)
        x, use = x_all[column], use_all[column]
        if not use.all():
            flags[idx] |= OUTPUT_MASKED
        frames = np.flatnonzero(use)
        if frames.size == 0:
            continue
        nit[idx] = 1
        s = np.sort(x[frames])
        keep = use.copy()
        if k_lo + k_hi < frames.size and keep_ties:
            keep &= (x >= s[k_lo]) & (x <= s[frames.size - 1 - k_hi])
        elif k_lo + k_hi < frames.size:
            order = frames[np.lexsort((frames, x[frames]))]  # by value, then frame number
            keep[order[:k_lo]] = False
            keep[order[frames.size - k_hi :]] = False
        elif k_lo + k_hi > 0:
            flags[idx] |= OUTPUT_NKEEP
        mask_rej[column] = use & ~keep
        low[idx], upp[idx] = _retained_range(x, keep)
    return mask_rej, None, low, upp, nit, flags


def pclip_offset(frac, n_frames):
    """IRAF's pclip rank offset ``p`` for a stack of ``n_frames`` (fixed for every element).

    ::

        i = n_frames // 2
        p = int(frac * i)  if |frac| < 1  else  int(frac)        (int truncates toward 0)
        p = min(-1, max(-i, p))  for frac < 0;    p = max(1, min(i, p))  for frac > 0
    """
    if frac == 0 or not math.isfinite(frac):
        raise ValueError(f"frac must be finite and non-zero, got {frac}")
    i = n_frames // 2
    p = int(frac * i) if abs(frac) < 1 else int(frac)
    return min(-1, max(-i, p)) if frac < 0 else max(1, min(i, p))


def pclip(stack, *, mask=None, frac=-0.5, sigma_lower=3.0, sigma_upper=3.0, nkeep=1):
    """IRAF-style percentile clipping (``PClip``): one pass, spread from a rank offset.

    With ``p = pclip_offset(frac, N)`` (N = original stack size) and the n usable samples
    of one element sorted ascending as ``s[1..n]`` (1-based, as in IRAF)::

        med = s[n//2 + 1]                       odd n
            = (s[n//2] + s[n//2 + 1]) / 2        even n
        r   = max(1, n//2 + 1 + p)               odd n, p < 0
            = max(1, n//2 + p)                   even n, p < 0
            = min(n, n//2 + 1 + p)               p > 0
        spread = |s[r] - med|
        lo = med - sigma_lower * spread;   hi = med + sigma_upper * spread
        rejected where x <= lo or x >= hi       (IRAF's ">=": a value ON a bound goes)

    A zero (or non-finite) spread rejects nothing. If the pass rejects something and fewer
    than ``nkeep`` samples would remain, it is reverted (nothing rejected) and NKEEP is
    flagged. The seed's
    ``frac=-0.5`` on 25 frames (p = -6, r = 7) rejects 246.

    Returns ``(mask_rej, None, low, upp, nit, output_flags)``: ``low``/``upp`` are the
    lowest/highest retained values; ``nit`` is 1 (0 where nothing was usable).
    """
    if nkeep < 0:
        raise ValueError(f"nkeep must be >= 0, got {nkeep}")
    x_all, use_all = _usable(stack, mask)
    p = pclip_offset(frac, x_all.shape[0])
    shape = x_all.shape[1:]
    mask_rej = np.zeros(x_all.shape, dtype=bool)
    low, upp = np.full(shape, math.nan), np.full(shape, math.nan)
    nit = np.zeros(shape, dtype=np.int32)
    flags = np.zeros(shape, dtype=np.uint8)
    for idx in np.ndindex(shape):
        column = (slice(None), *idx)
        x, use = x_all[column], use_all[column]
        if not use.all():
            flags[idx] |= OUTPUT_MASKED
        n = int(use.sum())
        if n == 0:
            continue
        nit[idx] = 1
        s = np.concatenate(([math.nan], np.sort(x[use])))  # s[1..n], 1-based
        med = float(s[n // 2 + 1]) if n % 2 == 1 else (float(s[n // 2]) + float(s[n // 2 + 1])) / 2
        if p < 0:
            r = max(1, n // 2 + 1 + p) if n % 2 == 1 else max(1, n // 2 + p)
        else:
            r = min(n, n // 2 + 1 + p)
        spread = abs(float(s[r]) - med)
        keep = use.copy()
        if spread > 0 and math.isfinite(spread):
            new = use & ((x <= med - sigma_lower * spread) | (x >= med + sigma_upper * spread))
            if new.any() and n - int(new.sum()) < nkeep:
                flags[idx] |= OUTPUT_NKEEP
            else:
                keep &= ~new
        mask_rej[column] = use & ~keep
        low[idx], upp[idx] = _retained_range(x, keep)
    return mask_rej, None, low, upp, nit, flags


def grow_offsets(radius, ndim):
    """Integer offsets ``d`` (length ``ndim``) with ``sqrt(sum(d_i^2)) <= radius``.

    The distance is the correctly rounded float64 square root of the integer sum of
    squares, compared with ``radius`` as given; so ``radius=np.sqrt(2)`` reaches the 2-D
    diagonals and ``radius=np.sqrt(3)`` the 3-D corners. The zero offset is included.
    """
    reach = math.floor(radius)
    offsets = []
    for d in np.ndindex(*(2 * reach + 1,) * ndim):
        d = tuple(int(v) - reach for v in d)
        if math.sqrt(math.fsum(v * v for v in d)) <= radius:  # the module's sum is shadowed
            offsets.append(d)
    return offsets


def grow_mask(mask, radius):
    """Grow a (N, *spatial) boolean mask spatially, frame by frame (never along axis 0).

    ::

        out[k, p] = any(mask[k, q] for q with sqrt(sum((p - q)^2)) <= radius)

    over every number of spatial axes; samples outside the array do not exist (no
    wrap-around). ``radius`` None or < 1 returns a copy of ``mask``; a negative or
    non-finite radius is an error.
    """
    mask = np.asarray(mask, dtype=bool)
    if radius is None:
        return mask.copy()
    if not (math.isfinite(radius) and radius >= 0):
        raise ValueError(f"radius must be None or finite and >= 0, got {radius}")
    spatial = mask.shape[1:]
    out = mask.copy()
    # One offset at a time over the whole array (a loop over the set samples was too slow
    # for the property tests): out[:, p + d] |= mask[:, p] wherever both p and p + d exist.
    for d in grow_offsets(radius, len(spatial)):
        if any(abs(di) >= si for di, si in zip(d, spatial, strict=True)):
            continue  # p + d is outside the array for every p
        src = tuple(slice(max(0, -di), si - max(0, di)) for di, si in zip(d, spatial, strict=True))
        dst = tuple(slice(max(0, di), si - max(0, -di)) for di, si in zip(d, spatial, strict=True))
        out[(slice(None), *dst)] |= mask[(slice(None), *src)]
    return out


def grow(result, radius, *, stack, mask=None):
    """Apply ``grow_mask`` to a rejector's 6-tuple, as ``reject(..., grow=radius)`` does.

    The seeds of the growth are the samples the algorithm rejected (``mask_rej``), never
    samples that were masked or non-finite on entry. Grown samples that were usable on
    entry join ``mask_rej``; samples already missing are not "added". ``OUTPUT_GROW`` marks
    the elements where at least one sample was added. std, low, upp and nit still describe
    the clipping itself; grow ignores nkeep (the algorithm is not re-run).

    Returns ``(result_with_grown_mask, added)`` where ``added`` is the (N, *spatial) mask
    of the samples grow added.
    """
    mask_rej, std, low, upp, nit, flags = result
    _, use = _usable(stack, mask)
    added = grow_mask(mask_rej, radius) & use & ~mask_rej
    flags = flags | np.where(added.any(axis=0), OUTPUT_GROW, 0).astype(np.uint8)
    return (mask_rej | added, std, low, upp, nit, flags), added


def sample_flags(stack, *, mask=None, threshold=None, prior=None, rejected=None, grown=None):
    """Per-sample uint8 diagnostic of one rejection step (``diagnostics="full"``).

    Every argument is an optional (N, *spatial) boolean array::

        1  SAMPLE_MASK       mask (input mask / bad-pixel mask)
        2  SAMPLE_NONFINITE  stack is NaN or +-inf
        4  SAMPLE_THRESHOLD  threshold (outside the thresholds)
        8  SAMPLE_REJECTED   rejected (this step's algorithm, after nkeep/maxrej; not grow)
        16 SAMPLE_GROWN      grown (added by this step's grow)
        32 SAMPLE_PRIOR      mask | non-finite | threshold | prior (earlier steps): already
                             excluded when this step started

    Bits combine: a NaN sample under the input mask is 1 | 2 | 32 = 35.
    """
    stack = np.asarray(stack)
    out = np.zeros(stack.shape, dtype=np.uint8)
    nonfinite = ~np.isfinite(stack.astype(np.float64))
    before = nonfinite.copy()
    out[nonfinite] |= SAMPLE_NONFINITE
    for arr, bit, counts_before in (
        (mask, SAMPLE_MASK, True),
        (threshold, SAMPLE_THRESHOLD, True),
        (prior, 0, True),
        (rejected, SAMPLE_REJECTED, False),
        (grown, SAMPLE_GROWN, False),
    ):
        if arr is None:
            continue
        arr = np.asarray(arr, dtype=bool)
        out[arr] |= bit
        if counts_before:
            before |= arr
    out[before] |= SAMPLE_PRIOR
    return out


def of_rule(rule, stack, *, mask=None, variance=None):
    """The reference of a rule object: ``<rule.kind>(stack, mask=mask, **its fields)``.

    Each rule has a function here named after its ``kind`` whose keywords are the rule's fields,
    with ``sigma`` given as ``sigma_lower`` and ``sigma_upper`` (``grow`` is applied by the caller,
    see `grow`). Rules that read the variance plane also get ``variance``.
    """
    params = {f.name: getattr(rule, f.name) for f in dataclasses.fields(rule) if f.name != "grow"}
    if "sigma" in params:
        params["sigma_lower"], params["sigma_upper"] = params.pop("sigma")
    if rule.needs_variance:
        params["variance"] = variance
    return globals()[rule.kind](stack, mask=mask, **params)


# =============================================================== modern rules (issue 18)
#
# WinsorizedSigClip, BiweightClip and PercentileClip, written out from their published
# descriptions (docs/rejection-semantics.md, section 13), one element at a time.

#: Winsorisation: most steps per pass, convergence tolerance, consistency factor at 1.5 sigma.
WINSOR_STEPS = 50
WINSOR_TOLERANCE = 5e-4
WINSOR_FACTOR = 1.134


def _in_order(values):
    """Sum of ``values`` one after the other from 0.0, as the core adds them.

    The modern rules' spreads go through long chains (50 winsorisation steps, or a biweight sum
    that cancels), where one rounding of difference can move a decision: these oracles add in
    the core's order (ascending values) so that they round alike, instead of ``math.fsum``.
    """
    total = 0.0
    for v in values:
        total += float(v)
    return total


def _running_sums(d):
    """Running sums of the ascending deviations ``d`` outward from the middle index h = n // 2,
    as the core forms them::

        low[i]      = d[h-1] + d[h-2] + ... + d[i]    (added in that order; low[h] = 0)
        high[j - h] = d[h] + d[h+1] + ... + d[j-1]    (high[0] = 0)

    and the same of the squares ``d*d`` (``low2``, ``high2``).
    """
    n, h = len(d), len(d) // 2
    low, low2 = [0.0] * (h + 1), [0.0] * (h + 1)
    high, high2 = [0.0] * (n - h + 1), [0.0] * (n - h + 1)
    t = t2 = 0.0
    for i in range(h - 1, -1, -1):
        t += d[i]
        t2 += d[i] * d[i]
        low[i], low2[i] = t, t2
    t = t2 = 0.0
    for j in range(h, n):
        t += d[j]
        t2 += d[j] * d[j]
        high[j - h + 1], high2[j - h + 1] = t, t2
    return low, low2, high, high2


def _clamped_std(d, lo, hi):
    """Sample standard deviation (divisor n - 1) of ``clip(d, lo, hi)`` for ascending ``d``::

        a values below lo count as lo, b values above hi as hi, the rest is the run d[a:n-b]
        sum     = (a lo + sum(run)) + b hi
        squares = (a lo^2 + sum(run^2)) + b hi^2
        std     = sqrt(max((squares - sum * (sum * (1/n))) * (1/(n - 1)), 0))

    The run's sums are ``low[a] + high[n - b - h]`` of `_running_sums` when the run contains
    the middle index h, else added directly in order: the core's arithmetic, step for step
    (``test_reference_clamped_std_is_the_standard_deviation`` checks it against np.std).
    """
    n, h = len(d), len(d) // 2
    a = len([v for v in d if v < lo])  # (this module shadows the builtin sum)
    e = len([v for v in d if v <= hi])
    if a <= h <= e:
        low, low2, high, high2 = _running_sums(d)
        run, run2 = low[a] + high[e - h], low2[a] + high2[e - h]
    else:
        run = run2 = 0.0
        for v in d[a:e]:
            run += v
            run2 += v * v
    lo_sum, lo_sum2 = (a * lo, a * (lo * lo)) if a > 0 else (0.0, 0.0)
    hi_sum, hi_sum2 = ((n - e) * hi, (n - e) * (hi * hi)) if e < n else (0.0, 0.0)
    total = (lo_sum + run) + hi_sum
    squares = (lo_sum2 + run2) + hi_sum2
    # As the core: reciprocals of n and n - 1 instead of divisions.
    inv_n, inv_n1 = 1.0 / n, 1.0 / (n - 1)
    return math.sqrt(max((squares - total * (total * inv_n)) * inv_n1, 0.0))


def _modern_passes(stack, mask, bounds, *, maxiters, nkeep, maxrej, revert_on_nkeep):
    """Runs ``_clip_passes`` on every element; the 6-tuple with the last pass's spread."""
    x_all, use_all = _usable(stack, mask)
    shape = x_all.shape[1:]
    mask_rej = np.zeros(x_all.shape, dtype=bool)
    std, low, upp = (np.full(shape, math.nan) for _ in range(3))
    nit = np.zeros(shape, dtype=np.int32)
    flags = np.zeros(shape, dtype=np.uint8)
    for idx in np.ndindex(shape):
        column = (slice(None), *idx)
        x, use = x_all[column], use_all[column]
        keep, nit[idx], flags[idx], _, _, std[idx] = _clip_passes(
            x,
            use,
            bounds,
            maxiters=maxiters,
            nkeep=nkeep,
            maxrej=maxrej,
            revert_on_nkeep=revert_on_nkeep,
        )
        mask_rej[column] = use & ~keep
        low[idx], upp[idx] = _retained_range(x, keep)
    return mask_rej, std, low, upp, nit, flags


def winsorized_centre_spread(x, cutoff=1.5):
    """(m, s) of iterated winsorisation of the 1-D sample ``x`` (n >= 2)::

    m = median(x);  s = sample std of x (divisor n - 1)
    repeat at most 50 times while s > 0:
        w = clip(x, m - cutoff s, m + cutoff s)
        s_new = 1.134 * sample std of w;  m = median(w)
        stop after this step if |s_new - s| < 5e-4 s;  s = s_new
    """
    x = np.sort(x)
    m0 = float(np.median(x))
    d = [float(v) - m0 for v in x]  # deviations from the median: the sums do not cancel
    c = 0.0  # the centre, as a deviation from m0
    s = _clamped_std(d, -math.inf, math.inf)
    for _ in range(WINSOR_STEPS):
        if not s > 0:
            break
        lo, hi = c - cutoff * s, c + cutoff * s
        s_new = WINSOR_FACTOR * _clamped_std(d, lo, hi)
        c = float(np.median([min(max(v, lo), hi) for v in d]))
        done = abs(s_new - s) < WINSOR_TOLERANCE * s
        s = s_new
        if done:
            break
    return m0 + c, s


def winsorized(
    stack,
    *,
    mask=None,
    sigma_lower=4.0,
    sigma_upper=3.0,
    cutoff=1.5,
    maxiters=10,
    nkeep=1,
    maxrej=None,
    revert_on_nkeep=True,
):
    """Winsorized sigma clipping (``WinsorizedSigClip``), one output element at a time.

    On each pass over the survivors ``x`` (n of them), with ``(m, s) =
    winsorized_centre_spread(x, cutoff)``::

        n < 2:   no spread (NaN), nothing rejected
        s == 0:  nothing rejected
        else:    rejected where x < m - sigma_lower * s or x > m + sigma_upper * s

    with the pass loop of ``_clip_passes``. Returns the 6-tuple; ``std`` is ``s`` of the last
    pass, ``low``/``upp`` the lowest/highest retained values.
    """

    def bounds(xs):
        if xs.size < 2:
            return math.nan, math.nan, math.nan
        m, s = winsorized_centre_spread(xs, cutoff)
        if s == 0:
            return -math.inf, math.inf, s
        return m - sigma_lower * s, m + sigma_upper * s, s

    return _modern_passes(
        stack,
        mask,
        bounds,
        maxiters=maxiters,
        nkeep=nkeep,
        maxrej=maxrej,
        revert_on_nkeep=revert_on_nkeep,
    )


def biweight_location_scale(x, c=6.0, c_scale=9.0):
    """Tukey's biweight location and scale of the 1-D sample ``x`` (as astropy's)::

        M = median(x);  MAD = median(|x - M|);  MAD == 0: (M, 0)
        u = (x - M) / (c MAD):        T = M + sum(d (1 - u^2)^2) / sum((1 - u^2)^2)   |u| < 1
        u = (x - M) / (c_scale MAD):  S = sqrt(n sum(d^2 (1 - u^2)^4))
                                          / |sum((1 - u^2)(1 - 5 u^2))|               |u| < 1
    with d = x - M.
    """
    x = np.sort(x)
    m = float(np.median(x))
    d = [float(v) - m for v in x]
    mad = float(np.median(np.abs(d)))
    if mad == 0:
        return m, 0.0
    # |u| < 1 as the core evaluates it: weight k = max(1 - u*u, 0), u = d * (1 / (c MAD)).
    inv = 1.0 / (c * mad)
    k = [max(1.0 - (di * inv) * (di * inv), 0.0) for di in d]
    num = _in_order(di * (ki * ki) for di, ki in zip(d, k, strict=True))
    den = _in_order(ki * ki for ki in k)
    inv = 1.0 / (c_scale * mad)
    u2 = [(di * inv) * (di * inv) for di in d]
    k = [max(1.0 - v, 0.0) for v in u2]
    top = _in_order(di * di * ((ki * ki) * (ki * ki)) for di, ki in zip(d, k, strict=True))
    bottom = abs(_in_order(ki * (1.0 - 5.0 * v) for ki, v in zip(k, u2, strict=True)))
    # No sample with |u| < 1 (possible with c <= 1) gives 0 / 0: NaN, as astropy.
    with np.errstate(divide="ignore", invalid="ignore"):
        location = m + float(np.float64(num) / np.float64(den))
        scale = float(np.sqrt(np.float64(x.size * top) / np.float64(bottom * bottom)))
    return location, scale


def biweight(
    stack,
    *,
    mask=None,
    sigma_lower=3.0,
    sigma_upper=3.0,
    c=6.0,
    c_scale=9.0,
    maxiters=10,
    nkeep=1,
    maxrej=None,
    revert_on_nkeep=True,
):
    """Biweight clipping (``BiweightClip``), one output element at a time.

    On each pass over the survivors ``x``, with ``(T, S) = biweight_location_scale(x, c,
    c_scale)``::

        S == 0 or not finite:  nothing rejected
        else:                  rejected where x < T - sigma_lower * S or x > T + sigma_upper * S

    with the pass loop of ``_clip_passes``. Returns the 6-tuple; ``std`` is ``S`` of the last
    pass, ``low``/``upp`` the lowest/highest retained values.
    """

    def bounds(xs):
        t, s = biweight_location_scale(xs, c, c_scale)
        if not (s > 0 and math.isfinite(s)):
            return -math.inf, math.inf, s
        return t - sigma_lower * s, t + sigma_upper * s, s

    return _modern_passes(
        stack,
        mask,
        bounds,
        maxiters=maxiters,
        nkeep=nkeep,
        maxrej=maxrej,
        revert_on_nkeep=revert_on_nkeep,
    )


def percentile(stack, *, mask=None, low=0.2, high=0.1, nkeep=1, maxrej=None, revert_on_nkeep=True):
    """Percentile clipping of Siril and PixInsight (``PercentileClip``): one pass.

    Over the survivors ``x`` with median ``m``::

        m == 0:  nothing rejected
        else:    rejected where x < m - low * |m|  or  x > m + high * |m|
                 (that is (m - x) / |m| > low or (x - m) / |m| > high)

    nkeep/maxrej/revert_on_nkeep as in ``_clip_passes`` with one pass, without the MAXITERS
    flag (one pass is the rule, not a limit). ``std`` is None; ``low``/``upp`` the
    lowest/highest retained values.
    """

    def bounds(xs):
        m = float(np.median(xs))
        if m == 0:
            return -math.inf, math.inf, math.nan
        return m - low * abs(m), m + high * abs(m), math.nan

    mask_rej, _, lo, hi, nit, flags = _modern_passes(
        stack,
        mask,
        bounds,
        maxiters=1,
        nkeep=nkeep,
        maxrej=maxrej,
        revert_on_nkeep=revert_on_nkeep,
    )
    return mask_rej, None, lo, hi, nit, flags & np.uint8(~OUTPUT_MAXITERS & 0xFF)


# ---------------------------------------------------------------- issue 18: gesd, linearfit
# Sums below are plain left-to-right loops (not fsum): the rules compare statistics with
# thresholds, and summing in the core's order keeps ties on a threshold decided the same way.


def _sorted_usable(x, use):
    """(frames, values) of the usable samples of one element, sorted by (value, frame)."""
    frames = np.flatnonzero(use)
    order = np.argsort(x[frames], kind="stable")
    return frames[order], [float(v) for v in x[frames][order]]


def _mean_std1(values):
    """Mean and standard deviation with ddof=1 (len >= 2), summed in order."""
    n = len(values)
    m = 0.0
    for v in values:
        m += v
    m /= n
    ss = 0.0
    for v in values:
        ss += (v - m) * (v - m)
    return m, math.sqrt(ss / (n - 1))


def gesd_critical_value(alpha, n, i):
    """Rosner's lambda_i for n values: (n-i) t / sqrt((n-i-1+t^2)(n-i+1)), with t the Student-t
    quantile at p = 1 - alpha/(2(n-i+1)) with n-i-1 degrees of freedom (``t.isf(1 - p)``, the
    same quantile without rounding p)."""
    from scipy import stats

    t = float(stats.t.isf(alpha / (2 * (n - i + 1)), n - i - 1))
    # The same, divided through by t: t * t overflows for a tiny alpha.
    return (n - i) / math.sqrt((1 + (n - i - 1) / t / t) * (n - i + 1))


_GESD_LAMBDA = {}


def gesd(
    stack, *, mask=None, outlier_fraction=0.3, alpha=0.05, low_relaxation=1.5, nkeep=1, maxrej=None
):
    """Rosner's generalized ESD test (``GESD``), one element at a time.

    For the n usable samples of one element, sorted by (value, frame) as ``y``::

        r = min(floor(outlier_fraction * n), n - 2)      (0 when n < 3)
        m = n // 2;  c = y[m]                           (deviations from it keep precision)
        for i = 1..r over the k values y[lo:hi] left:
            S = sum(y - c), Q = sum((y - c)**2), each added outward from the middle:
                the terms lo..m-1 from m-1 down, plus the terms m..hi-1 from m up
                (in order from lo when m is outside lo..hi; only for outlier_fraction > 1/2)
            md = S / k  (the mean is c + md)
            ss = Q - md * S;  stop if ss <= 0;  s = sqrt(ss / (k - 1))
            below = md - (lowest - c);  above = (highest - c) - md
            the candidate is the lowest if below > low_relaxation * above, else the highest
            R_i = (below / low_relaxation or above, as the candidate) / s;  remove it
        k = largest i with R_i > lambda_i (gesd_critical_value), else 0
        k = min(k, maxrej) (flag MAXREJ);  k = min(k, n - nkeep) (flag NKEEP)
        rejected: the first k removed (by rank: the lowest frame of equal values goes first at
        the low end, the highest frame first at the high end)

    Returns ``(mask_rej, std, low, upp, nit, output_flags)``: ``std`` the ddof-1 standard
    deviation of the survivors (NaN below 2), ``low``/``upp`` the lowest/highest kept value,
    ``nit`` 1 where any sample was usable.
    """
    x_all, use_all = _usable(stack, mask)
    shape = x_all.shape[1:]
    mask_rej = np.zeros(x_all.shape, dtype=bool)
    std, low, upp = (np.full(shape, math.nan) for _ in range(3))
    nit = np.zeros(shape, dtype=np.int32)
    flags = np.zeros(shape, dtype=np.uint8)
    for idx in np.ndindex(shape):
        column = (slice(None), *idx)
        x, use = x_all[column], use_all[column]
        frames, y = _sorted_usable(x, use)
        n = len(y)
        flags[idx] = 0 if use.all() else OUTPUT_MASKED
        if n == 0:
            continue
        nit[idx] = 1
        r = 0 if n < 3 else min(math.floor(outlier_fraction * n), n - 2)
        lo, hi, k, sides = 0, n, 0, []
        mid = n // 2
        c = y[mid]
        for i in range(1, r + 1):
            if lo <= mid <= hi:
                below = above = below_sq = above_sq = 0.0
                for v in reversed(y[lo:mid]):
                    below += v - c
                    below_sq += (v - c) * (v - c)
                for v in y[mid:hi]:
                    above += v - c
                    above_sq += (v - c) * (v - c)
                total, squares = below + above, below_sq + above_sq
            else:
                total = squares = 0.0
                for v in y[lo:hi]:
                    total += v - c
                    squares += (v - c) * (v - c)
            md = total / (hi - lo)
            ss = squares - md * total
            if not ss > 0:
                break
            s = math.sqrt(ss / (hi - lo - 1))
            below = md - (y[lo] - c)
            above = (y[hi - 1] - c) - md
            is_low = below > low_relaxation * above
            stat = (below / low_relaxation if is_low else above) / s
            key = (alpha, n, i)
            if key not in _GESD_LAMBDA:
                _GESD_LAMBDA[key] = gesd_critical_value(alpha, n, i)
            if stat > _GESD_LAMBDA[key]:
                k = i
            sides.append(is_low)
            if is_low:
                lo += 1
            else:
                hi -= 1
        if maxrej is not None and k > maxrej:
            k = maxrej
            flags[idx] |= OUTPUT_MAXREJ
        if k > max(n - nkeep, 0):
            k = max(n - nkeep, 0)
            flags[idx] |= OUTPUT_NKEEP
        n_low = sides[:k].count(True)  # (`sum` here is the combine method)
        kept_ranks = range(n_low, n - (k - n_low))
        for rank in range(n):
            if rank not in kept_ranks:
                mask_rej[(frames[rank], *idx)] = True
        kept = y[n_low : n - (k - n_low)]
        if len(kept) >= 2:
            std[idx] = _mean_std1(kept)[1]
        if kept:
            low[idx], upp[idx] = kept[0], kept[-1]
    return mask_rej, std, low, upp, nit, flags


def linearfit_bounds(y, sigma_lower, sigma_upper):
    """One pass of ``linearfit`` on the sorted values ``y``: ``(L, U, sigma)``.

    Least squares ``y_i = a + b i`` against the rank ``i`` (``b = sum((i - ibar) y_i) /
    sum((i - ibar)**2)``, the second sum being ``n (n**2 - 1) / 12``; sums in order, as the core
    adds them, so that a residual on a threshold is decided alike), ``sigma`` the mean absolute
    deviation of the residuals ``r_i``; then trimming from the ends::

        L = the first y_i from the bottom with r_i >= -sigma_lower * sigma (+inf if none)
        U = the first y_i from the top with r_i <= sigma_upper * sigma (-inf if none)

    Fewer than 5 values: ``(-inf, inf, nan)``. A fit exact to rounding
    (``sigma <= 64 * eps * max(|y_0|, |y_{n-1}|)``): ``(-inf, inf, sigma)``.
    """
    n = len(y)
    if n < 5:
        return -math.inf, math.inf, math.nan
    ibar = (n - 1) / 2
    ybar = sxy = 0.0
    for i, v in enumerate(y):
        ybar += v
        sxy += (i - ibar) * v
    ybar /= n
    b = sxy / (n * (n * n - 1) / 12)
    a = ybar - b * ibar
    residuals = [y[i] - (a + b * i) for i in range(n)]
    sigma = 0.0
    for r in residuals:
        sigma += abs(r)
    sigma /= n
    if sigma <= 64 * np.finfo(np.float64).eps * max(abs(y[0]), abs(y[-1])):
        return -math.inf, math.inf, sigma
    lo = next((y[i] for i in range(n) if residuals[i] >= -sigma_lower * sigma), math.inf)
    hi = next((y[i] for i in reversed(range(n)) if residuals[i] <= sigma_upper * sigma), -math.inf)
    return lo, hi, sigma


def linearfit(
    stack,
    *,
    mask=None,
    sigma_lower=5.0,
    sigma_upper=4.0,
    maxiters=5,
    nkeep=1,
    maxrej=None,
    revert_on_nkeep=True,
):
    """Linear fit clipping (``LinearFitClip``), one element at a time.

    Each pass fits a line to the sorted survivors against their rank and trims the ends that
    lie more than ``sigma_lower``/``sigma_upper`` mean absolute deviations below/above it
    (`linearfit_bounds`); passes stop as for ``sigclip`` (``_clip_passes``). Returns
    ``(mask_rej, std, low, upp, nit, output_flags)`` with ``std`` the last pass's sigma and
    ``low``/``upp`` the lowest/highest kept values.
    """
    _check_guards(nkeep, maxrej, maxiters)

    def bounds(xs):
        return linearfit_bounds(sorted(float(v) for v in xs), sigma_lower, sigma_upper)

    return _modern_passes(
        stack,
        mask,
        bounds,
        maxiters=maxiters,
        nkeep=nkeep,
        maxrej=maxrej,
        revert_on_nkeep=revert_on_nkeep,
    )


def auto(
    stack,
    *,
    mask=None,
    percentile,
    winsorized,
    linearfit,
    gesd,
    winsorized_from,
    linearfit_from,
    gesd_from,
):
    """``AutoReject``: per element, the reference of the rule its number of usable samples n
    picks (n < winsorized_from: percentile; < linearfit_from: winsorized; < gesd_from:
    linearfit; else gesd), run on that element alone. ``std`` is NaN where the rule has none."""
    x = np.asarray(stack)
    _, use = _usable(x, mask)
    counts = use.sum(axis=0)
    shape = x.shape[1:]
    mask_rej = np.zeros(x.shape, dtype=bool)
    std, low, upp = (np.full(shape, math.nan) for _ in range(3))
    nit = np.zeros(shape, dtype=np.int32)
    flags = np.zeros(shape, dtype=np.uint8)
    for idx in np.ndindex(shape):
        n = counts[idx]
        if n < winsorized_from:
            rule = percentile
        elif n < linearfit_from:
            rule = winsorized
        elif n < gesd_from:
            rule = linearfit
        else:
            rule = gesd
        column = (slice(None), *idx)
        one_mask = None if mask is None else np.asarray(mask, dtype=bool)[column].reshape(-1, 1)
        got = of_rule(rule, x[column].reshape(-1, 1), mask=one_mask)
        mask_rej[column] = got[0][:, 0]
        if got[1] is not None:
            std[idx] = got[1][0]
        low[idx], upp[idx], nit[idx], flags[idx] = got[2][0], got[3][0], got[4][0], got[5][0]
    return mask_rej, std, low, upp, nit, flags
