"""Sampling: quantile functions, the engine's severity tables against scipy's exact inverse, the copula."""

from __future__ import annotations

import numpy as np
import pytest

from shockmodel.sampling import TABLE_Z, equicorrelation_factor, ppf, severity_table, table_ppf, to_uniform

CASES = [("pert", (0.6, 0.85, 0.95, 4.0)), ("pert", (0.0, 0.05, 0.15, 4.0)), ("pert", (3.0, 10.0, 40.0, 4.0)),
         ("pert", (0.0, 0.0, 1.0, 4.0)), ("beta", (2.0, 2.0, 0.0, 0.8)), ("beta", (0.5, 0.5, 0.0, 1.0)),
         ("beta", (0.3, 5.0, 0.0, 1.0)), ("truncnormal", (0.5, 0.2, 0.0, 1.0)), ("truncnormal", (0.9, 0.05, 0.0, 1.0))]


def _width(dist, p):
    return p[2] - p[0] if dist == "pert" else p[3] - p[2]


ALL_CASES = CASES + [("uniform", (0.2, 0.6)), ("triangular", (0.0, 0.3, 1.0)), ("lognormal", (0.0, 0.8, 5.0)),
                     ("fixed", (0.4,))]


def _width_any(dist, p):
    if dist in ("pert", "beta", "truncnormal"):
        return _width(dist, p)
    widths = {"uniform": lambda: p[1] - p[0], "triangular": lambda: p[2] - p[0], "lognormal": lambda: p[2],
              "fixed": lambda: 1.0}
    return widths[dist]()


@pytest.mark.parametrize("dist, params", ALL_CASES)
def test_severity_tables_within_tolerance(dist, params):
    """Stated tolerance: 1e-4 of the support's width, over the body and both far tails (latents beyond
    the table are clamped exactly as to_uniform clips u)."""
    rng = np.random.default_rng(1)
    z = np.concatenate([rng.standard_normal(50_000), rng.uniform(-9.0, 9.0, 5_000)])
    fast, exact = table_ppf(dist, params, z), ppf(dist, params, to_uniform(z))
    assert np.abs(fast - exact).max() <= 1e-4 * _width_any(dist, params)
    assert np.all(np.diff(table_ppf(dist, params, np.sort(z))) >= 0)   # monotone in z


def test_engine_kernel_interpolates_like_numpy():
    """The engine's sampling kernel reads the same tables as table_ppf (within rounding)."""
    from shockmodel.kernels.propagate import sample_severity

    rng = np.random.default_rng(2)
    E = rng.standard_normal((256, 3)) * 3.0
    tables = np.stack([severity_table(d, p) for d, p in ALL_CASES[:3]])
    out = np.empty((256, 3))
    # one package with c = 0: the latent of shock k is E[:, k] itself
    sample_severity(np.zeros((256, 1)), E, np.ones((1, 1)), np.zeros(1), np.zeros(3, np.int64),
                    np.zeros(3, bool), tables, np.full(3, np.inf), TABLE_Z, out)
    for k, (d, p) in enumerate(ALL_CASES[:3]):
        np.testing.assert_allclose(out[:, k], table_ppf(d, p, E[:, k]), rtol=1e-12, atol=1e-14)


def test_fixed_is_exact():
    assert table_ppf("fixed", (0.4,), np.linspace(-9, 9, 99)).tolist() == [0.4] * 99


@pytest.mark.parametrize("k, rho", [(2, -1.0), (2, 0.5), (3, -0.5), (4, 0.9)])
def test_equicorrelation_factor(k, rho):
    C = equicorrelation_factor(k, rho)
    target = np.full((k, k), rho)
    np.fill_diagonal(target, 1.0)
    np.testing.assert_allclose(C @ C.T, target, atol=1e-12)
