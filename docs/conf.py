"""Sphinx configuration of the imcombiners documentation site.

Build it from the repository root (warnings are errors)::

    python -m sphinx -W -b html docs docs/_build/html

The tutorials in ``tutorials/`` are MyST Markdown notebooks, executed on every build; the
performance page draws its plots from the benchmark results in ``_data/`` (``_scripts/``).
"""

from __future__ import annotations

import datetime
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))

import imcombiners  # noqa: E402  (after the path set-up above)

project = "imcombiners"
author = "the imcombiners developers"
copyright = f"{datetime.date.today().year}, {author}"
release = imcombiners.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",
    "cli_help",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
root_doc = "index"
exclude_patterns = ["_build", "_data", "_scripts", "_ext", "**.ipynb_checkpoints", "README.md"]
templates_path = ["api/_templates"]

# Single backticks in docstrings (`Combiner`) are Python cross-references where they resolve.
default_role = "py:obj"
nitpicky = False

# ------------------------------------------------------------------ API reference
autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": False}
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set[str] = set()

# ------------------------------------------------------------------ MyST and notebooks
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_execution_timeout = 180
nb_merge_streams = True
nb_kernel_rgx_aliases = {".*": "python3"}

# ------------------------------------------------------------------ HTML
html_theme = "pydata_sphinx_theme"
html_title = f"imcombiners {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
html_theme_options = {
    "navigation_with_keys": False,
    "header_links_before_dropdown": 4,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_context = {"default_mode": "light"}


# ------------------------------------------------------------------ docstring notation
# The docstrings write shapes as ``(N, *spatial)`` and star-arguments as ``*args``/``**kw``
# in plain text, where reStructuredText would read the star as the start of emphasis. Escape
# such a star (outside literals) while the docstring is read; the source stays as written.
_LITERAL = re.compile(r"(``.*?``|`[^`]*`)")
_STAR_NAME = re.compile(r"(?<=[\s(,\[])(\*{1,2})(?=[A-Za-z_]\w*(?:[),\]\s.:]|$))")


def _escape_star_names(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        parts = _LITERAL.split(line)
        for k in range(0, len(parts), 2):  # even parts are outside literals
            parts[k] = _STAR_NAME.sub(lambda m: "\\*" * len(m.group(1)), parts[k])
        lines[i] = "".join(parts)


def setup(app):
    """Escape before numpydoc reads the sections and again after it has inserted the
    properties' summaries (the escaping is idempotent)."""
    app.connect("autodoc-process-docstring", _escape_star_names, priority=400)
    app.connect("autodoc-process-docstring", _escape_star_names, priority=600)
