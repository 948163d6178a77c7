"""Every registered rejection rule + mean against SigClip + mean, and Python peers (issue 18).

    python benchmarks/rejectors_bench.py [--frames 15] [--size 2048] [--rounds 3] [--no-peers]

The stack is float32 ``(frames, size, size)``, N(1000, 10) with 0.1% of the samples replaced
by cosmic rays (60000) and 0.02% by dead values (-500). Each rule of `imcombiners.registry`
runs with its default parameters (LinearClip with margins of 50: its default is a no-op) as
``Combiner(x).combine("mean", rejectors=rule)``; the times are the best of ``--rounds`` rounds
that alternate between the rules, so every ratio is a same-run ratio. The peers are the fastest
pure-Python (NumPy/astropy) versions of WinsorizedSigClip, BiweightClip and PercentileClip
written here, run once each (they take seconds to minutes), with the largest difference of their
mean image from ours. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

import imcombiners as imc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe


def make_stack(frames: int, size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(1000.0, 10.0, size=(frames, size, size)).astype(np.float32)
    x[rng.random(x.shape, dtype=np.float32) < 0.001] = 60000.0
    x[rng.random(x.shape, dtype=np.float32) < 0.0002] = -500.0
    return x


def rules() -> dict[str, imc.Rejector]:
    """One rule of every registered kind, with its defaults (LinearClip: margins of 50)."""
    out = {}
    for name, entry in imc.registry.RULES.items():
        if entry.cls.needs_variance:
            continue  # VarClip needs a variance plane: W3v in run.py times the variance path
        out[name] = imc.LinearClip(low=50.0, upp=50.0) if name == "linearclip" else entry.cls()
    return out


# ---------------------------------------------------------------- Python peers


def winsorized_numpy(x: np.ndarray, rule: imc.WinsorizedSigClip) -> np.ndarray:
    """WinsorizedSigClip + mean in vectorised NumPy: every pixel at once, and each
    winsorisation step only on the pixels that have not converged yet."""
    data = x.astype(np.float64)
    lo_sigma, hi_sigma = rule.sigma
    for _ in range(rule.maxiters):
        n = np.sum(~np.isnan(data), axis=0)
        m = np.nanmedian(data, axis=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            s = np.nanstd(data, axis=0, ddof=1)
        active = np.flatnonzero((n >= 2) & (s > 0))
        flat = data.reshape(data.shape[0], -1)
        s_flat, m_flat = s.reshape(-1).copy(), m.reshape(-1)
        cols, cur_s = flat[:, active], s_flat[active]
        for _ in range(50):
            if active.size == 0:
                break
            cm = m_flat[active]
            w = np.clip(cols, cm - rule.cutoff * cur_s, cm + rule.cutoff * cur_s)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                new = 1.134 * np.nanstd(w, axis=0, ddof=1)
            # The median of the clamped values is the median (clamping is monotone).
            done = np.abs(new - cur_s) < 5e-4 * cur_s
            s_flat[active] = new
            keep = ~done & (new > 0)
            active, cols, cur_s = active[keep], cols[:, keep], new[keep]
        s = s_flat.reshape(m.shape)
        with np.errstate(invalid="ignore"):
            bad = (data < m - lo_sigma * s) | (data > m + hi_sigma * s)
        bad &= (s > 0) & (n >= 2)
        if not bad.any():
            break
        data[bad] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(data, axis=0)


def biweight_astropy(x: np.ndarray, rule: imc.BiweightClip) -> np.ndarray:
    """BiweightClip + mean with astropy.stats.biweight_location / biweight_scale along axis 0."""
    from astropy.stats import biweight_location, biweight_scale

    data = x.astype(np.float64)
    lo_sigma, hi_sigma = rule.sigma
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for _ in range(rule.maxiters):
            t = biweight_location(data, c=rule.c, axis=0, ignore_nan=True)
            s = biweight_scale(data, c=rule.c_scale, axis=0, ignore_nan=True)
            with np.errstate(invalid="ignore"):
                bad = (data < t - lo_sigma * s) | (data > t + hi_sigma * s)
            bad &= (s > 0) & np.isfinite(s)
            if not bad.any():
                break
            data[bad] = np.nan
        return np.nanmean(data, axis=0)


def percentile_numpy(x: np.ndarray, rule: imc.PercentileClip) -> np.ndarray:
    """PercentileClip + mean in NumPy: one median along axis 0, one comparison."""
    m = np.median(x, axis=0)
    a = np.abs(m)
    bad = (x < m - rule.low * a) | (x > m + rule.high * a)
    bad &= m != 0
    return np.mean(x, axis=0, where=~bad, dtype=np.float64)


PEERS: dict[str, tuple[str, Callable[[np.ndarray, imc.Rejector], np.ndarray]]] = {
    "winsorized": ("NumPy, vectorised (converging pixels only)", winsorized_numpy),
    "biweight": ("astropy biweight_location/scale, axis=0", biweight_astropy),
    "percentile": ("NumPy median along axis 0", percentile_numpy),
}


# ---------------------------------------------------------------- timing


def best_times(x: np.ndarray, named: dict[str, imc.Rejector], rounds: int) -> dict[str, float]:
    best = dict.fromkeys(named, np.inf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(rounds):
            for name, rule in named.items():
                t0 = time.perf_counter()
                imc.Combiner(x).combine("mean", rejectors=rule)
                best[name] = min(best[name], time.perf_counter() - t0)
    return best


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=15)
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-peers", action="store_true", help="time only our rules")
    args = p.parse_args(argv)

    x = make_stack(args.frames, args.size)
    named = rules()
    imc.Combiner(x[:, :64, :64]).combine("mean", rejectors=named["sigclip"])  # warm up
    times = best_times(x, named, args.rounds)
    base = times["sigclip"]
    shape = "x".join(map(str, x.shape))
    print(f"# Rejection rules + mean, {shape} float32, 0.1% cosmic rays")
    print()
    print(f"{describe()}; imcombiners threads: {imc.get_num_threads()}")
    print(f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC; best of {args.rounds} rounds")
    print()
    print("| rule | seconds | / SigClip + mean | Python peer | peer seconds | peer / ours |")
    print("| --- | ---: | ---: | --- | ---: | ---: |")
    for name, rule in named.items():
        peer_cells = "| | |"
        if name in PEERS and not args.no_peers:
            label, fn = PEERS[name]
            ours = imc.Combiner(x).combine("mean", rejectors=rule)
            t0 = time.perf_counter()
            theirs = fn(x, rule)
            took = time.perf_counter() - t0
            diff = float(np.nanmax(np.abs(theirs - ours.astype(np.float64))))
            peer_cells = f"{label} (max diff {diff:.2g}) | {took:.2f} | {took / times[name]:.0f}x |"
        print(
            f"| {type(rule).__name__} | {times[name]:.3f} | {times[name] / base:.2f} | "
            + peer_cells
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
