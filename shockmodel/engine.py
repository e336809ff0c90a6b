"""Monte Carlo driver (L3): seeding, sampling, kernel calls -> :class:`RawResult` (numpy only).

Reproducibility (docs/architecture.md, "reproducibility"). Draws are cut into fixed *blocks* of ``BLOCK`` draws; block ``k``
takes its random numbers from ``np.random.SeedSequence(seed, spawn_key=(k,))`` and is propagated as one
batch. A chunk (the unit of work handed to a thread, process or dask worker) is a whole number of blocks,
and every reduction is either per draw, an integer histogram, or a per-block sum added in block order.
So the numbers do not depend on chunk size, worker count, thread count or backend.

Variants. One call can evaluate the same draws under several *variants* (sets of packages switched
on); the demo uses ``combined`` and each package alone, so the simultaneity premium
``loss(combined) - sum_p loss(p alone)`` is computed draw by draw with common random numbers.

Horizon. Shocks last ``T`` months (the longest duration among the packages that occur; a package with
no duration shock lasts the whole horizon ``H``) and buyers hold ``b`` days of inventory (the smallest
among the occurring packages' inventory shocks, 0 if none). The propagation gives an annual-rate loss;
the reported loss is that times ``f = clip(min(T, H) - b / 30.4375, 0, H) / H`` (assumption: inventories
delay the whole loss; a dynamic ARIO-type mode would separate direct from indirect losses).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from shockmodel import models, runtime
from shockmodel.criticality import class_probabilities, class_thresholds, sampled_weights
from shockmodel.errors import UserError
from shockmodel.kernels import structs
from shockmodel.models._shared import static_shocks as _static_shocks  # noqa: F401  (tests use the old name)
from shockmodel.mrio import MRIO
from shockmodel.passclasses import PassClasses, pass_classes
from shockmodel.sampling import (
    TABLE_POINTS,
    TABLE_Z,
    equicorrelation_factor,
    severity_cap,
    severity_table,
    table_ppf,
)

MODELS = models.MODELS   #: the registry's names (shockmodel/models/__init__.py)
PRECISIONS = models.PRECISIONS   #: (shockmodel/models/__init__.py)
#: fixed-point tolerance per precision: float32 products carry ~1e-7 relative rounding, so the
#: constrained solver stops at 1e-6 of output there (tests/test_precision.py bounds the difference)
DEFAULT_TOL = {"float64": 1e-8, "float32": 1e-6}
BLOCK = 256              #: draws per random-number block and per propagation batch (fixed: reproducibility)
SUB_BATCH = 64           #: draws iterated together by the constrained solver (fixed: reproducibility)
DAYS_PER_MONTH = 30.4375
AA_DEPTH = 3             #: constrained solver: Anderson depth (0: plain iteration; kernels.propagate.constrained_fixed_point)
MAX_ITER = 2000          #: constrained solver: sweeps at most per draw (a draw still moving after them is reported)
KEEP_DRAWS = 1_000_000   #: per-draw arrays kept by default; statistics always cover every draw
# Streamed histograms of percent losses (kernels.propagate.bit_histogram): bin 0 holds exact zeros, then
# 2^HIST_SUB_BITS equal sub-bins per octave from 2^HIST_MIN_EXP to 2^HIST_MAX_EXP percent.
HIST_SUB_BITS = 6        #: 64 sub-bins per octave: relative width 0.8% to 1.6%
HIST_MIN_EXP = -20       #: smallest resolved loss: 2^-20 = 9.5e-7 percent
HIST_MAX_EXP = 7         #: largest: 2^7 = 128 percent (losses never exceed 100)
HIST_BINS = 1 + ((HIST_MAX_EXP - HIST_MIN_EXP) << HIST_SUB_BITS)
HIST_SHIFT = 52 - HIST_SUB_BITS  #: float64 bits >> HIST_SHIFT = biased exponent and top mantissa bits
HIST_FIRST_KEY = ((1023 + HIST_MIN_EXP) << HIST_SUB_BITS) - 1   # key of 2^HIST_MIN_EXP, minus 1 (bin 1)
HIST_SPEC = structs.HistogramSpec(HIST_SHIFT, HIST_FIRST_KEY)
# Streamed histograms of the market series (kernels.stats.signed_histogram): prices fall as well as rise
# and equities gain as well as fall, so the bins are signed: exact zeros in the middle, then on each side
# the same 64 sub-bins per octave as the losses, for magnitudes from 2^MARKET_HIST_MIN_EXP to
# 2^MARKET_HIST_MAX_EXP percent. markets.commodity_price holds log price ratios at or below 51, so a price
# change is at most 100 (e^51 - 1) = 1.4e24 percent < 2^84; a fall is at most 100 percent.
MARKET_HIST_MIN_EXP = -20
MARKET_HIST_MAX_EXP = 84
MARKET_HIST_HALF = (MARKET_HIST_MAX_EXP - MARKET_HIST_MIN_EXP) << HIST_SUB_BITS
MARKET_HIST_BINS = 2 * MARKET_HIST_HALF + 1
MARKET_FIRST_KEY = ((1023 + MARKET_HIST_MIN_EXP) << HIST_SUB_BITS) - 1


def hist_edges(min_exp: int = HIST_MIN_EXP, max_exp: int = HIST_MAX_EXP) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper edge (percent) of every histogram bin; bin 0 (zeros) is [0, 0], bin 1 starts at 0
    because it also collects the values below 2^min_exp."""
    j = np.arange((max_exp - min_exp) << HIST_SUB_BITS)
    octave = np.ldexp(1.0, min_exp + (j >> HIST_SUB_BITS))
    sub = (j & ((1 << HIST_SUB_BITS) - 1)) / float(1 << HIST_SUB_BITS)
    lo = np.concatenate([[0.0], octave * (1.0 + sub)])
    hi = np.concatenate([[0.0], octave * (1.0 + sub + 1.0 / (1 << HIST_SUB_BITS))])
    lo[1] = 0.0
    return lo, hi


def signed_hist_edges() -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper edge (percent) of every bin of the market series' signed histograms, ascending
    (layout in kernels.stats, "signed histograms"): the negative bins mirror the positive ones."""
    lo, hi = hist_edges(MARKET_HIST_MIN_EXP, MARKET_HIST_MAX_EXP)
    return np.concatenate([-hi[:0:-1], [0.0], lo[1:]]), np.concatenate([-lo[:0:-1], [0.0], hi[1:]])


def new_signed_hist(cells: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Empty signed histograms for ``cells`` (e.g. (V, X)): counts (cells..., MARKET_HIST_BINS), ranges
    (cells..., 2) at ``(bins, 0)`` and extremes (cells..., 2) at ``(+inf, -inf)``."""
    rng = np.empty(cells + (2,), dtype=np.int64)
    rng[..., 0], rng[..., 1] = MARKET_HIST_BINS, 0
    ext = np.empty(cells + (2,))
    ext[..., 0], ext[..., 1] = np.inf, -np.inf
    return np.zeros(cells + (MARKET_HIST_BINS,), dtype=np.int64), rng, ext


# --- timing hook -----------------------------------------------------------------------------------

_TIMINGS: dict[str, float] | None = None   #: the collector of the active timings() block, None when off
_TIMINGS_LOCK = threading.Lock()


@contextmanager
def timings():
    """Where the engine's runs spend their time, for benchmarks and profiling::

        with engine.timings() as t:
            shockmodel.run("taiwan_blockade", draws=10_000)
        t  # {"sampling": s, "propagation": s, "reduction": s, "market": s, "blocks": count, "simulate": s}

    Yields a dict filled while the block runs: per block phase, the seconds spent in it summed over
    every block and every thread that ran one (core-seconds: with two threads they can add up to twice
    the wall time); ``blocks`` the number of blocks; ``simulate`` the wall seconds of :func:`simulate`
    calls (the rest of a ``shockmodel.run`` is set-up and aggregation). Process-wide: runs in other
    threads during the block are counted too; a nested block collects into its own dict only. Off by
    default, and then each phase of a block costs one read of a module global."""
    global _TIMINGS
    acc: dict[str, float] = {}
    with _TIMINGS_LOCK:
        outer, _TIMINGS = _TIMINGS, acc
    try:
        yield acc
    finally:
        with _TIMINGS_LOCK:
            _TIMINGS = outer


def _clock() -> float:
    """Start of a timed phase: now if :func:`timings` is collecting, else 0."""
    return time.perf_counter() if _TIMINGS is not None else 0.0


def _lap(phase: str, t0: float) -> float:
    """Add the time since ``t0`` (from :func:`_clock` or the last lap) to ``phase`` of the active
    collector and return now; 0 and nothing recorded when off, or when ``t0`` is 0 (collecting
    started during the phase)."""
    acc = _TIMINGS
    if acc is None:
        return 0.0
    now = time.perf_counter()
    if t0:
        with _TIMINGS_LOCK:
            acc[phase] = acc.get(phase, 0.0) + (now - t0)
    return now


def _count(name: str) -> None:
    """Add 1 to ``name`` of the active collector (nothing when off)."""
    acc = _TIMINGS
    if acc is not None:
        with _TIMINGS_LOCK:
            acc[name] = acc.get(name, 0) + 1


# --- the static plan ---------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Plan:
    """Everything that is fixed for one (scenario, table, model): index lists and baseline arrays."""

    model: str
    n_regions: int
    n_sectors: int
    v0: np.ndarray
    A: np.ndarray
    T0: np.ndarray            # (R, R) baseline trade incl. domestic
    exports0: np.ndarray      # (R,)
    gdp0: np.ndarray          # (R,)
    tri_e: np.ndarray
    tri_A: np.ndarray         # (T, S): A[i_t, J_m_t], the coefficients of the buyers along triple t
    crit_s: np.ndarray
    n_packages: int
    prob: np.ndarray
    horizon_months: float
    classes: PassClasses      # pass classes and trade groups (passclasses.py)
    blocked_weight: np.ndarray  # (C, R) baseline exports of e in class c / exports0[e] (market channel)
    # the kernels' named inputs (kernels/structs.py), built once per plan by :func:`kernel_parts`; their
    # arrays are also read by name (the properties below)
    columns: structs.ShockColumns        # shocks by kind: their columns in the severity matrix, packages
    cells: structs.Cells                 # shocks by kind: CSR targets
    triples: structs.Triples             # the blockable flows
    baseline: structs.Baseline           # x0, Zsum, Ypos, A_cols
    critical_inputs: structs.CriticalInputs
    severity_model: structs.SeverityModel  # sampling: copula, thresholds, severity tables
    scales: structs.LossScales           # losses -> GDP and percent (histograms)
    class_shocks: structs.ClassShocks    # pass classes: their shocks
    trade_groups: structs.TradeGroups    # pass classes: trade by pair
    precision: str = "float64"  # dtype of the GEMM operands below (state and kernels stay float64)
    copula_df: float = 0.0    # Student-t copula degrees of freedom; 0: Gaussian copula (sample_block)
    L: np.ndarray | None = None
    G: np.ndarray | None = None   # ghosh: G in the GEMM dtype
    M: np.ndarray | None = None   # leontief: L @ Yc (n, C) in the GEMM dtype, output lost per unit of w_c
    A_g: np.ndarray | None = None     # constrained: A in the GEMM dtype
    tri_A_g: np.ndarray | None = None  # constrained: tri_A in the GEMM dtype
    Q_g: np.ndarray | None = None     # linear models: classes.Q in the GEMM dtype
    dyn: object | None = None         # dynamic: models.dynamic.DynamicSetup
    # tariff shocks (trade shocks whose severity column holds the share lost, from rate and elasticity)
    tariff_cols: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    elasticities: tuple = ()          # per tariff column: (dist, params) of its trade elasticity
    technology: structs.Technology | None = None   # constrained: A and tri_A in the GEMM dtype
    # structural uncertainty (docs/model.md eq. 54-55): "central" (the file's weights) or "sampled" (each
    # declared pair's class drawn per draw); per critical input q its declared pair s * S + sector(j) and
    # the cumulative class thresholds of its central weight
    structure: str = "central"
    crit_pair: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    crit_thresholds: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))

    # the arrays of the named parts, by their own names
    shock_pkg = property(lambda self: self.columns.shock_pkg)
    trade_cols = property(lambda self: self.columns.trade_cols)
    trade_pkg = property(lambda self: self.columns.trade_pkg)
    cap_cols = property(lambda self: self.columns.cap_cols)
    fd_cols = property(lambda self: self.columns.fd_cols)
    subst_cols = property(lambda self: self.columns.subst_cols)
    subst_pkg = property(lambda self: self.columns.subst_pkg)
    subst_mask = property(lambda self: self.columns.subst_mask)
    dur_cols = property(lambda self: self.columns.dur_cols)
    dur_pkg = property(lambda self: self.columns.dur_pkg)
    inv_cols = property(lambda self: self.columns.inv_cols)
    inv_pkg = property(lambda self: self.columns.inv_pkg)
    trade_ptr = property(lambda self: self.cells.trade_ptr)
    trade_tri = property(lambda self: self.cells.trade_tri)
    cap_ptr = property(lambda self: self.cells.cap_ptr)
    cap_cells = property(lambda self: self.cells.cap_cells)
    fd_ptr = property(lambda self: self.cells.fd_ptr)
    fd_cells = property(lambda self: self.cells.fd_cells)
    tri_s = property(lambda self: self.triples.tri_s)
    tri_m = property(lambda self: self.triples.tri_m)
    tri_of = property(lambda self: self.triples.tri_of)
    tri_ptr = property(lambda self: self.triples.tri_ptr)
    tri_idx = property(lambda self: self.triples.tri_idx)
    tri_A_ptr = property(lambda self: self.triples.tri_A_ptr)
    x0 = property(lambda self: self.baseline.x0)
    Zsum = property(lambda self: self.baseline.Zsum)
    Ypos = property(lambda self: self.baseline.Ypos)
    A_cols = property(lambda self: self.baseline.A_cols)
    crit_ptr = property(lambda self: self.critical_inputs.crit_ptr)
    crit_w = property(lambda self: self.critical_inputs.crit_w)
    req = property(lambda self: self.critical_inputs.req)
    src_ptr = property(lambda self: self.critical_inputs.src_ptr)
    src_i = property(lambda self: self.critical_inputs.src_i)
    src_z = property(lambda self: self.critical_inputs.src_z)
    src_t = property(lambda self: self.critical_inputs.src_t)
    copula = property(lambda self: self.severity_model.copula)
    occ_threshold = property(lambda self: self.severity_model.occ_threshold)
    pkg_corr = property(lambda self: self.severity_model.pkg_corr)
    mitigating = property(lambda self: self.severity_model.mitigating)
    tables = property(lambda self: self.severity_model.tables)
    sev_cap = property(lambda self: self.severity_model.sev_cap)
    va = property(lambda self: self.scales.va)
    out_scale = property(lambda self: self.scales.out_scale)
    trade_scale = property(lambda self: self.scales.trade_scale)
    head_scale = property(lambda self: self.scales.head_scale)

    @property
    def gemm_dtype(self):
        return np.float32 if self.precision == "float32" else np.float64

    @property
    def n_shocks(self) -> int:
        return self.tables.shape[0]


def _csr(lists: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    ptr = np.zeros(len(lists) + 1, dtype=np.int64)
    ptr[1:] = np.cumsum([len(a) for a in lists])
    idx = np.concatenate(lists).astype(np.int64) if lists else np.zeros(0, dtype=np.int64)
    return ptr, idx


def _plan_key(compiled, mrio: MRIO, model: str, critical: np.ndarray | None, precision: str,
              structure: str = "central", probs: np.ndarray | None = None) -> str:
    """Content hash of everything a plan is built from (never object identity: a scenario or table
    edited in place, or rebuilt with other numbers, must not hit a stale plan)."""
    import hashlib

    h = hashlib.sha256()
    h.update(f"{mrio.sha256}|{model}|{precision}|{compiled.horizon_months!r}|{compiled.coordination!r}|"
             f"{getattr(compiled, 'copula_df', 0.0)!r}|"
             f"{compiled.regions}|{compiled.sectors}".encode())
    for p in compiled.packages:
        h.update(f"|{p.probability!r}|{p.correlation!r}|{p.start_months!r}|{p.ramp_months!r}|"
                 f"{p.recovery_months!r}|{getattr(p, 'start_dist', None)!r}".encode())
    for sh in compiled.shocks:
        h.update(f"|{sh.kind}|{sh.package}|{sh.severity.dist}|{sh.severity.params!r}|"
                 f"{getattr(sh, 'timeline', ())!r}".encode())
        if getattr(sh, "elasticity", None) is not None:
            h.update(f"|{sh.elasticity.dist}|{sh.elasticity.params!r}".encode())
        if sh.mask is not None:
            h.update(np.ascontiguousarray(sh.mask).tobytes())
    h.update(b"|critical|")
    if critical is not None:
        h.update(np.ascontiguousarray(critical, dtype=np.float64).tobytes())
    if structure != "central":   # central plans keep the key they had before structure was sampled
        h.update(f"|structure|{structure}|".encode())
        h.update(np.ascontiguousarray(probs, dtype=np.float64).tobytes())
    return h.hexdigest()


def cached_plan(compiled, mrio: MRIO, model: str = "constrained", critical: np.ndarray | None = None,
                precision: str = "float64", structure: str = "central") -> Plan:
    """:func:`make_plan`, reused across runs of the same (scenario, table, model, criticality,
    precision) in one process: building a plan costs ~17 ms on the default table (pass classes,
    L @ Yc), which is a tenth of a 100,000-draw leontief run. Plans are immutable, so sharing is safe."""
    probs = _structure_probs(structure)
    key = _plan_key(compiled, mrio, model, critical, precision, structure, probs)
    with runtime.PLANS_LOCK:
        plan = runtime.PLANS.pop(key, None)
    if plan is None:
        # BLAS on one thread: a threaded GEMM (L @ Yc) or solve changes the last bits with the thread count,
        # and a plan must be the same in a serial run and on a dask worker (which runs BLAS on one thread)
        with runtime.blas_single_thread():
            plan = make_plan(compiled, mrio, model, critical, precision, structure)
    with runtime.PLANS_LOCK:
        runtime.PLANS[key] = plan          # most recently used last
        while len(runtime.PLANS) > runtime.PLANS_SIZE:
            runtime.PLANS.pop(next(iter(runtime.PLANS)))
    return plan


def make_plan(compiled, mrio: MRIO, model: str = "constrained", critical: np.ndarray | None = None,
              precision: str = "float64", structure: str = "central") -> Plan:
    """Precompute index lists and baseline arrays for ``compiled`` (a CompiledScenario) on ``mrio``.

    ``precision``: dtype of the matrix products ("float32" halves their cost; every other quantity
    stays float64). ``structure``: "central" (critical-input weights as declared) or "sampled" (each
    declared pair's class drawn per draw, :func:`structure_weights`).
    """
    if model not in MODELS:
        raise UserError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}", field="model")
    if precision not in PRECISIONS:
        raise UserError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}", field="precision")
    probs = _structure_probs(structure)
    g = np.float32 if precision == "float32" else np.float64
    if tuple(compiled.regions) != mrio.regions or tuple(compiled.sectors) != mrio.sectors:
        raise UserError("scenario was compiled against another table", field="table")
    R, S, n = mrio.n_regions, mrio.n_sectors, mrio.n
    shocks = compiled.shocks

    # triples: union of all trade-block masks
    trade_k = [k for k, sh in enumerate(shocks) if sh.kind in ("trade_block", "tariff")]   # tariffs: sample_block
    union = np.zeros((R, R, S), dtype=bool)
    for k in trade_k:
        union |= shocks[k].mask
    np.einsum("iis->is", union)[...] = False
    # triples numbered importer-major, so the orders of one importer are a contiguous block (tri_A)
    tri = np.argwhere(union.transpose(1, 0, 2))
    tri_m, tri_e, tri_s = (tri[:, c].astype(np.int64) for c in range(3))
    tri_of = np.full((R, R, S), -1, dtype=np.int64)
    tri_of[tri_e, tri_m, tri_s] = np.arange(len(tri))
    supplier = tri_e * S + tri_s
    order = np.argsort(supplier, kind="stable")
    tri_ptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(tri_ptr, supplier + 1, 1)
    tri_ptr = np.cumsum(tri_ptr)
    tri_idx = order.astype(np.int64)
    trade_ptr, trade_tri = _csr([tri_of[shocks[k].mask & union] for k in trade_k])

    cap_k = [k for k, sh in enumerate(shocks) if sh.kind == "capacity"]
    cap_ptr, cap_cells = _csr([np.flatnonzero(shocks[k].mask.reshape(-1)) for k in cap_k])
    fd_k = [k for k, sh in enumerate(shocks) if sh.kind == "final_demand"]
    fd_ptr, fd_cells = _csr([np.flatnonzero(shocks[k].mask.reshape(-1)) for k in fd_k])
    sub_k = [k for k, sh in enumerate(shocks) if sh.kind == "substitution"]
    dur_k = [k for k, sh in enumerate(shocks) if sh.kind == "duration"]
    inv_k = [k for k, sh in enumerate(shocks) if sh.kind == "inventory"]
    shock_pkg = np.array([sh.package for sh in shocks], dtype=np.int64)

    # critical inputs per buyer j: (input sector, weight, baseline requirement)
    W = critical if critical is not None else np.zeros((S, S))
    Z = np.ascontiguousarray(mrio.Z)
    Zsec = Z.reshape(R, S, n).sum(axis=0)  # (S, n): requirement of input sector s by buyer j
    crit_lists_s, crit_lists_w, crit_lists_r = [], [], []
    for j in range(n):
        sj = j % S
        ss = np.flatnonzero(W[:, sj] > 0)
        ss = ss[Zsec[ss, j] > 0]
        crit_lists_s.append(ss)
        crit_lists_w.append(W[ss, sj])
        crit_lists_r.append(Zsec[ss, j])
    crit_ptr, crit_s = _csr(crit_lists_s)
    crit_w = np.concatenate(crit_lists_w) if crit_lists_w else np.zeros(0)
    # eq. 54: the declared pair (input sector, using sector) of each critical input, one uniform per pair
    crit_pair = (crit_s * S + np.repeat(np.arange(n) % S, np.diff(crit_ptr))).astype(np.int64)
    req = np.concatenate(crit_lists_r) if crit_lists_r else np.zeros(0)
    src_lists_i, src_lists_t = [], []
    for j in range(n):
        m = j // S
        for s in crit_lists_s[j]:
            rows = np.arange(R) * S + s
            rows = rows[Z[rows, j] > 0]
            src_lists_i.append(rows)
            src_lists_t.append(tri_of[rows // S, m, s])
    src_ptr, src_i = _csr(src_lists_i)
    src_t = np.concatenate(src_lists_t).astype(np.int64) if src_lists_t else np.zeros(0, np.int64)
    src_z = Z[src_i, np.repeat(np.repeat(np.arange(n), np.diff(crit_ptr)), np.diff(src_ptr))] if len(src_i) else np.zeros(0)

    P = len(compiled.packages)
    A = np.ascontiguousarray(mrio.A)
    tri_A = A[(tri_e * S + tri_s)[:, None], tri_m[:, None] * S + np.arange(S)[None, :]]   # (T, S)
    T0 = mrio.bilateral_trade.copy()
    Ypos = np.ascontiguousarray(np.clip(mrio.Y, 0.0, None))
    Zsum = np.ascontiguousarray(Z.reshape(n, R, S).sum(axis=2))
    trade_pkg = shock_pkg[trade_k] if trade_k else np.zeros(0, np.int64)
    subst_pkg = shock_pkg[sub_k] if sub_k else np.zeros(0, np.int64)
    subst_mask = np.array([shocks[k].mask for k in sub_k], dtype=bool).reshape(len(sub_k), S)
    classes = pass_classes(A, Zsum, Ypos, R, S, tri_e, tri_m, tri_s, trade_ptr, trade_tri, trade_pkg,
                           fd_ptr, fd_cells, subst_pkg, subst_mask)
    exports0 = T0.sum(axis=1) - np.diag(T0)
    blocked_weight = np.zeros((classes.n_classes, R))
    pair_e = np.repeat(np.arange(R * R) // R, np.diff(classes.grp_ptr))
    share = np.divide(classes.grp_Z + classes.grp_Y, exports0[pair_e], out=np.zeros(len(pair_e)),
                      where=exports0[pair_e] > 0)
    np.add.at(blocked_weight, (classes.grp_c, pair_e), share)   # domestic and fd-only groups have u_c = 0
    from scipy.special import ndtri
    common = dict(
        model=model, n_regions=R, n_sectors=S,
        x0=np.ascontiguousarray(mrio.x), v0=np.ascontiguousarray(mrio.v), A=A, A_cols=np.ascontiguousarray(A.reshape(n, R, S).transpose(1, 0, 2)),
        Zsum=Zsum, Ypos=Ypos, T0=T0, exports0=exports0, gdp0=mrio.gdp.copy(),
        tri_e=tri_e, tri_m=tri_m, tri_s=tri_s, tri_of=tri_of, tri_ptr=tri_ptr, tri_idx=tri_idx,
        tri_A=np.ascontiguousarray(tri_A), tri_A_ptr=np.searchsorted(tri_m, np.arange(R + 1)).astype(np.int64),
        crit_ptr=crit_ptr, crit_s=crit_s.astype(np.int64), crit_w=np.asarray(crit_w, dtype=np.float64),
        req=np.asarray(req, dtype=np.float64),
        src_ptr=src_ptr, src_i=src_i, src_z=np.ascontiguousarray(src_z, dtype=np.float64), src_t=src_t,
        trade_cols=np.array(trade_k, dtype=np.int64), trade_pkg=trade_pkg,
        trade_ptr=trade_ptr, trade_tri=trade_tri,
        cap_cols=np.array(cap_k, dtype=np.int64), cap_ptr=cap_ptr, cap_cells=cap_cells,
        fd_cols=np.array(fd_k, dtype=np.int64), fd_ptr=fd_ptr, fd_cells=fd_cells,
        subst_cols=np.array(sub_k, dtype=np.int64), subst_pkg=subst_pkg, subst_mask=subst_mask,
        dur_cols=np.array(dur_k, dtype=np.int64), dur_pkg=shock_pkg[dur_k] if dur_k else np.zeros(0, np.int64),
        inv_cols=np.array(inv_k, dtype=np.int64), inv_pkg=shock_pkg[inv_k] if inv_k else np.zeros(0, np.int64),
        n_packages=P,
        prob=np.array([p.probability for p in compiled.packages], dtype=np.float64),
        pkg_corr=np.array([p.correlation for p in compiled.packages], dtype=np.float64),
        shock_pkg=shock_pkg,
        mitigating=np.array([sh.kind in ("substitution", "inventory") for sh in shocks], dtype=bool),
        tables=np.array([severity_table(sh.severity.dist, tuple(sh.severity.params)) for sh in shocks]
                        ).reshape(len(shocks), TABLE_POINTS),
        sev_cap=np.array([severity_cap(sh.severity.dist, tuple(sh.severity.params)) for sh in shocks], dtype=np.float64),
        occ_threshold=ndtri(np.array([p.probability for p in compiled.packages], dtype=np.float64)),
        copula=equicorrelation_factor(P, compiled.coordination) if P else np.zeros((0, 0)),
        horizon_months=float(compiled.horizon_months),
        classes=classes, blocked_weight=blocked_weight,
        va=np.divide(mrio.v, mrio.x, out=np.zeros(mrio.n), where=mrio.x > 0),
        out_scale=_loss_scale(mrio.x), trade_scale=_loss_scale(T0.reshape(-1)),
        head_scale=headline_scale(mrio.gdp, exports0),
        precision=precision, copula_df=float(getattr(compiled, "copula_df", 0.0)),
        **_tariff_plan(shocks),
        structure=structure, crit_pair=crit_pair,
        crit_thresholds=class_thresholds(crit_w, probs) if probs is not None else np.zeros((len(crit_w), 2)),
    )
    _check_severities(common["tables"], common["sev_cap"], shocks)
    common.update(kernel_parts(common))
    own = models.get(model).prepare(models.PrepareContext(compiled, mrio, A, tri_A, classes, g, critical, common,
                                                             DAYS_PER_MONTH))
    fields = {f.name for f in dataclasses.fields(Plan)}
    return Plan(**{k: v for k, v in common.items() if k in fields}, **own)


def kernel_parts(f: Mapping) -> dict:
    """The kernels' named inputs (kernels/structs.py) from a plan's fields ``f``, one small builder each."""
    return {"columns": _shock_columns(f), "cells": _cells(f), "triples": _triples(f), "baseline": _baseline(f),
            "critical_inputs": _critical_inputs(f), "severity_model": _severity_model(f), "scales": _scales(f),
            "class_shocks": _class_shocks(f["classes"]), "trade_groups": _trade_groups(f["classes"])}


def _shock_columns(f: Mapping) -> structs.ShockColumns:
    return structs.ShockColumns(*(f[k] for k in structs.ShockColumns._fields))


def _cells(f: Mapping) -> structs.Cells:
    return structs.Cells(*(f[k] for k in structs.Cells._fields))


def _triples(f: Mapping) -> structs.Triples:
    return structs.Triples(*(f[k] for k in structs.Triples._fields))


def _baseline(f: Mapping) -> structs.Baseline:
    return structs.Baseline(f["x0"], f["Zsum"], f["Ypos"], f["A_cols"], f["n_sectors"])


def _critical_inputs(f: Mapping) -> structs.CriticalInputs:
    return structs.CriticalInputs(*(f[k] for k in structs.CriticalInputs._fields))


def _severity_model(f: Mapping) -> structs.SeverityModel:
    return structs.SeverityModel(f["copula"], f["occ_threshold"], f["pkg_corr"], f["shock_pkg"], f["mitigating"],
                                 f["tables"], f["sev_cap"], TABLE_Z)


def _scales(f: Mapping) -> structs.LossScales:
    return structs.LossScales(f["va"], f["out_scale"], f["trade_scale"], f["head_scale"])


def _class_shocks(cls: PassClasses) -> structs.ClassShocks:
    return structs.ClassShocks(cls.cls_ptr, cls.cls_shock, cls.cls_sector, cls.cls_fd_ptr, cls.cls_fd)


def _trade_groups(cls: PassClasses) -> structs.TradeGroups:
    return structs.TradeGroups(cls.Q_ptr, cls.ug_ptr, cls.ug_row, cls.ug_c, cls.ug_Z, cls.grp_ptr, cls.grp_c,
                               cls.grp_Y)


def _check_severities(tables: np.ndarray, caps: np.ndarray, shocks) -> None:
    """Every severity the sampler can draw (it interpolates these tables, then caps) is finite and inside
    its kind's range: shares in [0, 1], months, days and rates >= 0. Validation (scenario stage 1) makes
    this hold; checked again here, before any propagation, so a gap there can never give NaN losses."""
    from shockmodel.scenario import SHARE_KINDS

    for k, sh in enumerate(shocks):
        values = np.minimum(tables[k], caps[k])
        hi = 1.0 if sh.kind in SHARE_KINDS else np.inf
        if not (np.isfinite(values).all() and values.min() >= 0.0 and values.max() <= hi):
            raise UserError(f"severity {sh.severity} cannot be sampled inside the range of a {sh.kind} shock "
                            f"(draws from {values.min():g} to {values.max():g})", field=f"shocks.{sh.key}.severity")


STRUCTURES = ("sampled", "central")
#: the models that read critical-input weights (eq. 16, 19; D8); the linear models draw no structure
CRITICAL_MODELS = ("constrained", "dynamic")
#: spawn-key suffix of the structural stream of a block (critical-input classes; docs/model.md eq. 55)
STRUCTURE_STREAM = 3


def _structure_probs(structure: str) -> np.ndarray | None:
    """The class probabilities of params/critical_inputs.toml for a sampled structure; None for central."""
    if structure not in STRUCTURES:
        raise UserError(f"unknown structure {structure!r}; choose one of {', '.join(STRUCTURES)}", field="structure")
    return class_probabilities() if structure == "sampled" else None


def structure_uniforms(plan: Plan, seed: int, block: int) -> np.ndarray:
    """(S * S, BLOCK) uniforms of the block's structural draws, one row per (input, using) sector pair in a
    fixed order, from ``SeedSequence(seed, spawn_key=(block, STRUCTURE_STREAM))``: a pair's uniform depends on
    the seed, the block and the pair only (not on chunking, threads, variants, the draw count, or which
    other pairs a scenario declares), so scenarios and variants share structural draws."""
    S = plan.n_sectors
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block, STRUCTURE_STREAM)))
    return rng.random((S * S, BLOCK))


def structure_weights(plan: Plan, seed: int, block: int) -> np.ndarray | None:
    """(Q, BLOCK) critical-input weights of block ``block`` (eq. 55), or None for a central structure (the
    models then use the plan's weights, exactly as before structure was sampled)."""
    if plan.structure != "sampled" or plan.model not in CRITICAL_MODELS:
        return None
    u = structure_uniforms(plan, seed, block)
    return np.ascontiguousarray(sampled_weights(u[plan.crit_pair], plan.crit_thresholds))


def _tariff_plan(shocks) -> dict:
    """Columns of the tariff shocks and their trade elasticities' distributions."""
    cols = [k for k, sh in enumerate(shocks) if sh.kind == "tariff"]
    return {"tariff_cols": np.array(cols, dtype=np.int64),
            "elasticities": tuple((shocks[k].elasticity.dist, tuple(shocks[k].elasticity.params)) for k in cols)}


# --- sampling ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    """Random inputs of one block: which packages occur and every shock's severity."""

    occurred: np.ndarray   # (B, P) bool
    severity: np.ndarray   # (B, K) sampled severities (whether or not the package occurred)
    u_market: np.ndarray   # (B, M) uniforms for the market channel


def sample_block(plan: Plan, seed: int, block: int, n_draws: int, n_market: int = 0,
                 out: Sample | None = None) -> Sample:
    """Sample ``n_draws`` (<= BLOCK) draws of block ``block`` from ``SeedSequence(seed, spawn_key=(block,))``
    (into ``out``'s arrays, of ``n_draws`` rows, if given).

    Gaussian copula (Nelsen 2006, "An Introduction to Copulas", section 3.3): package occurrence latents
    ``W`` and intensity factors ``F`` are standard normals with equicorrelation ``coordination`` across
    packages; shock ``k`` of package ``p`` has latent ``sqrt(c_p) F_p + sqrt(1 - c_p) E_k`` (one-factor
    model, within-package correlation ``c_p``), negated for substitution and inventory shocks so that a
    harsh draw comes with less re-sourcing and thinner buffers. Intensities of two shocks in different
    packages correlate with ``rho sqrt(c_p c_q)``. Package p occurs iff ``Phi(W_p) < probability_p``;
    severities are ``F_k^-1(Phi(latent))``, interpolated in ``plan.tables`` (sampling.severity_table). The
    normals are drawn for the full block and then cut, so a draw's numbers do not depend on how many
    draws are requested.
    """
    from shockmodel.kernels import propagate as kern

    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block,)))
    if out is None:
        out = Sample(occurred=np.empty((n_draws, plan.n_packages), dtype=bool),
                     severity=np.empty((n_draws, plan.n_shocks)), u_market=np.empty((n_draws, n_market)))
    if plan.copula_df > 0:
        # Student-t copula: the same normals in the same order (numpy's generator gives the numbers numba's
        # does), then one chi-square mixing variable per draw, drawn after them
        P, K, n = plan.n_packages, plan.n_shocks, out.severity.shape[0]
        Wn, Fn, En = rng.standard_normal((BLOCK, P)), rng.standard_normal((BLOCK, P)), rng.standard_normal((BLOCK, K))
        if out.u_market.shape[1] > 0:
            out.u_market[:, :] = rng.random((BLOCK, out.u_market.shape[1]))[:n]
        v = rng.chisquare(plan.copula_df, BLOCK)
        latents_to_sample(plan, Wn[:n], Fn[:n], En[:n], v[:n], out.occurred, out.severity)
        if len(plan.tariff_cols):
            _tariff_shares(plan, seed, block, out.severity)
        return out
    kern.sample_block_draws(rng, BLOCK, plan.severity_model, out.occurred, out.severity, out.u_market)
    if len(plan.tariff_cols):
        _tariff_shares(plan, seed, block, out.severity)
    return out


def latents_to_sample(plan: Plan, Wn: np.ndarray, Fn: np.ndarray, En: np.ndarray, v: np.ndarray | None,
                      out_occ: np.ndarray, out_sev: np.ndarray) -> None:
    """Occurrences (B, P) and severities (B, K) from INDEPENDENT latent variables: standard normals ``Wn``
    (B, P), ``Fn`` (B, P), ``En`` (B, K) and, for the Student-t copula, chi-square(nu) variables ``v`` (B,).

    Gaussian copula (``plan.copula_df == 0``, ``v`` None): exactly the kernels :func:`sample_block` runs
    (kernels.propagate.occurrence and sample_severity). Student-t copula with ``nu = plan.copula_df``
    (Demarta & McNeil 2005, Int. Stat. Review 73: 111-129): the correlated latents of the Gaussian case,
    ``x = (C W)_p`` and ``z_k = sign_k (sqrt(c_p) (C F)_p + sqrt(1 - c_p) E_k)``, are all divided by the same
    ``sqrt(v / nu)`` per draw (a multivariate t with the same correlation matrix), then mapped to uniforms
    by the t distribution function ``T_nu``: package p occurs iff ``T_nu(x_p) < probability_p``, and the
    severity is ``F_k^-1(T_nu(z_k))``, read from the same tables through ``Phi^-1(T_nu(z_k))``. Marginals
    are unchanged; joint extremes are more frequent (tail dependence). nu -> infinity gives the Gaussian
    copula. Also used by shockmodel.sensitivity, which samples the independent latents itself.
    """
    from scipy.special import ndtri, stdtr, stdtrit

    from shockmodel.kernels import propagate as kern

    if plan.copula_df <= 0:
        kern.occurrence(Wn, plan.copula, plan.occ_threshold, out_occ)
        kern.sample_severity(Fn, En, plan.copula, plan.pkg_corr, plan.shock_pkg, plan.mitigating, plan.tables,
                             plan.sev_cap, TABLE_Z, out_sev)
        return
    nu = plan.copula_df
    scale = np.sqrt(nu / np.asarray(v, dtype=np.float64))[:, None]
    x = (Wn @ plan.copula.T) * scale
    out_occ[:, :] = x < stdtrit(nu, plan.prob)[None, :]
    fc = (Fn @ plan.copula.T)[:, plan.shock_pkg]
    sign = np.where(plan.mitigating, -1.0, 1.0)[None, :]
    c = plan.pkg_corr[plan.shock_pkg][None, :]
    z = sign * (np.sqrt(c) * fc + np.sqrt(1.0 - c) * En) * scale
    # Phi^-1(T_nu(z)), with the upper tail taken by symmetry so that T_nu(z) near 1 keeps its precision
    zn = np.where(z > 0, -ndtri(stdtr(nu, -np.abs(z))), ndtri(stdtr(nu, -np.abs(z))))
    K = out_sev.shape[1]
    kern.sample_severity(np.zeros_like(Fn), np.ascontiguousarray(zn), plan.copula, np.zeros(plan.n_packages),
                         plan.shock_pkg, np.zeros(K, dtype=bool), plan.tables, plan.sev_cap, TABLE_Z, out_sev)


#: spawn-key suffix of the trade-elasticity stream of a block (its shocks use the block's own key)
TARIFF_STREAM = 1


def _tariff_shares(plan: Plan, seed: int, block: int, sev: np.ndarray) -> None:
    """Turn the sampled tariff rates in ``sev`` into shares of trade lost, in place (docs/scenarios.md,
    eq. T1). The trade elasticity is a parameter of the world, not an intensity of a package: one standard
    normal per draw, from the block's own stream ``SeedSequence(seed, spawn_key=(block, TARIFF_STREAM))``
    (drawn for the full block, then cut), independent of every package, feeds every tariff shock's
    elasticity distribution (the same quantile for all of them). Scenarios without tariffs draw nothing
    from it, so their numbers are those of the engine without tariffs."""
    from shockmodel.scenario import tariff_share_lost

    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(block, TARIFF_STREAM)))
    z = rng.standard_normal(BLOCK)[: sev.shape[0]]
    for k, (dist, params) in zip(plan.tariff_cols, plan.elasticities):
        sev[:, k] = tariff_share_lost(sev[:, k], table_ppf(dist, params, z))


# --- one block through the network -------------------------------------------------------------------


@dataclass
class BlockOutput:
    """Per-draw results of one block under one variant (losses already scaled by the horizon)."""

    dx: np.ndarray           # (B, n) output lost, USD million over the horizon
    trade: np.ndarray        # (B, R, R) trade lost incl. domestic sales on the diagonal
    gdp_loss: np.ndarray | None  # (B, R); None in the market hook's view (the hook computes it from dx)
    horizon_fraction: np.ndarray  # (B,)
    converged: np.ndarray    # (B,) bool
    iterations: np.ndarray   # (B,) int
    blocked_export_share: np.ndarray | None  # (B, R) share of baseline exports on blocked routes (static); None in the hook's view
    # the block's random inputs and blocked pass shares, for the market channel (None outside the engine loop)
    severity: np.ndarray | None = None       # (B, K) sampled severities
    on: np.ndarray | None = None             # (B, P) bool: package occurred and switched on in the variant
    blocked_class_share: np.ndarray | None = None  # (B, C) blocked share u_c of each pass class


def propagate_block(plan: Plan, sev: np.ndarray, on: np.ndarray, *, tol: float | None = None,
                    max_iter: int = MAX_ITER, aa_depth: int = AA_DEPTH, seed: int = 0, block: int = 0,
                    crit_w: np.ndarray | None = None, dyn_uniforms: dict | None = None) -> BlockOutput:
    """Propagate one block of draws. ``sev`` (B, K) severities; ``on`` (B, P) package active in the draw.
    ``seed``, ``block``: where the dynamic model's behavioural parameters come from (its own stream of
    the block, as in a run); ``crit_w`` (Q, B): the draws' critical-input weights (:func:`structure_weights`;
    None: the plan's central weights); ``dyn_uniforms``: the dynamic model's behavioural uniforms given
    instead of drawn (shockmodel.sensitivity).

    Every draw is computed by the same instructions whatever the other draws of the block are (the
    solver freezes converged draws), so results depend only on the draw.
    """
    B = sev.shape[0]
    R, S = plan.n_regions, plan.n_sectors
    tol = DEFAULT_TOL[plan.precision] if tol is None else tol
    dxT, tradeT, f, converged, iterations, uT = _propagate_raw(plan, sev, on, tol, max_iter, aa_depth=aa_depth,
                                                               extras={"_seed_block": (seed, block)}, crit_w=crit_w,
                                                               dyn_uniforms=dyn_uniforms)
    dxT *= f[None, :]
    tradeT *= f[None, None, :]
    gdp = (dxT.T * plan.va[None, :]).reshape(B, R, S).sum(axis=2)
    return BlockOutput(dx=dxT.T, trade=tradeT.transpose(2, 0, 1), gdp_loss=gdp, horizon_fraction=f,
                       converged=converged, iterations=iterations,
                       blocked_export_share=(plan.blocked_weight.T @ uT).T)


def _propagate_raw(plan: Plan, sev: np.ndarray, on: np.ndarray, tol: float, max_iter: int, ws: dict | None = None,
                   keep: int | None = None, extras: dict | None = None, aa_depth: int = AA_DEPTH,
                   crit_w: np.ndarray | None = None, dyn_uniforms: dict | None = None):
    """One block, draws-last and before the horizon fraction: ``dxT`` (n, B) output lost, ``tradeT``
    (R, R, B) bilateral trade lost, ``f`` (B,), ``converged``, ``iterations``, ``uT`` (C, B) blocked share
    of each pass class. ``ws``: the calling thread's :func:`_workspace` (its arrays are overwritten by the
    next block: the engine reduces a block before it propagates the next); None: fresh arrays. ``keep``:
    only the first ``keep`` draws are wanted (a run's last block); the constrained model then skips the
    sub-batches after them (their draws come out as zero loss), which cannot change a wanted draw: each
    sub-batch is solved on its own. The linear models always propagate the whole block (one GEMM)."""
    model = models.get(plan.model)
    if model.WORKSPACE and (ws is None or ws["B"] != sev.shape[0]):
        ws = _workspace(plan, sev.shape[0], keep=False)
    ctx = models.RunContext(tol, max_iter, ws if model.WORKSPACE else None, keep, _map_sub_batches, SUB_BATCH,
                            aa_depth, DAYS_PER_MONTH, extras, crit_w, dyn_uniforms)
    return model.propagate(plan, sev, on, ctx)


def _map_sub_batches(fn, starts) -> None:
    """Run ``fn(start)`` for every sub-batch (fixed sub-batches: fewer columns wait for the slowest
    draw), spread over the numba thread count as Python threads, or serially inside a worker of
    :func:`_map_tasks` (the cores are busy already).

    Sub-batches are independent, so this cannot change a number. Each worker runs numba single-threaded
    (the thread count is thread-local) and BLAS single-threaded (set by the caller), and the kernels
    release the GIL. Coarse tasks instead of a parallel region per kernel call: with another process
    competing for the cores, every barrier of a per-call parallel region waits for a descheduled thread;
    coarse tasks degrade gracefully (docs/performance.md, "threads and BLAS").
    """
    def run(lo):
        with _single_numba_thread():
            fn(lo)

    _map_tasks(run, starts)


@contextmanager
def _single_numba_thread():
    """numba's thread count (thread-local) at 1 inside, restored after: a task may run in the caller's
    own thread (one item, or nested), whose later runs must keep all their threads."""
    with runtime.numba_threads(1):
        yield


_WORKER = threading.local()


def _map_tasks(fn, items) -> None:
    """``fn(item)`` for every item on a pool of as many Python threads as numba may use (serial if 1,
    or if called from inside a task: nested pools would only oversubscribe the cores).

    Only for tasks that are independent and release the GIL; results are written by ``fn`` itself, so
    the order in which tasks finish cannot change a number.
    """
    import numba

    items = list(items)
    workers = min(numba.get_num_threads(), len(items))
    if workers <= 1 or getattr(_WORKER, "busy", False):
        for it in items:
            fn(it)
        return

    def task(it):
        _WORKER.busy = True
        try:
            fn(it)
        finally:
            _WORKER.busy = False

    pool = runtime.thread_pool(workers)
    for fut in [pool.submit(task, it) for it in items]:
        fut.result()




# --- chunks and streamed reductions -----------------------------------------------------------------


@dataclass
class ChunkResult:
    """Results of a run of whole blocks ``[first_block, first_block + n_blocks)``; V variants, N draws."""

    first_block: int
    occurred: np.ndarray          # (N, P)
    severity: np.ndarray          # (N, K)
    gdp_loss: np.ndarray          # (V, N, R)
    exports_lost: np.ndarray      # (V, N, R)
    horizon_fraction: np.ndarray  # (V, N)
    converged: np.ndarray         # (V, N)
    iterations: np.ndarray        # (V, N)
    output_block_sums: np.ndarray  # (V, n_blocks, n)
    trade_block_sums: np.ndarray   # (V, n_blocks, R, R)
    headline_block_sums: np.ndarray    # (V, n_blocks, H) sums of the percent values (HEADLINES)
    headline_block_sumsq: np.ndarray   # (V, n_blocks, H) sums of their squares
    counts: HistSet | None = None  # the chunk's histograms (None: counted into run_chunk's ``counts``)
    extras: dict = field(default_factory=dict)   # name -> (V, N, X) per-draw arrays (market channel)
    stream_block_sums: dict = field(default_factory=dict)  # name -> (V, n_blocks, 2, X...) sums, sums of squares
    #: market series: name -> signed histograms of the chunk's draws (counts (V, X, bins), ranges, extremes)
    market_hists: dict = field(default_factory=dict)
    in_place: bool = False   # per-draw arrays are views of the accumulator's (Accumulator.chunk_views)


#: Per-draw headline variables streamed into histograms (and sums), so that runs that keep only part of
#: their draws (``keep_draws``) still report statistics over every draw: GDP lost by region and world,
#: exports lost by region and world, all in percent of baseline. H = 2 R + 2 cells in this order.
HEADLINES = ("gdp_loss_pct", "world_gdp_loss_pct", "trade_loss_pct", "world_trade_loss_pct")


def headline_scale(gdp0: np.ndarray, exports0: np.ndarray) -> np.ndarray:
    """Percent scale of the H headline cells: 100 / baseline (GDP by region, world GDP, exports by region,
    world exports; 0 where the baseline is 0)."""
    return np.concatenate([_loss_scale(gdp0), _loss_scale(np.array([gdp0.sum()])),
                           _loss_scale(exports0), _loss_scale(np.array([exports0.sum()]))])


def _loss_scale(baseline: np.ndarray) -> np.ndarray:
    """100 / baseline where positive, else 0 (percent of baseline; empty cells stay in the zero bin)."""
    return np.divide(100.0, baseline, out=np.zeros_like(baseline, dtype=np.float64), where=baseline > 0)


def run_chunk(plan: Plan, seed: int, first_block: int, n_blocks: int, draws: int,
              variants: np.ndarray, market=None, *, tol: float | None = None, counts=None,
              out: ChunkResult | None = None, max_iter: int = MAX_ITER, aa_depth: int = AA_DEPTH) -> ChunkResult:
    """Run blocks ``first_block ..`` (clipped at ``draws``) under every variant.

    ``variants``: (V, P) bool, packages switched on in each variant. ``market``: optional callable
    ``market(plan, out: BlockOutput, u_market) -> dict[str, (B, X) array]`` with attribute ``n_uniforms``.
    Pure function of its arguments: this is the unit of work for every backend. ``counts``: optional
    histogram set (:class:`HistSet`) to add the counts to instead of a new one in the result (whose
    ``counts`` is then None), or a list of them, one per thread. The serial driver passes its
    accumulator's plus one set per further thread, kept for the whole run: allocating and merging several
    megabytes per chunk would cost a fifth of a fast run. The blocks are shared out over the numba thread count
    (one Python thread each; kernels and BLAS release the GIL), each thread taking the next block when it
    is done with one; each thread counts into its own histograms (one without a set of its own uses a
    per-thread scratch set, added to the first set at the end), which are integers, so their sum does
    not depend on which thread ran which block, and every other output is written per draw or per
    block. ``out``:
    optional result to write into (the serial driver passes views of its accumulator's arrays, so the
    draws are written once, where they stay, instead of into fresh arrays that are then copied).
    ``tol``, ``max_iter``, ``aa_depth``: the constrained solver's settings (kernels/structs.SolverOptions;
    ``tol`` None: ``DEFAULT_TOL`` of the plan's precision).
    """
    V = variants.shape[0]
    R, S = plan.n_regions, plan.n_sectors
    n = R * S
    tol = DEFAULT_TOL[plan.precision] if tol is None else tol
    solver = structs.SolverOptions(float(tol), int(max_iter), int(aa_depth))
    start = first_block * BLOCK
    stop = min(draws, (first_block + n_blocks) * BLOCK)
    N = max(stop - start, 0)
    K, P = plan.n_shocks, plan.n_packages
    res = out if out is not None else ChunkResult(
        first_block=first_block,
        occurred=np.zeros((N, P), dtype=bool), severity=np.zeros((N, K)),
        gdp_loss=np.zeros((V, N, R)), exports_lost=np.zeros((V, N, R)), horizon_fraction=np.zeros((V, N)),
        converged=np.ones((V, N), dtype=bool), iterations=np.zeros((V, N), dtype=np.int64),
        output_block_sums=np.zeros((V, n_blocks, n)), trade_block_sums=np.zeros((V, n_blocks, R, R)),
        headline_block_sums=np.zeros((V, n_blocks, 2 * R + 2)), headline_block_sumsq=np.zeros((V, n_blocks, 2 * R + 2)),
        counts=new_counts(count_shapes(V, n, R)) if counts is None else None,
    )
    if counts is None and res.counts is None:
        raise ValueError("run_chunk(out=...) with views that carry no histogram set needs counts=...")
    live = [q for q in range(n_blocks) if (first_block + q) * BLOCK < draws]
    if not live:
        return res
    import numba

    n_runs = min(len(live), numba.get_num_threads())
    hists = [None] * n_runs
    if counts is None:
        sets = [res.counts]
    elif isinstance(counts[0], np.ndarray):
        sets = [HistSet(*counts)]
    else:
        sets = [HistSet(*c) for c in counts]
    # blocks are handed out one at a time, so a thread that runs slower (a busier core, a worse memory
    # layout) takes fewer of them instead of the others waiting for it
    queue = iter(live)
    take = threading.Lock()

    def next_block():
        with take:
            return next(queue, None)

    def run(r: int) -> None:
        if n_runs == 1:   # one run in the caller's thread: its solver may still use the pool per sub-batch
            _run_blocks(r)
            return
        with _single_numba_thread():
            _run_blocks(r)

    def _run_blocks(r: int) -> None:
        # runs without a set of their own count into reusable zeroed buffers of their thread (fresh
        # multi-megabyte arrays per chunk cost more in page faults than the counting itself)
        h = sets[r] if r < len(sets) else _scratch_counts(count_shapes(V, n, R))
        while (q := next_block()) is not None:
            _run_block(plan, seed, first_block, int(q), draws, start, variants, market, solver, res, *h)
        hists[r] = h

    _map_tasks(run, range(n_runs))
    for h in hists[len(sets):]:
        drain_set(sets[0], h)
    return res




def _workspace_key(plan: Plan, B: int) -> tuple:
    """What a workspace's sizes depend on, computed once per plan (10-50 us, too much per block). The
    entry holds the plan, so its id is not reused while the entry exists."""
    hit = runtime.WORKSPACE_KEYS.get(id(plan))
    if hit is None or hit[0] is not plan:
        cls = plan.classes
        key = (plan.n_regions, plan.n_sectors, cls.n_classes, plan.n_shocks, plan.n_packages, len(plan.trade_cols),
               len(plan.fd_cols), tuple(int(r) for r in np.diff(cls.Q_ptr)), np.dtype(plan.gemm_dtype).str)
        if len(runtime.WORKSPACE_KEYS) >= 16:
            runtime.WORKSPACE_KEYS.clear()
        hit = runtime.WORKSPACE_KEYS[id(plan)] = (plan, key)
    return (*hit[1], B)


def _workspace(plan: Plan, B: int, keep: bool = True) -> dict:
    """Per-block arrays of the leontief kernels, kept per thread (``keep``) and reused
    block after block: fresh temporaries of a few hundred kB per block make the allocator return pages
    to the system and fault them in again (docs/performance.md, "memory")."""
    from shockmodel.kernels.propagate import leontief_work_sizes

    R, S, cls = plan.n_regions, plan.n_sectors, plan.classes
    shape = _workspace_key(plan, B)
    cache = getattr(runtime.scratch, "workspaces", None)
    if keep and cache is not None and shape in cache:
        return cache[shape]
    f64, g = leontief_work_sizes(plan.n_shocks, plan.n_packages, S, len(plan.trade_cols), len(plan.fd_cols),
                                 cls.n_classes, R * S, cls.Q_ptr, B)
    ws = {"B": B, "dxT": np.empty((R * S, B)), "tradeT": np.empty((R, R, B)), "f": np.empty(B),
          "uT": np.empty((cls.n_classes, B)), "work": np.empty(f64), "work_g": np.empty(g, dtype=plan.gemm_dtype)}
    ws["kernel"] = structs.LeontiefWork(ws["dxT"], ws["tradeT"], ws["f"], ws["uT"], ws["work"], ws["work_g"])
    if keep:
        if cache is None or len(cache) >= 4:
            cache = runtime.scratch.workspaces = {}
        cache[shape] = ws
    return ws


def _scratch(name: str, shape: tuple, dtype=np.int64) -> np.ndarray:
    """An array of ``shape`` kept per thread and name, zeroed when made; its callers overwrite it (the
    reduction's scratch). Histogram sets have their own (:func:`_scratch_counts`)."""
    buf = getattr(runtime.scratch, name, None)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = np.zeros(shape, dtype=dtype)
        setattr(runtime.scratch, name, buf)
    return buf


_NO_MARKET = np.empty((BLOCK, 0))   # u_market of a block without a market channel (no values)


def _run_block(plan: Plan, seed: int, first_block: int, q: int, draws: int, start: int, variants: np.ndarray,
               market, solver: structs.SolverOptions, res: ChunkResult, out_hist: np.ndarray, trade_hist: np.ndarray,
               headline_hist: np.ndarray, out_rng: np.ndarray, trade_rng: np.ndarray, head_rng: np.ndarray) -> None:
    """Sample, propagate and reduce block ``first_block + q`` of a chunk into ``res`` and a histogram set
    (:func:`new_counts`)."""
    from shockmodel.kernels.propagate import reduce_block

    t = _clock()
    lo = (first_block + q) * BLOCK
    hi = min(draws, lo + BLOCK)
    # Always the full block, cut afterwards: BLAS results can depend (in the last bits) on how many
    # rows share a GEMM, so a draw's numbers must not depend on how many draws were asked for.
    n_market = getattr(market, "n_uniforms", 0) if market is not None else 0
    a, b = lo - start, hi - start
    k = hi - lo
    if k == BLOCK:   # a full block: sampled straight into the result (the market's uniforms per thread)
        u_market = _scratch("u_market", (BLOCK, n_market), np.float64) if n_market else _NO_MARKET
        smp = sample_block(plan, seed, first_block + q, BLOCK, n_market,
                           Sample(res.occurred[a:b], res.severity[a:b], u_market))
    else:
        smp = sample_block(plan, seed, first_block + q, BLOCK, n_market)
        res.occurred[a:b] = smp.occurred[:k]
        res.severity[a:b] = smp.severity[:k]
    model = models.get(plan.model)
    ws = _workspace(plan, BLOCK) if model.WORKSPACE else None
    feedback = market is not None and getattr(market, "feedback", None) is not None
    inside = feedback and hasattr(model, "FEEDBACK_CHANNELS")   # the model runs the feedback in its steps
    crit_w = structure_weights(plan, seed, first_block + q)   # one structural draw for every variant (CRN)
    t = _lap("sampling", t)
    for v in range(variants.shape[0]):
        on = smp.occurred if variants[v].all() else smp.occurred & variants[v][None, :]
        extras = {"_seed_block": (seed, first_block + q)}
        if inside:   # the feedback to demand in the model's own steps (models.dynamic, D16-D18)
            extras["_market"] = (market, smp.u_market)
        dxT, tradeT, f, converged, iterations, uT = _propagate_raw(plan, smp.severity, on, solver.tol, solver.max_iter,
                                                                   ws, keep=k, extras=extras, aa_depth=solver.aa_depth,
                                                                   crit_w=crit_w)
        _keep_model_extras(extras, res, v, a, b, q, k, variants.shape[0])
        if feedback and not inside:   # demand feedback, second round
            market.second_round(plan, dxT, f, smp.severity, on, uT, smp.u_market)
        t = _lap("propagation", t)
        reduce_block(dxT, tradeT, f, plan.n_sectors, k, plan.scales, HIST_SPEC,
                     structs.DrawLosses(res.gdp_loss[v, a:b], res.exports_lost[v, a:b]),
                     structs.Histograms(out_hist[v], trade_hist[v], headline_hist[v], out_rng[v], trade_rng[v],
                                        head_rng[v]),
                     structs.BlockSums(res.output_block_sums[v, q], res.trade_block_sums[v, q],
                                       res.headline_block_sums[v, q], res.headline_block_sumsq[v, q]),
                     _scratch("reduce_work", ((2 * plan.n_regions + 4) * BLOCK,), np.float64))
        res.horizon_fraction[v, a:b] = f[:k]
        res.converged[v, a:b] = converged[:k]
        res.iterations[v, a:b] = iterations[:k]
        t = _lap("reduction", t)
        if market is not None:
            # the whole block (cut afterwards), so a draw's market numbers do not depend on the draw count
            out = BlockOutput(dx=dxT.T, trade=tradeT.transpose(2, 0, 1), gdp_loss=None, horizon_fraction=f,
                              converged=converged, iterations=iterations,
                              blocked_export_share=None, severity=smp.severity, on=on, blocked_class_share=uT.T)
            for name, arr in market(plan, out, smp.u_market).items():
                _stream_market(name, arr[:k], res, v, a, b, q, variants.shape[0])
            t = _lap("market", t)
    if t:
        _count("blocks")


def _keep_model_extras(extras: dict, res: ChunkResult, v: int, a: int, b: int, q: int, k: int, V: int) -> None:
    """Per-draw arrays a model left in ``extras`` (names without a leading ``_``, (B, X...)): the block's
    ``k`` wanted draws into ``res.extras`` and their sum and sum of squares into ``res.stream_block_sums``
    (block ``q`` of the chunk), so statistics cover every draw however many are kept."""
    for name, arr in extras.items():
        if not name.startswith("_"):
            _stream_draws(name, arr[:k], res, v, a, b, q, V)


def _stream_draws(name: str, part: np.ndarray, res: ChunkResult, v: int, a: int, b: int, q: int, V: int) -> None:
    """The block's wanted draws ``part`` (k, X...) of a per-draw variable: into ``res.extras`` (the
    accumulator keeps the first ``keep_draws``), and their sum and sum of squares into
    ``res.stream_block_sums`` (block ``q`` of the chunk, added in block order over every draw)."""
    n_blocks = res.output_block_sums.shape[1]
    buf = res.extras.get(name)
    if buf is None:   # setdefault: another thread may have made it meanwhile
        buf = res.extras.setdefault(name, np.zeros((V, res.severity.shape[0]) + part.shape[1:]))
    buf[v, a:b] = part
    sums = res.stream_block_sums.get(name)
    if sums is None:
        sums = res.stream_block_sums.setdefault(name, np.zeros((V, n_blocks, 2) + part.shape[1:]))
    sums[v, q, 0] = part.sum(axis=0)
    sums[v, q, 1] = (part * part).sum(axis=0)


_MARKET_LOCK = threading.Lock()   #: the blocks of a chunk run on several threads and share its histograms


def _stream_market(name: str, part: np.ndarray, res: ChunkResult, v: int, a: int, b: int, q: int, V: int) -> None:
    """A market series of one block, ``part`` (k, X) for its ``k`` wanted draws: kept draws and streamed
    sums as :func:`_stream_draws`, and signed histograms of every draw (``res.market_hists``), whose
    integer counts and extremes do not depend on which thread counted which block. So the market
    statistics cover every draw, as the GDP statistics do, and only the kept draws stay in memory."""
    from shockmodel.kernels.stats import signed_histogram

    part = np.asarray(part, dtype=np.float64)   # flags may come as bool; the statistics are of numbers
    _stream_draws(name, part, res, v, a, b, q, V)
    with _MARKET_LOCK:
        hist = res.market_hists.get(name)
        if hist is None:
            hist = res.market_hists[name] = new_signed_hist((V, part.shape[1]))
        counts, rng, ext = hist
        signed_histogram(part, part.shape[0], HIST_SHIFT, MARKET_FIRST_KEY, counts[v], rng[v], ext[v])


@dataclass
class RawResult:
    """All draws of a run, merged from chunks in block order (numpy only; xarray comes in aggregate).

    Per-draw arrays hold the first ``kept`` draws (``keep_draws``); histograms and sums cover all ``draws``.
    """

    plan: Plan
    draws: int
    kept: int
    seed: int
    variant_names: tuple[str, ...]
    variants: np.ndarray
    occurred: np.ndarray
    severity: np.ndarray
    gdp_loss: np.ndarray
    exports_lost: np.ndarray
    horizon_fraction: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    counts: HistSet | None     # histograms over all draws, with their bin ranges (None once released)
    output_sum: np.ndarray     # (V, n) sum over draws, added block by block in block order
    trade_sum: np.ndarray      # (V, R, R)
    headline_sum: np.ndarray   # (V, H)
    headline_sumsq: np.ndarray  # (V, H)
    extras: dict
    non_converged: int = 0     # draws (over all variants and all draws) whose fixed point did not converge
    streams: dict = field(default_factory=dict)   # name -> (V, 2, X...) sums and sums of squares over all draws
    wall_seconds: float = 0.0
    #: market series: name -> signed histograms of every draw (:func:`new_signed_hist`: counts (V, X,
    #: bins), ranges, extremes); with ``streams[name]`` they give the statistics whatever ``kept`` is
    market_hists: dict = field(default_factory=dict)

    @property
    def output_hist(self) -> np.ndarray:   # (V, n, HIST_BINS)
        return self.counts.output

    @property
    def trade_hist(self) -> np.ndarray:    # (V, R*R, HIST_BINS)
        return self.counts.trade

    @property
    def headline_hist(self) -> np.ndarray:  # (V, H, HIST_BINS): the HEADLINES in percent
        return self.counts.headline

    @property
    def hist_ranges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.counts.ranges

    def release_counts(self) -> None:
        """Hand the histograms back for later runs (:func:`give_counts`) once every statistic is taken
        from them (pipeline.run does, after aggregate.to_dataset); ``counts`` is None afterwards."""
        if self.counts is not None:
            counts, self.counts = self.counts, None
            give_counts(counts)


class Accumulator:
    """Merges chunk results into preallocated arrays, in block order (deterministic, memory-bounded).

    Per-draw arrays are written in place for the first ``keep_draws`` draws (memory stays flat however
    many draws a run has); histograms are integer sums; streamed sums add the chunks' per-block sums one
    block at a time, in block order, whatever order the chunks arrive in.
    """

    def __init__(self, plan: Plan, draws: int, seed: int, variant_names: Sequence[str], variants: np.ndarray,
                 keep_draws: int | None = None):
        V, R, S = variants.shape[0], plan.n_regions, plan.n_sectors
        K, P = plan.n_shocks, plan.n_packages
        kept = draws if keep_draws is None else max(0, min(draws, int(keep_draws)))
        H = 2 * R + 2
        # np.empty: every kept draw is written by exactly one block (zeroing them first would cost ~1%
        # of a 10,000-draw leontief run)
        self.raw = RawResult(
            plan=plan, draws=draws, kept=kept, seed=seed, variant_names=tuple(variant_names), variants=variants,
            occurred=np.empty((kept, P), dtype=bool), severity=np.empty((kept, K)),
            gdp_loss=np.empty((V, kept, R)), exports_lost=np.empty((V, kept, R)),
            horizon_fraction=np.empty((V, kept)), converged=np.empty((V, kept), dtype=bool),
            iterations=np.empty((V, kept), dtype=np.int64),
            counts=take_counts(count_shapes(V, R * S, R)),
            output_sum=np.zeros((V, R * S)), trade_sum=np.zeros((V, R, R)),
            headline_sum=np.zeros((V, H)), headline_sumsq=np.zeros((V, H)), extras={},
        )
        self.non_converged = 0
        self._pending: dict[int, ChunkResult] = {}
        self._next_block = 0

    def add(self, c: ChunkResult) -> None:
        """Add a chunk; chunks may arrive in any order (held until their predecessors are in)."""
        self._pending[c.first_block] = c
        while self._next_block in self._pending:
            self._take(self._pending.pop(self._next_block))

    def chunk_views(self, first_block: int, n_blocks: int) -> ChunkResult | None:
        """A chunk result for ``run_chunk(out=...)`` whose per-draw arrays are views of ours (None if the
        chunk reaches past the kept draws): the draws are then written once, in place."""
        r = self.raw
        a = first_block * BLOCK
        b = min(r.draws, (first_block + n_blocks) * BLOCK)
        if b > r.kept:
            return None
        V, n = r.gdp_loss.shape[0], r.output_sum.shape[1]
        R, H = r.trade_sum.shape[1], r.headline_sum.shape[1]
        return ChunkResult(
            first_block=first_block, occurred=r.occurred[a:b], severity=r.severity[a:b],
            gdp_loss=r.gdp_loss[:, a:b], exports_lost=r.exports_lost[:, a:b],
            horizon_fraction=r.horizon_fraction[:, a:b], converged=r.converged[:, a:b],
            iterations=r.iterations[:, a:b],
            output_block_sums=np.zeros((V, n_blocks, n)), trade_block_sums=np.zeros((V, n_blocks, R, R)),
            headline_block_sums=np.zeros((V, n_blocks, H)), headline_block_sumsq=np.zeros((V, n_blocks, H)),
            in_place=True)

    def _take(self, c: ChunkResult) -> None:
        r = self.raw
        a = c.first_block * BLOCK
        b = min(a + c.severity.shape[0], r.kept)
        self.non_converged += int((~c.converged).sum())
        if b > a and not c.in_place:
            r.occurred[a:b], r.severity[a:b] = c.occurred[: b - a], c.severity[: b - a]
            for name in ("gdp_loss", "exports_lost", "horizon_fraction", "converged", "iterations"):
                getattr(r, name)[:, a:b] = getattr(c, name)[:, : b - a]
        if c.counts is not None:   # None: counted into ours already (run_chunk(counts=...))
            for total, part in zip(r.counts.hists, c.counts.hists):
                total += part
            for total, part in zip(r.counts.ranges, c.counts.ranges):   # the union of the bin ranges
                np.minimum(total[..., 0], part[..., 0], out=total[..., 0])
                np.maximum(total[..., 1], part[..., 1], out=total[..., 1])
        for total, parts in ((r.output_sum, c.output_block_sums), (r.trade_sum, c.trade_block_sums),
                             (r.headline_sum, c.headline_block_sums), (r.headline_sumsq, c.headline_block_sumsq)):
            _add_in_order(total, parts)
        for name, parts in c.stream_block_sums.items():
            if name not in r.streams:
                r.streams[name] = np.zeros((parts.shape[0],) + parts.shape[2:])
            flat = r.streams[name].reshape(parts.shape[0], -1)
            _add_in_order(flat, parts.reshape(parts.shape[0], parts.shape[1], -1))
        for name, (counts, rng, ext) in c.market_hists.items():
            if name not in r.market_hists:
                r.market_hists[name] = new_signed_hist(counts.shape[:-1])
            _add_signed(r.market_hists[name], (counts, rng, ext))
        for name, arr in c.extras.items():
            # the kept draws only: market series and time paths are streamed over every draw
            if name not in r.extras:
                r.extras[name] = np.zeros((arr.shape[0], r.kept) + arr.shape[2:])
            if b > a:
                r.extras[name][:, a:b] = arr[:, : b - a]
        self._next_block += c.output_block_sums.shape[1]

    def counts(self) -> HistSet:
        """The histogram set to count into directly (``run_chunk(counts=...)``, serial driver only)."""
        return self.raw.counts

    def result(self) -> RawResult:
        if self._pending or self._next_block * BLOCK < self.raw.draws:
            raise RuntimeError(f"chunks missing from block {self._next_block}")
        self.raw.non_converged = self.non_converged
        return self.raw


def _add_signed(total: tuple, part: tuple) -> None:
    """``total += part`` for two sets of signed histograms (:func:`new_signed_hist`) of the same cells."""
    from shockmodel.kernels.stats import add_signed_histograms

    flat = [a.reshape(-1, a.shape[-1]) for pair in zip(total, part) for a in pair]
    add_signed_histograms(*flat)


def _add_in_order(total: np.ndarray, parts: np.ndarray) -> None:
    """``total += parts[:, 0]; total += parts[:, 1]; ...`` (block order, so sums do not depend on the
    chunking) in one call: ``np.add.accumulate`` adds strictly left to right."""
    if parts.shape[1]:
        total[...] = np.add.accumulate(np.concatenate([total[:, None], parts], axis=1), axis=1)[:, -1]


def merge_chunks(plan: Plan, chunks: Sequence[ChunkResult], draws: int, seed: int,
                 variant_names: Sequence[str], variants: np.ndarray, keep_draws: int | None = None) -> RawResult:
    """Merge all chunks of a run (any order) into one :class:`RawResult`."""
    acc = Accumulator(plan, draws, seed, variant_names, variants, keep_draws)
    for c in chunks:
        acc.add(c)
    return acc.result()


def blas_single_thread():
    """Context keeping BLAS on one thread (runtime.blas_single_thread), restoring its settings on exit."""
    return runtime.blas_single_thread()


def chunk_blocks(chunk_size: int | None) -> int:
    """Blocks per chunk: ``chunk_size`` rounded up to whole blocks (default 64 blocks = 16,384 draws: each
    chunk carries its own histograms, a few megabytes, so small chunks spend their time merging them)."""
    if chunk_size is None:
        return 64
    if chunk_size < 1:
        raise UserError(f"chunk_size must be a positive number of draws, got {chunk_size}", field="chunk_size")
    return -(-int(chunk_size) // BLOCK)


def variant_matrix(package_names: Sequence[str],
                   variants: Mapping[str, Sequence[str]] | None) -> tuple[tuple[str, ...], np.ndarray]:
    """(names, (V, P) bool) from ``{"combined": [...all], "russia": ["russia"]}``; None = all packages on."""
    P = len(package_names)
    if variants is None:
        return ("all",), np.ones((1, P), dtype=bool)
    names, rows = [], []
    for name, pkgs in variants.items():
        unknown = [p for p in pkgs if p not in package_names]
        if unknown:
            raise UserError(f"variant {name!r} names unknown packages {unknown}; packages: {list(package_names)}")
        names.append(name)
        rows.append([p in pkgs for p in package_names])
    return tuple(names), np.array(rows, dtype=bool).reshape(len(names), P)


# --- histogram sets kept between runs ---------------------------------------------------------------

_PRIMED = False


def _prime_allocator() -> None:
    """Allocate and free one 16 MB array, once per process, so that glibc's malloc raises its dynamic
    mmap threshold to 16 MB (mallopt(3), M_MMAP_THRESHOLD: freeing an mmapped chunk raises the threshold
    to its size if that is at most 32 MB), as it does after any program's first large free.

    Why: below the threshold, the kernels' per-sub-batch temporaries (a few MB in the constrained solver)
    and a run's arrays come from malloc's heaps, whose freed memory is reused; above it, each is a fresh
    mmap whose every page faults on first write (2-10 us a page): a process's first constrained run is
    then about a fifth slower. glibc only raises the threshold after such a chunk has been freed. Other
    allocators: an allocation and a free, nothing else."""
    global _PRIMED
    if not _PRIMED:
        _PRIMED = True
        np.empty(16 * 2**20, dtype=np.uint8)




def count_shapes(V: int, n: int, R: int) -> tuple[tuple[int, ...], ...]:
    """Shapes of the histograms of one set: output (V, n, bins), trade (V, R*R, bins), headline (V, 2R+2, bins)."""
    return (V, n, HIST_BINS), (V, R * R, HIST_BINS), (V, 2 * R + 2, HIST_BINS)


class HistSet(structs.Histograms):
    """One set of streamed histograms: int64 counts (V, cells, HIST_BINS) of the output, trade and headline
    cells (:func:`count_shapes`), then the *bin ranges* of each, (V, cells, 2): a cell's counts lie in bin
    0 and ``[lo, hi)``, which the kernels widen as they count, and the drain, the zeroing and the
    statistics read only there (``kernels.propagate.drain_counts``). The fields of
    :class:`kernels.structs.Histograms`, for every variant at once."""

    __slots__ = ()

    @property
    def hists(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self[:3]

    @property
    def ranges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self[3:]


def new_hist(shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Zeroed int64 histograms of ``shape`` (..., bins) and their empty bin ranges (..., 2)."""
    from shockmodel.kernels.propagate import reset_ranges

    ranges = np.empty(shape[:-1] + (2,), dtype=np.int64)
    reset_ranges(ranges, shape[-1])
    return np.zeros(shape, dtype=np.int64), ranges


def new_counts(shapes: tuple[tuple[int, ...], ...]) -> HistSet:
    """A zeroed :class:`HistSet` of histograms of ``shapes`` (:func:`count_shapes`) with empty ranges."""
    hists, ranges = zip(*(new_hist(shape) for shape in shapes))
    return HistSet(*hists, *ranges)


def drain_set(total: HistSet, part: HistSet) -> None:
    """``total += part`` and ``part = 0`` for two histogram sets of the same shapes."""
    from shockmodel.kernels.propagate import drain_counts

    for t, p, t_rng, p_rng in zip(total.hists, part.hists, total.ranges, part.ranges):
        drain_counts(t, p, t_rng, p_rng)


def _scratch_counts(shapes: tuple[tuple[int, ...], ...]) -> HistSet:
    """A histogram set kept per thread (zeroed: whoever counts into it drains it, :func:`drain_set`)."""
    key = ("counts", shapes)
    sets = getattr(runtime.scratch, "counts", None)
    if sets is None or sets[0] != key:
        sets = runtime.scratch.counts = (key, new_counts(shapes))
    return sets[1]


def take_counts(shapes: tuple[tuple[int, ...], ...]) -> HistSet:
    """A zeroed histogram set (:func:`new_counts`), reused from an earlier run when one is free.

    Why: a page written for the first time costs ~10 us on the machines measured, and a fresh set of
    sparsely written histograms costs several ms of that per run, against ~20 ms for the whole of a
    10,000-draw leontief run. Sets come back through :func:`give_counts`, zeroed (only where they
    were written: pages never written stay unmapped)."""
    with runtime.COUNT_POOL_LOCK:
        free = runtime.COUNT_POOL.get(shapes)
        if free:
            return free.pop()
    return new_counts(shapes)


def give_counts(counts: HistSet, zeroed: bool = False) -> None:
    """Return a set from :func:`take_counts` for later runs (zeroing it here unless ``zeroed``). The
    caller must not use it afterwards."""
    from shockmodel.kernels.propagate import clear_counts

    if not zeroed:
        for hist, rng in zip(counts.hists, counts.ranges):
            clear_counts(hist, rng)
    shapes = tuple(a.shape for a in counts.hists)
    size = sum(a.nbytes for a in counts)
    with runtime.COUNT_POOL_LOCK:
        kept = sum(a.nbytes for sets in runtime.COUNT_POOL.values() for c in sets for a in c)
        if kept + size <= runtime.COUNT_POOL_BYTES:
            runtime.COUNT_POOL.setdefault(shapes, []).append(counts)


def simulate(compiled, mrio: MRIO, *, draws: int = 10_000, seed: int = 0, model: str = "constrained",
             chunk_size: int | None = None, variants: Mapping[str, Sequence[str]] | None = None,
             critical: np.ndarray | None = None, threads: int | None = None, market=None,
             progress: Callable[[int], None] | None = None, tol: float | None = None,
             keep_draws: int | None = KEEP_DRAWS, precision: str = "float64", max_iter: int = MAX_ITER,
             aa_depth: int = AA_DEPTH, structure: str = "central") -> RawResult:
    """Run ``draws`` Monte Carlo draws of ``compiled`` on ``mrio`` serially, chunk by chunk.

    Memory is bounded by the chunk size plus the per-draw arrays of the first ``keep_draws`` draws (None:
    all); every statistic over all draws is streamed (histograms and sums), so memory stays flat however
    many draws are asked for. ``progress(n)`` is called with the number of draws finished after each chunk.
    ``precision`` "float32" runs the matrix products in single precision (tolerance ``DEFAULT_TOL``).
    ``tol``, ``max_iter``, ``aa_depth``: the constrained solver's settings. ``threads``: numba threads for
    this run; the caller's thread count, and BLAS's settings (one thread during the run), are restored
    afterwards (runtime.numba_threads, runtime.blas_single_thread). ``structure``: "central" (the declared
    critical-input weights) or "sampled" (their classes drawn per draw, docs/model.md eq. 54-55).
    """
    if draws < 1:
        raise UserError(f"draws must be at least 1, got {draws}", field="draws")
    if keep_draws is not None and keep_draws < 1:
        raise UserError(f"keep_draws must be at least 1, got {keep_draws}", field="keep_draws")
    with runtime.numba_threads(threads):
        return _simulate(compiled, mrio, draws, seed, model, chunk_size, variants, critical, market, progress, tol,
                         keep_draws, precision, max_iter, aa_depth, structure)


def _simulate(compiled, mrio, draws, seed, model, chunk_size, variants, critical, market, progress, tol, keep_draws,
              precision, max_iter, aa_depth, structure="central") -> RawResult:
    """:func:`simulate` at the numba thread count the caller set."""
    t0 = time.perf_counter()
    _prime_allocator()
    plan = cached_plan(compiled, mrio, model, critical, precision, structure)
    tol = DEFAULT_TOL[precision] if tol is None else float(tol)
    names, vmat = variant_matrix([p.name for p in compiled.packages], variants)
    per_chunk = chunk_blocks(chunk_size)
    n_blocks = -(-draws // BLOCK)
    acc = Accumulator(plan, draws, seed, names, vmat, keep_draws)
    import numba

    # one set of histograms per thread for the whole run, added up once at the end
    shapes = tuple(a.shape for a in acc.counts().hists)
    spare = [take_counts(shapes) for _ in range(min(numba.get_num_threads(), n_blocks) - 1)]
    counts = [acc.counts()] + spare
    with blas_single_thread():
        for first in range(0, n_blocks, per_chunk):
            nb = min(per_chunk, n_blocks - first)
            acc.add(run_chunk(plan, seed, first, nb, draws, vmat, market, tol=tol, max_iter=max_iter, aa_depth=aa_depth,
                              counts=counts,
                              out=acc.chunk_views(first, nb)))
            if progress is not None:
                progress(min(draws, (first + per_chunk) * BLOCK))
    for extra in spare:
        drain_set(counts[0], extra)
        give_counts(extra, zeroed=True)
    raw = acc.result()
    raw.wall_seconds = time.perf_counter() - t0
    _lap("simulate", t0)
    return raw
