"""Type stub of the compiled core (``src/python/*.rs``), checked by ``tests/test_core_stub.py``.

The package calls it through `imcombiners._plan` (combines and rejection),
`imcombiners.normalization` (frame statistics) and `imcombiners.iraf` (IMCOMBINE).
"""

import numpy as np

from .rejectors import Rejector

__version__: str

def combine(
    stack: np.ndarray,
    method: str,
    *,
    mask: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    swapped: bool = False,
    keep_dtype: bool = False,
    threads: int = 1,
) -> np.ndarray: ...
def variance(
    stack: np.ndarray,
    *,
    ddof: float = 0.0,
    return_mean: bool = False,
    mask: np.ndarray | None = None,
    swapped: bool = False,
    threads: int = 1,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]: ...
def frame_stats(
    stack: np.ndarray,
    stats: list[str],
    *,
    mask: np.ndarray | None = None,
    thresholds: tuple[float, float] | None = None,
    region: list[tuple[int, int]] | None = None,
    step: int = 0,
    sigma: float = 3.0,
    maxiters: int | None = 5,
    swapped: bool = False,
    threads: int = 1,
) -> tuple[np.ndarray, np.ndarray, int]: ...
def frame_samples(
    stack: np.ndarray,
    frame: int,
    *,
    mask: np.ndarray | None = None,
    thresholds: tuple[float, float] | None = None,
    region: list[tuple[int, int]] | None = None,
    step: int = 0,
    swapped: bool = False,
) -> np.ndarray: ...
def reject(
    stack: np.ndarray,
    rejectors: list[Rejector],
    *,
    combine: str | None = None,
    mask: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    thresholds: tuple[float, float] | None = None,
    zero: np.ndarray | None = None,
    scale: np.ndarray | None = None,
    ddof: float = 0.0,
    diagnostics: bool = False,
    return_mask: bool = False,
    frame_counts: bool = False,
    swapped: bool = False,
    threads: int = 1,
) -> dict[str, np.ndarray]: ...
def grow_mask(mask: np.ndarray, radius: float, *, threads: int = 1) -> np.ndarray: ...
def propagate_variance(
    stack: np.ndarray,
    variance: np.ndarray,
    method: str,
    *,
    mask: np.ndarray | None = None,
    weights: np.ndarray | None = None,
    ddof: float = 0.0,
    zero: np.ndarray | None = None,
    scale: np.ndarray | None = None,
    swapped: bool = False,
    threads: int = 1,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]: ...
def varclip(
    stack: np.ndarray,
    variance: np.ndarray,
    rule: Rejector,
    *,
    mask: np.ndarray | None = None,
    zero: np.ndarray | None = None,
    scale: np.ndarray | None = None,
    swapped: bool = False,
    threads: int = 1,
) -> dict[str, np.ndarray]: ...
def iraf_combine(
    stack: np.ndarray,
    *,
    mask: np.ndarray | None = None,
    swapped: bool = False,
    double: bool = False,
    combine: str,
    reject: str,
    mclip: bool,
    nkeep: int,
    lsigma: float,
    hsigma: float,
    pclip: float,
    flow: float,
    fhigh: float,
    doscale: bool,
    doscale1: bool,
    scales: list[float],
    zeros: list[float],
    weights: list[float],
    dowts: bool,
    noise: list[tuple[float, float, float]],
    nmodel: list[tuple[float, float, float]] = ...,
    thresholds: tuple[float, float] | None = None,
    blank: float = 0.0,
    grow: float = 0.0,
    truncate: bool = False,
    defects: bool = False,
    sigma: bool = False,
    rejmask: bool = False,
    threads: int = 1,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray | None]: ...
