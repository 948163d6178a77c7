"""`_core.pyi` lists every function of the compiled core with its exact parameters."""

import ast
import inspect
from pathlib import Path

import imcombiners
from imcombiners import _core

STUB = Path(imcombiners.__file__).with_name("_core.pyi")


def _stub_signatures():
    tree = ast.parse(STUB.read_text())
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            a = node.args
            out[node.name] = (
                [p.arg for p in a.posonlyargs + a.args],
                [p.arg for p in a.kwonlyargs],
            )
    return out


def _core_signatures():
    out = {}
    for name in dir(_core):
        func = getattr(_core, name)
        if name.startswith("_") or not callable(func):
            continue
        params = inspect.signature(func).parameters.values()
        positional = [p.name for p in params if p.kind is not p.KEYWORD_ONLY]
        keyword = [p.name for p in params if p.kind is p.KEYWORD_ONLY]
        out[name] = (positional, keyword)
    return out


def test_stub_matches_the_compiled_core():
    assert _stub_signatures() == _core_signatures()
