"""imc.iraf.imcombine stays within mem_limit: 40 uint16 frames of 2048 x 2048 (320 MB) in 64 MB."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import imcombiners as imc

fits = pytest.importorskip("astropy.io.fits")

PROBE = Path(__file__).with_name("iraf_memory_probe.py")
N, SIDE = 40, 2048


@pytest.fixture(scope="module")
def big_stack(tmp_path_factory):
    folder = tmp_path_factory.mktemp("big_iraf")
    rng = np.random.default_rng(41)
    pattern = rng.normal(1000.0, 3.0, (SIDE, SIDE))
    stack = np.empty((N, SIDE, SIDE), dtype=np.uint16)
    paths = []
    for i in range(N):
        frame = pattern + rng.normal(0.0, 5.0, (SIDE, SIDE)).astype(np.float32)
        hits = rng.integers(0, SIDE, (2, 400))
        frame[hits[0], hits[1]] += 5000.0
        stack[i] = np.clip(np.rint(frame), 0, 65535)
        p = folder / f"bias{i:02d}.fits"
        fits.writeto(p, stack[i])  # BITPIX 16, BZERO 32768
        paths.append(p)
    return stack, paths


def test_peak_memory_within_the_limit(big_stack):
    stack, paths = big_stack
    assert sum(p.stat().st_size for p in paths) > 320 * 10**6
    proc = subprocess.run(
        [sys.executable, str(PROBE), "64MB", *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    extra = report["peak"] - report["baseline"]
    allowed = 64 * 10**6 + report["output"]
    assert report["bands"] > 8
    assert extra < allowed, f"peak RSS {extra / 1e6:.1f} MB above baseline > {allowed / 1e6:.1f}"
    # The same image as the stack combined in memory (its sum: the probe does not send it).
    expected = imc.iraf.imcombine(stack[:, :512], combine="median", reject="sigclip").output
    whole = imc.iraf.imcombine(paths, combine="median", reject="sigclip", progress=False)
    np.testing.assert_array_equal(whole.output[:512], expected)
    assert report["sum"] == float(whole.output.astype(np.float64).sum())
