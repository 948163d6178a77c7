"""combine_files with variance planes: equal to the in-memory combine with ``variance=``, bit
for bit in any number of bands; the multi-extension output; errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import imcombiners as imc
from imcombiners import _variance

fits = pytest.importorskip("astropy.io.fits")

N, NY, NX = 6, 37, 29


def _stack(seed: int, dtype: str = "float32") -> tuple[np.ndarray, np.ndarray]:
    """Frames of unequal noise with cosmic rays and NaNs, and their variance planes (with
    a few negative and non-finite variances, which mark samples as missing)."""
    rng = np.random.default_rng(seed)
    sigma = np.linspace(4.0, 12.0, N)[:, None, None]
    data = 1000.0 + rng.normal(0.0, 1.0, (N, NY, NX)) * sigma
    hits = rng.random(data.shape) < 0.01
    data[hits] += rng.uniform(300, 3000, hits.sum())
    var = np.broadcast_to(sigma**2, data.shape) * rng.uniform(0.8, 1.2, data.shape)
    if np.dtype(dtype).kind == "f":
        data[rng.random(data.shape) < 0.003] = np.nan
    else:
        data = np.rint(data)
    var = var.astype(np.float32)
    var[rng.random(var.shape) < 0.003] = -1.0
    var[rng.random(var.shape) < 0.003] = np.inf
    return data.astype(dtype), var


def _write_mef(folder: Path, data: np.ndarray, var: np.ndarray, *, ext: str = "VAR") -> list[Path]:
    """One file per frame: primary image, then the plane as extension ``ext`` (``ERR`` holds
    the square root)."""
    paths = []
    for i in range(len(data)):
        with np.errstate(invalid="ignore"):  # a negative variance: a NaN error, missing too
            plane = np.sqrt(var[i]) if ext == "ERR" else var[i]
        hdr = fits.Header({"EXPTIME": 10.0 + i, "OBJECT": "field"})
        hdul = fits.HDUList([fits.PrimaryHDU(data[i], header=hdr), fits.ImageHDU(plane, name=ext)])
        p = folder / f"f{i:02d}.fits"
        hdul.writeto(p)
        paths.append(p)
    return paths


def _in_memory(data, given, **kwargs):
    """The reference: the whole stack in memory, ``variance=`` as the arrays read."""
    cmb = imc.Combiner(data, variance=given)
    image = cmb.combine(**kwargs)
    return image, cmb.out_variance


def _thin(paths, **kwargs):
    """combine_files with the smallest mem_limit (within 25 %) that holds a row: many bands."""
    limit = 20_000
    while True:
        try:
            return imc.combine_files(paths, mem_limit=limit, progress=False, **kwargs)
        except ValueError as exc:
            if "too small for one row" not in str(exc):
                raise
            limit = int(limit * 1.25)


CASES = {
    "mean": {"method": "mean"},
    "median": {"method": "median"},
    "sum": {"method": "sum"},
    "lmedian": {"method": "lmedian"},
    "min": {"method": "min"},
    "max": {"method": "max"},
    "ivar": {"method": "mean", "weights": "ivar"},
    "weights-scale": {"method": "mean", "weights": [1, 2, 3, 1, 2, 3], "scale": "median"},
    "sigclip-zero": {"method": "mean", "zero": "median", "rejectors": imc.SigClip(sigma=2.0)},
    "varclip": {"method": "mean", "rejectors": imc.VarClip(sigma=3.0)},
    "varclip-grow": {"method": "median", "rejectors": imc.VarClip(sigma=3.0), "grow": 1.5},
    "minmax-thresholds": {
        "method": "mean",
        "rejectors": imc.MinMaxClip(n_min=1, n_max=1),
        "thresholds": (0.0, 2500.0),
    },
}


@pytest.mark.parametrize("dtype", ["float32", "int32"])
@pytest.mark.parametrize("case", list(CASES))
def test_bands_equal_the_in_memory_combine(tmp_path, dtype, case):
    data, var = _stack(len(case), dtype)
    paths = _write_mef(tmp_path, data, var)
    kwargs = CASES[case]
    image, variance = _in_memory(data, var, **kwargs)
    assert variance is not None
    assert np.isfinite(variance).any()
    one = imc.combine_files(paths, variance="VAR", progress=False, **kwargs)
    thin = _thin(paths, variance="VAR", **kwargs)
    assert one.bands == 1
    assert thin.bands >= 6
    for res in (one, thin):
        np.testing.assert_array_equal(res.data, image, strict=True)
        np.testing.assert_array_equal(res.variance, variance, strict=True)
        assert res.error is None
        assert res.dq is None


def test_ndcombine_is_the_same_reference(tmp_path):
    data, var = _stack(3)
    paths = _write_mef(tmp_path, data, var)
    image, variance = imc.ndcombine(
        data, combine="mean", reject="sigclip", sigma=2.0, variance=var, return_variance=True
    )
    res = _thin(paths, variance=1, method="mean", rejectors=imc.SigClip(sigma=2.0))
    np.testing.assert_array_equal(res.data, image)
    np.testing.assert_array_equal(res.variance, variance)


def test_error_planes_are_squared_and_come_back_as_errors(tmp_path):
    data, var = _stack(4)
    paths = _write_mef(tmp_path, data, var, ext="ERR")
    err = np.stack([fits.getdata(p, "ERR") for p in paths])
    image, variance = _in_memory(data, _variance.variance_from_error(err), method="mean")
    res = _thin(paths, error="ERR", method="mean")
    assert res.variance is None
    np.testing.assert_array_equal(res.data, image)
    np.testing.assert_array_equal(res.error, np.sqrt(variance))
    res = _thin(paths, error="ERR", method="mean", error_out=False)
    np.testing.assert_array_equal(res.variance, variance)


@pytest.mark.parametrize("form", ["list", "glob", "at-list"])
def test_variance_from_separate_files(tmp_path, form):
    data, var = _stack(5)
    (tmp_path / "sci").mkdir()
    (tmp_path / "var").mkdir()
    paths, vpaths = [], []
    for i in range(N):
        paths.append(tmp_path / "sci" / f"s{i}.fits")
        fits.writeto(paths[-1], data[i])
        vpaths.append(tmp_path / "var" / f"v{i}.fits")
        fits.writeto(vpaths[-1], var[i].astype(">f8"))  # another dtype than the image
    spec = {
        "list": [str(p) for p in vpaths],
        "glob": str(tmp_path / "var" / "v*.fits"),
        "at-list": "@" + str(tmp_path / "var.lis"),
    }[form]
    (tmp_path / "var.lis").write_text("\n".join(str(p) for p in vpaths))
    image, variance = _in_memory(data, var.astype(np.float64), method="median")
    res = _thin(paths, variance=spec, method="median")
    np.testing.assert_array_equal(res.data, image)
    np.testing.assert_array_equal(res.variance, variance)


def test_noise_model_of_raw_frames(tmp_path):
    rng = np.random.default_rng(6)
    raw = rng.poisson(800.0, (N, NY, NX)).astype(np.uint16)
    raw[2, 5, 5] = 60000
    paths = []
    for i in range(N):
        paths.append(tmp_path / f"r{i}.fits")
        fits.writeto(paths[-1], raw[i])
    given = _variance.variance_from_noise(raw, gain=1.6, rdnoise=5.0, snoise=0.01)
    image, variance = _in_memory(raw, given, method="mean", rejectors=imc.VarClip(sigma=4.0))
    res = _thin(
        paths, noise_model=(1.6, 5.0, 0.01), method="mean", rejectors=imc.VarClip(sigma=4.0)
    )
    np.testing.assert_array_equal(res.data, image)
    np.testing.assert_array_equal(res.variance, variance)
    assert any("noise model" in h for h in res.header["HISTORY"])


def test_the_variance_plane_counts_in_mem_limit(tmp_path):
    """Reading a variance plane beside the data costs memory: the same limit gives more bands."""
    data, var = _stack(7)
    paths = _write_mef(tmp_path, data, var)
    without = imc.combine_files(paths, method="mean", mem_limit=80_000, progress=False)
    with_var = imc.combine_files(
        paths, method="mean", variance="VAR", mem_limit=80_000, progress=False
    )
    assert without.bands >= 2
    assert with_var.bands > without.bands


def test_mef_output(tmp_path):
    data, var = _stack(8)
    data[:, 3, 4] = np.nan  # no sample survives there
    paths = _write_mef(tmp_path, data, var)
    out = tmp_path / "stack.fits"
    kwargs = {"method": "mean", "rejectors": imc.SigClip(sigma=2.0)}
    products = ["nrej", "ncombine", "rejmask", "sigma"]
    ref = _thin(paths, variance="VAR", **kwargs, products=products)
    image, variance = _in_memory(data, var, **kwargs)
    res = imc.combine_files(
        paths,
        out,
        variance="VAR",
        mef=True,
        products=products,
        mem_limit=150_000,
        progress=False,
        **kwargs,
    )
    assert res.bands > 1
    assert res.paths == {"output": out}
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [p.name for p in paths] + ["stack.fits"]
    )
    with fits.open(out) as hdul:
        hdul.verify("exception")
        names = [h.name for h in hdul]
        assert names == ["SCI", "VAR", "DQ", "NREJ", "NCOMBINE", "REJMASK", "SIGMA"]
        np.testing.assert_array_equal(hdul["SCI"].data, image)
        np.testing.assert_array_equal(hdul["VAR"].data, variance)
        dq = hdul["DQ"].data
        assert dq.dtype == np.uint8
        np.testing.assert_array_equal(dq, np.isnan(image).astype(np.uint8))
        assert dq[3, 4] == imc.files.DQ_NO_DATA
        for k in products:
            np.testing.assert_array_equal(hdul[k.upper()].data, ref.products[k])
            assert hdul[k.upper()].header["PRODUCT"] == k
        # A sample of unusable variance is neither combined nor rejected.
        usable = np.isfinite(data) & np.isfinite(var) & (var >= 0)
        rejected = hdul["REJMASK"].data.astype(bool)
        assert not (rejected & ~usable).any()
        np.testing.assert_array_equal(
            hdul["NCOMBINE"].data, np.count_nonzero(usable & ~rejected, axis=0)
        )
        head = hdul[0].header
        assert head["NCOMBINE"] == N
        assert head["IMCMB001"] == "f00.fits"
        assert head["OBJECT"] == "field"
        assert any("variance propagated" in h for h in head["HISTORY"])
    np.testing.assert_array_equal(res.data, image)
    np.testing.assert_array_equal(res.variance, variance)
    np.testing.assert_array_equal(res.dq, dq)


def test_mef_with_errors_writes_err(tmp_path):
    data, var = _stack(9)
    paths = _write_mef(tmp_path, data, var, ext="ERR")
    out = tmp_path / "stack.fits.gz"
    res = imc.combine_files(paths, out, error="ERR", mef=True, method="median", progress=False)
    err = np.stack([fits.getdata(p, "ERR") for p in paths])
    _, variance = _in_memory(data, _variance.variance_from_error(err), method="median")
    with fits.open(out) as hdul:
        assert [h.name for h in hdul] == ["SCI", "ERR", "DQ"]
        np.testing.assert_array_equal(hdul["ERR"].data, np.sqrt(variance))
    np.testing.assert_array_equal(res.error, np.sqrt(variance))


def test_mef_without_input_variance_has_sci_and_dq(tmp_path):
    data, var = _stack(10)
    paths = _write_mef(tmp_path, data, var)
    out = tmp_path / "o.fits"
    res = imc.combine_files(paths, out, mef=True, method="median", progress=False)
    with fits.open(out) as hdul:
        assert [h.name for h in hdul] == ["SCI", "DQ"]
        np.testing.assert_array_equal(hdul[0].data, imc.Combiner(data).combine("median"))
    assert res.variance is None
    assert res.error is None


def test_interrupt_leaves_no_mef(tmp_path):
    data, var = _stack(11)
    paths = _write_mef(tmp_path, data, var)
    before = sorted(tmp_path.iterdir())

    def stop(done, total):
        if done == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        imc.combine_files(
            paths,
            tmp_path / "o.fits",
            variance="VAR",
            mef=True,
            products=["nrej"],
            rejectors=imc.VarClip(),
            mem_limit=150_000,
            progress=stop,
        )
    assert sorted(tmp_path.iterdir()) == before  # nothing, not even a partial file


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"variance": "VAR", "error": "ERR"}, ValueError, "one source of input variance"),
        ({"variance": "VAR", "noise_model": (1, 2)}, ValueError, "one source"),
        ({"variance": "NOPE"}, ValueError, "variance: .* has no HDU 'NOPE'"),
        ({"variance": "f00.fits"}, ValueError, "names one file"),
        ({"variance": True}, TypeError, "variance must be an HDU"),
        ({"noise_model": (1.0,)}, ValueError, r"noise_model must be \(gain, rdnoise\)"),
        ({"noise_model": (0.0, 3.0)}, ValueError, "gain must be > 0"),
        ({"noise_model": (1.0, -3.0)}, ValueError, "rdnoise"),
        ({"noise_model": "ab"}, TypeError, "noise_model must be"),
        ({"mef": True}, ValueError, "give output= too"),
        ({"mef": "yes"}, TypeError, "mef must be True or False"),
        ({"error_out": 1}, TypeError, "error_out must be"),
        ({"weights": "ivar"}, ValueError, "weights='ivar' needs an input variance"),
        ({"weights": "ivar", "variance": "VAR", "method": "median"}, ValueError, "only by"),
        ({"rejectors": imc.VarClip()}, ValueError, "VarClip tests each sample"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, error, message):
    data, var = _stack(12)
    paths = _write_mef(tmp_path, data, var)
    if kwargs.get("variance") == "f00.fits":
        kwargs = {"variance": str(paths[0])}
    with pytest.raises(error, match=message):
        imc.combine_files(paths, progress=False, **kwargs)


def test_bad_plane_files(tmp_path):
    data, var = _stack(13)
    paths = _write_mef(tmp_path, data, var)
    small = tmp_path / "small.fits"
    fits.writeto(small, np.ones((3, 3), np.float32))
    with pytest.raises(ValueError, match="3 variance files for 6 images"):
        imc.combine_files(paths, variance=[small] * 3, progress=False)
    with pytest.raises(ValueError, match=r"variance: the variance plane .* is 3 x 3"):
        imc.combine_files(paths, variance=[small] * N, progress=False)
    with pytest.raises(ValueError, match="products by name"):
        imc.combine_files(
            paths, tmp_path / "o.fits", mef=True, products={"nrej": None}, progress=False
        )
    assert not (tmp_path / "o.fits").exists()


def test_a_variance_file_is_never_an_output(tmp_path):
    data, var = _stack(14)
    paths = _write_mef(tmp_path, data, var)
    vpaths = []
    for i in range(N):
        vpaths.append(tmp_path / f"v{i}.fits")
        fits.writeto(vpaths[-1], var[i])
    before = vpaths[2].read_bytes()
    with pytest.raises(ValueError, match="is one of the inputs"):
        imc.combine_files(paths, vpaths[2], variance=vpaths, overwrite=True, progress=False)
    assert vpaths[2].read_bytes() == before


_PROBE = """
import json, sys
import astropy.io.fits, numpy as np, tqdm
import imcombiners as imc

def status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024

mem_limit, output, *paths = sys.argv[1:]
x = np.zeros((3, 4, 4), dtype=np.float32)
imc.Combiner(x, variance=np.ones(3)).combine("mean", rejectors=imc.VarClip())  # warm up
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # VmHWM back to the current RSS
baseline = status("VmRSS")
res = imc.combine_files(paths, output, variance="VAR", mef=True, mem_limit=mem_limit,
                        method="mean", rejectors=imc.VarClip(sigma=3.0), progress=False)
print(json.dumps({"baseline": baseline, "peak": status("VmHWM"), "bands": res.bands}))
"""


@pytest.mark.slow
def test_peak_memory_with_variance_planes_within_the_limit(tmp_path):
    """20 float32 frames of 1024 x 1024 with a VAR extension each (168 MB on disk) combined
    in 32 MB: the planes are read band by band and counted in mem_limit."""
    import json
    import subprocess
    import sys

    rng = np.random.default_rng(50)
    paths = []
    for i in range(20):
        x = (1000.0 + rng.normal(0.0, 5.0 + i, (1024, 1024))).astype(np.float32)
        v = np.full(x.shape, (5.0 + i) ** 2, dtype=np.float32)
        p = tmp_path / f"f{i:02d}.fits"
        fits.HDUList([fits.PrimaryHDU(x), fits.ImageHDU(v, name="VAR")]).writeto(p)
        paths.append(str(p))
    assert sum(Path(p).stat().st_size for p in paths) > 160 * 10**6
    out = tmp_path / "out.fits"
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, "32MB", str(out), *paths],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    extra = report["peak"] - report["baseline"]
    assert report["bands"] > 8
    assert extra < 32 * 10**6, f"peak RSS {extra / 1e6:.1f} MB above the baseline"
    with fits.open(out) as hdul:
        assert [h.name for h in hdul] == ["SCI", "VAR", "DQ"]
