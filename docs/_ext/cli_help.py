"""A ``cli-help`` directive: the output of ``python -m imcombiners ARGS``, run at build time.

In a MyST page::

    ```{cli-help} --help
    ```

renders what ``imcombine --help`` prints with the installed package, as a literal block, so the
page always shows the command line as it is. A command that fails is a build error.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Callable
from typing import ClassVar

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective


class CliHelp(SphinxDirective):
    """Run ``python -m imcombiners`` with the directive's arguments; show what it printed."""

    required_arguments = 1
    final_argument_whitespace = True
    has_content = False
    # the command shown before the arguments (default imcombine)
    option_spec: ClassVar[dict[str, Callable[[str], str]]] = {"prog": str.strip}

    def run(self) -> list[nodes.Node]:
        args = shlex.split(self.arguments[0])
        env = {**os.environ, "COLUMNS": "100", "PYTHONIOENCODING": "utf-8"}
        proc = subprocess.run(
            [sys.executable, "-m", "imcombiners", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        if proc.returncode != 0:
            raise self.error(
                f"`python -m imcombiners {self.arguments[0]}` exited with {proc.returncode}:"
                f"\n{proc.stderr}"
            )
        prog = self.options.get("prog", "imcombine")
        shown = f"$ {prog} {self.arguments[0]}\n{proc.stdout.rstrip()}"
        block = nodes.literal_block(shown, shown)
        block["language"] = "text"
        return [block]


def setup(app: Sphinx) -> dict[str, object]:
    """Register the directive."""
    app.add_directive("cli-help", CliHelp)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
