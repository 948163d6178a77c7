"""combine_ccddata with input uncertainties: the variance rides through the one plan and comes
back in the first input's uncertainty class, equal to the in-memory combine with
``variance=``, for every method it accepts."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.nddata import CCDData, InverseVariance, StdDevUncertainty, VarianceUncertainty

import imcombiners as imc
from imcombiners.ccddata import SUPPORTED_METHODS, combine_ccddata, stack_from_nddata

CLASSES = [StdDevUncertainty, VarianceUncertainty, InverseVariance]


def _as(cls, var):
    """``var`` as an uncertainty of class ``cls``."""
    if cls is StdDevUncertainty:
        return cls(np.sqrt(var))
    if cls is InverseVariance:
        return cls(1.0 / var)
    return cls(var)


def _to_variance(unc):
    return unc.represent_as(VarianceUncertainty).array


def _frames(seed=0, n=7, shape=(9, 8), classes=(StdDevUncertainty,)):
    """CCDData frames of unequal noise, with a cosmic ray, masks and a NaN; the uncertainty
    class of frame i is ``classes[i % len(classes)]``."""
    rng = np.random.default_rng(seed)
    sigma = np.linspace(2.0, 6.0, n)[:, None, None]
    data = 100.0 + rng.normal(0.0, 1.0, (n, *shape)) * sigma
    data[3, 4, 4] += 500.0
    data[1, 0, 0] = np.nan
    var = np.broadcast_to(sigma**2, data.shape) * rng.uniform(0.5, 1.5, data.shape)
    frames = []
    for i in range(n):
        mask = rng.random(shape) < 0.05
        cls = classes[i % len(classes)]
        frames.append(CCDData(data[i], unit="electron", mask=mask, uncertainty=_as(cls, var[i])))
    return frames, data, var


def _reference(frames, method, **kwargs):
    """The in-memory combine of the same stack, mask and variance."""
    data, mask, _ = stack_from_nddata(frames)
    var = np.stack([_to_variance(f.uncertainty) for f in frames])
    cmb = imc.Combiner(data, mask=mask, variance=var)
    image = cmb.combine(method, **kwargs)
    return image, cmb.out_variance


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("method", SUPPORTED_METHODS)
def test_every_method_and_class_equals_in_memory(cls, method):
    frames, _, _ = _frames(1, classes=(cls,))
    kwargs = {"weights": [1, 2, 3, 1, 2, 3, 1]} if method == "weighted_average" else {}
    if method == "variance":
        kwargs["ddof"] = 1
    image, variance = _reference(frames, method, **kwargs)
    out = combine_ccddata(frames, method, **kwargs)
    assert type(out.uncertainty) is cls
    np.testing.assert_array_equal(out.data, image)
    np.testing.assert_allclose(_to_variance(out.uncertainty), variance, rtol=1e-12)
    assert out.mask.tolist() == np.isnan(image).tolist()
    assert np.isnan(_to_variance(out.uncertainty))[out.mask].all()


@pytest.mark.parametrize(
    "options",
    [
        {"rejectors": imc.VarClip(sigma=3.0)},
        {"rejectors": imc.SigClip(sigma=2.5), "scale": "median"},
        {"weights": "ivar"},
        {"rejectors": imc.VarClip(sigma=(3.0, 2.0)), "grow": 1.0, "zero": "median"},
        {"thresholds": (0.0, 200.0)},
    ],
    ids=lambda o: "-".join(sorted(o)),
)
def test_rejection_weights_and_corrections(options):
    frames, _, _ = _frames(2)
    image, variance = _reference(frames, "mean", **options)
    out = combine_ccddata(frames, "mean", **options)
    np.testing.assert_array_equal(out.data, image)
    np.testing.assert_allclose(out.uncertainty.array**2, variance, rtol=1e-12)


def test_varclip_removes_the_cosmic_ray():
    frames, _, _ = _frames(3)
    out = combine_ccddata(frames, "mean", rejectors=imc.VarClip(sigma=4.0))
    clean = [f.data[4, 4] for i, f in enumerate(frames) if i != 3 and not f.mask[4, 4]]
    assert out.data[4, 4] == pytest.approx(np.mean(clean), rel=1e-12)


def test_mixed_classes_give_the_first_inputs_class():
    frames, _, _ = _frames(4, classes=(InverseVariance, StdDevUncertainty, VarianceUncertainty))
    image, variance = _reference(frames, "median")
    out = combine_ccddata(frames, "median")
    assert type(out.uncertainty) is InverseVariance
    np.testing.assert_allclose(1.0 / out.uncertainty.array, variance, rtol=1e-12)
    np.testing.assert_array_equal(out.data, image)


def test_analytic_mean_and_sum():
    """Hand-worked: mean of 2, 4, 6 with variances 1, 4, 9: (1 + 4 + 9) / 9; sum: 14."""
    frames = [
        CCDData(np.full((1, 1), v), unit="adu", uncertainty=StdDevUncertainty(np.full((1, 1), s)))
        for v, s in [(2.0, 1.0), (4.0, 2.0), (6.0, 3.0)]
    ]
    mean = combine_ccddata(frames, "mean")
    assert mean.data[0, 0] == 4.0
    assert mean.uncertainty.array[0, 0] == pytest.approx(np.sqrt(14.0) / 3.0, rel=1e-14)
    total = combine_ccddata(frames, "sum")
    assert total.uncertainty.array[0, 0] == pytest.approx(np.sqrt(14.0), rel=1e-14)
    ivar = combine_ccddata(frames, "mean", weights="ivar")
    w = np.array([1.0, 1 / 4, 1 / 9])
    assert ivar.data[0, 0] == pytest.approx((w * [2, 4, 6]).sum() / w.sum(), rel=1e-14)
    assert ivar.uncertainty.array[0, 0] == pytest.approx(np.sqrt(1 / w.sum()), rel=1e-14)


def test_negative_or_nonfinite_variance_marks_the_sample_missing():
    data = np.array([[[1.0, 2.0]], [[50.0, 4.0]], [[3.0, 6.0]]])
    var = [np.ones((1, 2)), np.array([[-1.0, np.inf]]), np.ones((1, 2))]
    frames = [
        CCDData(d, unit="adu", uncertainty=VarianceUncertainty(v))
        for d, v in zip(data, var, strict=True)
    ]
    out = combine_ccddata(frames, "mean")
    np.testing.assert_array_equal(out.data, [[2.0, 4.0]])
    np.testing.assert_allclose(out.uncertainty.array, [[0.5, 0.5]])
    assert not out.mask.any()


def test_uncertainty_in_another_unit_is_converted():
    data = np.ones((2, 1, 1))
    frames = [
        CCDData(
            data[0], unit="Jy", uncertainty=VarianceUncertainty(np.full((1, 1), 9e4), unit="mJy2")
        ),
        CCDData(data[1], unit="Jy", uncertainty=VarianceUncertainty(np.full((1, 1), 0.16))),
    ]
    out = combine_ccddata(frames, "sum")
    assert out.unit == u.Jy
    np.testing.assert_allclose(out.uncertainty.array, 0.25)


def test_inputs_are_not_modified():
    frames, _, _ = _frames(5, classes=tuple(CLASSES))
    before = [(f.data.copy(), f.mask.copy(), f.uncertainty.array.copy()) for f in frames]
    combine_ccddata(frames, "mean", rejectors=imc.VarClip(), scale="median")
    for f, (d, m, a) in zip(frames, before, strict=True):
        np.testing.assert_array_equal(f.data, d)
        np.testing.assert_array_equal(f.mask, m)
        np.testing.assert_array_equal(f.uncertainty.array, a)


def test_varclip_without_uncertainties_is_a_clear_error():
    frames = [CCDData(np.ones((2, 2)), unit="adu") for _ in range(4)]
    with pytest.raises(ValueError, match="variance"):
        combine_ccddata(frames, "mean", rejectors=imc.VarClip())
