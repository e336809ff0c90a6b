"""Report layer (L6): matplotlib figures and report files, imported lazily.

``from shockmodel.report import build_report, plot_exceedance`` works, but importing this package imports
neither matplotlib nor xarray; they load on first use of a name.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "build_report": "shockmodel.report.build",
    "plot_gdp_loss_distribution": "shockmodel.report.plots",
    "plot_exceedance": "shockmodel.report.plots",
    "plot_output_heatmap": "shockmodel.report.plots",
    "plot_trade_matrix": "shockmodel.report.plots",
    "plot_simultaneity_premium": "shockmodel.report.plots",
    "plot_premium_by_region": "shockmodel.report.plots",
    "plot_fan_chart": "shockmodel.report.plots",
    "plot_tornado": "shockmodel.report.plots",
    "plot_draw_distribution": "shockmodel.report.plots",
    "plot_loss_paths": "shockmodel.report.plots",
    "plot_premium_path": "shockmodel.report.plots",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
