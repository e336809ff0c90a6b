"""Named inputs of the numba kernels (L1): each groups the arrays of one structure of the model, so a kernel
takes a few named parts instead of dozens of positional arrays, and two index arrays of the same dtype
can no longer be swapped by position without anyone noticing.

numba types a ``typing.NamedTuple`` by its class and its fields' types (``Triples(array(int64, 1d, C),
...)``), reads fields by name inside a kernel at no cost, and caches kernels that take them (``cache=True``)
like any other. The engine builds the per-plan parts once (engine.make_plan, stored on the Plan); only
the per-call ones (:class:`SolverOptions`, :class:`Horizon`, the output groups) are made per call.
docs/architecture.md, "data structures", describes the CSR layouts.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class ShockColumns(NamedTuple):
    """Per shock kind, the columns of the severity matrix (B, K) that hold its shocks, and their packages."""

    shock_pkg: np.ndarray    # (K,) package of every shock
    trade_cols: np.ndarray   # trade-block and tariff shocks
    trade_pkg: np.ndarray
    cap_cols: np.ndarray     # capacity shocks
    fd_cols: np.ndarray      # final-demand shocks
    subst_cols: np.ndarray   # substitution shocks
    subst_pkg: np.ndarray
    subst_mask: np.ndarray   # (K_sub, S) bool: the sectors each substitution shock covers
    dur_cols: np.ndarray     # duration shocks
    dur_pkg: np.ndarray
    inv_cols: np.ndarray     # inventory shocks
    inv_pkg: np.ndarray


class Cells(NamedTuple):
    """What each shock hits (CSR, one row per shock of the kind, in the order of :class:`ShockColumns`)."""

    trade_ptr: np.ndarray    # trade shocks -> triples
    trade_tri: np.ndarray
    cap_ptr: np.ndarray      # capacity shocks -> industries (r * S + s)
    cap_cells: np.ndarray
    fd_ptr: np.ndarray       # final-demand shocks -> cells (r * S + s)
    fd_cells: np.ndarray


class Triples(NamedTuple):
    """The blockable flows (exporter e, importer m, sector s), numbered importer-major."""

    tri_s: np.ndarray        # (T,) sector
    tri_m: np.ndarray        # (T,) importer
    tri_of: np.ndarray       # (R, R, S) triple index or -1
    tri_ptr: np.ndarray      # (n + 1,) CSR: the triples of each supplier industry e * S + s
    tri_idx: np.ndarray
    tri_A_ptr: np.ndarray    # (R + 1,) first triple of each importer


class Baseline(NamedTuple):
    """The baseline table (Miller & Blair 2009, ch. 2) in the forms the kernels read."""

    x0: np.ndarray           # (n,) gross output
    Zsum: np.ndarray         # (n, R) sum_{j in m} Z_ij: intermediate sales of i to region m
    Ypos: np.ndarray         # (n, R) non-negative final demand
    A_cols: np.ndarray       # (R, n, S) A[:, J_m], the columns of buyer region m
    n_sectors: int


class Technology(NamedTuple):
    """Technical coefficients in the dtype of the matrix products (float64, or float32 for speed)."""

    A: np.ndarray            # (n, n)
    tri_A: np.ndarray        # (T, S) A[i_t, J_m_t]: the coefficients of the buyers along triple t


class CriticalInputs(NamedTuple):
    """Per buyer its critical inputs (CSR) and per critical input its supplying industries (CSR)."""

    crit_ptr: np.ndarray     # (n + 1,)
    crit_w: np.ndarray       # weight: 1 critical, 0.5 important (Pichler et al. 2022); (Q,) central on the
    #                          plan, (Q, B) per draw in the constrained kernels (models/constrained.py, eq. 55)
    req: np.ndarray          # baseline requirement of the input
    src_ptr: np.ndarray
    src_i: np.ndarray        # supplying industry
    src_z: np.ndarray        # its baseline flow Z_ij
    src_t: np.ndarray        # triple of the route, -1 if no shock can block it


class SolverOptions(NamedTuple):
    """The constrained fixed point's stopping rule and acceleration."""

    tol: float               # stop when no industry moves by more than tol * x0_j
    max_iter: int            # sweeps at most
    aa_depth: int            # Anderson depth (0: plain iteration)


class Horizon(NamedTuple):
    """The scenario horizon and the calendar (engine module docstring, horizon fraction)."""

    months: float
    days_per_month: float


class ClassShocks(NamedTuple):
    """Which shocks cover each pass class (passclasses.PassClasses)."""

    cls_ptr: np.ndarray      # (C + 1,) CSR: the trade shocks of each class
    cls_shock: np.ndarray
    cls_sector: np.ndarray   # (C,) a sector of the class
    cls_fd_ptr: np.ndarray   # (C + 1,) CSR: the final-demand shocks of each class
    cls_fd: np.ndarray


class TradeGroups(NamedTuple):
    """Flows summed by trade pair for the linear models' trade loss (passclasses.PassClasses)."""

    Q_ptr: np.ndarray        # (R + 1,) first row of each importer in Q
    ug_ptr: np.ndarray       # (R * R + 1,) CSR over pairs: their u-groups
    ug_row: np.ndarray
    ug_c: np.ndarray
    ug_Z: np.ndarray
    grp_ptr: np.ndarray      # (R * R + 1,) CSR over pairs: their groups
    grp_c: np.ndarray
    grp_Y: np.ndarray


class SeverityModel(NamedTuple):
    """What turns a block's normals into occurrences and severities (sampling.py, engine.sample_block)."""

    copula: np.ndarray        # (P, P) factor of the package correlation
    occ_threshold: np.ndarray  # (P,) Phi^-1(probability)
    pkg_corr: np.ndarray      # (P,) within-package correlation
    shock_pkg: np.ndarray     # (K,)
    mitigating: np.ndarray    # (K,) bool: substitution and inventory shocks soften the others
    tables: np.ndarray        # (K, G) severity on a uniform grid of the latent
    sev_cap: np.ndarray       # (K,)
    z_max: float              # the grid's half-width


class LossScales(NamedTuple):
    """Factors from losses to what the reductions record."""

    va: np.ndarray           # (n,) v0_j / x0_j: GDP lost per unit of output lost
    out_scale: np.ndarray    # (n,) 100 / x0
    trade_scale: np.ndarray  # (R*R,) 100 / T0
    head_scale: np.ndarray   # (2R + 2,) the headline cells -> percent


class HistogramSpec(NamedTuple):
    """Bin keys of the streamed histograms (kernels.propagate.bit_histogram)."""

    shift: int
    first_key: int


class Histograms(NamedTuple):
    """One variant's histogram counts (cells, bins) and their bin ranges (cells, 2)."""

    output: np.ndarray
    trade: np.ndarray
    headline: np.ndarray
    output_rng: np.ndarray
    trade_rng: np.ndarray
    headline_rng: np.ndarray


class BlockSums(NamedTuple):
    """One block's sums over its draws."""

    output: np.ndarray       # (n,)
    trade: np.ndarray        # (R, R)
    headline: np.ndarray     # (2R + 2,)
    headline_sq: np.ndarray  # (2R + 2,) sums of squares


class DrawLosses(NamedTuple):
    """Per-draw headline losses of one block (the kept draws)."""

    gdp: np.ndarray          # (n_keep, R)
    exports: np.ndarray      # (n_keep, R)


class LeontiefWork(NamedTuple):
    """Outputs and scratch of kernels.propagate.leontief_block, kept per thread between blocks."""

    dxT: np.ndarray          # (n, B) output lost
    tradeT: np.ndarray       # (R, R, B) trade lost
    f: np.ndarray            # (B,) horizon fraction
    uT: np.ndarray           # (C, B) blocked share of each class
    work: np.ndarray         # float64 scratch (kernels.propagate.leontief_work_sizes)
    work_g: np.ndarray       # scratch in the dtype of the products
