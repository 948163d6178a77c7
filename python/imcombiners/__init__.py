"""imcombiners: combine stacks of images along axis 0, on a fast Rust core.

>>> import imcombiners as imc
>>> import imcombiners.kernels as imck
"""

from __future__ import annotations

from . import iraf, kernels, registry
from ._core import __version__
from ._threads import get_num_threads, set_num_threads, threads
from ._variance import variance_from_error, variance_from_noise
from .ccddata import combine_ccddata
from .combiner import Combiner
from .errors import ImcombinersWarning
from .files import FilesResult, FrameInfo, combine_files
from .flags import OutputFlags, SampleFlags

# imcombiners 0.1.1 also exported these kernels at the top level.
from .kernels import (
    ccdclip,
    grow_mask,
    linearclip,
    median,
    minmax,
    nanaverage,
    pclip,
    sigclip,
)
from .ndcombine import ndcombine
from .normalization import resolve_zero_scale
from .placement import place_into_padded
from .rejectors import (
    GESD,
    AutoReject,
    BiweightClip,
    CcdClip,
    LinearClip,
    LinearFitClip,
    MinMaxClip,
    PClip,
    PercentileClip,
    Rejector,
    SigClip,
    VarClip,
    WinsorizedSigClip,
)

__all__ = [
    "GESD",
    "AutoReject",
    "BiweightClip",
    "CcdClip",
    "Combiner",
    "FilesResult",
    "FrameInfo",
    "ImcombinersWarning",
    "LinearClip",
    "LinearFitClip",
    "MinMaxClip",
    "OutputFlags",
    "PClip",
    "PercentileClip",
    "Rejector",
    "SampleFlags",
    "SigClip",
    "VarClip",
    "WinsorizedSigClip",
    "__version__",
    "ccdclip",
    "combine_ccddata",
    "combine_files",
    "get_num_threads",
    "grow_mask",
    "iraf",
    "kernels",
    "linearclip",
    "median",
    "minmax",
    "nanaverage",
    "ndcombine",
    "pclip",
    "place_into_padded",
    "registry",
    "resolve_zero_scale",
    "set_num_threads",
    "sigclip",
    "threads",
    "variance_from_error",
    "variance_from_noise",
]
