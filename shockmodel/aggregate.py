"""Draws -> distributions (L4; the first layer that imports xarray).

Per-draw losses are aggregated to regions and the world *before* any statistic is taken; quantiles of a
sum are never built from quantiles of its parts. Risk measures follow the usual loss convention
(McNeil, Frey & Embrechts 2015, *Quantitative Risk Management*, 2nd ed., section 2.3):
``VaR_a = q_a(loss)`` and ``ES_a = E[loss | loss >= VaR_a]``, estimated as the mean of the worst
``ceil((1 - a) N)`` draws.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from shockmodel.engine import RawResult, hist_edges

STATS = ("mean", "p05", "p50", "p95")
METRICS = ("mean", "std", "p01", "p05", "p25", "p50", "p75", "p95", "p99", "VaR95", "VaR99", "ES95", "ES99")
PCT = "percent of baseline value added"
USD = "USD million (2011 prices)"


# --- statistics ------------------------------------------------------------------------------------


def expected_shortfall(x: np.ndarray, level: float, axis: int = 0) -> np.ndarray:
    """Mean of the worst ``ceil((1 - level) N)`` values along ``axis`` (losses are positive)."""
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, 0)
    n = x.shape[0]
    k = max(1, math.ceil(round((1.0 - level) * n, 9)))  # round: (1 - 0.95) * 100 is 5.000000000000004
    worst = np.partition(x, n - k, axis=0)[n - k:]
    return worst.mean(axis=0)


QUANTILE_LEVELS = (0.01, 0.05, 0.25, 0.50, 0.75, 0.95, 0.99)


def risk_metrics(x: np.ndarray, axis: int = 0) -> np.ndarray:
    """The statistics of :data:`METRICS` along ``axis`` (moved to the front of the result).

    Quantiles use numpy's default (linear) definition and ES the worst ``ceil((1 - a) N)`` draws, as
    :func:`expected_shortfall`; all order statistics come from one ``np.partition`` (a quantile and ES
    pass per statistic cost 1 s per million draws and 16 regions, most of a fast run).
    """
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, 0)
    n = x.shape[0]
    levels = np.array(QUANTILE_LEVELS + (0.95, 0.99))
    h = (n - 1) * levels
    lo = np.floor(h).astype(np.int64)
    hi = np.minimum(lo + 1, n - 1)
    k_es = [n - max(1, math.ceil(round((1.0 - a) * n, 9))) for a in (0.95, 0.99)]
    # draws last and contiguous, partitioned in place: one copy instead of np.partition's strided one
    part = np.moveaxis(x, 0, -1).copy()   # never np.ascontiguousarray: that may return x itself
    part.partition(np.unique(np.concatenate([lo, hi, k_es])), axis=-1)
    xlo, xhi = np.moveaxis(part[..., lo], -1, 0), np.moveaxis(part[..., hi], -1, 0)
    frac = (h - lo).reshape((-1,) + (1,) * (x.ndim - 1))
    qs = xlo + frac * (xhi - xlo)
    es = [part[..., k:].mean(axis=-1) for k in k_es]
    mean = x.mean(axis=0)
    if n > 1:   # two-pass variance without the temporary of the squares (numpy's std makes both)
        d = x - mean
        std = np.sqrt(np.einsum("i...,i...->...", d, d) / (n - 1))
    else:
        std = np.zeros(x.shape[1:])
    return np.stack([mean, std, *qs, *es])


def exceedance_curve(x: np.ndarray, thresholds: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Empirical exceedance probability ``P(loss > t)`` at ``thresholds`` (default: the sorted draws)."""
    xs = np.sort(np.asarray(x, dtype=np.float64).ravel())
    t = xs if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    return t, 1.0 - np.searchsorted(xs, t, side="right") / xs.size


def probability_exceeds(x: np.ndarray, threshold: float, axis: int = 0) -> np.ndarray:
    """``P(loss > threshold)`` along ``axis``."""
    return (np.asarray(x) > threshold).mean(axis=axis)


def hist_quantiles(counts: np.ndarray, qs: Sequence[float]) -> np.ndarray:
    """Quantiles (percent) from the engine's log-binned histograms ``counts[..., bin]``.

    Bin 0 holds exact zeros (returned as 0); inside a bin the value is interpolated linearly between its
    edges (``engine.hist_edges``), so the error is below one bin width (at most 1.6% relative).
    """
    counts = np.asarray(counts)
    flat = counts.reshape(-1, counts.shape[-1])
    cum = np.cumsum(flat, axis=1)
    total = cum[:, -1:]
    n_bins = flat.shape[1]
    lo, hi = hist_edges()
    out = np.zeros((flat.shape[0], len(qs)))
    for c in range(flat.shape[0]):
        if total[c, 0] == 0:
            continue
        for a, q in enumerate(qs):
            target = q * total[c, 0]
            b = int(np.searchsorted(cum[c], target, side="left"))
            b = min(b, n_bins - 1)
            if b == 0:
                continue
            below = cum[c, b - 1]
            frac = (target - below) / flat[c, b] if flat[c, b] else 0.0
            out[c, a] = lo[b] + min(max(frac, 0.0), 1.0) * (hi[b] - lo[b])
    return out.reshape(counts.shape[:-1] + (len(qs),))


def hist_expected_shortfall(counts: np.ndarray, level: float) -> np.ndarray:
    """``ES_level`` (percent) from histograms ``counts[..., bin]``: the mean of the worst
    ``ceil((1 - level) N)`` values, taking values spread evenly inside each bin (error below one bin
    width, as :func:`hist_quantiles`)."""
    lo, hi = hist_edges()
    flat = np.asarray(counts).reshape(-1, counts.shape[-1])
    out = np.zeros(flat.shape[0])
    for c in range(flat.shape[0]):
        n = int(flat[c].sum())
        if n == 0:
            continue
        k = max(1, math.ceil(round((1.0 - level) * n, 9)))
        need, total = k, 0.0
        for b in range(flat.shape[1] - 1, -1, -1):
            cnt = int(flat[c, b])
            if cnt == 0:
                continue
            take = min(cnt, need)
            # the top `take` of `cnt` values spread evenly on [lo, hi] have mean hi - (take / cnt) (hi - lo) / 2
            total += take * (hi[b] - 0.5 * (take / cnt) * (hi[b] - lo[b]))
            need -= take
            if need == 0:
                break
        out[c] = total / k
    return out.reshape(counts.shape[:-1])


def streamed_metrics(counts: np.ndarray, sums: np.ndarray, sumsq: np.ndarray, draws: int) -> np.ndarray:
    """The statistics of :data:`METRICS` from streamed histograms and sums (metric first): exact mean
    and standard deviation, quantiles/VaR and ES within one histogram bin (at most 1.6%)."""
    mean = sums / draws
    var = np.clip(sumsq - draws * mean * mean, 0.0, None) / max(draws - 1, 1)
    qs = np.moveaxis(hist_quantiles(counts, QUANTILE_LEVELS + (0.95, 0.99)), -1, 0)
    es = [hist_expected_shortfall(counts, a) for a in (0.95, 0.99)]
    return np.stack([mean, np.sqrt(var), *qs, *es])


def _stats_from_stream(counts, sums, draws, baseline):
    """(..., 4) mean/p05/p50/p95 in percent of ``baseline`` plus the same in absolute units."""
    mean_abs = sums / draws
    mean_pct = np.divide(100.0 * mean_abs, baseline, out=np.zeros_like(mean_abs), where=baseline > 0)
    q_pct = hist_quantiles(counts, (0.05, 0.50, 0.95))
    pct = np.concatenate([mean_pct[..., None], q_pct], axis=-1)
    q_abs = q_pct * baseline[..., None] / 100.0
    absolute = np.concatenate([mean_abs[..., None], q_abs], axis=-1)
    return pct, absolute


# --- dataset ---------------------------------------------------------------------------------------


def _var(dims, data, units, long_name, **attrs):
    return xr.Variable(dims, data, attrs={"units": units, "long_name": long_name, **attrs})


def to_dataset(raw: RawResult, compiled, mrio, *, attrs: dict | None = None, market_coords: dict | None = None) -> xr.Dataset:
    """Build the result dataset of docs/contracts.md section 3 from a :class:`RawResult`.

    With a single variant there is no ``scenario`` dimension; with several, every per-draw and stat
    variable gets a leading ``scenario`` dimension named by the variants.
    """
    plan = raw.plan
    R, S = plan.n_regions, plan.n_sectors
    V = len(raw.variant_names)
    single = V == 1
    lead = () if single else ("scenario",)
    sel = (lambda a: a[0]) if single else (lambda a: a)

    gdp0 = plan.gdp0
    gdp_loss = raw.gdp_loss                                    # (V, N, R)
    gdp_pct = gdp_loss * (100.0 / gdp0)
    world = gdp_loss.sum(axis=2)
    world_pct = world * (100.0 / gdp0.sum())
    trade_pct = raw.exports_lost * np.divide(100.0, plan.exports0, out=np.zeros(R), where=plan.exports0 > 0)
    world_trade_pct = raw.exports_lost.sum(axis=2) * (100.0 / plan.exports0.sum())

    out_pct, out_abs = _stats_from_stream(raw.output_hist, raw.output_sum, raw.draws, plan.x0[None, :])
    out_pct = out_pct.reshape(V, R, S, 4)
    out_abs = out_abs.reshape(V, R, S, 4)
    T0 = plan.T0.reshape(-1)
    tr_pct, tr_abs = _stats_from_stream(raw.trade_hist, raw.trade_sum.reshape(V, R * R), raw.draws, T0[None, :])
    tr_abs = tr_abs.reshape(V, R, R, 4)

    if raw.kept == raw.draws:
        summary = np.moveaxis(risk_metrics(gdp_pct, axis=1), 0, 1)       # (V, M, R)
        world_summary = np.moveaxis(risk_metrics(world_pct, axis=1), 0, 1)  # (V, M)
    else:
        # only the first raw.kept draws are stored: headline statistics from the streams over every draw
        streamed = streamed_metrics(raw.headline_hist, raw.headline_sum, raw.headline_sumsq, raw.draws)  # (M, V, H)
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
        "trade_loss": _var(lead + ("exporter", "importer", "stat"), sel(tr_abs), USD,
                           "bilateral trade lost (diagonal: domestic sales lost)",
                           note="p05/p50/p95 streamed from log-linear bins (64 per octave, at most 1.6% wide) of the percent loss"),
        "output_loss": _var(lead + ("region", "sector", "stat"), sel(out_abs), USD, "gross output lost"),
        "output_loss_pct": _var(lead + ("region", "sector", "stat"), sel(out_pct), "percent of baseline output",
                                "gross output lost, percent of baseline",
                                note="p05/p50/p95 streamed from log-linear bins (64 per octave, at most 1.6% wide)"),
        "converged": _var(lead + ("draw",), sel(raw.converged), "1", "propagation converged"),
        "iterations": _var(lead + ("draw",), sel(raw.iterations), "1", "fixed-point iterations"),
        "horizon_fraction": _var(lead + ("draw",), sel(raw.horizon_fraction), "1",
                                 "share of the horizon with losses (duration less inventory cover)"),
        "occurred": _var(("draw", "package"), raw.occurred, "1", "package occurred in the draw"),
        "severity": _var(("draw", "shock"), raw.severity, "share (months for duration, days for inventory)",
                         "sampled severity (before occurrence)"),
        "gdp_loss_pct_summary": _var(lead + ("metric", "region"), sel(summary), PCT,
                                     "GDP-loss statistics by region (VaR/ES at 95 and 99 percent)"),
        "world_gdp_loss_pct_summary": _var(lead + ("metric",), sel(world_summary), PCT, "world GDP-loss statistics"),
    }
    for name, arr in raw.extras.items():
        dim, labels, units, long_name = (market_coords or {})[name]
        data_vars[name] = _var(lead + ("draw", dim), sel(arr), units, long_name)
        summ = np.moveaxis(risk_metrics(arr, axis=1), 0, 1)
        data_vars[f"{name}_summary"] = _var(lead + ("metric", dim), sel(summ), units, f"{long_name}: statistics")

    coords = {
        "draw": np.arange(raw.kept),
        "region": list(mrio.regions),
        "sector": list(mrio.sectors),
        "exporter": list(mrio.regions),
        "importer": list(mrio.regions),
        "stat": list(STATS),
        "metric": list(METRICS),
        "package": [p.name for p in compiled.packages],
        "shock": [sh.key for sh in shocks],
        "shock_kind": ("shock", [sh.kind for sh in shocks]),
        "shock_units": ("shock", [kind_units.get(sh.kind, "share") for sh in shocks]),
    }
    if not single:
        coords["scenario"] = list(raw.variant_names)
    for name, (dim, labels, _, _) in (market_coords or {}).items():
        if name in raw.extras:
            coords[dim] = list(labels)
    ds = xr.Dataset(data_vars, coords=coords, attrs={**dict(attrs or {}), "draws_kept": int(raw.kept)})
    if raw.kept < raw.draws:
        note = (f"statistics over all {raw.draws} draws from streamed histograms (quantiles, VaR and ES within "
                f"one bin, at most 1.6%; mean and std exact); per-draw variables hold the first {raw.kept}")
        for name in ("gdp_loss_pct_summary", "world_gdp_loss_pct_summary"):
            ds[name].attrs["note"] = note
    if not single and "combined" in raw.variant_names:
        ds = add_simultaneity_premium(ds)
    return ds


def add_simultaneity_premium(ds: xr.Dataset) -> xr.Dataset:
    """Premium = loss(combined) - sum over the other variants (each package alone), per draw.

    Positive: the crises together cost more than apart (common random numbers: same draws in every
    variant, so the difference is not sampling noise).
    """
    parts = [s for s in ds.scenario.values.tolist() if s != "combined"]
    comb = ds.sel(scenario="combined")
    prem = comb["gdp_loss_pct"] - ds["gdp_loss_pct"].sel(scenario=parts).sum("scenario")
    wprem = comb["world_gdp_loss_pct"] - ds["world_gdp_loss_pct"].sel(scenario=parts).sum("scenario")
    units = "percentage points of baseline value added"
    ds["simultaneity_premium_pct"] = prem.assign_attrs(
        units=units, long_name="simultaneity premium: combined minus the sum of the packages alone")
    ds["world_simultaneity_premium_pct"] = wprem.assign_attrs(
        units=units, long_name="world simultaneity premium: combined minus the sum of the packages alone")
    ds["world_simultaneity_premium_pct_summary"] = xr.DataArray(
        risk_metrics(wprem.values), dims=("metric",), attrs={"units": units, "long_name": "premium statistics"})
    return ds


# --- tidy summary ----------------------------------------------------------------------------------


def summarize(ds: xr.Dataset) -> pd.DataFrame:
    """Tidy table of headline statistics: one row per (scenario, variable, region).

    Columns: mean, p05, p50, p95, VaR95, VaR99, ES95, ES99, P(loss > 1%). Covers GDP loss (percent)
    by region and world, world trade loss, the simultaneity premium and market variables when present.
    When a run kept only part of its draws, GDP statistics come from the streamed summaries over every
    draw; the other rows and P(>1%) describe the kept draws.
    """
    scenarios = ds.scenario.values.tolist() if "scenario" in ds.dims else [ds.attrs.get("scenario", "run")]
    rows = []
    for sc in scenarios:
        d = ds.sel(scenario=sc) if "scenario" in ds.dims else ds
        items = [("gdp_loss_pct", "World", d["world_gdp_loss_pct"].values)]
        items += [("gdp_loss_pct", r, d["gdp_loss_pct"].sel(region=r).values) for r in d.region.values.tolist()]
        items.append(("trade_loss_pct", "World", d["world_trade_loss_pct"].values))
        if "world_simultaneity_premium_pct" in d and sc == "combined":
            items.append(("simultaneity_premium_pct", "World", d["world_simultaneity_premium_pct"].values))
        for var, dim in (("price_change_pct", "commodity"), ("equity_drawdown_pct", "index")):
            if var in d:
                items += [(var, lab, d[var].sel({dim: lab}).values) for lab in d[dim].values.tolist()]
        truncated = int(ds.attrs.get("draws_kept", ds.sizes["draw"])) < int(ds.attrs.get("draws", ds.sizes["draw"]))
        for var, who, x in items:
            m = risk_metrics(x)
            if truncated and var == "gdp_loss_pct":   # statistics streamed over every draw, not the kept ones
                m = (d["world_gdp_loss_pct_summary"] if who == "World"
                     else d["gdp_loss_pct_summary"].sel(region=who)).values
            stat = dict(zip(METRICS, m))
            rows.append({"scenario": sc, "variable": var, "region": who,
                         **{k: float(stat[k]) for k in ("mean", "p05", "p50", "p95", "VaR95", "VaR99", "ES95", "ES99")},
                         "P(>1%)": float(probability_exceeds(x, 1.0))})
    return pd.DataFrame(rows)
