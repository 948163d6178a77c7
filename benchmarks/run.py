"""Side-by-side benchmark: imcombiners against its peers on seeded image stacks.

    python benchmarks/run.py [--workloads W1,W2] [--rounds 5] [--slow-rounds 3]
                             [--no-peers] [--no-memory] [--quick] [--markdown out.md]
                             [--json out.json]

Progress goes to stderr; the header, table and targets to stdout (and to ``--markdown``);
``--json`` writes every row's times, ratios and memory with the machine, date and load
(``jsonout.py``), which ``docs/_scripts/perf_plots.py`` plots.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

import harness
import jsonout
import machine
import numpy as np
import peers
import report
import targets
import workloads
from harness import Row
from workloads import Workload

# The 0.1.1 worker, or the reason it is not running.
Peer = peers.RemotePeer | str


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _ours_info() -> tuple[str, int | None]:
    try:
        import imcombiners as imc  # optional: peers-only runs work without it
    except ImportError as exc:
        return f"not importable ({exc})", None
    return str(getattr(imc, "__version__", "unknown")), int(imc.get_num_threads())


def _rounds(pace: peers.Pace, args: argparse.Namespace) -> int:
    slow = min(args.rounds, args.slow_rounds)
    slowest = max(1, min(slow, args.slow_rounds - 1))
    return {"fast": args.rounds, "slow": slow, "slowest": slowest}[pace]


def build_rows(
    workload: Workload, stack: np.ndarray, peer: Peer, args: argparse.Namespace
) -> list[Row]:
    """The rows of one workload, each prepared to run (or carrying the reason it cannot).

    ``peer`` is the 0.1.1 worker, or the reason there is none.
    """
    rows: list[Row] = []
    for contender in peers.CONTENDERS[workload.method]:
        if args.no_peers and contender.role == "peer":
            continue
        row = Row(
            workload=workload, name=contender.name, library=contender.library, role=contender.role
        )
        row.rounds = _rounds(contender.pace, args)
        row.warmup = contender.pace == "fast"
        try:
            row.run = harness.local_runner(contender.build(stack))
        except Exception as exc:  # an unavailable contender is a note, not a crash
            row.error = f"unavailable: {type(exc).__name__}: {exc}"
        rows.append(row)
        if contender.role == "ours" and not args.no_peers:
            rows.append(_remote_row(workload, stack, peer, args))
    return rows


def _remote_row(workload: Workload, stack: np.ndarray, peer: Peer, args: argparse.Namespace) -> Row:
    row = Row(workload=workload, name=peers.PEER_NAME, library=peers.PEER_NAME, role="peer")
    row.rounds, row.warmup = args.rounds, True
    if isinstance(peer, str):
        row.error = f"unavailable: {peer}"
        return row
    try:
        reply = peer.ask({"op": "prepare", "workload": workload.key, "quick": args.quick})
    except peers.PeerError as exc:
        row.error = f"cannot call: {exc}"
        return row
    if reply["fingerprint"] != workloads.fingerprint(stack):
        row.error = "worker built a different stack (numpy Generator stream differs?)"
        return row
    row.run = harness.remote_runner(peer)
    return row


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    parser = argparse.ArgumentParser(description="imcombiners side-by-side benchmark")
    parser.add_argument("--workloads", default=",".join(workloads.WORKLOADS), help="e.g. W1,W2")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds of fast contenders")
    parser.add_argument(
        "--slow-rounds", type=int, default=3, help="rounds of slow peers (ccdproc: one less)"
    )
    parser.add_argument(
        "--no-peers", action="store_true", help="only imcombiners, np.mean and the floor"
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the per-row memory probes")
    parser.add_argument(
        "--quick", action="store_true", help="small shapes, every contender all rounds"
    )
    parser.add_argument("--markdown", type=Path, help="also write header, table and targets here")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    args = parser.parse_args(argv)
    by_name = {k.upper(): k for k in workloads.WORKLOADS}
    keys = [
        by_name.get(k.strip().upper(), k.strip()) for k in args.workloads.split(",") if k.strip()
    ]
    unknown = sorted(set(keys) - set(workloads.WORKLOADS))
    if unknown:
        parser.error(f"unknown workloads {unknown}; known: {sorted(workloads.WORKLOADS)}")
    if args.rounds < 1 or args.slow_rounds < 1:
        parser.error("--rounds and --slow-rounds must be >= 1")
    if args.quick:
        args.slow_rounds = args.rounds
    args.workloads = keys
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the chosen workloads, then the memory probes, then print the report."""
    args = parse_args(argv)
    record = jsonout.RunRecord("benchmarks/run.py", sys.argv[1:] if argv is None else argv)
    start, load_start, meter = time.perf_counter(), os.getloadavg()[0], machine.CpuMeter.start()
    ours, ours_threads = _ours_info()
    peer: Peer = "--no-peers given"
    if not args.no_peers:
        try:
            peer = peers.RemotePeer()
        except peers.PeerError as exc:
            peer = str(exc)
    chosen = [workloads.WORKLOADS[k] for k in args.workloads]
    rows: list[Row] = []
    try:
        for workload in chosen:
            _progress(f"{workload.label(quick=args.quick)}: building stack")
            stack = workloads.make_stack(workload, quick=args.quick)
            group = build_rows(workload, stack, peer, args)
            harness.alternate(group, args.rounds, progress=_progress)
            harness.cross_check(group, peers.CHECK_AGAINST[workload.method])
            for row in group:
                row.run = None  # drop the closures holding the stack
            del stack
            gc.collect()
            rows.extend(group)
    finally:
        if isinstance(peer, peers.RemotePeer):
            peer.close()
    if not args.no_memory:
        for row in rows:
            if row.times:
                _progress(f"memory: {row.workload.key} {row.name}")
                harness.probe_memory(row, quick=args.quick)
    if isinstance(peer, peers.RemotePeer):
        peer_threads = peer.info.get("threads")
        peer_text = f"imcombiners {peer.info['imcombiners']} (own venv, numpy {peer.info['numpy']})"
    else:
        peer_threads, peer_text = None, f"imcombiners 0.1.1 not run ({peer})"
    info = report.RunInfo(
        ours=ours,
        ours_threads=ours_threads,
        peer=peer_text,
        peer_threads=peer_threads,
        rounds=args.rounds,
        slow_rounds=args.slow_rounds,
        quick=args.quick,
        load_start=load_start,
        wall_seconds=time.perf_counter() - start,
        others_cpu=meter.others(),
    )
    head = report.header(info, chosen)
    goals = targets.report(rows, quick=args.quick)
    print(
        "\n".join(head),
        "",
        report.table(rows, quick=args.quick, markdown=False),
        "",
        "\n".join(goals),
        sep="\n",
    )
    if args.markdown is not None:
        md = [
            *(f"    {line}" for line in head),
            "",
            report.table(rows, quick=args.quick, markdown=True),
            "",
        ]
        md += [f"    {line}" for line in goals]
        args.markdown.write_text("\n".join(md) + "\n")
    if args.json is not None:
        run = record.finish(
            info.wall_seconds,
            threads={"imcombiners": ours_threads, "imcombiners 0.1.1": peer_threads, "others": 1},
            versions={
                "imcombiners": ours,
                **jsonout.versions("numpy", "bottleneck", "astropy", "ccdproc"),
                "peer": peer_text,
            },
            quick=args.quick,
        )
        jsonout.write(args.json, run, json_rows(rows, quick=args.quick))


def json_rows(rows: list[Row], *, quick: bool) -> list[dict[str, object]]:
    """Every row as a plain dict: the workload, the contender, its times and ratios."""
    out: list[dict[str, object]] = []
    for row in rows:
        group = [r for r in rows if r.workload.key == row.workload.key]
        ours = next((r.seconds for r in group if r.role == "ours"), None)
        mean = next((r.seconds for r in group if r.name == "np.mean"), None)
        t = row.seconds
        w = row.workload
        memory = row.memory if row.memory and row.memory.get("ok") else None
        out.append(
            {
                "workload": w.key,
                "label": w.label(quick=quick),
                "method": w.method,
                "shape": list(w.shape_for(quick=quick)),
                "dtype": w.dtype,
                "contender": row.name,
                "library": row.library,
                "role": row.role,
                "seconds": t,
                "times": row.times,
                "ratio_to_ours": t / ours if t is not None and ours else None,
                "ratio_to_np_mean": t / mean if t is not None and mean else None,
                "peak_extra_bytes": memory["extra"] if memory else None,
                "check": row.check,
                "error": row.error,
            }
        )
    return out


if __name__ == "__main__":
    main()
