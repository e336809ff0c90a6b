"""Sweep specifications (``params/sweeps/*.toml``): parse, check and expand them into cells.

A spec names base scenarios and a design over scenario key paths (the dotted paths that
:func:`shockmodel.scenario.load_scenario` accepts as ``overrides``)::

    name = "coordination"                   # required; part of the sweep folder's name
    description = "..."                     # optional
    scenarios = ["combined_coordinated"]    # required: library names or paths (relative to this file)
    table = "default"                       # optional: shipped table name or path
    model = "constrained"                   # optional: constrained | leontief | ghosh
    draws = 10000                           # optional
    seed = 0                                # optional: every cell uses it (common random numbers)
    markets = "default"                     # optional: market parameter set, or "none"
    structure = "sampled"                   # optional: sampled | central (critical-input classes, docs/model.md eq. 55)

    [grid]                                  # full factorial: key path -> list of values
    coordination = [-0.5, 0, 0.5, 0.9]
    "packages.china_taiwan.probability" = [1.0, 0.3]

    [lhs]                                   # or [random]: sampled points, crossed with the grid
    samples = 16
    seed = 1                                # the design's own seed (default 0)
    "packages.china_taiwan.shocks.inventory.severity.mode" = { low = 3, high = 40 }

Cells are scenarios x grid points x sampled points. Every cell is checked before anything runs, by
resolving its scenario with its overrides; a problem raises a one-line
:class:`~shockmodel.errors.UserError` naming the spec file and the field (e.g. ``grid.coordination``).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, NoReturn

import numpy as np

from shockmodel import limits
from shockmodel.errors import ScenarioError, UserError
from shockmodel.models import MODELS  # the registry's names, without importing numba here
from shockmodel.paths import params_dir

DESIGNS = ("random", "lhs")
SPEC_KEYS = ("name", "description", "scenarios", "table", "model", "draws", "seed", "markets", "structure", "grid",
             *DESIGNS)
RANGE_KEYS = ("low", "high")
NO_MARKETS = "none"
_NAME_RE = re.compile(r"[A-Za-z0-9_.-]+")

Value = bool | float | str


@dataclass(frozen=True)
class Sampling:
    """A sampled design: ``samples`` points, uniform (``random``) or Latin hypercube (``lhs``) in boxes."""

    kind: str
    samples: int
    seed: int
    ranges: tuple[tuple[str, float, float], ...]  # (key path, low, high)

    def points(self) -> tuple[dict[str, float], ...]:
        """The sampled points, reproducible from ``seed``."""
        rng = np.random.default_rng(self.seed)
        n, d = self.samples, len(self.ranges)
        if self.kind == "lhs":
            u = np.column_stack([(rng.permutation(n) + rng.random(n)) / n for _ in range(d)])
        else:
            u = rng.random((n, d))
        return tuple({key: float(lo + u[i, j] * (hi - lo)) for j, (key, lo, hi) in enumerate(self.ranges)}
                     for i in range(n))

    def to_dict(self) -> dict:
        return {"samples": self.samples, "seed": self.seed,
                **{key: {"low": lo, "high": hi} for key, lo, hi in self.ranges}}


@dataclass(frozen=True)
class Cell:
    """One run of a sweep: a base scenario with overrides. ``id`` hashes everything that sets its numbers."""

    id: str
    scenario: str                              # the spec's entry: library name or absolute path
    scenario_name: str                         # the scenario's ``name``
    overrides: tuple[tuple[str, Value], ...]   # key path -> value, in the spec's key order


@dataclass(frozen=True)
class SweepSpec:
    """A checked sweep spec. ``scenarios`` and ``table`` are resolved (paths made absolute); ``cells`` is
    the expanded, validated design."""

    name: str
    scenarios: tuple[str, ...]
    description: str = ""
    table: str = "default"
    model: str = "constrained"
    draws: int = 10_000
    seed: int = 0
    markets: str | None = "default"
    structure: str = "sampled"
    grid: tuple[tuple[str, tuple[Value, ...]], ...] = ()
    sampling: Sampling | None = None
    source: str = "<dict>"
    cells: tuple[Cell, ...] = field(default=(), compare=False, repr=False)

    @property
    def params(self) -> tuple[str, ...]:
        """Key paths of the design, in order: grid keys, then sampled keys."""
        sampled = tuple(key for key, _, _ in self.sampling.ranges) if self.sampling else ()
        return tuple(key for key, _ in self.grid) + sampled

    @property
    def swept(self) -> tuple[str, ...]:
        """What varies across cells: ``scenario`` (when there are several) and the design's key paths."""
        return (("scenario",) if len(self.scenarios) > 1 else ()) + self.params

    def points(self) -> tuple[dict[str, Value], ...]:
        """Design points: the grid's full factorial crossed with the sampled points."""
        keys = [key for key, _ in self.grid]
        grid = [dict(zip(keys, combo)) for combo in itertools.product(*(values for _, values in self.grid))]
        sampled = self.sampling.points() if self.sampling else ({},)
        return tuple({**g, **s} for g in grid for s in sampled)

    def to_dict(self) -> dict:
        """The resolved spec, TOML-able (``markets = "none"`` for no market channel)."""
        out = {"name": self.name, "description": self.description, "scenarios": list(self.scenarios),
               "table": self.table, "model": self.model, "draws": self.draws, "seed": self.seed,
               "markets": self.markets or NO_MARKETS, "structure": self.structure}
        if self.grid:
            out["grid"] = {key: list(values) for key, values in self.grid}
        if self.sampling:
            out[self.sampling.kind] = self.sampling.to_dict()
        return out

    @property
    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


# --- finding and reading files ----------------------------------------------------------------------


def sweep_library() -> dict[str, Path]:
    """Shipped sweep specs: name -> path (``params/sweeps/*.toml``)."""
    return {p.stem: p for p in sorted((params_dir() / "sweeps").glob("*.toml"))}


def _spec_path(name_or_path: str | os.PathLike) -> Path:
    """A library name (``coordination``) or a path -> the file; names without ``.toml`` or ``/`` are names."""
    key = os.fspath(name_or_path)
    if isinstance(name_or_path, os.PathLike) or key.endswith(".toml") or "/" in key or os.sep in key:
        path = Path(key).expanduser()
        if not path.is_file():
            raise UserError("no such sweep spec file", file=key)
        return path
    library = sweep_library()
    if key not in library:
        raise UserError(f"unknown sweep {key!r}{limits.did_you_mean(key, library)}; shipped: {', '.join(library)}, "
                        "or give a path to a .toml file", file=key)
    return library[key]


def _read_toml(path: Path) -> dict:
    return limits.load_toml(path, what="sweep spec")


# --- checking values ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Checker:
    """Raises :class:`UserError` at a field of one spec file."""

    file: str

    def fail(self, where: str, message: str) -> NoReturn:
        raise UserError(message, file=self.file, field=where or None)

    def reject_unknown(self, table: Mapping, allowed, where: str, what: str) -> None:
        for key in table:
            if key not in allowed:
                self.fail(f"{where}.{key}" if where else key,
                          f"unknown key in {what}{limits.did_you_mean(key, allowed)}; allowed: {', '.join(allowed)}")

    def text(self, value, where: str, pattern: re.Pattern | None = None) -> str:
        if not isinstance(value, str) or (pattern is not None and not pattern.fullmatch(value)):
            rule = "letters, digits, '_', '-' or '.'" if pattern is not None else "a string"
            self.fail(where, f"expected {rule}, got {value!r}")
        return value

    def integer(self, value, where: str, low: int, high: int = limits.MAX_INT) -> int:
        try:
            return limits.check_int(value, field=where, low=low, high=high)
        except UserError as err:
            self.fail(where, err.message)

    def number(self, value, where: str) -> float:
        try:
            return limits.finite_float(value, field=where)
        except UserError as err:
            self.fail(where, err.message)

    def table(self, value, where: str) -> Mapping:
        if not isinstance(value, Mapping):
            self.fail(where, f"expected a table, got {value!r}")
        return value


def _values(values, where: str, check: _Checker) -> tuple[Value, ...]:
    """A grid's list of values: non-empty, distinct, all numbers (made floats), all strings or all booleans."""
    if not isinstance(values, list):
        check.fail(where, f"expected a list of values, got {values!r}")
    if not values:
        check.fail(where, "empty list: give at least one value")
    kinds = {bool if isinstance(v, bool) else float if isinstance(v, (int, float)) else type(v) for v in values}
    if len(kinds) != 1 or not kinds <= {bool, float, str}:
        check.fail(where, f"values must be all numbers, all strings or all booleans, got {values!r}")
    out = tuple(check.number(v, where) if kinds == {float} else v for v in values)
    if len(set(out)) != len(out):
        check.fail(where, f"repeated value in {values!r}")
    return out


def _flatten(table: Mapping, is_leaf, prefix: str = "") -> dict[str, Any]:
    """Nested tables (TOML dotted keys) -> dotted key paths; quoted keys (``"a.b" = ...``) stay as given."""
    out = {}
    for key, value in table.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping) and not is_leaf(value):
            out.update(_flatten(value, is_leaf, f"{path}."))
        else:
            out[path] = value
    return out


def _is_range(value: Mapping) -> bool:
    """A table without sub-tables is a range (``{low, high}``; checked by :func:`_range`), not a key path part."""
    return not any(isinstance(v, Mapping) for v in value.values())


def _grid(table, check: _Checker) -> tuple[tuple[str, tuple[Value, ...]], ...]:
    flat = _flatten(check.table(table, "grid"), lambda value: False)
    if not flat:
        check.fail("grid", 'empty grid: give key path = [values], e.g. coordination = [0, 0.5]')
    return tuple((key, _values(values, f"grid.{key}", check)) for key, values in flat.items())


def _range(value, where: str, check: _Checker) -> tuple[float, float]:
    table = check.table(value, where)
    check.reject_unknown(table, RANGE_KEYS, where, "a range")
    if set(table) != set(RANGE_KEYS):
        check.fail(where, "expected { low = ..., high = ... }")
    low, high = (check.number(table[k], f"{where}.{k}") for k in RANGE_KEYS)
    if not low < high:
        check.fail(where, f"expected low < high, got low = {low:g}, high = {high:g}")
    return low, high


def _sampling(kind: str, table, check: _Checker) -> Sampling:
    table = dict(check.table(table, kind))
    samples = check.integer(table.pop("samples", None), f"{kind}.samples", 1, limits.MAX_CELLS)
    seed = check.integer(table.pop("seed", 0), f"{kind}.seed", 0)
    ranges = _flatten(table, _is_range)
    if not ranges:
        check.fail(kind, "no key path to sample: give key path = { low = ..., high = ... }")
    return Sampling(kind, samples, seed,
                    tuple((key, *_range(value, f"{kind}.{key}", check)) for key, value in ranges.items()))


def _entry(value: str, base_dir: Path) -> str:
    """A scenario or table entry: library names unchanged, paths made absolute (relative to the spec file)."""
    if value.endswith((".toml", ".npz")) or "/" in value or os.sep in value:
        return str((base_dir / Path(value).expanduser()).resolve())
    return value


def _scenarios(value, check: _Checker, base_dir: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        check.fail("scenarios", f"expected a non-empty list of scenario names or paths, got {value!r}")
    entries = tuple(_entry(check.text(v, "scenarios"), base_dir) for v in value)
    if len(set(entries)) != len(entries):
        check.fail("scenarios", f"repeated scenario in {value!r}")
    return entries


def _markets(value, check: _Checker, base_dir: Path) -> str | None:
    name = check.text(value, "markets")
    if name == NO_MARKETS:
        return None
    from shockmodel.markets import load_market_params

    entry = _entry(name, base_dir)
    try:
        load_market_params(entry)
    except UserError as err:
        check.fail("markets", f"{err} (or \"{NO_MARKETS}\")")
    return entry


def _table_entry(value, check: _Checker, base_dir: Path) -> str:
    from shockmodel.io.tables import resolve_table

    entry = _entry(check.text(value, "table"), base_dir)
    try:
        resolve_table(entry)
    except UserError as err:
        check.fail("table", str(err))
    return entry


# --- building the spec and its cells -----------------------------------------------------------------


def spec_from_dict(data: Mapping, *, source: str = "<dict>", base_dir: str | os.PathLike | None = None) -> SweepSpec:
    """A checked :class:`SweepSpec` from data shaped like a spec file, cells expanded and validated.

    Relative scenario, table and market paths are relative to ``base_dir`` (default: the working directory).
    """
    check = _Checker(source)
    base = Path(base_dir) if base_dir is not None else Path.cwd()
    data = check.table(data, "")
    check.reject_unknown(data, SPEC_KEYS, "", "the sweep spec")
    for key in ("name", "scenarios"):
        if key not in data:
            check.fail(key, "required key missing")
    designs = [kind for kind in DESIGNS if kind in data]
    if len(designs) > 1:
        check.fail(designs[1], f"give either [{DESIGNS[0]}] or [{DESIGNS[1]}], not both")
    spec = SweepSpec(
        name=check.text(data["name"], "name", _NAME_RE),
        description=check.text(data.get("description", ""), "description"),
        scenarios=_scenarios(data["scenarios"], check, base),
        table=_table_entry(data.get("table", "default"), check, base),
        model=_model(data.get("model", "constrained"), check),
        draws=check.integer(data.get("draws", 10_000), "draws", 1, limits.MAX_DRAWS),
        seed=check.integer(data.get("seed", 0), "seed", 0, limits.MAX_SEED),
        markets=_markets(data.get("markets", "default"), check, base),
        structure=_structure(data.get("structure", "sampled"), check),
        grid=_grid(data["grid"], check) if "grid" in data else (),
        sampling=_sampling(designs[0], data[designs[0]], check) if designs else None,
        source=source,
    )
    repeated = [key for key in spec.params if spec.params.count(key) > 1]
    if repeated:
        check.fail(f"{spec.sampling.kind}.{repeated[0]}", "key path is also in [grid]; sweep it in one place")
    n_cells = len(spec.scenarios) * math.prod(len(values) for _, values in spec.grid) * (
        spec.sampling.samples if spec.sampling else 1)
    if n_cells > limits.MAX_CELLS:   # said before any cell is expanded or checked
        check.fail("grid" if spec.grid else spec.sampling.kind if spec.sampling else "scenarios",
                   f"{n_cells} cells; a sweep has at most {limits.MAX_CELLS}")
    return replace(spec, cells=_cells(spec, check))


def _structure(value, check: _Checker) -> str:
    structure = check.text(value, "structure")
    if structure not in ("sampled", "central"):
        check.fail("structure", f"unknown structure {structure!r}; choose sampled or central")
    return structure


def _model(value, check: _Checker) -> str:
    model = check.text(value, "model")
    if model not in MODELS:
        check.fail("model", f"unknown model {model!r}{limits.did_you_mean(model, MODELS)}; choose one of {', '.join(MODELS)}")
    return model


def load_sweep_spec(path: str | os.PathLike, *, draws: int | None = None) -> SweepSpec:
    """Read and check a sweep spec by library name (``params/sweeps/NAME.toml``) or path; ``draws``
    replaces the file's ``draws`` (``shockmodel sweep --draws``; checked like the file's).

    Every cell's scenario is resolved with its overrides before this returns, so a bad key path or
    value fails here, naming the spec file and the field, not halfway through a sweep.
    """
    file = _spec_path(path)
    data = _read_toml(file)
    if draws is not None:
        data = {**data, "draws": draws}
    return spec_from_dict(data, source=str(file), base_dir=file.parent)


def _cells(spec: SweepSpec, check: _Checker) -> tuple[Cell, ...]:
    """Every (scenario, design point), each resolved by ``load_scenario`` to check it and hash it."""
    from shockmodel.scenario import load_scenario

    sections = {key: "grid" for key, _ in spec.grid}
    sections.update({key: spec.sampling.kind for key in spec.params if key not in sections})
    cells, names = [], {}
    points = spec.points()
    for entry in spec.scenarios:
        try:
            base = load_scenario(entry)
        except ScenarioError as err:
            check.fail("scenarios", f"scenario {entry!r} does not load: {err}")
        if base.name in names:
            check.fail("scenarios", f"{entry!r} and {names[base.name]!r} are both scenario {base.name!r}")
        names[base.name] = entry
        for point in points:
            try:
                resolved = load_scenario(entry, overrides=point)
            except ScenarioError as err:
                at = f"{err.field}: " if err.field and err.field not in point else ""
                check.fail(_field_of(err.field, sections), f"scenario {base.name!r} with {_describe(point)}: "
                                                           f"{at}{err.message}")
            cells.append(_cell(spec, entry, base.name, resolved.sha256, point))
    return tuple(cells)


def _field_of(error_field: str | None, sections: Mapping[str, str]) -> str:
    """The spec field to blame for a scenario error at ``error_field``: the design key path on that path,
    else the first one (the base scenario loaded, so the overrides are to blame)."""

    def touches(key: str) -> bool:
        return bool(error_field) and (error_field == key or error_field.startswith(f"{key}.")
                                      or key.startswith(f"{error_field}."))

    key = next((k for k in sections if touches(k)), next(iter(sections)))
    return f"{sections[key]}.{key}"


def _describe(point: Mapping[str, Value]) -> str:
    return ", ".join(f"{key} = {value!r}" for key, value in point.items()) or "no overrides"


def _cell(spec: SweepSpec, entry: str, name: str, scenario_sha256: str, point: Mapping[str, Value]) -> Cell:
    """A cell whose id hashes the resolved scenario, its overrides and the run settings: a cell file with
    this id can only hold these numbers."""
    key = {"scenario": name, "scenario_sha256": scenario_sha256, "overrides": dict(point), "table": spec.table,
           "model": spec.model, "draws": spec.draws, "seed": spec.seed, "markets": spec.markets,
           "structure": spec.structure, "variants": "each package alone"}   # cells carry the simultaneity premium
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return Cell(id=digest, scenario=entry, scenario_name=name, overrides=tuple(point.items()))
