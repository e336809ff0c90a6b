"""Proper scores of a forecast ensemble against one realised outcome (docs/model-scoring.md).

A forecast here is a Monte Carlo ensemble: the draws of one output (e.g. Russia's GDP loss in percent).
Scores (Gneiting & Raftery 2007, JASA 102(477): 359-378; Gneiting, Balabdaoui & Raftery 2007, JRSS B 69:
243-268):

* CRPS, eq. (S1)-(S2): ``E|X - y| - 1/2 E|X - X'|``, in the outcome's units (lower is better; for a point
  forecast it is the absolute error). Estimated from the ensemble by ``scoringrules`` with the
  probability-weighted-moment form (Zamo & Naveau 2018, Math. Geosci. 50: 209-234), which equals the "fair"
  energy-form estimator (unbiased for the CRPS of the distribution the draws come from; Ferro 2014, QJRMS
  140: 1917-1923) in O(m log m) time and O(m) memory.
* PIT, eq. (S3): ``F(y)``, the share of draws below the outcome (ties count half). Over many cases a
  calibrated forecaster's PIT values are uniform on [0, 1].
* Coverage, eq. (S4): whether the central ``level`` band ``[q_(1-level)/2, q_(1+level)/2]`` holds ``y``.
* Absolute error of the median, eq. (S5): ``|median(X) - y|``, comparable with a point forecast's error.

numpy and scoringrules only (no xarray): the backtest layer turns these into tables.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

LEVELS = (0.5, 0.9)   #: central bands whose coverage is scored


def crps_ensemble(draws, outcome) -> np.ndarray:
    """CRPS of the ensemble ``draws`` (last axis: members) at ``outcome`` (eq. S2, fair / PWM estimator)."""
    import scoringrules as sr

    draws = np.asarray(draws, dtype=np.float64)
    if draws.shape[-1] < 2:
        raise ValueError("the CRPS of an ensemble needs at least two members")
    return np.asarray(sr.crps_ensemble(np.asarray(outcome, dtype=np.float64), draws, estimator="pwm"))


def pit(draws, outcome) -> np.ndarray:
    """Probability integral transform ``F_ens(y) = (#{x < y} + #{x = y} / 2) / m`` (eq. S3)."""
    draws = np.asarray(draws, dtype=np.float64)
    y = np.asarray(outcome, dtype=np.float64)[..., None]
    return ((draws < y).sum(axis=-1) + 0.5 * (draws == y).sum(axis=-1)) / draws.shape[-1]


def central_band(draws, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper quantiles of the central ``level`` band (eq. S4)."""
    lo, hi = np.quantile(np.asarray(draws, dtype=np.float64), [(1 - level) / 2, (1 + level) / 2], axis=-1)
    return lo, hi


def covers(draws, outcome, level: float) -> np.ndarray:
    """Whether the central ``level`` band of ``draws`` holds ``outcome`` (eq. S4)."""
    lo, hi = central_band(draws, level)
    y = np.asarray(outcome, dtype=np.float64)
    return (lo <= y) & (y <= hi)


@dataclass(frozen=True)
class Score:
    """Scores of one forecast ensemble against one outcome (all in the outcome's units but PIT)."""

    outcome: float
    median: float
    p05: float
    p25: float
    p75: float
    p95: float
    crps: float
    pit: float
    cover50: bool
    cover90: bool
    abs_error_median: float

    def as_dict(self) -> dict:
        return asdict(self)


def score(draws, outcome: float) -> Score:
    """Every score of one ensemble (1-D) against one scalar outcome."""
    x = np.asarray(draws, dtype=np.float64).ravel()
    if not np.isfinite(x).all():
        raise ValueError("the forecast ensemble has non-finite draws")
    y = float(outcome)
    q05, q25, q50, q75, q95 = np.quantile(x, [0.05, 0.25, 0.5, 0.75, 0.95])
    return Score(outcome=y, median=float(q50), p05=float(q05), p25=float(q25), p75=float(q75), p95=float(q95),
                 crps=float(crps_ensemble(x, y)), pit=float(pit(x, y)),
                 cover50=bool(q25 <= y <= q75), cover90=bool(q05 <= y <= q95), abs_error_median=abs(float(q50) - y))


def pit_uniformity(pits, bins: int = 10) -> dict:
    """Kolmogorov-Smirnov and chi-square tests of PIT values against the uniform law (scipy.stats)."""
    from scipy import stats

    u = np.asarray(pits, dtype=np.float64).ravel()
    counts, _ = np.histogram(u, bins=bins, range=(0.0, 1.0))
    ks = stats.kstest(u, "uniform")
    chi = stats.chisquare(counts)
    return {"n": int(u.size), "ks_stat": float(ks.statistic), "ks_pvalue": float(ks.pvalue),
            "chi2_stat": float(chi.statistic), "chi2_pvalue": float(chi.pvalue), "counts": counts.tolist()}
