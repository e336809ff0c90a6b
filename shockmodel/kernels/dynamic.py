"""numba kernel of the dynamic production network (L0: numpy + numba only): one sub-batch of draws
stepped through the horizon, draws-last ``(..., B)``. Equations: docs/model-dynamic.md (numbers D1-D14; the feedback to demand D16-D18).

Everything is in *deviation form* (losses from the baseline), as in kernels.propagate: an unshocked draw
gives exactly zero at every step, bit for bit. Units: flows are annual rates (USD million a year, as the
table), inventories are in days of baseline use, time in days; ``dt`` days per step (1, or 7 weekly).

Inputs are named tuples of arrays (few named inputs, no positional soup):

* ``tab`` (:class:`DynTables`, per plan): baselines, triples, critical pairs and their supplier lists,
  blocked (importer, product) pairs and their alternative origins;
* ``shk`` (:class:`DynShocks`, per sub-batch): effective severities and the package timelines;
* ``par`` (:class:`DynParams`, per sub-batch): the sampled behavioural parameters;
* ``out`` (:class:`DynOut`): time-averaged output and trade losses, the monthly GDP path, steps run.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit
from numba.extending import overload


class DynTables(NamedTuple):
    x0: np.ndarray         # (n,) baseline output
    va: np.ndarray         # (n,) value added per unit of output
    A_cols: np.ndarray     # (R, n, S): A[:, J_m], the coefficients of buyer region m's industries
    Zsum: np.ndarray       # (n, R) baseline intermediate sales of i to region m
    Ypos: np.ndarray       # (n, R) baseline final sales of i to region m (non-negative part)
    tri_e: np.ndarray      # (T,) exporter, importer, product of each blockable triple
    tri_m: np.ndarray
    tri_s: np.ndarray
    tri_of: np.ndarray     # (R, R, S) triple index or -1
    crit_ptr: np.ndarray   # (n + 1,) critical pairs q = (s, j) of each buyer j (CSR)
    crit_s: np.ndarray     # (Q,) input product s of each pair
    crit_w: np.ndarray     # (Q,) declared weight 1 (critical) or 0.5 (important); the kernel reads DynParams.crit_w
    req: np.ndarray        # (Q,) baseline use Zsec_sj (annual rate)
    src_ptr: np.ndarray    # (Q + 1,) supplying industries of each pair (CSR)
    src_i: np.ndarray
    src_z: np.ndarray      # Z_ij
    src_t: np.ndarray      # triple of the route or -1
    pr_m: np.ndarray       # (G,) blocked (importer m, product s) pairs: every (m, s) with a triple
    pr_s: np.ndarray
    pr_ptr: np.ndarray     # (G + 1,) their triples (CSR)
    pr_tri: np.ndarray
    pr_base: np.ndarray    # (G, R) baseline sales of product s from origin e to m (Zsum + Ypos), e = m included
    pair_of: np.ndarray    # (R, S) pair index or -1


class DynShocks(NamedTuple):
    trade_eff: np.ndarray  # (Kt, B) severities of the trade shocks (0 if their package is off)
    trade_pkg: np.ndarray  # (Kt,)
    trade_ptr: np.ndarray  # (Kt + 1,) triples of each trade shock (CSR)
    trade_tri: np.ndarray
    cap_eff: np.ndarray    # (Kc, B)
    cap_pkg: np.ndarray
    cap_ptr: np.ndarray
    cap_cells: np.ndarray
    fd_eff: np.ndarray     # (Kf, B)
    fd_pkg: np.ndarray
    fd_ptr: np.ndarray
    fd_cells: np.ndarray   # cells m * S + s
    timeline: np.ndarray   # (P, 4, B) start, full, end, gone (days): severity ramps up, holds, recovers


class DynParams(NamedTuple):
    n_target: np.ndarray   # (Q, B) inventory target days of each critical pair
    phi: np.ndarray        # (S, B) substitutable share of blocked orders of product s
    tau: np.ndarray        # (B,) days to close an inventory gap
    t_sub: np.ndarray      # (B,) days for rerouting to ramp up
    alpha_max: np.ndarray  # (B,) overproduction ceiling (1: none)
    tau_alpha: np.ndarray  # (B,) days for overproduction to adjust
    crit_w: np.ndarray     # (Q, B) weight of each critical pair in each draw (declared, or sampled: eq. 55)
    dt: float              # days per step
    n_steps: int
    days_per_month: float
    n_months: int


class DynFeedback(NamedTuple):
    """Feedback to final demand inside the step (D16-D18 of docs/model-dynamic.md); ``on`` False leaves every
    step exactly as without it."""

    on: bool
    mpc: np.ndarray        # (B,) consumption lost per unit of lagged value added lost (0: income channel off)
    inv_risk: np.ndarray   # (B,) share of baseline investment lost at the full world risk ramp (0: channel off)
    lag: np.ndarray        # (B,) days over which lost value added reaches households and investors
    cons_cut: np.ndarray   # (R S,) cell (r, s): household consumption share of product s / final demand of the cell
    inv_cut: np.ndarray    # (R S,) cell (r, s): baseline investment of r in product s / final demand of the cell
    gdp0: np.ndarray       # (R,) baseline value added
    world_full: float      # world value added lost (annual rate) that earns the full risk premium


class DynOut(NamedTuple):
    dx: np.ndarray         # (n, B) output lost, mean over the horizon (annual rate)
    trade: np.ndarray      # (R, R, B) trade lost, mean over the horizon (annual rate)
    gdp_path: np.ndarray   # (M, R, B) value added lost in each month, mean annual rate
    steps: np.ndarray      # (B,) steps stepped before the draw settled
    # per-step checks (tests; arrays with a first dimension of 0 switch them off)
    trace_dx: np.ndarray       # (n_steps, n, B) output lost at each step
    trace_stock: np.ndarray    # (n_steps, B) smallest inventory (days) after the step
    trace_balance: np.ndarray  # (n_steps, B) max_i |deliveries_i - production_i| / x0_i


def _orders_gemm(A_cols, dx, W, dxg, Wg):
    """W[m] = A[:, J_m] dx[J_m] for every importer m (D4): one GEMM per importer."""


@overload(_orders_gemm, jit_options={"cache": True, "nogil": True})
def _orders_gemm_impl(A_cols, dx, W, dxg, Wg):
    if A_cols.dtype == dx.dtype:
        def direct(A_cols, dx, W, dxg, Wg):    # float64: from the losses' rows straight into W[m], no copies
            R, _, S = A_cols.shape
            for m in range(R):
                np.dot(A_cols[m], dx[m * S:(m + 1) * S], W[m])
        return direct

    def cast(A_cols, dx, W, dxg, Wg):          # float32 GEMM: through buffers of the GEMM dtype
        R, n, S = A_cols.shape
        B = dx.shape[1]
        for m in range(R):
            for s in range(S):
                for b in range(B):
                    dxg[s, b] = dx[m * S + s, b]
            np.dot(A_cols[m], dxg, Wg)
            Wm = W[m]
            for i in range(n):
                for b in range(B):
                    Wm[i, b] = Wg[i, b]
    return cast


@njit(cache=True, nogil=True, inline="always")
def _timeline(tl, p, b, t):
    """Share of full severity of package p at day t: 0 before start, linear up to full, 1 until end,
    linear down to 0 at gone (D1)."""
    s0, s1, e0, e1 = tl[p, 0, b], tl[p, 1, b], tl[p, 2, b], tl[p, 3, b]
    if t < s0 or t >= e1:
        return 0.0
    if t < s1:
        return (t - s0) / (s1 - s0)
    if t < e0:
        return 1.0
    return (e1 - t) / (e1 - e0)


@njit(cache=True, nogil=True)
def _quiet(g, dx, dI, dal, clock):
    """True when every package's severity share is 0 today and every state deviation is 0."""
    for a in (g, dx, dI, dal, clock):
        for v in a.ravel():
            if v != 0.0:
                return False
    return True


@njit(cache=True, nogil=True)
def _demand_feedback(fb, ybar, dem, S):
    """D17-D18: households cut consumption by ``c ybar_r`` and investors cut investment by the risk ramp of the
    world's lagged value added lost; both as cuts of the cells' final-demand multipliers."""
    R, B = ybar.shape
    for b in range(B):
        yw = 0.0
        for r in range(R):
            yw += ybar[r, b]
        h = min(1.0, max(yw, 0.0) / fb.world_full) if fb.world_full > 0.0 else 0.0
        ri = fb.inv_risk[b] * h
        for r in range(R):
            a = fb.mpc[b] * ybar[r, b]
            for s in range(S):
                c = r * S + s
                dem[c, b] = max(0.0, dem[c, b] - a * fb.cons_cut[c] - ri * fb.inv_cut[c])


@njit(cache=True, nogil=True)
def _lag_income(fb, va, dx, ybar, dt):
    """D16: ``ybar_r`` moves toward today's value added lost ``sum_{j in r} v_j dx_j`` over ``lag`` days."""
    R, B = ybar.shape
    S = dx.shape[0] // R
    for b in range(B):
        w = min(1.0, dt / fb.lag[b]) if fb.lag[b] > 0.0 else 1.0
        for r in range(R):
            g = 0.0
            for j in range(r * S, (r + 1) * S):
                g += va[j] * dx[j, b]
            ybar[r, b] += w * (g - ybar[r, b])


@njit(cache=True, nogil=True)
def _all_zero(a):
    for v in a.ravel():
        if v != 0.0:
            return False
    return True


@njit(cache=True, nogil=True)
def dynamic_sub_batch(tab, shk, par, out, fb):
    """Step every draw of the sub-batch through the horizon (D1-D14 of docs/model-dynamic.md; the feedback to
    demand D16-D18 when ``fb.on``)."""
    n = tab.x0.shape[0]
    R, _, S = tab.A_cols.shape
    T = tab.tri_e.shape[0]
    Q = tab.req.shape[0]
    G = tab.pr_m.shape[0]
    B = shk.timeline.shape[2]
    P = shk.timeline.shape[0]
    dt = par.dt
    # state (deviations)
    dx = np.zeros((n, B))          # output lost yesterday (annual rate)
    dI = np.zeros((Q, B))          # inventory gap, days (target - stock)
    dal = np.zeros((n, B))         # overproduction above 1
    clock = np.zeros((G, B))       # days since each (importer, product) pair was first blocked
    ybar = np.zeros((R, B))        # lagged value added lost by region (D16; stays 0 without feedback)
    # per step
    g = np.zeros((P, B))
    passT = np.ones((T, B))
    capm = np.ones((n, B))
    dem = np.ones((R * S, B))
    W = np.zeros((R, n, B))        # order deficit of importer m towards i: sum_{j in m} Z_ij do_sj
    Wg = np.zeros((n, B), dtype=tab.A_cols.dtype)
    dxg = np.zeros((S, B), dtype=tab.A_cols.dtype)
    do = np.zeros((Q, B))
    dr = np.zeros((n, B))          # dx_j / x0_j: yesterday's output lost, share of baseline
    dq = np.zeros((Q, B))          # do_q - dr_j: the pair's term of the order deficit (D4)
    dD = np.zeros((n, B))
    drho = np.zeros((n, B))
    bk = np.zeros((G, B))          # blocked orders of each pair
    omega_den = np.zeros((G, B))
    rr = np.zeros((G, R, B))       # rerouted orders of pair g to origin e
    rhobar = np.zeros((G, B))
    cg = np.zeros(B)               # rerouted orders of a pair per unit of baseline share
    phit = np.zeros((G, B))        # substitutable share of each pair's blocked orders today
    dcrit = np.zeros((n, B))
    newdx = np.zeros((n, B))
    active = np.ones(B, dtype=np.bool_)
    deliv = np.zeros(B)
    inner = np.zeros(B)
    cvec = np.zeros(B)
    cbvec = np.zeros(B)
    out.dx[:, :] = 0.0
    out.trade[:, :, :] = 0.0
    out.gdp_path[:, :, :] = 0.0
    out.steps[:] = 0
    # a settled draw stays at the baseline for the remaining steps
    out.trace_dx[:, :, :] = 0.0
    out.trace_balance[:, :] = 0.0
    for b in range(B):
        smin = np.inf
        for q in range(Q):
            smin = min(smin, par.n_target[q, b])
        out.trace_stock[:, b] = smin
    gone = np.zeros(B)
    for b in range(B):
        for p in range(P):
            gone[b] = max(gone[b], shk.timeline[p, 3, b])
    w_step = 1.0 / par.n_steps           # weight of one step in the horizon mean
    month_days = np.zeros(par.n_months)
    for step in range(par.n_steps):
        month_days[min(int(step * dt / par.days_per_month), par.n_months - 1)] += dt
    tracing = out.trace_dx.shape[0] == par.n_steps
    for step in range(par.n_steps):
        t = step * dt
        month = min(int(t / par.days_per_month), par.n_months - 1)
        any_active = False
        for b in range(B):
            if active[b]:
                any_active = True
        if not any_active:
            break
        # D1: timelines and the shocks of the day
        for p in range(P):
            for b in range(B):
                g[p, b] = _timeline(shk.timeline, p, b, t)
        if not tracing and _quiet(g, dx, dI, dal, clock) and _all_zero(ybar):
            # no package under way and no deviation left: the step leaves every output and state as it is
            # (deviation form: exact zeros stay exact zeros), so only the bookkeeping of the settle check runs
            for b in range(B):
                if active[b]:
                    out.steps[b] = step + 1
                    if t + dt > gone[b]:
                        active[b] = False
            continue
        passT[:, :] = 1.0
        for k in range(shk.trade_eff.shape[0]):
            p = shk.trade_pkg[k]
            for q in range(shk.trade_ptr[k], shk.trade_ptr[k + 1]):
                tt = shk.trade_tri[q]
                for b in range(B):
                    passT[tt, b] *= 1.0 - shk.trade_eff[k, b] * g[p, b]
        capm[:, :] = 1.0
        for k in range(shk.cap_eff.shape[0]):
            p = shk.cap_pkg[k]
            for q in range(shk.cap_ptr[k], shk.cap_ptr[k + 1]):
                c = shk.cap_cells[q]
                for b in range(B):
                    capm[c, b] *= 1.0 - shk.cap_eff[k, b] * g[p, b]
        dem[:, :] = 1.0
        for k in range(shk.fd_eff.shape[0]):
            p = shk.fd_pkg[k]
            for q in range(shk.fd_ptr[k], shk.fd_ptr[k + 1]):
                c = shk.fd_cells[q]
                for b in range(B):
                    dem[c, b] *= 1.0 - shk.fd_eff[k, b] * g[p, b]
        if fb.on:
            _demand_feedback(fb, ybar, dem, S)
        # D6: the rerouting ramp of each (importer, product) pair, from the first day one of its routes is blocked
        for gq in range(G):
            s = tab.pr_s[gq]
            for b in range(B):
                blocked = False
                for q in range(tab.pr_ptr[gq], tab.pr_ptr[gq + 1]):
                    if passT[tab.pr_tri[q], b] < 1.0:
                        blocked = True
                        break
                if blocked or clock[gq, b] > 0.0:
                    clock[gq, b] += dt
                c = clock[gq, b]
                r = min(1.0, c / par.t_sub[b]) if par.t_sub[b] > 0.0 else (1.0 if c > 0.0 else 0.0)
                phit[gq, b] = par.phi[s, b] * r
        # D3: orders of critical pairs: replace yesterday's use plus close the inventory gap over tau days
        for j in range(n):
            xj = tab.x0[j]
            for b in range(B):
                dr[j, b] = dx[j, b] / xj if xj > 0.0 else 0.0
            for q in range(tab.crit_ptr[j], tab.crit_ptr[j + 1]):
                for b in range(B):
                    do[q, b] = min(dr[j, b] - dI[q, b] / par.tau[b], 1.0)
                    dq[q, b] = do[q, b] - dr[j, b]
        # D4: orders lost towards every supplier, per importer (one GEMM each), plus the pairs' corrections
        _orders_gemm(tab.A_cols, dx, W, dxg, Wg)
        for j in range(n):
            m = j // S
            for q in range(tab.crit_ptr[j], tab.crit_ptr[j + 1]):
                d = dq[q]
                for q2 in range(tab.src_ptr[q], tab.src_ptr[q + 1]):
                    z = tab.src_z[q2]
                    w = W[m, tab.src_i[q2]]
                    for b in range(B):
                        w[b] += z * d[b]
        # D5: blocked orders per (importer, product) pair, rerouted to the other origins (D6)
        for gq in range(G):
            m = tab.pr_m[gq]
            s = tab.pr_s[gq]
            for b in range(B):
                bk[gq, b] = 0.0
                omega_den[gq, b] = 0.0
            for q in range(tab.pr_ptr[gq], tab.pr_ptr[gq + 1]):
                tt = tab.pr_tri[q]
                i = tab.tri_e[tt] * S + s
                for b in range(B):
                    bk[gq, b] += (1.0 - passT[tt, b]) * (tab.Zsum[i, m] - W[m, i, b] + tab.Ypos[i, m] * dem[m * S + s, b])
            for e in range(R):
                tt = tab.tri_of[e, m, s]
                base = tab.pr_base[gq, e]
                if tt < 0:
                    for b in range(B):
                        omega_den[gq, b] += base
                else:
                    for b in range(B):
                        omega_den[gq, b] += base * passT[tt, b]
            for b in range(B):          # 1 / sum_e' base pass (0 if nothing passes), then the shares
                den = omega_den[gq, b]
                omega_den[gq, b] = 1.0 / den if den > 0.0 else 0.0
                cg[b] = phit[gq, b] * bk[gq, b] * omega_den[gq, b]
            for e in range(R):
                tt = tab.tri_of[e, m, s]
                base = tab.pr_base[gq, e]
                r = rr[gq, e]
                if tt < 0:      # a route no shock can block: pe = 1
                    for b in range(B):
                        r[b] = cg[b] * base
                else:
                    pt = passT[tt]
                    for b in range(B):
                        r[b] = cg[b] * base * pt[b]
        # D7: demand lost by every supplier
        for i in range(n):
            e = i // S
            s = i % S
            for b in range(B):
                dD[i, b] = 0.0
            for m in range(R):
                tt = tab.tri_of[e, m, s] if m != e else -1
                z = tab.Zsum[i, m]
                y = tab.Ypos[i, m]
                ms = m * S + s
                Wm = W[m, i]
                if tt < 0:
                    for b in range(B):
                        dD[i, b] += Wm[b] + y * (1.0 - dem[ms, b])
                else:
                    for b in range(B):
                        pb = passT[tt, b]
                        dD[i, b] += z + y - pb * (z - Wm[b] + y * dem[ms, b])
                gq = tab.pair_of[m, s]
                if gq >= 0:
                    for b in range(B):
                        dD[i, b] -= rr[gq, e, b]
        # D8: critical-input bound from the stock at the start of the day
        for j in range(n):
            xj = tab.x0[j]
            for b in range(B):
                dcrit[j, b] = -np.inf      # no critical input: no bound
            for q in range(tab.crit_ptr[j], tab.crit_ptr[j + 1]):
                for b in range(B):
                    # output x_j <= x0_j (1 - w + w stock / (one day of use)): Pichler's S / A for w = 1;
                    # a pair drawn non-critical (w = 0) sets no bound
                    wq = par.crit_w[q, b]
                    if wq > 0.0:
                        stock = (par.n_target[q, b] - dI[q, b]) / dt
                        dcrit[j, b] = max(dcrit[j, b], xj * wq * (1.0 - stock))
        # D9: production = min(capacity x overproduction, critical inputs, demand); D10: rationing
        for i in range(n):
            xi = tab.x0[i]
            for b in range(B):
                if not active[b]:
                    newdx[i, b] = 0.0
                    drho[i, b] = 0.0
                    continue
                dcap = xi * (1.0 - capm[i, b] * (1.0 + dal[i, b]))
                v = min(max(dcap, dcrit[i, b], dD[i, b]), xi)
                newdx[i, b] = v
                den = xi - dD[i, b]
                drho[i, b] = (v - dD[i, b]) / den if v > dD[i, b] and den > 0.0 else 0.0
                # D11: overproduction moves toward its ceiling while demand exceeds capacity (ARIO)
                if dD[i, b] < dcap:
                    dal[i, b] += (par.alpha_max[b] - 1.0 - dal[i, b]) * min(1.0, dt / par.tau_alpha[b])
                else:
                    dal[i, b] -= dal[i, b] * min(1.0, dt / par.tau_alpha[b])
        # rerouted orders are filled at the alternative origins' rationing rate
        for gq in range(G):
            s = tab.pr_s[gq]
            m = tab.pr_m[gq]
            for b in range(B):
                rhobar[gq, b] = 0.0
            for e in range(R):
                tt = tab.tri_of[e, m, s]
                base = tab.pr_base[gq, e]
                i = e * S + s
                if tt < 0:      # omega_den holds 1 / the shares' denominator (D5), 0 if nothing passes
                    for b in range(B):
                        rhobar[gq, b] += base * omega_den[gq, b] * (1.0 - drho[i, b])
                else:
                    for b in range(B):
                        rhobar[gq, b] += base * passT[tt, b] * omega_den[gq, b] * (1.0 - drho[i, b])
        # D12-D13: arrivals, use and inventories of the critical pairs
        for j in range(n):
            m = j // S
            xj = tab.x0[j]
            for q in range(tab.crit_ptr[j], tab.crit_ptr[j + 1]):
                rq = tab.req[q]
                cvec[:] = 0.0
                cbvec[:] = 0.0
                for q2 in range(tab.src_ptr[q], tab.src_ptr[q + 1]):   # draws innermost: contiguous
                    i = tab.src_i[q2]
                    z = tab.src_z[q2]
                    tt = tab.src_t[q2]
                    if tt < 0:
                        for b in range(B):      # a route no shock can block
                            cvec[b] += z * drho[i, b]
                    else:
                        for b in range(B):
                            blk = 1.0 - passT[tt, b]
                            cvec[b] += z * (drho[i, b] + blk * (1.0 - drho[i, b]))
                            cbvec[b] += z * blk
                gq = tab.pair_of[m, tab.crit_s[q]]
                for b in range(B):
                    c = cvec[b]
                    cb = cbvec[b]
                    if gq >= 0 and cb > 0.0:
                        c -= phit[gq, b] * rhobar[gq, b] * cb
                    c = c / rq
                    da = do[q, b] + c - do[q, b] * c
                    drj = newdx[j, b] / xj if xj > 0.0 else 0.0
                    stock = (par.n_target[q, b] - dI[q, b]) / dt
                    du = max(drj, 1.0 - stock)
                    v = dI[q, b] + dt * (da - du)
                    dI[q, b] = min(v, par.n_target[q, b])     # stock never below zero
        # D14: accumulate the horizon means, the trade lost and the monthly GDP path
        if tracing:
            for b in range(B):
                smin = np.inf
                for q in range(Q):
                    smin = min(smin, par.n_target[q, b] - dI[q, b])
                out.trace_stock[step, b] = smin
                out.trace_balance[step, b] = 0.0
        for i in range(n):
            e = i // S
            s = i % S
            vai = tab.va[i]
            for b in range(B):
                dx[i, b] = newdx[i, b]
                out.dx[i, b] += w_step * newdx[i, b]
                out.gdp_path[month, e, b] += vai * newdx[i, b] * dt
            for m in range(R):
                tt = tab.tri_of[e, m, s] if m != e else -1
                z = tab.Zsum[i, m]
                y = tab.Ypos[i, m]
                ms = m * S + s
                Wm = W[m, i]
                gq = tab.pair_of[m, s]
                # branch-free loops over draws: the route's case is fixed for the row
                if tt < 0:
                    for b in range(B):
                        inner[b] = z - Wm[b] + y * dem[ms, b]
                else:
                    for b in range(B):
                        inner[b] = passT[tt, b] * (z - Wm[b] + y * dem[ms, b])
                if gq >= 0:
                    for b in range(B):
                        inner[b] += rr[gq, e, b]
                trade_em = out.trade[e, m]
                zy = z + y
                for b in range(B):
                    trade_em[b] += w_step * (zy - (1.0 - drho[i, b]) * inner[b])
                if tracing:
                    for b in range(B):
                        deliv[b] += (1.0 - drho[i, b]) * inner[b]
            if tracing:
                for b in range(B):
                    out.trace_dx[step, i, b] = dx[i, b]
                    bal = abs((tab.x0[i] - dx[i, b]) - deliv[b]) / max(tab.x0[i], 1e-300)
                    out.trace_balance[step, b] = max(out.trace_balance[step, b], bal)
                    deliv[b] = 0.0
        if fb.on:
            _lag_income(fb, tab.va, dx, ybar, dt)
        # settled: every package over and no deviation left
        for b in range(B):
            if active[b]:
                out.steps[b] = step + 1
                if t + dt > gone[b]:
                    dev = 0.0
                    for i in range(n):
                        dev = max(dev, abs(dx[i, b]) / max(tab.x0[i], 1e-300), abs(dal[i, b]))
                    for q in range(Q):
                        dev = max(dev, abs(dI[q, b]))
                    for r in range(R):
                        dev = max(dev, abs(ybar[r, b]) / max(fb.gdp0[r], 1e-300) if fb.on else 0.0)
                    if dev < 1e-10:
                        active[b] = False
                        for i in range(n):
                            dx[i, b] = 0.0
                            dal[i, b] = 0.0
                        for q in range(Q):
                            dI[q, b] = 0.0
                        for r in range(R):
                            ybar[r, b] = 0.0
    # months: mean annual rate over the days of each month (a step counts in the month it starts in)
    for mo in range(par.n_months):
        span = month_days[mo]
        for r in range(R):
            for b in range(B):
                out.gdp_path[mo, r, b] = out.gdp_path[mo, r, b] / span if span > 0 else 0.0
