"""Build a report folder from a run's (or a sweep's) ``data.nc`` alone.

``build_report(folder)`` writes into ``<folder>/report/``: one PNG per figure, a self-contained
``report.html`` (figures embedded as base64 PNG) and ``report.pdf`` (a summary page, then one figure per
page). Every file is written atomically (temporary file in the same folder, then ``os.replace``).
Figures whose variables are missing are skipped; the HTML lists what was skipped and why.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from shockmodel.errors import UserError
from shockmodel.report import _style as st
from shockmodel.report import plots
from shockmodel.report._data import ReportDataError, has
from shockmodel.report.stats import (
    Table,
    format_number,
    gdp_summary_table,
    scenario_table,
    sweep_table,
)
from shockmodel.report.sweepdata import swept_params

FORMATS = ("html", "pdf")
DATA_FILE = "data.nc"
MARKET_VARIABLES = (("price_change_pct", "commodity"), ("equity_drawdown_pct", "index"))
META_KEYS = ("run_id", "scenario", "sweep", "table", "draws", "seed", "model", "horizon_months", "created_utc",
             "shockmodel_version", "table_sha256", "scenario_sha256")


@dataclass(frozen=True)
class FigureSpec:
    """A figure the report should contain: file stem, caption and how to draw it (``draw(ds) -> Axes``)."""

    name: str
    caption: str
    draw: Callable


@dataclass(frozen=True)
class RenderedFigure:
    name: str
    caption: str
    figure: object  # matplotlib.figure.Figure
    png: bytes


def build_report(source: str | Path, formats=FORMATS, out_dir: str | Path | None = None, *,
                 dpi: int = 150) -> dict[str, Path]:
    """Write the report of the run or sweep folder ``source`` (or of a ``data.nc`` path).

    Returns the written paths: one key per figure name (its PNG), plus ``"html"`` and ``"pdf"`` when
    requested. ``out_dir`` defaults to ``<folder>/report``.
    """
    formats = _check_formats(formats)
    data_path = _data_path(Path(source))
    out = Path(out_dir) if out_dir is not None else data_path.parent / "report"
    out.mkdir(parents=True, exist_ok=True)
    with _open(data_path) as ds:
        tables, skipped_tables = summary_tables(ds)
        rendered, skipped = render_figures(ds, dpi=dpi)
        skipped = skipped_tables + skipped
        written = {fig.name: _write_bytes(out / f"{fig.name}.png", fig.png) for fig in rendered}
        if "html" in formats:
            written["html"] = _write_bytes(out / "report.html", html_report(ds, tables, rendered, skipped).encode())
        if "pdf" in formats:
            written["pdf"] = write_pdf(out / "report.pdf", ds, tables, rendered)
    return written


# ------------------------------------------------------------------------------------------- inputs
def _check_formats(formats) -> tuple[str, ...]:
    formats = (formats,) if isinstance(formats, str) else tuple(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise UserError(f"unknown report format {unknown[0]!r}; choose from {', '.join(FORMATS)}",
                        field="formats")
    return formats


def _data_path(source: Path) -> Path:
    """``source/data.nc`` (or ``source`` itself when it is a ``.nc`` file)."""
    if source.is_file() and source.suffix == ".nc":
        return source
    if not source.is_dir():
        raise UserError("no such run folder", file=str(source))
    path = source / DATA_FILE
    if not path.is_file():
        raise UserError(f"no {DATA_FILE} in this folder", file=str(source))
    return path


def _open(path: Path):
    """The dataset, opened lazily and uncached (a context manager: the file closes with it): each figure
    reads the variables it uses when it uses them, and they are freed after, so the report's memory is
    that of its largest figure, not of every per-draw variable of a million-draw run at once."""
    import xarray as xr

    try:
        return xr.open_dataset(path, engine="h5netcdf", cache=False)
    except (OSError, ValueError) as err:
        raise UserError(f"cannot read the result dataset: {err}", file=str(path)) from err


# ------------------------------------------------------------------------------------------ content
def summary_tables(ds) -> tuple[list[Table], list[tuple[str, str]]]:
    """The tables shown up front (GDP loss by region, by scenario for variants, across a sweep), and the
    (name, reason) of those the dataset cannot fill."""
    builders = [("sweep_table", sweep_table)] if swept_params(ds) else [("gdp_summary_table", gdp_summary_table)]
    builders.append(("scenario_table", scenario_table))
    tables, skipped = [], []
    for name, build in builders:
        try:
            table = build(ds)
        except ReportDataError as err:
            skipped.append((name, str(err)))
            continue
        if table is not None:
            tables.append(table)
    return tables, skipped


def figure_specs(ds) -> list[FigureSpec]:
    """The figures this dataset supports, in report order (variables present decide)."""
    specs: list[FigureSpec] = []
    params = swept_params(ds)
    if params:
        for param in params:
            specs.append(FigureSpec(f"fan_chart_{_slug(param)}", f"World GDP loss across {param} "
                                    "(5/25/50/75/95 % quantiles over draws)",
                                    lambda d, p=param: plots.plot_fan_chart(d, p)))
        specs.append(FigureSpec("tornado", "One-at-a-time effects of the swept parameters on the median "
                                "world GDP loss", plots.plot_tornado))
        return specs
    if has(ds, "gdp_loss_pct") or has(ds, "world_gdp_loss_pct"):
        specs += [
            FigureSpec("gdp_loss_distribution", "GDP loss by region, distribution over draws, with VaR and "
                       "expected shortfall at 95 % and 99 %", plots.plot_gdp_loss_distribution),
            FigureSpec("exceedance", "Probability that the GDP loss exceeds x", plots.plot_exceedance),
        ]
    if has(ds, "output_loss_pct"):
        specs.append(FigureSpec("output_heatmap", "Output loss by region and sector (mean over draws)",
                                plots.plot_output_heatmap))
    if has(ds, "trade_loss"):
        specs.append(FigureSpec("trade_matrix", "Bilateral trade loss, exporter to importer (mean over draws)",
                                plots.plot_trade_matrix))
    if "scenario" in ds.dims and has(ds, "world_simultaneity_premium_pct"):
        specs += [
            FigureSpec("simultaneity_premium", "World simultaneity premium per draw: combined loss minus "
                       "the sum of the packages alone", plots.plot_simultaneity_premium),
            FigureSpec("combined_vs_parts", "Combined scenario against the sum of the packages alone, "
                       "per draw", plots.plot_combined_vs_parts),
        ]
    for var, dim in MARKET_VARIABLES:
        if has(ds, var):
            specs.append(FigureSpec(f"{var}_distribution", f"{var} by {dim}, distribution over draws",
                                    lambda d, v=var, m=dim: plots.plot_draw_distribution(d, v, m)))
    return specs


def render_figures(ds, *, dpi: int = 150) -> tuple[list[RenderedFigure], list[tuple[str, str]]]:
    """Draw every supported figure and encode it as PNG; figures whose data do not fit are skipped."""
    rendered, skipped = [], []
    for spec in figure_specs(ds):
        try:
            ax = spec.draw(ds)
        except ReportDataError as err:
            skipped.append((spec.name, str(err)))
            continue
        buffer = io.BytesIO()
        ax.figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
        rendered.append(RenderedFigure(spec.name, spec.caption, ax.figure, buffer.getvalue()))
    return rendered, skipped


def _slug(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text).strip("_") or "param"


# --------------------------------------------------------------------------------------------- HTML
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:2rem auto;
max-width:1100px;padding:0 1rem;color:#222;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{padding:.2rem .6rem;border-bottom:1px solid #eee}th{background:#f6f6f6;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.meta td:first-child{color:#555}.note,.credit{color:#555;font-size:.85rem}
figure{margin:1.5rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9rem;color:#444}
"""


def html_report(ds, tables: list[Table], figures: list[RenderedFigure], skipped: list[tuple[str, str]]) -> str:
    """A self-contained HTML page: metadata, summary tables, embedded figures, data credit."""
    title = f"shockmodel report: {ds.attrs.get('scenario') or ds.attrs.get('sweep') or 'run'}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="credit">{html.escape(st.footer_text(ds))}</p>',
        "<h2>Run</h2>",
        _html_meta(ds),
        *(_html_table(t) for t in tables),
        "<h2>Figures</h2>",
        *(_html_figure(f) for f in figures),
        _html_skipped(skipped),
        "<h2>Data and licence</h2>",
        f'<p class="credit">{html.escape(str(ds.attrs.get("attribution") or "No attribution recorded."))}</p>',
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)


def _meta_rows(ds) -> list[tuple[str, str]]:
    return [(key, str(ds.attrs[key])) for key in META_KEYS if key in ds.attrs]


def _html_meta(ds) -> str:
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in _meta_rows(ds))
    return f'<table class="meta">{rows}</table>'


def _html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in (table.label_header, *table.columns))
    body = "".join(
        f"<tr><td>{html.escape(label)}</td>"
        + "".join(f'<td class="num">{format_number(v)}</td>' for v in values) + "</tr>"
        for label, values in table.rows
    )
    note = f"Units: {st.format_units(table.units)}; {table.note}." if table.units else f"{table.note}."
    return (f'<h2>{html.escape(table.title)}</h2><table class="summary"><thead><tr>{head}</tr></thead>'
            f'<tbody>{body}</tbody></table><p class="note">{html.escape(note)} VaR = quantile of the loss; '
            "ES = mean loss at or beyond VaR.</p>")


def _html_figure(fig: RenderedFigure) -> str:
    data = base64.b64encode(fig.png).decode("ascii")
    return (f'<figure id="{html.escape(fig.name)}"><img src="data:image/png;base64,{data}" '
            f'alt="{html.escape(fig.caption)}"><figcaption>{html.escape(fig.caption)}</figcaption></figure>')


def _html_skipped(skipped: list[tuple[str, str]]) -> str:
    if not skipped:
        return ""
    items = "".join(f"<li>{html.escape(n)}: {html.escape(r)}</li>" for n, r in skipped)
    return f'<p class="note">Skipped (the data do not support them):</p><ul class="note">{items}</ul>'


# ---------------------------------------------------------------------------------------------- PDF
ROWS_PER_PAGE = 24


def write_pdf(path: Path, ds, tables: list[Table], figures: list[RenderedFigure]) -> Path:
    """Summary page(s), then one figure per page; PDF metadata without a creation date (reproducible)."""
    from matplotlib.backends.backend_pdf import PdfPages

    with _atomic(path) as tmp:
        meta = {"Title": f"shockmodel report {ds.attrs.get('run_id', '')}".strip(), "Creator": "shockmodel",
                "CreationDate": None}
        with PdfPages(tmp, metadata=meta) as pdf:
            for page in summary_pages(ds, tables):
                pdf.savefig(page)
            for fig in figures:
                pdf.savefig(fig.figure)
    return path


ROW_HEIGHT = 0.034   # axes fraction per table row on an A4-landscape page
TITLE_HEIGHT = 0.07  # table title and note
META_LINE = 0.016    # one line of run metadata
GAP = 0.05


def summary_pages(ds, tables: list[Table]) -> Iterator:
    """A4-landscape pages: run metadata, then the summary tables packed top to bottom; a table longer
    than a page continues on the next one."""
    fig, ax, top = _new_summary_page(ds, first=True)
    chunks = [(t, t.rows[i:i + ROWS_PER_PAGE]) for t in tables for i in range(0, len(t.rows), ROWS_PER_PAGE)]
    for table, rows in chunks:
        need = TITLE_HEIGHT + ROW_HEIGHT * (len(rows) + 1)
        if top - need < 0:
            yield fig
            fig, ax, top = _new_summary_page(ds, first=False)
        _draw_table(ax, table, rows, top)
        top -= need + GAP
    yield fig


@st.styled
def _new_summary_page(ds, *, first: bool):
    """An empty page (with the title and run metadata on the first); returns (figure, axes, free top)."""
    ax = st.new_axes(None, (11.69, 8.27))
    ax.axis("off")
    st.add_footer(ax, ds)
    if not first:
        return ax.figure, ax, 1.0
    ax.text(0, 1.0, f"shockmodel report: {ds.attrs.get('scenario') or ds.attrs.get('sweep') or 'run'}",
            fontsize=16, fontweight="bold", va="top", transform=ax.transAxes)
    meta = [f"{k}: {v}" for k, v in _meta_rows(ds) if not k.endswith("sha256")]
    ax.text(0, 0.94, "\n".join(meta), fontsize=8.5, va="top", family="monospace", transform=ax.transAxes)
    return ax.figure, ax, 0.94 - META_LINE * len(meta) - GAP


@st.styled
def _draw_table(ax, table: Table, rows, top: float) -> None:
    """A table with its title and note, its top edge at ``top`` (axes fraction)."""
    from matplotlib.table import Table as GridTable

    ax.text(0, top, table.title, fontsize=11, fontweight="bold", va="top", transform=ax.transAxes)
    note = f"Units: {st.format_units(table.units)}; {table.note}. VaR = quantile; ES = mean at or beyond VaR."
    ax.text(0, top - 0.035, note, fontsize=7.5, color="#555555", va="top", transform=ax.transAxes)

    header = [table.label_header, *table.columns]
    cells = [header, *([label, *(format_number(v) for v in values)] for label, values in rows)]
    height = ROW_HEIGHT * len(cells)
    grid = GridTable(ax, bbox=(0, top - TITLE_HEIGHT - height, 1, height))
    widths = [0.22] + [0.78 / len(table.columns)] * len(table.columns)
    for r, row in enumerate(cells):
        for c, text in enumerate(row):
            cell = grid.add_cell(r, c, widths[c], 1.0 / len(cells), text=text, loc="left" if c == 0 else "right",
                                 edgecolor="#dddddd", facecolor="#f2f2f2" if r == 0 else "white")
            if r == 0:
                cell.set_text_props(fontweight="bold")
    grid.auto_set_font_size(False)
    grid.set_fontsize(8)
    ax.add_table(grid)


# -------------------------------------------------------------------------------------------- files
@contextlib.contextmanager
def _atomic(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; move it over ``path`` only if the block succeeds."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _write_bytes(path: Path, data: bytes) -> Path:
    with _atomic(path) as tmp:
        tmp.write_bytes(data)
    return path
