"""Output and trade statistics stream over every draw: all thirteen statistics are numbers, and the
standard deviation from the bins' midpoints is within one bin width of the draws' own."""

from __future__ import annotations

import numpy as np

from shockmodel.aggregate import METRICS, _binned_std
from shockmodel.engine import hist_edges


def _histogram(values: np.ndarray) -> np.ndarray:
    lo, hi = hist_edges()
    counts = np.zeros(len(lo), dtype=np.int64)
    bins = np.where(values <= 0, 0, np.searchsorted(lo, values, side="right") - 1)
    np.add.at(counts, bins, 1)
    return counts


def test_binned_std_is_within_a_bin_of_the_sample_std():
    rng = np.random.default_rng(3)
    for values in (rng.lognormal(0.0, 0.5, 5000), rng.uniform(0.0, 40.0, 5000),
                   np.concatenate([np.zeros(500), rng.gamma(2.0, 3.0, 4500)])):
        got = _binned_std(_histogram(values)[None, :], None)[0]
        assert abs(got - values.std(ddof=1)) <= 0.016 * values.std(ddof=1)


def test_output_and_trade_statistics_are_all_numbers():
    import shockmodel

    ds = shockmodel.run("taiwan_blockade", draws=600, seed=2, model="leontief", markets=None)
    for name in ("output_loss", "output_loss_pct", "trade_loss"):
        assert list(ds[name].statistic.values) == list(METRICS)
        assert np.isfinite(ds[name].values).all(), name
    out = ds["output_loss_pct"].sel(region="TWN")
    assert (out.sel(statistic="p05") <= out.sel(statistic="p50")).all()
    assert (out.sel(statistic="p95") <= out.sel(statistic="ES95") + 1e-9).all()
    assert (out.sel(statistic="std") >= 0).all()
