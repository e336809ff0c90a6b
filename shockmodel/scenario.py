"""Scenario files (L2): parse and check them (stage 1), then compile them against a table (stage 2).

Stage 1 (:func:`load_scenario`, :func:`scenario_from_dict`) reads TOML, resolves ``include`` and
``overrides`` and checks the structure without a table: key names, types, enums, distribution parameters
and ranges. The result is a frozen :class:`ScenarioSpec` written in labels. Stage 2
(:func:`compile_scenario`) resolves the labels and groups against an :class:`~shockmodel.mrio.MRIO` and
builds the boolean masks the engine consumes (:class:`CompiledScenario`).

The frozen dataclasses are the schema. Their key fields (made by :func:`_key`) say which TOML keys exist,
how each is parsed and checked and whether it is required; parsing, :meth:`ScenarioSpec.to_dict` and
:func:`format_scenario` all walk them. The file format is docs/contracts.md section 1.

Every problem raises a one-line :class:`~shockmodel.errors.ScenarioError` naming the file, the dotted key
path and, where the key can be found in the file's text, its line.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import numbers
import os
import re
from dataclasses import MISSING, dataclass, field, fields, replace
from functools import cached_property, partial
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping, NoReturn

import numpy as np

from shockmodel import limits
from shockmodel import regions as regions_module
from shockmodel import runtime
from shockmodel.errors import ScenarioError, UserError
from shockmodel.mrio import MRIO
from shockmodel.paths import display_path, params_dir

COPULAS = ("gaussian", "t")   #: dependence of the latent variables (engine.sample_block)
SHOCK_KINDS = ("capacity", "trade_block", "payment_friction", "final_demand", "substitution", "duration", "inventory",
               "tariff", "financial_sanction", "capital_controls")
#: Financial kinds: read only by the market channel (a foreign holder's access to the regions' equity
#: markets); the propagation models ignore them. Severity: probability that the measure binds in a draw.
FINANCIAL_KINDS = frozenset(("financial_sanction", "capital_controls"))
DISTRIBUTIONS = ("fixed", "uniform", "triangular", "pert", "beta", "lognormal", "truncnormal")

#: The group every region / every sector belongs to.
ALL = "ALL"

#: Target keys of each kind -> default (None: required). Every target key is a :class:`ShockSpec` field.
KIND_TARGETS: Mapping[str, Mapping[str, tuple[str, ...] | None]] = MappingProxyType({
    "capacity": {"regions": None, "sectors": (ALL,)},
    "trade_block": {"exporters": None, "importers": None, "sectors": (ALL,)},
    "payment_friction": {"regions": None, "partners": (ALL,), "sectors": (ALL,)},
    "final_demand": {"regions": None, "sectors": (ALL,)},
    "substitution": {"sectors": (ALL,)},
    "duration": {},
    "inventory": {},
    "tariff": {"exporters": None, "importers": None, "sectors": (ALL,)},
    "financial_sanction": {"regions": None},
    "capital_controls": {"regions": None},
})

#: Kinds whose severity is a share in [0, 1]; the other two are measured in months and days.
SHARE_KINDS = frozenset(("capacity", "trade_block", "payment_friction", "final_demand", "substitution",
                         *FINANCIAL_KINDS))
SEVERITY_UNITS: Mapping[str, str] = MappingProxyType(
    {**{k: "share" for k in SHARE_KINDS}, "duration": "months", "inventory": "days", "tariff": "ad valorem rate"})

#: A tariff shock's default trade elasticity: the elasticity of tariff-exclusive import flows with respect
#: to one plus the tariff rate (docs/scenarios.md, "Tariffs"). Boehm, Levchenko & Pandalai-Nayar (2023)
#: estimate about 0.76 in the year after a tariff change and 1.75 to 2.25 in the long run (after 7-10
#: years); the model's horizon is a year, so the mode is their one-year value and the long-run upper end
#: bounds the range. The lower end 0.4 is an assumption (slower adjustment than their average).
DEFAULT_TRADE_ELASTICITY = ("pert", {"low": 0.4, "mode": 0.76, "high": 2.25})
DEFAULT_TRADE_ELASTICITY_SOURCE = (
    "Boehm, Levchenko & Pandalai-Nayar (2023), 'The Long and Short (Run) of Trade Elasticities', AER 113(4): "
    "861-905: about 0.76 one year after a tariff change (mode), 1.75-2.25 in the long run (upper end 2.25); "
    "lower end 0.4: assumption")


def tariff_share_lost(rate, elasticity):
    """Share of a flow (at the exporter's prices, as the table records it) lost to an ad valorem tariff:
    ``1 - (1 + rate)^(-elasticity)`` (docs/scenarios.md eq. T1). Constant-elasticity (Armington) import
    demand with full pass-through of the tariff to the buyer's price and the exporter's price unchanged;
    works on numbers and numpy arrays alike."""
    return -np.expm1(-np.asarray(elasticity, dtype=np.float64) * np.log1p(np.asarray(rate, dtype=np.float64)))

#: Parameter names of each distribution, in the order of its canonical tuple (contracts section 1).
DIST_PARAMS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "fixed": ("value",),
    "uniform": ("low", "high"),
    "triangular": ("low", "mode", "high"),
    "pert": ("low", "mode", "high", "lambda"),
    "beta": ("a", "b", "low", "high"),
    "lognormal": ("median", "sigma", "high"),
    "truncnormal": ("mean", "sd", "low", "high"),
})
#: Defaults of the optional parameters (the one table for scenarios and market parameters). lognormal's
#: cap defaults to inf here; share-valued kinds lower it to 1 (see _fit_to_kind).
DIST_DEFAULTS: Mapping[str, Mapping[str, float]] = MappingProxyType({
    "pert": {"lambda": 4.0}, "beta": {"low": 0.0, "high": 1.0}, "lognormal": {"high": math.inf}})

_TARGET_KEYS = ("regions", "exporters", "importers", "partners", "sectors")
_NAME_RE = re.compile(r"[A-Za-z0-9_-]+")          # package, shock and group names: TOML bare keys, no dots
_SCENARIO_NAME_RE = re.compile(r"[^\s/\\]+")       # scenario names become parts of result folder names
_MIN_TRUNC_MASS = 1e-12                            # below this a truncated normal cannot be sampled


# --- where values come from: files, texts and line numbers -----------------------------------------------


@dataclass(frozen=True)
class _Source:
    """One file (or dict) that contributed keys, with its text so that keys can be found by line."""

    file: str
    text: str | None = None

    @cached_property
    def key_lines(self) -> tuple[tuple[tuple[str, ...], int], ...]:
        return _key_lines(self.text) if self.text else ()


@dataclass(frozen=True)
class _Where:
    """Finds the file and line of a key path, and raises errors there.

    ``sources`` are in priority order (the file itself first, then its includes, latest first), so the
    first file that writes a key is the one whose value won the merge. ``overrides`` are the dotted
    paths set by overrides, in the order applied; ``argument`` marks those given to :func:`load_scenario`.
    """

    sources: tuple[_Source, ...]
    overrides: tuple[tuple[str, bool], ...] = ()

    @property
    def file(self) -> str:
        return self.sources[0].file

    def locate(self, path: tuple[str, ...]) -> tuple[str, int | None, str]:
        """``(file, line or None, note)`` of the value at ``path``."""
        for key, argument in reversed(self.overrides):
            parts = tuple(key.split("."))
            if path[: len(parts)] == parts:
                if argument:
                    return self.file, None, f" (set by override '{key}')"
                return (*self._best(("overrides", *parts)), "")
        return (*self._best(path), "")

    def _best(self, path: tuple[str, ...]) -> tuple[str, int | None]:
        best: tuple[int, str, int | None] = (0, self.file, None)
        for src in self.sources:
            depth, line = _match_line(src.key_lines, path)
            if depth > best[0]:
                best = (depth, src.file, line)
        return best[1], best[2]

    def fail(self, path: Iterable[str], message: str) -> NoReturn:
        path = tuple(path)
        file, line, note = self.locate(path)
        where = f" (line {line})" if line else ""
        raise ScenarioError(f"{message}{note}{where}", file=file, field=".".join(path) or None)


_KEY_TOKEN = re.compile(r"""\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)\s*""")


def _split_key(text: str) -> tuple[str, ...] | None:
    """A TOML key (``a."b.c".d``) -> its parts, quoted parts split at dots too; None if not a key."""
    parts: list[str] = []
    pos = 0
    while True:
        m = _KEY_TOKEN.match(text, pos)
        if not m:
            return None
        token = m.group(1)
        parts.extend((token[1:-1] if token[0] in "\"'" else token).split("."))
        pos = m.end()
        if pos == len(text):
            return tuple(parts)
        if text[pos] != ".":
            return None
        pos += 1


def _key_lines(text: str) -> tuple[tuple[tuple[str, ...], int], ...]:
    """Every table header and ``key = value`` line of a TOML text as (full key path, line number).

    A cheap line scan, not a parser: good enough to point at a key in a hand-written file.
    """
    out = []
    table: tuple[str, ...] = ()
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("[") and not stripped.startswith("[["):
            header = _split_key(stripped[1:].split("]", 1)[0])
            if header is not None:
                table = header
                out.append((table, number))
        elif "=" in stripped and not stripped.startswith("#"):
            key = _split_key(stripped.split("=", 1)[0])
            if key is not None:
                out.append(((*table, *key), number))
    return tuple(out)


def _match_line(entries, path: tuple[str, ...]) -> tuple[int, int | None]:
    """Best line for ``path``: the deepest entry that is a prefix of it (an exact key beats its table);
    failing that, the first entry below it. Returns (match depth, line)."""
    best = (0, None)
    for key, line in entries:
        if path[: len(key)] == key and len(key) > best[0]:
            best = (len(key), line)
    if best[1] is None:
        for key, line in entries:
            if key[: len(path)] == path:
                return len(path), line
    return best


# --- small helpers ---------------------------------------------------------------------------------------


def _describe(value: object) -> str:
    """How a wrong value reads in an error: its TOML type and, if short, the value."""
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, numbers.Real):
        return f"a number ({value!r})"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, (list, tuple)):
        return "a list"
    return f"a {type(value).__name__}"


def _g(x: float) -> str:
    """A number as people write it: 0.85, 12, 1e-05, inf."""
    return f"{x:.6g}"


def _interval(lo: float, hi: float, open_lo: bool) -> str:
    if math.isinf(hi):
        return f"{'>' if open_lo else '>='} {_g(lo)}"
    return f"in {'(' if open_lo else '['}{_g(lo)}, {_g(hi)}]"


# --- parsers: (value, key path, where) -> checked value ---------------------------------------------------

Parser = Callable[[object, tuple[str, ...], _Where], Any]


def _text(*, required_content: bool = False) -> Parser:
    def parse(value, path, where):
        if not isinstance(value, str):
            where.fail(path, f"expected a string, got {_describe(value)}")
        if required_content and not value.strip():
            where.fail(path, "must not be empty")
        return value
    return parse


def _name(pattern: re.Pattern, rule: str) -> Parser:
    def parse(value, path, where):
        value = _text(required_content=True)(value, path, where)
        if not pattern.fullmatch(value):
            where.fail(path, f"invalid name {value!r}: {rule}")
        try:
            limits.check_name(value)
        except UserError as err:
            where.fail(path, err.message)
        return value
    return parse


def _as_float(value, path, where, *, allow_inf: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        where.fail(path, f"expected a number, got {_describe(value)}")
    if isinstance(value, numbers.Integral) and abs(value) > limits.MAX_INT:
        where.fail(path, f"integer too large ({len(str(abs(value)))} digits; at most {limits.MAX_INT})")
    x = float(value)
    if math.isnan(x) or (math.isinf(x) and not allow_inf):
        where.fail(path, f"expected a finite number, got {_g(x)}")
    return x


def _number(lo: float = -math.inf, hi: float = math.inf, *, open_lo: bool = False) -> Parser:
    def parse(value, path, where):
        x = _as_float(value, path, where)
        if x < lo or x > hi or (open_lo and x == lo):
            where.fail(path, f"must be {_interval(lo, hi, open_lo)}, got {_g(x)}")
        return x
    return parse


def _choice(choices: tuple[str, ...], what: str) -> Parser:
    def parse(value, path, where):
        if not isinstance(value, str):
            where.fail(path, f"expected a {what} name, got {_describe(value)}")
        if value not in choices:
            where.fail(path, f"unknown {what} {value!r}{limits.did_you_mean(value, choices)} "
                             f"(choose one of: {', '.join(choices)})")
        return value
    return parse


def _labels(value, path, where) -> tuple[str, ...]:
    """A non-empty list of names (labels or groups), e.g. ``["TWN", "WEST"]``."""
    if isinstance(value, str):
        where.fail(path, f'expected a list of names such as ["{value}"], got a string')
    if not isinstance(value, (list, tuple)):
        where.fail(path, f"expected a list of names, got {_describe(value)}")
    if not value:
        where.fail(path, "empty list: name at least one label or group (or \"ALL\")")
    for item in value:
        if not isinstance(item, str) or not item.strip():
            where.fail(path, f"expected names (strings), got {_describe(item)} in the list")
    return tuple(value)


def _table(value, path, where, example: str = "") -> Mapping:
    if not isinstance(value, Mapping):
        hint = f", e.g. {example}" if example else ""
        where.fail(path, f"expected a table{hint}, got {_describe(value)}")
    return value


def _coordination_range(value, path, where) -> tuple[float, float]:
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        where.fail(path, f"expected two numbers [low, high], got {_describe(value)}")
    lo, hi = (_number(-1.0, 1.0)(v, path, where) for v in value)
    if lo > hi:
        where.fail(path, f"low must not exceed high, got [{_g(lo)}, {_g(hi)}]")
    return lo, hi


def _groups(value, path, where) -> Mapping[str, tuple[str, ...]]:
    table = _table(value, path, where, 'WEST = ["USA", "DEU"]')
    out = {}
    for name, members in table.items():
        _name(_NAME_RE, "use letters, digits, '_' and '-'")(name, (*path, name), where)
        if name == ALL:
            where.fail((*path, name), f"'{ALL}' is reserved (every label of the table)")
        out[name] = _labels(members, (*path, name), where)
    _check_group_cycles(out, path, where)
    return MappingProxyType(out)


def _variants(value, path, where) -> Mapping[str, tuple[str, ...]]:
    """``[variants]``: name -> packages switched on, e.g. ``russia = ["russia"]``. Package names are
    checked against the packages when the variants are used (``shockmodel.pipeline.declared_variants``)."""
    table = _table(value, path, where, 'combined = ["russia", "china_taiwan"]')
    out = {}
    for name, members in table.items():
        _name(_NAME_RE, "use letters, digits, '_' and '-'")(name, (*path, name), where)
        out[name] = _labels(members, (*path, name), where)
    return MappingProxyType(out)


def _critical_inputs(value, path, where) -> Mapping[str, Mapping[str, Mapping[str, Any]]]:
    """``[critical_inputs.<using sector>]`` tables of ``<input sector> = { weight = .., source = .. }``."""
    example = 'BASIC_METALS = { weight = 1.0, source = "..." }'
    out = {}
    for using, inputs in _table(value, path, where, "[critical_inputs.TRANSPORT_EQ]").items():
        p = (*path, using)
        _name(_NAME_RE, "use a sector or sector-group name")(using, p, where)
        rows = {}
        for inp, entry in _table(inputs, p, where, example).items():
            q = (*p, inp)
            _name(_NAME_RE, "use a sector or sector-group name")(inp, q, where)
            entry = _table(entry, q, where, "{ weight = 1.0, source = \"...\" }")
            _reject_unknown(entry, ("weight", "source"), q, where, "a critical input")
            for key in ("weight", "source"):
                if key not in entry:
                    where.fail((*q, key), f"missing required key '{key}' in a critical input ({example})")
            rows[inp] = MappingProxyType({"weight": _number(0.0, 1.0)(entry["weight"], (*q, "weight"), where),
                                          "source": _text(required_content=True)(entry["source"], (*q, "source"), where)})
        if not rows:
            where.fail(p, f"empty table: name at least one input sector, e.g. {example}")
        out[using] = MappingProxyType(rows)
    return MappingProxyType(out)


def _check_group_cycles(groups: Mapping[str, tuple[str, ...]], path, where) -> None:
    """Groups may name other groups, but never themselves through a chain, and chains are at most
    ``limits.MAX_GROUP_DEPTH`` long (walked without recursion; each group is walked once)."""
    done: set[str] = set()
    for start in groups:
        if start in done:
            continue
        chain: list[str] = [start]
        todo = [iter(groups[start])]
        while todo:
            member = next(todo[-1], None)
            if member is None:
                done.add(chain.pop())
                todo.pop()
                continue
            if member not in groups or member in done:
                continue
            if member in chain:
                cycle = " -> ".join((*chain[chain.index(member):], member))
                where.fail((*path, chain[0]), f"groups refer to each other in a circle: {cycle}")
            if len(chain) >= limits.MAX_GROUP_DEPTH:
                where.fail((*path, chain[0]), f"groups nest more than {limits.MAX_GROUP_DEPTH} deep "
                                              f"({' -> '.join(chain[:3])} -> ...)")
            chain.append(member)
            todo.append(iter(groups[member]))


def _reject_unknown(table: Mapping, allowed: Iterable[str], path, where, what: str) -> None:
    allowed = tuple(allowed)
    for key in table:
        if key not in allowed:
            where.fail((*path, key), f"unknown key {key!r} in {what}{limits.did_you_mean(key, allowed)} "
                                     f"(allowed: {', '.join(allowed)})")


def _key(parse: Parser, *, required: bool = False, default: Any = MISSING, by_name: bool = False, **kwargs) -> Any:
    """A dataclass field that is also a TOML key: ``parse`` converts and checks the value.

    ``by_name``: the value is a tuple of specs written as a table keyed by their names (packages, shocks).
    """
    return field(default=default, metadata={"parse": parse, "required": required, "by_name": by_name}, **kwargs)


def _toml_keys(cls) -> tuple[str, ...]:
    """The TOML keys of a spec class, in declaration order."""
    return tuple(f.name for f in fields(cls) if "parse" in f.metadata)


def _parse_fields(cls, table: Mapping, path, where, keys: tuple[str, ...], what: str) -> dict[str, Any]:
    """Parse the ``keys`` of ``cls`` found in ``table``; unknown keys and missing required keys fail."""
    _reject_unknown(table, keys, path, where, what)
    out = {}
    for f in fields(cls):
        if f.name not in keys:
            continue
        if f.name in table:
            out[f.name] = f.metadata["parse"](table[f.name], (*path, f.name), where)
        elif f.metadata["required"]:
            where.fail((*path, f.name), f"missing required key '{f.name}' in {what}")
    return out


# --- distributions ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Distribution:
    """A sampled quantity (a shock's severity, a market parameter): ``dist`` and its canonical parameter
    tuple (contracts section 1): ``fixed (value,)``, ``uniform (low, high)``, ``triangular (low, mode,
    high)``, ``pert (low, mode, high, lambda)``, ``beta (a, b, low, high)``, ``lognormal (log(median),
    sigma, high)`` (``high`` caps the draw) and ``truncnormal (mean, sd, low, high)``. One type for
    scenarios and markets: one parameter table (:data:`DIST_PARAMS`, :data:`DIST_DEFAULTS`), one support
    (:meth:`support`, what the sampler can reach) and one clipping rule (``sampling.draw``)."""

    dist: str
    params: tuple[float, ...]

    @classmethod
    def fixed(cls, value: float) -> Distribution:
        return cls("fixed", (float(value),))

    def support(self) -> tuple[float, float]:
        """Smallest and largest value a draw can take (:func:`dist_support`)."""
        return dist_support(self)

    @property
    def strictly_positive(self) -> bool:
        """True when every draw is > 0 (a lognormal's lower end 0 is never reached)."""
        lo, _ = self.support()
        return lo > 0 or (self.dist == "lognormal" and self.params[2] > 0)

    @classmethod
    def from_named(cls, dist: str, named: Mapping[str, float]) -> Distribution:
        """From parameters by name, as written in a scenario file (defaults already filled in)."""
        values = [float(named[p]) for p in DIST_PARAMS[dist]]
        if dist == "lognormal":
            values[0] = math.log(values[0])
        return cls(dist, tuple(values))

    def named(self) -> dict[str, float]:
        """Parameters by name as written in a scenario file (inverse of :meth:`from_named`).

        An infinite lognormal cap is the default and is left out, so the dict stays TOML- and JSON-able.
        """
        values = list(self.params)
        if self.dist == "lognormal":
            values[0] = _exp_shortest(values[0])
        out = dict(zip(DIST_PARAMS[self.dist], values))
        if self.dist == "lognormal" and math.isinf(out["high"]):
            del out["high"]
        return out

    def __str__(self) -> str:
        return f"{self.dist}({', '.join(f'{k}={_g(v)}' for k, v in self.named().items())})"


def _exp_shortest(mu: float) -> float:
    """``exp(mu)`` with the fewest digits whose log is ``mu`` again.

    A median read from a file (0.001) thus comes back as written rather than as 0.0010000000000000002,
    and ``to_dict`` -> load -> ``to_dict`` is exact (stable sha256).
    """
    x = math.exp(mu)
    for digits in range(1, 18):
        candidate = float(f"{x:.{digits}g}")
        if candidate > 0 and math.log(candidate) == mu:
            return candidate
    return x


#: The sampler's latent normal reaches |z| <= LATENT_Z (sampling.TABLE_Z, Phi(-z) = 1e-15; equal by
#: tests/test_hardening.py): the extreme quantiles it can draw are F^-1(Phi(+-LATENT_Z)).
LATENT_Z = 7.941345326170998
_LOG_REPRESENTABLE = 700.0   # exp(+-700) is a finite, nonzero float (the limit is about 709.78)
#: Largest severity of the kinds measured in months or days (83 million years: far beyond any horizon,
#: small enough that every distribution's arithmetic stays finite).
MAX_SEVERITY_UNITS = 1e9

_SUPPORT = {"uniform": (0, 1), "triangular": (0, 2), "pert": (0, 2), "beta": (2, 3), "truncnormal": (2, 3)}


def dist_support(d: Distribution) -> tuple[float, float]:
    """Smallest and largest value ``d`` can take (a lognormal's lower end 0 is never reached)."""
    if d.dist == "fixed":
        return d.params[0], d.params[0]
    if d.dist == "lognormal":
        mu, sigma, cap = d.params
        return 0.0, min(cap, math.exp(min(mu + sigma * LATENT_Z, _LOG_REPRESENTABLE)))
    i, j = _SUPPORT[d.dist]
    return d.params[i], d.params[j]


def _norm_cdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _norm_pdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _norm_mass(a: float, b: float) -> float:
    """P(a < Z < b) for a standard normal Z, from the nearer tail so far tails keep their digits."""
    if a > 0:
        return _norm_cdf(-a) - _norm_cdf(-b)
    return _norm_cdf(b) - _norm_cdf(a)


def dist_mean(d: Distribution) -> float:
    """Mean of ``d``. PERT: ``(low + lambda mode + high) / (lambda + 2)`` (Vose 2008); lognormal: the mean
    of ``min(X, high)``, since ``high`` caps the draws; truncnormal: the mean of the truncated normal."""
    p = d.params
    if d.dist == "fixed":
        return p[0]
    if d.dist == "uniform":
        return 0.5 * (p[0] + p[1])
    if d.dist == "triangular":
        return (p[0] + p[1] + p[2]) / 3.0
    if d.dist == "pert":
        low, mode, high, lam = p
        return (low + lam * mode + high) / (lam + 2.0)
    if d.dist == "beta":
        a, b, low, high = p
        return low + (high - low) * a / (a + b)
    if d.dist == "lognormal":
        mu, sigma, cap = p
        if math.isinf(cap):
            return math.exp(mu + 0.5 * sigma**2)
        z = (math.log(cap) - mu) / sigma
        return math.exp(mu + 0.5 * sigma**2) * _norm_cdf(z - sigma) + cap * _norm_cdf(-z)
    mean, sd, low, high = p
    a, b = (low - mean) / sd, (high - mean) / sd
    return mean + sd * (_norm_pdf(a) - _norm_pdf(b)) / _norm_mass(a, b)


def _dist_problem(dist: str, p: Mapping[str, float]) -> tuple[str, str] | None:
    """The first impossible parameter of a distribution as (parameter, message), or None."""
    if dist == "uniform" and p["low"] > p["high"]:
        return "high", f"uniform needs low <= high, got low={_g(p['low'])}, high={_g(p['high'])}"
    if dist in ("triangular", "pert"):
        if p["low"] >= p["high"]:
            return "high", f"{dist} needs low < high, got low={_g(p['low'])}, high={_g(p['high'])}"
        if not p["low"] <= p["mode"] <= p["high"]:
            return "mode", (f"{dist} needs low <= mode <= high, got low={_g(p['low'])}, mode={_g(p['mode'])}, "
                            f"high={_g(p['high'])}")
    if dist == "pert" and p["lambda"] <= 0:
        return "lambda", f"must be > 0, got {_g(p['lambda'])}"
    for name in ("a", "b", "median", "sigma", "sd"):
        if name in p and p[name] <= 0:
            return name, f"{dist} needs {name} > 0, got {_g(p[name])}"
    if dist == "lognormal" and p["high"] <= 0:
        return "high", f"the cap must be > 0, got {_g(p['high'])}"
    if dist == "lognormal" and abs(math.log(p["median"])) + p["sigma"] * LATENT_Z > _LOG_REPRESENTABLE:
        # the sampler tabulates exp(mu + sigma z) for |z| <= LATENT_Z: beyond this, inf or 0 (NaN losses)
        limit = (_LOG_REPRESENTABLE - abs(math.log(p["median"]))) / LATENT_Z
        return "sigma", (f"lognormal(median={_g(p['median'])}, sigma={_g(p['sigma'])}) cannot be sampled: its "
                         f"extreme quantiles overflow a float; sigma must be <= {_g(max(limit, 0.0))}")
    if dist in ("beta", "truncnormal") and p["low"] >= p["high"]:
        return "high", f"{dist} needs low < high, got low={_g(p['low'])}, high={_g(p['high'])}"
    if dist == "truncnormal":
        mass = _norm_mass((p["low"] - p["mean"]) / p["sd"], (p["high"] - p["mean"]) / p["sd"])
        if mass < _MIN_TRUNC_MASS:
            return "mean", (f"normal(mean={_g(p['mean'])}, sd={_g(p['sd'])}) has almost no probability in "
                            f"[{_g(p['low'])}, {_g(p['high'])}]")
    return None


_SEVERITY_EXAMPLE = '{ dist = "pert", low = 0.6, mode = 0.85, high = 0.95 }'


def _distribution(value, path, where) -> Distribution:
    """An inline table ``{ dist = ..., <parameters> }`` -> :class:`Distribution`."""
    table = _table(value, path, where, _SEVERITY_EXAMPLE)
    if "dist" not in table:
        where.fail((*path, "dist"), f"missing 'dist' (one of: {', '.join(DISTRIBUTIONS)})")
    dist = _choice(DISTRIBUTIONS, "distribution")(table["dist"], (*path, "dist"), where)
    names = DIST_PARAMS[dist]
    _reject_unknown(table, ("dist", *names), path, where, f"a {dist} distribution")
    named = dict(DIST_DEFAULTS.get(dist, {}))
    for name in names:
        if name in table:
            # only a lognormal cap may be infinite (it is the default)
            named[name] = _as_float(table[name], (*path, name), where,
                                    allow_inf=(dist, name) == ("lognormal", "high"))
        elif name not in named:
            where.fail((*path, name), f"missing parameter '{name}' of {dist} (needs {', '.join(names)})")
    problem = _dist_problem(dist, named)
    if problem:
        where.fail((*path, problem[0]), problem[1])
    return Distribution.from_named(dist, named)


def _fit_to_kind(d: Distribution, kind: str, path, where) -> Distribution:
    """Check that ``d`` suits the kind's unit; a share's lognormal gets its default cap 1."""
    if kind in SHARE_KINDS and d.dist == "lognormal" and math.isinf(d.params[2]):
        d = Distribution("lognormal", (*d.params[:2], 1.0))
    lo, hi = dist_support(d)
    if kind in SHARE_KINDS and (lo < 0 or hi > 1):
        where.fail(path, f"a {kind} severity is a share, so its distribution must lie in [0, 1]; "
                         f"{d} ranges over [{_g(lo)}, {_g(hi)}]")
    if kind == "duration" and lo <= 0 and d.dist != "lognormal":  # a lognormal never reaches 0
        where.fail(path, f"a duration is in months and must be > 0; {d} reaches {_g(lo)}")
    if kind == "inventory" and lo < 0:
        where.fail(path, f"an inventory is in days and must be >= 0; {d} reaches {_g(lo)}")
    if kind not in SHARE_KINDS and hi > MAX_SEVERITY_UNITS:
        where.fail(path, f"a {kind} in {SEVERITY_UNITS.get(kind, 'units')} must stay <= {_g(MAX_SEVERITY_UNITS)}; "
                         f"{d} reaches {_g(hi)} (give a cap 'high')")
    if kind == "tariff" and lo < 0:
        where.fail(path, f"a tariff severity is an ad valorem rate (0.5 = 50%) and must be >= 0; {d} reaches {_g(lo)}")
    return d


#: Kinds that act over time in the dynamic model and may carry a timeline of their own (docs/model-dynamic.md
#: D1); the others (duration, inventory, substitution, the financial kinds) have none.
TIMED_KINDS = frozenset(("capacity", "trade_block", "payment_friction", "final_demand", "tariff"))
#: A shock's timeline keys (each a number or a distribution, in months); a package takes the first three.
SHOCK_TIMELINE_KEYS = ("start_months", "ramp_months", "duration_months", "recovery_months")
_TIMELINE_EXAMPLE = '3, or { dist = "uniform", low = 0, high = 6 }'


def _timeline_value(*, positive: bool = False) -> Parser:
    """A timeline length in months: a number >= 0 (> 0 with ``positive``) or a distribution of such numbers
    (sampled per draw by the dynamic model, docs/model-dynamic.md D1)."""
    number = _number(0.0, MAX_SEVERITY_UNITS, open_lo=positive)

    def parse(value, path, where):
        if not isinstance(value, Mapping):
            if isinstance(value, (list, str)):
                where.fail(path, f"expected a number of months or a distribution like {_TIMELINE_EXAMPLE}, "
                                 f"got {_describe(value)}")
            return number(value, path, where)
        d = _distribution(value, path, where)
        if d.dist == "lognormal" and math.isinf(d.params[2]):
            where.fail((*path, "high"), f"a lognormal number of months needs a cap 'high' (<= {_g(MAX_SEVERITY_UNITS)})")
        lo, hi = dist_support(d)
        if lo < 0 or (positive and lo <= 0 and d.dist != "lognormal"):
            where.fail(path, f"a number of months must be {'> 0' if positive else '>= 0'}; {d} reaches {_g(lo)}")
        if hi > MAX_SEVERITY_UNITS:
            where.fail(path, f"a number of months must stay <= {_g(MAX_SEVERITY_UNITS)}; {d} reaches {_g(hi)}")
        return d
    return parse


def as_distribution(value) -> Distribution:
    """A timeline value as a distribution (a number is ``fixed``)."""
    return value if isinstance(value, Distribution) else Distribution("fixed", (float(value),))


# --- the spec --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ShockSpec:
    """One shock of a package, in labels. Only the target keys of its kind (:data:`KIND_TARGETS`) apply;
    the others stay empty."""

    name: str
    kind: str = _key(_choice(SHOCK_KINDS, "shock kind"), required=True)
    description: str = _key(_text(), default="")
    regions: tuple[str, ...] = _key(_labels, default=())
    exporters: tuple[str, ...] = _key(_labels, default=())
    importers: tuple[str, ...] = _key(_labels, default=())
    partners: tuple[str, ...] = _key(_labels, default=())
    sectors: tuple[str, ...] = _key(_labels, default=())
    severity: Distribution = _key(_distribution, required=True)
    source: str = _key(_text(required_content=True), required=True)
    # tariff shocks only: the trade elasticity (default DEFAULT_TRADE_ELASTICITY) and its source
    elasticity: Distribution | None = _key(_distribution, default=None)
    elasticity_source: str = _key(_text(required_content=True), default="")
    # the shock's own timeline (dynamic model, docs/model-dynamic.md D1; kinds in TIMED_KINDS): a key left out
    # is its package's; start_months counts from the package's start, duration_months from the shock's
    start_months: float | Distribution | None = _key(_timeline_value(), default=None)
    ramp_months: float | Distribution | None = _key(_timeline_value(), default=None)
    duration_months: float | Distribution | None = _key(_timeline_value(positive=True), default=None)
    recovery_months: float | Distribution | None = _key(_timeline_value(), default=None)

    @property
    def timeline(self) -> dict[str, float | Distribution]:
        """The timeline keys the shock sets itself (an empty dict: its package's timeline)."""
        return {k: getattr(self, k) for k in SHOCK_TIMELINE_KEYS if getattr(self, k) is not None}

    @property
    def targets(self) -> dict[str, tuple[str, ...]]:
        """The kind's target keys and their names, e.g. ``{"exporters": ("TWN",), ...}``."""
        return {k: getattr(self, k) for k in KIND_TARGETS[self.kind]}

    def to_dict(self) -> dict:
        return _spec_dict(self, _shock_keys(self.kind))


def _shock_keys(kind: str | None) -> tuple[str, ...]:
    """Keys a shock of ``kind`` takes, in file order (every target key when the kind is unknown)."""
    targets = KIND_TARGETS.get(kind, _TARGET_KEYS)
    keys = tuple(k for k in _toml_keys(ShockSpec) if (k not in _TARGET_KEYS or k in targets)
                 and (k not in SHOCK_TIMELINE_KEYS or kind in TIMED_KINDS or kind is None))
    return keys if kind in ("tariff", None) or kind not in KIND_TARGETS else tuple(
        k for k in keys if k not in _TARIFF_KEYS)


_TARIFF_KEYS = ("elasticity", "elasticity_source")


def _shock(name: str, value, path, where) -> ShockSpec:
    table = _table(value, path, where, 'kind = "trade_block" ...')
    if "kind" not in table:
        where.fail((*path, "kind"), f"missing required key 'kind' (one of: {', '.join(SHOCK_KINDS)})")
    kind = _choice(SHOCK_KINDS, "shock kind")(table["kind"], (*path, "kind"), where)
    if kind not in TIMED_KINDS:
        for key in SHOCK_TIMELINE_KEYS:
            if key in table:
                where.fail((*path, key), f"a {kind} shock has no timeline of its own; only "
                                         f"{', '.join(sorted(TIMED_KINDS))} shocks take {key} (or set it on the package)")
    values = _parse_fields(ShockSpec, table, path, where, _shock_keys(kind), f"a {kind} shock")
    for target, default in KIND_TARGETS[kind].items():
        if target not in values:
            if default is None:
                where.fail((*path, target), f"missing required key '{target}' in a {kind} shock")
            values[target] = default
    values["severity"] = _fit_to_kind(values["severity"], kind, (*path, "severity"), where)
    if kind == "tariff":
        values.update(_tariff_elasticity(values, path, where))
    return ShockSpec(name=name, **values)


def _tariff_elasticity(values: Mapping, path, where) -> dict:
    """A tariff's elasticity and its source: both given, or neither (then the cited default)."""
    if "elasticity" not in values:
        if "elasticity_source" in values:
            where.fail((*path, "elasticity_source"), "given without 'elasticity'; give both, or neither "
                                                     "for the default elasticity")
        dist, named = DEFAULT_TRADE_ELASTICITY
        return {"elasticity": Distribution.from_named(dist, {**DIST_DEFAULTS.get(dist, {}), **named}),
                "elasticity_source": DEFAULT_TRADE_ELASTICITY_SOURCE}
    if "elasticity_source" not in values:
        where.fail((*path, "elasticity_source"), "required when elasticity is given: name its source or "
                                                 "write 'assumption: ...'")
    lo, _ = dist_support(values["elasticity"])
    if lo < 0:
        where.fail((*path, "elasticity"), f"a trade elasticity must be >= 0; {values['elasticity']} reaches {_g(lo)}")
    return {}


def _shocks(value, path, where) -> tuple[ShockSpec, ...]:
    table = _table(value, path, where, "[packages.NAME.shocks.SHOCK] tables")
    if not table:
        where.fail(path, "a package needs at least one shock")
    if len(table) > limits.MAX_SHOCKS:
        where.fail(path, f"{len(table)} shocks; a scenario has at most {limits.MAX_SHOCKS}")
    out = []
    for name, shock in table.items():
        _name(_NAME_RE, "use letters, digits, '_' and '-'")(name, (*path, name), where)
        out.append(_shock(name, shock, (*path, name), where))
    for kind in ("duration", "inventory"):
        dup = [s.name for s in out if s.kind == kind]
        if len(dup) > 1:
            where.fail((*path, dup[1]), f"a package has at most one {kind} shock, got {', '.join(dup)}")
    return tuple(out)


@dataclass(frozen=True, kw_only=True)
class PackageSpec:
    """A package: shocks that occur together with one probability (e.g. ``russia``)."""

    name: str
    description: str = _key(_text(), default="")
    probability: float = _key(_number(0.0, 1.0), required=True)
    source: str = _key(_text(required_content=True), required=True)
    correlation: float = _key(_number(0.0, 1.0), default=0.0)   # of its shocks' latent intensities
    # timeline (the dynamic model only; docs/model-dynamic.md D1): months after the run's origin, the
    # ramp to full severity, the recovery after the package's duration shock (or the horizon) ends
    start_months: float | Distribution | None = _key(_timeline_value(), default=None)   # may be a distribution
    ramp_months: float | None = _key(_number(0.0), default=None)
    recovery_months: float | None = _key(_number(0.0), default=None)
    shocks: tuple[ShockSpec, ...] = _key(_shocks, required=True, by_name=True)

    def to_dict(self) -> dict:
        return _spec_dict(self, _toml_keys(PackageSpec))


def _packages(value, path, where) -> tuple[PackageSpec, ...]:
    table = _table(value, path, where, "[packages.NAME] tables")
    if not table:
        where.fail(path, "a scenario needs at least one package")
    if len(table) > limits.MAX_PACKAGES:
        where.fail(path, f"{len(table)} packages; at most {limits.MAX_PACKAGES}")
    out = []
    for name, pkg in table.items():
        p = (*path, name)
        _name(_NAME_RE, "use letters, digits, '_' and '-'")(name, p, where)
        values = _parse_fields(PackageSpec, _table(pkg, p, where, "probability = 0.5 ..."), p, where,
                               _toml_keys(PackageSpec), f"package '{name}'")
        out.append(PackageSpec(name=name, **values))
    return tuple(out)


def _no_groups() -> Mapping[str, tuple[str, ...]]:
    return MappingProxyType({})


@dataclass(frozen=True, kw_only=True)
class ScenarioSpec:
    """A resolved scenario (includes and overrides applied), checked without a table.

    ``source`` is the file it was read from (``"<dict>"`` for :func:`scenario_from_dict`).
    """

    name: str = _key(_name(_SCENARIO_NAME_RE, "no spaces or slashes"), required=True)
    description: str = _key(_text(), default="")
    horizon_months: float = _key(_number(0.0, open_lo=True), default=12.0)   # period losses are reported over
    coordination: float = _key(_number(-1.0, 1.0), default=0.0)   # Gaussian-copula correlation of packages
    coordination_range: tuple[float, float] | None = _key(_coordination_range, default=None)
    coordination_source: str = _key(_text(required_content=True), default="")
    copula: str = _key(_choice(COPULAS, "copula"), default="gaussian")   # "t": Student-t copula, tail dependence
    copula_df: float | None = _key(_number(1.0, 1e6), default=None)       # degrees of freedom of the t copula
    copula_source: str = _key(_text(required_content=True), default="")
    # the dynamic model: package k (in file order, from 0) starts k * package_offset_months later
    package_offset_months: float | None = _key(_number(0.0), default=None)
    region_groups: Mapping[str, tuple[str, ...]] = _key(_groups, default_factory=_no_groups, hash=False)
    sector_groups: Mapping[str, tuple[str, ...]] = _key(_groups, default_factory=_no_groups, hash=False)
    packages: tuple[PackageSpec, ...] = _key(_packages, required=True, by_name=True)   # one or more
    # overrides of params/critical_inputs.toml: using sector -> input sector -> {weight, source}
    critical_inputs: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = _key(_critical_inputs, default=None,
                                                                                 hash=False)
    # variant name -> packages switched on (same draws); the premium rule is shockmodel.aggregate.premium_roles
    variants: Mapping[str, tuple[str, ...]] | None = _key(_variants, default=None, hash=False)
    source: str = field(default="<dict>", compare=False)
    _where: _Where = field(default=_Where((_Source("<dict>"),)), compare=False, repr=False)

    @property
    def package_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.packages)

    def to_dict(self) -> dict:
        """The resolved scenario as TOML-able data (no None); loading it gives an equal spec."""
        keys = _toml_keys(ScenarioSpec)
        if not self.coordination_source:
            # coordination keys are only written with their source (required whenever they are given)
            keys = tuple(k for k in keys if not k.startswith("coordination"))
        if self.copula == "gaussian" and not self.copula_source:
            keys = tuple(k for k in keys if not k.startswith("copula"))   # the default, written by no file
        return _spec_dict(self, keys)

    @cached_property
    def sha256(self) -> str:
        """Hash of the canonical JSON of :meth:`to_dict` (key order does not matter)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()

    def only_packages(self, names: str | Iterable[str]) -> ScenarioSpec:
        """This scenario with only the named packages, named e.g. ``"combined[russia]"``."""
        keep = self._known_packages(names)
        return self._with_packages(keep, f"{self.name}[{','.join(keep)}]")

    def without_packages(self, names: str | Iterable[str]) -> ScenarioSpec:
        """This scenario without the named packages, named e.g. ``"combined[-russia]"``."""
        drop = self._known_packages(names)
        keep = tuple(n for n in self.package_names if n not in drop)
        return self._with_packages(keep, f"{self.name}[-{',-'.join(drop)}]")

    def _known_packages(self, names: str | Iterable[str]) -> tuple[str, ...]:
        names = (names,) if isinstance(names, str) else tuple(dict.fromkeys(names))
        for n in names:
            if n not in self.package_names:
                raise ScenarioError(f"no package {n!r}{limits.did_you_mean(n, self.package_names)} "
                                    f"(packages: {', '.join(self.package_names)})", file=self.source, field="packages")
        return names

    def _with_packages(self, keep: tuple[str, ...], name: str) -> ScenarioSpec:
        if not keep:
            raise ScenarioError("no package left", file=self.source, field="packages")
        return replace(self, name=name, packages=tuple(p for p in self.packages if p.name in keep))


def _spec_dict(spec, keys: Iterable[str]) -> dict:
    """The ``keys`` of a spec as plain TOML/JSON data; unset optional values (None) are left out."""
    meta = {f.name: f.metadata for f in fields(spec)}
    out = {}
    for key in keys:
        value = getattr(spec, key)
        if meta[key]["by_name"]:
            out[key] = {v.name: v.to_dict() for v in value}
        elif value is not None:
            out[key] = _toml_value(value)
    return out


def _toml_value(value):
    """Spec values -> plain TOML/JSON data: tuples become lists, distributions tables."""
    if isinstance(value, Distribution):
        return {"dist": value.dist, **value.named()}
    if isinstance(value, Mapping):
        return {k: _toml_value(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_toml_value(v) for v in value]
    return value


def _build(data: Mapping, where: _Where) -> ScenarioSpec:
    """Stage 1 proper: check the merged data and make the spec."""
    keys = _toml_keys(ScenarioSpec)
    _reject_unknown(data, (*keys, "include", "overrides"), (), where, "the scenario")
    values = _parse_fields(ScenarioSpec, data, (), where, keys, "the scenario")
    given = [k for k in ("coordination", "coordination_range") if k in values]
    if given and "coordination_source" not in values:
        where.fail(("coordination_source",), f"required when {given[0]} is given: name its source "
                                              "or write 'assumption: ...'")
    if "copula" in values and "copula_source" not in values:
        where.fail(("copula_source",), "required when copula is given: name its source or write 'assumption: ...'")
    if values.get("copula") == "t" and "copula_df" not in values:
        where.fail(("copula_df",), "required when copula = \"t\": the degrees of freedom (e.g. 4)")
    if "copula_df" in values and values.get("copula") != "t":
        where.fail(("copula_df",), "only a Student-t copula (copula = \"t\") takes degrees of freedom")
    k = len(values["packages"])
    n_shocks = sum(len(p.shocks) for p in values["packages"])
    if n_shocks > limits.MAX_SHOCKS:
        where.fail(("packages",), f"{n_shocks} shocks in all; a scenario has at most {limits.MAX_SHOCKS}")
    if k > 2:
        # an equicorrelation matrix of k packages is positive semi-definite iff rho >= -1/(k-1)
        floor = -1.0 / (k - 1)
        lowest = {"coordination": values.get("coordination", 0.0),
                  "coordination_range": values.get("coordination_range", (0.0,))[0]}
        for key, rho in lowest.items():
            if rho < floor:
                where.fail((key,), f"with {k} packages the coordination must be >= -1/{k - 1} = {_g(floor)} "
                                   f"(else the correlation matrix is not positive semi-definite), got {_g(rho)}")
    return ScenarioSpec(**values, source=where.file, _where=where)


# --- reading files: includes and overrides ---------------------------------------------------------------


def _library_dir() -> Path:
    return params_dir() / "scenarios"


def _library() -> dict[str, Path]:
    return {p.stem: p for p in sorted(_library_dir().glob("*.toml"))}


def _is_path(entry: str) -> bool:
    """Names ending in .toml or holding a slash are paths; other names are library scenarios."""
    return entry.endswith(".toml") or "/" in entry or os.sep in entry


def _unknown_library_name(name: str) -> str:
    lib = _library()
    return (f"unknown library scenario {name!r}{limits.did_you_mean(name, lib)} "
            f"(library: {', '.join(lib) or 'empty'}; give a path ending in .toml for a file)")


def _read_toml(path: Path) -> tuple[dict, str]:
    """Read one scenario file; every failure is a one-line error naming the file (limits.read_toml_text)."""
    file = str(path)
    text = limits.read_toml_text(path, what="scenario .toml file", error=ScenarioError)
    if not text.strip():
        raise ScenarioError("empty file, expected a scenario", file=file)
    data = _PARSED.get(text)
    if data is None:
        data = limits.parse_toml_text(text, file=file, error=ScenarioError)
        if len(_PARSED) >= 64:
            _PARSED.clear()
        _PARSED[text] = data
    if not data:
        raise ScenarioError("no keys (only comments?), expected a scenario", file=file)
    return copy.deepcopy(data), text


#: parsed scenario files by their text (the file is still read every time, so an edit is always seen;
#: parsing the library's includes cost about 7 ms per run)
_PARSED: dict[str, dict] = {}
runtime.register_cache(_PARSED.clear)


def _deep_merge(base: dict, top: Mapping) -> None:
    """Merge ``top`` into ``base``: tables key by key, other values replace.

    A distribution (a table with ``dist``) replaces the old one whole: merging the parameters of a
    ``pert`` into a ``fixed`` would make no sense.
    """
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict) and "dist" not in value:
            _deep_merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)


def _with_includes(data: Mapping, source: _Source, base_dir: Path | None, chain: tuple[Path, ...]
                   ) -> tuple[dict, tuple[_Source, ...]]:
    """``data`` merged on top of its includes (recursively). Returns the merged data and the sources in
    merge order (the last one wins)."""
    where = _Where((source,))
    data = dict(data)
    entries = data.pop("include", [])
    if not isinstance(entries, (list, tuple)) or not all(isinstance(e, str) and e for e in entries):
        where.fail(("include",), f"expected a list of library names or .toml paths, got {_describe(entries)}")
    merged: dict = {}
    order: list[_Source] = []
    for entry in entries:
        path = _include_path(entry, base_dir, where)
        if len(chain) >= limits.MAX_INCLUDE_DEPTH:
            where.fail(("include",), f"includes nest more than {limits.MAX_INCLUDE_DEPTH} deep")
        if path.resolve() in chain:
            cycle = " -> ".join(p.name for p in (*chain, path.resolve()))
            where.fail(("include",), f"circular include: {cycle}")
        sub, text = _read_toml(path)
        sub_merged, sub_order = _with_includes(sub, _Source(str(path), text), path.parent, (*chain, path.resolve()))
        _deep_merge(merged, sub_merged)
        order.extend(sub_order)
    _deep_merge(merged, data)
    return merged, (*order, source)


def _include_path(entry: str, base_dir: Path | None, where: _Where) -> Path:
    if not _is_path(entry):
        path = _library_dir() / f"{entry}.toml"
        if not path.is_file():
            where.fail(("include",), _unknown_library_name(entry))
        return path
    path = (base_dir or Path.cwd()) / Path(entry).expanduser()
    if not path.is_file():
        where.fail(("include",), f"included file {entry!r} not found ({path})")
    return path


def _flatten_overrides(table: Mapping, prefix: str = "") -> dict[str, object]:
    """``{"a": {"b": 1}}`` and ``{"a.b": 1}`` both -> ``{"a.b": 1}``; distributions stay whole."""
    out = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and "dist" not in value:
            out.update(_flatten_overrides(value, f"{path}."))
        else:
            out[path] = value
    return out


def _keys_at(parent: tuple[str, ...], node: Mapping) -> tuple[str, ...]:
    """Keys the table at ``parent`` may hold by the schema (existing or not), for overrides."""
    if not parent:
        return _toml_keys(ScenarioSpec)
    if len(parent) == 2 and parent[0] == "packages":
        return _toml_keys(PackageSpec)
    if len(parent) == 4 and parent[0] == "packages" and parent[2] == "shocks":
        return _shock_keys(node.get("kind"))
    if len(parent) == 5 and parent[0] == "packages" and parent[4] in ("severity", "elasticity"):
        return ("dist", *DIST_PARAMS.get(node.get("dist"), ()))
    return ()


def _apply_override(data: dict, key: str, value: object, fail: Callable[[str], NoReturn]) -> None:
    """Set the value at a dotted key path. The path must exist, except a last key the schema allows
    (e.g. ``packages.russia.correlation``): a typo must not silently add a key."""
    parts = key.split(".")
    if not all(parts):
        fail(f"bad override path {key!r}")
    node = data
    for i, part in enumerate(parts):
        here = ".".join(parts[:i]) or "the scenario"
        last = i == len(parts) - 1
        allowed = _keys_at(tuple(parts[:i]), node) if last else ()
        if part not in node and part not in allowed:
            choices = (*node, *allowed)
            listing = f" (have: {', '.join(node)})" if node else ""
            fail(f"override {key!r}: no key {part!r} in {here}{limits.did_you_mean(part, choices)}{listing}")
        if last:
            node[part] = copy.deepcopy(value)
        elif not isinstance(node[part], dict):
            fail(f"override {key!r}: {'.'.join(parts[:i + 1])} is {_describe(node[part])}, not a table")
        else:
            node = node[part]


def _argument_error(file: str, key: str, message: str) -> NoReturn:
    raise ScenarioError(message, file=file, field=key)


def _resolve(data: Mapping, sources: tuple[_Source, ...], overrides: Mapping[str, object] | None) -> ScenarioSpec:
    """Apply the ``[overrides]`` table, then the ``overrides`` argument, and build the spec."""
    data = dict(data)
    where = _Where(tuple(reversed(sources)))
    table = _flatten_overrides(_table(data.pop("overrides", {}), ("overrides",), where, '"a.b.c" = 1'))
    applied: list[tuple[str, bool]] = []
    for key, value in table.items():
        _apply_override(data, key, value, partial(where.fail, ("overrides", *key.split("."))))
        applied.append((key, False))
    for key, value in (overrides or {}).items():
        _apply_override(data, str(key), value, partial(_argument_error, where.file, str(key)))
        applied.append((str(key), True))
    return _build(data, replace(where, overrides=tuple(applied)))


def _scenario_path(name_or_path: str | os.PathLike) -> Path:
    key = os.fspath(name_or_path)
    if isinstance(name_or_path, os.PathLike) or _is_path(key):
        return Path(key).expanduser()
    lib = _library()
    if key not in lib:
        raise ScenarioError(_unknown_library_name(key), file=key)
    return lib[key]


def load_scenario(name_or_path: str | os.PathLike, overrides: Mapping[str, object] | None = None) -> ScenarioSpec:
    """Read a scenario by library name (``params/scenarios/NAME.toml``) or path: includes merged,
    ``[overrides]`` and then ``overrides`` (dotted key path -> value, as sweeps use) applied, checked.

    Raises :class:`ScenarioError` naming the file, the key path and (where found) the line.
    """
    path = _scenario_path(name_or_path)
    key = (str(path.resolve()), repr(sorted((str(k), repr(v)) for k, v in (overrides or {}).items())))
    hit = _LOADED.get(key)
    if hit is not None and all(_unchanged(src) for src in hit[0]):
        return hit[1]
    data, text = _read_toml(path)
    merged, sources = _with_includes(data, _Source(str(path), text), path.parent, (path.resolve(),))
    spec = _resolve(merged, sources, overrides)
    if path.parent.resolve() == _library_dir().resolve() and spec.name != path.stem:
        spec._where.fail(("name",), f"a library scenario's name must equal its file stem {path.stem!r}, "
                                    f"got {spec.name!r}")
    if len(_LOADED) >= 64:
        _LOADED.clear()
    _LOADED[key] = (sources, spec)
    return spec


#: loaded specs (frozen) by resolved path and overrides, with the files they were read from: a spec is
#: reused only while every one of those files still has the same text (they are re-read every time).
#: Merging the includes and checking cost about 3 ms per run, a tenth of a 10,000-draw leontief run.
_LOADED: dict[tuple[str, str], tuple[tuple[_Source, ...], ScenarioSpec]] = {}


def _unchanged(source: _Source) -> bool:
    try:
        return limits.read_input_file(source.file).decode("utf-8-sig") == source.text
    except (UserError, UnicodeDecodeError):
        return False


def scenario_from_dict(data: dict, *, source: str = "<dict>", base_dir: str | os.PathLike | None = None
                       ) -> ScenarioSpec:
    """A scenario from data shaped like a scenario file (e.g. ``spec.to_dict()``).

    Include paths are relative to ``base_dir`` (default: the working directory).
    """
    src = _Source(source)
    if not isinstance(data, Mapping):
        _Where((src,)).fail((), f"expected a table of scenario keys, got {_describe(data)}")
    base = Path(base_dir) if base_dir is not None else None
    merged, sources = _with_includes(data, src, base, ())
    return _resolve(merged, sources, None)


def list_scenarios() -> dict[str, str]:
    """Library scenario name -> description (or why it does not load)."""
    out = {}
    for name, path in _library().items():
        try:
            out[name] = load_scenario(path).description
        except ScenarioError as err:
            out[name] = f"(invalid: {err.message})"
    return out


# --- stage 2: compile against a table --------------------------------------------------------------------


@dataclass(frozen=True)
class CompiledPackage:
    """A package as the engine samples it: occurrence probability and within-package correlation."""

    name: str
    description: str
    probability: float
    correlation: float
    source: str
    start_months: float = 0.0      # timeline (dynamic model): package start incl. the scenario's offset
    ramp_months: float = 0.0
    recovery_months: float = 0.0
    start_dist: Distribution | None = None   # a sampled start, added to start_months (None: none)


@dataclass(frozen=True, eq=False)
class CompiledShock:
    """A shock in table indices. ``mask`` is read-only bool: capacity (R, S); trade_block (R, R, S)
    [exporter, importer, sector] with a False diagonal; final_demand (R, S) [buyer, product];
    substitution (S,); duration and inventory None. payment_friction arrives as trade_block;
    financial_sanction and capital_controls (R,) [region]."""

    key: str
    kind: str
    package: int
    severity: Distribution
    mask: np.ndarray | None
    source: str
    description: str
    elasticity: Distribution | None = None   # tariff: trade elasticity; severity is then the tariff rate
    #: the shock's own timeline keys (ScenarioSpec: ShockSpec.timeline) as distributions; () its package's
    timeline: tuple[tuple[str, Distribution], ...] = ()


@dataclass(frozen=True, eq=False)
class CompiledScenario:
    """A scenario resolved against one table (``table_sha256``): what the engine runs."""

    name: str
    description: str
    regions: tuple[str, ...]
    sectors: tuple[str, ...]
    table_sha256: str
    spec_sha256: str
    horizon_months: float
    coordination: float
    packages: tuple[CompiledPackage, ...]
    shocks: tuple[CompiledShock, ...]
    #: (input sector, using sector, weight) replacing params/critical_inputs.toml's weight, in order
    critical_overrides: tuple[tuple[int, int, float], ...] = ()
    copula_df: float = 0.0   # degrees of freedom of a Student-t copula; 0: Gaussian copula


@dataclass(frozen=True, eq=False)
class _Axis:
    """The names one axis (regions or sectors) of a table understands: ALL, labels, the table's built-in
    groups and the scenario's groups (which may nest). Every scenario group is resolved on creation, so
    a bad name in a group nobody uses still fails."""

    what: str                                   # "region" or "sector"
    table: str
    labels: tuple[str, ...]
    builtin: Mapping[str, tuple[str, ...]]
    groups: Mapping[str, tuple[str, ...]]
    other_labels: tuple[str, ...]              # the other axis, to spot a sector given as a region
    where: _Where
    named: Mapping[str, Any] = field(default_factory=dict)   # shipped named groups (regions.resolve), by name
    _masks: dict[str, np.ndarray] = field(default_factory=dict, init=False, repr=False)   # resolved groups

    def __post_init__(self) -> None:
        for name in self.groups:
            clash = "a label" if name in self.labels else "a built-in group" if name in self.builtin else None
            if clash:
                self.where.fail((f"{self.what}_groups", name),
                                f"group name {name!r} is already {clash} of table {self.table!r}; rename the group")
            self._one(name, (f"{self.what}_groups", name))

    def mask(self, names: Iterable[str], path: tuple[str, ...]) -> np.ndarray:
        """(n,) bool: the union of ``names``; an unknown name fails at ``path``."""
        out = np.zeros(len(self.labels), dtype=bool)
        for name in names:
            out |= self._one(name, path)
        return out

    def _one(self, name: str, path: tuple[str, ...]) -> np.ndarray:
        if name == ALL:
            return np.ones(len(self.labels), dtype=bool)
        if name in self.labels:
            return np.array([lab == name for lab in self.labels])
        if name in self.groups:
            if name not in self._masks:  # no cycles: checked in stage 1
                self._masks[name] = self.mask(self.groups[name], (f"{self.what}_groups", name))
            return self._masks[name]
        if name in self.builtin:
            return np.isin(np.array(self.labels), self.builtin[name])
        if name in self.named:
            res = self.named[name]
            if not res.regions:
                where = ", ".join(f"{', '.join(inside)} in {region or 'no region'}" for region, inside in res.left_out)
                self.where.fail(path, f"region group {name!r} has no region of its own on table {self.table!r} "
                                      f"({where}); name the regions instead")
            return np.isin(np.array(self.labels), res.regions)
        other = "sector" if self.what == "region" else "region"
        hint = f" ({name!r} is a {other})" if name in self.other_labels else ""
        choices = dict.fromkeys((*self.labels, *self.builtin, *self.groups, *self.named, ALL))   # each once
        self.where.fail(path, f"unknown {self.what} {name!r}{hint}{self._suggest(name)} "
                              f"(on table {self.table!r} choose from: {', '.join(choices)})")

    def _suggest(self, name: str) -> str:
        """``did you mean`` with groups first: a near-miss of a group name (``EU28``) means the group, not a
        region whose code happens to look alike; a suggested aggregate region says what it holds."""
        groups = (*self.groups, *self.named, *self.builtin)
        prefix = sorted((g for g in groups if len(g) >= 2 and name.upper().startswith(g.upper())), key=len)
        exact = [g for g in groups if g.lower() == name.lower()]
        close = [c for c in [limits.closest(name, groups, cutoff=limits.GROUP_SUGGEST_CUTOFF)] if c]
        group = (exact or close or prefix[-1:] or [None])[0]
        label = limits.closest(name, (*self.labels, ALL))
        said = []
        for close in dict.fromkeys(c for c in (group, label) if c):
            note = _region_note(close) if self.what == "region" and close in self.labels else ""
            said.append(f"'{close}' ({note})" if note else f"'{close}'")
        return f"; did you mean {' or '.join(said)}?" if said else ""


def _named_groups(mrio: MRIO) -> dict[str, Any]:
    """The shipped named region groups (params/region_groups.toml) on ``mrio``: name -> regions.Resolution."""
    gf = regions_module.load()
    return {name: regions_module.resolve(name, mrio.regions, mrio.region_groups, gf) for name in gf.groups}


def _region_note(label: str) -> str:
    return regions_module.region_note(label)


def group_notes(spec: ScenarioSpec, mrio: MRIO) -> list[str]:
    """Warnings for the named region groups ``spec`` uses on ``mrio``: members the table cannot show as a
    region the group takes (``scenarios show`` and ``scenarios validate`` print them)."""
    named = _named_groups(mrio)
    used = {n for pkg in spec.packages for sh in pkg.shocks for names in sh.targets.values() for n in names}
    used |= {m for members in spec.region_groups.values() for m in members}
    used -= set(spec.region_groups) | set(mrio.regions) | set(mrio.region_groups)
    lines = []
    for name in sorted(used & set(named)):
        res = named[name]
        for region, inside in res.left_out:
            if region and _region_note(region):
                why = f"in {region} ({_region_note(region)}), which also holds countries outside {name}"
            else:
                why = f"in {region or 'no region'} of table {mrio.name!r}"
            lines.append(f"note: region group {name} on table {mrio.name!r} = {', '.join(res.regions) or 'nothing'}; "
                         f"left out: {', '.join(inside)} ({why})")
    return lines


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _shock_mask(shock: ShockSpec, regions: _Axis, sectors: _Axis, path) -> tuple[str, np.ndarray | None]:
    """(compiled kind, mask) of one shock."""
    if shock.kind in ("duration", "inventory"):
        return shock.kind, None
    if shock.kind in FINANCIAL_KINDS:   # (R,) the regions whose markets the measure closes to foreign holders
        return shock.kind, regions.mask(shock.regions, (*path, "regions"))
    s = sectors.mask(shock.sectors, (*path, "sectors"))
    if shock.kind == "substitution":
        return shock.kind, s
    if shock.kind in ("capacity", "final_demand"):
        return shock.kind, regions.mask(shock.regions, (*path, "regions"))[:, None] & s[None, :]
    if shock.kind in ("trade_block", "tariff"):
        e = regions.mask(shock.exporters, (*path, "exporters"))
        m = regions.mask(shock.importers, (*path, "importers"))
        pair = e[:, None] & m[None, :]
    else:  # payment_friction: trade between the regions and their partners fails in both directions
        a = regions.mask(shock.regions, (*path, "regions"))
        b = regions.mask(shock.partners, (*path, "partners"))
        pair = (a[:, None] & b[None, :]) | (b[:, None] & a[None, :])
    np.fill_diagonal(pair, False)  # domestic flows are never blocked
    if not pair.any():
        regions.where.fail(path, f"this {shock.kind} shock blocks nothing: it names only domestic flows, "
                                 "which are never blocked")
    return "tariff" if shock.kind == "tariff" else "trade_block", pair[:, :, None] & s[None, None, :]


def compile_scenario(spec: ScenarioSpec, mrio: MRIO) -> CompiledScenario:
    """Stage 2: resolve every region, sector and group name against ``mrio`` and build the masks."""
    where = spec._where
    regions = _Axis("region", mrio.name, mrio.regions, mrio.region_groups, spec.region_groups, mrio.sectors, where,
                    named=_named_groups(mrio))
    sectors = _Axis("sector", mrio.name, mrio.sectors, mrio.sector_groups, spec.sector_groups, mrio.regions, where)
    packages, shocks = [], []
    for i, pkg in enumerate(spec.packages):
        sampled = isinstance(pkg.start_months, Distribution)
        packages.append(CompiledPackage(pkg.name, pkg.description, pkg.probability, pkg.correlation, pkg.source,
                                        (0.0 if sampled else pkg.start_months or 0.0)
                                        + i * (spec.package_offset_months or 0.0),
                                        pkg.ramp_months or 0.0, pkg.recovery_months or 0.0,
                                        pkg.start_months if sampled else None))
        for shock in pkg.shocks:
            kind, mask = _shock_mask(shock, regions, sectors, ("packages", pkg.name, "shocks", shock.name))
            shocks.append(CompiledShock(
                key=f"{pkg.name}.{shock.name}", kind=kind, package=i, severity=shock.severity,
                mask=None if mask is None else _frozen(mask), source=shock.source, description=shock.description,
                elasticity=shock.elasticity,
                timeline=tuple((k, as_distribution(v)) for k, v in shock.timeline.items())))
    return CompiledScenario(
        name=spec.name, description=spec.description, regions=mrio.regions, sectors=mrio.sectors,
        table_sha256=mrio.sha256, spec_sha256=spec.sha256, horizon_months=spec.horizon_months,
        coordination=spec.coordination, packages=tuple(packages), shocks=tuple(shocks),
        critical_overrides=_critical_overrides(spec, sectors),
        copula_df=float(spec.copula_df) if spec.copula == "t" else 0.0)


def _critical_overrides(spec: ScenarioSpec, sectors: _Axis) -> tuple[tuple[int, int, float], ...]:
    """The scenario's critical inputs as (input, using, weight) sector indices, groups expanded."""
    out = []
    for using, inputs in (spec.critical_inputs or {}).items():
        cols = np.flatnonzero(sectors.mask((using,), ("critical_inputs", using)))
        for inp, entry in inputs.items():
            rows = np.flatnonzero(sectors.mask((inp,), ("critical_inputs", using, inp)))
            out.extend((int(r), int(c), float(entry["weight"])) for r in rows for c in cols)
    return tuple(out)


# --- the readable view -----------------------------------------------------------------------------------


def _severity_line(shock: ShockSpec) -> str:
    units = SEVERITY_UNITS[shock.kind]
    return f"severity: {shock.severity}, mean {_g(dist_mean(shock.severity))} ({units})"


def _display_path(file: str) -> str:
    """A library file as ``params/scenarios/NAME.toml (library)``, other files as paths.display_path."""
    shown = display_path(file)
    return f"{shown} (library)" if shown.startswith("params/") else shown


def _timeline_line(keys: Mapping[str, Any]) -> str:
    return ", ".join(f"{k.removesuffix('_months')} {v if isinstance(v, Distribution) else _g(v)} months"
                     for k, v in keys.items() if v is not None)


def format_scenario(spec: ScenarioSpec) -> str:
    """The resolved scenario as readable text with every source (``shockmodel scenarios show``)."""
    lines = [f"{spec.name}: {spec.description}" if spec.description else spec.name,
             f"  file: {_display_path(spec.source)}",
             f"  sha256: {spec.sha256}",
             f"  horizon: {_g(spec.horizon_months)} months"]
    coord = f"  coordination between packages: {_g(spec.coordination)}"
    if spec.coordination_range:
        coord += f" (sweep range {_g(spec.coordination_range[0])} to {_g(spec.coordination_range[1])})"
    lines.append(coord)
    if spec.coordination_source:
        lines.append(f"    source: {spec.coordination_source}")
    if spec.copula == "t":
        lines.append(f"  copula: Student t, {_g(spec.copula_df)} degrees of freedom")
        lines.append(f"    source: {spec.copula_source}")
    for title, groups in (("region groups", spec.region_groups), ("sector groups", spec.sector_groups)):
        if groups:
            lines.append(f"  {title}:")
            lines.extend(f"    {name} = {', '.join(members)}" for name, members in groups.items())
    if spec.critical_inputs:
        lines.append("  critical inputs (replace params/critical_inputs.toml's weights; 1 critical, 0.5 important):")
        for using, inputs in spec.critical_inputs.items():
            for inp, entry in inputs.items():
                lines += [f"    {using} needs {inp}: weight {_g(entry['weight'])}", f"      source: {entry['source']}"]
    for pkg in spec.packages:
        lines += ["", f"package {pkg.name}: probability {_g(pkg.probability)}, "
                      f"correlation of its shocks {_g(pkg.correlation)}"]
        if pkg.description:
            lines.append(f"  {pkg.description}")
        lines.append(f"  source: {pkg.source}")
        tl = _timeline_line({k: getattr(pkg, k) for k in ("start_months", "ramp_months", "recovery_months")})
        if tl:
            lines.append(f"  timeline (dynamic model): {tl}")
        for shock in pkg.shocks:
            targets = "; ".join(f"{k} {', '.join(v)}" for k, v in shock.targets.items())
            lines.append(f"  shock {shock.name} ({shock.kind})" + (f": {targets}" if targets else ""))
            if shock.description:
                lines.append(f"    {shock.description}")
            lines += [f"    {_severity_line(shock)}", f"    source: {shock.source}"]
            if shock.timeline:
                lines.append(f"    own timeline (dynamic model; start after its package's): {_timeline_line(shock.timeline)}")
            if shock.kind == "tariff":
                t, e = dist_mean(shock.severity), dist_mean(shock.elasticity)
                lines += [f"    trade elasticity: {shock.elasticity}, mean {_g(e)}",
                          f"    source: {shock.elasticity_source}",
                          f"    share of trade lost 1 - (1 + rate)^-elasticity, sampled per draw; at the mean rate "
                          f"and mean elasticity: {_g(float(tariff_share_lost(t, e)))}"]
    return "\n".join(lines)
