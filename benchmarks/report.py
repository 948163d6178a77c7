"""Printing: the machine and version header, the results table and the targets."""

from __future__ import annotations

import datetime
import importlib.metadata
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass

import machine
import numpy as np
from harness import Row
from workloads import MIB, Workload

COLUMNS = (
    "workload",
    "contender",
    "median ms",
    "rounds",
    "peer/imc",
    "x np.mean",
    "peak extra MiB",
    "check",
    "note",
)
NUMERIC = {"median ms", "rounds", "peer/imc", "x np.mean", "peak extra MiB"}


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


@dataclass(frozen=True, kw_only=True)
class RunInfo:
    """What the header says about this run besides the machine."""

    ours: str
    ours_threads: int | None
    peer: str
    peer_threads: int | None
    rounds: int
    slow_rounds: int
    quick: bool
    load_start: float
    wall_seconds: float
    others_cpu: float


def header(info: RunInfo, chosen: Iterable[Workload]) -> list[str]:
    """Lines describing the date, machine, versions, threads, workloads and method."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    busy = info.others_cpu / max(1e-9, info.wall_seconds * len(os.sched_getaffinity(0)))
    lines = [
        f"date: {now}{'  (--quick shapes)' if info.quick else ''}",
        f"machine: {machine.describe()}",
        f"versions: imcombiners {info.ours}, numpy {_version('numpy')},"
        f" bottleneck {_version('bottleneck')}, ccdproc {_version('ccdproc')},"
        f" astropy {_version('astropy')}; peer: {info.peer}",
        f"threads: imcombiners {info.ours_threads or '-'} (imc.get_num_threads()),"
        f" imcombiners 0.1.1 {info.peer_threads or '-'}, numpy/bottleneck/ccdproc 1;"
        f" 'T threads' floor uses {info.ours_threads or os.cpu_count()}",
        f"wall time {info.wall_seconds:.0f} s; other processes used {info.others_cpu:.0f} CPU s"
        f" ({busy:.0%} of the cores) during the run; 1-min load average at start"
        f" {info.load_start:.2f} (a busy machine inflates every time in the table)",
        f"timing: median of {info.rounds} alternating rounds"
        f" ({info.slow_rounds} for slow peers, {max(1, info.slow_rounds - 1)} for ccdproc);"
        " fast contenders get one untimed warm-up call",
        "columns: peer/imc = row time / imcombiners time (> 1: imcombiners is faster);"
        " x np.mean = row time / np.mean(axis=0) time;",
        "  peak extra = VmHWM - RSS with the stack already held, one call in a fresh process"
        " (MiB = 2**20 bytes);",
        "  check = result agrees with the 'ref' row (float64 sum, shape, NaN count);"
        " floor = np.max over the stack's flat view (one streaming read)",
    ]
    for w in chosen:
        shape = w.shape_for(quick=info.quick)
        stack_mib = math.prod(shape) * np.dtype(w.dtype).itemsize / MIB
        lines.append(
            f"  {w.label(quick=info.quick)}: stack {stack_mib:.0f} MiB,"
            f" output {w.output_bytes(quick=info.quick) / MIB:.1f} MiB"
        )
    return lines


def _fmt_ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    ms = seconds * 1e3
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 10 else f"{ms:.2f}"


def _fmt_ratio(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def _cells(row: Row, ours: float | None, mean: float | None, *, quick: bool) -> dict[str, str]:
    t = row.seconds
    notes = [row.error] if row.error else []
    mem = "-"
    if row.memory is not None:
        if row.memory.get("ok"):
            mem = f"{row.memory['extra'] / MIB:.1f}"
            if not row.memory.get("reset_ok", True):
                notes.append("VmHWM reset failed: peak includes earlier use")
        else:
            notes.append(f"memory: {row.memory.get('error')}")
    return {
        "workload": row.workload.label(quick=quick),
        "contender": row.name,
        "median ms": _fmt_ms(t),
        "rounds": str(len(row.times)) if row.times else "-",
        "peer/imc": _fmt_ratio(t / ours if t is not None and ours else None),
        "x np.mean": _fmt_ratio(t / mean if t is not None and mean else None),
        "peak extra MiB": mem,
        "check": row.check,
        "note": "; ".join(notes),
    }


def table(rows: list[Row], *, quick: bool, markdown: bool) -> str:
    """The results table, one line per (workload, contender), as text or Markdown."""
    cells: list[dict[str, str]] = []
    for key in dict.fromkeys(row.workload.key for row in rows):
        group = [row for row in rows if row.workload.key == key]
        ours = next((r.seconds for r in group if r.role == "ours"), None)
        mean = next((r.seconds for r in group if r.name == "np.mean"), None)
        cells.extend(_cells(row, ours, mean, quick=quick) for row in group)
    group_of = [c["workload"] for c in cells]
    return render(cells, COLUMNS, NUMERIC, markdown=markdown, groups=group_of)


def render(
    cells: list[dict[str, str]],
    columns: tuple[str, ...] | list[str],
    numeric: set[str] | frozenset[str] | tuple[str, ...],
    *,
    markdown: bool,
    groups: list[str] | None = None,
) -> str:
    """Rows of cells as a Markdown table or as aligned text (numbers right-aligned), with a
    blank line between consecutive rows of different ``groups`` in the text form."""
    if markdown:
        out = ["| " + " | ".join(columns) + " |"]
        out.append("|" + "|".join("---:" if c in numeric else "---" for c in columns) + "|")
        out.extend("| " + " | ".join(c[col] for col in columns) + " |" for c in cells)
        return "\n".join(out)
    widths = {col: max(len(col), *(len(c[col]) for c in cells)) for col in columns}

    def line(values: dict[str, str]) -> str:
        parts = [
            values[col].rjust(widths[col]) if col in numeric else values[col].ljust(widths[col])
            for col in columns
        ]
        return "  ".join(parts).rstrip()

    out = [line({col: col for col in columns})]
    out.append("  ".join("-" * widths[col] for col in columns))
    for k, c in enumerate(cells):
        if groups is not None and k > 0 and groups[k] != groups[k - 1]:
            out.append("")
        out.append(line(c))
    return "\n".join(out)
