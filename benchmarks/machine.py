"""What the report says about the machine, and how busy other processes kept it during a run."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return ""


def cpu_model() -> tuple[str, bool]:
    """CPU model name and whether it has AVX-512F, from /proc/cpuinfo."""
    model, avx512 = platform.processor() or "unknown", False
    for line in _read("/proc/cpuinfo").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            model = value.strip()
        if key.strip() == "flags":
            avx512 = "avx512f" in value.split()
            break
    return model, avx512


def mem_total_gib() -> float | None:
    """Installed memory from /proc/meminfo, in GiB."""
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / (1024 * 1024)
    return None


def describe() -> str:
    """One line: CPU, cores, AVX-512, memory, kernel, Python."""
    model, avx512 = cpu_model()
    mem = mem_total_gib()
    return (
        f"{model}, {os.cpu_count()} logical cores ({len(os.sched_getaffinity(0))} usable),"
        f" AVX-512 {'yes' if avx512 else 'no'}"
        + (f", {mem:.1f} GiB RAM" if mem is not None else "")
        + f", Linux {platform.release()}, Python {platform.python_version()}"
    )


def _busy_seconds() -> float:
    """CPU seconds all processes have spent busy since boot (first line of /proc/stat)."""
    fields = _read("/proc/stat").splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / _TICK


def _own_seconds() -> float:
    """CPU seconds of this process and its finished (waited-for) children."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


@dataclass(frozen=True)
class CpuMeter:
    """Counts the CPU time other processes used between its creation and ``others()``."""

    busy0: float
    own0: float

    @classmethod
    def start(cls) -> CpuMeter:
        """Start counting now."""
        return cls(_busy_seconds(), _own_seconds())

    def others(self) -> float:
        """CPU seconds used since ``start`` by processes other than this one and its children."""
        return max(0.0, (_busy_seconds() - self.busy0) - (_own_seconds() - self.own0))
