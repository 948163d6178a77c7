"""Recognise ccdproc's built-in statistics so they can run on the imcombiners core."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from astropy.stats import mad_std, median_absolute_deviation

__all__ = ["MAD_TO_SIGMA", "kind_of", "sigma_func"]

#: Factor turning a median absolute deviation into a Gaussian standard deviation (ccdproc's).
MAD_TO_SIGMA = 1.482602218505602


def sigma_func(arr: Any, axis: int | None = None, ignore_nan: bool = False) -> Any:
    """Robust standard deviation: ``1.4826 * MAD``, as ccdproc's ``sigma_func``.

    Parameters
    ----------
    arr : array_like
        The values.
    axis : int, optional
        Axis along which to compute it; all values when None.
    ignore_nan : bool, default False
        Skip NaN values.

    Returns
    -------
    numpy.ndarray or float
        The scaled median absolute deviation.
    """
    return median_absolute_deviation(arr, axis=axis, ignore_nan=ignore_nan) * MAD_TO_SIGMA


def _default_std() -> Callable[..., Any]:
    """Return the standard deviation ccdproc uses by default (NaN-ignoring)."""
    return np.nanstd


def _calculate_step_sizes(x_size: int, y_size: int, num_chunks: int) -> tuple[int, int]:
    """Tile steps giving at least ``num_chunks`` tiles, as ``ccdproc.combine`` computes them.

    Parameters
    ----------
    x_size, y_size : int
        Image size along the first and second axis.
    num_chunks : int
        Minimum number of tiles.

    Returns
    -------
    (int, int)
        Step along the first and along the second axis.
    """
    xstep = max(1, int(x_size / num_chunks))
    n_x = int(x_size / xstep)
    if n_x >= num_chunks:
        return xstep, y_size
    return xstep, max(1, int(y_size / (int(num_chunks / n_x) + 1)))


def _table() -> dict[int, str]:
    kinds: dict[str, list[Any]] = {
        "median": [np.ma.median, np.median, np.nanmedian],
        "mean": [np.ma.mean, np.mean, np.nanmean],
        "sum": [np.ma.sum, np.sum, np.nansum],
        "std": [np.ma.std, np.std, np.nanstd],
        "mad_std": [mad_std],
        "sigma_func": [sigma_func],
    }
    try:
        import bottleneck as bn
    except ImportError:
        pass
    else:
        for kind, name in (
            ("median", "nanmedian"),
            ("mean", "nanmean"),
            ("sum", "nansum"),
            ("std", "nanstd"),
        ):
            kinds[kind].append(getattr(bn, name))
    return {id(f): kind for kind, funcs in kinds.items() for f in funcs}


_KINDS = _table()
_STRINGS = {"median": "median", "mean": "mean", "std": "std", "mad_std": "mad_std"}


def kind_of(func: Any) -> str | None:
    """Name the built-in statistic ``func`` is, or None for a user callable.

    Parameters
    ----------
    func : callable or str or None
        A statistic as ccdproc accepts it; None is ccdproc's default and gives None here too.

    Returns
    -------
    str or None
        One of ``"median"``, ``"mean"``, ``"sum"``, ``"std"``, ``"mad_std"``, ``"sigma_func"``.
    """
    if func is None:
        return None
    if isinstance(func, str):
        return _STRINGS.get(func)
    kind = _KINDS.get(id(func))
    if (
        kind is None
        and getattr(func, "__name__", "") == "sigma_func"
        and str(getattr(func, "__module__", "")).startswith("ccdproc")
    ):
        return "sigma_func"
    return kind
