"""Data access for the report layer: pick variables, scenarios and draws out of a result dataset.

Everything here reads an ``xarray.Dataset`` that follows docs/contracts.md section 3 and hands plain
numpy arrays to the figures. No matplotlib, no pandas.
"""

from __future__ import annotations

import numpy as np

from shockmodel.errors import ShockmodelError

COMBINED = "combined"
WORLD = "World"

#: Units of the contract's variables (docs/contracts.md section 3), used when a file lacks ``attrs["units"]``.
CONTRACT_UNITS = {
    "gdp_loss": "USD million (2011 prices)",
    "world_gdp_loss": "USD million (2011 prices)",
    "gdp_loss_pct": "percent of baseline value added",
    "world_gdp_loss_pct": "percent of baseline value added",
    "trade_loss_pct": "percent of baseline exports",
    "trade_loss": "USD million",
    "output_loss": "USD million",
    "output_loss_pct": "percent of baseline output",
    "gdp_loss_pct_summary": "percent",
    "world_gdp_loss_pct_summary": "percent",
    "simultaneity_premium_pct": "percentage points",
    "world_simultaneity_premium_pct": "percentage points",
    "price_change_pct": "percent",
    "equity_drawdown_pct": "percent",
}


class ReportDataError(ShockmodelError, ValueError):
    """The dataset lacks what a figure needs (a variable, a dimension, a label, enough values)."""


def has(ds, *names: str) -> bool:
    """True when every name is a variable or coordinate of ``ds``."""
    return all(name in ds.variables for name in names)


def require(ds, *names: str) -> None:
    """Raise :class:`ReportDataError` naming the variables ``ds`` lacks."""
    missing = [name for name in names if name not in ds.variables]
    if missing:
        raise ReportDataError(f"the dataset has no variable {', '.join(repr(m) for m in missing)}")


def units(ds, name: str) -> str:
    """A variable's unit in words (``attrs["units_description"]``, else ``attrs["units"]``), else the
    contract's unit, else ``""``."""
    attrs = ds[name].attrs if name in ds.variables else {}
    found = attrs.get("units_description") or attrs.get("units")
    return str(found) if found else CONTRACT_UNITS.get(name, "")


def labels(ds, dim: str) -> list[str]:
    """The labels along ``dim`` as strings."""
    return [str(v) for v in np.asarray(ds[dim].values).ravel()]


def combined(ds):
    """The combination of a run with variants (``attrs["combination"]``, else the variant called
    ``combined``, else the first), or ``ds`` unchanged when it has no ``scenario`` dimension."""
    if "scenario" not in ds.dims:
        return ds
    names = labels(ds, "scenario")
    name = str(ds.attrs.get("combination", COMBINED))
    return ds.isel(scenario=names.index(name) if name in names else 0)


def finite(values) -> np.ndarray:
    """A flat float array of the finite entries of ``values`` (non-converged draws may be NaN)."""
    flat = np.asarray(values, dtype=float).ravel()
    return flat[np.isfinite(flat)]


def series_by_label(ds, var: str, dim: str) -> dict[str, np.ndarray]:
    """Per label of ``dim``: the finite draws of ``var`` (dims ``draw`` and ``dim``, scenario resolved)."""
    require(ds, var)
    da = combined(ds)[var]
    if set(da.dims) != {"draw", dim}:
        raise ReportDataError(f"{var!r} has dims {da.dims}, expected ('draw', {dim!r})")
    table = np.asarray(da.transpose(dim, "draw").values, dtype=float)
    return {label: finite(row) for label, row in zip(labels(da, dim), table)}


def world_draws(ds, var: str = "world_gdp_loss_pct") -> np.ndarray:
    """The finite per-draw values of a world variable (dim ``draw``; scenario resolved to combined)."""
    require(ds, var)
    da = combined(ds)[var]
    if da.dims != ("draw",):
        raise ReportDataError(f"{var!r} has dims {da.dims}, expected ('draw',)")
    return finite(da.values)


def stat_matrix(ds, var: str, rows: str, cols: str, stat: str) -> np.ndarray:
    """A 2-D float matrix ``var[rows, cols]`` at ``stat`` (when the variable has a ``statistic`` dim, or
    ``stat`` in files written before the one statistic dimension)."""
    require(ds, var)
    da = combined(ds)[var]
    dim = next((d for d in ("statistic", "stat") if d in da.dims), None)
    if dim is not None:
        stats = labels(da, dim)
        if stat not in stats:
            raise ReportDataError(f"{var!r} has no statistic {stat!r}; choose one of {', '.join(stats)}")
        da = da.isel({dim: stats.index(stat)})
    if set(da.dims) != {rows, cols}:
        raise ReportDataError(f"{var!r} has dims {da.dims}, expected ({rows!r}, {cols!r})")
    return np.asarray(da.transpose(rows, cols).values, dtype=float)


def assumptions(ds) -> dict:
    """The resolved scenario (``attrs["scenario_resolved"]``, JSON written by the pipeline), or ``{}``."""
    import json

    text = ds.attrs.get("scenario_resolved")
    if not text:
        return {}
    try:
        found = json.loads(text)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def conditional(ds) -> bool:
    """True when the run's probabilities are conditional on the scenario occurring: every package has
    probability 1 (from the stored assumptions, else from ``occurred``: every package in every draw)."""
    packages = assumptions(ds).get("packages")
    if isinstance(packages, dict) and packages:
        return all(float(p.get("probability", 1.0)) >= 1.0 for p in packages.values())
    if "occurred" in ds.variables:
        return bool(np.all(np.asarray(ds["occurred"].values)))
    return True


def run_label(ds) -> str:
    """A short run identifier for captions."""
    return str(ds.attrs.get("run_id") or ds.attrs.get("sweep_id") or "unknown run")


#: Per-draw 0/1 flags the market channel stores beside a market variable: the flag's variable and what it
#: says in words (docs/model-markets.md).
MARKET_FLAGS = {"price_change_pct": ("price_at_bound", "at a historical price bound"),
                "equity_drawdown_pct": ("equity_closed", "closed to foreign holders")}


def flag_shares(ds, var: str, dim: str) -> tuple[str, dict[str, float]]:
    """(words, share of draws flagged per label) of the market flag that goes with ``var``, or
    ``("", {})`` when the dataset has none."""
    flag, words = MARKET_FLAGS.get(var, ("", ""))
    if not flag or flag not in ds.variables:
        return "", {}
    da = combined(ds)[flag]
    if set(da.dims) != {"draw", dim}:
        return "", {}
    table = np.asarray(da.transpose(dim, "draw").values, dtype=float)
    return words, {label: float(np.nanmean(row)) if row.size else 0.0 for label, row in zip(labels(da, dim), table)}

