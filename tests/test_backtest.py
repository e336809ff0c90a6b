"""Backtests (shockmodel.backtest): the case library obeys the ex-ante rule, forecasts are the engine's
draws, and the command writes scores and a skill report."""

import datetime as dt
import json

import numpy as np
import pytest

from shockmodel import backtest
from shockmodel.errors import UserError


@pytest.mark.parametrize("name", backtest.list_cases())
def test_every_source_of_an_ex_ante_scenario_is_dated_no_later_than_the_forecast_date(name):
    case = backtest.load_case(name)
    sources = backtest.scenario_sources(case.scenario)
    assert len(sources) >= 3
    assert backtest.undated_or_late_sources(case) == []


def test_the_date_rule_rejects_a_late_or_undated_source(tmp_path):
    case = backtest.load_case("russia_2022")
    text = case.scenario.read_text()
    late = tmp_path / "scenario.toml"
    late.write_text(text.replace("Finance Minister Siluanov, 2022-03-13", "IEA Oil Market Report, 2022-11-15"))
    bad = backtest.undated_or_late_sources(backtest.Case(**{**case.__dict__, "scenario": late}))
    assert len(bad) == 1 and "2022-11-15" in bad[0] and "reserve_freeze" in bad[0]
    undated = 'source = "Finance Minister Siluanov (USD 300 bn frozen); the trade effect is an assumption"'
    late.write_text("\n".join(undated if line.startswith('source = "Finance Minister Siluanov') else line
                              for line in text.splitlines()))
    bad = backtest.undated_or_late_sources(backtest.Case(**{**case.__dict__, "scenario": late}))
    assert len(bad) == 1 and "no ISO date" in bad[0]


def test_outcome_definitions():
    # eq. S6: IMF Jan 2022 2.8% for Russia, realised -2.1% -> 4.77% below the pre-war path
    assert backtest.loss_from_growth(-2.1, 2.8) == pytest.approx(100 * (1 - 0.979 / 1.028))
    assert backtest.loss_from_growth(2.8, 2.8) == 0.0
    assert backtest.loss_from_units(1.0, 9.0) == pytest.approx(10.0)
    case = backtest.load_case("russia_2022")
    rus = next(o for o in case.outputs if o.id == "rus_gdp")
    imf = next(c for c in rus.competitors if c.name.startswith("IMF"))
    assert rus.outcome == pytest.approx(4.766, abs=1e-3) and imf.forecast == pytest.approx(10.992, abs=1e-3)
    assert case.forecast_date == dt.date(2022, 3, 15)


def test_bad_case_field_is_a_user_error(tmp_path):
    src = backtest.case_path("chips_2021")
    (tmp_path / "scenario.toml").write_text((src.parent / "scenario.toml").read_text())
    (tmp_path / "case.toml").write_text(src.read_text().replace('measure = "gross_output"', 'measure = "jobs"', 1))
    with pytest.raises(UserError, match="unknown measure 'jobs'") as err:
        backtest.load_case(str(tmp_path))
    assert "case.toml" in str(err.value) and "measure" in str(err.value)


def test_forecast_draws_are_the_engines_draws():
    """The Russia GDP output (value added of RUS) equals the run's gdp_loss_pct for RUS, draw by draw."""
    from shockmodel import pipeline

    case = backtest.load_case("russia_2022")
    got = backtest.forecast_draws(case, draws=300)["rus_gdp"]
    ds = pipeline.run(str(case.scenario), table=case.table, draws=300, seed=case.seed, model=case.model, markets=None)
    np.testing.assert_allclose(got, ds["gdp_loss_pct"].sel(region="RUS").values, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("model, structure", [("constrained", "central"), ("dynamic", "sampled")])
def test_forecast_draws_are_the_runs_draws_for_every_model_and_structure(model, structure):
    """A case forecast with another model or structure (backtest --model / --structure) is still the run's own
    draws: the dynamic model draws its behavioural parameters from the block's stream, as in a run."""
    import dataclasses

    from shockmodel import pipeline

    case = dataclasses.replace(backtest.load_case("russia_2022"), model=model, structure=structure)
    got = backtest.forecast_draws(case, draws=24)["rus_gdp"]
    ds = pipeline.run(str(case.scenario), table=case.table, draws=24, seed=case.seed, model=model, markets=None,
                      structure=structure)
    np.testing.assert_allclose(got, ds["gdp_loss_pct"].sel(region="RUS").values, rtol=1e-10, atol=1e-12)


def test_backtest_refuses_an_unknown_model():
    with pytest.raises(UserError, match="unknown model"):
        backtest.run_backtests(["russia_2022"], draws=4, model="walras")


@pytest.mark.slow
def test_backtest_command_prints_scores_and_writes_the_skill_report(tmp_path):
    from click.testing import CliRunner

    from shockmodel.cli import main

    r = CliRunner().invoke(main, ["backtest", "-n", "256", "-o", str(tmp_path)])
    assert r.exit_code == 0, r.output
    for name in ("russia_2022/rus_gdp", "russia_2022/deu_gdp", "chips_2021/world_vehicles", "IMF WEO Apr 2022"):
        assert name in r.output
    folder = next(tmp_path.iterdir())
    for f in ("data.nc", "scores.csv", "competitors.csv", "manifest.json", "report/skill.html", "report/skill.pdf"):
        assert (folder / f).is_file() and (folder / f).stat().st_size > 0, f
    assert (folder / "report/skill.pdf").read_bytes()[:4] == b"%PDF"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["cases"]["russia_2022"]["forecast_date"] == "2022-03-15"
    from shockmodel.io.results import read_dataset

    ds = read_dataset(folder)
    assert ds.sizes["draw"] == 256 and "russia_2022/rus_gdp" in ds.forecast.values
    assert ((ds.pit >= 0) & (ds.pit <= 1)).all()


def test_unknown_case_exits_2():
    from click.testing import CliRunner

    from shockmodel.cli import main

    r = CliRunner().invoke(main, ["backtest", "no_such_case"])
    assert r.exit_code == 2 and "no backtest case 'no_such_case'" in r.output


def test_backtest_folder_appears_complete_or_not_at_all(tmp_path, monkeypatch):
    """Written as a staged folder (io.results.staged_run_dir), as runs are: a failure while writing
    the report is one line and leaves neither the folder nor a hidden temporary."""
    import errno

    from shockmodel.errors import UserError
    from shockmodel.report import skill

    res = backtest.run_backtests(["uk_2020q2"], draws=256)
    folder, files = backtest.write_backtest(res, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]
    assert files and all(folder in p.parents and p.is_file() for p in files.values())
    assert json.loads((folder / "manifest.json").read_text())["run_id"] == folder.name

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(skill, "write_skill_report", full_disk)
    with pytest.raises(UserError, match="no space left"):
        backtest.write_backtest(res, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]
