"""Type stub of the compiled core (src/python/*.rs). Call it through `imcombiners.kernels`."""

import numpy as np

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
