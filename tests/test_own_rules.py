"""Rules of the user's own (`Rejector.bounds`) work on every path and equal the built-ins."""

from dataclasses import dataclass

import numpy as np
import pytest
from astropy.io import fits

import imcombiners as imc


@dataclass(frozen=True)
class Band(imc.Rejector):
    """Keep ``median - low .. median + upp``: LinearClip(low, upp, maxiters=1) in Python."""

    low: float = 10.0
    upp: float = 10.0

    def bounds(self, x):
        c = np.median(x)
        return c - self.low, c + self.upp


def _stack(seed=0, shape=(9, 7, 8)):
    rng = np.random.default_rng(seed)
    x = rng.normal(100, 6, shape).astype(np.float32)
    hits = rng.random(shape) < 0.05
    x[hits] += 80
    x[rng.random(shape) < 0.03] = np.nan
    return x


BUILTIN = imc.LinearClip(low=10.0, upp=10.0, maxiters=1)


@pytest.mark.parametrize("method", ["mean", "median", "sum", "variance"])
@pytest.mark.parametrize("grow", [None, 1.0])
@pytest.mark.parametrize("diagnostics", [None, "simple", "full"])
def test_own_rule_equals_the_builtin_on_every_combiner_path(method, grow, diagnostics):
    x = _stack()
    mask = np.zeros(x.shape, bool)
    mask[0, 0] = True
    scale = np.linspace(0.9, 1.1, x.shape[0])
    kw = {"grow": grow, "diagnostics": diagnostics, "scale": scale, "thresholds": (0, 1e4)}
    own = imc.Combiner(x, mask)
    got = own.combine(method, rejectors=Band(), **kw)
    ref = imc.Combiner(x, mask)
    want = ref.combine(method, rejectors=BUILTIN, **kw)
    np.testing.assert_array_equal(got, want)
    if diagnostics is not None or grow is not None:
        np.testing.assert_array_equal(own.mask_rej, ref.mask_rej)
        # (MAXITERS is a bit of the iterative built-in rules; a rule's own bounds make one pass)
        bits = imc.OutputFlags.PREMASKED | imc.OutputFlags.GROW
        np.testing.assert_array_equal(own.output_flags & bits, ref.output_flags & bits)
    if diagnostics == "full":
        np.testing.assert_array_equal(own.sample_flags, ref.sample_flags)


def test_own_rule_in_a_chain_with_builtin_rules():
    x = _stack(1)
    got = imc.Combiner(x).combine("mean", rejectors=[imc.MinMaxClip(), Band(), imc.SigClip()])
    want = imc.Combiner(x).combine("mean", rejectors=[imc.MinMaxClip(), BUILTIN, imc.SigClip()])
    np.testing.assert_array_equal(got, want)
    cmb = imc.Combiner(x).reject([Band(), imc.SigClip(sigma=2.5)])
    ref = imc.Combiner(x).reject([BUILTIN, imc.SigClip(sigma=2.5)])
    np.testing.assert_array_equal(cmb.mask_rej, ref.mask_rej)
    np.testing.assert_array_equal(cmb.std, ref.std)  # the last rule's spread


def test_own_rule_in_combine_files(tmp_path):
    x = _stack(2, shape=(6, 20, 9))
    paths = []
    for i, frame in enumerate(x):
        paths.append(tmp_path / f"f{i}.fits")
        fits.writeto(paths[-1], frame)
    got = imc.combine_files(paths, method="mean", rejectors=Band(), mem_limit="9KB", progress=False)
    want = imc.Combiner(x).combine("mean", rejectors=BUILTIN)
    np.testing.assert_array_equal(got.data, want)


def test_a_rule_without_bounds_or_with_bad_bounds_is_explained():
    @dataclass(frozen=True)
    class Nothing(imc.Rejector):
        pass

    @dataclass(frozen=True)
    class Bad(imc.Rejector):
        def bounds(self, x):
            return "low"

    x = _stack()
    with pytest.raises(NotImplementedError, match="must define bounds"):
        imc.Combiner(x).combine("mean", rejectors=Nothing())
    with pytest.raises(TypeError, match="two numbers"):
        imc.Combiner(x).combine("mean", rejectors=Bad())
