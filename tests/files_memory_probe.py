"""Run by test_files_memory.py in a fresh interpreter: combine files, report peak memory.

Usage: python files_memory_probe.py MEM_LIMIT OUTPUT PATH...
Prints one JSON line: baseline and peak resident set (bytes), bands, output bytes.
"""

from __future__ import annotations

import json
import sys


def _status(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def main() -> None:
    mem_limit, output, *paths = sys.argv[1:]
    import astropy.io.fits  # noqa: F401  (imported before the baseline, as a user would)
    import numpy as np
    import tqdm  # noqa: F401

    import imcombiners as imc

    # Warm the code paths on a tiny stack so that lazily imported modules count as baseline.
    imc.Combiner(np.zeros((3, 4, 4), dtype=np.uint16)).combine(
        "median", rejectors=imc.SigClip(sigma=3.0)
    )
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    baseline = _status("VmRSS")
    res = imc.combine_files(
        paths,
        output,
        mem_limit=mem_limit,
        method="median",
        rejectors=imc.SigClip(sigma=3.0),
        progress=False,
        overwrite=True,
    )
    peak = _status("VmHWM")
    print(
        json.dumps(
            {
                "baseline": baseline,
                "peak": peak,
                "bands": res.bands,
                "output": res.data.nbytes,
                "seconds": res.seconds,
            }
        )
    )


if __name__ == "__main__":
    main()
