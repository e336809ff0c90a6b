"""Statistics: streamed histogram quantiles, VaR and expected shortfall, exceedance curves."""

from __future__ import annotations

import numpy as np
import pytest

from shockmodel import aggregate, engine
from shockmodel.kernels.propagate import bit_histogram


def count(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Histograms (cells, bins) of ``values`` (cells, draws) and their bin ranges, as the engine keeps them."""
    counts, ranges = engine.new_hist((values.shape[0], engine.HIST_BINS))
    bit_histogram(np.ascontiguousarray(values), np.ones(values.shape[0]), engine.HIST_SHIFT,
                  engine.HIST_FIRST_KEY, counts, ranges)
    return counts, ranges


def test_hist_quantiles_close_to_exact():
    rng = np.random.default_rng(0)
    x = np.concatenate([np.zeros(300), rng.lognormal(0.0, 1.5, 9700)]).clip(max=99.0)[:, None]
    counts, ranges = count(x.T)
    qs = (0.01, 0.05, 0.5, 0.95)
    got = aggregate.hist_quantiles(counts, qs)[0]
    exact = np.quantile(x[:, 0], qs)
    assert got[0] == 0.0                      # exact zeros stay zero
    np.testing.assert_allclose(got[1:], exact[1:], rtol=0.016)   # one bin is at most 1.6% wide
    # reading only the bin ranges gives the same numbers as reading every bin
    np.testing.assert_array_equal(aggregate.hist_quantiles(counts, qs, ranges)[0], got)


def test_bit_histogram_puts_each_value_between_its_bin_edges():
    rng = np.random.default_rng(3)
    v = np.concatenate([[0.0, 2.0 ** -20, 1.0, 1.5, 100.0, 127.99], 10 ** rng.uniform(-5.9, 2.0, 2000)])
    lo, hi = engine.hist_edges()
    for x in v:
        counts, ranges = count(np.array([[x]]))
        k = int(np.flatnonzero(counts[0])[0])
        assert (k == 0) == (x == 0.0)
        assert lo[k] <= x < hi[k] or (k == 0 and x == 0.0), (x, k, lo[k], hi[k])
        # the range holds exactly the bins >= 1 counted into (empty for a zero)
        assert tuple(ranges[0]) == ((k, k + 1) if k else (engine.HIST_BINS, 0))
    assert np.all(hi[2:] / lo[2:] - 1 <= 1 / 64 + 1e-12)   # relative width at most 1/64 = 1.6%


def test_var_and_es():
    x = np.arange(1, 101, dtype=float)        # losses 1..100
    m = dict(zip(aggregate.METRICS, aggregate.risk_metrics(x)))
    assert m["ES95"] == pytest.approx(np.mean(np.arange(96, 101)))   # worst 5 draws
    assert m["ES99"] == pytest.approx(100.0)
    assert m["VaR95"] == pytest.approx(np.quantile(x, 0.95))
    assert m["ES95"] >= m["VaR95"] and m["ES99"] >= m["VaR99"]


def test_exceedance_curve():
    t, p = aggregate.exceedance_curve(np.array([0.0, 1.0, 2.0, 3.0]), np.array([0.5, 2.0, 5.0]))
    np.testing.assert_allclose(p, [0.75, 0.25, 0.0])


def test_risk_metrics_leaves_its_input_alone():
    x = np.random.default_rng(5).random(101)
    before = x.copy()
    aggregate.risk_metrics(x)
    np.testing.assert_array_equal(x, before)
