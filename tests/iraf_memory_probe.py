"""Run by test_iraf_memory.py in a fresh interpreter: imc.iraf.imcombine of files, peak memory.

Usage: python iraf_memory_probe.py MEM_LIMIT PATH...
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
    mem_limit, *paths = sys.argv[1:]
    import astropy.io.fits  # noqa: F401  (imported before the baseline, as a user would)
    import numpy as np
    import tqdm  # noqa: F401

    import imcombiners as imc

    # Warm the code paths on a tiny stack so that lazily imported modules count as baseline.
    imc.iraf.imcombine(np.zeros((3, 4, 4), dtype=np.uint16), combine="median", reject="sigclip")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    baseline = _status("VmRSS")
    bands = []
    res = imc.iraf.imcombine(
        paths,
        combine="median",
        reject="sigclip",
        mem_limit=mem_limit,
        progress=lambda done, total: bands.append(total),
    )
    peak = _status("VmHWM")
    print(
        json.dumps(
            {
                "baseline": baseline,
                "peak": peak,
                "bands": bands[-1] if bands else 1,
                "output": res.output.nbytes,
                "sum": float(res.output.astype(np.float64).sum()),
            }
        )
    )


if __name__ == "__main__":
    main()
