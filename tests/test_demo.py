"""The README's main job: `python -m imcombiners demo`."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from imcombiners.demo import synthesise_bias_stack


def test_demo_runs_and_reports_what_it_did():
    proc = subprocess.run(
        [sys.executable, "-m", "imcombiners", "speed-demo", "--frames", "7", "--size", "128"],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    out = proc.stdout
    assert "synthesised 7 bias frames of 128 x 128 uint16" in out
    for method in ("median", "mean", "lmedian"):
        assert f"\n{method} " in out
    assert "identical values: True" in out


def test_a_lone_argument_fails_with_a_usage_message():
    proc = subprocess.run(
        [sys.executable, "-m", "imcombiners", "frobnicate"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "imcombine: error: no output given" in proc.stderr


def test_synthetic_bias_stack_is_realistic():
    stack, pattern, hits = synthesise_bias_stack(6, (64, 80), cosmic_rays_per_frame=10)
    assert stack.dtype == np.uint16
    assert stack.shape == (6, 64, 80)
    assert hits > 0
    resid = stack.astype(float) - pattern
    # Read noise of 5 ADU around the pattern, apart from the cosmic-ray samples.
    assert 4.0 < 1.4826 * np.median(np.abs(resid - np.median(resid))) < 6.0
    assert resid.max() > 100
