"""Tests of the second-round demand feedback (shockmodel.feedback): channels off change nothing, the Type-II
closure solves its fixed point, terms of trade are zero-sum for the world, uncertainty lowers investment."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from shockmodel import feedback as fb
from shockmodel import markets as mk
from shockmodel import pipeline
from shockmodel.errors import UserError
from shockmodel.io.tables import load_table


@pytest.fixture(scope="module")
def table():
    return load_table("default")


@pytest.fixture(scope="module")
def runs(table):
    """russia_2022, 1,500 leontief draws, each feedback setting on the same draws."""
    out = {}
    for setting in ("none", "income", "prices", "uncertainty", "all"):
        out[setting] = pipeline.run("russia_2022", table=table, draws=1500, seed=2, model="leontief",
                                    feedback=setting)
    out["no_markets"] = pipeline.run("russia_2022", table=table, draws=1500, seed=2, model="leontief", markets=None)
    return out


def world_mean(ds) -> float:
    return float(ds.world_gdp_loss_pct_summary.sel(statistic="mean"))


def test_parse_channels():
    assert fb.parse_channels(None) == ()
    assert fb.parse_channels("none") == ()
    assert fb.parse_channels("prices, income") == ("income", "prices")
    assert fb.parse_channels("all") == fb.CHANNELS
    with pytest.raises(UserError, match="unknown feedback channel 'incme'") as err:
        fb.parse_channels("incme")
    assert err.value.field == "feedback"


def test_channels_off_leave_the_propagation_unchanged(runs):
    """Feedback off (the default) and the market channel itself never change the propagation's numbers."""
    a, b = runs["none"], runs["no_markets"]
    for var in ("gdp_loss", "gdp_loss_pct_summary", "world_gdp_loss_pct_summary", "output_loss_pct_summary"):
        if var in a:
            np.testing.assert_array_equal(a[var].values, b[var].values, err_msg=var)
    assert a.attrs["feedback"] == "none"


def test_channels_with_zero_parameters_change_nothing(table, tmp_path):
    text = (mk.markets_dir() / "default.toml").read_text()
    start = text.index("[feedback]")
    end = text.index("\n# ---", start)
    zero = ('[feedback]\nmpc = 0.0   # test\ntot_pass = 0.0   # test\ninvestment_semi_elasticity = 0.0   # test\n'
            'source = "test"\n')
    path = tmp_path / "zero.toml"
    path.write_text(text[:start] + zero + text[end:])
    a = pipeline.run("russia_2022", table=table, draws=600, seed=2, model="leontief", markets=str(path))
    b = pipeline.run("russia_2022", table=table, draws=600, seed=2, model="leontief", markets=str(path),
                     feedback="all")
    np.testing.assert_allclose(b.gdp_loss.values, a.gdp_loss.values, rtol=1e-12, atol=1e-9)


def test_each_channel_moves_the_world_loss_the_expected_way(runs):
    base = world_mean(runs["none"])
    assert world_mean(runs["income"]) > base            # households spend less: a Keynesian multiplier
    assert world_mean(runs["uncertainty"]) > base       # investment falls with the risk premium
    # terms of trade move income between regions; a unit of final demand anywhere is a unit of world value
    # added (1' V L = 1'), so the world total does not change (to rounding)
    assert world_mean(runs["prices"]) == pytest.approx(base, rel=1e-6)
    assert world_mean(runs["all"]) > max(world_mean(runs["income"]), world_mean(runs["uncertainty"]))


def test_terms_of_trade_move_income_from_importers_to_exporters(runs):
    """Russia 2022 raises the European gas price: the EU (importer) loses more with the prices channel."""
    eu = lambda ds: float(ds.gdp_loss_pct_summary.sel(statistic="mean", region="DEU"))  # noqa: E731
    assert eu(runs["prices"]) > eu(runs["none"])


def test_type_two_closure_solves_its_fixed_point(table):
    """With the income channel only, dx = dx1 + L C (c V' dx): the induced consumption is c times the total
    value added lost, in each region (Miller & Blair 2009, section 2.5)."""
    params = mk.load_market_params("default")
    cm = mk.compile_market_params(params, table)
    fa = fb.compile_feedback(cm, table, ("income",))
    rng = np.random.default_rng(0)
    B = 5
    dx1 = rng.uniform(0, 0.01, (B, table.n)) * table.x
    u = rng.random((B, mk.n_market_uniforms(params)))
    draws = mk.sample_market_draws(cm, u)
    dx = fb.second_round(fa, cm, dx1, np.zeros((B, len(params.commodities))), draws, 1.0)
    g = dx @ fa.V
    expect = dx1 + (draws.mpc[:, None] * g) @ fa.LC.T
    np.testing.assert_allclose(dx, expect, rtol=1e-9)
    assert np.all(dx >= dx1)


def test_run_cli_feedback_option_rejects_unknown_channel(tmp_path):
    from shockmodel.cli import main

    res = CliRunner().invoke(main, ["run", "baseline", "--draws", "100", "--feedback", "bogus", "--no-report",
                                    "--out", str(tmp_path), "-q"])
    assert res.exit_code == 2
    assert "unknown feedback channel 'bogus'" in res.output and "Traceback" not in res.output


def test_feedback_needs_markets(table):
    with pytest.raises(UserError, match="feedback needs the market channel"):
        pipeline.run("baseline", table=table, draws=10, markets=None, feedback="income")
