"""Slow, obviously-correct NumPy twins of the per-frame statistics of zero/scale normalisation.

The oracle of ``imc.resolve_zero_scale`` (and of the ``zero=``/``scale=``/``weights=``
statistics of ``Combiner.combine``, ``Combiner.zero_scale`` and ``ndcombine``). Everything
loops over frames, takes the samples of one frame with plain NumPy slicing, and applies the
rule literally:

* samples of frame i: the elements of ``stack[i][stat_region]`` on a grid with the same
  step ``j`` on every spatial axis (starting at the region's first element), kept only when
  finite, unmasked and inside the thresholds (``low <= x <= high`` on the raw value), as
  float64 in row-major order;
* ``j``: the explicit ``stat_step``, or IRAF's rule (:func:`grid_step`);
* statistics: ``mean``, ``median``, ``mode`` (IRAF's binned mode, :func:`iraf_mode`),
  ``sigclip_mean`` and ``sigclip_median`` (:func:`sigclip_stats`), or a callable;
* zero from a statistic ``z_i = stat_i`` (``- stat_0`` when normalising); scale from a
  statistic ``s_i = stat_i - z_i`` (``/ s_0`` when normalising), measured on the
  zero-corrected frame.

Sums use ``math.fsum`` (exactly rounded). Nothing here is shared with the package.
"""

import math
import numbers

import numpy as np
from reference import work_dtype

#: Names of the per-frame statistics (case-insensitive in the API).
STATISTICS = ("mean", "median", "mode", "sigclip_mean", "sigclip_median")
#: Names ``weights=`` accepts.
WEIGHT_STATISTICS = ("mean", "median", "mode")

#: IRAF's sampling rule: the grid step is the smallest j <= MAX_GRID_STEP giving fewer
#: than MAX_GRID_POINTS grid points.
MAX_GRID_POINTS = 100_000
MAX_GRID_STEP = 10

# IRAF ic_mode constants.
_MODE_NMIN = 10  # fewer samples: no binning
_MODE_ZRANGE = 0.7  # fraction of the samples about the median that is searched
_MODE_ZSTEP = 0.01  # step of the bin, as a fraction of that range
_MODE_ZBIN = 0.1  # width of the bin, as a fraction of that range


# ------------------------------------------------------------------------------ sampling


def grid_step(region_shape):
    """IRAF's grid step for a region of this shape.

    The smallest ``j`` in ``1..10`` for which ``prod_k ceil(len_k / j) < 100000``; 10 when
    none is.
    """
    for j in range(1, MAX_GRID_STEP + 1):
        points = math.prod(-(-int(size) // j) for size in region_shape)
        if points < MAX_GRID_POINTS:
            return j
    return MAX_GRID_STEP


def check_stat_region(spatial_shape, stat_region):
    """Raise ValueError unless ``stat_region`` is None or a valid tuple of slices."""
    if stat_region is None:
        return
    if not isinstance(stat_region, tuple) or not all(isinstance(s, slice) for s in stat_region):
        raise ValueError(f"stat_region must be a tuple of slices, got {stat_region!r}")
    if len(stat_region) > len(spatial_shape):
        raise ValueError(
            f"stat_region has {len(stat_region)} slices for {len(spatial_shape)} spatial axes"
        )
    for s in stat_region:
        if s.step not in (None, 1):
            raise ValueError(f"stat_region slices must have step 1, got {s!r}")
    for s, size in zip(stat_region, spatial_shape, strict=False):
        if len(range(*s.indices(size))) == 0:
            raise ValueError(f"stat_region is empty: {stat_region!r}")


def check_stat_step(stat_step):
    """Raise ValueError unless ``stat_step`` is None or an int >= 1."""
    if stat_step is None:
        return
    if not isinstance(stat_step, numbers.Integral) or isinstance(stat_step, bool):
        raise ValueError(f"stat_step must be None or an int >= 1, got {stat_step!r}")
    if stat_step < 1:
        raise ValueError(f"stat_step must be >= 1, got {stat_step}")


def region_slices(spatial_shape, stat_region):
    """One slice per spatial axis: ``stat_region`` padded with whole axes."""
    given = () if stat_region is None else tuple(stat_region)
    return given + (slice(None),) * (len(spatial_shape) - len(given))


def frame_samples(stack, i, mask=None, thresholds=None, stat_region=None, stat_step=None):
    """The float64 samples (1-D, row-major order) that the statistics of frame ``i`` use.

    ::

        sub  = stack[i][stat_region]                    (missing trailing axes: whole)
        j    = stat_step or grid_step(sub.shape)
        grid = sub[::j, ::j, ...]
        keep = isfinite(grid) & ~mask[i][stat_region][::j, ...] & (low <= grid <= high)
    """
    stack = np.asarray(stack)
    frame = stack[i]
    check_stat_region(frame.shape, stat_region)
    check_stat_step(stat_step)
    region = region_slices(frame.shape, stat_region)
    sub = frame[region]
    step = grid_step(sub.shape) if stat_step is None else int(stat_step)
    grid = (slice(None, None, step),) * sub.ndim
    values = np.array(sub[grid], dtype=np.float64).ravel()
    use = np.isfinite(values)
    if mask is not None:
        frame_mask = np.asarray(mask)[i][region][grid]
        use &= ~np.array(frame_mask, dtype=bool).ravel()
    if thresholds is not None:
        low, high = thresholds
        use &= (values >= low) & (values <= high)
    return values[use]


# ---------------------------------------------------------------------------- statistics


def mean(v):
    """fsum(v) / n."""
    v = np.asarray(v, dtype=np.float64)
    return math.fsum(v) / v.size


def median(v):
    """The middle value; for even n the mean of the two middle values (as ``np.median``)."""
    s = np.sort(np.asarray(v, dtype=np.float64))
    n = s.size
    if n % 2 == 1:
        return float(s[n // 2])
    return (float(s[n // 2 - 1]) + float(s[n // 2])) / 2.0


def iraf_mode(sorted_values, integer, work_dtype):
    """IRAF's binned mode (the behaviour of ``ic_mode``) of ascending ``sorted_values``.

    With the sorted values as ``a[1..n]`` (1-based)::

        n < 10:  a[max(n // 2, 1)]
        i = 1 + int(n * (1 - 0.7) / 2);  j = 1 + int(n * (1 + 0.7) / 2)   (float32 arithmetic)
        z1 = a[i];  z2 = a[j];  if z1 == z2: z1
        zstep = 0.01 * (z2 - z1);  zbin = 0.1 * (z2 - z1)   (both >= 1 for integer stacks)
        z1 = z1 - zstep;  k = i;  nmax = 0
        repeat:
            z1 = z1 + zstep;  z2 = z1 + zbin
            advance i while i < j and a[i] < z1
            advance k while k < j and a[k] < z2
            if k - i > nmax:  nmax = k - i;  mode = a[(i + k) // 2]
        until k >= j

    ``z1``, ``z2``, ``zstep`` and ``zbin`` are ``work_dtype`` scalars (float32 or float64);
    the values are compared with them exactly. Returns NaN for no values.
    """
    v = np.asarray(sorted_values, dtype=np.float64)
    n = v.size
    if n == 0:
        return math.nan
    a = np.concatenate(([math.nan], v))  # a[1..n]
    if n < _MODE_NMIN:
        return float(a[max(n // 2, 1)])

    f32 = np.float32
    i = 1 + int(f32(n) * (f32(1) - f32(_MODE_ZRANGE)) / f32(2))
    j = 1 + int(f32(n) * (f32(1) + f32(_MODE_ZRANGE)) / f32(2))

    w = np.dtype(work_dtype).type
    z1 = w(a[i])
    z2 = w(a[j])
    if z1 == z2:
        return float(z1)
    zstep = w(_MODE_ZSTEP) * (z2 - z1)
    zbin = w(_MODE_ZBIN) * (z2 - z1)
    if integer:
        zstep = max(w(1), zstep)
        zbin = max(w(1), zbin)

    z1 = z1 - zstep
    k = i
    nmax = 0
    mode = math.nan
    while True:
        moved = z1 + zstep
        z1 = moved if moved != z1 else np.nextafter(z1, w(math.inf))  # never stand still
        z2 = z1 + zbin
        while i < j and a[i] < z1:
            i += 1
        while k < j and a[k] < z2:
            k += 1
        if k - i > nmax:
            nmax = k - i
            mode = float(a[(i + k) // 2])
        if k >= j:
            break
    return mode


def population_std(x):
    """sqrt(sum((x - mean)^2) / n), the mean being fsum(x) / n."""
    x = np.asarray(x, dtype=np.float64)
    m = math.fsum(x) / x.size
    return math.sqrt(math.fsum((x - m) ** 2) / x.size)


def sigclip_stats(v, sigma=3.0, maxiters=5):
    """(mean, median) of the survivors of iterated sigma clipping.

    One pass over the current survivors ``x``::

        med = median(x);  std = population_std(x)      (about the mean, ddof = 0)
        keep med - sigma * std <= x <= med + sigma * std

    Passes repeat until one keeps everything or ``maxiters`` passes ran (``None``: until
    convergence). (NaN, NaN) if nothing survives.
    """
    x = np.asarray(v, dtype=np.float64)
    passes = 0
    while x.size and (maxiters is None or passes < maxiters):
        passes += 1
        med = median(x)
        std = population_std(x)
        keep = (x >= med - sigma * std) & (x <= med + sigma * std)
        if keep.all():
            break
        x = x[keep]
    if x.size == 0:
        return math.nan, math.nan
    return mean(x), median(x)


def statistic(name, v, *, integer=False, work_dtype=np.float64, sigma=3.0, maxiters=5):
    """One named statistic of the float64 samples ``v`` (``name`` case-insensitive).

    ``integer`` and ``work_dtype`` describe the stack (they matter for ``mode`` only).
    """
    key = str(name).lower()
    v = np.asarray(v, dtype=np.float64)
    if v.size == 0:
        return math.nan
    if key == "mean":
        return mean(v)
    if key == "median":
        return median(v)
    if key == "mode":
        return iraf_mode(np.sort(v), integer, work_dtype)
    if key == "sigclip_mean":
        return sigclip_stats(v, sigma, maxiters)[0]
    if key == "sigclip_median":
        return sigclip_stats(v, sigma, maxiters)[1]
    raise ValueError(f"unknown statistic {name!r}; valid names are {', '.join(STATISTICS)}")


# ------------------------------------------------------------------- resolve_zero_scale


def _is_statistic(value):
    return isinstance(value, str) or callable(value)


def _callable_number(result):
    """The float a callable returned (a real scalar, or a 0-d real array), else TypeError."""
    if isinstance(result, bool | np.bool_):
        raise TypeError(f"the statistic callable must return a number, got {result!r}")
    if isinstance(result, numbers.Real):
        return float(result)
    if isinstance(result, np.ndarray) and result.ndim == 0 and result.dtype.kind in "iuf":
        return float(result)
    raise TypeError(f"the statistic callable must return a number, got {type(result).__name__}")


def _given(value, n, name, positive):
    """A number or N numbers given by the caller, as float64 (N,), used as given."""
    arr = np.array(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(n, float(arr))
    if arr.shape != (n,):
        raise ValueError(f"{name} must be a number or have shape ({n},), got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    if positive and np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0")
    return arr


def _measure(stack, spec, offsets, name, opts):
    """``spec(samples_i) - offsets[i]`` (named statistic) or ``spec(samples_i - offsets[i])``
    (callable) for every frame i, as float64 (N,)."""
    stack = np.asarray(stack)
    n = stack.shape[0]
    integer = stack.dtype.kind in "iu"
    wdt = work_dtype(stack.dtype)
    if isinstance(spec, str) and spec.lower() not in STATISTICS:
        raise ValueError(f"unknown statistic {spec!r}; valid names are {', '.join(STATISTICS)}")
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        v = frame_samples(stack, i, **opts["sampling"])
        if v.size == 0:
            raise ValueError(f"frame {i} has no usable sample for the {name} statistic")
        if callable(spec):
            value = _callable_number(spec(v - offsets[i]))
        else:
            value = statistic(spec, v, integer=integer, work_dtype=wdt, **opts["clip"])
            value = value - offsets[i]
        if math.isnan(value):
            raise ValueError(f"the {name} statistic of frame {i} is NaN")
        out[i] = value
    return out


def resolve_zero_scale_ref(
    stack,
    zero=None,
    scale=None,
    *,
    mask=None,
    thresholds=None,
    stat_region=None,
    stat_step=None,
    normalize=True,
    sigma=3.0,
    maxiters=5,
):
    """The (zero, scale) pair the API must return: float64 arrays of shape (N,) or None.

    ::

        zero statistic:   z_i = stat(samples_i)                 normalize: z_i - z_0
        scale statistic:  s_i = stat(samples_i) - z_i           normalize: s_i / s_0
        scale callable:   s_i = f(samples_i - z_i)              normalize: s_i / s_0
        numbers:          broadcast / used as given (never normalised)

    ``z_i`` is the final zero (0 when ``zero`` is None). Scales must be finite and > 0.
    """
    stack = np.asarray(stack)
    n = stack.shape[0]
    check_stat_region(stack.shape[1:], stat_region)
    check_stat_step(stat_step)
    opts = {
        "sampling": {
            "mask": mask,
            "thresholds": thresholds,
            "stat_region": stat_region,
            "stat_step": stat_step,
        },
        "clip": {"sigma": sigma, "maxiters": maxiters},
    }

    z = None
    if zero is not None:
        if _is_statistic(zero):
            raw = _measure(stack, zero, np.zeros(n), "zero", opts)
            if not np.all(np.isfinite(raw)):
                raise ValueError("the zero statistic must be finite")
            z = raw - raw[0] if normalize else raw
        else:
            z = _given(zero, n, "zero", positive=False)

    s = None
    if scale is not None:
        if _is_statistic(scale):
            offsets = np.zeros(n) if z is None else z
            raw = _measure(stack, scale, offsets, "scale", opts)
            with np.errstate(divide="ignore", invalid="ignore"):
                s = raw / raw[0] if normalize else raw
            if not (np.all(np.isfinite(s)) and np.all(s > 0)):
                raise ValueError(f"scale must come out finite and > 0, got {s.tolist()}")
        else:
            s = _given(scale, n, "scale", positive=True)
    return z, s


def frame_weights_ref(stack, name, zero, scale, *, mask=None, thresholds=None, **sampling):
    """``weights=name``: ``w_i = (stat_i - z_i) / s_i`` on the same samples (z=0, s=1 if None)."""
    stack = np.asarray(stack)
    n = stack.shape[0]
    integer = stack.dtype.kind in "iu"
    z = np.zeros(n) if zero is None else np.asarray(zero, dtype=np.float64)
    s = np.ones(n) if scale is None else np.asarray(scale, dtype=np.float64)
    w = np.empty(n)
    for i in range(n):
        v = frame_samples(stack, i, mask=mask, thresholds=thresholds, **sampling)
        stat = statistic(name, v, integer=integer, work_dtype=work_dtype(stack.dtype))
        w[i] = (stat - z[i]) / s[i]
    return w
