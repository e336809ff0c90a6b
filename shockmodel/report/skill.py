"""Skill report of the backtests (``shockmodel backtest``): PIT histogram, a forecast-versus-outcome chart
per case, and the score table beside the competitors' errors; HTML (figures as base64 PNG) and PDF.

Uses the house style of the run reports (:mod:`shockmodel.report._style`); figures are bare matplotlib
Figures (no pyplot), written atomically.
"""

from __future__ import annotations

import base64
import html
import io
import textwrap
from pathlib import Path

import numpy as np

from shockmodel.report._style import SERIES_COLOURS, loss_colour, new_axes, styled

COMPETITOR_MARKERS = ("s", "D", "^", "v", "P")


@styled
def plot_pit_histogram(pits, bins: int = 5, ax=None):
    """Histogram of PIT values; a calibrated forecaster's bars are level at the dashed line."""
    ax = new_axes(ax, (6.0, 3.4))
    u = np.asarray(pits, dtype=float)
    ax.hist(u, bins=bins, range=(0, 1), color=loss_colour(0.6), edgecolor="white")
    ax.axhline(len(u) / bins, color="black", ls="--", lw=1, label="uniform (calibrated)")
    ax.set_xlim(0, 1)
    ax.set_xlabel("PIT = share of forecast draws below the outcome")
    ax.set_ylabel("outputs")
    ax.set_title(f"PIT histogram ({len(u)} outputs)")
    ax.legend(loc="upper center")
    return ax


@styled
def plot_case(case, scores, competitors, ax=None):
    """Forecast bands (5-95% thin, 25-75% thick, median dot) against the outcome (x) and the competitors."""
    rows = scores[scores.case == case.name].reset_index(drop=True)
    ax = new_axes(ax, (9.0, 1.2 + 0.55 * len(rows)))
    names = sorted(set(competitors[competitors.case == case.name].competitor))
    for i, r in rows.iterrows():
        y = len(rows) - 1 - i
        ax.plot([r.p05, r.p95], [y, y], color=loss_colour(0.45), lw=2, solid_capstyle="butt")
        ax.plot([r.p25, r.p75], [y, y], color=loss_colour(0.8), lw=7, solid_capstyle="butt")
        ax.plot(r["median"], y, "o", color="white", mec="black", ms=5, zorder=3)
        ax.plot(r.outcome, y, "X", color="black", ms=9, zorder=4)
        comp = competitors[(competitors.case == case.name) & (competitors.output == r.output)]
        for _, c in comp.iterrows():
            k = names.index(c.competitor)
            ax.plot(c.forecast, y + 0.22, COMPETITOR_MARKERS[k % len(COMPETITOR_MARKERS)],
                    color=SERIES_COLOURS[(k + 1) % len(SERIES_COLOURS)], ms=6, zorder=3)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(list(rows.label)[::-1])
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.set_xlabel("loss, % of the pre-event path")
    ax.set_title(textwrap.fill(case.title, 60), loc="left")
    handles = [ax.plot([], [], color=loss_colour(0.8), lw=7)[0], ax.plot([], [], color=loss_colour(0.45), lw=2)[0],
               ax.plot([], [], "X", color="black")[0]]
    labels = ["model 25-75%", "model 5-95%", "outcome"]
    for k, n in enumerate(names):
        handles.append(ax.plot([], [], COMPETITOR_MARKERS[k % len(COMPETITOR_MARKERS)],
                               color=SERIES_COLOURS[(k + 1) % len(SERIES_COLOURS)])[0])
        labels.append(n)
    ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7)
    ax.axvline(0, color="#bbbbbb", lw=0.8)
    return ax


def score_rows(res) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the score table (model, then each competitor's error on the same output)."""
    head = ["case / output", "outcome", "median", "5-95%", "CRPS", "PIT", "50%", "90%", "|median err|", "competitors: |err|"]
    rows = []
    comp = res.competitors
    for _, r in res.scores.iterrows():
        cs = comp[(comp.case == r.case) & (comp.output == r.output)]
        rows.append([f"{r.case} / {r.label}", f"{r.outcome:.2f}", f"{r['median']:.2f}", f"{r.p05:.2f}-{r.p95:.2f}",
                     f"{r.crps:.2f}", f"{r.pit:.2f}", "yes" if r.cover50 else "no", "yes" if r.cover90 else "no",
                     f"{r.abs_error_median:.2f}",
                     "\n".join(f"{c.competitor} {c.abs_error:.2f}{' (after)' if c.after_forecast_date else ''}"
                               for _, c in cs.iterrows()) or "-"])
    return head, rows


@styled
def plot_table(head, rows, title: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11.69, 8.27))
    ax = fig.add_axes((0.02, 0.05, 0.96, 0.85))
    ax.axis("off")
    fig.suptitle(title, x=0.02, ha="left", fontweight="bold")
    t = ax.table(cellText=rows, colLabels=head, loc="upper left", cellLoc="left", colLoc="left")
    t.auto_set_font_size(False)
    t.set_fontsize(7)
    t.auto_set_column_width(list(range(len(head))))
    # A cell of several lines (one competitor per line) gets a row as tall as its lines.
    lines = [max(1, *(c.count("\n") + 1 for c in row)) for row in rows]
    for (r, _), cell in t.get_celld().items():
        cell.set_height(cell.get_height() * 1.4 * (lines[r - 1] if r > 0 else 1))
    ax.text(0, 0, "(after): published after our forecast date, so not a fair competitor.", fontsize=7,
            transform=ax.transAxes, va="bottom")
    return ax


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130, metadata={"Software": None})
    return buf.getvalue()


def write_skill_report(res, folder) -> dict:
    """Write ``skill.html`` and ``skill.pdf`` (and the figures' PNGs) into ``folder``; returns the paths."""
    from matplotlib.backends.backend_pdf import PdfPages

    from shockmodel.io.results import atomic_path, write_text

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    head, rows = score_rows(res)
    figs = [("pit", "PIT histogram", plot_pit_histogram(res.scores.pit.to_numpy()).figure)]
    for case in res.cases:
        figs.append((f"case_{case.name}", case.title, plot_case(case, res.scores, res.competitors).figure))
    written = {}
    for name, _, fig in figs:
        path = folder / f"{name}.png"
        with atomic_path(path, suffix=".png") as tmp:
            tmp.write_bytes(_png(fig))
        written[name] = path
    with atomic_path(folder / "skill.pdf", suffix=".pdf") as tmp:
        with PdfPages(tmp, metadata={"Title": "shockmodel backtest skill report", "Creator": "shockmodel",
                                     "CreationDate": None}) as pdf:
            pdf.savefig(plot_table(head, rows, "Backtest scores (losses in % of the pre-event path)").figure)
            for _, _, fig in figs:
                pdf.savefig(fig)
    written["pdf"] = folder / "skill.pdf"
    table = "<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>" + "".join(
        "<tr>" + "".join(f"<td>{html.escape(c).replace(chr(10), '<br>')}</td>" for c in row) + "</tr>" for row in rows) + "</table>"
    sources = "".join(f"<li><b>{html.escape(r.case)} / {html.escape(r.label)}</b>: outcome {r.outcome:.2f} = "
                      f"{html.escape(r.definition)}; {html.escape(r.source)}</li>" for _, r in res.scores.iterrows())
    comps = "".join(f"<li>{html.escape(c.case)} / {html.escape(c.output)}: {html.escape(c.competitor)} "
                    f"({c.published}{', after our forecast date' if c.after_forecast_date else ''}): "
                    f"{html.escape(c.source)}</li>" for _, c in res.competitors.iterrows())
    body = "".join(f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' src='data:image/png;base64,"
                   f"{base64.b64encode(written[name].read_bytes()).decode()}'>" for name, title, _ in figs)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>shockmodel backtest skill report</title>"
            f"<style>body{{font-family:sans-serif;max-width:1100px;margin:auto}}table{{border-collapse:collapse;"
            f"font-size:12px}}td,th{{border:1px solid #ccc;padding:3px 6px;text-align:left}}img{{max-width:100%}}</style>"
            f"</head><body><h1>Backtest skill report</h1><p>CRPS in the outcome's units (lower is better); PIT = share of"
            f" draws below the outcome (calibrated: uniform); 50%/90%: the central band holds the outcome; |median err|"
            f" beside each competitor's |err| on the same definition (docs/model-scoring.md).</p>{table}{body}"
            f"<h2>Outcomes and sources</h2><ul>{sources}</ul><h2>Competitor forecasts</h2><ul>{comps}</ul></body></html>")
    written["html"] = write_text(folder / "skill.html", page)
    return written
