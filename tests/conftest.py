"""Hypothesis profiles and the import path for the test helpers.

``pytest --hypothesis-profile=thorough`` runs many more examples than the default.
"""

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # `import reference, strategies` under any --import-mode
    sys.path.insert(0, _HERE)

_COMMON = {
    "deadline": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("default", max_examples=100, **_COMMON)
settings.register_profile("thorough", max_examples=1000, **_COMMON)
settings.load_profile("default")

#: Test modules that run the real IRAF, `cargo test` or child processes. They carry the `slow`
#: mark, so ``pytest -m "not slow"`` is a quick loop; the README's command runs everything.
SLOW_MODULES = {
    "test_iraf_cl.py",
    "test_iraf_vs_cl.py",
    "test_iraf_robustness.py",
    "test_rust_core.py",
    "test_files_memory.py",
    "test_iraf_memory.py",
    "test_docs_site.py",
}
#: Single slow tests elsewhere (name prefixes).
SLOW_TESTS = ("test_ctrl_c_", "test_kernels_release_the_gil", "test_every_instruction_set_")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in SLOW_MODULES or item.name.startswith(SLOW_TESTS):
            item.add_marker(pytest.mark.slow)


def _combine_via(entry, method, stack, mask=None, *, weights=None, ddof=None):
    """Run one combine ``method`` (alias or canonical) through one public entry point.

    ``weights`` and ``ddof`` are passed only when given, so each call looks like
    what a user of that method would write.
    """
    import reference

    import imcombiners as imc

    name = reference.canonical(method)
    if entry == "kernels":
        fn = getattr(imc.kernels, reference.KERNEL_NAMES[name])
        if name == "weighted_average":
            return fn(stack, weights, mask=mask)
        if name == "variance" and ddof is not None:
            return fn(stack, ddof=ddof, mask=mask)
        return fn(stack, mask=mask)
    extra = {}
    if weights is not None:
        extra["weights"] = weights
    if ddof is not None:
        extra["ddof"] = ddof
    if entry == "Combiner":
        return imc.Combiner(stack, mask=mask).combine(method, **extra)
    if entry == "ndcombine":
        return imc.ndcombine(stack, combine=method, mask=mask, **extra)
    raise ValueError(entry)


@pytest.fixture(scope="session")
def combine_via():
    """``combine_via(entry, method, stack, mask, *, weights=None, ddof=None)``."""
    return _combine_via
