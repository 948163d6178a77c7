"""``imcombine demo``: write a sample set of bias frames, combine them and check the result.

The frames (uint16, read noise 5 ADU, cosmic rays; `imcombiners.demo.synthesise_bias_stack`)
are written as FITS files, combined with a sigma-clipped median by
`imcombiners.combine_files`, and the master bias is checked: its noise against the expected
value, the cosmic rays left, and equality with the in-memory combine.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._errors import FAILED, OK, PROG
from ._options import int_in_range, mem_limit_of, thread_count, threads_of
from ._report import report_files_result

#: The largest demo: the synthetic stack is held in memory (1000 frames of 8192 x 8192 would
#: be 134 GB; the bounds only keep absurd values from reaching the allocator).
MAX_DEMO_FRAMES, MAX_DEMO_SIZE = 1000, 16384


def _demo_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} demo",
        description=(
            "Write a sample set of uint16 bias frames (read noise 5 ADU, cosmic rays) as FITS "
            "files, combine them with a sigma-clipped median through imcombiners.combine_files, "
            "and check the master bias: its noise against the expected value, the cosmic rays "
            "left, and equality with the in-memory combine."
        ),
        allow_abbrev=False,
    )
    parser.add_argument("--frames", type=int, default=20, help="number of frames (20)")
    parser.add_argument("--size", type=int, default=1024, help="frame side in pixels (1024)")
    parser.add_argument(
        "--keep",
        metavar="DIR",
        help="write the files into DIR and keep them (files of an earlier demo are replaced); "
        "default: a temporary folder, removed at the end",
    )
    parser.add_argument(
        "--mem-limit",
        metavar="SIZE",
        default="64MB",
        help="memory limit of the combine (64MB: the default set is read in several bands)",
    )
    parser.add_argument("--threads", type=int, metavar="N", help="worker threads")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


def _write_bias_frames(stack: np.ndarray, folder: Path) -> list[str]:
    """Each frame as a uint16 FITS file (BITPIX=16, BZERO=32768) with a small header."""
    from datetime import datetime, timedelta

    from astropy.io import fits

    start = datetime(2025, 3, 11, 18, 0, 0)
    paths = []
    for i, frame in enumerate(stack):
        hdu = fits.PrimaryHDU(frame)  # astropy stores uint16 as BITPIX=16 with BZERO=32768
        hdu.header["EXPTIME"] = (0.0, "exposure time [s]")
        hdu.header["IMAGETYP"] = ("BIAS", "type of frame")
        hdu.header["DATE-OBS"] = (
            (start + timedelta(seconds=15 * i)).isoformat(timespec="seconds"),
            "start of the exposure (UTC)",
        )
        path = folder / f"bias_{i + 1:03d}.fits"
        hdu.writeto(path, overwrite=True)
        paths.append(str(path))
    return paths


def run_demo(argv: Sequence[str]) -> int:
    parser = _demo_parser()
    args = parser.parse_args(argv)
    int_in_range(args.frames, "--frames", 3, MAX_DEMO_FRAMES)
    int_in_range(args.size, "--size", 16, MAX_DEMO_SIZE)
    threads_of(args.threads)
    from ..demo import synthesise_bias_stack

    n, size, read_noise = args.frames, args.size, 5.0
    stack, pattern, hits = synthesise_bias_stack(n, (size, size), read_noise=read_noise)
    if args.keep:
        folder = Path(args.keep)
        folder.mkdir(parents=True, exist_ok=True)
    else:
        folder = Path(tempfile.mkdtemp(prefix="imcombine-demo-"))
    try:
        with thread_count(args.threads):
            return _demo_in(folder, stack, pattern, hits, read_noise, args)
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
            print(f"removed {folder}")


def _demo_in(
    folder: Path,
    stack: np.ndarray,
    pattern: np.ndarray,
    hits: int,
    read_noise: float,
    args: argparse.Namespace,
) -> int:
    from astropy.io import fits

    import imcombiners as imc

    n, ny, nx = stack.shape
    print(f"imcombiners {imc.__version__} demo, {imc.get_num_threads()} threads")
    paths = _write_bias_frames(stack, folder)
    print(
        f"wrote {n} uint16 bias frames of {ny} x {nx} (level 1000 ADU, read noise "
        f"{read_noise:g} ADU, {hits} samples hit by cosmic rays) to {folder}"
    )
    output = folder / "master_bias.fits"
    print(
        f"combining as: {PROG} bias_*.fits -o master_bias.fits --reject sigclip --sigma 3 "
        f"--mem-limit {args.mem_limit}"
    )
    rule = imc.SigClip(sigma=3.0)
    result = imc.combine_files(
        paths,
        output,
        method="median",
        rejectors=rule,
        mem_limit=mem_limit_of(args.mem_limit),
        progress=not args.no_progress,
        overwrite=True,
    )
    print()
    report_files_result(result, paths, max_rows=20)

    master = np.asarray(fits.getdata(output))
    expected = read_noise / np.sqrt(n) * np.sqrt(np.pi / 2)
    resid = master.astype(np.float64) - pattern
    resid -= np.median(resid)
    noise = 1.4826 * float(np.median(np.abs(resid)))
    survivors = int(np.count_nonzero(np.abs(resid) > 5 * expected))
    mean_resid = imc.kernels.mean(stack).astype(np.float64) - pattern
    mean_resid -= np.median(mean_resid)
    mean_left = int(np.count_nonzero(np.abs(mean_resid) > 5 * read_noise / np.sqrt(n)))
    in_memory = imc.Combiner(stack).combine("median", rejectors=rule)
    same = bool(
        master.dtype.newbyteorder("=") == in_memory.dtype
        and np.array_equal(master, in_memory)
        and np.array_equal(result.data, in_memory)
    )
    print()
    print(
        f"noise of the master bias: {noise:.3f} ADU; expected for a median of {n} frames: "
        f"{read_noise:g}/sqrt({n})*sqrt(pi/2) = {expected:.3f} ADU"
    )
    print(
        f"cosmic rays: {survivors} pixels of the master lie > 5 sigma from the noiseless "
        f"pattern (a plain mean leaves {mean_left})"
    )
    print(f"identical to the in-memory combine: {same}")
    if args.keep:
        print(f"kept the frames and {output.name} in {folder}")
    return OK if same else FAILED
