"""File input and output: paths, FITS bands, atomic FITS writing, provenance headers."""

from __future__ import annotations

from .memory import format_bytes, parse_mem_limit
from .paths import resolve_paths
from .reader import FitsStack
from .writer import (
    FitsImageWriter,
    FitsMefWriter,
    MefImage,
    clean_stale_partials,
    image_header,
    write_fits,
)

__all__ = [
    "FitsImageWriter",
    "FitsMefWriter",
    "FitsStack",
    "MefImage",
    "clean_stale_partials",
    "format_bytes",
    "image_header",
    "parse_mem_limit",
    "resolve_paths",
    "write_fits",
]
