"""Steps shared by several models (L3): per-draw shock inputs of one block."""

from __future__ import annotations

import numpy as np


def block_inputs(plan, sev: np.ndarray, on: np.ndarray, days_per_month: float):
    """``effT`` (K, B) effective severities, ``substT`` (P, S, B) substitution shares, ``f`` (B,) horizon
    fraction, ``uT``/``wT`` (C, B) blocked share and weight of each pass class (kernels.propagate
    ``block_setup`` and ``class_factors``)."""
    from shockmodel.kernels import propagate as kern
    from shockmodel.kernels.structs import Horizon

    B = sev.shape[0]
    S = plan.n_sectors
    P, K = plan.n_packages, plan.n_shocks
    cls = plan.classes
    effT, substT, f = np.empty((K, B)), np.empty((max(P, 1), S, B)), np.empty(B)
    kern.block_setup(sev, on, plan.columns, Horizon(plan.horizon_months, days_per_month), effT, substT, f)
    uT, wT = np.empty((cls.n_classes, B)), np.empty((cls.n_classes, B))
    kern.class_factors(effT[plan.trade_cols], plan.trade_pkg, plan.class_shocks, substT, 1.0 - effT[plan.fd_cols],
                       uT, wT)
    return effT, substT, f, uT, wT


def static_shocks(plan, effT: np.ndarray, substT: np.ndarray):
    """Per-flow pass shares (B, T), final-demand multipliers (B, R*S) and capacity multipliers (B, n)."""
    from shockmodel.kernels import propagate as kern

    B = effT.shape[1]
    n = plan.n_regions * plan.n_sectors
    eff = effT.T
    pass_ = np.ones((B, len(plan.tri_e)))
    if len(plan.tri_e):
        kern.build_pass(np.ascontiguousarray(eff[:, plan.trade_cols]), plan.trade_pkg, plan.trade_ptr,
                        plan.trade_tri, plan.tri_s, np.ascontiguousarray(substT.transpose(2, 0, 1)), pass_)
    cap = np.ones((B, n))
    if len(plan.cap_cols):
        kern.build_multiplier(np.ascontiguousarray(eff[:, plan.cap_cols]), plan.cap_ptr, plan.cap_cells, n, cap)
    dem = np.ones((B, n))
    if len(plan.fd_cols):
        kern.build_multiplier(np.ascontiguousarray(eff[:, plan.fd_cols]), plan.fd_ptr, plan.fd_cells, n, dem)
    return pass_, dem, cap
