"""Rebuild the seed tutorials' stacks and print their numbers with the reference oracles only.

A plain script, not a test (run ``python tests/seed_check_reference.py``): it uses nothing
but ``tests/reference.py`` (rejection and combine oracles) and NumPy, so it checks the
rejection semantics written in ``docs/rejection-semantics.md`` before the Rust kernels
exist. Each check prints "ok" with the oracle's line, or "MISMATCH" with the seed's and the
oracle's lines. The exit status is the number of mismatches.

Conventions of the tutorials reproduced here:

* the combine after a rejection is a median over the samples not rejected (NaN where none
  is left), rounded to float32 like the package's float32 output;
* a chain of rejectors passes the union of the previous masks as ``mask`` to the next one
  (the second rejector sees only the survivors of the first);
* ``--no-bench`` skips the 31 x 256 x 256 grow table of the rejection tutorial (the slowest
  part, a few seconds).

``--astropy`` adds a peer comparison that is not a seed number: ``reference.sigclip`` against
``astropy.stats.sigma_clip(..., axis=0)`` on random stacks (see
``docs/rejection-semantics.md``, "Agreement with astropy").
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference as ref

MISMATCHES = []


def check(label, want, got):
    """Print one tutorial line and compare it with the oracle's rendering."""
    status = "ok" if want == got else "MISMATCH"
    if status != "ok":
        MISMATCHES.append(label)
    print(f"[{status:8s}] {label}")
    if want == got:
        print(f"    {got}")
    else:
        print(f"    seed:   {want}\n    oracle: {got}")


def assert_contract(result, stack, *, has_std, retained_bounds):
    """The 6-tuple shapes and meanings on a stack without masked or non-finite samples."""
    mask_rej, std, low, upp, nit, output_flags = result
    assert mask_rej.shape == stack.shape
    assert mask_rej.dtype == bool
    assert (std is not None) == has_std
    if retained_bounds:  # lowest/highest retained values: "values equal to a bound are kept"
        kept = np.where(mask_rej, np.nan, stack.astype(np.float64))
        np.testing.assert_array_equal(low, np.nanmin(kept, axis=0))
        np.testing.assert_array_equal(upp, np.nanmax(kept, axis=0))
    else:  # the final bounds of LinearClip: every kept sample lies inside them
        x = stack.astype(np.float64)
        assert ((x >= low) & (x <= upp) | mask_rej).all()
    assert nit.shape == output_flags.shape == stack.shape[1:]
    assert (nit >= 1).all()
    assert not (output_flags & ref.OUTPUT_MASKED).any()


def median_of_survivors(stack, rejected):
    """The tutorials' ``combine("median")`` after rejection, as float32."""
    return ref.median(stack, mask=rejected).astype(np.float32)


# ------------------------------------------------------------------ 01 quickstart


def quickstart():
    print("== 01 Quickstart ==")
    rng = np.random.default_rng(20250311)
    n_frames, ny, nx = 15, 64, 64
    stack = rng.normal(loc=1000.0, scale=10.0, size=(n_frames, ny, nx)).astype("float32")
    stack[3, 20, 30] = 1.0e4
    stack[8, 45, 12] = 8.0e3

    # SigClip(sigma=3.0, maxiters=5): defaults for everything else.
    result = ref.sigclip(stack, sigma_lower=3.0, sigma_upper=3.0, maxiters=5)
    assert_contract(result, stack, has_std=True, retained_bounds=True)
    mask_rej = result[0]
    explicit = ref.sigclip(stack, sigma_lower=3.0, sigma_upper=3.0, maxiters=5, ddof=0)
    assert np.array_equal(explicit[0], mask_rej), "ddof=0 must be the default"
    check(
        "Rejected {} samples out of {}",
        "Rejected 60 samples out of 61440",
        f"Rejected {mask_rej.sum()} samples out of {mask_rej.size}",
    )
    n_used = np.sum(np.isfinite(stack) & ~mask_rej, axis=0)
    check(
        "Samples used at the CR pixel",
        "Samples used at the CR pixel: 14 / 15",
        f"Samples used at the CR pixel: {n_used[20, 30]} / {n_frames}",
    )
    check("Latest rejection mask shape", "(15, 64, 64)", str(mask_rej.shape))


# ---------------------------------------------------------- 05 rejection methods


def tutorial_stack():
    rng = np.random.default_rng(20250311)
    n, ny, nx = 25, 8, 8
    stack = rng.normal(100.0, 5.0, (n, ny, nx)).astype("float32")
    stack[3, 2, 2] = 500.0
    stack[7, 5, 4] = 480.0
    stack[14, 0, 6] = -200.0
    stack[0] += 40.0
    return stack


def grow_toy():
    toy = np.ones((10, 5, 5), dtype="float32")
    toy[0, 2, 2] = 100.0
    result = ref.sigclip(toy, sigma_lower=3.0, sigma_upper=3.0, maxiters=5, ddof=0, nkeep=0)
    (mask_rej, *_, output_flags), _ = ref.grow(result, 1, stack=toy)
    check(
        "grow=1 cross pattern (mask_rej[0])",
        "[[0 0 0 0 0]\n [0 0 1 0 0]\n [0 1 1 1 0]\n [0 0 1 0 0]\n [0 0 0 0 0]]",
        str(mask_rej[0].astype(int)),
    )
    check(
        "grow-added output flags",
        "grow-added output flags: 4",
        f"grow-added output flags: {np.count_nonzero(output_flags & ref.OUTPUT_GROW)}",
    )


def grow_bench_counts():
    bench_rng = np.random.default_rng(20250311)
    bench = bench_rng.normal(1000.0, 20.0, (31, 256, 256)).astype("float32")
    bench[0, ::32, ::32] += 800.0
    bench[1, 16::32, 16::32] -= 600.0
    base = ref.sigclip(bench, sigma_lower=3.0, sigma_upper=3.0, maxiters=5, ddof=0, nkeep=0)
    want = {"None": 3898, "1": 19350, "sqrt(2)": 34618, "2": 49804}
    got = {"None": int(base[0].sum())}
    for label, radius in (("1", 1), ("sqrt(2)", np.sqrt(2)), ("2", 2)):
        (grown_mask, *_), _ = ref.grow(base, radius, stack=bench)
        got[label] = int(grown_mask.sum())
    for label in want:
        check(
            f"grow table: sigclip median, grow={label}, rejected samples",
            str(want[label]),
            str(got[label]),
        )


def rejection_methods(with_bench=True):
    print("== 05 Rejection Methods ==")
    stack = tutorial_stack()
    true_val = 100.0

    # Production: SigClip(sigma=(3, 3), maxiters=5, cenfunc="median") + median.
    sc = ref.sigclip(stack, sigma_lower=3.0, sigma_upper=3.0, maxiters=5, cenfunc="median")
    assert_contract(sc, stack, has_std=True, retained_bounds=True)
    mask_sc, nit_sc = sc[0], sc[4]
    out_sc = median_of_survivors(stack, mask_sc)
    check(
        "Production output shape",
        "Production output shape: (8, 8)",
        f"Production output shape: {out_sc.shape}",
    )
    check(
        "SigClip rejected / max iters",
        "SigClip   - rejected   70 pixels, max iters used: 3",
        f"SigClip   - rejected {mask_sc.sum():4d} pixels, max iters used: {nit_sc.max()}",
    )
    unique_iters, counts = np.unique(nit_sc, return_counts=True)
    check(
        "SigClip nit histogram",
        "  nit=2: 58 pixels\n  nit=3: 6 pixels",
        "\n".join(f"  nit={k}: {v} pixels" for k, v in zip(unique_iters, counts, strict=True)),
    )

    grow_toy()
    if with_bench:
        grow_bench_counts()

    # CcdClip(sigma=(3, 3), gain=1.0, rdnoise=5.0, maxiters=5).
    cc = ref.ccdclip(stack, sigma_lower=3.0, sigma_upper=3.0, gain=1.0, rdnoise=5.0, maxiters=5)
    assert_contract(cc, stack, has_std=True, retained_bounds=True)
    mask_cc, nit_cc = cc[0], cc[4]
    out_cc = median_of_survivors(stack, mask_cc)
    check(
        "CcdClip rejected / max iters",
        "CcdClip   - rejected   62 pixels, max iters used: 2",
        f"CcdClip   - rejected {mask_cc.sum():4d} pixels, max iters used: {nit_cc.max()}",
    )

    normalized = np.ones((20, 1, 1), dtype="float32")
    normalized[0, 0, 0] = 1.12
    no_ref = ref.ccdclip(normalized, sigma_lower=3.0, sigma_upper=3.0, rdnoise=0.005, maxiters=5)
    with_ref = ref.ccdclip(
        normalized,
        sigma_lower=3.0,
        sigma_upper=3.0,
        rdnoise=0.005,
        scale_ref=1 / 1000,
        maxiters=5,
    )
    check(
        "CcdClip without scale_ref",
        "Without scale_ref: 0 pixels rejected",
        f"Without scale_ref: {no_ref[0].sum()} pixels rejected",
    )
    check(
        "CcdClip with scale_ref",
        "With    scale_ref: 1 pixels rejected",
        f"With    scale_ref: {with_ref[0].sum()} pixels rejected",
    )

    # MinMaxClip(n_min=1, n_max=1) and the fractional form.
    mm = ref.minmax(stack, n_min=1, n_max=1)
    assert_contract(mm, stack, has_std=False, retained_bounds=True)
    mask_mm = mm[0]
    out_mm = median_of_survivors(stack, mask_mm)
    check(
        "MinMaxClip rejected",
        "MinMaxClip - rejected  128 pixels",
        f"MinMaxClip - rejected {mask_mm.sum():4d} pixels",
    )
    assert ref.minmax_count(0.08, 25) == int(25 * 0.08 + 0.001) == 2
    mm_frac = ref.minmax(stack, n_min=0, n_max=0.08)
    check(
        "Fractional MinMaxClip",
        "Fractional MinMaxClip rejected 128 pixels",
        f"Fractional MinMaxClip rejected {mm_frac[0].sum()} pixels",
    )

    # LinearClip(low_scale=1, low=25, upp_scale=1, upp=25, maxiters=2).
    lin = ref.linearclip(stack, low_scale=1.0, low=25.0, upp_scale=1.0, upp=25.0, maxiters=2)
    assert_contract(lin, stack, has_std=False, retained_bounds=False)
    mask_lin = lin[0]
    out_lin = median_of_survivors(stack, mask_lin)
    check(
        "LinearClip rejected",
        "LinearClip - rejected   67 pixels",
        f"LinearClip - rejected {mask_lin.sum():4d} pixels",
    )

    # PClip(frac=-0.5, sigma=(3, 3)).
    pc = ref.pclip(stack, frac=-0.5, sigma_lower=3.0, sigma_upper=3.0)
    assert_contract(pc, stack, has_std=False, retained_bounds=True)
    mask_pc = pc[0]
    out_pc = median_of_survivors(stack, mask_pc)
    check(
        "PClip rejected",
        "PClip     - rejected  246 pixels",
        f"PClip     - rejected {mask_pc.sum():4d} pixels",
    )

    # 7. Compare Outputs.
    out_raw = ref.median(stack).astype(np.float32)
    want = (
        "True value:        100.0\n"
        "No rejection:      mean=100.06, std=1.32\n"
        "SigClip  (3):      mean=99.80, std=1.30\n"
        "CcdClip  (3):      mean=99.82, std=1.30\n"
        "LinearClip:        mean=99.81, std=1.30\n"
        "MinMaxClip (1,1):  mean=100.06, std=1.32\n"
        "PClip (-0.5):       mean=99.81, std=1.44"
    )
    got = "\n".join(
        (
            f"True value:        {true_val:.1f}",
            f"No rejection:      mean={out_raw.mean():.2f}, std={out_raw.std():.2f}",
            f"SigClip  (3):      mean={out_sc.mean():.2f}, std={out_sc.std():.2f}",
            f"CcdClip  (3):      mean={out_cc.mean():.2f}, std={out_cc.std():.2f}",
            f"LinearClip:        mean={out_lin.mean():.2f}, std={out_lin.std():.2f}",
            f"MinMaxClip (1,1):  mean={out_mm.mean():.2f}, std={out_mm.std():.2f}",
            f"PClip (-0.5):       mean={out_pc.mean():.2f}, std={out_pc.std():.2f}",
        )
    )
    check("Compare Outputs", want, got)

    # 8. Chain: MinMaxClip(1, 1) then SigClip(sigma=3.0, maxiters=5) on its survivors.
    first = ref.minmax(stack, n_min=1, n_max=1)[0]
    second = ref.sigclip(stack, mask=first, sigma_lower=3.0, sigma_upper=3.0, maxiters=5)[0]
    assert not (first & second).any()
    out_combo = median_of_survivors(stack, first | second)
    check(
        "MinMaxClip + SigClip",
        "MinMaxClip + SigClip: mean=100.03",
        f"MinMaxClip + SigClip: mean={out_combo.mean():.2f}",
    )

    # 9. Variance of the SigClip survivors, ddof=1.
    var, mean = ref.variance(stack, ddof=1, return_mean=True, mask=mask_sc)
    var, mean = var.astype(np.float32), mean.astype(np.float32)
    err = np.sqrt(var)
    check(
        "Variance maps",
        "mean=99.91, variance mean=24.41, error mean=4.89",
        f"mean={np.nanmean(mean):.2f}, "
        f"variance mean={np.nanmean(var):.2f}, "
        f"error mean={np.nanmean(err):.2f}",
    )

    # 10. lmedian - median on the first 10 frames.
    even_stack = stack[:10]
    out_med = ref.median(even_stack).astype(np.float32)
    out_lmed = ref.lmedian(even_stack).astype(np.float32)
    diff = out_lmed - out_med
    check(
        "lmedian - median",
        "lmedian - median: min=-2.2517, max=-0.0008",
        f"lmedian - median: min={diff.min():.4f}, max={diff.max():.4f}",
    )
    assert (diff <= 0).all()

    # 11. Direct kernel: same mask, same median.
    direct = ref.sigclip(stack, sigma_lower=3.0, sigma_upper=3.0, maxiters=5, cenfunc="median")
    arr_eff = stack.copy()
    arr_eff[direct[0]] = np.nan
    np.testing.assert_allclose(ref.median(arr_eff).astype(np.float32), out_sc)


# ------------------------------------------------- peer: astropy.stats.sigma_clip


def _rms_about_median(d, axis=None):
    c = np.nanmedian(d, axis=axis, keepdims=True)
    return np.sqrt(np.nanmean((d - c) ** 2, axis=axis))


def _mad_about_median(d, axis=None):
    c = np.nanmedian(d, axis=axis, keepdims=True)
    return ref.MAD_FACTOR * np.nanmedian(np.abs(d - c), axis=axis)


def astropy_comparison():
    """Count samples whose rejection differs from astropy's sigma_clip, per configuration."""
    import warnings

    from astropy.stats import sigma_clip

    print("== astropy.stats.sigma_clip(axis=0) vs reference.sigclip(ddof=0, nkeep=0) ==")
    configs = (
        ("mean", "std", "mean", "std"),
        ("mean", "std", np.nanmean, np.nanstd),
        ("median", "std", "median", "std"),
        ("median", "std", "median", _rms_about_median),
        ("median", "mad", "median", "mad_std"),
        ("median", "mad", "median", _mad_about_median),
    )
    totals = {i: [0, 0] for i in range(len(configs))}
    for seed in range(6):
        for n in (3, 5, 10, 25):
            for integer in (False, True):
                rng = np.random.default_rng(100 + seed)
                if integer:
                    stack = np.round(rng.normal(100, 2, (n, 12, 12)))
                else:
                    stack = rng.normal(100, 5, (n, 12, 12))
                hit = rng.random(stack.shape) < 0.05
                stack[hit] += rng.choice([-1, 1], hit.sum()) * rng.uniform(5, 200, hit.sum())
                stack[rng.random(stack.shape) < 0.03] = np.nan
                stack = stack.astype("float32")
                for maxiters in (1, 3, 5):
                    for i, (cen, std, a_cen, a_std) in enumerate(configs):
                        ours = ref.sigclip(
                            stack, maxiters=maxiters, cenfunc=cen, stdfunc=std, ddof=0, nkeep=0
                        )[0]
                        with warnings.catch_warnings():
                            warnings.simplefilter("ignore")
                            theirs = sigma_clip(
                                stack, maxiters=maxiters, axis=0, cenfunc=a_cen, stdfunc=a_std
                            )
                        theirs = np.ma.getmaskarray(theirs) & np.isfinite(stack)
                        totals[i][0] += int((theirs != ours).sum())
                        totals[i][1] += ours.size
    for i, (cen, std, a_cen, a_std) in enumerate(configs):
        names = [getattr(f, "__name__", f) for f in (a_cen, a_std)]
        print(
            f"  ours cenfunc={cen!r:9s} stdfunc={std!r:6s} | astropy cenfunc={names[0]!r:12s} "
            f"stdfunc={names[1]!r:20s}: {totals[i][0]} of {totals[i][1]} samples differ"
        )


def main(argv):
    quickstart()
    rejection_methods(with_bench="--no-bench" not in argv)
    if "--astropy" in argv:
        astropy_comparison()
    print(
        f"\n{len(MISMATCHES)} mismatch(es)" + (": " + ", ".join(MISMATCHES) if MISMATCHES else "")
    )
    return len(MISMATCHES)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
