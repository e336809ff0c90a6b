"""The dynamic production network (docs/model-dynamic.md): exact zeros, the static steady state, inventory
cover, per-step conservation, rerouting, reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shockmodel import engine
from shockmodel.models import dynamic as dyn
from shockmodel.mrio import MRIO, balance
from shockmodel.scenario import compile_scenario, scenario_from_dict
from shockmodel.testing import fixed, scenario_dict, toy_mrio

DPM = engine.DAYS_PER_MONTH


def _compiled(mrio, packages, **top):
    return compile_scenario(scenario_from_dict(scenario_dict(packages, **top)), mrio)


def _inputs(mrio, compiled, crit=None, seed=0, **par):
    """Plan, shocks and parameters of one draw (the scenario's packages all occur), with ``par`` set."""
    plan = engine.make_plan(compiled, mrio, "dynamic", crit)
    smp = engine.sample_block(plan, seed, 0, 1)
    shk, p = dyn.kernel_inputs(plan, smp.severity, smp.occurred, seed, 0, DPM)
    shk, p = dyn.sub_batch(shk, p, 0, 1)
    fields = {}
    for k, v in par.items():
        old = getattr(p, k)
        fields[k] = np.full_like(old, v) if isinstance(old, np.ndarray) else v
    return plan, shk, p._replace(**fields)


def _chips_only_from(mrio_seed=0, regions=("AAA", "BBB")):
    """A toy table in which only the first region makes chips for intermediate use (so a block of its
    chips cuts the others' only source)."""
    base = toy_mrio(mrio_seed, regions=regions)
    R, S = len(regions), 3
    Z = np.array(base.Z)
    Y = np.array(base.Y)
    for r in range(1, R):
        Z[r * S + 1, :] = 0.0
    Z, Y, x, v = balance(Z, Y)
    return MRIO(name="chips", regions=tuple(regions), sectors=base.sectors, Z=Z, Y=Y, x=x, v=v)


CHIPS_CRIT = np.zeros((3, 3))
CHIPS_CRIT[1, :] = 1.0          # CHIPS critical for every sector, nothing else critical


# --- exact zeros ---------------------------------------------------------------------------------------


def test_no_shock_is_exactly_zero_at_every_step():
    m = toy_mrio(0)
    c = _compiled(m, {"p": {"shocks": {
        "b": {"kind": "trade_block", "exporters": ["AAA"], "importers": ["BBB"], "sectors": ["ALL"], "severity": fixed(0.0)},
        "c": {"kind": "capacity", "regions": ["AAA"], "sectors": ["CHIPS"], "severity": fixed(0.0)},
        "f": {"kind": "final_demand", "regions": ["BBB"], "sectors": ["ALL"], "severity": fixed(0.0)}}}},
        horizon_months=3)
    plan, shk, par = _inputs(m, c, CHIPS_CRIT, alpha_max=1.25, phi=0.5)
    out = dyn.run_kernel(plan, shk, par, trace=True)
    assert (out.trace_dx == 0).all() and (out.dx == 0).all() and (out.trade == 0).all()
    assert (out.gdp_path == 0).all()
    assert (out.trace_stock >= par.n_target.min()).all()


def test_baseline_run_is_zero_in_every_output(default_table, critical_default):
    raw = engine.simulate(_compiled_default(default_table), default_table, draws=40, model="dynamic",
                          critical=critical_default)
    for arr in (raw.gdp_loss, raw.exports_lost, raw.output_sum, raw.trade_sum, raw.extras["gdp_loss_path_pct"],
                raw.streams["gdp_loss_path_pct"]):
        assert (arr == 0).all()
    assert (raw.iterations <= 1).all()      # no package occurred: every draw settles on its first step


def _compiled_default(mrio):
    from shockmodel import pipeline

    return pipeline.compile_for("baseline", mrio)[1]


# --- the static steady state ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed,dt", [(0, 1.0), (1, 1.0), (2, 1.0), (0, 7.0)])
def test_constant_capacity_and_demand_shocks_reach_the_constrained_fixed_point(seed, dt):
    m = toy_mrio(seed)
    c = _compiled(m, {"p": {"shocks": {
        "c": {"kind": "capacity", "regions": ["AAA"], "sectors": ["CHIPS"], "severity": fixed(0.4)},
        "c2": {"kind": "capacity", "regions": ["BBB"], "sectors": ["ENERGY"], "severity": fixed(0.25)},
        "f": {"kind": "final_demand", "regions": ["BBB"], "sectors": ["SERVICES"], "severity": fixed(0.3)}}}},
        horizon_months=6)
    plan, shk, par = _inputs(m, c, None, alpha_max=1.0, phi=0.0)
    par = par._replace(dt=dt, n_target=np.maximum(par.n_target, dt))    # dt = 7: weekly steps (as many)
    tl = shk.timeline.copy()
    tl[:, 2:] = 1e9                                                      # the shocks last beyond the steps
    shk = shk._replace(timeline=tl)
    out = dyn.run_kernel(plan, shk, par, trace=True)
    last = out.trace_dx[-1, :, 0]
    assert np.abs(out.trace_dx[-1] - out.trace_dx[-2]).max() <= 1e-9 * m.x.max()   # settled
    splan = engine.make_plan(c, m, "constrained", None)
    smp = engine.sample_block(splan, 0, 0, 1)
    dxT = engine._propagate_raw(splan, smp.severity, smp.occurred, 1e-12, 5000)[0]
    assert last.max() > 0.0
    np.testing.assert_allclose(last, dxT[:, 0], rtol=0, atol=1e-6 * m.x.max())


# --- inventories ----------------------------------------------------------------------------------------


def _block_for(days):
    return {"p": {"shocks": {
        "b": {"kind": "trade_block", "exporters": ["AAA"], "importers": ["BBB"], "sectors": ["CHIPS"], "severity": fixed(1.0)},
        "d": {"kind": "duration", "severity": fixed(days / DPM)}}}}


def test_a_block_shorter_than_the_cover_costs_the_buyers_nothing_longer_costs_from_stock_out():
    """Against the same run with an inventory that never runs out (the same orders and stock gaps, bit for
    bit, as long as no stock falls below one day of use): BBB, whose only chips come from AAA, loses
    nothing more while its chip stock lasts, and loses more from the day it runs out."""
    m = _chips_only_from(0)
    cover = 20.0
    S = 3
    bbb = slice(S, 2 * S)
    for days, binds in ((10.0, False), (45.0, True)):
        c = _compiled(m, _block_for(days), horizon_months=3)
        runs = {}
        for name, n_target in (("cover", cover), ("ample", 1e6)):
            plan, shk, par = _inputs(m, c, CHIPS_CRIT, alpha_max=1.0, phi=0.0, tau=10.0)
            par = par._replace(n_target=np.where(par.n_target > 0, n_target, 0.0))
            runs[name] = dyn.run_kernel(plan, shk, par, trace=True).trace_dx[:, bbb, 0]
        extra = runs["cover"] - runs["ample"]          # what running out of chips costs BBB's industries
        assert runs["ample"].max() > 0.0               # the block costs something through demand anyway
        first = int(cover) - 1                         # full use empties 20 days of cover on day 19 at the earliest
        assert (extra[:first] == 0).all()
        if binds:
            assert extra[int(cover) + 1:int(days)].min(axis=0).max() > 1e-3 * m.x[bbb].min()
        else:
            assert (extra == 0).all()


def test_the_draws_weight_of_a_critical_pair_scales_its_stock_out_loss():
    """D8 with the draw's weight (DynParams.crit_w, eq. 55): a chip pair drawn non-critical (w = 0) costs BBB
    nothing when its chips run out, important (0.5) less than critical (1), and each draw reads its own."""
    m = _chips_only_from(0)
    c = _compiled(m, _block_for(45.0), horizon_months=3)
    S = 3
    bbb = slice(S, 2 * S)
    runs = {}
    for name, n_target in (("cover", 20.0), ("ample", 1e6)):
        plan, shk, par = _inputs(m, c, CHIPS_CRIT, alpha_max=1.0, phi=0.0, tau=10.0)
        par = par._replace(n_target=np.where(par.n_target > 0, n_target, 0.0))

        def three(a):   # the one draw, three times (draws last)
            return np.ascontiguousarray(np.repeat(a, 3, axis=-1)) if isinstance(a, np.ndarray) else a

        shk = shk._replace(**{f: three(getattr(shk, f)) for f in ("trade_eff", "cap_eff", "fd_eff", "timeline")})
        par = par._replace(**{f: three(getattr(par, f)) for f in ("n_target", "phi", "tau", "t_sub", "alpha_max",
                                                                  "tau_alpha", "crit_w")})
        par = par._replace(crit_w=np.ascontiguousarray(np.broadcast_to([1.0, 0.5, 0.0], par.crit_w.shape)))
        runs[name] = dyn.run_kernel(plan, shk, par, trace=True).trace_dx[:, bbb, :]
    extra = (runs["cover"] - runs["ample"]).sum(axis=(0, 1))   # per draw: the loss from running out of chips
    assert extra[0] > extra[1] > 0.0
    assert extra[2] == 0.0


# --- conservation per step ------------------------------------------------------------------------------


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), block=st.floats(0.0, 1.0), cap=st.floats(0.0, 0.9), fd=st.floats(0.0, 0.9),
       phi=st.floats(0.0, 1.0), alpha=st.floats(1.0, 1.5), cover=st.floats(1.0, 30.0), tau=st.floats(1.0, 20.0))
def test_each_step_conserves(seed, block, cap, fd, phi, alpha, cover, tau):
    m = toy_mrio(seed, regions=("AAA", "BBB", "CCC"))
    c = _compiled(m, {"p": {"shocks": {
        "b": {"kind": "trade_block", "exporters": ["AAA"], "importers": ["BBB"], "sectors": ["CHIPS", "ENERGY"],
              "severity": fixed(block)},
        "c": {"kind": "capacity", "regions": ["CCC"], "sectors": ["ENERGY"], "severity": fixed(cap)},
        "f": {"kind": "final_demand", "regions": ["AAA"], "sectors": ["ALL"], "severity": fixed(fd)},
        "d": {"kind": "duration", "severity": fixed(1.0)}}}}, horizon_months=2)
    crit = np.zeros((3, 3))
    crit[1, :] = 1.0
    crit[0, 1] = 0.5
    plan, shk, par = _inputs(m, c, crit, n_target=cover, alpha_max=alpha, phi=phi, tau=tau, t_sub=5.0,
                             tau_alpha=10.0)
    out = dyn.run_kernel(plan, shk, par, trace=True)
    assert (out.trace_stock >= -1e-9).all()                         # inventories never below zero
    assert out.trace_balance.max() <= 1e-9                           # deliveries equal production
    x = m.x[None, :] - out.trace_dx[:, :, 0]
    capm = np.ones((x.shape[0], m.n))
    capm[np.arange(x.shape[0]) * par.dt < DPM, 2 * 3 + 0] = 1.0 - cap     # the capacity shock lasts one month
    assert (x <= m.x[None, :] * capm * alpha * (1 + 1e-12) + 1e-9).all()   # output <= capacity x ceiling
    assert (x >= -1e-9).all()


# --- rerouting -------------------------------------------------------------------------------------------


def _reroute_run(phi, alpha):
    m = toy_mrio(3, regions=("AAA", "BBB", "CCC"))
    c = _compiled(m, {"p": {"shocks": {
        "b": {"kind": "trade_block", "exporters": ["AAA"], "importers": ["BBB"], "sectors": ["ALL"], "severity": fixed(1.0)}}}},
        horizon_months=6)
    plan, shk, par = _inputs(m, c, CHIPS_CRIT, n_target=10.0, alpha_max=alpha, phi=phi, tau=5.0, t_sub=20.0,
                             tau_alpha=5.0)
    return m, dyn.run_kernel(plan, shk, par, trace=True)


def test_no_substitutable_share_means_nothing_from_the_blocked_origin():
    m, out = _reroute_run(0.0, 1.0)
    baseline = (m.Z.reshape(3, 3, m.n).sum(axis=1)[0, 3:6].sum() + m.Y[0:3, 1].sum())   # AAA -> BBB
    np.testing.assert_allclose(out.trade[0, 1, 0], baseline, rtol=1e-12)


def test_full_substitutable_share_serves_buyers_again_and_raises_other_origins():
    m, none = _reroute_run(0.0, 1.0)
    _, full = _reroute_run(1.0, 2.0)
    S = 3
    bbb, ccc = slice(S, 2 * S), slice(2 * S, 3 * S)
    end = -1
    # buyers served again after the ramp: BBB's chip stock is back near its target and its loss far smaller
    assert full.trace_stock[end, 0] > 5.0 > none.trace_stock[end, 0]
    assert full.trace_dx[end, bbb, 0].sum() < 0.2 * none.trace_dx[end, bbb, 0].sum()
    # the alternative origin produces more than in its baseline (a gain), which it cannot without rerouting
    assert full.trace_dx[end, ccc, 0].sum() < 0.0 <= none.trace_dx[end, ccc, 0].sum() + 1e-9


# --- reproducibility -------------------------------------------------------------------------------------


def test_same_numbers_whatever_the_chunking(default_table, critical_default):
    """The default table and a library scenario, two blocks of draws (256 + 44) run as two chunks on the
    default threads and as one chunk on one thread: the same bits. Chunking and threads split the draws,
    never the time steps, so three months of daily steps test the same as the scenario's year."""
    from shockmodel import pipeline

    c = pipeline.compile_for("taiwan_blockade", default_table, overrides={"horizon_months": 3})[1]
    a = engine.simulate(c, default_table, draws=300, seed=5, model="dynamic", critical=critical_default,
                        chunk_size=256)
    b = engine.simulate(c, default_table, draws=300, seed=5, model="dynamic", critical=critical_default,
                        chunk_size=512, threads=1)
    assert np.array_equal(a.gdp_loss, b.gdp_loss)
    assert np.array_equal(a.extras["gdp_loss_path_pct"], b.extras["gdp_loss_path_pct"])
    assert np.array_equal(a.streams["gdp_loss_path_pct"], b.streams["gdp_loss_path_pct"])
    assert a.gdp_loss.sum() > 0


# --- timelines -------------------------------------------------------------------------------------------


def test_package_timelines_start_ramp_recover_and_offset():
    """D1: nothing before a package starts, a ramp to full severity, recovery after its duration; the
    scenario's package_offset_months starts the second package one offset later."""
    m = toy_mrio(0)
    cap = {"kind": "capacity", "regions": ["AAA"], "sectors": ["CHIPS"], "severity": fixed(0.5)}
    c = _compiled(m, {"p": {"start_months": 1.0, "ramp_months": 1.0, "recovery_months": 1.0,
                            "shocks": {"c": cap, "d": {"kind": "duration", "severity": fixed(3.0)}}}},
                  horizon_months=6)
    plan, shk, par = _inputs(m, c, None, alpha_max=1.0, phi=0.0)
    start, full, end, gone = shk.timeline[0, :, 0]
    assert (start, full, end, gone) == pytest.approx((DPM, 2 * DPM, 4 * DPM, 5 * DPM))
    chips = dyn.run_kernel(plan, shk, par, trace=True).trace_dx[:, 1, 0]
    day = np.arange(len(chips)) * par.dt
    assert (chips[day < start] == 0).all() and (chips[day >= gone + 30] == 0).all()
    ramp = (day > start) & (day < full)
    assert (np.diff(chips[ramp]) > 0).all()                       # severity rises along the ramp
    assert chips[(day > full) & (day < end)].min() > chips[ramp].max() * 0.99
    two = _compiled(m, {"a": {"shocks": {"c": cap}}, "b": {"shocks": {"c": {**cap, "regions": ["BBB"]}}}},
                    horizon_months=6, package_offset_months=2.0)
    plan2, shk2, _ = _inputs(m, two, None)
    assert shk2.timeline[0, 0, 0] == 0.0 and shk2.timeline[1, 0, 0] == pytest.approx(2 * DPM)


@pytest.mark.slow
def test_float32_products_stay_within_a_stated_tolerance_of_float64(default_table, critical_default):
    """precision="float32" runs the step's GEMMs in single precision: GDP losses within 1e-4 percentage
    points of float64 (measured: about 1e-6 on taiwan_blockade)."""
    from shockmodel import pipeline

    c = pipeline.compile_for("taiwan_blockade", default_table)[1]
    a = engine.simulate(c, default_table, draws=64, seed=2, model="dynamic", critical=critical_default)
    b = engine.simulate(c, default_table, draws=64, seed=2, model="dynamic", critical=critical_default,
                        precision="float32")
    pa, pb = (r.gdp_loss[0] / default_table.gdp * 100 for r in (a, b))
    assert pa.max() > 1.0
    assert np.abs(pa - pb).max() <= 1e-4


def test_a_shock_with_its_own_timeline_is_phased_in_later_and_may_end_sooner():
    """D1: a shock's own start counts from its package's start, its own duration from its own start; the
    keys it leaves out (here the recovery) are its package's; its package's other shocks keep the package's
    timeline."""
    m = toy_mrio(0)
    cap = {"kind": "capacity", "regions": ["AAA"], "sectors": ["CHIPS"], "severity": fixed(0.5)}
    late = {**cap, "sectors": ["ENERGY"], "start_months": 1.0, "ramp_months": 1.0, "duration_months": 2.0}
    c = _compiled(m, {"p": {"start_months": 0.5, "recovery_months": 0.5,
                            "shocks": {"c": cap, "late": late, "d": {"kind": "duration", "severity": fixed(5.0)}}}},
                  horizon_months=8)
    plan, shk, par = _inputs(m, c, None, alpha_max=1.0, phi=0.0)
    assert shk.timeline.shape[0] == 2 and list(shk.cap_pkg) == [0, 1]
    assert tuple(shk.timeline[0, :, 0]) == pytest.approx((0.5 * DPM, 0.5 * DPM, 5.5 * DPM, 6 * DPM))
    assert tuple(shk.timeline[1, :, 0]) == pytest.approx((1.5 * DPM, 2.5 * DPM, 3.5 * DPM, 4 * DPM))
    tr = dyn.run_kernel(plan, shk, par, trace=True).trace_dx[:, :, 0]
    alone = _compiled(m, {"p": {"start_months": 0.5, "recovery_months": 0.5,
                                "shocks": {"c": cap, "d": {"kind": "duration", "severity": fixed(5.0)}}}},
                      horizon_months=8)
    plan0, shk0, par0 = _inputs(m, alone, None, alpha_max=1.0, phi=0.0)
    extra = tr - dyn.run_kernel(plan0, shk0, par0, trace=True).trace_dx[:, :, 0]   # what the late shock adds
    day = np.arange(tr.shape[0]) * par.dt
    energy = extra[:, 0]                        # AAA's ENERGY, the late shock's own cell
    assert (extra[day < 1.5 * DPM] == 0).all()                                  # nothing before it starts
    assert (np.diff(energy[(day > 1.5 * DPM) & (day < 2.5 * DPM)]) > 0).all()    # its own ramp
    assert energy[(day > 2.5 * DPM) & (day < 3.5 * DPM)].min() > 0.9 * energy.max() > 0
    assert np.abs(energy[day > 4.5 * DPM]).max() < 0.01 * energy.max()         # gone with its own duration


def test_a_scenario_without_own_timelines_keeps_one_row_per_package():
    m = toy_mrio(0)
    cap = {"kind": "capacity", "regions": ["AAA"], "sectors": ["CHIPS"], "severity": fixed(0.5)}
    c = _compiled(m, {"a": {"shocks": {"c": cap, "f": {**cap, "kind": "final_demand"}}}, "b": {"shocks": {"c": cap}}})
    plan = engine.make_plan(c, m, "dynamic", None)
    assert len(plan.dyn.rows) == 2 and list(plan.dyn.shock_row) == list(plan.shock_pkg)


def test_a_sampled_start_varies_by_draw_within_its_support_whatever_the_chunking():
    """D1, D15: a package's start drawn per draw from its distribution, from the block's own timeline
    stream: the same numbers whatever the chunking and threads."""
    m = toy_mrio(1)
    pkg = {"start_months": {"dist": "uniform", "low": 1.0, "high": 4.0}, "shocks": {
        "b": {"kind": "trade_block", "exporters": ["AAA"], "importers": ["BBB"], "sectors": ["ALL"],
              "severity": {"dist": "uniform", "low": 0.3, "high": 0.9}}}}
    c = _compiled(m, {"p": pkg}, horizon_months=6)
    plan = engine.make_plan(c, m, "dynamic", None)
    smp = engine.sample_block(plan, 3, 0, engine.BLOCK)
    shk, _ = dyn.kernel_inputs(plan, smp.severity, smp.occurred, 3, 0, DPM)
    start = shk.timeline[0, 0]
    assert start.min() >= 1.0 * DPM and start.max() <= 4.0 * DPM and start.std() > 0.5 * DPM
    shk2, _ = dyn.kernel_inputs(plan, smp.severity, smp.occurred, 3, 1, DPM)
    assert not np.array_equal(shk2.timeline[0, 0], start)           # another block, other starts
    a = engine.simulate(c, m, draws=300, seed=3, model="dynamic", chunk_size=256)
    b = engine.simulate(c, m, draws=300, seed=3, model="dynamic", chunk_size=512, threads=1)
    assert np.array_equal(a.gdp_loss, b.gdp_loss) and a.gdp_loss.sum() > 0
    fixed_start = _compiled(m, {"p": {**pkg, "start_months": 1.0}}, horizon_months=6)
    late = _compiled(m, {"p": {**pkg, "start_months": 4.0}}, horizon_months=6)
    lo = engine.simulate(fixed_start, m, draws=300, seed=3, model="dynamic").gdp_loss.sum()
    hi = engine.simulate(late, m, draws=300, seed=3, model="dynamic").gdp_loss.sum()
    assert hi < a.gdp_loss.sum() < lo            # a later start leaves less of the horizon to lose


# --- feedback to demand (D16-D18) ------------------------------------------------------------------------


def _feedback(plan, m, mpc=0.0, inv=0.0, lag=10.0, full=1.0):
    from shockmodel.kernels import dynamic as kd

    from shockmodel.feedback import demand_cells

    cons_cut, inv_cut = demand_cells(m)
    gdp0 = np.asarray(plan.gdp0, dtype=np.float64)
    return kd.DynFeedback(on=True, mpc=np.array([mpc]), inv_risk=np.array([inv]), lag=np.array([lag]),
                          cons_cut=cons_cut, inv_cut=inv_cut, gdp0=gdp0, world_full=full * gdp0.sum())


def _mixed_shocks(m, severity=0.3):
    return _compiled(m, {"p": {"shocks": {
        "b": {"kind": "trade_block", "exporters": ["AAA"], "importers": ["BBB"], "sectors": ["ALL"], "severity": fixed(severity)},
        "c": {"kind": "capacity", "regions": ["AAA"], "sectors": ["CHIPS"], "severity": fixed(severity)},
        "f": {"kind": "final_demand", "regions": ["BBB"], "sectors": ["ALL"], "severity": fixed(severity)},
        "d": {"kind": "duration", "severity": fixed(1.0)}}}}, horizon_months=3)


def test_feedback_with_zero_parameters_changes_nothing_and_no_shock_stays_exactly_zero():
    m = toy_mrio(0)
    plan, shk, par = _inputs(m, _mixed_shocks(m), CHIPS_CRIT, alpha_max=1.25, phi=0.5)
    off = dyn.run_kernel(plan, shk, par)
    on = dyn.run_kernel(plan, shk, par, fb=_feedback(plan, m))
    for name in ("dx", "trade", "gdp_path"):
        assert np.array_equal(getattr(off, name), getattr(on, name))
    assert off.dx.max() > 0
    zero = _mixed_shocks(m, 0.0)
    plan0, shk0, par0 = _inputs(m, zero, CHIPS_CRIT, alpha_max=1.25, phi=0.5)
    out = dyn.run_kernel(plan0, shk0, par0, trace=True, fb=_feedback(plan0, m, mpc=0.4, inv=0.05, full=1e-6))
    assert (out.trace_dx == 0).all() and (out.dx == 0).all() and (out.trade == 0).all() and (out.gdp_path == 0).all()


@pytest.mark.parametrize("mpc,inv", [(0.3, 0.0), (0.0, 0.04), (0.25, 0.03)])
def test_feedback_steady_state_is_the_type_ii_and_investment_multiplier(mpc, inv):
    """With a constant final-demand cut, no capacity bound and no critical input, the step's steady state
    with the feedback is the household-endogenous (Type-II) Leontief solution, Miller & Blair (2009)
    section 2.5, with households' consumption cut ``mpc`` times their region's value added lost and, at the
    full risk ramp, investment cut by ``inv`` of its baseline: ``(I - A - mpc K V) dx = dY_1 + dY_inv``.
    The first day has no feedback (income lags), the extra loss then grows toward it."""
    m = toy_mrio(2)
    c = _compiled(m, {"p": {"shocks": {
        "f": {"kind": "final_demand", "regions": ["BBB"], "sectors": ["ALL"], "severity": fixed(0.2)}}}},
        horizon_months=24)
    plan, shk, par = _inputs(m, c, None, alpha_max=1.0, phi=0.0)
    fb = _feedback(plan, m, mpc=mpc, inv=inv, lag=10.0, full=1e-9)    # the risk ramp is full at once
    with_fb = dyn.run_kernel(plan, shk, par, trace=True, fb=fb).trace_dx[:, :, 0]
    without = dyn.run_kernel(plan, shk, par, trace=True).trace_dx[:, :, 0]
    R, S, n = 2, 3, m.n
    tab = plan.dyn.tab
    A = m.Z / m.x[None, :]
    s_of = np.arange(n) % S
    cut = lambda v: tab.Ypos * v.reshape(R, S)[:, s_of].T          # noqa: E731 - (n, R) cells' cut per origin
    K = cut(fb.cons_cut)                                            # consumption lost per unit, by origin i, region r
    V = np.zeros((R, n))
    for r in range(R):
        V[r, r * S:(r + 1) * S] = tab.va[r * S:(r + 1) * S]
    dY = 0.2 * tab.Ypos[:, 1] + inv * cut(fb.inv_cut).sum(axis=1)
    expected = np.linalg.solve(np.eye(n) - A - mpc * K @ V, dY)
    np.testing.assert_allclose(with_fb[-1], expected, rtol=0, atol=1e-6 * m.x.max())
    extra = (with_fb - without).sum(axis=1)
    assert with_fb[-1].sum() > without[-1].sum() > 0
    if mpc > 0 and inv == 0:
        assert extra[0] == 0.0 and 0 < extra[5] < extra[60]


def test_run_feedback_in_the_dynamic_model_each_channel_raises_the_loss_and_is_reproducible(default_table):
    """`run --feedback` on the dynamic model: off leaves its numbers as without markets; income and
    uncertainty each raise the world loss on the same draws; the prices channel is named as not in the step;
    the same numbers on one thread. Six months of the library scenario: the feedback lags are one to three
    months (params/dynamic.toml [feedback] lag_days), so both channels act well inside half the
    scenario's year."""
    from shockmodel import pipeline

    kw = dict(table=default_table, draws=64, seed=4, model="dynamic", overrides={"horizon_months": 6})
    plain = pipeline.run("taiwan_blockade", markets=None, **kw)
    runs = {f: pipeline.run("taiwan_blockade", feedback=f, **kw) for f in ("none", "income", "uncertainty", "all")}
    np.testing.assert_array_equal(runs["none"].gdp_loss.values, plain.gdp_loss.values)
    world = {f: float(ds.world_gdp_loss_pct.mean()) for f, ds in runs.items()}
    assert world["none"] < world["income"] < world["all"] and world["none"] < world["uncertainty"] < world["all"]
    assert runs["all"].attrs["feedback"] == "income,uncertainty" and "prices" in runs["all"].attrs["ignored_feedback"]
    other = pipeline.run("taiwan_blockade", feedback="all", chunk_size=512, threads=1, **kw)
    np.testing.assert_array_equal(other.gdp_loss.values, runs["all"].gdp_loss.values)


def test_plans_differ_by_timeline():
    """A cached plan is never reused for a scenario that differs only in a timeline (sampled start or a
    shock's own timeline)."""
    m = toy_mrio(0)
    cap = {"kind": "capacity", "regions": ["AAA"], "sectors": ["CHIPS"], "severity": fixed(0.5)}
    plans = [engine.cached_plan(_compiled(m, {"p": {**top, "shocks": {"c": {**cap, **own}}}}), m, "dynamic")
             for top, own in (({}, {}), ({"start_months": {"dist": "uniform", "low": 0.0, "high": 2.0}}, {}),
                              ({}, {"start_months": 1.0}), ({}, {"ramp_months": 1.0}))]
    assert len({id(p) for p in plans}) == 4


def test_static_models_name_the_timelines_they_ignore(default_table):
    from shockmodel import pipeline

    m = default_table
    cap = {"kind": "capacity", "regions": ["TWN"], "sectors": ["SEMICONDUCTORS"], "severity": fixed(0.5)}
    timed = _compiled(m, {"p": {"shocks": {"c": {**cap, "start_months": 2.0}}}})
    plain = _compiled(m, {"p": {"shocks": {"c": cap}}})
    ds = pipeline.run(timed, table=m, draws=16, model="constrained", markets=None)
    assert ds.attrs["ignored_timelines"] == pipeline.STATIC_TIMELINE_NOTE
    assert "ignored_timelines" not in pipeline.run(plain, table=m, draws=16, model="constrained", markets=None).attrs
    assert "ignored_timelines" not in pipeline.run(timed, table=m, draws=16, model="dynamic", markets=None).attrs


def test_the_dynamic_model_keeps_fewer_draws_by_default_and_its_statistics_cover_all(default_table, monkeypatch):
    """The dynamic model's draws carry monthly paths, so by default it keeps ``KEEP_DRAWS`` of them (memory
    flat in the number of draws); an explicit ``keep_draws`` wins; the streamed means cover every draw."""
    from shockmodel import models, pipeline
    from shockmodel.models import dynamic

    assert models.default_keep_draws("dynamic", 10**6) == dynamic.KEEP_DRAWS < 10**6
    assert models.default_keep_draws("constrained", 10**6) == 10**6
    monkeypatch.setattr(dynamic, "KEEP_DRAWS", 20)
    kw = dict(table=default_table, draws=64, seed=3, model="dynamic", markets=None)
    few = pipeline.run("taiwan_blockade", **kw)
    every = pipeline.run("taiwan_blockade", keep_draws=64, **kw)
    assert few.sizes["draw"] == 20 and every.sizes["draw"] == 64
    assert few.gdp_loss_path_pct.sizes["draw"] == 20
    for name in ("gdp_loss", "gdp_loss_path_pct"):
        np.testing.assert_array_equal(few[name].values, every[name].isel(draw=slice(0, 20)).values, err_msg=name)
    mean = dict(statistic="mean")
    np.testing.assert_array_equal(few.world_gdp_loss_pct_summary.sel(mean).values,
                                  every.world_gdp_loss_pct_summary.sel(mean).values)
    np.testing.assert_allclose(few.gdp_loss_path_pct_stats.sel(path_stat="mean").values,
                               every.gdp_loss_path_pct_stats.sel(path_stat="mean").values, rtol=1e-12, atol=1e-12)
    assert float(few.world_gdp_loss_pct_summary.sel(mean)) != float(few.world_gdp_loss_pct.mean())
