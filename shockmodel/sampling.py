"""Inverse-CDF sampling and the Gaussian copula (L2: numpy/scipy only).

Severities are drawn as ``F^-1(u)`` from correlated uniforms ``u``, so the same uniforms give the same
quantile of any distribution: common random numbers across scenarios and sweep cells come for free.
Distribution parameters use the canonical tuples of docs/contracts.md section 1.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import special, stats


def ppf(dist: str, params: tuple[float, ...], u: np.ndarray) -> np.ndarray:
    """Quantile function of a severity distribution, vectorised over ``u`` in (0, 1)."""
    if dist == "fixed":
        return np.full_like(u, params[0], dtype=np.float64)
    if dist == "uniform":
        lo, hi = params[:2]
        return lo + u * (hi - lo)
    if dist == "triangular":
        lo, mode, hi = params[:3]
        if hi == lo:
            return np.full_like(u, lo, dtype=np.float64)
        c = (mode - lo) / (hi - lo)
        left = lo + np.sqrt(u * (hi - lo) * (mode - lo))
        right = hi - np.sqrt((1.0 - u) * (hi - lo) * (hi - mode))
        return np.where(u < c, left, right)
    if dist == "pert":
        # Beta-PERT (Vose 2008, "Risk Analysis", 3rd ed., section 9.1.9): Beta(a, b) on [lo, hi] with
        # a = 1 + lambda (mode - lo)/(hi - lo), b = 1 + lambda (hi - mode)/(hi - lo)
        lo, mode, hi = params[:3]
        lam = params[3] if len(params) > 3 else 4.0
        if hi == lo:
            return np.full_like(u, lo, dtype=np.float64)
        a = 1.0 + lam * (mode - lo) / (hi - lo)
        b = 1.0 + lam * (hi - mode) / (hi - lo)
        return lo + (hi - lo) * special.betaincinv(a, b, u)
    if dist == "beta":
        a, b = params[:2]
        lo, hi = (params[2], params[3]) if len(params) > 3 else (0.0, 1.0)
        return lo + (hi - lo) * special.betaincinv(a, b, u)
    if dist == "lognormal":
        mu, sigma = params[:2]
        cap = params[2] if len(params) > 2 else np.inf
        return np.minimum(cap, np.exp(mu + sigma * special.ndtri(u)))
    if dist == "truncnormal":
        mean, sd, lo, hi = params[:4]
        return stats.truncnorm.ppf(u, (lo - mean) / sd, (hi - mean) / sd, loc=mean, scale=sd)
    raise ValueError(f"unknown distribution {dist!r}")


def equicorrelation_factor(k: int, rho: float) -> np.ndarray:
    """Lower Cholesky-like factor ``C`` with ``C C' = (1 - rho) I + rho 11'`` (k x k).

    Uses an eigen-decomposition so that rho = 1 (singular) and rho = -1/(k-1) work too.
    """
    corr = np.full((k, k), rho, dtype=np.float64)
    np.fill_diagonal(corr, 1.0)
    if k == 1:
        return np.ones((1, 1))
    w, V = np.linalg.eigh(corr)
    if w.min() < -1e-12:
        raise ValueError(f"coordination {rho} gives no valid correlation matrix for {k} packages")
    return V * np.sqrt(np.clip(w, 0.0, None))[None, :]


def to_uniform(z: np.ndarray) -> np.ndarray:
    """Standard normal -> uniform, kept strictly inside (0, 1) so every quantile function is finite."""
    return np.clip(special.ndtr(z), 1e-15, 1.0 - 1e-15)


#: Distributions whose exact inverse CDF is iterative in scipy (about 0.2-1.5 us a value); they are
#: tabulated once per plan and interpolated (``TabulatedPPF``).
TABULATED = frozenset(("pert", "beta", "truncnormal"))
_TAB_T, _TAB_N = 35.0, 8193   # grid in logit(u): covers u in [6e-16, 1 - 6e-16]


class TabulatedPPF:
    """A quantile function tabulated on a uniform grid in ``t = logit(u)`` and interpolated linearly.

    In logit coordinates the quantile functions of PERT, beta and truncated-normal severities are smooth
    out to the tails (near ``u = 0`` a beta quantile behaves like ``u^(1/a) = exp(t/a)``), so 8,193 points
    keep the error below 1e-4 of the support's width (measured: 4e-6 for PERT with lambda 4, 2.5e-5 for
    beta(0.3, 5); tested in tests/test_sampling.py) at ~70 ns a value instead of ~1.2 us. Interpolating
    monotone data is monotone, so severities stay monotone in ``u``.
    """

    def __init__(self, dist: str, params: tuple[float, ...]):
        self.t = np.linspace(-_TAB_T, _TAB_T, _TAB_N)
        self.x = ppf(dist, params, special.expit(self.t))

    def __call__(self, u: np.ndarray) -> np.ndarray:
        return np.interp(special.logit(u), self.t, self.x)


@lru_cache(maxsize=512)
def quantile_function(dist: str, params: tuple[float, ...]):
    """``u -> F^-1(u)`` for a severity distribution: tabulated where scipy's inverse is iterative.

    Cached: a table costs ~10 ms to build, and sweep cells, variants and repeated runs in one process
    share the same distributions.
    """
    if dist in TABULATED:
        return TabulatedPPF(dist, tuple(params))
    return lambda u: ppf(dist, params, u)
