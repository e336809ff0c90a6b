"""Structural uncertainty (docs/model.md eq. 54-55): critical-input classes drawn per draw with
``structure="sampled"``, the declared weights with ``"central"``; the same seeding discipline as severities."""

from __future__ import annotations

import numpy as np
import pytest

from shockmodel import criticality, engine
from shockmodel.errors import UserError

SCEN = "taiwan_blockade"   # chips are critical for electronics, machinery and vehicles: the weights bind


@pytest.fixture(scope="module")
def plans(default_table, critical_default):
    from shockmodel.scenario import compile_scenario, load_scenario

    compiled = compile_scenario(load_scenario(SCEN), default_table)
    return {s: engine.cached_plan(compiled, default_table, "constrained", critical_default, structure=s)
            for s in ("central", "sampled")}


def test_class_probabilities_are_read_and_checked(tmp_path):
    p = criticality.class_probabilities()
    assert p.shape == (2, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    bad = tmp_path / "c.toml"
    bad.write_text('[uncertainty.critical]\ncritical = 0.6\nimportant = 0.3\nnon_critical = 0.2\nsource = "x"\n'
                   '[uncertainty.important]\ncritical = 0.2\nimportant = 0.5\nnon_critical = 0.3\nsource = "x"\n')
    with pytest.raises(UserError, match="sum to 1") as err:
        criticality.class_probabilities(bad)
    assert "uncertainty.critical" in str(err.value)
    bad.write_text('[uncertainty.critical]\ncritical = 0.6\nimportant = 0.3\nnon_critical = 0.1\n'
                   '[uncertainty.important]\ncritical = 0.2\nimportant = 0.5\nnon_critical = 0.3\nsource = "x"\n')
    with pytest.raises(UserError, match="source"):
        criticality.class_probabilities(bad)


def test_sampled_classes_have_the_declared_frequencies_and_are_monotone():
    """Eq. 55 on 200,000 uniforms per row: each class's share within 5 binomial standard errors."""
    probs = criticality.class_probabilities()
    central = np.array([1.0, 0.5])
    thr = criticality.class_thresholds(central, probs)
    u = np.random.default_rng(0).random((2, 200_000))
    w = criticality.sampled_weights(u, thr)
    for r in range(2):
        for c, weight in enumerate(criticality.CLASS_WEIGHTS):
            share = (w[r] == weight).mean()
            se = np.sqrt(probs[r, c] * (1 - probs[r, c]) / u.shape[1])
            assert abs(share - probs[r, c]) <= 5 * se + 1e-12
    order = np.argsort(u[0])
    assert (np.diff(w[0][order]) >= 0).all()   # a larger uniform is never a less critical input


def test_central_is_the_declared_weight_in_every_draw(plans, default_table):
    """Central: no structural draw, and the constrained kernel fed the declared weights draw by draw gives the
    same numbers, bit for bit, as the plan's own (the path every central run and golden file takes)."""
    plan = plans["central"]
    assert engine.structure_weights(plan, 3, 0) is None
    smp = engine.sample_block(plan, 3, 0, engine.BLOCK)
    a = engine.propagate_block(plan, smp.severity, smp.occurred)
    wide = np.repeat(plan.crit_w[:, None], engine.BLOCK, axis=1)
    b = engine.propagate_block(plan, smp.severity, smp.occurred, crit_w=wide)
    assert np.array_equal(a.dx, b.dx) and np.array_equal(a.trade, b.trade)


def test_sampled_weights_move_the_constrained_losses(plans):
    plan = plans["sampled"]
    w = engine.structure_weights(plan, 3, 0)
    assert w.shape == (len(plan.crit_w), engine.BLOCK)
    assert set(np.unique(w)) <= set(criticality.CLASS_WEIGHTS)
    # every buyer of one declared pair shares its class in a draw (one uniform per sector pair)
    for pair in np.unique(plan.crit_pair):
        rows = w[plan.crit_pair == pair]
        assert (rows == rows[0]).all()
    smp = engine.sample_block(plan, 3, 0, engine.BLOCK)
    central = engine.propagate_block(plans["central"], smp.severity, smp.occurred).gdp_loss.sum(axis=1)
    sampled = engine.propagate_block(plan, smp.severity, smp.occurred, crit_w=w).gdp_loss.sum(axis=1)
    assert not np.allclose(central, sampled)
    # all pairs forced to their declared class reproduce central exactly
    forced = np.where(plan.crit_w[:, None] >= 1.0, 1.0, 0.5) * np.ones((1, engine.BLOCK))
    again = engine.propagate_block(plan, smp.severity, smp.occurred, crit_w=forced).gdp_loss.sum(axis=1)
    assert np.array_equal(again, central)


def test_sampled_runs_are_bit_identical_across_chunking_threads_and_draw_counts():
    import shockmodel

    kw = dict(draws=600, seed=5, markets=None, structure="sampled")
    a = shockmodel.run(SCEN, chunk_size=256, threads=1, **kw)["gdp_loss_pct"].values
    b = shockmodel.run(SCEN, chunk_size=512, threads=2, **kw)["gdp_loss_pct"].values
    c = shockmodel.run(SCEN, **{**kw, "draws": 300})["gdp_loss_pct"].values
    assert np.array_equal(a, b)
    assert np.array_equal(a[:300], c)


def test_datasets_say_which_structure_and_linear_models_do_not_depend_on_it():
    import shockmodel

    kw = dict(draws=64, seed=1, markets=None, model="leontief")
    a = shockmodel.run(SCEN, structure="central", **kw)
    b = shockmodel.run(SCEN, structure="sampled", **kw)
    assert (a.attrs["structure"], b.attrs["structure"]) == ("central", "sampled")
    assert "critical" in b.attrs["structure_description"] or "no critical inputs" in b.attrs["structure_description"]
    assert np.array_equal(a["gdp_loss_pct"].values, b["gdp_loss_pct"].values)
    assert a.attrs["run_id"] != b.attrs["run_id"]


def test_unknown_structure_is_a_one_line_error(default_table):
    import shockmodel

    with pytest.raises(UserError, match="unknown structure"):
        shockmodel.run(SCEN, draws=8, structure="median", markets=None)


def test_dynamic_model_central_is_the_declared_weights_draw_by_draw(default_table, critical_default):
    """The dynamic kernel reads the draw's weight; central equals the declared weights given draw by draw.
    (In the dynamic model a critical pair binds only once its stock runs out: tests/test_dynamic.py checks
    the weight's effect there; on the library scenarios the sampled weights rarely change a draw.)"""
    from shockmodel.scenario import compile_scenario, load_scenario

    compiled = compile_scenario(load_scenario(SCEN), default_table)
    plan_c = engine.cached_plan(compiled, default_table, "dynamic", critical_default, structure="central")
    plan_s = engine.cached_plan(compiled, default_table, "dynamic", critical_default, structure="sampled")
    smp = engine.sample_block(plan_c, 2, 0, engine.BLOCK)
    n = 16
    sev, occ = smp.severity[:n], smp.occurred[:n]
    a = engine.propagate_block(plan_c, sev, occ, seed=2)
    b = engine.propagate_block(plan_c, sev, occ, seed=2, crit_w=np.repeat(plan_c.dyn.tab.crit_w[:, None], n, axis=1))
    assert np.array_equal(a.dx, b.dx)
    w = engine.structure_weights(plan_s, 2, 0)
    assert w.shape == (len(plan_s.dyn.tab.crit_w), engine.BLOCK)


def test_cli_run_takes_structure_and_records_it(tmp_path):
    import json

    from click.testing import CliRunner

    from shockmodel.cli import main

    res = CliRunner().invoke(main, ["run", SCEN, "--draws", "16", "--structure", "central", "--out", str(tmp_path),
                                    "--no-report", "--markets", "none", "-q"])
    assert res.exit_code == 0, res.output
    (folder,) = list(tmp_path.iterdir())
    assert json.loads((folder / "manifest.json").read_text())["structure"] == "central"
    bad = CliRunner().invoke(main, ["run", SCEN, "--draws", "16", "--structure", "median", "--out", str(tmp_path)])
    assert bad.exit_code == 2 and "median" in bad.output
