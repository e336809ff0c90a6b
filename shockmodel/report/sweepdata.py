"""Read one-at-a-time series out of a sweep dataset (numpy only).

Two layouts are understood:

* **grid**: the result variable has one dimension per swept parameter whose coordinate holds the swept
  values, e.g. ``world_gdp_loss_pct(coordination, inventory_days, draw)``;
* **cell**: the result variable has a ``cell`` dimension and each swept parameter is a coordinate along
  ``cell``, e.g. ``world_gdp_loss_pct(cell, draw)`` with ``coordination(cell)``, ``inventory_days(cell)``.

A coordinate with a single value (e.g. the one base scenario of a sweep) is not a swept parameter.
A parameter's series varies that parameter while every other parameter is held at its *reference* value:
the coordinate's ``attrs["baseline"]`` when given, else (grid) the middle swept value or (cell) the value
shared by most cells, which is the baseline of a one-at-a-time design.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shockmodel.report._data import ReportDataError, combined, finite, require

#: Dimensions of result variables that are never swept parameters.
RESULT_DIMS = frozenset(
    {"draw", "scenario", "region", "sector", "exporter", "importer", "stat", "metric", "statistic", "package",
     "shock", "commodity", "index", "equity_index", "quantile", "return_period", "exceedance_probability"}
)


@dataclass(frozen=True)
class SweepSeries:
    """The draws of a world variable at each value of one swept parameter."""

    param: str
    values: np.ndarray            # swept values, in the sweep's order (sorted when numeric)
    draws: tuple[np.ndarray, ...]  # finite draws at each value
    reference: dict               # the values at which the other parameters were held


def swept_params(ds, var: str = "world_gdp_loss_pct") -> tuple[str, ...]:
    """Names of the swept parameters of ``var`` (empty for a single run)."""
    if var not in ds.variables:
        return ()
    da = combined(ds)[var]
    if "cell" in da.dims:
        names = [str(c) for c in ds.coords if ds[c].dims == ("cell",) and c != "cell"
                 and len(_unique(ds[c].values)) > 1]
        return tuple(names) or (("cell",) if da.sizes["cell"] > 1 else ())
    return tuple(str(d) for d in da.dims if d not in RESULT_DIMS and da.sizes[d] > 1)


def sweep_series(ds, param: str, var: str = "world_gdp_loss_pct") -> SweepSeries:
    """The one-at-a-time series of ``var`` along ``param`` (see the module docstring)."""
    require(ds, var)
    params = swept_params(ds, var)
    if param not in params:
        raise ReportDataError(f"{param!r} is not swept in {var!r}; swept: {', '.join(params) or 'nothing'}")
    if "cell" in ds[var].dims:
        return _cell_series(ds, param, var, params)
    return _grid_series(ds, param, var, params)


def reference_draws(ds, var: str = "world_gdp_loss_pct") -> np.ndarray | None:
    """Draws of ``var`` in the base cell, where every swept parameter is at its reference value
    (None if no cell is: e.g. a sampled design). Never pooled over cells."""
    params = swept_params(ds, var)
    if not params:
        return None
    da = _squeezed(combined(ds)[var], params)
    if "cell" in da.dims:
        mask = np.ones(da.sizes["cell"], dtype=bool)
        for param in params:
            values = _param_values(ds, param)
            ref = _reference(ds, param, values)
            mask &= np.array([_same(v, ref) for v in values])
        if not mask.any():
            return None
        return finite(da.isel(cell=int(np.flatnonzero(mask)[0])).values)
    for param in params:
        values = np.asarray(da[param].values)
        hits = np.flatnonzero([_same(v, _reference(ds, param, values)) for v in values])
        if not hits.size:
            return None
        da = da.isel({param: int(hits[0])})
    return finite(da.values)


def _squeezed(da, params: tuple[str, ...]):
    """``da`` without its unswept length-1 dimensions (a single base scenario, a single value)."""
    extra = [d for d in da.dims if d not in params and d not in RESULT_DIMS and d != "cell" and da.sizes[d] == 1]
    return da.isel({d: 0 for d in extra}, drop=True) if extra else da


def _grid_series(ds, param: str, var: str, params: tuple[str, ...]) -> SweepSeries:
    da = _squeezed(combined(ds)[var], params)
    reference = {}
    for other in params:
        if other != param:
            values = np.asarray(da[other].values)
            ref = _reference(ds, other, values)
            reference[other] = ref
            da = da.isel({other: _index_of(values, ref, other)})
    if set(da.dims) != {param, "draw"}:
        raise ReportDataError(f"{var!r} has dims {da.dims} after fixing the other parameters; "
                              f"expected ({param!r}, 'draw')")
    table = np.asarray(da.transpose(param, "draw").values, dtype=float)
    values = np.asarray(da[param].values)
    return _ordered(SweepSeries(param, values, tuple(finite(row) for row in table), reference))


def _cell_series(ds, param: str, var: str, params: tuple[str, ...]) -> SweepSeries:
    da = combined(ds)[var]
    if set(da.dims) != {"cell", "draw"}:
        raise ReportDataError(f"{var!r} has dims {da.dims}, expected ('cell', 'draw')")
    table = np.asarray(da.transpose("cell", "draw").values, dtype=float)
    mask = np.ones(da.sizes["cell"], dtype=bool)
    reference = {}
    for other in params:
        if other != param:
            values = _param_values(ds, other)
            reference[other] = _reference(ds, other, values)
            mask &= np.array([_same(v, reference[other]) for v in values])
    pvalues = _param_values(ds, param)
    if len(_unique(pvalues[mask])) < 2:  # not a one-at-a-time design: pool the cells
        mask[:], reference = True, {}
    values = _unique(pvalues[mask])
    draws = tuple(finite(table[mask & np.array([_same(v, u) for v in pvalues])]) for u in values)
    return _ordered(SweepSeries(param, values, draws, reference))


def _index_of(values: np.ndarray, ref, param: str) -> int:
    hits = np.flatnonzero([_same(v, ref) for v in values])
    if not hits.size:
        raise ReportDataError(f"reference value {ref!r} of {param!r} is not among its swept values")
    return int(hits[0])


def _param_values(ds, param: str) -> np.ndarray:
    if param == "cell" and "cell" not in ds.coords:
        return np.arange(ds.sizes["cell"])
    return np.asarray(ds[param].values)


def _reference(ds, param: str, values: np.ndarray):
    """The reference value of a parameter: ``attrs["baseline"]``, else the most common, else the middle."""
    if param in ds.variables and "baseline" in ds[param].attrs:
        return ds[param].attrs["baseline"]
    uniq = _unique(values)
    counts = [sum(_same(v, u) for v in values) for u in uniq]
    if max(counts) > 1 and counts.count(max(counts)) == 1:
        return uniq[int(np.argmax(counts))]
    return uniq[len(uniq) // 2]


def _unique(values: np.ndarray) -> np.ndarray:
    """Distinct values, sorted when numeric, in first-seen order otherwise."""
    values = np.asarray(values)
    if values.dtype.kind in "iuf":
        return np.unique(values)
    seen = dict.fromkeys(str(v) for v in values)
    return np.array(list(seen), dtype=object)


def _same(a, b) -> bool:
    """Equality that tolerates float round-off."""
    try:
        return bool(np.isclose(float(a), float(b), rtol=1e-9, atol=1e-12))
    except (TypeError, ValueError):
        return str(a) == str(b)


def _ordered(series: SweepSeries) -> SweepSeries:
    """Sort a series by its values when they are numeric."""
    if series.values.dtype.kind not in "iuf":
        return series
    order = np.argsort(series.values, kind="stable")
    return SweepSeries(series.param, series.values[order], tuple(series.draws[i] for i in order),
                       series.reference)
