"""The shipped tables against their sources: the nowcast tables reproduce the ADB MRIO margins of their
year (read here straight from data/sources, independently of scripts/build_tables.py), every table says
its year, units and attribution, and the semiconductor split follows params/semiconductors.toml."""

from __future__ import annotations

import csv
import gzip
import tomllib
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from shockmodel.io.tables import list_tables, load_table
from shockmodel.paths import params_dir

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "data" / "sources"
NOWCASTS = {name: int(load_table(name).meta["year"]) for name in list_tables()
            if load_table(name).meta.get("year") not in (None, "2011")}


def _csv(path: Path, key: str, value: str) -> dict[str, str]:
    with open(path, newline="") as f:
        return {row[key]: row[value] for row in csv.DictReader(f)}


@lru_cache(maxsize=None)
def _adb(year: int) -> dict[tuple[str, str], dict[str, float]]:
    """ADB margins of ``year`` per (WIOD region, sector), summed over the economies mapped to it."""
    wiod_of = _csv(SOURCES / "adb_mrio_margins" / "economies.csv", "adb_code", "wiod2013_code")
    out: dict[tuple[str, str], dict[str, float]] = {}
    with gzip.open(SOURCES / "adb_mrio_margins" / "margins_2019_2021_2022.csv.gz", "rt", newline="") as f:
        for row in csv.DictReader(f):
            if int(row["year"]) == year:
                cell = out.setdefault((wiod_of[row["adb_code"]], row["sector"]), {"x": 0.0, "va": 0.0})
                cell["x"] += float(row["x"])
                cell["va"] += float(row["va"])
    return out


def _region_map(mrio) -> dict[str, str]:
    """WIOD region -> the table's region (identity for full tables, the 16-region concordance otherwise)."""
    agg = _csv(SOURCES / "wiod2013" / "region_concordance.csv", "wiod_code", "agg_region")
    return {w: (w if w in mrio.regions else a) for w, a in agg.items()}


def test_every_year_is_shipped():
    years = {name: load_table(name).meta.get("year") for name in list_tables()}
    assert {"2011", "2019", "2021", "2022"} <= set(years.values())
    assert len(NOWCASTS) >= 5  # default2019/2021/2022, wiod2021/2022


@pytest.mark.parametrize("name", sorted(NOWCASTS))
def test_value_added_equals_adb_by_region(name):
    """Every region's value added equals ADB's value added of the economies mapped to it (1e-6 relative)."""
    m = load_table(name)
    adb = _adb(NOWCASTS[name])
    rmap = _region_map(m)
    expected = np.zeros(m.n_regions)
    for (region, _sector), cell in adb.items():
        expected[m.regions.index(rmap[region])] += cell["va"]
    np.testing.assert_allclose(m.gdp, expected, rtol=1e-6)
    assert m.v.sum() == pytest.approx(sum(c["va"] for c in adb.values()), rel=1e-9)


@pytest.mark.parametrize("name", sorted(NOWCASTS))
def test_taiwan_electronics_output_is_adb_c14(name):
    """Taiwan's SEMICONDUCTORS + OTHER_ELECTRONICS output equals ADB's c14 output for Taiwan (TAP)."""
    m = load_table(name)
    twn = m.regions.index("TWN") * m.n_sectors
    out = m.x[twn + m.sectors.index("SEMICONDUCTORS")] + m.x[twn + m.sectors.index("OTHER_ELECTRONICS")]
    assert out == pytest.approx(_adb(NOWCASTS[name])[("TWN", "c14")]["x"], rel=1e-6)


@pytest.mark.parametrize("name", sorted(NOWCASTS))
def test_every_output_equals_adb(name):
    """Gross output of every WIOD region-sector (full tables) matches ADB; totals hold on every table."""
    m = load_table(name)
    adb = _adb(NOWCASTS[name])
    assert m.x.sum() == pytest.approx(sum(c["x"] for c in adb.values()), rel=1e-9)
    if m.n_regions == 41:
        sectors = [s for s in m.sectors if s not in ("SEMICONDUCTORS", "OTHER_ELECTRONICS")]
        for r in m.regions:
            got = np.array([m.x[m.index(r, s)] for s in sectors])
            want = np.array([adb.get((r, s), {"x": 0.0})["x"] for s in sectors])
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-3, err_msg=r)


@pytest.mark.parametrize("name", sorted(list_tables()))
def test_metadata_year_units_attribution(name):
    m = load_table(name)
    year = m.meta["year"]
    assert m.meta["units"].startswith(f"USD million, current prices of {year}")
    assert "Timmer" in m.meta["attribution"] and "CC BY 4.0" in m.meta["attribution"]
    assert "shared" not in m.meta["source"] and not m.meta["source"].startswith("/")
    if year != "2011":
        assert "Asian Development Bank: Key Indicators Database Online (https://kidb.adb.org)" in m.meta["attribution"]
        assert "Accessed on" in m.meta["attribution"]
        assert "2011 WIOD shares" in m.meta["known_limits"] and "ADB wins" in m.meta["levels"]


@pytest.mark.parametrize("name", sorted(list_tables()))
def test_semiconductor_share_of_the_year(name):
    m = load_table(name)
    with open(params_dir() / "semiconductors.toml", "rb") as f:
        shares = tomllib.load(f)["share"][m.meta["year"]]
    s, o = m.sectors.index("SEMICONDUCTORS"), m.sectors.index("OTHER_ELECTRONICS")
    for r in ("TWN", "KOR", "JPN", "USA", "CHN"):
        i = m.regions.index(r) * m.n_sectors
        assert m.x[i + s] / (m.x[i + s] + m.x[i + o]) == pytest.approx(shares[r], rel=1e-9)


def test_no_path_outside_the_repository():
    """Code, parameters, sources and docs never point at a data folder outside the repository (tests may
    name such paths as markers to look for)."""
    hits = []
    for folder in ("shockmodel", "scripts", "params", "data", "docs", "notebooks", "benchmarks"):
        for path in (ROOT / folder).rglob("*"):
            if path.suffix in {".py", ".md", ".toml", ".csv", ".txt", ".ipynb"} and path.is_file():
                text = path.read_text(errors="ignore")
                if "../shared" in text or "/work/shared" in text or "shared/data" in text:
                    hits.append(str(path.relative_to(ROOT)))
    assert not hits, hits
