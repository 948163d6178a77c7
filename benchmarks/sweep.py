"""Scaling sweeps for the performance page: time against N and image size, memory against
``mem_limit``.

    python benchmarks/sweep.py [--repeats 3] [--quick] --json docs/_data/sweep.json

* **frames**: ``(N, 512, 512)`` float32 stacks for N in 10..160 (``--quick``: 64 x 64);
* **size**: ``(15, s, s)`` float32 stacks for s in 128..2048 (``--quick``: up to 256).

Each stack is the benchmark workloads' ``normal(1000, 10)`` with 0.1% cosmic rays
(``workloads.make_stack``). The contenders alternate round by round: our median, our fused
SigClip(3, 3) + mean, ``np.median`` and ``np.mean`` (NumPy on one thread, ours on
``imc.get_num_threads()``); each row is the median of ``--repeats`` rounds after one untimed
warm-up call.

* **mem_limit**: 20 uint16 FITS files of 1024 x 1024 (BITPIX 16, BZERO 32768; a 40 MiB stack,
  80 MiB as float32) combined by ``imc.combine_files`` (median, SigClip(3, 3)) with
  ``mem_limit`` from 8 MB to 1 GB, each call in a fresh process (``--child``) that reports its
  peak resident memory above the idle process (``procmem``) and its time. Every output must
  equal the first one bit for bit.

Progress goes to stderr; ``--json`` writes the results with the machine, date and load.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonout
import numpy as np
import workloads

import imcombiners as imc

FRAMES = (10, 20, 40, 80, 160)
SIZES = (128, 256, 512, 1024, 2048)
MEM_LIMITS = ("4MB", "8MB", "16MB", "32MB", "64MB", "128MB", "256MB", "1GB")
FILE_FRAMES, FILE_SIZE = 20, 1024


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def contenders() -> dict[str, Callable[[np.ndarray], object]]:
    """The calls timed on every stack, by name."""
    rule = imc.SigClip(sigma=3.0, maxiters=5)
    return {
        "imcombiners median": lambda s: imc.Combiner(s).combine("median"),
        "imcombiners sigclip mean": lambda s: imc.Combiner(s).combine("mean", rejectors=rule),
        "np.median": lambda s: np.median(s, axis=0),
        "np.mean": lambda s: np.mean(s, axis=0),
    }


def time_stack(shape: tuple[int, int, int], repeats: int) -> dict[str, float]:
    """Median seconds of each contender on one seeded stack, alternating round by round."""
    work = workloads.Workload(
        key="sweep", method="median", shape=shape, quick_shape=shape, outlier_fraction=1e-3
    )
    stack = workloads.make_stack(work, quick=False)
    calls = contenders()
    for call in calls.values():
        call(stack)  # warm-up
    times: dict[str, list[float]] = {name: [] for name in calls}
    names = list(calls)
    for r in range(repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            start = time.perf_counter()
            calls[name](stack)
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def write_files(directory: Path, frames: int, size: int) -> list[Path]:
    """Seeded uint16 bias-like frames as camera-style FITS files."""
    from astropy.io import fits

    work = workloads.Workload(
        key="files",
        method="median",
        shape=(frames, size, size),
        quick_shape=(frames, size, size),
        dtype="uint16",
        outlier_fraction=1e-3,
    )
    stack = workloads.make_stack(work, quick=False)
    paths = []
    for i, frame in enumerate(stack):
        path = directory / f"frame{i:02d}.fits"
        hdu = fits.PrimaryHDU(frame)
        hdu.scale("int16", bzero=32768)
        hdu.writeto(path)
        paths.append(path)
    return paths


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """In a fresh process: combine the files within ``mem_limit``, measure the peak memory."""
    import procmem

    paths, out = spec["paths"], Path(spec["out"])
    rule = imc.SigClip(sigma=3.0, maxiters=5)

    def call() -> object:
        return imc.combine_files(
            paths,
            out,
            method="median",
            rejectors=rule,
            mem_limit=spec["mem_limit"],
            progress=False,
            overwrite=True,
        )

    try:
        use = procmem.measure(call)
    except ValueError as exc:  # a budget below one row of every frame is refused
        return {"mem_limit": spec["mem_limit"], "error": str(exc)}
    return {"mem_limit": spec["mem_limit"], **use.to_json()}


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run `child` in a new interpreter; return its JSON line."""
    proc = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def memory_sweep(work: Path, *, quick: bool) -> dict[str, Any]:
    """Peak memory and time of `combine_files` for each ``mem_limit``; outputs must agree."""
    from astropy.io import fits

    frames, size = (FILE_FRAMES, 256) if quick else (FILE_FRAMES, FILE_SIZE)
    paths = [str(p) for p in write_files(work, frames, size)]
    first: np.ndarray | None = None
    rows = []
    for limit in MEM_LIMITS:
        out = work / f"out_{limit}.fits"
        _progress(f"mem_limit {limit}")
        row = run_child({"paths": paths, "out": str(out), "mem_limit": limit})
        row["limit_bytes"] = imc.io.parse_mem_limit(limit)
        rows.append(row)
        if "error" in row:
            continue
        data = fits.getdata(out)
        if first is None:
            first = data
        row["equal_to_first"] = bool(np.array_equal(data, first, equal_nan=True))
    return {
        "frames": frames,
        "size": size,
        "dtype": "uint16",
        "stack_bytes": frames * size * size * 2,
        "rows": rows,
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    parser = argparse.ArgumentParser(description="imcombiners scaling sweeps")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds per stack")
    parser.add_argument("--quick", action="store_true", help="small shapes (a smoke test)")
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the three sweeps, print a summary, write the JSON."""
    args = parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    record = jsonout.RunRecord("benchmarks/sweep.py", sys.argv[1:] if argv is None else argv)
    start = time.perf_counter()
    side = 64 if args.quick else 512
    by_frames = []
    for n in FRAMES:
        _progress(f"frames: {n} x {side} x {side}")
        by_frames.append({"frames": n, "size": side, **time_stack((n, side, side), args.repeats)})
    by_size = []
    for size in SIZES[:2] if args.quick else SIZES:
        _progress(f"size: 15 x {size} x {size}")
        by_size.append({"frames": 15, "size": size, **time_stack((15, size, size), args.repeats)})
    with tempfile.TemporaryDirectory(prefix="imc_sweep_") as tmp:
        memory = memory_sweep(Path(tmp), quick=args.quick)
    for row in [*by_frames, *by_size]:
        print(json.dumps(row))
    for row in memory["rows"]:
        print(json.dumps(row))
    ok = all(row.get("equal_to_first", True) for row in memory["rows"])
    if args.json is not None:
        run = record.finish(
            time.perf_counter() - start,
            threads={"imcombiners": imc.get_num_threads(), "numpy": 1},
            versions={"imcombiners": imc.__version__, **jsonout.versions("numpy", "astropy")},
            repeats=args.repeats,
            quick=args.quick,
        )
        results = {"by_frames": by_frames, "by_size": by_size, "mem_limit": memory}
        jsonout.write(args.json, run, results)
    if not ok:
        print("FAIL: an output differs from the first mem_limit's", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
