"""Synthetic result datasets for the report tests (docs/contracts.md section 3).

The numbers are plausible, not modelled: two packages (``china_taiwan``, ``russia``) occur at random with
random severities, each region loses a region-specific share of value added, and the combined case carries
a simultaneity premium. Regions and sectors are those of the ``default`` table.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

REGIONS = ("TWN", "CHN", "RUS", "USA", "JPN", "KOR", "DEU", "EUR", "GBR", "IND", "BRA", "CAN", "MEX", "AUS",
           "TUR", "ROW")
SECTORS = ("AGR_FOOD", "MIN_ENERGY", "PETROLEUM", "CHEMICALS", "BASIC_METALS", "MACHINERY", "SEMICONDUCTORS",
           "OTHER_ELECTRONICS", "TRANSPORT_EQ", "OTHER_MANUF", "UTILITIES", "CONSTRUCTION", "TRADE_TRANSPORT",
           "FINANCE", "OTHER_SERVICES")
PACKAGES = ("china_taiwan", "russia")
SCENARIOS = ("combined", *PACKAGES)
STATS = ("mean", "p05", "p50", "p95")
METRICS = ("mean", "std", "p01", "p05", "p25", "p50", "p75", "p95", "p99", "VaR95", "VaR99", "ES95", "ES99")
COMMODITIES = ("BRENT", "NATGAS_EU", "WHEAT", "ALUMINIUM", "NICKEL")
INDICES = ("MSCI_WORLD", "TAIEX", "CSI300", "MOEX", "SOX")

ATTRIBUTION = (
    "WIOD 2013 release (Timmer et al. 2015), values taken from the `wiod` R data package (Quast & Reiter), "
    "converted by the shockmodel project. Licensed CC BY 4.0: attribution required. Timmer, M. P., "
    "Dietzenbacher, E., Los, B., Stehrer, R. and de Vries, G. J. (2015), Review of International Economics "
    "23: 575-605."
)
PCT_VA = "percent of baseline value added"
USD = "USD million (2011 prices)"

# Loss of value added (percent) at full severity of each package, per region (a made-up exposure profile).
EXPOSURE = {
    "china_taiwan": np.array([30, 8, 0.5, 1.2, 3.5, 5, 1.5, 1.0, 0.8, 0.9, 0.5, 0.6, 1.0, 1.2, 0.6, 1.0]),
    "russia": np.array([0.2, 0.8, 12, 0.3, 0.4, 0.5, 2.0, 1.8, 0.6, 0.4, 0.3, 0.2, 0.1, 0.2, 1.5, 0.7]),
}
PROBABILITY = {"china_taiwan": 0.7, "russia": 0.5}


def synthetic_run_dataset(draws: int = 200, seed: int = 0, with_variants: bool = False,
                          with_markets: bool = False) -> xr.Dataset:
    """A run dataset; ``with_variants`` adds the ``scenario`` dim (combined + each package alone) and the
    simultaneity premium; ``with_markets`` adds ``price_change_pct`` and ``equity_drawdown_pct``."""
    rng = np.random.default_rng(seed)
    base = _baseline(rng)
    shocks = _draw_shocks(rng, draws)
    pct = _scenario_losses(shocks)  # scenario -> (draw, region) percent
    names = SCENARIOS if with_variants else ("combined",)
    parts = [_scenario_variables(pct[name], base, rng) for name in names]
    if with_variants:
        ds = xr.concat(parts, dim=xr.DataArray(list(names), dims="scenario", name="scenario"),
                       data_vars="all", coords="minimal", compat="override", join="outer")
        ds = ds.merge(_premium_variables(pct, base))
    else:
        ds = parts[0]
    ds = ds.merge(_draw_variables(shocks, draws))
    if with_markets:
        ds = ds.merge(_market_variables(rng, shocks))
    ds.attrs = _run_attrs(draws, seed)
    return ds


def _baseline(rng) -> dict[str, np.ndarray]:
    """Baseline value added by region, output by region x sector, exports exporter x importer."""
    va = rng.uniform(2e5, 3e6, len(REGIONS))
    x = va[:, None] * rng.dirichlet(np.ones(len(SECTORS)), len(REGIONS)) * 1.9
    trade = rng.lognormal(9, 1.5, (len(REGIONS), len(REGIONS)))
    np.fill_diagonal(trade, 0.0)
    sensitivity = rng.uniform(0.3, 1.2, (len(REGIONS), len(SECTORS)))
    sensitivity[:, SECTORS.index("SEMICONDUCTORS")] *= 3.0
    sensitivity[:, SECTORS.index("OTHER_ELECTRONICS")] *= 2.0
    return {"va": va, "x": x, "trade": trade, "sensitivity": sensitivity}


def _draw_shocks(rng, draws: int) -> dict[str, np.ndarray]:
    occurred = rng.random((draws, len(PACKAGES))) < np.array([PROBABILITY[p] for p in PACKAGES])
    severity = rng.beta(4, 2, (draws, len(PACKAGES)))
    noise = rng.lognormal(0.0, 0.25, (draws, len(REGIONS)))
    return {"occurred": occurred, "severity": severity, "noise": noise,
            "duration": rng.uniform(3, 18, draws), "inventory": rng.uniform(5, 40, draws)}


def _scenario_losses(shocks) -> dict[str, np.ndarray]:
    """GDP loss (percent) per draw and region, for each package alone and combined."""
    alone = {
        p: (shocks["occurred"][:, k] * shocks["severity"][:, k])[:, None] * EXPOSURE[p] * shocks["noise"]
        for k, p in enumerate(PACKAGES)
    }
    both = shocks["occurred"].all(axis=1)[:, None]
    total = sum(alone.values())
    return {"combined": np.minimum(total * (1 + 0.18 * both), 100.0), **alone}


def _scenario_variables(pct: np.ndarray, base, rng) -> xr.Dataset:
    """The per-draw, stat and summary variables of one scenario."""
    gdp = pct / 100 * base["va"]
    world_pct = gdp.sum(axis=1) / base["va"].sum() * 100
    out_pct = np.minimum(pct[:, :, None] * base["sensitivity"][None], 100.0)
    exporter_share = np.minimum(pct * 1.6, 100.0) / 100
    trade = (exporter_share[:, :, None] + exporter_share[:, None, :]) / 2 * base["trade"]
    return xr.Dataset(
        {
            "gdp_loss": _var(("draw", "region"), gdp, USD, "Value-added (GDP) loss"),
            "gdp_loss_pct": _var(("draw", "region"), pct, PCT_VA, "Value-added (GDP) loss, percent"),
            "world_gdp_loss": _var(("draw",), gdp.sum(axis=1), USD, "World value-added loss"),
            "world_gdp_loss_pct": _var(("draw",), world_pct, PCT_VA, "World value-added loss, percent"),
            "trade_loss_pct": _var(("draw", "region"), exporter_share * 100, "percent of baseline exports",
                                   "Export loss, percent"),
            "trade_loss": _var(("exporter", "importer", "statistic"), _stats(trade), "USD million",
                               "Bilateral trade loss"),
            "output_loss": _var(("region", "sector", "statistic"), _stats(out_pct / 100 * base["x"]), USD,
                                "Gross output loss"),
            "output_loss_pct": _var(("region", "sector", "statistic"), _stats(out_pct), "percent of baseline output",
                                    "Gross output loss, percent"),
            "gdp_loss_pct_summary": _var(("statistic", "region"), _metrics(pct), "percent",
                                         "Summary of the GDP loss, percent"),
            "world_gdp_loss_pct_summary": _var(("statistic",), _metrics(world_pct), "percent",
                                               "Summary of the world GDP loss, percent"),
            "converged": _var(("draw",), np.ones(pct.shape[0], dtype=bool), "1", "Propagation converged"),
            "iterations": _var(("draw",), rng.integers(20, 60, pct.shape[0]), "1", "Fixed-point iterations"),
        },
        coords=_coords(),
    )


def _premium_variables(pct, base) -> xr.Dataset:
    premium = pct["combined"] - sum(pct[p] for p in PACKAGES)
    world = {k: (v / 100 * base["va"]).sum(axis=1) / base["va"].sum() * 100 for k, v in pct.items()}
    world_premium = world["combined"] - sum(world[p] for p in PACKAGES)
    return xr.Dataset({
        "simultaneity_premium_pct": _var(("draw", "region"), premium, "percentage points",
                                         "Simultaneity premium"),
        "world_simultaneity_premium_pct": _var(("draw",), world_premium, "percentage points",
                                               "World simultaneity premium"),
    }, coords={"region": list(REGIONS)})


def _draw_variables(shocks, draws: int) -> xr.Dataset:
    shock_names = ["china_taiwan.tw_exports", "russia.swift", "china_taiwan.duration", "russia.inventory"]
    severity = np.column_stack([shocks["severity"][:, 0], shocks["severity"][:, 1], shocks["duration"],
                                shocks["inventory"]])
    ds = xr.Dataset(
        {
            "occurred": _var(("draw", "package"), shocks["occurred"], "1", "Package occurred"),
            "severity": _var(("draw", "shock"), severity, "share, months or days (see shock_kind)",
                             "Sampled severity"),
        },
        coords={"draw": np.arange(draws), "package": list(PACKAGES), "shock": shock_names,
                "shock_kind": ("shock", ["trade_block", "payment_friction", "duration", "inventory"])},
    )
    return ds


def _market_variables(rng, shocks) -> xr.Dataset:
    intensity = (shocks["occurred"] * shocks["severity"]).sum(axis=1)[:, None]
    price = intensity * np.array([25, 60, 15, 20, 30]) + rng.normal(0, 5, (intensity.size, len(COMMODITIES)))
    drawdown = np.clip(intensity * np.array([12, 45, 25, 60, 35]) + rng.normal(0, 4, (intensity.size, 5)), 0, 100)
    return xr.Dataset({
        "price_change_pct": _var(("draw", "commodity"), price, "percent", "Commodity price change"),
        "equity_drawdown_pct": _var(("draw", "equity_index"), drawdown, "percent", "Equity index drawdown"),
    }, coords={"commodity": list(COMMODITIES), "equity_index": list(INDICES)})


def _coords() -> dict:
    return {"region": list(REGIONS), "sector": list(SECTORS), "exporter": list(REGIONS),
            "importer": list(REGIONS), "statistic": list(METRICS)}


def _var(dims, values, units: str, long_name: str) -> xr.DataArray:
    return xr.DataArray(np.asarray(values), dims=dims, attrs={"units": units, "long_name": long_name})


def _stats(per_draw: np.ndarray) -> np.ndarray:
    """mean, p05, p50, p95 over the leading draw axis on a trailing statistic axis (the other METRICS
    NaN, as the streamed statistics of a run)."""
    q = np.quantile(per_draw, [0.05, 0.5, 0.95], axis=0)
    out = np.full(per_draw.shape[1:] + (len(METRICS),), np.nan)
    for name, values in zip(STATS, (per_draw.mean(axis=0), q[0], q[1], q[2])):
        out[..., METRICS.index(name)] = values
    return out


def _metrics(x: np.ndarray) -> np.ndarray:
    """The contract's metrics over the leading draw axis (ES = mean at or beyond VaR)."""
    q = {p: np.quantile(x, p / 100, axis=0) for p in (1, 5, 25, 50, 75, 95, 99)}
    tails = [np.nanmean(np.where(x >= np.quantile(x, level, axis=0), x, np.nan), axis=0) for level in (0.95, 0.99)]
    return np.stack([x.mean(axis=0), x.std(axis=0), q[1], q[5], q[25], q[50], q[75], q[95], q[99],
                     q[95], q[99], tails[0], tails[1]])


def _run_attrs(draws: int, seed: int) -> dict:
    return {
        "run_id": "20250101T000000Z-synthetic-deadbeef",
        "scenario": "synthetic_two_crises",
        "table": "default",
        "table_sha256": "0" * 64,
        "scenario_sha256": "1" * 64,
        "seed": seed,
        "draws": draws,
        "model": "constrained",
        "chunk_size": 100,
        "horizon_months": 12.0,
        "shockmodel_version": "0.1.0",
        "created_utc": "2025-01-01T00:00:00Z",
        "attribution": ATTRIBUTION,
    }


# ------------------------------------------------------------------------------------------- sweeps
SWEEP = {
    "coordination": (np.array([-0.5, -0.2, 0.2, 0.5, 0.9]), ""),
    "inventory_days": (np.array([0.0, 5.0, 20.0, 40.0]), "days"),
    "severity_scale": (np.array([0.5, 1.0, 1.5]), ""),
}
REFERENCE = {"coordination": 0.2, "inventory_days": 20.0, "severity_scale": 1.0}


def synthetic_sweep_dataset(draws: int = 200, seed: int = 0, layout: str = "grid") -> xr.Dataset:
    """A sweep of three parameters with common random numbers.

    ``layout="grid"``: ``world_gdp_loss_pct(coordination, inventory_days, severity_scale, draw)``;
    ``layout="cell"``: a one-at-a-time design, ``world_gdp_loss_pct(cell, draw)`` with one coordinate per
    parameter along ``cell`` (the reference cell first).
    """
    rng = np.random.default_rng(seed)
    base = rng.gamma(2.0, 0.6, draws) * (rng.random(draws) < 0.8)
    if layout == "grid":
        grid = np.meshgrid(*(v for v, _ in SWEEP.values()), indexing="ij")
        loss = _sweep_loss(base, *(g[..., None] for g in grid))
        data = _var((*SWEEP, "draw"), loss, PCT_VA, "World value-added loss, percent")
        coords = {name: _param_coord(name, name) for name in SWEEP}
    elif layout == "cell":
        cells = _oat_cells()
        loss = _sweep_loss(base, *(np.array([c[n] for c in cells])[:, None] for n in SWEEP))
        data = _var(("cell", "draw"), loss, PCT_VA, "World value-added loss, percent")
        coords = {name: _param_coord(name, "cell", [c[name] for c in cells]) for name in SWEEP}
    else:
        raise ValueError(f"layout must be 'grid' or 'cell', not {layout!r}")
    ds = xr.Dataset({"world_gdp_loss_pct": data}, coords={**coords, "draw": np.arange(draws)})
    ds.attrs = {**_run_attrs(draws, seed), "run_id": "20250101T000000Z-sweep-cafebabe",
                "sweep": "synthetic_sweep"}
    return ds


def _sweep_loss(base, coordination, inventory_days, severity_scale):
    return base * severity_scale * (1 + 0.6 * coordination) * np.exp(-inventory_days / 50)


def _param_coord(name: str, dim: str, values=None) -> xr.DataArray:
    values = SWEEP[name][0] if values is None else values
    attrs = {"long_name": name.replace("_", " ")}
    if SWEEP[name][1]:
        attrs["units"] = SWEEP[name][1]
    return xr.DataArray(np.asarray(values, dtype=float), dims=dim, attrs=attrs)


def _oat_cells() -> list[dict[str, float]]:
    cells = [dict(REFERENCE)]
    for name, (values, _) in SWEEP.items():
        cells += [{**REFERENCE, name: float(v)} for v in values if v != REFERENCE[name]]
    return cells


PATH_STATS = ("mean", "std", "p05", "p50", "p95")


def with_paths(ds: xr.Dataset, months: int = 12, seed: int = 0) -> xr.Dataset:
    """``ds`` plus the dynamic model's monthly paths (aggregate._path_vars layout): per-draw
    ``gdp_loss_path_pct`` (draw, month, region) and ``world_gdp_loss_path_pct``, and their statistics by
    month (``*_stats`` with a ``path_stat`` dim). Each draw's loss rises to a peak and decays."""
    rng = np.random.default_rng(seed)
    n = ds.sizes["draw"]
    m = np.arange(1, months + 1)
    peak = rng.uniform(2, 6, n)[:, None]
    shape = np.exp(-((m[None, :] - peak) ** 2) / 8.0)                        # (draw, month)
    level = np.array([EXPOSURE["china_taiwan"][i] + EXPOSURE["russia"][i] for i in range(len(REGIONS))])
    path = shape[:, :, None] * level[None, None, :] * rng.lognormal(0, 0.3, (n, 1, len(REGIONS)))
    world = path.mean(axis=2)

    def stats(x):
        q = np.quantile(x, [0.05, 0.5, 0.95], axis=0)
        return np.stack([x.mean(axis=0), x.std(axis=0, ddof=1), q[0], q[1], q[2]], axis=-1)

    unit = "percent of baseline value added in the month"
    out = ds.copy()
    out = out.assign_coords(month=m, path_stat=list(PATH_STATS))
    out["gdp_loss_path_pct"] = _var(("draw", "month", "region"), path, unit, "value added lost in each month")
    out["world_gdp_loss_path_pct"] = _var(("draw", "month"), world, unit, "world value added lost in each month")
    out["gdp_loss_path_pct_stats"] = _var(("month", "region", "path_stat"), stats(path), unit, "path statistics")
    out["world_gdp_loss_path_pct_stats"] = _var(("month", "path_stat"), stats(world), unit, "world path statistics")
    out.attrs["model"] = "dynamic"
    return out
