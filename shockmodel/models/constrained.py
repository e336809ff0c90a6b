"""The constrained model (docs/model.md): generalised Leontief with capacity, critical inputs and
rationing, solved as a fixed point per draw (after Pichler & Farmer 2022; Pichler et al. 2022, JEDC
144:104527), in deviation form (kernels.propagate.constrained_sub_batch)."""

from __future__ import annotations

import numpy as np

from shockmodel.models._shared import block_inputs

IGNORES: dict[str, str] = {}
WORKSPACE = False


def prepare(ctx) -> dict:
    from shockmodel.kernels.structs import Technology

    g = ctx.gemm_dtype
    A_g, tri_A_g = np.ascontiguousarray(ctx.A, dtype=g), np.ascontiguousarray(ctx.tri_A, dtype=g)
    return {"A_g": A_g, "tri_A_g": tri_A_g, "technology": Technology(A_g, tri_A_g)}


def propagate(plan, sev, on, ctx):
    B = sev.shape[0]
    converged = np.ones(B, dtype=bool)
    iterations = np.zeros(B, dtype=np.int64)
    effT, substT, f, uT, _ = block_inputs(plan, sev, on, ctx.days_per_month)
    dxT, tradeT = _constrained_block(plan, effT, substT, converged, iterations, ctx)
    return dxT, tradeT, f, converged, iterations, uT


def _constrained_block(plan, effT, substT, converged, iterations, ctx):
    """Each sub-batch of ``ctx.sub_batch`` draws in one kernel call (kernels.propagate.constrained_sub_batch:
    static shocks, fixed point, trade at the solution), up to the one holding draw ``keep - 1`` (the later
    ones are zero). Returns ``dxT`` (n, B) and ``tradeT`` (R, R, B)."""
    from shockmodel.kernels import propagate as kern
    from shockmodel.kernels.structs import SolverOptions

    R, S = plan.n_regions, plan.n_sectors
    n = R * S
    B = effT.shape[1]
    SUB = ctx.sub_batch
    dxT = np.empty((n, B))
    tradeT = np.empty((R, R, B))
    solved = B if ctx.keep is None else -(-min(ctx.keep, B) // SUB) * SUB
    opts = SolverOptions(ctx.tol, ctx.max_iter, ctx.aa_depth)
    weights = draw_weights(plan, ctx.crit_w, B)
    if solved < B:
        dxT[:, solved:] = 0.0
        tradeT[:, :, solved:] = 0.0

    def solve(lo: int) -> None:
        hi = min(lo + SUB, B)
        dx, trade, its = np.empty((n, hi - lo)), np.empty((R, R, hi - lo)), np.zeros(hi - lo, dtype=np.int64)
        active = kern.constrained_sub_batch(
            np.ascontiguousarray(effT[:, lo:hi]), np.ascontiguousarray(substT[:, :, lo:hi]), plan.columns, plan.cells,
            plan.triples, plan.baseline, plan.technology,
            plan.critical_inputs._replace(crit_w=np.ascontiguousarray(weights[:, lo:hi])), opts, dx, trade, its)
        dxT[:, lo:hi], tradeT[:, :, lo:hi] = dx, trade
        converged[lo:hi], iterations[lo:hi] = ~active, its

    ctx.map_sub_batches(solve, range(0, solved, SUB))
    return dxT, tradeT


def draw_weights(plan, crit_w, B: int) -> np.ndarray:
    """(Q, B) critical-input weights of a block's draws: the sampled ones (``crit_w``, eq. 55) or the plan's
    central weights in every draw (``--structure central``: the same numbers as a fixed weight)."""
    if crit_w is not None:
        return crit_w
    return np.repeat(np.asarray(plan.crit_w, dtype=np.float64)[:, None], B, axis=1)
