"""What ``shockmodel sensitivity`` shows a reader: every group named in full (chart and terminal table) and
the chart naming the scenario's model, table, copula and seed, as run outputs do."""

import numpy as np
import pytest
import xarray as xr

from shockmodel import sensitivity
from shockmodel.report.sensitivity import plot_sobol

GROUPS = ["china_taiwan: common factor (package correlation, coordination)",
          "china_taiwan: shock severities",
          "russia: export_control USA,EU27,GBR,JPN->RUS ELECTRONICS,MACHINERY,SEMICONDUCTORS (severity)"]


def _ds():
    rng = np.random.default_rng(0)
    s = rng.uniform(0, 1, (2, len(GROUPS)))
    return xr.Dataset(
        {"S1": (("output", "group"), s * 0.8), "S1_conf": (("output", "group"), s * 0.1),
         "ST": (("output", "group"), s), "ST_conf": (("output", "group"), s * 0.1)},
        coords={"output": ["World", "TWN"], "group": GROUPS, "members": ("group", GROUPS)},
        attrs={"scenario": "taiwan_blockade", "model": "constrained", "table": "default", "copula": "gaussian",
               "seed": 7, "samples": 64, "evaluations": 320, "conf_level": 0.95})


def test_chart_names_every_group_in_full_and_the_run_it_comes_from():
    ax = plot_sobol(_ds(), "World")
    labels = {" ".join(t.get_text().split()) for t in ax.get_yticklabels()}
    assert labels == set(GROUPS)
    fig = ax.figure
    texts = " ".join([ax.get_title(loc="left")] + [t.get_text() for t in fig.texts] + [t.get_text() for t in ax.texts])
    texts = " ".join(texts.split())
    for word in ("model constrained", "table default", "copula gaussian", "seed 7"):
        assert word in texts, (word, texts)


def test_terminal_table_names_every_group_in_full():
    out = sensitivity.format_table(_ds(), "World")
    for g in GROUPS:
        assert g in out, g


@pytest.mark.parametrize("args, message", [
    (["--samples", "48"], "power of two"),
    (["--output", "MARS"], "no output 'MARS'"),
    (["-m", "walras"], "'walras' is not one of"),   # every model is allowed (the dynamic one too)
])
def test_bad_request_fails_before_any_evaluation(tmp_path, args, message):
    """A mistake in --samples, --output or --model is reported before the (long) evaluation starts."""
    from click.testing import CliRunner

    from shockmodel.cli import main

    calls = []
    orig = sensitivity.evaluate
    sensitivity.evaluate = lambda *a, **k: calls.append(1) or orig(*a, **k)
    try:
        r = CliRunner().invoke(main, ["sensitivity", "taiwan_blockade", "-n", "4", "-q", "-o", str(tmp_path), *args])
    finally:
        sensitivity.evaluate = orig
    assert r.exit_code == 2 and message in r.output, r.output
    assert not calls, "the evaluation ran before the mistake was reported"
    assert not any(tmp_path.iterdir())


def test_zero_variance_output_is_said_in_the_table():
    ds = _ds()
    ds["output_variance"] = ("output", [0.0, 1.0])
    assert "does not vary" in sensitivity.format_table(ds, "World")
    assert "does not vary" not in sensitivity.format_table(ds, "TWN")


def test_shock_kinds_the_model_ignores_are_said():
    """leontief ignores capacity shocks: their index is 0 because the model never sees them, and the table
    says so (as ``run`` does) rather than leaving a reader to conclude capacity does not matter."""
    _, ds = sensitivity.analyse("russia_escalation", model="leontief", grouping="kinds", samples=4)
    assert "capacity" in ds.attrs["ignored_shock_kinds"]
    out = sensitivity.format_table(ds, "World")
    assert "NOTE: model 'leontief' ignores" in out and "capacity: capacity shocks" in out
    _, ds = sensitivity.analyse("russia_escalation", model="constrained", grouping="kinds", samples=4)
    assert "ignored_shock_kinds" not in ds.attrs and "NOTE" not in sensitivity.format_table(ds, "World")
