"""Report figures: pure functions ``plot_*(ds, ax=None, **kw) -> matplotlib.axes.Axes``.

Each function reads a result dataset (docs/contracts.md section 3), draws on ``ax`` (or on a new figure
when ``ax`` is None) and returns the axes. Every figure has a title, axis labels with units taken from the
variables' ``attrs["units"]``, and a footer with the run id and the data credit. A run with variants
(``scenario`` dimension) is drawn for its ``combined`` scenario unless the figure compares scenarios.
A dataset that lacks what a figure needs raises :class:`~shockmodel.report._data.ReportDataError`.
"""

from __future__ import annotations

import numpy as np
from matplotlib.colors import LogNorm, Normalize, TwoSlopeNorm
from matplotlib.figure import Figure

from shockmodel.report import _style as st
from shockmodel.report._data import (
    WORLD,
    ReportDataError,
    conditional,
    has,
    labels,
    require,
    series_by_label,
    stat_matrix,
    units,
    world_draws,
)
from shockmodel.report.stats import (
    bounds_hit,
    exceedance_curve,
    expected_shortfall,
    format_probability,
    format_sig,
    format_value,
    value_at_risk,
)
from shockmodel.report.sweepdata import reference_draws, sweep_series, swept_params

__all__ = [
    "plot_gdp_loss_distribution",
    "plot_exceedance",
    "plot_output_heatmap",
    "plot_trade_matrix",
    "plot_simultaneity_premium",
    "plot_premium_by_region",
    "plot_fan_chart",
    "plot_tornado",
    "plot_draw_distribution",
    "plot_loss_paths",
    "plot_premium_path",
]

GDP = "gdp_loss_pct"
WORLD_GDP = "world_gdp_loss_pct"
PREMIUM = "world_simultaneity_premium_pct"

#: Short names for axis labels (the long_name attribute is used for other variables).
SHORT_NAMES = {
    GDP: "GDP loss",
    WORLD_GDP: "World GDP loss",
    "gdp_loss": "GDP loss",
    "world_gdp_loss": "World GDP loss",
    "trade_loss_pct": "Trade loss",
    "trade_loss": "Trade loss",
    "output_loss": "Output loss",
    "output_loss_pct": "Output loss",
    PREMIUM: "World simultaneity premium",
    "simultaneity_premium_pct": "Simultaneity premium",
    "price_change_pct": "Price change",
    "equity_drawdown_pct": "Equity drawdown",
}
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
#: Axis names of the market variables: what changes, and for whom.
MARKET_AXIS = {"price_change_pct": "Change of the world price, short run",
               "equity_drawdown_pct": "Fall in value for a foreign holder (negative: a gain)"}


def given(ds, distribution: bool = True) -> str:
    """What a chart's draws are conditional on, in words (every chart of draws says it)."""
    what = "distribution over draws, " if distribution else ""
    if conditional(ds):
        return f"{what}given the scenario occurs"
    return f"{what}packages occurring with their probabilities"


def short_name(ds, var: str) -> str:
    """A short human name of a variable for labels."""
    if var in SHORT_NAMES:
        return SHORT_NAMES[var]
    long_name = ds[var].attrs.get("long_name") if var in ds.variables else None
    return str(long_name or var.replace("_", " ").capitalize())


# --------------------------------------------------------------------------------------------- (a)
@st.styled
def plot_gdp_loss_distribution(ds, ax=None, *, n_regions: int = 8):
    """GDP-loss distribution over draws for the world and the ``n_regions`` most affected regions.

    Boxes span the 25-75 % range, whiskers 5-95 %, the line is the median; VaR95/VaR99 (ticks) and
    ES95/ES99 (circles) are marked on every row. Regions are ranked by mean loss.
    """
    series = _gdp_series(ds, n_regions)
    ax = st.new_axes(ax, (7.5, 0.42 * len(series) + 1.9))
    _draw_boxes(ax, series, risk=True, highlight=WORLD)
    scale_for_spread(ax, series.values(), "x")
    ax.set_xlabel(st.axis_label("GDP loss", units(ds, GDP if has(ds, GDP) else WORLD_GDP)))
    ax.set_ylabel("Region")
    n = len(series) - (WORLD in series)
    ax.set_title(f"GDP loss by region: world and the {n} most affected regions\n{given(ds)}")
    st.add_footer(ax, ds)
    return ax


def _gdp_series(ds, n_regions: int) -> dict[str, np.ndarray]:
    """World first, then the most affected regions by mean loss (empty samples dropped)."""
    series: dict[str, np.ndarray] = {}
    if has(ds, WORLD_GDP):
        series[WORLD] = world_draws(ds)
    if has(ds, GDP):
        per_region = series_by_label(ds, GDP, "region")
        for region in _most_affected(per_region, n_regions):
            series[region] = per_region[region]
    series = {k: v for k, v in series.items() if v.size}
    if not series:
        raise ReportDataError(f"the dataset has no draws of {GDP!r} or {WORLD_GDP!r}")
    return series


#: Rows whose 95th percentiles differ by more than this factor (an order of magnitude) get a symmetric-log axis.
SPREAD_FOR_SYMLOG = 10.0


def scale_for_spread(ax, samples, axis: str) -> str:
    """Give ``axis`` a logarithmic scale when the rows' 95th percentiles span more than
    :data:`SPREAD_FOR_SYMLOG` (one region's range would otherwise flatten the others to dots): ``log``
    when every row's 5th percentile is positive (the axis starts just below the smallest), else
    ``symlog`` (linear below the smallest row's 95th percentile, rounded down to a power of ten). Tick
    labels stay plain numbers. Returns the scale set ("linear", "log" or "symlog")."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    samples = [np.asarray(x) for x in samples if np.size(x)]
    tops = np.array([np.quantile(np.abs(x), 0.95) for x in samples])
    positive = tops[tops > 0]
    if positive.size < 2 or positive.max() / positive.min() <= SPREAD_FOR_SYMLOG:
        return "linear"
    lows = np.array([np.quantile(x, 0.05) for x in samples])
    if lows.min() > 0:
        scale, kwargs = "log", {}
    else:
        scale, kwargs = "symlog", {"linthresh": float(10 ** np.floor(np.log10(positive.min())))}
    getattr(ax, f"set_{axis}scale")(scale, **kwargs)
    target = getattr(ax, f"{axis}axis")
    if scale == "log":
        getattr(ax, f"set_{axis}lim")(float(lows.min()) * 0.7, None)
        target.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    target.set_major_formatter(FuncFormatter(lambda v, _: format_sig(v, 2)))
    target.set_minor_formatter(NullFormatter())
    return scale


def _most_affected(per_label: dict[str, np.ndarray], n: int) -> list[str]:
    """The ``n`` labels with the largest mean, largest first."""
    means = {k: float(v.mean()) for k, v in per_label.items() if v.size}
    return sorted(means, key=means.get, reverse=True)[: max(n, 0)]


def _draw_boxes(ax, series: dict[str, np.ndarray], *, risk: bool, highlight: str | None = None) -> None:
    """Horizontal box plots, first series at the top; risk markers (VaR/ES) or the mean on each row."""
    names = list(series)[::-1]
    data = [series[n] for n in names]
    positions = np.arange(len(names))
    boxes = _hboxplot(ax, data, positions)
    for patch, name in zip(boxes["boxes"], names):
        patch.set_facecolor(st.loss_colour(0.75 if name == highlight else 0.35))
        patch.set_edgecolor("#444444")
    for pos, x in zip(positions, data):
        if risk:
            for key, level, fn in (("VaR95", 0.95, value_at_risk), ("VaR99", 0.99, value_at_risk),
                                   ("ES95", 0.95, expected_shortfall), ("ES99", 0.99, expected_shortfall)):
                label = key if pos == 0 else "_nolegend_"
                ax.plot([fn(x, level)], [pos], linestyle="none", label=label, **st.RISK_MARKERS[key])
        else:
            ax.plot([x.mean()], [pos], linestyle="none", marker="D", markersize=4, color="black",
                    label="mean" if pos == 0 else "_nolegend_")
    ax.set_yticks(positions, names)
    ax.set_ylim(-0.7, len(names) - 0.3)
    ax.grid(axis="x")
    ax.set_axisbelow(True)
    ax.legend(loc="lower right", title="box 25–75 %, whiskers 5–95 %, line median", title_fontsize=7)


def _hboxplot(ax, data, positions):
    """``ax.boxplot`` horizontally, across matplotlib versions (``orientation`` arrived in 3.10)."""
    kwargs = dict(positions=positions, whis=(5, 95), showfliers=False, widths=0.55, patch_artist=True,
                  medianprops={"color": "black", "linewidth": 1.2})
    try:
        return ax.boxplot(data, orientation="horizontal", **kwargs)
    except TypeError:
        return ax.boxplot(data, vert=False, **kwargs)


# --------------------------------------------------------------------------------------------- (b)
@st.styled
def plot_exceedance(ds, ax=None, *, regions: list[str] | None = None, n_regions: int = 4):
    """Exceedance-probability curves P(loss > x) of GDP loss for the world and selected regions.

    ``regions`` defaults to the ``n_regions`` most affected (by mean loss). The probability axis is
    logarithmic; its floor is one draw (1 / number of draws).
    """
    series = _exceedance_series(ds, regions, n_regions)
    ax = st.new_axes(ax, (7.5, 4.8))
    styles = ["-", "--", "-.", ":"]
    n_max, i = 1, 0
    for label, x in series.items():
        xs, p = exceedance_curve(x)
        n_max = max(n_max, xs.size)
        if label == WORLD:
            ax.step(xs, p, where="post", color="black", linewidth=2.0, label=WORLD)
        else:
            ax.step(xs, p, where="post", color=st.SERIES_COLOURS[i % len(st.SERIES_COLOURS)],
                    linestyle=styles[i % 4], linewidth=1.5, label=label)
            i += 1
    ax.set_yscale("log")
    ax.set_ylim(0.5 / n_max, 1.3)
    scale_for_spread(ax, series.values(), "x")
    if all(not np.any(x > 0) for x in series.values()):
        ax.annotate("no draw has a positive loss", (0.5, 0.5), xycoords="axes fraction", ha="center",
                    color="#555555")
    cond = conditional(ds)
    for level in (0.05, 0.01):   # labelled outside the axes: the text never crosses a curve
        ax.axhline(level, color="#999999", linewidth=0.7, linestyle=":",
                   label=("dotted: " + probability_label(0.05, cond).replace("5%", "5% and 1%"))
                   if level == 0.05 else "_nolegend_")
        ax.annotate(format_probability(level), (1.0, level), xycoords=("axes fraction", "data"), xytext=(3, 0),
                    textcoords="offset points", ha="left", va="center", fontsize=7, color="#666666",
                    annotation_clip=False)
    ax.set_xlabel(st.axis_label("GDP loss x", units(ds, GDP if has(ds, GDP) else WORLD_GDP)))
    ax.set_ylabel("P(loss > x | scenario occurs)" if cond else "Probability P(loss > x) over the horizon")
    ax.set_title("Conditional exceedance probability of GDP loss" if cond
                 else "Exceedance probability of GDP loss")
    ax.grid(which="major")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)   # below the axes: crosses no curve
    st.add_footer(ax, ds)
    return ax


def probability_label(p: float, cond: bool) -> str:
    """Text for a probability level on a chart: says whether it is conditional on the scenario
    (then it is not a return period of calendar time)."""
    return (f"{format_probability(p)} conditional probability (given the scenario)" if cond
            else f"{format_probability(p)} probability over the horizon")


def _exceedance_series(ds, regions, n_regions: int) -> dict[str, np.ndarray]:
    series: dict[str, np.ndarray] = {}
    if has(ds, WORLD_GDP):
        series[WORLD] = world_draws(ds)
    per_region = series_by_label(ds, GDP, "region") if has(ds, GDP) else {}
    chosen = list(regions) if regions is not None else _most_affected(per_region, n_regions)
    unknown = [r for r in chosen if r not in per_region]
    if unknown:
        raise ReportDataError(f"no GDP-loss draws for region(s) {', '.join(unknown)}; "
                              f"known: {', '.join(per_region) or 'none'}")
    series.update({r: per_region[r] for r in chosen})
    series = {k: v for k, v in series.items() if v.size}
    if not series:
        raise ReportDataError(f"the dataset has no draws of {GDP!r} or {WORLD_GDP!r}")
    return series


# --------------------------------------------------------------------------------------------- (c) (d)
@st.styled
def plot_output_heatmap(ds, ax=None, *, stat: str = "mean", var: str = "output_loss_pct",
                        log: bool = False, annotate: bool | None = None):
    """Region x sector heat map of ``output_loss_pct`` at ``stat`` (mean over draws by default).

    The colour scale is linear unless ``log``; cells carry their values when the grid is small
    (``annotate`` forces it on or off)."""
    matrix = stat_matrix(ds, var, "region", "sector", stat)
    rows, cols = labels(ds, "region"), labels(ds, "sector")
    ax = st.new_axes(ax, _heatmap_size(len(rows), len(cols)))
    _heatmap(ax, matrix, rows, cols, st.axis_label(f"{short_name(ds, var)}, {stat}", units(ds, var)),
             log=log, annotate=annotate)
    ax.set_xlabel("Sector")
    ax.set_ylabel("Region")
    ax.set_title(f"{short_name(ds, var)} by region and sector ({_stat_words(stat)}, {given(ds, False)})")
    st.add_footer(ax, ds)
    return ax


@st.styled
def plot_trade_matrix(ds, ax=None, *, stat: str = "mean", var: str = "trade_loss",
                      log: bool | None = None, annotate: bool | None = None):
    """Exporter x importer heat map of the bilateral trade loss at ``stat``.

    ``log`` (default: automatic when positive values span more than two orders of magnitude) switches
    the colour scale to logarithmic; zero cells (domestic flows) are drawn in light grey.
    """
    matrix = international(stat_matrix(ds, var, "exporter", "importer", stat),
                           labels(ds, "exporter"), labels(ds, "importer"))
    rows, cols = labels(ds, "exporter"), labels(ds, "importer")
    ax = st.new_axes(ax, _heatmap_size(len(rows), len(cols)))
    label = st.axis_label(f"{short_name(ds, var)}, {stat}", units(ds, var))
    _heatmap(ax, matrix, rows, cols, label, log=log, annotate=annotate)
    ax.set_xlabel("Importer (grey: domestic sales, not trade; or zero loss)")
    ax.set_ylabel("Exporter")
    ax.set_title(f"Bilateral {st.phrase(short_name(ds, var))}, exporter to importer ({_stat_words(stat)}, "
                 f"{given(ds, False)})")
    st.add_footer(ax, ds)
    return ax


def international(matrix: np.ndarray, exporters: list[str], importers: list[str]) -> np.ndarray:
    """The exporter x importer matrix with domestic cells (exporter = importer: domestic sales, not
    trade) set to NaN, so they are neither coloured nor counted."""
    out = np.array(matrix, dtype=float)
    for i, name in enumerate(exporters):
        if name in importers:
            out[i, importers.index(name)] = np.nan
    return out


def _stat_words(stat: str) -> str:
    return {"mean": "mean over draws", "p05": "5th percentile", "p50": "median",
            "p95": "95th percentile"}.get(stat, stat)


def _heatmap_size(n_rows: int, n_cols: int) -> tuple[float, float]:
    """Figure size that keeps cells readable and pages printable."""
    return (min(max(6.5, 0.52 * n_cols + 3.2), 16.0), min(max(4.5, 0.3 * n_rows + 2.4), 12.0))


def _heatmap(ax, matrix: np.ndarray, rows: list[str], cols: list[str], label: str, *,
             log: bool | None, annotate: bool | None) -> None:
    """Draw a matrix with the loss colour map, a labelled colour bar and optional cell values."""
    values = matrix[np.isfinite(matrix)]
    if not values.size:
        raise ReportDataError("the matrix has no finite values")
    cmap, norm, shown = _heatmap_norm(matrix, values, log)
    image = ax.imshow(shown, cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
    small = 8 if max(len(rows), len(cols)) <= 20 else 6
    ax.set_xticks(np.arange(len(cols)), cols, rotation=45, ha="right", rotation_mode="anchor", fontsize=small)
    ax.set_yticks(np.arange(len(rows)), rows, fontsize=small)
    ax.tick_params(length=0)
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    colorbar = ax.figure.colorbar(image, ax=ax, shrink=0.9, pad=0.02)
    colorbar.set_label(label)
    if annotate if annotate is not None else matrix.size <= 400:
        _annotate_cells(ax, matrix, norm)


def _heatmap_norm(matrix: np.ndarray, values: np.ndarray, log: bool | None):
    """Colour map, normalisation and the (possibly masked) matrix to show."""
    vmin, vmax = float(values.min()), float(values.max())
    if vmin < 0:  # signed: gains in blue, losses in red, centred on zero
        top = max(vmax, -vmin * 1e-3, 1e-12)
        return st.colormap(st.SIGNED_CMAP), TwoSlopeNorm(0.0, vmin, top), matrix
    positive = values[values > 0]
    if log is None:
        log = positive.size > 1 and positive.max() / np.quantile(positive, 0.1) > 100
    cmap = st.colormap(st.LOSS_CMAP)
    if log and positive.size:
        floor = max(float(positive.min()), float(positive.max()) * 1e-5)
        return cmap, LogNorm(floor, float(positive.max())), np.ma.masked_less_equal(matrix, 0)
    return cmap, Normalize(0.0, vmax if vmax > 0 else 1.0), np.ma.masked_invalid(matrix)


def _annotate_cells(ax, matrix: np.ndarray, norm) -> None:
    """Write each non-zero finite cell's value, white on dark cells."""
    size = 6.5 if matrix.size <= 260 else 5.5
    for (i, j), v in np.ndenumerate(matrix):
        if not np.isfinite(v) or v == 0:
            continue
        level = float(np.clip(norm(v), 0, 1)) if np.isfinite(norm(v)) else 0.0
        dark = level > 0.6 if not isinstance(norm, TwoSlopeNorm) else abs(level - 0.5) > 0.3
        ax.text(j, i, st.compact_number(float(v)), ha="center", va="center", fontsize=size,
                color="white" if dark else "#222222")


# --------------------------------------------------------------------------------------------- (e)
@st.styled
def plot_simultaneity_premium(ds, ax=None, *, bins: int = 40):
    """Histogram over draws of the world simultaneity premium (combined minus the packages alone)."""
    x = world_draws(ds, PREMIUM)
    if not x.size:
        raise ReportDataError(f"{PREMIUM!r} has no finite draws")
    ax = st.new_axes(ax, (8.5, 4.5))
    ax.hist(x, bins=bins, color=st.loss_colour(0.6), edgecolor="white", linewidth=0.5)
    ax.axvline(0.0, color="#777777", linewidth=0.8, linestyle=":", label="zero: no premium")
    ax.axvline(float(x.mean()), color="black", linewidth=1.3, label=f"mean {format_sig(x.mean())}")
    ax.plot([], [], linestyle="none", label=f"P(premium > 0) = {format_probability(np.mean(x > 0))}")
    ax.set_xlabel(st.axis_label("World simultaneity premium", units(ds, PREMIUM)))
    ax.set_ylabel("Draws [count]")
    ax.set_title(f"Simultaneity premium: combined minus the packages alone\n{given(ds)}")
    # outside the plotting area: the note never covers the bars or the mean line
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    st.add_footer(ax, ds)
    return ax


@st.styled
def plot_premium_by_region(ds, ax=None, *, n_regions: int = 10):
    """The simultaneity premium per region (percentage points of each region's value added): where the
    crises together cost more, or less, than apart. Regions ranked by the size of the mean premium."""
    require(ds, "simultaneity_premium_pct")
    da = ds["simultaneity_premium_pct"]
    if set(da.dims) != {"draw", "region"}:
        raise ReportDataError(f"'simultaneity_premium_pct' has dims {da.dims}, expected ('draw', 'region')")
    table = np.asarray(da.transpose("region", "draw").values, dtype=float)
    per_region = {r: finite_row for r, finite_row in zip(labels(da, "region"), table)}
    per_region = {r: x[np.isfinite(x)] for r, x in per_region.items() if np.isfinite(x).any()}
    if not per_region:
        raise ReportDataError("'simultaneity_premium_pct' has no finite draws")
    order = sorted(per_region, key=lambda r: -abs(float(per_region[r].mean())))[:n_regions]
    series = {r: per_region[r] for r in order}
    ax = st.new_axes(ax, (7.5, 0.42 * len(series) + 1.9))
    _draw_boxes(ax, series, risk=False)
    ax.axvline(0.0, color="#777777", linewidth=0.8, linestyle=":")
    scale_for_spread(ax, series.values(), "x")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2,   # below the axes: covers no row
              title="box 25–75 %, whiskers 5–95 %, line median", title_fontsize=7)
    ax.set_xlabel(st.axis_label("Simultaneity premium", units(ds, "simultaneity_premium_pct")))
    ax.set_ylabel("Region")
    ax.set_title(f"Simultaneity premium by region: the {len(series)} largest (positive: worse together)\n"
                 f"{given(ds)}")
    st.add_footer(ax, ds)
    return ax


# --------------------------------------------------------------------------------------------- (f)
@st.styled
def plot_fan_chart(ds, param: str, ax=None, *, var: str = WORLD_GDP):
    """Quantiles (5/25/50/75/95 %) of ``var`` against each swept value of ``param``.

    Other swept parameters are held at their reference values (see :mod:`shockmodel.report.sweepdata`).
    """
    series = sweep_series(ds, param, var)
    q = np.array([np.quantile(d, QUANTILES) if d.size else np.full(5, np.nan) for d in series.draws])
    numeric = series.values.dtype.kind in "iuf"
    xs = series.values.astype(float) if numeric else np.arange(series.values.size)
    ax = st.new_axes(ax, (7.5, 4.8))
    ax.fill_between(xs, q[:, 0], q[:, 4], color=st.loss_colour(0.22), label="5–95 %", linewidth=0)
    ax.fill_between(xs, q[:, 1], q[:, 3], color=st.loss_colour(0.45), label="25–75 %", linewidth=0)
    ax.plot(xs, q[:, 2], color=st.loss_colour(0.9), marker="o", markersize=4, linewidth=1.8, label="median")
    if not numeric:
        ax.set_xticks(xs, [str(v) for v in series.values])
    ax.set_xlabel(st.axis_label(param, _coord_units(ds, param)))
    ax.set_ylabel(st.axis_label(short_name(ds, var), units(ds, var)))
    ax.set_title(f"{short_name(ds, var)} across the swept values of {param}")
    ax.grid(axis="y")
    ax.set_axisbelow(True)
    ax.legend(loc="upper left")
    if series.reference:
        held = ", ".join(f"{k} = {format_value(v)}" for k, v in series.reference.items())
        ax.annotate(f"held at: {held}", (0.99, 0.02), xycoords="axes fraction", ha="right", va="bottom",
                    fontsize=7, color="#555555")
    st.add_footer(ax, ds)
    return ax


def _coord_units(ds, name: str) -> str:
    return str(ds[name].attrs.get("units", "")) if name in ds.variables else ""


@st.styled
def plot_tornado(ds, ax=None, *, var: str = WORLD_GDP):
    """One-at-a-time effects: for each swept parameter, the median of ``var`` at its lowest and highest
    value (two bars from the base cell's median, each with its value at its end); parameters sorted by
    the size of the effect (largest on top). The reference line is the base cell (every parameter at its
    reference value), never a pool of cells; without a base cell (a sampled design) the figure is skipped."""
    effects = _tornado_effects(ds, var)
    ref = reference_draws(ds, var)
    if ref is None or not ref.size:
        raise ReportDataError(f"no base cell (every swept parameter at its reference value) in {var!r}")
    base = float(np.median(ref))
    effects.sort(key=lambda e: max(abs(e[2] - base), abs(e[4] - base)))
    ax = st.new_axes(ax, (7.5, 0.75 * len(effects) + 2.0))
    for i, (param, lo_value, lo_med, hi_value, hi_med) in enumerate(effects):
        # one bar per end, offset vertically, so the two value labels can never print over each other
        for label, value, med, shade, dy in (("lowest value", lo_value, lo_med, 0.35, 0.19),
                                             ("highest value", hi_value, hi_med, 0.8, -0.19)):
            ax.barh(i + dy, med - base, left=base, height=0.34, color=st.loss_colour(shade),
                    label=label if i == 0 else "_nolegend_")
            right = med >= base
            ax.annotate(f"{format_value(value)} → {format_sig(med, 3)}", (med, i + dy),
                        xytext=(3 if right else -3, 0), textcoords="offset points",
                        ha="left" if right else "right", va="center", fontsize=7)
    ax.axvline(base, color="black", linewidth=0.9, label=f"base cell ({format_sig(base, 3)})")
    ax.set_yticks(np.arange(len(effects)), [e[0] for e in effects])
    ax.set_ylim(-0.7, len(effects) + 0.3)  # a free row on top for the legend
    ax.margins(x=0.3)
    ax.set_xlabel(st.axis_label(f"Median {st.phrase(short_name(ds, var))}", units(ds, var)))
    ax.set_ylabel("Swept parameter")
    ax.set_title(f"One-at-a-time effects on the median {st.phrase(short_name(ds, var))}")
    ax.grid(axis="x")
    ax.set_axisbelow(True)
    ax.legend(loc="upper center", ncol=3, frameon=True, facecolor="white", edgecolor="none", framealpha=1)
    st.add_footer(ax, ds)
    return ax


def _tornado_effects(ds, var: str) -> list[tuple]:
    """(param, lowest value, its median, highest value, its median) per parameter with 2+ values."""
    params = swept_params(ds, var)
    if not params:
        raise ReportDataError(f"{var!r} has no swept parameter")
    effects = []
    for param in params:
        series = sweep_series(ds, param, var)
        keep = [i for i, d in enumerate(series.draws) if d.size]
        if len(keep) >= 2:
            lo, hi = keep[0], keep[-1]
            effects.append((param, series.values[lo], float(np.median(series.draws[lo])),
                            series.values[hi], float(np.median(series.draws[hi]))))
    if not effects:
        raise ReportDataError(f"no swept parameter of {var!r} has two values with finite draws")
    return effects


# --------------------------------------------------------------------------------------------- (g)
@st.styled
def plot_draw_distribution(ds, var: str, dim: str, ax=None):
    """Distribution over draws of ``var`` (dims ``draw`` and ``dim``) for each label of ``dim``,
    e.g. ``price_change_pct`` by ``commodity`` or ``equity_drawdown_pct`` by ``index``."""
    series = {k: v for k, v in series_by_label(ds, var, dim).items() if v.size}
    if not series:
        raise ReportDataError(f"{var!r} has no finite draws")
    ax = st.new_axes(ax, (8.5, 0.42 * len(series) + 1.9))
    _draw_boxes(ax, series, risk=False)
    values = np.concatenate(list(series.values()))
    if values.min() < 0 < values.max():
        ax.axvline(0.0, color="#777777", linewidth=0.8, linestyle=":")
    _mark_bounds(ax, ds, var, dim, series)
    ax.set_xlabel(st.axis_label(MARKET_AXIS.get(var, short_name(ds, var)), units(ds, var)))
    ax.set_ylabel(dim.replace("_", " ").capitalize())
    ax.set_title(f"{short_name(ds, var)} by {dim.replace('_', ' ')}\n{given(ds)}")
    st.add_footer(ax, ds)
    return ax


def _mark_bounds(ax, ds, var: str, dim: str, series: dict[str, np.ndarray]) -> None:
    """A bar marker at every bound or cap a row reaches, and to the right of the axes the share of draws
    at it and the share the market channel flags (price at a historical bound, index closed to foreign
    holders); a box squeezed onto its cap is otherwise invisible. When no row is flagged, the legend says
    so: the bounds were checked, not forgotten."""
    from shockmodel.report._data import flag_shares

    names = list(series)[::-1]   # _draw_boxes puts the first series on top
    words, flags = flag_shares(ds, var, dim)
    marked = False
    for pos, name in enumerate(names):
        hits = bounds_hit(series[name], ds[var].attrs)
        for value, share, kind in hits:
            ax.plot([value], [pos], marker="|", markersize=14, markeredgewidth=2.2, color="#08519c",
                    linestyle="none", label="bound or cap reached" if not marked else "_nolegend_")
            marked = True
        text = [f"{format_probability(share)} of draws at {kind} {format_sig(value, 3)}" for value, share, kind in hits]
        if flags.get(name, 0.0) > 0:
            text.append(f"{format_probability(flags[name])} of draws {words}")
        if text:
            ax.annotate("; ".join(text), (1.01, pos), xycoords=("axes fraction", "data"), va="center",
                        fontsize=6.5, color="#08519c", annotation_clip=False)
    title = "box 25–75 %, whiskers 5–95 %, line median"
    if words and not any(v > 0 for v in flags.values()):
        ax.plot([], [], linestyle="none", label=f"no draw {words}")
    if words and any(v > 0 for v in flags.values()):
        ax.plot([], [], linestyle="none", label=f"right: share of draws {words}")
    # below the axes: the legend never covers a row
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, title=title, title_fontsize=7)


# --------------------------------------------------------------------------------------------- (h)
WORLD_PATH_STATS = "world_gdp_loss_path_pct_stats"
PATH_STATS_VAR = "gdp_loss_path_pct_stats"
PATH_BAND = ("p05", "p95")


def path_stats(ds, region: str | None = None) -> dict[str, np.ndarray]:
    """Per statistic (``mean``, ``p05``, ``p50``, ``p95``, ...) the monthly GDP-loss path of the world
    (``region`` None) or of one region, from the streamed path statistics of the dynamic model
    (``world_gdp_loss_path_pct_stats`` / ``gdp_loss_path_pct_stats``, scenario resolved to the combination),
    and ``month``: the month numbers."""
    from shockmodel.report._data import combined

    var = WORLD_PATH_STATS if region is None else PATH_STATS_VAR
    require(ds, var)
    da = combined(ds)[var]
    if region is not None:
        names = labels(da, "region")
        if region not in names:
            raise ReportDataError(f"no monthly path for region {region!r}; known: {', '.join(names)}")
        da = da.isel(region=names.index(region))
    if set(da.dims) != {"month", "path_stat"}:
        raise ReportDataError(f"{var!r} has dims {da.dims}, expected ('month', 'path_stat'[, 'region'])")
    table = np.asarray(da.transpose("path_stat", "month").values, dtype=float)
    out = dict(zip(labels(da, "path_stat"), table))
    missing = [s for s in ("p05", "p50", "p95") if s not in out]
    if missing:
        raise ReportDataError(f"{var!r} lacks the statistics {', '.join(missing)}")
    out["month"] = np.asarray(da["month"].values, dtype=float)
    return out


def path_regions(ds, n: int) -> list[str]:
    """The ``n`` regions with the largest mean loss summed over the months (most affected first)."""
    from shockmodel.report._data import combined

    if not has(ds, PATH_STATS_VAR):
        return []
    da = combined(ds)[PATH_STATS_VAR]
    stat = labels(da, "path_stat")
    mean = np.asarray(da.isel(path_stat=stat.index("mean")).transpose("region", "month").values, dtype=float)
    total = np.nansum(mean, axis=1)
    names = labels(da, "region")
    return [names[i] for i in np.argsort(-total, kind="stable")[:n] if total[i] > 0]


def _draw_path(ax, stats: dict[str, np.ndarray], colour_level: float = 0.9) -> None:
    """The 5-95 % band, the median and the mean of one monthly path on ``ax``."""
    months = stats["month"]
    ax.fill_between(months, stats["p05"], stats["p95"], color=st.loss_colour(0.25), linewidth=0,
                    label="5–95 % of draws", step=None)
    ax.plot(months, stats["p50"], color=st.loss_colour(colour_level), linewidth=1.8, marker="o",
            markersize=2.5, label="median")
    if "mean" in stats:
        ax.plot(months, stats["mean"], color="black", linewidth=1.0, linestyle="--", label="mean")
    ax.axhline(0.0, color="#777777", linewidth=0.7, linestyle=":")
    ax.set_xlim(months.min() - 0.5, months.max() + 0.5)
    ax.grid(axis="y")
    ax.set_axisbelow(True)


@st.styled
def plot_loss_paths(ds, ax=None, *, n_regions: int = 3):
    """Fan chart of the monthly GDP loss (dynamic model): the world's path (5-95 % band of draws, median,
    mean) and, on a new figure, beside it the ``n_regions`` regions with the largest loss over the horizon,
    each on its own axis (their scales differ by orders of magnitude). Returns the world's axes."""
    world = path_stats(ds)
    regions = path_regions(ds, n_regions) if ax is None else []
    if ax is None:
        fig = Figure(figsize=(11.0, 6.4), layout="constrained")
        bottom = st.FOOTER_INCHES / 6.4
        fig.get_layout_engine().set(rect=(0, bottom, 1, 1 - bottom))
        if regions:
            grid = fig.add_gridspec(len(regions), 2, width_ratios=(1.6, 1.0))
            ax = fig.add_subplot(grid[:, 0])
            panels = [fig.add_subplot(grid[i, 1]) for i in range(len(regions))]
        else:
            ax, panels = fig.add_subplot(), []
    else:
        panels = []
    unit = units(ds, "world_gdp_loss_path_pct" if has(ds, "world_gdp_loss_path_pct") else WORLD_PATH_STATS)
    _draw_path(ax, world)
    ax.set_xlabel("Month after the shock begins")
    ax.set_ylabel(st.axis_label("World value added lost in the month", unit))
    cond = conditional(ds)
    ax.set_title("Monthly world GDP loss " + ("(given the scenario occurs)" if cond else "over the horizon"))
    ax.legend(loc="upper right", title="quantiles over draws", title_fontsize=7)
    for panel, region in zip(panels, regions):
        _draw_path(panel, path_stats(ds, region))
        panel.set_title(f"{region}", fontsize=9, loc="left")
        panel.set_ylabel("% of value added", fontsize=7)
        panel.tick_params(labelsize=7)
    if panels:
        panels[-1].set_xlabel("Month")
        panels[0].set_title(f"{regions[0]}: most affected (each panel its own scale)", fontsize=9, loc="left")
    st.add_footer(ax, ds)
    return ax


@st.styled
def plot_premium_path(ds, ax=None):
    """Fan chart of the world simultaneity premium month by month (dynamic model with variants): quantiles
    over the kept draws of ``world_simultaneity_premium_path_pct``."""
    var = "world_simultaneity_premium_path_pct"
    require(ds, var)
    da = ds[var]
    if set(da.dims) != {"draw", "month"}:
        raise ReportDataError(f"{var!r} has dims {da.dims}, expected ('draw', 'month')")
    x = np.asarray(da.transpose("draw", "month").values, dtype=float)
    x = x[np.all(np.isfinite(x), axis=1)]
    if not x.shape[0]:
        raise ReportDataError(f"{var!r} has no finite draws")
    q = np.quantile(x, (0.05, 0.5, 0.95), axis=0)
    stats = {"month": np.asarray(da["month"].values, dtype=float), "p05": q[0], "p50": q[1], "p95": q[2],
             "mean": x.mean(axis=0)}
    ax = st.new_axes(ax, (8.5, 4.6))
    _draw_path(ax, stats)
    ax.set_xlabel("Month after the shock begins")
    ax.set_ylabel(st.axis_label("World simultaneity premium in the month", units(ds, var)))
    ax.set_title("Simultaneity premium by month: combination minus its parts alone (positive: worse together)\n"
                 + given(ds))
    ax.legend(loc="upper right", title=f"quantiles over {x.shape[0]} draws", title_fontsize=7)
    st.add_footer(ax, ds)
    return ax
