"""Named region groups shipped with the tables (L2): ``params/region_groups.toml``.

A group (``EU27``, ``G7``, ``WEST``, ``BRICS``, ...) lists countries (ISO 3166-1 alpha-3) or other groups;
:func:`resolve` lands it on one table's regions. A member that is a region of the table is taken as it
is. A member held inside an aggregate region (``FRA`` inside ``EUR``, "rest of the EU", on the 16-region
``default`` table) brings the aggregate in only when the group holds every country of it (``EU27`` takes
``EUR`` whole, ``G7`` does not). A member the table does not show falls into its rest-of-the-world region,
which no group takes. Members left out are reported (:attr:`Resolution.left_out`), never dropped silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping

from shockmodel import limits, runtime
from shockmodel.errors import UserError
from shockmodel.paths import params_dir


def default_path() -> Path:
    return params_dir() / "region_groups.toml"


@dataclass(frozen=True)
class Group:
    name: str
    description: str
    members: tuple[str, ...]   # countries or other group names
    source: str


@dataclass(frozen=True)
class GroupFile:
    groups: Mapping[str, Group]
    aggregates: Mapping[str, Group]     # aggregate regions of the shipped tables (EUR, ROW) and their countries
    aliases: Mapping[str, str]          # table code -> ISO code (ROM -> ROU)


@dataclass(frozen=True)
class Resolution:
    """A group on one table: the regions it takes and, per region left out, the members it holds."""

    regions: tuple[str, ...]
    left_out: tuple[tuple[str, tuple[str, ...]], ...]   # (region left out or "", members in it)


def load(path: str | Path | None = None) -> GroupFile:
    """The group file (cached by path and text)."""
    path = Path(path) if path is not None else default_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    return _parse(text, str(path))


@lru_cache(maxsize=8)
def _parse(text: str, file: str) -> GroupFile:
    data = limits.parse_toml_text(text, file=file)
    unknown = set(data) - {"groups", "aggregates", "aliases"}
    if unknown:
        raise UserError(f"unknown keys {sorted(unknown)}; expected [groups.NAME], [aggregates.NAME], [aliases]", file=file)

    def table(section: str) -> dict[str, Group]:
        out = {}
        for name, entry in data.get(section, {}).items():
            field = f"{section}.{name}"
            if not isinstance(entry, dict) or set(entry) != {"description", "members", "source"}:
                raise UserError("expected description, members and source", file=file, field=field)
            members = entry["members"]
            if not isinstance(members, list) or not all(isinstance(m, str) and m for m in members):
                raise UserError("members must be a list of codes or group names", file=file, field=field)
            out[name] = Group(name, str(entry["description"]), tuple(members), str(entry["source"]))
        return out

    groups, aggregates = table("groups"), table("aggregates")
    for g in groups.values():
        for member in g.members:
            if member in aggregates:
                raise UserError(f"member {member!r} is an aggregate region, not a country or group", file=file,
                                field=f"groups.{g.name}")
    out = GroupFile(groups, aggregates, dict(data.get("aliases", {})))
    for name in groups:
        _countries(out, name, ())      # fails on a cycle
    return out


runtime.register_cache(_parse.cache_clear)


def _countries(gf: GroupFile, name: str, chain: tuple[str, ...]) -> frozenset[str]:
    if name in chain:
        raise UserError(f"groups refer to each other in a circle: {' -> '.join((*chain, name))}", field=f"groups.{name}")
    out: set[str] = set()
    for member in gf.groups[name].members:
        out |= _countries(gf, member, (*chain, name)) if member in gf.groups else {member}
    return frozenset(out)


def countries(name: str, gf: GroupFile | None = None) -> frozenset[str]:
    """Every country of group ``name``, nested groups expanded."""
    gf = gf or load()
    return _countries(gf, name, ())


def _rest_of_world(labels: tuple[str, ...], gf: GroupFile) -> str | None:
    for label in labels:
        if gf.aliases.get(label, label) == "ROW":
            return label
    return None


def resolve(name: str, labels: tuple[str, ...], builtin: Mapping[str, tuple[str, ...]] = {},
            gf: GroupFile | None = None) -> Resolution:
    """Group ``name`` on a table with region ``labels`` and built-in groups ``builtin``."""
    gf = gf or load()
    members = countries(name, gf)
    iso = {gf.aliases.get(label, label): label for label in labels}      # ISO code -> table label
    rest = _rest_of_world(labels, gf)
    taken: list[str] = []
    held: dict[str, list[str]] = {}
    for country in sorted(members):
        if country in iso and iso[country] != rest:
            taken.append(iso[country])
            continue
        holder = next((a for a, g in gf.aggregates.items() if country in g.members and a in iso), None)
        held.setdefault(iso[holder] if holder else (rest or ""), []).append(country)
    left_out = []
    for region, inside in held.items():
        agg = gf.aggregates.get(gf.aliases.get(region, region))
        if agg is not None and agg.members and set(agg.members) <= members:
            taken.append(region)
        else:
            left_out.append((region, tuple(inside)))
    order = {label: i for i, label in enumerate(labels)}
    return Resolution(tuple(sorted(set(taken), key=order.__getitem__)), tuple(sorted(left_out)))


def region_note(label: str, gf: GroupFile | None = None) -> str:
    """What an aggregate region label means (``"rest of the EU: ..."``), or ``""``."""
    gf = gf or load()
    agg = gf.aggregates.get(gf.aliases.get(label, label))
    return agg.description if agg else ""
