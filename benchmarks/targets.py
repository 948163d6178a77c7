"""Speed and memory targets of issues 2, 3 and 4, read off a finished run (never asserted)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from harness import Row
from workloads import MIB


@dataclass(frozen=True)
class Target:
    """One goal: ``measure`` turns a workload's rows into ``(value, met)`` or None if unknown."""

    key: str
    text: str
    measure: Callable[[list[Row]], tuple[str, bool] | None]


def _time(rows: list[Row], name: str) -> float | None:
    return next((r.seconds for r in rows if r.name == name), None)


def _ours(rows: list[Row]) -> float | None:
    return next((r.seconds for r in rows if r.role == "ours"), None)


def _speedup_over(peer: str, at_least: float) -> Callable[[list[Row]], tuple[str, bool] | None]:
    def measure(rows: list[Row]) -> tuple[str, bool] | None:
        ours, theirs = _ours(rows), _time(rows, peer)
        if not ours or theirs is None:
            return None
        return f"{theirs / ours:.1f}x", theirs / ours >= at_least

    return measure


def _within_mean(at_most: float) -> Callable[[list[Row]], tuple[str, bool] | None]:
    def measure(rows: list[Row]) -> tuple[str, bool] | None:
        ours, mean = _ours(rows), _time(rows, "np.mean")
        if ours is None or not mean:
            return None
        return f"{ours / mean:.2f}x np.mean", ours / mean <= at_most

    return measure


def _within_unscaled(at_most: float) -> Callable[[list[Row]], tuple[str, bool] | None]:
    def measure(rows: list[Row]) -> tuple[str, bool] | None:
        ours, plain = _ours(rows), _time(rows, "imcombiners, no scaling")
        if ours is None or not plain:
            return None
        return f"{ours / plain:.2f}x unscaled", ours / plain <= at_most

    return measure


def _within_no_grow(at_most: float) -> Callable[[list[Row]], tuple[str, bool] | None]:
    def measure(rows: list[Row]) -> tuple[str, bool] | None:
        ours, plain = _ours(rows), _time(rows, "imcombiners, no grow")
        if ours is None or not plain:
            return None
        return f"{ours / plain:.2f}x no grow", ours / plain <= at_most

    return measure


def _within_data_only(at_most: float) -> Callable[[list[Row]], tuple[str, bool] | None]:
    def measure(rows: list[Row]) -> tuple[str, bool] | None:
        ours, plain = _ours(rows), _time(rows, "imcombiners, data only")
        if ours is None or not plain:
            return None
        return f"{ours / plain:.2f}x data only", ours / plain <= at_most

    return measure


def _memory_within_output(slack_mib: float) -> Callable[[list[Row]], tuple[str, bool] | None]:
    def measure(rows: list[Row]) -> tuple[str, bool] | None:
        row = next((r for r in rows if r.role == "ours"), None)
        if row is None or row.memory is None or not row.memory.get("ok"):
            return None
        extra = row.memory["extra"] / MIB
        limit = row.workload.output_bytes(quick=False) / MIB + slack_mib
        return f"{extra:.1f} MiB (limit {limit:.0f})", extra <= limit

    return measure


PEER_011 = "imcombiners 0.1.1"
TARGETS = (
    Target("W1", "median >= 40x faster than np.median", _speedup_over("np.median", 40)),
    Target("W1", "median <= 2.5x np.mean time", _within_mean(2.5)),
    Target("W2", "mean <= 1.2x np.mean time", _within_mean(1.2)),
    Target("W6", "median >= 20x faster than np.median", _speedup_over("np.median", 20)),
    Target("W7", "median >= 20x faster than np.median", _speedup_over("np.median", 20)),
    Target("W7", "peak extra memory <= output + 32 MiB", _memory_within_output(32)),
    *(
        Target(k, "faster than imcombiners 0.1.1", _speedup_over(PEER_011, 1.0))
        for k in ("W1", "W2", "W6", "W7")
    ),
    # issue 3
    Target(
        "W3",
        "sigclip+mean >= 25x faster than astropy",
        _speedup_over("astropy sigma_clip + np.nanmean", 25),
    ),
    Target("W3", "sigclip+mean <= 4x np.mean time", _within_mean(4.0)),
    Target("W4", "minmax+mean <= 3x np.mean time", _within_mean(3.0)),
    Target(
        "W5",
        "sigclip+median >= 25x faster than astropy",
        _speedup_over("astropy sigma_clip + np.nanmedian", 25),
    ),
    *(
        Target(k, "faster than imcombiners 0.1.1", _speedup_over(PEER_011, 1.0))
        for k in ("W3", "W3c", "W4", "W4c", "W5", "W5c")
    ),
    # issue 14
    Target("W2", "mean <= 1.0x np.mean time", _within_mean(1.0)),
    Target("W3", "sigclip+mean <= 3.0x np.mean time", _within_mean(3.0)),
    Target(
        "W3",
        "sigclip+mean >= 30x faster than astropy",
        _speedup_over("astropy sigma_clip + np.nanmean", 30),
    ),
    Target("W3m", "sigclip+mean <= 3.0x np.mean time", _within_mean(3.0)),
    Target(
        "W3m",
        "sigclip+mean >= 30x faster than astropy",
        _speedup_over("astropy sigma_clip + np.nanmean", 30),
    ),
    Target("W9", "sigclip+median grow=1 <= 1.3x no grow", _within_no_grow(1.3)),
    # issue 17
    Target("W3v", "sigclip+mean with variance <= 2.0x data only", _within_data_only(2.0)),
    # issue 4
    Target("W8", "scale=median + sigclip + mean <= 1.5x unscaled", _within_unscaled(1.5)),
    Target("W8", "peak extra memory <= output + 8 MiB", _memory_within_output(8)),
    Target("W8", "faster than imcombiners 0.1.1", _speedup_over(PEER_011, 1.0)),
)


def report(rows: list[Row], *, quick: bool) -> list[str]:
    """One line per target whose workload ran: measured value and met / MISSED."""
    title = "targets (issues 2, 3, 4 and 14)"
    lines = [f"{title}, measured on --quick shapes, not the target shapes" if quick else title]
    for target in TARGETS:
        group = [r for r in rows if r.workload.key == target.key]
        if not group:
            continue
        got = target.measure(group)
        verdict = "not measured" if got is None else f"{got[0]}: {'met' if got[1] else 'MISSED'}"
        lines.append(f"  {target.key} {target.text}: {verdict}")
    return lines
