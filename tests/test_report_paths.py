"""Report contents added for time paths, sensitivity and backtests, and notes on the run's set-up:
tests on the figure data (what the Axes hold) and on the report's text."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")
xr = pytest.importorskip("xarray")

from matplotlib.collections import PolyCollection  # noqa: E402

from shockmodel.errors import UserError  # noqa: E402
from shockmodel.report import plots  # noqa: E402
from shockmodel.report.build import build_report, summary_tables, text_pages  # noqa: E402
from shockmodel.report.document import document  # noqa: E402
from shockmodel.report.stats import two_clusters  # noqa: E402

try:
    from report_fixtures import PATH_STATS, synthetic_run_dataset, with_paths
except ImportError:  # tests collected as a package
    from tests.report_fixtures import PATH_STATS, synthetic_run_dataset, with_paths


@pytest.fixture(scope="module")
def path_ds():
    return with_paths(synthetic_run_dataset(draws=80, seed=5), months=10)


def _band(ax) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, lower, upper) of the first filled band on ``ax``."""
    poly = next(c for c in ax.collections if isinstance(c, PolyCollection))
    v = poly.get_paths()[0].vertices
    xs = np.unique(v[:, 0])
    lower = np.array([v[v[:, 0] == x, 1].min() for x in xs])
    upper = np.array([v[v[:, 0] == x, 1].max() for x in xs])
    return xs, lower, upper


def _line(ax, label: str) -> np.ndarray:
    return next(line for line in ax.get_lines() if line.get_label() == label).get_ydata()


def test_path_fan_chart_draws_the_stored_band_median_and_mean(path_ds):
    ax = plots.plot_loss_paths(path_ds)
    world = path_ds["world_gdp_loss_path_pct_stats"]
    stat = list(PATH_STATS)
    xs, lower, upper = _band(ax)
    np.testing.assert_array_equal(xs, np.arange(1, 11))
    np.testing.assert_allclose(lower, world.values[:, stat.index("p05")])
    np.testing.assert_allclose(upper, world.values[:, stat.index("p95")])
    np.testing.assert_allclose(_line(ax, "median"), world.values[:, stat.index("p50")])
    np.testing.assert_allclose(_line(ax, "mean"), world.values[:, stat.index("mean")])
    assert "% of baseline value added in the month" in ax.get_ylabel()
    assert "over the horizon" in ax.get_title()   # the fixture's packages occur in some draws only
    assert "Month" in ax.get_xlabel()
    sure = path_ds.copy()
    sure["occurred"] = sure["occurred"] | True
    assert "given the scenario occurs" in plots.plot_loss_paths(sure).get_title()


def test_path_panels_are_the_most_affected_regions_each_on_its_own_scale(path_ds):
    ax = plots.plot_loss_paths(path_ds, n_regions=3)
    panels = [a for a in ax.figure.axes if a is not ax]
    mean = path_ds["gdp_loss_path_pct_stats"].sel(path_stat="mean").sum("month")
    expected = [str(r) for r in mean.sortby(-mean)["region"].values[:3]]
    assert [p.get_title(loc="left").split(":")[0] for p in panels] == expected
    first = path_ds["gdp_loss_path_pct_stats"].sel(region=expected[0], path_stat="p50").values
    np.testing.assert_allclose(_line(panels[0], "median"), first)
    assert len({round(p.get_ylim()[1], 6) for p in panels}) == len(panels)   # not a shared axis


def test_report_has_time_paths_section_and_figure(tmp_path, path_ds):
    folder = tmp_path / "run"
    folder.mkdir()
    path_ds.to_netcdf(folder / "data.nc", engine="h5netcdf")
    out = build_report(folder, formats=("html",), dpi=50)
    assert "loss_paths" in out
    text = out["html"].read_text(encoding="utf-8")
    assert "Time paths" in text and "Monthly GDP loss: peak and end of the horizon" in text
    world = path_ds["world_gdp_loss_path_pct_stats"].sel(path_stat="p50").values
    assert f"month {int(np.argmax(world)) + 1}" in text


def test_premium_path_is_quantiles_of_the_stored_draws(path_ds):
    ds = path_ds.copy()
    prem = ds["world_gdp_loss_path_pct"] * 0.1 - 0.05
    ds["world_simultaneity_premium_path_pct"] = prem.assign_attrs(units="percentage points of baseline value added")
    ax = plots.plot_premium_path(ds)
    _, lower, upper = _band(ax)
    np.testing.assert_allclose(lower, np.quantile(prem.values, 0.05, axis=0))
    np.testing.assert_allclose(upper, np.quantile(prem.values, 0.95, axis=0))
    np.testing.assert_allclose(_line(ax, "median"), np.quantile(prem.values, 0.5, axis=0))


def test_two_clusters_finds_a_split_and_leaves_skewed_samples_alone():
    rng = np.random.default_rng(0)
    split = np.r_[rng.normal(0.1, 0.02, 300), rng.normal(2.0, 0.3, 700)]
    c = two_clusters(split)
    assert c is not None and abs(c.high_share - 0.7) < 0.02 and 0.15 < c.threshold < 1.2
    for sample in (rng.lognormal(0, 1, 3000), rng.exponential(size=3000), rng.normal(size=3000),
                   rng.uniform(size=3000)):
        assert two_clusters(sample) is None


def test_results_name_a_bimodal_region_and_say_the_mean_misleads():
    ds = synthetic_run_dataset(draws=400, seed=7)
    rng = np.random.default_rng(1)
    gdp = ds["gdp_loss_pct"].copy()
    chn = list(ds.region.values).index("CHN")
    values = gdp.values.copy()
    values[:, chn] = np.where(rng.random(400) < 0.4, rng.normal(0.2, 0.05, 400), rng.normal(9.0, 1.0, 400))
    ds["gdp_loss_pct"] = gdp.copy(data=values)
    text = " ".join(p for s in document(ds, summary_tables(ds)[0]) for p in s.paragraphs)
    assert "Two outcomes for CHN" in text and "not the mean alone" in text
    assert "Two outcomes for TWN" not in text
    # the inputs named are those whose medians differ between the groups: make one severity decide the group
    sev = ds["severity"].values.copy()
    sev[:, 0] = np.where(values[:, chn] > 4.0, 0.95, 0.1)
    ds["severity"] = ds["severity"].copy(data=sev)
    text = " ".join(p for s in document(ds, summary_tables(ds)[0]) for p in s.paragraphs)
    assert f"{str(ds.shock.values[0])} 0.95 vs 0.1" in text


def test_a_small_outlying_group_is_named_as_setting_the_tail():
    ds = synthetic_run_dataset(draws=2000, seed=8)
    rng = np.random.default_rng(2)
    values = ds["gdp_loss_pct"].values.copy()
    chn = list(ds.region.values).index("CHN")
    values[:, chn] = np.where(rng.random(2000) < 0.015, rng.normal(11.0, 1.5, 2000), rng.normal(2.7, 0.8, 2000))
    ds["gdp_loss_pct"] = ds["gdp_loss_pct"].copy(data=values)
    text = " ".join(p for s in document(ds, summary_tables(ds)[0]) for p in s.paragraphs)
    assert "Two outcomes for CHN" in text and "sets the tail measures" in text
    values[:, chn] = rng.lognormal(0.0, 2.0, 2000)            # a heavy tail is not a second group
    ds["gdp_loss_pct"] = ds["gdp_loss_pct"].copy(data=values)
    text = " ".join(p for s in document(ds, summary_tables(ds)[0]) for p in s.paragraphs)
    assert "Two outcomes for CHN" not in text


def test_page_one_names_model_table_seed_and_copula(path_ds):
    ds = path_ds.copy()
    ds.attrs.update(copula="student-t, 4 df", coordination=0.5, model="constrained", seed=11)
    pages = text_pages(ds, document(ds, summary_tables(ds)[0]))
    first = " ".join(t.get_text() for t in pages[0].texts)
    assert "model constrained" in first and "table default" in first and "seed 11" in first
    assert "Student-t copula with 4 degrees of freedom" in first and "coordination" in first
    ds.attrs["copula"] = "gaussian"
    pages = text_pages(ds, document(ds, summary_tables(ds)[0]))
    assert "Gaussian copula" in " ".join(t.get_text() for t in pages[0].texts)


# ------------------------------------------------------------------------------ sensitivity, backtests
def _sensitivity(ds) -> xr.Dataset:
    groups = ["china_taiwan", "russia", "t-copula mixing"]
    outputs = ["World", "TWN"]
    st_ = np.array([[0.6, 0.35, 0.05], [0.9, 0.05, 0.05]])
    data = {"S1": (("output", "group"), st_ * 0.8), "S1_conf": (("output", "group"), st_ * 0.1),
            "ST": (("output", "group"), st_), "ST_conf": (("output", "group"), st_ * 0.1)}
    out = xr.Dataset(data, coords={"output": outputs, "group": groups, "members": ("group", groups)})
    out.attrs.update(kind="sensitivity", scenario=ds.attrs["scenario"], scenario_sha256=ds.attrs["scenario_sha256"],
                     table=ds.attrs["table"], table_sha256=ds.attrs["table_sha256"], model="constrained",
                     grouping="packages", samples=64, evaluations=320, seed=0, conf_level=0.95, copula="gaussian",
                     run_id="20250101T000000Z-sensitivity-x-0000")
    return out


def _backtest() -> xr.Dataset:
    keys = ["crimea/gdp", "covid/chips", "suez/trade"]
    rng = np.random.default_rng(3)
    data = {"forecast_loss_pct": (("forecast", "draw"), rng.normal(2, 1, (3, 50))),
            "outcome": (("forecast",), [2.5, 1.0, 6.0]), "median": (("forecast",), [2.0, 2.1, 1.9]),
            "p05": (("forecast",), [0.4, 0.3, 0.2]), "p95": (("forecast",), [3.6, 3.7, 3.5]),
            "pit": (("forecast",), [0.7, 0.15, 1.0]), "cover50": (("forecast",), [1, 0, 0]),
            "cover90": (("forecast",), [1, 1, 0])}
    out = xr.Dataset(data, coords={"forecast": keys, "case": ("forecast", [k.split("/")[0] for k in keys]),
                                   "label": ("forecast", ["Crimea GDP", "Covid chips", "Suez trade"])})
    out.attrs.update(kind="backtest", cases="crimea,covid,suez", run_id="20250101T000000Z-backtest-0000")
    return out


def _write(ds, folder):
    folder.mkdir(parents=True)
    ds.to_netcdf(folder / "data.nc", engine="h5netcdf")
    return folder


def test_companions_beside_the_run_add_sensitivity_and_validation(tmp_path, path_ds):
    run = _write(path_ds, tmp_path / "results" / "20250101T000000Z-synthetic-deadbeef")
    out = build_report(run, formats=("html",), dpi=50)
    assert "sensitivity" not in out and "validation_pit" not in out          # data.nc alone: no companions
    _write(_sensitivity(path_ds), tmp_path / "results" / "20250102T000000Z-sensitivity-x-0000")
    _write(_backtest(), tmp_path / "results" / "20250103T000000Z-backtest-0000")
    out = build_report(run, formats=("html",), dpi=50)
    text = out["html"].read_text(encoding="utf-8")
    assert "Sensitivity: what drives the loss" in text and "Validation: backtests on past events" in text
    assert "The 90 % band held 2 of 3 outcomes" in text and "Crimea GDP" in text
    assert "Verdict" not in text          # 2 of 3 is within two binomial standard deviations of 2.7
    assert {"sensitivity", "validation_pit"} <= set(out)


def test_sensitivity_figure_ranks_groups_and_table_matches(path_ds):
    from shockmodel.report import companions as comp

    sens = _sensitivity(path_ds)
    rows = comp.sensitivity_rows(sens)
    assert [r[0] for r in rows] == ["china_taiwan", "russia", "t-copula mixing"]
    assert rows[0][3] == pytest.approx(0.6)
    ax = comp.sensitivity_figure(sens)
    widths = sorted((p.get_width() for p in ax.patches), reverse=True)
    assert widths[0] == pytest.approx(0.6)
    pit = comp.validation_figure(_backtest())
    heights = [p.get_height() for p in pit.patches]
    assert sum(heights) == 3 and heights[-1] == 1      # the PIT of 1.0 lands in the last bin


def test_a_sensitivity_of_another_scenario_is_not_picked_up(tmp_path, path_ds):
    run = _write(path_ds, tmp_path / "results" / "run")
    other = _sensitivity(path_ds)
    other.attrs["scenario_sha256"] = "2" * 64
    _write(other, tmp_path / "results" / "20250102T000000Z-sensitivity-other-0000")
    out = build_report(run, formats=("html",), dpi=50)
    assert "sensitivity" not in out
    out = build_report(run, formats=("html",), dpi=50, sensitivity=tmp_path / "results" /
                       "20250102T000000Z-sensitivity-other-0000")     # given explicitly: included
    assert "sensitivity" in out


def test_a_companion_of_the_wrong_kind_is_one_line(tmp_path, path_ds):
    run = _write(path_ds, tmp_path / "run")
    with pytest.raises(UserError, match="not a backtest result"):
        build_report(run, formats=("html",), backtest=run)


def test_validation_verdict_when_bands_miss_far_too_often():
    from shockmodel.report import companions as comp

    back = _backtest()
    back = xr.concat([back] * 4, dim="forecast")            # 12 outcomes
    back["cover90"] = back["cover90"] * 0                     # none in its band
    text = " ".join(comp.validation_section(back).paragraphs)
    assert "held 0 of 12 outcomes" in text and "understating the uncertainty" in text



@pytest.mark.parametrize("draw", [
    lambda d: plots.plot_gdp_loss_distribution(d),
    lambda d: plots.plot_exceedance(d),
    lambda d: plots.plot_output_heatmap(d),
    lambda d: plots.plot_trade_matrix(d),
    lambda d: plots.plot_simultaneity_premium(d),
    lambda d: plots.plot_premium_by_region(d),
    lambda d: plots.plot_draw_distribution(d, "price_change_pct", "commodity"),
    lambda d: plots.plot_draw_distribution(d, "equity_drawdown_pct", "equity_index"),
    lambda d: plots.plot_loss_paths(d),
], ids=["distribution", "exceedance", "output", "trade", "premium", "premium_region", "prices", "equity", "paths"])
def test_every_chart_of_draws_says_it_is_conditional_and_its_footer_fits(draw):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from shockmodel.report._style import FOOTER_GID

    ds = with_paths(synthetic_run_dataset(draws=60, seed=9, with_variants=True, with_markets=True), months=6)
    ds["occurred"] = ds["occurred"] | True                 # every package in every draw: conditional
    ax = draw(ds)
    words = " ".join([ax.get_title(), ax.get_ylabel()] + [t.get_text() for t in ax.get_legend().get_texts()]
                     if ax.get_legend() else [ax.get_title(), ax.get_ylabel()])
    assert "given the scenario" in words or "scenario occurs" in words
    fig = ax.figure
    renderer = FigureCanvasAgg(fig).get_renderer()
    footer = next(t for t in fig.texts if t.get_gid() == FOOTER_GID)
    box, page = footer.get_window_extent(renderer), fig.bbox
    assert box.x0 >= page.x0 and box.x1 <= page.x1 + 0.5      # the data credit is never clipped
    title = ax.title.get_window_extent(renderer)
    assert title.x0 >= page.x0 - 0.5 and title.x1 <= page.x1 + 0.5


def test_market_flags_are_on_the_chart_and_in_the_table():
    from shockmodel.report.document import market_table

    ds = synthetic_run_dataset(draws=100, seed=4, with_markets=True)
    closed = np.zeros((100, ds.sizes["equity_index"]), dtype=np.int8)
    closed[:37, 3] = 1                                        # MOEX closed in 37 % of draws
    ds["equity_closed"] = (("draw", "equity_index"), closed)
    ds["price_at_bound"] = (("draw", "commodity"), np.zeros((100, ds.sizes["commodity"]), dtype=np.int8))
    ax = plots.plot_draw_distribution(ds, "equity_drawdown_pct", "equity_index")
    assert any(t.get_text().endswith("37% of draws closed to foreign holders") for t in ax.texts)
    rows = {r[0]: r[-1] for r in market_table(ds).rows}
    assert "37% closed to foreign holders" in rows[f"{ds.equity_index.values[3]} (equity drawdown)"]
    assert "0% at a historical price bound" in rows[f"{ds.commodity.values[0]} (price change)"]
    prices = plots.plot_draw_distribution(ds, "price_change_pct", "commodity")
    assert "no draw at a historical price bound" in [t.get_text() for t in prices.get_legend().get_texts()]
