"""Throughput of shockmodel against the machine's ceilings and against baselines, all in one run.

    python benchmarks/bench_engine.py            # full run (about 5-8 min on 2 idle cores)
    python benchmarks/bench_engine.py --quick    # about a minute; no memory check
    python benchmarks/bench_engine.py --big      # adds 1e7-draw memory runs (constrained: 15-30 min more)

Prints a table and writes ``benchmarks/results/<UTC date-time>.json`` (gitignored). Every number that is
compared is measured in the same run, so ratios stay meaningful on a busy or slow machine; absolute
numbers do not travel between machines. See benchmarks/README.md for what each number means.

Not part of the test suite. Uses shockmodel internals: engine.make_plan and engine.sample_block give the
baselines exactly the same random draws as shockmodel, which lets every baseline be checked against
shockmodel's own result (the ``check`` column); the plan's pass classes and triples give the flops the
engine performs; engine.sample_block, engine._propagate_raw and aggregate.to_dataset are wrapped to time
the stages of a run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SCENARIO = "combined_coordinated"
SEED = 0
DAYS_PER_MONTH = 30.4375
MODELS = ("leontief", "ghosh", "constrained")

#: draws per (table, model) for the end-to-end runs
SIZES = {
    "full": {
        ("default", "leontief"): [10_000, 100_000, 1_000_000],
        ("default", "ghosh"): [10_000, 100_000, 1_000_000],
        ("default", "constrained"): [10_000, 100_000],
        ("wiod2011", "leontief"): [10_000, 100_000],
        ("wiod2011", "ghosh"): [10_000, 100_000],
        ("wiod2011", "constrained"): [2_000, 10_000],   # fewer: n = 1476 and ~30 fixed-point sweeps per draw
    },
    "quick": {
        ("default", "leontief"): [2_048, 20_480],
        ("default", "ghosh"): [2_048, 20_480],
        ("default", "constrained"): [1_024, 4_096],
        ("wiod2011", "leontief"): [1_024, 4_096],
        ("wiod2011", "ghosh"): [1_024, 4_096],
        ("wiod2011", "constrained"): [256, 1_024],
    },
}
#: the same in float32 (shockmodel.run(precision="float32"): matrix products in single precision)
SIZES_FLOAT32 = {
    "full": {
        ("default", "leontief"): [100_000, 1_000_000],
        ("default", "constrained"): [100_000],
        ("wiod2011", "leontief"): [100_000],
        ("wiod2011", "constrained"): [10_000],
    },
    "quick": {
        ("default", "leontief"): [20_480],
        ("default", "constrained"): [4_096],
        ("wiod2011", "constrained"): [1_024],
    },
}
REPEATS = 3          #: timed runs per shockmodel configuration (the best is reported, the median too)
MIN_TIMED_S = 1.0    #: ... and more while the timed runs add up to less than this (as timeit's autorange)
MAX_TIMED_RUNS = 50  #: ... but at most this many
REPEAT_MAX_S = 8.0   #: ... unless one run takes longer than this
WARM_RUNS = 3        #: untimed runs of a configuration's size before its timed runs (steady state)
#: draws per baseline: (numpy loop with L, numpy loop with solve, pymrio, dense constrained loop)
BASELINE_DRAWS = {
    "full": {"default": (4_096, 1_024, 1_000, 200), "wiod2011": (1_024, 16, 200, 8)},
    "quick": {"default": (1_024, 128, 200, 50), "wiod2011": (256, 8, 100, 2)},
}
#: draws of the memory check (child processes, table default); 1e7 only with --big
MEMORY_DRAWS = [1_000_000]
MEMORY_DRAWS_BIG = [1_000_000, 10_000_000]
MEMORY_MODEL = "constrained"   # the default model of shockmodel.run
#: targets of the issue, checked on table default
TARGET_PYMRIO_RATIO = 100.0
#: draws/s targets of issue #6 (2 cores, end to end, float64)
TARGET_DRAWS_PER_S = {("default", "leontief"): 500_000, ("default", "constrained"): 20_000,
                      ("wiod2011", "constrained"): 400}
TARGET_PEAK_SHARE = 0.5   #: leontief propagation on default: share of the float64 matmul ceiling
TARGET_BOARIO_EQUIVALENTS = 1000.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- machine ceilings ---------------------------------------------------------------------------------


def matmul_gflops(dtype, n: int = 2000, repeats: int = 3, threads: int | None = None) -> float:
    """Best-of-``repeats`` GFLOP/s of an ``n x n`` matrix multiply (2 n^3 flops)."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    with threadpool_limits(limits=threads, user_api="blas"):
        a @ b  # warm-up (thread pool start, page faults)
        best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2.0 * n**3 / best / 1e9


def ceilings() -> dict:
    """float64 (all cores), float32 (all cores) and float64 on one BLAS thread, GFLOP/s."""
    return {"float64_gflops": matmul_gflops(np.float64), "float32_gflops": matmul_gflops(np.float32),
            "float64_1thread_gflops": matmul_gflops(np.float64, threads=1)}


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# --- shockmodel end to end ---------------------------------------------------------------------------


class StageTimer:
    """Wraps engine.sample_block, engine._propagate_raw and aggregate.to_dataset to time the stages of
    ``shockmodel.run`` without changing what it does (engine._run_block looks these module globals up at
    call time).

    Blocks run on a pool of Python threads, so the wrapped times are summed over threads: core-seconds,
    not wall seconds. A missing target (the engine changed) is reported as None instead of failing."""

    TARGETS = (("shockmodel.engine", "sample_block", "sampling"),
               ("shockmodel.engine", "_propagate_raw", "propagation"),
               ("shockmodel.aggregate", "to_dataset", "aggregation"))

    def __init__(self):
        self.seconds: dict[str, float | None] = {name: 0.0 for _, _, name in self.TARGETS}
        self.calls = {name: 0 for _, _, name in self.TARGETS}
        self._lock = threading.Lock()

    @contextmanager
    def active(self):
        import importlib

        saved = []
        for module_name, attr, name in self.TARGETS:
            module = importlib.import_module(module_name)
            original = getattr(module, attr, None)
            if original is None:
                log(f"warning: {module_name}.{attr} not found; stage {name!r} not timed")
                self.seconds[name] = None
                continue
            saved.append((module, attr, original))
            setattr(module, attr, self._wrap(original, name))
        try:
            yield self
        finally:
            for module, attr, original in saved:
                setattr(module, attr, original)

    def _wrap(self, fn, name):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                dt = time.perf_counter() - t0
                with self._lock:
                    self.seconds[name] += dt
                    self.calls[name] += 1

        return wrapper


class Threads:
    """numba's thread count of the main thread, restored before every shockmodel.run call.

    ``shockmodel.run`` uses as many worker threads as ``numba.get_num_threads()`` of the calling thread.
    Its workers set their own count to 1; when a run has a single task (one block, e.g. 256 draws), that
    task runs in the calling thread and may leave the caller's count at 1, which would make every later
    run in this process single-threaded. The benchmark measures the configured thread count, so it puts
    the count back and records how often it had to (``numba_threads_restored`` in the JSON)."""

    def __init__(self):
        import numba

        self.n = numba.get_num_threads()
        self.restored = 0

    def restore(self) -> None:
        import numba

        if numba.get_num_threads() != self.n:
            self.restored += 1
            numba.set_num_threads(self.n)


def propagation_flops(table: str, model: str) -> dict:
    """Flops per draw of the propagation, from the plan of (scenario, table, model).

    ``dense_*``: what a dense formulation costs, 2 n^2 per draw (dx = L dy, dx' = dv' G) or per draw and
    sweep (A dx). ``actual_*``: the products shockmodel performs: leontief dx = (L Yc) w with C pass
    classes (2 n C) plus the trade GEMMs over Q (2 S rows(Q)); ghosh dv' G (2 n^2) plus the same trade
    GEMMs; constrained per sweep A dx (2 n^2) and the per-importer triple GEMMs (2 S T), and once the
    trade at the solution (2 n^2)."""
    from shockmodel import engine
    from shockmodel import scenario as sc
    from shockmodel.criticality import critical_weights
    from shockmodel.io.tables import load_table

    mrio = load_table(table)
    compiled = sc.compile_scenario(sc.load_scenario(SCENARIO), mrio)
    plan = engine.make_plan(compiled, mrio, model, critical_weights(mrio))
    n, S = mrio.n, mrio.n_sectors
    C = int(plan.classes.n_classes)
    q_rows = int(plan.classes.Q.shape[0])
    T = len(plan.tri_e)
    out = {"n": n, "S": S, "classes": C, "Q_rows": q_rows, "triples": T, "dense_per_draw": 2.0 * n * n}
    if model == "leontief":
        out["actual_per_draw"] = 2.0 * n * C + 2.0 * S * q_rows
    elif model == "ghosh":
        out["actual_per_draw"] = 2.0 * n * n + 2.0 * S * q_rows
    else:
        out["dense_per_sweep"] = 2.0 * n * n
        out["actual_per_sweep"] = 2.0 * n * n + 2.0 * S * T
        out["actual_once"] = 2.0 * n * n
    return out


def executed_sweeps(iterations: np.ndarray, draws: int) -> tuple[float, int]:
    """(sweeps whose GEMMs actually run, summed over columns; columns computed). The solver iterates each
    sub-batch of engine.SUB_BATCH draws until its slowest draw converges; its first sweep skips the
    products (dx = 0); while more than half of the sub-batch is active every column goes through the
    GEMMs, after that only the active ones (at least two). A run's last block solves only the sub-batches
    that hold wanted draws; the unwanted draws of a partial sub-batch are counted like its wanted ones."""
    from shockmodel import engine

    B = engine.SUB_BATCH
    total = 0.0
    for lo in range(0, min(draws, len(iterations)), B):
        it = iterations[lo:lo + B]
        scale = B / len(it)
        for sweep in range(1, int(it.max())):
            active = scale * float((it > sweep).sum())
            total += B if 2 * active > B else max(active, 2.0)
    return total, -(-draws // B) * B


def run_shockmodel(table: str, model: str, draws: int, flops: dict, threads: Threads,
                   precision: str = "float64") -> dict:
    """One timed ``shockmodel.run`` (the caller has warmed up JIT and table caches)."""
    import shockmodel

    threads.restore()
    timer = StageTimer()
    with timer.active():
        t0 = time.perf_counter()
        ds = shockmodel.run(SCENARIO, table=table, draws=draws, model=model, markets=None, precision=precision)
        wall = time.perf_counter() - t0
    from shockmodel import engine

    # engine.run_chunk spreads a chunk's blocks over min(blocks, numba threads) Python threads
    used_threads = max(1, min(threads.n, -(-draws // engine.BLOCK)))
    threads.restore()
    n = int(ds.sizes["region"] * ds.sizes["sector"])
    kept = int(ds.sizes["draw"]) if "draw" in ds.sizes else None
    if model == "constrained":
        it = ds["iterations"].values.reshape(-1)
        iters = float(it.mean())
        dense = flops["dense_per_sweep"] * iters * draws
        actual = (flops["actual_per_sweep"] * iters + flops["actual_once"]) * draws
        executed = None
        if kept == draws:
            sweeps, cols = executed_sweeps(it, draws)
            executed = flops["actual_per_sweep"] * sweeps + flops["actual_once"] * cols
    else:
        iters = None
        dense = flops["dense_per_draw"] * draws
        actual = flops["actual_per_draw"] * draws
        executed = flops["actual_per_draw"] * (-(-draws // engine.BLOCK) * engine.BLOCK)   # full last block
    prop = timer.seconds["propagation"]
    # rate of the machine while propagating: the propagation's core-seconds spread over the threads
    prop_wall = prop / used_threads if prop else None
    return {
        "table": table, "model": model, "precision": precision, "draws": draws, "n": n, "draws_kept": kept, "wall_s": wall,
        "draws_per_s": draws / wall, "threads": used_threads,
        "stage_core_s": dict(timer.seconds), "stage_calls": dict(timer.calls),
        "iterations_mean": iters, "non_converged": int((~ds["converged"].values).sum()),
        "flops_per_draw": {k: v for k, v in flops.items()},
        "dense_flops": dense, "actual_flops": actual, "actual_flops_executed": executed,
        "dense_gflops": dense / prop_wall / 1e9 if prop_wall else None,
        "actual_gflops": actual / prop_wall / 1e9 if prop_wall else None,
        "actual_gflops_per_core": actual / prop / 1e9 if prop else None,
        "executed_gflops": executed / prop_wall / 1e9 if prop_wall and executed else None,
        "world_gdp_loss_head": ds["world_gdp_loss"].values.reshape(-1)[:4096].copy(),
    }


def timed_runs(table: str, model: str, draws: int, flops: dict, threads: Threads, precision: str,
               repeats: int) -> dict:
    """:func:`run_shockmodel` ``repeats`` times after WARM_RUNS untimed runs of the same size, and more
    until the timed runs add up to MIN_TIMED_S (at most MAX_TIMED_RUNS; a 1e4-draw leontief run takes
    ~20 ms, so three of them are a small sample of a noisy machine): the fastest run's row, with every
    timed run's wall time and the median rate.

    Why untimed runs at the size: the first runs of a size in a process are slower (1e4 leontief:
    180,000-260,000 draws/s on the first, 270,000 on the second, 450,000 from about the fourth),
    because their memory is new to the process (each thread's block workspace, the pooled histogram
    sets, the allocator's arenas) and a page touched for the first time costs 2-10 us here. The first
    run's rate is kept as ``first_run_draws_per_s``. Why the best: the
    machine is shared and noisy (+-10% between identical runs); the best run is the least disturbed, as
    timeit reports. A size whose first run takes over REPEAT_MAX_S is timed by that one run alone."""
    first = run_shockmodel(table, model, draws, flops, threads, precision)
    if first["wall_s"] > REPEAT_MAX_S or repeats < 1:
        rows = [first]
    else:
        for _ in range(WARM_RUNS - 1):
            run_shockmodel(table, model, draws, flops, threads, precision)
        rows = []
        while len(rows) < repeats or (sum(r["wall_s"] for r in rows) < MIN_TIMED_S and len(rows) < MAX_TIMED_RUNS):
            rows.append(run_shockmodel(table, model, draws, flops, threads, precision))
    best = min(rows, key=lambda r: r["wall_s"])
    walls = sorted(r["wall_s"] for r in rows)
    best["walls_s"] = walls
    best["draws_per_s_median"] = draws / float(np.median(walls))
    best["first_run_draws_per_s"] = first["draws_per_s"]
    return best


def warm_start_seconds() -> dict:
    """A fresh interpreter importing shockmodel and running 256 constrained draws (numba cache warm)."""
    code = ("import time; t0 = time.perf_counter(); import shockmodel; "
            f"shockmodel.run({SCENARIO!r}, draws=256, markets=None); print(time.perf_counter() - t0)")
    out = {}
    for attempt in ("first", "second"):   # the first may still fill the on-disk numba cache
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        out[attempt] = {"process_wall_s": time.perf_counter() - t0, "in_process_s": float(res.stdout.strip().splitlines()[-1])}
    return out


MEMORY_CHILD = r"""
import json, sys, time
def peak_kb():
    # VmHWM: peak RSS of this process image only. ru_maxrss of a child is no good here: Linux carries the
    # parent's peak over fork and execve into it (the benchmark process holds hundreds of MB by now)
    try:
        with open("/proc/self/status") as fh:
            return int(next(l for l in fh if l.startswith("VmHWM:")).split()[1])
    except (OSError, StopIteration):
        return None
t0 = time.perf_counter()
import shockmodel
draws, model = int(sys.argv[1]), sys.argv[2]
hwm_import = peak_kb()
t1 = time.perf_counter()
ds = shockmodel.run(sys.argv[3], draws=draws, model=model, markets=None)
t2 = time.perf_counter()
print(json.dumps({"run_s": t2 - t1, "import_s": t1 - t0, "vmhwm_after_import_kb": hwm_import,
                  "vmhwm_kb": peak_kb(), "draws_kept": int(ds.sizes.get("draw", -1))}))
"""


def _maxrss_mb(ru_maxrss: int) -> float:
    """ru_maxrss is in kilobytes on Linux, in bytes on macOS."""
    return ru_maxrss / 1024**2 if sys.platform == "darwin" else ru_maxrss / 1024


def memory_run(draws: int, model: str) -> dict:
    """Peak RSS and wall time of ``shockmodel.run(SCENARIO, draws=draws, model=model, markets=None)`` in a
    child process.

    The peak is the child's VmHWM (/proc/self/status, read by the child at its end: the high-water mark of
    its own address space). The child's ``ru_maxrss`` (``os.wait4``, i.e. getrusage of that one child) is
    kept in the JSON but is only a fallback where /proc is missing: on Linux it includes the parent's peak
    at the time of the fork (carried over fork and execve), and RUSAGE_CHILDREN would in addition carry the
    peak of earlier children, such as a 1e6 run before a 1e7 run."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", MEMORY_CHILD, str(draws), model, SCENARIO],
                                stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        return {"draws": draws, "model": model, "table": "default", "error": stderr[-2000:] or f"exit {proc.returncode}"}
    child = json.loads(stdout.strip().splitlines()[-1])
    hwm = child["vmhwm_kb"]
    after_import = child["vmhwm_after_import_kb"]
    return {"draws": draws, "model": model, "table": "default",
            "peak_rss_mb": hwm / 1024 if hwm is not None else _maxrss_mb(usage.ru_maxrss),
            "rss_after_import_mb": after_import / 1024 if after_import is not None else None,
            "wait4_ru_maxrss_mb": _maxrss_mb(usage.ru_maxrss), "draws_kept": child["draws_kept"],
            "process_wall_s": wall, "run_s": child["run_s"], "draws_per_s": draws / child["run_s"],
            "measured_with": "VmHWM of the child (/proc/self/status)" if hwm is not None else
                             "os.wait4 ru_maxrss of the child (includes the parent's peak on Linux)"}


def memory_check(models: list[str], sizes: list[int]) -> dict:
    """memory_run for every model and size; ratio of the peak RSS of the largest to the smallest size."""
    runs = []
    for model in models:
        for draws in sizes:
            log(f"memory: {draws:.0e} draws ({model}) in a child process ...")
            runs.append(memory_run(draws, model))
    ratios = {}
    for model in models:
        ok = {r["draws"]: r["peak_rss_mb"] for r in runs if r["model"] == model and r.get("peak_rss_mb")}
        if len(sizes) > 1 and sizes[0] in ok and sizes[-1] in ok:
            ratios[model] = ok[sizes[-1]] / ok[sizes[0]]
    return {"measured": True, "sizes": sizes, "models": models, "runs": runs,
            "peak_rss_ratio": ratios, "ratio_of": f"{sizes[-1]:.0e} / {sizes[0]:.0e} draws" if len(sizes) > 1 else None}


# --- baselines: the same draws, propagated one at a time ---------------------------------------------


class Draws:
    """Shockmodel's own random draws of the scenario, plus a plain-numpy per-draw shock builder."""

    def __init__(self, table: str):
        from shockmodel import engine
        from shockmodel import scenario as sc
        from shockmodel.criticality import critical_weights
        from shockmodel.io.tables import load_table

        self.mrio = mrio = load_table(table)
        self.compiled = compiled = sc.compile_scenario(sc.load_scenario(SCENARIO), mrio)
        self.plan = engine.make_plan(compiled, mrio, "leontief", critical_weights(mrio))
        self.W = critical_weights(mrio)
        self._engine = engine
        self.R, self.S, self.n = mrio.n_regions, mrio.n_sectors, mrio.n
        self.P = len(compiled.packages)
        sh = compiled.shocks
        self.shock_pkg = np.array([s.package for s in sh], dtype=np.int64)
        self.trade = [(k, s.package, np.asarray(s.mask)) for k, s in enumerate(sh) if s.kind == "trade_block"]
        self.cap = [(k, np.asarray(s.mask)) for k, s in enumerate(sh) if s.kind == "capacity"]
        self.fd = [(k, np.asarray(s.mask)) for k, s in enumerate(sh) if s.kind == "final_demand"]
        self.subst = [(k, s.package, np.asarray(s.mask)) for k, s in enumerate(sh) if s.kind == "substitution"]
        self.dur = [(k, s.package) for k, s in enumerate(sh) if s.kind == "duration"]
        self.inv = [(k, s.package) for k, s in enumerate(sh) if s.kind == "inventory"]
        self.H = float(compiled.horizon_months)
        self.x0 = np.array(mrio.x)
        self.v0 = np.array(mrio.v)
        self.inv_x0 = np.divide(1.0, self.x0, out=np.zeros_like(self.x0), where=self.x0 > 0)
        self.Ypos = np.clip(np.array(mrio.Y), 0.0, None)

    def sample(self, draws: int):
        """(severity (N, K), occurred (N, P)) from shockmodel's sampler (vectorised per block of 256)."""
        eng = self._engine
        sev, occ = [], []
        for blk in range(-(-draws // eng.BLOCK)):
            smp = eng.sample_block(self.plan, SEED, blk, eng.BLOCK)
            sev.append(smp.severity)
            occ.append(smp.occurred)
        return np.concatenate(sev)[:draws], np.concatenate(occ)[:draws]

    def shock(self, sev: np.ndarray, on: np.ndarray):
        """One draw: pass-through share (R, R, S) [exporter, importer, sector], remaining final demand share
        (R, S) [buyer, product], remaining capacity (R, S) and the horizon fraction (docs/model.md)."""
        R, S = self.R, self.S
        eff = sev * on[self.shock_pkg]
        subst = np.zeros((max(self.P, 1), S))
        for k, p, mask in self.subst:
            subst[p] = 1.0 - (1.0 - subst[p]) * (1.0 - eff[k] * mask)
        pass3 = np.ones((R, R, S))
        for k, p, mask in self.trade:
            if eff[k] != 0.0:
                pass3 = np.where(mask, pass3 * (1.0 - eff[k] * (1.0 - subst[p])[None, None, :]), pass3)
        dem = np.ones((R, S))
        for k, mask in self.fd:
            dem = np.where(mask, dem * (1.0 - eff[k]), dem)
        cap = np.ones((R, S))
        for k, mask in self.cap:
            cap = np.where(mask, cap * (1.0 - eff[k]), cap)
        return pass3, dem, cap, self.horizon_fraction(sev, on)

    def horizon_fraction(self, sev, on) -> float:
        """``clip(min(T, H) - b / 30.4375, 0, H) / H`` (engine module docstring)."""
        if not on.any():
            return 0.0
        dur = np.where(on, self.H, 0.0)
        for k, p in self.dur:
            dur[p] = 0.0
        for k, p in self.dur:
            if on[p]:
                dur[p] = max(dur[p], sev[k])
        buffers = [sev[k] for k, p in self.inv if on[p]]
        b = min(buffers) if buffers else 0.0
        return float(np.clip(min(dur.max(), self.H) - b / DAYS_PER_MONTH, 0.0, self.H) / self.H)

    def final_demand_lost(self, pass3, dem) -> np.ndarray:
        """dy_i = sum_m Y+_im (1 - pass(i, m) dem(m, s_i)): final demand that disappears or cannot pass."""
        R, S = self.R, self.S
        Yp3 = self.Ypos.reshape(R, S, R)
        remaining = Yp3 * pass3.transpose(0, 2, 1) * dem.T[None, :, :]
        return (Yp3 - remaining).sum(axis=2).reshape(self.n)

    def world_gdp_loss(self, dx, f) -> float:
        dx = np.clip(dx, 0.0, self.x0)
        return float((dx * self.inv_x0 * self.v0).sum() * f)


def baseline_numpy_leontief(d: Draws, draws: int, solve: bool) -> dict:
    """The per-draw loop a user would write: build the draw's final-demand change, dx = L dy (or solve)."""
    t0 = time.perf_counter()
    sev, occ = d.sample(draws)
    t_sample = time.perf_counter() - t0
    IA = np.eye(d.n) - np.array(d.mrio.A)
    L = np.array(d.mrio.L) if not solve else None   # once, outside the loop (the user's "precomputed L")
    out = np.empty(draws)
    t1 = time.perf_counter()
    for b in range(draws):
        pass3, dem, _cap, f = d.shock(sev[b], occ[b])
        dy = d.final_demand_lost(pass3, dem)
        dx = np.linalg.solve(IA, dy) if solve else L @ dy
        out[b] = d.world_gdp_loss(dx, f)
    t_loop = time.perf_counter() - t1
    return {"draws": draws, "seconds": t_sample + t_loop, "sampling_s": t_sample, "world_gdp_loss": out}


def baseline_pymrio(d: Draws, draws: int) -> dict:
    """pymrio per draw: new final-demand DataFrame, y = Y.sum(1), x = pymrio.calc_x_from_L(L, y)."""
    import pandas as pd
    import pymrio

    R, S = d.R, d.S
    idx = pd.MultiIndex.from_product([d.mrio.regions, d.mrio.sectors], names=["region", "sector"])
    cols = pd.MultiIndex.from_product([d.mrio.regions, ["final_demand"]], names=["region", "category"])
    Z = pd.DataFrame(np.array(d.mrio.Z), index=idx, columns=idx)
    Y = pd.DataFrame(np.array(d.mrio.Y), index=idx, columns=cols)
    Ypos = pd.DataFrame(d.Ypos, index=idx, columns=cols)    # negative entries (inventory draw-downs) stay
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x0 = pymrio.calc_x(Z, Y)
        L = pymrio.calc_L(pymrio.calc_A(Z, x0))
    t0 = time.perf_counter()
    sev, occ = d.sample(draws)
    out = np.empty(draws)
    for b in range(draws):
        pass3, dem, _cap, f = d.shock(sev[b], occ[b])
        share = pass3.transpose(0, 2, 1) * dem.T[None, :, :]       # (R, S, R) remaining share of Y+
        Y_new = Y - Ypos * (1.0 - share.reshape(R * S, R))
        x_new = pymrio.calc_x_from_L(L, Y_new.sum(axis=1))
        dx = (x0["indout"] - x_new["indout"]).to_numpy()
        out[b] = d.world_gdp_loss(dx, f)
    return {"draws": draws, "seconds": time.perf_counter() - t0, "world_gdp_loss": out}


def baseline_dense_constrained(d: Draws, draws: int, tol: float = 1e-9, max_iter: int = 2000) -> dict:
    """Plain numpy, one draw at a time, dense n x n: the constrained fixed point of docs/model.md
    (rationing rho_i = min(1, x_i / D_i), critical inputs with weights, capacity), in losses from x0."""
    R, S, n = d.R, d.S, d.n
    Z = np.array(d.mrio.Z)
    A = np.array(d.mrio.A)
    x0 = d.x0
    req = Z.reshape(R, S, n).sum(axis=0)                       # (S, n) baseline requirement of s by j
    Wfull = d.W[:, np.arange(n) % S]                           # (S, n) weight of input s for buyer j
    Wfull = np.where(req > 0, Wfull, 0.0)
    inv_req = np.divide(1.0, req, out=np.zeros_like(req), where=req > 0)
    t0 = time.perf_counter()
    sev, occ = d.sample(draws)
    out = np.empty(draws)
    iters = np.empty(draws, dtype=np.int64)
    for b in range(draws):
        pass3, dem, cap, f = d.shock(sev[b], occ[b])
        P = np.repeat(pass3.transpose(0, 2, 1).reshape(n, R), S, axis=1)   # pass_ij, (n, n)
        Zb = Z * P
        AP = A * P
        dD0 = (Z - Zb).sum(axis=1) + d.final_demand_lost(pass3, dem)
        dcap = (1.0 - cap.reshape(n)) * x0
        dx = np.zeros(n)
        for it in range(1, max_iter + 1):
            dD = np.maximum(dD0 + AP @ dx, 0.0)
            rho = np.where((dx <= dD) | (x0 - dD <= 0.0), 1.0,
                           np.divide(x0 - dx, x0 - dD, out=np.ones(n), where=x0 - dD > 0))
            received = (Zb * rho[:, None]).reshape(R, S, n).sum(axis=0)
            lim = x0 * (Wfull * (req - received) * inv_req).max(axis=0)
            new = np.minimum(x0, np.maximum(np.maximum(dcap, dD), lim))
            done = np.all(np.abs(new - dx) <= tol * x0)
            dx = new
            if done:
                break
        iters[b] = it
        out[b] = d.world_gdp_loss(dx, f)
    return {"draws": draws, "seconds": time.perf_counter() - t0, "world_gdp_loss": out,
            "iterations_mean": float(iters.mean())}


BOARIO_SCRIPT = r"""
import json, sys, time, warnings
warnings.filterwarnings("ignore")
import logging; logging.disable(logging.WARNING)
import numpy as np, pandas as pd, pymrio
import shockmodel as sm
from boario.simulation import Simulation
from boario.extended_models import ARIOPsiModel
from boario.event import EventArbitraryProd
import boario
T = sm.load_table("default")
idx = pd.MultiIndex.from_product([T.regions, T.sectors], names=["region", "sector"])
Y = pd.DataFrame(np.clip(np.array(T.Y), 0, None), index=idx,
                 columns=pd.MultiIndex.from_product([T.regions, ["final_demand"]], names=["region", "category"]))
io = pymrio.IOSystem(Z=pd.DataFrame(np.array(T.Z), index=idx, columns=idx), Y=Y, name="default")
io.calc_all()
steps = int(sys.argv[1])
t0 = time.perf_counter()
model = ARIOPsiModel(io, monetary_factor=10**6)
sim = Simulation(model, n_temporal_units_to_sim=steps)
impact = pd.Series(0.85, index=pd.MultiIndex.from_product([["TWN"], T.sectors], names=["region", "sector"]))
sim.add_event(EventArbitraryProd(impact=impact, occurrence=1, duration=steps - 1, recovery_tau=1))
t1 = time.perf_counter()
sim.loop()
t2 = time.perf_counter()
prod = sim.production_realised.to_numpy()
loss = 1.0 - prod[2:].sum() / (prod[0].sum() * (len(prod) - 2))
print(json.dumps({"version": boario.__version__, "steps": steps, "setup_s": t1 - t0, "loop_s": t2 - t1,
                  "seconds": t2 - t0, "ms_per_step": (t2 - t1) / steps * 1e3, "world_output_loss_share": loss}))
"""


def baseline_boario(steps: int = 365) -> dict:
    """One BoARIO (ARIO) simulation of a year-long Taiwan capacity shock on the default table.

    BoARIO is installed with pip into a temporary folder (never into the environment) if it installs
    within 3 minutes; otherwise the result says why it was not measured."""
    target = Path(tempfile.gettempdir()) / "shockmodel-bench-boario"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    probe = subprocess.run([sys.executable, "-c", "import boario, progressbar"], env=env, capture_output=True,
                           check=False)
    install_s = 0.0
    if probe.returncode != 0:
        t0 = time.perf_counter()
        try:
            res = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                                  "--target", str(target), "--no-deps", "boario", "progressbar2", "python-utils"],
                                 capture_output=True, text=True, timeout=180, check=False)
        except subprocess.TimeoutExpired:
            return {"measured": False, "reason": "pip install boario did not finish within 180 s"}
        install_s = time.perf_counter() - t0
        if res.returncode != 0:
            return {"measured": False, "reason": "pip install boario failed: " + (res.stderr.strip().splitlines() or ["?"])[-1]}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "boario_run.py"
        script.write_text(BOARIO_SCRIPT)
        res = subprocess.run([sys.executable, str(script), str(steps)], env=env, capture_output=True, text=True,
                             cwd=tmp, timeout=1800, check=False)
    if res.returncode != 0:
        return {"measured": False, "reason": "BoARIO run failed: " + (res.stderr.strip().splitlines() or ["?"])[-1]}
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out.update(measured=True, install_s=install_s,
               scenario="ARIOPsiModel, default table, TWN capacity -85% in every sector for a year, daily steps",
               note="different model: dynamic ARIO, deterministic, one event, no trade-edge shocks; "
                    "compared per simulation with one shockmodel draw")
    return out


def check(ours: np.ndarray, theirs: np.ndarray) -> float:
    """Largest relative difference of the world GDP loss over the draws both computed."""
    k = min(len(ours), len(theirs))
    a, b = ours[:k], theirs[:k]
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(a)), 1e-300))


# --- main -------------------------------------------------------------------------------------------------


def machine_info() -> dict:
    import numba
    from threadpoolctl import threadpool_info

    return {
        "python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
        "cpu_count": os.cpu_count(), "numba_threads": numba.get_num_threads(), "platform": platform.platform(),
        "processor": platform.processor(),
        "blas": [{k: i.get(k) for k in ("internal_api", "version", "num_threads", "threading_layer")}
                 for i in threadpool_info() if i.get("user_api") == "blas"],
    }


def _models(text: str) -> list[str]:
    models = [m.strip() for m in text.split(",") if m.strip()]
    models = list(MODELS) if models == ["all"] else models
    bad = [m for m in models if m not in MODELS]
    if not models or bad:
        raise argparse.ArgumentTypeError(f"models must be 'all' or a comma-separated list of {MODELS}, got {text!r}")
    return models


def ratios(res: dict) -> dict:
    """The issue's targets, from numbers of this run on table default."""
    def best(model):
        rows = [r for r in res["shockmodel"] if r["table"] == "default" and r["model"] == model
                and r.get("precision", "float64") == "float64"]
        return max(rows, key=lambda r: r["draws"]) if rows else None

    out = {"throughput": []}
    peak = res["ceilings"].get("float64_gflops") or res["ceilings"]["start"]["float64_gflops"]
    for r in res["shockmodel"]:
        target = TARGET_DRAWS_PER_S.get((r["table"], r["model"]))
        if target and r.get("precision", "float64") == "float64":
            out["throughput"].append({
                "table": r["table"], "model": r["model"], "draws": r["draws"], "target": target,
                "best": r["draws_per_s"], "median": r.get("draws_per_s_median", r["draws_per_s"]),
                "runs": len(r.get("walls_s", [r["wall_s"]])), "met": r["draws_per_s"] >= target,
                "met_by_median": r.get("draws_per_s_median", r["draws_per_s"]) >= target})
        if (r["table"], r["model"]) == ("default", "leontief") and r.get("precision", "float64") == "float64" \
                and r["actual_gflops"]:
            out.setdefault("propagation_share_of_peak", []).append(
                {"draws": r["draws"], "share": r["actual_gflops"] / peak, "target": TARGET_PEAK_SHARE,
                 "met": r["actual_gflops"] / peak >= TARGET_PEAK_SHARE})
    lt = best("leontief")
    py = next((b for b in res["baselines"] if b["table"] == "default" and b["name"].startswith("pymrio")), None)
    if lt and py:
        r = lt["draws_per_s"] / py["draws_per_s"]
        out["leontief_over_pymrio"] = {"shockmodel_draws": lt["draws"], "shockmodel_draws_per_s": lt["draws_per_s"],
                                       "pymrio_draws": py["draws"], "pymrio_draws_per_s": py["draws_per_s"],
                                       "ratio": r, "target": TARGET_PYMRIO_RATIO, "met": r >= TARGET_PYMRIO_RATIO}
    bo = res.get("boario", {})
    if bo.get("measured"):
        eq = {"boario_seconds": bo["seconds"], "boario_loop_seconds": bo["loop_s"],
              "target": TARGET_BOARIO_EQUIVALENTS,
              "note": "different models: BoARIO is a dynamic ARIO model, deterministic, one scenario; a shockmodel "
                      "draw is one static scenario of a Monte Carlo run"}
        for model in ("constrained", "leontief"):
            b = best(model)
            if b:
                eq[model] = {"draws_per_s": b["draws_per_s"], "draws": b["draws"],
                             "equivalents": b["draws_per_s"] * bo["seconds"],
                             "equivalents_loop_only": b["draws_per_s"] * bo["loop_s"],
                             "met": b["draws_per_s"] * bo["seconds"] >= TARGET_BOARIO_EQUIVALENTS}
        out["boario_scenario_equivalents"] = eq
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller draw counts, no memory check unless --big (about a minute)")
    ap.add_argument("--big", action="store_true",
                    help="memory check with 1e6 and 1e7 draws (1e7 constrained: 15-30 min; 1e7 leontief: about a minute)")
    ap.add_argument("--memory-model", type=_models, default=[MEMORY_MODEL], metavar="MODELS",
                    help=f"model(s) of the memory check: comma-separated, or 'all' (default {MEMORY_MODEL}, the default "
                         "model of shockmodel.run); e.g. --big --memory-model leontief,constrained")
    ap.add_argument("--repeats", type=int, default=REPEATS, metavar="N",
                    help=f"timed runs per configuration after {WARM_RUNS} untimed ones, best reported (default {REPEATS}, "
                         f"and more until they add up to {MIN_TIMED_S:.0f} s, at most {MAX_TIMED_RUNS}; a configuration "
                         f"whose first run takes over {REPEAT_MAX_S:.0f} s is timed by that run)")
    ap.add_argument("--no-boario", action="store_true", help="skip the BoARIO baseline")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory check")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="folder for the JSON result")
    args = ap.parse_args(argv)
    mode = "quick" if args.quick else "full"
    started = datetime.now(UTC)
    res: dict = {"mode": mode, "big": args.big, "scenario": SCENARIO, "seed": SEED,
                 "started_utc": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "machine": machine_info(), "loadavg_start": list(os.getloadavg())}
    t_all = time.perf_counter()

    log("ceilings ...")
    res["ceilings"] = {"matmul_n": 2000, "start": ceilings()}

    import shockmodel

    threads = Threads()
    res["shockmodel"] = []
    heads = {}
    runs = [(key, sizes, "float64") for key, sizes in SIZES[mode].items()]
    runs += [(key, sizes, "float32") for key, sizes in SIZES_FLOAT32[mode].items()]
    for (table, model), sizes, precision in runs:
        log(f"shockmodel {table} {model} {precision}: warm-up ...")
        threads.restore()
        shockmodel.run(SCENARIO, table=table, draws=256, model=model, markets=None, precision=precision)
        flops = propagation_flops(table, model)
        for draws in sizes:
            log(f"shockmodel {table} {model} {precision}: {draws} draws ...")
            r = timed_runs(table, model, draws, flops, threads, precision, args.repeats)
            head = r.pop("world_gdp_loss_head")
            if precision == "float64":
                heads.setdefault((table, model), head)
            else:   # float32 against float64 on the same draws (tests/test_precision.py states 1e-5)
                ref = heads.get((table, model))
                k = min(len(ref), len(head)) if ref is not None else 0
                r["float32_max_rel_diff"] = float(np.max(np.abs(head[:k] / ref[:k] - 1))) if k else None
            res["shockmodel"].append(r)
    res["numba_threads"] = threads.n
    res["numba_threads_restored"] = threads.restored
    log("warm start-up ...")
    res["warm_start"] = warm_start_seconds()

    def best(table, model):
        rows = [r for r in res["shockmodel"] if r["table"] == table and r["model"] == model
                and r.get("precision", "float64") == "float64"]
        return max(rows, key=lambda r: r["draws"])["draws_per_s"]

    res["baselines"] = []
    for table, (n_loop, n_solve, n_pymrio, n_dense) in BASELINE_DRAWS[mode].items():
        d = Draws(table)
        specs = [
            ("numpy loop, dx = L @ dy", "leontief", baseline_numpy_leontief, (d, n_loop, False)),
            ("numpy loop, np.linalg.solve", "leontief", baseline_numpy_leontief, (d, n_solve, True)),
            ("pymrio calc_x_from_L per draw", "leontief", baseline_pymrio, (d, n_pymrio)),
            ("numpy loop, dense fixed point", "constrained", baseline_dense_constrained, (d, n_dense)),
        ]
        for name, model, fn, fn_args in specs:
            log(f"baseline {name} on {table} ...")
            b = fn(*fn_args)
            wgl = b.pop("world_gdp_loss")
            b.update(name=name, table=table, model=model, draws_per_s=b["draws"] / b["seconds"],
                     check_max_rel_diff=check(heads[(table, model)], wgl))
            b["speedup"] = best(table, model) / b["draws_per_s"]
            res["baselines"].append(b)

    if args.no_boario:
        res["boario"] = {"measured": False, "reason": "skipped (--no-boario)"}
    else:
        log("BoARIO ...")
        try:
            res["boario"] = baseline_boario()
        except Exception as exc:  # noqa: BLE001 - a third-party failure must not lose the other numbers
            res["boario"] = {"measured": False, "reason": f"{type(exc).__name__}: {exc}"}
    res["ratios"] = ratios(res)

    if args.no_memory:
        res["memory"] = {"measured": False, "reason": "skipped (--no-memory)"}
    elif args.quick and not args.big:
        res["memory"] = {"measured": False, "reason": "skipped (--quick)"}
    else:
        res["memory"] = memory_check(args.memory_model, MEMORY_DRAWS_BIG if args.big else MEMORY_DRAWS)

    log("ceilings again ...")
    res["ceilings"]["end"] = ceilings()
    for key in res["ceilings"]["start"]:   # the better of the two: load from other processes only lowers them
        res["ceilings"][key] = max(res["ceilings"]["start"][key], res["ceilings"]["end"][key])
    res["loadavg_end"] = list(os.getloadavg())
    res["total_s"] = time.perf_counter() - t_all
    text = render(res)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / (started.strftime("%Y%m%dT%H%M%SZ") + ("-quick" if args.quick else "") + ("-big" if args.big else "")
                       + ".json")
    res["table_text"] = text
    path.write_text(json.dumps(res, indent=1, default=float) + "\n")
    log(f"wrote {path}")
    return 0


def _pct(x) -> str:
    return "-" if x is None else f"{x:.0%}"


def _num(x, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def render(res: dict) -> str:
    c = res["ceilings"]
    m = res["machine"]
    peak = c["float64_gflops"]
    L = []
    L.append(f"shockmodel benchmark ({res['mode']}{', big' if res.get('big') else ''}), {res['started_utc']}, "
             f"scenario {res['scenario']}, seed {res['seed']}")
    L.append(f"machine: {m['cpu_count']} cores, numba threads {res.get('numba_threads', m['numba_threads'])}, numpy {m['numpy']}, "
             f"numba {m['numba']}, load average {res['loadavg_start'][0]:.1f} at start, {res['loadavg_end'][0]:.1f} at end")
    L.append(f"ceilings (numpy matmul {c['matmul_n']}x{c['matmul_n']}, best of 3, the better of start and end): float64 {peak:.1f} GFLOP/s (all cores), "
             f"float32 {c['float32_gflops']:.1f} GFLOP/s, float64 on 1 BLAS thread {c['float64_1thread_gflops']:.1f} GFLOP/s")
    L.append("")
    L.append("shockmodel.run(..., markets=None), end to end, JIT warm. sample/prop/aggr: core-seconds in engine.sample_block, "
             "engine._propagate_raw, aggregate.to_dataset")
    L.append("as a share of wall x thr (blocks run on thr Python threads, so stage times add up over threads). "
             "GFLOP/s = propagation flops / (prop core-s / thr);")
    L.append("dense = 2 n^2 per draw (per sweep: constrained), actual = the products shockmodel performs (pass classes, "
             "triples); dense can exceed the ceiling (skipped work), actual is what the hardware did")
    L.append(f"draws/s: the best of --repeats runs (more until {MIN_TIMED_S:.0f} s of timed runs, at most {MAX_TIMED_RUNS}) after "
             f"{WARM_RUNS} untimed runs of the same size (steady state; their "
             "median in 'median', the process's first run of the size in 'first'); stage shares and GFLOP/s are the best run's")
    L.append(f"{'table':9} {'model':11} {'prec':4} {'draws':>7} {'wall s':>7} {'draws/s':>8} {'median':>8} {'first':>8} {'thr':>3} {'sample':>6} "
             f"{'prop':>5} {'aggr':>5} {'iters':>5} {'dense GF/s':>10} {'of peak':>7} {'actual GF/s':>11} {'of peak':>7}")
    for r in res["shockmodel"]:
        w, th = r["wall_s"], r["threads"]
        share = {k: None if v is None else v / (w * th) for k, v in r["stage_core_s"].items()}
        it = f"{r['iterations_mean']:.1f}" if r["iterations_mean"] else "-"
        dg, ag = r["dense_gflops"], r["actual_gflops"]
        L.append(f"{r['table']:9} {r['model']:11} {r.get('precision', 'float64')[-2:]:>4} {r['draws']:>7} {w:>7.2f} {r['draws_per_s']:>8.0f} "
                 f"{r.get('draws_per_s_median', r['draws_per_s']):>8.0f} {r.get('first_run_draws_per_s', r['draws_per_s']):>8.0f} {th:>3} "
                 f"{_pct(share['sampling']):>6} {_pct(share['propagation']):>5} {_pct(share['aggregation']):>5} {it:>5} "
                 f"{_num(dg, '.2f'):>10} {_pct(dg / peak if dg else None):>7} {_num(ag, '.2f'):>11} "
                 f"{_pct(ag / peak if ag else None):>7}")
    diffs = [(r["table"], r["model"], r["float32_max_rel_diff"]) for r in res["shockmodel"]
             if r.get("float32_max_rel_diff") is not None]
    if diffs:
        L.append("float32 rows (precision='float32'): world GDP loss of the first 4096 draws against float64, max relative "
                 "difference: " + ", ".join(f"{t} {m} {d:.1e}" for t, m, d in dict(((t, m), (t, m, d)) for t, m, d in diffs).values()))
    if res.get("numba_threads_restored"):
        L.append(f"note: {res['numba_threads_restored']} shockmodel.run call(s) lowered numba's thread count of the calling "
                 f"thread from {res['numba_threads']} (a one-block run executes its task in the caller and sets it to 1); "
                 "the benchmark restored it before every run")
    ws = res["warm_start"]["second"]
    L.append(f"warm start-up, fresh interpreter, numba cache warm (import + run 256 constrained draws): "
             f"{ws['process_wall_s']:.2f} s process wall, {ws['in_process_s']:.2f} s after interpreter start")
    L.append("")
    L.append("baselines (same draws, same run; speed-up = shockmodel draws/s at its largest run / baseline draws/s)")
    L.append(f"{'baseline':32} {'table':9} {'model':11} {'draws':>6} {'draws/s':>9} {'speed-up':>9} {'check':>9}")
    for b in res["baselines"]:
        L.append(f"{b['name']:32} {b['table']:9} {b['model']:11} {b['draws']:>6} {b['draws_per_s']:>9.1f} "
                 f"{b['speedup']:>8.1f}x {b['check_max_rel_diff']:>9.1e}")
    bo = res["boario"]
    if bo.get("measured"):
        L.append(f"BoARIO {bo['version']} (different model: dynamic ARIO, deterministic, one scenario): one {bo['steps']}-day "
                 f"simulation of TWN capacity -85% on default: {bo['seconds']:.2f} s ({bo['ms_per_step']:.2f} ms/step)")
    else:
        L.append(f"BoARIO: not measured: {bo['reason']}")
    L.append("")
    L.append("targets (float64; best of the runs, median in brackets)")
    ra = res["ratios"]
    for t in ra.get("throughput", []):
        L.append(f"  {t['table']} {t['model']} {t['draws']} draws: {t['best']:.0f} ({t['median']:.0f}) draws/s, "
                 f"{t['runs']} run(s); target >= {t['target']:,}: {'met' if t['met'] else 'NOT met'}"
                 f"{'' if t['met'] == t['met_by_median'] else (' (median: ' + ('met' if t['met_by_median'] else 'not met') + ')')}")
    for t in ra.get("propagation_share_of_peak", []):
        L.append(f"  default leontief {t['draws']} draws: propagation at {t['share']:.0%} of the float64 ceiling (actual "
                 f"flops); target >= {t['target']:.0%}: {'met' if t['met'] else 'NOT met'}")
    L.append("")
    L.append("ratios (table default, this run)")
    p = ra.get("leontief_over_pymrio")
    if p:
        L.append(f"  shockmodel leontief / pymrio per draw: {p['shockmodel_draws_per_s']:.0f} / {p['pymrio_draws_per_s']:.0f} "
                 f"draws/s = {p['ratio']:.0f}x (target >= {p['target']:.0f}x: {'met' if p['met'] else 'NOT met'})")
    else:
        L.append("  shockmodel leontief / pymrio per draw: not measured")
    e = ra.get("boario_scenario_equivalents")
    if e:
        for model in ("constrained", "leontief"):
            if model in e:
                q = e[model]
                L.append(f"  BoARIO scenario equivalents, {model}: {q['equivalents']:.0f} shockmodel draws in the time of one "
                         f"BoARIO simulation ({q['equivalents_loop_only']:.0f} against its loop alone; target >= "
                         f"{e['target']:.0f}: {'met' if q['met'] else 'NOT met'})")
        L.append("  (different models: BoARIO is a dynamic ARIO model, deterministic, one scenario per simulation; "
                 "a shockmodel draw is one static scenario)")
    else:
        L.append("  BoARIO scenario equivalents: not measured (BoARIO not run)")
    L.append("")
    mem = res["memory"]
    if mem.get("measured"):
        L.append("memory (child process per run, table default, markets=None; peak RSS = the child's VmHWM, wall "
                 "includes interpreter start and imports)")
        for r in mem["runs"]:
            if r.get("error"):
                L.append(f"  {r['model']:11} {r['draws']:.0e} draws: failed: {r['error'].strip().splitlines()[-1]}")
            else:
                L.append(f"  {r['model']:11} {r['draws']:.0e} draws: peak RSS {r['peak_rss_mb']:.0f} MB, "
                         f"{r['process_wall_s']:.0f} s wall, "
                         f"{r['draws_per_s']:.0f} draws/s, {r['draws_kept']} draws kept")
        for model in mem["models"]:
            if model in mem["peak_rss_ratio"]:
                L.append(f"  {model}: peak RSS ratio {mem['ratio_of']}: {mem['peak_rss_ratio'][model]:.2f} (flat = 1)")
            elif len(mem["sizes"]) == 1:
                L.append(f"  {model}: flatness ratio not measured (needs --big for the 1e7 run)")
    else:
        L.append(f"memory: not measured: {mem['reason']}")
    L.append(f"total benchmark time {res['total_s']:.0f} s")
    return "\n".join(L)


if __name__ == "__main__":
    sys.exit(main())
