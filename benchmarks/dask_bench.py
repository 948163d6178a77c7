"""Dask adapter benchmark: the same sigma-clipped median of FITS frames on disk, four ways.

    python benchmarks/dask_bench.py [--frames 24] [--size 2048] [--worker-memory 600MB]

1. ``combine_files`` (one process, the library's own thread pool on every core): the reference;
2. ``read_fits -> combine -> write_fits`` on Dask's threaded scheduler (1 kernel thread a task);
3. the same on a ``LocalCluster`` of 2 worker processes x 1 thread (``threads=1`` a task);
4. the same on a ``LocalCluster`` of 1 worker process x 2 threads (``threads=1`` a task);
5. the same on a ``LocalCluster`` of 1 worker x 1 thread with ``threads=2`` in the task;
6. the same on a ``LocalCluster`` of 1 worker x 1 thread (strong scaling: 1 vs 2 workers).

Bands are ``read_fits(chunks="auto")`` unless ``--rows`` is given: on a cluster, sized from
the workers' memory limit and N. Each cluster runs one untimed warm-up combine first (a
long-lived cluster is warm); times are medians of ``--repeat`` runs.

Also the in-memory ``Combiner`` on the stack loaded whole (compute only, no I/O). Every result
is checked equal to ``combine_files`` bit for bit, and each worker's peak resident memory
(``VmHWM`` of the worker process) is reported against its memory limit. Prints a Markdown
table with the machine (``lscpu`` model, cores) and the ratios to ``combine_files``.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

import imcombiners as imc
import imcombiners.dask as imcd


def _cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return platform.processor() or "unknown"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def _write_frames(folder: Path, n: int, size: int, seed: int = 0) -> list[Path]:
    from astropy.io import fits

    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        frame = rng.normal(1000.0, 30.0, (size, size))
        hot = rng.random(frame.shape) < 0.001
        frame[hot] += 20000.0
        p = folder / f"frame{i:03d}.fits"
        fits.PrimaryHDU(np.clip(frame, 0, 65535).astype(np.uint16)).writeto(p)
        paths.append(p)
    return paths


def _peak_rss() -> int:
    """Peak resident memory of this process since it started its program, in bytes (VmHWM:
    unlike ru_maxrss, not inherited from the process that forked it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _dask_run(paths: list[Path], out: Path, rows: int | str, threads: int) -> float:
    t0 = time.perf_counter()
    frames = imcd.read_fits(paths, chunks=rows)
    result = imcd.combine(frames, "median", rejectors=imc.SigClip(sigma=3.0), threads=threads)
    imcd.write_fits(result, out, overwrite=True)
    return time.perf_counter() - t0


def _warm_up() -> None:
    """Import what the tasks use (a long-lived cluster has done so before any timing)."""
    import astropy.io.fits  # noqa: F401

    import imcombiners.dask  # noqa: F401


def _cluster_run(
    paths: list[Path],
    out: Path,
    rows: int | str,
    workers: int,
    nthreads: int,
    task_threads: int,
    memory: str,
    repeat: int,
) -> tuple[float, list[int]]:
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            processes=True,
            n_workers=workers,
            threads_per_worker=nthreads,
            memory_limit=memory,
            host="127.0.0.1",
            dashboard_address=None,
            silence_logs=50,
        ) as cluster,
        Client(cluster),
    ):
        client = Client.current()
        client.run(_warm_up)
        _dask_run(paths, out, rows, task_threads)  # warm-up, untimed
        seconds = statistics.median(
            _dask_run(paths, out, rows, task_threads) for _ in range(repeat)
        )
        peaks = sorted(client.run(_peak_rss).values())
    return seconds, peaks


def main(argv: Any = None) -> None:
    """Run the benchmark and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument(
        "--rows", default="auto", help="rows per band (dask chunks), or auto (the default)"
    )
    parser.add_argument("--worker-memory", default="600MB")
    parser.add_argument("--repeat", type=int, default=3, help="median of this many runs")
    args = parser.parse_args(argv)
    if args.rows != "auto":
        args.rows = int(args.rows)
    from astropy.io import fits

    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="imc-dask-bench-") as tmp:
        folder = Path(tmp)
        paths = _write_frames(folder, args.frames, args.size)
        on_disk = sum(p.stat().st_size for p in paths)
        rule = imc.SigClip(sigma=3.0)
        rows: dict[str, tuple[float, str]] = {}

        def best(fn: Any) -> Any:
            runs = sorted(
                (fn() for _ in range(args.repeat)),
                key=lambda r: r if isinstance(r, float) else r[0],
            )
            return runs[len(runs) // 2]

        ref_path = folder / "ref.fits"

        def files() -> float:
            t0 = time.perf_counter()
            imc.combine_files(
                paths,
                ref_path,
                method="median",
                rejectors=rule,
                progress=False,
                overwrite=True,
                mem_limit="400MB",
            )
            return time.perf_counter() - t0

        rows[f"combine_files (1 process, {cores} kernel threads)"] = (best(files), "")
        ref = fits.getdata(ref_path)

        def memory() -> float:
            stack = np.stack([fits.getdata(p) for p in paths])
            t0 = time.perf_counter()
            got = imc.Combiner(stack).combine("median", rejectors=rule)
            seconds = time.perf_counter() - t0
            assert np.array_equal(got, ref, equal_nan=True)
            return seconds

        rows[f"in-memory Combiner, compute only ({cores} kernel threads)"] = (
            best(memory),
            "stack loaded whole",
        )

        def check(path: Path) -> None:
            assert np.array_equal(fits.getdata(path), ref, equal_nan=True), path

        out = folder / "out.fits"

        def threaded() -> float:
            import dask

            with dask.config.set(scheduler="threads", num_workers=cores):
                seconds = _dask_run(paths, out, args.rows, 1)
            check(out)
            return seconds

        rows[f"dask threaded scheduler ({cores} threads x 1 kernel thread)"] = (best(threaded), "")
        layouts = [(2, 1, 1), (1, 2, 1), (1, 1, 2), (1, 1, 1)]
        for workers, nthreads, task_threads in layouts:

            def cluster(w: int = workers, t: int = nthreads, k: int = task_threads) -> Any:
                got = _cluster_run(paths, out, args.rows, w, t, k, args.worker_memory, args.repeat)
                check(out)
                return got

            seconds, peaks = cluster()
            label = (
                f"LocalCluster {workers} worker(s) x {nthreads} thread(s), threads={task_threads}"
            )
            peak = ", ".join(f"{p / 2**20:.0f}" for p in peaks)
            rows[label] = (seconds, f"peak RSS per worker {peak} MiB (limit {args.worker_memory})")

    base = next(iter(rows.values()))[0]
    print(f"machine: {_cpu_model()}, {cores} cores available, {platform.python_version()}")
    print(
        f"stack: {args.frames} uint16 frames of {args.size} x {args.size} "
        f"({on_disk / 2**20:.0f} MiB on disk), median with SigClip(sigma=3), "
        f"bands of {args.rows} rows; median of {args.repeat}; every result equal to combine_files"
    )
    print()
    print("| run | seconds | vs combine_files | notes |")
    print("| --- | ---: | ---: | --- |")
    for label, (seconds, note) in rows.items():
        print(f"| {label} | {seconds:.2f} | {seconds / base:.2f}x | {note} |")
    one = [
        v
        for k, v in rows.items()
        if k.startswith("LocalCluster 1 worker(s) x 1 thread(s), threads=1")
    ]
    two = [v for k, v in rows.items() if k.startswith("LocalCluster 2 worker(s) x 1 thread(s)")]
    if one and two:
        print()
        print("| workers (x 1 thread) | seconds | speedup | efficiency |")
        print("| ---: | ---: | ---: | ---: |")
        t1, t2 = one[0][0], two[0][0]
        print(f"| 1 | {t1:.2f} | 1.00x | 100% |")
        print(f"| 2 | {t2:.2f} | {t1 / t2:.2f}x | {50 * t1 / t2:.0f}% |")


if __name__ == "__main__":
    main()
