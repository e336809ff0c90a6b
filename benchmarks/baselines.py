"""Baselines: the same work done without shockmodel, on the same random draws, in the same run.

    python benchmarks/baselines.py               # numpy loops, pymrio, dense fixed point, BoARIO
    python benchmarks/baselines.py --quick       # tiny draw counts, no BoARIO (checks that it runs)
    python benchmarks/baselines.py --no-boario

Each baseline is fed shockmodel's own random draws (``engine.sample_block``, vectorised per block of 256,
included in its time) and propagates them one draw at a time; ``check`` is the largest relative difference
of its world GDP loss from shockmodel's on the same draws (about 1e-15: the same numbers; the dense fixed
point stops at its own tolerance, so about 1e-8 there). shockmodel's rate is measured in the same run
(``end_to_end.timed``) and ``speed-up`` is its draws/s over the baseline's. Baselines compute only the GDP
loss per draw, shockmodel also the trade loss, exports and histograms, so the comparison flatters the
baselines. BoARIO (a dynamic ARIO model, a different model) is timed for one 365-day simulation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import common
import end_to_end

#: draws per baseline: (numpy loop with L, numpy loop with solve, pymrio, dense constrained loop)
BASELINE_DRAWS = {
    "full": {"default": (4_096, 1_024, 1_000, 200), "wiod2011": (1_024, 16, 200, 8)},
    "quick": {"default": (256, 32, 20, 10), "wiod2011": (64, 4, 10, 1)},
}
#: shockmodel runs the baselines are compared with (at least as many draws as any baseline, for the check)
SHOCKMODEL_DRAWS = {
    "full": {("default", "leontief"): 100_000, ("default", "constrained"): 100_000,
             ("wiod2011", "leontief"): 100_000, ("wiod2011", "constrained"): 2_000},
    "quick": {("default", "leontief"): 2_048, ("default", "constrained"): 512,
              ("wiod2011", "leontief"): 512, ("wiod2011", "constrained"): 256},
}
TARGET_PYMRIO_RATIO = 100.0
TARGET_BOARIO_EQUIVALENTS = 1000.0


class Draws:
    """Shockmodel's own random draws of the scenario, plus a plain-numpy per-draw shock builder."""

    def __init__(self, table: str):
        from shockmodel import engine
        from shockmodel import scenario as sc
        from shockmodel.criticality import critical_weights
        from shockmodel.io.tables import load_table

        self.mrio = mrio = load_table(table)
        self.compiled = compiled = sc.compile_scenario(sc.load_scenario(common.SCENARIO), mrio)
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
            smp = eng.sample_block(self.plan, common.SEED, blk, eng.BLOCK)
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
        from shockmodel import engine

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
        return float(np.clip(min(dur.max(), self.H) - b / engine.DAYS_PER_MONTH, 0.0, self.H) / self.H)

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


def shockmodel_rows(quick: bool) -> list[dict]:
    """shockmodel's own runs for the comparison (same process, same run): ``end_to_end.timed``."""
    import shockmodel

    rows = []
    for (table, model), draws in SHOCKMODEL_DRAWS["quick" if quick else "full"].items():
        common.log(f"shockmodel {table} {model}: {draws} draws ...")
        shockmodel.run(common.SCENARIO, table=table, draws=256, model=model, markets=None)
        rows.append(end_to_end.timed(table, model, draws, end_to_end.propagation_flops(table, model), "float64", quick))
    return rows


def measure(quick: bool, rows: list[dict] | None = None, boario: bool = True) -> dict:
    """Every baseline on both tables, against shockmodel's ``rows`` (float64; the largest run of each
    table and model is the reference; measured here when None)."""
    rows = [r for r in (rows if rows is not None else shockmodel_rows(quick)) if r["precision"] == "float64"]
    ref = {}
    for r in rows:   # the largest run of each (table, model); its world GDP loss of the first draws
        key = (r["table"], r["model"])
        if key not in ref or r["draws"] > ref[key]["draws"]:
            ref[key] = r
    heads = {k: np.asarray(r["world_gdp_loss_head"]) for k, r in ref.items()}
    out = []
    for table, (n_loop, n_solve, n_pymrio, n_dense) in BASELINE_DRAWS["quick" if quick else "full"].items():
        d = Draws(table)
        specs = [
            ("numpy loop, dx = L @ dy", "leontief", baseline_numpy_leontief, (d, n_loop, False)),
            ("numpy loop, np.linalg.solve", "leontief", baseline_numpy_leontief, (d, n_solve, True)),
            ("pymrio calc_x_from_L per draw", "leontief", baseline_pymrio, (d, n_pymrio)),
            ("numpy loop, dense fixed point", "constrained", baseline_dense_constrained, (d, n_dense)),
        ]
        for name, model, fn, fn_args in specs:
            if (table, model) not in ref:
                continue
            common.log(f"baseline {name} on {table} ...")
            b = fn(*fn_args)
            wgl = b.pop("world_gdp_loss")
            b.update(name=name, table=table, model=model, draws_per_s=b["draws"] / b["seconds"],
                     check_max_rel_diff=check(heads[(table, model)], wgl),
                     shockmodel_draws=ref[(table, model)]["draws"],
                     shockmodel_draws_per_s=ref[(table, model)]["draws_per_s"])
            b["speedup"] = b["shockmodel_draws_per_s"] / b["draws_per_s"]
            out.append(b)
    if not boario:
        bo = {"measured": False, "reason": "skipped"}
    else:
        common.log("BoARIO ...")
        try:
            bo = baseline_boario()
        except Exception as exc:  # noqa: BLE001 - a third-party failure must not lose the other numbers
            bo = {"measured": False, "reason": f"{type(exc).__name__}: {exc}"}
    return {"baselines": out, "boario": bo, "ratios": ratios(ref, out, bo),
            "shockmodel": [{k: v for k, v in r.items() if k != "world_gdp_loss_head"} for r in ref.values()]}


def ratios(ref: dict, baselines: list[dict], bo: dict) -> dict:
    """shockmodel leontief over pymrio per draw, and BoARIO scenario equivalents, on table default."""
    out = {}
    lt = ref.get(("default", "leontief"))
    py = next((b for b in baselines if b["table"] == "default" and b["name"].startswith("pymrio")), None)
    if lt and py:
        r = lt["draws_per_s"] / py["draws_per_s"]
        out["leontief_over_pymrio"] = {"shockmodel_draws": lt["draws"], "shockmodel_draws_per_s": lt["draws_per_s"],
                                       "pymrio_draws": py["draws"], "pymrio_draws_per_s": py["draws_per_s"],
                                       "ratio": r, "target": TARGET_PYMRIO_RATIO, "met": r >= TARGET_PYMRIO_RATIO}
    if bo.get("measured"):
        eq = {"boario_seconds": bo["seconds"], "boario_loop_seconds": bo["loop_s"], "target": TARGET_BOARIO_EQUIVALENTS,
              "note": "different models: BoARIO is a dynamic ARIO model, deterministic, one scenario; a shockmodel "
                      "draw is one static scenario of a Monte Carlo run"}
        for model in ("constrained", "leontief"):
            b = ref.get(("default", model))
            if b:
                eq[model] = {"draws_per_s": b["draws_per_s"], "draws": b["draws"],
                             "equivalents": b["draws_per_s"] * bo["seconds"],
                             "equivalents_loop_only": b["draws_per_s"] * bo["loop_s"],
                             "met": b["draws_per_s"] * bo["seconds"] >= TARGET_BOARIO_EQUIVALENTS}
        out["boario_scenario_equivalents"] = eq
    return out


def render(res: dict) -> str:
    L = ["baselines (same draws, same run; speed-up = shockmodel draws/s at its reference run / baseline draws/s)",
         f"{'baseline':32} {'table':9} {'model':11} {'draws':>6} {'draws/s':>9} {'speed-up':>9} {'check':>9}"]
    for b in res["baselines"]:
        L.append(f"{b['name']:32} {b['table']:9} {b['model']:11} {b['draws']:>6} {b['draws_per_s']:>9.1f} "
                 f"{b['speedup']:>8.1f}x {b['check_max_rel_diff']:>9.1e}")
    bo = res["boario"]
    if bo.get("measured"):
        L.append(f"BoARIO {bo['version']} (different model: dynamic ARIO, deterministic, one scenario): one {bo['steps']}-day "
                 f"simulation of TWN capacity -85% on default: {bo['seconds']:.2f} s ({bo['ms_per_step']:.2f} ms/step)")
    else:
        L.append(f"BoARIO: not measured: {bo['reason']}")
    ra = res["ratios"]
    p = ra.get("leontief_over_pymrio")
    if p:
        L.append(f"shockmodel leontief / pymrio per draw: {p['shockmodel_draws_per_s']:.0f} / {p['pymrio_draws_per_s']:.0f} "
                 f"draws/s = {p['ratio']:.0f}x (target >= {p['target']:.0f}x: {'met' if p['met'] else 'NOT met'})")
    e = ra.get("boario_scenario_equivalents")
    if e:
        for model in ("constrained", "leontief"):
            if model in e:
                q = e[model]
                L.append(f"BoARIO scenario equivalents, {model}: {q['equivalents']:.0f} shockmodel draws in the time of one "
                         f"BoARIO simulation ({q['equivalents_loop_only']:.0f} against its loop alone; target >= "
                         f"{e['target']:.0f}: {'met' if q['met'] else 'NOT met'}) (different models)")
    return "\n".join(L)


def main(argv=None) -> int:
    ap = common.parser(__doc__.split("\n")[0])
    ap.add_argument("--no-boario", action="store_true", help="skip the BoARIO baseline (always skipped with --quick)")
    args = ap.parse_args(argv)
    res = common.start("baselines", args.quick)
    res.update(measure(args.quick, boario=not (args.no_boario or args.quick)))
    common.finish(res, common.header(res) + "\n" + render(res), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
