"""The fast statistics kernels (``kernels.stats``) against their numpy definitions.

Order statistics (quantiles, VaR) must be the very numbers of ``np.partition``/``np.sort``; mean and std
those of the numpy reference where it is exact for the layout; ES agrees to rounding (the reference
sums the tail in ``np.partition``'s arbitrary order); histogram statistics are bit-identical to the
Python loops they replace. No timing here.
"""

from __future__ import annotations

import numpy as np
import pytest

from shockmodel import aggregate, engine, testing
from shockmodel.kernels import stats

ES_RTOL = 1e-14


def _samples(rng, n, b):
    """(n, b) samples of several kinds: smooth, ties, many zeros, signed, wide range, constant."""
    yield "lognormal", rng.lognormal(0.0, 1.5, (n, b))
    yield "ties", np.round(rng.lognormal(0.0, 1.0, (n, b)))
    z = rng.lognormal(0.0, 1.0, (n, b))
    z[rng.random((n, b)) < 0.4] = 0.0
    yield "zeros", z
    s = rng.standard_normal((n, b)) * 1e3
    s[rng.random((n, b)) < 0.1] = -0.0
    yield "signed", s
    yield "wide", np.exp(rng.uniform(-600, 600, (n, b))) * rng.choice([-1.0, 1.0], (n, b))
    yield "constant", np.full((n, b), 2.5)
    yield "two values", rng.choice([0.0, 7.0], (n, b))


SIZES = (1, 2, 3, 17, 100, 1001, 4000)


def _ranks(n):
    levels = np.array(aggregate.QUANTILE_LEVELS + (0.95, 0.99))
    lo = np.floor((n - 1) * levels).astype(np.int64)
    tails = np.array(aggregate._es_ranks(n), dtype=np.int64)
    return np.unique(np.concatenate([lo, np.minimum(lo + 1, n - 1), tails])), tails


@pytest.mark.parametrize("n", SIZES)
def test_order_stats_are_those_of_a_sort(n):
    rng = np.random.default_rng(n)
    ranks, tails = _ranks(n)
    for kind, x in _samples(rng, n, 5):
        x3 = np.ascontiguousarray(x.T.reshape(5, n, 1)) if n % 2 else x.reshape(1, n, 5)
        A, _, B = x3.shape
        p1 = np.empty((A, B)), np.empty((A, B)), np.empty((A, B))
        stats.column_moments(x3, *p1)
        vals, tail, sqdev = np.empty((A, B, ranks.size)), np.empty((A, B, tails.size)), np.empty((A, B))
        stats.order_stats(x3, x3.view(np.uint64), *p1, ranks, tails, True, vals, tail, sqdev)
        srt = np.sort(x3, axis=1)
        np.testing.assert_array_equal(vals, np.moveaxis(srt[:, ranks, :], 1, 2), err_msg=kind)
        want = np.stack([srt[:, t:, :].sum(axis=1) for t in tails], axis=-1)
        np.testing.assert_allclose(tail, want, rtol=ES_RTOL, atol=1e-300, err_msg=kind)
        np.testing.assert_array_equal(p1[1], srt[:, 0, :])
        np.testing.assert_array_equal(p1[2], srt[:, -1, :])
        if kind != "wide":   # sums in draw order, as numpy's axis-0 reduction of a C (N, B) array
            np.testing.assert_allclose(p1[0], x3.sum(axis=1), rtol=1e-12, err_msg=kind)


def test_select_puts_the_kth_value_in_place():
    rng = np.random.default_rng(2)
    n = 3001
    patterns = {"sorted": np.arange(n, dtype=float), "reversed": np.arange(n, 0, -1, dtype=float),
                "organ pipe": np.concatenate([np.arange(n // 2), np.arange(n - n // 2, 0, -1)]).astype(float),
                "few values": rng.integers(0, 3, n).astype(float), "equal": np.ones(n),
                "random": rng.random(n)}
    for name, x in patterns.items():
        for k in (0, 1, 17, n // 2, n - 2, n - 1):
            buf = x.copy()
            stats._select(buf, 0, n - 1, k)
            assert buf[k] == np.sort(x)[k], (name, k)
            assert buf[:k].max(initial=-np.inf) <= buf[k] <= buf[k + 1:].min(initial=np.inf), (name, k)
            np.testing.assert_array_equal(np.sort(buf), np.sort(x))


def test_order_stats_do_not_depend_on_the_other_columns():
    """A column gives the same order statistics and tail sums alone (B = 1) or among others."""
    rng = np.random.default_rng(7)
    x = rng.lognormal(0.0, 1.0, (3000, 6))
    ranks, tails = _ranks(3000)

    def run(x3):
        A, _, B = x3.shape
        p1 = np.empty((A, B)), np.empty((A, B)), np.empty((A, B))
        stats.column_moments(x3, *p1)
        vals, tail, sq = np.empty((A, B, ranks.size)), np.empty((A, B, 2)), np.empty((A, B))
        stats.order_stats(x3, x3.view(np.uint64), *p1, ranks, tails, B > 1, vals, tail, sq)
        return vals, tail

    together = run(x.reshape(1, 3000, 6))
    for j in range(6):
        alone = run(np.ascontiguousarray(x[:, j]).reshape(1, 3000, 1))
        np.testing.assert_array_equal(alone[0][0, 0], together[0][0, j])
        np.testing.assert_array_equal(alone[1][0, 0], together[1][0, j])


def _check_against_reference(x, axis):
    got, ref = aggregate.risk_metrics(x, axis), aggregate._risk_metrics_reference(x, axis)
    assert got.shape == ref.shape
    es = [aggregate.METRICS.index("ES95"), aggregate.METRICS.index("ES99")]
    rest = [i for i in range(len(aggregate.METRICS)) if i not in es]
    mom = [aggregate.METRICS.index("mean"), aggregate.METRICS.index("std")]
    order = [i for i in rest if i not in mom]
    np.testing.assert_array_equal(got[order], ref[order])   # quantiles, VaR: the same numbers
    # mean and std: sums in a fixed order (equal to numpy's today; a tolerance so a numpy release that
    # reorders its sums does not fail a correct kernel)
    np.testing.assert_allclose(got[mom], ref[mom], rtol=1e-14, atol=0)
    np.testing.assert_allclose(got[es], ref[es], rtol=ES_RTOL, atol=1e-300)


@pytest.mark.parametrize("n", SIZES)
def test_risk_metrics_match_the_partition_reference(n):
    rng = np.random.default_rng(100 + n)
    for kind, x in _samples(rng, n, 4):
        if kind == "wide":
            continue   # sums of 1e260-scale values overflow differently; order statistics checked above
        _check_against_reference(x, 0)                       # (N, B): the regional layout
        _check_against_reference(x[:, 0], 0)                 # one column, strided
        _check_against_reference(np.ascontiguousarray(x[:, 0]), 0)
        _check_against_reference(np.ascontiguousarray(x.T), 1)   # contiguous columns
        _check_against_reference(x.T.copy().T, 0)                # F-ordered (N, B)
        _check_against_reference(np.stack([x, 2 * x]), 1)       # (V, N, B), as to_dataset's
        _check_against_reference(x.reshape(n, 2, 2), 0)


def test_risk_metrics_definition():
    """Quantiles are numpy's default linear ones, ES the mean of the worst ceil((1 - a) N) draws."""
    rng = np.random.default_rng(11)
    for n in (1, 2, 19, 20, 100, 2001):
        x = rng.lognormal(0.0, 1.0, n)
        x[: n // 3] = np.round(x[: n // 3])   # ties
        m = dict(zip(aggregate.METRICS, aggregate.risk_metrics(x)))
        for name, q in (("p01", 0.01), ("p05", 0.05), ("p25", 0.25), ("p50", 0.5), ("p75", 0.75), ("p95", 0.95),
                        ("p99", 0.99), ("VaR95", 0.95), ("VaR99", 0.99)):
            assert m[name] == pytest.approx(np.quantile(x, q), rel=1e-13, abs=1e-300), (n, name)
        for name, a in (("ES95", 0.95), ("ES99", 0.99)):
            k = max(1, int(np.ceil(round((1 - a) * n, 9))))
            assert m[name] == pytest.approx(np.sort(x)[n - k:].mean(), rel=ES_RTOL), (n, name)
            assert m[name] == pytest.approx(aggregate.expected_shortfall(x, a), rel=ES_RTOL)
        assert m["mean"] == pytest.approx(np.mean(x), rel=1e-14, abs=0)
        assert m["std"] == pytest.approx(np.std(x, ddof=1) if n > 1 else 0.0, rel=1e-12, abs=0)


def test_risk_metrics_with_nan_or_inf_take_the_reference():
    rng = np.random.default_rng(3)
    x = rng.random((500, 3))
    x[17, 1] = np.nan
    np.testing.assert_array_equal(aggregate.risk_metrics(x), aggregate._risk_metrics_reference(x))
    y = rng.random(500)
    y[3] = np.inf
    with np.errstate(invalid="ignore"):   # inf - inf in the std, as in the reference
        np.testing.assert_array_equal(aggregate.risk_metrics(y), aggregate._risk_metrics_reference(y))


def test_scaled_and_total_match_numpy():
    rng = np.random.default_rng(5)
    for R in (1, 2, 7, 8, 9, 16, 17, 43, 128, 129, 200):
        x = rng.lognormal(0.0, 2.0, (2, 300, R))
        x[rng.random(x.shape) < 0.3] = 0.0
        x[0, 0] = -0.0
        f = rng.random(R)
        out, total, pass1 = aggregate._scaled_and_total(x, f)
        np.testing.assert_array_equal(out, x * f)
        np.testing.assert_allclose(total, x.sum(axis=2), rtol=1e-14, atol=0)
        np.testing.assert_array_equal(pass1[1], (x * f).min(axis=1))
        np.testing.assert_array_equal(pass1[2], (x * f).max(axis=1))
        if R > 1:
            np.testing.assert_allclose(pass1[0], np.moveaxis(x * f, 1, 0).sum(axis=0), rtol=1e-14, atol=0)
    xf = np.asfortranarray(rng.random((2, 50, 4)))   # not C-contiguous: numpy
    out, total, pass1 = aggregate._scaled_and_total(xf, np.ones(4))
    assert pass1 is None and np.array_equal(total, xf.sum(axis=2))


def _random_counts(rng, cells, dtype=np.int64):
    counts = np.zeros((cells, engine.HIST_BINS), dtype=np.int64)
    for c in range(cells):
        kind = c % 5
        if kind == 0:
            continue                                         # empty histogram
        idx = rng.integers(0, engine.HIST_BINS, rng.integers(1, 60))
        np.add.at(counts[c], idx, rng.integers(1, 1000, idx.size))
        if kind == 1:
            counts[c, 0] += rng.integers(1, 100_000)         # mostly exact zeros
        if kind == 2:
            counts[c] = 0
            counts[c, rng.integers(0, engine.HIST_BINS)] = 1  # n = 1
    return counts.astype(dtype)


def test_hist_quantiles_match_the_loop():
    rng = np.random.default_rng(8)
    qs = (0.95, 0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.99, 1.0)   # unsorted on purpose
    for dtype in (np.int64, np.int32, np.float64):
        counts = _random_counts(rng, 40, dtype)
        np.testing.assert_array_equal(aggregate.hist_quantiles(counts, qs),
                                      testing.hist_quantiles(counts, qs))
        c3 = counts.reshape(2, 20, -1)
        np.testing.assert_array_equal(aggregate.hist_quantiles(c3, (0.05, 0.5, 0.95)),
                                      testing.hist_quantiles(c3, (0.05, 0.5, 0.95)))


def _ranges(counts, rng, loose: bool):
    """Bin ranges [lo, hi) covering the bins >= 1 that hold counts: the tightest, or widened at random
    (any superset is valid); [bins, 0) where there are none."""
    flat = counts.reshape(-1, counts.shape[-1])
    nb = flat.shape[1]
    out = np.empty((flat.shape[0], 2), dtype=np.int64)
    for c, row in enumerate(flat):
        held = np.flatnonzero(row[1:]) + 1
        lo, hi = (held[0], held[-1] + 1) if held.size else (nb, 0)
        if loose and held.size:
            lo, hi = int(rng.integers(1, lo + 1)), int(rng.integers(hi, nb + 1))
        out[c] = lo, hi
    return out.reshape(counts.shape[:-1] + (2,))


def test_hist_statistics_read_only_the_ranges():
    """With the engine's bin ranges (kernels.propagate.drain_counts) the kernels read bin 0 and the
    range only; the numbers must be those of the loops over every bin, for tight and loose ranges."""
    rng = np.random.default_rng(10)
    qs = (0.95, 0.0, 0.01, 0.5, 0.99, 1.0, 1.5)   # 1.5: past every count, the last bin as searchsorted
    for dtype in (np.int64, np.float64):
        counts = _random_counts(rng, 60, dtype)
        for loose in (False, True):
            ranges = _ranges(counts, rng, loose)
            np.testing.assert_array_equal(aggregate.hist_quantiles(counts, qs, ranges),
                                          testing.hist_quantiles(counts, qs))
            for level in (0.0, 0.5, 0.95, 0.99):
                np.testing.assert_array_equal(aggregate.hist_expected_shortfall(counts, level, ranges),
                                              testing.hist_expected_shortfall(counts, level))
            c3, r3 = counts.reshape(3, 20, -1), ranges.reshape(3, 20, 2)
            np.testing.assert_array_equal(aggregate.hist_quantiles(c3, (0.05, 0.5), r3),
                                          testing.hist_quantiles(c3, (0.05, 0.5)))


def test_hist_expected_shortfall_matches_the_loop():
    rng = np.random.default_rng(9)
    for dtype in (np.int64, np.float64):
        counts = _random_counts(rng, 40, dtype)
        for level in (0.0, 0.5, 0.95, 0.99):
            np.testing.assert_array_equal(aggregate.hist_expected_shortfall(counts, level),
                                          testing.hist_expected_shortfall(counts, level))
        c3 = counts.reshape(4, 10, -1)
        np.testing.assert_array_equal(aggregate.hist_expected_shortfall(c3, 0.95),
                                      testing.hist_expected_shortfall(c3, 0.95))


def test_column_metrics_equal_risk_metrics_column_by_column():
    import xarray as xr

    rng = np.random.default_rng(12)
    x = rng.lognormal(0.0, 1.0, (777, 5))
    da = xr.DataArray(x, dims=("draw", "region"), coords={"region": list("abcde")})
    for lab, col, m in aggregate._column_metrics(da, "region"):
        np.testing.assert_array_equal(col, da.sel(region=lab).values)
        np.testing.assert_array_equal(m, aggregate.risk_metrics(da.sel(region=lab).values))
    for lab, col, m in aggregate._column_metrics(da.T, "region"):   # (region, draw) order
        np.testing.assert_array_equal(m, aggregate.risk_metrics(da.sel(region=lab).values))


def _summarize_reference(ds):
    """summarize as it was: one reference risk_metrics per item (the old implementation)."""
    scenarios = ds.scenario.values.tolist() if "scenario" in ds.dims else [ds.attrs.get("scenario", "run")]
    rows = []
    for sc in scenarios:
        d = ds.sel(scenario=sc) if "scenario" in ds.dims else ds
        items = [("gdp_loss_pct", "World", d["world_gdp_loss_pct"].values)]
        items += [("gdp_loss_pct", r, d["gdp_loss_pct"].sel(region=r).values) for r in d.region.values.tolist()]
        items.append(("trade_loss_pct", "World", d["world_trade_loss_pct"].values))
        if "world_simultaneity_premium_pct" in d and sc == "combined":
            items.append(("simultaneity_premium_pct", "World", d["world_simultaneity_premium_pct"].values))
        for var, dim in (("price_change_pct", "commodity"), ("equity_drawdown_pct", "equity_index")):
            if var in d:
                items += [(var, lab, d[var].sel({dim: lab}).values) for lab in d[dim].values.tolist()]
        for var, who, x in items:
            stat = dict(zip(aggregate.METRICS, aggregate._risk_metrics_reference(x)))
            rows.append({"scenario": sc, "variable": var, "region": who,
                         **{k: float(stat[k]) for k in ("mean", "p05", "p50", "p95", "VaR95", "VaR99", "ES95", "ES99")},
                         "P(>1%)": float(aggregate.probability_exceeds(x, 1.0))})
    return rows


def test_summarize_matches_the_per_item_reference():
    try:
        from report_fixtures import synthetic_run_dataset
    except ImportError:  # tests collected as a package
        from tests.report_fixtures import synthetic_run_dataset

    ds = synthetic_run_dataset(draws=500, seed=4, with_variants=True, with_markets=True)
    ds["world_trade_loss_pct"] = 1.7 * ds["world_gdp_loss_pct"]   # not in the synthetic dataset
    got = aggregate.summarize(ds)
    ref = _summarize_reference(ds)
    assert len(got) == len(ref)
    for row, want in zip(got.to_dict("records"), ref):
        for key, value in want.items():
            if key in ("ES95", "ES99"):
                assert row[key] == pytest.approx(value, rel=ES_RTOL, abs=1e-300), (want["region"], key)
            else:
                assert row[key] == value, (want["region"], key)


def test_to_dataset_summaries_match_the_reference(default_table):
    from shockmodel import pipeline

    ds = pipeline.run("combined_coordinated", table=default_table, draws=2000, model="leontief", markets=None)
    gdp = ds["gdp_loss_pct"].transpose("draw", "region").values
    np.testing.assert_array_equal(ds["world_gdp_loss"].values, ds["gdp_loss"].values.sum(axis=1))
    es = [aggregate.METRICS.index("ES95"), aggregate.METRICS.index("ES99")]
    for name, x in (("gdp_loss_pct_summary", gdp), ("world_gdp_loss_pct_summary", ds["world_gdp_loss_pct"].values)):
        got, ref = ds[name].values, aggregate._risk_metrics_reference(x)
        np.testing.assert_array_equal(np.delete(got, es, axis=0), np.delete(ref, es, axis=0))
        np.testing.assert_allclose(got[es], ref[es], rtol=ES_RTOL)
    assert ds["draw"].values.tolist() == list(range(2000)) and ds["draw"].dtype == np.int64
