"""Real IRAF 2.17 IMCOMBINE against ``imcombiners.iraf.imcombine``, timed in the same run.

    python benchmarks/iraf_bench.py [--cases a,b,c,d] [--size 2048] [--repeats 3]
                                    [--warmup 1] [--threads T] [--markdown out.md]
                                    [--json out.json]

The four cases are those of ``docs/iraf-behaviour.md`` section 6 (timing anchor): 15 float32
FITS frames of ``normal(1000, 10)`` (seed 0), written once with astropy into a temporary
directory and read once more so the page cache is warm, default ``outtype=real`` and no
optional products.

* IRAF runs through ``tests/iraf_cl.py`` (a fresh headless CL session per call); its time is
  ``task_seconds``, the wall time between ``!date`` stamps around the ``imcombine`` call inside
  the CL script (IRAF reading the FITS inputs and writing the output, no CL start-up). The
  whole session's wall time is shown beside it.
* Ours is ``imc.iraf.imcombine(paths, **params).output`` timed with ``time.perf_counter``:
  from the list of paths to the output array (the library reads the FITS headers, then the
  data in bands of rows with pread), a fresh call on every repeat.
* Repeats alternate between the two (IRAF first on even repeats, ours first on odd ones);
  the table reports medians and the ratio IRAF / ours against the target (>= 15x).
* Every repeat's output is compared with IRAF's output of the same repeat: the table gives
  the largest count of pixels that differ by more than 2 float32 ulp, and the largest ulp
  difference seen.

Progress goes to stderr; the header and table to stdout (and to ``--markdown``). IRAF
processes are run in their own process group and killed by the runner; the benchmark also
checks that no ``ecl.e``/``x_images.e`` with its working directory in the temporary
directory survives a call.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import importlib.metadata
import os
import resource
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import jsonout
import machine
import numpy as np
import report

import imcombiners as imc

N_FRAMES = 15
LEVEL, NOISE, SEED = 1000.0, 10.0, 0
TARGET = 15.0  # IRAF task time / our time
ULP_TOLERANCE = 2
IRAF_PROCESS_NAMES = ("ecl.e", "cl.e", "x_images.e")
TESTS_DIR = Path(__file__).resolve().parent.parent / "tests"


@dataclass(frozen=True)
class Case:
    """One IMCOMBINE configuration of docs/iraf-behaviour.md section 6."""

    key: str
    label: str
    params: dict[str, Any]
    anchor_seconds: float  # docs/iraf-behaviour.md section 6, task s (median of 3) at 2048 x 2048


CASES: dict[str, Case] = {
    c.key: c
    for c in (
        Case("a", "median, reject=none", {"combine": "median", "reject": "none"}, 1.63),
        Case(
            "b",
            "average, sigclip lsigma=hsigma=3",
            {"combine": "average", "reject": "sigclip", "lsigma": 3.0, "hsigma": 3.0},
            2.20,
        ),
        Case(
            "c",
            "median, minmax nlow=nhigh=1",
            {"combine": "median", "reject": "minmax", "nlow": 1, "nhigh": 1},
            1.88,
        ),
        Case(
            "d",
            "average, ccdclip rdnoise=5 gain=1",
            {"combine": "average", "reject": "ccdclip", "rdnoise": 5.0, "gain": 1.0},
            2.25,
        ),
    )
}


@dataclass
class CaseResult:
    """Timings and output checks of one case over all repeats."""

    case: Case
    iraf_task: list[float] = field(default_factory=list)
    iraf_session: list[float] = field(default_factory=list)
    ours: list[float] = field(default_factory=list)
    ours_cpu: list[tuple[float, float]] = field(default_factory=list)  # (user, sys) per repeat
    beyond: list[int] = field(default_factory=list)  # pixels > ULP_TOLERANCE, per repeat
    max_ulp: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        """Median IRAF task time over our median time."""
        if not self.iraf_task or not self.ours:
            return None
        return statistics.median(self.iraf_task) / statistics.median(self.ours)


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _uptime() -> str:
    """The load averages from /proc/loadavg (1, 5 and 15 minutes)."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def load_iraf_cl() -> ModuleType:
    """Import the IRAF runner ``tests/iraf_cl.py`` (test support, not part of the package)."""
    if str(TESTS_DIR) not in sys.path:
        sys.path.insert(0, str(TESTS_DIR))
    return importlib.import_module("iraf_cl")


def write_inputs(iraf_cl: ModuleType, directory: Path, size: int) -> tuple[list[Path], float]:
    """Write the N_FRAMES seeded frames as float32 FITS files, then read them back once.

    Frames are drawn one after another from one ``default_rng(SEED)`` stream as
    ``standard_normal(float32) * NOISE + LEVEL``, so the stack is the same for any machine.

    Returns
    -------
    tuple of (list of Path, float)
        The paths in order, and the seconds astropy took to write them.
    """
    rng = np.random.default_rng(SEED)
    paths = [directory / f"in{i:02d}.fits" for i in range(N_FRAMES)]
    seconds = 0.0
    for path in paths:
        frame = rng.standard_normal((size, size), dtype=np.float32)
        frame *= np.float32(NOISE)
        frame += np.float32(LEVEL)
        t0 = time.perf_counter()
        iraf_cl.write_fits(path, frame)
        seconds += time.perf_counter() - t0
    for path in paths:  # warm the page cache (the writes normally already did)
        with open(path, "rb") as fh:
            while fh.read(1 << 24):
                pass
    return paths, seconds


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel distance in float32 units in the last place (0 where both are NaN).

    The float32 bit patterns are mapped to integers that are monotonic in the value
    (``+0`` and ``-0`` both map to 0), so the difference counts representable floats
    between the two values. A NaN facing a number gets a huge distance.
    """

    def ordered(x: np.ndarray) -> np.ndarray:
        bits = np.ascontiguousarray(x, dtype=np.float32).view(np.int32).astype(np.int64)
        return np.where(bits < 0, -(bits & 0x7FFFFFFF), bits)

    dist = np.abs(ordered(a) - ordered(b))
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    dist[nan_a & nan_b] = 0
    dist[nan_a ^ nan_b] = np.iinfo(np.int64).max
    return dist


def stray_iraf_processes(directory: Path) -> list[tuple[int, str]]:
    """IRAF processes (ecl.e, cl.e, x_images.e) whose working directory is in ``directory``.

    Only processes this benchmark started can have their working directory there.
    """
    root = str(directory.resolve())
    found: list[tuple[int, str]] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            comm = Path(f"/proc/{entry}/comm").read_text().strip()
            if comm not in IRAF_PROCESS_NAMES:
                continue
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if cwd == root or cwd.startswith(root + os.sep):
            found.append((int(entry), comm))
    return found


def reap_strays(directory: Path, result: CaseResult) -> None:
    """Kill (SIGKILL, by pid) any IRAF process of ours left behind, and note it."""
    for pid, comm in stray_iraf_processes(directory):
        result.notes.append(f"left behind {comm} pid {pid}: killed")
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def run_case(
    case: Case,
    paths: Sequence[Path],
    workdir: Path,
    iraf_cl: ModuleType,
    args: argparse.Namespace,
) -> CaseResult:
    """Time one case: ``args.repeats`` alternating IRAF / ours repeats, checking outputs."""
    result = CaseResult(case)
    str_paths = [str(p) for p in paths]

    def ours() -> np.ndarray:
        return imc.iraf.imcombine(str_paths, threads=args.threads, **case.params).output

    for _ in range(args.warmup):
        ours()

    def run_iraf() -> np.ndarray:
        res = iraf_cl.imcombine(
            paths, workdir, products=(), output=f"iraf_{case.key}.fits", **case.params
        )
        result.iraf_task.append(res.task_seconds)
        result.iraf_session.append(res.wall_seconds)
        for warning in res.warnings:
            if f"IRAF: {warning}" not in result.notes:
                result.notes.append(f"IRAF: {warning}")
        reap_strays(workdir, result)
        return res.output

    def run_ours() -> np.ndarray:
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        out = ours()
        result.ours.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        result.ours_cpu.append((r1.ru_utime - r0.ru_utime, r1.ru_stime - r0.ru_stime))
        return out

    steps: dict[str, Callable[[], np.ndarray]] = {"iraf": run_iraf, "ours": run_ours}
    for rep in range(args.repeats):
        order = ("iraf", "ours") if rep % 2 == 0 else ("ours", "iraf")
        outputs = {who: steps[who]() for who in order}
        theirs, mine = outputs["iraf"], outputs["ours"]
        _progress(
            f"  case {case.key} repeat {rep + 1}/{args.repeats}:"
            f" IRAF task {result.iraf_task[-1]:.3f} s, ours {result.ours[-1]:.3f} s"
        )
        if theirs.shape != mine.shape:
            result.notes.append(f"shape differs: IRAF {theirs.shape}, ours {mine.shape}")
            continue
        for who, arr in (("IRAF", theirs), ("ours", mine)):
            if arr.dtype != np.float32 and f"{who} output is {arr.dtype}" not in result.notes:
                result.notes.append(f"{who} output is {arr.dtype}")
        dist = ulp_distance(theirs, mine)
        result.beyond.append(int(np.count_nonzero(dist > ULP_TOLERANCE)))
        result.max_ulp.append(int(dist.max()))
    return result


def _fmt_s(values: list[float]) -> str:
    return f"{statistics.median(values):.3f}" if values else "-"


COLUMNS = (
    "case",
    "configuration",
    "IRAF task s",
    "IRAF session s",
    "ours s",
    "IRAF/ours",
    "target",
    "met",
    f"px > {ULP_TOLERANCE} ulp",
    "max ulp",
    "note",
)
NUMERIC = {c for c in COLUMNS if c not in ("case", "configuration", "target", "met", "note")}


def _cells(r: CaseResult) -> dict[str, str]:
    ratio = r.ratio
    return {
        "case": r.case.key,
        "configuration": r.case.label,
        "IRAF task s": _fmt_s(r.iraf_task),
        "IRAF session s": _fmt_s(r.iraf_session),
        "ours s": _fmt_s(r.ours),
        "IRAF/ours": "-" if ratio is None else f"{ratio:.1f}",
        "target": f">= {TARGET:g}",
        "met": "-" if ratio is None else ("yes" if ratio >= TARGET else "NO"),
        f"px > {ULP_TOLERANCE} ulp": str(max(r.beyond)) if r.beyond else "-",
        "max ulp": str(max(r.max_ulp)) if r.max_ulp else "-",
        "note": "; ".join(r.notes),
    }


def table(results: list[CaseResult], *, markdown: bool) -> str:
    """The results table, one line per case, as aligned text or Markdown."""
    cells = [_cells(r) for r in results]
    return report.render(cells, COLUMNS, NUMERIC, markdown=markdown)


def details(results: list[CaseResult], size: int) -> list[str]:
    """Lines with every repeat's times and the docs/iraf-behaviour.md anchor, per case."""

    def seq(values: list[float]) -> str:
        return ", ".join(f"{v:.3f}" for v in values)

    lines = [
        "per repeat (s, in run order; IRAF first on repeats 1, 3, ...; ours cpu = user+sys"
        " of this process, all threads):"
    ]
    for r in results:
        anchor = f"; anchor {r.case.anchor_seconds:.2f}" if size == 2048 else ""
        lines.append(
            f"  {r.case.key}: IRAF task [{seq(r.iraf_task)}], IRAF session"
            f" [{seq(r.iraf_session)}], ours [{seq(r.ours)}]{anchor}"
        )
        cpu = ", ".join(f"{u:.2f}+{s:.2f}" for u, s in r.ours_cpu)
        lines.append(f"     ours cpu [{cpu}]")
    return lines


@dataclass(frozen=True, kw_only=True)
class RunInfo:
    """What the header says about the run besides the machine."""

    iraf_version: str
    size: int
    repeats: int
    warmup: int
    threads: int
    write_seconds: float
    load_start: str
    load_end: str
    wall_seconds: float
    others_cpu: float


def header(info: RunInfo) -> list[str]:
    """Lines describing the date, machine, versions, load, stack and method."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cores = len(os.sched_getaffinity(0))
    busy = info.others_cpu / max(1e-9, info.wall_seconds * cores)
    stack_mib = N_FRAMES * info.size * info.size * 4 / 2**20
    return [
        f"date: {now}",
        f"machine: {machine.describe()}",
        f"versions: imcombiners {getattr(imc, '__version__', 'unknown')}, IRAF"
        f" {info.iraf_version} (irafcl, single-threaded), numpy {_version('numpy')},"
        f" astropy {_version('astropy')}",
        f"threads: imcombiners {info.threads}, IRAF 1",
        f"stack: {N_FRAMES} x {info.size} x {info.size} float32 FITS ({stack_mib:.0f} MiB),"
        f" normal({LEVEL:g}, {NOISE:g}), seed {SEED}; astropy wrote it in"
        f" {info.write_seconds:.2f} s; page cache warm; outtype=real, no optional products",
        f"timing: median of {info.repeats} alternating repeats; ours gets {info.warmup} untimed"
        " warm-up call(s) per case; IRAF task = `!date` stamps around imcombine inside the CL"
        " (reads FITS, writes FITS); IRAF session = whole CL process (start-up, logout);",
        "  ours = imc.iraf.imcombine(paths, ...).output with time.perf_counter (reads the"
        " headers, reads the data in bands with pread; nothing is written)",
        f"check: px > {ULP_TOLERANCE} ulp = pixels where our output and IRAF's differ by more"
        f" than {ULP_TOLERANCE} float32 ulp (worst repeat); max ulp = largest difference",
        f"load average (1, 5, 15 min): {info.load_start} at start, {info.load_end} at end;"
        f" wall time {info.wall_seconds:.0f} s; other processes used {info.others_cpu:.0f} CPU s"
        f" ({busy:.0%} of the cores) during the run",
    ]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    parser = argparse.ArgumentParser(description="IRAF IMCOMBINE vs imcombiners.iraf")
    parser.add_argument(
        "--cases", default=",".join(CASES), help="e.g. a,b (docs/iraf-behaviour.md section 6)"
    )
    parser.add_argument("--size", type=int, default=2048, help="frame side in pixels")
    parser.add_argument("--repeats", type=int, default=3, help="timed alternating repeats")
    parser.add_argument("--warmup", type=int, default=1, help="untimed calls of ours per case")
    parser.add_argument("--threads", type=int, default=None, help="imcombiners threads")
    parser.add_argument("--markdown", type=Path, help="also write header and table here")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    keys = [k.strip().lower() for k in args.cases.split(",") if k.strip()]
    unknown = sorted(set(keys) - set(CASES))
    if unknown or not keys:
        parser.error(f"unknown cases {unknown}; known: {sorted(CASES)}")
    if args.size < 1 or args.repeats < 1 or args.warmup < 0:
        parser.error("--size and --repeats must be >= 1, --warmup >= 0")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be >= 1")
    args.cases = list(dict.fromkeys(keys))
    return args


def main(argv: list[str] | None = None) -> int:
    """Write the inputs, run the chosen cases, print the report; 2 if IRAF is missing."""
    args = parse_args(argv)
    record = jsonout.RunRecord("benchmarks/iraf_bench.py", sys.argv[1:] if argv is None else argv)
    load_start = _uptime()
    start, meter = time.perf_counter(), machine.CpuMeter.start()
    iraf_cl = load_iraf_cl()
    ok, iraf_version = iraf_cl.iraf_available()
    if not ok:
        print(f"IRAF is not available: {iraf_version}", file=sys.stderr)
        return 2
    threads = args.threads or int(imc.get_num_threads())
    results: list[CaseResult] = []
    with tempfile.TemporaryDirectory(prefix="iraf_bench_") as tmp:
        workdir = Path(tmp)
        _progress(f"writing {N_FRAMES} x {args.size}^2 float32 frames to {workdir}")
        paths, write_seconds = write_inputs(iraf_cl, workdir, args.size)
        try:
            for key in args.cases:
                case = CASES[key]
                _progress(f"case {key}: {case.label}")
                results.append(run_case(case, paths, workdir, iraf_cl, args))
        finally:
            leftovers = stray_iraf_processes(workdir)
            for pid, _comm in leftovers:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
    if leftovers and results:
        results[-1].notes.append(f"{len(leftovers)} IRAF processes left at the end: killed")
    info = RunInfo(
        iraf_version=iraf_version,
        size=args.size,
        repeats=args.repeats,
        warmup=args.warmup,
        threads=threads,
        write_seconds=write_seconds,
        load_start=load_start,
        load_end=_uptime(),
        wall_seconds=time.perf_counter() - start,
        others_cpu=meter.others(),
    )
    head = header(info)
    more = details(results, args.size)
    print("\n".join(head), "", table(results, markdown=False), "", "\n".join(more), sep="\n")
    if args.markdown is not None:
        md = [*(f"    {line}" for line in head), "", table(results, markdown=True), ""]
        md += [f"    {line}" for line in more]
        args.markdown.write_text("\n".join(md) + "\n")
    if args.json is not None:
        run = record.finish(
            info.wall_seconds,
            threads={"imcombiners": threads, "IRAF": 1},
            versions={
                "imcombiners": str(getattr(imc, "__version__", "unknown")),
                "IRAF": iraf_version,
                **jsonout.versions("numpy", "astropy"),
            },
            stack={"frames": N_FRAMES, "size": args.size, "dtype": "float32"},
        )
        jsonout.write(args.json, run, [_json_case(r) for r in results])
    return 0


def _json_case(r: CaseResult) -> dict[str, Any]:
    """One case's times (seconds), ratio and output check as a plain dict."""
    return {
        "case": r.case.key,
        "label": r.case.label,
        "params": r.case.params,
        "iraf_task_seconds": r.iraf_task,
        "iraf_session_seconds": r.iraf_session,
        "ours_seconds": r.ours,
        "ratio_iraf_to_ours": r.ratio,
        "pixels_beyond_ulp_tolerance": max(r.beyond, default=None),
        "max_ulp": max(r.max_ulp, default=None),
        "notes": r.notes,
    }


if __name__ == "__main__":
    sys.exit(main())
