"""Timing by alternating rounds, result cross-checks and per-row memory probes.

Every contender of a workload is timed in the same run: round ``r`` calls each contender
once (the order rotated by one each round, so nobody always runs first or right after the
slowest). Slow contenders are timed in fewer rounds, spread evenly over the run. The row's
time is the median of its rounds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import peers
import workloads
from workloads import Workload


@dataclass(kw_only=True)
class Row:
    """One contender on one workload: its set-up, its timings and what it produced."""

    workload: Workload
    name: str
    library: str
    role: peers.Role
    rounds: int = 0
    warmup: bool = False
    run: Callable[[bool], tuple[float, dict[str, Any] | None]] | None = None
    times: list[float] = field(default_factory=list)
    summary: dict[str, Any] | None = None
    error: str | None = None
    check: str = "-"
    memory: dict[str, Any] | None = None

    @property
    def seconds(self) -> float | None:
        """Median time over the timed rounds, or None if the row did not run."""
        return statistics.median(self.times) if self.times else None

    def call_once(self) -> float:
        """Run once; keep the first result's summary; return the seconds it took."""
        assert self.run is not None
        try:
            seconds, summary = self.run(self.summary is None)
        except Exception as exc:  # a failing peer becomes a note in the table
            self.error = f"{type(exc).__name__}: {exc}"
            self.run = None
            raise
        if self.summary is None:
            self.summary = summary
        return seconds


def local_runner(call: peers.Call) -> Callable[[bool], tuple[float, dict[str, Any] | None]]:
    """Time an in-process call with ``perf_counter``; summarise its result when asked."""

    def run(want_summary: bool) -> tuple[float, dict[str, Any] | None]:
        start = time.perf_counter()
        result = call()
        seconds = time.perf_counter() - start
        if not want_summary or np.ndim(result) == 0:
            return seconds, None
        return seconds, workloads.summarize(result)

    return run


def remote_runner(peer: peers.RemotePeer) -> Callable[[bool], tuple[float, dict[str, Any] | None]]:
    """Ask the 0.1.1 worker for one call; it times itself, so pipe latency is excluded."""

    def run(want_summary: bool) -> tuple[float, dict[str, Any] | None]:
        reply = peer.ask({"op": "run", "summary": want_summary})
        return float(reply["seconds"]), reply.get("summary")

    return run


def spread(k: int, rounds: int) -> set[int]:
    """``k`` round indices out of ``rounds``, evenly spaced and including the first and last."""
    if k >= rounds:
        return set(range(rounds))
    if k <= 1:
        return {0}
    return {round(j * (rounds - 1) / (k - 1)) for j in range(k)}


def alternate(rows: list[Row], rounds: int, *, progress: Callable[[str], None]) -> None:
    """Time every runnable row in round-robin order; fill each row's ``times``."""
    active = [row for row in rows if row.run is not None]
    for row in active:
        if row.warmup:
            _call(row, progress, "warm-up")
    plans = {id(row): spread(row.rounds, rounds) for row in active}
    for r in range(rounds):
        shift = r % max(1, len(active))
        for row in active[shift:] + active[:shift]:
            if row.run is not None and r in plans[id(row)]:
                seconds = _call(row, progress, f"round {r + 1}/{rounds}")
                if seconds is not None:
                    row.times.append(seconds)


def _call(row: Row, progress: Callable[[str], None], what: str) -> float | None:
    try:
        seconds = row.call_once()
    except Exception:  # already recorded in row.error
        progress(f"  {row.name}: {what} failed: {row.error}")
        return None
    progress(f"  {row.name}: {what} {seconds:.4f} s")
    return seconds


def cross_check(rows: list[Row], against: str) -> None:
    """Mark each row ``ok`` or ``DIFFERS`` by comparing its result summary to ``against``'s.

    Floors and the ``np.mean`` reference of a median workload compute something else: no mark.
    """
    want = next((row.summary for row in rows if row.name == against), None)
    for row in rows:
        if row.name == against and want is not None:
            row.check = "ref"
        elif row.role in ("floor", "reference") or row.summary is None or want is None:
            continue
        else:
            row.check = "ok" if workloads.same_result(row.summary, want) else "DIFFERS"


def probe_memory(row: Row, *, quick: bool, timeout: float = 600.0) -> None:
    """Fill ``row.memory`` from a fresh process that builds the stack and calls once."""
    key = row.workload.key
    if row.name == peers.PEER_NAME:
        row.memory = peers.remote_memory(key, quick=quick, timeout=timeout)
    else:
        row.memory = peers.local_memory(key, row.name, quick=quick, timeout=timeout)
