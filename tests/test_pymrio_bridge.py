"""pymrio bridge: round trip through pymrio.IOSystem and aggregation with concordance files."""

from __future__ import annotations

import numpy as np
import pytest

from shockmodel.errors import TableError
from shockmodel.io import pymrio_bridge as bridge
from shockmodel.mrio import validate

pymrio = pytest.importorskip("pymrio")


def test_round_trip(default_table):
    io = bridge.to_pymrio(default_table)
    io.calc_all()
    back = bridge.from_pymrio(io, name="back")
    validate(back)
    np.testing.assert_allclose(back.Z, default_table.Z)
    np.testing.assert_allclose(back.Y, default_table.Y)
    np.testing.assert_allclose(back.x, default_table.x, rtol=1e-12)
    assert back.regions == default_table.regions and back.sectors == default_table.sectors
    # pymrio's own Leontief solution on the exported system equals ours
    np.testing.assert_allclose(io.x.to_numpy().ravel(), default_table.x, rtol=1e-9)


def test_aggregate_with_concordance(default_table, tmp_path):
    io = bridge.to_pymrio(default_table)
    m = bridge.from_pymrio(io)
    reg = tmp_path / "regions.csv"
    reg.write_text("source,target\n" + "\n".join(f"{r},{'ASIA' if r in ('TWN', 'CHN', 'JPN', 'KOR') else 'OTHER'}"
                                                  for r in m.regions))
    from shockmodel.mrio import aggregate

    agg = aggregate(m, bridge.read_concordance(reg), None, regions=("ASIA", "OTHER"))
    validate(agg)
    assert agg.n_regions == 2 and agg.Z.sum() == pytest.approx(m.Z.sum())


def test_bad_inputs(tmp_path):
    with pytest.raises(TableError, match="unknown source kind"):
        bridge.import_downloaded("eora", tmp_path / "x.zip")
    with pytest.raises(TableError, match="could not parse"):
        bridge.import_downloaded("oecd", tmp_path / "missing.zip", year=2018)
    with pytest.raises(TableError, match="no such file"):
        bridge.read_concordance(tmp_path / "none.csv")


def _tables():
    from shockmodel.io.tables import list_tables

    # the full 41-region tables take a few seconds each in pymrio: slow
    return [pytest.param(n, marks=pytest.mark.slow) if n.startswith("wiod") else n for n in sorted(list_tables())]


@pytest.mark.parametrize("name", _tables())
def test_leontief_matches_pymrio(name):
    """A, L and x = L y of every shipped table (2011 and the nowcasts) agree with pymrio's within 1e-9."""
    from shockmodel.io.tables import load_table

    m = load_table(name)
    io = bridge.to_pymrio(m)
    io.calc_all()
    np.testing.assert_allclose(io.A.to_numpy(), m.A, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(io.L.to_numpy(), m.L, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(io.L.to_numpy() @ m.y, m.x, rtol=1e-9)
    np.testing.assert_allclose(m.L @ m.y, m.x, rtol=1e-9)
