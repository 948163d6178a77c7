"""The rejection rules by name: the one list every usage mode reads.

`ndcombine` (``reject=``), the direct kernels (``<name>``, ``<name>_mask``, ``<name>_combine``),
the command line (``--reject`` and the flags each rule takes) and the tests' strategies all read
`RULES`. Adding a rule is therefore:

1. one Rust file in ``src/reject/`` (the rule on the sorted survivors of one element), its variant
   in ``src/reject/mod.rs``'s enum, and the struct that reads the dataclass in
   ``src/python/reject.rs``;
2. one frozen dataclass in ``rejectors.py`` (fields, defaults, validation, docstring);
3. one reference function in ``tests/reference.py`` (slow, obviously correct NumPy);
4. one `register` line at the end of this module.

``docs/architecture.md`` walks through the steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType

from .rejectors import (
    GESD,
    AutoReject,
    BiweightClip,
    CcdClip,
    LinearClip,
    LinearFitClip,
    MinMaxClip,
    PClip,
    PercentileClip,
    Rejector,
    SigClip,
    VarClip,
    WinsorizedSigClip,
)

__all__ = ["RULES", "RuleEntry", "register", "rule_class"]


@dataclass(frozen=True)
class RuleEntry:
    """One registered rule.

    Attributes
    ----------
    cls : type of Rejector
        The rule's dataclass; ``cls.kind`` is its name.
    cli : mapping of str to str
        The command-line flags the rule takes (``--sigma`` is ``"sigma"``) and the dataclass
        field each sets. Empty: the rule is not offered by ``--reject`` unless ``offer``.
    offer : bool
        Offer the rule by ``--reject`` even without flags of its own.
    """

    cls: type[Rejector]
    cli: Mapping[str, str]
    offer: bool = False

    @property
    def offered(self) -> bool:
        """The rule is a ``--reject`` choice (it has flags, or is offered without any)."""
        return bool(self.cli) or self.offer

    @property
    def name(self) -> str:
        """The rule's name (``reject=`` value)."""
        return self.cls.kind

    @property
    def fields(self) -> tuple[str, ...]:
        """The rule's parameters (its dataclass fields)."""
        return tuple(f.name for f in fields(self.cls))  # type: ignore[arg-type]


_RULES: dict[str, RuleEntry] = {}

#: The registered rules by name, in registration order (read-only).
RULES: Mapping[str, RuleEntry] = MappingProxyType(_RULES)


def register(
    cls: type[Rejector], *, cli: Mapping[str, str] | None = None, offer: bool = False
) -> type[Rejector]:
    """Register a rule under ``cls.kind``.

    Parameters
    ----------
    cls : type of Rejector
        A frozen dataclass deriving from `Rejector` with a unique ``kind``.
    cli : mapping of str to str, optional
        Command-line flag (without ``--``, ``_`` for ``-``) to dataclass field.
    offer : bool, default False
        Offer the rule by ``--reject`` even when it takes no flags.

    Returns
    -------
    type of Rejector
        ``cls``.
    """
    name = cls.kind
    if not name or name in _RULES:
        raise ValueError(f"rule name {name!r} is empty or already registered")
    entry = RuleEntry(cls, MappingProxyType(dict(cli or {})), offer)
    unknown = set(entry.cli.values()) - set(entry.fields)
    if unknown:
        raise ValueError(f"{cls.__name__} has no fields {sorted(unknown)}")
    _RULES[name] = entry
    return cls


def rule_class(name: object, *, param: str = "reject") -> type[Rejector]:
    """The rule registered as ``name`` (case-insensitive); ``param`` names it in errors."""
    entry = _RULES.get(name.lower()) if isinstance(name, str) else None
    if entry is None:
        valid = ", ".join([*_RULES, "None"])
        raise ValueError(f"{param} {name!r} is not a rejection method; valid names are: {valid}")
    return entry.cls


_ITERATIVE = {"sigma": "sigma", "maxiters": "maxiters", "cenfunc": "cenfunc", "nkeep": "nkeep"}

register(SigClip, cli=_ITERATIVE)
register(CcdClip, cli={**_ITERATIVE, "gain": "gain", "rdnoise": "rdnoise", "snoise": "snoise"})
register(LinearClip)
register(MinMaxClip, cli={"nlow": "n_min", "nhigh": "n_max"})
register(PClip, cli={"sigma": "sigma", "nkeep": "nkeep", "pclip": "frac"})
# Reads the input variance plane (variance= / --variance-hdu): see `Rejector.needs_variance`.
register(VarClip, cli=_ITERATIVE)

# Modern rules (issue 18): winsorized sigma, biweight and percentile clipping.
_MODERN = {"sigma": "sigma", "maxiters": "maxiters", "nkeep": "nkeep"}
register(WinsorizedSigClip, cli=_MODERN)
register(BiweightClip, cli=_MODERN)
register(PercentileClip, cli={"nkeep": "nkeep"})

# Issue 18: GESD and linear fit clipping.
register(
    GESD,
    cli={
        "outlier_fraction": "outlier_fraction",
        "alpha": "alpha",
        "low_relaxation": "low_relaxation",
        "nkeep": "nkeep",
    },
)
register(LinearFitClip, cli={"sigma": "sigma", "maxiters": "maxiters", "nkeep": "nkeep"})
# The modern rule by depth (its four rules keep their defaults on the command line).
register(AutoReject, offer=True)
