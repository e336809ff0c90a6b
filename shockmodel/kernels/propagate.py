"""numba kernels for one batch of draws (L0: numpy + numba only, no labels, no allocation in draw loops).

Conventions: inputs first, preallocated outputs last. Arrays are draws-first ``(b, ...)`` or, in the hot
kernels, draws-last ``(..., b)`` so the innermost loop runs over contiguous draws and vectorises (named
``...T`` on the Python side). All kernels release the GIL: the engine runs blocks of draws on a pool of
Python threads, each with numba and BLAS on one thread. The few ``prange`` loops (shock assembly) run
serially there. Every draw is computed by the same instructions whatever the thread count or the other
draws of its batch, so results are bit-identical with 1 or N threads. Matrix products inside kernels go
to BLAS through ``np.dot`` (numba calls scipy's BLAS), in the dtype of their operands (float64, or float32
with ``precision="float32"``); everything else is float64.

Blocked trade is stored sparsely. A *triple* ``t = (e, m, s)`` is a flow of product ``s`` from exporter
region ``e`` to importer region ``m`` (``e != m``) that at least one trade shock of the scenario can hit;
``pass_[b, t]`` in [0, 1] is the share of that flow that still passes in draw ``b``. Every other flow
passes in full. ``tri_ptr``/``tri_idx`` list, for each supplying industry ``i = (e, s)``, the triples it
sells along (CSR layout); ``tri_of[e, m, s]`` is the triple index or -1.

The constrained model (docs/model.md, the constrained model; generalised Leontief with rationing after Pichler & Farmer
2022, Pichler et al. 2022 JEDC 144:104527) is written in *deviation form*: every quantity is a loss from
the baseline (``dx = x_0 - x``), so an unshocked draw gives exactly zero, bit for bit.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# --- shock assembly --------------------------------------------------------------------------------


@njit(cache=True, parallel=True, nogil=True)
def build_pass(sev, shock_pkg, shock_ptr, shock_tri, tri_sector, subst, out_pass):
    """Pass-through share of each triple, per draw.

    ``pass[b, t] = prod_k (1 - sev[b, k] * (1 - subst[b, pkg(k), s_t]))`` over the trade shocks ``k`` whose
    mask contains triple ``t`` (``shock_ptr``/``shock_tri``: CSR list of triples per trade shock). The
    product treats independent barriers on one route as multiplicative (a flow must pass each of them);
    ``subst`` is the share of a package's blocked flows that buyers re-source (docs/model.md, the constrained model:
    ``blocked_eff = blocked * (1 - substitution)``).

    sev: (B, K) severities of the trade shocks (0 where the package did not occur)
    subst: (B, P, S) substitution shares; out_pass: (B, T)
    """
    n_draws, n_shocks = sev.shape
    for b in prange(n_draws):
        out_pass[b, :] = 1.0
        for k in range(n_shocks):
            s_k = sev[b, k]
            if s_k == 0.0:
                continue
            p = shock_pkg[k]
            for q in range(shock_ptr[k], shock_ptr[k + 1]):
                t = shock_tri[q]
                out_pass[b, t] *= 1.0 - s_k * (1.0 - subst[b, p, tri_sector[t]])


@njit(cache=True, parallel=True, nogil=True)
def build_multiplier(sev, shock_ptr, shock_cells, n_cells, out):
    """Remaining share per cell, ``out[b, c] = prod_k (1 - sev[b, k])`` over shocks whose mask holds ``c``.

    Used for capacity (cells = industries) and final demand (cells = buyer region x product sector).
    """
    n_draws, n_shocks = sev.shape
    for b in prange(n_draws):
        out[b, :] = 1.0
        for k in range(n_shocks):
            s_k = sev[b, k]
            if s_k == 0.0:
                continue
            for q in range(shock_ptr[k], shock_ptr[k + 1]):
                out[b, shock_cells[q]] *= 1.0 - s_k


# --- static (per draw, before iterating) terms ----------------------------------------------------


@njit(cache=True, parallel=True, nogil=True)
def demand_loss_static(pass_, dem, Zsum, Ypos, tri_ptr, tri_idx, tri_m, n_sectors, out_dD0):
    """Demand for each industry lost before any output adjusts (``dx = 0``), per draw.

    ``dD0_i = sum_t (1 - pass_t) Zsum[i, m_t]                       (intermediate orders on blocked routes)
             + sum_m Y+_im (1 - pass(i, m) dem[m, s_i])              (final demand blocked or cut)``

    with ``Zsum[i, m] = sum_{j in m} Z_ij`` and ``Y+`` the non-negative part of final demand (negative
    inventory changes are left unshocked). Miller & Blair (2009) eq. 2.1 in changes.
    pass_: (B, T); dem: (B, R*S) remaining share of final demand of buyer m for product s; out: (B, n)
    """
    n_draws = pass_.shape[0]
    n, R = Ypos.shape
    for b in prange(n_draws):
        for i in range(n):
            s = i % n_sectors
            loss = 0.0
            for m in range(R):
                loss += Ypos[i, m] * (1.0 - dem[b, m * n_sectors + s])
            for q in range(tri_ptr[i], tri_ptr[i + 1]):
                t = tri_idx[q]
                m = tri_m[t]
                blk = 1.0 - pass_[b, t]
                loss += blk * (Zsum[i, m] + Ypos[i, m] * dem[b, m * n_sectors + s])
            out_dD0[b, i] = loss


# --- the constrained fixed point ---------------------------------------------------------------------


@njit(cache=True, nogil=True)
def supplier_of_triples(tri_ptr, tri_idx):
    """The supplying industry ``i_t`` of every triple t, from the per-supplier CSR (tri_ptr, tri_idx)."""
    tri_i = np.empty(tri_idx.shape[0], dtype=np.int64)
    for i in range(tri_ptr.shape[0] - 1):
        for q in range(tri_ptr[i], tri_ptr[i + 1]):
            tri_i[tri_idx[q]] = i
    return tri_i


@njit(cache=True, nogil=True)
def demand_lost(Adx, tri_A, tri_A_ptr, tri_i, pass_, dx, dD0, n_sectors, out_dDu, cols=None):
    """Demand lost by every supplier before the rounding guard (draws-last layout):
    ``dDu_i = dD0_i + sum_j A_ij dx_j - sum_t (1 - pass_t) Wt[t]`` over the blockable triples
    ``t = (e, m, s)`` of supplier i, with ``Wt[t] = sum_{j in m} A_ij dx_j`` the orders lost along t
    (their blocked share was lost already, in dD0; docs/model.md).

    Triples are numbered importer-major, so the rows of importer m are one block of ``tri_A`` (T, S) and
    their orders are one small GEMM per importer (BLAS through ``np.dot``). Each importer's (rows, B) block
    of orders is subtracted as soon as it is made, while it is in cache, instead of a (T, B) array of all
    of them being written out and read back (tri_idx lists each supplier's triples in ascending order, so
    every ``dDu_i`` takes its terms in the same order either way). Adx: (n, B), in the dtype of tri_A;
    dx: (n, B) in that dtype; pass_: (T, B); dD0, out_dDu: (n, B); tri_i: :func:`supplier_of_triples`.
    ``cols``: only these draws (the solver's last sweeps); Adx and dx then hold just their columns,
    compacted to (n, len(cols)), and only their columns of out_dDu are written, by the same operations in
    the same order.
    """
    n = dD0.shape[0]
    B = Adx.shape[1]
    for i in range(n):
        if cols is None:
            for b in range(B):
                out_dDu[i, b] = dD0[i, b] + Adx[i, b]
        else:
            for k in range(B):
                out_dDu[i, cols[k]] = dD0[i, cols[k]] + Adx[i, k]
    R = tri_A_ptr.shape[0] - 1
    rows = 0
    for m in range(R):
        rows = max(rows, tri_A_ptr[m + 1] - tri_A_ptr[m])
    Wm = np.empty((rows, B), dtype=tri_A.dtype)
    for m in range(R):
        lo, hi = tri_A_ptr[m], tri_A_ptr[m + 1]
        if hi == lo:
            continue
        W = Wm[:hi - lo]
        np.dot(tri_A[lo:hi], dx[m * n_sectors:(m + 1) * n_sectors], W)
        for t in range(lo, hi):
            row = out_dDu[tri_i[t]]
            p = pass_[t]
            wt = W[t - lo]
            if cols is None:
                for b in range(B):
                    row[b] -= (1.0 - p[b]) * wt[b]
            else:
                for k in range(B):
                    row[cols[k]] -= (1.0 - p[cols[k]]) * wt[k]


@njit(cache=True, nogil=True)
def demand_and_rationing(dDu, dx, x0, out_rho, out_dD):
    """Phase 1 of one sweep of the constrained fixed point, for every draw (draws-last layout).

    With ``r_j = x_j / x0_j`` and ``Zb_ij = Z_ij pass_ij`` (docs/model.md), the demand that can still
    reach i is ``D_i = sum_j Zb_ij r_j + yb_i``; in losses that is ``dD_i`` of :func:`demand_lost`
    (``dDu``), floored at 0. Suppliers ration their output over the demand they face:
    ``rho_i = min(1, x_i / D_i)`` (trap a in docs/model.md: rationing by ``x_i / x0_i`` instead spirals every
    industry to zero through the network's loops).

    Arrays are (industry, draw): the inner loop runs over draws, contiguous, so it vectorises.
    dDu, dx, out_*: (n, B).
    """
    _demand_phase(dDu, dx, x0, np.zeros((1, 1), dtype=np.bool_), False, out_rho, out_dD,
                  np.zeros(dDu.shape[1], dtype=np.bool_))


@njit(cache=True, nogil=True)
def _demand_phase(dDu, dx, x0, force, use_force, out_rho, out_dD, out_over):
    """:func:`demand_and_rationing`; with ``use_force``, ``rho_i = 1`` where ``force[i, b]`` (industry i
    was demand-bound at the previous evaluation; the accelerated solver's map F_S) and ``out_over[b]``
    records whether that changed anything (some forced i had ``dx_i > dD_i``). Without it, or where
    ``out_over[b]`` stays False, the result is the true map's, bit for bit."""
    n, B = dDu.shape
    out_over[:] = False
    for i in range(n):
        xi = x0[i]
        for b in range(B):
            d = max(dDu[i, b], 0.0)  # rounding guard: demand lost is never negative
            out_dD[i, b] = d
            den = xi - d
            if dx[i, b] <= d or den <= 0.0:
                out_rho[i, b] = 1.0
            elif use_force and force[i, b]:
                out_rho[i, b] = 1.0
                out_over[b] = True
            else:
                out_rho[i, b] = (xi - dx[i, b]) / den


@njit(cache=True, nogil=True)
def constrained_output(dx, rho, dD, pass_, dcap, x0, crit, active, tol, out_dx, out_moved):
    """Phase 2: new output loss of every industry j, for every draw (draws-last layout).

    ``x_j = min(x0_j - dcap_j, D_j, x0_j (1 - max_s w_sj short_sj / req_sj))``, i.e. in losses
    ``dx_j = min(x0_j, max(dcap_j, dD_j, x0_j max_s w_sj short_sj / req_sj))``, where
    ``short_sj = sum_{i in s} Z_ij (1 - pass_ij rho_i)`` is j's shortfall of critical input s against its
    baseline requirement ``req_sj`` and ``w_sj`` is 1 (critical) or 0.5 (important, "half-critical"; Pichler
    et al. 2022, JEDC 144:104527). Buyers are served on their full-output orders ``Zb_ij`` (trap b of
    docs/model.md: orders that shrink with the buyer's output make a blocked critical input infeasible at
    every output level). ``crit`` (structs.CriticalInputs): per buyer its critical inputs (CSR), per critical
    input its supplying industries with ``Z_ij > 0`` and the route's triple (-1 if never blocked); its
    ``crit_w`` is (Q, B), the weight of each critical input in each draw (central or sampled, eq. 55).
    Draws with ``active[b]`` False keep their loss (they have converged). ``out_moved[j, b]`` records
    whether j's loss moved by more than ``tol * x0_j`` (the caller's convergence test).
    """
    _output_phase(dx, rho, dD, pass_, dcap, x0, crit, active, tol, out_dx, out_moved,
                  np.zeros((0, dx.shape[1]), dtype=np.bool_))


@njit(cache=True, nogil=True)
def _output_phase(dx, rho, dD, pass_, dcap, x0, crit, active, tol, out_dx, out_moved, out_demand):
    """:func:`constrained_output`; if ``out_demand`` has rows (it is (n, B), or (0, B) when not wanted),
    ``out_demand[j, b]`` also records whether the
    demand bound binds alone (``dD_j > max(0, dcap_j)``, no critical-input bound above it, below ``x0_j``):
    the industries the accelerated solver keeps unrationed in its next sweep."""
    n, B = dx.shape
    want_demand = out_demand.shape[0] > 0
    crit_ptr, crit_w, req = crit.crit_ptr, crit.crit_w, crit.req
    src_ptr, src_i, src_z, src_t = crit.src_ptr, crit.src_i, crit.src_z, crit.src_t
    bound = np.empty(B)
    short = np.empty(B)
    crit = np.empty(B)
    for j in range(n):
        xj = x0[j]
        for b in range(B):
            bound[b] = max(dcap[j, b], dD[j, b])
            crit[b] = 0.0
        for q in range(crit_ptr[j], crit_ptr[j + 1]):
            short[:] = 0.0
            for q2 in range(src_ptr[q], src_ptr[q + 1]):
                i = src_i[q2]
                t = src_t[q2]
                z = src_z[q2]
                if t < 0:
                    for b in range(B):
                        short[b] += z * (1.0 - rho[i, b])
                else:
                    for b in range(B):
                        short[b] += z * (1.0 - pass_[t, b] * rho[i, b])
            rq = req[q]
            for b in range(B):   # (x0_j w_sj / req_sj) short_sj: the weight of this draw (eq. 19, 55)
                crit[b] = max(crit[b], xj * crit_w[q, b] / rq * short[b])
        lim = tol * xj
        for b in range(B):
            v = min(max(bound[b], crit[b]), xj) if active[b] else dx[j, b]
            out_dx[j, b] = v
            out_moved[j, b] = abs(v - dx[j, b]) > lim
        if want_demand:
            for b in range(B):
                d = dD[j, b]
                out_demand[j, b] = d > 0.0 and d > dcap[j, b] and crit[b] <= d < xj


@njit(cache=True, nogil=True)
def _gram_row(dG, count, new, gram):
    """Refresh row and column ``new`` of the Gram matrices ``gram[p, q, b] = dG_p . dG_q`` (per draw) after
    slot ``new`` of ``dG`` was rewritten; slots ``0 .. count-1`` are valid. One row per sweep instead of
    the whole matrix (m dot products per draw instead of m (m + 1) / 2)."""
    n, B = dG.shape[1], dG.shape[2]
    for q in range(count):
        gram[new, q, :] = 0.0
    for j in range(n):
        a = dG[new, j]
        for q in range(count):
            c = dG[q, j]
            row = gram[new, q]
            for b in range(B):
                row[b] += a[b] * c[b]
    for q in range(count):
        gram[q, new, :] = gram[new, q, :]


@njit(cache=True, nogil=True)
def _anderson_point(f, gs, dX, dG, gram, count, w, x0, active, out_x):
    """The type-II Anderson point of every active draw (Anderson 1965, J. ACM 12:547; Walker & Ni 2011,
    SIAM J. Numer. Anal. 49:1715, eq. 2.3 with depth ``count``).

    With ``f = F_S(x)``, the scaled residual ``gs = w (f - x)`` (``w = 1 / x0``, so every industry counts
    relative to its output) and the last ``count`` differences of iterates ``dX_i`` and of scaled residuals
    ``dG_i``: ``gamma = argmin || gs - sum_i gamma_i dG_i ||_2`` and
    ``x_new = f - sum_i gamma_i (dX_i + dG_i / w)`` (``dX_i + dG_i / w`` is the difference of ``f``),
    clipped to ``[0, x0]``. The normal equations (Gram matrices ``gram`` of the ``dG``, kept up to date
    by :func:`_gram_row`) get a ridge of 1e-12 times their trace and are solved per draw by Gaussian
    elimination with partial pivoting; a draw whose system is degenerate takes the plain step
    ``x_new = f``. Each draw uses only its own column. f, gs, out_x: (n, B); dX, dG: (count, n, B);
    gram: (m, m, B).
    """
    n, B = f.shape
    k = count
    rhs = np.zeros((k, B))
    for j in range(n):
        r = gs[j]
        for p in range(k):
            a = dG[p, j]
            for b in range(B):
                rhs[p, b] += a[b] * r[b]
    gamma = np.zeros((k, B))
    ok = np.zeros(B, dtype=np.bool_)
    mat = np.empty((k, k + 1))
    for b in range(B):
        if not active[b]:
            continue
        tr = 0.0
        for p in range(k):
            tr += gram[p, p, b]
        if not tr > 0.0:
            continue
        for p in range(k):
            for q in range(k):
                mat[p, q] = gram[p, q, b]
            mat[p, p] += 1e-12 * tr
            mat[p, k] = rhs[p, b]
        good = True
        for p in range(k):
            piv = p
            for q in range(p + 1, k):
                if abs(mat[q, p]) > abs(mat[piv, p]):
                    piv = q
            if not abs(mat[piv, p]) > 0.0:
                good = False
                break
            if piv != p:
                for c in range(k + 1):
                    tmp = mat[p, c]
                    mat[p, c] = mat[piv, c]
                    mat[piv, c] = tmp
            for q in range(p + 1, k):
                r = mat[q, p] / mat[p, p]
                for c in range(p, k + 1):
                    mat[q, c] -= r * mat[p, c]
        if not good:
            continue
        total = 0.0
        for p in range(k - 1, -1, -1):
            acc = mat[p, k]
            for q in range(p + 1, k):
                acc -= mat[p, q] * gamma[q, b]
            gamma[p, b] = acc / mat[p, p]
            total += gamma[p, b]
        ok[b] = np.isfinite(total)
    for b in range(B):          # plain step where the system was degenerate
        if not ok[b]:
            for p in range(k):
                gamma[p, b] = 0.0
    v = np.empty(B)
    for j in range(n):
        xj = x0[j]
        inv = 1.0 / w[j] if w[j] > 0.0 else 0.0
        for b in range(B):
            v[b] = f[j, b]
        for p in range(k):
            gx = dX[p, j]
            gg = dG[p, j]
            gp = gamma[p]
            for b in range(B):
                v[b] -= gp[b] * (gx[b] + gg[b] * inv)
        for b in range(B):
            out_x[j, b] = min(max(v[b], 0.0), xj)


@njit(cache=True, nogil=True, inline="always")
def _stop_if_settled(b, moved, f, rho, active, out_dx, out_rho):
    """Stop draw b if no industry moved: its result is the map's value ``f`` with its rationing ``rho``."""
    n = moved.shape[0]
    for j in range(n):
        if moved[j, b]:
            return
    active[b] = False
    for j in range(n):
        out_dx[j, b] = f[j, b]
        out_rho[j, b] = rho[j, b]


@njit(cache=True, nogil=True)
def constrained_fixed_point(tech, tri, base, crit, opts, pass_, dD0, dcap, out_dx, out_rho, out_iterations):
    """The constrained model's fixed point ``dx = F(dx)`` for one sub-batch, draws-last; returns the
    ``active`` flags (True: not converged within ``max_iter`` sweeps).

    A sweep evaluates the map once: orders lost by every supplier ``A dx`` (one GEMM) and along the
    blockable triples (:func:`demand_lost`), both in the dtype of ``A_g`` (float64, or float32 for
    speed); then the demand phase (:func:`demand_and_rationing`) and the output phase
    (:func:`constrained_output`) in float64. The first sweep is at ``dx = 0``, where both products are 0.

    ``aa_depth = 0``: the plain iteration ``x_{k+1} = F(x_k)``, which contracts at only ~0.54 per sweep
    (the spectral radius of A): about 28 sweeps to 1e-8. ``aa_depth = m > 0``: Anderson acceleration
    (:func:`_anderson_point`, depth m) of the *demand-consistent* map F_S, which is F except that an
    industry that was demand-bound at the previous sweep does not ration (``rho_i = 1``). At a fixed point
    of F a demand-bound industry has ``dx_i = dD_i`` and hence ``rho_i = 1``, so every fixed point of F is
    one of F_S; but an extrapolated point overshoots many of these kinks (``dx_i > dD_i``), and under F
    that rationing is spurious and stalls Anderson at ~0.4 per sweep. On F_S it needs about 14 sweeps
    (docs/performance.md; tests/test_solver.py checks it lands where the plain iteration does).

    Either way a draw stops at the first evaluated ``x`` where the *true* map moves no industry by more
    than ``tol x0_j`` (``|F(x) - x| <= tol x0_j``), the plain iteration's test, and its result is
    ``F(x)`` with its rationing. Where F_S differed from F at x, F is evaluated as well (sharing the
    products), once F_S has come within ``2 tol x0_j``. A stopped draw is frozen, so its result depends
    only on its own column (and on how many columns share its GEMMs, if BLAS rounds differently for
    different widths; the active set is itself a function of the sub-batch's draws, so it is
    reproducible either way). The whole sub-batch goes through the products while more than half of it
    is active; after that, only the active columns, gathered (``demand_lost(..., cols)``): a sub-batch
    spends its last sweep or two waiting for a few slow draws, and gathering the columns every sweep
    costs more than it saves (docs/performance.md, "the constrained solver").
    tech: structs.Technology (A in the dtype of the products); tri: structs.Triples; base: structs.Baseline;
    crit: structs.CriticalInputs; opts: structs.SolverOptions;
    pass_: (T, B); dD0, dcap, out_dx, out_rho: (n, B); out_iterations: (B,)
    """
    A_g, tri_A_g, tri_A_ptr = tech.A, tech.tri_A, tri.tri_A_ptr
    n_sectors, x0 = base.n_sectors, base.x0
    tol, max_iter, aa_depth = opts.tol, opts.max_iter, opts.aa_depth
    n, B = dD0.shape
    m = max(aa_depth, 1)
    x = np.zeros((n, B))
    f = np.empty((n, B))
    fT = np.empty((n, B))
    rho = np.empty((n, B))
    rhoT = np.empty((n, B))
    dD = np.empty((n, B))
    x_g = np.zeros((n, B), dtype=A_g.dtype)
    Adx = np.zeros((n, B), dtype=A_g.dtype)
    dDu = np.empty((n, B))
    tri_i = supplier_of_triples(tri.tri_ptr, tri.tri_idx)
    cols = np.empty(B, dtype=np.int64)
    moved = np.empty((n, B), dtype=np.bool_)
    force = np.zeros((n, B), dtype=np.bool_)
    demand = np.zeros((n, B), dtype=np.bool_)
    no_demand = np.zeros((0, B), dtype=np.bool_)   # _output_phase: the demand-bound flags not wanted
    over = np.zeros(B, dtype=np.bool_)
    active = np.ones(B, dtype=np.bool_)
    check = np.zeros(B, dtype=np.bool_)
    w = np.zeros(n)
    for j in range(n):
        w[j] = 1.0 / x0[j] if x0[j] > 0.0 else 0.0
    dX = np.empty((m, n, B))
    dG = np.empty((m, n, B))
    gram = np.zeros((m, m, B))
    gs = np.empty((n, B))
    x_prev = np.empty((n, B))
    count = 0
    slot = 0
    accelerate = aa_depth > 0
    out_dx[:, :] = 0.0
    out_rho[:, :] = 1.0
    out_iterations[:] = 0
    for sweep in range(max_iter):
        n_act = 0
        for b in range(B):
            if active[b]:
                cols[n_act] = b
                n_act += 1
        if sweep > 0 and 2 * n_act > B:
            for j in range(n):
                for b in range(B):
                    x_g[j, b] = x[j, b]
            np.dot(A_g, x_g, Adx)
            demand_lost(Adx, tri_A_g, tri_A_ptr, tri_i, pass_, x_g, dD0, n_sectors, dDu)
        elif sweep > 0:
            # most draws have stopped: the products for the others only, gathered (at least two columns,
            # so that BLAS takes the same GEMM path as for the whole sub-batch)
            if n_act == 1:
                cols[1] = (cols[0] + 1) % B
                n_act = 2
            xc = x_g.reshape(n * B)[:n * n_act].reshape((n, n_act))
            for j in range(n):
                for k in range(n_act):
                    xc[j, k] = x[j, cols[k]]
            Ac = Adx.reshape(n * B)[:n * n_act].reshape((n, n_act))
            np.dot(A_g, xc, Ac)
            demand_lost(Ac, tri_A_g, tri_A_ptr, tri_i, pass_, xc, dD0, n_sectors, dDu, cols[:n_act])
        else:
            dDu[:, :] = dD0     # at dx = 0 both products are 0
        _demand_phase(dDu, x, x0, force, accelerate, rho, dD, over)
        _output_phase(x, rho, dD, pass_, dcap, x0, crit, active, tol, f, moved, demand if accelerate else no_demand)
        # stop test on the true map: where F_S == F (not over) it is F_S's own; elsewhere F is evaluated
        # too, for the draws F_S has brought within 2 tol (the others are not about to stop)
        any_check = False
        for b in range(B):
            check[b] = False
            if not active[b]:
                continue
            out_iterations[b] += 1
            if over[b]:
                near = True
                for j in range(n):
                    if abs(f[j, b] - x[j, b]) > 2.0 * tol * x0[j]:
                        near = False
                        break
                check[b] = near
                any_check = any_check or near
            else:
                _stop_if_settled(b, moved, f, rho, active, out_dx, out_rho)
        if any_check:
            _demand_phase(dDu, x, x0, force, False, rhoT, dD, over)
            _output_phase(x, rhoT, dD, pass_, dcap, x0, crit, check, tol, fT, moved, no_demand)
            for b in range(B):
                if check[b]:
                    _stop_if_settled(b, moved, fT, rhoT, active, out_dx, out_rho)
        any_active = False
        for b in range(B):
            any_active = any_active or active[b]
        if not any_active:
            break
        if not accelerate:
            for j in range(n):
                for b in range(B):
                    x[j, b] = f[j, b]
            continue
        # Anderson on F_S: the scaled residual and the newest differences in one pass (gs still holds
        # the previous sweep's residual: _anderson_point only reads it), then mix
        for j in range(n):
            wj = w[j]
            for b in range(B):
                g = wj * (f[j, b] - x[j, b])
                if sweep > 0:
                    dX[slot, j, b] = x[j, b] - x_prev[j, b]
                    dG[slot, j, b] = g - gs[j, b]
                gs[j, b] = g
        # the next sweep keeps unrationed whom this one found demand-bound; the output phase rewrites
        # every entry of `demand`, so the two buffers trade places instead of being copied
        force, demand = demand, force
        if sweep > 0:
            count = min(count + 1, m)
            _gram_row(dG, count, slot, gram)
            slot = (slot + 1) % m
        # the new iterate goes into the buffer of the one before x (no longer needed: dX has it), and
        # the two trade places: x_prev becomes this sweep's x without a copy
        if count == 0:
            for j in range(n):
                for b in range(B):
                    x_prev[j, b] = f[j, b]
        else:
            _anderson_point(f, gs, dX[:count], dG[:count], gram, count, w, x0, active, x_prev)
        x, x_prev = x_prev, x
    for b in range(B):     # not converged: the last evaluation
        if active[b]:
            for j in range(n):
                out_dx[j, b] = f[j, b]
                out_rho[j, b] = rho[j, b]
    return active


@njit(cache=True, nogil=True, inline="always")
def _multiplierT(effT, cols, ptr, cells, out):
    """:func:`build_multiplier` draws-last: ``out[c, b] = prod_k (1 - effT[cols[k], b])`` over the shocks k
    whose cells (CSR ``ptr``/``cells``) hold c, in the same order. out: (n_cells, B)."""
    out[:, :] = 1.0
    for q in range(cols.shape[0]):
        sev = effT[cols[q]]
        for r in range(ptr[q], ptr[q + 1]):
            row = out[cells[r]]
            for b in range(row.shape[0]):
                row[b] *= 1.0 - sev[b]


@njit(cache=True, nogil=True)
def constrained_setup(effT, substT, cols, cells, tri, base, out_passT, out_demT, out_dcapT, out_dD0T):
    """The static terms of the constrained model for a batch, draws-last: the same products and sums, in
    the same order, as :func:`build_pass`, :func:`build_multiplier` and :func:`demand_loss_static` (so the
    same bits), without their draws-first arrays and transposes.
    effT: (K, B) severities (0 where the package did not occur); substT: (P, S, B); out_passT: (T, B)
    pass shares; out_demT: (R*S, B) remaining final demand; out_dcapT: (n, B) capacity lost
    ``(1 - prod(1 - sev)) x0``; out_dD0T: (n, B) demand lost at ``dx = 0``. cols, cells, tri, base:
    structs.ShockColumns, Cells, Triples, Baseline.
    """
    trade_cols, trade_pkg, cap_cols, fd_cols = cols.trade_cols, cols.trade_pkg, cols.cap_cols, cols.fd_cols
    trade_ptr, trade_tri, cap_ptr, cap_cells = cells.trade_ptr, cells.trade_tri, cells.cap_ptr, cells.cap_cells
    fd_ptr, fd_cells = cells.fd_ptr, cells.fd_cells
    tri_s, tri_ptr, tri_idx, tri_m = tri.tri_s, tri.tri_ptr, tri.tri_idx, tri.tri_m
    Zsum, Ypos, x0, n_sectors = base.Zsum, base.Ypos, base.x0, base.n_sectors
    B = effT.shape[1]
    n, R = Ypos.shape
    out_passT[:, :] = 1.0
    for q in range(trade_cols.shape[0]):
        sev = effT[trade_cols[q]]
        sub = substT[trade_pkg[q]]
        for r in range(trade_ptr[q], trade_ptr[q + 1]):
            t = trade_tri[r]
            st = sub[tri_s[t]]
            row = out_passT[t]
            for b in range(B):
                row[b] *= 1.0 - sev[b] * (1.0 - st[b])
    cap = np.empty((n, B))
    _multiplierT(effT, cap_cols, cap_ptr, cap_cells, cap)
    for j in range(n):
        for b in range(B):
            out_dcapT[j, b] = (1.0 - cap[j, b]) * x0[j]
    _multiplierT(effT, fd_cols, fd_ptr, fd_cells, out_demT)
    for i in range(n):
        s = i % n_sectors
        out = out_dD0T[i]
        out[:] = 0.0
        for m in range(R):
            y = Ypos[i, m]
            dm = out_demT[m * n_sectors + s]
            for b in range(B):
                out[b] += y * (1.0 - dm[b])
        for q in range(tri_ptr[i], tri_ptr[i + 1]):
            t = tri_idx[q]
            m = tri_m[t]
            z = Zsum[i, m]
            y = Ypos[i, m]
            dm = out_demT[m * n_sectors + s]
            pt = out_passT[t]
            for b in range(B):
                out[b] += (1.0 - pt[b]) * (z + y * dm[b])


@njit(cache=True, nogil=True)
def constrained_sub_batch(effT, substT, cols, cells, tri, base, tech, crit, opts, out_dxT, out_tradeT,
                          out_iterations):
    """The constrained model for one sub-batch in one call: :func:`constrained_setup`,
    :func:`constrained_fixed_point`, then the trade lost at the solution (:func:`trade_from_W`, with the
    buyers' lost orders ``W[m] = A[:, J_m] dx_m``, one small GEMM per buyer region). Returns ``active``
    (True: not converged). effT: (K, B); substT: (P, S, B); out_dxT: (n, B); out_tradeT: (R, R, B);
    cols, cells, tri, base, tech, crit, opts: structs.ShockColumns, Cells, Triples, Baseline, Technology,
    CriticalInputs, SolverOptions.
    """
    B = effT.shape[1]
    n_sectors = base.n_sectors
    n, R = base.Ypos.shape
    T = tri.tri_s.shape[0]
    passT = np.empty((T, B))
    demT = np.empty((R * n_sectors, B))
    dcapT = np.empty((n, B))
    dD0T = np.empty((n, B))
    constrained_setup(effT, substT, cols, cells, tri, base, passT, demT, dcapT, dD0T)
    rho = np.empty((n, B))
    active = constrained_fixed_point(tech, tri, base, crit, opts, passT, dD0T, dcapT, out_dxT, rho, out_iterations)
    W = np.empty((R, n, B))
    for m in range(R):
        np.dot(base.A_cols[m], out_dxT[m * n_sectors:(m + 1) * n_sectors], W[m])
    trade_from_W(W, rho, passT, demT, base.Zsum, base.Ypos, tri.tri_of, n_sectors, out_tradeT)
    return active


# --- fast path: sampling, pass classes, reductions ----------------------------------------------------


@njit(cache=True, nogil=True)
def sample_severity(Fn, En, copula, pkg_corr, shock_pkg, mitigating, tables, cap, z_max, out_sev):
    """Severities of one block from its standard normals (the one-factor Gaussian copula of
    ``engine.sample_block``): ``z_k = sqrt(c_p) (C F)_p + sqrt(1 - c_p) E_k``, negated for mitigating shocks,
    then ``F_k^-1(Phi(z_k))`` by linear interpolation in ``tables[k]`` (sampling.severity_table: a uniform
    grid on [-z_max, z_max]; latents beyond are clamped, as ``to_uniform`` clips u to [1e-15, 1 - 1e-15]),
    capped at ``cap[k]`` (sampling.severity_cap).

    Fn: (B, P) package factors before the copula; En: (B, K); copula: (P, P); tables: (K, G); out: (B, K).
    """
    B, P = Fn.shape
    K, G = tables.shape
    step = 2.0 * z_max / (G - 1)
    fc = np.empty((P, B))
    for b in range(B):
        for p in range(P):
            acc = 0.0
            for q in range(P):
                acc += Fn[b, q] * copula[p, q]
            fc[p, b] = acc
    # shock by shock: one table (64 kB) stays in cache while all draws read it
    for k in range(K):
        p = shock_pkg[k]
        c = pkg_corr[p]
        a = np.sqrt(c)
        e = np.sqrt(1.0 - c)
        sign = -1.0 if mitigating[k] else 1.0
        tab = tables[k]
        ck = cap[k]
        f = fc[p]
        for b in range(B):
            z = sign * (a * f[b] + e * En[b, k])
            t = (min(max(z, -z_max), z_max) + z_max) / step
            g = min(int(t), G - 2)
            frac = t - g
            out_sev[b, k] = min(tab[g] + frac * (tab[g + 1] - tab[g]), ck)


@njit(cache=True, nogil=True)
def sample_block_draws(rng, block, sm, out_occ, out_sev, out_um):
    """All random inputs of one block from its generator ``rng`` (``engine.sample_block``): standard normals
    ``W`` (block, P), ``F`` (block, P), ``E`` (block, K) and uniforms (block, M), drawn in this order for the
    full block, then :func:`occurrence` and :func:`sample_severity` of the first ``out_sev.shape[0]``
    draws. numba's ``Generator.standard_normal`` and ``random`` are ports of numpy's and give the same
    numbers for the same bit generator state (tests/test_engine.py checks them against numpy), about 2.5x
    faster here and without the GIL.
    sm: structs.SeverityModel; out_occ: (B, P) bool; out_sev: (B, K); out_um: (B, M) with B <= block
    """
    copula = sm.copula
    B = out_sev.shape[0]
    P = copula.shape[0]
    K = out_sev.shape[1]
    Wn = rng.standard_normal((block, P))
    Fn = rng.standard_normal((block, P))
    En = rng.standard_normal((block, K))
    if out_um.shape[1] > 0:
        Um = rng.random((block, out_um.shape[1]))
        out_um[:, :] = Um[:B]
    occurrence(Wn[:B], copula, sm.occ_threshold, out_occ)
    sample_severity(Fn[:B], En[:B], copula, sm.pkg_corr, sm.shock_pkg, sm.mitigating, sm.tables, sm.sev_cap, sm.z_max,
                    out_sev)


@njit(cache=True, nogil=True)
def occurrence(Wn, copula, threshold, out_occ):
    """Package ``p`` occurs iff its correlated latent ``(C W)_p < Phi^-1(probability_p)`` (same as
    ``Phi((C W)_p) < probability_p``, without evaluating Phi). Wn: (B, P); out: (B, P) bool."""
    B, P = Wn.shape
    for b in range(B):
        for p in range(P):
            acc = 0.0
            for q in range(P):
                acc += Wn[b, q] * copula[p, q]
            out_occ[b, p] = acc < threshold[p]


@njit(cache=True, nogil=True)
def class_factors(effT, trade_pkg, classes, substT, fd_multT, out_u, out_w):
    """Blocked share ``u_c = 1 - pass_c`` and lost share of final demand ``w_c = 1 - pass_c dem_c`` of every
    *pass class* ``c``, per draw (draws-last).

    A class is a set of flows (supplier industry i -> buyer region m) that every draw treats alike: the
    same trade shocks cover them, their sector has the same substitution masks, the same final-demand
    shocks cover the buyer's cell (passclasses.py). So ``pass_c = prod_k (1 - sev_k (1 - subst[pkg_k, s_c]))``
    (the product of :func:`build_pass` in the same order; a zero severity multiplies by exactly 1, so the
    two agree bit for bit) and ``dem_c = prod (1 - sev)`` over its final-demand shocks.
    effT: (K_trade, B) trade-shock severities; substT: (P, S, B); fd_multT: (K_fd, B) remaining shares
    ``1 - sev``; classes: structs.ClassShocks; out_u, out_w: (C, B)
    """
    cls_ptr, cls_shock, cls_sector = classes.cls_ptr, classes.cls_shock, classes.cls_sector
    cls_fd_ptr, cls_fd = classes.cls_fd_ptr, classes.cls_fd
    B = effT.shape[1]
    C = cls_sector.shape[0]
    p = np.empty(B)
    for c in range(C):
        s = cls_sector[c]
        p[:] = 1.0
        for q in range(cls_ptr[c], cls_ptr[c + 1]):
            k = cls_shock[q]
            sev = effT[k]
            sub = substT[trade_pkg[k], s]
            for b in range(B):
                p[b] *= 1.0 - sev[b] * (1.0 - sub[b])
        dem = out_w[c]               # the product of the final-demand multipliers first, as build_multiplier
        dem[:] = 1.0
        for q in range(cls_fd_ptr[c], cls_fd_ptr[c + 1]):
            d = fd_multT[cls_fd[q]]
            for b in range(B):
                dem[b] *= d[b]
        for b in range(B):
            out_u[c, b] = 1.0 - p[b]
            out_w[c, b] = 1.0 - p[b] * dem[b]


@njit(cache=True, nogil=True)
def linear_trade(dxT, Q, groups, uT, wT, n_sectors, out_loss):
    """:func:`linear_trade_into` with its own scratch."""
    buf = np.empty(max_rows(groups.Q_ptr) * uT.shape[1], dtype=dxT.dtype)
    linear_trade_into(dxT, Q, groups, uT, wT, n_sectors, out_loss, buf)


@njit(cache=True, nogil=True)
def max_rows(Q_ptr):
    """The most rows of ``Q`` of one importer."""
    rows = 0
    for m in range(Q_ptr.shape[0] - 1):
        rows = max(rows, Q_ptr[m + 1] - Q_ptr[m])
    return rows


@njit(cache=True, nogil=True)
def linear_trade_into(dxT, Q, groups, uT, wT, n_sectors, out_loss, buf):
    """Bilateral trade lost when no supplier rations (``rho = 1``: the leontief and ghosh models).

    Same quantity as ``shockmodel.testing.trade_loss`` (docs/model.md eq. 25 with ``rho = 1``), summed
    by pass class instead of by industry (eq. 39): with
    ``acc_im = sum_{j in m} A_ij dx_j``, a flow outside every class loses ``acc_im`` and a flow in class c
    loses ``acc_im + u_c (Zsum_im - acc_im) + w_c Y+_im``. Summed over the sectors of exporter e:
    ``loss_em = sum_{j in m} Ar_ej dx_j + sum_{k in (e, m)} u_k (Z_k - Ak_k . dx_m) + sum_{g in (e, m)} w_c Y_g``,
    where ``Ar_ej = sum_{i in e} A_ij``, the group ``g`` sums the flows of one class on the pair and the
    u-group ``k`` those of all classes with the same ``u`` (passclasses.py). The dot products are one
    small GEMM per importer m (BLAS through ``np.dot``): ``Pm = Q_m dx_m`` with the rows of
    passclasses.PassClasses.Q, so ``Pm[e] = Ar_e . dx_m`` and ``Pm[ug_row[k] - Q_ptr[m]] = Ak_k . dx_m``;
    per importer keeps the product in cache.
    dxT: (n, B) in the dtype of Q (float64 or float32); uT, wT: (C, B); groups: structs.TradeGroups (ug_*,
    grp_*: CSR over pairs ``e * R + m``); out_loss: (R, R, B) draws-last, float64; buf: scratch in the dtype
    of dxT, ``max_rows(Q_ptr) * B`` long
    """
    Q_ptr, ug_ptr, ug_row, ug_c, ug_Z = groups.Q_ptr, groups.ug_ptr, groups.ug_row, groups.ug_c, groups.ug_Z
    grp_ptr, grp_c, grp_Y = groups.grp_ptr, groups.grp_c, groups.grp_Y
    R = Q_ptr.shape[0] - 1
    B = uT.shape[1]
    for m in range(R):
        r0 = Q_ptr[m]
        Pm = buf[:(Q_ptr[m + 1] - r0) * B].reshape((Q_ptr[m + 1] - r0, B))
        np.dot(Q[r0:Q_ptr[m + 1]], dxT[m * n_sectors:(m + 1) * n_sectors], Pm)
        for e in range(R):
            o = out_loss[e, m]
            o[:] = Pm[e]
            pair = e * R + m
            for k in range(ug_ptr[pair], ug_ptr[pair + 1]):
                u = uT[ug_c[k]]
                z = ug_Z[k]
                row = Pm[ug_row[k] - r0]
                for b in range(B):
                    o[b] += u[b] * (z - row[b])
            for g in range(grp_ptr[pair], grp_ptr[pair + 1]):
                y = grp_Y[g]
                if y != 0.0:
                    w = wT[grp_c[g]]
                    for b in range(B):
                        o[b] += w[b] * y


def leontief_work_sizes(n_shocks, n_packages, n_sectors, n_trade, n_fd, n_classes, n, Q_ptr, B):
    """Lengths of the two scratch vectors of :func:`leontief_block`: (float64, GEMM dtype)."""
    rows = int(max_rows(Q_ptr))
    f64 = (n_shocks + max(n_packages, 1) * n_sectors + n_trade + n_fd + n_classes) * B
    return f64, (n_classes + n + rows) * B


@njit(cache=True, nogil=True)
def _carve(work, offset, rows, B):
    """The next ``rows x B`` of scratch vector ``work`` from ``offset``, and the offset after it."""
    return work[offset:offset + rows * B].reshape((rows, B)), offset + rows * B


@njit(cache=True, nogil=True)
def leontief_block(sev, on, cols, horizon, classes, groups, M, Q, base, ws):
    """One block of the Leontief model in one call (no Python between the steps, so two threads do not
    queue for the GIL): :func:`block_setup`, :func:`class_factors`, ``dx = (L Yc) w`` (engine: Miller &
    Blair eq. 2.11 in changes, by pass class) as one GEMM in the dtype of ``M``, :func:`clip_loss` and
    :func:`linear_trade`. Same operations in the same order as the step-by-step path, so the same bits.
    sev: (B, K); on: (B, P); M: (n, C); cols, horizon, classes, groups, base: structs.ShockColumns,
    Horizon, ClassShocks, TradeGroups, Baseline; ws: structs.LeontiefWork, the outputs (dxT: (n, B) float64;
    tradeT: (R, R, B); f: (B,); uT: (C, B) blocked share of each class) and the scratch vectors work
    (float64) and work_g (dtype of M) of the lengths :func:`leontief_work_sizes` gives, kept by the caller
    between blocks (fresh temporaries of a few hundred kB per block make the allocator hand pages back and
    fault them in again; docs/performance.md, "memory").
    """
    out_dxT, out_tradeT, out_f, out_uT, work, work_g = ws.dxT, ws.tradeT, ws.f, ws.uT, ws.work, ws.work_g
    trade_cols, fd_cols, x0 = cols.trade_cols, cols.fd_cols, base.x0
    B, K = sev.shape
    P = on.shape[1]
    S = base.n_sectors
    C = classes.cls_sector.shape[0]
    n = M.shape[0]
    effT, o = _carve(work, 0, K, B)
    substT = work[o:o + max(P, 1) * S * B].reshape((max(P, 1), S, B))
    o += max(P, 1) * S * B
    eff_trade, o = _carve(work, o, trade_cols.shape[0], B)
    fd_mult, o = _carve(work, o, fd_cols.shape[0], B)
    wT, o = _carve(work, o, C, B)
    w_g, o = _carve(work_g, 0, C, B)
    dx_g, o = _carve(work_g, o, n, B)
    block_setup(sev, on, cols, horizon, effT, substT, out_f)
    for q in range(trade_cols.shape[0]):
        eff_trade[q] = effT[trade_cols[q]]
    for q in range(fd_cols.shape[0]):
        for b in range(B):
            fd_mult[q, b] = 1.0 - effT[fd_cols[q], b]
    class_factors(eff_trade, cols.trade_pkg, classes, substT, fd_mult, out_uT, wT)
    for c in range(C):
        for b in range(B):
            w_g[c, b] = wT[c, b]
    np.dot(M, w_g, dx_g)
    for j in range(n):
        for b in range(B):
            out_dxT[j, b] = dx_g[j, b]
    clip_loss(out_dxT, x0)
    for j in range(n):   # the trade GEMMs read the clipped loss, in the dtype of Q
        for b in range(B):
            dx_g[j, b] = out_dxT[j, b]
    linear_trade_into(dx_g, Q, groups, out_uT, wT, S, out_tradeT, work_g[o:])


@njit(cache=True, nogil=True)
def clip_loss(dxT, x0):
    """``dx = min(max(dx, 0), x0)`` (the linear models can overshoot: output is never negative), and
    exact zero where ``|dx| < 1e-12 max(x0, 1)`` (round-off on rows no shock reaches). dxT: (n, B)."""
    n, B = dxT.shape
    for j in range(n):
        lim = 1e-12 * max(x0[j], 1.0)
        for b in range(B):
            v = min(max(dxT[j, b], 0.0), x0[j])
            dxT[j, b] = 0.0 if abs(v) < lim else v


@njit(cache=True, nogil=True)
def trade_from_W(W, rho, pass_, demT, Zsum, Ypos, tri_of, n_sectors, out_loss):
    """Bilateral trade lost with rationing (the constrained model; docs/model.md eq. 25, flow by flow
    in ``shockmodel.testing.trade_loss``) with the buyers' lost orders ``acc_im = W[m, i]`` taken from a
    GEMM at the solution (draws-last, W: (R, n, B)) instead of recomputed per draw. rho: (n, B); pass_: (T, B); demT: (R*S, B); out_loss: (R, R, B)
    """
    R, n, B = W.shape
    out_loss[:, :, :] = 0.0
    for i in range(n):
        e = i // n_sectors
        s = i % n_sectors
        for m in range(R):
            t = tri_of[e, m, s]
            z = Zsum[i, m]
            y = Ypos[i, m]
            ms = m * n_sectors + s
            for b in range(B):
                pr = rho[i, b] if t < 0 else pass_[t, b] * rho[i, b]
                out_loss[e, m, b] += (1.0 - pr) * z + pr * W[m, i, b] + y * (1.0 - pr * demT[ms, b])


@njit(cache=True, nogil=True, inline="always")
def _hist_row(row, scale, shift, first_key, counts, buf, keys, rng):
    """:func:`bit_histogram` for one cell: ``row`` (draws) times ``scale`` into ``counts`` (bins), and
    ``rng`` (2,) widened to cover the bins >= 1 it counted into (:func:`reset_ranges`). The bin keys are
    computed without branches into ``keys`` (a loop the compiler vectorises), then counted: only the
    counting loop, which cannot be vectorised, stays scalar. buf, keys: scratch of at least ``len(row)``."""
    n_bins = counts.shape[0]
    B = row.shape[0]
    for b in range(B):
        buf[b] = row[b] * scale
    bits = buf[:B].view(np.int64)
    lo, hi = rng[0], rng[1]
    for b in range(B):
        k = min(max((bits[b] >> shift) - first_key, 1), n_bins - 1)
        zero = buf[b] <= 0.0
        keys[b] = 0 if zero else k
        lo = min(lo, n_bins if zero else k)
        hi = max(hi, 0 if zero else k + 1)
    rng[0], rng[1] = lo, hi
    for b in range(B):
        counts[keys[b]] += 1


# A histogram cell's *range* [lo, hi) is where its bins >= 1 may hold counts (bin 0, the exact zeros, is
# always looked at): a cell's draws fill ~100 of its ~1700 bins, so adding up, zeroing and reading
# histograms only there skips ~94% of their memory (docs/performance.md, "memory").


@njit(cache=True, nogil=True)
def reset_ranges(rng, n_bins):
    """Empty every range of ``rng`` (..., 2): ``[n_bins, 0)``."""
    r = rng.reshape(-1, 2)
    for c in range(r.shape[0]):
        r[c, 0] = n_bins
        r[c, 1] = 0


@njit(cache=True, nogil=True)
def drain_counts(total, part, total_rng, part_rng):
    """``total += part`` and ``part = 0`` for integer histograms ``(..., bins)`` of the same shape, with
    their ranges ``(..., 2)``: only bin 0 and the range of each cell of ``part`` are read and written;
    ``total``'s ranges grow to cover them and ``part``'s are emptied.

    Bin 0 is written only if it holds a count: pages of a ``np.zeros`` array that were never written
    map the shared zero page, and a write faults one in (2-10 us here)."""
    n_bins = part.shape[-1]
    t = total.reshape(-1, n_bins)
    p = part.reshape(-1, n_bins)
    tr = total_rng.reshape(-1, 2)
    pr = part_rng.reshape(-1, 2)
    for c in range(p.shape[0]):
        if p[c, 0] != 0:
            t[c, 0] += p[c, 0]
            p[c, 0] = 0
        lo, hi = pr[c, 0], min(pr[c, 1], n_bins)
        for b in range(lo, hi):
            t[c, b] += p[c, b]
            p[c, b] = 0
        if lo < hi:
            tr[c, 0] = min(tr[c, 0], lo)
            tr[c, 1] = max(tr[c, 1], hi)
        pr[c, 0] = n_bins
        pr[c, 1] = 0


@njit(cache=True, nogil=True)
def clear_counts(counts, rng):
    """``counts = 0`` for histograms whose counts lie in bin 0 and the ranges ``rng`` (:func:`drain_counts`),
    writing only there; the ranges are emptied."""
    n_bins = counts.shape[-1]
    c2 = counts.reshape(-1, n_bins)
    r = rng.reshape(-1, 2)
    for c in range(c2.shape[0]):
        if c2[c, 0] != 0:
            c2[c, 0] = 0
        for b in range(r[c, 0], min(r[c, 1], n_bins)):
            c2[c, b] = 0
        r[c, 0] = n_bins
        r[c, 1] = 0


@njit(cache=True, nogil=True)
def bit_histogram(values, scale, shift, first_key, counts, rng):
    """Add ``values[c, b] * scale[c]`` (percent losses) to per-cell histograms ``counts[c, bin]`` and
    widen their ranges ``rng[c]`` (:func:`reset_ranges`; a full range ``[1, bins)`` is always valid).

    Bin 0 holds exact zeros (and negatives, which do not occur). A positive value goes to the bin given
    by its float64 bit pattern shifted right by ``shift``: exponent and the top ``52 - shift`` mantissa
    bits, i.e. equal sub-bins per octave (HDR-histogram layout), offset by ``first_key`` so that bin 1
    starts at the smallest resolved value (engine.HIST_*); smaller values go to bin 1 and larger than the
    last edge to the last bin. Integer counts make streamed quantiles independent of chunking; no
    logarithm is evaluated.
    values: (n_cells, B) draws-last; counts: (n_cells, n_bins); rng: (n_cells, 2)
    """
    n_cells, B = values.shape
    buf = np.empty(B)
    keys = np.empty(B, dtype=np.int64)
    for c in range(n_cells):
        _hist_row(values[c], scale[c], shift, first_key, counts[c], buf, keys, rng[c])


@njit(cache=True, nogil=True, inline="always")
def _lane_sum(row, n, scale):
    """``sum(row[:n] * scale)`` and ``sum((row[:n] * scale)^2)`` in four interleaved lanes, added as
    ``(l0 + l1) + (l2 + l3)``: a fixed order (so the same for every chunking and thread count) that does not
    wait on one add at a time (one running sum would make the reduction wait on every add)."""
    s0 = s1 = s2 = s3 = 0.0
    q0 = q1 = q2 = q3 = 0.0
    m = n - n % 4
    for b in range(0, m, 4):
        v0 = row[b] * scale
        v1 = row[b + 1] * scale
        v2 = row[b + 2] * scale
        v3 = row[b + 3] * scale
        s0 += v0
        s1 += v1
        s2 += v2
        s3 += v3
        q0 += v0 * v0
        q1 += v1 * v1
        q2 += v2 * v2
        q3 += v3 * v3
    for b in range(m, n):
        v = row[b] * scale
        s0 += v
        q0 += v * v
    return (s0 + s1) + (s2 + s3), (q0 + q1) + (q2 + q3)


@njit(cache=True, nogil=True)
def block_setup(sev, on, cols, hz, out_effT, out_substT, out_f):
    """Per-draw inputs of one block, draws-last.

    ``eff[k] = sev[k]`` if the package of shock k occurred, else 0. Substitution of package p in sector s:
    ``1 - prod_q (1 - eff_q mask_q[s])`` over its substitution shocks. Horizon fraction (engine module
    docstring): ``f = clip(min(T, H) - b / 30.4375, 0, H) / H`` with ``T`` the longest duration among the
    occurring packages (a package without a duration shock lasts ``H``) and ``b`` the smallest inventory
    cover among them (0 if none); ``f = 0`` when no package occurs.
    sev: (B, K); on: (B, P) bool; cols: structs.ShockColumns; hz: structs.Horizon; out_effT: (K, B);
    out_substT: (P, S, B); out_f: (B,)
    """
    shock_pkg, subst_cols, subst_pkg, subst_mask = cols.shock_pkg, cols.subst_cols, cols.subst_pkg, cols.subst_mask
    dur_cols, dur_pkg, inv_cols, inv_pkg = cols.dur_cols, cols.dur_pkg, cols.inv_cols, cols.inv_pkg
    days_per_month = hz.days_per_month
    horizon = hz.months
    B, K = sev.shape
    P = on.shape[1]
    S = out_substT.shape[1]
    for k in range(K):
        p = shock_pkg[k]
        for b in range(B):
            out_effT[k, b] = sev[b, k] if on[b, p] else 0.0
    out_substT[:, :, :] = 0.0
    for q in range(subst_cols.shape[0]):
        p = subst_pkg[q]
        e = out_effT[subst_cols[q]]
        for s in range(S):
            if subst_mask[q, s]:
                for b in range(B):
                    out_substT[p, s, b] = 1.0 - (1.0 - out_substT[p, s, b]) * (1.0 - e[b])
    has_dur = np.zeros(P, dtype=np.bool_)
    for q in range(dur_pkg.shape[0]):
        has_dur[dur_pkg[q]] = True
    for b in range(B):
        any_on = False
        T = 0.0
        for p in range(P):
            if on[b, p]:
                any_on = True
                if not has_dur[p]:
                    T = max(T, horizon)
        for q in range(dur_cols.shape[0]):
            if on[b, dur_pkg[q]]:
                T = max(T, sev[b, dur_cols[q]])
        T = min(T, horizon)
        cover = np.inf
        for q in range(inv_cols.shape[0]):
            if on[b, inv_pkg[q]]:
                cover = min(cover, sev[b, inv_cols[q]])
        if not np.isfinite(cover):
            cover = 0.0
        if not any_on or horizon <= 0.0:
            out_f[b] = 0.0
        else:
            out_f[b] = min(max(T - cover / days_per_month, 0.0), horizon) / horizon


@njit(cache=True, nogil=True)
def reduce_block(dxT, tradeT, f, n_sectors, n_keep, scales, spec, draws, hists, sums, work):
    """Scale one block's losses by the horizon fraction and reduce them, in place, one pass per cell.

    Per draw (the first ``n_keep`` draws of the block): GDP lost by region, ``sum_{j in r} v0_j dx_j / x0_j``
    (``va[j] = v0_j / x0_j``, or 0 where ``x0_j = 0``), and exports lost (row sums of the trade loss
    without the diagonal). Per cell (industries, trade pairs, and the headline cells of
    ``engine.HEADLINES``: GDP by region, world GDP, exports by region, world exports, in percent via
    ``head_scale``): histogram counts of the percent loss (:func:`bit_histogram`) and the sum over the
    block's draws (and, for the headlines, of squares).
    dxT: (n, B); tradeT: (R, R, B); scales: structs.LossScales; spec: structs.HistogramSpec;
    draws: structs.DrawLosses, (n_keep, R) each; hists: structs.Histograms, counts (cells, bins) and their
    ranges (cells, 2) (:func:`drain_counts`), widened here; sums: structs.BlockSums (output (n,), trade
    (R, R), headline and its squares (2R + 2,)); work: float64 scratch of ``(2 R + 4) B`` (kept by the
    caller between blocks)
    """
    va, out_scale, trade_scale, head_scale = scales.va, scales.out_scale, scales.trade_scale, scales.head_scale
    shift, first_key = spec.shift, spec.first_key
    out_gdp, out_exports = draws.gdp, draws.exports
    out_hist, trade_hist, head_hist = hists.output, hists.trade, hists.headline
    out_rng, trade_rng, head_rng = hists.output_rng, hists.trade_rng, hists.headline_rng
    out_sum, trade_sum, head_sum, head_sumsq = sums.output, sums.trade, sums.headline, sums.headline_sq
    n, B = dxT.shape
    R = tradeT.shape[0]
    head, o = _carve(work, 0, 2 * R + 2, B)
    head[:, :] = 0.0
    buf = work[o:o + B]
    keys = work[o + B:o + 2 * B].view(np.int64)
    for j in range(n):
        r = j // n_sectors
        a = va[j]
        row = dxT[j]
        for b in range(B):
            v = row[b] * f[b]
            row[b] = v
            head[r, b] += a * v
        out_sum[j] = _lane_sum(row, n_keep, 1.0)[0]
        _hist_row(row[:n_keep], out_scale[j], shift, first_key, out_hist[j], buf, keys, out_rng[j])
    for e in range(R):
        for m in range(R):
            row = tradeT[e, m]
            for b in range(B):
                v = row[b] * f[b]
                row[b] = v
            if m != e:
                for b in range(B):
                    head[R + 1 + e, b] += row[b]
            trade_sum[e, m] = _lane_sum(row, n_keep, 1.0)[0]
            _hist_row(row[:n_keep], trade_scale[e * R + m], shift, first_key, trade_hist[e * R + m], buf, keys,
                      trade_rng[e * R + m])
    for r in range(R):
        for b in range(B):
            head[R, b] += head[r, b]
            head[2 * R + 1, b] += head[R + 1 + r, b]
        for b in range(n_keep):
            out_gdp[b, r] = head[r, b]
            out_exports[b, r] = head[R + 1 + r, b]
    for h in range(2 * R + 2):
        _hist_row(head[h, :n_keep], head_scale[h], shift, first_key, head_hist[h], buf, keys, head_rng[h])
        head_sum[h], head_sumsq[h] = _lane_sum(head[h], n_keep, head_scale[h])
