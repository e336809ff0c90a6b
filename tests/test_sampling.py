"""Sampling: quantile functions, the tabulated fast path against scipy's exact inverse, the copula."""

from __future__ import annotations

import numpy as np
import pytest

from shockmodel.sampling import TabulatedPPF, equicorrelation_factor, ppf, quantile_function, to_uniform

CASES = [("pert", (0.6, 0.85, 0.95, 4.0)), ("pert", (0.0, 0.05, 0.15, 4.0)), ("pert", (3.0, 10.0, 40.0, 4.0)),
         ("pert", (0.0, 0.0, 1.0, 4.0)), ("beta", (2.0, 2.0, 0.0, 0.8)), ("beta", (0.5, 0.5, 0.0, 1.0)),
         ("beta", (0.3, 5.0, 0.0, 1.0)), ("truncnormal", (0.5, 0.2, 0.0, 1.0)), ("truncnormal", (0.9, 0.05, 0.0, 1.0))]


def _width(dist, p):
    return p[2] - p[0] if dist == "pert" else p[3] - p[2]


@pytest.mark.parametrize("dist, params", CASES)
def test_tabulated_quantiles_within_tolerance(dist, params):
    """Stated tolerance: 1e-4 of the support's width, over the body and both far tails."""
    rng = np.random.default_rng(1)
    u = to_uniform(np.concatenate([rng.standard_normal(50_000), rng.uniform(-8.0, 8.0, 5_000)]))
    fast, exact = TabulatedPPF(dist, params)(u), ppf(dist, params, u)
    assert np.abs(fast - exact).max() <= 1e-4 * _width(dist, params)
    assert np.all(np.diff(TabulatedPPF(dist, params)(np.sort(u))) >= 0)   # monotone in u


def test_closed_forms_are_exact():
    u = np.linspace(0.01, 0.99, 99)
    np.testing.assert_array_equal(quantile_function("uniform", (0.2, 0.6))(u), ppf("uniform", (0.2, 0.6), u))
    tri = quantile_function("triangular", (0.0, 0.3, 1.0))(u)
    assert tri[0] > 0 and tri[-1] < 1 and np.all(np.diff(tri) > 0)
    assert quantile_function("fixed", (0.4,))(u).tolist() == [0.4] * 99


@pytest.mark.parametrize("k, rho", [(2, -1.0), (2, 0.5), (3, -0.5), (4, 0.9)])
def test_equicorrelation_factor(k, rho):
    C = equicorrelation_factor(k, rho)
    target = np.full((k, k), rho)
    np.fill_diagonal(target, 1.0)
    np.testing.assert_allclose(C @ C.T, target, atol=1e-12)
