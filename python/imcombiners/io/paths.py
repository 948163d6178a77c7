"""Turning the ways people name a set of files into a list of paths."""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

GLOB_CHARS = frozenset("*?[")


def _read_list_file(spec: str, what: str) -> list[Path]:
    """The paths an ``@list`` file names: one per line, blank lines and ``#`` comments skipped.

    A relative path is taken relative to the working directory when it exists there,
    otherwise relative to the list file's folder.
    """
    list_path = Path(spec[1:])
    if not list_path.is_file():
        raise FileNotFoundError(f"{what}: the list file {list_path} does not exist")
    out = []
    for line in list_path.read_text().splitlines():
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        p = Path(entry).expanduser()
        if not p.is_absolute() and not p.exists():
            p = list_path.parent / p
        out.append(p)
    if not out:
        raise ValueError(f"{what}: the list file {list_path} names no files")
    return out


def resolve_paths(inputs: Any, *, what: str = "inputs") -> list[Path]:
    """The files ``inputs`` names, in order, each checked to exist.

    Parameters
    ----------
    inputs : str, os.PathLike or sequence of them
        A sequence of paths; a glob pattern (``"raw/bias*.fits"``, sorted by name); an
        ``"@list.txt"`` file with one path per line; or a single path.
    what : str
        The argument's name, for messages.

    Returns
    -------
    list of pathlib.Path

    Raises
    ------
    FileNotFoundError
        For a missing file or list file, or a pattern that matches nothing.
    ValueError
        For an empty list.
    TypeError
        For anything that is not a path or a sequence of paths.
    """
    if isinstance(inputs, str | os.PathLike):
        spec = os.fspath(inputs)
        if spec.startswith("@"):
            paths = _read_list_file(spec, what)
        elif GLOB_CHARS & set(spec):
            paths = [Path(p) for p in sorted(glob.glob(os.path.expanduser(spec)))]
            if not paths:
                raise FileNotFoundError(f"{what}: the pattern {spec!r} matches no file")
        else:
            paths = [Path(spec).expanduser()]
    elif isinstance(inputs, Sequence):
        paths = []
        for i, p in enumerate(inputs):
            if not isinstance(p, str | os.PathLike):
                raise TypeError(
                    f"{what}[{i}] must be a path (str or os.PathLike), got {type(p).__name__}"
                )
            paths.append(Path(os.fspath(p)).expanduser())
    else:
        raise TypeError(
            f"{what} must be a list of paths, a glob pattern or an '@list' file, "
            f"got {type(inputs).__name__}"
        )
    if not paths:
        raise ValueError(f"{what}: no files given")
    for p in paths:
        if not p.is_file():
            raise FileNotFoundError(f"{what}: {p} does not exist or is not a file")
    return paths
