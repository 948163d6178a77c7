"""Issue 6: a median + sigma-clip combine of FITS files on disk, ours beside ccdproc and IRAF.

    python benchmarks/files_bench.py [--size 2048] [--frames 20] [--repeats 3]
        [--repeats-ccdproc 1] [--ccdproc-mem-limit BYTES] [--bounded-mem-limit BYTES]
        [--workdir DIR] [--skip-iraf] [--skip-ccdproc] [--markdown]

The stack: ``--frames`` (20) uint16 FITS files of ``--size`` x ``--size`` (2048) pixels,
written as cameras write them (BITPIX 16, BZERO 32768) into a temporary directory (or
``--workdir``). They look like dome flats: a vignetted illumination from about 1000 ADU in
the corners to about 20000 ADU in the centre, a fixed 1% pixel response pattern, a lamp that
drifts by up to 0.5% between frames, Poisson-like Gaussian noise (gain 2 e-/ADU, read noise
10 e-) and cosmic-ray hits (0.02% of the pixels of each frame, 300 to 30000 ADU, with a
half-height neighbour). Seeded, so every run and machine sees the same files. They are read
once after writing, so every contender starts with a warm page cache.

Contenders (each combines the files to an output FITS file, median with 3-sigma clipping):

(a) ``imc.combine_files(paths, out, method="median", rejectors=SigClip, progress=False,
    overwrite=True)``, default ``mem_limit`` ("1GB", more than the stack).
(b) ``ccdproc.combine(paths, output_file=out, method="median", sigma_clip=True,
    sigma_clip_low_thresh=3, sigma_clip_high_thresh=3, sigma_clip_func=np.ma.median,
    sigma_clip_dev_func=np.ma.std, unit="adu")`` with ccdproc's default ``mem_limit`` (16e9
    bytes: one tile) unless ``--ccdproc-mem-limit`` is given.
(c) IRAF 2.17 ``imcombine combine=median reject=sigclip lsigma=3 hsigma=3 mclip=yes``
    (default ``outtype=real``: float32 output) through ``tests/iraf_cl.py``, timed as
    ``benchmarks/iraf_bench.py`` does: the ``!date`` stamps around the task inside the CL.
(d) (a) with ``mem_limit`` = 1/8 of the stack (``frames * size**2 * 2 / 8`` bytes), or
    ``--bounded-mem-limit`` bytes.

The same rule for (a), (b) and (d): ccdproc 2.5.1's ``Combiner.sigma_clipping`` calls
``astropy.stats.sigma_clip(data, sigma_lower=3, sigma_upper=3, axis=0, maxiters=1,
cenfunc=np.ma.median, stdfunc=np.ma.std)``: a **single pass** that keeps samples inside the
closed interval ``median +- 3 * std``, then takes the median of the survivors (mean of the two
middle values for an even count). Ours is ``SigClip(sigma=3.0, maxiters=1, cenfunc="median",
stdfunc="std", ddof=0)``: the same centre, one pass, the same closed interval and median. The
one difference no SigClip setting removes: astropy's ``std`` is the spread about the *mean*,
ours is the rms about the clipping centre (the median), ``sqrt(std**2 + (mean - median)**2)``,
never smaller. Where a cosmic ray pulls the mean away from the median our interval is a little
wider, and ccdproc may reject a sample we keep; the outputs then differ at those pixels (the
table gives the largest difference and the fraction of pixels that differ). IRAF's sigclip
iterates until nothing more is rejected, with its own sigma (about the median, n - 1), so
its output differs too; the comparison is shown for information.

Every measurement is one fresh process (this script with ``--child``): it imports the
contender's libraries (and astropy.io.fits), notes its resident set, resets the high-water
mark and runs the call once (``procmem.measure``). "peak extra" is VmHWM minus that baseline:
the memory the call needed on top of an idle process. IRAF runs in its own processes; its
figure is the peak RSS of the largest IRAF process (``x_images.e``, from
``getrusage(RUSAGE_CHILDREN)`` in the child), code and all. The contenders alternate round by
round (``harness.alternate``: the order rotates each round); ccdproc, which takes tens of
seconds, runs ``--repeats-ccdproc`` (1) times, spread over the rounds. Times are medians.

Outputs are checked: every run of (a) and (d) must equal the first run of (a) bit for bit (the
script exits with status 1 and says FAIL otherwise); ccdproc's and IRAF's outputs are compared
with it. Progress goes to stderr; the report to stdout. ``--markdown`` adds the header as an
indented block and the table in Markdown, for ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import importlib
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
import iraf_bench
import machine
import numpy as np
import procmem
import report

import imcombiners as imc

HERE = Path(__file__).resolve()
SEED = 6
LEVEL_LOW, LEVEL_HIGH = 1000.0, 20000.0  # ADU: corners and centre of the illumination
PRNU = 0.01  # pixel response non-uniformity (fixed pattern)
DRIFT = 0.005  # lamp level drift between frames (uniform +-)
GAIN, RDNOISE = 2.0, 10.0  # e-/ADU, e-
CR_FRACTION = 2e-4  # pixels hit per frame
CR_LOW, CR_HIGH = 300.0, 30000.0  # ADU added by a hit
SIGMA = 3.0
IRAF_PARAMS: dict[str, Any] = {
    "combine": "median",
    "reject": "sigclip",
    "lsigma": SIGMA,
    "hsigma": SIGMA,
    "mclip": True,
}
CHILD_TIMEOUT = 3600.0
MIB = 2**20


def ours_rejector() -> imc.SigClip:
    """The SigClip closest to ccdproc's single astropy pass (see the module docstring)."""
    return imc.SigClip(sigma=SIGMA, maxiters=1, cenfunc="median", stdfunc="std", ddof=0)


def ccdproc_kwargs(mem_limit: int | None) -> dict[str, Any]:
    """Keyword arguments of ``ccdproc.combine`` besides the paths and the output file."""
    kwargs: dict[str, Any] = {
        "method": "median",
        "sigma_clip": True,
        "sigma_clip_low_thresh": SIGMA,
        "sigma_clip_high_thresh": SIGMA,
        "sigma_clip_func": np.ma.median,
        "sigma_clip_dev_func": np.ma.std,
        "unit": "adu",
        "overwrite_output": True,
    }
    if mem_limit is not None:
        kwargs["mem_limit"] = mem_limit
    return kwargs


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# The input files
# --------------------------------------------------------------------------------------


def make_frames(size: int, frames: int):
    """Yield the seeded flat-like frames as uint16 arrays, one at a time."""
    rng = np.random.default_rng(SEED)
    axis = (np.arange(size, dtype=np.float32) - (size - 1) / 2) / ((size - 1) / 2)
    r2 = (axis[None, :] ** 2 + axis[:, None] ** 2) / 2  # 0 in the centre, 1 in the corners
    illumination = LEVEL_HIGH - (LEVEL_HIGH - LEVEL_LOW) * r2
    illumination *= 1 + PRNU * rng.standard_normal((size, size), dtype=np.float32)
    del r2
    hits = max(1, round(CR_FRACTION * size * size))
    for _ in range(frames):
        signal_adu = illumination * np.float32(1 + DRIFT * rng.uniform(-1, 1))
        noise = np.sqrt(signal_adu / GAIN + (RDNOISE / GAIN) ** 2)
        frame = signal_adu + noise * rng.standard_normal((size, size), dtype=np.float32)
        ys, xs = rng.integers(0, size, hits), rng.integers(0, size, hits)
        energy = rng.uniform(CR_LOW, CR_HIGH, hits).astype(np.float32)
        np.add.at(frame, (ys, xs), energy)
        np.add.at(frame, (ys, np.minimum(xs + 1, size - 1)), energy / 2)
        yield np.clip(np.rint(frame), 0, 65535).astype(np.uint16)


def write_inputs(iraf_cl: Any, directory: Path, size: int, frames: int) -> tuple[list[Path], float]:
    """Write the frames as BITPIX 16 / BZERO 32768 FITS files; read them back once.

    Returns the paths in order and the seconds astropy took to write them.
    """
    paths = [directory / f"flat{i + 1:03d}.fits" for i in range(frames)]
    seconds = 0.0
    for i, (path, frame) in enumerate(zip(paths, make_frames(size, frames), strict=True)):
        header = {"IMAGETYP": "FLAT", "EXPTIME": 5.0, "GAIN": GAIN, "RDNOISE": RDNOISE}
        header["FRAMENUM"] = i + 1
        t0 = time.perf_counter()
        iraf_cl.write_fits(path, frame, header)  # astropy: uint16 -> BITPIX 16, BZERO 32768
        seconds += time.perf_counter() - t0
    for path in paths:  # warm the page cache (the writes normally already did)
        with open(path, "rb") as fh:
            while fh.read(1 << 24):
                pass
    return paths, seconds


# --------------------------------------------------------------------------------------
# One measurement, in a fresh process
# --------------------------------------------------------------------------------------


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run one contender once in this (fresh) process; return its time and memory."""
    import astropy.io.fits  # noqa: F401  (every contender reads FITS: not counted)

    tool, paths, output = spec["tool"], spec["paths"], spec["output"]
    if tool in ("ours", "bounded"):
        for name in ("imcombiners.files", "imcombiners.io"):  # import cost is not counted
            with contextlib.suppress(ImportError):
                importlib.import_module(name)
        kwargs = {} if spec["mem_limit"] is None else {"mem_limit": spec["mem_limit"]}
        rejector = ours_rejector()
        info: dict[str, Any] = {}

        def call() -> object:
            res = imc.combine_files(
                paths,
                output,
                method="median",
                rejectors=rejector,
                progress=False,
                overwrite=True,
                **kwargs,
            )
            info["bands"] = res.bands
            info["rejected"] = float(np.mean([f.rejected_fraction for f in res.frames]))
            info["output_written"] = str(res.paths.get("output", ""))
            info["dtype"] = res.data.dtype.str  # e.g. "<f4"; ">f4" is big-endian
            return res

        use = procmem.measure(call)
        return {**use.to_json(), **info}
    if tool == "ccdproc":
        import ccdproc

        kwargs = ccdproc_kwargs(spec["mem_limit"])
        use = procmem.measure(lambda: ccdproc.combine(paths, output_file=output, **kwargs))
        return use.to_json()
    if tool == "iraf":
        iraf_cl = iraf_bench.load_iraf_cl()
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        res = iraf_cl.imcombine(
            [Path(p) for p in paths],
            spec["iraf_workdir"],
            products=(),
            output=Path(output).name,
            **IRAF_PARAMS,
        )
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        return {
            "seconds": res.task_seconds,
            "session": res.wall_seconds,
            "peak": peak * 1024,
            "extra": peak * 1024,  # a fresh IRAF process: its whole peak RSS
            "before": before * 1024,
            "warnings": list(res.warnings),
        }
    raise ValueError(f"unknown tool {tool!r}")


def child_main(text: str) -> int:
    """``--child SPEC``: print one JSON line with the measurement (or the error)."""
    spec = json.loads(text)
    try:
        out = {"ok": True, **child(spec)}
    except Exception as exc:
        traceback.print_exc()
        out = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(out), flush=True)
    return 0 if out["ok"] else 1


class ChildError(RuntimeError):
    """A measurement process failed; the message is the child's own error."""


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``spec`` in a fresh Python process; raise ChildError if it failed."""
    cmd = [sys.executable, str(HERE), "--child", json.dumps(spec)]
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=CHILD_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise ChildError(f"timed out after {CHILD_TIMEOUT:.0f} s") from exc
    lines = done.stdout.strip().splitlines()
    try:
        reply = json.loads(lines[-1]) if lines else {}
    except json.JSONDecodeError:
        reply = {}
    if not reply.get("ok"):
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        if tail:
            _progress(f"    child stderr:\n{tail}")
        raise ChildError(reply.get("error") or f"exit code {done.returncode}")
    return reply


# --------------------------------------------------------------------------------------
# The contenders and their runs
# --------------------------------------------------------------------------------------


@dataclass
class Tool:
    """One contender: what it runs, and each run's record (time, memory, output file)."""

    key: str
    label: str
    library: str
    rounds: int
    mem_limit: int | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def times(self) -> list[float]:
        """Seconds of every run, in run order."""
        return [float(r["seconds"]) for r in self.runs]

    @property
    def seconds(self) -> float | None:
        """Median seconds, or None without a run."""
        return statistics.median(self.times) if self.runs else None

    @property
    def extra(self) -> int | None:
        """Largest peak extra memory over the runs, in bytes."""
        return max(int(r["extra"]) for r in self.runs) if self.runs else None


def make_runner(tool: Tool, paths: list[Path], out_dir: Path, iraf_dir: Path):
    """The ``harness.Row.run`` of ``tool``: one fresh child per call."""

    def run(_want_summary: bool) -> tuple[float, dict[str, Any] | None]:
        n = len(tool.runs) + 1
        name = f"{tool.key}_{n}.fits"
        output = (iraf_dir if tool.key == "iraf" else out_dir) / name
        spec = {
            "tool": tool.key,
            "paths": [str(p) for p in paths],
            "output": str(output),
            "mem_limit": tool.mem_limit,
            "iraf_workdir": str(iraf_dir),
        }
        reply = run_child(spec)
        reply["path"] = str(output)
        tool.runs.append(reply)
        for warning in reply.get("warnings", []):
            if f"IRAF: {warning}" not in tool.notes:
                tool.notes.append(f"IRAF: {warning}")
        if tool.key == "iraf":
            iraf_bench.reap_strays(iraf_dir, tool)  # appends to tool.notes
        extra = f", peak extra {int(reply['extra']) / MIB:.1f} MiB"
        if "bands" in reply:
            extra += f", {reply['bands']} band(s)"
        _progress(f"    {tool.key} run {n}: {float(reply['seconds']):.3f} s{extra}")
        return float(reply["seconds"]), None

    return run


def read_output(path: str) -> np.ndarray:
    """The image of an output file (the first HDU with data), as float64."""
    from astropy.io import fits

    return np.asarray(fits.getdata(path), dtype=np.float64)


def compare(ref: np.ndarray, other: np.ndarray) -> dict[str, Any]:
    """Bitwise equality, the largest absolute difference and the share of differing pixels."""
    if ref.shape != other.shape:
        return {"identical": False, "shape": f"{other.shape} vs {ref.shape}"}
    nan_ref, nan_other = np.isnan(ref), np.isnan(other)
    with np.errstate(invalid="ignore"):
        diff = np.abs(ref - other)
    diff[nan_ref & nan_other] = 0.0
    diff[nan_ref ^ nan_other] = np.inf
    differ = int(np.count_nonzero(diff))
    return {
        "identical": differ == 0,
        "max_abs": float(diff.max()) if diff.size else 0.0,
        "differ": differ,
        "fraction": differ / max(1, diff.size),
        "over_1": int(np.count_nonzero(diff > 1.0)),
    }


def rule_oracles(paths: list[Path], rows: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """NumPy versions of the two clipping rules on the input files, in float64.

    Both: one pass, keep ``median - 3 s <= x <= median + 3 s``, then the median of the
    survivors. ccdproc's (astropy's) ``s`` is the std about the mean; ours is the rms about
    the median. Returns ``(ccdproc_rule, ours_rule)``.
    """
    from astropy.io import fits

    stack = np.stack([fits.getdata(p) for p in paths])  # uint16, as the files hold it
    out_ccd = np.empty(stack.shape[1:], dtype=np.float64)
    out_ours = np.empty_like(out_ccd)
    for y in range(0, stack.shape[1], rows):
        block = stack[:, y : y + rows].astype(np.float64)
        med = np.median(block, axis=0)
        for spread, out in (
            (block.std(axis=0), out_ccd),
            (np.sqrt(np.mean((block - med) ** 2, axis=0)), out_ours),
        ):
            keep = (block >= med - spread * SIGMA) & (block <= med + spread * SIGMA)
            out[y : y + rows] = np.nanmedian(np.where(keep, block, np.nan), axis=0)
    return out_ccd, out_ours


def check_outputs(tools: dict[str, Tool]) -> list[str]:
    """Compare every output with the first run of (a); return the failures."""
    ours = tools["ours"]
    if not ours.runs:
        return ["(a) produced no output: nothing to compare"]
    ref = read_output(ours.runs[0]["path"])
    failures = []
    for tool in tools.values():
        for i, run in enumerate(tool.runs):
            if tool.key == "ours" and i == 0:
                continue
            result = compare(ref, read_output(run["path"]))
            tool.checks.append(result)
            if tool.key in ("ours", "bounded") and not result["identical"]:
                failures.append(
                    f"{tool.key} run {i + 1} differs from ours run 1: {result}"
                    " (bounded and unbounded combines must be identical)"
                )
    return failures


def explain_ccdproc(tools: dict[str, Tool], paths: list[Path]) -> list[str]:
    """Lines saying whether the ccdproc/ours differences are those of the two rules."""
    ccd, ours = tools.get("ccdproc"), tools["ours"]
    if ccd is None or not ccd.runs or not ours.runs:
        return []
    _progress("computing the NumPy oracles of both clipping rules")
    oracle_ccd, oracle_ours = rule_oracles(paths)
    got_ccd = read_output(ccd.runs[0]["path"])
    got_ours = read_output(ours.runs[0]["path"])
    rules = compare(oracle_ccd, oracle_ours)
    vs_ccd, vs_ours = compare(oracle_ccd, got_ccd), compare(oracle_ours, got_ours)
    return [
        f"rules: the NumPy oracles of ccdproc's rule (std about the mean) and ours (rms about"
        f" the median) differ at {rules['differ']} px ({rules['fraction']:.4%}), by up to"
        f" {rules['max_abs']:.4g} ADU; ccdproc's output differs from its oracle at"
        f" {vs_ccd['differ']} px, ours from its oracle at {vs_ours['differ']} px"
        f" (max {vs_ours['max_abs']:.4g})",
    ]


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------

COLUMNS = ("", "contender", "runs", "median s", "per run s", "÷ (a)", "peak extra MiB", "output")
NUMERIC = {"runs", "median s", "÷ (a)", "peak extra MiB"}


def _check_cell(tool: Tool) -> str:
    if tool.key == "ours":
        rest = tool.checks  # runs 2.. against run 1
        if not rest:
            return "reference"
        same = all(c["identical"] for c in rest)
        return "reference; runs identical" if same else "reference; runs DIFFER"
    if not tool.checks:
        return "-"
    if tool.key == "bounded":
        same = all(c["identical"] for c in tool.checks)
        return "identical to (a)" if same else "DIFFERS from (a)"
    worst = max(tool.checks, key=lambda c: c.get("differ", 0))
    if "shape" in worst:
        return f"shape {worst['shape']}"
    if worst["identical"]:
        return "identical to (a)"
    return (
        f"max abs diff {worst['max_abs']:.4g} ADU; {worst['fraction']:.4%} of px differ"
        f" ({worst['over_1']} by > 1 ADU)"
    )


def _cells(tool: Tool, ours_seconds: float | None) -> dict[str, str]:
    seconds = tool.seconds
    ratio = "-"
    if seconds is not None and ours_seconds:
        ratio = f"{seconds / ours_seconds:.2f}"
    extra = tool.extra
    notes = list(tool.notes)
    if tool.error:
        notes.insert(0, "FAILED: " + tool.error.removeprefix(f"{ChildError.__name__}: "))
    note = "; ".join(notes)
    return {
        "": {"ours": "a", "ccdproc": "b", "iraf": "c", "bounded": "d"}[tool.key],
        "contender": tool.label,
        "runs": str(len(tool.runs)),
        "median s": "-" if seconds is None else f"{seconds:.3f}",
        "per run s": ", ".join(f"{t:.2f}" for t in tool.times) or "-",
        "÷ (a)": ratio,
        "peak extra MiB": "-" if extra is None else f"{extra / MIB:.1f}",
        "output": "; ".join(x for x in (_check_cell(tool), note) if x and x != "-") or "-",
    }


def table(tools: list[Tool], *, markdown: bool) -> str:
    """The results table, as aligned text or Markdown."""
    ours = next((t.seconds for t in tools if t.key == "ours"), None)
    cells = [_cells(t, ours) for t in tools]
    return report.render(cells, COLUMNS, NUMERIC, markdown=markdown)


def summary(tools: dict[str, Tool], size: int) -> list[str]:
    """Ratios, band counts and the memory bound of (d)."""
    lines = []
    ours = tools["ours"].seconds
    for key, what in (("ccdproc", "ccdproc / ours"), ("iraf", "IRAF / ours")):
        tool = tools.get(key)
        if tool is not None and tool.seconds is not None and ours:
            lines.append(f"{what}: {tool.seconds / ours:.1f}x")
    bounded = tools.get("bounded")
    if bounded is not None and bounded.seconds is not None and ours:
        lines.append(f"bounded (d) / unbounded (a): {bounded.seconds / ours:.2f}x")
    for key in ("ours", "bounded"):
        tool = tools.get(key)
        if tool is None or not tool.runs:
            continue
        bands = sorted({r.get("bands") for r in tool.runs}, key=str)
        rej = statistics.mean(float(r.get("rejected", 0.0)) for r in tool.runs)
        dt = np.dtype(tool.runs[0].get("dtype", "f4"))
        dtype = dt.name + (" big-endian" if dt.byteorder == ">" else "")
        lines.append(
            f"({'a' if key == 'ours' else 'd'}) bands {bands}, mean rejected fraction"
            f" {rej:.4%}, output dtype {dtype}"
        )
    if bounded is not None and bounded.runs and bounded.mem_limit is not None:
        out_bytes = size * size * np.dtype(bounded.runs[0].get("dtype", "float32")).itemsize
        extra = bounded.extra or 0
        lines.append(
            f"(d) peak extra {extra / MIB:.1f} MiB against mem_limit {bounded.mem_limit / MIB:.1f}"
            f" MiB (the budget includes the {out_bytes / MIB:.1f} MiB output array it returns):"
            f" {'within' if extra <= bounded.mem_limit else 'ABOVE'}"
        )
    return lines


@dataclass(frozen=True, kw_only=True)
class RunInfo:
    """What the header says about the run besides the machine."""

    iraf_version: str
    size: int
    frames: int
    repeats: int
    write_seconds: float
    ccdproc_mem_limit: int | None
    bounded_limit: int
    load_start: str
    load_end: str
    wall_seconds: float
    others_cpu: float


def header(info: RunInfo) -> list[str]:
    """Lines describing the date, machine, versions, load, stack and method."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    cores = len(os.sched_getaffinity(0))
    busy = info.others_cpu / max(1e-9, info.wall_seconds * cores)
    stack = info.frames * info.size * info.size * 2
    version = iraf_bench._version
    ccd_limit = (
        "default 16e9 bytes"
        if info.ccdproc_mem_limit is None
        else f"{info.ccdproc_mem_limit} bytes"
    )
    return [
        f"date: {now}",
        f"machine: {machine.describe()}",
        f"versions: imcombiners {getattr(imc, '__version__', 'unknown')}, ccdproc"
        f" {version('ccdproc')}, astropy {version('astropy')}, numpy {version('numpy')},"
        f" bottleneck {version('bottleneck')}, IRAF {info.iraf_version}",
        f"threads: imcombiners {imc.get_num_threads()}, ccdproc/numpy 1, IRAF 1",
        f"stack: {info.frames} x {info.size} x {info.size} uint16 FITS files (BITPIX 16, BZERO"
        f" 32768; {stack / MIB:.0f} MiB of pixels), flat-like {LEVEL_LOW:g}-{LEVEL_HIGH:g} ADU,"
        f" gain {GAIN:g}, read noise {RDNOISE:g} e-, cosmic rays on {CR_FRACTION:.2%} of the"
        f" pixels, seed {SEED}; astropy wrote them in {info.write_seconds:.2f} s; page cache warm",
        "combine: median after one 3-sigma clipping pass (low and high), to an output FITS file;",
        "  (a) imc.combine_files(paths, out, method='median', rejectors=SigClip(sigma=3,"
        " maxiters=1, cenfunc='median', stdfunc='std'), progress=False, overwrite=True),"
        " default mem_limit",
        "  (b) ccdproc.combine(paths, output_file=out, method='median', sigma_clip=True,"
        " low/high 3, sigma_clip_func=np.ma.median, sigma_clip_dev_func=np.ma.std, unit='adu'),"
        f" mem_limit {ccd_limit}; one astropy sigma_clip pass (maxiters=1), std about the mean",
        "  (c) IRAF imcombine combine=median reject=sigclip lsigma=3 hsigma=3 mclip=yes"
        " (outtype=real); iterates to convergence",
        f"  (d) as (a) with mem_limit={info.bounded_limit}"
        f" ({info.bounded_limit / stack:.3g} of the stack)",
        f"timing: a fresh process per run, the contenders alternating round by round; median of"
        f" {info.repeats} runs (ccdproc: the runs shown); (a), (b), (d) = time.perf_counter"
        " around the call (reads the FITS files, writes the output); (c) = IRAF task time,"
        " `!date` stamps around imcombine inside the CL (as benchmarks/iraf_bench.py)",
        "memory: peak extra = VmHWM - RSS after the imports, in the run's own process, worst"
        " run; for IRAF the peak RSS of its largest process (x_images.e), code included",
        f"load average (1, 5, 15 min): {info.load_start} at start, {info.load_end} at end;"
        f" wall time {info.wall_seconds:.0f} s; other processes used {info.others_cpu:.0f} CPU s"
        f" ({busy:.0%} of the cores) during the run",
    ]


# --------------------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    parser = argparse.ArgumentParser(description="combine FITS files: imcombiners, ccdproc, IRAF")
    parser.add_argument("--size", type=int, default=2048, help="frame side in pixels")
    parser.add_argument("--frames", type=int, default=20, help="number of FITS files")
    parser.add_argument("--repeats", type=int, default=3, help="runs of (a), (c), (d)")
    parser.add_argument("--repeats-ccdproc", type=int, default=1, help="runs of ccdproc")
    parser.add_argument("--ccdproc-mem-limit", type=int, default=None, help="bytes")
    parser.add_argument(
        "--bounded-mem-limit", type=int, default=None, help="bytes for (d); default stack / 8"
    )
    parser.add_argument("--workdir", type=Path, help="keep the files here (default: temporary)")
    parser.add_argument("--skip-iraf", action="store_true")
    parser.add_argument("--skip-ccdproc", action="store_true")
    parser.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is None and (
        args.size < 8 or args.frames < 3 or args.repeats < 1 or args.repeats_ccdproc < 1
    ):
        parser.error("--size >= 8, --frames >= 3, --repeats and --repeats-ccdproc >= 1")
    return args


def run(args: argparse.Namespace, work: Path) -> int:
    """Write the inputs into ``work``, time every contender, print the report."""
    load_start = iraf_bench._uptime()
    start, meter = time.perf_counter(), machine.CpuMeter.start()
    iraf_cl = iraf_bench.load_iraf_cl()
    iraf_version = "not run"
    if not args.skip_iraf:
        ok, iraf_version = iraf_cl.iraf_available()
        if not ok:
            _progress(f"IRAF is not available ({iraf_version}): skipping it")
            args.skip_iraf = True
    input_dir, out_dir, iraf_dir = work / "inputs", work / "outputs", work / "iraf"
    for d in (input_dir, out_dir, iraf_dir):
        d.mkdir(parents=True, exist_ok=True)
    _progress(f"writing {args.frames} x {args.size}^2 uint16 frames to {input_dir}")
    paths, write_seconds = write_inputs(iraf_cl, input_dir, args.size, args.frames)
    bounded_limit = args.bounded_mem_limit or args.frames * args.size * args.size * 2 // 8
    rounds = max(args.repeats, args.repeats_ccdproc)
    tools = {
        "ours": Tool("ours", "imcombiners combine_files", "imcombiners", args.repeats),
        "ccdproc": Tool("ccdproc", "ccdproc.combine", "ccdproc", args.repeats_ccdproc),
        "iraf": Tool("iraf", "IRAF imcombine (task time)", "IRAF", args.repeats),
        "bounded": Tool(
            "bounded",
            f"combine_files mem_limit={bounded_limit / MIB:.3g} MiB",
            "imcombiners",
            args.repeats,
            mem_limit=bounded_limit,
        ),
    }
    tools["ccdproc"].mem_limit = args.ccdproc_mem_limit
    if args.skip_ccdproc:
        del tools["ccdproc"]
    if args.skip_iraf:
        del tools["iraf"]
    rows = [
        harness.Row(
            workload=None,  # type: ignore[arg-type]  (no in-memory workload here)
            name=tool.key,
            library=tool.library,
            role="ours" if tool.library == "imcombiners" else "peer",
            rounds=tool.rounds,
            run=make_runner(tool, paths, out_dir, iraf_dir),
        )
        for tool in tools.values()
    ]
    try:
        harness.alternate(rows, rounds, progress=_progress)
    finally:
        for pid, _comm in iraf_bench.stray_iraf_processes(iraf_dir):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
    for row in rows:
        tools[row.name].error = row.error
    _progress("comparing outputs")
    failures = check_outputs(tools)
    explained = explain_ccdproc(tools, paths)
    failures += [f"{t.key} failed: {t.error}" for t in tools.values() if t.error]
    info = RunInfo(
        iraf_version=iraf_version,
        size=args.size,
        frames=args.frames,
        repeats=args.repeats,
        write_seconds=write_seconds,
        ccdproc_mem_limit=args.ccdproc_mem_limit,
        bounded_limit=bounded_limit,
        load_start=load_start,
        load_end=iraf_bench._uptime(),
        wall_seconds=time.perf_counter() - start,
        others_cpu=meter.others(),
    )
    head = header(info)
    ordered = list(tools.values())
    print("\n".join(head), "", table(ordered, markdown=False), "", sep="\n")
    after = summary(tools, args.size) + explained
    print("\n".join(after))
    if args.markdown:
        print("\n" + "\n".join(f"    {line}" for line in head) + "\n")
        print(table(ordered, markdown=True))
        print("\n" + "\n".join(f"    {line}" for line in after))
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point: the benchmark, or one ``--child`` measurement."""
    args = parse_args(argv)
    if args.child is not None:
        return child_main(args.child)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        return run(args, args.workdir.resolve())
    tmp = tempfile.mkdtemp(prefix="files_bench_")
    try:
        return run(args, Path(tmp))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
