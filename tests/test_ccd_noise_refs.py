"""CcdClip after a zero/scale correction: the noise model follows the correction.

The model's variance of ``gain * y`` for corrected data ``y = (x - z) / s`` is derived in
`CcdClip.noise_terms`; these tests check the terms by hand and check the behaviour on
normalised flats with photon noise, where a model that ignored the correction would reject
nothing at all.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import imcombiners as imc

GAIN = 2.0  # electrons per DN
RDNOISE = 5.0  # electrons
N = 12


def _flats(seed: int = 7, shape: tuple[int, int] = (64, 64), cosmic_rays: int = 40):
    """Photon-noise flats at levels 5000..20000 DN with cosmic rays; returns (stack, hits)."""
    rng = np.random.default_rng(seed)
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    flat = 1.0 + 0.05 * np.sin(xx / 9.0) * np.cos(yy / 13.0)
    levels = np.linspace(5000.0, 20000.0, N)
    mean_dn = levels[:, None, None] * flat[None]
    sigma_dn = np.sqrt(mean_dn / GAIN + (RDNOISE / GAIN) ** 2)
    stack = mean_dn + sigma_dn * rng.standard_normal(mean_dn.shape)
    hits = np.zeros(stack.shape, dtype=bool)
    idx = rng.integers(0, stack.size, cosmic_rays)
    hits.flat[idx] = True
    # 40 sigma at least: no noise model that follows the data can keep these.
    stack[hits] += 40.0 * sigma_dn[hits] + rng.uniform(0, 5000, hits.sum())
    return stack.astype(np.float32), hits


def test_noise_terms_by_hand():
    rule = imc.CcdClip(gain=GAIN, rdnoise=RDNOISE)
    assert rule.noise_terms() == (0.0, 1.0, RDNOISE)
    # One common scale s and zero z: exact terms 1/s, gain*z/s, rdnoise/s.
    z, s = np.full(4, 100.0), np.full(4, 8.0)
    zero_ref, scale_ref, rd = rule.noise_terms(z, s)
    assert scale_ref == pytest.approx(1 / 8.0)
    assert zero_ref == pytest.approx(GAIN * 100.0 / 8.0)
    assert rd == pytest.approx(RDNOISE / 8.0)
    # Different scales: the model variance is the frame average of the per-frame variances.
    z, s = np.array([0.0, 50.0, -20.0]), np.array([1.0, 2.0, 0.5])
    zero_ref, scale_ref, rd = rule.noise_terms(z, s)
    for c in (10.0, 1e3, 1e5):
        per_frame = (c + GAIN * z / s) / s + (RDNOISE / s) ** 2
        model = (c + zero_ref) * scale_ref + rd**2
        assert model == pytest.approx(per_frame.mean(), rel=1e-12)
    # Explicit references are kept; an explicit scale_ref also keeps rdnoise.
    fixed = imc.CcdClip(gain=GAIN, rdnoise=RDNOISE, zero_ref=3.0, scale_ref=0.5)
    assert fixed.noise_terms(z, s) == (3.0, 0.5, RDNOISE)
    only_zero = imc.CcdClip(gain=GAIN, rdnoise=RDNOISE, zero_ref=3.0)
    assert only_zero.noise_terms(z, s)[0] == 3.0
    assert only_zero.noise_terms(z, s)[1] == pytest.approx(np.mean(1 / s))


@pytest.mark.parametrize("normalize", [False, True])
def test_normalised_flats_are_clipped_at_the_photon_noise(normalize):
    stack, hits = _flats()
    rule = imc.CcdClip(sigma=3.0, gain=GAIN, rdnoise=RDNOISE, maxiters=5)
    cmb = imc.Combiner(stack).zero_scale(scale="median", normalize=normalize)
    cmb.reject(rule)
    rejected = cmb.mask_rej
    assert rejected[hits].all(), "every cosmic ray is rejected"
    false = np.count_nonzero(rejected & ~hits) / np.count_nonzero(~hits)
    # The expected share of good samples beyond 3 model sigmas: frame i's true variance
    # (from the correction) against the one averaged model, Gaussian tails on both sides.
    scale = cmb.scale
    zero_ref, scale_ref, rd = rule.noise_terms(None, scale)
    c = GAIN * float(np.median(stack / scale[:, None, None]))
    var_frame = c / scale + (RDNOISE / scale) ** 2
    var_model = (c + zero_ref) * scale_ref + rd**2
    expected = np.mean([math.erfc(3 * math.sqrt(var_model / v) / math.sqrt(2)) for v in var_frame])
    # ~49 000 good samples: a few hundred expected events, so 30% is several Poisson sigmas.
    assert expected == pytest.approx(false, rel=0.3), (false, expected)
    assert 0.002 < false < 0.01


def test_a_model_that_ignored_the_correction_would_reject_nothing():
    stack, hits = _flats()
    # The raw-data model (zero_ref 0, scale_ref 1, rdnoise in raw electrons) on data near 1.
    raw_model = imc.CcdClip(sigma=3.0, gain=GAIN, rdnoise=RDNOISE, zero_ref=0.0, scale_ref=1.0)
    cmb = imc.Combiner(stack).zero_scale(scale="median", normalize=False).reject(raw_model)
    assert not cmb.mask_rej[hits].any()


def test_every_mode_uses_the_same_model():
    stack, _ = _flats(seed=3, shape=(16, 24), cosmic_rays=10)
    rule = imc.CcdClip(sigma=2.5, gain=GAIN, rdnoise=RDNOISE)
    zero, scale = imc.resolve_zero_scale(stack, zero="mode", scale="median")
    zero_ref, scale_ref, rd = rule.noise_terms(zero, scale)
    explicit = imc.CcdClip(sigma=2.5, gain=GAIN, rdnoise=rd, zero_ref=zero_ref, scale_ref=scale_ref)
    want = imc.Combiner(stack).combine("mean", zero=zero, scale=scale, rejectors=explicit)
    standard = imc.Combiner(stack).combine("mean", zero="mode", scale="median", rejectors=rule)
    chained = (
        imc.Combiner(stack).zero_scale(zero="mode", scale="median").reject(rule).combine("mean")
    )
    compact = imc.ndcombine(
        stack,
        combine="mean",
        reject="ccdclip",
        zero="mode",
        scale="median",
        sigma=2.5,
        gain=GAIN,
        rdnoise=RDNOISE,
    )
    with_numbers = imc.Combiner(stack).combine("mean", zero=zero, scale=scale, rejectors=rule)
    for got in (standard, chained, compact, with_numbers):
        np.testing.assert_array_equal(got, want)


def test_without_a_correction_nothing_changes():
    stack, _ = _flats(seed=5, shape=(8, 8), cosmic_rays=4)
    rule = imc.CcdClip(gain=GAIN, rdnoise=RDNOISE)
    plain = imc.CcdClip(gain=GAIN, rdnoise=RDNOISE, zero_ref=0.0, scale_ref=1.0)
    a = imc.Combiner(stack).combine("median", rejectors=rule)
    b = imc.Combiner(stack).combine("median", rejectors=plain)
    np.testing.assert_array_equal(a, b)
