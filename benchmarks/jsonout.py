"""Machine-readable benchmark results: one JSON document per run.

``run.py``, ``iraf_bench.py`` and ``sweep.py`` take ``--json PATH`` and write a document with
the same ``run`` block (when, where, how busy the machine was) and their own ``results``.
``docs/_scripts/perf_plots.py`` draws the performance page's plots from these files.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import machine

#: Version of the document layout; bump when a field changes meaning.
SCHEMA = 1


def uptime() -> str:
    """What ``uptime`` prints (time, up-time, users, load averages), or the load averages."""
    try:
        out = subprocess.run(["uptime"], capture_output=True, text=True, timeout=10, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        one, five, fifteen = os.getloadavg()
        return f"load average: {one:.2f}, {five:.2f}, {fifteen:.2f}"


def machine_facts() -> dict[str, Any]:
    """CPU model, cores, AVX-512, memory, kernel and Python of this machine."""
    model, avx512 = machine.cpu_model()
    return {
        "cpu": model,
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "avx512": avx512,
        "memory_gib": machine.mem_total_gib(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "description": machine.describe(),
    }


def versions(*dists: str) -> dict[str, str]:
    """Installed versions of the named distributions ("not installed" where missing)."""
    import importlib.metadata

    out = {}
    for dist in dists:
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def _commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


class RunRecord:
    """The ``run`` block: started when created, finished by `finish`."""

    def __init__(self, tool: str, argv: list[str]) -> None:
        self.tool = tool
        self.argv = argv
        self.started = datetime.datetime.now(datetime.timezone.utc)
        self.uptime_start = uptime()
        self.meter = machine.CpuMeter.start()

    def finish(self, wall_seconds: float, **extra: Any) -> dict[str, Any]:
        """The block, with the end's ``uptime`` and the CPU time other processes used."""
        cores = len(os.sched_getaffinity(0))
        others = self.meter.others()
        return {
            "schema": SCHEMA,
            "tool": self.tool,
            "argv": self.argv,
            "date": self.started.strftime("%Y-%m-%d %H:%M UTC"),
            "commit": _commit(),
            "machine": machine_facts(),
            "uptime_start": self.uptime_start,
            "uptime_end": uptime(),
            "wall_seconds": round(wall_seconds, 1),
            "others_cpu_seconds": round(others, 1),
            "others_busy_fraction": round(others / max(1e-9, wall_seconds * cores), 3),
            **extra,
        }


def write(path: Path, run: dict[str, Any], results: Any) -> None:
    """Write ``{"run": run, "results": results}`` as indented JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"run": run, "results": results}, indent=1) + "\n")
