"""shockmodel end to end: draws per second of ``shockmodel.run``, where the time goes, and the flop rate.

    python benchmarks/end_to_end.py            # 1e4-1e6 draws per model and table (several minutes)
    python benchmarks/end_to_end.py --quick    # tiny sizes, one timed run each (checks that it runs)

Every run is ``shockmodel.run("combined_coordinated", table=..., draws=N, model=M, markets=None)``: sampling,
propagation, aggregation to an ``xarray.Dataset``, JIT warm (a 256-draw run of the same table and model
first). Each size is timed after untimed runs of the same size, until the timed runs add up to 1 s
(``common.autorange``); the table shows the best run, the median and the process's first run. Stage
shares come from the engine's timing hook, ``engine.timings()``: core-seconds of the block phases
(sampling, propagation, reduction) summed over the engine's threads, as a share of ``wall x threads``;
``other`` is the part of the wall time outside ``engine.simulate`` (set-up, ``to_dataset``). The
machine's ceilings are measured at the start and the end (the better is used for "of peak").
"""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np

import ceilings
import common

#: draws per (table, model), float64
SIZES = {
    "full": {
        ("default", "leontief"): [10_000, 100_000, 1_000_000],
        ("default", "ghosh"): [10_000, 100_000, 1_000_000],
        ("default", "constrained"): [10_000, 100_000],
        ("wiod2011", "leontief"): [10_000, 100_000],
        ("wiod2011", "ghosh"): [10_000, 100_000],
        ("wiod2011", "constrained"): [2_000, 10_000],   # n = 1476: ~15 sweeps of a 1476 x 1476 network per draw
    },
    "quick": {
        ("default", "leontief"): [2_048],
        ("default", "ghosh"): [1_024],
        ("default", "constrained"): [512],
        ("wiod2011", "leontief"): [512],
        ("wiod2011", "ghosh"): [256],
        ("wiod2011", "constrained"): [256],
    },
}
#: the same in float32 (``precision="float32"``: matrix products in single precision)
SIZES_FLOAT32 = {
    "full": {
        ("default", "leontief"): [100_000, 1_000_000],
        ("default", "constrained"): [100_000],
        ("wiod2011", "leontief"): [100_000],
        ("wiod2011", "constrained"): [10_000],
    },
    "quick": {
        ("default", "leontief"): [2_048],
        ("default", "constrained"): [512],
    },
}
#: draws/s targets (2 cores, end to end, float64) and the leontief propagation's share of the ceiling
TARGET_DRAWS_PER_S = {("default", "leontief"): 500_000, ("default", "constrained"): 20_000,
                      ("wiod2011", "constrained"): 400}
TARGET_PEAK_SHARE = 0.5


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
    compiled = sc.compile_scenario(sc.load_scenario(common.SCENARIO), mrio)
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


def run_once(table: str, model: str, draws: int, flops: dict, precision: str = "float64") -> dict:
    """One timed ``shockmodel.run`` with the engine's timing hook on (JIT and caches already warm)."""
    import shockmodel
    from shockmodel import engine

    threads_before = common.numba_threads()
    with engine.timings() as phases:
        t0 = time.perf_counter()
        ds = shockmodel.run(common.SCENARIO, table=table, draws=draws, model=model, markets=None,
                            precision=precision)
        wall = time.perf_counter() - t0
    # engine.run_chunk spreads a chunk's blocks over min(blocks, numba threads) Python threads
    used_threads = max(1, min(threads_before, -(-draws // engine.BLOCK)))
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
    prop = phases.get("propagation")
    # rate of the machine while propagating: the propagation's core-seconds spread over the threads
    prop_wall = prop / used_threads if prop else None
    return {
        "table": table, "model": model, "precision": precision, "draws": draws, "draws_kept": kept,
        "wall_s": wall, "draws_per_s": draws / wall, "threads": used_threads,
        "numba_threads_changed": common.numba_threads() != threads_before,
        "phases": dict(phases), "other_s": wall - phases.get("simulate", 0.0),
        "iterations_mean": iters, "non_converged": int((~ds["converged"].values).sum()),
        "flops_per_draw": dict(flops),
        "dense_flops": dense, "actual_flops": actual, "actual_flops_executed": executed,
        "dense_gflops": dense / prop_wall / 1e9 if prop_wall else None,
        "actual_gflops": actual / prop_wall / 1e9 if prop_wall else None,
        "actual_gflops_per_core": actual / prop / 1e9 if prop else None,
        "executed_gflops": executed / prop_wall / 1e9 if prop_wall and executed else None,
        "world_gdp_loss_head": ds["world_gdp_loss"].values.reshape(-1)[:4096].copy(),
    }


def timed(table: str, model: str, draws: int, flops: dict, precision: str, quick: bool) -> dict:
    """The best of :func:`run_once` after warm-up (``common.autorange``), with its median and first rate."""
    run = lambda: run_once(table, model, draws, flops, precision)  # noqa: E731
    first, rows = common.autorange(run, repeats=1 if quick else common.REPEATS, warm=1 if quick else common.WARM_RUNS,
                                   min_s=0.0 if quick else common.MIN_TIMED_S)
    best = common.best_of(first, rows, draws)
    best["draws_per_s_median"] = best.pop("rate_median")
    best["first_run_draws_per_s"] = best.pop("rate_first")
    best["numba_threads_changed"] = any(r["numba_threads_changed"] for r in rows) or first["numba_threads_changed"]
    return best


def warm_start_seconds() -> dict:
    """A fresh interpreter importing shockmodel and running 256 constrained draws (numba cache warm); the
    second of two attempts (the first may still fill the on-disk numba cache)."""
    code = ("import time; t0 = time.perf_counter(); import shockmodel; "
            f"shockmodel.run({common.SCENARIO!r}, draws=256, markets=None); print(time.perf_counter() - t0)")
    out = {}
    for attempt in ("first", "second"):
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        out[attempt] = {"process_wall_s": time.perf_counter() - t0,
                        "in_process_s": float(res.stdout.strip().splitlines()[-1])}
    return out


def measure(quick: bool) -> dict:
    """Every configuration of SIZES and SIZES_FLOAT32; float32 rows carry their largest relative
    difference from float64 on the same draws (tests/test_precision.py states 1e-5)."""
    import shockmodel

    mode = "quick" if quick else "full"
    rows, heads = [], {}
    runs = [(key, sizes, "float64") for key, sizes in SIZES[mode].items()]
    runs += [(key, sizes, "float32") for key, sizes in SIZES_FLOAT32[mode].items()]
    for (table, model), sizes, precision in runs:
        common.log(f"shockmodel {table} {model} {precision}: warm-up ...")
        shockmodel.run(common.SCENARIO, table=table, draws=256, model=model, markets=None, precision=precision)
        flops = propagation_flops(table, model)
        for draws in sizes:
            common.log(f"shockmodel {table} {model} {precision}: {draws} draws ...")
            r = timed(table, model, draws, flops, precision, quick)
            head = r["world_gdp_loss_head"]   # kept in the row for baselines.measure
            if precision == "float64":
                heads.setdefault((table, model), head)
            else:
                ref = heads.get((table, model))
                k = min(len(ref), len(head)) if ref is not None else 0
                r["float32_max_rel_diff"] = float(np.max(np.abs(head[:k] / ref[:k] - 1))) if k else None
            rows.append(r)
    return {"runs": rows}


def targets(rows: list[dict], peak: float) -> dict:
    """Throughput targets and the leontief propagation's share of the float64 ceiling, float64 rows."""
    out = {"throughput": [], "propagation_share_of_peak": []}
    for r in rows:
        if r["precision"] != "float64":
            continue
        target = TARGET_DRAWS_PER_S.get((r["table"], r["model"]))
        if target:
            out["throughput"].append({
                "table": r["table"], "model": r["model"], "draws": r["draws"], "target": target,
                "best": r["draws_per_s"], "median": r["draws_per_s_median"], "runs": len(r["walls_s"]),
                "met": r["draws_per_s"] >= target, "met_by_median": r["draws_per_s_median"] >= target})
        if (r["table"], r["model"]) == ("default", "leontief") and r["actual_gflops"]:
            share = r["actual_gflops"] / peak
            out["propagation_share_of_peak"].append({"draws": r["draws"], "share": share, "target": TARGET_PEAK_SHARE,
                                                     "met": share >= TARGET_PEAK_SHARE})
    return out


def render(rows: list[dict], peak: float, warm: dict | None, tg: dict) -> str:
    L = ["shockmodel.run(..., markets=None), end to end, JIT warm; draws/s of the best run (median, the process's "
         "first run of the size);",
         "sample/prop/reduce: core-seconds in those block phases (engine.timings()) as a share of wall x thr; other: "
         "wall outside engine.simulate (set-up, to_dataset);",
         "dense GF/s = 2 n^2 per draw (per sweep: constrained) / (prop core-s / thr); actual = the products shockmodel "
         "performs (pass classes, triples)",
         f"{'table':9} {'model':11} {'prec':4} {'draws':>7} {'wall s':>7} {'draws/s':>8} {'median':>8} {'first':>8} "
         f"{'thr':>3} {'sample':>6} {'prop':>5} {'reduce':>6} {'other':>5} {'iters':>5} {'dense GF/s':>10} {'of peak':>7} "
         f"{'actual GF/s':>11} {'of peak':>7}"]
    for r in rows:
        w, th, ph = r["wall_s"], r["threads"], r["phases"]
        share = {k: ph[k] / (w * th) if k in ph else None for k in ("sampling", "propagation", "reduction")}
        it = f"{r['iterations_mean']:.1f}" if r["iterations_mean"] else "-"
        dg, ag = r["dense_gflops"], r["actual_gflops"]
        L.append(f"{r['table']:9} {r['model']:11} {r['precision'][-2:]:>4} {r['draws']:>7} {w:>7.2f} "
                 f"{r['draws_per_s']:>8.0f} {r['draws_per_s_median']:>8.0f} {r['first_run_draws_per_s']:>8.0f} {th:>3} "
                 f"{common.pct(share['sampling']):>6} {common.pct(share['propagation']):>5} "
                 f"{common.pct(share['reduction']):>6} {common.pct(r['other_s'] / w):>5} {it:>5} "
                 f"{common.num(dg, '.2f'):>10} {common.pct(dg / peak if dg else None):>7} {common.num(ag, '.2f'):>11} "
                 f"{common.pct(ag / peak if ag else None):>7}")
    diffs = {(r["table"], r["model"]): r["float32_max_rel_diff"] for r in rows if r.get("float32_max_rel_diff") is not None}
    if diffs:
        L.append("float32 rows: world GDP loss of the first 4096 draws against float64, max relative difference: "
                 + ", ".join(f"{t} {m} {d:.1e}" for (t, m), d in diffs.items()))
    changed = [f"{r['table']} {r['model']} {r['draws']}" for r in rows if r["numba_threads_changed"]]
    if changed:
        L.append("WARNING: shockmodel.run changed numba's thread count of the calling thread in: " + ", ".join(changed)
                 + " (an engine bug; tests/test_engine.py::test_small_runs_leave_the_thread_count_alone)")
    if warm:
        ws = warm["second"]
        L.append(f"warm start-up, fresh interpreter, numba cache warm (import + run 256 constrained draws): "
                 f"{ws['process_wall_s']:.2f} s process wall, {ws['in_process_s']:.2f} s after interpreter start")
    L.append("targets (float64; best of the runs, median in brackets)")
    for t in tg["throughput"]:
        L.append(f"  {t['table']} {t['model']} {t['draws']} draws: {t['best']:.0f} ({t['median']:.0f}) draws/s, "
                 f"{t['runs']} run(s); target >= {t['target']:,}: {'met' if t['met'] else 'NOT met'}"
                 f"{'' if t['met'] == t['met_by_median'] else (' (median: ' + ('met' if t['met_by_median'] else 'not met') + ')')}")
    for t in tg["propagation_share_of_peak"]:
        L.append(f"  default leontief {t['draws']} draws: propagation at {t['share']:.0%} of the float64 ceiling (actual "
                 f"flops); target >= {t['target']:.0%}: {'met' if t['met'] else 'NOT met'}")
    return "\n".join(L)


def main(argv=None) -> int:
    args = common.parser(__doc__.split("\n")[0]).parse_args(argv)
    res = common.start("end_to_end", args.quick)
    common.log("ceilings ...")
    start_c = ceilings.measure(args.quick)
    measured = measure(args.quick)
    res["runs"] = [{k: v for k, v in r.items() if k != "world_gdp_loss_head"} for r in measured["runs"]]
    res["warm_start"] = None if args.quick else warm_start_seconds()
    common.log("ceilings again ...")
    res["ceilings"] = {"start": start_c, "end": ceilings.measure(args.quick)}
    res["ceilings"].update(ceilings.better(start_c, res["ceilings"]["end"]))
    peak = res["ceilings"]["float64_gflops"]
    res["targets"] = targets(res["runs"], peak)
    text = "\n".join([common.header(res), ceilings.render(res["ceilings"]), "",
                      render(res["runs"], peak, res["warm_start"], res["targets"])])
    common.finish(res, text, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
