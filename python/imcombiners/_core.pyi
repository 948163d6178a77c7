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
