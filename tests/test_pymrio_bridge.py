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
