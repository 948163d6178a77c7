"""``imcombiners.ccdproc.combine`` against ``ccdproc.combine``, same arguments, side by side.

Writes ``--frames`` uint16 FITS files of ``--size`` x ``--size`` pixels (bias-like noise with
cosmic rays) to a temporary folder, then times both functions on them with median combining and
one pass of sigma clipping (``np.ma.median`` / ``astropy.stats.mad_std``), alternating the two
``--rounds`` times, and prints the median times, their ratio and the CPU model from ``lscpu``.
The results must agree (data, mask and uncertainty).

Usage: ``python benchmarks/ccdproc_bench.py [--size 2048] [--frames 20] [--rounds 1]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import ccdproc
import numpy as np
from astropy.io import fits
from astropy.stats import mad_std

import imcombiners as imc
import imcombiners.ccdproc as iccd


def cpu_model() -> str:
    """The ``Model name`` line of ``lscpu`` (or "unknown")."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    for line in out.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Model name":
            return value.strip()
    return "unknown"


def write_frames(folder: Path, n: int, size: int, seed: int = 1) -> list[str]:
    """Write ``n`` uint16 bias-like frames with a few cosmic rays; return their paths."""
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        frame = rng.normal(1000.0, 8.0, (size, size))
        hits = rng.integers(0, size, (size * size // 2000, 2))
        frame[hits[:, 0], hits[:, 1]] += rng.uniform(500, 20000, len(hits))
        path = folder / f"bias{i:02d}.fits"
        fits.writeto(path, np.clip(frame, 0, 65535).astype(np.uint16), overwrite=True)
        paths.append(str(path))
    return paths


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)

    kwargs: dict[str, Any] = {
        "method": "median",
        "sigma_clip": True,
        "sigma_clip_low_thresh": 3,
        "sigma_clip_high_thresh": 3,
        "sigma_clip_func": np.ma.median,
        "sigma_clip_dev_func": mad_std,
        "unit": "adu",
    }
    times: dict[str, list[float]] = {"imcombiners.ccdproc": [], "ccdproc": []}
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_frames(Path(tmp), args.frames, args.size)
        results = {}
        for _ in range(args.rounds):
            for name, func in (("imcombiners.ccdproc", iccd.combine), ("ccdproc", ccdproc.combine)):
                t0 = time.perf_counter()
                results[name] = func(paths, **kwargs)
                times[name].append(time.perf_counter() - t0)
    ours, theirs = results["imcombiners.ccdproc"], results["ccdproc"]
    same_data = np.allclose(ours.data, theirs.data, rtol=1e-6, equal_nan=True)
    same_mask = np.array_equal(ours.mask, theirs.mask)
    same_unc = np.allclose(ours.uncertainty.array, theirs.uncertainty.array, rtol=1e-6)
    t_ours, t_theirs = (float(np.median(times[k])) for k in ("imcombiners.ccdproc", "ccdproc"))
    print(
        f"{args.frames} uint16 frames of {args.size}x{args.size}, median + one-pass sigma clip "
        f"(np.ma.median / mad_std, 3/3), {args.rounds} round(s)"
    )
    print(
        f"CPU: {cpu_model()}, {len(os.sched_getaffinity(0))} usable cores, "
        f"imcombiners threads: {imc.get_num_threads()}, ccdproc {ccdproc.__version__}\n"
    )
    print("| function | median s | ratio |")
    print("| --- | ---: | ---: |")
    print(f"| `ccdproc.combine` | {t_theirs:.2f} | 1 |")
    print(f"| `imcombiners.ccdproc.combine` | {t_ours:.2f} | {t_theirs / t_ours:.1f}x faster |")
    print(f"\nagree: data {same_data}, mask {same_mask}, uncertainty {same_unc}")


if __name__ == "__main__":
    main()
