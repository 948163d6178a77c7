"""Variance planes of a file combine: where they come from (`uncertainty_request`) and each
band's variance as the in-memory combine would be given it (`band_variance`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import _variance
from .._validation import real
from .paths import GLOB_CHARS, resolve_paths


@dataclass(frozen=True)
class UncertaintyRequest:
    """The checked uncertainty arguments of `imcombiners.combine_files`.

    Attributes
    ----------
    planes : None, int, str or list of pathlib.Path
        The planes to read: an HDU of every input, or one file per input.
    role : {"variance", "error"} or None
        What the planes hold.
    noise : (gain, rdnoise, snoise) or None
        A CCD noise model (no planes are read).
    error_out : bool
        Give the propagated standard deviation (``ERR``) rather than the variance (``VAR``).
    mef : bool
        Write one multi-extension file.
    """

    planes: Any
    role: str | None
    noise: tuple[float, float, float] | None
    error_out: bool
    mef: bool

    @property
    def propagated(self) -> bool:
        """Whether the combine propagates an input variance."""
        return self.role is not None or self.noise is not None

    @property
    def source(self) -> tuple[Any, ...] | None:
        """How a band's variance is made: None, ``("variance",)``, ``("error",)`` or
        ``("noise", gain, rdnoise, snoise)``."""
        if self.noise is not None:
            return ("noise", *self.noise)
        return None if self.role is None else (self.role,)

    def history(self) -> list[str]:
        """The HISTORY of where the variance came from (empty without one)."""
        if self.noise is not None:
            gain, rdnoise, snoise = self.noise
            origin = f"CCD noise model gain={gain:g} rdnoise={rdnoise:g} snoise={snoise:g}"
        elif isinstance(self.planes, list):
            names = ", ".join(Path(p).name for p in self.planes[:3])
            origin = f"{self.role} files {names}" + (" ..." if len(self.planes) > 3 else "")
        elif self.role is not None:
            origin = f"{self.role} HDU {self.planes!r} of each input"
        else:
            return []
        return [f"variance propagated from the {origin}"]


def plane_spec(value: Any, name: str) -> Any:
    """An HDU (number or EXTNAME) of every input, or the list of files ``value`` names."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an HDU (number or EXTNAME) or files, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and not (value.startswith("@") or GLOB_CHARS & set(value)):
        if value.lower().endswith((".fits", ".fit", ".fts", ".fits.gz")):
            raise ValueError(
                f"{name}={value!r} names one file; give one {name} file per input (a list, a "
                "glob pattern or an '@list'), or the EXTNAME of an HDU of every input"
            )
        return value
    if isinstance(value, str | os.PathLike | Sequence):
        return resolve_paths(value if isinstance(value, str) else list(value), what=name)
    raise TypeError(
        f"{name} must be an HDU (number or EXTNAME), a list of files, a glob pattern or an "
        f"'@list' file, got {type(value).__name__}"
    )


def noise_model(value: Any) -> tuple[float, float, float] | None:
    """``(gain, rdnoise[, snoise])`` checked: gain > 0, the noises >= 0 (snoise 0 if left out)."""
    if value is None:
        return None
    try:
        values = [float(v) for v in value]
    except (TypeError, ValueError):
        raise TypeError(
            f"noise_model must be (gain, rdnoise) or (gain, rdnoise, snoise), got {value!r}"
        ) from None
    if len(values) not in (2, 3):
        raise ValueError(
            f"noise_model must be (gain, rdnoise) or (gain, rdnoise, snoise), got {value!r}"
        )
    gain = real(values[0], name="noise_model gain", low=0.0)
    if gain <= 0:
        raise ValueError(f"noise_model gain must be > 0 (electrons per ADU), got {gain}")
    rdnoise = real(values[1], name="noise_model rdnoise", low=0.0)
    snoise = real(values[2], name="noise_model snoise", low=0.0) if len(values) == 3 else 0.0
    return gain, rdnoise, snoise


def uncertainty_request(
    variance: Any, error: Any, noise: Any, mef: Any, error_out: Any, output: Path | None
) -> UncertaintyRequest:
    """Check the ``variance``, ``error``, ``noise_model``, ``mef`` and ``error_out`` arguments
    of `imcombiners.combine_files` (``output``: its output path or None)."""
    sources = (("variance", variance), ("error", error), ("noise_model", noise))
    given = [k for k, v in sources if v is not None]
    if len(given) > 1:
        raise ValueError(
            f"give one source of input variance, not {' and '.join(given)}: variance= (planes "
            "of variance), error= (planes of standard deviation) or noise_model=(gain, rdnoise)"
        )
    if not isinstance(mef, bool):
        raise TypeError(f"mef must be True or False, got {mef!r}")
    if error_out is not None and not isinstance(error_out, bool):
        raise TypeError(f"error_out must be True, False or None, got {error_out!r}")
    if mef and output is None:
        raise ValueError("mef=True writes one multi-extension file: give output= too")
    role = "variance" if variance is not None else "error" if error is not None else None
    planes = plane_spec(variance if variance is not None else error, role) if role else None
    return UncertaintyRequest(
        planes=planes,
        role=role,
        noise=noise_model(noise),
        error_out=(role == "error") if error_out is None else error_out,
        mef=mef,
    )


def band_variance(
    band: np.ndarray, plane: np.ndarray | None, source: tuple[Any, ...] | None
) -> np.ndarray | None:
    """The input variance of one band (``plane`` as read, or from the band's raw values), as
    an in-memory caller would give it to `imcombiners.ndcombine` (``source``: as
    `UncertaintyRequest.source`)."""
    if source is None:
        return None
    kind = source[0]
    if kind == "variance":
        return plane
    if kind == "error":
        return _variance.variance_from_error(plane)
    gain, rdnoise, snoise = source[1:]
    return _variance.variance_from_noise(band, gain=gain, rdnoise=rdnoise, snoise=snoise)
