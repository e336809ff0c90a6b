"""Static input-output algebra (L0: numpy only, no labels).

Notation follows Miller & Blair (2009), *Input-Output Analysis: Foundations and Extensions*, 2nd ed.,
and pymrio: ``Z`` (n, n) inter-industry flows, row i sells to column j; ``Y`` final demand; ``y`` its row
sum; ``x`` gross output; ``v`` primary inputs (value added). Every function is pure and allocates its
result; industries with zero output get zero coefficients instead of a division by zero.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg as sla


def _safe_reciprocal(x: np.ndarray) -> np.ndarray:
    """1/x where x != 0, else 0 (industries with zero output have no coefficients)."""
    out = np.zeros_like(x, dtype=np.float64)
    nz = x != 0
    out[nz] = 1.0 / x[nz]
    return out


def calc_x(Z: np.ndarray, Y: np.ndarray) -> np.ndarray:
    """Gross output from the row balance, ``x = Z 1 + Y 1`` (Miller & Blair eq. 2.1)."""
    y = Y.sum(axis=1) if Y.ndim == 2 else Y
    return Z.sum(axis=1) + y


def calc_v(Z: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Primary inputs as the column residual, ``v' = x' - 1' Z`` (Miller & Blair eq. 2.4)."""
    return x - Z.sum(axis=0)


def calc_A(Z: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Technical coefficients ``A = Z diag(x)^-1``, ``a_ij = z_ij / x_j`` (Miller & Blair eq. 2.5)."""
    return Z * _safe_reciprocal(x)[None, :]


def calc_B(Z: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Allocation coefficients ``B = diag(x)^-1 Z``, ``b_ij = z_ij / x_i`` (Miller & Blair eq. 12.1)."""
    return Z * _safe_reciprocal(x)[:, None]


def _inverse_of_I_minus(M: np.ndarray) -> np.ndarray:
    """``(I - M)^-1`` by one LU factorisation and a solve against I (never ``np.linalg.inv``)."""
    n = M.shape[0]
    lu = sla.lu_factor(np.eye(n) - M, check_finite=False)
    return sla.lu_solve(lu, np.eye(n), check_finite=False)


def calc_L(A: np.ndarray) -> np.ndarray:
    """Leontief inverse ``L = (I - A)^-1`` (Miller & Blair eq. 2.11), by LU solve."""
    return _inverse_of_I_minus(A)


def calc_G(B: np.ndarray) -> np.ndarray:
    """Ghosh inverse ``G = (I - B)^-1`` (Miller & Blair eq. 12.8), by LU solve."""
    return _inverse_of_I_minus(B)


def calc_x_from_L(L: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Demand-driven output ``x = L y`` (Miller & Blair eq. 2.11). ``y`` may be (n,) or (n, k)."""
    return L @ y


def calc_x_from_G(G: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Supply-driven output ``x' = v' G`` (Miller & Blair eq. 12.10). ``v`` may be (n,) or (k, n)."""
    return v @ G


def spectral_radius(A: np.ndarray) -> float:
    """Largest absolute eigenvalue of ``A``; the economy is productive iff it is below 1
    (Hawkins-Simon; Miller & Blair section 2.3.4).

    Dense eigensolve for small tables; for large ones ARPACK's implicitly restarted Arnoldi method finds
    the dominant eigenvalue alone (0.16 s instead of tens of seconds on the 1476-industry table).
    """
    A = np.asarray(A, dtype=np.float64)
    if A.size == 0:
        return 0.0
    if A.shape[0] <= 400:
        return float(np.max(np.abs(np.linalg.eigvals(A))))
    from scipy.sparse.linalg import eigs

    v0 = np.ones(A.shape[0])  # fixed start vector: the same answer on every call
    return float(np.abs(eigs(A, k=1, which="LM", v0=v0, return_eigenvectors=False)[0]))


def row_balance_gap(Z: np.ndarray, Y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Row-balance residual ``Z 1 + Y 1 - x`` (zero for a balanced table)."""
    return calc_x(Z, Y) - x
