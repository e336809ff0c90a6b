"""The market channel (L4): two-sided commodity prices, discounted equity valuations, per Monte Carlo draw.

The engine (L3) propagates a scenario and hands the market hook (``pipeline.MarketHook``), per block of
draws, the output lost by every industry, the sampled severities, which packages are on, and the blocked
share of every pass class. This module turns them into

* ``price_change_pct`` (draw, commodity): the short-run price change of energy (gas by regional market),
  food, metals and chips; it may be negative (demand lost) or positive (supply withdrawn);
* ``equity_drawdown_pct`` (draw, index): the fall in value of the main equity index of each region for a
  foreign holder; negative values are gains;
* ``price_at_bound`` and ``equity_closed`` (0/1 per draw): whether a price sits at a historical bound and
  whether an index is closed to foreign holders by an explicit financial shock.

Parameters live in ``params/markets/<name>.toml`` (every number cited or marked "assumption"); they are
validated on load (:func:`load_market_params`, errors are one-line :class:`~shockmodel.errors.UserError`
naming file and field), resolved against a table (:func:`compile_market_params`) and a scenario
(:func:`compile_scenario_markets`), and sampled from the engine's uniforms with inverse CDFs
(:func:`sample_market_draws`), so every draw is reproducible from ``u`` alone. numpy and scipy only.

The equations are numbered as in docs/model-markets.md (M1-M12); in short:

**Prices** (M1-M6). For commodity ``c`` (table sectors ``S_c``, market regions ``G_c``: all regions for a
world market, a regional gas market otherwise), over the deliveries ``D0[i, m]`` (intermediate plus final
sales of industry ``i`` to buyer region ``m``)::

    supply lost at source   W_m = f sum_i (1 - cap_i) D0[i, m] + f sum_k u_k D0_k[m]     (capacity, blocked
                                                                                          flows not rerouted)
    demand lost             U_m = max(sum_j A_(s, j) dx_j + f (1 - dem_m) Y0_m,   f a_m M0_m)
    q_s = sum_{m in G} W_m / sum_{m in G} D0_m,  q_d = sum_{m in G} U_m / sum_{m in G} D0_m
    regional market         q <- (1 - a) q_G + a q_world          (limited LNG arbitrage, a sampled)
    strategic stocks        q_s <- max(0, q_s - r)                (r sampled, IEA collective action)
    P1 / P0 = ((1 - q_d) / (1 - q_s)) ** (1 / (e_d + e_s))       (clipped to historical bounds)

with ``cap`` the capacity multipliers and ``dem`` the final-demand multipliers of the draw, ``u_k`` the
blocked share of pass class ``k`` (after re-sourcing), ``f`` the horizon fraction, ``dx`` the output lost
(already horizon-scaled), ``a_m`` the share of buyer ``m``'s imports that are blocked from *every* supplier
(a blockaded importer leaves the world market) and ``M0_m`` its imports. Derivation: demand
``Q_d = (1 - q_d) P^(-e_d)``, supply ``Q_s = (1 - q_s) P^(e_s)``; clearing gives the formula. It is zero
at ``q_s = q_d = 0``, increasing in ``q_s``, decreasing in ``q_d`` (Kilian 2009, AER 99(3); Caldara,
Cavallo & Iacoviello 2019, JME 103; Baumeister & Hamilton 2019, AER 109(5)).

**Equity** (M7-M11), index ``i`` with sector loadings ``w_(r, s)`` and the rest ``w_other`` on GDP::

    revenue loss   F_i = sum w_(r, s) [1 - (1 + pi_(r, s)) (1 - o_(r, s))] + w_other g_i     (may be < 0)
    earnings loss  l_i = L_i F_i                                  (operating leverage L_i, sampled)
    PV loss        V_i = ey_i l_i / (1 + g + ey_i - phi_i (1 + g))   (Gordon growth, persistence phi_i)
    risk premium   d_i = h_w c + h_i p_i   (pp; one common factor c per draw, local premium p_i)
    value change   %dV_i = 100 (max(0, 1 - V_i) exp(-d_i / (100 ey_i)) - 1),   drawdown = -%dV_i
    closed         drawdown = max(drawdown, U_i) if an explicit financial shock closes the market

``o`` is the output-loss ratio, ``pi`` the revenue-weighted price change of the commodities the industry
sells, ``ey`` the earnings yield (so the equity duration is ``1 / ey``), ``h`` the hit ramps (GDP loss over
a threshold, capped at 1). Zero shock gives exactly zero; gains are allowed.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np
from scipy import special

from shockmodel import limits, sampling
from shockmodel.scenario import DIST_DEFAULTS, DIST_PARAMS, DISTRIBUTIONS, FINANCIAL_KINDS, Distribution
from shockmodel.errors import UserError
from shockmodel.paths import display_path, params_dir

if TYPE_CHECKING:  # the MRIO class is only needed for type hints; compile uses duck typing
    from shockmodel.mrio import MRIO

__all__ = [
    "DISTRIBUTIONS", "FINANCIAL_KINDS", "MarketParamsError", "MarketDistribution", "Commodity", "EquityIndex", "FeedbackParams",
    "MarketParams", "CompiledMarkets", "ScenarioMarkets", "MarketDraws", "markets_dir", "list_market_params",
    "load_market_params", "market_params_from_dict", "format_market_params", "n_market_uniforms",
    "market_uniform_layout", "compile_market_params", "compile_scenario_markets", "sample_market_draws",
    "withdrawn_shares", "price_change_pct", "commodity_prices", "revenue_lost", "equity_drawdown_pct", "cell_losses",
    "market_outcomes", "market_block", "block_prices",
]

# dist -> (required parameter names, optional parameter names with defaults): scenario's one table
_DIST_PARAMS: dict[str, tuple[tuple[str, ...], dict[str, float]]] = {
    d: (tuple(k for k in DIST_PARAMS[d] if k not in DIST_DEFAULTS.get(d, {})), dict(DIST_DEFAULTS.get(d, {})))
    for d in DISTRIBUTIONS
}


class MarketParamsError(UserError):
    """A market-parameter file that cannot be parsed, is invalid, or does not match the table."""


# ------------------------------------------------------------------------------------------------
# Distributions: the scenarios' type (scenario.Distribution: one parameter table, one support, one
# clipping rule), drawn by sampling.draw
# ------------------------------------------------------------------------------------------------
MarketDistribution = Distribution   #: the name market code and its tests read


def describe(d: Distribution) -> str:
    """Readable one-liner, e.g. ``lognormal(median 0.15, sigma 0.5) [p05 0.066, p50 0.15, p95 0.34]``."""
    p = d.params
    vals = list(p)
    if d.dist == "lognormal":
        vals[0] = math.exp(p[0])
    parts = [f"{n} {_g(v)}" for n, v in zip(DIST_PARAMS[d.dist], vals) if not (n == "high" and math.isinf(v))]
    if d.dist == "fixed":
        return _g(p[0])
    q = sampling.draw(d.dist, d.params, np.array([0.05, 0.5, 0.95]))
    return f"{d.dist}({', '.join(parts)}) [p05 {_g(q[0])}, p50 {_g(q[1])}, p95 {_g(q[2])}]"


def _g(x: float) -> str:
    return f"{x:.3g}"


# ------------------------------------------------------------------------------------------------
# Parameter dataclasses
# ------------------------------------------------------------------------------------------------
_ZERO = MarketDistribution("fixed", (0.0,))


@dataclass(frozen=True)
class Commodity:
    """One commodity whose price clears supply withdrawn at source against demand lost (module docstring).

    ``sectors``: table sectors or groups of its quantity signal; ``market``: the regions of a regional
    market (empty: the world market); ``arbitrage``: the share ``a`` of the world balance that reaches a
    regional market (LNG); ``elasticity`` |short-run demand elasticity| (> 0); ``supply_elasticity``
    (>= 0); ``stock_release``: strategic stocks released, as a share of the market's annual supply;
    ``max_price_change_pct`` / ``min_price_change_pct``: historical bounds (no upper bound when none is
    known); ``revenue_share``: share of the
    producing industries' revenue that this price moves (for equity earnings).
    """

    name: str
    sectors: tuple[str, ...]
    elasticity: MarketDistribution
    max_price_change_pct: float
    source: str
    supply_elasticity: MarketDistribution = _ZERO
    min_price_change_pct: float = -100.0
    market: tuple[str, ...] = ()
    arbitrage: MarketDistribution = _ZERO
    stock_release: MarketDistribution = _ZERO
    revenue_share: float = 0.0
    description: str = ""


@dataclass(frozen=True)
class EquityIndex:
    """The main equity index of one region (or a few, e.g. EURO STOXX 50 on EUR + DEU).

    ``sector_weights`` maps table sectors or groups to index weights in [0, 1] summing to at most 1; the
    rest follows the regions' value-added loss. ``operating_leverage`` (>= 0): % change in earnings per %
    change in revenue; ``earnings_persistence`` phi in [0, 1]: share of a year's earnings loss still there
    the next year; ``earnings_yield`` ey in (0, 1); ``local_risk_premium_pp``: extra risk premium in
    percentage points when the home region is hit; ``uninvestable_loss_pct``: a foreign holder's loss when
    an explicit financial shock closes the market.
    """

    key: str
    name: str
    regions: tuple[str, ...]
    sector_weights: Mapping[str, float]
    operating_leverage: MarketDistribution
    earnings_persistence: MarketDistribution
    earnings_yield: float
    local_risk_premium_pp: MarketDistribution
    uninvestable_loss_pct: MarketDistribution
    source: str
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "sector_weights", MappingProxyType(dict(self.sector_weights)))

    @property
    def region(self) -> str:
        return "+".join(self.regions)

    @property
    def other_weight(self) -> float:
        return max(0.0, 1.0 - sum(self.sector_weights.values()))

    def __hash__(self) -> int:
        return hash((self.key, self.name, self.regions, tuple(self.sector_weights.items()), self.earnings_yield))


@dataclass(frozen=True)
class FeedbackParams:
    """Second-round demand feedback (shockmodel.feedback): ``mpc`` marginal propensity to consume out of
    the region's income loss (Type-II closure); ``tot_pass`` share of a terms-of-trade income change that
    reaches spending; ``investment_semi_elasticity``: % fall of investment demand per percentage point of
    the common risk premium."""

    mpc: MarketDistribution = _ZERO
    tot_pass: MarketDistribution = _ZERO
    investment_semi_elasticity: MarketDistribution = _ZERO
    source: str = ""


@dataclass(frozen=True)
class MarketParams:
    """Validated market parameters of one file (see ``params/markets/default.toml``)."""

    commodities: tuple[Commodity, ...]
    indices: tuple[EquityIndex, ...]
    source_file: str
    name: str = ""
    description: str = ""
    source: str = ""
    common_risk_premium_pp: MarketDistribution = _ZERO
    risk_full_at_gdp_loss: float = 0.02
    risk_full_at_world_gdp_loss: float = 0.005
    earnings_growth: float = 0.04
    equity_source: str = ""
    feedback: FeedbackParams = field(default_factory=FeedbackParams)
    sha256: str = ""

    @property
    def commodity_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.commodities)

    @property
    def index_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.indices)


@dataclass(frozen=True, eq=False)
class CompiledMarkets:
    """Market parameters resolved against one table. ``C`` commodities, ``I`` indices, ``R`` regions,
    ``S`` sectors, ``n = R S``; ``Sc`` the distinct commodity sectors and ``cells = R Sc`` the (buyer region,
    commodity sector) cells where supply and demand are counted.

    csec : (Sc,) table sector of each commodity sector
    cell_market : (cells, C) 1 where the cell belongs to the commodity's market (its sector, its regions)
    cell_world : (cells, C) 1 where the cell holds the commodity's sector (any region)
    deliv0 : (cells,) baseline deliveries D0 into the buyer region (intermediate + final, all suppliers)
    imports0 : (cells,) the part of deliv0 from other regions
    K_cap : (n, cells) deliveries of industry i into the cell (capacity loss -> supply lost)
    K_der : (n, cells) input of the cell's sector per unit of output of buyer j in the cell's region
    K_fd : (n, cells) final demand of the cell, at the (buyer, product) position of final-demand shocks
    price_to_sector : (C, n) revenue share of commodity c in industry (r, s)'s sales
    sector_loading : (I, n); residual_loading, region_share : (I, R)
    """

    params: MarketParams
    table: str
    table_sha256: str
    regions: tuple[str, ...]
    sectors: tuple[str, ...]
    commodity_names: tuple[str, ...]
    index_names: tuple[str, ...]
    index_keys: tuple[str, ...]
    csec: np.ndarray
    cell_market: np.ndarray
    cell_world: np.ndarray
    regional: np.ndarray
    deliv0: np.ndarray
    imports0: np.ndarray
    K_cap: np.ndarray
    K_der: np.ndarray
    K_fd: np.ndarray
    log_bounds: np.ndarray
    price_to_sector: np.ndarray
    sector_loading: np.ndarray
    residual_loading: np.ndarray
    region_share: np.ndarray
    earnings_yield: np.ndarray
    va_share: np.ndarray
    va_ratio: np.ndarray
    region_onehot: np.ndarray
    x0: np.ndarray
    gdp0: np.ndarray
    A_eq: np.ndarray = None        # (n, I) F per unit of output lost: loadings / x0 + residual via value added
    V_gdp: np.ndarray = None       # (n, R) value added lost per unit of output lost, by region
    p_idx: np.ndarray = None       # industries whose revenue a commodity price moves
    p_map: np.ndarray = None       # (C, |p_idx|) revenue shares there
    p_load: np.ndarray = None      # (|p_idx|, I) their index loadings
    y_own: np.ndarray = None       # (cells,) final demand of the cell's commodity by the buyer region
    sampler: Any = None            # _ColumnSampler of the parameter columns

    def __post_init__(self) -> None:
        for k, v in self.__dict__.items():
            if isinstance(v, np.ndarray):
                v.setflags(write=False)
        if self.sampler is None:
            object.__setattr__(self, "sampler", _ColumnSampler.build(_column_dists(self.params)))

    @property
    def n_uniforms(self) -> int:
        return n_market_uniforms(self.params)


@dataclass(frozen=True, eq=False)
class ScenarioMarkets:
    """The scenario-specific arrays of the market channel (:func:`compile_scenario_markets`).

    cap_cols, fd_cols, fin_cols : shock columns of capacity, final-demand and financial shocks
    cap_mask : (K_cap, q) float 0/1 over the q commodity industries some capacity shock hits, K_cap (q, cells)
    their deliveries (rows of ``CompiledMarkets.K_cap``); fd_mask : (K_fd, cells) float 0/1, final-demand
    shocks on the (buyer, commodity) cells; fin_regions (K_fin, R)
    shock_pkg : (K,) package of every shock
    term_k, term_ps, term_inc : the factors ``1 - eff_k (1 - subst[pkg, s])`` of the commodity flow classes:
        shock column, (package, sector) pair and (terms, flow classes) incidence
    sub_cols, sub_inc : substitution shock columns and their (shocks, (package, sector) pairs) incidence
    K_blk : (flow classes, cells) baseline imports of each commodity flow class into the cell
    structure : the same incidences as CSR lists for the kernel (kernels.markets.CellStructure)
    arrays : every constant the block kernel reads (kernels.markets.MarketArrays), built once per plan
    class_fd : (K_fd, n_classes) 1 where a final-demand shock covers the class's buyer cell
    M_der : (n_classes, cells) demand for the cell's commodity lost per unit of w_c = 1 - pass_c dem_c: the
        demand-driven (Leontief) output lost, (L Yc)[:, c], times the buyers' input coefficients
    cut_idx : (cells, L) flow classes of the cell's suppliers (each at least 1% of its imports; padded by
        repetition); has_imports : (cells,) 1 where the cell has such suppliers
    """

    structure: Any
    arrays: Any
    class_fd: np.ndarray
    M_der: np.ndarray
    cap_cols: np.ndarray
    cap_mask: np.ndarray
    K_cap: np.ndarray
    fd_cols: np.ndarray
    fd_mask: np.ndarray
    fin_cols: np.ndarray
    fin_regions: np.ndarray
    shock_pkg: np.ndarray
    term_k: np.ndarray
    term_ps: np.ndarray
    term_inc: np.ndarray
    sub_cols: np.ndarray
    sub_inc: np.ndarray
    K_blk: np.ndarray
    cut_idx: np.ndarray
    has_imports: np.ndarray

    @property
    def n_financial(self) -> int:
        return len(self.fin_cols)


@dataclass(frozen=True, eq=False)
class MarketDraws:
    """Sampled market parameters for a batch of draws."""

    elasticity: np.ndarray             # (B, C) |demand elasticity|
    supply_elasticity: np.ndarray      # (B, C)
    arbitrage: np.ndarray              # (B, C)
    stock_release: np.ndarray          # (B, C)
    operating_leverage: np.ndarray     # (B, I)
    earnings_persistence: np.ndarray   # (B, I)
    local_risk_premium_pp: np.ndarray  # (B, I)
    uninvestable_loss_pct: np.ndarray  # (B, I)
    common_risk_premium_pp: np.ndarray  # (B,)
    mpc: np.ndarray                    # (B,)
    tot_pass: np.ndarray               # (B,)
    investment_semi_elasticity: np.ndarray  # (B,)
    financial_u: np.ndarray            # (B, K_fin) uniforms of the financial-shock events


# ------------------------------------------------------------------------------------------------
# Loading and validation
# ------------------------------------------------------------------------------------------------
def markets_dir() -> Path:
    """Folder of the shipped market-parameter files."""
    return params_dir() / "markets"


def list_market_params() -> dict[str, str]:
    """Shipped market-parameter files: name -> description."""
    out = {}
    for p in sorted(markets_dir().glob("*.toml")):
        try:
            with open(p, "rb") as f:
                out[p.stem] = str(tomllib.load(f).get("description", ""))
        except (OSError, tomllib.TOMLDecodeError):
            out[p.stem] = "(unreadable)"
    return out


def _resolve_file(name_or_path: str | os.PathLike) -> Path:
    key = str(name_or_path)
    shipped = markets_dir() / f"{key}.toml"
    if os.sep not in key and "/" not in key and not key.endswith(".toml"):
        if shipped.is_file():
            return shipped
        names = sorted(list_market_params())
        hint = limits.did_you_mean(key, names)
        raise MarketParamsError(
            f"unknown market parameters {key!r}{hint} (shipped: {', '.join(names) or 'none'}; "
            "or give a path to a .toml file)", file=key)
    path = Path(key).expanduser()
    if not path.exists():   # a pipe, device or directory is named as such when read (limits.read_input_file)
        raise MarketParamsError("no such file", file=key)
    return path


def load_market_params(name_or_path: str | os.PathLike = "default") -> MarketParams:
    """Load and validate market parameters by shipped name (``params/markets/NAME.toml``) or path.

    Raises :class:`MarketParamsError` (a :class:`~shockmodel.errors.UserError`: one line naming the file,
    the field and what was expected, with "did you mean" for unknown keys).
    """
    from shockmodel import limits

    path = _resolve_file(name_or_path)
    data = limits.load_toml(path, what="market-parameter file", error=MarketParamsError)
    return market_params_from_dict(data, source_file=str(path), default_name=path.stem)


class _Ctx:
    def __init__(self, file: str):
        self.file = file

    def fail(self, field_: str, msg: str):
        raise MarketParamsError(msg, file=self.file, field=field_ or None)


def _check_keys(d: Mapping, allowed: Sequence[str], required: Sequence[str], ctx: _Ctx, prefix: str) -> None:
    for k in d:
        if k not in allowed:
            ctx.fail(f"{prefix}{k}", f"unknown key {k!r}{limits.did_you_mean(k, allowed)} "
                                      f"(valid keys: {', '.join(allowed)})")
    for k in required:
        if k not in d:
            ctx.fail(f"{prefix}{k}", f"missing required key {k!r}")


def _table(v: Any, ctx: _Ctx, fld: str) -> Mapping:
    if not isinstance(v, Mapping):
        ctx.fail(fld, f"expected a table, got {type(v).__name__} {v!r}")
    return v


def _number(v: Any, ctx: _Ctx, fld: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
        ctx.fail(fld, f"expected a finite number, got {v!r}")
    return float(v)


def _string(v: Any, ctx: _Ctx, fld: str, *, required_nonempty: bool = True) -> str:
    if not isinstance(v, str) or (required_nonempty and not v.strip()):
        ctx.fail(fld, f"expected a non-empty string, got {v!r}")
    return " ".join(v.split())


def _strings(v: Any, ctx: _Ctx, fld: str) -> tuple[str, ...]:
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not v or not all(isinstance(s, str) and s.strip() for s in v):
        ctx.fail(fld, f"expected a label or a non-empty list of labels, got {v!r}")
    out = tuple(s.strip() for s in v)
    dup = sorted({s for s in out if out.count(s) > 1})
    if dup:
        ctx.fail(fld, f"duplicate labels {dup}")
    return out


def _distribution(v: Any, ctx: _Ctx, fld: str) -> MarketDistribution:
    """A number (fixed) or an inline table ``{ dist = "...", ... }`` -> validated distribution."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return MarketDistribution.fixed(_number(v, ctx, fld))
    if not isinstance(v, Mapping):
        ctx.fail(fld, f"expected a number or a distribution table like {{ dist = \"uniform\", low = 0.1, "
                      f"high = 0.3 }}, got {v!r}")
    if "dist" not in v:
        ctx.fail(f"{fld}.dist", f"missing 'dist' (one of {', '.join(DISTRIBUTIONS)})")
    dist = v["dist"]
    if dist not in _DIST_PARAMS:
        ctx.fail(f"{fld}.dist", f"unknown distribution {dist!r}{limits.did_you_mean(str(dist), DISTRIBUTIONS)} "
                                f"(valid: {', '.join(DISTRIBUTIONS)})")
    required, optional = _DIST_PARAMS[dist]
    _check_keys(v, ("dist", *required, *optional), required, ctx, f"{fld}.")
    p = {k: _number(v[k], ctx, f"{fld}.{k}") for k in required}
    for k, dflt in optional.items():  # defaults may be inf (lognormal high): not passed through _number
        p[k] = _number(v[k], ctx, f"{fld}.{k}") if k in v else dflt

    def need(cond: bool, sub: str, msg: str):
        if not cond:
            ctx.fail(f"{fld}.{sub}", msg)

    if dist == "fixed":
        params = (p["value"],)
    elif dist == "uniform":
        need(p["low"] <= p["high"], "high", f"needs low <= high, got low={p['low']}, high={p['high']}")
        params = (p["low"], p["high"])
    elif dist in ("triangular", "pert"):
        need(p["low"] < p["high"], "high", f"needs low < high, got low={p['low']}, high={p['high']}")
        need(p["low"] <= p["mode"] <= p["high"], "mode",
             f"needs low <= mode <= high, got {p['low']}, {p['mode']}, {p['high']}")
        params = (p["low"], p["mode"], p["high"])
        if dist == "pert":
            need(p["lambda"] > 0, "lambda", f"needs lambda > 0, got {p['lambda']}")
            params = (*params, p["lambda"])
    elif dist == "beta":
        need(p["a"] > 0, "a", f"needs a > 0, got {p['a']}")
        need(p["b"] > 0, "b", f"needs b > 0, got {p['b']}")
        need(p["low"] < p["high"], "high", f"needs low < high, got low={p['low']}, high={p['high']}")
        params = (p["a"], p["b"], p["low"], p["high"])
    elif dist == "lognormal":
        need(p["median"] > 0, "median", f"needs median > 0, got {p['median']}")
        need(p["sigma"] > 0, "sigma", f"needs sigma > 0, got {p['sigma']}")
        need(p["high"] > 0, "high", f"needs high > 0, got {p['high']}")
        params = (math.log(p["median"]), p["sigma"], p["high"])
    else:  # truncnormal
        need(p["sd"] > 0, "sd", f"needs sd > 0, got {p['sd']}")
        need(p["low"] < p["high"], "high", f"needs low < high, got low={p['low']}, high={p['high']}")
        params = (p["mean"], p["sd"], p["low"], p["high"])
    return MarketDistribution(dist, tuple(float(x) for x in params))


def _bounded(dist: MarketDistribution, ctx: _Ctx, fld: str, what: str, *, positive: bool = False,
             low: float | None = None, high: float | None = None) -> MarketDistribution:
    lo, hi = dist.support()
    if positive and not dist.strictly_positive:
        ctx.fail(fld, f"{what} must be > 0; this distribution reaches {_g(lo)}")
    if low is not None and lo < low:
        ctx.fail(fld, f"{what} must be >= {_g(low)}; this distribution reaches {_g(lo)}")
    if high is not None and hi > high:
        ctx.fail(fld, f"{what} must be <= {_g(high)}; this distribution reaches {_g(hi)}")
    return dist


_TOP_KEYS = ("name", "description", "source", "equity", "index_defaults", "commodities", "indices", "feedback")
_EQUITY_KEYS = ("common_risk_premium_pp", "risk_full_at_gdp_loss", "risk_full_at_world_gdp_loss",
                "earnings_growth", "source")
_INDEX_PARAM_KEYS = ("operating_leverage", "earnings_persistence", "earnings_yield", "local_risk_premium_pp",
                     "uninvestable_loss_pct")
_DEFAULTS_KEYS = (*_INDEX_PARAM_KEYS, "source")
_COMMODITY_KEYS = ("description", "sectors", "market", "arbitrage", "elasticity", "supply_elasticity",
                   "stock_release", "max_price_change_pct", "min_price_change_pct", "revenue_share", "source")
_INDEX_KEYS = ("name", "description", "region", "sector_weights", *_INDEX_PARAM_KEYS, "source")
_FEEDBACK_KEYS = ("mpc", "tot_pass", "investment_semi_elasticity", "source")


def _share(v: Any, ctx: _Ctx, fld: str, what: str) -> float:
    p = _number(v, ctx, fld)
    if not 0.0 <= p <= 1.0:
        ctx.fail(fld, f"{what} must be in [0, 1], got {v!r}")
    return p


def _index_param(key: str, v: Any, ctx: _Ctx, fld: str):
    if key == "earnings_yield":
        p = _number(v, ctx, fld)
        if not 0.0 < p < 1.0:
            ctx.fail(fld, f"earnings_yield must be in (0, 1) (earnings / price), got {v!r}")
        return p
    dist = _distribution(v, ctx, fld)
    if key == "operating_leverage":
        return _bounded(dist, ctx, fld, "operating leverage", low=0.0)
    if key == "earnings_persistence":
        return _bounded(dist, ctx, fld, "earnings persistence", low=0.0, high=1.0)
    if key == "local_risk_premium_pp":
        return _bounded(dist, ctx, fld, "risk premium (percentage points)", low=0.0, high=100.0)
    return _bounded(dist, ctx, fld, "uninvestable loss (percent)", low=0.0, high=100.0)


def _commodity(key: str, c: Mapping, ctx: _Ctx) -> Commodity:
    pre = f"commodities.{key}"
    _table(c, ctx, pre)
    _check_keys(c, _COMMODITY_KEYS, ("sectors", "elasticity", "source"), ctx, f"{pre}.")
    el = _bounded(_distribution(c["elasticity"], ctx, f"{pre}.elasticity"), ctx, f"{pre}.elasticity",
                  "the absolute short-run price elasticity of demand", positive=True)
    sel = _bounded(_distribution(c.get("supply_elasticity", 0.0), ctx, f"{pre}.supply_elasticity"), ctx,
                   f"{pre}.supply_elasticity", "the short-run supply elasticity", low=0.0)
    hi = _number(c["max_price_change_pct"], ctx, f"{pre}.max_price_change_pct") if "max_price_change_pct" in c \
        else math.inf   # no historical bound known: the demand curve alone limits the price
    if hi <= 0:
        ctx.fail(f"{pre}.max_price_change_pct", f"must be > 0 (percent), got {hi}")
    lo = _number(c.get("min_price_change_pct", -100.0), ctx, f"{pre}.min_price_change_pct")
    if not -100.0 <= lo < 0.0:
        ctx.fail(f"{pre}.min_price_change_pct", f"must be in [-100, 0) (percent), got {lo}")
    market = _strings(c["market"], ctx, f"{pre}.market") if "market" in c else ()
    if "arbitrage" in c and not market:
        ctx.fail(f"{pre}.arbitrage", "arbitrage applies to a regional market: give 'market' too")
    arb = _bounded(_distribution(c.get("arbitrage", 0.0), ctx, f"{pre}.arbitrage"), ctx, f"{pre}.arbitrage",
                   "the arbitrage share", low=0.0, high=1.0)
    rel = _bounded(_distribution(c.get("stock_release", 0.0), ctx, f"{pre}.stock_release"), ctx,
                   f"{pre}.stock_release", "the stock release (share of annual supply)", low=0.0, high=1.0)
    return Commodity(
        name=key, sectors=_strings(c["sectors"], ctx, f"{pre}.sectors"), elasticity=el, supply_elasticity=sel,
        max_price_change_pct=hi, min_price_change_pct=lo, market=market, arbitrage=arb, stock_release=rel,
        revenue_share=_share(c.get("revenue_share", 0.0), ctx, f"{pre}.revenue_share", "revenue_share"),
        source=_string(c["source"], ctx, f"{pre}.source"),
        description=_string(c.get("description", ""), ctx, f"{pre}.description", required_nonempty=False))


def _index(key: str, ix: Mapping, defaults: Mapping, ctx: _Ctx) -> EquityIndex:
    pre = f"indices.{key}"
    _table(ix, ctx, pre)
    _check_keys(ix, _INDEX_KEYS, ("region", "sector_weights", "source"), ctx, f"{pre}.")
    weights = {}
    for s, w in _table(ix["sector_weights"], ctx, f"{pre}.sector_weights").items():
        weights[s] = _share(w, ctx, f"{pre}.sector_weights.{s}", "a weight")
    total = sum(weights.values())
    if total > 1.0 + 1e-9:
        ctx.fail(f"{pre}.sector_weights", f"weights sum to {total:.4g} > 1 (the rest of the index, "
                                          "1 - sum, follows the region's GDP loss)")
    params = {}
    for k in _INDEX_PARAM_KEYS:
        if k in ix:
            params[k] = _index_param(k, ix[k], ctx, f"{pre}.{k}")
        elif k in defaults:
            params[k] = defaults[k]
        else:
            ctx.fail(f"{pre}.{k}", f"missing {k!r} (give it here or in [index_defaults])")
    return EquityIndex(
        key=key, name=_string(ix.get("name", key), ctx, f"{pre}.name"),
        regions=_strings(ix["region"], ctx, f"{pre}.region"), sector_weights=weights,
        source=_string(ix["source"], ctx, f"{pre}.source"),
        description=_string(ix.get("description", ""), ctx, f"{pre}.description", required_nonempty=False),
        **params)


def market_params_from_dict(data: Mapping, *, source_file: str = "<dict>",
                            default_name: str = "") -> MarketParams:
    """Validate a parsed TOML mapping (see ``params/markets/default.toml``) into :class:`MarketParams`."""
    ctx = _Ctx(source_file)
    _table(data, ctx, "")
    _check_keys(data, _TOP_KEYS, ("source",), ctx, "")
    name = _string(data.get("name", default_name or "markets"), ctx, "name")
    description = _string(data.get("description", ""), ctx, "description", required_nonempty=False)
    source = _string(data["source"], ctx, "source")

    equity = _table(data.get("equity", {}), ctx, "equity")
    _check_keys(equity, _EQUITY_KEYS, ("source",) if equity else (), ctx, "equity.")
    common = _bounded(_distribution(equity.get("common_risk_premium_pp", 0.0), ctx, "equity.common_risk_premium_pp"),
                      ctx, "equity.common_risk_premium_pp", "risk premium (percentage points)", low=0.0, high=100.0)
    full = {}
    for k, dflt in (("risk_full_at_gdp_loss", 0.02), ("risk_full_at_world_gdp_loss", 0.005)):
        full[k] = _number(equity.get(k, dflt), ctx, f"equity.{k}")
        if not 0.0 < full[k] <= 1.0:
            ctx.fail(f"equity.{k}", f"must be in (0, 1] (a share of GDP), got {full[k]}")
    growth = _number(equity.get("earnings_growth", 0.04), ctx, "equity.earnings_growth")
    if not -0.5 < growth < 0.5:
        ctx.fail("equity.earnings_growth", f"must be a yearly growth rate in (-0.5, 0.5), got {growth}")
    equity_source = _string(equity["source"], ctx, "equity.source") if "source" in equity else ""

    defaults_raw = _table(data.get("index_defaults", {}), ctx, "index_defaults")
    _check_keys(defaults_raw, _DEFAULTS_KEYS, ("source",) if defaults_raw else (), ctx, "index_defaults.")
    defaults = {k: _index_param(k, defaults_raw[k], ctx, f"index_defaults.{k}")
                for k in _INDEX_PARAM_KEYS if k in defaults_raw}
    defaults_source = _string(defaults_raw["source"], ctx, "index_defaults.source") if defaults_raw else ""

    commodities = [_commodity(k, c, ctx) for k, c in _table(data.get("commodities", {}), ctx, "commodities").items()]
    indices = [_index(k, ix, defaults, ctx) for k, ix in _table(data.get("indices", {}), ctx, "indices").items()]
    names = [i.name for i in indices]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        ctx.fail("indices", f"duplicate index names {dup}")

    fb = _table(data.get("feedback", {}), ctx, "feedback")
    _check_keys(fb, _FEEDBACK_KEYS, ("source",) if fb else (), ctx, "feedback.")
    feedback = FeedbackParams(
        mpc=_bounded(_distribution(fb.get("mpc", 0.0), ctx, "feedback.mpc"), ctx, "feedback.mpc",
                     "the marginal propensity to consume", low=0.0, high=1.0),
        tot_pass=_bounded(_distribution(fb.get("tot_pass", 0.0), ctx, "feedback.tot_pass"), ctx,
                          "feedback.tot_pass", "the terms-of-trade pass-through", low=0.0, high=1.0),
        investment_semi_elasticity=_bounded(
            _distribution(fb.get("investment_semi_elasticity", 0.0), ctx, "feedback.investment_semi_elasticity"),
            ctx, "feedback.investment_semi_elasticity", "the investment semi-elasticity (% per pp)", low=0.0),
        source=_string(fb["source"], ctx, "feedback.source") if fb else "")

    canon = json.dumps(data, sort_keys=True, default=str).encode()
    return MarketParams(
        commodities=tuple(commodities), indices=tuple(indices), source_file=source_file, name=name,
        description=description, source=source, common_risk_premium_pp=common,
        risk_full_at_gdp_loss=full["risk_full_at_gdp_loss"],
        risk_full_at_world_gdp_loss=full["risk_full_at_world_gdp_loss"], earnings_growth=growth,
        equity_source="; ".join(f"{lab}: {s}" for lab, s in (("equity", equity_source),
                                ("index defaults", defaults_source)) if s),
        feedback=feedback, sha256=hashlib.sha256(canon).hexdigest())


# ------------------------------------------------------------------------------------------------
# Display
# ------------------------------------------------------------------------------------------------
def format_market_params(params: MarketParams) -> str:
    """Readable view with every number and its source (the ``markets show`` command prints this)."""
    lines = [f"Market parameters {params.name!r} ({display_path(params.source_file)})"]
    if params.description:
        lines.append(f"  {params.description}")
    lines.append(f"  source: {params.source}")
    lines.append("")
    lines.append(f"Commodities ({len(params.commodities)}): P1/P0 = ((1 - q_d) / (1 - q_s))^(1/(e_d + e_s)), "
                 "q_s = supply withdrawn at source, q_d = demand lost (docs/model-markets.md, M1-M6)")
    for c in params.commodities:
        where = f"regional market {', '.join(c.market)}" if c.market else "world market"
        lines.append(f"  {c.name}: sectors {', '.join(c.sectors)}; {where}" + (f" ({c.description})" if c.description else ""))
        lines.append(f"    demand elasticity |e_d|: {describe(c.elasticity)}")
        lines.append(f"    supply elasticity e_s:   {describe(c.supply_elasticity)}")
        if c.market:
            lines.append(f"    arbitrage a:             {describe(c.arbitrage)}")
        if c.stock_release != _ZERO:
            lines.append(f"    stock release r:         {describe(c.stock_release)}")
        lines.append(f"    bounds: {c.min_price_change_pct:+,.4g}% .. "
                     f"{'none' if math.isinf(c.max_price_change_pct) else f'+{c.max_price_change_pct:,.4g}%'}; "
                     f"revenue share in its sectors {_g(c.revenue_share)}")
        lines.append(f"    source: {c.source}")
    lines.append("")
    lines.append(f"Equity indices ({len(params.indices)}): %dV = 100 (max(0, 1 - ey L F / (1 + g + ey - phi (1 + g))) "
                 "exp(-(h_w c + h_i p) / (100 ey)) - 1), drawdown = -%dV (M7-M11)")
    lines.append(f"  common risk premium c (pp): {describe(params.common_risk_premium_pp)}; full at world GDP "
                 f"loss {_g(params.risk_full_at_world_gdp_loss)}, local at region GDP loss "
                 f"{_g(params.risk_full_at_gdp_loss)}; earnings growth g {_g(params.earnings_growth)}")
    if params.equity_source:
        lines.append(f"  source: {params.equity_source}")
    for ix in params.indices:
        lines.append(f"  {ix.name} [{ix.key}]: region {ix.region}" + (f" ({ix.description})" if ix.description else ""))
        w = ", ".join(f"{k} {_g(v)}" for k, v in ix.sector_weights.items())
        lines.append(f"    weights: {w}{', ' if w else ''}other (GDP loss) {_g(ix.other_weight)}")
        lines.append(f"    earnings yield ey: {_g(ix.earnings_yield)} (duration {_g(1 / ix.earnings_yield)} years)")
        lines.append(f"    operating leverage L: {describe(ix.operating_leverage)}")
        lines.append(f"    earnings persistence phi: {describe(ix.earnings_persistence)}")
        lines.append(f"    local risk premium p (pp): {describe(ix.local_risk_premium_pp)}")
        lines.append(f"    foreign holder's loss when closed by a financial shock (%): {describe(ix.uninvestable_loss_pct)}")
        lines.append(f"    source: {ix.source}")
    fb = params.feedback
    lines.append("")
    lines.append("Feedback to demand (shockmodel.feedback: a second round for the static models, inside the steps "
                 "for dynamic, D16-D18; off unless `run --feedback`):")
    lines.append(f"  income: marginal propensity to consume mpc: {describe(fb.mpc)}")
    lines.append(f"  prices: terms-of-trade pass-through to spending: {describe(fb.tot_pass)}")
    lines.append(f"  uncertainty: investment semi-elasticity (% per pp of risk premium): "
                 f"{describe(fb.investment_semi_elasticity)}")
    if fb.source:
        lines.append(f"  source: {fb.source}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# Compilation against a table and a scenario
# ------------------------------------------------------------------------------------------------
_LAYOUT_SIZES = (("elasticity", "C"), ("supply_elasticity", "C"), ("arbitrage", "C"), ("stock_release", "C"),
                 ("operating_leverage", "I"), ("earnings_persistence", "I"), ("local_risk_premium_pp", "I"),
                 ("uninvestable_loss_pct", "I"), ("common_risk_premium_pp", 1), ("mpc", 1), ("tot_pass", 1),
                 ("investment_semi_elasticity", 1), ("financial", "F"))


def n_market_uniforms(params: MarketParams | CompiledMarkets, n_financial: int = 0) -> int:
    """How many U(0, 1) numbers one draw needs: ``4 C + 4 I + 4 + F`` (F financial shocks)."""
    if isinstance(params, CompiledMarkets):
        params = params.params
    return 4 * len(params.commodities) + 4 * len(params.indices) + 4 + int(n_financial)


def market_uniform_layout(params: MarketParams | CompiledMarkets, n_financial: int = 0) -> dict[str, slice]:
    """Column slices of ``u`` in the order of ``_LAYOUT_SIZES``."""
    if isinstance(params, CompiledMarkets):
        params = params.params
    size = {"C": len(params.commodities), "I": len(params.indices), "F": int(n_financial)}
    out, start = {}, 0
    for name_, n in _LAYOUT_SIZES:
        k = size.get(n, n) if isinstance(n, str) else n
        out[name_] = slice(start, start + k)
        start += k
    return out


def _resolve(names: Sequence[str], labels: Sequence[str], groups: Mapping[str, Sequence[str]],
             ctx: _Ctx, fld: str, kind: str) -> list[int]:
    index = {lab: i for i, lab in enumerate(labels)}
    out: list[int] = []
    for n in names:
        if n in index:
            members = [n]
        elif n in groups:
            members = list(groups[n])
        elif n == "ALL":
            members = list(labels)
        else:
            valid = [*labels, *groups]
            ctx.fail(fld, f"unknown {kind} {n!r}{limits.did_you_mean(n, valid)} (the table has {kind}s "
                          f"{', '.join(labels[:20])}{', ...' if len(labels) > 20 else ''}"
                          f"{'; groups ' + ', '.join(groups) if groups else ''})")
        for m in members:
            if m not in index:
                ctx.fail(fld, f"{kind} group {n!r} names {m!r}, which is not in the table")
            if index[m] not in out:
                out.append(index[m])
    return out


def _shares(values: np.ndarray) -> np.ndarray:
    """Non-negative shares summing to 1 (equal shares when the values sum to zero)."""
    v = np.clip(np.asarray(values, dtype=np.float64), 0.0, None)
    tot = v.sum()
    return v / tot if tot > 0 else np.full(v.shape, 1.0 / v.size)


def compile_market_params(params: MarketParams, mrio: "MRIO") -> CompiledMarkets:
    """Resolve sector and region names against a table (labels, then built-in groups) into the arrays of
    :class:`CompiledMarkets`. Raises :class:`MarketParamsError` naming the field."""
    ctx = _Ctx(params.source_file)
    R, S = mrio.n_regions, mrio.n_sectors
    n = R * S
    regions, sectors = tuple(mrio.regions), tuple(mrio.sectors)
    rgroups, sgroups = dict(mrio.region_groups), dict(mrio.sector_groups)
    x0 = np.asarray(mrio.x, dtype=np.float64)
    va0 = np.asarray(mrio.gdp, dtype=np.float64)
    Z = np.asarray(mrio.Z, dtype=np.float64)
    Ypos = np.clip(np.asarray(mrio.Y, dtype=np.float64), 0.0, None)
    D0 = Z.reshape(n, R, S).sum(axis=2) + Ypos                                   # (n, R) deliveries
    A = np.asarray(mrio.A, dtype=np.float64)

    C, I = len(params.commodities), len(params.indices)
    c_sectors, c_regions = [], []
    for c in params.commodities:
        c_sectors.append(_resolve(c.sectors, sectors, sgroups, ctx, f"commodities.{c.name}.sectors", "sector"))
        c_regions.append(_resolve(c.market, regions, rgroups, ctx, f"commodities.{c.name}.market", "region")
                         if c.market else list(range(R)))
    csec = np.array(sorted({s for ss in c_sectors for s in ss}), dtype=np.int64)
    Sc = len(csec)
    k_of = {int(s): k for k, s in enumerate(csec)}
    cells = R * Sc
    cell_market, cell_world = np.zeros((cells, C)), np.zeros((cells, C))
    price_to_sector = np.zeros((C, n))
    for ci, c in enumerate(params.commodities):
        for s in c_sectors[ci]:
            cell_world[np.arange(R) * Sc + k_of[s], ci] = 1.0
            for m in c_regions[ci]:
                cell_market[m * Sc + k_of[s], ci] = 1.0
                price_to_sector[ci, m * S + s] = c.revenue_share
    deliv0, imports0 = np.zeros(cells), np.zeros(cells)
    K_cap, K_der, K_fd = np.zeros((n, cells)), np.zeros((n, cells)), np.zeros((n, cells))
    Asec = A.reshape(R, S, n).sum(axis=0)                                      # (S, n) input s per unit of j
    for m in range(R):
        for k, s in enumerate(csec):
            cell = m * Sc + k
            rows = np.arange(R) * S + s
            deliv0[cell] = D0[rows, m].sum()
            imports0[cell] = deliv0[cell] - D0[m * S + s, m]
            K_cap[rows, cell] = D0[rows, m]
            K_der[m * S:(m + 1) * S, cell] = Asec[s, m * S:(m + 1) * S]
            K_fd[m * S + s, cell] = Ypos[rows, m].sum()

    sector_loading = np.zeros((I, n))
    residual_loading, region_share = np.zeros((I, R)), np.zeros((I, R))
    for i, ix in enumerate(params.indices):
        r_idx = _resolve(ix.regions, regions, rgroups, ctx, f"indices.{ix.key}.region", "region")
        region_share[i, r_idx] = _shares(va0[r_idx])
        residual_loading[i] = ix.other_weight * region_share[i]
        sl = sector_loading[i].reshape(R, S)
        for key, w in ix.sector_weights.items():
            s_idx = _resolve([key], sectors, sgroups, ctx, f"indices.{ix.key}.sector_weights.{key}", "sector")
            block = x0.reshape(R, S)[np.ix_(r_idx, s_idx)]
            sl[np.ix_(r_idx, s_idx)] += w * _shares(block.ravel()).reshape(block.shape)

    with np.errstate(divide="ignore"):
        log_bounds = np.log1p(np.array([[c.min_price_change_pct for c in params.commodities],
                                        [c.max_price_change_pct for c in params.commodities]]) / 100.0)
    return CompiledMarkets(
        params=params, table=str(mrio.name), table_sha256=str(getattr(mrio, "sha256", "")),
        regions=regions, sectors=sectors, commodity_names=params.commodity_names,
        index_names=params.index_names, index_keys=tuple(ix.key for ix in params.indices),
        csec=csec, cell_market=cell_market, cell_world=cell_world,
        regional=np.array([bool(c.market) for c in params.commodities]), deliv0=deliv0, imports0=imports0,
        K_cap=K_cap, K_der=K_der, K_fd=K_fd, log_bounds=log_bounds.reshape(2, C),
        price_to_sector=price_to_sector, sector_loading=sector_loading, residual_loading=residual_loading,
        region_share=region_share,
        earnings_yield=np.array([ix.earnings_yield for ix in params.indices], dtype=np.float64),
        va_share=region_share, va_ratio=np.divide(np.asarray(mrio.v, float), x0, out=np.zeros(n), where=x0 > 0),
        region_onehot=np.repeat(np.eye(R), S, axis=0), x0=x0, gdp0=va0, **_equity_maps(
            x0, va0, np.asarray(mrio.v, float), sector_loading, residual_loading, price_to_sector, K_fd, R, S))


def _equity_maps(x0, va0, v0, sector_loading, residual_loading, price_to_sector, K_fd, R, S) -> dict:
    """The products of :func:`revenue_lost` folded into a few small matrices (one GEMM per block)."""
    inv_x = np.divide(1.0, x0, out=np.zeros_like(x0), where=x0 > 0)
    V_gdp = np.divide(v0, x0, out=np.zeros_like(x0), where=x0 > 0)[:, None] * np.repeat(np.eye(R), S, axis=0)
    inv_g = np.divide(1.0, va0, out=np.zeros_like(va0), where=va0 > 0)
    A_eq = (sector_loading * inv_x[None, :]).T + (V_gdp * inv_g[None, :]) @ residual_loading.T
    p_idx = np.flatnonzero(np.abs(price_to_sector).sum(axis=0) > 0)
    return {"A_eq": A_eq, "V_gdp": V_gdp, "p_idx": p_idx, "p_map": price_to_sector[:, p_idx],
            "p_load": sector_loading[:, p_idx].T, "y_own": K_fd.sum(axis=0)}


def compile_scenario_markets(cm: CompiledMarkets, compiled, plan, L: np.ndarray) -> ScenarioMarkets:
    """The scenario-specific arrays (:class:`ScenarioMarkets`) of a compiled scenario and its engine plan
    (for the pass classes) on a table with Leontief inverse ``L``. Capacity and final-demand masks come from the compiled shocks; financial shocks
    (``financial_sanction``, ``capital_controls``) give the regions they close to foreign holders."""
    shocks = compiled.shocks
    R, S = len(cm.regions), len(cm.sectors)
    n = R * S
    Sc = len(cm.csec)
    cells = R * Sc

    def cols(kinds):
        return np.array([k for k, sh in enumerate(shocks) if sh.kind in kinds], dtype=np.int64)

    cap_cols, fd_cols, fin_cols = cols(("capacity",)), cols(("final_demand",)), cols(FINANCIAL_KINDS)
    cap_full = np.array([shocks[k].mask.reshape(-1) for k in cap_cols], dtype=np.float64).reshape(len(cap_cols), n)
    cap_cells = np.flatnonzero(cap_full.any(axis=0) & (np.abs(cm.K_cap).sum(axis=1) > 0))   # commodity industries hit
    cap_mask, K_cap = cap_full[:, cap_cells], cm.K_cap[cap_cells]
    fd_full = np.array([shocks[k].mask.reshape(-1) for k in fd_cols], dtype=np.float64).reshape(len(fd_cols), n)
    own = (np.arange(R)[:, None] * S + cm.csec[None, :]).reshape(-1)    # (buyer m, commodity sector) cells
    fd_mask = fd_full[:, own]
    fin_regions = np.array([shocks[k].mask for k in fin_cols], dtype=bool).reshape(len(fin_cols), R)
    cls = plan.classes
    # The commodity flows (exporter e -> buyer region m, sector s) grouped by the trade shocks covering them
    # and their sector: flow class c has pass_c = prod_k (1 - eff_k (1 - subst[pkg_k, s])) (as
    # kernels.propagate.build_pass); the flows no trade shock covers form classes with pass 1.
    trade_cols, trade_pkg = np.asarray(plan.trade_cols), np.asarray(plan.trade_pkg)
    sig_of: dict[int, list[int]] = {}
    for q in range(len(trade_cols)):
        for t in plan.trade_tri[plan.trade_ptr[q]:plan.trade_ptr[q + 1]]:
            sig_of.setdefault(int(t), []).append(q)
    Zsum, Ypos = plan.Zsum, plan.Ypos
    classes: dict[tuple, int] = {}
    blk_rows: list[np.ndarray] = []
    per_cell: list[list[int]] = [[] for _ in range(cells)]
    for k, s in enumerate(cm.csec):
        for m in range(R):
            cell = m * Sc + k
            for e in range(R):
                if e == m:
                    continue
                flow = Zsum[e * S + s, m] + Ypos[e * S + s, m]
                if flow <= 0:
                    continue
                t = int(plan.tri_of[e, m, s])
                key = (tuple(sig_of.get(t, ())), int(s))
                c = classes.get(key)
                if c is None:
                    c = classes[key] = len(classes)
                    blk_rows.append(np.zeros(cells))
                blk_rows[c][cell] += flow
                if flow >= 0.01 * cm.imports0[cell] and c not in per_cell[cell]:   # a supplier that counts
                    per_cell[cell].append(c)
    n_cls = len(classes)
    K_blk = np.array(blk_rows).reshape(n_cls, cells)
    ps_of: dict[tuple[int, int], int] = {}
    term_k, term_ps, term_cls = [], [], []
    for (sig, s), c in classes.items():
        for q in sig:
            ps = ps_of.setdefault((int(trade_pkg[q]), s), len(ps_of))
            term_k.append(int(trade_cols[q]))
            term_ps.append(ps)
            term_cls.append(c)
    term_inc = np.zeros((len(term_k), n_cls))
    term_inc[np.arange(len(term_k)), term_cls] = 1.0
    sub_cols = np.asarray(plan.subst_cols, dtype=np.int64)
    sub_inc = np.zeros((len(sub_cols), len(ps_of)))
    for j in range(len(sub_cols)):
        for (pkg, s), ps in ps_of.items():
            if int(plan.subst_pkg[j]) == pkg and bool(plan.subst_mask[j, s]):
                sub_inc[j, ps] = 1.0
    width = max([len(p) for p in per_cell] + [1])
    cut_idx = np.zeros((cells, width), dtype=np.int64)
    for cell, p in enumerate(per_cell):
        if p:
            cut_idx[cell] = (p * width)[:width]
    has_imports = np.array([1.0 if p else 0.0 for p in per_cell])
    class_fd = np.zeros((len(fd_cols), cls.n_classes))
    for c in range(cls.n_classes):
        class_fd[cls.cls_fd[cls.cls_fd_ptr[c]:cls.cls_fd_ptr[c + 1]], c] = 1.0
    M_der = (np.asarray(L, dtype=np.float64) @ cls.Yc).T @ cm.K_der          # (n_classes, cells)
    structure = _cell_structure(
        shock_pkg=np.array([sh.package for sh in shocks], dtype=np.int64), sub_cols=sub_cols, sub_inc=sub_inc,
        term_k=np.array(term_k, dtype=np.int64), term_ps=np.array(term_ps, dtype=np.int64), term_cls=term_cls,
        n_fc=n_cls, K_blk=K_blk, per_cell=per_cell, cut_val=has_imports * cm.imports0, cap_cols=cap_cols,
        cap_mask=cap_mask, K_cap=K_cap, fd_cols=fd_cols, fd_mask=fd_mask, y_own=cm.y_own, class_fd=class_fd)
    return ScenarioMarkets(
        structure=structure, arrays=_market_arrays(cm, M_der, fin_cols, fin_regions), class_fd=class_fd, M_der=M_der, term_k=np.array(term_k, dtype=np.int64),
        term_ps=np.array(term_ps, dtype=np.int64), term_inc=term_inc, sub_cols=sub_cols, sub_inc=sub_inc,
        cap_cols=cap_cols, cap_mask=cap_mask, K_cap=K_cap, fd_cols=fd_cols, fd_mask=fd_mask, fin_cols=fin_cols,
        fin_regions=fin_regions, shock_pkg=np.array([sh.package for sh in shocks], dtype=np.int64),
        K_blk=K_blk, cut_idx=cut_idx, has_imports=has_imports)


def _market_arrays(cm: CompiledMarkets, M_der: np.ndarray, fin_cols: np.ndarray, fin_regions: np.ndarray):
    """The constants of ``kernels.markets.market_block`` (:class:`~shockmodel.kernels.markets.MarketArrays`)."""
    from shockmodel.kernels.markets import MarketArrays

    lay = market_uniform_layout(cm.params, len(fin_cols))
    starts = np.array([lay[k].start for k, _ in _LAYOUT_SIZES[:9]], dtype=np.int64)
    C, I = cm.cell_market.shape[1], cm.A_eq.shape[1]
    mkt_ptr, mkt_cell = _csr_lists([np.flatnonzero(cm.cell_market[:, c]) for c in range(C)])
    wld_ptr, wld_cell = _csr_lists([np.flatnonzero(cm.cell_world[:, c]) for c in range(C)])
    rows = [np.flatnonzero(cm.A_eq[:, i]) for i in range(I)]
    aeq_ptr, aeq_row, aeq_val = _csr_lists(rows, [cm.A_eq[r, i] for i, r in enumerate(rows)])
    coms = [np.flatnonzero(cm.p_map[:, q]) for q in range(cm.p_map.shape[1])]
    pm_ptr, pm_com, pm_val = _csr_lists(coms, [cm.p_map[cc, q] for q, cc in enumerate(coms)])
    p = cm.params
    return MarketArrays(
        col_kind=cm.sampler.kind, col_prm=cm.sampler.prm, lay=starts, M_derT=np.ascontiguousarray(M_der.T),
        deliv0=cm.deliv0, mkt_ptr=mkt_ptr, mkt_cell=mkt_cell, wld_ptr=wld_ptr, wld_cell=wld_cell,
        s0=cm.deliv0 @ cm.cell_market, w0=cm.deliv0 @ cm.cell_world,
        log_lo=np.ascontiguousarray(cm.log_bounds[0]), log_hi=np.ascontiguousarray(cm.log_bounds[1]),
        ind_region=np.argmax(cm.region_onehot, axis=1).astype(np.int64), va_ratio=cm.va_ratio, gdp0=cm.gdp0,
        gdp0_sum=float(cm.gdp0.sum()), aeq_ptr=aeq_ptr, aeq_row=aeq_row, aeq_val=aeq_val,
        p_idx=cm.p_idx.astype(np.int64), x0p=cm.x0[cm.p_idx], pm_ptr=pm_ptr, pm_com=pm_com, pm_val=pm_val,
        p_load=np.ascontiguousarray(cm.p_load), region_share=cm.region_share, ey=cm.earnings_yield,
        equity=np.array([p.earnings_growth, p.risk_full_at_gdp_loss, p.risk_full_at_world_gdp_loss]),
        fin_cols=np.asarray(fin_cols, dtype=np.int64), fin_regions=np.ascontiguousarray(fin_regions, dtype=bool))


def _csr_lists(lists: Sequence[Sequence[int]], values: Sequence[Sequence[float]] | None = None):
    ptr = np.zeros(len(lists) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(x) for x in lists])
    idx = np.array([v for x in lists for v in x], dtype=np.int64)
    if values is None:
        return ptr, idx
    return ptr, idx, np.array([v for x in values for v in x], dtype=np.float64)


def _cell_structure(*, shock_pkg, sub_cols, sub_inc, term_k, term_ps, term_cls, n_fc, K_blk, per_cell, cut_val,
                    cap_cols, cap_mask, K_cap, fd_cols, fd_mask, y_own, class_fd):
    """CSR lists of the incidences for ``kernels.markets.supply_and_demand_cells``."""
    from shockmodel.kernels.markets import CellStructure

    ps_ptr, ps_col = _csr_lists([sub_cols[np.flatnonzero(sub_inc[:, q])] for q in range(sub_inc.shape[1])])
    terms = [[t for t in range(len(term_k)) if term_cls[t] == g] for g in range(n_fc)]
    fc_ptr, order = _csr_lists(terms)
    nz = [np.flatnonzero(K_blk[g]) for g in range(n_fc)]
    blk_ptr, blk_cell, blk_val = _csr_lists(nz, [K_blk[g, c] for g, c in enumerate(nz)])
    cut_ptr, cut_fc = _csr_lists(per_cell)
    cap_ptr, cap_col = _csr_lists([cap_cols[np.flatnonzero(cap_mask[:, i])] for i in range(cap_mask.shape[1])])
    dz = [np.flatnonzero(K_cap[i]) for i in range(K_cap.shape[0])]
    capd_ptr, capd_cell, capd_val = _csr_lists(dz, [K_cap[i, c] for i, c in enumerate(dz)])
    fdo_ptr, fdo_col = _csr_lists([fd_cols[np.flatnonzero(fd_mask[:, c])] for c in range(fd_mask.shape[1])])
    cfd_ptr, cfd_col = _csr_lists([fd_cols[np.flatnonzero(class_fd[:, c])] for c in range(class_fd.shape[1])])
    return CellStructure(
        shock_pkg=shock_pkg, ps_ptr=ps_ptr, ps_col=ps_col, fc_ptr=fc_ptr, term_k=term_k[order],
        term_ps=term_ps[order], blk_ptr=blk_ptr, blk_cell=blk_cell, blk_val=blk_val, cut_ptr=cut_ptr,
        cut_fc=cut_fc, cut_val=np.asarray(cut_val, dtype=np.float64), cap_ptr=cap_ptr, cap_col=cap_col,
        capd_ptr=capd_ptr, capd_cell=capd_cell, capd_val=capd_val, fdo_ptr=fdo_ptr, fdo_col=fdo_col,
        y_own=np.asarray(y_own, dtype=np.float64), cfd_ptr=cfd_ptr, cfd_col=cfd_col)


# ------------------------------------------------------------------------------------------------
# Sampling and outcomes
# ------------------------------------------------------------------------------------------------
def _column_dists(p: MarketParams) -> list[MarketDistribution]:
    """The distribution of every parameter column of ``u`` (all but the financial ones), in layout order."""
    com, idx, fb = p.commodities, p.indices, p.feedback
    return [*(c.elasticity for c in com), *(c.supply_elasticity for c in com),
            *(c.arbitrage if c.market else _ZERO for c in com), *(c.stock_release for c in com),
            *(ix.operating_leverage for ix in idx), *(ix.earnings_persistence for ix in idx),
            *(ix.local_risk_premium_pp for ix in idx), *(ix.uninvestable_loss_pct for ix in idx),
            p.common_risk_premium_pp, fb.mpc, fb.tot_pass, fb.investment_semi_elasticity]


@dataclass(frozen=True, eq=False)
class _ColumnSampler:
    """Inverse CDFs of all parameter columns in one kernel call (``kernels.markets.sample_columns``): fixed,
    uniform, triangular and lognormal columns are computed there elementwise with the formulas of
    :func:`shockmodel.sampling.ppf`; the normal quantiles of the lognormal columns (scipy's ``ndtri``) and
    the other distributions' values (their own ``ppf``) are computed before it (:meth:`prepare`)."""

    kind: np.ndarray          # (n,) kernels.markets sampling kind of each column
    prm: np.ndarray           # (n, 3) the distribution's parameters (padded with 0)
    lognormal: np.ndarray     # columns whose uniform becomes a normal quantile first
    other: tuple[tuple[int, MarketDistribution], ...]
    n: int

    @classmethod
    def build(cls, dists: Sequence[MarketDistribution]) -> "_ColumnSampler":
        from shockmodel.kernels import markets as km

        codes = {"fixed": km.FIXED, "uniform": km.UNIFORM, "triangular": km.TRIANGULAR, "lognormal": km.LOGNORMAL}
        kind = np.full(len(dists), km.GIVEN, dtype=np.int64)
        prm = np.zeros((len(dists), 3))
        other = []
        for j, d in enumerate(dists):
            if d.dist in codes and not (d.dist == "triangular" and d.params[2] == d.params[0]):
                kind[j] = codes[d.dist]
                prm[j, :len(d.params)] = d.params
            else:
                other.append((j, d))
        for a in (kind, prm):
            a.setflags(write=False)
        return cls(kind=kind, prm=prm, lognormal=np.flatnonzero(kind == km.LOGNORMAL), other=tuple(other),
                   n=len(dists))

    def prepare(self, u: np.ndarray) -> np.ndarray:
        """A copy of ``u`` (B, >= n) with the normal quantile in lognormal columns and the value in the
        columns of other distributions: the input of ``kernels.markets.sample_columns``."""
        v = np.array(u, dtype=np.float64, order="C")
        if self.lognormal.size:
            v[:, self.lognormal] = special.ndtri(np.clip(v[:, self.lognormal], sampling.U_CLIP, 1.0 - sampling.U_CLIP))
        for j, d in self.other:
            v[:, j] = sampling.draw(d.dist, d.params, u[:, j])
        return v

    def __call__(self, u: np.ndarray) -> np.ndarray:
        from shockmodel.kernels.markets import sample_columns

        out = np.empty((self.n, u.shape[0]))
        sample_columns(self.prepare(u), self.kind, self.prm, out)
        return out.T


def sample_market_draws(cm: CompiledMarkets, u: np.ndarray, n_financial: int = 0) -> MarketDraws:
    """Map the uniforms ``u`` (B, n_market_uniforms) to market parameters by inverse CDFs (column by
    column, see :func:`market_uniform_layout`)."""
    p = cm.params
    u = np.asarray(u, dtype=np.float64)
    n = n_market_uniforms(p, n_financial)
    if u.ndim != 2 or u.shape[1] != n:
        raise ValueError(f"u must have shape (draws, {n}) for these market parameters, got {u.shape}")
    return _draws_from(cm, cm.sampler(u[:, :u.shape[1] - n_financial]), u, n_financial)


def _draws_from(cm: CompiledMarkets, X: np.ndarray, u: np.ndarray, n_financial: int) -> MarketDraws:
    """The :class:`MarketDraws` views of the sampled columns ``X`` and the financial uniforms of ``u``."""
    lay = market_uniform_layout(cm.params, n_financial)

    def cols(name_: str) -> np.ndarray:
        return X[:, lay[name_]]

    return MarketDraws(
        elasticity=cols("elasticity"), supply_elasticity=cols("supply_elasticity"), arbitrage=cols("arbitrage"),
        stock_release=cols("stock_release"), operating_leverage=cols("operating_leverage"),
        earnings_persistence=cols("earnings_persistence"), local_risk_premium_pp=cols("local_risk_premium_pp"),
        uninvestable_loss_pct=cols("uninvestable_loss_pct"),
        common_risk_premium_pp=cols("common_risk_premium_pp")[:, 0], mpc=cols("mpc")[:, 0],
        tot_pass=cols("tot_pass")[:, 0], investment_semi_elasticity=cols("investment_semi_elasticity")[:, 0],
        financial_u=u[:, lay["financial"]],
    )


_ALMOST_ONE = 1.0 - 1e-12   # a share of exactly 1 would make log(1 - share) infinite


def cell_losses(cm: CompiledMarkets, sm: ScenarioMarkets, f: np.ndarray, severity: np.ndarray, on: np.ndarray,
                u_cls: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Supply withdrawn at source ``W`` and demand lost ``U``, (B, cells) in USD million over the horizon
    (M1, M2 of docs/model-markets.md).

    f : (B,) horizon fraction; severity : (B, K); on : (B, P) packages on; u_cls : (B, n_classes) blocked
    share of each of the engine's pass classes (for the final demand they lose). The sparse products run in
    ``kernels.markets.supply_and_demand_cells``; the derived demand is one matrix product.
    """
    from shockmodel.kernels.markets import supply_and_demand_cells

    B, cells = severity.shape[0], cm.deliv0.size
    WT, own_fd, cut = np.empty((cells, B)), np.empty((cells, B)), np.empty((cells, B))
    wT = np.empty((sm.M_der.shape[0], B))
    sevT, onT, uT, _ = _block_inputs(severity, on, u_cls, f)
    supply_and_demand_cells(sevT, onT, uT, sm.structure, WT, own_fd, cut, wT)
    W = WT.T
    U = np.maximum(wT.T @ sm.M_der + own_fd.T, cut.T)             # derived demand, own final demand, blockades
    fc = np.asarray(f, dtype=np.float64)[:, None]
    W = W * fc
    U *= fc
    return np.clip(W, 0.0, cm.deliv0, out=W), np.clip(U, 0.0, cm.deliv0, out=U)


def withdrawn_shares(cm: CompiledMarkets, W: np.ndarray, U: np.ndarray, draws: MarketDraws
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(q_s, q_d), each (B, C) in [0, 1]: shares of the market's baseline deliveries withdrawn (M3-M5)."""
    s0 = cm.deliv0 @ cm.cell_market
    w0 = cm.deliv0 @ cm.cell_world

    def share(x):
        q_m = np.divide(x @ cm.cell_market, s0, out=np.zeros((x.shape[0], s0.size)), where=s0 > 0)
        q_w = np.divide(x @ cm.cell_world, w0, out=np.zeros((x.shape[0], w0.size)), where=w0 > 0)
        return (1.0 - draws.arbitrage) * q_m + draws.arbitrage * q_w

    q_s = np.maximum(share(W) - draws.stock_release, 0.0)
    return np.clip(q_s, 0.0, 1.0), np.clip(share(U), 0.0, 1.0)


#: Elasticity of demand for the buyers' own products (the eta of M6): unit-elastic final demand (assumption).
DOWNSTREAM_ELASTICITY = 1.0


def price_change_pct(q_s: np.ndarray, q_d: np.ndarray, e_d: np.ndarray, e_s: np.ndarray,
                     log_bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Price change in percent clearing ``(1 - q_d) (1 - theta + theta P)^(-eta) = (1 - q_s) P^(e_s)``, and
    whether it sat at a bound (M6). Broadcasting; ``log_bounds`` (2, C) the logs of the lowest and highest
    price ratios.

    Demand is the derived demand of buyers that use the commodity in fixed proportion with cost share
    ``theta = e_d / eta`` and face a demand of elasticity ``eta`` for their own products (Marshall-Hicks law
    of derived demand: the elasticity at the baseline is ``theta eta = e_d``, and it rises with the price as
    the cost share grows, so a large withdrawal does not send the price to infinity as a constant elasticity
    would). To first order ``dP/P = (q_s - q_d) / (e_d + e_s)``, the constant-elasticity answer. With
    ``e_s = 0`` the solution is closed, ``P = 1 + (e^(a / eta) - 1) / theta`` with ``a = log((1 - q_d) /
    (1 - q_s))``; otherwise Halley's method in ``x = log P`` from it scaled by ``theta / (theta + e_s)`` (the residual is concave and
    decreasing in x; cubic convergence, so each price stops once its step is below 1e-5, the error
    left of the order of its cube; a Newton step where Halley's denominator is small). Exactly zero when
    ``q_s = q_d``. One solver for every caller (``kernels.markets.clearing_price``).
    """
    from shockmodel.kernels.markets import clearing_prices

    lb = np.asarray(log_bounds, dtype=np.float64)
    arrays = np.broadcast_arrays(*(np.asarray(x, dtype=np.float64) for x in (q_s, q_d, e_d, e_s, lb[0], lb[1])))
    flat = [np.ascontiguousarray(x).ravel() for x in arrays]
    pct, at_bound = np.empty(flat[0].size), np.empty(flat[0].size, dtype=bool)
    clearing_prices(*flat, pct, at_bound)
    return pct.reshape(arrays[0].shape), at_bound.reshape(arrays[0].shape)


def commodity_prices(cm: CompiledMarkets, W: np.ndarray, U: np.ndarray, draws: MarketDraws
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(B, C) price change in percent and (B, C) bool at a bound, from the cell losses."""
    q_s, q_d = withdrawn_shares(cm, W, U, draws)
    return price_change_pct(q_s, q_d, draws.elasticity, draws.supply_elasticity, cm.log_bounds)


def risk_ramps(cm: CompiledMarkets, gdp_loss_ratio: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hit ramps (M9): per index ``h_i = min(1, g_i / risk_full_at_gdp_loss)`` (B, I) and the world's
    ``h_w = min(1, g_world / risk_full_at_world_gdp_loss)`` (B,); zero at zero loss."""
    p = cm.params
    g = np.clip(np.asarray(gdp_loss_ratio, dtype=np.float64), 0.0, 1.0)
    g_world = (g @ cm.gdp0) / cm.gdp0.sum()
    return (np.minimum(1.0, (g @ cm.region_share.T) / p.risk_full_at_gdp_loss),
            np.minimum(1.0, g_world / p.risk_full_at_world_gdp_loss))


def revenue_lost(cm: CompiledMarkets, dx: np.ndarray, price_pct: np.ndarray) -> np.ndarray:
    """(B, I) revenue lost by each index's earnings base, ``F`` of M7 (negative: a gain).

    ``F = sum w (1 - (1 + pi)(1 - o)) + w_other g = sum w o + w_other g - sum w pi (1 - o)``: the first two
    terms are one product ``dx @ A_eq``; the price term only involves the industries a commodity price
    moves. dx : (B, n) output lost (negative: gained); price_pct : (B, C).
    """
    dx = np.asarray(dx, dtype=np.float64)
    F = dx @ cm.A_eq
    if cm.p_idx.size:
        kept = 1.0 - dx[:, cm.p_idx] / cm.x0[cm.p_idx]
        F -= ((np.asarray(price_pct, dtype=np.float64) / 100.0) @ cm.p_map * kept) @ cm.p_load
    return F


def equity_drawdown_pct(cm: CompiledMarkets, F: np.ndarray, gdp_loss_ratio: np.ndarray,
                        closed_regions: np.ndarray, draws: MarketDraws) -> tuple[np.ndarray, np.ndarray]:
    """(B, I) fall in value in percent for a foreign holder (negative: a gain) and (B, I) bool closed to
    foreign holders (M8-M12).

    F : (B, I) revenue lost (:func:`revenue_lost`); gdp_loss_ratio : (B, R); closed_regions : (B, R) bool,
    closed by an explicit financial shock in the draw.
    """
    p = cm.params
    ey, growth = cm.earnings_yield[None, :], p.earnings_growth
    pv_loss = ey * draws.operating_leverage * F / (1.0 + growth + ey - draws.earnings_persistence * (1.0 + growth))
    h_i, h_w = risk_ramps(cm, gdp_loss_ratio)
    premium_pp = h_w[:, None] * draws.common_risk_premium_pp[:, None] + h_i * draws.local_risk_premium_pp
    ratio = np.maximum(0.0, 1.0 - pv_loss) * np.exp(-premium_pp / (100.0 * ey))
    dd = 100.0 * (1.0 - ratio)
    closed = (np.asarray(closed_regions, dtype=np.float64) @ cm.region_share.T) > 0.5
    dd = np.where(closed, np.maximum(dd, draws.uninvestable_loss_pct), dd)
    return dd + 0.0, closed


def closed_regions(sm: ScenarioMarkets, severity: np.ndarray, on: np.ndarray, draws: MarketDraws) -> np.ndarray:
    """(B, R) bool: a financial shock whose package is on binds when its uniform is below its severity (the
    probability that the measure closes the regions' markets to foreign holders, M12)."""
    B = severity.shape[0]
    if not sm.n_financial:
        return np.zeros((B, sm.fin_regions.shape[1]), dtype=bool)
    binds = on[:, sm.shock_pkg[sm.fin_cols]] & (draws.financial_u < severity[:, sm.fin_cols])   # (B, K_fin)
    return (binds.astype(np.float64) @ sm.fin_regions.astype(np.float64)) > 0


@dataclass(frozen=True, eq=False)
class MarketOutcome:
    """Per-draw outputs of :func:`market_outcomes` (B rows)."""

    price_change_pct: np.ndarray      # (B, C)
    price_at_bound: np.ndarray        # (B, C) bool
    equity_drawdown_pct: np.ndarray   # (B, I), negative = gain
    equity_closed: np.ndarray         # (B, I) bool
    gdp_loss: np.ndarray              # (B, R) USD million
    draws: MarketDraws


def block_buffers(cm: CompiledMarkets, sm: ScenarioMarkets, B: int):
    """Output and work arrays of :func:`market_block` for ``B`` draws."""
    from shockmodel.kernels.markets import MarketBlock

    C, I, cells = len(cm.commodity_names), len(cm.index_names), cm.deliv0.size
    return MarketBlock(XT=np.empty((cm.sampler.n, B)), price=np.empty((C, B)), at_bound=np.empty((C, B)),
                       drawdown=np.empty((I, B)), closed=np.empty((I, B)), WT=np.empty((cells, B)),
                       UT=np.empty((cells, B)), cutT=np.empty((cells, B)), wT=np.empty((sm.M_der.shape[0], B)),
                       accT=np.empty((cells, B)))


def _block_inputs(severity, on, u_cls, f):
    """The kernels' inputs, draws on the last axis: (sevT, onT, uT, f)."""
    return (np.ascontiguousarray(np.asarray(severity, dtype=np.float64).T), np.ascontiguousarray(np.asarray(on, dtype=bool).T),
            np.ascontiguousarray(np.asarray(u_cls, dtype=np.float64).T), np.ascontiguousarray(f, dtype=np.float64))


def block_prices(cm: CompiledMarkets, sm: ScenarioMarkets, f: np.ndarray, severity: np.ndarray, on: np.ndarray,
                 u_cls: np.ndarray, u: np.ndarray):
    """(price change in percent (B, C), the :class:`MarketDraws`) of a block, in one kernel call
    (``kernels.markets.market_prices``); arguments as in :func:`market_outcomes`."""
    from shockmodel.kernels.markets import market_prices

    out = block_buffers(cm, sm, severity.shape[0])
    market_prices(sm.arrays, sm.structure, *_block_inputs(severity, on, u_cls, f), cm.sampler.prepare(u), out)
    return out.price.T, _draws_from(cm, out.XT.T, u, sm.n_financial)


def market_block(cm: CompiledMarkets, sm: ScenarioMarkets, dxT: np.ndarray, f: np.ndarray, severity: np.ndarray,
                 on: np.ndarray, u_cls: np.ndarray, u: np.ndarray, out=None):
    """The market channel of one block in one kernel call (``kernels.markets.market_block``): its
    :class:`~shockmodel.kernels.markets.MarketBlock` (prices, bounds, drawdowns, closures as float 0/1,
    the sampled columns; draws on the last axis). dxT : (n, B) output lost (horizon-scaled); the rest as in
    :func:`market_outcomes`; ``out``: arrays from :func:`block_buffers` to fill (new ones if None)."""
    from shockmodel.kernels.markets import market_block as kernel

    if out is None:
        out = block_buffers(cm, sm, severity.shape[0])
    kernel(sm.arrays, sm.structure, *_block_inputs(severity, on, u_cls, f), cm.sampler.prepare(u),
           np.ascontiguousarray(dxT, dtype=np.float64), out)
    return out


def market_outcomes(cm: CompiledMarkets, sm: ScenarioMarkets, dx: np.ndarray, f: np.ndarray,
                    severity: np.ndarray, on: np.ndarray, u_cls: np.ndarray, u: np.ndarray) -> MarketOutcome:
    """Prices and equity valuations of a batch of draws (:func:`market_block`).

    dx : (B, n) output lost over the horizon (horizon-scaled), USD million; f : (B,) horizon fraction;
    severity (B, K), on (B, P) bool, u_cls (B, n_classes) as in :func:`cell_losses`; u : (B, n_uniforms)
    uniforms of the engine's stream.
    """
    dx = np.asarray(dx, dtype=np.float64)
    if dx.ndim != 2 or dx.shape[1] != cm.x0.size:
        raise ValueError(f"dx must have shape (draws, {cm.x0.size}) (table {cm.table!r}), got {dx.shape}")
    n = n_market_uniforms(cm, sm.n_financial)
    u = np.asarray(u, dtype=np.float64)
    if u.ndim != 2 or u.shape[1] != n:
        raise ValueError(f"u must have shape (draws, {n}) for these market parameters, got {u.shape}")
    res = market_block(cm, sm, dx.T, f, severity, on, u_cls, u)
    return MarketOutcome(price_change_pct=res.price.T, price_at_bound=res.at_bound.T > 0,
                         equity_drawdown_pct=res.drawdown.T, equity_closed=res.closed.T > 0, gdp_loss=dx @ cm.V_gdp,
                         draws=_draws_from(cm, res.XT.T, u, sm.n_financial))
