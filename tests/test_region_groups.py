"""Named region groups shipped with the tables (params/region_groups.toml, shockmodel.regions): what they
resolve to on each shipped table, what they leave out, and how near-misses are answered."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from shockmodel import regions
from shockmodel.cli import main
from shockmodel.errors import ScenarioError
from shockmodel.io.tables import read_npz, resolve_table
from shockmodel.scenario import compile_scenario, group_notes, load_scenario, scenario_from_dict

EU27_WIOD = {"AUT", "BEL", "BGR", "CYP", "CZE", "DEU", "DNK", "ESP", "EST", "FIN", "FRA", "GRC", "HUN", "IRL", "ITA",
             "LTU", "LUX", "LVA", "MLT", "NLD", "POL", "PRT", "ROM", "SVK", "SVN", "SWE"}   # HRV is in RoW there


@pytest.fixture(scope="module")
def wiod():
    return read_npz(resolve_table("wiod2011"))


def _importers(spec, mrio, shock=0):
    mask = compile_scenario(spec, mrio).shocks[shock].mask.any(axis=(0, 2))
    return {r for r, m in zip(mrio.regions, mask) if m}


def _scenario(importers, **extra):
    return scenario_from_dict({"name": "x", **extra, "packages": {"p": {"probability": 1.0, "source": "a", "shocks": {
        "s": {"kind": "trade_block", "exporters": ["CHN"], "importers": importers,
              "severity": {"dist": "fixed", "value": 0.5}, "source": "a"}}}}})


def test_the_file_is_complete_and_cited():
    gf = regions.load()
    assert {"EU27", "EU", "G7", "WEST", "BRICS", "OPEC", "OPEC_PLUS"} <= set(gf.groups)
    for g in gf.groups.values():
        assert g.source.strip() and g.description.strip()
        for c in regions.countries(g.name, gf):
            assert re.fullmatch(r"[A-Z]{3}", c), (g.name, c)
    assert len(regions.countries("EU27", gf)) == 27 and len(regions.countries("G7", gf)) == 7
    assert regions.countries("EU", gf) == regions.countries("EU27", gf)


@pytest.mark.parametrize("name", ["EU", "EU27"])
def test_eu_means_the_union_on_both_tables(default_table, wiod, name):
    assert _importers(_scenario([name]), default_table) == {"DEU", "EUR"}      # Germany is not dropped
    assert _importers(_scenario([name]), wiod) == EU27_WIOD
    notes = group_notes(_scenario([name]), default_table)
    assert len(notes) == 1 and "left out: HRV (in ROW" in notes[0]


def test_partial_aggregates_are_left_out_and_said(default_table, wiod):
    assert _importers(_scenario(["G7"]), default_table) == {"USA", "JPN", "DEU", "GBR", "CAN"}
    assert _importers(_scenario(["G7"]), wiod) == {"USA", "JPN", "DEU", "GBR", "CAN", "FRA", "ITA"}
    (note,) = group_notes(_scenario(["G7"]), default_table)
    assert "left out: FRA, ITA (in EUR (rest of the EU" in note
    assert group_notes(_scenario(["G7"]), wiod) == []


def test_west_matches_the_library_coalition(default_table):
    library = set(load_scenario("russia_escalation").region_groups["WEST"])
    assert _importers(_scenario(["WEST"]), default_table) == library - {"CHN"}


def test_a_group_with_no_region_of_its_own_fails_clearly(default_table):
    with pytest.raises(ScenarioError, match="region group 'OPEC' has no region of its own on table 'default'"):
        compile_scenario(_scenario(["OPEC"]), default_table)


def test_scenario_groups_and_labels_win(default_table):
    """A scenario's own group of the same name (the library's EU and WEST) shadows the shipped one."""
    assert _importers(_scenario(["WEST"], region_groups={"WEST": ["USA"]}), default_table) == {"USA"}
    lib = load_scenario("russia_2022")
    assert lib.region_groups["EU"] == ("DEU", "EUR")


@pytest.mark.parametrize("word, hint", [
    ("EU28", "did you mean 'EU27'?"),
    ("Eur", "did you mean 'EU' or 'EUR' (rest of the EU"),
    ("europe", "did you mean 'EU'?"),
    ("OPEC+", "did you mean 'OPEC'?"),
    ("TWM", "did you mean 'TWN'?"),
])
def test_near_misses_suggest_groups_first(default_table, word, hint):
    with pytest.raises(ScenarioError) as err:
        compile_scenario(_scenario([word]), default_table)
    assert hint in str(err.value)


def test_groups_work_in_set_overrides(tmp_path, default_table):
    path = tmp_path / "s.toml"
    path.write_text('name = "s"\n[packages.p]\nprobability = 1.0\nsource = "a"\n[packages.p.shocks.s]\n'
                    'kind = "trade_block"\nexporters = ["CHN"]\nimporters = ["USA"]\n'
                    'severity = { dist = "fixed", value = 0.5 }\nsource = "a"\n')
    spec = load_scenario(path, overrides={"packages.p.shocks.s.importers": ["EU27"]})
    assert _importers(spec, default_table) == {"DEU", "EUR"}


def test_cli_show_and_validate_print_the_notes(tmp_path):
    path = tmp_path / "s.toml"
    path.write_text('name = "s"\n[packages.p]\nprobability = 1.0\nsource = "a"\n[packages.p.shocks.s]\n'
                    'kind = "trade_block"\nexporters = ["RUS"]\nimporters = ["G7"]\n'
                    'severity = { dist = "fixed", value = 0.5 }\nsource = "a"\n')
    runner = CliRunner()
    for args in (["scenarios", "show", str(path)], ["scenarios", "validate", str(path)]):
        res = runner.invoke(main, args)
        assert res.exit_code == 0, res.output
        assert "note: region group G7 on table 'default'" in res.output and "FRA, ITA" in res.output
    res = runner.invoke(main, ["run", str(path), "--set", 'packages.p.shocks.s.importers=["EU28"]', "-n", "10",
                               "--no-report", "-q", "-o", str(tmp_path / "out")])
    assert res.exit_code == 2 and "did you mean 'EU27'?" in res.output
