"""IRAF IMCOMBINE compatibility: ``imc.iraf.imcombine`` with IMCOMBINE's names and arithmetic.

>>> import imcombiners as imc
>>> result = imc.iraf.imcombine(stack, combine="median", reject="sigclip")  # doctest: +SKIP
"""

from __future__ import annotations

from .imcombine import ImcombineResult, imcombine

__all__ = ["ImcombineResult", "imcombine"]
