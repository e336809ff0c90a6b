#!/usr/bin/env python
"""Throughput of shockmodel against the machine's ceilings and against baselines, all in one run.

    python benchmarks/bench_engine.py            # full run (about 10-15 min on 2 idle cores)
    python benchmarks/bench_engine.py --quick    # a few minutes; no 1e6-draw memory run

Prints a table and writes ``benchmarks/results/<UTC date-time>.json`` (gitignored). Every number that is
compared is measured in the same run, so ratios stay meaningful on a busy or slow machine; absolute
numbers do not travel between machines. See benchmarks/README.md for what each number means.

Not part of the test suite. Uses shockmodel internals (engine.make_plan, engine.sample_block) only to give
the baselines exactly the same random draws as shockmodel, which lets every baseline be checked against
shockmodel's own result (the ``check`` column).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SCENARIO = "combined_coordinated"
SEED = 0
DAYS_PER_MONTH = 30.4375

#: draws per (table, model) for the end-to-end runs
SIZES = {
    "full": {
        ("default", "leontief"): [10_000, 100_000],
        ("default", "ghosh"): [10_000, 100_000],
        ("default", "constrained"): [10_000, 100_000],
        ("wiod2011", "leontief"): [10_000, 100_000],
        ("wiod2011", "ghosh"): [10_000, 100_000],
        ("wiod2011", "constrained"): [2_000, 10_000],   # fewer: n = 1476 and ~30 fixed-point sweeps per draw
    },
    "quick": {
        ("default", "leontief"): [2_048, 10_240],
        ("default", "ghosh"): [2_048, 10_240],
        ("default", "constrained"): [1_024, 4_096],
        ("wiod2011", "leontief"): [1_024, 4_096],
        ("wiod2011", "ghosh"): [1_024, 4_096],
        ("wiod2011", "constrained"): [256, 1_024],
    },
}
#: draws per baseline: (numpy loop with L, numpy loop with solve, pymrio, dense constrained loop)
BASELINE_DRAWS = {
    "full": {"default": (4_096, 512, 200, 20), "wiod2011": (1_024, 16, 200, 4)},
    "quick": {"default": (1_024, 128, 200, 20), "wiod2011": (256, 8, 100, 2)},
}
MEMORY_DRAWS = 1_000_000
MEMORY_MODEL = "constrained"   # the default model of shockmodel.run


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


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# --- shockmodel end to end ---------------------------------------------------------------------------


class StageTimer:
    """Wraps engine.sample_block, engine.propagate_block and aggregate.to_dataset to time the stages of
    ``shockmodel.run`` without changing what it does (module globals are looked up at call time)."""

    TARGETS = (("shockmodel.engine", "sample_block", "sampling"),
               ("shockmodel.engine", "propagate_block", "propagation"),
               ("shockmodel.aggregate", "to_dataset", "aggregation"))

    def __init__(self):
        self.seconds = {name: 0.0 for _, _, name in self.TARGETS}

    @contextmanager
    def active(self):
        import importlib

        saved = []
        for module_name, attr, name in self.TARGETS:
            module = importlib.import_module(module_name)
            original = getattr(module, attr)
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
                self.seconds[name] += time.perf_counter() - t0

        return wrapper


def run_shockmodel(table: str, model: str, draws: int) -> dict:
    """One timed ``shockmodel.run`` (the caller has warmed up JIT and table caches)."""
    import shockmodel

    timer = StageTimer()
    with timer.active():
        t0 = time.perf_counter()
        ds = shockmodel.run(SCENARIO, table=table, draws=draws, model=model, markets=None)
        wall = time.perf_counter() - t0
    n = int(ds.sizes["region"] * ds.sizes["sector"])
    iters = float(ds["iterations"].mean()) if model == "constrained" else 1.0
    flops = 2.0 * n * n * draws * iters
    prop = timer.seconds["propagation"]
    return {
        "table": table, "model": model, "draws": draws, "n": n, "wall_s": wall, "draws_per_s": draws / wall,
        "stage_s": dict(timer.seconds), "iterations_mean": iters if model == "constrained" else None,
        "non_converged": int((~ds["converged"].values).sum()),
        "propagation_flops": flops, "propagation_gflops": flops / prop / 1e9 if prop > 0 else None,
        "world_gdp_loss_head": ds["world_gdp_loss"].values[:4096].copy(),
    }


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


def memory_run(draws: int, model: str) -> dict:
    """Peak RSS and wall time of ``draws`` draws in a child process."""
    code = ("import time; t0 = time.perf_counter(); import shockmodel; "
            f"ds = shockmodel.run({SCENARIO!r}, draws={draws}, model={model!r}, markets=None); "
            "print(time.perf_counter() - t0)")
    gnu_time = shutil.which("time") or ("/usr/bin/time" if os.path.exists("/usr/bin/time") else None)
    t0 = time.perf_counter()
    if gnu_time:
        res = subprocess.run([gnu_time, "-v", sys.executable, "-c", code], capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if res.returncode != 0:
            return {"error": res.stderr[-2000:]}
        m = re.search(r"Maximum resident set size \(kbytes\):\s*(\d+)", res.stderr)
        rss_kb = int(m.group(1)) if m else None
        how = "/usr/bin/time -v"
    else:
        import resource

        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if res.returncode != 0:
            return {"error": res.stderr[-2000:]}
        rss_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        how = "getrusage(RUSAGE_CHILDREN)"
    return {"draws": draws, "model": model, "table": "default", "peak_rss_mb": rss_kb / 1024 if rss_kb else None,
            "process_wall_s": wall, "run_s": float(res.stdout.strip().splitlines()[-1]), "measured_with": how}


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
        (R, S) [buyer, product], remaining capacity (R, S) and the horizon fraction (DESIGN.md section 4)."""
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
    """Plain numpy, one draw at a time, dense n x n: the constrained fixed point of DESIGN.md section 4
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
    probe = subprocess.run([sys.executable, "-c", "import boario, progressbar"], env=env, capture_output=True)
    install_s = 0.0
    if probe.returncode != 0:
        t0 = time.perf_counter()
        try:
            res = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                                  "--target", str(target), "--no-deps", "boario", "progressbar2", "python-utils"],
                                 capture_output=True, text=True, timeout=180)
        except subprocess.TimeoutExpired:
            return {"measured": False, "reason": "pip install boario did not finish within 180 s"}
        install_s = time.perf_counter() - t0
        if res.returncode != 0:
            return {"measured": False, "reason": "pip install boario failed: " + (res.stderr.strip().splitlines() or ["?"])[-1]}
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "boario_run.py"
        script.write_text(BOARIO_SCRIPT)
        res = subprocess.run([sys.executable, str(script), str(steps)], env=env, capture_output=True, text=True,
                             cwd=tmp, timeout=1800)
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller draw counts, no memory run (a few minutes)")
    ap.add_argument("--no-boario", action="store_true", help="skip the BoARIO baseline")
    ap.add_argument("--no-memory", action="store_true", help="skip the 1e6-draw memory run")
    ap.add_argument("--out", type=Path, default=HERE / "results", help="folder for the JSON result")
    args = ap.parse_args(argv)
    mode = "quick" if args.quick else "full"
    started = datetime.now(timezone.utc)
    res: dict = {"mode": mode, "scenario": SCENARIO, "seed": SEED, "started_utc": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "machine": machine_info(), "loadavg_start": list(os.getloadavg())}
    t_all = time.perf_counter()

    log("ceilings ...")
    res["ceilings"] = {
        "matmul_n": 2000,
        "float64_gflops": matmul_gflops(np.float64),
        "float32_gflops": matmul_gflops(np.float32),
        "float64_1thread_gflops": matmul_gflops(np.float64, threads=1),
    }

    import shockmodel

    res["shockmodel"] = []
    heads = {}
    for (table, model), sizes in SIZES[mode].items():
        log(f"shockmodel {table} {model}: warm-up ...")
        shockmodel.run(SCENARIO, table=table, draws=256, model=model, markets=None)
        for draws in sizes:
            log(f"shockmodel {table} {model}: {draws} draws ...")
            r = run_shockmodel(table, model, draws)
            heads.setdefault((table, model), r.pop("world_gdp_loss_head"))
            r.pop("world_gdp_loss_head", None)
            res["shockmodel"].append(r)
    log("warm start-up ...")
    res["warm_start"] = warm_start_seconds()

    def best(table, model):
        rows = [r for r in res["shockmodel"] if r["table"] == table and r["model"] == model]
        return max(rows, key=lambda r: r["draws"])["draws_per_s"]

    res["baselines"] = []
    for table, (n_loop, n_solve, n_pymrio, n_dense) in BASELINE_DRAWS[mode].items():
        d = Draws(table)
        specs = [
            ("numpy loop, dx = L @ dy", "leontief", lambda: baseline_numpy_leontief(d, n_loop, solve=False)),
            ("numpy loop, np.linalg.solve", "leontief", lambda: baseline_numpy_leontief(d, n_solve, solve=True)),
            ("pymrio calc_x_from_L per draw", "leontief", lambda: baseline_pymrio(d, n_pymrio)),
            ("numpy loop, dense fixed point", "constrained", lambda: baseline_dense_constrained(d, n_dense)),
        ]
        for name, model, fn in specs:
            log(f"baseline {name} on {table} ...")
            b = fn()
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
        if res["boario"].get("measured"):
            res["boario"]["shockmodel_constrained_draws_per_boario_run"] = best("default", "constrained") * res["boario"]["seconds"]

    if args.quick or args.no_memory:
        res["memory"] = {"measured": False, "reason": "skipped (--quick)" if args.quick else "skipped (--no-memory)"}
    else:
        log(f"memory: {MEMORY_DRAWS} draws ({MEMORY_MODEL}) in a child process ...")
        res["memory"] = memory_run(MEMORY_DRAWS, MEMORY_MODEL)

    res["loadavg_end"] = list(os.getloadavg())
    res["total_s"] = time.perf_counter() - t_all
    text = render(res)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / (started.strftime("%Y%m%dT%H%M%SZ") + ("-quick" if args.quick else "") + ".json")
    res["table_text"] = text
    path.write_text(json.dumps(res, indent=1, default=float) + "\n")
    log(f"wrote {path}")
    return 0


def render(res: dict) -> str:
    c = res["ceilings"]
    m = res["machine"]
    L = []
    L.append(f"shockmodel benchmark ({res['mode']}), {res['started_utc']}, scenario {res['scenario']}, seed {res['seed']}")
    L.append(f"machine: {m['cpu_count']} cores, numba threads {m['numba_threads']}, numpy {m['numpy']}, numba {m['numba']}, "
             f"load average {res['loadavg_start'][0]:.1f} at start, {res['loadavg_end'][0]:.1f} at end")
    L.append(f"ceilings (numpy matmul {c['matmul_n']}x{c['matmul_n']}, best of 3): float64 {c['float64_gflops']:.1f} GFLOP/s, "
             f"float32 {c['float32_gflops']:.1f} GFLOP/s, float64 on 1 BLAS thread {c['float64_1thread_gflops']:.1f} GFLOP/s")
    L.append("")
    L.append("shockmodel.run(..., markets=None), end to end, JIT warm; stage shares of wall time")
    L.append(f"{'table':9} {'model':11} {'draws':>7} {'wall s':>8} {'draws/s':>9} {'sample':>6} {'prop':>5} {'aggr':>5} "
             f"{'iters':>5} {'prop GFLOP/s':>12} {'of f64 peak':>11}")
    for r in res["shockmodel"]:
        w = r["wall_s"]
        st = r["stage_s"]
        gf = r["propagation_gflops"]
        it = f"{r['iterations_mean']:.1f}" if r["iterations_mean"] else "-"
        L.append(f"{r['table']:9} {r['model']:11} {r['draws']:>7} {w:>8.1f} {r['draws_per_s']:>9.0f} "
                 f"{st['sampling'] / w:>6.0%} {st['propagation'] / w:>5.0%} {st['aggregation'] / w:>5.0%} {it:>5} "
                 f"{gf:>12.2f} {gf / c['float64_gflops']:>11.1%}")
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
        L.append(f"BoARIO {bo['version']} (different model: dynamic ARIO, deterministic): one {bo['steps']}-day simulation of "
                 f"TWN capacity -85% on default: {bo['seconds']:.2f} s ({bo['ms_per_step']:.2f} ms/step); "
                 f"in that time shockmodel computes {bo['shockmodel_constrained_draws_per_boario_run']:.0f} constrained draws")
    else:
        L.append(f"BoARIO: not measured: {bo['reason']}")
    mem = res["memory"]
    if mem.get("peak_rss_mb") is not None:
        L.append(f"memory: {mem['draws']:.0e} draws ({mem['model']}, {mem['table']}) in a child process: peak RSS "
                 f"{mem['peak_rss_mb']:.0f} MB, {mem['process_wall_s']:.0f} s wall ({mem['draws'] / mem['run_s']:.0f} draws/s)")
    elif mem.get("error"):
        L.append(f"memory: failed: {mem['error'].strip().splitlines()[-1]}")
    else:
        L.append(f"memory: not measured: {mem['reason']}")
    L.append(f"total benchmark time {res['total_s']:.0f} s")
    return "\n".join(L)


if __name__ == "__main__":
    sys.exit(main())
