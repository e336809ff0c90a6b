"""Inverse-CDF sampling and the Gaussian copula (L2: numpy/scipy only).

Severities are drawn as ``F^-1(u)`` from correlated uniforms ``u``, so the same uniforms give the same
quantile of any distribution: common random numbers across scenarios and sweep cells come for free.
Distribution parameters use the canonical tuples of docs/contracts.md section 1.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import special, stats

from shockmodel import runtime


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


#: Uniforms are kept inside [U_CLIP, 1 - U_CLIP] wherever an inverse CDF reads them (:func:`to_uniform`,
#: :func:`draw`): Phi(-7.94), so every quantile function is finite and a draw reaches at most what
#: ``scenario.dist_support`` says.
U_CLIP = 1e-15


def draw(dist: str, params: tuple[float, ...], u: np.ndarray) -> np.ndarray:
    """``F^-1(u)`` of a ``scenario.Distribution`` (``dist``, ``params``) for uniforms ``u`` (any shape;
    float64): the unbounded ones (lognormal, truncnormal) read ``u`` clipped to [U_CLIP, 1 - U_CLIP], the
    one clipping rule of scenarios and market parameters."""
    u = np.asarray(u, dtype=np.float64)
    if dist in ("lognormal", "truncnormal"):
        u = np.clip(u, U_CLIP, 1.0 - U_CLIP)
    return np.asarray(ppf(dist, params, u), dtype=np.float64).reshape(u.shape)


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
    return np.clip(special.ndtr(z), U_CLIP, 1.0 - U_CLIP)


#: Grid of the severity tables: ``z`` in [-Z, Z] with ``Phi(-Z) = U_CLIP`` (the clip of :func:`to_uniform`).
TABLE_Z = float(-special.ndtri(U_CLIP))   # 7.94
TABLE_POINTS = 8193


@lru_cache(maxsize=512)
def severity_table(dist: str, params: tuple[float, ...]) -> np.ndarray:
    """``F^-1(Phi(z))`` on ``TABLE_POINTS`` equally spaced ``z`` in [-TABLE_Z, TABLE_Z] (read-only).

    The engine samples a severity from its standard-normal latent ``z`` by linear interpolation in this
    table (kernels.propagate.sample_severity): no normal CDF, no search, no iterative inverse per value.
    As a function of ``z`` every supported quantile function is smooth out to the tails (near ``u = 0`` a
    beta quantile behaves like ``u^(1/a)``, i.e. ``exp(-z^2 / 2a)``), so linear interpolation on a step of
    0.0019 stays within 1e-4 of the support's width (measured: below 3e-6 for the library's distributions;
    tested against scipy's exact inverse in tests/test_sampling.py). Interpolating monotone data is
    monotone, so severities stay monotone in ``z``. Cached: a table costs up to ~10 ms (scipy's iterative
    inverses) and sweep cells, variants and repeated runs share the same distributions.
    """
    z = np.linspace(-TABLE_Z, TABLE_Z, TABLE_POINTS)
    if dist == "lognormal":   # the cap is applied after interpolation (severity_cap): no kink in the table
        params = tuple(params[:2])
    table = ppf(dist, params, to_uniform(z)).astype(np.float64)
    table.setflags(write=False)
    return table


runtime.register_cache(severity_table.cache_clear)


def severity_cap(dist: str, params: tuple[float, ...]) -> float:
    """Upper cap applied after the table lookup (a lognormal's optional cap; +inf otherwise)."""
    return float(params[2]) if dist == "lognormal" and len(params) > 2 else float("inf")


def table_ppf(dist: str, params: tuple[float, ...], z: np.ndarray) -> np.ndarray:
    """Severities for standard-normal latents ``z`` from :func:`severity_table` (numpy version of the
    engine's kernel, for checks and for callers outside the engine)."""
    grid = np.linspace(-TABLE_Z, TABLE_Z, TABLE_POINTS)
    x = np.interp(np.clip(z, -TABLE_Z, TABLE_Z), grid, severity_table(dist, tuple(params)))
    return np.minimum(x, severity_cap(dist, tuple(params)))
