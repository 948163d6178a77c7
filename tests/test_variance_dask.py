"""imcombiners.dask with variance planes: combine(variance=, return_variance=True) equals the
in-memory combine with ``variance=``, on the threaded scheduler and on a 2-worker LocalCluster;
read_fits reads variance and error planes; write_fits writes the propagated variance."""

from __future__ import annotations

import numpy as np
import pytest
from dask_helpers import local_cluster, random_mask, random_stack, scheduler

import imcombiners as imc
from imcombiners import _variance

da = pytest.importorskip("dask.array")
imcd = pytest.importorskip("imcombiners.dask")
fits = pytest.importorskip("astropy.io.fits")

pytestmark = pytest.mark.filterwarnings("ignore::imcombiners.ImcombinersWarning")

KINDS = ("threads", "distributed")


@pytest.fixture(scope="module")
def client():
    yield from local_cluster()


def _variance_of(rng, x):
    """Unequal per-frame variances with a few negative and non-finite values."""
    n = x.shape[0]
    var = np.linspace(50.0, 600.0, n)[:, None, None] * rng.uniform(0.7, 1.3, x.shape)
    var[rng.random(x.shape) < 0.01] = -1.0
    var[rng.random(x.shape) < 0.01] = np.nan
    return var.astype(np.float32)


def _same(a, b):
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    assert a.shape == b.shape
    np.testing.assert_array_equal(a, b)


CASES = {
    "mean": ("mean", {}),
    "median": ("median", {}),
    "sum": ("sum", {}),
    "ivar": ("mean", {"weights": "ivar"}),
    "varclip": ("mean", {"rejectors": imc.VarClip(sigma=3.0)}),
    "sigclip-scale": ("median", {"rejectors": imc.SigClip(sigma=2.5), "scale": "median"}),
    "varclip-grow": ("mean", {"rejectors": imc.VarClip(sigma=2.5), "grow": 2.0}),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", list(CASES))
def test_equals_in_memory(client, kind, case):
    method, options = CASES[case]
    rng = np.random.default_rng(len(case))
    x = random_stack(rng, 7, (23, 19))
    var = _variance_of(rng, x)
    mask = random_mask(rng, x.shape)
    cmb = imc.Combiner(x, mask=mask, variance=var)
    image = cmb.combine(method, **options)
    stack = da.from_array(x, chunks=(7, 8, 7))  # chunks that do not divide the image
    with scheduler(kind, client):
        got = imcd.combine(
            stack,
            method,
            mask=mask,
            variance=da.from_array(var, chunks=(7, 5, 19)),  # other chunks: rechunked
            return_variance=True,
            **options,
        ).compute()
    _same(got["image"], image)
    _same(got["var"], cmb.out_variance)


@pytest.mark.parametrize("kind", KINDS)
def test_per_frame_variances_and_ndcombine(client, kind):
    rng = np.random.default_rng(3)
    x = random_stack(rng, 6, (17, 15))
    per_frame = np.array([10.0, 20.0, 40.0, 10.0, 30.0, 5.0])
    image, variance = imc.ndcombine(
        x, combine="mean", weights="ivar", variance=per_frame, return_variance=True
    )
    with scheduler(kind, client):
        res = imcd.combine(
            da.from_array(x, chunks=(6, 6, 6)),
            "mean",
            weights="ivar",
            variance=per_frame,
            return_variance=True,
        )
        image_got, var_got = res.image.compute(), res.variance.compute()
    _same(image_got, image)
    _same(var_got, variance)


def _write(folder, x, var, ext):
    paths = []
    for i in range(len(x)):
        plane = np.sqrt(var[i]) if ext == "ERR" else var[i]
        p = folder / f"f{i:02d}.fits"
        fits.HDUList(
            [
                fits.PrimaryHDU(x[i], header=fits.Header({"EXPTIME": 3.0})),
                fits.ImageHDU(plane, name=ext),
            ]
        ).writeto(p)
        paths.append(p)
    return paths


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("ext", ["VAR", "ERR"])
def test_read_fits_planes_equal_combine_files(tmp_path, client, kind, ext):
    rng = np.random.default_rng(11)
    x = random_stack(rng, 5, (29, 13))
    var = np.abs(_variance_of(rng, x))
    paths = _write(tmp_path, x, var, ext)
    key = {"VAR": "variance", "ERR": "error"}[ext]
    options = {"rejectors": imc.VarClip(sigma=3.0), "grow": 1.0}
    ref = imc.combine_files(
        paths, method="mean", progress=False, error_out=False, **{key: ext}, **options
    )
    frames = imcd.read_fits(paths, chunks=7, **{key: ext})
    planes = np.stack([fits.getdata(p, ext) for p in paths])
    expected = planes if ext == "VAR" else _variance.variance_from_error(planes)
    with scheduler(kind, client):
        np.testing.assert_array_equal(frames.variance.compute(), expected)
        got = imcd.combine(frames, "mean", return_variance=True, **options).compute()
        written = imcd.write_fits(
            imcd.combine(frames, "mean", return_variance=True, **options), tmp_path / "o.fits"
        )
    _same(got["image"], ref.data)
    _same(got["var"], ref.variance)
    assert written["var"] == tmp_path / "o_var.fits"
    with fits.open(written["var"]) as h:
        np.testing.assert_array_equal(h[0].data, ref.variance)
        assert h[0].header["PRODUCT"] == "var"


def test_errors():
    x = np.ones((3, 4, 4), np.float32)
    with pytest.raises(ValueError, match="return_variance=True needs variance="):
        imcd.combine(x, "mean", return_variance=True)
    with pytest.raises(ValueError, match=r"variance has shape \(2, 4, 4\)"):
        imcd.combine(x, "mean", variance=np.ones((2, 4, 4)))
    with pytest.raises(TypeError, match="return_variance must be True or False"):
        imcd.combine(x, "mean", variance=np.ones(3), return_variance="yes")
    with pytest.raises(TypeError, match="variance must hold numbers"):
        imcd.combine(x, "mean", variance=np.array(["a", "b", "c"]))
    with pytest.raises(ValueError, match="variance= or error=, not both"):
        imcd.read_fits("nothing*.fits", variance="VAR", error="ERR")


def test_read_fits_auto_bands_count_the_planes(tmp_path):
    """With variance planes, "auto" bands hold the data and the planes within the chunk size."""
    import dask

    x = np.ones((4, 400, 300), np.float32)
    _write(tmp_path, x, np.ones(x.shape, np.float64), "VAR")
    with dask.config.set({"array.chunk-size": "1MiB"}):
        plain = imcd.read_fits(str(tmp_path / "f*.fits"))
        both = imcd.read_fits(str(tmp_path / "f*.fits"), variance="VAR")
    rows_plain, rows_both = plain.data.chunks[1][0], both.data.chunks[1][0]
    assert rows_plain * 4 * 300 * 4 <= 2**20
    assert rows_both * 4 * 300 * (4 + 8) <= 2**20 < (rows_both + 1) * 4 * 300 * (4 + 8)
    assert both.variance.chunks == both.data.chunks
    assert both.variance.dtype == np.float64
