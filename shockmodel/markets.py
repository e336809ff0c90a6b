"""The market channel (L4): commodity price changes and equity-index drawdowns, per Monte Carlo draw.

The engine (L3) propagates a scenario through the input-output table and hands this module, per draw,
the world supply of each table sector that was withdrawn, the output lost by every industry, the value
added lost by every region and which regions are under financial sanctions. This module turns them into

* ``price_change_pct`` (draw, commodity): the short-run price change of energy, food, metals and chips;
* ``equity_drawdown_pct`` (draw, index): the fall of the main equity index of each region, as seen by a
  foreign (e.g. US- or EU-based) holder.

Parameters live in ``params/markets/<name>.toml`` (every number cited or marked "assumption"); they are
validated on load (:func:`load_market_params`, errors are one-line :class:`~shockmodel.errors.UserError`
naming file and field), resolved against a table (:func:`compile_market_params`) and sampled from the
engine's uniforms with inverse CDFs (:func:`sample_market_draws`), so every draw is reproducible from
``u`` alone. numpy and scipy.special only: no xarray, matplotlib, click or numba here.

Equations
---------
**Commodity prices** (constant-elasticity inverse demand; e.g. Kilian & Murphy 2014, Caldara, Cavallo &
Iacoviello 2019 for oil; Roberts & Schlenker 2013 for food calories). For commodity ``c`` mapped to the
table sectors ``S_c``::

    q      = sum_{s in S_c} supply_withdrawn[s] / sum_{s in S_c} world_supply0[s]      in [0, 1]
    e      = e_d + e_s          (sampled |short-run demand elasticity| + short-run supply elasticity)
    %dP    = 100 * ((1 - q) ** (-1 / e) - 1),   capped at max_price_change_pct

Derivation: demand ``Q_d = P^(-e_d)``, the supply left after the withdrawal ``Q_s = (1 - q) P^(e_s)``
(baseline price and quantity normalised to 1); clearing gives ``P = (1 - q)^(-1/(e_d + e_s))``. With no
supply response (``e_s = 0``) this is the pure inverse demand curve of the issue. ``%dP`` is zero at
``q = 0``, non-decreasing in ``q`` and decreasing in ``e``. The cap stands for what bounds a real price
spike that a constant elasticity does not see: demand destruction at extreme prices, strategic-reserve
releases (IEA collective actions of March and April 2022: 182.7 million barrels), rationing and price
controls. Computed in logs (``-log1p(-q) / e``) so ``q -> 1`` gives the cap, never an overflow.

**Equity drawdowns** (reduced form; one index ``i`` with sector weights ``w_k`` on table sectors or
sector groups ``k`` and the rest ``w_other = 1 - sum_k w_k``)::

    e_k    = output-weighted mean over (r in regions_i, s in k) of output_loss_ratio[r, s]   in [0, 1]
    g_i    = value-added-weighted mean over r in regions_i of gdp_loss_ratio[r]             in [0, 1]
    F_i    = sum_k w_k e_k + w_other g_i                                 (earnings-weighted loss, [0, 1])
    h_i    = min(1, g_i / risk_premium_full_at_gdp_loss)                 (how hard the region is hit)
    D_i    = min(100, 100 * min(1, L_i * F_i) + RP_i * h_i)
    D_i    = max(D_i, U_i)  if the index's regions are sanctioned and the market is closed to foreigners

``L_i`` is the sampled "operating leverage": the elasticity of the index's equity value to its sectors'
output loss over the horizon (operating leverage, Mauboussin et al. 2016; Novy-Marx 2011, times how
persistent the market judges the loss to be). ``RP_i`` is a sampled risk-premium shock in percent
(24 Feb 2022: DAX -3.6%, MOEX -33%), scaled by ``h_i`` so that a zero shock gives exactly zero and a tiny
numerical GDP loss gives a tiny premium (no jump). The risk-premium shocks of all indices share a
Gaussian-copula common factor (``risk_premium_correlation``): geopolitical risk-offs are global.
A region under financial sanctions (the engine's ``sanctioned`` flag; for a multi-region index the
regions holding more than half of its value added) is uninvestable for foreign holders with probability
``sanction_closure``; the foreign holder then loses at least ``U_i = uninvestable_loss_pct`` (sampled:
MOEX 2022, MSCI removed Russia at a price "effectively zero"). ``0 <= D_i <= 100`` always, and ``D_i`` is
non-decreasing in every loss. Only losses are modelled: gains (higher commodity prices lifting producers'
earnings, negative losses) are clipped to zero.

Uniform layout (columns of ``u``, see :func:`market_uniform_layout`): commodity demand elasticities (C),
commodity supply elasticities (C), index leverages (I), index risk premia (I), index closure events (I),
index uninvestable losses (I), and one common risk-premium factor: ``2 C + 4 I + 1`` in all.
"""

from __future__ import annotations

import difflib
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

from shockmodel import sampling
from shockmodel.scenario import DIST_PARAMS
from shockmodel.errors import UserError
from shockmodel.paths import params_dir

if TYPE_CHECKING:  # the MRIO class is only needed for type hints; compile uses duck typing
    from shockmodel.mrio import MRIO

__all__ = [
    "DISTRIBUTIONS",
    "MarketParamsError",
    "MarketDistribution",
    "Commodity",
    "EquityIndex",
    "MarketParams",
    "CompiledMarkets",
    "MarketDraws",
    "markets_dir",
    "list_market_params",
    "load_market_params",
    "market_params_from_dict",
    "format_market_params",
    "n_market_uniforms",
    "market_uniform_layout",
    "compile_market_params",
    "sample_market_draws",
    "withdrawn_share",
    "price_change_pct",
    "equity_drawdown_pct",
    "market_outcomes",
]

#: Distribution names and their parameters, as in the scenario files (docs/contracts.md section 1).
DISTRIBUTIONS = ("fixed", "uniform", "triangular", "pert", "beta", "lognormal", "truncnormal")

# dist -> (required parameter names, optional parameter names with defaults)
_DIST_PARAMS: dict[str, tuple[tuple[str, ...], dict[str, float]]] = {
    "fixed": (("value",), {}),
    "uniform": (("low", "high"), {}),
    "triangular": (("low", "mode", "high"), {}),
    "pert": (("low", "mode", "high"), {"lambda": 4.0}),
    "beta": (("a", "b"), {"low": 0.0, "high": 1.0}),
    "lognormal": (("median", "sigma"), {"high": math.inf}),
    "truncnormal": (("mean", "sd", "low", "high"), {}),
}

#: Uniforms are kept this far from 0 and 1 before an unbounded inverse CDF (normal, lognormal).
_U_EPS = 1e-12


class MarketParamsError(UserError):
    """A market-parameter file that cannot be parsed, is invalid, or does not match the table."""


# ------------------------------------------------------------------------------------------------
# Distributions (a small local representation; canonical tuples as in docs/contracts.md section 1)
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MarketDistribution:
    """A sampled parameter: ``dist`` name and its canonical ``params`` tuple.

    ``fixed (value,)``, ``uniform (low, high)``, ``triangular (low, mode, high)``,
    ``pert (low, mode, high, lambda)``, ``beta (a, b, low, high)``,
    ``lognormal (log(median), sigma, high)`` (``high`` caps the draw) and
    ``truncnormal (mean, sd, low, high)``. :meth:`ppf` maps uniforms to values (vectorised).
    """

    dist: str
    params: tuple[float, ...]

    @classmethod
    def fixed(cls, value: float) -> "MarketDistribution":
        return cls("fixed", (float(value),))

    def support(self) -> tuple[float, float]:
        """(lowest, highest) value the distribution can return (lognormal: (0, high), 0 excluded)."""
        p = self.params
        if self.dist == "fixed":
            return p[0], p[0]
        if self.dist in ("uniform",):
            return p[0], p[1]
        if self.dist in ("triangular", "pert"):
            return p[0], p[2]
        if self.dist == "beta":
            return p[2], p[3]
        if self.dist == "lognormal":
            return 0.0, p[2]
        if self.dist == "truncnormal":
            return p[2], p[3]
        raise ValueError(f"unknown distribution {self.dist!r}")

    @property
    def strictly_positive(self) -> bool:
        """True when every draw is > 0."""
        lo, _ = self.support()
        return lo > 0 or (self.dist == "lognormal" and self.params[2] > 0)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Inverse CDF: uniforms in [0, 1] -> draws (same shape, float64); one implementation for
        scenarios and markets (:func:`shockmodel.sampling.ppf`)."""
        u = np.asarray(u, dtype=np.float64)
        if self.dist in ("lognormal", "truncnormal"):  # unbounded tails: keep u off 0 and 1
            u = np.clip(u, _U_EPS, 1.0 - _U_EPS)
        return np.asarray(sampling.ppf(self.dist, self.params, u), dtype=np.float64).reshape(u.shape)

    def describe(self) -> str:
        """Readable one-liner, e.g. ``lognormal(median 0.15, sigma 0.5) [p05 0.066, p50 0.15, p95 0.34]``."""
        p = self.params
        names = DIST_PARAMS[self.dist]
        vals = list(p)
        if self.dist == "lognormal":
            vals[0] = math.exp(p[0])
        parts = [f"{n} {_g(v)}" for n, v in zip(names, vals) if not (n == "high" and math.isinf(v))]
        if self.dist == "fixed":
            return _g(p[0])
        q = self.ppf(np.array([0.05, 0.5, 0.95]))
        return f"{self.dist}({', '.join(parts)}) [p05 {_g(q[0])}, p50 {_g(q[1])}, p95 {_g(q[2])}]"


def _g(x: float) -> str:
    return f"{x:.3g}"


# ------------------------------------------------------------------------------------------------
# Parameter dataclasses
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Commodity:
    """One commodity whose world price responds to the supply withdrawn from its table sectors.

    ``name`` is the identifier (the TOML key, e.g. ``"crude_oil"``); ``sectors`` are default-table sector
    names or groups (``("MIN_ENERGY",)``; on ``wiod2011`` they resolve through the table's groups);
    ``elasticity`` is the absolute short-run price elasticity of demand (> 0), ``supply_elasticity`` the
    short-run supply response of unaffected producers (>= 0, default 0); ``max_price_change_pct`` caps the
    price rise (demand destruction, strategic reserves).
    """

    name: str
    sectors: tuple[str, ...]
    elasticity: MarketDistribution
    max_price_change_pct: float
    source: str
    supply_elasticity: MarketDistribution = field(default_factory=lambda: MarketDistribution.fixed(0.0))
    description: str = ""


@dataclass(frozen=True)
class EquityIndex:
    """The main equity index of one region (or of a few regions, e.g. EURO STOXX 50 on EUR + DEU).

    ``sector_weights`` maps table sectors or sector groups to index weights in [0, 1] summing to at most
    1; the rest (:attr:`other_weight`) follows the regions' broad value-added loss. ``leverage`` is the
    operating leverage (>= 0), ``risk_premium_pct`` the extra drawdown in percent when the region is hit,
    ``sanction_closure`` the probability in [0, 1] that the market is uninvestable for foreign holders when
    its region is sanctioned, and then ``uninvestable_loss_pct`` (in [0, 100]) their loss at least.
    """

    key: str
    name: str
    regions: tuple[str, ...]
    sector_weights: Mapping[str, float]
    leverage: MarketDistribution
    risk_premium_pct: MarketDistribution
    sanction_closure: float
    uninvestable_loss_pct: MarketDistribution
    source: str
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "sector_weights", MappingProxyType(dict(self.sector_weights)))

    @property
    def region(self) -> str:
        """The regions as one label (``"USA"``, or ``"EUR+DEU"`` for several)."""
        return "+".join(self.regions)

    @property
    def other_weight(self) -> float:
        """Weight of the rest of the index, shocked by the regions' value-added (GDP) loss."""
        return max(0.0, 1.0 - sum(self.sector_weights.values()))

    def __hash__(self) -> int:  # the mapping field is not hashable: hash its items (equal objects, equal hashes)
        return hash((self.key, self.name, self.regions, tuple(self.sector_weights.items()), self.leverage,
                     self.risk_premium_pct, self.sanction_closure, self.uninvestable_loss_pct, self.source))


@dataclass(frozen=True)
class MarketParams:
    """Validated market parameters of one file (see ``params/markets/default.toml``)."""

    commodities: tuple[Commodity, ...]
    indices: tuple[EquityIndex, ...]
    source_file: str
    name: str = ""
    description: str = ""
    source: str = ""
    risk_premium_full_at_gdp_loss: float = 0.02
    risk_premium_correlation: float = 0.0
    equity_source: str = ""
    sha256: str = ""

    @property
    def commodity_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.commodities)

    @property
    def index_names(self) -> tuple[str, ...]:
        return tuple(i.name for i in self.indices)


@dataclass(frozen=True, eq=False)
class CompiledMarkets:
    """Market parameters resolved against one table: index arrays for :func:`market_outcomes`.

    Shapes: ``C`` commodities, ``I`` indices, ``R`` regions, ``S`` sectors of the table.

    commodity_mask : (C, S) float 0/1, the table sectors of each commodity
    max_price_change_pct : (C,) caps
    sector_loading : (I, R, S) weight of ``output_loss_ratio[r, s]`` in the index's loss ``F``
        (sector weight times the industry's share of baseline output within the weighted sector group)
    residual_loading : (I, R) weight of ``gdp_loss_ratio[r]`` in ``F`` (``w_other`` times value-added share)
    region_share : (I, R) value-added share of each region in the index's regions (rows sum to 1)
    sanction_closure : (I,) probabilities
    """

    params: MarketParams
    table: str
    table_sha256: str
    regions: tuple[str, ...]
    sectors: tuple[str, ...]
    commodity_names: tuple[str, ...]
    index_names: tuple[str, ...]
    index_keys: tuple[str, ...]
    commodity_mask: np.ndarray
    max_price_change_pct: np.ndarray
    sector_loading: np.ndarray
    residual_loading: np.ndarray
    region_share: np.ndarray
    sanction_closure: np.ndarray
    risk_premium_full_at_gdp_loss: float
    risk_premium_correlation: float

    def __post_init__(self) -> None:
        for name_ in ("commodity_mask", "max_price_change_pct", "sector_loading", "residual_loading",
                      "region_share", "sanction_closure"):
            getattr(self, name_).setflags(write=False)

    @property
    def n_uniforms(self) -> int:
        return n_market_uniforms(self.params)


@dataclass(frozen=True, eq=False)
class MarketDraws:
    """Sampled market parameters for a batch of draws (all (B, C) or (B, I))."""

    elasticity: np.ndarray           # (B, C) |demand elasticity|
    supply_elasticity: np.ndarray    # (B, C)
    leverage: np.ndarray             # (B, I)
    risk_premium_pct: np.ndarray     # (B, I)
    closure: np.ndarray              # (B, I) bool: closed to foreigners if the region is sanctioned
    uninvestable_loss_pct: np.ndarray  # (B, I)


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
        near = difflib.get_close_matches(key, names, n=1)
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise MarketParamsError(
            f"unknown market parameters {key!r}{hint} (shipped: {', '.join(names) or 'none'}; "
            "or give a path to a .toml file)", file=key)
    path = Path(key).expanduser()
    if not path.is_file():
        raise MarketParamsError("no such file", file=key)
    return path


def load_market_params(name_or_path: str | os.PathLike = "default") -> MarketParams:
    """Load and validate market parameters by shipped name (``params/markets/NAME.toml``) or path.

    Raises :class:`MarketParamsError` (a :class:`~shockmodel.errors.UserError`: one line naming the file,
    the field and what was expected, with "did you mean" for unknown keys).
    """
    path = _resolve_file(name_or_path)
    try:
        raw = path.read_bytes()
        data = tomllib.loads(raw.decode("utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise MarketParamsError(f"not valid TOML ({exc})", file=str(path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MarketParamsError(f"cannot read ({exc})", file=str(path)) from None
    return market_params_from_dict(data, source_file=str(path), default_name=path.stem)


class _Ctx:
    def __init__(self, file: str):
        self.file = file

    def fail(self, field_: str, msg: str):
        raise MarketParamsError(msg, file=self.file, field=field_ or None)


def _did_you_mean(key: str, valid: Sequence[str]) -> str:
    near = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.5)
    return f"; did you mean {near[0]!r}?" if near else ""


def _check_keys(d: Mapping, allowed: Sequence[str], required: Sequence[str], ctx: _Ctx, prefix: str) -> None:
    for k in d:
        if k not in allowed:
            ctx.fail(f"{prefix}{k}", f"unknown key {k!r}{_did_you_mean(k, allowed)} "
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
        ctx.fail(f"{fld}.dist", f"unknown distribution {dist!r}{_did_you_mean(str(dist), DISTRIBUTIONS)} "
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


_TOP_KEYS = ("name", "description", "source", "equity", "index_defaults", "commodities", "indices")
_EQUITY_KEYS = ("risk_premium_full_at_gdp_loss", "risk_premium_correlation", "source")
_INDEX_PARAM_KEYS = ("leverage", "risk_premium_pct", "sanction_closure", "uninvestable_loss_pct")
_DEFAULTS_KEYS = (*_INDEX_PARAM_KEYS, "source")
_COMMODITY_KEYS = ("description", "sectors", "elasticity", "supply_elasticity", "max_price_change_pct",
                   "source")
_INDEX_KEYS = ("name", "description", "region", "sector_weights", *_INDEX_PARAM_KEYS, "source")


def _index_param(key: str, v: Any, ctx: _Ctx, fld: str):
    if key == "sanction_closure":
        if isinstance(v, bool):
            return 1.0 if v else 0.0
        p = _number(v, ctx, fld)
        if not 0.0 <= p <= 1.0:
            ctx.fail(fld, f"sanction_closure is true/false or a probability in [0, 1], got {v!r}")
        return p
    dist = _distribution(v, ctx, fld)
    if key == "leverage":
        return _bounded(dist, ctx, fld, "operating leverage", low=0.0)
    if key == "risk_premium_pct":
        return _bounded(dist, ctx, fld, "risk premium (percent)", low=0.0, high=100.0)
    return _bounded(dist, ctx, fld, "uninvestable loss (percent)", low=0.0, high=100.0)


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
    _check_keys(equity, _EQUITY_KEYS, (), ctx, "equity.")
    full_at = _number(equity.get("risk_premium_full_at_gdp_loss", 0.02), ctx,
                      "equity.risk_premium_full_at_gdp_loss")
    if not 0.0 < full_at <= 1.0:
        ctx.fail("equity.risk_premium_full_at_gdp_loss", f"must be in (0, 1] (a share of GDP), got {full_at}")
    rho = _number(equity.get("risk_premium_correlation", 0.0), ctx, "equity.risk_premium_correlation")
    if not 0.0 <= rho <= 1.0:
        ctx.fail("equity.risk_premium_correlation", f"must be in [0, 1], got {rho}")
    if ("risk_premium_full_at_gdp_loss" in equity or "risk_premium_correlation" in equity) \
            and "source" not in equity:
        ctx.fail("equity.source", "missing required key 'source' (cite or say 'assumption')")
    equity_source = _string(equity["source"], ctx, "equity.source") if "source" in equity else ""

    defaults_raw = _table(data.get("index_defaults", {}), ctx, "index_defaults")
    _check_keys(defaults_raw, _DEFAULTS_KEYS, ("source",) if defaults_raw else (), ctx, "index_defaults.")
    defaults = {k: _index_param(k, defaults_raw[k], ctx, f"index_defaults.{k}")
                for k in _INDEX_PARAM_KEYS if k in defaults_raw}
    defaults_source = _string(defaults_raw["source"], ctx, "index_defaults.source") if defaults_raw else ""

    commodities = []
    for key, c in _table(data.get("commodities", {}), ctx, "commodities").items():
        pre = f"commodities.{key}"
        _table(c, ctx, pre)
        _check_keys(c, _COMMODITY_KEYS, ("sectors", "elasticity", "max_price_change_pct", "source"), ctx,
                    f"{pre}.")
        el = _bounded(_distribution(c["elasticity"], ctx, f"{pre}.elasticity"), ctx, f"{pre}.elasticity",
                      "the absolute short-run price elasticity of demand", positive=True)
        sel = _bounded(_distribution(c.get("supply_elasticity", 0.0), ctx, f"{pre}.supply_elasticity"), ctx,
                       f"{pre}.supply_elasticity", "the short-run supply elasticity", low=0.0)
        cap = _number(c["max_price_change_pct"], ctx, f"{pre}.max_price_change_pct")
        if cap <= 0:
            ctx.fail(f"{pre}.max_price_change_pct", f"must be > 0 (percent), got {cap}")
        commodities.append(Commodity(
            name=key, sectors=_strings(c["sectors"], ctx, f"{pre}.sectors"), elasticity=el,
            supply_elasticity=sel, max_price_change_pct=cap, source=_string(c["source"], ctx, f"{pre}.source"),
            description=_string(c.get("description", ""), ctx, f"{pre}.description", required_nonempty=False)))

    indices = []
    for key, ix in _table(data.get("indices", {}), ctx, "indices").items():
        pre = f"indices.{key}"
        _table(ix, ctx, pre)
        _check_keys(ix, _INDEX_KEYS, ("region", "sector_weights", "source"), ctx, f"{pre}.")
        weights_raw = _table(ix["sector_weights"], ctx, f"{pre}.sector_weights")
        weights = {}
        for s, w in weights_raw.items():
            wf = _number(w, ctx, f"{pre}.sector_weights.{s}")
            if not 0.0 <= wf <= 1.0:
                ctx.fail(f"{pre}.sector_weights.{s}", f"a weight must be in [0, 1], got {w!r}")
            weights[s] = wf
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
        src = _string(ix["source"], ctx, f"{pre}.source")
        indices.append(EquityIndex(
            key=key, name=_string(ix.get("name", key), ctx, f"{pre}.name"),
            regions=_strings(ix["region"], ctx, f"{pre}.region"), sector_weights=weights, source=src,
            description=_string(ix.get("description", ""), ctx, f"{pre}.description", required_nonempty=False),
            **params))
    names = [i.name for i in indices]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        ctx.fail("indices", f"duplicate index names {dup}")

    canon = json.dumps(data, sort_keys=True, default=str).encode()
    return MarketParams(
        commodities=tuple(commodities), indices=tuple(indices), source_file=source_file, name=name,
        description=description, source=source, risk_premium_full_at_gdp_loss=full_at,
        risk_premium_correlation=rho,
        equity_source="; ".join(f"{lab}: {s}" for lab, s in (("equity", equity_source),
                                ("index defaults", defaults_source)) if s),
        sha256=hashlib.sha256(canon).hexdigest())


# ------------------------------------------------------------------------------------------------
# Display
# ------------------------------------------------------------------------------------------------
def format_market_params(params: MarketParams) -> str:
    """Readable view with every number and its source (the ``markets show`` command prints this)."""
    lines = [f"Market parameters {params.name!r} ({params.source_file})"]
    if params.description:
        lines.append(f"  {params.description}")
    lines.append(f"  source: {params.source}")
    lines.append("")
    lines.append(f"Commodities ({len(params.commodities)}): %dP = 100 ((1 - q)^(-1/(e_d + e_s)) - 1), capped; "
                 "q = withdrawn share of world supply of the sectors")
    for c in params.commodities:
        lines.append(f"  {c.name}: sectors {', '.join(c.sectors)}" + (f" ({c.description})" if c.description else ""))
        lines.append(f"    demand elasticity |e_d|: {c.elasticity.describe()}")
        lines.append(f"    supply elasticity e_s:   {c.supply_elasticity.describe()}")
        lines.append(f"    cap: +{c.max_price_change_pct:,.4g}%")
        lines.append(f"    source: {c.source}")
    lines.append("")
    lines.append(f"Equity indices ({len(params.indices)}): D = min(100, 100 min(1, L F) + RP h), F = sum w_k "
                 "loss_k + w_other GDP loss; h = min(1, GDP loss / "
                 f"{_g(params.risk_premium_full_at_gdp_loss)}); risk-premium correlation "
                 f"{_g(params.risk_premium_correlation)}")
    if params.equity_source:
        lines.append(f"  source: {params.equity_source}")
    for ix in params.indices:
        lines.append(f"  {ix.name} [{ix.key}]: region {ix.region}" + (f" ({ix.description})" if ix.description else ""))
        w = ", ".join(f"{k} {_g(v)}" for k, v in ix.sector_weights.items())
        lines.append(f"    weights: {w}{', ' if w else ''}other (GDP loss) {_g(ix.other_weight)}")
        lines.append(f"    leverage L: {ix.leverage.describe()}")
        lines.append(f"    risk premium RP (%): {ix.risk_premium_pct.describe()}")
        lines.append(f"    uninvestable when sanctioned: p = {_g(ix.sanction_closure)}, foreign holder's loss (%): "
                     f"{ix.uninvestable_loss_pct.describe()}")
        lines.append(f"    source: {ix.source}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# Compilation against a table
# ------------------------------------------------------------------------------------------------
def n_market_uniforms(params: MarketParams | CompiledMarkets) -> int:
    """How many U(0, 1) numbers one draw needs: ``2 C + 4 I + 1``."""
    if isinstance(params, CompiledMarkets):
        params = params.params
    return 2 * len(params.commodities) + 4 * len(params.indices) + 1


def market_uniform_layout(params: MarketParams | CompiledMarkets) -> dict[str, slice]:
    """Column slices of ``u``: elasticity, supply_elasticity, leverage, risk_premium, closure,
    uninvestable_loss, common_risk_premium (in this order)."""
    if isinstance(params, CompiledMarkets):
        params = params.params
    C, I = len(params.commodities), len(params.indices)
    sizes = [("elasticity", C), ("supply_elasticity", C), ("leverage", I), ("risk_premium", I),
             ("closure", I), ("uninvestable_loss", I), ("common_risk_premium", 1)]
    out, start = {}, 0
    for name_, n in sizes:
        out[name_] = slice(start, start + n)
        start += n
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
            ctx.fail(fld, f"unknown {kind} {n!r}{_did_you_mean(n, valid)} (the table has {kind}s "
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
    """Resolve sector and region names against a table (labels, then built-in groups, e.g. on
    ``wiod2011`` ``MIN_ENERGY -> c2`` and ``EUR -> AUT, BEL, ...``) into index arrays.

    Within a weighted sector group (several table sectors and/or several regions), each industry's
    output-loss ratio is weighted by its share of baseline gross output ``x``; regions are weighted by
    baseline value added (``mrio.gdp``). Raises :class:`MarketParamsError` naming the field.
    """
    ctx = _Ctx(params.source_file)
    R, S = mrio.n_regions, mrio.n_sectors
    regions, sectors = tuple(mrio.regions), tuple(mrio.sectors)
    rgroups, sgroups = dict(mrio.region_groups), dict(mrio.sector_groups)
    x0 = np.asarray(mrio.x, dtype=np.float64).reshape(R, S)
    va0 = np.asarray(mrio.gdp, dtype=np.float64)

    C, I = len(params.commodities), len(params.indices)
    mask = np.zeros((C, S))
    for c_i, c in enumerate(params.commodities):
        mask[c_i, _resolve(c.sectors, sectors, sgroups, ctx, f"commodities.{c.name}.sectors", "sector")] = 1.0

    sector_loading = np.zeros((I, R, S))
    residual_loading = np.zeros((I, R))
    region_share = np.zeros((I, R))
    for i, ix in enumerate(params.indices):
        r_idx = _resolve(ix.regions, regions, rgroups, ctx, f"indices.{ix.key}.region", "region")
        region_share[i, r_idx] = _shares(va0[r_idx])
        residual_loading[i] = ix.other_weight * region_share[i]
        for key, w in ix.sector_weights.items():
            s_idx = _resolve([key], sectors, sgroups, ctx, f"indices.{ix.key}.sector_weights.{key}", "sector")
            block = x0[np.ix_(r_idx, s_idx)]
            sector_loading[i][np.ix_(r_idx, s_idx)] += w * _shares(block.ravel()).reshape(block.shape)

    return CompiledMarkets(
        params=params, table=str(mrio.name), table_sha256=str(getattr(mrio, "sha256", "")),
        regions=regions, sectors=sectors, commodity_names=params.commodity_names,
        index_names=params.index_names, index_keys=tuple(ix.key for ix in params.indices),
        commodity_mask=mask, max_price_change_pct=np.array([c.max_price_change_pct for c in params.commodities]),
        sector_loading=sector_loading, residual_loading=residual_loading, region_share=region_share,
        sanction_closure=np.array([ix.sanction_closure for ix in params.indices], dtype=np.float64),
        risk_premium_full_at_gdp_loss=params.risk_premium_full_at_gdp_loss,
        risk_premium_correlation=params.risk_premium_correlation)


# ------------------------------------------------------------------------------------------------
# Sampling and outcomes
# ------------------------------------------------------------------------------------------------
def sample_market_draws(cm: CompiledMarkets, u: np.ndarray) -> MarketDraws:
    """Map the engine's uniforms ``u`` (B, n_market_uniforms) to market parameters by inverse CDFs.

    Risk premia use a one-factor Gaussian copula: ``z_i = sqrt(rho) z_0 + sqrt(1 - rho) Phi^-1(u_i)``,
    ``RP_i = F_i^-1(Phi(z_i))`` with ``z_0 = Phi^-1(u_common)`` and ``rho = risk_premium_correlation``.
    Closure events are ``u_closure < sanction_closure``.
    """
    p = cm.params
    u = np.asarray(u, dtype=np.float64)
    n = n_market_uniforms(p)
    if u.ndim != 2 or u.shape[1] != n:
        raise ValueError(f"u must have shape (draws, {n}) for these market parameters, got {u.shape}")
    if u.size and (not np.all(np.isfinite(u)) or u.min() < 0.0 or u.max() > 1.0):
        raise ValueError("u must hold uniforms in [0, 1]")
    lay = market_uniform_layout(p)
    B = u.shape[0]

    def cols(name_: str, dists: Sequence[MarketDistribution], uu: np.ndarray | None = None) -> np.ndarray:
        block = u[:, lay[name_]] if uu is None else uu
        out = np.empty((B, len(dists)))
        for j, d in enumerate(dists):
            out[:, j] = d.ppf(block[:, j])
        return out

    u_rp = u[:, lay["risk_premium"]]
    rho = cm.risk_premium_correlation
    if rho > 0 and u_rp.shape[1]:
        z0 = special.ndtri(np.clip(u[:, lay["common_risk_premium"]], _U_EPS, 1 - _U_EPS))
        zi = special.ndtri(np.clip(u_rp, _U_EPS, 1 - _U_EPS))
        u_rp = special.ndtr(math.sqrt(rho) * z0 + math.sqrt(1.0 - rho) * zi)

    return MarketDraws(
        elasticity=cols("elasticity", [c.elasticity for c in p.commodities]),
        supply_elasticity=cols("supply_elasticity", [c.supply_elasticity for c in p.commodities]),
        leverage=cols("leverage", [ix.leverage for ix in p.indices]),
        risk_premium_pct=cols("risk_premium", [ix.risk_premium_pct for ix in p.indices], u_rp),
        closure=(u[:, lay["closure"]] < cm.sanction_closure[None, :]) | (cm.sanction_closure[None, :] >= 1.0),
        uninvestable_loss_pct=cols("uninvestable_loss", [ix.uninvestable_loss_pct for ix in p.indices]),
    )


def withdrawn_share(cm: CompiledMarkets, supply_withdrawn: np.ndarray, world_supply0: np.ndarray) -> np.ndarray:
    """(B, C) share ``q`` of each commodity's baseline world supply that is withdrawn, clipped to [0, 1]."""
    supply0 = np.einsum("cs,s->c", cm.commodity_mask, np.asarray(world_supply0, dtype=np.float64))      # (C,)
    withdrawn = np.einsum("bs,cs->bc", np.asarray(supply_withdrawn, dtype=np.float64), cm.commodity_mask)
    with np.errstate(over="ignore"):  # a tiny baseline and a large withdrawal: q -> inf -> clipped to 1
        q = np.divide(withdrawn, supply0[None, :], out=np.zeros_like(withdrawn), where=supply0[None, :] > 0)
    return np.clip(q, 0.0, 1.0)


def price_change_pct(q: np.ndarray, elasticity: np.ndarray, max_price_change_pct: np.ndarray) -> np.ndarray:
    """``%dP = min(cap, 100 ((1 - q)^(-1/e) - 1))`` elementwise (broadcasting), in logs; zero at q = 0.

    ``e`` is the total short-run elasticity (|demand| + supply, > 0); see the module docstring.
    """
    q = np.clip(np.asarray(q, dtype=np.float64), 0.0, 1.0)
    e = np.maximum(np.asarray(elasticity, dtype=np.float64), 1e-12)
    with np.errstate(divide="ignore"):
        log_ratio = -np.log1p(-q) / e                       # q = 1 -> +inf -> the cap
    log_cap = np.log1p(np.asarray(max_price_change_pct, dtype=np.float64) / 100.0)
    return 100.0 * np.expm1(np.minimum(log_ratio, log_cap)) + 0.0   # + 0.0 turns -0.0 into 0.0


def equity_drawdown_pct(cm: CompiledMarkets, output_loss_ratio: np.ndarray, gdp_loss_ratio: np.ndarray,
                        sanctioned: np.ndarray, draws: MarketDraws) -> np.ndarray:
    """(B, I) drawdown in percent of each index for a foreign holder; see the module docstring."""
    B = output_loss_ratio.shape[0]
    R, S = len(cm.regions), len(cm.sectors)
    I = len(cm.index_names)
    olr = np.clip(np.asarray(output_loss_ratio, dtype=np.float64), 0.0, 1.0).reshape(B, R * S)
    g = np.clip(np.asarray(gdp_loss_ratio, dtype=np.float64), 0.0, 1.0)
    # einsum (no BLAS): each draw's result is independent of the batch size, bit for bit
    F = (np.einsum("bn,in->bi", olr, cm.sector_loading.reshape(I, R * S))
         + np.einsum("br,ir->bi", g, cm.residual_loading))                                 # (B, I) in [0, 1]
    F = np.clip(F, 0.0, 1.0)                                                               # rounding only
    fundamental = 100.0 * np.minimum(1.0, draws.leverage * F)
    g_index = np.einsum("br,ir->bi", g, cm.region_share)                                    # (B, I)
    hit = np.minimum(1.0, g_index / cm.risk_premium_full_at_gdp_loss)
    dd = np.minimum(100.0, fundamental + draws.risk_premium_pct * hit)
    sanctioned_share = np.einsum("br,ir->bi", np.asarray(sanctioned, dtype=np.float64), cm.region_share)
    closed = (sanctioned_share > 0.5) & draws.closure
    dd = np.where(closed, np.maximum(dd, draws.uninvestable_loss_pct), dd)
    return np.clip(dd, 0.0, 100.0) + 0.0


def market_outcomes(cm: CompiledMarkets, supply_withdrawn: np.ndarray, world_supply0: np.ndarray,
                    output_loss_ratio: np.ndarray, gdp_loss_ratio: np.ndarray, sanctioned: np.ndarray,
                    u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Commodity price changes and equity drawdowns for a batch of B draws.

    Parameters
    ----------
    supply_withdrawn : (B, S) world supply of each table sector withdrawn, USD million (output lost plus
        blocked flows not rerouted)
    world_supply0 : (S,) baseline world output by sector, USD million
    output_loss_ratio : (B, R, S) output lost as a share of baseline, in [0, 1]
    gdp_loss_ratio : (B, R) value added lost as a share of baseline
    sanctioned : (B, R) bool, region under financial sanctions in this draw
    u : (B, n_market_uniforms(cm)) uniforms from the engine's seeded stream

    Returns
    -------
    price_change_pct : (B, C) percent, >= 0, at most each commodity's cap
    equity_drawdown_pct : (B, I) percent, in [0, 100]

    Raises ``ValueError`` on wrong shapes or non-finite inputs (a programming error in the caller).
    """
    R, S = len(cm.regions), len(cm.sectors)
    u = np.asarray(u, dtype=np.float64)
    if u.ndim != 2:
        raise ValueError(f"u must be 2-D (draws, {cm.n_uniforms}), got shape {u.shape}")
    B = u.shape[0]
    arrays = {
        "supply_withdrawn": (np.asarray(supply_withdrawn, dtype=np.float64), (B, S)),
        "world_supply0": (np.asarray(world_supply0, dtype=np.float64), (S,)),
        "output_loss_ratio": (np.asarray(output_loss_ratio, dtype=np.float64), (B, R, S)),
        "gdp_loss_ratio": (np.asarray(gdp_loss_ratio, dtype=np.float64), (B, R)),
        "sanctioned": (np.asarray(sanctioned, dtype=bool), (B, R)),
    }
    for name_, (arr, shape) in arrays.items():
        if arr.shape != shape:
            raise ValueError(f"{name_} must have shape {shape} (table {cm.table!r}), got {arr.shape}")
        if arr.dtype != bool and not np.all(np.isfinite(arr)):
            raise ValueError(f"{name_} has non-finite values")
    draws = sample_market_draws(cm, u)
    q = withdrawn_share(cm, arrays["supply_withdrawn"][0], arrays["world_supply0"][0])
    price = price_change_pct(q, draws.elasticity + draws.supply_elasticity, cm.max_price_change_pct[None, :])
    dd = equity_drawdown_pct(cm, arrays["output_loss_ratio"][0], arrays["gdp_loss_ratio"][0],
                             arrays["sanctioned"][0], draws)
    return price, dd
