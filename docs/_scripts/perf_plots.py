"""The performance page's plots, drawn from the benchmark harness's JSON results.

The JSON files in ``docs/_data/`` are written by

* ``benchmarks/run.py --json``: side-by-side timings per workload (NumPy, bottleneck,
  astropy, ccdproc and imcombiners on the same seeded stack, alternating round by round);
* ``benchmarks/iraf_bench.py --json``: IRAF 2.17 IMCOMBINE against ``imc.iraf.imcombine``;
* ``benchmarks/sweep.py --json``: time against N and image size, peak memory against
  ``mem_limit``.

``docs/performance.md`` calls the functions below while the site is built; run this file to
write the same figures as PNG files::

    python docs/_scripts/perf_plots.py --out /tmp/perf

Every figure names the machine, the date of the run and the load average around it.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

DATA = Path(__file__).resolve().parent.parent / "_data"
MIB = 2**20

#: Colours by library, the same in every figure.
COLOURS = {
    "imcombiners": "tab:blue",
    "numpy": "tab:orange",
    "bottleneck": "tab:olive",
    "astropy": "tab:green",
    "ccdproc": "tab:red",
    "IRAF": "tab:purple",
}


def load(name: str, data: Path = DATA) -> dict[str, Any]:
    """One results file of ``docs/_data`` (``run``, ``iraf`` or ``sweep``)."""
    return json.loads((data / f"{name}.json").read_text())


def _load_average(uptime: str) -> str:
    match = re.search(r"load average:\s*([\d.]+)", uptime)
    return match.group(1) if match else "?"


def load_averages(uptime: str) -> str:
    """The 1, 5 and 15-minute load averages of an ``uptime`` line, as "a, b, c"."""
    match = re.search(r"load average:\s*(.*)$", uptime)
    return match.group(1).strip() if match else "?"


def caption(run: dict[str, Any]) -> str:
    """One line: CPU, cores, date and the 1-minute load average at the start and end."""
    m = run["machine"]
    return (
        f"{m['cpu']}, {m['usable_cores']} cores, {m['memory_gib']:.0f} GiB, Python {m['python']}"
        f" | {run['date']} | load {_load_average(run['uptime_start'])} at start,"
        f" {_load_average(run['uptime_end'])} at end"
    )


def _stamp(fig: Figure, run: dict[str, Any], tool: str) -> None:
    fig.text(
        0.005, 0.005, f"{caption(run)}\n{tool}", fontsize=7, color="0.35", ha="left", va="bottom"
    )


def ratio_rows(run_results: list[dict[str, Any]]) -> dict[str, list[tuple[str, str, float]]]:
    """Per workload label: (contender, library, time / imcombiners time) of the rows that ran,
    without the bandwidth floors and imcombiners itself."""
    out: dict[str, list[tuple[str, str, float]]] = {}
    for row in run_results:
        if row["seconds"] is None or row["role"] in ("ours", "floor"):
            continue
        out.setdefault(row["label"], []).append(
            (row["contender"], row["library"], row["ratio_to_ours"])
        )
    return out


def fig_ratios(run: dict[str, Any], iraf: dict[str, Any] | None = None) -> Figure:
    """Horizontal bars: each contender's time over imcombiners' time, one panel per workload,
    and IRAF IMCOMBINE over ``imc.iraf.imcombine`` per case."""
    groups = ratio_rows(run["results"])
    panels = list(groups.items())
    if iraf is not None:
        rows = [
            (f"IRAF: {r['label']}", "IRAF", r["ratio_iraf_to_ours"])
            for r in iraf["results"]
            if r["ratio_iraf_to_ours"]
        ]
        stack = iraf["run"]["stack"]
        label = (
            f"IRAF IMCOMBINE, {stack['frames']}x{stack['size']}x{stack['size']} float32 FITS"
            f" (run {iraf['run']['date']})"
        )
        panels.append((label, rows))
    heights = [max(1, len(rows)) * 0.32 + 0.7 for _, rows in panels]
    fig, axes = plt.subplots(
        len(panels),
        1,
        figsize=(8.5, sum(heights) + 0.6),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    top = max(r for _, rows in panels for *_, r in rows)
    bottom = min(0.1, 0.5 * min(r for _, rows in panels for *_, r in rows))
    for ax, (label, rows) in zip(axes[:, 0], panels, strict=True):
        names = [name for name, _, _ in rows]
        values = [ratio for _, _, ratio in rows]
        colours = [COLOURS.get(lib, "0.5") for _, lib, _ in rows]
        ax.barh(range(len(rows)), values, color=colours)
        for k, value in enumerate(values):
            ax.text(value * 1.05, k, f"{value:.3g}x", va="center", fontsize=8)
        ax.set_yticks(range(len(rows)), names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xscale("log")
        ax.set_xlim(bottom, top * 4)
        ax.axvline(1.0, color="k", lw=0.8)
        ax.set_title(label, fontsize=9, loc="left")
        ax.tick_params(axis="x", labelsize=8)
    axes[-1, 0].set_xlabel("time / imcombiners time (log; > 1: imcombiners is faster)")
    fig.tight_layout(rect=(0, 0.035, 1, 1))
    _stamp(fig, run["run"], "benchmarks/run.py, iraf_bench.py")
    return fig


def _series(rows: list[dict[str, Any]], key: str) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    x = np.array([row[key] for row in rows], dtype=float)
    names = [k for k in rows[0] if k not in ("frames", "size")]
    return x, {name: np.array([row[name] for row in rows]) for name in names}


def _library(name: str) -> str:
    if name.startswith("imcombiners"):
        return "imcombiners"
    return "numpy" if name.startswith("np.") else name.split(".")[0]


def _time_plot(ax, x: np.ndarray, series: dict[str, np.ndarray]) -> None:
    for name, seconds in series.items():
        style = "--" if "sigclip" in name else ":" if name == "np.mean" else "-"
        ax.plot(x, seconds * 1e3, style, marker="o", label=name, color=COLOURS.get(_library(name)))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_ylabel("time (ms, log)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)


def fig_time_vs_frames(sweep: dict[str, Any]) -> Figure:
    """Time against the number of frames N, at a fixed frame size."""
    rows = sweep["results"]["by_frames"]
    x, series = _series(rows, "frames")
    fig, ax = plt.subplots(figsize=(7, 4.2))
    _time_plot(ax, x, series)
    ax.set_xticks(x, [str(int(v)) for v in x])
    ax.set_xlabel(f"frames N (each {rows[0]['size']} x {rows[0]['size']} float32)")
    ax.set_title("time against N")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    _stamp(fig, sweep["run"], "benchmarks/sweep.py")
    return fig


def fig_time_vs_size(sweep: dict[str, Any]) -> Figure:
    """Time against the frame size, at a fixed N."""
    rows = sweep["results"]["by_size"]
    x, series = _series(rows, "size")
    fig, ax = plt.subplots(figsize=(7, 4.2))
    _time_plot(ax, x * x / 1e6, series)
    ax.set_xticks(x * x / 1e6, [f"{int(s)}²" for s in x])
    ax.minorticks_off()
    ax.set_xlabel(f"frame size in pixels ({rows[0]['frames']} frames, float32)")
    ax.set_title("time against image size")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    _stamp(fig, sweep["run"], "benchmarks/sweep.py")
    return fig


def fig_memory(sweep: dict[str, Any]) -> Figure:
    """Peak memory of ``combine_files`` against ``mem_limit``, and its time."""
    mem = sweep["results"]["mem_limit"]
    rows = [row for row in mem["rows"] if "error" not in row]
    limit = np.array([row["limit_bytes"] for row in rows], dtype=float) / MIB
    peak = np.array([row["extra"] for row in rows], dtype=float) / MIB
    seconds = np.array([row["seconds"] for row in rows])
    stack_mib = mem["stack_bytes"] / MIB
    fig, (ax, ax_t) = plt.subplots(1, 2, figsize=(10, 4.2))
    ax.plot(limit, peak, "o-", color=COLOURS["imcombiners"], label="peak extra memory")
    span = np.array([limit.min(), limit.max()])
    ax.plot(span, span, ":", color="0.4", label="= mem_limit")
    ax.axhline(
        stack_mib, color="tab:red", ls="--", lw=1, label=f"stack as uint16 ({stack_mib:.0f} MiB)"
    )
    ax.axhline(2 * stack_mib, color="tab:orange", ls="--", lw=1, label="stack as float32")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("mem_limit (MiB, log)")
    ax.set_ylabel("peak resident memory above idle (MiB, log)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(
        f"combine_files: {mem['frames']} x {mem['size']} x {mem['size']} {mem['dtype']} FITS",
        fontsize=10,
    )
    ax_t.plot(limit, seconds, "o-", color=COLOURS["imcombiners"])
    ax_t.set_xscale("log")
    ax_t.set_ylim(0, seconds.max() * 1.2)
    ax_t.set_xlabel("mem_limit (MiB, log)")
    ax_t.set_ylabel("time (s)")
    ax_t.grid(True, which="both", alpha=0.3)
    ax_t.set_title("time of the same calls", fontsize=10)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    _stamp(fig, sweep["run"], "benchmarks/sweep.py")
    return fig


def main(argv: list[str] | None = None) -> None:
    """Write every figure as a PNG file into ``--out``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA, help="folder of the JSON results")
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNG files")
    args = parser.parse_args(argv)
    matplotlib.use("Agg")  # files only (the page draws with the notebook's backend)
    args.out.mkdir(parents=True, exist_ok=True)
    run, iraf, sweep = (load(name, args.data) for name in ("run", "iraf", "sweep"))
    figures = {
        "ratios": fig_ratios(run, iraf),
        "time_vs_frames": fig_time_vs_frames(sweep),
        "time_vs_size": fig_time_vs_size(sweep),
        "memory_vs_mem_limit": fig_memory(sweep),
    }
    for name, fig in figures.items():
        fig.savefig(args.out / f"{name}.png", dpi=110)
        print(args.out / f"{name}.png")


if __name__ == "__main__":
    main()
