"""``python -m imcombiners demo``: the built-in demonstration."""

from __future__ import annotations

import sys

from .demo import run


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print("usage: python -m imcombiners demo [--frames N] [--size PIXELS] [--no-numpy]")
        return 0 if argv else 2
    if argv[0] != "demo":
        print(f"unknown command {argv[0]!r}; the only command is 'demo'", file=sys.stderr)
        return 2
    return run(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
