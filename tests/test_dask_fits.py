"""imcombiners.dask with FITS files: read_fits -> combine -> write_fits against combine_files,
products, to_zarr, and a worker killed in the middle of a computation."""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest
from dask_helpers import local_cluster, random_mask, random_stack, scheduler

import imcombiners as imc

da = pytest.importorskip("dask.array")
imcd = pytest.importorskip("imcombiners.dask")

# Parameter warnings (a rule that cannot reject on N frames...) come once from the client when
# the graph is built, and again from every block task; the tests compare numbers only.
pytestmark = pytest.mark.filterwarnings("ignore::imcombiners.ImcombinersWarning")
fits = pytest.importorskip("astropy.io.fits")

ALL = ("sigma", "variance", "nrej", "ncombine", "low", "high", "rejmask")


@pytest.fixture(scope="module")
def client():
    yield from local_cluster()


def _write_stack(folder, x, *, mask=None, kind="plain"):
    """One FITS file per frame (``kind``: plain, bscale, compressed); mask as HDU "BPM"."""
    paths = []
    for i, frame in enumerate(x):
        p = folder / f"f{i:02d}.fits"
        hdr = fits.Header({"EXPTIME": 10.0 + i, "OBJECT": "test"})
        if kind == "compressed":
            hdus = [fits.PrimaryHDU(), fits.CompImageHDU(frame, header=hdr)]
        else:
            hdus = [fits.PrimaryHDU(frame, header=hdr)]
        if mask is not None:
            hdus.append(fits.ImageHDU(mask[i].astype(np.uint8), name="BPM"))
        fits.HDUList(hdus).writeto(p)
        if kind == "bscale":
            with fits.open(p, mode="update") as h:
                h[0].scale("int16", bscale=0.5, bzero=1000.0)
        paths.append(p)
    return paths


def _same(a, b):
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ["threads", "distributed"])
@pytest.mark.parametrize(
    ("method", "options"),
    [
        ("median", {"rejectors": imc.SigClip(sigma=2.5)}),
        ("mean", {"rejectors": imc.CcdClip(gain=1.0, rdnoise=4.0), "scale": "median"}),
        ("mean", {"rejectors": imc.MinMaxClip(n_min=1, n_max=1), "grow": 1.5}),
        ("median", {"thresholds": (900.0, 1100.0), "zero": "median"}),
        ("sum", {}),
    ],
)
def test_products_equal_combine_files(tmp_path, client, kind, method, options):
    rng = np.random.default_rng(21)
    x = random_stack(rng, 6, (29, 24))
    mask = random_mask(rng, x.shape)
    paths = _write_stack(tmp_path, x, mask=mask)
    ref = imc.combine_files(
        paths, method=method, masks="BPM", products=ALL, progress=False, **options
    )
    frames = imcd.read_fits(paths, masks="BPM", chunks=7)
    with scheduler(kind, client):
        got = imcd.combine(frames, method, products=ALL, **options).compute()
    _same(got["image"], ref.data)
    for name in ALL:
        _same(got[name], ref.products[name])
    _same(got["image"], imc.Combiner(x, mask=mask).combine(method, **options))


@pytest.mark.parametrize("kind", ["threads", "distributed"])
def test_read_combine_write_equals_combine_files(tmp_path, client, kind):
    rng = np.random.default_rng(22)
    x = random_stack(rng, 5, (37, 20), dtype="uint16")
    (tmp_path / "in").mkdir()
    paths = _write_stack(tmp_path / "in", x)  # uint16: BZERO 32768
    options = {"rejectors": imc.SigClip(sigma=2.5), "scale": "median", "grow": 1.0}
    ref = imc.combine_files(
        paths, tmp_path / "ref.fits", method="mean", products=("nrej",), progress=False, **options
    )
    frames = imcd.read_fits(str(tmp_path / "in" / "f*.fits"), chunks=6)
    assert frames.data.dtype == np.uint16
    assert frames.data.chunks[0] == (1,) * 5  # one reader task per (file, band)
    with scheduler(kind, client):
        result = imcd.combine(frames, "mean", products=("nrej",), **options)
        written = imcd.write_fits(result, tmp_path / "out.fits", header={"OBSERVER": "me"})
    assert written["image"] == tmp_path / "out.fits"
    assert written["nrej"] == tmp_path / "out_nrej.fits"
    with fits.open(tmp_path / "out.fits") as got, fits.open(ref.paths["output"]) as want:
        _same(got[0].data, want[0].data)
        h, r = got[0].header, want[0].header
        for key in ("NCOMBINE", "IMCMB001", "IMCMB005", "EXPTIME", "OBJECT"):
            assert h[key] == r[key]
        assert h["OBSERVER"] == "me"
        assert [s for s in h["HISTORY"] if "scale" in s] == [
            s for s in r["HISTORY"] if "scale" in s
        ]
    with fits.open(tmp_path / "out_nrej.fits") as got, fits.open(ref.paths["nrej"]) as want:
        _same(got[0].data, want[0].data)
        assert got[0].header["PRODUCT"] == "nrej"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_write_fits_refuses_and_leaves_nothing(tmp_path):
    x = random_stack(np.random.default_rng(1), 3, (8, 8))
    result = imcd.combine(da.from_array(x, chunks=(3, 3, 8)), "median", products=("rejmask",))
    paths = imcd.write_fits(result, tmp_path / "a.fits", scheduler="threads")
    with fits.open(paths["rejmask"]) as h:
        assert h[0].data.shape == (3, 8, 8)
        assert h[0].header["NCOMBINE"] == 3
    with pytest.raises(FileExistsError):
        imcd.write_fits(result, tmp_path / "a.fits", scheduler="threads")
    boom = imcd.combine(da.from_array(x, chunks=(3, 3, 8)), "median")
    boom.image = boom.image.map_blocks(_fail, dtype=boom.image.dtype)
    with pytest.raises(RuntimeError, match="boom"):
        imcd.write_fits(boom, tmp_path / "b.fits", scheduler="threads")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.fits", "a_rejmask.fits"]


def _fail(block, block_info=None):
    if block_info[None]["chunk-location"][0] == 2:
        raise RuntimeError("boom")
    return block


@pytest.mark.parametrize("kind", ["plain", "bscale", "compressed"])
def test_read_fits_kinds_and_masks(tmp_path, kind):
    rng = np.random.default_rng(23)
    x = random_stack(rng, 4, (30, 17), nan=0.0)
    mask = random_mask(rng, x.shape)
    paths = _write_stack(tmp_path, x, mask=mask, kind=kind)
    hdu = 1 if kind == "compressed" else 0
    expected = np.stack([fits.getdata(p, hdu) for p in paths])
    frames = imcd.read_fits(paths, hdu=hdu, masks="BPM", chunks=4)
    data = frames.data.compute(scheduler="threads")
    assert data.dtype == expected.dtype.newbyteorder("=")
    _same(data, expected.astype(data.dtype))
    _same(frames.mask.compute(scheduler="threads"), mask)
    # Mask files, given as an @list file.
    mpaths = []
    for i, m in enumerate(mask):
        mp = tmp_path / f"m{i}.fits"
        fits.writeto(mp, m.astype(np.int16))
        mpaths.append(mp)
    listing = tmp_path / "masks.lis"
    listing.write_text("\n".join(str(p) for p in mpaths) + "\n")
    frames = imcd.read_fits(paths, hdu=hdu, masks=f"@{listing}")
    _same(frames.mask.compute(scheduler="threads"), mask)
    ref = imc.combine_files(paths, hdu=hdu, masks=mpaths, method="median", progress=False)
    got = imcd.combine(frames, "median").image.compute(scheduler="threads")
    _same(got, ref.data)


@pytest.mark.parametrize("dtype", ["uint8", "int16", "uint16", "int32", "float32", "float64"])
def test_read_fits_raw_reads_every_plain_dtype(tmp_path, dtype):
    """Reader tasks read plain images with one pread at the offset found on the client."""
    rng = np.random.default_rng(26)
    x = random_stack(rng, 3, (11, 9), dtype=dtype, nan=0.0)
    paths = _write_stack(tmp_path, x)
    frames = imcd.read_fits(paths, chunks=4)
    data = frames.data.compute(scheduler="sync")
    assert data.dtype == np.dtype(dtype).newbyteorder("=")
    assert data.dtype.isnative
    _same(data, x)


def test_read_fits_rereads_a_file_rewritten_after_read_fits(tmp_path):
    """A file rewritten between read_fits and compute (its data moved) is read through
    astropy again rather than at the stale offset."""
    rng = np.random.default_rng(27)
    x = random_stack(rng, 3, (12, 10), dtype="uint16")
    paths = _write_stack(tmp_path, x)
    frames = imcd.read_fits(paths, chunks=5)
    y = x[0][::-1].copy()
    hdr = fits.Header({f"K{i:03d}": i for i in range(60)})  # a longer header: data moves
    fits.PrimaryHDU(y, header=hdr).writeto(paths[0], overwrite=True)
    data = frames.data.compute(scheduler="sync")
    _same(data[0], y)
    _same(data[1:], x[1:])


@pytest.fixture
def placing_client():
    """A cluster of its own without work stealing: a busy moment of the machine (CI) must not
    let the scheduler move a band's tasks, which write_fits allows (`allow_other_workers`) so
    that a band whose worker died still runs."""
    yield from local_cluster(work_stealing=False)


def test_write_fits_on_a_cluster_reads_each_band_where_it_is_combined(tmp_path, placing_client):
    """On a cluster write_fits runs a band's reader tasks on the worker that combines the band
    (no piece of a band crosses between workers), and the bands use every worker."""
    from distributed import get_task_stream

    client = placing_client

    rng = np.random.default_rng(28)
    x = random_stack(rng, 6, (48, 16), dtype="uint16")
    paths = _write_stack(tmp_path, x)
    rule = imc.SigClip(sigma=2.5)
    frames = imcd.read_fits(paths, chunks=4)
    with scheduler("distributed", client), get_task_stream(client) as stream:
        imcd.write_fits(imcd.combine(frames, "median", rejectors=rule), tmp_path / "out.fits")
    got = fits.getdata(tmp_path / "out.fits")
    _same(
        got.astype(got.dtype.newbyteorder("=")), imc.Combiner(x).combine("median", rejectors=rule)
    )
    tasks = stream.data
    assert sum("read-fits" in str(t["key"]) for t in tasks) == 6 * 12
    assert not [t["key"] for t in tasks if any(s["action"] == "transfer" for s in t["startstops"])]
    assert len({t["worker"] for t in tasks}) == 2


def test_read_fits_errors(tmp_path):
    a = tmp_path / "a.fits"
    b = tmp_path / "b.fits"
    fits.writeto(a, np.zeros((5, 6), np.float32))
    fits.writeto(b, np.zeros((5, 7), np.float32))
    with pytest.raises(ValueError, match="differ in shape"):
        imcd.read_fits([a, b])
    with pytest.raises(FileNotFoundError):
        imcd.read_fits(str(tmp_path / "none*.fits"))
    with pytest.raises(ValueError, match="chunks"):
        imcd.read_fits([a], chunks=0)
    c = tmp_path / "c.fits"
    fits.writeto(c, np.zeros((5, 6), np.int64))
    with pytest.raises(TypeError, match="unsupported dtype"):
        imcd.read_fits([c])


def test_to_zarr(tmp_path):
    pytest.importorskip("zarr")
    rng = np.random.default_rng(24)
    x = random_stack(rng, 5, (20, 20))
    result = imcd.combine(da.from_array(x, chunks=(5, 8, 8)), "median", rejectors=imc.PClip())
    with __import__("dask").config.set(scheduler="threads"):
        result.image.to_zarr(str(tmp_path / "out.zarr"))
        back = da.from_zarr(str(tmp_path / "out.zarr")).compute()
    _same(back, imc.Combiner(x).combine("median", rejectors=imc.PClip()))


def _slow(block):
    time.sleep(0.15)
    return block


def test_killed_worker_still_gives_the_right_result(client):
    """SIGKILL one worker process mid-computation: its nanny restarts it, the scheduler
    reruns its tasks elsewhere, and the result is still exact."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(__import__(__name__))
    rng = np.random.default_rng(25)
    x = random_stack(rng, 5, (64, 48))
    slow = da.from_array(x, chunks=(5, 4, 48)).map_blocks(_slow, dtype=x.dtype)
    rule = imc.SigClip(sigma=2.5)
    result = imcd.combine(slow, "median", rejectors=rule, grow=1.0)
    future = client.compute(result.image)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        busy = client.processing()
        if any(busy.values()):
            break
        time.sleep(0.02)
    time.sleep(0.3)
    victim = sorted(busy)[0]
    pid = client.run(os.getpid, workers=[victim])[victim]
    os.kill(pid, signal.SIGKILL)
    got = future.result(timeout=60)
    _same(got, imc.Combiner(x).combine("median", rejectors=rule, grow=1.0))
    client.wait_for_workers(2, timeout=30)
    assert pid not in client.run(os.getpid).values()


def test_auto_bands_fit_the_worker_memory_limit():
    """chunks="auto" with a cluster: a band of N frames, ~3x at its peak, one per worker thread,
    fits below the spill threshold beside a fixed allowance for the worker process."""
    from imcombiners.dask.fits import _rows, _worker_band_budget

    mib = 2**20
    workers = {
        "a": {"memory_limit": 400 * 10**6, "nthreads": 1, "metrics": {"memory": 120 * mib}},
        "b": {"memory_limit": 400 * 10**6, "nthreads": 2, "metrics": {"memory": 120 * mib}},
    }
    budget = _worker_band_budget(workers)
    assert budget == (int(0.7 * 400 * 10**6) - 128 * mib) // (2 * 3)
    assert _worker_band_budget(None) is None
    assert _worker_band_budget({"a": {"memory_limit": 0, "nthreads": 1}}) is None
    # Without a current Client, "auto" follows Dask's array.chunk-size only.
    assert _rows("auto", 40, (4096, 4096), 2) == min(4096, 128 * mib // (40 * 8192))
