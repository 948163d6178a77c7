"""Slow, obviously-correct NumPy twins of the combine methods (the test oracle).

Every function loops over the output pixels, takes the samples of one pixel as
float64, drops the missing ones (non-finite or masked), and applies the formula
of ``docs/api-contract-issue2.md`` literally. Sums use ``math.fsum`` (exactly
rounded), so the oracle is at least as accurate as any float64 accumulation.
Nothing here is shared with the package.

All functions return float64 arrays shaped ``stack.shape[1:]``; the dtype the
package must return is given separately by :func:`expected_dtype`.
"""

import math

import numpy as np

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
