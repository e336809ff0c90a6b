"""Draws -> distributions (L4; the first layer that imports xarray).

Per-draw losses are aggregated to regions and the world *before* any statistic is taken; quantiles of a
sum are never built from quantiles of its parts. Risk measures follow the usual loss convention
(McNeil, Frey & Embrechts 2015, *Quantitative Risk Management*, 2nd ed., section 2.3):
``VaR_a = q_a(loss)`` and ``ES_a = E[loss | loss >= VaR_a]``, estimated as the mean of the worst
``ceil((1 - a) N)`` draws.
"""

from __future__ import annotations

import re

import functools
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import xarray as xr

from shockmodel import runtime
from shockmodel.engine import RawResult, hist_edges

STATS = ("mean", "p05", "p50", "p95")
METRICS = ("mean", "std", "p01", "p05", "p25", "p50", "p75", "p95", "p99", "VaR95", "VaR99", "ES95", "ES99")
#: The one statistic dimension of every statistic variable; its labels are :data:`METRICS` (region x
#: sector and exporter x importer statistics stream them from histograms of every draw).
STAT_DIM = "statistic"
PCT = "percent of baseline value added"
USD = "USD million (2011 prices)"  # a table without a year in its metadata; else money_units(mrio)
_MONEY = re.compile(r"USD million \((?:\d{4} )?prices\)")   #: money_units of any table year


def money_units(mrio) -> str:
    """Units of money variables: current USD million of the table's year ("USD million (2022 prices)")."""
    year = mrio.meta.get("year")
    return f"USD million ({year} prices)" if year else USD


# --- statistics ------------------------------------------------------------------------------------


def expected_shortfall(x: np.ndarray, level: float, axis: int = 0) -> np.ndarray:
    """Mean of the worst ``ceil((1 - level) N)`` values along ``axis`` (losses are positive)."""
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, 0)
    n = x.shape[0]
    k = max(1, math.ceil(round((1.0 - level) * n, 9)))  # round: (1 - 0.95) * 100 is 5.000000000000004
    worst = np.partition(x, n - k, axis=0)[n - k:]
    return worst.mean(axis=0)


QUANTILE_LEVELS = (0.01, 0.05, 0.25, 0.50, 0.75, 0.95, 0.99)


def _es_ranks(n: int) -> list[int]:
    """First rank (0-based, ascending) of the worst ``ceil((1 - a) N)`` draws for ES95 and ES99."""
    return [n - max(1, math.ceil(round((1.0 - a) * n, 9))) for a in (0.95, 0.99)]


def risk_metrics(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """The statistics of :data:`METRICS` along ``axis`` (moved to the front of the result).

    Quantiles use numpy's default (linear) definition and ES the worst ``ceil((1 - a) N)`` draws, as
    :func:`expected_shortfall`. The order statistics and ES sums come from streaming numba kernels
    (``kernels.stats``; a copy and ``np.partition`` with the 16 ranks cost 0.3 s per million draws and
    16 regions, most of a fast run), which neither sort nor copy a C-contiguous ``x``. Quantiles and
    VaR are the numbers of
    :func:`_risk_metrics_reference`; mean and std too (the kernel sums in numpy's order for this
    layout, and contiguous columns keep numpy's own mean and einsum); ES agrees to rounding (the
    reference sums the tail in ``np.partition``'s arbitrary order). Inputs with NaN or inf take the
    reference.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 0 or x.shape[axis] == 0:
        return _risk_metrics_reference(x, axis)
    axis = axis % x.ndim
    rest = x.shape[:axis] + x.shape[axis + 1:]
    A, B = math.prod(x.shape[:axis]), math.prod(x.shape[axis + 1:])
    x3 = np.ascontiguousarray(x).reshape(A, x.shape[axis], B)   # a view of x when x is C-contiguous
    # numpy sums a reduced axis in draw order only for the non-contiguous axis of a C array (B > 1);
    # otherwise the mean and std come from numpy itself, on x as the reference takes it
    moved = None if B > 1 and x.flags.c_contiguous else np.moveaxis(x, axis, 0)
    return _risk_metrics3(x3, moved=moved).reshape((len(METRICS),) + rest)


def _risk_metrics3(x3: np.ndarray, pass1: tuple | None = None, moved: np.ndarray | None = None) -> np.ndarray:
    """:func:`risk_metrics` of a C-contiguous float64 (A, N, B) array along axis 1, as (M, A, B);
    ``pass1`` as in :func:`_metrics3`; ``moved``: the draws with the draw axis first, whose mean and std
    numpy computes (in pairwise order where the draws are contiguous, as the reference)."""
    out = _metrics3(x3, pass1)
    if out is None:
        ref = _risk_metrics_reference(x3, 1) if moved is None else _risk_metrics_reference(moved, 0)
        return ref.reshape((len(METRICS),) + x3.shape[::2])
    if moved is None and x3.shape[2] == 1:
        moved = np.moveaxis(x3, 1, 0)
    if moved is not None:
        mean, std = _mean_std(moved)
        out[0], out[1] = mean.reshape(out.shape[1:]), std.reshape(out.shape[1:])
    return out


def _metrics3(x3: np.ndarray, pass1: tuple | None = None) -> np.ndarray | None:
    """:data:`METRICS` (first axis) of the columns ``x3[a, :, b]`` of a C-contiguous float64 (A, N, B)
    array as (M, A, B), or None when a column holds NaN or inf (the kernels' sums assume finite
    values). ``pass1``: its ``kernels.stats.column_moments`` (sums, min, max) when already computed
    along with ``x3``. Mean and std are left to the caller when B == 1 (see :func:`risk_metrics`)."""
    from shockmodel.kernels.stats import column_moments, order_stats

    A, n, B = x3.shape
    if pass1 is None:
        if B == 1:   # numpy's vectorised min and max (NaN propagates); the sums are not needed
            pass1 = np.zeros((A, B)), x3.min(axis=1), x3.max(axis=1)
        else:
            pass1 = np.empty((A, B)), np.empty((A, B)), np.empty((A, B))
            column_moments(x3, *pass1)
    if not all(np.isfinite(p).all() for p in pass1):   # NaN or inf: the reference's numbers
        return None
    sums = pass1[0]
    levels = np.array(QUANTILE_LEVELS + (0.95, 0.99))
    h = (n - 1) * levels
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    k_es = np.array(_es_ranks(n), dtype=np.int64)
    ranks = np.unique(np.concatenate([lo, hi, k_es]))
    vals = np.empty((A, B, ranks.size))
    tail = np.empty((A, B, 2))
    sqdev = np.empty((A, B))
    order_stats(x3, x3.view(np.uint64), *pass1, ranks, k_es, B > 1, vals, tail, sqdev)
    vals = np.moveaxis(vals, -1, 0)
    xlo, xhi = vals[np.searchsorted(ranks, lo)], vals[np.searchsorted(ranks, hi)]
    qs = xlo + (h - lo)[:, None, None] * (xhi - xlo)
    es = np.moveaxis(tail, -1, 0) / (n - k_es)[:, None, None]
    mean = sums / n     # summed in draw order: numpy's order for axis-0 reductions of a C (N, B) array
    std = np.sqrt(sqdev / (n - 1)) if n > 1 else np.zeros((A, B))
    return np.concatenate([mean[None], std[None], qs, es])


def _mean_std(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sample standard deviation along axis 0: two-pass variance without the temporary of
    the squares (numpy's std makes both)."""
    n = x.shape[0]
    mean = x.mean(axis=0)
    if n > 1:
        d = x - mean
        std = np.sqrt(np.einsum("i...,i...->...", d, d) / (n - 1))
    else:
        std = np.zeros(x.shape[1:])
    return mean, std


def _risk_metrics_reference(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """:func:`risk_metrics` from one ``np.partition`` (the definition the kernel is tested against)."""
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, 0)
    n = x.shape[0]
    levels = np.array(QUANTILE_LEVELS + (0.95, 0.99))
    h = (n - 1) * levels
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    k_es = _es_ranks(n)
    part = np.moveaxis(x, 0, -1).copy()   # never np.ascontiguousarray: that may return x itself
    part.partition(np.unique(np.concatenate([lo, hi, k_es])), axis=-1)
    xlo, xhi = np.moveaxis(part[..., lo], -1, 0), np.moveaxis(part[..., hi], -1, 0)
    frac = (h - lo).reshape((-1,) + (1,) * (x.ndim - 1))
    qs = xlo + frac * (xhi - xlo)
    es = [part[..., k:].mean(axis=-1) for k in k_es]
    mean, std = _mean_std(x)
    return np.stack([mean, std, *qs, *es])


def exceedance_curve(x: np.ndarray, thresholds: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Empirical exceedance probability ``P(loss > t)`` at ``thresholds`` (default: the sorted draws)."""
    xs = np.sort(np.asarray(x, dtype=np.float64).ravel())
    t = xs if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    return t, 1.0 - np.searchsorted(xs, t, side="right") / xs.size


def probability_exceeds(x: np.ndarray, threshold: float, axis: int = 0) -> np.ndarray:
    """``P(loss > threshold)`` along ``axis``."""
    return (np.asarray(x) > threshold).mean(axis=axis)


def hist_quantiles(counts: np.ndarray, qs: Sequence[float], ranges: np.ndarray | None = None) -> np.ndarray:
    """Quantiles (percent) from the engine's log-binned histograms ``counts[..., bin]``.

    Bin 0 holds exact zeros (returned as 0); inside a bin the value is interpolated linearly between its
    edges (``engine.hist_edges``), so the error is below one bin width (at most 1.6% relative). A numba
    loop over all cells (``kernels.stats.hist_quantiles``): the same numbers as
    ``shockmodel.testing.hist_quantiles`` (the loop over cells and levels it is tested against). ``ranges``
    (``counts.shape[:-1] + (2,)``): the bins ``[lo, hi)`` beyond bin 0 that may hold counts, as the
    engine keeps them (``kernels.propagate.drain_counts``); only those are read. None: all bins.
    """
    from shockmodel.kernels.stats import hist_quantiles as kernel

    counts = np.asarray(counts)
    flat = _flat_counts(counts)
    lo, hi = hist_edges()
    out = np.empty((flat.shape[0], len(qs)))
    kernel(flat, np.asarray(qs, dtype=np.float64).reshape(-1), lo, hi, _flat_ranges(ranges, flat), out)
    return out.reshape(counts.shape[:-1] + (len(qs),))


def _flat_ranges(ranges: np.ndarray | None, flat: np.ndarray) -> np.ndarray:
    """(cells, 2) int64 bin ranges for the kernels; every bin when ``ranges`` is None."""
    if ranges is None:
        return np.tile(np.array([1, flat.shape[1]], dtype=np.int64), (flat.shape[0], 1))
    return np.ascontiguousarray(np.asarray(ranges).reshape(-1, 2), dtype=np.int64)


def _flat_counts(counts: np.ndarray) -> np.ndarray:
    """``counts`` as a C-contiguous (cells, bins) array for the kernels: int64 for integer counts (the
    engine's), float64 otherwise (exact for integers below 2**53, as numpy's cumsum)."""
    dtype = np.int64 if counts.dtype.kind in "iub" else np.float64
    return np.ascontiguousarray(counts.reshape(-1, counts.shape[-1]), dtype=dtype)


def hist_expected_shortfall(counts: np.ndarray, level: float, ranges: np.ndarray | None = None) -> np.ndarray:
    """``ES_level`` (percent) from histograms ``counts[..., bin]``: the mean of the worst
    ``ceil((1 - level) N)`` values, taking values spread evenly inside each bin (error below one bin
    width, as :func:`hist_quantiles`). A numba loop over cells (``kernels.stats``), the same numbers as
    ``shockmodel.testing.hist_expected_shortfall``; ``k`` is computed here, with Python's ``round``.
    ``ranges``: as :func:`hist_quantiles`."""
    from shockmodel.kernels.stats import hist_expected_shortfall as kernel
    from shockmodel.kernels.stats import hist_totals

    counts = np.asarray(counts)
    flat = _flat_counts(counts)
    rng = _flat_ranges(ranges, flat)
    lo, hi = hist_edges()
    totals = np.empty(flat.shape[0], dtype=flat.dtype)
    hist_totals(flat, rng, totals)
    totals = totals.astype(np.int64)
    k_of = {n: max(1, math.ceil(round((1.0 - level) * n, 9))) for n in np.unique(totals).tolist() if n > 0}
    ks = np.array([k_of.get(n, 0) for n in totals.tolist()], dtype=np.int64)
    out = np.empty(flat.shape[0])
    kernel(flat, ks, lo, hi, rng, out)
    return out.reshape(counts.shape[:-1])


def streamed_metrics(counts: np.ndarray, sums: np.ndarray, sumsq: np.ndarray, draws: int,
                     ranges: np.ndarray | None = None) -> np.ndarray:
    """The statistics of :data:`METRICS` from streamed histograms and sums (metric first): exact mean
    and standard deviation, quantiles/VaR and ES within one histogram bin (at most 1.6%). ``ranges``:
    as :func:`hist_quantiles`."""
    mean = sums / draws
    var = np.clip(sumsq - draws * mean * mean, 0.0, None) / max(draws - 1, 1)
    qs = np.moveaxis(hist_quantiles(counts, QUANTILE_LEVELS + (0.95, 0.99), ranges), -1, 0)
    es = [hist_expected_shortfall(counts, a, ranges) for a in (0.95, 0.99)]
    return np.stack([mean, np.sqrt(var), *qs, *es])


def signed_streamed_metrics(hists: tuple, sums: np.ndarray, draws: int) -> np.ndarray:
    """The statistics of :data:`METRICS` (metric first, then the cells) of a series that can be negative,
    from its signed histograms ``hists`` (``engine.new_signed_hist``: counts (..., bins), ranges, exact
    extremes) and streamed ``sums`` (..., 2): mean and standard deviation from the sums over every draw
    (exact up to rounding), X
    (at most 1.6% of the value; below 2^-20 percent, within 1e-6 percentage points) and held inside the
    exact minimum and maximum. The same numbers whatever number of draws is kept."""
    from shockmodel.engine import signed_hist_edges
    from shockmodel.kernels.stats import ordered_hist_expected_shortfall, ordered_hist_quantiles

    counts, rng, ext = hists
    cells = counts.shape[:-1]
    flat = np.ascontiguousarray(counts.reshape(-1, counts.shape[-1]))
    frng = np.ascontiguousarray(rng.reshape(-1, 2))
    fext = np.ascontiguousarray(ext.reshape(-1, 2))
    lo, hi = signed_hist_edges()
    levels = np.array(QUANTILE_LEVELS + (0.95, 0.99))
    qs = np.empty((flat.shape[0], levels.size))
    ordered_hist_quantiles(flat, levels, lo, hi, frng, fext, qs)
    totals = flat.sum(axis=1)   # every counted draw (NaN is never counted)
    es = []
    for a in (0.95, 0.99):
        ks = np.array([max(1, math.ceil(round((1.0 - a) * n, 9))) if n else 0 for n in totals.tolist()],
                      dtype=np.int64)
        out = np.empty(flat.shape[0])
        ordered_hist_expected_shortfall(flat, ks, lo, hi, frng, fext, out)
        es.append(out.reshape(cells))
    sums = np.asarray(sums, dtype=np.float64)
    mean = sums[..., 0] / draws
    var = np.clip(sums[..., 1] - draws * mean * mean, 0.0, None) / max(draws - 1, 1)
    return np.stack([mean, np.sqrt(var), *np.moveaxis(qs.reshape(cells + (levels.size,)), -1, 0), *es])


def _binned_std(counts: np.ndarray, ranges: np.ndarray | None) -> np.ndarray:
    """Standard deviation (percent) of the values in histograms ``counts[..., bin]``, each value taken at
    its bin's midpoint (within one bin width, at most 1.6%, of the draws' own; bin 0 is exact zeros)."""
    flat = _flat_counts(counts).astype(np.float64)
    rng = _flat_ranges(ranges, flat)
    bins = np.arange(flat.shape[1])
    inside = (bins[None, :] >= rng[:, :1]) & (bins[None, :] < rng[:, 1:])
    inside[:, 0] = True
    flat = np.where(inside, flat, 0.0)   # bins outside a cell's range are never read (hist_quantiles)
    lo, hi = hist_edges()
    mid = 0.5 * (lo + hi)
    n = flat.sum(axis=1)
    m1 = np.divide(flat @ mid, n, out=np.zeros_like(n), where=n > 0)
    m2 = np.divide(flat @ (mid * mid), n, out=np.zeros_like(n), where=n > 0)
    var = np.clip(m2 - m1 * m1, 0.0, None) * np.divide(n, n - 1, out=np.zeros_like(n), where=n > 1)
    return np.sqrt(var).reshape(counts.shape[:-1])


def _stats_from_stream(counts, sums, draws, baseline, ranges=None):
    """(..., len(METRICS)) statistics in percent of ``baseline`` and the same in absolute units, from
    the streamed histograms (percent losses) and exact sums: mean exact, standard deviation from the
    bins' midpoints, quantiles/VaR and ES from the bins (each within one bin width, at most 1.6%)."""
    mean_abs = sums / draws
    mean_pct = np.divide(100.0 * mean_abs, baseline, out=np.zeros_like(mean_abs), where=baseline > 0)
    q_pct = hist_quantiles(counts, QUANTILE_LEVELS + (0.95, 0.99), ranges)
    es_pct = np.stack([hist_expected_shortfall(counts, a, ranges) for a in (0.95, 0.99)], axis=-1)
    pct = np.concatenate([mean_pct[..., None], _binned_std(counts, ranges)[..., None], q_pct, es_pct], axis=-1)
    absolute = pct * baseline[..., None] / 100.0
    absolute[..., 0] = mean_abs
    return pct, absolute


# --- dataset ---------------------------------------------------------------------------------------


def _scaled_and_total(x: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple | None]:
    """``x * f`` and ``x.sum(axis=2)`` of per-draw losses ``x`` (V, N, R), plus the first pass of the
    statistics of ``x * f`` (``kernels.stats.column_moments``), in one numba pass over ``x``
    (``kernels.stats.scale_and_total``: the same numbers as numpy, which needs three passes and sums
    16-value rows slowly); numpy for anything but C-contiguous float64 (pass1 None then)."""
    if x.dtype != np.float64 or not x.flags.c_contiguous or x.ndim != 3 or 0 in x.shape:
        return x * f, x.sum(axis=2), None
    from shockmodel.kernels.stats import PAIRWISE_BLOCK, scale_and_total

    V, N, R = x.shape
    out, totals = np.empty(x.shape), np.empty((V, N))
    pass1 = np.empty((V, R)), np.empty((V, R)), np.empty((V, R))
    scale_and_total(x, np.ascontiguousarray(np.broadcast_to(f, (R,)), dtype=np.float64), out, totals, *pass1)
    if R > PAIRWISE_BLOCK:
        totals = x.sum(axis=2)
    return out, totals, pass1


@functools.lru_cache(maxsize=32)
def _coordinates(kept: int, regions: tuple[str, ...], sectors: tuple[str, ...], packages: tuple[str, ...],
                 shocks: tuple[str, ...], kinds: tuple[str, ...], units: tuple[str, ...],
                 variants: tuple[str, ...] | None, market: tuple[tuple[str, tuple[str, ...]], ...]):
    """The coordinates of a result dataset, built once per shape and labelling and shared by the datasets
    that have them (building them, pandas indexes included, is a third of making a small run's
    dataset). Shared safely: index coordinates are immutable, and the two label arrays are read-only."""
    coords = {
        "draw": pd.RangeIndex(kept),   # the values of np.arange, without building a million-value index
        **_label_coords(regions, sectors, packages, shocks),
        "shock_kind": ("shock", _read_only(kinds)),
        "shock_units": ("shock", _read_only(units)),
    }
    if variants is not None:
        coords["scenario"] = list(variants)
    for dim, labels in market:
        coords[dim] = list(labels)
    return xr.Coordinates(coords)


runtime.register_cache(_coordinates.cache_clear)


def _read_only(values) -> np.ndarray:
    a = np.array(values)
    a.flags.writeable = False
    return a


@functools.lru_cache(maxsize=32)
def _label_coords(regions: tuple[str, ...], sectors: tuple[str, ...], packages: tuple[str, ...],
                  shocks: tuple[str, ...]) -> dict[str, pd.Index]:
    """The label coordinates as pandas indexes, built once per labelling (pandas indexes are immutable;
    building them from lists is a tenth of ``to_dataset`` in a small run)."""
    labels = {"region": regions, "sector": sectors, "exporter": regions, "importer": regions, STAT_DIM: METRICS,
              "package": packages, "shock": shocks}
    return {name: pd.Index(list(values), name=name) for name, values in labels.items()}


runtime.register_cache(_label_coords.cache_clear)


STREAMED_NOTE = ("mean exact; the other statistics streamed from log-linear bins of every draw (64 per "
                 "octave, at most 1.6% wide): quantiles, VaR and ES within one bin, std from the bins' midpoints")


MARKET_NOTE = ("over every draw, whatever the number kept: mean and std from streamed sums; quantiles, VaR and "
               "ES from signed log-linear bins (64 per octave, at most 1.6% wide), held inside the exact "
               "minimum and maximum")


def _market_summary(raw: RawResult, name: str) -> np.ndarray:
    """(V, M, X) statistics of market series ``name`` over every draw (:func:`signed_streamed_metrics`
    of the engine's streamed histograms and sums)."""
    sums = np.moveaxis(raw.streams[name], 1, -1)            # (V, X, 2)
    return np.moveaxis(signed_streamed_metrics(raw.market_hists[name], sums, raw.draws), 0, 1)


def _var(dims, data, units, long_name, **attrs):
    return xr.Variable(dims, data, attrs={"units": units, "long_name": long_name, **attrs})


def _background() -> ThreadPoolExecutor:
    """One worker thread kept for the process (runtime.background_pool)."""
    return runtime.background_pool()


def to_dataset(raw: RawResult, compiled, mrio, *, attrs: dict | None = None, market_coords: dict | None = None,
               variants: Mapping[str, Sequence[str]] | None = None) -> xr.Dataset:
    """Build the result dataset of docs/contracts.md section 3 from a :class:`RawResult`.

    With a single variant there is no ``scenario`` dimension; with several, every per-draw and stat
    variable gets a leading ``scenario`` dimension named by the variants.

    Speed (a fast run's budget): each per-draw array is read as few times as possible, by numba
    kernels that give numpy's numbers (:func:`_scaled_and_total`, :func:`_risk_metrics3`), and the
    regional statistics, the largest cost, run on a second thread while this one does the rest.
    """
    plan = raw.plan
    R, S = plan.n_regions, plan.n_sectors
    V = len(raw.variant_names)
    USD = money_units(mrio)
    single = V == 1
    lead = () if single else ("scenario",)
    sel = (lambda a: a[0]) if single else (lambda a: a)

    gdp0 = plan.gdp0
    gdp_loss = raw.gdp_loss                                    # (V, N, R)
    gdp_pct, world, pass1 = _scaled_and_total(gdp_loss, 100.0 / gdp0)
    full = raw.kept == raw.draws
    if full:   # the largest cost; its kernels release the GIL, so the work below overlaps it
        regional = _background().submit(_risk_metrics3, gdp_pct, pass1)
    world_pct = world * (100.0 / gdp0.sum())
    trade_pct, world_trade, _ = _scaled_and_total(
        raw.exports_lost, np.divide(100.0, plan.exports0, out=np.zeros(R), where=plan.exports0 > 0))
    world_trade_pct = world_trade * (100.0 / plan.exports0.sum())

    out_rng, trade_rng, head_rng = raw.hist_ranges
    out_pct, out_abs = _stats_from_stream(raw.output_hist, raw.output_sum, raw.draws, plan.x0[None, :],
                                          out_rng)
    out_pct = out_pct.reshape(V, R, S, len(METRICS))
    out_abs = out_abs.reshape(V, R, S, len(METRICS))
    T0 = plan.T0.reshape(-1)
    _, tr_abs = _stats_from_stream(raw.trade_hist, raw.trade_sum.reshape(V, R * R), raw.draws, T0[None, :],
                                   trade_rng)
    tr_abs = tr_abs.reshape(V, R, R, len(METRICS))

    if full:
        world_summary = np.moveaxis(risk_metrics(world_pct, axis=1), 0, 1)  # (V, M)
        summary = np.moveaxis(regional.result(), 0, 1)                     # (V, M, R)
    else:
        # only the first raw.kept draws are stored: headline statistics from the streams over every draw
        streamed = streamed_metrics(raw.headline_hist, raw.headline_sum, raw.headline_sumsq, raw.draws,
                                    head_rng)  # (M, V, H)
        summary = np.moveaxis(streamed[:, :, :R], 0, 1)
        world_summary = np.moveaxis(streamed[:, :, R], 0, 1)

    shocks = compiled.shocks
    kind_units = {"duration": "months", "inventory": "days"}
    data_vars = {
        "gdp_loss": _var(lead + ("draw", "region"), sel(gdp_loss), USD, "value added lost over the horizon"),
        "gdp_loss_pct": _var(lead + ("draw", "region"), sel(gdp_pct), PCT, "value added lost, percent of baseline"),
        "world_gdp_loss": _var(lead + ("draw",), sel(world), USD, "world value added lost"),
        "world_gdp_loss_pct": _var(lead + ("draw",), sel(world_pct), PCT, "world value added lost, percent"),
        "trade_loss_pct": _var(lead + ("draw", "region"), sel(trade_pct), "percent of baseline exports",
                               "exports lost (intermediate and final), percent of baseline exports"),
        "world_trade_loss_pct": _var(lead + ("draw",), sel(world_trade_pct), "percent of baseline exports",
                                     "world exports lost, percent of baseline world exports"),
        "trade_loss": _var(lead + ("exporter", "importer", STAT_DIM), sel(tr_abs), USD,
                           "bilateral trade lost (diagonal: domestic sales lost)",
                           note=STREAMED_NOTE + "; quantiles binned on the percent loss"),
        "output_loss": _var(lead + ("region", "sector", STAT_DIM), sel(out_abs), USD,
                            "gross output lost", note=STREAMED_NOTE),
        "output_loss_pct": _var(lead + ("region", "sector", STAT_DIM), sel(out_pct),
                                "percent of baseline output",
                                "gross output lost, percent of baseline",
                                note=STREAMED_NOTE),
        "converged": _var(lead + ("draw",), sel(raw.converged), "1", "propagation converged"),
        "iterations": _var(lead + ("draw",), sel(raw.iterations), "1", "fixed-point iterations"),
        "horizon_fraction": _var(lead + ("draw",), sel(raw.horizon_fraction), "1",
                                 "share of the horizon with losses (duration less inventory cover)"),
        "occurred": _var(("draw", "package"), raw.occurred, "1", "package occurred in the draw"),
        "severity": _var(("draw", "shock"), raw.severity, "share (months for duration, days for inventory)",
                         "sampled severity (before occurrence)"),
        "gdp_loss_pct_summary": _var(lead + (STAT_DIM, "region"), sel(summary), PCT,
                                     "GDP-loss statistics by region (VaR/ES at 95 and 99 percent)"),
        "world_gdp_loss_pct_summary": _var(lead + (STAT_DIM,), sel(world_summary), PCT, "world GDP-loss statistics"),
    }
    data_vars.update(_path_vars(raw, lead, sel))
    for name, arr in raw.extras.items():
        if name in PATH_VARS:
            continue
        dim, _, units, long_name = (market_coords or {})[name]
        data_vars[name] = _var(lead + ("draw", dim), sel(arr), units, long_name)
        data_vars[f"{name}_summary"] = _var(lead + (STAT_DIM, dim), sel(_market_summary(raw, name)), units,
                                            f"{long_name}: statistics", note=MARKET_NOTE)

    kinds = tuple(sh.kind for sh in shocks)
    market = tuple((dim, tuple(labels)) for name, (dim, labels, _, _) in (market_coords or {}).items()
                   if name in raw.extras)
    coords = _coordinates(raw.kept, tuple(mrio.regions), tuple(mrio.sectors), tuple(p.name for p in compiled.packages),
                          tuple(sh.key for sh in shocks), kinds,
                          tuple(kind_units.get(k, "share") for k in kinds), None if single else raw.variant_names,
                          market)
    if "gdp_loss_path_pct" in raw.extras:
        coords = {**coords, "month": np.arange(1, raw.extras["gdp_loss_path_pct"].shape[2] + 1),
                  "path_stat": list(PATH_STATS)}
    ds = xr.Dataset(data_vars, coords=coords, attrs={**dict(attrs or {}), "draws_kept": int(raw.kept)})
    if raw.kept < raw.draws:
        note = (f"statistics over all {raw.draws} draws from streamed histograms (quantiles, VaR and ES within "
                f"one bin, at most 1.6%; mean and std exact); per-draw variables hold the first {raw.kept}")
        for name in ("gdp_loss_pct_summary", "world_gdp_loss_pct_summary"):
            ds[name].attrs["note"] = note
    if not single:
        roles = premium_roles(variants) if variants is not None else (
            ("combined", tuple(v for v in raw.variant_names if v != "combined"))
            if "combined" in raw.variant_names else "no variant named 'combined'")
        if isinstance(roles, str):
            ds.attrs["simultaneity_premium"] = f"not computed: {roles}"
        else:
            ds = add_simultaneity_premium(ds, *roles)
    return cf_encode(ds, mrio)


#: Machine-readable units (UDUNITS / pint syntax; ``USD`` is a currency unit) of the human unit texts;
#: the text stays in ``attrs["units_description"]``.
CF_UNITS = {
    PCT: "percent", "percent of baseline exports": "percent", "percent of baseline output": "percent",
    "percent": "percent", "percentage points of baseline value added": "percent",
    "percent of baseline value added in the month": "percent",
    USD: "1e6 USD", "USD million": "1e6 USD", "1": "1",
}
REFERENCES = ("Miller & Blair (2009) Input-Output Analysis, 2nd ed.; Timmer et al. (2015) Review of "
              "International Economics 23: 575-605 (WIOD); McNeil, Frey & Embrechts (2015) Quantitative Risk "
              "Management, 2nd ed.; model and equations: docs/model.md of the shockmodel repository")


def cf_encode(ds: xr.Dataset, mrio=None) -> xr.Dataset:
    """CF-1.10 metadata where it fits: global ``Conventions``, ``title``, ``history``, ``source``,
    ``references``; every coordinate a ``long_name``; region and sector names as coordinates
    (``region_name``, ``sector_name``) when the table has them; ``units`` machine-readable
    (:data:`CF_UNITS`) with the human text kept in ``units_description``. Numbers are untouched."""
    from shockmodel import __version__

    scenario = ds.attrs.get("scenario", "run")
    ds.attrs.update({
        "Conventions": "CF-1.10",
        "title": f"shockmodel Monte Carlo losses of scenario {scenario}",
        "source": f"shockmodel {__version__}: shocks sampled per draw and propagated through the "
                  f"multi-regional input-output table {ds.attrs.get('table', '')}",
        "history": f"{ds.attrs.get('created_utc', '')} shockmodel {__version__} run: scenario {scenario}, "
                   f"{ds.attrs.get('draws', '')} draws, seed {ds.attrs.get('seed', '')}, model {ds.attrs.get('model', '')}",
        "references": REFERENCES,
    })
    for name, var in ds.variables.items():
        text = var.attrs.get("units")
        unit = CF_UNITS.get(text) or ("1e6 USD" if _MONEY.fullmatch(str(text)) else None)
        if unit is not None and unit != text:
            var.attrs["units_description"] = text
            var.attrs["units"] = unit
    coord_names = {"draw": "Monte Carlo draw", "region": "region (table label)", "sector": "sector (table label)",
                   "exporter": "exporting region", "importer": "importing region",
                   STAT_DIM: "statistic over draws", "package": "shock package",
                   "shock": "shock (package.shock)", "shock_kind": "kind of shock", "shock_units": "units of the shock's severity",
                   "scenario": "variant (packages switched on)", "commodity": "commodity", "equity_index": "equity index",
                   "month": "month after the shock begins (1 = the first)", "path_stat": "statistic over draws of a path"}
    for name, long_name in coord_names.items():
        if name in ds.coords and "long_name" not in ds[name].attrs:
            ds[name].attrs["long_name"] = long_name
    for name in ("draw", "month"):   # numeric coordinates are counts: CF 3.1 wants their units, "1"
        if name in ds.coords and "units" not in ds[name].attrs:
            ds[name].attrs["units"] = "1"
    if mrio is not None:
        for dim, names in (("region", getattr(mrio, "region_names", ())), ("sector", getattr(mrio, "sector_names", ()))):
            if dim in ds.dims and len(names) == ds.sizes[dim]:
                ds = ds.assign_coords({f"{dim}_name": (dim, list(names), {"long_name": f"{dim} name"})})
    return ds


#: per-draw time paths a model may return (models/dynamic.py), and the statistics kept of them
PATH_VARS = ("gdp_loss_path_pct",)
PATH_STATS = ("mean", "std", "p05", "p50", "p95")


def _path_vars(raw: RawResult, lead: tuple, sel) -> dict:
    """Monthly GDP-loss paths (the dynamic model): per kept draw by region and for the world, and their
    statistics by month (mean and std over every draw from the streamed sums, quantiles over the kept
    draws; the world's std and quantiles over the kept draws)."""
    if "gdp_loss_path_pct" not in raw.extras:
        return {}
    plan = raw.plan
    path = raw.extras["gdp_loss_path_pct"]                     # (V, N, M, R) percent of baseline GDP
    share = plan.gdp0 / plan.gdp0.sum()
    world = np.einsum("vnmr,r->vnm", path, share)
    sums = raw.streams["gdp_loss_path_pct"]                    # (V, 2, M, R) over all draws
    mean = sums[:, 0] / raw.draws
    std = np.sqrt(np.maximum(sums[:, 1] / raw.draws - mean * mean, 0.0) * raw.draws / max(raw.draws - 1, 1))
    q = np.quantile(path, [0.05, 0.5, 0.95], axis=1) if path.shape[1] else np.full((3,) + mean.shape, np.nan)
    stats = np.stack([mean, std, q[0], q[1], q[2]], axis=-1)   # (V, M, R, 5)
    wq = np.quantile(world, [0.05, 0.5, 0.95], axis=1) if world.shape[1] else np.full((3,) + world.shape[::2], np.nan)
    wmean = np.einsum("vmr,r->vm", mean, share)
    wstd = world.std(axis=1, ddof=1) if world.shape[1] > 1 else np.zeros_like(wmean)
    wstats = np.stack([wmean, wstd, wq[0], wq[1], wq[2]], axis=-1)
    units = "percent of baseline value added in the month"
    note = (f"mean and std over all {raw.draws} draws (streamed sums); p05/p50/p95 over the {raw.kept} kept draws")
    return {
        "gdp_loss_path_pct": _var(lead + ("draw", "month", "region"), sel(path), units,
                                  "value added lost in each month (dynamic model)"),
        "world_gdp_loss_path_pct": _var(lead + ("draw", "month"), sel(world), units,
                                        "world value added lost in each month (dynamic model)"),
        "gdp_loss_path_pct_stats": _var(lead + ("month", "region", "path_stat"), sel(stats), units,
                                        "statistics of the monthly GDP-loss paths", note=note),
        "world_gdp_loss_path_pct_stats": _var(lead + ("month", "path_stat"), sel(wstats), units,
                                              "statistics of the monthly world GDP-loss path",
                                              note=f"mean over all {raw.draws} draws; std and quantiles over the "
                                                   f"{raw.kept} kept draws"),
    }


def premium_roles(variants: Mapping[str, Sequence[str]] | None) -> tuple[str, tuple[str, ...]] | str:
    """Which variant is the combination and which are its parts, or why there is no premium.

    The rule: the combination is the variant whose packages are the union of every variant's packages;
    every other variant is a part; the parts' package sets must not overlap and must together make the
    combination. So ``combined=russia,china_taiwan;russia=russia;china_taiwan=china_taiwan`` gives
    ``("combined", ("russia", "china_taiwan"))`` whatever the names, while ``a=x,y;b=x`` gives a reason
    (the parts do not cover the combination). Returns ``(combination, parts)`` or a one-line reason.
    """
    if not variants or len(variants) < 2:
        return "fewer than two variants"
    sets = {name: frozenset(pkgs) for name, pkgs in variants.items()}
    union = frozenset().union(*sets.values())
    combos = [name for name, pkgs in sets.items() if pkgs == union]
    if len(combos) != 1:
        return ("no variant holds every package" if not combos
                else f"variants {', '.join(combos)} all hold every package")
    combo = combos[0]
    parts = tuple(name for name in sets if name != combo)
    seen: set[str] = set()
    for name in parts:
        if not sets[name] or seen & sets[name]:
            return f"variant {name!r} is empty or shares packages with another part"
        seen |= sets[name]
    if seen != union:
        return f"the parts {', '.join(parts)} do not cover the packages of {combo!r}"
    return combo, parts


def add_simultaneity_premium(ds: xr.Dataset, combination: str = "combined",
                             parts: Sequence[str] | None = None) -> xr.Dataset:
    """Premium = loss(combination) - sum of the losses of its parts (each run alone), per draw
    (:func:`premium_roles` says which variant is which; default: ``combined`` and every other variant).

    Positive: the crises together cost more than apart (common random numbers: same draws in every
    variant, so the difference is not sampling noise).
    """
    parts = [s for s in ds.scenario.values.tolist() if s != combination] if parts is None else list(parts)
    comb = ds.sel(scenario=combination)
    prem = comb["gdp_loss_pct"] - ds["gdp_loss_pct"].sel(scenario=parts).sum("scenario")
    wprem = comb["world_gdp_loss_pct"] - ds["world_gdp_loss_pct"].sel(scenario=parts).sum("scenario")
    units = "percentage points of baseline value added"
    roles = {"combination": combination, "parts": " ".join(parts)}
    ds["simultaneity_premium_pct"] = prem.drop_vars("scenario", errors="ignore").assign_attrs(
        units=units, long_name="simultaneity premium: combination minus the sum of its parts alone", **roles)
    ds["world_simultaneity_premium_pct"] = wprem.drop_vars("scenario", errors="ignore").assign_attrs(
        units=units, long_name="world simultaneity premium: combination minus the sum of its parts alone",
        **roles)
    ds["world_simultaneity_premium_pct_summary"] = xr.DataArray(
        risk_metrics(wprem.values), dims=(STAT_DIM,), attrs={"units": units, "long_name": "premium statistics",
                                                              **roles})
    ds.attrs["combination"] = combination
    if "gdp_loss_path_pct" in ds:   # the same, month by month (dynamic model)
        for name in ("gdp_loss_path_pct", "world_gdp_loss_path_pct"):
            prem_path = comb[name] - ds[name].sel(scenario=parts).sum("scenario")
            ds[name.replace("gdp_loss_path_pct", "simultaneity_premium_path_pct")] = prem_path.drop_vars(
                "scenario", errors="ignore").assign_attrs(
                units=units, long_name="simultaneity premium by month: combination minus the sum of its parts alone",
                **roles)
    return ds


# --- tidy summary ----------------------------------------------------------------------------------


def summarize(ds: xr.Dataset) -> pd.DataFrame:
    """Tidy table of headline statistics: one row per (scenario, variable, region).

    Columns: mean, p05, p50, p95, VaR95, VaR99, ES95, ES99, P(loss > 1%). Covers GDP loss (percent)
    by region and world, world trade loss, the simultaneity premium and market variables when present.
    When a run kept only part of its draws, GDP statistics come from the streamed summaries over every
    draw, and so do the market rows; the other rows and P(>1%) describe the kept draws.
    """
    scenarios = ds.scenario.values.tolist() if "scenario" in ds.dims else [ds.attrs.get("scenario", "run")]
    truncated = int(ds.attrs.get("draws_kept", ds.sizes["draw"])) < int(ds.attrs.get("draws", ds.sizes["draw"]))
    rows = []
    for sc in scenarios:
        d = ds.sel(scenario=sc) if "scenario" in ds.dims else ds
        items = [("gdp_loss_pct", "World", d["world_gdp_loss_pct"].values, None)]
        if truncated:   # statistics streamed over every draw, not the kept ones
            items[0] = items[0][:3] + (d["world_gdp_loss_pct_summary"].values,)
            items += [("gdp_loss_pct", r, d["gdp_loss_pct"].sel(region=r).values,
                       d["gdp_loss_pct_summary"].sel(region=r).values) for r in d.region.values.tolist()]
        else:
            items += [("gdp_loss_pct", *c) for c in _column_metrics(d["gdp_loss_pct"], "region")]
        items.append(("trade_loss_pct", "World", d["world_trade_loss_pct"].values, None))
        if "world_simultaneity_premium_pct" in d and sc == ds.attrs.get("combination", "combined"):
            items.append(("simultaneity_premium_pct", "World", d["world_simultaneity_premium_pct"].values, None))
        for var, dim in (("price_change_pct", "commodity"), ("equity_drawdown_pct", "equity_index")):
            if var in d and truncated and f"{var}_summary" in d:   # statistics over every draw
                items += [(var, lab, d[var].sel({dim: lab}).values, d[f"{var}_summary"].sel({dim: lab}).values)
                          for lab in d[dim].values.tolist()]
            elif var in d:
                items += [(var, *c) for c in _column_metrics(d[var], dim)]
        for var, who, x, m in items:
            stat = dict(zip(METRICS, risk_metrics(x) if m is None else m))
            rows.append({"scenario": sc, "variable": var, "region": who,
                         **{k: float(stat[k]) for k in ("mean", "p05", "p50", "p95", "VaR95", "VaR99", "ES95", "ES99")},
                         "P(>1%)": float(probability_exceeds(x, 1.0))})
    return pd.DataFrame(rows)


def _column_metrics(da: xr.DataArray, dim: str) -> list[tuple]:
    """``(label, draws, risk_metrics(draws))`` for each label of ``dim`` of a (draw, dim) array: the
    same numbers as :func:`risk_metrics` column by column, with the order statistics of all columns
    from one kernel pass over the array (column by column, each one re-reads all of it); mean and std
    per column, by numpy, as :func:`risk_metrics` takes them for one column."""
    labels = da[dim].values.tolist()
    if set(da.dims) != {"draw", dim}:
        cols = [da.sel({dim: lab}).values for lab in labels]
        return [(lab, x, None) for lab, x in zip(labels, cols)]
    arr = np.asarray(da.transpose("draw", dim).values, dtype=np.float64)
    cols = [arr[:, j] for j in range(arr.shape[1])]
    out = _metrics3(np.ascontiguousarray(arr).reshape(1, *arr.shape)) if arr.shape[0] else None
    if out is None:   # NaN or inf somewhere (or no draws): column by column
        return [(lab, x, None) for lab, x in zip(labels, cols)]
    for j, x in enumerate(cols):
        out[0, 0, j], out[1, 0, j] = _mean_std(x)
    return [(lab, x, out[:, 0, j]) for j, (lab, x) in enumerate(zip(labels, cols))]


# --- exceedance table (OasisLMF EPT style) ---------------------------------------------------------

#: Exceedance probabilities of the table (return periods 2 to 1000).
EXCEEDANCE_PROBABILITIES = (0.5, 0.2, 0.1, 0.05, 0.02, 0.01, 0.004, 0.002, 0.001)


def exceedance_table(ds: xr.Dataset, probabilities: Sequence[float] = EXCEEDANCE_PROBABILITIES) -> pd.DataFrame:
    """Loss at each exceedance probability, as OasisLMF's exceedance-probability table (ktools ``leccalc``
    "full uncertainty" EPT: return period against loss), one row per (scenario, variable, region, level).

    ``loss`` is the empirical ``1 - p`` quantile of the kept draws (numpy's linear interpolation, the
    same as VaR); ``return_period = 1 / p``. When every package has probability 1 the probabilities are
    conditional on the scenario occurring: ``conditional`` is True and the return period counts
    occurrences of the scenario, not years (``return_period_unit``). Levels rarer than one draw
    (``p < 1 / draws``) are left out rather than extrapolated.
    """
    scenarios = ds.scenario.values.tolist() if "scenario" in ds.dims else [ds.attrs.get("scenario", "run")]
    cond = bool(np.all(ds["occurred"].values)) if "occurred" in ds else True
    horizon = ds.attrs.get("horizon_months", "")
    unit = "occurrences of the scenario" if cond else f"periods of {horizon} months"
    n = ds.sizes["draw"]
    levels = [p for p in probabilities if p >= 1.0 / n]
    rows = []
    for sc in scenarios:
        d = ds.sel(scenario=sc) if "scenario" in ds.dims else ds
        items = [("gdp_loss_pct", "World", d["world_gdp_loss_pct"].values)]
        items += [("gdp_loss_pct", r, d["gdp_loss_pct"].sel(region=r).values) for r in d.region.values.tolist()]
        for var, who, x in items:
            x = np.asarray(x, dtype=np.float64)
            x = x[np.isfinite(x)]
            losses = np.quantile(x, [1.0 - p for p in levels]) if x.size else [np.nan] * len(levels)
            for p, loss in zip(levels, losses):
                rows.append({"scenario": sc, "variable": var, "region": who, "exceedance_probability": p,
                             "return_period": 1.0 / p, "return_period_unit": unit, "conditional": cond,
                             "loss": float(loss), "units": "percent"})
    return pd.DataFrame(rows)
