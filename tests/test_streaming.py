"""Runs that keep only part of their draws: flat memory, statistics over every draw from the streams."""

from __future__ import annotations

import numpy as np
import pytest

from shockmodel import aggregate, engine, pipeline


@pytest.fixture(scope="module")
def full_and_kept(default_table):
    kw = dict(table=default_table, draws=6000, model="leontief", markets=None)
    return pipeline.run("combined_coordinated", **kw), pipeline.run("combined_coordinated", keep_draws=1000, **kw)


def test_kept_draws_are_a_prefix(full_and_kept):
    full, kept = full_and_kept
    assert kept.sizes["draw"] == 1000 and kept.attrs["draws_kept"] == 1000 and kept.attrs["draws"] == 6000
    np.testing.assert_array_equal(kept["gdp_loss_pct"].values, full["gdp_loss_pct"].values[:1000])
    np.testing.assert_array_equal(kept["severity"].values, full["severity"].values[:1000])
    # streamed sector and trade statistics do not depend on how many draws are kept
    np.testing.assert_array_equal(kept["output_loss_pct"].values, full["output_loss_pct"].values)


def test_streamed_summaries_match_exact_statistics(full_and_kept):
    """Mean and std exact (to rounding); quantiles, VaR and ES within one histogram bin (1.6%)."""
    full, kept = full_and_kept
    for name in ("world_gdp_loss_pct_summary", "gdp_loss_pct_summary"):
        exact, streamed = full[name].values, kept[name].values
        np.testing.assert_allclose(streamed[:2], exact[:2], rtol=1e-9)
        np.testing.assert_allclose(streamed[2:], exact[2:], rtol=0.016, atol=1e-12)
    assert "streamed" in kept["world_gdp_loss_pct_summary"].attrs["note"]
    tab = aggregate.summarize(kept)
    world = tab[(tab.variable == "gdp_loss_pct") & (tab.region == "World")].iloc[0]
    assert world["ES99"] == pytest.approx(float(kept["world_gdp_loss_pct_summary"].sel(statistic="ES99")))


def test_hist_expected_shortfall_close_to_exact():
    rng = np.random.default_rng(4)
    x = rng.lognormal(0.0, 1.0, 20_000)
    counts, ranges = engine.new_hist((1, engine.HIST_BINS))
    from shockmodel.kernels.propagate import bit_histogram

    bit_histogram(x[None, :].copy(), np.ones(1), engine.HIST_SHIFT, engine.HIST_FIRST_KEY, counts, ranges)
    for level in (0.95, 0.99):
        got = aggregate.hist_expected_shortfall(counts, level)[0]
        assert got == pytest.approx(aggregate.expected_shortfall(x, level), rel=0.016)
        assert aggregate.hist_expected_shortfall(counts, level, ranges)[0] == got   # only the range read


def test_accumulator_memory_is_bounded_by_keep_draws(default_table):
    from shockmodel.scenario import compile_scenario, load_scenario

    compiled = compile_scenario(load_scenario("taiwan_blockade"), default_table)
    raw = engine.simulate(compiled, default_table, draws=3000, model="leontief", keep_draws=256, chunk_size=512)
    assert raw.gdp_loss.shape[1] == 256 and raw.severity.shape[0] == 256 and raw.kept == 256
    assert raw.headline_hist[0, 0].sum() == 3000          # every draw counted


def test_keep_draws_must_be_positive(default_table):
    from shockmodel.errors import UserError
    from shockmodel.scenario import compile_scenario, load_scenario

    compiled = compile_scenario(load_scenario("taiwan_blockade"), default_table)
    with pytest.raises(UserError, match="keep_draws"):
        engine.simulate(compiled, default_table, draws=10, keep_draws=0)


# --- histogram sets reused between runs (engine.take_counts / give_counts) ------------------------------


def _ranges_of(counts: np.ndarray) -> np.ndarray:
    """The tightest bin ranges [lo, hi) of the bins >= 1 holding counts ([bins, 0) if none)."""
    nb = counts.shape[-1]
    held = counts[..., 1:] != 0
    lo = np.where(held.any(-1), held.argmax(-1) + 1, nb)
    hi = np.where(held.any(-1), nb - held[..., ::-1].argmax(-1), 0)
    return np.stack([lo, hi], axis=-1).astype(np.int64)


def test_drain_and_clear_counts_match_numpy():
    from shockmodel.kernels.propagate import clear_counts, drain_counts

    rng = np.random.default_rng(2)
    total = rng.integers(0, 5, size=(2, 7, 33)) * (rng.random((2, 7, 33)) < 0.5)
    part = rng.integers(0, 3, size=(2, 7, 33)) * (rng.random((2, 7, 33)) < 0.3)
    part[0, 1, 1:] = 0                                  # a cell with zeros only (an empty range)
    part[0, 2, :] = 0                                   # an empty cell
    total_rng, part_rng = _ranges_of(total), _ranges_of(part)
    expect = total + part
    drain_counts(total, part, total_rng, part_rng)
    np.testing.assert_array_equal(total, expect)
    assert not part.any()
    np.testing.assert_array_equal(part_rng[..., 0], 33)             # emptied
    np.testing.assert_array_equal(part_rng[..., 1], 0)
    inside = _ranges_of(expect)                                     # the union covers every count
    assert np.all(total_rng[..., 0] <= inside[..., 0]) and np.all(total_rng[..., 1] >= inside[..., 1])
    clear_counts(total, total_rng)
    assert not total.any()
    np.testing.assert_array_equal(total_rng[..., 0], 33)


def test_reused_histograms_leave_no_counts_behind(default_table):
    """pipeline.run hands its histograms back after aggregating; a later run that reuses them must give
    the same numbers as a run on fresh ones, and the returned sets must be zero."""
    from shockmodel import engine, pipeline, runtime

    runtime.COUNT_POOL.clear()
    kw = {"table": default_table, "draws": 1500, "seed": 9, "model": "leontief", "markets": None}
    first = pipeline.run("combined_coordinated", **kw)           # fresh sets
    assert runtime.COUNT_POOL, "the run should have returned its histogram sets"
    for sets in runtime.COUNT_POOL.values():
        for counts in sets:
            hists, ranges = counts.hists, counts.ranges
            assert all(not a.any() for a in hists)
            assert all(np.all(r[..., 0] == engine.HIST_BINS) and not r[..., 1].any() for r in ranges)
    other = pipeline.run("russia_escalation", table=default_table, draws=700, seed=1, model="leontief", markets=None)
    assert float(other["output_loss"].sum()) > 0                 # counted into reused sets, then returned
    again = pipeline.run("combined_coordinated", **kw)           # reused sets
    for name in ("output_loss_pct", "trade_loss", "gdp_loss_pct_summary"):
        np.testing.assert_array_equal(first[name].values, again[name].values)
