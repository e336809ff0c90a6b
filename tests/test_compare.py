"""Comparison as a first-class question: named variants and the premium rule, `compare` (function and
command) over run folders and library scenarios."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from shockmodel.aggregate import premium_roles
from shockmodel.cli import main
from shockmodel.errors import UserError
from shockmodel.pipeline import compare, format_variants, parse_variants

try:
    from report_fixtures import synthetic_run_dataset
except ImportError:  # tests collected as a package
    from tests.report_fixtures import synthetic_run_dataset

VARIANTS = "both=russia,china_taiwan;ru=russia;tw=china_taiwan"


def _invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_parse_variants_and_its_errors():
    parsed = parse_variants(VARIANTS, ["russia", "china_taiwan"])
    assert parsed == {"both": ["russia", "china_taiwan"], "ru": ["russia"], "tw": ["china_taiwan"]}
    assert parse_variants(format_variants(parsed)) == parsed
    for bad, words in (("both", "NAME=PACKAGE"), ("a=russia;a=russia", "twice"), ("a=rusia", "unknown package"),
                       (";", "no variant")):
        with pytest.raises(UserError, match=words) as err:
            parse_variants(bad, ["russia", "china_taiwan"])
        assert err.value.field == "--variants"


@pytest.mark.parametrize("variants, expected", [
    ({"both": ["a", "b"], "x": ["a"], "y": ["b"]}, ("both", ("x", "y"))),
    ({"x": ["a"], "all": ["b", "a", "c"], "y": ["b", "c"]}, ("all", ("x", "y"))),
    ({"both": ["a", "b"], "x": ["a"]}, "do not cover"),
    ({"both": ["a", "b"], "x": ["a", "b"]}, "all hold every package"),
    ({"x": ["a"], "y": ["b"]}, "no variant holds every package"),
    ({"both": ["a", "b"], "x": ["a"], "y": ["a", "b"][:1] + ["b"]}, "all hold every package"),
    ({"abc": ["a", "b", "c"], "x": ["a", "b"], "y": ["b", "c"]}, "shares packages"),
])
def test_premium_rule(variants, expected):
    roles = premium_roles(variants)
    if isinstance(expected, tuple):
        assert roles == expected
    else:
        assert isinstance(roles, str) and expected in roles


@pytest.fixture(scope="module")
def variants_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("variants")
    res = _invoke("run", "combined_coordinated", "--draws", 256, "--seed", 5, "--markets", "none",
                  "--variants", VARIANTS, "--out", out, "--no-report")
    assert res.exit_code == 0, res.output
    (folder,) = list(out.iterdir())
    return folder, res.output


def test_run_variants_gives_the_premium_for_any_names(variants_run):
    from shockmodel.io.results import read_dataset

    folder, output = variants_run
    ds = read_dataset(folder)
    assert list(ds.scenario.values) == ["both", "ru", "tw"]
    world = ds["world_gdp_loss_pct"].astype(np.float64)
    expected = world.sel(scenario="both") - world.sel(scenario="ru") - world.sel(scenario="tw")
    # data.nc holds these per-draw percentages as float32 (attrs stored_float32): each within 2^-24 of the
    # computed value, so the identity holds to that rounding of its four terms
    prem = ds["world_simultaneity_premium_pct"].values
    bound = 2.0 ** -24 * (np.abs(world).sum("scenario").values + np.abs(prem)) * 1.01
    assert np.all(np.abs(prem - expected.values) <= bound)
    assert ds["world_simultaneity_premium_pct"].attrs["combination"] == "both"
    assert ds.attrs["variants"] == VARIANTS
    assert "Simultaneity premium (world GDP loss of both minus the sum of ru, tw alone" in output


def test_run_variants_that_do_not_split_say_why(tmp_path):
    res = _invoke("run", "combined_coordinated", "--draws", 64, "--markets", "none", "--variants",
                  "both=russia,china_taiwan;ru=russia", "--out", tmp_path, "--no-report")
    assert res.exit_code == 0, res.output
    assert "Simultaneity premium not computed: the parts ru do not cover the packages of 'both'" in res.output
    bad = _invoke("run", "combined_coordinated", "--draws", 64, "--variants", "x=rusia", "--out", tmp_path)
    assert bad.exit_code == 2 and "unknown package 'rusia'" in bad.output and "Traceback" not in bad.output


def test_compare_run_folders_and_library_scenarios(variants_run, tmp_path):
    folder, _ = variants_run
    table = compare([folder, "russia_escalation"], draws=128, out=tmp_path)
    assert list(table.index) == [folder.name, "russia_escalation"]
    assert table.loc[folder.name, "premium_mean"] == pytest.approx(
        float(__import__("shockmodel.io.results", fromlist=["x"]).read_dataset(folder)
              ["world_simultaneity_premium_pct"].mean()))
    assert np.isnan(table.loc["russia_escalation", "premium_mean"])
    assert (table["p95"] >= table["p50"]).all() and bool(table.loc["russia_escalation", "conditional"])
    assert (tmp_path / "comparison.csv").is_file() and (tmp_path / "comparison.png").is_file()


def test_compare_command(variants_run, tmp_path):
    folder, _ = variants_run
    res = _invoke("compare", folder, folder, "--out", tmp_path)
    assert res.exit_code == 0, res.output
    assert "World GDP loss, percent of world value added" in res.output and f"{folder.name} (2)" in res.output
    missing = _invoke("compare", tmp_path / "nope")
    assert missing.exit_code == 2 and "Traceback" not in missing.output


def test_comparison_table_of_datasets():
    from shockmodel.report.compare import comparison_table, plot_comparison

    a, b = synthetic_run_dataset(draws=50, seed=1), synthetic_run_dataset(draws=50, seed=2, with_variants=True)
    table = comparison_table({"a": a, "b": b})
    assert table.loc["a", "mean"] == pytest.approx(float(a["world_gdp_loss_pct"].mean()))
    assert table.loc["b", "mean"] == pytest.approx(float(b["world_gdp_loss_pct"].sel(scenario="combined").mean()))
    ax = plot_comparison({"a": a, "b": b})
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "a"] and "%" in ax.get_xlabel()


DECLARED = """name = "declared"
description = "combined_coordinated with its variants declared in the file"
include = ["combined_coordinated"]

[variants]
together = ["russia", "china_taiwan"]
moscow = ["russia"]
taipei = ["{pkg}"]
"""


def test_scenario_declares_its_variants(tmp_path):
    from shockmodel.io.results import read_dataset

    good = tmp_path / "declared.toml"
    good.write_text(DECLARED.format(pkg="china_taiwan"))
    res = _invoke("run", good, "--draws", 64, "--markets", "none", "--out", tmp_path / "out", "--no-report")
    assert res.exit_code == 0, res.output
    (folder,) = list((tmp_path / "out").iterdir())
    ds = read_dataset(folder)
    assert list(ds.scenario.values) == ["together", "moscow", "taipei"]
    assert ds["world_simultaneity_premium_pct"].attrs["parts"] == "moscow taipei"
    bad = tmp_path / "bad.toml"
    bad.write_text(DECLARED.format(pkg="taiwan"))
    res = _invoke("run", bad, "--draws", 64, "--out", tmp_path / "out2")
    assert res.exit_code == 2 and "variants.taipei" in res.output and "unknown package 'taiwan'" in res.output
