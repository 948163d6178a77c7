"""Worker that runs the public imcombiners 0.1.1 on request, inside its own virtual environment.

Started by the harness with ``benchmarks/.peers/imc011/bin/python`` (see ``setup_peers.sh``), so
the old package is never imported into the harness process. It builds the same seeded stacks
(``workloads.py``) and answers one JSON object per line on stdin with one JSON line on stdout:

    {"op": "hello"}                                  -> versions and thread count
    {"op": "prepare", "workload": "W1", "quick": 0}  -> builds the stack, returns its fingerprint
    {"op": "run", "summary": true}                   -> one call; seconds (and a result summary)
    {"op": "quit"}

``peer_worker.py --memory W1 [--quick]`` instead measures the peak extra memory of one call in
this fresh process and prints it as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any, TextIO

import numpy as np
import procmem
import workloads

try:
    import imcombiners as old_imc
except ImportError as exc:  # reported to the harness by "hello"
    old_imc = None
    IMPORT_ERROR = f"{type(exc).__name__}: {exc}"
else:
    IMPORT_ERROR = ""

# How each workload method is asked of 0.1.1: its compact ``ndcombine`` entry point, which
# combines a (N, ny, nx) array along axis 0 without copying it first (``Combiner`` copies
# by default). Its ``kernels`` module has no plain median/mean.
CALLS: dict[str, Callable[[np.ndarray], object]] = {
    "median": lambda stack: old_imc.ndcombine(stack, combine="median"),
    "mean": lambda stack: old_imc.ndcombine(stack, combine="mean"),
}


def _old_rule(rule: str) -> object:
    if rule == "sigclip":
        return old_imc.SigClip(sigma=(3.0, 3.0), maxiters=5, cenfunc="median", stdfunc="std")
    return old_imc.MinMaxClip(n_min=1, n_max=1)


# Rejection workloads through 0.1.1's Combiner without its default copy (copy=False), in the
# output-only mode (diagnostics=None) and chained (.reject(...).combine(...)).
for _method, (_rule, _combine) in {
    "sigclip_mean": ("sigclip", "mean"),
    "minmax_mean": ("minmax", "mean"),
    "sigclip_median": ("sigclip", "median"),
}.items():
    CALLS[_method] = lambda stack, r=_rule, c=_combine: old_imc.Combiner(stack, copy=False).combine(
        c, rejectors=_old_rule(r), diagnostics=None
    )
    CALLS[_method + "_chained"] = lambda stack, r=_rule, c=_combine: (
        old_imc.Combiner(stack, copy=False).reject(_old_rule(r)).combine(c)
    )

# Median scaling (to frame 0, its default) before the sigma clip and the mean.
CALLS["scaled_sigclip_mean"] = lambda stack: old_imc.Combiner(stack, copy=False).combine(
    "mean", scale="median", rejectors=_old_rule("sigclip"), diagnostics=None
)


def _call_for(method: str) -> Callable[[np.ndarray], object]:
    """The 0.1.1 call for ``method``, or a ``LookupError`` saying why there is none."""
    if old_imc is None:
        raise LookupError(f"imcombiners 0.1.1 not importable: {IMPORT_ERROR}")
    if method not in CALLS:
        raise LookupError(f"imcombiners 0.1.1 has no call wired for {method!r}")
    return CALLS[method]


def _threads() -> int | None:
    """Thread count 0.1.1 uses (its reductions run in the ``reducers`` package)."""
    try:
        import reducers  # a dependency of 0.1.1, absent elsewhere
    except ImportError:
        return None
    return int(reducers.get_num_threads())


class Worker:
    """State of the serving loop: the current stack and the call to run on it."""

    def __init__(self) -> None:
        self.stack: np.ndarray | None = None
        self.call: Callable[[np.ndarray], object] | None = None

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """Answer one request (see the module docstring)."""
        op = request.get("op")
        if op == "hello":
            version = getattr(old_imc, "__version__", None)
            return {"imcombiners": version, "numpy": np.__version__, "threads": _threads()}
        if op == "prepare":
            self.stack, self.call = None, None  # free the previous stack first
            workload = workloads.WORKLOADS[request["workload"]]
            self.stack = workloads.make_stack(workload, quick=bool(request["quick"]))
            self.call = _call_for(workload.method)
            return {"fingerprint": workloads.fingerprint(self.stack)}
        if op == "run":
            if self.stack is None or self.call is None:
                raise RuntimeError("run before a successful prepare")
            start = time.perf_counter()
            result = self.call(self.stack)
            seconds = time.perf_counter() - start
            reply: dict[str, Any] = {"seconds": seconds}
            if request.get("summary"):
                reply["summary"] = workloads.summarize(result)
            return reply
        raise ValueError(f"unknown op {op!r}")


def serve(requests: TextIO, replies: TextIO) -> None:
    """Answer JSON-line requests until ``quit`` or end of input."""
    worker = Worker()
    for line in requests:
        request = json.loads(line)
        if request.get("op") == "quit":
            break
        try:
            reply = {"ok": True, **worker.handle(request)}
        except Exception as exc:  # every failure goes back to the harness
            traceback.print_exc(file=sys.stderr)
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


def measure_memory(key: str, *, quick: bool) -> dict[str, Any]:
    """Peak extra memory of one 0.1.1 call on workload ``key``, in this process."""
    workload = workloads.WORKLOADS[key]
    try:
        call = _call_for(workload.method)
    except LookupError as exc:
        return {"ok": False, "error": str(exc)}
    stack = workloads.make_stack(workload, quick=quick)
    use = procmem.measure(lambda: call(stack))
    return {"ok": True, **use.to_json()}


def main() -> None:
    """Serve requests, or with ``--memory`` measure one call and exit."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--memory", metavar="WORKLOAD", help="measure one call's peak memory")
    parser.add_argument("--quick", action="store_true", help="use the small --quick shapes")
    args = parser.parse_args()
    replies = sys.stdout
    sys.stdout = sys.stderr  # anything the package prints must not corrupt the protocol
    if args.memory:
        replies.write(json.dumps(measure_memory(args.memory, quick=args.quick)) + "\n")
    else:
        serve(sys.stdin, replies)


if __name__ == "__main__":
    main()
