"""Invalid rejection parameters and arguments: the right class, raised early, naming the culprit.

Rules are validated when they are built (STYLE item 7: a wrong type is ``TypeError``, a wrong
value ``ValueError``, and the message names the parameter); ``ndcombine`` and the direct
kernels build the same rules, so they raise the same errors.
"""

import dataclasses
import math

import numpy as np
import pytest

import imcombiners as imc
import imcombiners.kernels as imck

NAN, INF = math.nan, math.inf

#: (rule, keyword arguments, exception, parameter named in the message)
INVALID = [
    (imc.SigClip, {"sigma": -1.0}, ValueError, "sigma"),
    (imc.SigClip, {"sigma": NAN}, ValueError, "sigma"),
    (imc.SigClip, {"sigma": -INF}, ValueError, "sigma"),
    (imc.SigClip, {"sigma": (1.0, -2.0)}, ValueError, "sigma"),
    (imc.SigClip, {"sigma": (NAN, 3.0)}, ValueError, "sigma"),
    (imc.SigClip, {"sigma": (1.0, 2.0, 3.0)}, ValueError, "sigma"),
    (imc.SigClip, {"sigma": (3.0,)}, ValueError, "sigma"),
    (imc.SigClip, {"sigma": "3"}, TypeError, "sigma"),
    (imc.SigClip, {"maxiters": -3}, ValueError, "maxiters"),
    (imc.SigClip, {"maxiters": 2.5}, TypeError, "maxiters"),
    (imc.SigClip, {"nkeep": -1}, ValueError, "nkeep"),
    (imc.SigClip, {"maxrej": -1}, ValueError, "maxrej"),
    (imc.SigClip, {"ddof": -1}, ValueError, "ddof"),
    (imc.SigClip, {"cenfunc": "mode"}, ValueError, "cenfunc"),
    (imc.SigClip, {"cenfunc": None}, TypeError, "cenfunc"),
    (imc.SigClip, {"stdfunc": "iqr"}, ValueError, "stdfunc"),
    (imc.SigClip, {"revert_on_nkeep": 1}, TypeError, "revert_on_nkeep"),
    (imc.SigClip, {"revert_on_nkeep": "yes"}, TypeError, "revert_on_nkeep"),
    (imc.SigClip, {"revert_on_nkeep": None}, TypeError, "revert_on_nkeep"),
    (imc.CcdClip, {"gain": 0.0}, ValueError, "gain"),
    (imc.CcdClip, {"gain": -2.0}, ValueError, "gain"),
    (imc.CcdClip, {"gain": NAN}, ValueError, "gain"),
    (imc.CcdClip, {"scale_ref": 0.0}, ValueError, "scale_ref"),
    (imc.CcdClip, {"scale_ref": -1.0}, ValueError, "scale_ref"),
    (imc.CcdClip, {"rdnoise": -1.0}, ValueError, "rdnoise"),
    (imc.CcdClip, {"snoise": -0.5}, ValueError, "snoise"),
    (imc.CcdClip, {"zero_ref": NAN}, ValueError, "zero_ref"),
    (imc.CcdClip, {"sigma": -1.0}, ValueError, "sigma"),
    (imc.CcdClip, {"nkeep": -1}, ValueError, "nkeep"),
    (imc.CcdClip, {"maxrej": -2}, ValueError, "maxrej"),
    (imc.CcdClip, {"cenfunc": "mode"}, ValueError, "cenfunc"),
    (imc.CcdClip, {"revert_on_nkeep": 0}, TypeError, "revert_on_nkeep"),
    (imc.LinearClip, {"low": -1.0}, ValueError, "low"),
    (imc.LinearClip, {"upp": -0.5}, ValueError, "upp"),
    (imc.LinearClip, {"upp": NAN}, ValueError, "upp"),
    (imc.LinearClip, {"low": -INF}, ValueError, "low"),
    (imc.LinearClip, {"low_scale": INF}, ValueError, "low_scale"),
    (imc.LinearClip, {"upp_scale": NAN}, ValueError, "upp_scale"),
    (imc.LinearClip, {"nkeep": -1}, ValueError, "nkeep"),
    (imc.LinearClip, {"maxrej": -1}, ValueError, "maxrej"),
    (imc.LinearClip, {"cenfunc": "mode"}, ValueError, "cenfunc"),
    (imc.LinearClip, {"revert_on_nkeep": 1}, TypeError, "revert_on_nkeep"),
    (imc.MinMaxClip, {"n_min": -1}, ValueError, "n_min"),
    (imc.MinMaxClip, {"n_max": -0.1}, ValueError, "n_max"),
    (imc.MinMaxClip, {"n_min": 1.5}, ValueError, "n_min"),
    (imc.MinMaxClip, {"n_max": 2.25}, ValueError, "n_max"),
    (imc.MinMaxClip, {"n_min": NAN}, ValueError, "n_min"),
    (imc.MinMaxClip, {"n_max": INF}, ValueError, "n_max"),
    (imc.MinMaxClip, {"n_min": "1"}, TypeError, "n_min"),
    (imc.MinMaxClip, {"n_max": True}, TypeError, "n_max"),
    (imc.PClip, {"frac": 0}, ValueError, "frac"),
    (imc.PClip, {"frac": 0.0}, ValueError, "frac"),
    (imc.PClip, {"frac": NAN}, ValueError, "frac"),
    (imc.PClip, {"sigma": -1.0}, ValueError, "sigma"),
    (imc.PClip, {"sigma": (3.0, 3.0, 3.0)}, ValueError, "sigma"),
    (imc.PClip, {"nkeep": -1}, ValueError, "nkeep"),
]

_IDS = [f"{cls.__name__}-{kwargs}" for cls, kwargs, _, _ in INVALID]


@pytest.mark.parametrize(("cls", "kwargs", "exc", "name"), INVALID, ids=_IDS)
def test_invalid_parameter_raises_at_construction(cls, kwargs, exc, name):
    with pytest.raises(exc, match=rf"\b{name}\b"):
        cls(**kwargs)


_KINDS = {
    imc.SigClip: "sigclip",
    imc.CcdClip: "ccdclip",
    imc.LinearClip: "linearclip",
    imc.MinMaxClip: "minmax",
    imc.PClip: "pclip",
}


@pytest.mark.parametrize(("cls", "kwargs", "exc", "name"), INVALID, ids=_IDS)
def test_invalid_parameter_raises_in_every_mode(cls, kwargs, exc, name):
    """ndcombine and the direct kernels build the same rule, so they raise the same error."""
    stack = np.ones((5, 2, 2), dtype=np.float32)
    kind = _KINDS[cls]
    options = dict(kwargs)
    ddof = options.pop("ddof", None) if kind == "sigclip" else None
    extra = {} if ddof is None else {"ddof": ddof}
    if all(v is not None for v in options.values()):  # ndcombine reads None as "default"
        with pytest.raises(exc, match=rf"\b{name}\b"):
            imc.ndcombine(stack, reject=kind, **options, **extra)
    for suffix in ("", "_mask", "_combine"):
        with pytest.raises(exc, match=rf"\b{name}\b"):
            getattr(imck, kind + suffix)(stack, **kwargs)


def test_valid_limits_are_accepted():
    """The edges of the valid ranges: 0, +inf margins, whole-number floats, fractions."""
    imc.SigClip(sigma=0.0, nkeep=0, maxrej=0, maxiters=1, stdfunc="mad", ddof=0)
    imc.SigClip(sigma=(0.0, 10.0), cenfunc="LMED", stdfunc="STD", ddof=3)
    imc.CcdClip(rdnoise=0.0, snoise=0.0, zero_ref=-100.0, scale_ref=1e-6, gain=1e-3)
    imc.LinearClip(low=0.0, upp=INF, low_scale=-2.0, upp_scale=0.0)
    imc.MinMaxClip(n_min=0, n_max=0)
    imc.MinMaxClip(n_min=2.0, n_max=0.999)
    imc.PClip(frac=-1e-3, sigma=(0.0, 0.0), nkeep=0)
    imc.PClip(frac=7)
    assert imc.LinearClip().low == imc.LinearClip().upp == INF  # the default is a no-op


@pytest.mark.parametrize("rule", [imc.SigClip, imc.CcdClip])
def test_infinite_sigma_turns_that_side_off(rule):
    """Issue 13 item 12: sigma=inf means no clipping on that side (as astropy's sigma_clip)."""
    base = [9, 10, 11, 10, 10, 10, 9, 11, 10, 10, 10, 10, 9, 11]
    high = np.array([*base, 1e4], dtype=np.float64).reshape(-1, 1)
    low = np.array([-1e4, *base], dtype=np.float64).reshape(-1, 1)

    def rejected(stack, sigma):
        return imc.Combiner(stack).reject(rule(sigma=sigma)).mask_rej[:, 0]

    assert rejected(high, 3.0)[-1]
    assert rejected(low, 3.0)[0]
    assert not rejected(high, (3.0, INF)).any()  # ... but not on a side turned off
    assert not rejected(low, (INF, 3.0)).any()
    assert not rejected(high, INF).any()
    assert not rejected(low, INF).any()


@pytest.mark.parametrize(
    "rule",
    [imc.SigClip(), imc.CcdClip(), imc.LinearClip(), imc.MinMaxClip(), imc.PClip()],
    ids=lambda r: type(r).__name__,
)
def test_rules_are_frozen_and_keyword_only(rule):
    first = dataclasses.fields(rule)[0].name
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(rule, first, getattr(rule, first))
    with pytest.raises((AttributeError, TypeError)):
        rule.extra = 1  # slots: no new attributes either
    with pytest.raises(TypeError):
        type(rule)(getattr(rule, first))  # keyword-only
    assert dataclasses.replace(rule) == rule
    assert hash(rule) == hash(dataclasses.replace(rule))


# ---------------------------------------------------------------- arguments of the modes


@pytest.fixture
def stack():
    return np.arange(5 * 3 * 4, dtype=np.float32).reshape(5, 3, 4)


@pytest.mark.parametrize("bad", [[imc.SigClip, "minmax"], imc.SigClip, 3, {"kind": "sigclip"}])
def test_combine_rejectors_must_be_rejector_objects(stack, bad):
    with pytest.raises(TypeError, match="rejectors"):
        imc.Combiner(stack).combine("mean", rejectors=bad)


def test_a_rule_name_runs_the_rule_with_its_defaults(stack):
    """``rejectors="auto"`` (the issue's spelling), or any registered name."""
    for name in ("auto", "sigclip"):
        got = imc.Combiner(stack).combine("mean", rejectors=name)
        want = imc.Combiner(stack).combine("mean", rejectors=imc.registry.RULES[name].cls())
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match="rejectors 'foo' is not a rejection method; valid"):
        imc.Combiner(stack).combine("mean", rejectors="foo")


@pytest.mark.parametrize("bad", [[imc.SigClip(), 3], 3.0])
def test_reject_needs_rejector_objects(stack, bad):
    with pytest.raises(TypeError, match="rejector"):
        imc.Combiner(stack).reject(bad)


def test_ndcombine_unknown_reject_lists_the_names(stack):
    with pytest.raises(ValueError, match="foo") as info:
        imc.ndcombine(stack, reject="foo")
    for name in ("sigclip", "ccdclip", "linearclip", "minmax", "pclip"):
        assert name in str(info.value)


@pytest.mark.parametrize(
    "options",
    [{"sigma": 3.0}, {"maxiters": 2}, {"n_min": 1}, {"frac": -0.5}, {"gain": 2.0}, {"upp": 1.0}],
)
def test_ndcombine_rejection_options_need_reject(stack, options):
    with pytest.raises(ValueError, match=next(iter(options))):
        imc.ndcombine(stack, **options)


def test_ndcombine_option_of_another_rule(stack):
    with pytest.raises(ValueError, match="sigma"):
        imc.ndcombine(stack, reject="minmax", sigma=3.0)
    with pytest.raises(ValueError, match="n_min"):
        imc.ndcombine(stack, reject="sigclip", n_min=1)


def test_kernel_unknown_keyword(stack):
    with pytest.raises(TypeError, match="foo"):
        imck.sigclip(stack, foo=1)
    with pytest.raises(TypeError, match="n_min"):
        imck.pclip_combine(stack, "mean", n_min=1)


_BAD_THRESHOLDS = [(5.0, 1.0), (NAN, 1.0), (0.0, NAN), (1.0, 2.0, 3.0), (1.0,), 5.0, "0,1"]


def _with_thresholds(stack, thresholds):
    rule = imc.SigClip()
    return {
        "Combiner.combine fused": lambda: imc.Combiner(stack).combine(
            "mean", rejectors=rule, thresholds=thresholds
        ),
        "Combiner.combine simple": lambda: imc.Combiner(stack).combine(
            "mean", rejectors=rule, thresholds=thresholds, diagnostics="simple"
        ),
        "Combiner.reject": lambda: imc.Combiner(stack).reject(rule, thresholds=thresholds),
        "ndcombine": lambda: imc.ndcombine(stack, reject="sigclip", thresholds=thresholds),
        "imck.sigclip": lambda: imck.sigclip(stack, thresholds=thresholds),
        "imck.sigclip_combine": lambda: imck.sigclip_combine(stack, thresholds=thresholds),
    }


@pytest.mark.parametrize("thresholds", _BAD_THRESHOLDS, ids=repr)
def test_bad_thresholds(stack, thresholds):
    for label, call in _with_thresholds(stack, thresholds).items():
        with pytest.raises(ValueError, match="thresholds"):
            call()
        assert label


@pytest.mark.parametrize("grow", [-1.0, NAN, INF, -INF])
def test_bad_grow(stack, grow):
    rule = imc.SigClip()
    with pytest.raises(ValueError, match="grow"):
        imc.Combiner(stack).reject(rule, grow=grow)
    with pytest.raises(ValueError, match="grow"):
        imc.Combiner(stack).combine("mean", rejectors=rule, grow=grow)
    with pytest.raises(ValueError, match="grow"):
        imc.ndcombine(stack, reject="sigclip", grow=grow)
    with pytest.raises(ValueError, match="radius"):
        imck.grow_mask(np.zeros(stack.shape, dtype=bool), grow)


def test_bad_grow_type(stack):
    with pytest.raises(TypeError, match="grow"):
        imc.Combiner(stack).reject(imc.SigClip(), grow="1")
    with pytest.raises(TypeError, match="mask"):
        imck.grow_mask(np.zeros(stack.shape, dtype=np.uint8), 1)
    with pytest.raises(ValueError, match="mask"):
        imck.grow_mask(np.zeros(4, dtype=bool), 1)


@pytest.mark.parametrize("bad", ["all", "Full", "none", True, 1])
def test_bad_diagnostics(stack, bad):
    rule = imc.SigClip()
    with pytest.raises(ValueError, match="diagnostics"):
        imc.Combiner(stack).combine("mean", rejectors=rule, diagnostics=bad)
    with pytest.raises(ValueError, match="diagnostics"):
        imc.Combiner(stack).reject(rule, diagnostics=bad)


@pytest.mark.parametrize("shape", [(5, 3, 5), (4, 3, 4), (5, 12), (3, 4), (5, 3, 4, 1)])
@pytest.mark.parametrize("kind", ["sigclip", "ccdclip", "linearclip", "minmax", "pclip"])
def test_mask_of_wrong_shape(stack, kind, shape):
    mask = np.zeros(shape, dtype=bool)
    for suffix in ("", "_mask", "_combine"):
        with pytest.raises(ValueError, match="mask"):
            getattr(imck, kind + suffix)(stack, mask=mask)
    with pytest.raises(ValueError, match="mask"):
        imc.ndcombine(stack, reject=kind, mask=mask)
    with pytest.raises(ValueError, match="mask"):
        imc.Combiner(stack, mask)


def test_rules_that_cannot_reject_warn_once_naming_the_limit(tmp_path):
    """Issue 13 item 5: nlow + nhigh >= N, and sigma beyond what N samples can reach."""
    import warnings

    from astropy.io import fits

    stack = np.random.default_rng(5).normal(100, 5, (10, 8, 8)).astype(np.float32)
    with pytest.warns(imc.ImcombinersWarning, match=r"below 10\b"):
        imc.Combiner(stack).combine("mean", rejectors=imc.MinMaxClip(n_min=5, n_max=5))
    with pytest.warns(imc.ImcombinersWarning, match=r"sigma must be below 3\b"):
        imc.Combiner(stack).combine("mean", rejectors=imc.SigClip(sigma=3, cenfunc="mean"))
    with pytest.warns(imc.ImcombinersWarning, match="cannot reject"):
        imc.ndcombine(stack[:9], combine="median", reject="sigclip")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning where rejection is possible
        imc.Combiner(stack).combine("mean", rejectors=imc.SigClip(sigma=3))  # sqrt(10) > 3
        imc.Combiner(stack).combine("mean", rejectors=imc.MinMaxClip(n_min=4, n_max=5))
    paths = []
    for i, frame in enumerate(stack):
        paths.append(tmp_path / f"f{i}.fits")
        fits.writeto(paths[-1], frame)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        imc.combine_files(
            paths, rejectors=imc.MinMaxClip(n_min=9, n_max=1), mem_limit="1MB", progress=False
        )
    assert sum(issubclass(w.category, imc.ImcombinersWarning) for w in seen) == 1


def test_mad_ignores_ddof_as_0_1_1_did():
    """imcombiners 0.1.1 accepts ddof with stdfunc='mad' and ignores it; so do we."""
    x = np.random.default_rng(4).normal(10, 1, (11, 5, 5))
    x[3, 2, 2] = 40.0
    a = imc.Combiner(x).combine("mean", rejectors=imc.SigClip(stdfunc="mad", ddof=1))
    b = imc.Combiner(x).combine("mean", rejectors=imc.SigClip(stdfunc="mad", ddof=0))
    np.testing.assert_array_equal(a, b)


def test_pclip_frac_pair_is_a_value_error():
    with pytest.raises(ValueError, match="frac must be one number"):
        imc.kernels.pclip(np.zeros((5, 2)), frac=(0.1, 0.2))
