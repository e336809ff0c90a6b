"""The Monte Carlo engine: exact zeros, extremes, bounds, references, reproducibility, properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shockmodel import engine
from shockmodel.kernels import propagate as kern
from shockmodel.mrio import MRIO
from shockmodel.scenario import compile_scenario, scenario_from_dict
from shockmodel import testing
from shockmodel.testing import fixed, scenario_dict, toy_mrio

TOY = toy_mrio(0)
TOY_CRIT = np.zeros((3, 3))
TOY_CRIT[1, :] = 1.0     # CHIPS critical for every sector
TOY_CRIT[0, 1] = 0.5     # ENERGY half-critical for CHIPS


def _compiled(mrio, packages, **top):
    return compile_scenario(scenario_from_dict(scenario_dict(packages, **top)), mrio)


def _block(exp, imp, sev, sectors=("ALL",), subst=None):
    shocks = {"b": {"kind": "trade_block", "exporters": list(exp), "importers": list(imp), "sectors": list(sectors),
                    "severity": sev if isinstance(sev, dict) else fixed(sev)}}
    if subst is not None:
        shocks["s"] = {"kind": "substitution", "sectors": ["ALL"], "severity": fixed(subst)}
    return {"p": {"shocks": shocks}}


def _dx(mrio, compiled, model="constrained", crit=TOY_CRIT, draws=1):
    plan = engine.make_plan(compiled, mrio, model, crit)
    smp = engine.sample_block(plan, 0, 0, draws)
    out = engine.propagate_block(plan, smp.severity, smp.occurred)
    return plan, out


# --- exact zeros and extremes ------------------------------------------------------------------------


@pytest.mark.parametrize("model", engine.MODELS)
def test_baseline_is_exactly_zero(model, default_table, critical_default):
    from shockmodel import pipeline

    ds = pipeline.run("baseline", table=default_table, draws=300, model=model, markets=None)
    for name in ("gdp_loss", "gdp_loss_pct", "world_gdp_loss_pct", "trade_loss_pct", "trade_loss",
                 "output_loss_pct", "output_loss"):
        da = ds[name]
        if "statistic" in da.dims:   # streamed statistics: mean, p05, p50, p95 (the others are not computed)
            da = da.sel(statistic=["mean", "p05", "p50", "p95"])
        assert (da.values == 0).all(), name


@pytest.mark.parametrize("model", engine.MODELS)
def test_zero_severity_gives_zero_loss(model):
    c = _compiled(TOY, _block(["AAA"], ["BBB"], 0.0))
    _, out = _dx(TOY, c, model)
    assert (out.dx == 0).all() and (out.trade == 0).all() and (out.gdp_loss == 0).all()


def test_full_blockade_of_a_region(default_table, critical_default):
    """All of Taiwan's trade blocked, nothing re-sourced: its exports fall to zero exactly."""
    c = _compiled(default_table, {"p": {"shocks": {
        "out": {"kind": "trade_block", "exporters": ["TWN"], "importers": ["ALL"], "severity": fixed(1.0)},
        "in": {"kind": "trade_block", "exporters": ["ALL"], "importers": ["TWN"], "severity": fixed(1.0)}}}})
    plan, out = _dx(default_table, c, "constrained", critical_default)
    t = default_table.regions.index("TWN")
    exports_lost = out.trade[0, t].sum() - out.trade[0, t, t]
    assert exports_lost == pytest.approx(plan.exports0[t], rel=1e-12)
    assert out.converged.all()
    # Taiwan cannot make electronics without imported chips' partners ... and loses a large share of GDP
    assert 0.3 < out.gdp_loss[0, t] / plan.gdp0[t] <= 1.0


@pytest.mark.parametrize("model", engine.MODELS)
def test_losses_within_baseline(model, default_table, critical_default):
    c = _compiled(default_table, {"p": {"correlation": 0.3, "shocks": {
        "cap": {"kind": "capacity", "regions": ["TWN", "KOR"], "sectors": ["SEMICONDUCTORS"],
                "severity": {"dist": "uniform", "low": 0.0, "high": 1.0}},
        "blk": {"kind": "trade_block", "exporters": ["RUS"], "importers": ["ALL"],
                "severity": {"dist": "beta", "a": 2.0, "b": 2.0}},
        "fd": {"kind": "final_demand", "regions": ["USA"], "severity": {"dist": "uniform", "low": 0.0, "high": 0.3}}}}})
    plan = engine.make_plan(c, default_table, model, critical_default)
    smp = engine.sample_block(plan, 3, 0, 200)
    out = engine.propagate_block(plan, smp.severity, smp.occurred)
    # the dynamic model lets suppliers outside the crisis gain, up to its overproduction ceiling
    gain = plan.dyn.scalars["alpha_max"][1] - 1.0 if model == "dynamic" else 0.0
    assert (out.dx >= -gain * plan.x0[None, :] * (1 + 1e-12)).all() and (out.dx <= plan.x0[None, :] * (1 + 1e-12)).all()
    assert (out.gdp_loss >= -gain * plan.gdp0[None, :] * (1 + 1e-12)).all()
    assert (out.gdp_loss <= plan.gdp0[None, :] * (1 + 1e-12)).all()
    assert (out.trade >= -(gain + 1e-9) * plan.T0.max()).all() and (out.trade <= plan.T0[None] * (1 + 1e-9) + 1e-9).all()


# --- references --------------------------------------------------------------------------------------


def test_constrained_matches_dense_reference():
    c = _compiled(TOY, {"p": {"shocks": {
        "blk": {"kind": "trade_block", "exporters": ["AAA"], "importers": ["BBB"], "sectors": ["CHIPS"],
                "severity": fixed(0.7)},
        "cap": {"kind": "capacity", "regions": ["BBB"], "sectors": ["ENERGY"], "severity": fixed(0.2)}}}})
    plan, out = _dx(TOY, c, crit=TOY_CRIT)
    blocked = np.zeros((2, 2, 3))
    blocked[0, 1, 1] = 0.7
    cap = np.zeros(6)
    cap[TOY.index("BBB", "ENERGY")] = 0.2
    x_ref = testing.dense_constrained(TOY, blocked, cap, TOY_CRIT)
    np.testing.assert_allclose(TOY.x - out.dx[0], x_ref, rtol=1e-7)
    assert out.dx[0].sum() > 0


@pytest.mark.parametrize("model", ["leontief", "ghosh"])
def test_pass_classes_match_per_flow_reference(model, default_table):
    """Class-based final demand, trade and blocked export shares equal the per-flow kernels on the
    library's largest scenario (1,855 blocked flows in 121 classes), draw by draw."""
    from shockmodel.scenario import load_scenario

    m = default_table
    plan = engine.make_plan(compile_scenario(load_scenario("combined_coordinated"), m), m, model)
    smp = engine.sample_block(plan, 5, 0, engine.BLOCK)
    out = engine.propagate_block(plan, smp.severity, smp.occurred)
    B, R, S, T = engine.BLOCK, m.n_regions, m.n_sectors, len(plan.tri_e)
    eff = smp.severity * smp.occurred[:, plan.shock_pkg]
    subst = np.zeros((B, plan.n_packages, S))
    for q, (col, p) in enumerate(zip(plan.subst_cols, plan.subst_pkg)):
        subst[:, p, :] = 1.0 - (1.0 - subst[:, p, :]) * (1.0 - eff[:, col, None] * plan.subst_mask[q][None, :])
    pass_ = np.empty((B, T))
    kern.build_pass(np.ascontiguousarray(eff[:, plan.trade_cols]), plan.trade_pkg, plan.trade_ptr, plan.trade_tri,
                    plan.tri_s, subst, pass_)
    dem = np.ones((B, R * S))
    kern.build_multiplier(np.ascontiguousarray(eff[:, plan.fd_cols]), plan.fd_ptr, plan.fd_cells, R * S, dem)
    f = out.horizon_fraction
    assert (f > 0).all()
    dx = out.dx / f[:, None]
    if model == "leontief":   # dx = L dy with dy from the per-flow kernel
        dy = np.empty((B, m.n))
        kern.demand_loss_static(pass_, dem, np.zeros_like(plan.Zsum), plan.Ypos, plan.tri_ptr, plan.tri_idx,
                                plan.tri_m, S, dy)
        np.testing.assert_allclose(dx, np.clip(dy @ plan.L.T, 0, plan.x0), rtol=1e-10, atol=1e-9)
    ref = testing.trade_loss(dx, np.ones_like(dx), pass_, dem, plan.Zsum, plan.Ypos, plan.A, plan.tri_of, S)
    np.testing.assert_allclose(out.trade / f[:, None, None], ref, rtol=1e-10, atol=1e-8)
    lost = (1.0 - pass_) * (plan.Zsum[plan.tri_e * S + plan.tri_s, plan.tri_m] + plan.Ypos[plan.tri_e * S + plan.tri_s, plan.tri_m])
    blocked = np.stack([lost[:, plan.tri_e == r].sum(axis=1) for r in range(R)], axis=1) / plan.exports0
    np.testing.assert_allclose(out.blocked_export_share, blocked, rtol=1e-10, atol=1e-14)
    assert plan.classes.n_classes < 200 and T > 1500


def test_leontief_matches_pymrio(default_table):
    """A fixed 20% cut of US final demand: x_new = pymrio.calc_x_from_L(L, y_new) within 1e-9."""
    pymrio = pytest.importorskip("pymrio")
    import pandas as pd

    m = default_table
    c = _compiled(m, {"p": {"shocks": {"fd": {"kind": "final_demand", "regions": ["USA"], "severity": fixed(0.2)}}}})
    _, out = _dx(m, c, "leontief", None)
    Y = m.Y.copy()
    us = m.regions.index("USA")
    Y[:, us] -= 0.2 * np.clip(Y[:, us], 0, None)
    idx = pd.MultiIndex.from_product([m.regions, m.sectors])
    L = pymrio.calc_L(pd.DataFrame(m.A, index=idx, columns=idx))
    x_new = np.asarray(pymrio.calc_x_from_L(L, Y.sum(axis=1))).ravel()
    np.testing.assert_allclose(m.x - out.dx[0], x_new, rtol=1e-9)


# --- reproducibility ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def repro_case(default_table):
    c = _compiled(default_table, {
        "a": {"correlation": 0.5, "probability": 0.7, "shocks": {
            "blk": {"kind": "trade_block", "exporters": ["TWN"], "importers": ["ALL"],
                    "severity": {"dist": "pert", "low": 0.3, "mode": 0.7, "high": 0.95}},
            "dur": {"kind": "duration", "severity": {"dist": "uniform", "low": 3, "high": 12}}}},
        "b": {"probability": 0.8, "shocks": {
            "emb": {"kind": "trade_block", "exporters": ["RUS"], "importers": ["DEU", "EUR"],
                    "sectors": ["MIN_ENERGY"], "severity": {"dist": "uniform", "low": 0.5, "high": 1.0}}}}},
        coordination=0.6, coordination_source="test")
    return c


def _fingerprint(raw):
    return (raw.gdp_loss, raw.exports_lost, raw.output_hist, raw.trade_hist, raw.output_sum, raw.trade_sum,
            raw.severity, raw.occurred, raw.converged)


def test_same_numbers_for_any_chunk_size(repro_case, default_table, critical_default):
    kw = dict(draws=8200, seed=7, critical=critical_default)  # 7777 rounds up to 7936: two chunks
    a = engine.simulate(repro_case, default_table, chunk_size=1000, **kw)
    b = engine.simulate(repro_case, default_table, chunk_size=7777, **kw)
    for x, y in zip(_fingerprint(a), _fingerprint(b)):
        np.testing.assert_array_equal(x, y)


def test_same_numbers_for_any_thread_count(repro_case, default_table, critical_default):
    import numba

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs 2 threads")
    kw = dict(draws=2000, seed=3, critical=critical_default)
    a = engine.simulate(repro_case, default_table, threads=1, **kw)
    b = engine.simulate(repro_case, default_table, threads=2, **kw)
    for x, y in zip(_fingerprint(a), _fingerprint(b)):
        np.testing.assert_array_equal(x, y)


def test_timings_hook_collects_the_phases_and_changes_no_number(repro_case, default_table, critical_default):
    """engine.timings(): per-phase seconds of the runs inside the block (the benchmarks' only view into
    the engine), the same numbers as without it, and nothing collected once the block is left."""
    import numba

    kw = dict(draws=700, seed=5, critical=critical_default)
    plain = engine.simulate(repro_case, default_table, **kw)
    with engine.timings() as t:
        timed = engine.simulate(repro_case, default_table, **kw)
    for x, y in zip(_fingerprint(plain), _fingerprint(timed)):
        np.testing.assert_array_equal(x, y)
    assert t["blocks"] == 3                                   # 700 draws: three blocks of 256
    assert set(t) == {"sampling", "propagation", "reduction", "blocks", "simulate"}   # no market channel
    assert all(t[k] > 0 for k in ("sampling", "propagation", "reduction", "simulate"))
    assert t["propagation"] > t["sampling"]                    # the constrained fixed point dominates a block
    threads = numba.get_num_threads()
    assert t["sampling"] + t["propagation"] + t["reduction"] <= threads * t["simulate"] * 1.01
    before = dict(t)
    engine.simulate(repro_case, default_table, draws=300, seed=5, critical=critical_default)
    assert t == before


@pytest.mark.parametrize("n_draws,n_market", [(256, 0), (200, 5)])
def test_sampling_draws_numpys_random_stream(repro_case, default_table, critical_default, n_draws, n_market):
    """sample_block draws its normals and uniforms in numba (kern.sample_block_draws); they must be numpy's
    numbers for the same SeedSequence, drawn for the full block in the documented order."""
    plan = engine.make_plan(repro_case, default_table, "leontief", critical_default)
    smp = engine.sample_block(plan, 11, 4, n_draws, n_market)
    rng = np.random.default_rng(np.random.SeedSequence(11, spawn_key=(4,)))
    P, K = plan.n_packages, plan.n_shocks
    Wn, Fn = rng.standard_normal((engine.BLOCK, P)), rng.standard_normal((engine.BLOCK, P))
    En, Um = rng.standard_normal((engine.BLOCK, K)), rng.random((engine.BLOCK, n_market))
    occ, sev = np.empty((n_draws, P), dtype=bool), np.empty((n_draws, K))
    kern.occurrence(Wn[:n_draws], plan.copula, plan.occ_threshold, occ)
    kern.sample_severity(Fn[:n_draws], En[:n_draws], plan.copula, plan.pkg_corr, plan.shock_pkg, plan.mitigating,
                         plan.tables, plan.sev_cap, engine.TABLE_Z, sev)
    np.testing.assert_array_equal(smp.occurred, occ)
    np.testing.assert_array_equal(smp.severity, sev)
    np.testing.assert_array_equal(smp.u_market, Um[:n_draws])
    assert 0 < occ.mean() < 1 and sev.std() > 0     # the case samples something


def test_chunks_merged_in_any_order_equal_the_serial_run(repro_case, default_table, critical_default):
    """run_chunk without shared histograms (each chunk its own set and bin ranges) and merge_chunks in
    reverse order give the serial driver's numbers; a run with a chunk missing is refused."""
    plan = engine.cached_plan(repro_case, default_table, "constrained", critical_default)
    draws, seed = 1300, 4
    names, vmat = engine.variant_matrix([p.name for p in repro_case.packages], None)
    chunks = [engine.run_chunk(plan, seed, first, 2, draws, vmat) for first in (0, 2, 4)]   # 2 blocks each
    merged = engine.merge_chunks(plan, chunks[::-1], draws, seed, names, vmat)
    serial = engine.simulate(repro_case, default_table, draws=draws, seed=seed, critical=critical_default)
    for x, y in zip(_fingerprint(merged), _fingerprint(serial)):
        np.testing.assert_array_equal(x, y)
    for got, want in zip(merged.hist_ranges, serial.hist_ranges):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(RuntimeError, match="chunks missing"):
        engine.merge_chunks(plan, chunks[:2], draws, seed, names, vmat)


def test_fewer_draws_are_a_prefix(repro_case, default_table, critical_default):
    """A run's last block solves only the constrained sub-batches that hold wanted draws (300 draws: one of
    the second block's four), and every draw still equals the same draw of a longer run."""
    a = engine.simulate(repro_case, default_table, draws=700, seed=5, critical=critical_default)
    b = engine.simulate(repro_case, default_table, draws=300, seed=5, critical=critical_default)
    for name in ("gdp_loss", "exports_lost", "iterations", "converged", "horizon_fraction"):
        np.testing.assert_array_equal(getattr(a, name)[:, :300], getattr(b, name), err_msg=name)


def test_last_block_skips_unwanted_sub_batches(repro_case, default_table, critical_default):
    plan = engine.make_plan(repro_case, default_table, "constrained", critical_default)
    smp = engine.sample_block(plan, 5, 0, engine.BLOCK)
    full = engine._propagate_raw(plan, smp.severity, smp.occurred, 1e-8, 2000)
    cut = engine._propagate_raw(plan, smp.severity, smp.occurred, 1e-8, 2000, keep=70)
    solved = 2 * engine.SUB_BATCH
    np.testing.assert_array_equal(cut[0][:, :solved], full[0][:, :solved])
    np.testing.assert_array_equal(cut[1][..., :solved], full[1][..., :solved])
    assert not cut[0][:, solved:].any() and not cut[1][..., solved:].any()
    assert (full[4][solved:] > 0).all() and not cut[4][solved:].any()   # iterations: skipped, not solved


def test_coordination_correlates_packages(default_table, critical_default):
    """Intensity correlation across packages is rho * sqrt(c_p c_q) (one-factor copula per package)."""
    def corr(rho):
        c = _compiled(default_table, {
            "a": {"correlation": 1.0, "shocks": {
                "x": {"kind": "capacity", "regions": ["TWN"], "severity": {"dist": "uniform", "low": 0, "high": 1}}}},
            "b": {"correlation": 1.0, "shocks": {
                "y": {"kind": "capacity", "regions": ["RUS"], "severity": {"dist": "uniform", "low": 0, "high": 1}}}}},
            coordination=rho, coordination_source="test")
        plan = engine.make_plan(c, default_table, "constrained", critical_default)
        s = engine.sample_block(plan, 0, 0, 256).severity
        return np.corrcoef(s[:, 0], s[:, 1])[0, 1]
    assert abs(corr(0.0)) < 0.2 and corr(0.9) > 0.75 and corr(-0.9) < -0.75


# --- properties (hypothesis) -------------------------------------------------------------------------

_settings = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(s1=st.floats(0.0, 1.0), s2=st.floats(0.0, 1.0), kind=st.sampled_from(["trade_block", "capacity", "final_demand"]),
       model=st.sampled_from([m for m in engine.MODELS if m != "dynamic"]))   # dynamic: rerouting lets others gain
def test_monotone_in_severity(s1, s2, kind, model):
    """More of one shock never lowers any industry's output loss or the world GDP loss.

    Known limit (see README, "Model"): in the constrained model, two shocks together can interact
    non-monotonically. With BBB's chip capacity cut by 90%, blocking AAA->BBB lowers BBB's demand for the
    rationed chips, AAA gets more of them and the world loss falls. That is proportional rationing at
    work (Pichler & Farmer 2022 discuss rationing schemes), not a solver error: the fixed point agrees
    with the dense transcription of the equations (test_constrained_matches_dense_reference).
    """
    lo, hi = sorted((s1, s2))
    targets = {"trade_block": {"exporters": ["AAA"], "importers": ["BBB"]},
               "capacity": {"regions": ["BBB"], "sectors": ["CHIPS"]},
               "final_demand": {"regions": ["AAA"]}}[kind]

    def loss(sev):
        c = _compiled(TOY, {"p": {"shocks": {"x": {"kind": kind, **targets, "severity": fixed(sev)}}}})
        _, out = _dx(TOY, c, model)
        return out.dx[0], out.gdp_loss[0]

    dx_lo, g_lo = loss(lo)
    dx_hi, g_hi = loss(hi)
    assert (dx_hi >= dx_lo - 1e-9 * TOY.x).all()
    assert g_hi.sum() >= g_lo.sum() - 1e-9 * TOY.v.sum()


@_settings
@given(sev=st.floats(0.0, 1.0), perm_seed=st.integers(0, 1000), model=st.sampled_from(engine.MODELS))
def test_relabelling_regions_changes_nothing(sev, perm_seed, model):
    regions = ("AAA", "BBB", "CCC")
    m = toy_mrio(5, regions=regions)
    perm = np.random.default_rng(perm_seed).permutation(3)
    S = m.n_sectors
    idx = (perm[:, None] * S + np.arange(S)[None, :]).ravel()
    mp = MRIO(name="perm", regions=tuple(regions[p] for p in perm), sectors=m.sectors, Z=m.Z[np.ix_(idx, idx)],
              Y=m.Y[idx][:, perm], x=m.x[idx], v=m.v[idx])
    pk = {"p": {"shocks": {
        "b": {"kind": "trade_block", "exporters": ["AAA"], "importers": ["BBB", "CCC"], "severity": fixed(sev)},
        "f": {"kind": "final_demand", "regions": ["CCC"], "severity": fixed(sev / 2)}}}}
    _, o1 = _dx(m, _compiled(m, pk), model)
    _, o2 = _dx(mp, _compiled(mp, pk), model)
    np.testing.assert_allclose(o1.gdp_loss[0][perm], o2.gdp_loss[0], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(o1.dx[0][idx], o2.dx[0], rtol=1e-9, atol=1e-9)


def test_small_runs_leave_the_thread_count_alone(default_table):
    """A run of one block executes in the caller's thread; numba's thread count (thread-local) must be
    what it was afterwards, or every later run in the process would be single-threaded."""
    import numba

    from shockmodel import pipeline

    before = numba.get_num_threads()
    for model in ("constrained", "leontief"):
        pipeline.run("taiwan_blockade", table=default_table, draws=100, model=model, markets=None)
        assert numba.get_num_threads() == before


def test_constrained_setup_equals_draws_first_kernels(default_table, critical_default):
    """The constrained model's draws-last static terms (one kernel per sub-batch) are the draws-first
    kernels' numbers bit for bit: same products and sums in the same order, on the library's largest
    scenario (trade, capacity, final-demand and substitution shocks)."""
    from shockmodel.kernels.structs import Horizon
    from shockmodel.scenario import load_scenario

    m = default_table
    plan = engine.make_plan(compile_scenario(load_scenario("combined_coordinated"), m), m, "constrained",
                            critical_default)
    smp = engine.sample_block(plan, 3, 0, engine.BLOCK)
    B, P, K, S, n = engine.BLOCK, plan.n_packages, plan.n_shocks, m.n_sectors, m.n
    effT, substT, f = np.empty((K, B)), np.empty((P, S, B)), np.empty(B)
    kern.block_setup(smp.severity, smp.occurred, plan.columns, Horizon(plan.horizon_months, engine.DAYS_PER_MONTH),
                     effT, substT, f)
    eff = effT.T
    pass_, dem, cap = np.empty((B, len(plan.tri_e))), np.empty((B, n)), np.empty((B, n))
    kern.build_pass(np.ascontiguousarray(eff[:, plan.trade_cols]), plan.trade_pkg, plan.trade_ptr, plan.trade_tri,
                    plan.tri_s, np.ascontiguousarray(substT.transpose(2, 0, 1)), pass_)
    kern.build_multiplier(np.ascontiguousarray(eff[:, plan.cap_cols]), plan.cap_ptr, plan.cap_cells, n, cap)
    kern.build_multiplier(np.ascontiguousarray(eff[:, plan.fd_cols]), plan.fd_ptr, plan.fd_cells, n, dem)
    dD0 = np.empty((B, n))
    kern.demand_loss_static(pass_, dem, plan.Zsum, plan.Ypos, plan.tri_ptr, plan.tri_idx, plan.tri_m, S, dD0)
    outs = [np.empty((len(plan.tri_e), B)), np.empty((n, B)), np.empty((n, B)), np.empty((n, B))]
    kern.constrained_setup(effT, substT, plan.columns, plan.cells, plan.triples, plan.baseline, *outs)
    assert (pass_ < 1).any() and (dem < 1).any() and (cap < 1).any()
    np.testing.assert_array_equal(outs[0], pass_.T)
    np.testing.assert_array_equal(outs[1], dem.T)
    np.testing.assert_array_equal(outs[2], ((1.0 - cap) * plan.x0[None, :]).T)
    np.testing.assert_array_equal(outs[3], dD0.T)
