"""Market series are streamed over every draw (signed histograms, sums in block order, exact extremes):
their statistics are within one bin of the draws' own, do not depend on chunking or on how many draws
are kept, and a run keeps only the kept draws of each series in memory."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shockmodel import engine
from shockmodel.aggregate import METRICS, QUANTILE_LEVELS, risk_metrics, signed_streamed_metrics
from shockmodel.kernels.stats import signed_histogram

BIN = 2.0 ** -engine.HIST_SUB_BITS                      # relative width of a log-linear bin, at most
FLOOR = 2.0 ** engine.MARKET_HIST_MIN_EXP               # the smallest resolved magnitude


def _stream(values: np.ndarray, block: int = 256):
    """Signed histograms and sums of ``values`` (draws, cells), counted block by block as the engine does."""
    hists = engine.new_signed_hist((values.shape[1],))
    sums = np.zeros((values.shape[1], 2))
    for lo in range(0, values.shape[0], block):
        part = values[lo:lo + block]
        signed_histogram(part, part.shape[0], engine.HIST_SHIFT, engine.MARKET_FIRST_KEY, *hists)
        sums[:, 0] += part.sum(axis=0)
        sums[:, 1] += (part * part).sum(axis=0)
    return hists, sums


def _series(rng, n):
    """Columns a market series can look like: both signs, a point mass at zero, a long right tail, tiny
    magnitudes, 0/1 flags, all equal."""
    return np.column_stack([
        rng.normal(0.0, 10.0, n),
        np.where(rng.random(n) < 0.4, 0.0, rng.lognormal(2.0, 1.5, n)),
        -100.0 * rng.random(n) ** 3,
        rng.normal(0.0, 1e-7, n),
        (rng.random(n) < 0.07).astype(float),
        np.full(n, -3.25),
        100.0 * np.expm1(rng.uniform(0.0, 51.0, n)),   # up to the price change the market channel can reach
    ])


def test_signed_edges_are_ascending_and_mirrored():
    lo, hi = engine.signed_hist_edges()
    assert lo.size == hi.size == engine.MARKET_HIST_BINS
    h = engine.MARKET_HIST_HALF
    assert lo[h] == hi[h] == 0.0                      # the exact zeros
    assert np.all(lo <= hi) and np.all(np.diff(lo) >= 0) and np.all(np.diff(hi) >= 0)
    assert np.all(np.diff(lo)[np.arange(lo.size - 1) != h] > 0)   # only the zero bin and bin 1 share an edge
    np.testing.assert_array_equal(lo[:h], -hi[h + 1:][::-1])
    np.testing.assert_array_equal(hi[:h], -lo[h + 1:][::-1])
    assert hi[-1] > 100.0 * math.expm1(51.0)   # every price change of the market channel has a bin of its own


def test_streamed_statistics_are_within_one_bin_of_the_draws():
    rng = np.random.default_rng(11)
    x = _series(rng, 20_000)
    n = x.shape[0]
    hists, sums = _stream(x)
    got = signed_streamed_metrics(hists, sums, n)                # (M, cells)
    exact = risk_metrics(x, axis=0)
    np.testing.assert_allclose(got[0], exact[0], rtol=1e-12, atol=1e-300)       # mean
    np.testing.assert_allclose(got[1], exact[1], rtol=1e-6, atol=1e-12)         # std from the sums
    xs = np.sort(x, axis=0)
    # numpy's linear quantile, from estimates of the two order statistics around (N - 1) q, each within
    # its bin: within one bin width of the draws' own
    for j, q in enumerate(QUANTILE_LEVELS + (0.95, 0.99)):
        h = (n - 1) * q
        near = np.maximum(np.abs(xs[math.floor(h)]), np.abs(xs[min(math.floor(h) + 1, n - 1)]))
        tol = BIN * near + 1.02 * FLOOR
        assert np.all(np.abs(got[2 + j] - exact[2 + j]) <= tol), (METRICS[2 + j], got[2 + j], exact[2 + j])
    # ES: the mean of the worst k draws, each taken within its bin
    for j, a in enumerate((0.95, 0.99)):
        k = max(1, math.ceil(round((1 - a) * n, 9)))
        tail = xs[n - k:]
        tol = BIN * np.abs(tail).max(axis=0) + 1.02 * FLOOR
        assert np.all(np.abs(got[11 + j] - tail.mean(axis=0)) <= tol)
    # held inside the exact extremes: a flag's and a constant column's statistics are exact
    np.testing.assert_array_equal(got[2:, 4], exact[2:, 4])
    np.testing.assert_array_equal(got[2:, 5], -3.25)
    assert np.all(got[2:] <= x.max(axis=0)) and np.all(got[2:] >= x.min(axis=0))


def test_streamed_statistics_do_not_depend_on_the_blocks():
    x = _series(np.random.default_rng(5), 3000)
    a, b = _stream(x, block=256), _stream(x[::-1], block=77)
    for u, v in zip(a[0], b[0]):
        np.testing.assert_array_equal(u, v)
    got_a = signed_streamed_metrics(*a, x.shape[0])
    got_b = signed_streamed_metrics(*b, x.shape[0])
    np.testing.assert_array_equal(got_a[2:], got_b[2:])      # integer counts: quantiles and ES identical
    np.testing.assert_allclose(got_a[:2], got_b[:2], rtol=1e-10)


def test_nan_is_not_counted_and_empty_cells_give_nan():
    x = np.array([[np.nan, 0.0], [1.0, 0.0]])
    hists = engine.new_signed_hist((2,))
    signed_histogram(x[:, :1], 2, engine.HIST_SHIFT, engine.MARKET_FIRST_KEY, *(h[:1] for h in hists))
    assert hists[0][0].sum() == 1 and hists[0][1].sum() == 0
    got = signed_streamed_metrics(hists, np.zeros((2, 2)), 2)
    assert np.isnan(got[2:, 1]).all()


@pytest.fixture(scope="module")
def market_runs():
    from shockmodel import pipeline

    kw = dict(draws=1300, seed=3, model="leontief")
    return (pipeline.run("combined_coordinated", **kw),
            pipeline.run("combined_coordinated", chunk_size=256, keep_draws=300, **kw))


def test_market_summaries_do_not_depend_on_chunking_or_kept_draws(market_runs):
    full, small = market_runs
    assert small.sizes["draw"] == 300
    for name in ("price_change_pct", "price_at_bound", "equity_drawdown_pct", "equity_closed"):
        np.testing.assert_array_equal(small[f"{name}_summary"].values, full[f"{name}_summary"].values)
        np.testing.assert_array_equal(small[name].values, full[name].values[..., :300, :])
        assert "every draw" in full[f"{name}_summary"].attrs["note"]


def test_a_run_keeps_only_the_kept_draws_of_the_market_series():
    from shockmodel import pipeline
    from shockmodel.pipeline import MarketHook

    compiled = pipeline.compile_for("combined_coordinated", pipeline._table("default"), None)[1]
    hook = MarketHook("default", pipeline._table("default"), compiled)
    raw = engine.simulate(compiled, pipeline._table("default"), draws=900, seed=1, model="leontief",
                          market=hook, keep_draws=200)
    assert not hasattr(raw, "extras_all")
    for name in ("price_change_pct", "equity_drawdown_pct"):
        assert raw.extras[name].shape[1] == 200
        counts = raw.market_hists[name][0]
        assert (counts.sum(axis=-1) == 900).all()   # every draw counted, none stored beyond the kept ones
