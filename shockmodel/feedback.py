"""Second-round feedback from incomes, prices and uncertainty to final demand (L4, numpy only).

The propagation models are static: they return the output lost over the horizon (a horizon average).
This module adds a second round to it, per draw: the first round's losses change final demand through
three channels, each switchable,

* ``income``: households spend less when their region's income (value added) falls, with a sampled
  marginal propensity ``c`` (a Keynesian, Type-II closure: Miller & Blair 2009, section 2.5);
* ``prices``: commodity price changes move real incomes (terms of trade): a region that imports a
  commodity whose price rises loses ``pi_c NX_(r, c)`` of income, an exporter gains it; a sampled share
  ``tau`` of the change is spent within the horizon;
* ``uncertainty``: investment demand falls with the common equity risk premium of the draw,
  ``dI_r = kappa (h_w c_rp) I0_r / 100`` (semi-elasticity ``kappa`` in % per pp; Caldara & Iacoviello
  2022, AER 112(4), for the sign and channel);

and the induced change of final demand goes through the Leontief inverse (Miller & Blair 2009, eq. 2.11
in changes). Equations F1-F4 of docs/model-markets.md::

    dY   = C a + G b                         (C: household consumption shares, G: investment shares, (n, R))
    a    = c g_T + tau T,   b = dI           (T: terms-of-trade income loss, (R,); dI: investment lost)
    g_T  = (I - c V L C)^-1 (g_1 + V L (C tau T + G b))   (total value added lost, Type-II closure)
    dx_2 = L dY,    dx = clip(dx_1 + dx_2, -x0, x0)   (a negative loss is a gain)

``V`` (R, n) sums value added per unit of output by region, ``g_1 = V dx_1`` the first round's value
added lost. With every channel off ``dx = dx_1`` exactly. The trade matrices are first-round only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shockmodel import markets as mk
from shockmodel.errors import UserError

CHANNELS = ("income", "prices", "uncertainty")


def parse_channels(spec: str | None) -> tuple[str, ...]:
    """``"income,prices"`` -> ("income", "prices"); ``"none"``, "" or None -> (); "all" -> every channel.
    Raises :class:`UserError` naming the unknown channel."""
    if spec is None:
        return ()
    if not isinstance(spec, str):
        spec = ",".join(spec)
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if parts in ([], ["none"]):
        return ()
    if parts == ["all"]:
        return CHANNELS
    bad = [p for p in parts if p not in CHANNELS]
    if bad:
        raise UserError(f"unknown feedback channel {bad[0]!r}; choose from {', '.join(CHANNELS)}, 'all' or 'none'",
                        field="feedback")
    return tuple(c for c in CHANNELS if c in parts)


@dataclass(frozen=True, eq=False)
class FeedbackArrays:
    """Table-level arrays of the second round (:func:`compile_feedback`)."""

    channels: tuple[str, ...]
    LC: np.ndarray      # (n, R) L times household consumption shares: output per unit of consumption
    LG: np.ndarray      # (n, R) L times investment shares
    VLC: np.ndarray     # (R, R) value added per unit of consumption, by region
    VLG: np.ndarray     # (R, R)
    V: np.ndarray       # (n, R) value added per unit of output, in its region's column
    invest0: np.ndarray  # (R,) baseline investment demand (GFCF), USD million a year
    nx: np.ndarray      # (C, R) baseline net sales of each commodity by region, times its revenue share
    x0: np.ndarray      # (n,)


def _category(mrio, name: str) -> np.ndarray | None:
    cats = tuple(getattr(mrio, "fd_categories", None) or ())
    Yc = getattr(mrio, "Y_categories", None)
    if Yc is None or name not in cats:
        return None
    return np.clip(np.asarray(Yc[:, :, cats.index(name)], dtype=np.float64), 0.0, None)


#: Investment share of final demand where the table has no GFCF column: world gross capital formation was
#: about 25% of GDP in 2010-2022 (World Bank WDI NE.GDI.TOTL.ZS; assumption for the table at hand).
FALLBACK_INVESTMENT_SHARE = 0.25


def _shares(M: np.ndarray) -> np.ndarray:
    tot = M.sum(axis=0, keepdims=True)
    return np.divide(M, tot, out=np.zeros_like(M), where=tot > 0)


def demand_shares(mrio) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Household consumption shares ``C`` and investment shares ``G`` (n, R) of each region's final demand
    by supplying industry, and baseline investment ``invest0`` (R,), from the table's ``CONS_h`` and ``GFCF``
    categories (all final demand, and FALLBACK_INVESTMENT_SHARE of it as investment, where a table has none)."""
    Ypos = np.clip(np.asarray(mrio.Y, dtype=np.float64), 0.0, None)
    cons = _category(mrio, "CONS_h")
    gfcf = _category(mrio, "GFCF")
    C = _shares(cons if cons is not None else Ypos)
    if gfcf is not None:
        G, invest0 = _shares(gfcf), gfcf.sum(axis=0)
    else:
        G, invest0 = _shares(Ypos), FALLBACK_INVESTMENT_SHARE * Ypos.sum(axis=0)
    return C, G, invest0


def demand_cells(mrio) -> tuple[np.ndarray, np.ndarray]:
    """(R S,) each final-demand cell's household consumption share of its region's consumption and its
    baseline investment, each divided by the cell's baseline final demand: a cut of ``a`` in consumption and
    ``b`` in investment lowers the cell's multiplier by ``a cons_cut + b inv_cut`` (the dynamic model's
    feedback inside its steps, docs/model-dynamic.md D17-D18)."""
    R, S = mrio.n_regions, mrio.n_sectors
    C, G, invest0 = demand_shares(mrio)                        # (n, R), (n, R), (R,)
    ytot = np.clip(np.asarray(mrio.Y, dtype=np.float64), 0.0, None).reshape(R, S, R).sum(axis=0)   # (S, R)
    cons_cell = C.reshape(R, S, R).sum(axis=0)                     # (S, R) consumption share of product s in r
    inv_cell = G.reshape(R, S, R).sum(axis=0) * invest0[None, :]   # (S, R) investment of r in product s
    cons_cut = np.divide(cons_cell, ytot, out=np.zeros_like(ytot), where=ytot > 0).T.reshape(R * S)
    inv_cut = np.divide(inv_cell, ytot, out=np.zeros_like(ytot), where=ytot > 0).T.reshape(R * S)
    return np.ascontiguousarray(cons_cut), np.ascontiguousarray(inv_cut)


def compile_feedback(cm: mk.CompiledMarkets, mrio, channels: tuple[str, ...]) -> FeedbackArrays:
    """Consumption and investment shares from the table's final-demand categories (``CONS_h`` and
    ``GFCF``; all final demand where a table has none), the Leontief inverse products and the baseline net
    commodity sales that the terms-of-trade channel prices."""
    R, S = mrio.n_regions, mrio.n_sectors
    C, G, invest0 = demand_shares(mrio)
    L = np.asarray(mrio.L, dtype=np.float64)
    V = cm.va_ratio[:, None] * cm.region_onehot                               # (n, R)
    LC, LG = L @ C, L @ G
    # net sales of commodity c by region r: its producers' deliveries into the market's cells less its
    # buyers' purchases there (domestic deliveries cancel), times the commodity's revenue share
    Sc = len(cm.csec)
    sales = (cm.K_cap @ cm.cell_market).reshape(R, S, -1).sum(axis=1)          # (R, C)
    bought = (cm.deliv0[:, None] * cm.cell_market).reshape(R, Sc, -1).sum(axis=1)
    share = np.array([c.revenue_share for c in cm.params.commodities])
    nx = ((sales - bought) * share[None, :]).T
    return FeedbackArrays(channels=tuple(channels), LC=LC, LG=LG, VLC=V.T @ LC, VLG=V.T @ LG, V=V,
                          invest0=invest0, nx=nx, x0=cm.x0)


def second_round(fa: FeedbackArrays, cm: mk.CompiledMarkets, dx1: np.ndarray, price_pct: np.ndarray,
                 draws: mk.MarketDraws, horizon_years: float) -> np.ndarray:
    """Output lost after the second round, (B, n) in USD million over the horizon (F1-F4).

    dx1 : (B, n) first-round output lost (horizon-scaled); price_pct : (B, C) commodity price changes;
    draws : the market draws (mpc, tot_pass, investment semi-elasticity, common risk premium);
    horizon_years : the horizon in years (incomes from annual flows over the horizon).
    """
    B = dx1.shape[0]
    R = fa.VLC.shape[0]
    g1 = dx1 @ fa.V                                                            # (B, R) value added lost
    zero = np.zeros((B, R))
    tot = zero
    if "prices" in fa.channels:   # income lost by terms of trade, spent with share tau
        tot = -(price_pct / 100.0) @ fa.nx * (horizon_years * draws.tot_pass[:, None])
    inv = zero
    if "uncertainty" in fa.channels:
        _, h_w = mk.risk_ramps(cm, np.divide(g1, cm.gdp0, out=np.zeros_like(g1), where=cm.gdp0 > 0))
        rp = h_w * draws.common_risk_premium_pp                               # (B,) pp
        inv = (draws.investment_semi_elasticity * rp / 100.0)[:, None] * fa.invest0[None, :] * horizon_years
    c = draws.mpc if "income" in fa.channels else np.zeros(B)
    rhs = g1 + tot @ fa.VLC.T + inv @ fa.VLG.T
    if "income" in fa.channels:
        A = np.eye(R)[None, :, :] - c[:, None, None] * fa.VLC[None, :, :]
        g_total = np.linalg.solve(A, rhs[:, :, None])[:, :, 0]
    else:
        g_total = rhs
    a = c[:, None] * g_total + tot
    dx2 = a @ fa.LC.T + inv @ fa.LG.T
    return np.clip(dx1 + dx2, -fa.x0, fa.x0)
