"""``python -m imcombiners ...``: the ``imcombine`` command (``demo`` runs the built-in demo).

``python -m imcombiners speed-demo`` runs the in-memory kernel demonstration
(`imcombiners.demo`).
"""

from __future__ import annotations

import sys

from . import cli
from .demo import run


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "speed-demo":
        return run(argv[1:])
    return cli.main(argv)


if __name__ == "__main__":
    sys.exit(main())
