"""The examples in the public docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest

import imcombiners as imc
import imcombiners.kernels as imck

# `imcombiners.ndcombine` names the function once the package is imported; fetch modules by name.
MODULES = [
    importlib.import_module(f"imcombiners.{name}")
    for name in (
        "kernels",
        "combiner",
        "ndcombine",
        "_threads",
        "rejectors",
        "normalization",
        "placement",
        "ccddata",
        "files",
        "cli._files",
        "cli._iraf_params",
    )
]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module):
    globs = {"np": np, "imc": imc, "imck": imck}
    result = doctest.testmod(module, extraglobs=globs, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
