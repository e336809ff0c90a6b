"""The shipped tables, the semiconductor split and table validation."""

from __future__ import annotations

import tomllib

import numpy as np
import pytest

from shockmodel.errors import TableError
from shockmodel.mrio import MRIO, aggregate, split_sector, validate
from shockmodel.paths import params_dir
from shockmodel.testing import toy_mrio


def _shares(year: str):
    with open(params_dir() / "semiconductors.toml", "rb") as f:
        return tomllib.load(f)["share"][year]


def test_default_table_shape(default_table):
    m = default_table
    assert m.n_regions == 16 and m.n_sectors == 15 and m.n == 240
    for r in ("TWN", "CHN", "RUS", "USA"):
        assert r in m.regions
    assert "SEMICONDUCTORS" in m.sectors and "OTHER_ELECTRONICS" in m.sectors
    assert m.sector_groups["ELECTRONICS"] == ("SEMICONDUCTORS", "OTHER_ELECTRONICS")


def test_wiod_table_groups(wiod_table):
    m = wiod_table
    assert m.n_regions == 41 and m.n_sectors == 36
    assert "EUR" in m.region_groups and "DEU" not in m.region_groups["EUR"]
    assert m.sector_groups["AGR_FOOD"] == ("c1", "c3")


@pytest.mark.parametrize("table", ["default_table", "wiod_table"])
def test_semiconductor_share_is_documented(table, request):
    m = request.getfixturevalue(table)
    shares = _shares(m.meta["year"])
    s, o = m.sectors.index("SEMICONDUCTORS"), m.sectors.index("OTHER_ELECTRONICS")
    for r in ("TWN", "KOR", "JPN", "USA", "CHN"):
        i = m.regions.index(r) * m.n_sectors
        assert m.x[i + s] / (m.x[i + s] + m.x[i + o]) == pytest.approx(shares[r], rel=1e-9)


@pytest.mark.parametrize("table", ["default_table", "wiod_table"])
def test_balanced_and_productive(table, request):
    report = validate(request.getfixturevalue(table))
    assert report["row_gap_max_rel"] < 1e-12
    assert report["spectral_radius_A"] < 1


def test_split_keeps_balances_and_totals():
    m = toy_mrio(1)
    w = {"ENERGY": 0.1, "CHIPS_A": 1.0, "CHIPS_B": 1.0, "SERVICES": 0.05}
    s = split_sector(m, "CHIPS", ("CHIPS_A", "CHIPS_B"), [0.3, 0.6], w, 0.01)
    validate(s)
    assert s.n_sectors == 4
    np.testing.assert_allclose(s.Z.sum(), m.Z.sum())
    np.testing.assert_allclose(s.Y.sum(), m.Y.sum())
    np.testing.assert_allclose(s.v.sum(), m.v.sum())
    # buyers' total purchases of the two halves equal their purchases of the original sector
    back = aggregate(s, sector_map={"ENERGY": "ENERGY", "CHIPS_A": "CHIPS", "CHIPS_B": "CHIPS", "SERVICES": "SERVICES"},
                     sectors=m.sectors)
    np.testing.assert_allclose(back.Z, m.Z, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(back.x, m.x, rtol=1e-12)
    a = s.index("AAA", "CHIPS_A")
    assert s.x[a] == pytest.approx(0.3 * m.x[m.index("AAA", "CHIPS")])


def test_chip_sales_go_to_chip_users(default_table):
    m = default_table
    s = m.sectors.index("SEMICONDUCTORS")
    sales = m.Z[m.sector_of == s].sum(axis=0).reshape(m.n_regions, m.n_sectors).sum(axis=0)
    users = [m.sectors.index(k) for k in ("SEMICONDUCTORS", "OTHER_ELECTRONICS", "MACHINERY", "TRANSPORT_EQ")]
    assert sales[users].sum() / (sales.sum() + m.Y[m.sector_of == s].sum()) > 0.85


def _bad(**changes):
    m = toy_mrio(2)
    fields = dict(name="bad", regions=m.regions, sectors=m.sectors, Z=m.Z.copy(), Y=m.Y.copy(), x=m.x.copy(), v=m.v.copy())
    fields.update(changes)
    return MRIO(**fields)


@pytest.mark.parametrize("make, expect", [
    (lambda m: _bad(Z=np.where(np.eye(m.n, dtype=bool), np.nan, m.Z)), "non-finite"),
    (lambda m: _bad(Z=m.Z - np.eye(m.n) * (m.Z.diagonal() + 1)), "negative flow"),
    (lambda m: _bad(Z=m.Z[:-1]), "shape"),
    (lambda m: _bad(regions=("AAA", "AAA")), "duplicate"),
    (lambda m: _bad(x=m.x * 1.01), "row balance"),
])
def test_validate_rejects(make, expect):
    with pytest.raises(TableError, match=expect):
        validate(make(toy_mrio(2)))


def test_validate_rejects_unproductive():
    n = 2
    Z = np.array([[60.0, 80.0], [80.0, 60.0]])
    Y = np.array([[-40.0], [-40.0]])  # negative final demand: x = Z1 + Y1 with column sums of A above 1
    x = Z.sum(1) + Y.sum(1)
    m = MRIO(name="u", regions=("R",), sectors=("a", "b"), Z=Z, Y=Y, x=x, v=x - Z.sum(0))
    with pytest.raises(TableError, match="unproductive"):
        validate(m)
    assert n == 2
