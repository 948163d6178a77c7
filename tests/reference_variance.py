"""Slow, obviously correct NumPy references for input variance planes (``variance=``).

One output element at a time, in plain Python over float64 values:

- `varclip`: clipping each sample against its own variance (``imc.VarClip``);
- `propagated`: the variance of a combined value from the variances of the samples it used
  (the formulas of ``docs/uncertainty.md``).
"""

from __future__ import annotations

import math

import numpy as np

# The output flag bits, as `imcombiners.OutputFlags` defines them (written out, not imported).
_MASKED, _MAXITERS, _NKEEP, _MAXREJ = 1, 2, 4, 8


def _centre(x, cenfunc):
    s = sorted(float(v) for v in x)
    n = len(s)
    if cenfunc == "mean":
        return math.fsum(s) / n
    if cenfunc == "lmedian" or n % 2 == 1:
        return s[(n - 1) // 2]
    return (s[n // 2 - 1] + s[n // 2]) / 2.0


def plane(variance, shape):
    """The variance of every sample: the plane itself, one value per frame (shape (N,)) or
    one value for all."""
    v = np.asarray(variance, dtype=np.float64)
    if v.shape != tuple(shape) and v.shape == (shape[0],):
        v = v.reshape((shape[0],) + (1,) * (len(shape) - 1))
    return np.broadcast_to(v, shape)


def usable(stack, variance, mask=None):
    """bool: finite, unmasked samples whose variance is finite and >= 0."""
    x = np.asarray(stack, dtype=np.float64)
    v = plane(variance, x.shape)
    ok = np.isfinite(x) & np.isfinite(v) & (v >= 0)
    if mask is not None:
        ok &= ~np.asarray(mask, dtype=bool)
    return ok


def varclip(
    stack,
    *,
    variance,
    mask=None,
    sigma_lower=3.0,
    sigma_upper=3.0,
    maxiters=100,
    cenfunc="median",
    nkeep=1,
    maxrej=None,
    revert_on_nkeep=True,
):
    """``imc.VarClip``: returns ``(mask_rej, None, low, upp, nit, output_flags)``.

    For each element, with ``keep`` its usable samples, each pass::

        c = cenfunc(x[keep])
        new = keep & ((x - c < -sigma_lower * sqrt(v)) | (x - c > sigma_upper * sqrt(v)))
        stop when nothing is new; a pass that would reject more than maxrej in all is undone
        (MAXREJ; NKEEP too if it would also leave fewer than nkeep); a pass that would leave
        fewer than nkeep is undone (or kept, without revert_on_nkeep) and ends the loop (NKEEP);
        MAXITERS when pass number maxiters still rejected and something survives.

    ``low``/``upp`` are the extreme survivors; ``output_flags`` has bit 1 where a sample was
    unusable on entry.
    """
    x = np.asarray(stack, dtype=np.float64)
    v = plane(variance, x.shape)
    use = usable(x, v, mask)
    n = x.shape[0]
    xs, vs, us = x.reshape(n, -1), v.reshape(n, -1), use.reshape(n, -1)
    npix = xs.shape[1]
    mask_rej = np.zeros((n, npix), dtype=bool)
    low = np.full(npix, math.nan)
    upp = np.full(npix, math.nan)
    nit = np.zeros(npix, dtype=np.int32)
    flags = np.zeros(npix, dtype=np.uint8)
    for p in range(npix):
        keep = us[:, p].copy()
        start = int(keep.sum())
        bits = 0 if us[:, p].all() else _MASKED
        passes = 0
        while passes < maxiters and keep.any():
            passes += 1
            c = _centre(xs[keep, p], cenfunc)
            new = np.zeros(n, dtype=bool)
            for i in np.flatnonzero(keep):
                d = xs[i, p] - c
                sd = math.sqrt(vs[i, p])
                new[i] = d < -sigma_lower * sd or d > sigma_upper * sd
            if not new.any():
                break
            left = int(keep.sum()) - int(new.sum())
            if maxrej is not None and start - left > maxrej:
                if left < nkeep:
                    bits |= _NKEEP
                bits |= _MAXREJ
                break
            if left < nkeep:
                bits |= _NKEEP
                if not revert_on_nkeep:
                    keep &= ~new
                break
            keep &= ~new
            if passes == maxiters and keep.any():
                bits |= _MAXITERS
        nit[p] = passes
        flags[p] = bits
        mask_rej[:, p] = us[:, p] & ~keep
        if keep.any():
            low[p] = xs[keep, p].min()
            upp[p] = xs[keep, p].max()
    shape = x.shape[1:]
    return (
        mask_rej.reshape(x.shape),
        None,
        low.reshape(shape),
        upp.reshape(shape),
        nit.reshape(shape),
        flags.reshape(shape),
    )


def propagated(stack, variance, used, method, *, weights=None, ddof=0, zero=None, scale=None):
    """The propagated variance (and, for ``method="ivar"``, the weighted mean) per element.

    ``used`` (bool, the stack's shape) marks the samples the combine used; unusable variances
    are skipped too. Per element, over the used samples after ``x' = (x - zero) / scale`` and
    ``v' = v / scale**2``::

        mean      sum(v) / n**2            sum        sum(v)
        weighted  sum(w**2 v) / sum(w)**2  ivar       1 / sum(1 / v), value sum(x / v) / sum(1 / v)
                                                      (zero variances: their mean, variance 0)
        median    n=1: v; n=2: (v1 + v2) / 4; else pi/2 * sum(v) / n**2
        lmedian   as median, but n=2: the variance of the lower value (first frame on ties)
        min/max   the variance of the selected value (first frame on ties)
        variance  2 * mean(v)**2 * (n - 1) / (n - ddof)**2   (NaN when n <= ddof)

    Returns ``(variance, value)``; ``value`` is None except for ``ivar``.
    """
    x = np.asarray(stack, dtype=np.float64)
    v = plane(variance, x.shape)
    n = x.shape[0]
    ok = np.asarray(used, dtype=bool) & usable(x, v)
    z = np.zeros(n) if zero is None else np.asarray(zero, dtype=np.float64)
    s = np.ones(n) if scale is None else np.asarray(scale, dtype=np.float64)
    xs, vs, us = x.reshape(n, -1), v.reshape(n, -1), ok.reshape(n, -1)
    npix = xs.shape[1]
    out = np.full(npix, math.nan)
    value = np.full(npix, math.nan)
    for p in range(npix):
        idx = [i for i in range(n) if us[i, p]]
        if not idx:
            continue
        xc = [(xs[i, p] - z[i]) / s[i] for i in idx]
        vc = [vs[i, p] / s[i] ** 2 for i in idx]
        k = len(idx)
        if method == "mean":
            out[p] = math.fsum(vc) / k**2
        elif method == "sum":
            out[p] = math.fsum(vc)
        elif method == "weighted_average":
            w = [float(weights[i]) for i in idx]
            sw = math.fsum(w)
            swwv = math.fsum(wi * wi * vi for wi, vi in zip(w, vc, strict=True))
            out[p] = swwv / sw**2 if sw > 0 else math.nan
        elif method == "ivar":
            exact = [xi for xi, vi in zip(xc, vc, strict=True) if vi == 0]
            if exact:
                out[p], value[p] = 0.0, math.fsum(exact) / len(exact)
            else:
                sw = math.fsum(1 / vi for vi in vc)
                out[p] = 1 / sw
                value[p] = math.fsum(xi / vi for xi, vi in zip(xc, vc, strict=True)) / sw
        elif method in ("median", "lmedian"):
            if k == 1:
                out[p] = vc[0]
            elif k == 2 and method == "median":
                out[p] = (vc[0] + vc[1]) / 4
            elif k == 2:
                out[p] = vc[1] if xc[1] < xc[0] else vc[0]
            else:
                out[p] = math.pi / 2 * math.fsum(vc) / k**2
        elif method in ("min", "max"):
            pick = min if method == "min" else max
            best = pick(xc)
            out[p] = vc[xc.index(best)]
        elif method == "variance":
            dof = k - ddof
            vbar = math.fsum(vc) / k
            out[p] = math.nan if dof <= 0 else 2 * vbar**2 * (k - 1) / dof**2
        else:
            raise ValueError(method)
    shape = x.shape[1:]
    return out.reshape(shape), (value.reshape(shape) if method == "ivar" else None)
