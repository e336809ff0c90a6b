"""Test helpers (importable by users' own tests): textbook tables and small scenarios.

* :func:`miller_blair_2x2` — the two-sector example of Miller & Blair (2009), section 2.2 (Table 2.3):
  ``Z = [[150, 500], [200, 100]]``, ``f = [350, 1700]``, ``x = [1000, 2000]``, so
  ``A = [[0.15, 0.25], [0.20, 0.05]]`` and ``L = [[1.2541, 0.3300], [0.2640, 1.1221]]`` (their eq. 2.14).
* :func:`toy_mrio` — 2 regions x 3 sectors, balanced, for kernel tests against dense references.
* reference implementations: plain numpy transcriptions of docs/model.md that the kernels are tested
  against (:func:`dense_constrained`, :func:`pass_shares`, :func:`trade_loss`, :func:`hist_quantiles`, ...).
"""

from __future__ import annotations

import numpy as np

from shockmodel.mrio import MRIO, balance

MB_Z = np.array([[150.0, 500.0], [200.0, 100.0]])
MB_F = np.array([[350.0], [1700.0]])
MB_X = np.array([1000.0, 2000.0])
MB_L = np.array([[1.2541, 0.3300], [0.2640, 1.1221]])  # Miller & Blair (2009) eq. 2.14, 4 decimals


def miller_blair_2x2() -> MRIO:
    """One region, two sectors: Miller & Blair (2009) Table 2.3."""
    return MRIO(name="miller_blair_2x2", regions=("R",), sectors=("S1", "S2"), Z=MB_Z.copy(), Y=MB_F.copy(),
                x=MB_X.copy(), v=MB_X - MB_Z.sum(axis=0))


def toy_mrio(seed: int = 0, regions=("AAA", "BBB"), sectors=("ENERGY", "CHIPS", "SERVICES")) -> MRIO:
    """A random but balanced and productive table (column sums of A about 0.5)."""
    rng = np.random.default_rng(seed)
    R, S = len(regions), len(sectors)
    n = R * S
    Z = rng.uniform(1.0, 10.0, (n, n)) * (rng.random((n, n)) < 0.8)
    Y = rng.uniform(20.0, 60.0, (n, R))
    Z, Y, x, v = balance(Z, Y)
    return MRIO(name="toy", regions=tuple(regions), sectors=tuple(sectors), Z=Z, Y=Y, x=x, v=v)


def scenario_dict(packages: dict, **top) -> dict:
    """A scenario as a dict (``shockmodel.scenario.scenario_from_dict``), sources filled in for tests."""
    out = {"name": top.pop("name", "test"), "description": "test scenario", **top, "packages": {}}
    for pname, pkg in packages.items():
        shocks = {}
        for sname, sh in pkg.get("shocks", {}).items():
            shocks[sname] = {"source": "test", **sh}
        out["packages"][pname] = {"probability": 1.0, "source": "test", **{k: v for k, v in pkg.items() if k != "shocks"},
                                  "shocks": shocks}
    return out


def fixed(value: float) -> dict:
    return {"dist": "fixed", "value": value}


# --- reference implementations ---------------------------------------------------------------------
#
# Plain numpy transcriptions of the equations of docs/model.md, written for clarity, not speed: the
# numba kernels (kernels/propagate.py, kernels/stats.py) and the streamed statistics of aggregate.py are
# tested against them (tests/test_kernels.py, tests/test_aggregate_speed.py). Arrays follow the kernels'
# names and layouts (docs/architecture.md, "naming"): ``...T`` are draws-last.


def dense_constrained(mrio: MRIO, blocked: np.ndarray, cap_loss: np.ndarray, crit: np.ndarray,
                      tol: float = 1e-13) -> np.ndarray:
    """Output ``x`` of the constrained model (docs/model.md eq. 12-16) in levels, with dense matrices,
    iterated from ``x0`` until no industry moves by more than ``tol max(x0)``.

    blocked: (R, R, S) blocked share of each flow [exporter, importer, product]; cap_loss: (n,) share of
    capacity lost; crit: (S, S) weights ``W[input sector, using sector]``."""
    R, S, n = mrio.n_regions, mrio.n_sectors, mrio.n
    reg, sec = mrio.region_of, mrio.sector_of
    pass_ij = 1.0 - blocked[reg[:, None], reg[None, :], sec[:, None]]
    pass_im = 1.0 - blocked[reg[:, None], np.arange(R)[None, :], sec[:, None]]
    Zb = mrio.Z * pass_ij
    yb = (mrio.Y * pass_im).sum(axis=1)
    x0 = mrio.x
    req = np.zeros((S, n))
    for s in range(S):
        req[s] = mrio.Z[sec == s].sum(axis=0)
    x = x0.copy()
    for _ in range(10_000):
        D = Zb @ (x / x0) + yb
        rho = np.minimum(1.0, np.divide(x, D, out=np.ones_like(x), where=D > 0))
        new = np.minimum(x0 * (1 - cap_loss), D)
        for j in range(n):
            for s in np.flatnonzero(crit[:, sec[j]] > 0):
                if req[s, j] > 0:
                    avail = (Zb[sec == s, j] * rho[sec == s]).sum()
                    new[j] = min(new[j], x0[j] * (1 - crit[s, sec[j]] * (1 - avail / req[s, j])))
        if np.abs(new - x).max() <= tol * x0.max():
            return new
        x = new
    raise AssertionError("dense reference did not converge")


def pass_shares(eff: np.ndarray, trade_pkg: np.ndarray, trade_ptr: np.ndarray, trade_tri: np.ndarray,
                tri_s: np.ndarray, subst: np.ndarray, n_triples: int) -> np.ndarray:
    """(B, T) share of each triple's flow that passes (docs/model.md eq. 9): the product over the trade
    shocks k covering the triple of ``1 - eff_k (1 - subst[package(k), s])``. eff: (B, K_trade);
    subst: (B, P, S)."""
    out = np.ones((eff.shape[0], n_triples))
    for k in range(eff.shape[1]):
        tris = trade_tri[trade_ptr[k]:trade_ptr[k + 1]]
        out[:, tris] *= 1.0 - eff[:, k, None] * (1.0 - subst[:, trade_pkg[k], tri_s[tris]])
    return out


def remaining_shares(eff: np.ndarray, ptr: np.ndarray, cells: np.ndarray, n_cells: int) -> np.ndarray:
    """(B, n_cells) ``prod_k (1 - eff_k)`` over the shocks whose cells hold each cell (eq. 10-11)."""
    out = np.ones((eff.shape[0], n_cells))
    for k in range(eff.shape[1]):
        out[:, cells[ptr[k]:ptr[k + 1]]] *= 1.0 - eff[:, k, None]
    return out


def flow_pass(pass_: np.ndarray, tri_of: np.ndarray, n_sectors: int) -> np.ndarray:
    """(B, n, R) pass share of every flow (supplier i -> buyer region m): the triple's, 1 elsewhere."""
    R = tri_of.shape[0]
    n = R * n_sectors
    out = np.ones((pass_.shape[0], n, R))
    for i in range(n):
        for m in range(R):
            t = tri_of[i // n_sectors, m, i % n_sectors]
            if t >= 0:
                out[:, i, m] = pass_[:, t]
    return out


def static_demand_lost(pass_: np.ndarray, dem: np.ndarray, Zsum: np.ndarray, Ypos: np.ndarray,
                       tri_of: np.ndarray, n_sectors: int) -> np.ndarray:
    """(B, n) demand lost before any output adjusts (docs/model.md eq. 17):
    ``sum_m Y+_im (1 - pass_im dem_{m, s_i}) + (1 - pass_im) Zsum_im``. dem: (B, R*S)."""
    P = flow_pass(pass_, tri_of, n_sectors)                      # (B, n, R)
    R = Zsum.shape[1]
    s = np.arange(Zsum.shape[0]) % n_sectors
    dem_im = dem[:, np.arange(R)[None, :] * n_sectors + s[:, None]]   # (B, n, R): dem of buyer m for i's product
    return (Ypos[None] * (1.0 - P * dem_im) + Zsum[None] * (1.0 - P)).sum(axis=2)


def demand_lost(dD0T: np.ndarray, dxT: np.ndarray, passT: np.ndarray, A: np.ndarray, tri_of: np.ndarray,
                n_sectors: int) -> np.ndarray:
    """(n, B) demand lost before the rounding guard (docs/model.md eq. 18):
    ``dD0_i + sum_j pass_ij A_ij dx_j``."""
    P = flow_pass(np.ascontiguousarray(passT.T), tri_of, n_sectors)     # (B, n, R)
    Pj = np.repeat(P, n_sectors, axis=2)                                  # (B, n, n): pass_ij
    return dD0T + np.einsum("bij,ij,jb->ib", Pj, A, dxT)


def demand_and_rationing(dDu: np.ndarray, dx: np.ndarray, x0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rho, dD), (n, B) each: ``dD = max(dDu, 0)`` and ``rho = x / D`` where the supplier cannot serve
    its demand, 1 elsewhere (docs/model.md eq. 18)."""
    dD = np.maximum(dDu, 0.0)
    den = x0[:, None] - dD
    short = (dx > dD) & (den > 0.0)
    rho = np.where(short, (x0[:, None] - dx) / np.where(short, den, 1.0), 1.0)
    return rho, dD


def constrained_output(dD: np.ndarray, rho: np.ndarray, passT: np.ndarray, dcap: np.ndarray, mrio: MRIO,
                       crit: np.ndarray, tri_of: np.ndarray) -> np.ndarray:
    """(n, B) the output loss of one sweep (docs/model.md eq. 14, 15, 19), from dense ``Z`` and the
    weights ``crit[input sector, using sector]``: ``min(x0, max(dcap, dD, x0 max_s w_sj short_sj / req_sj))``."""
    S, n = mrio.n_sectors, mrio.n
    sec = mrio.sector_of
    x0 = mrio.x
    P = flow_pass(np.ascontiguousarray(passT.T), tri_of, S)                 # (B, n, R)
    Pj = np.repeat(P, S, axis=2)                                             # (B, n, n)
    served = mrio.Z[None] * Pj * rho.T[:, :, None]                           # (B, i, j)
    out = np.maximum(dcap, dD)
    for j in range(n):
        for s in np.flatnonzero(crit[:, sec[j]] > 0):
            rows = sec == s
            req = mrio.Z[rows, j].sum()
            if req > 0:
                short = req - served[:, rows, j].sum(axis=1)                 # (B,)
                out[j] = np.maximum(out[j], x0[j] * crit[s, sec[j]] * short / req)
    return np.minimum(out, x0[:, None])


def trade_loss(dx: np.ndarray, rho: np.ndarray, pass_: np.ndarray, dem: np.ndarray, Zsum: np.ndarray,
               Ypos: np.ndarray, A: np.ndarray, tri_of: np.ndarray, n_sectors: int) -> np.ndarray:
    """(B, R, R) bilateral trade lost, exporter x importer (diagonal: domestic sales lost), flow by flow
    (docs/model.md eq. 25): ``(1 - pr) Zsum_im + pr sum_{j in m} A_ij dx_j + Y+_im (1 - pr dem_ms)`` with
    ``pr = pass_im rho_i``, summed over the sectors of the exporter. dx, rho: (B, n); dem: (B, R*S)."""
    B, n = dx.shape
    R = Zsum.shape[1]
    P = flow_pass(pass_, tri_of, n_sectors)                                  # (B, n, R)
    pr = P * rho[:, :, None]
    W = np.einsum("imk,bmk->bim", A.reshape(n, R, n_sectors), dx.reshape(B, R, n_sectors))   # (B, n, R)
    s = np.arange(n) % n_sectors
    dem_im = dem[:, np.arange(R)[None, :] * n_sectors + s[:, None]]
    per_flow = (1.0 - pr) * Zsum[None] + pr * W + Ypos[None] * (1.0 - pr * dem_im)
    return per_flow.reshape(B, R, n_sectors, R).sum(axis=2)


def hist_quantiles(counts: np.ndarray, qs) -> np.ndarray:
    """``aggregate.hist_quantiles`` as a Python loop over cells and levels (docs/model.md eq. 50)."""
    from shockmodel.engine import hist_edges

    counts = np.asarray(counts)
    flat = counts.reshape(-1, counts.shape[-1])
    cum = np.cumsum(flat, axis=1)
    total = cum[:, -1:]
    n_bins = flat.shape[1]
    lo, hi = hist_edges()
    out = np.zeros((flat.shape[0], len(qs)))
    for c in range(flat.shape[0]):
        if total[c, 0] == 0:
            continue
        for a, q in enumerate(qs):
            target = q * total[c, 0]
            b = int(np.searchsorted(cum[c], target, side="left"))
            b = min(b, n_bins - 1)
            if b == 0:
                continue
            below = cum[c, b - 1]
            frac = (target - below) / flat[c, b] if flat[c, b] else 0.0
            out[c, a] = lo[b] + min(max(frac, 0.0), 1.0) * (hi[b] - lo[b])
    return out.reshape(counts.shape[:-1] + (len(qs),))


def hist_expected_shortfall(counts: np.ndarray, level: float) -> np.ndarray:
    """``aggregate.hist_expected_shortfall`` as a Python loop over cells and bins (docs/model.md eq. 51)."""
    import math

    from shockmodel.engine import hist_edges

    lo, hi = hist_edges()
    flat = np.asarray(counts).reshape(-1, counts.shape[-1])
    out = np.zeros(flat.shape[0])
    for c in range(flat.shape[0]):
        n = int(flat[c].sum())
        if n == 0:
            continue
        k = max(1, math.ceil(round((1.0 - level) * n, 9)))
        need, total = k, 0.0
        for b in range(flat.shape[1] - 1, -1, -1):
            cnt = int(flat[c, b])
            if cnt == 0:
                continue
            take = min(cnt, need)
            # the top `take` of `cnt` values spread evenly on [lo, hi] have mean hi - (take / cnt) (hi - lo) / 2
            total += take * (hi[b] - 0.5 * (take / cnt) * (hi[b] - lo[b]))
            need -= take
            if need == 0:
                break
        out[c] = total / k
    return out.reshape(counts.shape[:-1])
