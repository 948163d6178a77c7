"""What the command prints after a combine: a table of the frames, the timing, the files.

One line per frame (statistic, zero, scale, weight, rejected fraction), then the number of
frames, their size, the time taken and the rate of reading.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from typing import Any

import numpy as np


def _input_bytes(paths: Sequence[str]) -> int:
    total = 0
    for p in paths:
        with contextlib.suppress(OSError):
            total += os.path.getsize(p)
    return total


def _print_table(rows: Sequence[dict[str, Any]], stat_name: str, max_rows: int = 0) -> None:
    """One line per frame: name, statistic, zero, scale, weight, rejected fraction (%).

    Unknown values (None) print as ``-``. With ``max_rows`` > 0 the middle of a longer table is
    left out.
    """
    names = [r["name"] for r in rows]
    if len({os.path.basename(n) for n in names}) == len(names):
        names = [os.path.basename(n) for n in names]
    width = max(5, *(len(n) for n in names))

    def cell(value: float | None, fmt: str, w: int) -> str:
        return f"{'-':>{w}}" if value is None else f"{value + 0.0:>{w}{fmt}}"

    print(
        f"{'frame':<{width}}  {stat_name:>10}  {'zero':>10}  {'scale':>9}  {'weight':>8}  "
        f"{'rej %':>6}"
    )
    shown = list(range(len(rows)))
    if 0 < max_rows < len(rows):
        half = max_rows // 2
        shown = [*range(half), -1, *range(len(rows) - half, len(rows))]
    for i in shown:
        if i < 0:
            print(f"{'...':<{width}}  ({len(rows) - 2 * half} more frames)")
            continue
        r = rows[i]
        rej = None if r["rejected"] is None else 100.0 * r["rejected"]
        print(
            f"{names[i]:<{width}}  {cell(r['stat'], '.6g', 10)}  {cell(r['zero'], '.6g', 10)}  "
            f"{cell(r['scale'], '.6g', 9)}  {cell(r['weight'], '.4g', 8)}  {cell(rej, '.2f', 6)}"
        )


def _print_timing(n: int, shape: tuple[int, ...], seconds: float, nbytes: int, extra: str) -> None:
    size = " x ".join(str(s) for s in shape)
    rate = nbytes / 1e6 / seconds if seconds > 0 else float("inf")
    print(
        f"combined {n} frames of {size} in {seconds:.3f} s "
        f"({nbytes / 1e6:.1f} MB read, {rate:.1f} MB/s{extra})"
    )


def report_files_result(result: Any, paths: Sequence[str], max_rows: int = 0) -> None:
    rows = [
        {
            "name": f.path,
            "stat": f.median,
            "zero": f.zero,
            "scale": f.scale,
            "weight": f.weight,
            "rejected": f.rejected_fraction,
        }
        for f in result.frames
    ]
    _print_table(rows, "median", max_rows)
    bands = getattr(result, "bands", None)
    extra = "" if not bands else f", {bands} band{'s' if bands != 1 else ''}"
    _print_timing(len(paths), result.data.shape, result.seconds, _input_bytes(paths), extra)
    written = ", ".join(str(p) for p in result.paths.values())
    if written:
        print(f"wrote {written}")


def report_iraf_result(
    result: Any, paths: Sequence[str], seconds: float, written: Sequence[str]
) -> None:
    table = result.table
    stat_name = next((k for k in ("median", "mode", "mean") if table and k in table[0]), "median")
    rejmask = result.rejmask
    rows = []
    for i, row in enumerate(table):
        rejected = None
        if rejmask is not None:
            rejected = float(np.count_nonzero(rejmask[i])) / max(1, rejmask[i].size)
        rows.append(
            {
                "name": paths[i] if i < len(paths) else row["image"],
                "stat": row.get(stat_name),
                "zero": row.get("zero"),
                "scale": row.get("scale"),
                "weight": row.get("weight"),
                "rejected": rejected,
            }
        )
    _print_table(rows, stat_name)
    _print_timing(len(paths), result.output.shape, seconds, _input_bytes(paths), "")
    print(f"wrote {', '.join(written)}")
