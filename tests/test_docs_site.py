"""The documentation site: it builds with warnings as errors, its notebooks ran cleanly, its
API reference covers the public names, its internal links resolve, and a real browser shows
its pages with every image loaded.

The site is built once per session with ``python -m sphinx -W -b html docs <tmp>/html`` (the
tutorials execute during the build). ``.ci/run`` builds it just before pytest and passes the
build through ``IMCOMBINERS_DOCS_BUILD`` (the folder holding ``html/`` and
``jupyter_execute/``), so CI builds it once. The browser check runs Debian's ``chromium`` through
its ``chromium-driver`` (selenium never downloads a driver) against a local ``http.server`` bound
to 127.0.0.1, and saves screenshots to ``docs/_build/screenshots/``.

Missing documentation dependencies or browser: a skip, or a failure under ``CI=true``.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

import imcombiners as imc

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
SCREENSHOTS = DOCS / "_build" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
DOCS_MODULES = ("sphinx", "numpydoc", "myst_nb", "pydata_sphinx_theme", "matplotlib")
#: Pages opened in the browser, and the fewest images each must show.
BROWSER_PAGES = {
    "index.html": 1,
    "tutorials/quickstart.html": 2,
    "tutorials/rejection.html": 3,
    "performance.html": 4,
}


def _missing(what: str) -> None:
    """Skip, or fail under CI=true, because ``what`` is missing."""
    if os.environ.get("CI", "").strip().lower() in ("true", "1"):
        pytest.fail(f"{what} is missing; .ci/run installs it")
    pytest.skip(
        f"{what} is missing (pip install '.[docs]'; apt-get install chromium chromium-driver)"
    )


@pytest.fixture(scope="module")
def build(tmp_path_factory) -> Path:
    """The folder holding the built site (``html/``) and executed notebooks."""
    given = os.environ.get("IMCOMBINERS_DOCS_BUILD")
    if given:
        path = Path(given)
        assert (path / "html" / "index.html").is_file(), f"no built site in {path}"
        return path
    missing = [m for m in DOCS_MODULES if importlib.util.find_spec(m) is None]
    if missing:
        _missing(f"the documentation dependencies {missing}")
    out = tmp_path_factory.mktemp("docs")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-b",
            "html",
            str(DOCS),
            str(out / "html"),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, f"sphinx -W failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    return out


@pytest.fixture(scope="module")
def html(build: Path) -> Path:
    return build / "html"


def test_every_tutorial_executed_without_error(build):
    executed = build / "jupyter_execute"
    notebooks = [p for p in (DOCS / "tutorials").glob("*.md") if p.stem != "index"]
    notebooks += [DOCS / "performance.md", DOCS / "index.md"]
    assert len(notebooks) >= 8
    for page in notebooks:
        rel = page.relative_to(DOCS).with_suffix(".ipynb")
        path = executed / rel
        assert path.is_file(), f"{rel} was not executed"
        nb = json.loads(path.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert code, f"{rel} has no code cells"
        for k, cell in enumerate(code):
            where = f"{rel}, code cell {k + 1}"
            assert cell.get("execution_count") is not None, f"{where} did not run"
            for out in cell.get("outputs", []):
                assert out["output_type"] != "error", f"{where} raised {out.get('ename')}"
                text = "".join(out.get("text", ""))
                assert "Traceback" not in text, f"{where} printed a traceback"
                assert "Warning:" not in text, f"{where} printed a warning:\n{text}"


def test_tutorials_show_figures(html):
    for name in (
        "quickstart",
        "rejection",
        "zero-scale-weights",
        "files-and-memory",
        "newer-capabilities",
    ):
        page = (html / "tutorials" / f"{name}.html").read_text()
        assert page.count("<img") >= 1, f"{name} shows no figure"


def _public(module) -> list[str]:
    return [n for n in module.__all__ if not n.startswith("_")]


def test_api_reference_covers_every_public_name(html):
    generated = html / "api" / "generated"
    import imcombiners.ccddata
    import imcombiners.ccdproc
    import imcombiners.cli
    import imcombiners.dask
    import imcombiners.io

    def documented(module, name: str) -> bool:
        """A page of its own, or the page of the same object at the top level."""
        if (generated / f"{module.__name__}.{name}.html").is_file():
            return True
        same = getattr(imc, name, None) is getattr(module, name)
        return same and (generated / f"imcombiners.{name}.html").is_file()

    names = [
        (imc, n)
        for n in imc.__all__
        if n != "__version__" and not isinstance(getattr(imc, n), type(imc))
    ]
    for module in (
        imc.kernels,
        imc.registry,
        imc.iraf,
        imcombiners.dask,
        imcombiners.ccdproc,
        imcombiners.ccddata,
        imcombiners.io,
    ):
        names += [(module, n) for n in _public(module)]
    # The command line's functions and classes (its exit-status constants are described on
    # the command's page).
    names += [
        (imcombiners.cli, n)
        for n in _public(imcombiners.cli)
        if callable(getattr(imcombiners.cli, n))
    ]
    missing = [f"{m.__name__}.{n}" for m, n in names if not documented(m, n)]
    assert not missing, f"not in the API reference (docs/api/index.rst): {missing}"


def test_formulas_are_served_by_the_site(html):
    """MathJax is part of the site (no network needed to render the formulas)."""
    page = (html / "tutorials" / "rejection.html").read_text()
    assert "_static/mathjax/tex-chtml.js" in page
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
    fonts = html / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2"
    assert any(fonts.glob("*.woff"))


def test_reference_renders_formulas_and_docstrings(html):
    sigclip = (html / "api" / "generated" / "imcombiners.SigClip.html").read_text()
    assert "Parameters" in sigclip
    assert "stdfunc" in sigclip
    ccd = (html / "tutorials" / "rejection.html").read_text()
    assert 'class="math' in ccd  # dollar math became MathJax input


def test_cli_help_is_rendered(html):
    page = (html / "api" / "cli.html").read_text()
    help_text = subprocess.run(
        [sys.executable, "-m", "imcombiners", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for option in ("--mem-limit", "--reject", "--sigma-out", "iraf_defects"):
        assert option in help_text, option
        assert option in page, option
    assert "speed-demo" in page
    assert "--keep" in page


class _Links(HTMLParser):
    """The ids, hrefs and srcs of one HTML page."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name"):
            if a.get(key):
                self.ids.add(a[key])
        for key in ("href", "src"):
            if a.get(key) and not (tag == "link" and a.get("rel") == "preload"):
                self.refs.append(a[key])


@functools.cache
def _parse(path: Path) -> _Links:
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser


def test_internal_links_resolve(html):
    # The site's pages (the theme's copied template sources in _static/ are not pages).
    pages = sorted(p for p in html.rglob("*.html") if p.relative_to(html).parts[0] != "_static")
    assert len(pages) > 50
    broken = []
    for page in pages:
        for ref in _parse(page).refs:
            parts = urlsplit(ref)
            if parts.scheme or ref.startswith(("//", "mailto:", "javascript:")):
                continue
            target = (page.parent / unquote(parts.path)).resolve() if parts.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{page.relative_to(html)}: {ref} (no file)")
                continue
            anchor = unquote(parts.fragment)
            if anchor and target.suffix == ".html" and anchor not in _parse(target).ids:
                broken.append(f"{page.relative_to(html)}: {ref} (no anchor)")
    assert not broken, "broken internal links:\n" + "\n".join(broken[:50])


@contextlib.contextmanager
def _serve(folder: Path) -> Iterator[str]:
    """Serve ``folder`` on 127.0.0.1 (a free port) for the duration of the block."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    if importlib.util.find_spec("selenium") is None:
        _missing("selenium")
    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        _missing("Debian's chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1500",
        "--hide-scrollbars",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


# Wait for MathJax to typeset; return [formulas on the page, formulas MathJax rendered].
_MATH_JS = """
const done = arguments[arguments.length - 1];
const spans = Array.from(document.querySelectorAll('span.math, div.math'));
const count = () => spans.filter(s => s.querySelector('mjx-container')).length;
if (spans.length === 0) { done([0, 0]); }
else if (typeof MathJax === 'undefined' || !MathJax.startup) { done([spans.length, -1]); }
else { MathJax.startup.promise.then(() => done([spans.length, count()]),
                                    () => done([spans.length, -2])); }
"""

_IMAGES_JS = """
return Array.from(document.images).map(
    img => [img.getAttribute('src'), img.complete, img.naturalWidth, img.naturalHeight]);
"""


def test_pages_show_their_images_in_chromium(html, browser):
    if SCREENSHOTS.exists():
        shutil.rmtree(SCREENSHOTS)
    SCREENSHOTS.mkdir(parents=True)
    with _serve(html) as base:
        for page, fewest in BROWSER_PAGES.items():
            browser.get(f"{base}/{page}")
            state = browser.execute_script("return document.readyState")
            assert state == "complete", page
            title = browser.title
            assert "imcombiners" in title, f"{page}: title {title!r}"
            images = browser.execute_script(_IMAGES_JS)
            assert len(images) >= fewest, f"{page}: {len(images)} images, expected >= {fewest}"
            broken = [
                src
                for src, done, width, height in images
                if not (done and width > 0 and height > 0)
            ]
            assert not broken, f"{page}: images that did not load: {broken}"
            # The whole page (up to 8000 pixels high), not only the first screen.
            height = browser.execute_script("return document.documentElement.scrollHeight")
            browser.set_window_size(1280, min(max(int(height), 800), 8000))
            formulas, rendered = browser.execute_async_script(_MATH_JS)
            assert rendered == formulas, f"{page}: MathJax rendered {rendered} of {formulas}"
            shot = SCREENSHOTS / (page.replace("/", "_").removesuffix(".html") + ".png")
            assert browser.save_screenshot(str(shot)), shot
            assert shot.stat().st_size > 10_000, f"{shot} is nearly empty"
            browser.set_window_size(1280, 1500)
