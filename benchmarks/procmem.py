"""Peak resident memory of one call, read from Linux's /proc (standard library only).

Rust allocations are invisible to ``tracemalloc``, so the harness measures the process's
resident set instead: build the input, note the current RSS, reset the high-water mark
(``echo 5 > /proc/self/clear_refs`` resets ``VmHWM``), call once, read ``VmHWM`` again.
The difference is the peak memory the call needed on top of its input.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
_MIB = 1024 * 1024


def _status_kib(field: str) -> int:
    """Return one ``/proc/self/status`` field (``VmRSS``, ``VmHWM``, ...) in KiB."""
    for line in _STATUS.read_text().splitlines():
        key, _, value = line.partition(":")
        if key == field:
            return int(value.split()[0])
    raise KeyError(f"{field} not found in {_STATUS}")


def rss_bytes() -> int:
    """Current resident set size of this process."""
    return _status_kib("VmRSS") * 1024


def peak_bytes() -> int:
    """Resident high-water mark (``VmHWM``) of this process since the last reset."""
    return _status_kib("VmHWM") * 1024


def reset_peak() -> bool:
    """Reset ``VmHWM`` to the current RSS; return False if the kernel does not allow it."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return peak_bytes() <= rss_bytes() + _MIB


@dataclass(frozen=True)
class MemoryUse:
    """Resident memory around one call, in bytes (``extra`` is the peak above ``baseline``)."""

    baseline: int
    peak: int
    seconds: float
    reset_ok: bool

    @property
    def extra(self) -> int:
        """Peak resident memory above the baseline that already holds the input."""
        return max(0, self.peak - self.baseline)

    def to_json(self) -> dict[str, object]:
        """Plain dict for a JSON line, with ``extra`` included."""
        return {**asdict(self), "extra": self.extra}


def measure(fn: Callable[[], object]) -> MemoryUse:
    """Call ``fn`` once and report the resident memory it needed beyond what was already held."""
    baseline = rss_bytes()
    reset_ok = reset_peak()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    peak = peak_bytes()
    del result
    return MemoryUse(baseline=baseline, peak=peak, seconds=seconds, reset_ok=reset_ok)
