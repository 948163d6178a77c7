"""imcombiners.dask: equality with the in-memory combine, on the threaded scheduler and on a
real LocalCluster of 2 worker processes."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from dask_helpers import local_cluster, random_mask, random_stack, scheduler
from hypothesis import given, settings
from hypothesis import strategies as st

import imcombiners as imc

da = pytest.importorskip("dask.array")
imcd = pytest.importorskip("imcombiners.dask")

# Parameter warnings (a rule that cannot reject on N frames...) come once from the client when
# the graph is built, and again from every block task; the tests compare numbers only.
pytestmark = pytest.mark.filterwarnings("ignore::imcombiners.ImcombinersWarning")

KINDS = ("threads", "distributed")

RULES = [
    None,
    imc.SigClip(sigma=2.5, maxiters=5),
    imc.SigClip(sigma=(2.0, 3.0), cenfunc="mean", maxiters=10),
    imc.CcdClip(sigma=3.0, gain=1.5, rdnoise=5.0),
    imc.LinearClip(low=900.0, upp=1100.0),
    imc.MinMaxClip(n_min=1, n_max=1),
    imc.PClip(sigma=2.0),
    [imc.MinMaxClip(n_min=0, n_max=1), imc.SigClip(sigma=3.0)],
]


@pytest.fixture(scope="module")
def client():
    yield from local_cluster()


def _same(a, b):
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    assert a.shape == b.shape
    np.testing.assert_array_equal(a, b)  # NaN == NaN here; bit for bit otherwise


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("rule", RULES, ids=lambda r: "none" if r is None else repr(r)[:30])
def test_every_rule_equals_in_memory(client, kind, rule):
    rng = np.random.default_rng(1)
    x = random_stack(rng, 9, (23, 17))
    mask = random_mask(rng, x.shape)
    stack = da.from_array(x, chunks=(9, 10, 7))  # chunks that do not divide the image
    with scheduler(kind, client):
        got = imcd.combine(stack, "median", mask=mask, rejectors=rule).image.compute()
    ref = imc.Combiner(x, mask=mask).combine("median", rejectors=rule)
    _same(got, ref)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 2, 5])
def test_small_n_and_grow_across_borders(client, kind, n):
    rng = np.random.default_rng(n)
    x = random_stack(rng, n, (31, 26), outliers=0.01)
    stack = da.from_array(x, chunks=(n, 8, 9))
    args = {"rejectors": imc.SigClip(sigma=1.5), "grow": 2.5}
    with scheduler(kind, client):
        got = imcd.combine(stack, "mean", **args).image.compute()
    _same(got, imc.Combiner(x).combine("mean", **args))


@pytest.mark.parametrize("kind", KINDS)
def test_grow_wider_than_chunks(client, kind):
    rng = np.random.default_rng(7)
    x = random_stack(rng, 6, (20, 21), outliers=0.005)
    stack = da.from_array(x, chunks=(6, 3, 4))
    args = {"rejectors": imc.MinMaxClip(n_min=0, n_max=1), "grow": 5.0}
    with scheduler(kind, client):
        got = imcd.combine(stack, "median", **args).image.compute()
    _same(got, imc.Combiner(x).combine("median", **args))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("mean", {"scale": "median"}),
        ("median", {"zero": "mode", "scale": "mean", "thresholds": (0.0, 1500.0)}),
        ("mean", {"weights": "median", "scale": "sigclip_median"}),
        ("weighted_average", {"weights": np.arange(1.0, 8.0), "zero": np.arange(7.0)}),
        ("sum", {"scale": "median", "stat_region": np.s_[3:, :10]}),
        ("variance", {"ddof": 1}),
        ("lmedian", {"scale": lambda v: float(np.percentile(v, 60))}),
        ("min", {"thresholds": (950.0, 1100.0)}),
        ("max", {"normalize": False, "zero": "median"}),
    ],
)
def test_corrections_from_a_first_pass(client, kind, method, options):
    rng = np.random.default_rng(3)
    x = random_stack(rng, 7, (40, 33)) * np.linspace(1.0, 1.6, 7)[:, None, None].astype("f4")
    mask = random_mask(rng, x.shape)
    stack = da.from_array(x, chunks=(7, 11, 16))
    rule = imc.SigClip(sigma=2.5)
    with scheduler(kind, client):
        got = imcd.combine(stack, method, mask=mask, rejectors=rule, **options)
        image = got.image.compute()
    ref = imc.Combiner(x, mask=mask).combine(method, rejectors=rule, **options)
    _same(image, ref)
    for value in (got.zero, got.scale, got.weights):
        assert value is None or isinstance(value, np.ndarray)


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "int32", "float64", ">f4"])
def test_dtypes(dtype):
    rng = np.random.default_rng(11)
    x = random_stack(rng, 5, (12, 13), dtype=dtype)
    stack = da.from_array(x, chunks=(5, 5, 5))
    rule = imc.SigClip(sigma=2.0)
    got = imcd.combine(stack, "median", rejectors=rule).image.compute(scheduler="threads")
    _same(got, imc.Combiner(x).combine("median", rejectors=rule))


def test_three_spatial_axes_and_one():
    rng = np.random.default_rng(12)
    x = random_stack(rng, 5, (6, 7, 8))
    args = {"rejectors": imc.SigClip(sigma=2.0), "grow": 1.0}
    got = imcd.combine(da.from_array(x, chunks=(5, 4, 3, 5)), "mean", **args).image
    _same(got.compute(scheduler="threads"), imc.Combiner(x).combine("mean", **args))
    y = random_stack(rng, 4, (50,))
    got = imcd.combine(da.from_array(y, chunks=(4, 7)), "mean", **args).image
    _same(got.compute(scheduler="threads"), imc.Combiner(y).combine("mean", **args))


def test_stack_axis_rechunked_with_a_warning():
    rng = np.random.default_rng(5)
    x = random_stack(rng, 6, (10, 10))
    stack = da.from_array(x, chunks=(2, 5, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = imcd.combine(stack, "median").image  # small blocks: rechunked, no warning
    _same(got.compute(scheduler="threads"), imc.Combiner(x).combine("median"))
    big = da.zeros((40, 4096, 4096), dtype="float32", chunks=(1, 4096, 4096))
    with pytest.warns(imc.ImcombinersWarning, match="rechunked to one chunk"):
        imcd.combine(big, "median")


def test_errors():
    stack = da.zeros((4, 10, 10), dtype="float32", chunks=(2, 5, 5))
    with pytest.raises(ValueError, match="chunked along the stack axis"):
        imcd.combine(stack, "mean", rechunk=False)
    frames = da.zeros((8, 5, 5), dtype="float32", chunks=(4, 5, 5))
    unknown = frames[frames[:, 0, 0] >= 0]  # boolean indexing: chunk sizes unknown
    with pytest.raises(ValueError, match="unknown chunk sizes"):
        imcd.combine(unknown, "mean")
    for dtype in ("int64", "complex64", "bool"):
        with pytest.raises(TypeError, match="unsupported dtype"):
            imcd.combine(da.zeros((3, 4, 4), dtype=dtype), "mean")

    class NoBounds(imc.Rejector):
        """A rule of one's own without its bounds."""

    with pytest.raises(NotImplementedError, match="must define bounds"):
        imcd.combine(stack, "mean", rejectors=NoBounds())
    with pytest.raises(TypeError, match="whole image rows"):
        imcd.combine(stack, "mean", rejectors="avsigclip")
    with pytest.raises(ValueError, match="unknown product"):
        imcd.combine(stack, "mean", products=("bogus",))
    with pytest.raises(ValueError, match="method"):
        imcd.combine(stack, "bogus")
    with pytest.raises(ValueError, match="weight statistic"):
        imcd.combine(stack, "mean", weights="sigclip_mean")
    with pytest.raises(ValueError, match="one value per frame"):
        imcd.combine(stack, "mean", weights=[1.0, 2.0])
    with pytest.raises(ValueError, match="mask has shape"):
        imcd.combine(stack, "mean", mask=np.zeros((4, 10, 9), bool))
    with pytest.raises(ValueError, match="at least one spatial axis"):
        imcd.combine(da.zeros(5), "mean")


def test_numpy_input_and_threads():
    rng = np.random.default_rng(9)
    x = random_stack(rng, 5, (16, 16))
    one = imcd.combine(x, "median", rejectors=imc.PClip())
    two = imcd.combine(x, "median", rejectors=imc.PClip(), threads=2)
    assert one.threads == 1
    assert two.threads == 2
    _same(one.image.compute(scheduler="threads"), two.image.compute(scheduler="threads"))


def test_distributed_blocks_run_in_worker_processes(client):
    import os

    def pid_block(block):
        return np.full(block.shape, os.getpid(), dtype=np.int64)

    arr = da.zeros((4, 8), chunks=(1, 8))
    with scheduler("distributed", client):
        pids = set(np.unique(arr.map_blocks(pid_block, dtype=np.int64).compute()))
    workers = set(client.run(os.getpid).values())
    assert pids <= workers
    assert os.getpid() not in pids


_HYP_RULES = [
    None,
    imc.SigClip(sigma=2.0),
    imc.CcdClip(sigma=2.5, gain=2.0, rdnoise=3.0),
    imc.LinearClip(low=950.0, upp=1050.0),
    imc.MinMaxClip(n_min=1, n_max=1),
    imc.PClip(sigma=1.5),
]


@given(data=st.data())
@settings(max_examples=40, deadline=None)
def test_hypothesis_threaded_equals_in_memory(data):
    n = data.draw(st.integers(1, 8), label="n")
    shape = tuple(data.draw(st.lists(st.integers(1, 14), min_size=1, max_size=2), label="shape"))
    chunks = (n, *(data.draw(st.integers(1, s), label="chunk") for s in shape))
    method = data.draw(st.sampled_from(["mean", "median", "sum", "min", "max", "lmedian"]))
    rule = data.draw(st.sampled_from(_HYP_RULES), label="rule")
    grow = data.draw(st.sampled_from([None, 1.0, 2.5]), label="grow")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    x = random_stack(rng, n, shape, nan=0.1, outliers=0.1)
    mask = random_mask(rng, x.shape, 0.1) if data.draw(st.booleans(), label="mask") else None
    options = {"mask": mask, "rejectors": rule, "grow": grow}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = imcd.combine(da.from_array(x, chunks=chunks), method, **options)
        image = got.image.compute(scheduler="threads")
        ref = imc.Combiner(x, mask=mask).combine(method, rejectors=rule, grow=grow)
    _same(image, ref)


def test_docstring_examples():
    import doctest
    import importlib

    module = importlib.import_module("imcombiners.dask.combine")  # the function shadows it

    globs = {"np": np, "imc": imc}
    result = doctest.testmod(module, extraglobs=globs, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def test_progress_bar_reports(capsys):
    from dask.diagnostics import ProgressBar

    x = random_stack(np.random.default_rng(2), 4, (10, 10))
    result = imcd.combine(da.from_array(x, chunks=(4, 5, 5)), "median")
    with ProgressBar():
        result.image.compute(scheduler="threads")
    assert "100%" in capsys.readouterr().out


def test_rules_of_ones_own_and_grow_on_the_rule():
    """A Rejector with its own bounds runs in the blocks; a rule's grow gets its halo."""
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class Band(imc.Rejector):
        width: float = 12.0

        def bounds(self, x):
            c = np.median(x)
            return c - self.width, c + self.width

    rng = np.random.default_rng(7)
    x = rng.normal(100, 6, (7, 23, 17)).astype(np.float32)
    x[rng.random(x.shape) < 0.03] += 90
    stack = da.from_array(x, chunks=(7, 8, 6))
    got = imcd.combine(stack, "mean", rejectors=Band()).image.compute(scheduler="threads")
    np.testing.assert_array_equal(got, imc.Combiner(x).combine("mean", rejectors=Band()))
    rule = imc.SigClip(sigma=2.0, grow=2.0)
    got = imcd.combine(stack, "median", rejectors=rule).image.compute(scheduler="threads")
    np.testing.assert_array_equal(got, imc.Combiner(x).combine("median", rejectors=rule))
