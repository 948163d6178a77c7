"""Status bits of a rejection: per output element and per sample."""

from __future__ import annotations

import enum


class OutputFlags(enum.IntFlag):
    """Per output element: what happened while rejecting (bit-OR; 0 is a normal completion)."""

    PREMASKED = 1
    """Some sample was masked, non-finite or outside the thresholds before rejection."""
    MAXITERS = 2
    """The last pass allowed by ``maxiters`` still rejected samples."""
    NKEEP = 4
    """A pass would have left fewer than ``nkeep`` samples (and was undone by default)."""
    MAXREJ = 8
    """A pass would have rejected more than ``maxrej`` samples and was undone."""
    GROW = 16
    """grow added at least one rejected sample."""


class SampleFlags(enum.IntFlag):
    """Per sample (``diagnostics="full"``): why a sample is not used (bit-OR)."""

    INPUT_MASK = 1
    """Masked by the input mask or bad-pixel mask."""
    NONFINITE = 2
    """NaN or +-inf."""
    THRESHOLD = 4
    """Outside the ``thresholds`` interval."""
    REJECTED = 8
    """Rejected by the rejection algorithm in this step."""
    GROW = 16
    """Rejected because grow reached it from a rejected neighbour."""
    PREVIOUS = 32
    """Not usable when this step's rejection started (any of the bits above, or an earlier
    rejection step)."""
    BAD_VARIANCE = 64
    """Its input variance is NaN, infinite or negative (only with ``variance=``)."""
