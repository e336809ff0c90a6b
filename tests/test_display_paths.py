"""What users read names shipped files by their place in params/, never by an installation or checkout path."""

from __future__ import annotations

from click.testing import CliRunner

from shockmodel.cli import main
from shockmodel.paths import display_path, params_dir


def test_display_path_of_shipped_and_other_files(tmp_path):
    assert display_path(params_dir() / "scenarios" / "taiwan_blockade.toml") == "params/scenarios/taiwan_blockade.toml"
    outside = tmp_path / "x.toml"
    assert display_path(outside) == str(outside)


def test_errors_on_library_scenarios_name_the_file_under_params():
    r = CliRunner().invoke(main, ["run", "taiwan_blockade", "-n", "10", "--set", "copula=t"])
    assert r.exit_code == 2
    assert "Error: params/scenarios/taiwan_blockade.toml: copula_source:" in r.output
    assert str(params_dir().resolve()) not in r.output


def test_markets_show_names_the_file_under_params():
    r = CliRunner().invoke(main, ["markets", "show"])
    assert r.exit_code == 0
    assert r.output.splitlines()[0] == "Market parameters 'default' (params/markets/default.toml)"
