"""Build the shipped tables in params/mrio/ from the WIOD 2013 release files in ../shared/data.

    python scripts/build_tables.py [SHARED_DATA_DIR]

Writes ``params/mrio/default.npz`` (16 regions x 15 sectors) and ``params/mrio/wiod2011.npz``
(41 regions x 36 sectors). Steps, identical for both tables:

1. read the table (``mrio_agg16x14_2011.npz`` or ``wiod2013_2011_full.npz``);
2. balance it: ``x := Z1 + Y1``, ``v := x - 1'Z`` (the source values are truncated to whole USD
   millions, so rows are short by 0.04% on average; see ../shared/data/README.md);
3. split electronics (``ELECTRONICS`` / WIOD ``c14``) into ``SEMICONDUCTORS`` and ``OTHER_ELECTRONICS``
   with the shares and buyer weights in ``params/semiconductors.toml`` (rule in
   ``shockmodel.mrio.split_sector``);
4. attach built-in groups (``wiod2011``: the 16 aggregate regions and 14 aggregate sectors, so the same
   scenarios run on both tables) and provenance, and write the npz atomically.

Data: WIOD 2013 release (Timmer et al. 2015), CC BY 4.0, values taken from the ``wiod`` R data package
(Quast & Reiter), converted by this project.
"""

from __future__ import annotations

import csv
import dataclasses
import sys
import tomllib
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shockmodel.io.tables import write_npz  # noqa: E402
from shockmodel.mrio import MRIO, balance, split_sector, validate  # noqa: E402

ATTRIBUTION = (
    "WIOD 2013 release (Timmer, Dietzenbacher, Los, Stehrer and de Vries 2015, 'An Illustrated User Guide "
    "to the World Input-Output Database: the Case of Global Automotive Production', Review of International "
    "Economics 23: 575-605), licensed CC BY 4.0; values taken from the 'wiod' R data package (Quast & Reiter), "
    "converted by this project (balanced, electronics split into semiconductors and other electronics)."
)
SEMI, OTHER = "SEMICONDUCTORS", "OTHER_ELECTRONICS"
SEMI_NAMES = ("Semiconductors and electronic components (split of c14)",
              "Other electrical and optical equipment (rest of c14)")


def _params() -> dict:
    with open(ROOT / "params" / "semiconductors.toml", "rb") as f:
        return tomllib.load(f)


def _shares(regions, params, group_of=None) -> np.ndarray:
    table = params["share"]
    out = []
    for r in regions:
        key = r if r in table else (group_of or {}).get(r)
        out.append(float(table.get(key, table["default"])))
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


def _meta(name: str, source_file: str, description: str) -> dict[str, str]:
    return {
        "description": description,
        "units": "USD million (2011, current prices, basic prices)",
        "year": "2011",
        "source": f"WIOD 2013 release, WIOT 2011, ../shared/data/{source_file}",
        "attribution": ATTRIBUTION,
        "licence": "CC BY 4.0 (data)",
        "balancing": "x := Z1 + Y1, v := x - 1'Z (scripts/build_tables.py)",
        "semiconductor_split": "params/semiconductors.toml; shockmodel.mrio.split_sector",
    }


def build_default(shared: Path) -> MRIO:
    with np.load(shared / "mrio_agg16x14_2011.npz", allow_pickle=False) as f:
        d = {k: f[k] for k in f.files}
    Z, Ycat, x, v = balance(d["Z"], d["Y_by_category"])
    regions = tuple(str(r) for r in d["regions"])
    sectors = tuple(str(s) for s in d["sectors"])
    base = MRIO(
        name="default", regions=regions, sectors=sectors, Z=Z, Y=Ycat.sum(axis=2), x=x, v=v,
        Y_categories=Ycat, fd_categories=tuple(str(c) for c in d["fd_categories"]),
        region_names=tuple(str(r) for r in d["region_desc"]), sector_names=tuple(str(s) for s in d["sector_desc"]),
    )
    params = _params()
    meta = _meta("default", "mrio_agg16x14_2011.npz",
                 "WIOD 2011 aggregated to 16 regions x 14 sectors, electronics split: 16 x 15 = 240 industries")
    return split_sector(base, "ELECTRONICS", (SEMI, OTHER), _shares(regions, params),
                        _weights(sectors, params), params["buyer_weight"]["final_demand"],
                        new_sector_names=SEMI_NAMES, meta=meta)


def _concordance(path: Path, key: str, value: str) -> dict[str, str]:
    with open(path, newline="") as f:
        return {row[key]: row[value] for row in csv.DictReader(f)}


def build_wiod2011(shared: Path) -> MRIO:
    with np.load(shared / "wiod2013_2011_full.npz", allow_pickle=False) as f:
        d = {k: f[k] for k in f.files}
    regions = tuple(str(r) for r in d["regions"])
    sectors = tuple(str(s) for s in d["sectors"])
    R, C = len(regions), len(d["fd_categories"])
    Z, Ycat, x, v = balance(d["Z"], d["Y"].reshape(-1, R, C))
    region_map = _concordance(shared / "region_concordance.csv", "wiod_code", "agg_region")
    sector_map = _concordance(shared / "sector_concordance.csv", "wiod_code", "agg_sector")
    region_groups: dict[str, list[str]] = {}
    for r in regions:
        if region_map[r] != r:
            region_groups.setdefault(region_map[r], []).append(r)
    sector_groups: dict[str, list[str]] = {}
    for s in sectors:
        sector_groups.setdefault(sector_map[s], []).append(s)
    base = MRIO(
        name="wiod2011", regions=regions, sectors=sectors, Z=Z, Y=Ycat.sum(axis=2), x=x, v=v,
        Y_categories=Ycat, fd_categories=tuple(str(c) for c in d["fd_categories"]),
        region_names=tuple(str(r) for r in d["region_names"]), sector_names=tuple(str(s) for s in d["sector_names"]),
        region_groups=region_groups,
        # the aggregate ELECTRONICS group is re-created by the split (it names both halves)
        sector_groups={k: v for k, v in sector_groups.items() if k != "ELECTRONICS"},
    )
    params = _params()
    meta = _meta("wiod2011", "wiod2013_2011_full.npz",
                 "WIOD 2011, 41 regions x 35 industries, c14 split: 41 x 36 = 1476 industries")
    split = split_sector(base, "c14", (SEMI, OTHER), _shares(regions, params, region_map),
                         _weights(sectors, params, sector_map), params["buyer_weight"]["final_demand"],
                         new_sector_names=SEMI_NAMES, meta=meta)
    groups = dict(split.sector_groups)
    groups["ELECTRONICS"] = groups.pop("c14")  # the aggregate name, as in the default table
    return dataclasses.replace(split, sector_groups=groups)


def main(argv: list[str]) -> int:
    shared = Path(argv[1]) if len(argv) > 1 else ROOT.parent / "shared" / "data"
    out = ROOT / "params" / "mrio"
    for build in (build_default, build_wiod2011):
        mrio = build(shared)
        report = validate(mrio, source=mrio.name)
        path = write_npz(mrio, out / f"{mrio.name}.npz")
        print(f"{path.relative_to(ROOT)}: {mrio.n_regions} x {mrio.n_sectors}, "
              f"{path.stat().st_size / 1e6:.2f} MB, spectral radius {report['spectral_radius_A']:.3f}, "
              f"row gap max rel {report['row_gap_max_rel']:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
