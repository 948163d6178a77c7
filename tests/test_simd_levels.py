"""The baseline, AVX2 and AVX-512 versions of the kernels give bit-identical results."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = r"""
import hashlib, sys
import numpy as np
import imcombiners as imc
rng = np.random.default_rng(11)
digest = hashlib.sha256()
for n in (1, 2, 7, 15, 16, 33, 100, 140):
    stack = rng.normal(1e4, 25.0, (n, 29, 41)).astype(np.float32)
    stack[rng.random(stack.shape) < 0.03] = np.nan
    stack[rng.random(stack.shape) < 0.01] = -np.inf
    ints = rng.integers(0, 65535, (n, 17, 19)).astype(np.uint16)
    mask = rng.random(ints.shape) < 0.1
    for method in ("mean", "median", "lmedian", "sum", "min", "max", "variance"):
        digest.update(imc.Combiner(stack).combine(method).tobytes())
        digest.update(imc.Combiner(stack.astype(">f8")).combine(method, ddof=1).tobytes())
        digest.update(imc.Combiner(ints, mask=mask).combine(method).tobytes())
        digest.update(imc.ndcombine(ints, combine=method).tobytes())
    digest.update(imc.kernels.weighted_average(stack, np.linspace(0, 2, n)).tobytes())
    # Complete columns: the median networks (in registers with AVX-512 for depths up to 25).
    full = np.round(rng.normal(0.0, 30.0, (n, 5, 96)))
    for dtype in (np.float32, np.int32, np.int16):
        digest.update(imc.kernels.median(full.astype(dtype)).tobytes())
        digest.update(imc.kernels.lmedian(full.astype(dtype)).tobytes())
    digest.update(imc.kernels.median((full + 100).astype(np.uint16)).tobytes())
    if n >= 4:
        # IRAF layer: vector clipping of whole tiles, and the sorting network.
        clean = np.nan_to_num(stack, nan=1e4, neginf=0.0)
        clean[0, ::3] += 900.0
        for reject in ("sigclip", "ccdclip"):
            for data in (clean, stack, clean.astype(">f4")):
                got = imc.iraf.imcombine(data, reject=reject, rdnoise=5.0, lsigma=2.0)
                digest.update(got.output.tobytes() + got.ncombine.tobytes())
        got = imc.iraf.imcombine(clean, reject="sigclip", products=("rejmask",))
        digest.update(got.output.tobytes() + got.rejmask.tobytes())
print(digest.hexdigest())
"""


def _digest(level: str) -> str:
    env = dict(os.environ, IMCOMBINERS_SIMD=level)
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True
    )
    return proc.stdout.strip()


def test_every_instruction_set_gives_the_same_bits():
    digests = {level: _digest(level) for level in ("baseline", "avx2", "best")}
    assert len(set(digests.values())) == 1, digests
