"""Scores of an ensemble forecast (shockmodel.scoring) against closed forms and a calibrated synthetic case."""

import numpy as np
import pytest
from scipy import special, stats

from shockmodel import scoring


def crps_normal_closed_form(y, mu, sigma):
    """Gneiting & Raftery (2007), eq. (5): CRPS(N(mu, sigma^2), y) = sigma [z (2 Phi(z) - 1) + 2 phi(z) - 1/sqrt(pi)]."""
    z = (y - mu) / sigma
    return sigma * (z * (2 * special.ndtr(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))


@pytest.mark.parametrize("y", [-2.5, -0.3, 0.0, 1.1, 4.0])
def test_crps_and_pit_match_normal_closed_forms(y):
    mu, sigma, m = 1.0, 2.0, 100_000
    x = np.random.default_rng(7).normal(mu, sigma, m)
    want = crps_normal_closed_form(y, mu, sigma)
    # the fair estimator's sampling sd is below sigma / sqrt(m) (0.0063 here): 0.02 is > 3 sd
    assert scoring.crps_ensemble(x, y) == pytest.approx(want, abs=0.02)
    # PIT = Phi((y - mu) / sigma); binomial sd <= 0.5 / sqrt(m) = 0.0016
    assert scoring.pit(x, y) == pytest.approx(special.ndtr((y - mu) / sigma), abs=0.006)


def test_crps_of_a_point_forecast_is_the_absolute_error():
    assert scoring.crps_ensemble(np.full(50, 3.0), 1.0) == pytest.approx(2.0)


def test_score_fields():
    x = np.linspace(0.0, 10.0, 10_001)
    s = scoring.score(x, 2.0)
    assert s.median == pytest.approx(5.0) and s.abs_error_median == pytest.approx(3.0)
    assert s.pit == pytest.approx(0.2, abs=1e-3)
    assert not s.cover50 and s.cover90      # 2.0 is outside [2.5, 7.5], inside [0.5, 9.5]
    assert scoring.pit(x, -1.0) == 0.0 and scoring.pit(x, 11.0) == 1.0


def _synthetic_pits(spread: float, n_cases: int = 2000, m: int = 1000, seed: int = 3):
    """n_cases forecasts N(mu_i, (spread sigma_i)^2) from m draws each; outcomes from N(mu_i, sigma_i^2)."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(0.0, 5.0, n_cases)
    sigma = rng.uniform(0.5, 3.0, n_cases)
    y = rng.normal(mu, sigma)
    draws = mu[:, None] + spread * sigma[:, None] * rng.standard_normal((n_cases, m))
    return scoring.pit(draws, y)


def test_pit_of_a_correctly_specified_forecaster_is_uniform():
    """Tolerance: KS and chi-square (10 bins) p-values above 0.01 (fixed seed). The same tests reject a
    forecaster whose bands are half as wide as they should be, so they have power at this size."""
    good = scoring.pit_uniformity(_synthetic_pits(1.0))
    assert good["ks_pvalue"] > 0.01 and good["chi2_pvalue"] > 0.01, good
    bad = scoring.pit_uniformity(_synthetic_pits(0.5))
    assert bad["ks_pvalue"] < 1e-6 and bad["chi2_pvalue"] < 1e-6, bad


def test_coverage_rate_of_a_calibrated_forecaster():
    rng = np.random.default_rng(5)
    draws = rng.standard_normal((3000, 2000))
    y = rng.standard_normal(3000)
    # binomial sd of a coverage rate over 3000 cases: sqrt(0.25 / 3000) = 0.009 at 50%, 0.0055 at 90%
    assert scoring.covers(draws, y, 0.5).mean() == pytest.approx(0.5, abs=0.03)
    assert scoring.covers(draws, y, 0.9).mean() == pytest.approx(0.9, abs=0.02)
