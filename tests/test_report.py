"""Tests of the report layer: figures (titles, labels with units, footer), statistics, report files."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
xr = pytest.importorskip("xarray")

from matplotlib.figure import Figure  # noqa: E402

from shockmodel.errors import UserError  # noqa: E402
from shockmodel.report import plots  # noqa: E402
from shockmodel.report._data import ReportDataError  # noqa: E402
from shockmodel.report._style import axis_label, short_attribution  # noqa: E402
from shockmodel.report.build import build_report  # noqa: E402
from shockmodel.report.stats import (  # noqa: E402
    exceedance_curve,
    expected_shortfall,
    gdp_summary_table,
    loss_metrics,
    value_at_risk,
)
from shockmodel.report.sweepdata import sweep_series, swept_params  # noqa: E402

try:
    from report_fixtures import synthetic_run_dataset, synthetic_sweep_dataset
except ImportError:  # tests collected as a package
    from tests.report_fixtures import synthetic_run_dataset, synthetic_sweep_dataset

UNIT = re.compile(r"\[[^\]]+\]|\([^)]+\)")
DRAWS = 120


@pytest.fixture(scope="module")
def run_ds():
    return synthetic_run_dataset(draws=DRAWS, seed=1)


@pytest.fixture(scope="module")
def variants_ds():
    return synthetic_run_dataset(draws=DRAWS, seed=2, with_variants=True, with_markets=True)


@pytest.fixture(scope="module")
def grid_ds():
    return synthetic_sweep_dataset(draws=DRAWS, seed=3, layout="grid")


@pytest.fixture(scope="module")
def cell_ds():
    return synthetic_sweep_dataset(draws=DRAWS, seed=3, layout="cell")


def _colorbar_label(ax) -> str:
    return ax.images[0].colorbar.ax.get_ylabel()


def _footer(ax) -> str:
    return " ".join(t.get_text() for t in ax.figure.texts)


# Each case: dataset fixture, how to draw, which labels must carry a unit.
CASES = {
    "gdp_loss_distribution": ("run_ds", plots.plot_gdp_loss_distribution, ("x",)),
    "gdp_loss_distribution_variants": ("variants_ds", plots.plot_gdp_loss_distribution, ("x",)),
    "exceedance": ("run_ds", plots.plot_exceedance, ("x",)),
    "output_heatmap": ("run_ds", plots.plot_output_heatmap, ("colorbar",)),
    "trade_matrix": ("variants_ds", plots.plot_trade_matrix, ("colorbar",)),
    "simultaneity_premium": ("variants_ds", plots.plot_simultaneity_premium, ("x", "y")),
    "premium_by_region": ("variants_ds", plots.plot_premium_by_region, ("x",)),
    "fan_chart_grid": ("grid_ds", lambda ds: plots.plot_fan_chart(ds, "inventory_days"), ("x", "y")),
    "fan_chart_cell": ("cell_ds", lambda ds: plots.plot_fan_chart(ds, "coordination"), ("y",)),
    "tornado_grid": ("grid_ds", plots.plot_tornado, ("x",)),
    "tornado_cell": ("cell_ds", plots.plot_tornado, ("x",)),
    "price_distribution": ("variants_ds",
                           lambda ds: plots.plot_draw_distribution(ds, "price_change_pct", "commodity"), ("x",)),
    "equity_distribution": ("variants_ds",
                            lambda ds: plots.plot_draw_distribution(ds, "equity_drawdown_pct", "equity_index"), ("x",)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_plot_has_title_labels_units_and_footer(case, request):
    fixture, draw, with_units = CASES[case]
    ds = request.getfixturevalue(fixture)
    ax = draw(ds)
    assert ax.get_title().strip()
    assert ax.get_xlabel().strip() and ax.get_ylabel().strip()
    labels = {"x": ax.get_xlabel(), "y": ax.get_ylabel()}
    if "colorbar" in with_units:
        labels["colorbar"] = _colorbar_label(ax)
    for which in with_units:
        assert UNIT.search(labels[which]), f"{case}: {which} label {labels[which]!r} has no unit"
    footer = _footer(ax)
    assert ds.attrs["run_id"] in footer and "CC BY 4.0" in footer and "WIOD" in footer


def test_plot_draws_on_a_given_axes(run_ds):
    fig = Figure(figsize=(10, 4), layout="constrained")
    left, right = fig.subplots(1, 2)
    assert plots.plot_exceedance(run_ds, ax=right) is right
    assert plots.plot_gdp_loss_distribution(run_ds, ax=left, n_regions=3) is left
    assert len(left.get_yticklabels()) == 4  # World + 3 regions
    assert sum(t.get_gid() == "shockmodel-footer" for t in fig.texts) == 1


def test_distribution_ranks_regions_and_marks_risk(run_ds):
    ax = plots.plot_gdp_loss_distribution(run_ds, n_regions=5)
    names = [t.get_text() for t in ax.get_yticklabels()][::-1]  # top to bottom
    assert names[0] == "World"
    means = [float(run_ds["gdp_loss_pct"].sel(region=r).mean()) for r in names[1:]]
    assert means == sorted(means, reverse=True)
    legend = {t.get_text() for t in ax.get_legend().get_texts()}
    assert {"VaR95", "VaR99", "ES95", "ES99"} <= legend


def test_exceedance_selected_regions_and_unknown_region(run_ds):
    ax = plots.plot_exceedance(run_ds, regions=["USA", "DEU"])
    assert {t.get_text() for t in ax.get_legend().get_texts()} - {"dotted: 5% and 1% probability over the horizon"} \
        == {"World", "USA", "DEU"}
    assert ax.get_yscale() == "log"
    with pytest.raises(ReportDataError, match="XXX"):
        plots.plot_exceedance(run_ds, regions=["XXX"])


def test_missing_variable_or_stat_raises_report_data_error(run_ds):
    with pytest.raises(ReportDataError, match="output_loss_pct"):
        plots.plot_output_heatmap(run_ds.drop_vars("output_loss_pct"))
    with pytest.raises(ReportDataError, match="p05"):
        plots.plot_output_heatmap(run_ds, stat="p42")
    with pytest.raises(ReportDataError):
        plots.plot_simultaneity_premium(run_ds)  # no variants


# ------------------------------------------------------------------------------------------ statistics
def test_risk_measures_on_a_known_sample():
    x = np.arange(1.0, 101.0)
    assert value_at_risk(x, 0.95) == pytest.approx(95.05)
    assert expected_shortfall(x, 0.95) == pytest.approx(98.0)  # mean of 96..100
    m = loss_metrics(np.append(x, np.nan))  # NaN draws ignored
    assert m["mean"] == pytest.approx(50.5) and m["p50"] == pytest.approx(50.5)
    assert m["ES99"] >= m["VaR99"] >= m["VaR95"]
    xs, p = exceedance_curve(np.array([3.0, 1.0, 2.0, 2.0]))
    assert xs.tolist() == [1, 2, 2, 3] and p.tolist() == [0.75, 0.25, 0.25, 0.0]   # P(loss > t), as aggregate's


def test_summary_table_from_draws_matches_stored_summary(run_ds):
    stored = gdp_summary_table(run_ds)
    computed = gdp_summary_table(run_ds.drop_vars(["gdp_loss_pct_summary", "world_gdp_loss_pct_summary"]))
    assert "stored" in stored.note and "draws" in computed.note
    assert [r[0] for r in stored.rows] == [r[0] for r in computed.rows]
    assert stored.rows[0][0] == "World" and len(stored.rows) == 17
    np.testing.assert_allclose([r[1] for r in stored.rows], [r[1] for r in computed.rows], rtol=1e-9)


def test_sweep_layouts_agree(grid_ds, cell_ds):
    assert swept_params(grid_ds) == swept_params(cell_ds) == ("coordination", "inventory_days", "severity_scale")
    assert swept_params(synthetic_run_dataset(draws=10)) == ()
    for param in swept_params(grid_ds):
        a, b = sweep_series(grid_ds, param), sweep_series(cell_ds, param)
        np.testing.assert_allclose(a.values, b.values)
        np.testing.assert_allclose([np.median(d) for d in a.draws], [np.median(d) for d in b.draws])
        assert a.reference == pytest.approx(b.reference)


def test_labels_and_attribution():
    assert axis_label("GDP loss", "percent of baseline value added") == "GDP loss [% of baseline value added]"
    assert axis_label("Share") == "Share"
    long = ("WIOD 2013 release (Timmer et al. 2015), values taken from the `wiod` R data package, converted. "
            "Licensed CC BY 4.0.")
    assert short_attribution(long) == "Data: WIOD 2013 release (Timmer et al. 2015), CC BY 4.0"
    assert short_attribution("") == ""
    # the nowcast tables credit the ADB margins too
    adb = long + " Asian Development Bank: Key Indicators Database Online (https://kidb.adb.org). Accessed on ..."
    assert short_attribution(adb) == ("Data: WIOD 2013 release (Timmer et al. 2015), CC BY 4.0; "
                                      "Asian Development Bank KIDB (kidb.adb.org)")


# --------------------------------------------------------------------------------------------- build
def _save(ds, folder):
    folder.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(folder / "data.nc", engine="h5netcdf")
    return folder


def test_build_report_writes_html_pdf_and_pngs(tmp_path, variants_ds):
    run = _save(variants_ds, tmp_path / "run")
    out = build_report(run, dpi=60)
    report = run / "report"
    assert out["html"] == report / "report.html" and out["pdf"] == report / "report.pdf"
    text = out["html"].read_text(encoding="utf-8")
    assert '<img src="data:image/png;base64,' in text
    assert '<table class="summary">' in text and "GDP loss by region" in text and "ES99" in text
    assert text.index("Executive summary") < text.index("Assumptions and sources") < text.index("Glossary")
    assert "World GDP loss by scenario" in text and "CC BY 4.0" in text and variants_ds.attrs["run_id"] in text
    assert out["pdf"].read_bytes().startswith(b"%PDF")
    pngs = {k: v for k, v in out.items() if k not in ("html", "pdf")}
    assert {"gdp_loss_distribution", "exceedance", "output_heatmap", "trade_matrix", "simultaneity_premium",
            "premium_by_region", "price_change_pct_distribution", "equity_drawdown_pct_distribution"} <= set(pngs)
    assert "combined_vs_parts" not in pngs   # it repeated the premium chart
    for path in pngs.values():
        assert path.parent == report and path.read_bytes().startswith(b"\x89PNG")
    assert not [p for p in report.iterdir() if p.name.endswith(".tmp")]


def test_build_report_skips_missing_optional_variables(tmp_path, run_ds):
    minimal = run_ds[["world_gdp_loss_pct"]]
    minimal.attrs = dict(run_ds.attrs)
    run = _save(minimal, tmp_path / "minimal")
    out = build_report(run, formats=("html",), out_dir=tmp_path / "elsewhere", dpi=60)
    assert set(out) == {"gdp_loss_distribution", "exceedance", "html"}
    assert out["html"].parent == tmp_path / "elsewhere"
    assert "World" in out["html"].read_text(encoding="utf-8")


def test_build_report_for_a_sweep(tmp_path, cell_ds):
    run = _save(cell_ds, tmp_path / "sweep")
    out = build_report(str(run), formats=["pdf"], dpi=60)
    assert {"fan_chart_coordination", "fan_chart_inventory_days", "fan_chart_severity_scale", "tornado",
            "pdf"} == set(out)
    assert out["pdf"].read_bytes().startswith(b"%PDF")


def test_build_report_errors(tmp_path, run_ds):
    with pytest.raises(UserError, match="no data.nc in this folder") as err:
        build_report(tmp_path)
    assert err.value.file == str(tmp_path)
    with pytest.raises(UserError, match="docx"):
        build_report(_save(run_ds, tmp_path / "run"), formats=("docx",))


def test_report_package_import_is_light():
    code = ("import sys, shockmodel.report; "
            "print(any(m in sys.modules for m in ('matplotlib', 'xarray')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.stdout.strip() == "False"


# --------------------------------------------------------------------------------------- figure fixes
def _base_median(ds, **at):
    return float(np.median(ds["world_gdp_loss_pct"].isel(**at).values))


def _line_x(ax, prefix: str) -> float:
    (line,) = [ln for ln in ax.get_lines() if ln.get_label().startswith(prefix)]
    return float(line.get_xdata()[0])


def _factorial_cells(draws: int = 150) -> "xr.Dataset":
    """A full-factorial sweep in the cell layout (4 coordinations x 2 probabilities) of one base scenario,
    as the library's coordination sweep: ``scenario`` is a coordinate with a single value."""
    rng = np.random.default_rng(7)
    base = rng.gamma(2.0, 0.6, draws)
    rhos, probs = [-0.5, 0.0, 0.5, 0.9], [1.0, 0.3]
    cells = [(r, p) for p in probs for r in rhos]
    loss = np.array([base * (1 + 0.01 * r) * (3.0 if p == 1.0 else 1.0) for r, p in cells])
    ds = xr.Dataset({"world_gdp_loss_pct": (("cell", "draw"), loss, {"units": "percent of baseline value added"})},
                    coords={"coordination": ("cell", [c[0] for c in cells]),
                            "probability": ("cell", [c[1] for c in cells], {"baseline": 1.0}),
                            "scenario": ("cell", ["combined_coordinated"] * len(cells))})
    ds.attrs = dict(synthetic_run_dataset(draws=10).attrs, sweep="coordination")
    return ds


def test_single_valued_coordinates_are_not_swept():
    ds = _factorial_cells()
    assert swept_params(ds) == ("coordination", "probability")
    specs = {s.name for s in __import__("shockmodel.report.build", fromlist=["x"]).figure_specs(ds)}
    assert "fan_chart_scenario" not in specs and "fan_chart_coordination" in specs


def test_tornado_reference_is_the_base_cell_not_a_pool(cell_ds):
    ax = plots.plot_tornado(cell_ds)
    assert _line_x(ax, "base cell") == pytest.approx(_base_median(cell_ds, cell=0))
    ds = _factorial_cells()
    ax = plots.plot_tornado(ds)
    # base cell: probability at its baseline 1.0, coordination at its middle value (0.5): cell 2
    assert _line_x(ax, "base cell") == pytest.approx(_base_median(ds, cell=2))
    pooled = float(np.median(ds["world_gdp_loss_pct"].values))
    assert abs(_line_x(ax, "base cell") - pooled) > 0.1
    # the coordination bars span its small effect (1 % of the loss per unit), not a pooled difference
    bars = [p for p in ax.patches if abs(p.get_y() + p.get_height() / 2 - 0) < 0.5]   # row 0: smallest effect
    assert max(abs(b.get_width()) for b in bars) < 0.05 * _line_x(ax, "base cell")


def test_tornado_value_labels_never_overprint(grid_ds, cell_ds):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    for ds in (grid_ds, cell_ds, _factorial_cells()):
        ax = plots.plot_tornado(ds)
        renderer = FigureCanvasAgg(ax.figure).get_renderer()
        boxes = [t.get_window_extent(renderer) for t in ax.texts]
        assert len(boxes) == 2 * len(ax.get_yticks())
        for i, a in enumerate(boxes):
            for b in boxes[i + 1:]:
                assert not a.overlaps(b), "two tornado labels overlap"


def test_probabilities_print_the_same_everywhere(variants_ds):
    from shockmodel.report.document import key_numbers
    from shockmodel.report.stats import format_probability

    assert [format_probability(p) for p in (0.41, 0.025, 0.005, 0.0012, 0.0, 1.0)] == \
        ["41%", "2.5%", "0.5%", "0.12%", "0%", "100%"]
    p = float(np.mean(variants_ds["world_simultaneity_premium_pct"].values > 0))
    ax = plots.plot_simultaneity_premium(variants_ds)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"P(premium > 0) = {format_probability(p)}" in legend
    rows = dict((r[0], r[1]) for r in key_numbers(variants_ds).rows)
    assert rows["Probability that the crises cost more together than apart"] == format_probability(p)


def test_premium_chart_shows_small_values_and_its_note_stays_off_the_bars(variants_ds):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    ds = variants_ds.copy()
    ds["world_simultaneity_premium_pct"] = ds["world_simultaneity_premium_pct"] * 0 + 0.005
    ax = plots.plot_simultaneity_premium(ds)
    legend = ax.get_legend()
    assert "mean 0.005" in [t.get_text() for t in legend.get_texts()]
    renderer = FigureCanvasAgg(ax.figure).get_renderer()
    assert legend.get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1


def test_exceedance_levels_are_labelled_conditional(run_ds):
    certain = run_ds.copy()
    certain["occurred"] = certain["occurred"] | True   # every package in every draw: conditional
    ax = plots.plot_exceedance(certain)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "dotted: 5% and 1% conditional probability (given the scenario)" in legend
    texts = [t.get_text() for t in ax.texts]
    assert {"5%", "1%"} <= set(texts) and not any("1 in" in t for t in texts + legend)
    for t in ax.texts:   # the level labels sit right of the axes: they never cross a curve
        if t.get_text() in ("5%", "1%"):
            assert t.xy[0] == 1.0 and t.get_ha() == "left"
    assert "scenario occurs" in ax.get_ylabel()
    legend = [t.get_text() for t in plots.plot_exceedance(run_ds).get_legend().get_texts()]  # packages at 0.7, 0.5
    assert "dotted: 5% and 1% probability over the horizon" in legend


def test_trade_matrix_has_no_domestic_diagonal(variants_ds):
    ax = plots.plot_trade_matrix(variants_ds)
    shown = ax.images[0].get_array()
    assert np.ma.getmaskarray(shown).diagonal().all()
    assert not np.ma.getmaskarray(shown)[0, 1:].all()
    assert "domestic" in ax.get_xlabel()


def test_region_axis_spanning_orders_of_magnitude_is_symlog(run_ds):
    tops = [np.quantile(x, 0.95) for x in run_ds["gdp_loss_pct"].values.T]
    assert max(tops) / min(tops) > 10
    assert plots.plot_gdp_loss_distribution(run_ds, n_regions=16).get_xscale() == "symlog"   # zero-loss draws
    positive = run_ds.copy()
    positive["gdp_loss_pct"] = positive["gdp_loss_pct"] + 0.01
    positive["world_gdp_loss_pct"] = positive["world_gdp_loss_pct"] + 0.01
    assert plots.plot_gdp_loss_distribution(positive, n_regions=16).get_xscale() == "log"
    world_only = run_ds[["world_gdp_loss_pct"]]
    world_only.attrs = dict(run_ds.attrs)
    assert plots.plot_gdp_loss_distribution(world_only).get_xscale() == "linear"


def test_bounds_are_marked_with_the_share_of_draws_at_them(variants_ds):
    from shockmodel.report.document import market_table

    x = variants_ds["equity_drawdown_pct"].transpose("draw", "equity_index").values
    share = {name: float(np.mean(col == 100.0)) for name, col in zip(variants_ds.equity_index.values, x.T)}
    capped = [k for k, v in share.items() if v > 0.005]
    assert capped   # the fixture clips drawdowns at 100
    ax = plots.plot_draw_distribution(variants_ds, "equity_drawdown_pct", "equity_index")
    notes = [t.get_text() for t in ax.texts]
    assert any("of draws at upper bound 100" in t for t in notes)
    rows = {r[0]: r[-1] for r in market_table(variants_ds).rows}
    from shockmodel.report.stats import format_probability
    for name in capped:
        assert f"{format_probability(share[name])} at upper bound 100" in rows[f"{name} (equity drawdown)"]


def test_page_one_is_an_executive_summary(variants_ds):
    from shockmodel.report.build import summary_tables, text_pages
    from shockmodel.report.document import document

    ds = variants_ds.copy()
    ds["occurred"] = ds["occurred"] | True
    ds.attrs["narrative"] = "Two crises in one year."
    pages = text_pages(ds, document(ds, summary_tables(ds)[0]))
    first = " ".join(t.get_text() for t in pages[0].texts)
    assert "Executive summary" in first and "Question." in first and "Two crises in one year." in first
    assert "conditional on the scenario occurring" in first and "World GDP loss, mean" in first
    assert "% of world value added" in first
    every = " ".join(t.get_text() for p in pages for t in p.texts)
    assert "Glossary" in every and "Expected shortfall" in every


def test_sweep_report_never_pools_the_premium(grid_ds):
    from shockmodel.report.document import document, premium_section

    ds = grid_ds.copy()
    ds["world_simultaneity_premium_pct"] = ds["world_gdp_loss_pct"] * 0.01
    assert premium_section(ds) is None
    text = " ".join(p for section in document(ds, []) for p in section.paragraphs)
    assert "cells are never pooled" in text
