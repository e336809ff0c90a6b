"""The supply-driven Ghosh model (Miller & Blair 2009, eq. 12.10 in changes): ``dx' = dv' G``.

An accounting device, not a forecast: it pushes lost primary inputs forward through fixed output
shares, which no buyer behaviour justifies (Oosterhaven 1988, J. Regional Science 28:203); it is kept for
comparison with the literature that uses it."""

from __future__ import annotations

import numpy as np

from shockmodel.models._shared import block_inputs, static_shocks

IGNORES: dict[str, str] = {}
WORKSPACE = False


def prepare(ctx) -> dict:
    g = ctx.gemm_dtype
    return {"G": np.ascontiguousarray(ctx.mrio.G, dtype=g), "Q_g": np.ascontiguousarray(ctx.classes.Q, dtype=g)}


def propagate(plan, sev, on, ctx):
    """Primary inputs lost ``dv_j = v0_j (1 - (1 - capacity lost_j)(1 - share of j's sales on blocked
    routes))``, then ``dx' = dv' G``; trade by pass class (no supplier rations in a linear model)."""
    from shockmodel.kernels import propagate as kern

    B = sev.shape[0]
    R, S = plan.n_regions, plan.n_sectors
    x0 = plan.x0
    converged = np.ones(B, dtype=bool)
    iterations = np.zeros(B, dtype=np.int64)
    effT, substT, f, uT, wT = block_inputs(plan, sev, on, ctx.days_per_month)
    pass_, dem, cap = static_shocks(plan, effT, substT)
    dD0 = np.empty((B, R * S))
    kern.demand_loss_static(pass_, dem, plan.Zsum, plan.Ypos, plan.tri_ptr, plan.tri_idx, plan.tri_m, S, dD0)
    sales_blocked = np.divide(dD0, x0[None, :], out=np.zeros_like(dD0), where=x0[None, :] > 0)
    dv = plan.v0[None, :] * (1.0 - cap * (1.0 - np.clip(sales_blocked, 0.0, 1.0)))
    dxT = np.ascontiguousarray((dv.astype(plan.gemm_dtype, copy=False) @ plan.G).T, dtype=np.float64)
    kern.clip_loss(dxT, x0)
    tradeT = np.empty((R, R, B))
    kern.linear_trade(dxT.astype(plan.gemm_dtype, copy=False), plan.Q_g, plan.trade_groups, uT, wT, S, tradeT)
    return dxT, tradeT, f, converged, iterations, uT
