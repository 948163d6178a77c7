"""Slow, literal NumPy reference ("oracle") of IRAF 2.17 IMCOMBINE.

This module re-states, in plain Python loops over rows and pixels, what the IMCOMBINE task of
IRAF 2.17 (``images.immatch.imcombine``) does to a stack of images, including the order in
which it moves values around, because that order fixes the float32 summation order and so
the last bits of the result. It was written from the behaviour of the IRAF sources
(``pkg/images/immatch/src/imcombine/src``) and checked against the real task; it shares no
code with the package under test.

Entry points
------------
:func:`imcombine_ref`
    Combine a stack (N, ny, nx) with IRAF's rejection and combining algorithms.
:func:`stat_grid`, :func:`stat_median`, :func:`stat_mode`, :func:`stat_mean`
    IRAF's per-image statistics used by ``scale``/``zero``/``weight``.
:func:`scale_zero_weight`
    How IRAF turns statistics, ``@file``/``!keyword`` values and exposure times into the
    internal per-image ``scales``, ``zeros`` and ``weights`` that :func:`imcombine_ref` takes.

Conventions
-----------
* ``scales``, ``zeros``, ``weights`` are IRAF's *internal* arrays (after ``ic_scale``): a
  usable raw value ``x`` of image ``i`` becomes ``x / scales[i] - zeros[i]`` before any
  rejection (float32 ``scales``/``zeros``; in ``calc="double"`` the division and the
  addition are done in float64 with the float32 factors). IRAF normalises the scales so
  that ``scales[0] == 1`` and the weights so that they sum to 1 (float32 sum); pass arrays
  normalised that way (:func:`scale_zero_weight` makes them).
* ``calc="real"``: every value IRAF keeps in a ``real`` or in the pixel type is a
  ``np.float32`` here and every arithmetic step is rounded to float32, as in IRAF's real
  instantiation. ``calc="double"``: pixel-type variables are float64, but the variables
  IRAF declares ``real`` (weights, residuals, the sigma of ``sigclip`` with ``mclip``, the
  noise model, ...) are still float32, as in IRAF's double instantiation.
* The value of ``sqrt`` inside a larger expression is kept in float64 until that expression
  is stored (the f2c/C translation of IRAF calls the double ``sqrt``).
* Integer *calculation* types (IRAF's short/int instantiations) are out of scope.
  ``outint=True`` only truncates the float result toward zero, like an integer output
  image of a real calculation.

The IRAF defects
----------------
``iraf_defects=False`` (default) gives the values IRAF evidently intends; ``True`` gives
exactly what IRAF 2.17 writes. A collection of the names below enables single defects.

``"stale_median"``
    sigclip and ccdclip with ``mclip=yes`` and ``combine=median`` output the median taken
    at the *start* of their last clipping pass. When that pass removes pixels (and so ends
    because fewer than 3, or 2 for ccdclip, are left) or when ``nkeep`` puts pixels back,
    the output is not the median of the survivors: (0, 10, 11, 100) with
    ``lsigma=hsigma=1`` keeps 10 and 11 and IRAF writes 10 (correct: 10.5). avsigclip
    re-takes the median after each pass, but during the ``nkeep`` add-back only while
    fewer values are back than at the start of the last pass, so there too the output
    can be the median of fewer values than survive.
``"median_no_compact"``
    With ``combine=median`` the mclip rejections (sigclip, avsigclip, ccdclip, crreject,
    pclip) do not move the survivors to the front of the sorted list after a *low*
    rejection, but everything after them treats the first ``n`` sorted values as the
    survivors. The rejection mask then flags the wrong frames and the sigma image is taken
    over the wrong values (the median output and ``nrejmask`` are right). (0, 10, 11, 100)
    with ``lsigma=hsigma=1``: IRAF flags frames 3 and 4 and writes sigma 10 (correct:
    frames 1 and 4, sigma 0.7071).
``"grow_unsorted_median"``
    With ``grow >= 1`` the second pass removes grown pixels by moving the last value of
    the sorted list into the gap and then reads the median as if the list were sorted:
    (1, 2, 3, 4, 0) with frame 5 grown away gives 1.5 (correct: 2.5).
``"lmedian_pair"``
    ``combine=lmedian`` takes the lower of two values only where IRAF selects the median
    from an unsorted list (reject none or minmax). After the sort of an mclip algorithm the
    median of two values is the *higher* one when IRAF's median routine reads the sorted
    list (the rejection routine returned at once, e.g. sigclip with 2 images, and in the
    grow pass) and their *mean* when the rejection routine computes the median itself
    (whenever it runs): (1, 2) with ``reject=sigclip`` gives 2, (1, 2, 100) with
    ``reject=ccdclip, rdnoise=0`` gives 1.5 (correct: 1 in both).
``"stale_average"``
    sigclip and avsigclip with ``mclip=no`` update their running mean only while more than
    one pixel is left; when a pass leaves exactly one pixel, ``combine=average`` writes the
    previous mean: (0, 10, 12, 30) with ``lsigma=0.5, hsigma=0.05`` keeps only 10 and IRAF
    writes 11 (correct: 10); the sigma image is then taken about 11 as well.
``"avsigclip_sigma_clobber"``
    avsigclip with ``mclip=no``: the ``nkeep`` add-back reuses the variable that holds the
    per-row sigma factor, so after an add-back at one pixel the later pixels of the row
    are clipped with a garbage factor (a residual, or an image number).
``"addback_tie_bound"``
    The ``nkeep`` add-back of the mclip rejections takes a second high pixel with an equal
    residual only if its position is below a bound that is not the number of values
    (pclip: the median index ``1 + n/2``, so a high tie never comes back; sigclip,
    ccdclip, avsigclip: the number of values at the start of the last pass).
``"sigclip_weight_shift"``
    sigclip with ``mclip=no`` and per-image sigma scaling (scales differing from 1 by
    more than ``sigscale``): after a rejected value is swapped with the last one, the
    value moved into its place is tested with the scaling factor of the *next* position
    (IRAF steps its weight pointer without stepping it back), and so are all later values
    of that pass. Values get rejected (or kept) with another image's sigma.
``"nmodel_position_params"``
    ``combine=nmodel`` takes the noise parameters (and scale) of the list position instead
    of the image: wrong only when the parameters or scales differ between images.
``"grow_empty_pixel"``
    With ``grow >= 1`` and ``nkeep <= 0``, a pixel left with no value by the grow pass is
    not set to ``blank``: IRAF writes the output through one reused line buffer, so the
    pixel keeps the value of the same column in the previous output line (for the first
    line, what the first pass left in the buffer). With ``nkeep > 0`` it keeps its
    first-pass value instead (IRAF's documented behaviour, kept in both modes).

Other behaviour kept in both modes (IRAF's design rather than defects)
----------------------------------------------------------------------
* Summation orders: image order for the unsorted algorithms; for the mclip algorithms the
  sorted order, with survivors rotated to the front after a low rejection; the running
  sum with subtractions of the mclip=no algorithms (their ``combine=average`` output is
  that running sum divided by n).
* The weighted average of a row in which nothing was excluded (IRAF's ``D_ALL``) is
  ``sum(w * x)`` without dividing by the float32 sum of the weights; elsewhere it is
  ``sum(w * x) / sum(w)`` over the survivors. The weighted sigma likewise.
* ``combine=sum`` ignores weights, but its sigma is taken about the *sum* (weighted if the
  weights differ).
* ``calc="double"``: thresholds compare the values rounded to float32; avsigclip with
  ``mclip=no`` stores its running sums as float32.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

__all__ = [
    "DEFECTS",
    "imcombine_ref",
    "scale_zero_weight",
    "stat_grid",
    "stat_mean",
    "stat_median",
    "stat_mode",
]

#: Names of the IRAF defects :func:`imcombine_ref` can reproduce (see the module docstring).
DEFECTS = frozenset(
    {
        "stale_median",
        "median_no_compact",
        "grow_unsorted_median",
        "lmedian_pair",
        "stale_average",
        "avsigclip_sigma_clobber",
        "addback_tie_bound",
        "nmodel_position_params",
        "sigclip_weight_shift",
        "grow_empty_pixel",
    }
)

_R = np.float32  # IRAF "real"
_MAX_REAL = np.float32(np.finfo(np.float32).max)  # IRAF MAX_REAL
_TOL = 0.001  # equal-residual tolerance of the nkeep add-back (a real constant)
_D_ALL, _D_NONE, _D_MIX = 0, 1, 2  # IRAF data flags of a row
_WIDE_SQRT = True  # sqrt(real) stays float64 inside an expression (f2c calls C sqrt)

_COMBINES = ("average", "median", "lmedian", "sum", "quadrature", "nmodel")
_REJECTS = ("none", "minmax", "ccdclip", "crreject", "sigclip", "avsigclip", "pclip")


# ------------------------------------------------------------------------------ helpers


def _sq(x: Any) -> Any:
    """Square by one multiplication (NumPy's scalar ``**`` is not always correctly rounded)."""
    return x * x


def _sqrt(x: Any) -> Any:
    """IRAF ``sqrt`` of a real/pixel value as used inside an expression."""
    if _WIDE_SQRT:
        return np.float64(np.sqrt(np.float64(x)))
    return np.sqrt(x)


class _Px:
    """The list of one output pixel: values ``d[1..]`` and image numbers ``ids[1..N]``.

    Index 0 is unused (IRAF's lists are 1-based). The first ``n`` positions hold the
    values still in use (IRAF's ``n[i]``); the rejection routines move rejected values
    (with their image numbers) behind them. ``norig`` is the number of usable values
    before rejection.
    """

    __slots__ = ("d", "ids", "n", "norig", "nused")

    def __init__(self, d: list[Any], ids: list[int], n: int, nused: int) -> None:
        self.d = d
        self.ids = ids
        self.n = n
        self.norig = n
        self.nused = nused


class _Row:
    """State of one output row: pixels, IRAF's ``dflag``, ``docombine`` and the output."""

    __slots__ = ("dflag", "docombine", "out", "px")

    def __init__(self, px: list[_Px], dflag: int, out: list[Any]) -> None:
        self.px = px
        self.dflag = dflag
        self.docombine = True  # IRAF's flag persists between rows (set by the driver)
        self.out = out


class _Ctx:
    """Resolved task parameters (IRAF's common block)."""

    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)

    def defect(self, name: str) -> bool:
        return name in self.defects


def _maxkeep(nkeep: int, n: int) -> int:
    """IRAF's number of pixels to keep for ``n`` usable ones."""
    return max(0, n + nkeep) if nkeep < 0 else min(n, nkeep)


def _update_dflag(row: _Row) -> None:
    """After a rejection: a D_ALL row becomes D_MIX when any pixel lost a value."""
    if row.dflag == _D_ALL:
        nin = max(0, row.px[0].norig if row.px else 0)
        if any(max(0, p.n) != nin for p in row.px):
            row.dflag = _D_MIX


# ------------------------------------------------------------------------------ data


def _gdata(ctx: _Ctx, y: int) -> _Row:
    """IRAF ic_gdata: usable values of row ``y`` in image order, scaled, maybe sorted.

    Masked pixels and raw values outside [lthreshold, hthreshold] (compared as reals) are
    dropped; images with nothing usable on the row leave the list; the rest are compacted
    in image order and, for the mclip algorithms, sorted (with IRAF's quicksort, which
    fixes the order of equal values and so of their image numbers).
    """
    T = ctx.T
    nimg, nx = ctx.nimg, ctx.nx
    data = ctx.data[:, y, :]
    good = np.ones((nimg, nx), dtype=bool) if ctx.mask is None else ~ctx.mask[:, y, :]
    lflag = [
        _D_ALL if good[i].all() else (_D_MIX if good[i].any() else _D_NONE) for i in range(nimg)
    ]
    dflag = lflag[0] if all(f == lflag[0] for f in lflag) else _D_MIX
    out: list[Any] = [T(ctx.blank)] * nx
    if dflag == _D_NONE:
        px = [_Px([None], [0] * (nimg + 1), 0, 0) for j in range(nx)]
        return _Row(px, _D_NONE, out)
    if ctx.dothresh:
        for i in range(nimg):
            if lflag[i] == _D_NONE:
                continue
            a = data[i].astype(np.float32)
            bad = good[i] & ((a < ctx.lthresh) | (a > ctx.hthresh))
            if bad.any():
                good[i] &= ~bad
                dflag = _D_MIX
                lflag[i] = _D_MIX if good[i].any() else _D_NONE
    # Scaling: x / scale + (-zero) in the pixel type with real factors.
    vals: list[list[Any]] = []
    for i in range(nimg):
        if ctx.doscale:
            s, b = ctx.scales[i + 1], -ctx.zeros[i + 1]
            vals.append([T(T(T(x) / s) + b) for x in data[i]])
        else:
            vals.append([T(x) for x in data[i]])
    used = [i for i in range(nimg) if lflag[i] != _D_NONE]
    nused = len(used)
    if nused == 0:
        dflag = _D_NONE
    px: list[_Px] = []
    for j in range(nx):
        ids = [0] * (nimg + 1)
        if dflag == _D_ALL:
            d = [None] + [vals[i][j] for i in range(nimg)]
            for k in range(1, nimg + 1):
                ids[k] = k
            n = nimg
        elif dflag == _D_NONE:
            d, n = [None], 0
        else:
            d = [None]
            for i in used:
                if good[i, j]:
                    d.append(vals[i][j])
                    ids[len(d) - 1] = i + 1
            n = len(d) - 1
        p = _Px(d, ids, n, nused)
        if ctx.mclip and n > 1:
            _sort2(p.d, p.ids, n)
        px.append(p)
    return _Row(px, dflag, out)


def _sort2(b: list[Any], c: list[int], npix: int) -> None:
    """IRAF ic_2sort on b[1..npix] with the image numbers c[1..npix] (in place)."""
    if npix <= 1:
        return
    if npix <= 3:
        pivot, temp = b[1], b[2]
        if npix == 2:
            if temp < pivot:
                b[1], b[2] = temp, pivot
                c[1], c[2] = c[2], c[1]
            return
        temp3 = b[3]
        if temp < pivot:
            if temp < temp3:
                b[1] = temp
                if pivot < temp3:
                    b[2] = pivot
                    c[1], c[2] = c[2], c[1]
                else:
                    b[2], b[3] = temp3, pivot
                    c[1], c[2], c[3] = c[2], c[3], c[1]
            else:
                b[1], b[3] = temp3, pivot
                c[1], c[3] = c[3], c[1]
        elif temp3 < temp:
            b[3] = temp
            if pivot < temp3:
                b[2] = temp3
                c[2], c[3] = c[3], c[2]
            else:
                b[1], b[2] = temp3, pivot
                c[1], c[2], c[3] = c[3], c[1], c[2]
        return
    lv, uv = [0, 1], [0, npix]
    p = 1
    while p > 0:
        if lv[p] >= uv[p]:
            p -= 1
            continue
        i, j = lv[p] - 1, uv[p]
        k = (lv[p] + uv[p]) // 2
        b[j], b[k] = b[k], b[j]
        c[j], c[k] = c[k], c[j]
        pivot = b[j]
        while i < j:
            i += 1
            while b[i] < pivot:
                i += 1
            j -= 1
            while j > i and not (b[j] <= pivot):
                j -= 1
            if i < j:
                b[i], b[j] = b[j], b[i]
                c[i], c[j] = c[j], c[i]
        j = uv[p]
        b[i], b[j] = b[j], b[i]
        c[i], c[j] = c[j], c[i]
        while len(lv) <= p + 1:
            lv.append(0)
            uv.append(0)
        if i - lv[p] < uv[p] - i:
            lv[p + 1], uv[p + 1] = lv[p], i - 1
            lv[p] = i + 1
        else:
            lv[p + 1], uv[p + 1] = i + 1, uv[p]
            uv[p] = i - 1
        p += 1


# ------------------------------------------------------------------------------ rejection


def _addback_step(resid: list[Any], nl: int, nh: int, nin: int, bound: int) -> tuple[int, int]:
    """One step of the nkeep add-back of the mclip rejections (sorted block ``nl..nh``).

    The rejected neighbour with the smaller residual comes back; one of the other side
    with a residual within ``_TOL`` comes back with it, and a second one of the same side
    too. ``bound`` is the limit on the position of that second high one.
    """
    if nl == 1:
        nh += 1
    elif nh == nin:
        nl -= 1
    else:
        r = resid[nl - 1]
        s = resid[nh + 1]
        if r < s:
            nl -= 1
            r = _R(r + _TOL)
            if s <= r:
                nh += 1
            if nl > 1 and resid[nl - 1] <= r:
                nl -= 1
        else:
            nh += 1
            s = _R(s + _TOL)
            if r <= s:
                nl -= 1
            if nh < bound and resid[nh + 1] <= s:
                nh += 1
    return nl, nh


def _addback_sorted(
    resid: list[Any], nl: int, nh: int, n1: int, maxkeep: int, nin: int, bound: int
) -> tuple[int, int, int]:
    """The whole nkeep add-back of the mclip rejections; returns (nl, nh, n1)."""
    while n1 < maxkeep:
        nl, nh = _addback_step(resid, nl, nh, nin, bound)
        n1 = nh - nl + 1
    return nl, nh, n1


def _lmed(ctx: _Ctx, med: Any, d: list[Any], nl: int, n1: int) -> Any:
    """lmedian of two survivors is the lower one (unless reproducing IRAF)."""
    if ctx.medlow and n1 == 2 and not ctx.defect("lmedian_pair"):
        return d[nl]
    return med


def _median_block(ctx: _Ctx, d: list[Any], nl: int, n1: int) -> Any:
    """Median of the sorted block d[nl..nl+n1-1] (mean of the middle two for even n1)."""
    T = ctx.T
    if n1 == 0:
        return T(ctx.blank)
    n3 = nl + n1 // 2
    if n1 % 2 == 0:
        return T((d[n3 - 1] + d[n3]) / T(2))
    return d[n3]


def _compact_sorted(ctx: _Ctx, p: _Px, nl: int, n1: int) -> None:
    """Move the survivors d[nl..] to the front like IRAF (rotating when they overlap)."""
    if not (n1 > 0 and nl > 1):
        return
    if ctx.combine == "median" and ctx.grow < 1 and ctx.defect("median_no_compact"):
        return
    j = max(nl, n1 + 1)
    for el in range(1, min(n1, nl - 1) + 1):
        p.d[el] = p.d[j]
        if ctx.grow >= 1:
            p.ids[el], p.ids[j] = p.ids[j], p.ids[el]
        else:
            p.ids[el] = p.ids[j]
        j += 1


def _rej_msigclip(ctx: _Ctx, row: _Row, ccd: bool) -> None:
    """sigclip (``ccd=False``) or ccdclip/crreject (``ccd=True``) about the median."""
    T, nimg = ctx.T, ctx.nimg
    minclip = 2 if ccd else 3
    if nimg < max(minclip, _maxkeep(ctx.nkeep, nimg) + 1) or row.dflag == _D_NONE:
        row.docombine = True
        return
    one, zero = T(1), T(0)
    resid: list[Any] = [_R(0)] * (nimg + 2)
    w: list[Any] = [_R(0)] * (nimg + 2)
    for i, p in enumerate(row.px):
        d, ids = p.d, p.ids
        n1 = max(0, p.n)
        nin = n1
        maxkeep = _maxkeep(ctx.nkeep, n1)
        nl, nh = 1, n1
        while True:
            n2 = n1
            med = _median_block(ctx, d, nl, n1)
            if n1 >= max(minclip, maxkeep + 1):
                if ccd:
                    nl, nh, n1 = _ccd_pass(ctx, d, ids, nl, nh, n1, med, resid, zero)
                else:
                    if ctx.doscale1:
                        s = _R(0)
                        for j in range(nl, nh + 1):
                            el = ids[j]
                            c = T(T(med + ctx.zeros[el]) / ctx.scales[el])
                            r = _R(_sqrt(max(one, c)))
                            s = _R(s + _sq((d[j] - med) / r))
                            w[j] = r
                    else:
                        s = _R(0)
                        for j in range(nl, nh + 1):
                            s = _R(s + _sq(d[j] - med))
                    s = _R(_sqrt(_R(s / _R(n1 - 1))))
                    if s > 0:
                        while nl <= nh:
                            den = _R(s * w[nl]) if ctx.doscale1 else s
                            r = _R((med - d[nl]) / den)
                            if r <= ctx.lsigma:
                                break
                            resid[nl] = r
                            n1 -= 1
                            nl += 1
                        while nh >= nl:
                            den = _R(s * w[nh]) if ctx.doscale1 else s
                            r = _R((d[nh] - med) / den)
                            if r <= ctx.hsigma:
                                break
                            resid[nh] = r
                            n1 -= 1
                            nh -= 1
            if n1 == n2 or n1 < max(minclip, maxkeep + 1):
                break
        bound = n2 if ctx.defect("addback_tie_bound") else nin
        nl, nh, n1 = _addback_sorted(resid, nl, nh, n1, maxkeep, nin, bound)
        if not ctx.defect("stale_median"):
            med = _median_block(ctx, d, nl, n1)
        med = _lmed(ctx, med, d, nl, n1)
        p.n = n1
        _compact_sorted(ctx, p, nl, n1)
        if ctx.combine == "median":
            row.out[i] = med
    _update_dflag(row)
    row.docombine = ctx.combine != "median"


def _ccd_sigma(ctx: _Ctx, el: int, c: Any, zero: Any) -> Any:
    """Noise model sigma (float32 result) at centre ``c`` for image ``el`` (ccdclip)."""
    T = ctx.T
    nm1, nm2, nm3 = ctx.nm[el]
    if ctx.doscale1:
        s = ctx.scales[el]
        r = _R(max(zero, T(s * T(c + ctx.zeros[el]))))
        return _R(_sqrt(_R(_R(nm1 + _R(r / nm2)) + _sq(_R(r * nm3)))) / s)
    s = _R(max(zero, c))
    return _R(_sqrt(_R(_R(nm1 + _R(s / nm2)) + _sq(_R(s * nm3)))))


def _ccd_pass(
    ctx: _Ctx,
    d: list[Any],
    ids: list[int],
    nl: int,
    nh: int,
    n1: int,
    med: Any,
    resid: list[Any],
    zero: Any,
) -> tuple[int, int, int]:
    """One ccdclip pass about the median over the sorted block nl..nh."""
    while nl <= nh:
        s = _ccd_sigma(ctx, ids[nl], med, zero)
        r = _R((med - d[nl]) / s)
        if r <= ctx.lsigma:
            break
        resid[nl] = r
        n1 -= 1
        nl += 1
    while nh >= nl:
        s = _ccd_sigma(ctx, ids[nh], med, zero)
        r = _R((d[nh] - med) / s)
        if r <= ctx.hsigma:
            break
        resid[nh] = r
        n1 -= 1
        nh -= 1
    return nl, nh, n1


def _minmax_mean(T: Any, d: list[Any], n1: int) -> tuple[Any, Any, Any]:
    """Sum without the single lowest and highest value, in IRAF's order; (sum, low, high)."""
    low, high = d[1], d[2]
    if low > high:
        low, high = high, low
    s = T(0)
    for j in range(3, n1 + 1):
        d1 = d[j]
        if d1 < low:
            s = T(s + low)
            low = d1
        elif d1 > high:
            s = T(s + high)
            high = d1
        else:
            s = T(s + d1)
    return s, low, high


def _addback_unsorted(
    ctx: _Ctx, p: _Px, resid: list[Any], n1: int, n2: int, maxkeep: int, total: Any
) -> tuple[int, Any, Any]:
    """The nkeep add-back of the mclip=no rejections; returns (n1, sum, last s value).

    The rejected value with the smallest residual (within positions ``n1+1..n2``, the
    rejections of the last pass) is swapped to position ``n1+1`` and added to the running
    sum; equal residuals (within ``_TOL``) come back together. The last value written to
    IRAF's variable ``s`` is returned because avsigclip reuses that variable.
    """
    T = ctx.T
    clobber: Any = None
    nk = maxkeep
    j = n1 + 1
    while j <= nk:
        r = resid[j]
        jj = 0
        for el in range(j + 1, n2 + 1):
            s = resid[el]
            clobber = s
            if s < _R(r + _TOL):
                if s > _R(r - _TOL):
                    jj += 1
                else:
                    jj = 0
                    resid[el] = r
                    r = s
                    p.d[j], p.d[el] = p.d[el], p.d[j]
                    clobber = p.ids[j]
                    p.ids[j], p.ids[el] = p.ids[el], p.ids[j]
        total = T(total + p.d[j])
        n1 += 1
        nk = max(nk, j + jj)
        j += 1
    return n1, total, clobber


def _rej_asigclip(ctx: _Ctx, row: _Row) -> None:
    """sigclip with mclip=no: about the mean (first without min and max)."""
    T, nimg = ctx.T, ctx.nimg
    if nimg < max(3, _maxkeep(ctx.nkeep, nimg) + 1) or row.dflag == _D_NONE:
        row.docombine = True
        return
    row.docombine = ctx.dowts or ctx.combine != "average"
    one = T(1)
    shift = ctx.defect("sigclip_weight_shift")
    resid: list[Any] = [_R(0)] * (nimg + 2)
    # The weight array lives for the whole row; reads past the values of this pixel (only
    # with the weight-pointer defect) see what earlier pixels left there.
    w: list[Any] = [_R(0)] * (2 * nimg + 2)
    for i, p in enumerate(row.px):
        d, ids = p.d, p.ids
        n1 = max(0, p.n)
        maxkeep = _maxkeep(ctx.nkeep, n1)
        if n1 < max(3, maxkeep):
            if not row.docombine:
                row.out[i] = T(ctx.blank) if n1 == 0 else _plain_mean(T, d, n1)
            continue
        total, low, high = _minmax_mean(T, d, n1)
        a = T(total / T(n1 - 2))
        total = T(T(total + low) + high)
        while True:
            n2 = n1
            if ctx.doscale1:
                s = T(0)
                for j in range(1, n1 + 1):
                    el = ids[j]
                    r = T(_sqrt(max(one, T(T(a + ctx.zeros[el]) / ctx.scales[el]))))
                    s = T(s + _sq(T(T(d[j] - a) / r)))
                    w[j] = _R(r)
                s = T(_sqrt(T(s / T(n1 - 1))))
            else:
                s = T(0)
                for j in range(1, n1 + 1):
                    s = T(s + _sq(T(d[j] - a)))
                s = T(_sqrt(T(s / T(n1 - 1))))
            if s > 0:
                j = 1
                wp = 0
                while j <= n1:
                    # IRAF steps its weight pointer once per loop turn, also when the
                    # turn is repeated for the value swapped into a rejected position.
                    wp = wp + 1 if shift else j
                    d1 = d[j]
                    den = T(s * w[wp]) if ctx.doscale1 else s
                    r = T(T(d1 - a) / den)
                    if r < -ctx.lsigma or r > ctx.hsigma:
                        resid[n1] = _R(abs(r))
                        if j < n1:
                            d[j], d[n1] = d[n1], d1
                            if ctx.doscale1:
                                w[wp] = w[n1]
                            ids[j], ids[n1] = ids[n1], ids[j]
                            j -= 1
                        total = T(total - d1)
                        n1 -= 1
                    j += 1
            if n1 > 1 or (n1 > 0 and not ctx.defect("stale_average")):
                a = T(total / T(n1))
            if n1 == n2 or n1 <= max(2, maxkeep):
                break
        if n1 < maxkeep:
            n1, total, _ = _addback_unsorted(ctx, p, resid, n1, n2, maxkeep, total)
            if n1 > 1 or (n1 > 0 and not ctx.defect("stale_average")):
                a = T(total / T(n1))
        p.n = n1
        if not row.docombine:
            row.out[i] = a if n1 > 0 else T(ctx.blank)
    _update_dflag(row)


def _plain_mean(T: Any, d: list[Any], n1: int) -> Any:
    """Running sum of d[1..n1] divided by n1 (pixel type)."""
    s = d[1]
    for j in range(2, n1 + 1):
        s = T(s + d[j])
    return T(s / T(n1))


def _rej_accdclip(ctx: _Ctx, row: _Row) -> None:
    """ccdclip/crreject with mclip=no: about the mean without min and max, every pass."""
    T, nimg = ctx.T, ctx.nimg
    if nimg < max(2, _maxkeep(ctx.nkeep, nimg) + 1) or row.dflag == _D_NONE:
        row.docombine = True
        return
    row.docombine = ctx.dowts or ctx.combine != "average"
    zero = T(0)
    resid: list[Any] = [_R(0)] * (nimg + 2)
    for i, p in enumerate(row.px):
        d, ids = p.d, p.ids
        n1 = max(0, p.n)
        maxkeep = _maxkeep(ctx.nkeep, n1)
        if n1 <= max(1, maxkeep):
            if not row.docombine:
                row.out[i] = T(ctx.blank) if n1 == 0 else _plain_mean(T, d, n1)
            continue
        while True:
            if n1 == 2:
                total = T(d[1] + d[2])
                a = T(total / T(2))
            else:
                total, low, high = _minmax_mean(T, d, n1)
                a = T(total / T(n1 - 2))
                total = T(T(total + low) + high)
            n2 = n1
            j = 1
            while j <= n1:
                el = ids[j]
                nm1, nm2, nm3 = ctx.nm[el]
                if ctx.doscale1:
                    sc = ctx.scales[el]
                    c = T(max(zero, T(sc * T(a + ctx.zeros[el]))))
                    s = T(_sqrt(T(T(nm1 + T(c / nm2)) + _sq(T(c * nm3)))) / sc)
                else:
                    c = T(max(zero, a))
                    s = T(_sqrt(T(T(nm1 + T(c / nm2)) + _sq(T(c * nm3)))))
                d1 = d[j]
                r = T(T(d1 - a) / s)
                if r < -ctx.lsigma or r > ctx.hsigma:
                    resid[n1] = _R(abs(r))
                    if j < n1:
                        d[j], d[n1] = d[n1], d1
                        ids[j], ids[n1] = ids[n1], ids[j]
                        j -= 1
                    total = T(total - d1)
                    n1 -= 1
                j += 1
            if n1 == n2 or n1 < max(2, maxkeep + 1):
                break
        if n1 < maxkeep:
            n1, total, _ = _addback_unsorted(ctx, p, resid, n1, n2, maxkeep, total)
        p.n = n1
        if not row.docombine:
            row.out[i] = T(total / T(n1)) if n1 > 0 else T(ctx.blank)
    _update_dflag(row)


def _rej_aavsigclip(ctx: _Ctx, row: _Row) -> None:
    """avsigclip with mclip=no: one Poisson sigma factor per row, about the mean."""
    T, nimg = ctx.T, ctx.nimg
    if nimg < max(3, _maxkeep(ctx.nkeep, nimg) + 1) or row.dflag == _D_NONE:
        row.docombine = True
        return
    row.docombine = ctx.dowts or ctx.combine != "average"
    one = T(1)
    resid: list[Any] = [_R(0)] * (nimg + 2)
    sums: list[Any] = [_R(0)] * len(row.px)
    avg: list[Any] = [T(0)] * len(row.px)
    s = T(0)
    ntot = 0
    for i, p in enumerate(row.px):
        d, ids = p.d, p.ids
        n1 = max(0, p.n)
        if n1 < 3:
            continue
        total, low, high = _minmax_mean(T, d, n1)
        a = T(total / T(n1 - 2))
        total = T(T(total + low) + high)
        if ctx.doscale1:
            for j in range(1, n1 + 1):
                el = ids[j]
                s1 = T(max(one, T(T(a + ctx.zeros[el]) / ctx.scales[el])))
                s = T(s + T(_sq(T(d[j] - a)) / s1))
        else:
            s1 = T(max(one, a))
            for j in range(1, n1 + 1):
                s = T(s + T(_sq(T(d[j] - a)) / s1))
        ntot += n1
        avg[i] = a
        row.out[i] = a
        sums[i] = _R(total)
    if ntot > 1:
        s = T(_sqrt(T(s / T(ntot - 1))))
    rowsig = s
    for i, p in enumerate(row.px):
        d, ids = p.d, p.ids
        n1 = max(0, p.n)
        maxkeep = _maxkeep(ctx.nkeep, n1)
        if n1 <= max(2, maxkeep):
            if not row.docombine:
                row.out[i] = T(ctx.blank) if n1 == 0 else _plain_mean(T, d, n1)
            continue
        a = avg[i]
        total = T(sums[i])
        while True:
            n2 = n1
            if rowsig > 0:
                if not ctx.doscale1:
                    s1 = T(rowsig * _sqrt(max(one, a)))
                j = 1
                while j <= n1:
                    d1 = d[j]
                    if ctx.doscale1:
                        el = ids[j]
                        s1 = T(rowsig * _sqrt(max(one, T(T(a + ctx.zeros[el]) / ctx.scales[el]))))
                    r = T(T(d1 - a) / s1)
                    if r < -ctx.lsigma or r > ctx.hsigma:
                        resid[n1] = _R(abs(r))
                        if j < n1:
                            d[j], d[n1] = d[n1], d1
                            ids[j], ids[n1] = ids[n1], ids[j]
                            j -= 1
                        total = T(total - d1)
                        n1 -= 1
                    j += 1
            if n1 > 1 or (n1 > 0 and not ctx.defect("stale_average")):
                a = T(total / T(n1))
            if n1 == n2 or n1 <= max(2, maxkeep):
                break
        if n1 < maxkeep:
            n1, total, clobber = _addback_unsorted(ctx, p, resid, n1, n2, maxkeep, total)
            if n1 > 1 or (n1 > 0 and not ctx.defect("stale_average")):
                a = T(total / T(n1))
            if clobber is not None and ctx.defect("avsigclip_sigma_clobber"):
                rowsig = T(clobber)
        p.n = n1
        if not row.docombine:
            row.out[i] = a if n1 > 0 else T(ctx.blank)
    _update_dflag(row)


def _rej_mavsigclip(ctx: _Ctx, row: _Row) -> None:
    """avsigclip with mclip=yes: one Poisson sigma factor per row, about the median."""
    T, nimg = ctx.T, ctx.nimg
    if nimg < max(3, _maxkeep(ctx.nkeep, nimg) + 1) or row.dflag == _D_NONE:
        row.docombine = True
        return
    one = T(1)
    resid: list[Any] = [_R(0)] * (nimg + 2)
    s = T(0)
    ntot = 0
    for i, p in enumerate(row.px):
        d, ids = p.d, p.ids
        n1 = max(0, p.n)
        if n1 < 3:
            if n1 == 0:
                row.out[i] = T(ctx.blank)
            elif n1 == 1:
                row.out[i] = d[1]
            else:
                row.out[i] = _lmed(ctx, T((d[1] + d[2]) / T(2)), d, 1, 2)
            continue
        med = _median_block(ctx, d, 1, n1)
        if ctx.doscale1:
            for j in range(1, n1 + 1):
                el = ids[j]
                s1 = T(max(one, T(T(med + ctx.zeros[el]) / ctx.scales[el])))
                s = T(s + T(_sq(T(d[j] - med)) / s1))
        else:
            s1 = T(max(one, med))
            for j in range(1, n1 + 1):
                s = T(s + T(_sq(T(d[j] - med)) / s1))
        ntot += n1
        row.out[i] = med
    if ntot > 1:
        sig = T(_sqrt(T(s / T(ntot - 1))))
    else:
        return
    for i, p in enumerate(row.px):
        d, ids = p.d, p.ids
        n1 = max(0, p.n)
        nin = n1
        maxkeep = _maxkeep(ctx.nkeep, n1)
        if n1 < max(3, maxkeep + 1):
            continue
        nl, nh = 1, n1
        med = row.out[i]
        while True:
            n2 = n1
            if n1 >= max(3, maxkeep + 1) and sig > 0:
                if not ctx.doscale1:
                    s1 = T(sig * _sqrt(max(one, med)))
                while nl <= nh:
                    if ctx.doscale1:
                        el = ids[nl]
                        s1 = T(sig * _sqrt(max(one, T(T(med + ctx.zeros[el]) / ctx.scales[el]))))
                    r = T(T(med - d[nl]) / s1)
                    if r <= ctx.lsigma:
                        break
                    resid[nl] = _R(r)
                    n1 -= 1
                    nl += 1
                while nh >= nl:
                    if ctx.doscale1:
                        el = ids[nh]
                        s1 = T(sig * _sqrt(max(one, T(T(med + ctx.zeros[el]) / ctx.scales[el]))))
                    r = T(T(d[nh] - med) / s1)
                    if r <= ctx.hsigma:
                        break
                    resid[nh] = _R(r)
                    n1 -= 1
                    nh -= 1
                if n1 < n2:
                    med = _median_block(ctx, d, nl, n1)
            if n1 == n2 or n1 < max(3, maxkeep + 1):
                break
        bound = n2 if ctx.defect("addback_tie_bound") else nin
        while n1 < maxkeep:
            nl, nh = _addback_step(resid, nl, nh, nin, bound)
            n1 = nh - nl + 1
            if n1 < n2:
                med = _median_block(ctx, d, nl, n1)
        if not ctx.defect("stale_median"):
            med = _median_block(ctx, d, nl, n1)
        med = _lmed(ctx, med, d, nl, n1)
        p.n = n1
        _compact_sorted(ctx, p, nl, n1)
        if ctx.combine == "median":
            row.out[i] = med
    _update_dflag(row)
    row.docombine = ctx.combine != "median"


def _rej_pclip(ctx: _Ctx, row: _Row) -> None:
    """pclip: one pass; sigma = |percentile pixel - median|; rejects where r >= l/hsigma."""
    T, nimg = ctx.T, ctx.nimg
    if nimg < max(3, _maxkeep(ctx.nkeep, nimg) + 1) or row.dflag == _D_NONE:
        row.docombine = True
        return
    resid: list[Any] = [_R(0)] * (nimg + 2)
    t = _R(-1.0) if ctx.pclip < 0 else _R(1.0)
    pc = int(ctx.pclip)

    def layout(n1: int) -> tuple[int, bool, int]:
        n2 = 1 + n1 // 2
        even = n1 % 2 == 0
        if ctx.pclip < 0:
            n3 = max(1, n2 - 1 + pc) if even else max(1, n2 + pc)
        else:
            n3 = min(n1, n2 + pc)
        return n2, even, n3

    if row.dflag == _D_ALL:
        n1 = max(0, row.px[0].n)
        maxkeep = _maxkeep(ctx.nkeep, n1)
        n2, even, n3 = layout(n1)
    for i, p in enumerate(row.px):
        d = p.d
        if row.dflag == _D_MIX:
            n1 = max(0, p.n)
            maxkeep = _maxkeep(ctx.nkeep, n1)
            if n1 == 0:
                if ctx.combine == "median":
                    row.out[i] = T(ctx.blank)
                continue
            n2, even, n3 = layout(n1)
        med = T((d[n2 - 1] + d[n2]) / T(2)) if even else d[n2]
        if n1 < max(3, maxkeep + 1):
            if ctx.combine == "median":
                row.out[i] = _lmed(ctx, med, d, 1, n1)
            continue
        sigma = _R(t * (d[n3] - med))
        if sigma == 0:
            if ctx.combine == "median":
                row.out[i] = _lmed(ctx, med, d, 1, n1)
            continue
        nl = 1
        while nl <= n1:
            r = _R((med - d[nl]) / sigma)
            if r < ctx.lsigma:
                break
            resid[nl] = r
            nl += 1
        nh = n1
        while nh >= 1:
            r = _R((d[nh] - med) / sigma)
            if r < ctx.hsigma:
                break
            resid[nh] = r
            nh -= 1
        n4 = nh - nl + 1
        bound = n2 if ctx.defect("addback_tie_bound") else n1
        nl, nh, n4 = _addback_sorted(resid, nl, nh, n4, maxkeep, n1, bound)
        if nl > 1 or nh < n1:
            med = _median_block(ctx, d, nl, n4)
            p.n = n4
        if ctx.combine == "median":
            row.out[i] = _lmed(ctx, med, d, nl, n4)
        _compact_sorted(ctx, p, nl, n4)
    _update_dflag(row)
    row.docombine = ctx.combine != "median"


def _rej_minmax(ctx: _Ctx, row: _Row) -> None:
    """minmax: drop int(n*flow+0.001) lowest and int(n*fhigh+0.001) highest values.

    Pairs (one low, one high) are removed first by one scan each, then the remaining
    lows, then the remaining highs; each removal fills the gap(s) from the end of the
    list (so the survivors are not in image order afterwards).
    """
    if row.dflag == _D_NONE:
        return

    def counts(n1: int) -> tuple[int, int, int]:
        nlow = int(_R(_R(ctx.flow * _R(n1)) + _R(0.001)))
        nhigh = int(_R(_R(ctx.fhigh * _R(n1)) + _R(0.001)))
        npairs = min(nlow, nhigh)
        return npairs, nlow - npairs, nhigh - npairs

    if row.dflag == _D_ALL:
        npairs, nlow, nhigh = counts(max(0, row.px[0].n))
    for p in row.px:
        d, ids = p.d, p.ids
        n1 = max(0, p.n)
        if row.dflag == _D_MIX:
            npairs, nlow, nhigh = counts(n1)
        for _ in range(npairs):
            dmax = dmin = d1 = d[1]
            jmax = jmin = 1
            d2 = d1
            for j in range(2, n1 + 1):
                d2 = d1
                d1 = d[j]
                if d1 > dmax:
                    dmax, jmax = d1, j
                elif d1 < dmin:
                    dmin, jmin = d1, j
            j = n1 - 1
            if jmax < j:
                if jmin != j:
                    d[jmax] = d2
                    ids[jmax], ids[j] = ids[j], ids[jmax]
                else:
                    d[jmax] = d1
                    ids[jmax], ids[n1] = ids[n1], ids[jmax]
            if jmin < j:
                if jmax != n1:
                    d[jmin] = d1
                    ids[jmin], ids[n1] = ids[n1], ids[jmin]
                else:
                    d[jmin] = d2
                    ids[jmin], ids[j] = ids[j], ids[jmin]
            n1 -= 2
        for _ in range(nlow):
            dmin = d1 = d[1]
            jmin = 1
            for j in range(2, n1 + 1):
                d1 = d[j]
                if d1 < dmin:
                    dmin, jmin = d1, j
            if jmin < n1:
                d[jmin] = d1
                ids[jmin], ids[n1] = ids[n1], ids[jmin]
            n1 -= 1
        for _ in range(nhigh):
            dmax = d1 = d[1]
            jmax = 1
            for j in range(2, n1 + 1):
                d1 = d[j]
                if d1 > dmax:
                    dmax, jmax = d1, j
            if jmax < n1:
                d[jmax] = d1
                ids[jmax], ids[n1] = ids[n1], ids[jmax]
            n1 -= 1
        p.n = n1
    if row.dflag == _D_ALL and npairs + nlow + nhigh > 0:
        row.dflag = _D_MIX


# ------------------------------------------------------------------------------ combining


def _average(ctx: _Ctx, row: _Row, doblank: bool, doaverage: bool) -> None:
    """IRAF ic_average: running sum in list order, / n (or weighted, or plain sum)."""
    T = ctx.T
    if row.dflag == _D_NONE:
        if doblank:
            row.out = [T(ctx.blank)] * len(row.px)
        return
    wts = ctx.wts
    for i, p in enumerate(row.px):
        n1 = abs(p.n)
        d = p.d
        if n1 == 0:
            if doblank:
                row.out[i] = T(ctx.blank)
            continue
        if ctx.dowts and doaverage:
            wt = wts[p.ids[1]]
            s = T(d[1] * wt)
            sumwt = wt
            for j in range(2, n1 + 1):
                wt = wts[p.ids[j]]
                s = T(s + T(d[j] * wt))
                sumwt = _R(sumwt + wt)
            if row.dflag == _D_ALL:
                row.out[i] = s
            elif sumwt > 0:
                row.out[i] = T(s / sumwt)
            else:
                row.out[i] = _plain_mean(T, d, n1)
        else:
            s = d[1]
            for j in range(2, n1 + 1):
                s = T(s + d[j])
            row.out[i] = T(s / T(n1)) if doaverage else s


def _quad(ctx: _Ctx, row: _Row, doblank: bool, nmodel: bool) -> None:
    """IRAF ic_quad (sqrt of the sum of squares / n) or ic_nmodel (noise model)."""
    T = ctx.T
    if row.dflag == _D_NONE:
        if doblank:
            row.out = [T(ctx.blank)] * len(row.px)
        return
    zero = T(0)
    for i, p in enumerate(row.px):
        n1 = abs(p.n)
        d = p.d
        if n1 == 0:
            if doblank:
                row.out[i] = T(ctx.blank)
            continue
        s = T(0)
        sumwt = _R(0)
        for j in range(1, n1 + 1):
            if nmodel:
                pos = j if ctx.defect("nmodel_position_params") else p.ids[j]
                nm1, nm2, nm3 = ctx.nmod[pos]
                val = _R(max(zero, d[j]))
                val = _R(_R(nm1 + _R(val / nm2)) + _sq(_R(val * nm3)))
            else:
                val = _R(d[j])
            if ctx.dowts:
                wt = ctx.wts[p.ids[j]]
                term = _R(val * _R(wt * wt)) if nmodel else _R(_sq(_R(val * wt)))
                sumwt = wt if j == 1 else _R(sumwt + wt)
            else:
                term = val if nmodel else _R(val * val)
            s = T(term) if j == 1 else T(s + term)
        if ctx.dowts and row.dflag == _D_ALL:
            row.out[i] = T(_sqrt(s))
        elif ctx.dowts:
            row.out[i] = T(_sqrt(s) / sumwt)
        else:
            row.out[i] = T(_sqrt(s) / T(n1))


def _wirth(d: list[Any], n1: int, k: int) -> Any:
    """IRAF's in-place selection of the k-th smallest of d[1..n1] (values only)."""
    lo, up = 1, n1
    j = k
    while lo < up:
        temp = d[j]
        lo1, up1 = lo, up
        while True:
            while d[lo1] < temp:
                lo1 += 1
            while temp < d[up1]:
                up1 -= 1
            if lo1 <= up1:
                d[lo1], d[up1] = d[up1], d[lo1]
                lo1 += 1
                up1 -= 1
            if lo1 > up1:
                break
        if up1 < j:
            lo = lo1
        if j < lo1:
            up = up1
    return d[j]


def _median(ctx: _Ctx, row: _Row, doblank: bool) -> None:
    """IRAF ic_median: read from sorted lists (mclip) or select (Wirth)."""
    T = ctx.T
    if row.dflag == _D_NONE:
        if doblank:
            row.out = [T(ctx.blank)] * len(row.px)
        return
    medavg = not ctx.medlow
    for i, p in enumerate(row.px):
        d = p.d
        n1 = abs(p.n)
        if n1 == 0:
            if doblank:
                row.out[i] = T(ctx.blank)
            continue
        if ctx.mclip and ctx.grow_pass and not ctx.defect("grow_unsorted_median"):
            d = [None, *sorted(d[1 : n1 + 1])]
        if ctx.mclip:
            j1 = n1 // 2 + 1
            if n1 % 2 == 0 and (medavg or n1 > 2):
                row.out[i] = T((d[j1] + d[j1 - 1]) / T(2))
            elif n1 == 2 and not ctx.defect("lmedian_pair"):
                row.out[i] = min(d[1], d[2])
            else:
                row.out[i] = d[j1]
            continue
        if n1 > 3:
            m = _wirth(d, n1, max(1, min(n1, (n1 + 1) // 2)))
            if n1 % 2 == 0:
                m2 = _wirth(d, n1, max(1, min(n1, (n1 + 1) // 2) + 1))
                m = T((m + m2) / T(2))
            row.out[i] = m
        elif n1 == 3:
            v1, v2, v3 = d[1], d[2], d[3]
            if v1 < v2:
                row.out[i] = v2 if v2 < v3 else (v3 if v1 < v3 else v1)
            else:
                row.out[i] = v2 if v2 > v3 else (v3 if v1 > v3 else v1)
        elif n1 == 2:
            row.out[i] = T((d[1] + d[2]) / T(2)) if medavg else min(d[1], d[2])
        else:
            row.out[i] = d[1]


def _sigma(ctx: _Ctx, row: _Row) -> list[Any]:
    """IRAF ic_sigma about the output value (weighted if weights differ)."""
    T = ctx.T
    out: list[Any] = []
    for i, p in enumerate(row.px):
        n1 = p.n
        if row.dflag == _D_NONE or n1 <= 0:
            out.append(T(ctx.blank))
            continue
        a = row.out[i]
        d = p.d
        if ctx.dowts:
            sigcor = _R(_R(n1) / _R(n1 - 1)) if n1 > 1 else _R(1)
            wt = ctx.wts[p.ids[1]]
            s = T(_sq(T(d[1] - a)) * wt)
            sumwt = wt
            for j in range(2, n1 + 1):
                wt = ctx.wts[p.ids[j]]
                s = T(s + T(_sq(T(d[j] - a)) * wt))
                sumwt = _R(sumwt + wt)
            if row.dflag == _D_ALL:
                out.append(T(_sqrt(T(s * sigcor))))
            elif sumwt > 0:
                out.append(T(_sqrt(T(T(s / sumwt) * sigcor))))
            else:
                s = _sq(T(d[1] - a))
                for j in range(2, n1 + 1):
                    s = T(s + _sq(T(d[j] - a)))
                out.append(T(_sqrt(T(T(s / T(n1)) * sigcor))))
        else:
            sigcor = _R(_R(1) / _R(n1 - 1)) if n1 > 1 else _R(1)
            s = T(_sq(T(d[1] - a)))
            for j in range(2, n1 + 1):
                s = T(s + _sq(T(d[j] - a)))
            out.append(T(_sqrt(T(s * sigcor))))
    return out


def _combine_row(ctx: _Ctx, row: _Row, doblank: bool) -> None:
    """Dispatch to the combining routine."""
    if ctx.combine == "average":
        _average(ctx, row, doblank, True)
    elif ctx.combine == "median":
        _median(ctx, row, doblank)
    elif ctx.combine == "sum":
        _average(ctx, row, doblank, False)
    elif ctx.combine == "quadrature":
        _quad(ctx, row, doblank, False)
    else:
        _quad(ctx, row, doblank, True)


# ------------------------------------------------------------------------------ grow


def _grow_mark(ctx: _Ctx, row: _Row, y: int, pms: np.ndarray | None) -> np.ndarray | None:
    """IRAF ic_grow: mark a disc of radius ``grow`` around each rejected pixel."""
    if row.dflag == _D_NONE or ctx.grow == 0:
        return pms
    nimg, nx, ny = ctx.nimg, ctx.nx, ctx.ny
    igrow = int(ctx.grow)
    grow2 = _sq(_R(ctx.grow))
    rejected: list[tuple[int, int]] = []
    for j, p in enumerate(row.px):
        for k in range(p.n + 1, p.norig + 1):
            mp = p.ids[k]
            if mp != 0:
                rejected.append((j, mp))
    if not rejected:
        return pms
    if pms is None:
        pms = np.zeros((nimg, ny, nx), dtype=bool)
    for el in range(igrow + 1):
        i2 = _R(grow2 - _R(el * el))
        for j, mp in rejected:
            for di in range(igrow + 1):
                if di * di > i2:
                    continue
                for yy in {y - el, y + el}:
                    if 0 <= yy < ny:
                        if j - di >= 0:
                            pms[mp - 1, yy, j - di] = True
                        if j + di < nx:
                            pms[mp - 1, yy, j + di] = True
    return pms


def _grow_remove(ctx: _Ctx, row: _Row, y: int, pms: np.ndarray) -> None:
    """IRAF ic_grow$t: remove marked images from each list (last value into the gap)."""
    for k in range(1, ctx.nimg + 1):
        flags = pms[k - 1, y]
        if not flags.any():
            continue
        for i, p in enumerate(row.px):
            if not flags[i]:
                continue
            for j in range(1, p.n + 1):
                if p.ids[j] == k:
                    if j < p.n:
                        p.d[j] = p.d[p.n]
                        p.ids[j] = p.ids[p.n]
                    p.n -= 1
                    row.dflag = _D_MIX
                    break


# ------------------------------------------------------------------------------ statistics

_NMAX_STAT = 100000  # ic_stat: the grid must give fewer samples than this
_MODE_NMIN = 10  # ic_mode: fewer samples -> no binning
_MODE_ZRANGE = 0.7  # ic_mode: fraction of the sorted samples about the median searched
_MODE_ZSTEP = 0.01  # ic_mode: step of the bin (fraction of that range)
_MODE_ZBIN = 0.1  # ic_mode: width of the bin (fraction of that range)


def stat_grid(
    frame: Any,
    mask: Any = None,
    statsec_slices: Sequence[slice] | None = None,
    lthreshold: float | None = None,
    hthreshold: float | None = None,
) -> np.ndarray:
    """The sample IRAF's ``ic_stat`` takes from one image, in IRAF's scan order.

    The region is ``statsec_slices`` (one slice per numpy axis; start/stop only, steps
    are ignored like IRAF ignores the step of ``statsec``; default the whole image).
    On every axis the same step ``j`` is used, the smallest ``j`` in 1..10 for which the
    grid ``prod_k ((len_k - 1) // j + 1)`` has fewer than 100000 points (``j = 10`` if
    none has); the grid starts at the first pixel of the region. Masked pixels and raw
    values outside ``[lthreshold, hthreshold]`` (compared as float32) are left out.

    Parameters
    ----------
    frame : array_like
        One image (any number of axes, numpy order).
    mask : array_like of bool, optional
        True where a pixel is bad.
    statsec_slices : sequence of slice, optional
        Region of the image (numpy order).
    lthreshold, hthreshold : float, optional
        Thresholds on the raw values.

    Returns
    -------
    numpy.ndarray
        The float32 samples, with the last (x) axis varying fastest.
    """
    a = np.asarray(frame)
    if statsec_slices is None:
        statsec_slices = tuple(slice(None) for _ in range(a.ndim))
    bounds = []
    for sl, size in zip(statsec_slices, a.shape, strict=True):
        start, stop, _ = sl.indices(size)
        bounds.append((start, max(start, stop - 1)))
    for j in range(1, 11):
        counts = [max(1, (hi - lo) // j + 1) for lo, hi in bounds]
        if math.prod(counts) < _NMAX_STAT:
            break
    index = tuple(
        slice(lo, lo + (c - 1) * j + 1, j) for (lo, _), c in zip(bounds, counts, strict=True)
    )
    sample = a[index].astype(np.float32).ravel()
    keep = np.ones(sample.shape, dtype=bool)
    if mask is not None:
        keep &= ~np.asarray(mask, dtype=bool)[index].ravel()
    if lthreshold is not None or hthreshold is not None:
        lo = -_MAX_REAL if lthreshold is None else _R(lthreshold)
        hi = _MAX_REAL if hthreshold is None else _R(hthreshold)
        keep &= (sample >= lo) & (sample <= hi)
    return sample[keep]


def stat_median(sample: Any) -> np.float32:
    """IRAF's statistics "median": the sorted element at 1-based index ``n // 2``.

    That is the lower middle value for even ``n`` and the value *below* the middle for
    odd ``n``: (1, 2, 3, 4, 5) -> 2. For ``n == 1`` IRAF reads before the array; the
    single value is returned here.
    """
    a = np.sort(np.asarray(sample, dtype=np.float32).ravel())
    if a.size == 0:
        raise ValueError("Image section contains no pixels")
    return np.float32(a[max(a.size // 2 - 1, 0)])


def stat_mean(sample: Any, sort: bool = False) -> np.float32:
    """IRAF's statistics "mean": float32 running sum / n.

    The sum runs in sample order, or in sorted order when ``sort`` is true: IRAF sorts
    the sample in place first whenever a mode or a median is also needed by any of
    ``scale``, ``zero``, ``weight``, and the float32 sum depends on the order.
    """
    a = np.asarray(sample, dtype=np.float32).ravel()
    if sort:
        a = np.sort(a)
    if a.size == 0:
        raise ValueError("Image section contains no pixels")
    s = _R(0)
    for v in a:
        s = _R(s + v)
    return _R(s / _R(a.size))


def stat_mode(sample: Any, integer_data: bool = False, calc: str = "real") -> Any:
    """IRAF's binned mode (``ic_mode``) of a sample.

    Sort the sample. With fewer than 10 values return the sorted element at 1-based
    index ``n // 2``. Otherwise take the values between 1-based indices
    ``i = 1 + int(n * 0.3 / 2)`` and ``j = 1 + int(n * 1.7 / 2)`` (float32); if
    ``a[i] == a[j]`` that value is the mode. Else slide a bin of width
    ``0.1 * (a[j] - a[i])`` in steps of ``0.01 * (a[j] - a[i])`` (both at least 1 for
    integer data) from ``a[i]`` and return the sorted element at the middle
    (``(lo + hi) // 2``, 1-based) of the first bin holding the most values, the bin being
    ``[lo, hi)`` = values ``>= z1`` and ``< z1 + width`` counted below index ``j``.
    Bin limits are float32.

    IMCOMBINE always calls the real version (its ``ic_statr``), so for the task itself
    use ``integer_data=False`` and ``calc="real"`` whatever the image type.

    Parameters
    ----------
    sample : array_like
        The values (any order).
    integer_data : bool
        IRAF's integer instantiation (bin and step at least 1).
    calc : {"real", "double"}
        Type of the values (the bin limits are float32 in both).

    Returns
    -------
    numpy.float32 or numpy.float64
        The mode.
    """
    T = np.float32 if calc == "real" else np.float64
    a = np.sort(np.asarray(sample).astype(T).ravel())
    n = a.size
    if n == 0:
        raise ValueError("Image section contains no pixels")
    if n < _MODE_NMIN:
        return a[max(n // 2 - 1, 0)]
    b = [None, *a]  # 1-based
    i = 1 + int(_R(_R(n) * _R(_R(1) - _R(_MODE_ZRANGE))) / _R(2))
    j = 1 + int(_R(_R(n) * _R(_R(1) + _R(_MODE_ZRANGE))) / _R(2))
    z1, z2 = _R(b[i]), _R(b[j])
    if z1 == z2:
        return b[i]
    zstep = _R(_R(_MODE_ZSTEP) * _R(z2 - z1))
    zbin = _R(_R(_MODE_ZBIN) * _R(z2 - z1))
    if integer_data:
        zstep = max(_R(1), zstep)
        zbin = max(_R(1), zbin)
    z1 = _R(z1 - zstep)
    k = i
    nmax = 0
    mode = b[i]
    while True:
        z1 = _R(z1 + zstep)
        z2 = _R(z1 + zbin)
        while i < j and b[i] < z1:
            i += 1
        while k < j and b[k] < z2:
            k += 1
        if k - i > nmax:
            nmax = k - i
            mode = b[(i + k) // 2]
        if k >= j:
            break
    return mode


def scale_zero_weight(
    scale: str = "none",
    zero: str = "none",
    weight: str = "none",
    *,
    nimages: int | None = None,
    stats: dict[str, Any] | None = None,
    scale_values: Any = None,
    zero_values: Any = None,
    weight_values: Any = None,
    exptime: Any = None,
    ncombine: Any = None,
) -> dict[str, Any]:
    """IRAF ``ic_scale``: the internal scales, zeros and weights of :func:`imcombine_ref`.

    Parameters
    ----------
    scale : {"none", "mode", "median", "mean", "exposure", "file", "keyword"}
        Source of the scale factors (``"file"``/``"keyword"`` = IRAF's ``@file``/``!KEY``,
        values in ``scale_values``; ``"exposure"`` uses ``exptime``).
    zero : {"none", "mode", "median", "mean", "file", "keyword"}
        Source of the zero levels (values in ``zero_values`` for file/keyword).
    weight : {"none", "mode", "median", "mean", "exposure", "file", "keyword"}
        Source of the weights (values in ``weight_values`` for file/keyword).
    nimages : int, optional
        Number of images (default: from the given arrays).
    stats : dict, optional
        Per-image statistics by name (``"mode"``, ``"median"``, ``"mean"``), e.g. from
        :func:`stat_mode`/:func:`stat_median`/:func:`stat_mean` of :func:`stat_grid`.
    scale_values, zero_values, weight_values : array_like, optional
        The numbers read from the @file or the keyword (float32).
    exptime : array_like, optional
        Exposure times (IRAF uses 0 when ``expname`` is empty or the keyword is missing;
        ``"exposure"`` then uses ``max(0.001, exptime)``).
    ncombine : array_like of int, optional
        NCOMBINE of each image (default 1).

    Returns
    -------
    dict
        ``scales``, ``zeros``, ``weights`` (float32 arrays, IRAF's internal convention:
        the value used is ``x / scales[i] - zeros[i]``; ``scales[0] == 1``; weights sum to
        1), ``doscale``, ``dozero``, ``dowts`` (IRAF's flags) and ``warnings`` (list).

    Notes
    -----
    As in IRAF, in float32:

    1. Raw values: a statistic, a file/keyword value, ``max(0.001, exptime)``, or the
       default (scale 1, zero 0, weight 1).
    2. Any scale ``<= 0``: warning, all scales 1.
    3. File/keyword scales are inverted (``1 / v``; they *multiply* the data). All scales
       are divided by the first one. The zeros are divided by these scales.
    4. Weights (if ``weight != "none"``): a negative weight -> warning, the weights become
       NCOMBINE. With ``zero`` none, file or keyword, or weights from a file or keyword:
       ``w_i = ncombine_i * w_i``. Otherwise ``w_i = ncombine_i * w_i * z_1 / z_i`` with
       the scaled zero levels; a zero level ``<= 0`` gives a warning and from that image
       on only the NCOMBINE factor is applied to all weights (the images before it keep
       their zero adjustment: IRAF's loop breaks half-way).
    5. File/keyword zeros are negated (they are *added*: ``x / s + z / s``); statistics
       zeros become ``z_i - z_1``.
    6. Weights are divided by their float32 sum (if it is ``<= 0``: warning, all 1).
    """
    arrays = [
        a for a in (scale_values, zero_values, weight_values, exptime, ncombine) if a is not None
    ]
    if stats:
        arrays.extend(stats.values())
    if nimages is None:
        if not arrays:
            raise ValueError("nimages is needed")
        nimages = len(np.atleast_1d(arrays[0]))
    n = int(nimages)
    stats = stats or {}
    warnings: list[str] = []
    nc = np.ones(n, dtype=np.int64) if ncombine is None else np.asarray(ncombine, np.int64)
    et = np.zeros(n, np.float32) if exptime is None else np.asarray(exptime, np.float32)

    def raw(kind: str, values: Any, default: float, what: str) -> np.ndarray:
        if kind == "none":
            return np.full(n, default, np.float32)
        if kind in ("file", "keyword"):
            if values is None:
                raise ValueError(f"{what}_values needed for {what}={kind!r}")
            return np.asarray(values, np.float32).reshape(n).copy()
        if kind == "exposure":
            if what == "zero":
                raise ValueError("zero cannot be 'exposure'")
            return np.maximum(np.float32(0.001), et).astype(np.float32)
        if kind in ("mode", "median", "mean"):
            if kind not in stats:
                raise ValueError(f"stats[{kind!r}] needed for {what}={kind!r}")
            return np.asarray(stats[kind], np.float32).reshape(n).copy()
        raise ValueError(f"unknown {what} type {kind!r}")

    sc = raw(scale, scale_values, 1.0, "scale")
    ze = raw(zero, zero_values, 0.0, "zero")
    wt = raw(weight, weight_values, 1.0, "weight")
    if np.any(sc <= 0):
        warnings.append("WARNING: Negative scale factors -- ignoring scaling")
        sc[:] = 1
    snorm = scale in ("file", "keyword")
    znorm = zero in ("file", "keyword")
    wflag = weight in ("file", "keyword")
    if snorm:
        sc = (np.float32(1) / sc).astype(np.float32)
    sc = (sc / sc[0]).astype(np.float32)
    ze = (ze / sc).astype(np.float32)
    if weight != "none":
        for i in range(n):
            if wt[i] < 0:
                warnings.append("WARNING: Negative weights -- using only NCOMBINE weights")
                wt = nc.astype(np.float32)
                break
            if zero == "none" or znorm or wflag:
                wt[i] = _R(_R(nc[i]) * wt[i])
            else:
                if ze[i] <= 0:
                    warnings.append(
                        "WARNING: Negative zero offsets -- ignoring zero weight adjustments"
                    )
                    for k in range(n):
                        wt[k] = _R(_R(nc[k]) * wt[k])
                    break
                wt[i] = _R(_R(_R(_R(nc[i]) * wt[i]) * ze[0]) / ze[i])
    ze = (-ze if znorm else ze - ze[0]).astype(np.float32)
    total = _R(0)
    for v in wt:
        total = _R(total + v)
    if total > 0:
        wt = (wt / total).astype(np.float32)
    else:
        warnings.append("WARNING: Mean weight is zero -- using no weights")
        wt = np.ones(n, np.float32)
    return {
        "scales": sc,
        "zeros": ze,
        "weights": wt,
        "doscale": bool(snorm or np.any(sc[1:] != sc[0])),
        "dozero": bool(znorm or np.any(ze[1:] != ze[0])),
        "dowts": bool(np.any(wt[1:] != wt[0])),
        "warnings": warnings,
    }


# ------------------------------------------------------------------------------ driver


def _as_frames(x: Any, n: int, default: float) -> np.ndarray:
    """Per-frame float32 array (1-based: index 0 unused)."""
    if x is None:
        arr = np.full(n, default, dtype=np.float32)
    else:
        arr = np.broadcast_to(np.asarray(x, dtype=np.float32), (n,)).astype(np.float32)
    return np.concatenate([np.zeros(1, np.float32), arr])


def _resolve_defects(iraf_defects: bool | Iterable[str]) -> frozenset[str]:
    if iraf_defects is True:
        return DEFECTS
    if iraf_defects is False or iraf_defects is None:
        return frozenset()
    names = frozenset(iraf_defects)
    unknown = names - DEFECTS
    if unknown:
        raise ValueError(f"unknown IRAF defects: {sorted(unknown)}")
    return names


def imcombine_ref(
    stack: Any,
    *,
    combine: str = "average",
    reject: str = "none",
    calc: str = "real",
    outint: bool = False,
    mask: Any = None,
    lthreshold: float | None = None,
    hthreshold: float | None = None,
    scales: Any = None,
    zeros: Any = None,
    weights: Any = None,
    nlow: int = 1,
    nhigh: int = 1,
    nkeep: int = 1,
    mclip: bool = True,
    lsigma: float | None = 3.0,
    hsigma: float | None = 3.0,
    rdnoise: Any = 0.0,
    gain: Any = 1.0,
    snoise: Any = 0.0,
    sigscale: float | None = 0.1,
    pclip: float | None = -0.5,
    grow: float | None = 0.0,
    blank: float | None = 0.0,
    iraf_defects: bool | Iterable[str] = False,
) -> dict[str, np.ndarray]:
    """Combine a stack exactly like IRAF 2.17 IMCOMBINE (slow reference).

    Parameters
    ----------
    stack : array_like, shape (N, ny, nx) or (N, nx)
        The input images (a 2-D stack is treated as ``ny = 1``).
    combine : {"average", "median", "lmedian", "sum", "quadrature", "nmodel"}
        Combining algorithm. ``quadrature`` is ``sqrt(sum x**2) / n`` and ``nmodel`` is
        ``sqrt(sum model(x)) / n`` with the ccdclip noise model in each image's units.
    reject : {"none", "minmax", "ccdclip", "crreject", "sigclip", "avsigclip", "pclip"}
        Rejection algorithm.
    calc : {"real", "double"}
        IRAF's calculation type: its real (float32) or double instantiation.
    outint : bool
        Integer output image: the results are truncated toward zero.
    mask : array_like of bool, shape like ``stack``, optional
        True where a pixel is bad (excluded and counted as rejected in ``rejmask``).
    lthreshold, hthreshold : float, optional
        Raw values outside ``[lthreshold, hthreshold]`` (compared as float32) are excluded.
    scales, zeros : array_like, shape (N,), optional
        IRAF's internal factors (float32): the value used is ``x / scales[i] - zeros[i]``,
        normalised so that ``scales[0] == 1`` (see :func:`scale_zero_weight`). The sigmas
        of the clipping are scaled per image when the scales differ and some
        ``|scales[i] - 1| > sigscale``.
    weights : array_like, shape (N,), optional
        IRAF's internal weights (float32, normalised to a float32 sum of 1); used by
        average, quadrature, nmodel and the sigma image only when they differ between
        images, never by median/lmedian, sum or any rejection.
    nlow, nhigh : int
        minmax: numbers of low and high values to reject (as fractions of N per pixel).
    nkeep : int
        Minimum number to keep (``>= 0``) or maximum number to reject (``< 0``).
    mclip : bool
        Median (yes) or mean (no) centre for sigclip, avsigclip, ccdclip, crreject.
    lsigma, hsigma : float or None
        Clipping factors (None = INDEF = no limit).
    rdnoise, gain, snoise : float or array_like
        ccdclip/crreject/nmodel noise model (electrons, e-/DN, fraction), per image allowed.
    sigscale : float or None
        Tolerance of ``|scale - 1|`` above which the sigmas are scaled per image.
    pclip : float or None
        pclip parameter (fraction of half the images, or a number of pixels).
    grow : float or None
        Radius (pixels) of the disc grown around rejected pixels.
    blank : float or None
        Output where no value survives.
    iraf_defects : bool or iterable of str
        Reproduce IRAF's defects (all, none, or the named ones; see :data:`DEFECTS`).

    Returns
    -------
    dict
        ``output`` (ny, nx), ``sigma`` (ny, nx), ``rejmask`` (N, ny, nx) bool (True where
        an image does not contribute: masked, thresholded, rejected or grown) and
        ``nrejmask`` (ny, nx) int (their number); float32 arrays for ``calc="real"``,
        float64 for ``"double"``; ``output`` truncated toward zero when ``outint``.

    Notes
    -----
    The rejection masks assume IRAF keeps image numbers (as it does whenever rejection
    masks, weights or grow are used); only ``avsigclip_sigma_clobber`` depends on that.
    """
    if combine not in _COMBINES:
        raise ValueError(f"combine must be one of {_COMBINES}")
    if reject not in _REJECTS:
        raise ValueError(f"reject must be one of {_REJECTS}")
    if calc not in ("real", "double"):
        raise ValueError("calc must be 'real' or 'double'")
    T = np.float32 if calc == "real" else np.float64
    data = np.asarray(stack)
    if data.ndim == 2:
        data = data[:, None, :]
    if data.ndim != 3:
        raise ValueError("stack must have shape (nimg, ny, nx) or (nimg, nx)")
    data = data.astype(T)
    nimg, ny, nx = data.shape
    if mask is not None:
        mask = np.asarray(mask, dtype=bool).reshape(data.shape)
    if pclip is None:
        pclip = -0.5
    if reject == "pclip" and pclip == 0:
        raise ValueError("pclip may not be zero")
    medlow = combine == "lmedian"
    comb = "median" if combine in ("median", "lmedian") else combine
    # mclip as the task forces it.
    if reject in ("minmax", "none"):
        mclip = False
    elif reject == "pclip":
        mclip = True
    lsig = _MAX_REAL if lsigma is None else _R(lsigma)
    hsig = _MAX_REAL if hsigma is None else _R(hsigma)
    if reject == "crreject":
        lsig = _MAX_REAL
    # pclip as a number of pixels (icombine.x).
    pc = _R(pclip)
    if reject == "pclip":
        half = nimg // 2
        if abs(pc) < 1:
            pc = _R(pc * _R(half))
        pc = _R(min(-1, max(-half, int(pc)))) if pc < 0 else _R(max(1, min(half, int(pc))))
    # minmax fractions (icombine.x): the task errors or switches rejection off.
    flow = _R(_R(nlow) / _R(nimg)) if nlow >= 1 else _R(nlow)
    fhigh = _R(_R(nhigh) / _R(nimg)) if nhigh >= 1 else _R(nhigh)
    if reject == "minmax":
        i, j = int(_R(flow * _R(nimg))), int(_R(fhigh * _R(nimg)))
        if i + j == 0:
            reject = "none"
        elif i + j >= nimg:
            raise ValueError("Bad minmax rejection parameters")
    sc = _as_frames(scales, nimg, 1.0)
    ze = _as_frames(zeros, nimg, 0.0)
    wt = _as_frames(weights, nimg, 1.0 / nimg)
    doscale = scales is not None or zeros is not None
    sigsc = _R(0.0 if sigscale is None else sigscale)
    doscale1 = bool(
        sigsc != 0 and np.any(sc[1:] != sc[1]) and np.any(np.abs(sc[1:] - _R(1)) > sigsc)
    )
    dowts = bool(weights is not None and np.any(wt[1:] != wt[1]) and comb != "median")
    # Noise model (ccdclip, crreject): ((rdnoise/gain)^2, gain, snoise) per image.
    rn, gn, sn = (
        _as_frames(rdnoise, nimg, 0.0),
        _as_frames(gain, nimg, 1.0),
        _as_frames(snoise, nimg, 0.0),
    )
    tiny = _R(_R(1e4) / _MAX_REAL)
    nm = [(_R(0), _R(1), _R(0))] + [
        (max(_R(_sq(_R(rn[k] / gn[k]))), tiny), gn[k], sn[k]) for k in range(1, nimg + 1)
    ]
    nmod = [(_R(0), _R(1), _R(0))]
    for k in range(1, nimg + 1):
        g = _R(gn[k] * sc[k])
        nmod.append((max(_R(_sq(_R(rn[k] / g))), tiny), g, sn[k]))
    ctx = _Ctx(
        T=T,
        nimg=nimg,
        ny=ny,
        nx=nx,
        data=data,
        mask=mask,
        combine=comb,
        medlow=medlow,
        reject=reject,
        mclip=bool(mclip),
        lsigma=lsig,
        hsigma=hsig,
        nkeep=int(nkeep),
        flow=flow,
        fhigh=fhigh,
        pclip=pc,
        grow=_R(0.0 if grow is None else grow),
        blank=_R(0.0 if blank is None else blank),
        dothresh=lthreshold is not None or hthreshold is not None,
        lthresh=-_MAX_REAL if lthreshold is None else _R(lthreshold),
        hthresh=_MAX_REAL if hthreshold is None else _R(hthreshold),
        doscale=doscale,
        doscale1=doscale1,
        dowts=dowts,
        scales=sc,
        zeros=ze,
        wts=wt,
        nm=nm,
        nmod=nmod,
        defects=_resolve_defects(iraf_defects),
        grow_pass=False,
    )
    output = np.zeros((ny, nx), dtype=T)
    sigma = np.zeros((ny, nx), dtype=T)
    rejmask = np.zeros((nimg, ny, nx), dtype=bool)
    nrej = np.zeros((ny, nx), dtype=np.int64)
    pms: np.ndarray | None = None
    pass1 = np.zeros((ny, nx), dtype=T)
    # IRAF writes each output line through one reused line buffer (cleared at the start);
    # values not written in a line keep what the previous line left there.
    linebuf: list[Any] = [T(0)] * nx

    def finish(row: _Row, y: int) -> None:
        sigma[y] = _sigma(ctx, row)
        for j, p in enumerate(row.px):
            kept = set(p.ids[1 : p.n + 1]) if p.n > 0 else set()
            if p.n == nimg:
                kept = set(range(1, nimg + 1))
            for k in range(1, nimg + 1):
                rejmask[k - 1, y, j] = k not in kept
            nrej[y, j] = nimg - p.n
        output[y] = row.out

    docombine = True
    for y in range(ny):
        row = _gdata(ctx, y)
        row.out = list(linebuf)
        row.docombine = docombine
        _reject_row(ctx, row)
        docombine = row.docombine
        if (pms is None or ctx.nkeep > 0) and row.docombine:
            _combine_row(ctx, row, True)
        pass1[y] = row.out
        linebuf = list(row.out)
        if ctx.grow >= 1:
            pms = _grow_mark(ctx, row, y, pms)
        if pms is None:
            finish(row, y)
    if pms is not None:
        ctx.grow_pass = True
        for y in range(ny):
            row = _gdata(ctx, y)
            _grow_remove(ctx, row, y, pms)
            if ctx.nkeep > 0 and any(p.n < ctx.nkeep for p in row.px):
                row.out = list(pass1[y])
            elif ctx.defect("grow_empty_pixel"):
                row.out = list(linebuf)
            else:
                row.out = [T(ctx.blank)] * nx
            _combine_row(ctx, row, False)
            linebuf = list(row.out)
            finish(row, y)
    if outint:
        output = np.trunc(output).astype(T)
    return {"output": output, "sigma": sigma, "rejmask": rejmask, "nrejmask": nrej}


def _reject_row(ctx: _Ctx, row: _Row) -> None:
    """Dispatch to the rejection routine."""
    rej = ctx.reject
    if rej == "none":
        return
    if rej == "minmax":
        _rej_minmax(ctx, row)
    elif rej == "pclip":
        _rej_pclip(ctx, row)
    elif rej == "sigclip":
        if ctx.mclip:
            _rej_msigclip(ctx, row, ccd=False)
        else:
            _rej_asigclip(ctx, row)
    elif rej == "avsigclip":
        if ctx.mclip:
            _rej_mavsigclip(ctx, row)
        else:
            _rej_aavsigclip(ctx, row)
    else:
        if ctx.mclip:
            _rej_msigclip(ctx, row, ccd=True)
        else:
            _rej_accdclip(ctx, row)
