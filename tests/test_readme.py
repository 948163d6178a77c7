"""The README's Python examples run as written, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_blocks_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 3
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    placed = namespace["placed"]
    assert isinstance(placed, np.ndarray)
    assert placed.shape == (2, 205, 203)
    # The second frame was cut 5 rows down and 3 columns right: it lands there.
    np.testing.assert_array_equal(placed[1, 5:, 3:], namespace["stack"][1, 5:205, 3:203])
    assert np.isnan(placed[1, :5]).all()


def test_readme_prints_what_its_comments_say(capsys):
    """A ``print(...)  # text`` line in the README must print ``text``."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    expected = [
        m.group(1).strip()
        for block in blocks
        for m in re.finditer(r"^print\(.*\)\s+#\s*(.*)$", block, re.M)
    ]
    assert len(expected) >= 3
    namespace: dict[str, object] = {}
    capsys.readouterr()
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    printed = [line.strip() for line in capsys.readouterr().out.splitlines()]
    assert printed == expected
