"""Thread-count control, bit-identical results for any thread count, and GIL release."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import imcombiners as imc
import imcombiners.kernels as imck

METHODS = ["mean", "median", "lmedian", "sum", "min", "max", "variance"]


def _nasty_stack(n: int, shape: tuple[int, ...], seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    stack = rng.normal(1e4, 30.0, (n, *shape)).astype(np.float32)
    stack[rng.random(stack.shape) < 0.05] = np.nan
    stack[rng.random(stack.shape) < 0.01] = np.inf
    stack[:, 0, 0] = np.nan  # one element with no valid sample
    return stack


def test_set_and_get_num_threads():
    old = imc.get_num_threads()
    try:
        imc.set_num_threads(3)
        assert imc.get_num_threads() == 3
    finally:
        imc.set_num_threads(old)
    assert imc.get_num_threads() == old


@pytest.mark.parametrize("bad", [0, -2])
def test_set_num_threads_rejects_values_below_one(bad):
    with pytest.raises(ValueError, match="n must be >= 1"):
        imc.set_num_threads(bad)


@pytest.mark.parametrize("bad", [1.5, "2", True, None])
def test_set_num_threads_rejects_non_integers(bad):
    with pytest.raises(TypeError, match="n must be an integer"):
        imc.set_num_threads(bad)


def test_threads_context_manager_nests_and_restores():
    before = imc.get_num_threads()
    with imc.threads(1) as n1:
        assert n1 == 1 == imc.get_num_threads()
        with imc.threads(5):
            assert imc.get_num_threads() == 5
        assert imc.get_num_threads() == 1
    assert imc.get_num_threads() == before


def test_threads_context_restores_after_an_exception():
    before = imc.get_num_threads()
    with pytest.raises(RuntimeError), imc.threads(7):
        raise RuntimeError("boom")
    assert imc.get_num_threads() == before


def test_threads_context_is_local_to_the_calling_thread():
    before = imc.get_num_threads()
    seen = []
    inside = threading.Event()
    release = threading.Event()

    def other():
        inside.wait()
        seen.append(imc.get_num_threads())
        release.set()

    t = threading.Thread(target=other)
    t.start()
    with imc.threads(before + 4):
        inside.set()
        release.wait(10)
    t.join()
    assert seen == [before]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("3", "3"), ("1", "1")],
)
def test_environment_variable_sets_the_default(value, expected):
    code = "import imcombiners as imc; print(imc.get_num_threads())"
    env = dict(os.environ, IMCOMBINERS_NUM_THREADS=value)
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == expected


def test_invalid_environment_variable_warns_and_falls_back():
    code = (
        "import warnings; warnings.simplefilter('always');"
        "import imcombiners as imc; print(imc.get_num_threads() >= 1)"
    )
    env = dict(os.environ, IMCOMBINERS_NUM_THREADS="lots")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "True"
    assert "IMCOMBINERS_NUM_THREADS" in out.stderr
    assert "ImcombinersWarning" in out.stderr


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("n", [1, 4, 15, 100, 150])
def test_results_are_bit_identical_for_any_thread_count(method, n):
    stack = _nasty_stack(n, (37, 53))
    results = []
    for nthreads in (1, 2, 3, 8):
        with imc.threads(nthreads):
            results.append(imc.Combiner(stack).combine(method))
    for other in results[1:]:
        assert other.tobytes() == results[0].tobytes()


def test_weighted_average_is_bit_identical_for_any_thread_count():
    stack = _nasty_stack(9, (64, 70))
    weights = np.linspace(0.5, 2.0, 9)
    with imc.threads(1):
        one = imck.weighted_average(stack, weights)
    with imc.threads(4):
        four = imck.weighted_average(stack, weights)
    assert one.tobytes() == four.tobytes()


def test_kernels_release_the_gil():
    """While one thread runs a long kernel, another thread keeps executing Python code.

    With the GIL held for the whole kernel the main loop below could not run at all until the
    kernel returned, so its iteration count would stay near zero.
    """
    stack = np.random.default_rng(0).normal(size=(64, 1024, 1024)).astype(np.float32)
    done = threading.Event()

    def work():
        with imc.threads(1):
            for _ in range(3):
                imck.median(stack)
        done.set()

    worker = threading.Thread(target=work)
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    try:
        worker.start()
        time.sleep(0.01)
        spins = 0
        while not done.is_set():
            spins += 1
        worker.join()
    finally:
        sys.setswitchinterval(old_interval)
    assert spins > 1000


def test_two_python_threads_combine_different_stacks_concurrently():
    """Each thread gets the same answer it would get alone (no shared state between calls)."""
    rng = np.random.default_rng(1)
    stacks = [rng.normal(size=(15, 256, 256)).astype(np.float32) for _ in range(2)]
    expected = [imck.median(s) for s in stacks]
    results: list[np.ndarray | None] = [None, None]

    def work(i):
        for _ in range(5):
            results[i] = imck.median(stacks[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, expected, strict=True):
        np.testing.assert_array_equal(got, want)
