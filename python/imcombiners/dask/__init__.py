"""Dask adapter: combine stacks that do not fit in memory, on one machine or a cluster.

>>> import imcombiners.dask as imcd

The stack axis is one chunk and the spatial axes are chunked; every block runs the in-memory
core (`imcombiners.Combiner`) with one kernel thread by default, so the result equals the
in-memory combine bit for bit. Needs the ``[dask]`` extra (``dask[array]`` and
``distributed``). See ``docs/dask.md``.
"""

from __future__ import annotations

from ._block import PRODUCTS
from .combine import PER_PIXEL_RULES, DaskCombined, combine
from .fits import FitsFrames, read_fits, write_fits

__all__ = [
    "PER_PIXEL_RULES",
    "PRODUCTS",
    "DaskCombined",
    "FitsFrames",
    "combine",
    "read_fits",
    "write_fits",
]
