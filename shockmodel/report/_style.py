"""House style of the report figures: fonts, colours, axis labels with units, the run/data footer.

Figures are bare :class:`matplotlib.figure.Figure` objects, never registered with pyplot: they need no
backend (``savefig`` renders PNG with Agg and PDF with the pdf backend), work headless, are freed when
dropped, and leave a notebook's own backend alone (nothing here calls ``matplotlib.use``). In a notebook,
show one with ``plot_exceedance(ds).figure``, or pass ``ax`` from ``plt.subplots()``.
"""

from __future__ import annotations

import functools
import re

import matplotlib as mpl
from matplotlib.figure import Figure

from shockmodel.report._data import run_label

#: The one colour map for losses.
LOSS_CMAP = "Reds"
#: Diverging map for signed quantities (gains in blue) when a loss matrix has negative entries.
SIGNED_CMAP = "RdBu_r"

RC = {
    "font.size": 9,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "grid.color": "#dddddd",
    "grid.linewidth": 0.6,
    "figure.dpi": 100,
    "savefig.dpi": 150,
}

FOOTER_GID = "shockmodel-footer"
FOOTER_INCHES = 0.34  # height reserved at the bottom of figures we create


def loss_colour(level: float) -> tuple[float, float, float, float]:
    """A colour of :data:`LOSS_CMAP` at ``level`` in [0, 1] (light to dark)."""
    return mpl.colormaps[LOSS_CMAP](level)


def colormap(name: str):
    """A registered colour map with missing cells (NaN, masked) drawn in light grey."""
    return mpl.colormaps[name].with_extremes(bad="#eeeeee")


#: Colours and markers of the risk measures drawn on distributions (greys, so they read on red boxes).
RISK_MARKERS = {
    "VaR95": {"marker": "v", "color": "#737373", "markersize": 6},
    "VaR99": {"marker": "v", "color": "#000000", "markersize": 6},
    "ES95": {"marker": "o", "color": "#000000", "markersize": 5, "markerfacecolor": "white"},
    "ES99": {"marker": "o", "color": "#000000", "markersize": 5},
}

#: Colours telling categories (regions) apart on line charts: the colour-blind-safe Okabe-Ito set.
#: Loss *magnitudes* always use :data:`LOSS_CMAP`; these only identify series.
SERIES_COLOURS = ("#D55E00", "#0072B2", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442")


def phrase(name: str) -> str:
    """A label name for use mid-sentence: ``World GDP loss`` -> ``world GDP loss`` (acronyms kept)."""
    if len(name) > 1 and name[0].isupper() and not name[1].isupper():
        return name[0].lower() + name[1:]
    return name


def styled(func):
    """Run a plotting function inside the report's rc context (fonts and spines read at creation)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with mpl.rc_context(RC):
            return func(*args, **kwargs)

    return wrapper


def new_axes(ax, figsize: tuple[float, float]):
    """``ax`` if given, else the axes of a new constrained-layout figure leaving room for the footer."""
    if ax is not None:
        return ax
    fig = Figure(figsize=figsize, layout="constrained")
    bottom = FOOTER_INCHES / figsize[1]
    fig.get_layout_engine().set(rect=(0, bottom, 1, 1 - bottom))
    return fig.add_subplot()


def format_units(text: str) -> str:
    """Short unit text: ``percent of baseline output`` -> ``% of baseline output``."""
    text = str(text).strip()
    return re.sub(r"^percent\b", "%", text)


def axis_label(name: str, unit: str = "") -> str:
    """``"GDP loss [% of baseline value added]"``; just the name when there is no unit."""
    unit = format_units(unit)
    return f"{name} [{unit}]" if unit else name


def short_attribution(text: str) -> str:
    """A one-line data credit from a dataset's ``attribution`` text.

    ``"WIOD 2013 release (Timmer et al. 2015), values taken from ..., CC BY 4.0"`` becomes
    ``"Data: WIOD 2013 release (Timmer et al. 2015), CC BY 4.0"``.
    """
    text = " ".join(str(text or "").split())
    if not text:
        return ""
    source = re.search(r"[A-Z][\w-]*\s+\d{4}\s+release(?:\s*\([^)]*\))?", text)
    head = source.group(0) if source else re.split(r"(?<=[.;])\s|,\s", text)[0].rstrip(".;")
    # "(Timmer, Dietzenbacher, Los, ... 2015, 'An Illustrated ...')" -> "(Timmer et al. 2015)"
    head = re.sub(r"\(([A-Z][\w'-]+)(?:,| and)[^()]*?(\d{4})[^()]*\)", r"(\1 et al. \2)", head)
    if len(head) > 70:
        head = head[:69].rstrip() + "…"
    licence = re.search(r"CC[ -]BY(?:[ -](?:SA|NC|ND))*[ -]\d\.\d", text)
    if licence and licence.group(0) not in head:
        head = f"{head}, {licence.group(0)}"
    if "Asian Development Bank" in text:  # nowcast tables: the ADB margins need their credit too
        head = f"{head}; Asian Development Bank KIDB (kidb.adb.org)"
    return f"Data: {head}"


def footer_text(ds) -> str:
    """``"Run <run_id> · Data: ... , CC BY 4.0"``."""
    credit = short_attribution(ds.attrs.get("attribution", ""))
    return "  ·  ".join(part for part in (f"Run {run_label(ds)}", credit) if part)


def add_footer(ax, ds) -> None:
    """Put the run id and data credit at the bottom left of the figure (once per figure)."""
    fig = ax.figure
    while getattr(fig, "figure", fig) is not fig:  # a SubFigure: climb to the root figure
        fig = fig.figure
    if any(t.get_gid() == FOOTER_GID for t in fig.texts):
        return
    fig.text(0.01, 0.008, wrap_footer(footer_text(ds), fig.get_figwidth()), ha="left", va="bottom",
             fontsize=FOOTER_PT, color="#555555", gid=FOOTER_GID, linespacing=1.15)


FOOTER_PT = 6.5
CHAR_INCHES = 0.0078 * 1.05   # average width of a DejaVu Sans character per point of size, with a margin


def wrap_footer(text: str, width_inches: float) -> str:
    """The footer on at most two lines that fit the figure's width (split at its "  ·  " separators, else
    at spaces), so no figure clips its data credit."""
    import textwrap

    limit = max(30, int(0.98 * width_inches / (CHAR_INCHES * FOOTER_PT)))
    if len(text) <= limit:
        return text
    parts = text.split("  ·  ")
    first = parts[0]
    rest = "  ·  ".join(parts[1:])
    if len(first) <= limit and len(rest) <= limit:
        return f"{first}\n{rest}"
    lines = textwrap.wrap(text, limit)
    return "\n".join(lines[:2]) + ("…" if len(lines) > 2 else "")


def compact_number(x: float) -> str:
    """Cell annotation: ``0.42``, ``3.1``, ``27``, ``1.2k``, ``35k``, ``1.4M``."""
    ax_ = abs(x)
    if ax_ >= 1e6:
        return f"{x / 1e6:.1f}M"
    if ax_ >= 1e4:
        return f"{x / 1e3:.0f}k"
    if ax_ >= 1e3:
        return f"{x / 1e3:.1f}k"
    if ax_ >= 10:
        return f"{x:.0f}"
    if ax_ >= 1:
        return f"{x:.1f}"
    return f"{x:.2f}"
