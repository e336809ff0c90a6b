"""Biproportional updating of a table with positive and negative entries: GRAS (L0: numpy, two numba loops).

GRAS (generalised RAS; Junius & Oosterhaven 2003, Economic Systems Research 15(1): 87-96, in the form of
Temurshoev, Miller & Bouwmeester 2013, "A note on the GRAS method", Economic Systems Research 25(3):
361-367) finds the table ``X`` closest to a prior ``A`` (in the information distance
``sum_ij |a_ij| (z_ij ln z_ij - z_ij + 1)``, ``z_ij = x_ij / a_ij``) whose row and column sums meet
given targets. Write ``A = P - N`` with ``P, N >= 0`` (the positive and negative entries). The solution is

    (G.1)  x_ij = r_i p_ij s_j - n_ij / (r_i s_j)

so every cell keeps its sign and zeros stay zero. Given ``s``, each row multiplier solves
``r_i p_i(s) - n_i(s) / r_i = u_i`` with ``p_i(s) = sum_j p_ij s_j`` and ``n_i(s) = sum_j n_ij / s_j``:

    (G.2)  r_i = (u_i + sqrt(u_i^2 + 4 p_i n_i)) / (2 p_i)      (p_i > 0)
           r_i = -n_i / u_i                                       (p_i = 0, u_i < 0)

and the column multipliers ``s_j`` the same way given ``r`` (Temurshoev et al. 2013, eqs. 6-7). The
two steps alternate until every target is met.

Row constraints may be partitioned: ``cell_group[i, j] = g`` puts cell ``(i, j)`` in group ``g`` of row
``i``, with its own target ``row_targets[i, g]`` and multiplier ``r_ig`` (e.g. a multi-regional table's
sales to its own region and to the rest of the world, each pinned separately). With ``col_targets=None``
the columns are free (``s = 1``) and one row step solves the problem exactly.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

from shockmodel.errors import UserError


class GrasError(UserError):
    """Targets that no sign-preserving scaling of the prior can meet (inconsistent or unreachable)."""


class GrasResult(NamedTuple):
    """The updated table and how well it meets the targets."""

    table: np.ndarray        #: (m, n) updated table, ``r_ig p_ij s_j - n_ij / (r_ig s_j)`` (G.1)
    r: np.ndarray            #: (m, G) row multipliers, one per row group
    s: np.ndarray            #: (n,) column multipliers (ones when the columns are free)
    iterations: int          #: row-and-column steps taken
    max_gap: float           #: largest |achieved - target| over every row-group and column target
    max_gap_rel: float       #: the same, each gap divided by max(|target|, 1)


def _multiplier(u: np.ndarray, p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Solve ``m p - n / m = u`` for ``m > 0`` elementwise (G.2); ``m = 1`` where the group is empty."""
    out = np.ones_like(u)
    pos = p > 0
    out[pos] = (u[pos] + np.sqrt(u[pos] * u[pos] + 4.0 * p[pos] * n[pos])) / (2.0 * p[pos])
    neg_only = ~pos & (n > 0)
    # a target of 0 on negative entries only is met in the limit r -> inf (the cells go to 0)
    out[neg_only] = np.divide(-n[neg_only], u[neg_only], out=np.full(int(neg_only.sum()), np.inf), where=u[neg_only] != 0)
    return out


def _achieved(r: np.ndarray, p: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``r p - n / r`` with ``0 * inf = 0`` (an empty positive part times an infinite multiplier)."""
    return np.where(p > 0, r * p, 0.0) - n * _inv(r)


def _inv(m: np.ndarray) -> np.ndarray:
    """1/m, and 0 where m = 0 (a group scaled to zero holds no negative entries, so nothing is lost);
    1/inf = 0."""
    return np.divide(1.0, m, out=np.zeros_like(m), where=m != 0)


def _group_sums(M: np.ndarray, masks: list[np.ndarray | None]) -> np.ndarray:
    """(m, G) row sums of ``M`` within each group (``None`` mask: the whole row)."""
    return np.stack([(M if mk is None else np.where(mk, M, 0.0)).sum(axis=1) for mk in masks], axis=1)


@njit(cache=True, nogil=True)
def _row_sums(P, N, group, s, out_p, out_n):
    """``out_p[i, g] = sum_j p_ij s_j`` and ``out_n[i, g] = sum_j n_ij / s_j`` over the cells of group g
    of row i (G.2); sums run in index order, so the result is the same on every run."""
    m, n = P.shape
    out_p[:] = 0.0
    out_n[:] = 0.0
    for i in range(m):
        for j in range(n):
            g = group[i, j]
            if P[i, j] != 0.0:
                out_p[i, g] += P[i, j] * s[j]
            elif N[i, j] != 0.0:
                out_n[i, g] += N[i, j] / s[j]


@njit(cache=True, nogil=True)
def _col_sums(P, N, group, r, out_p, out_n):
    """``out_p[j] = sum_i r_ig p_ij`` and ``out_n[j] = sum_i n_ij / r_ig``, g the group of cell (i, j)."""
    m, n = P.shape
    out_p[:] = 0.0
    out_n[:] = 0.0
    for i in range(m):
        for j in range(n):
            g = group[i, j]
            if P[i, j] != 0.0:
                out_p[j] += P[i, j] * r[i, g]
            elif N[i, j] != 0.0:
                out_n[j] += N[i, j] / r[i, g]


def _check_reachable(P, N, masks, row_targets, col_targets, tol):
    """Raise :class:`GrasError` for a target whose sign the prior's entries cannot produce."""
    p_row, n_row = _group_sums(P, masks), _group_sums(N, masks)
    for what, p, n, t in (("row", p_row, n_row, row_targets),
                          ("column", None if col_targets is None else P.sum(axis=0)[:, None],
                           None if col_targets is None else N.sum(axis=0)[:, None],
                           None if col_targets is None else col_targets[:, None])):
        if t is None:
            continue
        small = tol  # a gap up to tol * max(|target|, 1) is accepted
        bad = ((t > small) & (p <= 0)) | ((t < -small) & (n <= 0)) | ((np.abs(t) > small) & (p <= 0) & (n <= 0))
        if bad.any():
            i, g = (int(k) for k in np.argwhere(bad)[0])
            where = f"{what} {i}" + (f" group {g}" if what == "row" and t.shape[1] > 1 else "")
            raise GrasError(f"unreachable target at {where}: target {t[i, g]:.6g}, but the prior's positive entries "
                            f"sum to {p[i, g]:.6g} and its negative entries to {-n[i, g]:.6g} "
                            f"({int(bad.sum())} such targets); GRAS keeps signs and zeros")


def _iterate(P, N, group_of, u, v, tol, max_iter):
    """Alternate the row step and the column step (G.2) until every row-group gap is within ``tol``
    (after a column step the columns hold exactly). Returns ``(r, s, iterations, converged)``."""
    n = P.shape[1]
    p, nn = np.zeros(u.shape), np.zeros(u.shape)
    pc, nc = np.zeros(n), np.zeros(n)
    u_scale = np.maximum(np.abs(u), 1.0)
    s = np.ones(n)
    _row_sums(P, N, group_of, s, p, nn)
    for iterations in range(1, max_iter + 1):
        r = _multiplier(u, p, nn)
        if v is None:  # free columns: the row step alone meets every target
            return r, s, iterations, True
        # a multiplier of 0 (target 0 on a group without negatives) is never divided by: the kernels
        # divide only where n_ij != 0, and such a group has none
        _col_sums(P, N, group_of, r, pc, nc)
        s = _multiplier(v, pc, nc)
        _row_sums(P, N, group_of, s, p, nn)
        gap = np.max(np.abs(_achieved(r, p, nn) - u) / u_scale)
        if gap <= tol:
            return r, s, iterations, True
        if not np.isfinite(gap):
            return r, s, iterations, False
    return r, s, max_iter, False


def gras(
    prior: np.ndarray,
    row_targets: np.ndarray,
    col_targets: np.ndarray | None = None,
    *,
    cell_group: np.ndarray | None = None,
    tol: float = 1e-12,
    max_iter: int = 20_000,
) -> GrasResult:
    """The table closest to ``prior`` (same signs, same zeros) with the given row and column sums.

    Parameters
    ----------
    prior : (m, n) prior table ``A``; may hold negative entries.
    row_targets : (m,) row sums, or (m, G) sums of each row group when ``cell_group`` is given.
    col_targets : (n,) column sums, or None to leave the columns free.
    cell_group : optional (m, n) integers in ``0..G-1``: the group of each cell within its row.
    tol : stop when every gap ``|achieved - target| / max(|target|, 1)`` is at most ``tol``.
    max_iter : most row-and-column steps before giving up.

    Returns a :class:`GrasResult`. Raises :class:`GrasError` (a ``UserError``, so a ``ValueError``) naming
    the numbers when the row and column targets add up to different totals, when a target cannot be reached
    by scaling the prior's entries of its sign (e.g. a positive target on an all-zero row), or when the
    iteration does not meet ``tol`` within ``max_iter`` steps.
    """
    A = np.asarray(prior, dtype=np.float64)
    if A.ndim != 2:
        raise GrasError(f"prior must be a 2-D table, got shape {A.shape}")
    m, n = A.shape
    u = np.asarray(row_targets, dtype=np.float64)
    if cell_group is None:
        if u.shape != (m,):
            raise GrasError(f"row_targets has shape {u.shape}, expected ({m},)")
        u = u[:, None]
        masks: list[np.ndarray | None] = [None]
    else:
        cg = np.asarray(cell_group)
        if cg.shape != A.shape:
            raise GrasError(f"cell_group has shape {cg.shape}, expected {A.shape}")
        G = u.shape[1] if u.ndim == 2 else -1
        if u.shape != (m, G) or cg.min(initial=0) < 0 or cg.max(initial=0) >= G:
            raise GrasError(f"row_targets has shape {u.shape}; with cell_group values 0..{int(cg.max())} it must be "
                            f"({m}, {int(cg.max()) + 1})")
        masks = [cg == g for g in range(G)]
    v = None if col_targets is None else np.asarray(col_targets, dtype=np.float64)
    if v is not None and v.shape != (n,):
        raise GrasError(f"col_targets has shape {v.shape}, expected ({n},)")
    for name, arr in (("prior", A), ("row_targets", u), ("col_targets", v)):
        if arr is not None and not np.isfinite(arr).all():
            raise GrasError(f"{name} holds non-finite values")
    if v is not None:
        total_u, total_v = float(u.sum()), float(v.sum())
        # if every target were met within tol * max(|target|, 1), the totals could differ by at most this
        bound = tol * float(np.maximum(np.abs(u), 1.0).sum() + np.maximum(np.abs(v), 1.0).sum())
        if abs(total_u - total_v) > bound:
            raise GrasError(f"inconsistent targets: row targets add up to {total_u:.12g}, column targets to "
                            f"{total_v:.12g} (difference {total_u - total_v:.6g})")

    P = np.where(A > 0, A, 0.0)
    N = np.where(A < 0, -A, 0.0)
    _check_reachable(P, N, masks, u, v, tol)
    G = u.shape[1]
    group_of = np.zeros(A.shape, dtype=np.int8) if cell_group is None else np.asarray(cell_group, dtype=np.int8 if G < 128 else np.intp)
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging (infeasible) run stops on the first non-finite step
        r, s, iterations, converged = _iterate(P, N, group_of, u, v, tol, max_iter)
    if not converged:
        raise GrasError(f"GRAS did not meet the targets within {iterations} iterations (tolerance {tol:g}): the "
                        "prior's zero pattern cannot reach them")
    rc = np.take_along_axis(r, group_of.astype(np.intp), axis=1)
    X = np.multiply(rc * s, P, out=np.zeros_like(P), where=P > 0) - N * _inv(rc * s)
    row_gap = _group_sums(X, masks) - u
    gaps = [np.abs(row_gap)]
    rel = [np.abs(row_gap) / np.maximum(np.abs(u), 1.0)]
    if v is not None:
        col_gap = X.sum(axis=0) - v
        gaps.append(np.abs(col_gap))
        rel.append(np.abs(col_gap) / np.maximum(np.abs(v), 1.0))
    max_gap = float(max(g.max(initial=0.0) for g in gaps))
    max_rel = float(max(g.max(initial=0.0) for g in rel))
    return GrasResult(table=X, r=r, s=s, iterations=iterations, max_gap=max_gap, max_gap_rel=max_rel)
