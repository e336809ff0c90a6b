"""Several runs side by side: one table row and one box per run (world GDP loss; the premium when a run
has variants). Reads result datasets only; :func:`shockmodel.pipeline.compare` resolves run folders and
library scenarios into datasets and calls these."""

from __future__ import annotations

from typing import Mapping

import numpy as np

from shockmodel.report import _style as st
from shockmodel.report._data import ReportDataError, conditional, finite, has, units, world_draws
from shockmodel.report.stats import format_probability, loss_metrics

COLUMNS = ("mean", "p05", "p50", "p95", "VaR99", "ES99")


def comparison_table(datasets: Mapping[str, object]):
    """A pandas DataFrame, one row per run (its label), with the world GDP loss statistics (percent of
    world value added), the simultaneity premium's mean and P(premium > 0) when the run has variants,
    whether probabilities are conditional on the scenario, and the run's draws and scenario."""
    import pandas as pd

    rows = []
    for label, ds in datasets.items():
        if "cell" in ds.dims:
            raise ReportDataError(f"{label}: a sweep (cell dimension); compare runs, or read the sweep's report")
        x = world_draws(ds)
        m = {**loss_metrics(x), "p05": float(np.quantile(x, 0.05)) if x.size else float("nan")}
        row = {"run": label, "scenario": str(ds.attrs.get("scenario", "")), **{k: m[k] for k in COLUMNS}}
        if has(ds, "world_simultaneity_premium_pct"):
            p = finite(ds["world_simultaneity_premium_pct"].values)
            row["premium_mean"] = float(p.mean()) if p.size else float("nan")
            row["P(premium > 0)"] = format_probability(float(np.mean(p > 0))) if p.size else "–"
        else:
            row["premium_mean"], row["P(premium > 0)"] = float("nan"), "–"
        row["conditional"] = conditional(ds)
        row["draws"] = int(ds.attrs.get("draws", ds.sizes.get("draw", 0)))
        rows.append(row)
    table = pd.DataFrame(rows).set_index("run")
    table.attrs["units"] = "percent of world value added (premium: percentage points)"
    return table


@st.styled
def plot_comparison(datasets: Mapping[str, object], ax=None):
    """World GDP loss of each run as a box (25-75 %, whiskers 5-95 %, diamond the mean), one row per run."""
    from shockmodel.report.plots import _draw_boxes, scale_for_spread

    series = {label: world_draws(ds) for label, ds in datasets.items()}
    ax = st.new_axes(ax, (8.0, 0.5 * len(series) + 2.0))
    _draw_boxes(ax, series, risk=False)
    scale_for_spread(ax, series.values(), "x")
    first = next(iter(datasets.values()))
    ax.set_xlabel(st.axis_label("World GDP loss", units(first, "world_gdp_loss_pct")))
    ax.set_ylabel("Run")
    cond = all(conditional(ds) for ds in datasets.values())
    ax.set_title("World GDP loss by run" + (" (each conditional on its scenario)" if cond else ""))
    ax.figure.text(0.01, 0.008, "Runs: " + "; ".join(f"{k} = {ds.attrs.get('run_id', '?')}"
                                                      for k, ds in datasets.items()),
                   fontsize=6, color="#555555", gid=st.FOOTER_GID)
    return ax
