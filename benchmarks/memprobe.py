"""Measure one in-process contender's peak extra memory in this fresh process.

Usage: ``python benchmarks/memprobe.py W1 np.median [--quick]``; prints one JSON line.
The contender's library is imported and its set-up done before the baseline is taken.
"""

from __future__ import annotations

import argparse
import json

import peers
import procmem
import workloads


def main() -> None:
    """Build the stack, call the contender once, print the memory it needed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=sorted(workloads.WORKLOADS))
    parser.add_argument("contender")
    parser.add_argument("--quick", action="store_true", help="use the small --quick shapes")
    args = parser.parse_args()
    workload = workloads.WORKLOADS[args.workload]
    contender = peers.find(workload.method, args.contender)
    stack = workloads.make_stack(workload, quick=args.quick)
    call = contender.build(stack)
    use = procmem.measure(call)
    print(json.dumps({"ok": True, **use.to_json()}))


if __name__ == "__main__":
    main()
