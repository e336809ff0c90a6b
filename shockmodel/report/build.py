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
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from matplotlib.figure import Figure

from shockmodel.errors import UserError
from shockmodel.report import _style as st
from shockmodel.report import companions as comp
from shockmodel.report import document as doc
from shockmodel.report import plots
from shockmodel.report._data import ReportDataError, has
from shockmodel.report.document import Section, TextTable
from shockmodel.report.stats import (
    Table,
    gdp_summary_table,
    scenario_table,
    sweep_table,
)
from shockmodel.report.sweepdata import swept_params

FORMATS = ("html", "pdf")
DATA_FILE = "data.nc"
MARKET_VARIABLES = (("price_change_pct", "commodity"), ("equity_drawdown_pct", "equity_index"),
                    ("equity_drawdown_pct", "index"))


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
                 dpi: int = 150, sensitivity: str | Path | None = None, backtest: str | Path | None = None,
                 search_companions: bool = True) -> dict[str, Path]:
    """Write the report of the run or sweep folder ``source`` (or of a ``data.nc`` path).

    Returns the written paths: one key per figure name (its PNG), plus ``"html"`` and ``"pdf"`` when
    requested. ``out_dir`` defaults to ``<folder>/report``. ``sensitivity`` / ``backtest``: result folders
    of ``shockmodel sensitivity`` / ``shockmodel backtest`` to include; when not given, those beside the
    run are found (:mod:`shockmodel.report.companions`) unless ``search_companions`` is False.
    """
    formats = _check_formats(formats)
    data_path = _data_path(Path(source))
    out = Path(out_dir) if out_dir is not None else data_path.parent / "report"
    out.mkdir(parents=True, exist_ok=True)
    with _open(data_path) as ds:
        extra = comp.companions(data_path.parent, ds, sensitivity=sensitivity, backtest=backtest,
                                search=search_companions)
        tables, skipped_tables = summary_tables(ds)
        sections = doc.document(ds, tables, companion_sections(ds, extra))
        rendered, skipped = render_figures(ds, dpi=dpi, companions=extra)
        skipped = skipped_tables + skipped
        written = {fig.name: _write_bytes(out / f"{fig.name}.png", fig.png) for fig in rendered}
        if "html" in formats:
            written["html"] = _write_bytes(out / "report.html", html_report(ds, sections, rendered, skipped).encode())
        if "pdf" in formats:
            written["pdf"] = write_pdf(out / "report.pdf", ds, sections, rendered)
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
        if has(ds, plots.PREMIUM):
            for param in swept_params(ds, plots.PREMIUM):
                specs.append(FigureSpec(f"premium_fan_chart_{_slug(param)}", f"World simultaneity premium across "
                                        f"{param} (5/25/50/75/95 % quantiles over draws)",
                                        lambda d, p=param: plots.plot_fan_chart(d, p, var=plots.PREMIUM)))
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
        specs.append(FigureSpec("simultaneity_premium", "World simultaneity premium per draw: combined loss "
                                "minus the sum of the packages alone", plots.plot_simultaneity_premium))
        if has(ds, "simultaneity_premium_pct"):
            specs.append(FigureSpec("premium_by_region", "Simultaneity premium by region (percentage points of "
                                    "each region's value added)", plots.plot_premium_by_region))
    if has(ds, plots.WORLD_PATH_STATS):
        specs.append(FigureSpec("loss_paths", "Monthly GDP loss (dynamic model): the world and the most affected "
                                "regions, 5-95 % band of draws, median and mean", plots.plot_loss_paths))
    if "scenario" in ds.dims and has(ds, "world_simultaneity_premium_path_pct"):
        specs.append(FigureSpec("premium_path", "World simultaneity premium month by month (5-95 % band of "
                                "draws, median and mean)", plots.plot_premium_path))
    for var, dim in MARKET_VARIABLES:
        if has(ds, var) and dim in ds[var].dims:
            words = plots.short_name(ds, var)
            specs.append(FigureSpec(f"{var}_distribution", f"{words} by {dim.replace('_', ' ')}, distribution "
                                    "over draws; bounds and caps marked with the share of draws at them",
                                    lambda d, v=var, m=dim: plots.plot_draw_distribution(d, v, m)))
    return specs


def companion_sections(ds, extra: comp.Companions) -> list[Section]:
    """The sensitivity and validation sections of the companions present."""
    sections = []
    if extra.sensitivity is not None:
        sections.append(comp.sensitivity_section(extra.sensitivity, ds, extra.sensitivity_path))
    if extra.backtest is not None:
        sections.append(comp.validation_section(extra.backtest, extra.backtest_path))
    return sections


def companion_specs(extra: comp.Companions) -> list[FigureSpec]:
    specs = []
    if extra.sensitivity is not None:
        specs.append(FigureSpec("sensitivity", "Sobol indices of the world GDP loss: first and total order with "
                                "bootstrap intervals", lambda d: comp.sensitivity_figure(extra.sensitivity)))
    if extra.backtest is not None:
        specs.append(FigureSpec("validation_pit", "Backtests: PIT histogram of the forecasts of past events "
                                "(level bars: calibrated)", lambda d: comp.validation_figure(extra.backtest)))
    return specs


def render_figures(ds, *, dpi: int = 150, companions: comp.Companions | None = None
                   ) -> tuple[list[RenderedFigure], list[tuple[str, str]]]:
    """Draw every supported figure and encode it as PNG; figures whose data do not fit are skipped."""
    rendered, skipped = [], []
    for spec in figure_specs(ds) + companion_specs(companions or comp.Companions()):
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
h3{font-size:1rem;margin-bottom:.2rem}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
th,td{padding:.2rem .6rem;border-bottom:1px solid #eee;vertical-align:top}th{background:#f6f6f6;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums}
.note,.credit{color:#555;font-size:.85rem}
figure{margin:1.5rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.9rem;color:#444}
"""


def html_report(ds, sections: list[Section], figures: list[RenderedFigure], skipped: list[tuple[str, str]]) -> str:
    """A self-contained HTML page: the report's sections, then the embedded figures."""
    head = doc.title(ds)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(head)}</title><style>{CSS}</style></head><body>",
        f"<h1>{html.escape(head)}</h1>",
        f'<p class="credit">{html.escape(st.footer_text(ds))}</p>',
        *(_html_section(s) for s in sections if s.title != "Run details"),
        "<h2>Figures</h2>",
        *(_html_figure(f) for f in figures),
        _html_skipped(skipped),
        *(_html_section(s) for s in sections if s.title == "Run details"),
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)


def _html_section(section: Section) -> str:
    out = [f"<h2>{html.escape(section.title)}</h2>"]
    out += [f"<p>{html.escape(p)}</p>" for p in section.paragraphs]
    out += [_html_table(t) for t in section.tables]
    return "\n".join(out)


NUM = ' class="num"'


def _html_table(table: TextTable) -> str:
    numeric = table.numeric or (False,) * len(table.header)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.header)
    body = "".join(
        "<tr>" + "".join(f"<td{NUM if numeric[i] else ''}>{html.escape(c)}</td>" for i, c in enumerate(row))
        + "</tr>"
        for row in table.rows
    )
    note = f'<p class="note">{html.escape(table.note)}</p>' if table.note else ""
    return (f'<h3>{html.escape(table.title)}</h3><table class="summary"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>{note}")


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
def write_pdf(path: Path, ds, sections: list[Section], figures: list[RenderedFigure]) -> Path:
    """The sections as text pages, then one figure per page; PDF metadata without a creation date."""
    from matplotlib.backends.backend_pdf import PdfPages

    with _atomic(path) as tmp:
        meta = {"Title": f"shockmodel report {ds.attrs.get('run_id', '')}".strip(), "Creator": "shockmodel",
                "CreationDate": None}
        with PdfPages(tmp, metadata=meta) as pdf:
            for page in text_pages(ds, sections):
                pdf.savefig(page)
            for fig in figures:
                pdf.savefig(fig.figure)
    return path


PAGE = (11.69, 8.27)       # A4 landscape, inches
MARGIN = 0.55              # inches
TEXT_PT, TABLE_PT = 9.5, 7.8
CHAR_IN = 0.0078           # average width of one character per point of font size, inches (DejaVu Sans)
LINE = 1.45 / 72           # line height per point of font size, inches


class _Pages:
    """Lays text and tables out top to bottom on A4-landscape figures, starting a page when one is full."""

    def __init__(self, ds):
        self.ds, self.pages = ds, []
        self._new()

    def _new(self):
        fig = Figure(figsize=PAGE)
        self.pages.append(fig)
        self.fig, self.y, self.used = fig, PAGE[1] - MARGIN, False
        fig.text(MARGIN / PAGE[0], 0.25 / PAGE[1], st.footer_text(self.ds), fontsize=6.5, color="#555555",
                 gid=st.FOOTER_GID)
        fig.text(1 - MARGIN / PAGE[0], 0.25 / PAGE[1], f"page {len(self.pages)}", fontsize=6.5,
                 color="#555555", ha="right")

    def page_break(self):
        if self.used:
            self._new()

    def keep(self, height: float):
        """Start a new page unless ``height`` inches are left."""
        self._room(height)

    def _room(self, height: float):
        if self.y - height < MARGIN + 0.2:
            self._new()

    def text(self, text: str, size: float, *, weight="normal", color="#222222", indent: float = 0.0,
             gap: float = 0.08):
        width = PAGE[0] - 2 * MARGIN - indent
        lines = textwrap.wrap(text, max(20, int(width / (CHAR_IN * size)))) or [""]
        for line in lines:
            self._room(LINE * size)
            self.fig.text((MARGIN + indent) / PAGE[0], self.y / PAGE[1], line, fontsize=size, va="top",
                          fontweight=weight, color=color)
            self.y -= LINE * size
            self.used = True
        self.y -= gap

    def table(self, table: TextTable):
        self._room(LINE * 10.5 + 4 * LINE * TABLE_PT * 1.6)   # the title never sits alone at a page's foot
        self.text(table.title, 10.5, weight="bold", gap=0.04)
        widths = _column_widths(table, PAGE[0] - 2 * MARGIN)
        numeric = table.numeric or (False,) * len(table.header)
        for r, row in enumerate((table.header, *table.rows)):
            # wrap a little short of the column: long names of wide letters must not run into the next one
            cells = [wrap_cell(c, max(4, int((w - 0.12) / (1.15 * CHAR_IN * TABLE_PT)))) for c, w in zip(row, widths)]
            height = LINE * TABLE_PT * max(len(c) for c in cells) + 0.05
            self._room(height)
            x = MARGIN
            for c, (lines, w) in enumerate(zip(cells, widths)):
                right = numeric[c] if c < len(numeric) else False
                self.fig.text((x + (w - 0.08 if right else 0)) / PAGE[0], self.y / PAGE[1], "\n".join(lines),
                              fontsize=TABLE_PT, va="top", ha="right" if right else "left",
                              fontweight="bold" if r == 0 else "normal", linespacing=1.25)
                x += w
            self.y -= height
            self.fig.add_artist(_rule(self.y + 0.02))
            self.used = True
        if table.note:
            self.y -= 0.03
            self.text(table.note, 7.5, color="#555555")
        self.y -= 0.12


def wrap_cell(text: str, width: int) -> list[str]:
    """``text`` wrapped at spaces to ``width`` characters; a longer word (an identifier such as
    ``russia.west_energy_embargo``) breaks after a ``.`` or ``_``, mid-word only when it has neither."""
    lines = []
    for line in textwrap.wrap(text, width, break_long_words=False) or [""]:
        while len(line) > width:
            cut = max(line.rfind(".", 0, width), line.rfind("_", 0, width))
            cut = cut + 1 if cut > 0 else width
            lines.append(line[:cut])
            line = line[cut:]
        lines.append(line)
    return lines


def _rule(y: float):
    from matplotlib.lines import Line2D

    return Line2D([MARGIN / PAGE[0], 1 - MARGIN / PAGE[0]], [y / PAGE[1]] * 2, linewidth=0.4, color="#dddddd")


def _column_widths(table: TextTable, total: float) -> list[float]:
    """Column widths (inches) in proportion to their longest cell, numbers never wrapped."""
    longest = [max([len(table.header[c])] + [len(row[c]) for row in table.rows]) for c in range(len(table.header))]
    need = [min(n, 70) * 1.15 * CHAR_IN * TABLE_PT + 0.2 for n in longest]   # as wrapped in _Pages.table
    if sum(need) <= total:
        return [w * total / sum(need) for w in need]
    fixed = [(table.numeric[c] if c < len(table.numeric) else False) or longest[c] <= 18
             for c in range(len(need))]
    room = total - sum(w for w, f in zip(need, fixed) if f)
    flex = sum(w for w, f in zip(need, fixed) if not f)
    return [w if f else w * room / flex for w, f in zip(need, fixed)]


@st.styled
def text_pages(ds, sections: list[Section]) -> list:
    """The report's sections as A4-landscape figures (page 1: title and executive summary)."""
    pages = _Pages(ds)
    pages.text(doc.title(ds), 16, weight="bold", gap=0.12)
    for section in sections:
        if section.new_page:
            pages.page_break()
        pages.keep(1.4)   # a heading never sits alone at a page's foot
        pages.text(section.title, 13, weight="bold", gap=0.06)
        for paragraph in section.paragraphs:
            pages.text(paragraph, TEXT_PT)
        for table in section.tables:
            pages.table(table)
    return pages.pages


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
