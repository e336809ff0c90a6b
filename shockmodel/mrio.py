"""The multi-regional input-output table (L1): labels, flows and derived matrices.

:class:`MRIO` is immutable. Derived matrices (``A``, ``L``, ``B``, ``G``) are computed on first use and
cached. Industries are region-major: ``i = region * n_sectors + sector`` (docs/architecture.md, "naming").

Pure table transformations live here too: :func:`balance` (make rows add up), :func:`split_sector`
(split one sector into two, e.g. ELECTRONICS into SEMICONDUCTORS and OTHER_ELECTRONICS) and
:func:`aggregate` (sum regions/sectors with a concordance). File reading is in :mod:`shockmodel.io`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Mapping, Sequence

import numpy as np

from shockmodel import iomath
from shockmodel.errors import TableError

#: Relative row-balance tolerance accepted on load: ``max_i |Z1 + Y1 - x|_i / max(x_i, 1)``.
#: Tables we ship are balanced to machine precision by :func:`balance`; a user table may be off by this
#: much (WIOD's published values are truncated to whole USD millions: 5.4e-2 at worst for large rows).
ROW_BALANCE_TOL = 1e-6


@dataclass(frozen=True, eq=False)
class MRIO:
    """A multi-regional input-output table.

    Attributes
    ----------
    name : short identifier (``"default"``, ``"wiod2011"`` or a file stem)
    regions, sectors : labels; industry ``i`` is ``(regions[i // S], sectors[i % S])``
    Z : (n, n) inter-industry flows, row sells to column (USD million)
    Y : (n, R) final demand by destination region (categories summed)
    x : (n,) gross output; v : (n,) primary inputs (value added plus net taxes, ``x - 1'Z``)
    Y_categories : optional (n, R, C) final demand by category; ``fd_categories`` its C labels
    region_groups, sector_groups : built-in groups a scenario may name, e.g. in ``wiod2011``
        ``EUR -> (AUT, BEL, ...)`` and ``AGR_FOOD -> (c1, c3)`` so that scenarios written for the
        16 x 15 ``default`` table also run on the full table
    meta : provenance, units, year, attribution (read-only mapping of strings)
    """

    name: str
    regions: tuple[str, ...]
    sectors: tuple[str, ...]
    Z: np.ndarray
    Y: np.ndarray
    x: np.ndarray
    v: np.ndarray
    Y_categories: np.ndarray | None = None
    fd_categories: tuple[str, ...] = ()
    region_names: tuple[str, ...] = ()
    sector_names: tuple[str, ...] = ()
    region_groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    sector_groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    meta: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for arr in (self.Z, self.Y, self.x, self.v, self.Y_categories):
            if arr is not None:
                arr.setflags(write=False)
        for name_ in ("region_groups", "sector_groups"):
            groups = {k: tuple(v) for k, v in dict(getattr(self, name_)).items()}
            object.__setattr__(self, name_, MappingProxyType(groups))
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))

    # --- sizes and labels -------------------------------------------------------------------
    @property
    def n_regions(self) -> int:
        return len(self.regions)

    @property
    def n_sectors(self) -> int:
        return len(self.sectors)

    @property
    def n(self) -> int:
        return self.n_regions * self.n_sectors

    @property
    def units(self) -> str:
        return self.meta.get("units", "USD million")

    @cached_property
    def labels(self) -> tuple[str, ...]:
        """Industry labels ``"REG:SECTOR"`` in index order."""
        return tuple(f"{r}:{s}" for r in self.regions for s in self.sectors)

    def index(self, region: str, sector: str) -> int:
        """Industry index of ``(region, sector)``."""
        return self.regions.index(region) * self.n_sectors + self.sectors.index(sector)

    @cached_property
    def region_of(self) -> np.ndarray:
        """(n,) region index of each industry."""
        return np.repeat(np.arange(self.n_regions), self.n_sectors)

    @cached_property
    def sector_of(self) -> np.ndarray:
        """(n,) sector index of each industry."""
        return np.tile(np.arange(self.n_sectors), self.n_regions)

    # --- derived matrices (cached) ---------------------------------------------------------
    @property
    def y(self) -> np.ndarray:
        """(n,) total final demand per industry."""
        return self.Y.sum(axis=1)

    @cached_property
    def A(self) -> np.ndarray:
        """Technical coefficients ``Z / x_j`` (Miller & Blair eq. 2.5)."""
        return _frozen(iomath.calc_A(self.Z, self.x))

    @cached_property
    def L(self) -> np.ndarray:
        """Leontief inverse ``(I - A)^-1`` (Miller & Blair eq. 2.11), by LU solve."""
        return _frozen(iomath.calc_L(self.A))

    @cached_property
    def B(self) -> np.ndarray:
        """Allocation coefficients ``Z / x_i`` (Miller & Blair eq. 12.1)."""
        return _frozen(iomath.calc_B(self.Z, self.x))

    @cached_property
    def G(self) -> np.ndarray:
        """Ghosh inverse ``(I - B)^-1`` (Miller & Blair eq. 12.8), by LU solve."""
        return _frozen(iomath.calc_G(self.B))

    @cached_property
    def gdp(self) -> np.ndarray:
        """(R,) baseline value added (primary inputs) by region."""
        return self.v.reshape(self.n_regions, self.n_sectors).sum(axis=1)

    @cached_property
    def exports(self) -> np.ndarray:
        """(R,) baseline exports by region: intermediate and final sales to other regions."""
        return self.bilateral_trade.sum(axis=1) - np.diag(self.bilateral_trade)

    @cached_property
    def bilateral_trade(self) -> np.ndarray:
        """(R, R) flows exporter -> importer (intermediate + final; diagonal = domestic)."""
        return _frozen(self.trade_by_sector.sum(axis=2))

    @cached_property
    def trade_by_sector(self) -> np.ndarray:
        """(R, R, S) flows exporter x importer x product sector (intermediate + final)."""
        R, S = self.n_regions, self.n_sectors
        Zr = self.Z.reshape(R, S, R, S).sum(axis=3)  # (e, s, m)
        out = Zr + self.Y.reshape(R, S, R)
        return _frozen(out.transpose(0, 2, 1).copy())

    @cached_property
    def sha256(self) -> str:
        """Content hash of labels and arrays: identifies the table in manifests."""
        h = hashlib.sha256()
        for lab in (self.regions, self.sectors):
            h.update("\x1f".join(lab).encode())
        for arr in (self.Z, self.Y, self.x, self.v):
            h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
        return h.hexdigest()

    def __repr__(self) -> str:
        return f"MRIO({self.name!r}, {self.n_regions} regions x {self.n_sectors} sectors)"


def _frozen(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


# --- validation ---------------------------------------------------------------------------------
def validate(mrio: MRIO, *, source: str | None = None, row_tol: float = ROW_BALANCE_TOL) -> dict:
    """Check a table before use; raise :class:`TableError` naming ``source`` and the first problem.

    Checks: shapes, unique labels, finite values, no negative flows or outputs, row balance
    ``|Z1 + Y1 - x| <= row_tol * max(x, 1)``, column balance ``1'Z + v = x``, productivity
    (spectral radius of A below 1; Miller & Blair section 2.3.4). Returns a balance report.
    """
    src = source or mrio.name
    R, S = mrio.n_regions, mrio.n_sectors
    n = R * S

    def fail(field_, msg):
        raise TableError(msg, file=src, field=field_)

    for kind, labels in (("regions", mrio.regions), ("sectors", mrio.sectors)):
        if len(labels) == 0:
            fail(kind, "no labels")
        dup = sorted({lab for lab in labels if list(labels).count(lab) > 1})
        if dup:
            fail(kind, f"duplicate labels {dup}")
        if any(not isinstance(lab, str) or not lab.strip() for lab in labels):
            fail(kind, "labels must be non-empty strings")
    expected = {"Z": (n, n), "Y": (n, R), "x": (n,), "v": (n,)}
    for name_, shape in expected.items():
        arr = getattr(mrio, name_)
        if arr.shape != shape:
            fail(name_, f"shape {arr.shape}, expected {shape} for {R} regions x {S} sectors")
    if mrio.Y_categories is not None and mrio.Y_categories.shape[:2] != (n, R):
        fail("Y_categories", f"shape {mrio.Y_categories.shape}, expected ({n}, {R}, C)")
    for name_ in ("Z", "Y", "x", "v"):
        arr = getattr(mrio, name_)
        bad = ~np.isfinite(arr)
        if bad.any():
            first = np.argwhere(bad)[0]
            fail(name_, f"{int(bad.sum())} non-finite values (NaN or Inf), first at index {tuple(first.tolist())}")
    if (mrio.Z < 0).any():
        i, j = np.argwhere(mrio.Z < 0)[0]
        fail("Z", f"negative flow {mrio.Z[i, j]:g} from {mrio.labels[i]} to {mrio.labels[j]}")
    if (mrio.x < 0).any():
        i = int(np.argmax(mrio.x < 0))
        fail("x", f"negative gross output {mrio.x[i]:g} for {mrio.labels[i]}")
    gap = iomath.row_balance_gap(mrio.Z, mrio.Y, mrio.x)
    rel = np.abs(gap) / np.maximum(mrio.x, 1.0)
    if rel.max() > row_tol:
        i = int(np.argmax(rel))
        fail("x", f"row balance off by {rel[i]:.3g} (relative) at {mrio.labels[i]}: Z row + Y row = "
                  f"{mrio.x[i] + gap[i]:.6g}, x = {mrio.x[i]:.6g}; tolerance {row_tol:g} "
                  "(rebalance with x := Z1 + Y1)")
    col_gap = mrio.Z.sum(axis=0) + mrio.v - mrio.x
    col_rel = np.abs(col_gap) / np.maximum(mrio.x, 1.0)
    if col_rel.max() > 1e-9:
        i = int(np.argmax(col_rel))
        fail("v", f"column balance 1'Z + v != x at {mrio.labels[i]} (relative gap {col_rel[i]:.3g})")
    rho = iomath.spectral_radius(mrio.A)
    if not rho < 1.0:
        fail("Z", f"unproductive economy: spectral radius of A is {rho:.4f}, must be below 1")
    return {
        "row_gap_max_abs": float(np.abs(gap).max()),
        "row_gap_max_rel": float(rel.max()),
        "row_tolerance": row_tol,
        "col_gap_max_rel": float(col_rel.max()),
        "spectral_radius_A": rho,
        "max_column_sum_A": float(mrio.A.sum(axis=0).max()),
    }


# --- transformations -----------------------------------------------------------------------------
def balance(Z: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Make a table balanced by construction: ``x := Z1 + Y1`` and ``v := x - 1'Z``.

    Rows whose balanced output is not positive (dead industries; in WIOD 2011 they hold only
    truncation residue of at most USD 1 million) get their Z row and Y row set to zero, so that
    ``x >= 0`` everywhere. Returns ``(Z, Y, x, v)``; ``Y`` keeps its trailing dimensions.
    """
    Z = np.array(Z, dtype=np.float64)
    Y = np.array(Y, dtype=np.float64)
    y = Y.reshape(Y.shape[0], -1).sum(axis=1)
    x = Z.sum(axis=1) + y
    dead = x <= 0
    if dead.any():
        Z[dead, :] = 0.0
        Y[dead, ...] = 0.0
        x = Z.sum(axis=1) + Y.reshape(Y.shape[0], -1).sum(axis=1)
    v = x - Z.sum(axis=0)
    return Z, Y, x, v


def _allocation_scale(values: np.ndarray, weights: np.ndarray, target: float) -> np.ndarray:
    """Shares ``min(1, alpha * w)`` with ``alpha`` chosen so that ``sum(values * share) = target``.

    ``values >= 0``; ``weights >= 0``. The function ``f(alpha)`` is continuous, piecewise linear and
    non-decreasing, so the root is found exactly between its sorted breakpoints ``1 / w``.
    """
    if target <= 0:
        return np.zeros_like(values)
    pos = (weights > 0) & (values > 0)
    reachable = values[pos].sum()
    if target > reachable * (1 + 1e-12):
        raise TableError(f"cannot allocate {target:.6g}: buyers with positive weight only take {reachable:.6g}")
    w, val = weights[pos], values[pos]
    order = np.argsort(-w)  # largest weight saturates first (smallest breakpoint 1/w)
    w, val = w[order], val[order]
    # With the first k entries saturated: f = sum(val[:k]) + alpha * sum(val[k:] * w[k:])
    sat = np.concatenate([[0.0], np.cumsum(val)])
    lin = np.concatenate([np.cumsum((val * w)[::-1])[::-1], [0.0]])
    alpha = np.inf
    for k in range(len(w) + 1):
        if k < len(w) and lin[k] > 0:
            a = (target - sat[k]) / lin[k]
            lo = 0.0 if k == 0 else 1.0 / w[k - 1]
            if lo - 1e-15 <= a <= 1.0 / w[k] + 1e-15:
                alpha = a
                break
    share = np.zeros_like(values)
    share[pos] = np.minimum(1.0, alpha * weights[pos]) if np.isfinite(alpha) else 1.0
    return share


def split_sector(
    mrio: MRIO,
    sector: str,
    new_sectors: tuple[str, str],
    share: Sequence[float],
    buyer_weight: Mapping[str, float],
    final_demand_weight: float,
    *,
    new_sector_names: tuple[str, str] | None = None,
    name: str | None = None,
    meta: Mapping[str, str] | None = None,
) -> MRIO:
    """Split ``sector`` into ``new_sectors = (part, rest)`` in every region, keeping every balance.

    Rule (documented in ``params/semiconductors.toml``):

    * Output: ``x_part[r] = share[r] * x_sector[r]``, ``x_rest = (1 - share[r]) * x_sector[r]``.
    * Columns (what the industry buys): proportional, ``Z[:, part_r] = share[r] * Z[:, sector_r]``, so
      both halves have the sector's input structure and ``v`` splits in the same ratio (assumption:
      no public MRIO gives the semiconductor cost structure for 2011).
    * Rows (whom it sells to): the part's sales to buyer ``j`` are ``z_j * min(1, alpha * w_j)``, where
      ``z_j`` is the sector's sale to ``j``, ``w_j = buyer_weight[sector of j]`` (final demand:
      ``final_demand_weight``) and ``alpha`` is solved so the part's row adds up to ``x_part``. The rest
      gets ``z_j`` minus that, so every buyer's purchases of the two halves add up to its original
      purchase (column sums and every other row unchanged). Chips thus go mainly to buyers that use them.

    The input table must be balanced (``x = Z1 + Y1``; see :func:`balance`). Negative final-demand cells
    (inventory draw-downs) are left with the rest.
    """
    if sector not in mrio.sectors:
        raise TableError(f"sector {sector!r} not in table (have {list(mrio.sectors)})", file=mrio.name)
    share = np.asarray(share, dtype=np.float64)
    R, S = mrio.n_regions, mrio.n_sectors
    if share.shape != (R,) or ((share < 0) | (share > 1)).any():
        raise TableError(f"split shares must be {R} values in [0, 1]", file=mrio.name, field="share")
    k = mrio.sectors.index(sector)
    new_sectors_all = mrio.sectors[:k] + tuple(new_sectors) + mrio.sectors[k + 1:]
    S2 = S + 1
    # old industry -> new industry mapping (part goes to the slot of the old sector, rest after it)
    old_idx = np.arange(R * S)
    new_of_old = (old_idx // S) * S2 + np.where(old_idx % S > k, old_idx % S + 1, old_idx % S)
    split_old = np.array([r * S + k for r in range(R)])

    # column split: (n_old, n_new)
    Zc = np.zeros((R * S, R * S2))
    Zc[:, new_of_old] = mrio.Z
    for r, j in enumerate(split_old):
        col = mrio.Z[:, j]
        Zc[:, new_of_old[j]] = share[r] * col
        Zc[:, new_of_old[j] + 1] = (1.0 - share[r]) * col

    Ycat = mrio.Y_categories if mrio.Y_categories is not None else mrio.Y[:, :, None]
    C = Ycat.shape[2]
    Z2 = np.zeros((R * S2, R * S2))
    Y2 = np.zeros((R * S2, R, C))
    Z2[new_of_old, :] = Zc
    Y2[new_of_old] = Ycat

    w_sector = np.array([float(buyer_weight.get(s, 0.0)) for s in new_sectors_all])
    w_cols = np.tile(w_sector, R)
    x_old = mrio.x
    for r, i in enumerate(split_old):
        z = Zc[i]
        y = Ycat[i].ravel()
        values = np.concatenate([z, np.where(y > 0, y, 0.0)])
        weights = np.concatenate([w_cols, np.full(y.size, float(final_demand_weight))])
        target = share[r] * x_old[i]
        f = _allocation_scale(values, weights, target)
        part = values * f
        zp, yp = part[: z.size], part[z.size:].reshape(R, C)
        Z2[new_of_old[i]] = zp
        Z2[new_of_old[i] + 1] = z - zp
        Y2[new_of_old[i]] = yp
        Y2[new_of_old[i] + 1] = Ycat[i] - yp

    x2 = Z2.sum(axis=1) + Y2.reshape(R * S2, -1).sum(axis=1)
    v2 = x2 - Z2.sum(axis=0)
    names = mrio.sector_names
    if names:
        extra = new_sector_names or new_sectors
        names = names[:k] + tuple(extra) + names[k + 1:]
    return MRIO(
        name=name or mrio.name,
        regions=mrio.regions,
        sectors=new_sectors_all,
        Z=Z2,
        Y=Y2.sum(axis=2),
        x=x2,
        v=v2,
        Y_categories=Y2 if mrio.Y_categories is not None else None,
        fd_categories=mrio.fd_categories,
        region_names=mrio.region_names,
        sector_names=names,
        region_groups=mrio.region_groups,
        sector_groups=_split_groups(mrio.sector_groups, sector, new_sectors),
        meta=dict(meta if meta is not None else mrio.meta),
    )


def _split_groups(groups, sector, new_sectors):
    """Replace ``sector`` by its two parts in every group, and add a group named after it."""
    out = {k: tuple(p for s in v for p in ((*new_sectors,) if s == sector else (s,))) for k, v in groups.items()}
    out.setdefault(sector, tuple(new_sectors))
    return out


def aggregate(
    mrio: MRIO,
    region_map: Mapping[str, str] | None = None,
    sector_map: Mapping[str, str] | None = None,
    *,
    regions: Sequence[str] | None = None,
    sectors: Sequence[str] | None = None,
    name: str | None = None,
) -> MRIO:
    """Sum regions and/or sectors with concordances ``old label -> new label`` (``S Z S'``).

    ``regions``/``sectors`` fix the order of the new labels (default: first appearance).
    World totals are unchanged; an old label missing from a map is an error.
    """
    def concord(old, mapping, order, what):
        if mapping is None:
            return np.eye(len(old)), tuple(old)
        missing = [o for o in old if o not in mapping]
        if missing:
            raise TableError(f"{what} concordance misses {missing[:5]}", file=mrio.name)
        new = tuple(order) if order is not None else tuple(dict.fromkeys(mapping[o] for o in old))
        M = np.zeros((len(new), len(old)))
        for j, o in enumerate(old):
            M[new.index(mapping[o]), j] = 1.0
        return M, new

    Mr, new_regions = concord(mrio.regions, region_map, regions, "region")
    Ms, new_sectors = concord(mrio.sectors, sector_map, sectors, "sector")
    Sm = np.kron(Mr, Ms)  # (n_new, n_old), region-major like the index
    Z = Sm @ mrio.Z @ Sm.T
    Ycat = mrio.Y_categories if mrio.Y_categories is not None else mrio.Y[:, :, None]
    Yc = np.einsum("ai,irc,br->abc", Sm, Ycat, Mr)
    x = Sm @ mrio.x
    v = Sm @ mrio.v
    return MRIO(
        name=name or mrio.name,
        regions=new_regions,
        sectors=new_sectors,
        Z=Z,
        Y=Yc.sum(axis=2),
        x=x,
        v=v,
        Y_categories=Yc if mrio.Y_categories is not None else None,
        fd_categories=mrio.fd_categories,
        meta=dict(mrio.meta),
    )
