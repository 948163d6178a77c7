"""combine_files: FITS stacks in bands equal the in-memory Combiner, products, headers, errors."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np
import pytest

import imcombiners as imc
from imcombiners.io import parse_mem_limit, resolve_paths

fits = pytest.importorskip("astropy.io.fits")

N, NY, NX = 7, 53, 41


def _frames(dtype: str, seed: int = 0, n: int = N, shape=(NY, NX)) -> np.ndarray:
    """Noisy frames at different levels with cosmic rays; NaNs for float types."""
    rng = np.random.default_rng(seed)
    levels = np.linspace(900.0, 1200.0, n)[:, None, None]
    data = rng.normal(0.0, 8.0, (n, *shape)) + levels
    hits = rng.random(data.shape) < 0.01
    data[hits] += rng.uniform(300, 3000, hits.sum())
    if np.dtype(dtype).kind == "f":
        data[rng.random(data.shape) < 0.003] = np.nan
        return data.astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(np.rint(data), info.min, info.max).astype(dtype)


def _write(folder: Path, stack: np.ndarray, prefix: str = "f", **cards) -> list[Path]:
    paths = []
    for i, frame in enumerate(stack):
        hdr = fits.Header()
        hdr["EXPTIME"] = 10.0 + i
        hdr["OBJECT"] = "bias"
        hdr["LEVEL"] = float(np.nanmedian(frame))
        for k, v in cards.items():
            hdr[k] = v
        p = folder / f"{prefix}{i:02d}.fits"
        fits.writeto(p, frame, hdr)
        paths.append(p)
    return paths


def _digest(paths: list[Path]) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


def _smallest_limit(paths, **kwargs):
    """The smallest mem_limit (within 25 %) that holds one row of the stack."""
    limit = 10_000
    while True:
        try:
            imc.combine_files(paths, mem_limit=limit, progress=False, **kwargs)
            return limit
        except ValueError as exc:
            if "too small for one row" not in str(exc):
                raise
            limit = int(limit * 1.25)


def _smallest_budget(paths, **kwargs):
    """combine_files in bands of one or a few rows."""
    limit = _smallest_limit(paths, **kwargs)
    return imc.combine_files(paths, mem_limit=limit, progress=False, **kwargs)


CASES = {
    "median": {"method": "median"},
    "mean-sigclip": {"method": "mean", "rejectors": imc.SigClip(sigma=2.5)},
    "scale-median-sigclip": {
        "method": "mean",
        "scale": "median",
        "rejectors": imc.SigClip(sigma=(3.0, 2.0), cenfunc="mean"),
    },
    "zero-mode-minmax-grow": {
        "method": "median",
        "zero": "mode",
        "rejectors": [imc.MinMaxClip(n_min=1, n_max=1)],
        "grow": 1.5,
    },
    "weights-thresholds": {"method": "mean", "weights": "median", "thresholds": (0.0, 2000.0)},
    "ccdclip-sum": {"method": "sum", "rejectors": imc.CcdClip(gain=1.5, rdnoise=8.0)},
    "callable-scale": {"method": "lmedian", "scale": np.mean},
}


@pytest.mark.parametrize("dtype", ["uint16", "int16", "float32", "float64", "int32"])
@pytest.mark.parametrize("case", list(CASES))
def test_bands_equal_the_in_memory_combiner(tmp_path, dtype, case):
    stack = _frames(dtype, seed=len(case))
    paths = _write(tmp_path, stack)
    before = _digest(paths)
    kwargs = CASES[case]
    expected = imc.Combiner(stack).combine(**kwargs)
    one = imc.combine_files(paths, mem_limit="1GB", progress=False, **kwargs)
    thin = _smallest_budget(paths, **kwargs)  # bands of one or a few rows
    assert one.bands == 1
    assert thin.bands >= 8
    for res in (one, thin):
        np.testing.assert_array_equal(res.data, expected, strict=True)
    assert _digest(paths) == before  # inputs are only read


def test_sections_of_scaled_compressed_and_gzipped_files(tmp_path):
    """Files that need astropy's section access give what astropy's full read gives."""
    stack = _frames("int16", seed=5)
    scaled, compressed, gzipped = [], [], []
    for i, frame in enumerate(stack):
        hdu = fits.PrimaryHDU(frame)
        hdu.header["BSCALE"] = 0.5
        hdu.header["BZERO"] = 100.0
        p = tmp_path / f"s{i}.fits"
        hdu.writeto(p)
        scaled.append(p)
        p = tmp_path / f"c{i}.fits"
        fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(frame.astype(np.float32))]).writeto(p)
        compressed.append(p)
        p = tmp_path / f"g{i}.fits.gz"
        fits.writeto(p, frame)
        gzipped.append(p)
    rule = imc.SigClip(sigma=3.0)
    for paths, hdu in ((scaled, 0), (compressed, 1), (gzipped, 0)):
        ref = np.stack([fits.getdata(p, ext=hdu) for p in paths])
        if paths is scaled:
            assert ref.dtype.kind == "f"  # the scaled values, not the stored integers
        expected = imc.Combiner(ref).combine("median", rejectors=rule)
        res = imc.combine_files(
            paths, hdu=hdu, mem_limit="2MB", rejectors=rule, progress=False, method="median"
        )
        np.testing.assert_array_equal(res.data, expected)


def test_unsigned_16_bit_reads_as_astropy_reads(tmp_path):
    stack = _frames("uint16", seed=2)
    stack[0, 0, 0], stack[1, 0, 0] = 0, 65535
    paths = _write(tmp_path, stack)
    assert fits.getheader(paths[0])["BZERO"] == 32768
    res = imc.combine_files(paths, method="max", progress=False)
    np.testing.assert_array_equal(res.data, stack.max(axis=0).astype(np.float32))


def test_extension_by_name_and_masks_from_dq_extension_or_files(tmp_path, monkeypatch):
    stack = _frames("float32", seed=3)
    rng = np.random.default_rng(9)
    bad = rng.random(stack.shape) < 0.05
    paths, mask_paths = [], []
    for i in range(N):
        p = tmp_path / f"e{i}.fits"
        fits.HDUList(
            [
                fits.PrimaryHDU(),
                fits.ImageHDU(stack[i], name="SCI"),
                fits.ImageHDU(bad[i].astype(np.uint8) * 4, name="DQ"),
            ]
        ).writeto(p)
        paths.append(p)
        m = tmp_path / f"m{i}.fits"
        fits.writeto(m, bad[i].astype(np.int16))
        mask_paths.append(m)
    (tmp_path / "masks.txt").write_text("\n".join(m.name for m in mask_paths) + "\n")
    expected = imc.Combiner(stack, mask=bad).combine("mean", rejectors=imc.SigClip())
    for masks in ("DQ", 2, mask_paths, f"@{tmp_path / 'masks.txt'}"):
        res = imc.combine_files(
            paths,
            hdu="SCI",
            masks=masks,
            method="mean",
            rejectors=imc.SigClip(),
            mem_limit="1MB",
            progress=False,
        )
        np.testing.assert_array_equal(res.data, expected)
    # Each file is opened once, its DQ extension included.
    opened = []
    real_open = fits.open

    def counting_open(name, *args, **kwargs):
        opened.append(Path(name).name)
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(fits, "open", counting_open)
    imc.combine_files(paths, hdu="SCI", masks="DQ", mem_limit="1MB", progress=False)
    monkeypatch.undo()
    assert sorted(opened) == sorted(p.name for p in paths)
    # Without the masks the answer differs: the masks were really used.
    plain = imc.combine_files(paths, hdu="SCI", method="mean", progress=False)
    assert not np.array_equal(plain.data, expected, equal_nan=True)


@pytest.mark.filterwarnings("ignore:Degrees of freedom")
def test_products_in_memory_and_on_disk_match_references(tmp_path):
    stack = _frames("float32", seed=4)
    paths = _write(tmp_path, stack)
    rule = imc.SigClip(sigma=2.0, maxiters=3)
    cmb = imc.Combiner(stack)
    expected = cmb.combine("median", rejectors=rule, grow=1.0, diagnostics="simple")
    rej = cmb.mask_rej
    assert rej.sum() > 20  # the rule and grow really rejected samples
    names = ("sigma", "variance", "nrej", "ncombine", "low", "high", "rejmask")
    mem = _smallest_budget(paths, rejectors=rule, grow=1.0, products=names)
    assert mem.bands > 3
    np.testing.assert_array_equal(mem.data, expected)
    p = mem.products
    np.testing.assert_array_equal(p["rejmask"], rej.astype(np.uint8))
    np.testing.assert_array_equal(p["nrej"], rej.sum(axis=0))
    np.testing.assert_array_equal(p["ncombine"], (np.isfinite(stack) & ~rej).sum(axis=0))
    with np.errstate(invalid="ignore"):
        vals = np.where(np.isfinite(stack) & ~rej, stack.astype(np.float64), np.nan)
        var = np.nanvar(vals, axis=0, ddof=1)
    np.testing.assert_allclose(p["variance"], var, rtol=2e-6, atol=1e-6)
    np.testing.assert_allclose(p["sigma"], np.sqrt(var), rtol=2e-6, atol=1e-6)
    below = rej & (stack < expected[None])
    np.testing.assert_array_equal(p["low"], below.sum(axis=0))
    np.testing.assert_array_equal(p["high"], (rej & ~below).sum(axis=0))
    np.testing.assert_array_equal(p["low"] + p["high"], p["nrej"])

    out = tmp_path / "master.fits"
    disk = imc.combine_files(
        paths, out, rejectors=rule, grow=1.0, products=names, mem_limit=200_000, progress=False
    )
    assert disk.bands > 3
    assert disk.products == {}
    assert set(disk.paths) == {"output", *names}
    np.testing.assert_array_equal(fits.getdata(out), expected)
    for name in names:
        assert disk.paths[name] == tmp_path / f"master_{name}.fits"
        on_disk = fits.getdata(disk.paths[name])
        np.testing.assert_array_equal(on_disk, p[name])
        assert fits.getheader(disk.paths[name])["PRODUCT"] == name
    # Explicit destinations.
    dest = {"nrej": tmp_path / "n.fits", "sigma": None}
    res = imc.combine_files(paths, rejectors=rule, grow=1.0, products=dest, progress=False)
    np.testing.assert_array_equal(fits.getdata(tmp_path / "n.fits"), p["nrej"])
    np.testing.assert_array_equal(res.products["sigma"], p["sigma"])


def test_frame_table_statistics_and_rejected_fractions(tmp_path):
    stack = _frames("float32", seed=6, shape=(400, 300))  # step 2 grid: 200 x 150 samples
    paths = _write(tmp_path, stack)
    rule = imc.SigClip(sigma=2.5)
    cmb = imc.Combiner(stack)
    cmb.combine("mean", rejectors=rule, diagnostics="simple")
    for scale in (None, "median"):
        limit = _smallest_limit(paths, method="mean", rejectors=rule, scale=scale)
        res = imc.combine_files(
            paths, method="mean", rejectors=rule, scale=scale, mem_limit=limit, progress=False
        )
        assert res.bands > 3
        assert [f.path for f in res.frames] == [str(p) for p in paths]
        grid = stack[:, ::2, ::2]
        medians = np.nanmedian(grid.reshape(N, -1), axis=1)
        np.testing.assert_allclose([f.median for f in res.frames], medians, rtol=1e-6)
        usable = np.isfinite(stack).reshape(N, -1).sum(axis=1)
        if scale is None:
            rejected = cmb.mask_rej.reshape(N, -1).sum(axis=1)
            np.testing.assert_allclose([f.rejected_fraction for f in res.frames], rejected / usable)
            assert all(f.scale == 1.0 and f.zero == 0.0 for f in res.frames)
        else:
            np.testing.assert_allclose(
                [f.scale for f in res.frames], medians / medians[0], rtol=1e-6
            )
        assert all(0 < f.rejected_fraction < 0.1 for f in res.frames)


def test_header_keywords_from_files(tmp_path):
    stack = _frames("float32", seed=7)
    paths = _write(tmp_path, stack, GAINK=2.0)
    levels = np.array([fits.getheader(p)["LEVEL"] for p in paths])
    a = imc.combine_files(paths, method="mean", scale="!LEVEL", zero="!EXPTIME", progress=False)
    b = imc.Combiner(stack).combine("mean", scale=levels, zero=10.0 + np.arange(N))
    np.testing.assert_array_equal(a.data, b)
    w = imc.combine_files(paths, method="mean", weights="!level", progress=False)
    np.testing.assert_array_equal(w.data, imc.Combiner(stack).combine("mean", weights=levels))
    with pytest.raises(ValueError, match="no keyword NOPE"):
        imc.combine_files(paths, scale="!NOPE", progress=False)
    with pytest.raises(ValueError, match="not a number"):
        imc.combine_files(paths, scale="!OBJECT", progress=False)


def test_output_header_provenance(tmp_path):
    stack = _frames("uint16", seed=8)
    paths = []
    for i, frame in enumerate(stack):
        hdr = fits.Header()
        hdr["OBJECT"] = "flat"
        hdr["EXPTIME"] = 2.0 * (i + 1)
        for k, v in {"CTYPE1": "RA---TAN", "CTYPE2": "DEC--TAN", "CRPIX1": 10.0}.items():
            hdr[k] = v
        hdr["CD1_1"], hdr["CD2_2"] = -1e-4, 1e-4
        hdr["PC1_1"], hdr["PC2_2"], hdr["CDELT1"] = 1.0, 1.0, -1e-4
        hdr["IMCMB001"] = "stale.fits"
        p = tmp_path / f"w{i}.fits"
        fits.writeto(p, frame, hdr)
        paths.append(p)
    out = tmp_path / "out.fits"
    res = imc.combine_files(paths, out, method="mean", rejectors=imc.SigClip(), progress=False)
    h = fits.getheader(out)
    assert h["BITPIX"] == -32
    assert "BZERO" not in h
    assert h["OBJECT"] == "flat"
    assert h["NCOMBINE"] == N
    assert [h[f"IMCMB{i:03d}"] for i in range(1, N + 1)] == [p.name for p in paths]
    assert h["EXPTIME"] == pytest.approx(np.mean(2.0 * np.arange(1, N + 1)))
    assert "CD1_1" in h
    assert "PC1_1" not in h
    assert "CDELT1" not in h
    history = "\n".join(str(c) for c in h["HISTORY"])
    assert f"imcombiners {imc.__version__}: mean of {N} images" in history
    assert "SigClip(sigma=(3.0, 3.0)" in history
    assert res.header.tostring(padding=False, endcard=False) in h.tostring()  # as returned
    total = imc.combine_files(paths, method="sum", progress=False).header["EXPTIME"]
    assert total == pytest.approx(2.0 * N * (N + 1) / 2)
    scaled = imc.combine_files(paths, method="mean", scale="mean", progress=False).header
    assert sum("scale" in str(c) for c in scaled["HISTORY"]) == N


def test_inputs_as_glob_list_file_and_paths(tmp_path):
    stack = _frames("float32", seed=10)
    paths = _write(tmp_path, stack)
    (tmp_path / "list.txt").write_text("# the frames\n" + "\n".join(p.name for p in paths) + "\n\n")
    expected = imc.Combiner(stack).combine("median")
    for inputs in (
        str(tmp_path / "f*.fits"),
        f"@{tmp_path / 'list.txt'}",
        paths,
        [str(p) for p in paths],
    ):
        np.testing.assert_array_equal(imc.combine_files(inputs, progress=False).data, expected)
    assert resolve_paths(str(tmp_path / "f*.fits")) == sorted(paths)


def test_progress_callable_bar_and_logging(tmp_path, capsys, caplog):
    stack = _frames("float32", seed=11)
    paths = _write(tmp_path, stack)
    calls = []
    limit = _smallest_limit(paths)
    res = imc.combine_files(paths, mem_limit=limit, progress=lambda d, t: calls.append((d, t)))
    assert res.bands > 3
    assert calls == [(k, res.bands) for k in range(1, res.bands + 1)]
    with caplog.at_level(logging.INFO, logger="imcombiners"):
        imc.combine_files(paths, mem_limit=limit, progress=True)
    err = capsys.readouterr().err
    assert "imcombine" in err
    assert "band" in err
    text = caplog.text
    assert f"combining {N} frames of {NX} x {NY} float32" in text
    assert all(p.name in text for p in paths)
    with pytest.raises(TypeError, match="progress"):
        imc.combine_files(paths, progress="yes")


def test_interrupt_leaves_no_output(tmp_path):
    stack = _frames("float32", seed=12)
    paths = _write(tmp_path, stack)
    out = tmp_path / "out.fits"

    def stop(done, total):
        if done == 2:
            raise KeyboardInterrupt

    limit = _smallest_limit(paths, rejectors=imc.SigClip(), products=("sigma", "rejmask"))
    before = sorted(tmp_path.iterdir())
    with pytest.raises(KeyboardInterrupt):
        imc.combine_files(
            paths,
            out,
            mem_limit=limit,
            progress=stop,
            rejectors=imc.SigClip(),
            products=("sigma", "rejmask"),
        )
    assert sorted(tmp_path.iterdir()) == before  # no output, no products, no partial files


def test_overwrite(tmp_path):
    stack = _frames("float32", seed=13)
    paths = _write(tmp_path, stack)
    out = tmp_path / "out.fits"
    out.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        imc.combine_files(paths, out, progress=False)
    assert out.read_bytes() == b"keep me"
    imc.combine_files(paths, out, progress=False, overwrite=True)
    np.testing.assert_array_equal(fits.getdata(out), imc.Combiner(stack).combine("median"))


def test_bad_input_messages(tmp_path):
    stack = _frames("float32", seed=14)
    paths = _write(tmp_path, stack)
    with pytest.raises(FileNotFoundError, match=r"missing\.fits"):
        imc.combine_files([*paths, tmp_path / "missing.fits"], progress=False)
    with pytest.raises(FileNotFoundError, match="matches no file"):
        imc.combine_files(str(tmp_path / "nothing*.fits"), progress=False)
    with pytest.raises(FileNotFoundError, match="list file"):
        imc.combine_files("@" + str(tmp_path / "none.txt"), progress=False)
    other = tmp_path / "other.fits"
    fits.writeto(other, np.zeros((NY, NX + 1), dtype=np.float32))
    with pytest.raises(ValueError, match="differ in shape"):
        imc.combine_files([*paths, other], progress=False)
    ints = tmp_path / "ints.fits"
    fits.writeto(ints, np.zeros((NY, NX), dtype=np.int16))
    with pytest.raises(ValueError, match="differ in type"):
        imc.combine_files([*paths, ints], progress=False)
    with pytest.raises(ValueError, match="has no HDU 'SCI'"):
        imc.combine_files(paths, hdu="SCI", progress=False)
    with pytest.raises(ValueError, match="too small for one row"):
        imc.combine_files(paths, mem_limit="10kB", progress=False)
    with pytest.raises(ValueError, match="one of the inputs"):
        imc.combine_files(paths, paths[0], overwrite=True, progress=False)
    with pytest.raises(ValueError, match="unknown product 'noise'"):
        imc.combine_files(paths, products=("noise",), progress=False)
    with pytest.raises(ValueError, match="mem_limit"):
        imc.combine_files(paths, mem_limit="lots", progress=False)
    with pytest.raises(ValueError, match=r"unknown|method"):
        imc.combine_files(paths, method="mode", progress=False)
    bad64 = tmp_path / "i64.fits"
    fits.writeto(bad64, np.zeros((NY, NX), dtype=np.int64))
    with pytest.raises(TypeError, match="int64"):
        imc.combine_files([bad64], progress=False)
    text = tmp_path / "notfits.fits"
    text.write_text("hello")
    with pytest.raises((ValueError, OSError)):
        imc.combine_files([text], progress=False)
    masks = [tmp_path / "m.fits"]
    fits.writeto(masks[0], np.zeros((3, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="one per image"):
        imc.combine_files(paths, masks=masks, progress=False)
    with pytest.raises(ValueError, match="mask"):
        imc.combine_files(paths[:1], masks=masks, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir() if "partial" in p.name) == []


@pytest.mark.parametrize(
    ("text", "size"),
    [("64MB", 64 * 10**6), ("1.5GiB", int(1.5 * 2**30)), ("512M", 512 * 2**20), (4096, 4096)],
)
def test_mem_limit_units(text, size):
    assert parse_mem_limit(text) == size


def test_band_count_follows_the_budget(tmp_path):
    stack = _frames("uint16", seed=15, n=4, shape=(300, 200))
    paths = _write(tmp_path, stack)
    limit = _smallest_limit(paths)
    counts = [
        imc.combine_files(paths, mem_limit=m, progress=False).bands
        for m in (limit, 2 * limit, 4 * limit, "100MB")
    ]
    assert counts == sorted(counts, reverse=True)
    assert counts[0] > 2 * counts[2]
    assert counts[-1] == 1
