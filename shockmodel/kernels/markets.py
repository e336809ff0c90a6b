"""numba kernels of the market channel (shockmodel.markets): the sparse per-draw products of M1-M2.

Each product over shocks ``prod_k (1 - eff_k)`` is taken directly (no log/exp), target by target, from
CSR lists built once per scenario (``markets.compile_scenario_markets``). Results depend only on the draw.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit


class CellStructure(NamedTuple):
    """CSR lists of one scenario (see markets.ScenarioMarkets)."""

    shock_pkg: np.ndarray   # (K,) package of every shock
    ps_ptr: np.ndarray      # (n_ps + 1,) substitution shocks of each (package, sector) pair
    ps_col: np.ndarray
    fc_ptr: np.ndarray      # (n_flow_classes + 1,) terms of each commodity flow class
    term_k: np.ndarray      # shock column of the term
    term_ps: np.ndarray     # its (package, sector) pair
    blk_ptr: np.ndarray     # (n_flow_classes + 1,) cells the class delivers into
    blk_cell: np.ndarray
    blk_val: np.ndarray     # baseline deliveries
    cut_ptr: np.ndarray     # (cells + 1,) flow classes of the cell's suppliers
    cut_fc: np.ndarray
    cut_val: np.ndarray     # (cells,) the cell's imports where it has suppliers, else 0
    cap_ptr: np.ndarray     # (n_cap_targets + 1,) capacity shocks of each commodity industry hit
    cap_col: np.ndarray
    capd_ptr: np.ndarray    # (n_cap_targets + 1,) cells the industry delivers into
    capd_cell: np.ndarray
    capd_val: np.ndarray
    fdo_ptr: np.ndarray     # (cells + 1,) final-demand shocks on the (buyer, commodity) cell
    fdo_col: np.ndarray
    y_own: np.ndarray       # (cells,) final demand of the cell
    cfd_ptr: np.ndarray     # (n_classes + 1,) final-demand shocks of each engine pass class
    cfd_col: np.ndarray


@njit(cache=True, nogil=True)
def supply_and_demand_cells(sevT, onT, uT, st, WT, ownT, cutT, wT):
    """Per draw b (the last axis of every array, so that the loops over draws vectorise): ``WT[:, b]``
    supply withdrawn at source before the horizon fraction (capacity lost plus blocked imports not
    rerouted), ``ownT[:, b]`` the cells' own final demand lost, ``cutT[:, b]`` the imports of blockaded
    buyers and ``wT[:, b]`` the final demand lost by each engine pass class (M1, M2).
    sevT (K, B); onT (P, B) bool; uT (n_classes, B); WT, ownT, cutT (cells, B); wT (n_classes, B).
    Each product over shocks is taken in the order of its list, draw by draw."""
    B = sevT.shape[1]
    n_ps = st.ps_ptr.shape[0] - 1
    n_fc = st.fc_ptr.shape[0] - 1
    cells = st.cut_val.shape[0]
    keep_ps = np.empty((n_ps, B))
    u_fc = np.empty((n_fc, B))
    p = np.empty(B)
    for q in range(n_ps):
        _product(sevT, onT, st.shock_pkg, st.ps_col, st.ps_ptr[q], st.ps_ptr[q + 1], keep_ps[q])
    WT[:, :] = 0.0
    for g in range(n_fc):
        p[:] = 1.0
        for t in range(st.fc_ptr[g], st.fc_ptr[g + 1]):
            k = st.term_k[t]
            pk = st.shock_pkg[k]
            ps = st.term_ps[t]
            for b in range(B):
                if onT[pk, b]:
                    p[b] *= 1.0 - sevT[k, b] * keep_ps[ps, b]
        for b in range(B):
            u_fc[g, b] = 1.0 - p[b]
        for t in range(st.blk_ptr[g], st.blk_ptr[g + 1]):
            c, v = st.blk_cell[t], st.blk_val[t]
            for b in range(B):
                WT[c, b] += u_fc[g, b] * v
    for i in range(st.cap_ptr.shape[0] - 1):
        _product(sevT, onT, st.shock_pkg, st.cap_col, st.cap_ptr[i], st.cap_ptr[i + 1], p)
        for t in range(st.capd_ptr[i], st.capd_ptr[i + 1]):
            c, v = st.capd_cell[t], st.capd_val[t]
            for b in range(B):
                WT[c, b] += (1.0 - p[b]) * v
    for c in range(cells):
        _product(sevT, onT, st.shock_pkg, st.fdo_col, st.fdo_ptr[c], st.fdo_ptr[c + 1], p)
        y = st.y_own[c]
        for b in range(B):
            ownT[c, b] = (1.0 - p[b]) * y
        if st.cut_val[c] > 0.0:
            p[:] = 1.0
            for t in range(st.cut_ptr[c], st.cut_ptr[c + 1]):
                g = st.cut_fc[t]
                for b in range(B):
                    p[b] = min(p[b], u_fc[g, b])
            for b in range(B):
                cutT[c, b] = p[b] * st.cut_val[c]
        else:
            cutT[c, :] = 0.0
    for c in range(uT.shape[0]):
        _product(sevT, onT, st.shock_pkg, st.cfd_col, st.cfd_ptr[c], st.cfd_ptr[c + 1], p)
        for b in range(B):
            wT[c, b] = 1.0 - (1.0 - uT[c, b]) * p[b]


@njit(cache=True, nogil=True, inline="always")
def _product(sevT, onT, shock_pkg, col, start, stop, out):
    """``out[b] = prod_t (1 - sev[b, col_t])`` over the shocks ``col[start:stop]`` whose package is on."""
    out[:] = 1.0
    for t in range(start, stop):
        k = col[t]
        pk = shock_pkg[k]
        for b in range(out.shape[0]):
            if onT[pk, b]:
                out[b] *= 1.0 - sevT[k, b]


# ------------------------------------------------------------------------------------------------
# One block of the market channel in one call: sampled parameters, cell losses, prices, valuations
# ------------------------------------------------------------------------------------------------
#: sampling kinds of a parameter column (markets._ColumnSampler): the column's value is ``p0``; ``p0 + u
#: (p1 - p0)``; the triangular inverse CDF; ``min(p2, exp(p0 + p1 z))`` with ``z`` the normal quantile of
#: the uniform (computed before the kernel); the value computed before the kernel (other distributions)
FIXED, UNIFORM, TRIANGULAR, LOGNORMAL, GIVEN = 0, 1, 2, 3, 4


class MarketArrays(NamedTuple):
    """Constants of the market channel for one table, parameter set and scenario (markets.ScenarioMarkets),
    in the shapes the block kernel reads. ``C`` commodities, ``I`` indices, ``R`` regions, ``n`` industries."""

    col_kind: np.ndarray     # (ncols,) sampling kind of every parameter column (FIXED ... GIVEN)
    col_prm: np.ndarray      # (ncols, 3) its distribution's parameters
    lay: np.ndarray          # (9,) first column of: e_d, e_s, arbitrage, release, leverage, persistence,
    #                          local premium, uninvestable loss, common premium (markets.market_uniform_layout)
    M_derT: np.ndarray       # (cells, n_classes) demand for the cell lost per unit of w (ScenarioMarkets.M_der)
    deliv0: np.ndarray       # (cells,) baseline deliveries: the cells' upper bound
    mkt_ptr: np.ndarray      # (C + 1,) CSR: the cells of each commodity's market ...
    mkt_cell: np.ndarray
    wld_ptr: np.ndarray      # (C + 1,) ... and of its world market
    wld_cell: np.ndarray
    s0: np.ndarray           # (C,) baseline deliveries of the market and of the world
    w0: np.ndarray
    log_lo: np.ndarray       # (C,) log of the lowest and highest price ratio (bounds)
    log_hi: np.ndarray
    ind_region: np.ndarray   # (n,) region of every industry
    va_ratio: np.ndarray     # (n,) value added per unit of output
    gdp0: np.ndarray         # (R,) baseline value added; gdp0_sum its sum
    gdp0_sum: float
    aeq_ptr: np.ndarray      # (I + 1,) CSR over indices of the rows of A_eq (revenue lost per output lost)
    aeq_row: np.ndarray
    aeq_val: np.ndarray
    p_idx: np.ndarray        # (P,) industries whose revenue a commodity price moves; x0p their output
    x0p: np.ndarray
    pm_ptr: np.ndarray       # (P + 1,) CSR: the commodities of each such industry and their revenue shares
    pm_com: np.ndarray
    pm_val: np.ndarray
    p_load: np.ndarray       # (P, I) their index loadings
    region_share: np.ndarray  # (I, R) value-added shares of the index's regions
    ey: np.ndarray           # (I,) earnings yields
    equity: np.ndarray       # (3,) earnings growth, risk_full_at_gdp_loss, risk_full_at_world_gdp_loss
    fin_cols: np.ndarray     # (F,) shock columns of financial shocks, fin_regions (F, R) the regions closed
    fin_regions: np.ndarray


class MarketBlock(NamedTuple):
    """Outputs of one block (B draws, the last axis) and the work arrays of its cell losses."""

    XT: np.ndarray           # (ncols, B) sampled parameters
    price: np.ndarray        # (C, B) price change in percent
    at_bound: np.ndarray     # (C, B) 1.0 where the price sits at a bound
    drawdown: np.ndarray     # (I, B) fall in value in percent (negative: a gain)
    closed: np.ndarray       # (I, B) 1.0 where a financial shock closes the index to foreign holders
    WT: np.ndarray           # (cells, B) supply withdrawn, UT demand lost (horizon-scaled)
    UT: np.ndarray
    cutT: np.ndarray         # (cells, B) work: blockaded imports
    wT: np.ndarray           # (n_classes, B) work: final demand lost by pass class
    accT: np.ndarray         # (cells, B) work: derived demand lost


@njit(cache=True, nogil=True)
def sample_columns(u, kind, prm, XT):
    """Inverse CDFs of the parameter columns, elementwise (markets._ColumnSampler): u (B, >= ncols)
    uniforms, with the normal quantile in LOGNORMAL columns and the value in GIVEN ones already; XT (ncols, B)."""
    for j in range(XT.shape[0]):
        k = kind[j]
        p0, p1, p2 = prm[j, 0], prm[j, 1], prm[j, 2]
        for b in range(XT.shape[1]):
            x = u[b, j]
            if k == FIXED:
                XT[j, b] = p0
            elif k == UNIFORM:
                XT[j, b] = p0 + x * (p1 - p0)
            elif k == TRIANGULAR:      # (low, mode, high)
                if x < (p1 - p0) / (p2 - p0):
                    XT[j, b] = p0 + np.sqrt(x * (p2 - p0) * (p1 - p0))
                else:
                    XT[j, b] = p2 - np.sqrt((1.0 - x) * (p2 - p0) * (p2 - p1))
            elif k == LOGNORMAL:       # (log median, sigma, cap)
                XT[j, b] = min(p2, np.exp(p0 + p1 * x))
            else:
                XT[j, b] = x


_ALMOST_ONE = 1.0 - 1e-12
_ETA = 1.0           # markets.DOWNSTREAM_ELASTICITY
_MAX_STEPS = 60
#: a Halley step below this ends the iteration: the error it leaves is of the order of its cube (1e-15)
_STEP_TOL = 1e-5


@njit(cache=True, nogil=True, inline="always")
def clearing_price(q_s, q_d, e_d, e_s, log_lo, log_hi):
    """(price change in percent, at a bound) clearing ``(1 - q_d) (1 - theta + theta P)^(-eta) = (1 - q_s)
    P^(e_s)`` (M6; markets.price_change_pct documents the derivation). Halley's method on the residual
    ``r(x) = a - eta log(1 - theta + theta e^x) - e_s x`` in ``x = log P``, from the closed solution
    without a supply response scaled by ``theta / (theta + e_s)`` (the first-order answer's demand share);
    it converges cubically, so once a step is below 1e-5 the error it leaves is of the order of the step's
    cube, a few units in the last bit of ``x`` (at most 60 steps)."""
    qs = min(max(q_s, 0.0), _ALMOST_ONE)
    qd = min(max(q_d, 0.0), _ALMOST_ONE)
    theta = min(max(e_d / _ETA, 1e-9), 1.0)
    es = max(e_s, 0.0)
    lo = max(log_lo, -50.0)            # a price ratio of e^-50: the physical zero
    hi = log_hi
    top = min(hi, 50.0) + 1.0
    if qs == qd:
        return 0.0, 0.0 >= hi or 0.0 <= lo
    d = (qs - qd) / (1.0 - qs)         # (1 - q_d) / (1 - q_s) - 1
    a = np.log1p(d)
    # the start: 1 - theta + theta P = e^(a / eta), i.e. P - 1 = d / theta when eta = 1; P <= 0 means the
    # demand left cannot be met at any positive price (the physical zero)
    z = d / theta if _ETA == 1.0 else np.expm1(a / _ETA) / theta
    x = min(max(np.log1p(z), lo), top) if z > -1.0 else lo
    if es > 0.0:
        if z > -1.0:
            # with a supply response: that start scaled by theta / (theta + e_s), the first-order share of
            # the demand side (dP/P = (q_s - q_d) / (e_d + e_s)); the iteration from it is the same one
            x = min(max(np.log1p(z) * theta / (theta + es), lo), top)
        for _ in range(_MAX_STEPS):
            ex = np.exp(x)
            den = 1.0 - theta + theta * ex
            r = a - _ETA * np.log(den) - es * x
            s = _ETA * theta * ex / den
            d1 = -(s + es)                                # r'(x) < 0
            d2 = -s * (1.0 - theta) / den                 # r''(x) <= 0
            h = 2.0 * d1 * d1 - r * d2
            step = -2.0 * r * d1 / h if h > d1 * d1 else -r / d1   # Newton where Halley's is ill-conditioned
            x = min(max(x + step, lo), top)
            if abs(step) < _STEP_TOL:
                break
    return 100.0 * np.expm1(min(max(x, lo), hi)) + 0.0, x >= hi or x <= lo


@njit(cache=True, nogil=True)
def clearing_prices(q_s, q_d, e_d, e_s, log_lo, log_hi, out_pct, out_bound):
    """:func:`clearing_price` over flat arrays of equal length."""
    for t in range(q_s.shape[0]):
        out_pct[t], out_bound[t] = clearing_price(q_s[t], q_d[t], e_d[t], e_s[t], log_lo[t], log_hi[t])


@njit(cache=True, nogil=True)
def _market_shares(WT, UT, ptr, cell, c, total, out_s, out_d):
    """``out_s[b]``, ``out_d[b]`` = the shares of ``total`` that the cells ``cell[ptr[c]:ptr[c + 1]]`` of
    ``WT`` (supply withdrawn) and ``UT`` (demand lost) hold, both sides in one pass over the cells."""
    out_s[:] = 0.0
    out_d[:] = 0.0
    for t in range(ptr[c], ptr[c + 1]):
        k = cell[t]
        for b in range(out_s.shape[0]):
            out_s[b] += WT[k, b]
            out_d[b] += UT[k, b]
    if total > 0:
        for b in range(out_s.shape[0]):
            out_s[b] /= total
            out_d[b] /= total
    else:
        out_s[:] = 0.0
        out_d[:] = 0.0


@njit(cache=True, nogil=True)
def _block_prices(ma, f, out):
    """Cell losses to prices (M2-M6): derived demand ``w M_der``, the horizon fraction, the market and
    world shares, arbitrage, stock release and the clearing price of every draw and commodity."""
    cells, B = out.WT.shape
    la = ma.lay
    acc = out.accT
    np.dot(ma.M_derT, out.wT, acc)                                   # derived demand lost (BLAS)
    for c in range(cells):
        hi = ma.deliv0[c]
        for b in range(B):
            u = max(acc[c, b] + out.UT[c, b], out.cutT[c, b]) * f[b]   # UT held the own final demand lost
            out.UT[c, b] = min(max(u, 0.0), hi)
            out.WT[c, b] = min(max(out.WT[c, b] * f[b], 0.0), hi)
    q_ms, q_md, q_ws, q_wd = np.empty(B), np.empty(B), np.empty(B), np.empty(B)
    for c in range(out.price.shape[0]):
        _market_shares(out.WT, out.UT, ma.mkt_ptr, ma.mkt_cell, c, ma.s0[c], q_ms, q_md)
        _market_shares(out.WT, out.UT, ma.wld_ptr, ma.wld_cell, c, ma.w0[c], q_ws, q_wd)
        arb, rel = out.XT[la[2] + c], out.XT[la[3] + c]
        e_d, e_s = out.XT[la[0] + c], out.XT[la[1] + c]
        for b in range(B):
            qs = min(max((1.0 - arb[b]) * q_ms[b] + arb[b] * q_ws[b] - rel[b], 0.0), 1.0)
            qd = min(max((1.0 - arb[b]) * q_md[b] + arb[b] * q_wd[b], 0.0), 1.0)
            p, at = clearing_price(qs, qd, e_d[b], e_s[b], ma.log_lo[c], ma.log_hi[c])
            out.price[c, b] = p
            out.at_bound[c, b] = 1.0 if at else 0.0


@njit(cache=True, nogil=True)
def market_prices(ma, st, sevT, onT, uT, f, u, out):
    """Sampled parameters and prices of one block (the feedback's first round needs no valuations).
    sevT (K, B); onT (P, B) bool; uT (n_classes, B); f (B,); u (B, ncols) as for :func:`sample_columns`."""
    sample_columns(u, ma.col_kind, ma.col_prm, out.XT)
    supply_and_demand_cells(sevT, onT, uT, st, out.WT, out.UT, out.cutT, out.wT)
    _block_prices(ma, f, out)


@njit(cache=True, nogil=True)
def _valuations(ma, shock_pkg, sevT, onT, dxT, fin_u, out):
    """Equity valuations and closures of one block (M7-M12). dxT (n, B) output lost (horizon-scaled);
    fin_u (B, F) uniforms of the financial shocks."""
    n, B = dxT.shape
    I, R = ma.region_share.shape
    la = ma.lay
    growth, full_i, full_w = ma.equity[0], ma.equity[1], ma.equity[2]
    gdp = np.zeros((R, B))
    for j in range(n):                                   # value added lost by region
        r, v = ma.ind_region[j], ma.va_ratio[j]
        if v != 0.0:
            for b in range(B):
                gdp[r, b] += dxT[j, b] * v
    F = np.zeros((I, B))
    for i in range(I):                                   # revenue lost: output and value added (M7)
        for t in range(ma.aeq_ptr[i], ma.aeq_ptr[i + 1]):
            j, a = ma.aeq_row[t], ma.aeq_val[t]
            for b in range(B):
                F[i, b] += dxT[j, b] * a
    pm = np.empty(B)
    for p in range(ma.p_idx.shape[0]):                   # ... less the price gains on what is still sold
        j = ma.p_idx[p]
        pm[:] = 0.0
        for t in range(ma.pm_ptr[p], ma.pm_ptr[p + 1]):
            c, v = ma.pm_com[t], ma.pm_val[t]
            for b in range(B):
                pm[b] += out.price[c, b] / 100.0 * v
        for b in range(B):
            pm[b] *= 1.0 - dxT[j, b] / ma.x0p[p]
        for i in range(I):
            ld = ma.p_load[p, i]
            if ld != 0.0:
                for b in range(B):
                    F[i, b] -= pm[b] * ld
    g = np.zeros((R, B))
    h_w = np.zeros(B)
    for r in range(R):
        if ma.gdp0[r] > 0:
            for b in range(B):
                g[r, b] = min(max(gdp[r, b] / ma.gdp0[r], 0.0), 1.0)
                h_w[b] += g[r, b] * ma.gdp0[r]
    for b in range(B):
        h_w[b] = min(1.0, h_w[b] / ma.gdp0_sum / full_w)
    shut_r = np.zeros((R, B))
    for k in range(ma.fin_cols.shape[0]):               # financial shocks that bind (M12)
        col = ma.fin_cols[k]
        pk = shock_pkg[col]
        for b in range(B):
            if onT[pk, b] and fin_u[b, k] < sevT[col, b]:
                for r in range(R):
                    if ma.fin_regions[k, r]:
                        shut_r[r, b] = 1.0
    h_i, shut = np.empty(B), np.empty(B)
    for i in range(I):
        h_i[:] = 0.0
        shut[:] = 0.0
        for r in range(R):
            w = ma.region_share[i, r]
            if w != 0.0:
                for b in range(B):
                    h_i[b] += g[r, b] * w
                    shut[b] += shut_r[r, b] * w
        ey = ma.ey[i]
        lev, phi = out.XT[la[4] + i], out.XT[la[5] + i]
        local, lost, common = out.XT[la[6] + i], out.XT[la[7] + i], out.XT[la[8]]
        for b in range(B):
            pv = ey * lev[b] * F[i, b] / (1.0 + growth + ey - phi[b] * (1.0 + growth))
            premium = h_w[b] * common[b] + min(1.0, h_i[b] / full_i) * local[b]
            dd = 100.0 * (1.0 - max(0.0, 1.0 - pv) * np.exp(-premium / (100.0 * ey)))
            if shut[b] > 0.5:
                out.drawdown[i, b] = max(dd, lost[b]) + 0.0
                out.closed[i, b] = 1.0
            else:
                out.drawdown[i, b] = dd + 0.0
                out.closed[i, b] = 0.0


@njit(cache=True, nogil=True)
def market_block(ma, st, sevT, onT, uT, f, u, dxT, out):
    """The market channel of one block in one call: sampled parameters, supply withdrawn and demand lost
    by cell, prices, equity valuations and closures (M1-M12) into ``out`` (:class:`MarketBlock`).
    u (B, ncols + F): the parameter columns as for :func:`sample_columns`, then the financial uniforms."""
    market_prices(ma, st, sevT, onT, uT, f, u, out)
    _valuations(ma, st.shock_pkg, sevT, onT, dxT, u[:, out.XT.shape[0]:], out)
