"""The constrained model's accelerated solver lands where the plain iteration does.

Proportional rationing can give the constrained model several fixed points, so an accelerated solver is
only acceptable if it finds the one the plain iteration from ``dx = 0`` finds (the reference, kept as
``aa_depth=0``). Both stop on the same test, ``|F(x) - x| <= tol x0_j`` on the true map, so they can
differ by the reference's own error, about ``1.5 tol x0_j``; a different fixed point would differ by far
more (the over-relaxation variants that failed in development missed by 0.1-0.9 of x0).
"""

from __future__ import annotations

import numpy as np
import pytest

from shockmodel import engine
from shockmodel.scenario import compile_scenario, load_scenario

DEPTH = engine.AA_DEPTH   # the shipped setting
SCENARIOS = ("combined_coordinated", "taiwan_war", "taiwan_blockade", "russia_escalation", "russia_2022",
             "china_sanctions")


def _solve(plan, seed, block, depth):
    smp = engine.sample_block(plan, seed, block, engine.BLOCK)
    return engine.propagate_block(plan, smp.severity, smp.occurred, aa_depth=depth)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_anderson_reaches_the_plain_fixed_point(scenario, default_table, critical_default):
    plan = engine.make_plan(compile_scenario(load_scenario(scenario), default_table), default_table, "constrained",
                            critical_default)
    plain = _solve(plan, 11, 2, 0)
    fast = _solve(plan, 11, 2, DEPTH)
    assert plain.converged.all() and fast.converged.all()
    x0 = plan.x0[None, :]
    f = plain.horizon_fraction[:, None]
    assert (f > 0).any()
    # losses are scaled by the horizon fraction f <= 1, so compare per unit of the solver's output
    err = np.abs(fast.dx - plain.dx) / np.where(f > 0, f, 1.0) / np.where(x0 > 0, x0, 1.0)
    assert err.max() < 1e-7, f"{scenario}: {err.max():.2e} of output"
    tol_trade = 1e-7 * plan.T0.sum(axis=1).max()
    np.testing.assert_allclose(fast.trade, plain.trade, rtol=0, atol=tol_trade)
    assert fast.iterations.mean() < 0.7 * plain.iterations.mean(), (fast.iterations.mean(), plain.iterations.mean())


def test_anderson_on_the_large_table(wiod_table):
    """Same check on wiod2011 (n = 1476), one sub-batch."""
    from shockmodel.criticality import critical_weights

    plan = engine.make_plan(compile_scenario(load_scenario("combined_coordinated"), wiod_table), wiod_table,
                            "constrained", critical_weights(wiod_table))
    smp = engine.sample_block(plan, 4, 0, engine.BLOCK)
    sev, on = smp.severity[: engine.SUB_BATCH], smp.occurred[: engine.SUB_BATCH]
    plain = engine.propagate_block(plan, sev, on, aa_depth=0)
    fast = engine.propagate_block(plan, sev, on, aa_depth=DEPTH)
    f = plain.horizon_fraction[:, None]
    err = np.abs(fast.dx - plain.dx) / np.where(f > 0, f, 1.0) / np.where(plan.x0 > 0, plan.x0, 1.0)[None, :]
    assert fast.converged.all() and err.max() < 1e-7


def test_shipped_solver_is_accelerated():
    assert DEPTH > 0


def test_unshocked_draws_stop_at_once_and_exactly_zero(default_table, critical_default):
    """The baseline scenario: every draw stops after the first sweep with exactly zero loss."""
    plan = engine.make_plan(compile_scenario(load_scenario("baseline"), default_table), default_table, "constrained",
                            critical_default)
    smp = engine.sample_block(plan, 0, 0, engine.BLOCK)
    out = engine.propagate_block(plan, smp.severity, smp.occurred)
    assert (out.iterations == 1).all()
    assert not out.dx.any() and not out.trade.any()


def test_draws_left_alone_in_the_products_land_where_the_whole_sub_batch_does(default_table, critical_default):
    """Once more than half of a sub-batch has stopped, the solver multiplies only the active columns
    (gathered, at least two: a lone draw is paired with a stopped one). Sub-batches of three draws take
    that path whenever two have stopped; each triple must give what the same draws give inside a full
    sub-batch of 64, where most sweeps multiply every column."""
    plan = engine.make_plan(compile_scenario(load_scenario("combined_coordinated"), default_table), default_table,
                            "constrained", critical_default)
    smp = engine.sample_block(plan, 11, 2, engine.BLOCK)
    sev, on = smp.severity[: engine.SUB_BATCH], smp.occurred[: engine.SUB_BATCH]
    whole = engine.propagate_block(plan, sev, on)
    x0 = np.where(plan.x0 > 0, plan.x0, 1.0)[None, :]
    staggered = 0
    for lo in range(0, 30, 3):
        part = engine.propagate_block(plan, sev[lo:lo + 3], on[lo:lo + 3])
        assert part.converged.all()
        np.testing.assert_array_equal(part.iterations, whole.iterations[lo:lo + 3])
        assert (np.abs(part.dx - whole.dx[lo:lo + 3]) / x0).max() <= 1e-12
        np.testing.assert_allclose(part.trade, whole.trade[lo:lo + 3], rtol=1e-12, atol=1e-9)
        its = np.sort(part.iterations)
        staggered += its[1] < its[2]   # the slowest draw's last sweeps ran with it alone
    assert staggered > 0
