"""The numba kernels (shockmodel/kernels/propagate.py), one row of a table per kernel: each must equal its
pure-Python original (``.py_func``, the same code without compilation) and the plain-numpy reference
implementation of its equation in shockmodel.testing (docs/model.md), on a real block of the default
table. The rows share one block's inputs, built by the references, so a row fails on its own kernel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest

from shockmodel import engine, testing
from shockmodel.kernels import propagate as kern
from shockmodel.scenario import compile_scenario, scenario_from_dict
from shockmodel.testing import fixed, scenario_dict

B = 8
TOL = 1e-9   # the output phase's "moved" threshold (relative to x0)


@dataclass
class Block:
    """One block's inputs and the references' intermediate results."""

    mrio: object
    plan: engine.Plan
    crit: np.ndarray
    eff_trade: np.ndarray    # (B, K_trade)
    eff_cap: np.ndarray      # (B, K_cap)
    eff_fd: np.ndarray       # (B, K_fd)
    subst: np.ndarray        # (B, P, S)
    pass_: np.ndarray        # (B, T)
    dem: np.ndarray          # (B, R*S)
    dD0: np.ndarray          # (B, n)
    dxT: np.ndarray          # (n, B) an output loss to evaluate the map at
    dDu: np.ndarray          # (n, B) demand lost before the rounding guard
    rho: np.ndarray          # (n, B)
    dD: np.ndarray           # (n, B)
    W: np.ndarray            # (R, n, B) buyers' lost orders per buyer region

    @property
    def passT(self):
        return np.ascontiguousarray(self.pass_.T)

    @property
    def dD0T(self):
        return np.ascontiguousarray(self.dD0.T)


@pytest.fixture(scope="module")
def blk(default_table, critical_default) -> Block:
    m = default_table
    c = compile_scenario(scenario_from_dict(scenario_dict({"p": {"shocks": {
        "blk": {"kind": "trade_block", "exporters": ["TWN"], "importers": ["ALL"],
                "severity": {"dist": "uniform", "low": 0.3, "high": 0.9}},
        "sub": {"kind": "substitution", "sectors": ["SEMICONDUCTORS"], "severity": fixed(0.2)},
        "cap": {"kind": "capacity", "regions": ["KOR"], "severity": fixed(0.1)},
        "fd": {"kind": "final_demand", "regions": ["USA"], "severity": {"dist": "uniform", "low": 0.0, "high": 0.3}}}}})),
        m)
    plan = engine.make_plan(c, m, "constrained", critical_default)
    smp = engine.sample_block(plan, 1, 0, B)
    R, S, n, T = m.n_regions, m.n_sectors, m.n, len(plan.tri_e)
    eff = smp.severity * smp.occurred[:, plan.shock_pkg]
    subst = np.zeros((B, 1, S))
    subst[:, 0, m.sectors.index("SEMICONDUCTORS")] = 0.2
    eff_trade = np.ascontiguousarray(eff[:, plan.trade_cols])
    eff_fd = np.ascontiguousarray(eff[:, plan.fd_cols])
    pass_ = testing.pass_shares(eff_trade, plan.trade_pkg, plan.trade_ptr, plan.trade_tri, plan.tri_s, subst, T)
    dem = testing.remaining_shares(eff_fd, plan.fd_ptr, plan.fd_cells, R * S)
    dD0 = testing.static_demand_lost(pass_, dem, plan.Zsum, plan.Ypos, plan.tri_of, S)
    dxT = np.ascontiguousarray((np.random.default_rng(0).random((B, n)) * plan.x0 * 0.1).T)
    dDu = testing.demand_lost(np.ascontiguousarray(dD0.T), dxT, np.ascontiguousarray(pass_.T), plan.A, plan.tri_of, S)
    rho, dD = testing.demand_and_rationing(dDu, dxT, plan.x0)
    W = np.stack([plan.A_cols[r] @ dxT[r * S:(r + 1) * S] for r in range(R)])
    assert (pass_ < 1).any() and (dem < 1).any() and (rho < 1).any()   # every term of the block is exercised
    return Block(m, plan, critical_default, eff_trade, np.ascontiguousarray(eff[:, plan.cap_cols]), eff_fd, subst,
                 pass_, dem, dD0, dxT, dDu, rho, dD, W)


@dataclass(frozen=True)
class Row:
    """A kernel, how to call it (or its ``py_func``) on a block, its reference, and the tolerances."""

    kernel: Callable
    run: Callable             # run(fn, blk) -> tuple of arrays
    reference: Callable       # reference(blk) -> tuple of arrays (None: compared with py_func only)
    py_rtol: float = 1e-12    # kernel against py_func (0: bit for bit)
    rtol: float = 1e-12       # kernel against the reference
    atol: float = 1e-9


def _build_pass(fn, b):
    p = b.plan
    out = np.empty((B, len(p.tri_e)))
    fn(b.eff_trade, p.trade_pkg, p.trade_ptr, p.trade_tri, p.tri_s, b.subst, out)
    return (out,)


def _build_multiplier(fn, b):
    p = b.plan
    out = np.empty((B, b.mrio.n))
    fn(b.eff_cap, p.cap_ptr, p.cap_cells, b.mrio.n, out)
    return (out,)


def _demand_loss_static(fn, b):
    p = b.plan
    out = np.empty((B, b.mrio.n))
    fn(b.pass_, b.dem, p.Zsum, p.Ypos, p.tri_ptr, p.tri_idx, p.tri_m, b.mrio.n_sectors, out)
    return (out,)


def _supplier_of_triples(fn, b):
    return (fn(b.plan.tri_ptr, b.plan.tri_idx),)


def _demand_lost(fn, b):
    p = b.plan
    out = np.empty((b.mrio.n, B))
    fn(p.A @ b.dxT, p.tri_A, p.tri_A_ptr, kern.supplier_of_triples(p.tri_ptr, p.tri_idx), b.passT, b.dxT, b.dD0T,
       b.mrio.n_sectors, out)
    return (out,)


COLS = np.array([1, 4, 6])


def _demand_lost_gathered(fn, b):
    """The solver's tail: the same for a few gathered columns; the other columns are not written."""
    p = b.plan
    out = np.full((b.mrio.n, B), np.nan)
    xc = np.ascontiguousarray(b.dxT[:, COLS])
    fn(np.ascontiguousarray((p.A @ b.dxT)[:, COLS]), p.tri_A, p.tri_A_ptr,
       kern.supplier_of_triples(p.tri_ptr, p.tri_idx), b.passT, xc, b.dD0T, b.mrio.n_sectors, out, COLS)
    return (out,)


def _demand_lost_gathered_reference(b):
    ref = np.full((b.mrio.n, B), np.nan)   # NaN where nothing may be written (assert_allclose: NaN == NaN)
    ref[:, COLS] = b.dDu[:, COLS]
    return (ref,)


def _demand_and_rationing(fn, b):
    rho, dD = np.empty((b.mrio.n, B)), np.empty((b.mrio.n, B))
    fn(b.dDu, b.dxT, b.plan.x0, rho, dD)
    return rho, dD


def _constrained_output(fn, b):
    p = b.plan
    n = b.mrio.n
    new, moved = np.empty((n, B)), np.empty((n, B), dtype=bool)
    crit = p.critical_inputs._replace(crit_w=np.repeat(p.crit_w[:, None], B, axis=1))   # (Q, B): every draw central
    fn(b.dxT, b.rho, b.dD, b.passT, np.zeros((n, B)), p.x0, crit, np.ones(B, dtype=bool), TOL, new, moved)
    return new, moved


def _constrained_output_reference(b):
    new = testing.constrained_output(b.dD, b.rho, b.passT, np.zeros((b.mrio.n, B)), b.mrio, b.crit, b.plan.tri_of)
    return new, np.abs(new - b.dxT) > TOL * b.plan.x0[:, None]


def _trade_from_W(fn, b):
    p = b.plan
    R = b.mrio.n_regions
    out = np.empty((R, R, B))
    fn(b.W, b.rho, b.passT, np.ascontiguousarray(b.dem.T), p.Zsum, p.Ypos, p.tri_of, b.mrio.n_sectors, out)
    return (out,)


def _trade_reference(b):
    p = b.plan
    ref = testing.trade_loss(np.ascontiguousarray(b.dxT.T), np.ascontiguousarray(b.rho.T), b.pass_, b.dem, p.Zsum,
                             p.Ypos, p.A, p.tri_of, b.mrio.n_sectors)
    return (np.ascontiguousarray(ref.transpose(1, 2, 0)),)


ROWS = {
    "build_pass": Row(kern.build_pass, _build_pass, lambda b: (b.pass_,), py_rtol=0.0, rtol=1e-14, atol=0.0),
    "build_multiplier": Row(kern.build_multiplier, _build_multiplier,
                            lambda b: (testing.remaining_shares(b.eff_cap, b.plan.cap_ptr, b.plan.cap_cells, b.mrio.n),),
                            py_rtol=0.0, rtol=1e-15, atol=0.0),
    "demand_loss_static": Row(kern.demand_loss_static, _demand_loss_static, lambda b: (b.dD0,), py_rtol=1e-13),
    "supplier_of_triples": Row(kern.supplier_of_triples, _supplier_of_triples,
                               lambda b: (b.plan.tri_e * b.mrio.n_sectors + b.plan.tri_s,), py_rtol=0.0, atol=0.0),
    "demand_lost": Row(kern.demand_lost, _demand_lost, lambda b: (b.dDu,)),
    "demand_lost, gathered columns": Row(kern.demand_lost, _demand_lost_gathered, _demand_lost_gathered_reference),
    "demand_and_rationing": Row(kern.demand_and_rationing, _demand_and_rationing,
                                lambda b: testing.demand_and_rationing(b.dDu, b.dxT, b.plan.x0)),
    "constrained_output": Row(kern.constrained_output, _constrained_output, _constrained_output_reference),
    "trade_from_W": Row(kern.trade_from_W, _trade_from_W, _trade_reference),
}


@pytest.mark.parametrize("name", list(ROWS))
def test_kernel_matches_py_func_and_reference(name, blk):
    row = ROWS[name]
    got = row.run(row.kernel, blk)
    py = row.run(row.kernel.py_func, blk)
    ref = row.reference(blk)
    assert len(got) == len(py) == len(ref)
    for k, (g, p, r) in enumerate(zip(got, py, ref)):
        assert g.shape == p.shape == r.shape, (name, k)
        if row.py_rtol == 0.0 or g.dtype == bool or g.dtype.kind == "i":
            np.testing.assert_array_equal(g, p, err_msg=f"{name}[{k}]: kernel vs py_func")
        else:
            np.testing.assert_allclose(g, p, rtol=row.py_rtol, err_msg=f"{name}[{k}]: kernel vs py_func")
        if g.dtype == bool or g.dtype.kind == "i":
            np.testing.assert_array_equal(g, r, err_msg=f"{name}[{k}]: kernel vs reference")
        else:
            np.testing.assert_allclose(g, r, rtol=row.rtol, atol=row.atol, err_msg=f"{name}[{k}]: kernel vs reference")


def test_references_agree_with_the_dense_constrained_model():
    """The per-phase references iterated (eq. 17-19) land on testing.dense_constrained (eq. 12-16, levels):
    the references are two independent transcriptions of one model."""
    mrio = testing.toy_mrio(0)
    crit = np.zeros((3, 3))
    crit[1, :] = 1.0     # CHIPS critical for every sector
    crit[0, 1] = 0.5     # ENERGY half-critical for CHIPS
    c = compile_scenario(scenario_from_dict(scenario_dict({"p": {"shocks": {
        "blk": {"kind": "trade_block", "exporters": ["AAA"], "importers": ["BBB"], "sectors": ["CHIPS"],
                "severity": fixed(0.7)}}}})), mrio)
    plan = engine.make_plan(c, mrio, "constrained", crit)
    S = mrio.n_sectors
    blocked = np.zeros((2, 2, 3))
    blocked[0, 1, 1] = 0.7
    cap_loss = np.zeros(mrio.n)
    cap_loss[mrio.index("BBB", "ENERGY")] = 0.2
    pass_ = testing.pass_shares(np.full((1, 1), 0.7), plan.trade_pkg, plan.trade_ptr, plan.trade_tri, plan.tri_s,
                                np.zeros((1, 1, S)), len(plan.tri_e))
    dem = np.ones((1, mrio.n))
    dD0T = np.ascontiguousarray(testing.static_demand_lost(pass_, dem, plan.Zsum, plan.Ypos, plan.tri_of, S).T)
    dcap = (cap_loss * mrio.x)[:, None]
    dx = np.zeros((mrio.n, 1))
    for _ in range(10_000):
        dDu = testing.demand_lost(dD0T, dx, np.ascontiguousarray(pass_.T), plan.A, plan.tri_of, S)
        rho, dD = testing.demand_and_rationing(dDu, dx, mrio.x)
        new = testing.constrained_output(dD, rho, np.ascontiguousarray(pass_.T), dcap, mrio, crit, plan.tri_of)
        if np.abs(new - dx).max() <= 1e-13 * mrio.x.max():
            break
        dx = new
    x_ref = testing.dense_constrained(mrio, blocked, cap_loss, crit)
    np.testing.assert_allclose(mrio.x - new[:, 0], x_ref, rtol=1e-9)
    assert new.sum() > 0
