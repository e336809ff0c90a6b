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
def supply_and_demand_cells(sev, on, u_cls, st, W, own_fd, cut, w):
    """Per draw b: ``W[b]`` supply withdrawn at source before the horizon fraction (capacity lost plus
    blocked imports not rerouted), ``own_fd[b]`` the cells' own final demand lost, ``cut[b]`` the imports
    of blockaded buyers and ``w[b]`` the final demand lost by each engine pass class (M1, M2).
    sev (B, K); on (B, P) bool; u_cls (B, n_classes); W, own_fd, cut (B, cells); w (B, n_classes)."""
    B = sev.shape[0]
    n_ps = st.ps_ptr.shape[0] - 1
    n_fc = st.fc_ptr.shape[0] - 1
    cells = st.cut_val.shape[0]
    keep_ps = np.empty(n_ps)
    u_fc = np.empty(n_fc)
    for b in range(B):
        for q in range(n_ps):
            p = 1.0
            for t in range(st.ps_ptr[q], st.ps_ptr[q + 1]):
                k = st.ps_col[t]
                if on[b, st.shock_pkg[k]]:
                    p *= 1.0 - sev[b, k]
            keep_ps[q] = p
        for c in range(cells):
            W[b, c] = 0.0
        for g in range(n_fc):
            p = 1.0
            for t in range(st.fc_ptr[g], st.fc_ptr[g + 1]):
                k = st.term_k[t]
                if on[b, st.shock_pkg[k]]:
                    p *= 1.0 - sev[b, k] * keep_ps[st.term_ps[t]]
            u_fc[g] = 1.0 - p
            if u_fc[g] != 0.0:
                for t in range(st.blk_ptr[g], st.blk_ptr[g + 1]):
                    W[b, st.blk_cell[t]] += u_fc[g] * st.blk_val[t]
        for i in range(st.cap_ptr.shape[0] - 1):
            p = 1.0
            for t in range(st.cap_ptr[i], st.cap_ptr[i + 1]):
                k = st.cap_col[t]
                if on[b, st.shock_pkg[k]]:
                    p *= 1.0 - sev[b, k]
            if p != 1.0:
                for t in range(st.capd_ptr[i], st.capd_ptr[i + 1]):
                    W[b, st.capd_cell[t]] += (1.0 - p) * st.capd_val[t]
        for c in range(cells):
            p = 1.0
            for t in range(st.fdo_ptr[c], st.fdo_ptr[c + 1]):
                k = st.fdo_col[t]
                if on[b, st.shock_pkg[k]]:
                    p *= 1.0 - sev[b, k]
            own_fd[b, c] = (1.0 - p) * st.y_own[c]
            m = 1.0
            if st.cut_val[c] > 0.0:
                for t in range(st.cut_ptr[c], st.cut_ptr[c + 1]):
                    m = min(m, u_fc[st.cut_fc[t]])
                cut[b, c] = m * st.cut_val[c]
            else:
                cut[b, c] = 0.0
        for c in range(u_cls.shape[1]):
            p = 1.0
            for t in range(st.cfd_ptr[c], st.cfd_ptr[c + 1]):
                k = st.cfd_col[t]
                if on[b, st.shock_pkg[k]]:
                    p *= 1.0 - sev[b, k]
            w[b, c] = 1.0 - (1.0 - u_cls[b, c]) * p
