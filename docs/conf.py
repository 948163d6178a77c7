"""Sphinx configuration of the imcombiners documentation site.

Build it from the repository root (warnings are errors)::

    python -m sphinx -W -b html docs docs/_build/html

The tutorials in ``tutorials/`` are MyST Markdown notebooks, executed on every build; the
performance page draws its plots from the benchmark results in ``_data/`` (``_scripts/``).
"""

from __future__ import annotations

import datetime
import importlib.util
import re
import shutil
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


# Formulas: MathJax 3 from the installed `django-static-mathjax` distribution (plain MathJax
# files, no Django needed) is copied into the site, so formulas render without a network;
# without that package Sphinx's default (a CDN) is used.
def _mathjax_es5() -> Path | None:
    spec = importlib.util.find_spec("mathjax")
    for location in (spec.submodule_search_locations or []) if spec else []:
        es5 = Path(location) / "static" / "mathjax" / "es5"
        if (es5 / "tex-chtml.js").is_file():
            return es5
    return None


_MATHJAX = _mathjax_es5()
#: The parts of MathJax's es5 folder that the TeX-to-HTML component loads.
_MATHJAX_PARTS = ("tex-chtml.js", "output/chtml", "input/tex/extensions", "ui", "a11y")
if _MATHJAX is not None:
    mathjax_path = "mathjax/tex-chtml.js"


def _copy_mathjax(app, exception) -> None:
    if exception is not None or _MATHJAX is None or app.builder.format != "html":
        return
    dest = Path(app.outdir) / "_static" / "mathjax"
    for part in _MATHJAX_PARTS:
        source, target = _MATHJAX / part, dest / part
        if source.is_dir():
            shutil.copytree(source, target, dirs_exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


# Public names that docs/api/index.rst does not arrange yet (added to the package later) get
# their pages on api/more.rst, written here before Sphinx reads the sources, so that the
# reference always covers every public name.
_API_MODULES = (
    "imcombiners",
    "imcombiners.kernels",
    "imcombiners.registry",
    "imcombiners.iraf",
    "imcombiners.dask",
    "imcombiners.ccdproc",
    "imcombiners.ccddata",
    "imcombiners.io",
    "imcombiners.cli",
)


def _arranged(index: Path) -> set[str]:
    """Full names listed in the autosummary blocks of ``index``."""
    names, module, in_block = set(), "imcombiners", False
    for line in index.read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith(".. currentmodule::"):
            module = stripped.split("::", 1)[1].strip()
        if stripped.startswith(".. "):
            in_block = stripped.startswith(".. autosummary::")
        elif in_block and line.startswith("   ") and stripped and not stripped.startswith(":"):
            names.add(f"{module}.{stripped}")
    return names


def _unarranged() -> dict[str, list[str]]:
    import importlib

    arranged = _arranged(HERE / "api" / "index.rst")
    top = importlib.import_module("imcombiners")
    out: dict[str, list[str]] = {}
    for modname in _API_MODULES:
        module = importlib.import_module(modname)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if name.startswith("_") or isinstance(obj, type(top)):
                continue
            if modname == "imcombiners.cli" and not callable(obj):
                continue  # the exit-status constants, described on the command's page
            if f"{modname}.{name}" in arranged:
                continue
            if getattr(top, name, None) is obj and f"imcombiners.{name}" in arranged:
                continue
            out.setdefault(modname, []).append(name)
    return out


def _write_more(path: Path) -> None:
    missing = _unarranged()
    lines = ["More public names", "=================", ""]
    if not missing:
        lines.append("Every public name is arranged on the :doc:`API reference <index>` page.")
    else:
        lines.append(
            "Public names that the :doc:`API reference <index>` page does not arrange yet."
        )
    for modname, names in missing.items():
        lines += ["", f".. currentmodule:: {modname}", "", ".. autosummary::"]
        lines += ["   :toctree: generated/", "   :nosignatures:", ""]
        lines += [f"   {name}" for name in names]
    text = "\n".join(lines) + "\n"
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


_write_more(HERE / "api" / "more.rst")


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
html_show_sourcelink = False
html_sidebars = {"performance": []}  # a page without sub-pages: no section navigation
html_theme_options = {
    "navigation_with_keys": False,
    "header_links_before_dropdown": 4,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    # The notebooks' code cells are up to 100 characters wide: give them the page's width.
    "secondary_sidebar_items": {
        "tutorials/*": [],
        "performance": [],
    },
}
html_context = {"default_mode": "light"}


# ------------------------------------------------------------------ docstring notation
# The docstrings write shapes as ``(N, *spatial)`` and star-arguments as ``*args``/``**kw``
# in plain text, where reStructuredText would read the star as the start of emphasis. Escape
# such a star (outside literals) while the docstring is read; the source stays as written.
_LITERAL = re.compile(r"(``.*?``|`[^`]*`)")
_STAR_NAME = re.compile(r"(?<=[\s(,\[])(\*{1,2})(?=[A-Za-z_]\w*(?:[),\]\s.:]|$))")


def _escaped(match: re.Match) -> str:
    stars = match.group(1)
    closing = re.compile(r"\w" + re.escape(stars) + r"(?![\w*])")
    if closing.search(match.string, match.end()):  # real emphasis, e.g. **a, b**
        return stars
    return "\\*" * len(stars)


def _escape_star_names(app, what, name, obj, options, lines):
    for i, line in enumerate(lines):
        parts = _LITERAL.split(line)
        for k in range(0, len(parts), 2):  # even parts are outside literals
            parts[k] = _STAR_NAME.sub(_escaped, parts[k])
        lines[i] = "".join(parts)


def setup(app):
    """Escape before numpydoc reads the sections and again after it has inserted the
    properties' summaries (the escaping is idempotent)."""
    app.connect("autodoc-process-docstring", _escape_star_names, priority=400)
    app.connect("autodoc-process-docstring", _escape_star_names, priority=600)
    app.connect("build-finished", _copy_mathjax)
