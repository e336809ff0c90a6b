"""Risk statistics and summary tables for reports (numpy only).

Conventions (losses are positive numbers):

* ``VaR_q`` is the ``q`` quantile of the loss over draws (numpy's default linear interpolation);
* ``ES_q`` (expected shortfall, TVaR) is the mean of the worst ``ceil((1 - q) N)`` draws — the same
  estimator as :func:`shockmodel.aggregate.expected_shortfall`, which computes the stored summaries;
* the exceedance probability of a sorted sample ``x_(1) <= ... <= x_(n)`` at ``x_(k)`` is ``(n - k + 1) / n``,
  the share of draws with a loss of at least ``x_(k)``.

When a run's dataset carries ``gdp_loss_pct_summary`` / ``world_gdp_loss_pct_summary`` (dimension
``statistic``), tables use those
numbers (the model's own); otherwise they are computed from the draws with the conventions above.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shockmodel.report._data import (
    WORLD,
    combined,
    finite,
    has,
    labels,
    series_by_label,
    units,
    world_draws,
)
from shockmodel.report.sweepdata import swept_params, sweep_series

METRICS = ("mean", "p50", "p95", "VaR95", "VaR99", "ES95", "ES99")


@dataclass(frozen=True)
class Table:
    """A small labelled table of numbers for the report front page."""

    title: str
    label_header: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[float, ...]], ...]
    units: str
    note: str = ""


def value_at_risk(x: np.ndarray, level: float) -> float:
    """The ``level`` quantile of the losses ``x`` (NaN for an empty sample)."""
    x = finite(x)
    return float(np.quantile(x, level)) if x.size else float("nan")


def expected_shortfall(x: np.ndarray, level: float) -> float:
    """Mean of the worst ``ceil((1 - level) N)`` losses (NaN for an empty sample)."""
    from shockmodel.aggregate import expected_shortfall as _es

    x = finite(x)
    if not x.size:
        return float("nan")
    return float(_es(x, level))


def loss_metrics(x: np.ndarray) -> dict[str, float]:
    """mean, p50, p95, VaR95, VaR99, ES95, ES99 of a sample of losses."""
    x = finite(x)
    if not x.size:
        return dict.fromkeys(METRICS, float("nan"))
    return {
        "mean": float(x.mean()),
        "p50": float(np.quantile(x, 0.5)),
        "p95": float(np.quantile(x, 0.95)),
        "VaR95": value_at_risk(x, 0.95),
        "VaR99": value_at_risk(x, 0.99),
        "ES95": expected_shortfall(x, 0.95),
        "ES99": expected_shortfall(x, 0.99),
    }


def exceedance_curve(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted finite losses and ``P(loss > t)`` at each of them: the project's one exceedance definition
    (:func:`shockmodel.aggregate.exceedance_curve`); drawn as a step that holds each value to the right."""
    from shockmodel.aggregate import exceedance_curve as curve

    return curve(finite(x))


def _stored_metrics(ds, name: str, region: str | None) -> dict[str, float] | None:
    """Metrics from a stored ``*_summary`` variable, or None when it lacks one of :data:`METRICS`."""
    dim = next((d for d in ("statistic", "metric") if has(ds, name) and d in ds[name].dims), None)
    if dim is None:   # ("metric": files written before the one statistic dimension)
        return None
    da = ds[name]
    if region is not None:
        if "region" not in da.dims or region not in labels(da, "region"):
            return None
        da = da.isel(region=labels(da, "region").index(region))
    if da.dims != (dim,):
        return None
    stored = dict(zip(labels(da, dim), np.asarray(da.values, dtype=float)))
    if not set(METRICS) <= stored.keys():
        return None
    return {m: float(stored[m]) for m in METRICS}


def gdp_summary_table(ds) -> Table | None:
    """World and per-region GDP-loss metrics (regions sorted by mean loss), or None without GDP data."""
    ds = combined(ds)
    rows: list[tuple[str, tuple[float, ...]]] = []
    sources: set[str] = set()
    world = _stored_metrics(ds, "world_gdp_loss_pct_summary", None)
    if world is not None:
        sources.add("stored")
    elif has(ds, "world_gdp_loss_pct"):
        world = loss_metrics(world_draws(ds))
        sources.add("draws")
    if world is not None:
        rows.append((WORLD, tuple(world[m] for m in METRICS)))
    rows.extend(_region_rows(ds, sources))
    if not rows:
        return None
    note = {
        frozenset({"stored"}): "from the run's stored summary",
        frozenset({"draws"}): "computed from the draws",
    }.get(frozenset(sources), "from the stored summary where present, else from the draws")
    return Table(
        title="GDP loss by region",
        label_header="Region",
        columns=METRICS,
        rows=tuple(rows),
        units=units(ds, "gdp_loss_pct"),
        note=note,
    )


def _region_rows(ds, sources: set[str]) -> list[tuple[str, tuple[float, ...]]]:
    """Per-region metric rows, sorted by mean loss (largest first)."""
    if has(ds, "gdp_loss_pct_summary") and "region" in ds["gdp_loss_pct_summary"].dims:
        regions = labels(ds["gdp_loss_pct_summary"], "region")
        found = {r: _stored_metrics(ds, "gdp_loss_pct_summary", r) for r in regions}
        if all(v is not None for v in found.values()):
            sources.add("stored")
            return _sorted_rows(found)
    if has(ds, "gdp_loss_pct") and {"draw", "region"} == set(ds["gdp_loss_pct"].dims):
        sources.add("draws")
        return _sorted_rows({r: loss_metrics(x) for r, x in series_by_label(ds, "gdp_loss_pct", "region").items()})
    return []


def _sorted_rows(metrics: dict[str, dict[str, float]]) -> list[tuple[str, tuple[float, ...]]]:
    order = sorted(metrics, key=lambda r: -np.nan_to_num(metrics[r]["mean"], nan=-np.inf))
    return [(r, tuple(metrics[r][m] for m in METRICS)) for r in order]


def scenario_table(ds) -> Table | None:
    """World GDP-loss metrics per scenario of a run with variants (combined and each package alone)."""
    if "scenario" not in ds.dims or not has(ds, "world_gdp_loss_pct"):
        return None
    da = ds["world_gdp_loss_pct"]
    if set(da.dims) != {"scenario", "draw"}:
        return None
    values = np.asarray(da.transpose("scenario", "draw").values, dtype=float)
    rows = []
    for name, x in zip(labels(da, "scenario"), values):
        m = loss_metrics(x)
        rows.append((name, tuple(m[k] for k in METRICS)))
    return Table(
        title="World GDP loss by scenario (same draws)",
        label_header="Scenario",
        columns=METRICS,
        rows=tuple(rows),
        units=units(ds, "world_gdp_loss_pct"),
        note="computed from the draws",
    )


def sweep_table(ds, var: str = "world_gdp_loss_pct") -> Table | None:
    """World-loss metrics for each value of each swept parameter (others held at their reference)."""
    params = swept_params(ds, var)
    if not params:
        return None
    rows = []
    for param in params:
        series = sweep_series(ds, param, var)
        for value, x in zip(series.values, series.draws):
            m = loss_metrics(x)
            rows.append((f"{param} = {format_value(value)}", tuple(m[k] for k in METRICS)))
    return Table(
        title="World GDP loss across the sweep (one parameter at a time)",
        label_header="Swept value",
        columns=METRICS,
        rows=tuple(rows),
        units=units(ds, var),
        note="other parameters held at their reference values; computed from the draws",
    )


def format_value(value) -> str:
    """A swept value as short text (``0.25``, ``1e+03``, ``'high'``)."""
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.4g}"
    return str(value)


#: A value reached exactly by at least this share of draws (and two draws) at the end of a sample is a bound.
BOUND_SHARE = 0.005


def bounds_hit(x: np.ndarray, attrs=None) -> list[tuple[float, float, str]]:
    """``(value, share of draws at it, "lower bound" | "upper bound")`` for each end of the sample that
    draws pile up on: the variable's CF ``valid_min`` / ``valid_max`` when reached, or an extreme value
    repeated exactly (a cap in the model clips draws to one number) by at least :data:`BOUND_SHARE`."""
    x = finite(x)
    if x.size < 2:
        return []
    attrs = dict(attrs or {})
    out = []
    for kind, end, declared in (("lower bound", float(x.min()), attrs.get("valid_min")),
                                ("upper bound", float(x.max()), attrs.get("valid_max"))):
        count = int(np.sum(x == end))
        at_declared = declared is not None and np.isclose(end, float(declared))
        if count and (at_declared or (count >= 2 and count / x.size >= BOUND_SHARE)):
            out.append((end, count / x.size, kind))
    return out


def format_probability(p: float) -> str:
    """THE way a probability is printed (figures, tables, console): a percentage with two significant
    digits and no trailing zeros, so small values stay visible: ``0.41 -> "41%"``, ``0.025 -> "2.5%"``,
    ``0.005 -> "0.5%"``, ``0.0012 -> "0.12%"``, ``0 -> "0%"``, ``1 -> "100%"``; ``–`` for NaN. Nor is a
    value below one rounded up to 100%: ``0.998 -> "99.8%"``, ``0.99975 -> "99.975%"``."""
    p = float(p)
    if not np.isfinite(p):
        return "–"
    pct = 100.0 * p
    if pct == 0.0:
        return "0%"
    if 99.5 <= pct < 100.0:   # the gap to 100 % with two significant digits
        decimals = 1 - int(np.floor(np.log10(100.0 - pct)))
        return f"{np.format_float_positional(pct, precision=decimals, fractional=True, trim='-')}%"
    text = f"{pct:.2g}" if abs(pct) < 10 else f"{pct:.0f}"
    if "e" in text:   # below 0.001 %: keep two significant digits without exponent notation
        text = np.format_float_positional(pct, precision=2, fractional=False, trim="-")
    return f"{text}%"


def format_sig(x: float, digits: int = 2) -> str:
    """A value with ``digits`` significant digits, never rounded to zero: ``0.005 -> "0.005"``,
    ``0.0123 -> "0.012"``, ``3.14159 -> "3.1"``, ``1234.5 -> "1,234"`` (no decimals beyond units)."""
    x = float(x)
    if not np.isfinite(x):
        return "–"
    if x == 0.0:
        return "0"
    if abs(x) >= 10 ** digits:
        return f"{x:,.0f}"
    return np.format_float_positional(x, precision=digits, fractional=False, trim="-")


def format_number(x: float, digits: int = 2) -> str:
    """A table cell: fixed decimals, ``–`` for NaN."""
    return "–" if not np.isfinite(x) else f"{x:,.{digits}f}"



#: Separation above which two clusters of draws are reported (assumption: Ashman, Bird & Zepf 1994,
#: Astronomical Journal 108: 2348, take D > 2 for two Gaussians that separate cleanly; on clusters found
#: by splitting one sample D is biased upward, and a uniform (3.4), normal (2.7), exponential (2.6) or
#: lognormal (2.3-2.4) sample of 5,000 draws stays below 4, while two normals 5 sd apart give 5).
CLUSTER_SEPARATION = 4.0
#: A cluster holding at least this share of draws is a mode of its own; a smaller one (an outlying group)
#: needs at least :data:`SMALL_CLUSTER_DRAWS` draws and a separation above :data:`SMALL_CLUSTER_SEPARATION`
#: (assumption: the extreme draws of heavy-tailed samples - lognormal sigma 1.5-2.5, Pareto shape 1-2, Student
#: t 2 df; 2,000 and 20,000 draws, six seeds - reach at most 4.0 that way, while 1-2 % of draws 5 sd above a
#: normal body give 7).
CLUSTER_SHARE = 0.05
SMALL_CLUSTER_DRAWS = 10
SMALL_CLUSTER_SEPARATION = 5.5


@dataclass(frozen=True)
class Clusters:
    """Two clusters of a sample split where the within-cluster variance is least (1-D two-means)."""

    separation: float      # Ashman's D = sqrt(2) |m_high - m_low| / sqrt(s_low^2 + s_high^2)
    low_mean: float
    high_mean: float
    high_share: float      # share of draws in the upper cluster
    threshold: float       # the split: draws above it are in the upper cluster


def two_clusters(x) -> Clusters | None:
    """The best two-cluster split of ``x`` when it is clearly bimodal (separation above
    :data:`CLUSTER_SEPARATION`, each cluster at least :data:`CLUSTER_SHARE` of draws, or a smaller
    outlying group of at least :data:`SMALL_CLUSTER_DRAWS` draws further apart), else None."""
    x = np.sort(finite(x))
    n = x.size
    if n < 20 or x[0] == x[-1]:
        return None
    c, c2 = np.cumsum(x), np.cumsum(x * x)
    k = np.arange(1, n)
    m1, m2 = c[:-1] / k, (c[-1] - c[:-1]) / (n - k)
    v1 = np.maximum(c2[:-1] / k - m1 * m1, 0.0)
    v2 = np.maximum((c2[-1] - c2[:-1]) / (n - k) - m2 * m2, 0.0)
    i = int(np.argmin(k * v1 + (n - k) * v2))
    sep = float(np.sqrt(2.0) * (m2[i] - m1[i]) / np.sqrt(max(v1[i] + v2[i], 1e-300)))
    lo, hi = x[: k[i]], x[k[i]:]
    if sep <= CLUSTER_SEPARATION:
        return None
    small = min(lo.size, hi.size)
    if small < CLUSTER_SHARE * n and (small < SMALL_CLUSTER_DRAWS or sep <= SMALL_CLUSTER_SEPARATION):
        return None
    return Clusters(sep, float(lo.mean()), float(hi.mean()), hi.size / n, float(lo[-1]))
