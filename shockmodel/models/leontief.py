"""The demand-driven Leontief model (Miller & Blair 2009, eq. 2.11 in changes): ``dx = L dy``.

It takes final demand cut or blocked; it does NOT take capacity shocks (no supply constraint in
``x = L y``) nor blocked intermediate flows (only the final-demand part of a blocked route reaches ``dy``),
which every result says (``IGNORES``)."""

from __future__ import annotations

import numpy as np

IGNORES = {"capacity": "capacity shocks (no supply constraint in x = L y)",
           "trade_block": "blocked intermediate flows (only blocked final demand enters dy)",
           "tariff": "trade lost on intermediate flows (only final demand lost enters dy)"}
WORKSPACE = True


def prepare(ctx) -> dict:
    mrio, g = ctx.mrio, ctx.gemm_dtype
    return {"L": np.ascontiguousarray(mrio.L), "M": np.ascontiguousarray(mrio.L @ ctx.classes.Yc, dtype=g),
            "Q_g": np.ascontiguousarray(ctx.classes.Q, dtype=g)}


def propagate(plan, sev, on, ctx):
    """dx = (L Yc) w with dy = sum_c w_c Yc[:, c] (passclasses.py): C columns instead of n; the whole
    block in one kernel (kernels.propagate.leontief_block)."""
    from shockmodel.kernels import propagate as kern
    from shockmodel.kernels.structs import Horizon

    B = sev.shape[0]
    w = ctx.ws
    converged = np.ones(B, dtype=bool)
    iterations = np.zeros(B, dtype=np.int64)
    dxT, tradeT, f, uT = w["dxT"], w["tradeT"], w["f"], w["uT"]
    kern.leontief_block(sev, on, plan.columns, Horizon(plan.horizon_months, ctx.days_per_month), plan.class_shocks,
                        plan.trade_groups, plan.M, plan.Q_g, plan.baseline, w["kernel"])
    return dxT, tradeT, f, converged, iterations, uT
