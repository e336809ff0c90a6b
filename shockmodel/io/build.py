"""Building the shipped tables from the source arrays in ``data/sources/`` (L5; nothing outside the
repository is read). ``scripts/build_tables.py`` writes all of them; ``wiod2022`` and ``wiod2021`` (41 x 36,
3.4 MB each, too large to commit) are built on first use into the user cache (:func:`cached_table`).

Tables (name: regions x sectors, year):

* ``default`` (the default table of every command), ``default2021``, ``default2019``, ``wiod2022``,
  ``wiod2021``: the WIOD 2011 table nowcast to the ADB MRIO margins of 2022 (``default``, ``wiod2022``),
  2021 or 2019 by GRAS, then aggregated to 16 regions x 14 sectors (``default*``) or kept in full (41 x 35);
* ``default2011``, ``wiod2011``: the WIOD 2013 release table of 2011, aggregated and in full, so that
  results on the 2011 table can be rerun; ``default2011`` is read from the aggregated source array.

Steps:

1. 2011 tables: read, balance (``x := Z1 + Y1``, ``v := x - 1'Z``; the source values are truncated to
   whole USD millions, see data/sources/wiod2013/README.md).
2. Nowcast tables (:func:`nowcast`): map ADB economies to WIOD regions (data/sources/adb_mrio_margins/
   economies.csv: the 40 WIOD countries keep their region, all others go to RoW) and ADB sectors c1..c35
   to the WIOD industries of the same code; sum the margins per region-sector. GRAS
   (:func:`shockmodel.gras.gras`) then scales the 2011 inter-industry flows Z so that each row's sales
   to its own region (``ez_domestic``) and to other regions (``zsales - ez_domestic``) and each column's
   purchases (``zuse``) match, and the final-demand rows Y so that their domestic (``ey_domestic``) and
   foreign (``y - ey_domestic``) parts match. Then ``x := Z1 + Y1`` equals ADB's ``x`` and
   ``v := x - 1'Z`` ADB's ``va`` up to the reported GRAS gap. RoW rows get one row target each (their
   domestic split is not pinned: ADB counts trade among its RoW economies as foreign, in our RoW it is
   domestic). Groups the 2011 table leaves empty but ADB fills are seeded first (:func:`_seed_prior`).
3. Aggregate to 16 regions x 14 sectors with data/sources/wiod2013/{region,sector}_concordance.csv.
4. Split electronics (``ELECTRONICS`` / WIOD ``c14``) into ``SEMICONDUCTORS`` and ``OTHER_ELECTRONICS``
   with that year's shares and the buyer weights in ``params/semiconductors.toml`` (rule in
   ``shockmodel.mrio.split_sector``).
5. Attach built-in groups (full tables: the 16 aggregate regions and 14 aggregate sectors, so the same
   scenarios run on every table), provenance and attribution, and write the npz (byte-for-byte
   reproducible: ``shockmodel.io.tables.write_npz``).

**Same bytes on every machine.** numpy's sums take a different (pairwise, vectorised) order on CPUs with
AVX-512 than on CPUs with AVX2 only, which moves the last bits of the balanced tables. The shipped tables
were built on an AVX2 (x86-64-v3) machine, so every build runs in a child process whose numpy has its
AVX-512 kernels switched off (``NPY_DISABLE_CPU_FEATURES``, :func:`_reference_env`): the same bytes on
either kind of x86 CPU (``tests/test_build_tables.py`` compares them with the committed tables and with
:data:`REFERENCE_SHA256`).

**The user cache.** Built tables go to ``$SHOCKMODEL_CACHE_DIR/tables`` if that variable is set, else
``$XDG_CACHE_HOME/shockmodel/tables``, else ``~/.cache/shockmodel/tables`` (:func:`cache_dir`), named
``<table>-<key>.npz``; the key digests the source arrays, ``params/semiconductors.toml``, numpy's version
and the code that builds them, so a changed input builds again instead of reading a stale file. Delete the
folder, or run ``shockmodel table build --force``, to rebuild.

Data: WIOD 2013 release (Timmer et al. 2015), CC BY 4.0; ADB MRIO margins, Asian Development Bank: Key
Indicators Database Online (kidb.adb.org). Provenance and licences: data/sources/*/README.md.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import hashlib
import os
import subprocess
import sys
import tomllib
from functools import lru_cache
from pathlib import Path

import numpy as np

from shockmodel import runtime
from shockmodel.errors import TableError
from shockmodel.mrio import MRIO, balance, split_sector
from shockmodel.paths import params_dir, sources_dir

ADB_MARGINS = "margins_2019_2021_2022.csv.gz"

NOWCAST_YEARS = (2019, 2021, 2022)
DEFAULT_YEAR = 2022                # the aggregated table of this year is named ``default``
FULL_NOWCASTS = (2021, 2022)      # years also shipped with all 41 regions
QUANTUM = 2.0 ** -20               # nowcast flows are rounded to this grid (USD million, about USD 1) to compress
GRAS_TOL = 1e-10                   # relative gap of every GRAS target, |achieved - target| / max(|target|, 1)

WIOD_ATTRIBUTION = (
    "WIOD 2013 release (Timmer, Dietzenbacher, Los, Stehrer and de Vries 2015, 'An Illustrated User Guide "
    "to the World Input-Output Database: the Case of Global Automotive Production', Review of International "
    "Economics 23: 575-605), licensed CC BY 4.0; values taken from the 'wiod' R data package (Quast & Reiter), "
    "converted by this project (balanced, electronics split into semiconductors and other electronics)."
)
ADB_ATTRIBUTION = (
    "Asian Development Bank: Key Indicators Database Online (https://kidb.adb.org). Accessed on 7 December 2026 "
    "(via the July 2023 summaries of the ksreyes/mrio-processing repository). ADB MRIO margins used under the "
    "ADB Key Indicators Database terms (https://kidb.adb.org/terms); no endorsement by ADB is claimed or implied."
)
SEMI, OTHER = "SEMICONDUCTORS", "OTHER_ELECTRONICS"
SEMI_NAMES = ("Semiconductors and electronic components (split of c14)",
              "Other electrical and optical equipment (rest of c14)")
BILATERAL_LIMIT = (
    "Bilateral shares abroad (who buys from whom in other regions, and final demand by destination) are the "
    "2011 WIOD shares, changed only through the GRAS row and column multipliers: the ADB margins hold no "
    "bilateral flows."
)


# --- sources ----------------------------------------------------------------------------------------
def _semiconductor_params() -> dict:
    with open(params_dir() / "semiconductors.toml", "rb") as f:
        return tomllib.load(f)


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _concordance(path: Path, key: str, value: str) -> dict[str, str]:
    with open(path, newline="") as f:
        return {row[key]: row[value] for row in csv.DictReader(f)}


MARGIN_COLUMNS = ("x", "zuse", "va", "zsales", "y", "ez_domestic", "ey_domestic")


def adb_margins(year: int, regions: tuple[str, ...], sectors: tuple[str, ...]) -> dict[str, np.ndarray]:
    """ADB margins of ``year`` summed per WIOD region-sector (region-major, like the table's index)."""
    region_of = _concordance(_adb() / "economies.csv", "adb_code", "wiod2013_code")
    S = len(sectors)
    out = {c: np.zeros(len(regions) * S) for c in MARGIN_COLUMNS}
    seen = 0
    with gzip.open(_adb() / ADB_MARGINS, "rt", newline="") as f:
        for row in csv.DictReader(f):  # file order is fixed, so the sums are too
            if int(row["year"]) != year:
                continue
            i = regions.index(region_of[row["adb_code"]]) * S + sectors.index(row["sector"])
            for c in MARGIN_COLUMNS:
                out[c][i] += float(row[c])
            seen += 1
    if seen == 0:
        raise TableError(f"no rows for year {year}", file=f"data/sources/adb_mrio_margins/{ADB_MARGINS}")
    return out


# --- nowcast ----------------------------------------------------------------------------------------
def _seed_prior(Z, Y, targets, group_z, group_y, sector_of, fd_region, fd_category) -> tuple[np.ndarray, np.ndarray, dict]:
    """Give GRAS something to scale where the 2011 table is empty but the target year is not (assumption).

    * A row part of Z (domestic or foreign) that is all zero while its target is positive gets the world
      sales pattern of its sector over those columns (``sum_r Z[(r, s), :]``; if that is empty too, the
      columns' target intermediate use), scaled to the target.
    * A column of Z that is all zero while its target use is positive gets the world purchase pattern of
      its sector (``sum_r Z[:, (r, s)]``), scaled to the target.
    * A row part of Y that is all zero while its target is positive gets the world final-demand pattern of
      its sector over those columns (positive entries; households evenly if no region buys the sector for
      final use), scaled to the target; a row part whose target is
      negative but which has no negative entry gets that value as its inventory change (``INVEN``, replacing
      the 2011 value) in the buying region(s), spread by the row's sales to them (evenly if it has none).

    Returns the seeded ``Z``, ``Y`` and the number of seeded groups of each kind.
    """
    Z, Y = Z.copy(), Y.copy()
    fd_inven, fd_cons_h = fd_category == "INVEN", fd_category == "CONS_h"
    n = Z.shape[0]
    S = int(sector_of.max()) + 1
    dom_z, dom_y = group_z == 0, group_y == 0  # each row's first part (its domestic sales; all of a RoW row)
    world_sales = np.stack([Z[sector_of == s].sum(axis=0) for s in range(S)])
    world_fd = np.stack([np.where(Y > 0, Y, 0.0)[sector_of == s].sum(axis=0) for s in range(S)])
    world_use = np.stack([Z[:, sector_of == s].sum(axis=1) for s in range(S)])
    counts = {"Z row parts": 0, "Z columns": 0, "Y row parts": 0, "Y negative parts": 0}
    for i in range(n):
        for part, target in ((dom_z[i], targets["ez_dom"][i]), (~dom_z[i], targets["ez_for"][i])):
            if target > 0 and not (Z[i, part] > 0).any():
                pattern = np.where(part, world_sales[sector_of[i]], 0.0)
                if pattern.sum() <= 0:
                    pattern = np.where(part, targets["zuse"], 0.0)
                Z[i] = np.where(part, pattern * (target / pattern.sum()), Z[i])
                counts["Z row parts"] += 1
        for part, target in ((dom_y[i], targets["ey_dom"][i]), (~dom_y[i], targets["ey_for"][i])):
            if target > 0 and not (Y[i, part] > 0).any():
                pattern = np.where(part, world_fd[sector_of[i]], 0.0)
                if pattern.sum() <= 0:  # no final buyer of this sector anywhere: households, evenly
                    pattern = np.where(part & fd_cons_h, 1.0, 0.0)
                Y[i] = np.where(part, pattern * (target / pattern.sum()), Y[i])
                counts["Y row parts"] += 1
            elif target < 0 and not (Y[i, part] < 0).any():
                inven = part & fd_inven
                by_region = np.array([Y[i, part & (fd_region == fd_region[j])].clip(min=0).sum() for j in np.flatnonzero(inven)])
                weights = by_region / by_region.sum() if by_region.sum() > 0 else np.full(len(by_region), 1 / len(by_region))
                Y[i, np.flatnonzero(inven)] = target * weights  # replaces any (positive) 2011 inventory change
                counts["Y negative parts"] += 1
    for j in range(n):
        if targets["zuse"][j] > 0 and not (Z[:, j] > 0).any():
            pattern = world_use[sector_of[j]]
            Z[:, j] = pattern * (targets["zuse"][j] / pattern.sum())
            counts["Z columns"] += 1
    return Z, Y, counts


def nowcast(year: int) -> tuple[MRIO, dict[str, str]]:
    """The full WIOD table (41 regions x 35 industries, unsplit) brought to ADB's margins of ``year``."""
    from shockmodel.gras import gras   # numba: only when a table is built

    d = _load_npz(_wiod() / "wiod2013_2011_full.npz")
    regions = tuple(str(r) for r in d["regions"])
    sectors = tuple(str(s) for s in d["sectors"])
    fd_categories = tuple(str(c) for c in d["fd_categories"])
    R, S, C = len(regions), len(sectors), len(fd_categories)
    region_of = np.repeat(np.arange(R), S)
    sector_of = np.tile(np.arange(S), R)
    fd_region = np.repeat(np.arange(R), C)
    fd_category = np.tile(np.array(fd_categories), R)
    m = adb_margins(year, regions, sectors)
    targets = {"zuse": m["zuse"], "ez_dom": m["ez_domestic"], "ez_for": m["zsales"] - m["ez_domestic"],
               "ey_dom": m["ey_domestic"], "ey_for": m["y"] - m["ey_domestic"]}
    # RoW: one target per row (its domestic/foreign split in ADB's terms is not ours, see the docstring)
    row = region_of == regions.index("RoW")
    for kind in ("ez", "ey"):
        targets[f"{kind}_dom"] = np.where(row, targets[f"{kind}_dom"] + targets[f"{kind}_for"], targets[f"{kind}_dom"])
        targets[f"{kind}_for"] = np.where(row, 0.0, targets[f"{kind}_for"])
    group_z = ((region_of[:, None] != region_of[None, :]) & ~row[:, None]).astype(np.int8)
    group_y = ((region_of[:, None] != fd_region[None, :]) & ~row[:, None]).astype(np.int8)
    Z0, Y0, seeded = _seed_prior(d["Z"], d["Y"], targets, group_z, group_y, sector_of, fd_region, fd_category)
    z = gras(Z0, np.stack([targets["ez_dom"], targets["ez_for"]], axis=1), targets["zuse"],
             cell_group=group_z, tol=GRAS_TOL, max_iter=20_000)
    y = gras(Y0, np.stack([targets["ey_dom"], targets["ey_for"]], axis=1), None, cell_group=group_y, tol=GRAS_TOL)
    # Rounding to a binary grid (exact: a power of two) leaves trailing zero bits that the npz compresses;
    # balancing after it keeps x = Z1 + Y1 exact. It moves a margin by at most n * QUANTUM / 2.
    Z, Ycat, x, v = balance(np.round(z.table / QUANTUM) * QUANTUM,
                            np.round(y.table.reshape(-1, R, C) / QUANTUM) * QUANTUM)
    gap_x = np.abs(x - m["x"]).max()
    gap_va = np.abs(v - m["va"]).max()
    info = {
        "gras_iterations": f"{z.iterations} (Z; Y: {y.iterations})",
        "gras_max_gap": (f"{max(z.max_gap, y.max_gap):.3g} USD million (largest |achieved - target| over every "
                         f"GRAS target; relative {max(z.max_gap_rel, y.max_gap_rel):.2g}); after balancing, "
                         f"|x - ADB x| <= {gap_x:.3g} and |v - ADB va| <= {gap_va:.3g}"),
        "prior_seeds": ", ".join(f"{k}: {v}" for k, v in seeded.items()),
    }
    base = MRIO(
        name=f"wiod{year}", regions=regions, sectors=sectors, Z=Z, Y=Ycat.sum(axis=2), x=x, v=v, Y_categories=Ycat,
        fd_categories=fd_categories, region_names=tuple(str(r) for r in d["region_names"]),
        sector_names=tuple(str(s) for s in d["sector_names"]),
    )
    return base, info


def aggregate_to_default(full: MRIO) -> MRIO:
    """Sum the full table to the 16 regions x 14 sectors of the default tables (concordances in
    data/sources/wiod2013), adding rows and columns one by one in index order (same bits on every run)."""
    agg = _load_npz(_wiod() / "mrio_agg16x14_2011.npz")
    regions = tuple(str(r) for r in agg["regions"])
    sectors = tuple(str(s) for s in agg["sectors"])
    rmap = _concordance(_wiod() / "region_concordance.csv", "wiod_code", "agg_region")
    smap = _concordance(_wiod() / "sector_concordance.csv", "wiod_code", "agg_sector")
    S2 = len(sectors)
    new_of = np.array([regions.index(rmap[r]) * S2 + sectors.index(smap[s]) for r in full.regions for s in full.sectors])
    new_region = np.array([regions.index(rmap[r]) for r in full.regions])
    n2 = len(regions) * S2

    def rows(M, index, size):  # out[index[k]] += M[k], k in order
        out = np.zeros((size,) + M.shape[1:])
        for k, t in enumerate(index):
            out[t] += M[k]
        return out

    Z = rows(rows(full.Z, new_of, n2).T, new_of, n2).T
    Ycat = rows(rows(full.Y_categories, new_of, n2).transpose(1, 0, 2), new_region, len(regions)).transpose(1, 0, 2)
    Ycat = np.ascontiguousarray(Ycat)
    x, v = rows(full.x, new_of, n2), rows(full.v, new_of, n2)
    return MRIO(
        name=full.name, regions=regions, sectors=sectors, Z=np.ascontiguousarray(Z), Y=Ycat.sum(axis=2), x=x, v=v,
        Y_categories=Ycat, fd_categories=full.fd_categories,
        region_names=tuple(str(r) for r in agg["region_desc"]), sector_names=tuple(str(s) for s in agg["sector_desc"]),
    )


# --- split, groups, metadata ---------------------------------------------------------------------------
def _shares(regions, shares: dict, group_of=None) -> np.ndarray:
    out = []
    for r in regions:
        key = r if r in shares else (group_of or {}).get(r)
        out.append(float(shares.get(key, shares["default"])))
    return np.array(out)


def _weights(sectors, params, group_of=None) -> dict[str, float]:
    table = params["buyer_weight"]
    out = {}
    for s in sectors:
        key = s if s in table else (group_of or {}).get(s)
        out[s] = float(table.get(key, table["default"]))
    out[SEMI] = float(table[SEMI])
    out[OTHER] = float(table[OTHER])
    return out


def _split(base: MRIO, year: int, meta: dict, sector: str, region_map=None, sector_map=None) -> MRIO:
    params = _semiconductor_params()
    shares = params["share"][str(year)]
    return split_sector(base, sector, (SEMI, OTHER), _shares(base.regions, shares, region_map),
                        _weights(base.sectors, params, sector_map), params["buyer_weight"]["final_demand"],
                        new_sector_names=SEMI_NAMES, meta=meta)


def _wiod_groups(mrio: MRIO) -> MRIO:
    """Full tables: built-in groups naming the 16 aggregate regions and 14 aggregate sectors."""
    region_map = _concordance(_wiod() / "region_concordance.csv", "wiod_code", "agg_region")
    sector_map = _concordance(_wiod() / "sector_concordance.csv", "wiod_code", "agg_sector")
    region_groups: dict[str, list[str]] = {}
    for r in mrio.regions:
        if region_map[r] != r:
            region_groups.setdefault(region_map[r], []).append(r)
    sector_groups: dict[str, list[str]] = {}
    for s in mrio.sectors:
        sector_groups.setdefault(sector_map[s], []).append(s)
    # the aggregate ELECTRONICS group is re-created by the split (it names both halves)
    return dataclasses.replace(mrio, region_groups=region_groups,
                               sector_groups={k: v for k, v in sector_groups.items() if k != "ELECTRONICS"})


def _meta(year: int, description: str, source: str, extra: dict | None = None) -> dict[str, str]:
    nowcast_ = year != 2011
    meta = {
        "description": description,
        "year": str(year),
        "units": f"USD million, current prices of {year} (basic prices)",
        "source": source,
        "attribution": WIOD_ATTRIBUTION + (" " + ADB_ATTRIBUTION if nowcast_ else ""),
        "licence": ("data: WIOD CC BY 4.0; ADB Key Indicators Database terms (https://kidb.adb.org/terms), "
                    "attribution required" if nowcast_ else "CC BY 4.0 (data)"),
        "balancing": "x := Z1 + Y1, v := x - 1'Z (scripts/build_tables.py)",
        "semiconductor_split": f"params/semiconductors.toml [share.{year}]; shockmodel.mrio.split_sector",
    }
    if nowcast_:
        meta["levels"] = (f"Every region-sector's gross output, intermediate sales and use, final-demand sales, "
                          f"value added and domestic sales are the ADB MRIO margins of {year}; where ADB and WIOD "
                          "disagree about a level (Taiwan's c14 output in 2011: ADB 210 bn, WIOD 156 bn), ADB wins.")
        meta["known_limits"] = BILATERAL_LIMIT + (
            " RoW's split of sales between RoW and other regions is not pinned (ADB counts trade among its RoW "
            "economies as foreign). Empty 2011 cells that the target year fills were seeded from world sector "
            "patterns before GRAS.")
    meta.update(extra or {})
    return meta


def build_2011() -> list[MRIO]:
    agg = _load_npz(_wiod() / "mrio_agg16x14_2011.npz")
    Z, Ycat, x, v = balance(agg["Z"], agg["Y_by_category"])
    regions = tuple(str(r) for r in agg["regions"])
    base = MRIO(
        name="default2011", regions=regions, sectors=tuple(str(s) for s in agg["sectors"]), Z=Z, Y=Ycat.sum(axis=2),
        x=x, v=v, Y_categories=Ycat, fd_categories=tuple(str(c) for c in agg["fd_categories"]),
        region_names=tuple(str(r) for r in agg["region_desc"]), sector_names=tuple(str(s) for s in agg["sector_desc"]),
    )
    default = _split(base, 2011, _meta(
        2011, "WIOD 2011 aggregated to 16 regions x 14 sectors, electronics split: 16 x 15 = 240 industries",
        "WIOD 2013 release, WIOT 2011, data/sources/wiod2013/mrio_agg16x14_2011.npz"), "ELECTRONICS")

    d = _load_npz(_wiod() / "wiod2013_2011_full.npz")
    R, C = len(d["regions"]), len(d["fd_categories"])
    Z, Ycat, x, v = balance(d["Z"], d["Y"].reshape(-1, R, C))
    full = MRIO(
        name="wiod2011", regions=tuple(str(r) for r in d["regions"]), sectors=tuple(str(s) for s in d["sectors"]),
        Z=Z, Y=Ycat.sum(axis=2), x=x, v=v, Y_categories=Ycat, fd_categories=tuple(str(c) for c in d["fd_categories"]),
        region_names=tuple(str(r) for r in d["region_names"]), sector_names=tuple(str(s) for s in d["sector_names"]),
    )
    wiod = _split_full(full, 2011, _meta(
        2011, "WIOD 2011, 41 regions x 35 industries, c14 split: 41 x 36 = 1476 industries",
        "WIOD 2013 release, WIOT 2011, data/sources/wiod2013/wiod2013_2011_full.npz"))
    return [default, wiod]


def _split_full(full: MRIO, year: int, meta: dict) -> MRIO:
    region_map = _concordance(_wiod() / "region_concordance.csv", "wiod_code", "agg_region")
    sector_map = _concordance(_wiod() / "sector_concordance.csv", "wiod_code", "agg_sector")
    split = _split(_wiod_groups(full), year, meta, "c14", region_map, sector_map)
    groups = dict(split.sector_groups)
    groups["ELECTRONICS"] = groups.pop("c14")  # the aggregate name, as in the default table
    return dataclasses.replace(split, sector_groups=groups)


def build_nowcast(year: int, *, full_only: bool = False) -> list[MRIO]:
    """The nowcast tables of ``year``: aggregated (``default<year>``, ``default`` for :data:`DEFAULT_YEAR`)
    and, for :data:`FULL_NOWCASTS`, in full (``wiod<year>``); only the full one if ``full_only``."""
    full, info = nowcast(year)
    source = (f"WIOD 2013 release WIOT 2011 (data/sources/wiod2013/wiod2013_2011_full.npz) updated by GRAS "
              f"(shockmodel.gras) to the ADB MRIO margins of {year} (data/sources/adb_mrio_margins)")
    out = []
    if not full_only:
        out.append(dataclasses.replace(_split(aggregate_to_default(full), year, _meta(
            year, f"WIOD 2011 nowcast to {year} (ADB MRIO margins), 16 regions x 14 sectors, electronics split: "
                  "16 x 15 = 240 industries", source + ", aggregated to 16 regions x 14 sectors", info), "ELECTRONICS"),
            name="default" if year == DEFAULT_YEAR else f"default{year}"))
    if year in FULL_NOWCASTS:
        out.append(_split_full(full, year, _meta(
            year, f"WIOD 2011 nowcast to {year} (ADB MRIO margins), 41 regions x 35 industries, c14 split: "
                  "41 x 36 = 1476 industries", source, info)))
    return out


# --- every table, by name ------------------------------------------------------------------------------
SHIPPED = ("default2011", "wiod2011", "default2019", "default2021", "default")   #: committed in params/mrio
BUILT_ON_FIRST_USE = {"wiod2021": 2021, "wiod2022": 2022}   #: 41 x 36, 3.4 MB each: built into the cache
ALL_TABLES = SHIPPED + tuple(BUILT_ON_FIRST_USE)

#: SHA-256 of each table as built on the reference (x86-64-v3) numpy path; the committed files and the
#: cached builds of the other tables must match (tests/test_build_tables.py).
REFERENCE_SHA256 = {
    "wiod2021": "3dbc51e453e9fe9490c8601fed86bfec2ead9c2c85ebb44a6480e96c4ec3f3c8",
    "wiod2022": "b705d112fe5b2629aab3f3b9548b8f4554f85604449ba9e10b779d6b4ab98a7e",
}


def _wiod() -> Path:
    return sources_dir() / "wiod2013"


def _adb() -> Path:
    return sources_dir() / "adb_mrio_margins"


def build(names: tuple[str, ...] = ALL_TABLES) -> list[MRIO]:
    """The named tables, built in this process (each nowcast year once), in the order given."""
    unknown = [n for n in names if n not in ALL_TABLES]
    if unknown:
        raise TableError(f"unknown table {unknown[0]!r}; buildable tables: {', '.join(ALL_TABLES)}")
    built: dict[str, MRIO] = {}
    if {"default2011", "wiod2011"} & set(names):
        built.update((m.name, m) for m in build_2011())
    for year in NOWCAST_YEARS:
        wanted = {n for n in names if n in (f"default{year}", f"wiod{year}")}
        if year == DEFAULT_YEAR and "default" in names:
            wanted.add("default")
        if wanted:
            built.update((m.name, m) for m in build_nowcast(year, full_only=wanted == {f"wiod{year}"}))
    return [built[n] for n in names]


def _reference_env() -> dict[str, str]:
    """The environment of a build child: numpy's AVX-512 kernels off (the reference x86-64-v3 path)."""
    env = dict(os.environ)
    try:
        from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    except ImportError:  # another numpy layout: nothing to switch off
        return env
    off = [f for f in __cpu_dispatch__ if (f.startswith("AVX512") or f == "X86_V4") and __cpu_features__.get(f)]
    if off:
        env["NPY_DISABLE_CPU_FEATURES"] = " ".join(off)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(__file__).resolve().parents[2])]
                                        + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def build_to(out: str | os.PathLike, names: tuple[str, ...] = ALL_TABLES, *, quiet: bool = False,
             suffix: str = "") -> list[Path]:
    """Build the named tables into the folder ``out`` as ``<name><suffix>.npz`` (in a child process on
    the reference numpy path; each file written atomically by ``write_npz``). Returns their paths."""
    out = Path(out)
    cmd = [sys.executable, "-m", "shockmodel.io.build", "--out", str(out), f"--suffix={suffix}", *names]
    res = subprocess.run(cmd, env=_reference_env(), capture_output=True, text=True)
    if res.returncode != 0:
        last = (res.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise TableError(f"building {', '.join(names)} failed: {last}", file=str(out))
    if not quiet:
        sys.stdout.write(res.stdout)
    return [out / f"{n}{suffix}.npz" for n in names]


def cache_dir() -> Path:
    """Where tables built on first use are kept (see the module docstring)."""
    if os.environ.get("SHOCKMODEL_CACHE_DIR"):
        return Path(os.environ["SHOCKMODEL_CACHE_DIR"]).expanduser() / "tables"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "shockmodel" / "tables"


_CODE = ("io/build.py", "io/tables.py", "gras.py", "mrio.py")


@lru_cache(maxsize=1)
def build_key() -> str:
    """Digest of everything a built table depends on: source arrays, semiconductor parameters, numpy's
    version and the building code."""
    h = hashlib.sha256(np.__version__.encode())
    package = Path(__file__).resolve().parents[1]
    files = sorted(p for p in sources_dir().rglob("*") if p.is_file())
    files += [params_dir() / "semiconductors.toml"] + [package / c for c in _CODE]
    for p in files:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


runtime.register_cache(build_key.cache_clear)


def cached_table(name: str, *, rebuild: bool = False) -> Path:
    """The path of table ``name`` (one of :data:`BUILT_ON_FIRST_USE`) in the user cache, built first if it
    is not there (about half a minute; a note on stderr says so) or if ``rebuild``."""
    path = cache_dir() / f"{name}-{build_key()}.npz"
    if path.is_file() and not rebuild:
        return path
    sys.stderr.write(f"building table {name} from data/sources into {path.parent} (first use; about 30 s)\n")
    sys.stderr.flush()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TableError(f"cannot create the table cache ({exc}); set SHOCKMODEL_CACHE_DIR to a writable folder",
                         file=str(path.parent)) from None
    return build_to(path.parent, (name,), quiet=True, suffix=f"-{build_key()}")[0]


def main(argv: list[str] | None = None) -> int:
    """Child entry point: build the named tables in this process (numpy as this process found it)."""
    import argparse
    import time

    from shockmodel.io.tables import write_npz
    from shockmodel.mrio import validate

    parser = argparse.ArgumentParser(description="Build shipped tables (run through build_to).")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--suffix", default="", help="file names: <name><suffix>.npz")
    parser.add_argument("names", nargs="*", default=list(ALL_TABLES))
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    tables = build(tuple(args.names))
    for mrio in tables:
        report = validate(mrio, source=mrio.name)
        path = write_npz(mrio, args.out / f"{mrio.name}{args.suffix}.npz")
        print(f"{path.name}: {mrio.meta['year']}, {mrio.n_regions} x {mrio.n_sectors}, "
              f"{path.stat().st_size / 1e6:.2f} MB, spectral radius {report['spectral_radius_A']:.3f}, "
              f"row gap max rel {report['row_gap_max_rel']:.2e}"
              + (f", GRAS gap {mrio.meta['gras_max_gap'].split(' (')[0]}" if "gras_max_gap" in mrio.meta else ""))
    print(f"built {len(tables)} tables in {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
