"""Pass classes: the few distinct ways a scenario can cut the flows of a table (L2: numpy only).

A flow is a supplier industry ``i`` selling to buyer region ``m`` (intermediate orders ``Zsum[i, m]`` and
final demand ``Y+[i, m]``). In every draw, a flow keeps the share ``pass`` of its trade (the product over
the trade shocks that cover it, softened by the substitution of its sector) and its buyer keeps the share
``dem`` of final demand (the final-demand shocks on the buyer's cell). Flows that the same trade shocks
cover, whose sector has the same substitution masks and whose buyer cell the same final-demand shocks
cover, get the same ``pass`` and ``dem`` in every draw: they form a *pass class*. A scenario of the library
touches thousands of flows but has about a hundred classes, so per-draw work scales with classes:

* final demand lost: ``dy = sum_c w_c Yc[:, c]`` with ``w_c = 1 - pass_c dem_c`` and ``Yc[i, c]`` the
  final demand of i's flows in class c, hence in the Leontief model (Miller & Blair 2009, eq. 2.11 in
  changes) ``dx = L dy = sum_c w_c (L Yc)[:, c]``: a (draws x C) by (C x n) product instead of
  (draws x n) by (n x n);
* bilateral trade lost (kernels.propagate.linear_trade): one row of ``A`` summed by exporter region per
  pair, plus one row per *u-group* instead of one per flow. A group is the flows of one class on one
  (exporter, importer) pair; only the blocked share ``u_c = 1 - pass_c`` multiplies its row of ``A``, and
  classes that differ only in their final-demand shocks have the same ``u_c`` (bit for bit: the same
  products in the same order), so their groups on a pair share one row, the sum of theirs (a u-group);
  classes no trade shock covers have ``u_c = 0`` and need no row at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class PassClasses:
    """Class structure of one (scenario, table); arrays index trade shocks and final-demand shocks in the
    order of the plan's ``trade_cols`` and ``fd_cols``."""

    cls_ptr: np.ndarray      # (C + 1,) CSR: the trade shocks of each class (ascending)
    cls_shock: np.ndarray
    cls_sector: np.ndarray   # (C,) a sector of the class (all its flows share the substitution masks)
    cls_fd_ptr: np.ndarray   # (C + 1,) CSR: the final-demand shocks of each class (ascending)
    cls_fd: np.ndarray
    Yc: np.ndarray           # (n, C) final demand of supplier i in class c
    grp_ptr: np.ndarray      # (R * R + 1,) CSR over pairs e * R + m: their groups
    grp_c: np.ndarray        # (G,) class
    grp_Z: np.ndarray        # (G,) baseline intermediate flow of the group
    grp_Y: np.ndarray        # (G,) baseline final-demand flow of the group
    ug_ptr: np.ndarray       # (R * R + 1,) CSR over pairs: their u-groups (groups of classes with one u_c)
    ug_row: np.ndarray       # (U,) row of the u-group in Q
    ug_c: np.ndarray         # (U,) a class of the u-group (all have the same u_c)
    ug_Z: np.ndarray         # (U,) baseline intermediate flow of the u-group
    Q: np.ndarray            # (rows, S): per importer m, rows Ar[e, m-block] for every e, then Ag of m's u-groups
    Q_ptr: np.ndarray        # (R + 1,) first row of each importer in Q

    @property
    def n_classes(self) -> int:
        return len(self.cls_sector)


def _csr(lists) -> tuple[np.ndarray, np.ndarray]:
    ptr = np.zeros(len(lists) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(a) for a in lists])
    idx = np.array([v for a in lists for v in a], dtype=np.int64)
    return ptr, idx


def pass_classes(A: np.ndarray, Zsum: np.ndarray, Ypos: np.ndarray, n_regions: int, n_sectors: int,
                 tri_e: np.ndarray, tri_m: np.ndarray, tri_s: np.ndarray,
                 trade_ptr: np.ndarray, trade_tri: np.ndarray, trade_pkg: np.ndarray,
                 fd_ptr: np.ndarray, fd_cells: np.ndarray,
                 subst_pkg: np.ndarray, subst_mask: np.ndarray) -> PassClasses:
    """Group the flows a scenario can touch into pass classes and (exporter, importer, class) groups."""
    R, S = n_regions, n_sectors
    n = R * S
    trade_sig: dict[int, list[int]] = {}
    for q in range(len(trade_ptr) - 1):
        for t in trade_tri[trade_ptr[q]:trade_ptr[q + 1]]:
            trade_sig.setdefault(int(t), []).append(q)
    fd_sig: dict[int, list[int]] = {}
    for q in range(len(fd_ptr) - 1):
        for cell in fd_cells[fd_ptr[q]:fd_ptr[q + 1]]:
            fd_sig.setdefault(int(cell), []).append(q)

    flows: dict[tuple[int, int], tuple[tuple[int, ...], int]] = {}   # (i, m) -> (trade sig, triple)
    for t in range(len(tri_e)):
        flows[(int(tri_e[t]) * S + int(tri_s[t]), int(tri_m[t]))] = tuple(trade_sig.get(t, ())), t
    for cell in fd_sig:
        m, s = divmod(cell, S)
        for e in range(R):
            i = e * S + s
            if (i, m) not in flows and Ypos[i, m] > 0:
                flows[(i, m)] = (), -1

    classes: dict[tuple, int] = {}
    cls_trade, cls_sector, cls_fdl = [], [], []
    Yc_entries, groups, ugroups = [], {}, {}
    u_class: dict[tuple, int] = {}    # (trade sig, subst sig) -> its first class: classes sharing u_c
    for (i, m), (sig, _) in sorted(flows.items()):
        s = i % S
        pkgs = {int(trade_pkg[q]) for q in sig}
        subst_sig = tuple(bool(subst_mask[q, s]) for q in range(len(subst_pkg)) if int(subst_pkg[q]) in pkgs)
        fsig = tuple(fd_sig.get(m * S + s, ()))
        key = (sig, subst_sig, fsig)
        c = classes.get(key)
        if c is None:
            c = classes[key] = len(classes)
            cls_trade.append(sig)
            cls_sector.append(s)
            cls_fdl.append(fsig)
        Yc_entries.append((i, c, Ypos[i, m]))
        g = groups.setdefault((i // S, m, c), [0.0, 0.0])
        g[0] += Zsum[i, m]
        g[1] += Ypos[i, m]
        if sig:   # u_c = 0 without trade shocks: no row
            uc = u_class.setdefault((sig, subst_sig), c)
            ug = ugroups.setdefault((i // S, m, uc), [0.0, np.zeros(S)])
            ug[0] += Zsum[i, m]
            ug[1] += A[i, m * S:(m + 1) * S]

    C = len(classes)
    Yc = np.zeros((n, C))
    for i, c, y in Yc_entries:
        Yc[i, c] += y
    cls_ptr, cls_shock = _csr(cls_trade)
    cls_fd_ptr, cls_fd = _csr(cls_fdl)

    keys = sorted(groups, key=lambda k: (k[0] * R + k[1], k[2]))
    ukeys = sorted(ugroups, key=lambda k: (k[0] * R + k[1], k[2]))
    per_m = np.zeros(R, dtype=np.int64)
    for _, m, _ in ukeys:
        per_m[m] += 1
    Q_ptr = np.zeros(R + 1, dtype=np.int64)
    Q_ptr[1:] = np.cumsum(R + per_m)
    Q = np.zeros((int(Q_ptr[-1]), S))
    Ar = A.reshape(R, S, n).sum(axis=1)                      # (R, n): A summed over the exporter's sectors
    fill = Q_ptr[:-1] + R
    ug_row = np.empty(len(ukeys), dtype=np.int64)
    for m in range(R):
        Q[Q_ptr[m]:Q_ptr[m] + R] = Ar[:, m * S:(m + 1) * S]
    for u, (e, m, c) in enumerate(ukeys):
        ug_row[u] = fill[m]
        fill[m] += 1
        Q[ug_row[u]] = ugroups[(e, m, c)][1]

    def pair_ptr(ks):
        ptr = np.zeros(R * R + 1, dtype=np.int64)
        np.add.at(ptr, np.array([k[0] * R + k[1] + 1 for k in ks], dtype=np.int64), 1)
        return np.cumsum(ptr)

    return PassClasses(
        cls_ptr=cls_ptr, cls_shock=cls_shock, cls_sector=np.array(cls_sector, dtype=np.int64),
        cls_fd_ptr=cls_fd_ptr, cls_fd=cls_fd, Yc=Yc,
        grp_ptr=pair_ptr(keys), grp_c=np.array([k[2] for k in keys], dtype=np.int64),
        grp_Z=np.array([groups[k][0] for k in keys]), grp_Y=np.array([groups[k][1] for k in keys]),
        ug_ptr=pair_ptr(ukeys), ug_row=ug_row, ug_c=np.array([k[2] for k in ukeys], dtype=np.int64),
        ug_Z=np.array([ugroups[k][0] for k in ukeys]), Q=Q, Q_ptr=Q_ptr,
    )
