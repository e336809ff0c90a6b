"""iomath against the Miller & Blair textbook example and against pymrio on the real tables."""

from __future__ import annotations

import numpy as np
import pytest

from shockmodel import iomath
from shockmodel.testing import MB_L, MB_X, MB_Z, miller_blair_2x2


def test_miller_blair_A_L():
    m = miller_blair_2x2()
    np.testing.assert_allclose(m.A, [[0.15, 0.25], [0.20, 0.05]], rtol=1e-12)
    np.testing.assert_allclose(m.L, MB_L, atol=5e-5)  # textbook prints 4 decimals
    np.testing.assert_allclose(m.L @ m.y, MB_X, rtol=1e-12)


def test_ghosh_reproduces_output():
    m = miller_blair_2x2()
    np.testing.assert_allclose(iomath.calc_x_from_G(m.G, m.v), MB_X, rtol=1e-12)
    np.testing.assert_allclose(m.B, MB_Z / MB_X[:, None])


def test_zero_output_guard():
    Z = np.array([[0.0, 1.0], [0.0, 0.0]])
    x = np.array([0.0, 2.0])
    A = iomath.calc_A(Z, x)
    assert np.isfinite(A).all() and A[0, 1] == 0.5


def test_spectral_radius():
    assert iomath.spectral_radius(np.array([[0.5, 0.0], [0.0, 1.2]])) == pytest.approx(1.2)


@pytest.mark.parametrize("name", ["default", "wiod2011"])
def test_matches_pymrio(name, request):
    """A, L and x = L y equal pymrio's on both shipped tables within 1e-9 relative."""
    pymrio = pytest.importorskip("pymrio")
    m = request.getfixturevalue("default_table" if name == "default" else "wiod_table")
    import pandas as pd

    idx = pd.MultiIndex.from_product([m.regions, m.sectors], names=["region", "sector"])
    Zdf = pd.DataFrame(m.Z, index=idx, columns=idx)
    x_p = pymrio.calc_x(Zdf, pd.DataFrame(m.Y, index=idx)).values.ravel()
    A_p = pymrio.calc_A(Zdf, x_p).values
    L_p = pymrio.calc_L(pd.DataFrame(A_p, index=idx, columns=idx)).values
    np.testing.assert_allclose(x_p, m.x, rtol=1e-12)
    scale = np.abs(A_p).max()
    assert np.abs(m.A - A_p).max() <= 1e-9 * scale
    assert np.abs(m.L - L_p).max() <= 1e-9 * np.abs(L_p).max()
    x_from_L = pymrio.calc_x_from_L(pd.DataFrame(L_p, index=idx, columns=idx), m.y)
    np.testing.assert_allclose(m.L @ m.y, np.asarray(x_from_L).ravel(), rtol=1e-9)
    np.testing.assert_allclose(m.L @ m.y, m.x, rtol=1e-9)
