"""Outputs that travel: `shockmodel export` (CSV, parquet, xlsx) round-trips, and the exceedance table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from shockmodel.aggregate import exceedance_table, summarize
from shockmodel.cli import main
from shockmodel.io.results import read_dataset


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("export")
    res = _invoke("run", "combined_coordinated", "--draws", 400, "--seed", 2, "--variants",
                  "combined=russia,china_taiwan;russia=russia;china_taiwan=china_taiwan", "--out", out,
                  "--no-report", "--quiet")
    assert res.exit_code == 0, res.output
    (folder,) = list(out.iterdir())
    return folder


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export_summary_round_trips(run_folder, tmp_path, fmt):
    res = _invoke("export", run_folder, "--format", fmt, "--out", tmp_path / fmt)
    assert res.exit_code == 0, res.output
    read = pd.read_csv if fmt == "csv" else pd.read_parquet
    ds = read_dataset(run_folder)
    pd.testing.assert_frame_equal(read(tmp_path / fmt / f"summary.{fmt}"), summarize(ds), check_exact=fmt == "parquet",
                                  rtol=1e-15)
    pd.testing.assert_frame_equal(read(tmp_path / fmt / f"exceedance.{fmt}"), exceedance_table(ds),
                                  check_exact=fmt == "parquet", rtol=1e-15)
    assert not (tmp_path / fmt / f"draws.{fmt}").exists()


def test_export_draws_and_xlsx(run_folder, tmp_path):
    res = _invoke("export", run_folder, "--format", "xlsx", "--draws", "--out", tmp_path)
    assert res.exit_code == 0, res.output
    (book,) = list(tmp_path.glob("*.xlsx"))
    sheets = pd.read_excel(book, sheet_name=None)
    assert set(sheets) == {"summary", "exceedance", "draws"}
    draws = sheets["draws"]
    ds = read_dataset(run_folder)
    world = draws[(draws.region == "World") & (draws.scenario == "combined")].sort_values("draw")
    np.testing.assert_allclose(world["gdp_loss_pct"], ds["world_gdp_loss_pct"].sel(scenario="combined"), rtol=1e-12)
    assert len(draws) == ds.sizes["scenario"] * ds.sizes["draw"] * (ds.sizes["region"] + 1)


def test_exceedance_table_is_conditional_with_return_periods(run_folder):
    ds = read_dataset(run_folder)
    table = exceedance_table(ds)
    world = table[(table.scenario == "combined") & (table.region == "World")]
    assert world.conditional.all() and (world.return_period_unit == "occurrences of the scenario").all()
    np.testing.assert_allclose(world.return_period, 1 / world.exceedance_probability)
    assert world.exceedance_probability.min() >= 1 / ds.sizes["draw"]   # nothing rarer than one draw
    x = ds["world_gdp_loss_pct"].sel(scenario="combined").values
    p05 = world[world.exceedance_probability == 0.05].loss.item()
    assert np.mean(x > p05) == pytest.approx(0.05, abs=1 / x.size)
    assert world.sort_values("return_period").loss.is_monotonic_increasing


def test_export_errors(tmp_path):
    res = _invoke("export", tmp_path, "--format", "csv")
    assert res.exit_code == 2 and "data.nc" in res.output and "Traceback" not in res.output
