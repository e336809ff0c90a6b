"""Ranked chart of Sobol indices (``shockmodel sensitivity``): total-order index with its bootstrap interval,
first-order index beside it, groups ranked by total order. House style of the run reports."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Sequence

import numpy as np

from shockmodel.report._style import loss_colour, new_axes, styled


@styled
def plot_sobol(ds, output: str = "World", top: int = 15, ax=None):
    """Horizontal bars: total-order index (with its interval) and first-order index, ranked."""
    d = ds.sel(output=output)
    order = np.argsort(-d.ST.values, kind="stable")[:top]
    n = len(order)
    labels = [textwrap.fill(g, 45) for g in d.group.values[order]]   # in full: a cut name can mislead
    ax = new_axes(ax, (8.0, 1.6 + 0.3 * sum(max(2, lab.count("\n") + 1) for lab in labels)))
    y = np.arange(n)[::-1]
    st, stc = d.ST.values[order], d.ST_conf.values[order]
    s1, s1c = d.S1.values[order], d.S1_conf.values[order]
    ax.barh(y + 0.18, st, height=0.36, color=loss_colour(0.75), xerr=stc, error_kw={"lw": 1, "capsize": 2},
            label="total order (interval: bootstrap)")
    ax.barh(y - 0.18, s1, height=0.36, color=loss_colour(0.35), xerr=s1c, error_kw={"lw": 1, "capsize": 2},
            label="first order")
    ax.set_yticks(y)
    ax.set_yticklabels(labels)
    ax.axvline(0, color="#888888", lw=0.8)
    ax.set_xlabel("Sobol index (share of the variance of the loss)")
    # wrapped to the width right of the group labels: a long scenario name must not run off the figure
    ax.set_title(textwrap.fill(f"What drives the {output} GDP loss in {ds.attrs['scenario']} "
                               f"({ds.attrs['conf_level']:.0%} intervals, {ds.attrs['evaluations']} evaluations)", 46)
                 + "\n" + textwrap.fill(f"model {ds.attrs['model']}, table {ds.attrs['table']}, copula "
                                        f"{ds.attrs['copula']}, seed {ds.attrs['seed']}", 46), loc="left")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    return ax


def write_charts(ds, folder, outputs: Sequence[str] = ("World",)) -> dict:
    """``sobol_<output>.png`` per output and ``sensitivity.pdf`` with all of them, written atomically."""
    import io

    from matplotlib.backends.backend_pdf import PdfPages

    from shockmodel.io.results import atomic_path

    folder = Path(folder)
    written, figs = {}, []
    for o in outputs:
        fig = plot_sobol(ds, o).figure
        figs.append(fig)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=130, metadata={"Software": None})
        path = folder / f"sobol_{o}.png"
        with atomic_path(path, suffix=".png") as tmp:
            tmp.write_bytes(buf.getvalue())
        written[o] = path
    with atomic_path(folder / "sensitivity.pdf", suffix=".pdf") as tmp:
        with PdfPages(tmp, metadata={"Title": "shockmodel sensitivity", "Creator": "shockmodel", "CreationDate": None}) as pdf:
            for fig in figs:
                pdf.savefig(fig)
    written["pdf"] = folder / "sensitivity.pdf"
    return written
