"""Malformed scenario files: each must fail with a one-line ScenarioError naming the field.

Every case is a small edit of one valid scenario (``_scenario()``), written to ``tmp_path`` as
``case.toml``. Cases marked ``table=True`` are structurally valid and fail only when compiled against the
``default`` table (session fixture in conftest.py). The same cases run through
``shockmodel scenarios validate`` when the CLI has that command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from shockmodel.errors import ScenarioError
from shockmodel.scenario import compile_scenario, load_scenario

TOP = 'name = "case"\ndescription = "malformed-case template"\n'
PACKAGE = 'probability = 0.5\nsource = "test"\n'
SHOCK = ('kind = "trade_block"\nexporters = ["TWN"]\nimporters = ["ALL"]\n'
         'severity = { dist = "pert", low = 0.6, mode = 0.85, high = 0.95 }\nsource = "test"\n')
PERT = 'severity = { dist = "pert", low = 0.6, mode = 0.85, high = 0.95 }'
DIRECTORY = object()   # case.toml is a folder
ABSENT = object()      # case.toml does not exist


def _scenario(top: str = TOP, package: str = PACKAGE, shock: str = SHOCK, extra: str = "") -> str:
    return f"{top}{extra}\n[packages.p]\n{package}\n[packages.p.shocks.s]\n{shock}"


def _shock(old: str, new: str) -> str:
    assert old in SHOCK
    return _scenario(shock=SHOCK.replace(old, new))


def SHOCK_TL(line: str) -> str:   # noqa: N802 - a case builder like _shock
    return _scenario(shock=SHOCK + line + "\n")


def _severity(table: str) -> str:
    return _shock(PERT, f"severity = {table}")


@dataclass(frozen=True)
class Case:
    id: str
    content: object               # text, bytes, DIRECTORY or ABSENT
    field: str | None             # expected ScenarioError.field
    fragment: str                 # expected in the message
    table: bool = False           # fails only when compiled against the default table
    others: dict = field(default_factory=dict)   # more files next to case.toml


S = "packages.p.shocks.s"
CASES = [
    # --- the file itself
    Case("bad_toml", 'name = "case\n', None, "not valid TOML"),
    Case("empty_file", "", None, "empty file"),
    Case("comments_only", "# nothing here\n", None, "no keys"),
    Case("binary_file", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", None, "binary file"),
    Case("not_utf8", b'name = "caf\xe9"\n', None, "not UTF-8"),
    Case("directory", DIRECTORY, None, "is a directory"),
    Case("missing_file", ABSENT, None, "no such file"),
    # --- unknown keys and names
    Case("unknown_top_key", _scenario(extra="horizon_month = 12\n"), "horizon_month", "did you mean 'horizon_months'?"),
    Case("unknown_package_key", _scenario(package=PACKAGE.replace("probability", "probabilty")),
         "packages.p.probabilty", "did you mean 'probability'?"),
    Case("unknown_shock_key", _shock("source =", "sorce ="), f"{S}.sorce", "did you mean 'source'?"),
    Case("key_of_another_kind", _shock('kind = "trade_block"\nexporters = ["TWN"]\nimporters = ["ALL"]',
                                       'kind = "capacity"\nregions = ["TWN"]\nexporters = ["TWN"]'),
         f"{S}.exporters", "unknown key 'exporters' in a capacity shock"),
    Case("unknown_kind", _shock('"trade_block"', '"trade_blok"'), f"{S}.kind", "did you mean 'trade_block'?"),
    Case("unknown_dist", _shock('"pert"', '"pret"'), f"{S}.severity.dist", "did you mean 'pert'?"),
    Case("unknown_dist_parameter", _shock("mode =", "mod ="), f"{S}.severity.mod", "did you mean 'mode'?"),
    Case("bad_package_name", _scenario().replace("[packages.p]", '[packages."p q"]').replace(
        "[packages.p.shocks.s]", '[packages."p q".shocks.s]'), "packages.p q", "invalid name"),
    # --- missing keys
    Case("missing_name", _scenario(top='description = "no name"\n'), "name", "missing required key 'name'"),
    Case("missing_packages", TOP, "packages", "missing required key 'packages'"),
    Case("packages_not_a_table", TOP + "packages = 1\n", "packages", "expected a table"),
    Case("no_package", TOP + "[packages]\n", "packages", "at least one package"),
    Case("package_without_shocks", f"{TOP}\n[packages.p]\n{PACKAGE}", "packages.p.shocks",
         "missing required key 'shocks'"),
    Case("missing_probability", _scenario(package='source = "test"\n'), "packages.p.probability",
         "missing required key"),
    Case("missing_package_source", _scenario(package="probability = 0.5\n"), "packages.p.source",
         "missing required key"),
    Case("missing_kind", _shock('kind = "trade_block"\n', ""), f"{S}.kind", "missing required key 'kind'"),
    Case("missing_severity", _shock(PERT + "\n", ""), f"{S}.severity", "missing required key 'severity'"),
    Case("missing_source", _shock('source = "test"\n', ""), f"{S}.source", "missing required key 'source'"),
    Case("empty_source", _shock('source = "test"', 'source = "  "'), f"{S}.source", "must not be empty"),
    Case("missing_target", _shock('importers = ["ALL"]\n', ""), f"{S}.importers", "missing required key 'importers'"),
    Case("missing_dist_parameter", _severity('{ dist = "pert", low = 0.6, high = 0.95 }'), f"{S}.severity.mode",
         "missing parameter 'mode'"),
    # --- wrong types
    Case("string_for_number", _scenario(package='probability = "0.5"\nsource = "test"\n'),
         "packages.p.probability", "expected a number, got a string ('0.5')"),
    Case("boolean_for_number", _scenario(package='probability = true\nsource = "test"\n'),
         "packages.p.probability", "expected a number, got a boolean"),
    Case("nan_for_number", _scenario(package='probability = nan\nsource = "test"\n'),
         "packages.p.probability", "finite number"),
    Case("string_for_list", _shock('exporters = ["TWN"]', 'exporters = "TWN"'), f"{S}.exporters",
         "expected a list of names"),
    Case("empty_list", _shock('exporters = ["TWN"]', "exporters = []"), f"{S}.exporters", "empty list"),
    Case("number_for_severity", _severity("0.5"), f"{S}.severity", "expected a table"),
    # --- ranges
    Case("probability_above_1", _scenario(package='probability = 1.5\nsource = "test"\n'),
         "packages.p.probability", "must be in [0, 1], got 1.5"),
    Case("negative_probability", _scenario(package='probability = -0.1\nsource = "test"\n'),
         "packages.p.probability", "must be in [0, 1], got -0.1"),
    Case("correlation_out_of_range", _scenario(package=PACKAGE + "correlation = 1.2\n"),
         "packages.p.correlation", "must be in [0, 1]"),
    Case("rho_out_of_range", _scenario(extra='coordination = 1.5\ncoordination_source = "test"\n'),
         "coordination", "must be in [-1, 1]"),
    Case("coordination_without_source", _scenario(extra="coordination = 0.5\n"), "coordination_source",
         "required when coordination is given"),
    Case("coordination_range_reversed",
         _scenario(extra='coordination_range = [0.9, -0.5]\ncoordination_source = "t"\n'),
         "coordination_range", "low must not exceed high"),
    Case("coordination_not_psd", _scenario(extra='coordination = -0.6\ncoordination_source = "test"\n')
         + "".join(f"\n[packages.{q}]\n{PACKAGE}\n[packages.{q}.shocks.s]\n{SHOCK}" for q in ("q", "r")),
         "coordination", "positive semi-definite"),
    Case("horizon_not_positive", _scenario(extra="horizon_months = 0\n"), "horizon_months", "must be > 0"),
    # --- distributions
    Case("beta_a_not_positive", _severity('{ dist = "beta", a = 0, b = 2 }'), f"{S}.severity.a", "a > 0"),
    Case("triangular_low_above_high", _severity('{ dist = "triangular", low = 0.9, mode = 0.5, high = 0.2 }'),
         f"{S}.severity.high", "low < high"),
    Case("pert_mode_outside", _severity('{ dist = "pert", low = 0.6, mode = 0.99, high = 0.95 }'),
         f"{S}.severity.mode", "low <= mode <= high"),
    Case("pert_lambda_not_positive", _severity('{ dist = "pert", low = 0.6, mode = 0.8, high = 0.95, lambda = 0 }'),
         f"{S}.severity.lambda", "must be > 0"),
    Case("uniform_low_above_high", _severity('{ dist = "uniform", low = 0.8, high = 0.2 }'),
         f"{S}.severity.high", "low <= high"),
    Case("truncnormal_sd_zero", _severity('{ dist = "truncnormal", mean = 0.5, sd = 0, low = 0, high = 1 }'),
         f"{S}.severity.sd", "sd > 0"),
    Case("truncnormal_no_mass", _severity('{ dist = "truncnormal", mean = 40, sd = 1, low = 0, high = 1 }'),
         f"{S}.severity.mean", "almost no probability"),
    Case("lognormal_median_not_positive", _severity('{ dist = "lognormal", median = -1, sigma = 0.5 }'),
         f"{S}.severity.median", "median > 0"),
    Case("share_outside_unit_interval", _severity('{ dist = "uniform", low = 0.5, high = 1.5 }'),
         f"{S}.severity", "must lie in [0, 1]"),
    Case("lognormal_share_cap_above_1", _severity('{ dist = "lognormal", median = 0.1, sigma = 1, high = 2 }'),
         f"{S}.severity", "must lie in [0, 1]"),
    Case("duration_not_positive", _shock('kind = "trade_block"\nexporters = ["TWN"]\nimporters = ["ALL"]\n' + PERT,
                                         'kind = "duration"\nseverity = { dist = "fixed", value = 0 }'),
         f"{S}.severity", "must be > 0"),
    Case("inventory_negative", _shock('kind = "trade_block"\nexporters = ["TWN"]\nimporters = ["ALL"]\n' + PERT,
                                      'kind = "inventory"\nseverity = { dist = "uniform", low = -5, high = 10 }'),
         f"{S}.severity", "must be >= 0"),
    Case("two_duration_shocks", _scenario(shock='kind = "duration"\nseverity = { dist = "fixed", value = 3 }\n'
                                                'source = "t"\n[packages.p.shocks.t]\nkind = "duration"\n'
                                                'severity = { dist = "fixed", value = 6 }\nsource = "t"\n'),
         "packages.p.shocks.t", "at most one duration shock"),
    # --- groups
    Case("group_cycle", _scenario(extra='[region_groups]\nA = ["B"]\nB = ["USA", "A"]\n'), "region_groups.A",
         "A -> B -> A"),
    Case("group_named_all", _scenario(extra='[region_groups]\nALL = ["USA"]\n'), "region_groups.ALL", "reserved"),
    Case("group_resolving_to_nothing", _scenario(extra="[region_groups]\nWEST = []\n"), "region_groups.WEST",
         "empty list"),
    # --- includes and overrides
    Case("circular_include", _scenario(extra='include = ["a.toml"]\n'), "include", "circular include",
         others={"a.toml": 'include = ["b.toml"]\n', "b.toml": 'include = ["a.toml"]\n'}),
    Case("missing_include", _scenario(extra='include = ["nowhere.toml"]\n'), "include", "not found"),
    Case("unknown_library_include", _scenario(extra='include = ["no_such_library_scenario"]\n'), "include",
         "unknown library scenario"),
    Case("include_not_a_list", _scenario(extra='include = "a.toml"\n'), "include", "expected a list"),
    Case("override_missing_path", _scenario() + '\n[overrides]\n"packages.q.probability" = 0.5\n',
         "overrides.packages.q.probability", "no key 'q' in packages"),
    Case("override_typo_in_last_key", _scenario() + '\n[overrides]\n"packages.p.probabilty" = 0.5\n',
         "overrides.packages.p.probabilty", "did you mean 'probability'?"),
    Case("override_invalid_value", _scenario() + '\n[overrides]\n"packages.p.probability" = 2\n',
         "packages.p.probability", "must be in [0, 1]"),
    # --- names that only the table can check
    Case("unknown_region", _shock('["TWN"]', '["TWM"]'), f"{S}.exporters", "did you mean 'TWN'?", table=True),
    Case("lowercase_region", _shock('["TWN"]', '["twn"]'), f"{S}.exporters", "did you mean 'TWN'?", table=True),
    Case("sector_given_as_region", _shock('["TWN"]', '["PETROLEUM"]'), f"{S}.exporters", "is a sector", table=True),
    Case("unknown_sector", _shock('importers = ["ALL"]', 'importers = ["ALL"]\nsectors = ["SEMICONDUCTOR"]'),
         f"{S}.sectors", "did you mean 'SEMICONDUCTORS'?", table=True),
    Case("unknown_group", _shock('["ALL"]', '["WESTERN"]'), f"{S}.importers", "unknown region 'WESTERN'", table=True),
    Case("unknown_group_member", _scenario(extra='[region_groups]\nWEST = ["USA", "GERMANY"]\n'),
         "region_groups.WEST", "unknown region 'GERMANY'", table=True),
    Case("group_named_like_label", _scenario(extra='[region_groups]\nCHN = ["TWN"]\n'), "region_groups.CHN",
         "already a label", table=True),
    Case("domestic_only_block", _shock('importers = ["ALL"]', 'importers = ["TWN"]'), S, "blocks nothing", table=True),
    # --- timelines (dynamic model, docs/model-dynamic.md D1)
    Case("shock_start_negative", SHOCK_TL("start_months = -1"), f"{S}.start_months", "must be in [0, 1e+09]"),
    Case("shock_duration_zero", SHOCK_TL("duration_months = 0"), f"{S}.duration_months", "must be in (0, 1e+09]"),
    Case("shock_ramp_text", SHOCK_TL('ramp_months = "4"'), f"{S}.ramp_months", "a number of months or a distribution"),
    Case("shock_start_dist_negative", SHOCK_TL('start_months = { dist = "uniform", low = -1, high = 2 }'),
         f"{S}.start_months", "must be >= 0"),
    Case("package_start_dist_bad", _scenario(package=PACKAGE + 'start_months = { dist = "uniform", low = 3, high = 1 }\n'),
         "packages.p.start_months.high", "uniform needs low <= high"),
    Case("package_start_lognormal_uncapped", _scenario(package=PACKAGE + 'start_months = { dist = "lognormal", median = 2, sigma = 1 }\n'),
         "packages.p.start_months.high", "needs a cap"),
    Case("timeline_on_duration_shock", _shock(
        'kind = "trade_block"\nexporters = ["TWN"]\nimporters = ["ALL"]\nseverity = { dist = "pert", low = 0.6, mode = 0.85, high = 0.95 }',
        'kind = "duration"\nseverity = { dist = "fixed", value = 3 }\nstart_months = 2'),
         f"{S}.start_months", "a duration shock has no timeline of its own"),
]


def _write(tmp_path: Path, case: Case) -> Path:
    for name, text in case.others.items():
        (tmp_path / name).write_text(text)
    path = tmp_path / "case.toml"
    if case.content is DIRECTORY:
        path.mkdir()
    elif isinstance(case.content, bytes):
        path.write_bytes(case.content)
    elif case.content is not ABSENT:
        path.write_text(case.content)
    return path


def test_enough_cases():
    assert len(CASES) >= 25
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_scenario_fails_with_one_line(tmp_path, case, default_table):
    path = _write(tmp_path, case)
    if case.table:
        spec = load_scenario(path)  # structurally fine
        with pytest.raises(ScenarioError) as info:
            compile_scenario(spec, default_table)
    else:
        with pytest.raises(ScenarioError) as info:
            load_scenario(path)
    err = info.value
    assert err.field == case.field
    assert case.fragment in err.message
    assert "\n" not in str(err)
    assert str(err).startswith(str(err.file))
    if case.field:
        assert case.field in str(err)


# --- line numbers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("case_id, line_text", [
    ("unknown_top_key", "horizon_month = 12"),
    ("unknown_shock_key", "sorce ="),
    ("probability_above_1", "probability = 1.5"),
    ("pert_mode_outside", "severity = "),
    ("missing_severity", "[packages.p.shocks.s]"),
    ("override_invalid_value", '"packages.p.probability" = 2'),
    ("override_missing_path", '"packages.q.probability" = 0.5'),
    ("unknown_region", 'exporters = ["TWM"]'),
    ("unknown_group_member", "WEST = "),
])
def test_error_names_the_line(tmp_path, case_id, line_text, default_table):
    case = next(c for c in CASES if c.id == case_id)
    path = _write(tmp_path, case)
    expected = next(i for i, line in enumerate(case.content.splitlines(), 1) if line.startswith(line_text))
    with pytest.raises(ScenarioError) as info:
        compile_scenario(load_scenario(path), default_table)
    assert info.value.message.endswith(f"(line {expected})")


def test_bad_toml_reports_tomllib_position(tmp_path):
    path = _write(tmp_path, CASES[0])
    with pytest.raises(ScenarioError, match=r"line 1, column"):
        load_scenario(path)


def test_error_in_included_file_names_that_file(tmp_path):
    (tmp_path / "base.toml").write_text(_scenario(package='probability = 7\nsource = "test"\n'))
    (tmp_path / "top.toml").write_text('include = ["base.toml"]\nname = "top"\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "top.toml")
    assert info.value.file == str(tmp_path / "base.toml")
    assert info.value.field == "packages.p.probability"
    assert info.value.message.endswith("(line 5)")


def test_override_argument_errors(tmp_path):
    path = tmp_path / "ok.toml"
    path.write_text(_scenario())
    with pytest.raises(ScenarioError, match="did you mean 'p'") as info:
        load_scenario(path, overrides={"packages.pp.probability": 0.1})
    assert info.value.field == "packages.pp.probability"
    with pytest.raises(ScenarioError, match=r"set by override 'packages.p.probability'") as info:
        load_scenario(path, overrides={"packages.p.probability": 1.1})
    assert info.value.field == "packages.p.probability"


def test_unknown_library_scenario():
    with pytest.raises(ScenarioError, match="unknown library scenario 'no_such_scenario_anywhere'"):
        load_scenario("no_such_scenario_anywhere")


# --- the same cases through the CLI -------------------------------------------------------------------------


def _validate_command():
    """The `scenarios validate` command, or None while the CLI does not have it yet."""
    pytest.importorskip("click")
    try:
        from shockmodel.cli import main
    except ImportError:
        return None
    group = getattr(main, "commands", {}).get("scenarios")
    return main if group is not None and "validate" in getattr(group, "commands", {}) else None


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_cli_validate_exits_2_without_traceback(tmp_path, case):
    main = _validate_command()
    if main is None:
        pytest.skip("shockmodel.cli has no `scenarios validate` command yet")
    from click.testing import CliRunner

    path = _write(tmp_path, case)
    result = CliRunner().invoke(main, ["scenarios", "validate", str(path), "--table", "default"])
    output = result.output  # stdout and stderr together (click >= 8.1)
    assert result.exit_code == 2, output
    assert "Traceback" not in output
    assert case.fragment in output
