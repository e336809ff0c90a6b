"""Issue 21's "Must show": a new scenario written from docs/scenarios.md alone (a six-month blockade
with 50% tariffs and a critical-mineral cut critical for vehicles) validates and runs from the CLI."""

from __future__ import annotations

import math
from pathlib import Path

import xarray as xr
from click.testing import CliRunner

from shockmodel.cli import main
from shockmodel.criticality import critical_weights, with_overrides
from shockmodel.scenario import compile_scenario, load_scenario, tariff_share_lost

FILE = Path(__file__).parent / "data" / "scenarios" / "blockade_tariffs_minerals.toml"


def test_it_validates_on_both_tables():
    runner = CliRunner()
    for table in ("default", "wiod2011"):
        res = runner.invoke(main, ["scenarios", "validate", str(FILE), "--table", table])
        assert res.exit_code == 0, res.output
        assert f"OK: blockade_tariffs_minerals: 1 packages, 6 shocks, valid on table {table}" in res.output
    shown = runner.invoke(main, ["scenarios", "show", str(FILE)])
    assert shown.exit_code == 0
    assert "shock tariffs (tariff)" in shown.output and "TRANSPORT_EQ needs BASIC_METALS: weight 1" in shown.output


def test_it_compiles_what_the_guide_says(default_table):
    compiled = compile_scenario(load_scenario(FILE), default_table)
    kinds = {s.key.split(".")[1]: s.kind for s in compiled.shocks}
    assert kinds["tariffs"] == "tariff" and kinds["minerals_cut"] == "trade_block"
    s = default_table.sectors.index
    W = with_overrides(critical_weights(default_table), compiled.critical_overrides)
    assert W[s("BASIC_METALS"), s("TRANSPORT_EQ")] == 1.0 and W[s("CHEMICALS"), s("TRANSPORT_EQ")] == 1.0


def test_it_runs(tmp_path):
    res = CliRunner().invoke(main, ["run", str(FILE), "--draws", "512", "--seed", "1", "--no-report", "-o",
                                    str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "GDP loss, percent of baseline value added [blockade_tariffs_minerals]" in res.output
    (folder,) = tmp_path.iterdir()
    with xr.open_dataset(folder / "data.nc") as ds:
        tariff = ds["severity"].sel(shock="crisis.tariffs").values
        lo, hi = (float(tariff_share_lost(0.5, e)) for e in (0.4, 2.25))
        assert tariff.min() >= lo - 1e-12 and tariff.max() <= hi + 1e-12 and tariff.std() > 0
        world = ds["world_gdp_loss_pct"].values
        assert world.min() > 0 and math.isfinite(world.max())
        assert ds.attrs["scenario"] == "blockade_tariffs_minerals"
    assert (folder / "inputs" / "scenario.toml").read_text().count("elasticity_source") == 1
