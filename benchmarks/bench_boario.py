"""External comparison: one BoARIO 365-day run against the dynamic model's one-year daily paths per second,
on the same table, in the same run.

    PYTHONPATH=. python benchmarks/bench_boario.py [--table default] [--draws 256]
        [--boario-python /tmp/boario-venv/bin/python]

BoARIO (Juhel, GPL-3.0; PyPI ``boario``) is used only as an external program: it runs in its own
interpreter (``--boario-python``, or ``$SHOCKMODEL_BOARIO_PYTHON``, or this one if it can import
``boario``), reading the table from a temporary ``.npz``; nothing of it is imported into this process or
copied into the project. Without an interpreter that has it, the benchmark prints a one-line message and
exits 0 (skipped).

The models differ: BoARIO is ARIO (Hallegatte 2008; Guan et al. 2020) with its own order rule, inventory
and rebuilding dynamics, one deterministic run per call; ours is the dynamic production network of
docs/model-dynamic.md stepped for a Monte Carlo sub-batch of draws at once. The shocks differ too (BoARIO
has no trade blocks): ours is the library scenario (default ``taiwan_blockade``), BoARIO's is its closest
analogue, an arbitrary loss of half the production capacity of every industry of the first region of the
table (TWN on ``default``) for the whole year. So the ratio compares cost per simulated year on the same
table, not answers. Target (issue 17): our paths/s >= 500 x BoARIO runs/s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _worker(npz: str, days: int, reps: int) -> None:
    """Run in BoARIO's interpreter: build the IOSystem from the npz, time ``reps`` runs of ``days`` days."""
    import warnings

    import numpy as np
    import pandas as pd
    import pymrio
    from boario.event import from_series
    from boario.extended_models import ARIOPsiModel
    from boario.simulation import Simulation

    warnings.filterwarnings("ignore")
    d = np.load(npz, allow_pickle=False)
    regions, sectors = [str(r) for r in d["regions"]], [str(s) for s in d["sectors"]]
    idx = pd.MultiIndex.from_product([regions, sectors], names=["region", "sector"])
    cols = pd.MultiIndex.from_product([regions, ["final_demand"]], names=["region", "category"])
    io = pymrio.IOSystem(Z=pd.DataFrame(d["Z"], index=idx, columns=idx),
                         Y=pd.DataFrame(np.maximum(d["Y"], 0.0), index=idx, columns=cols))
    io.calc_all()
    io.meta.change_meta("name", "shockmodel table")
    times, setup = [], []
    for _ in range(reps):
        t0 = time.perf_counter()
        model = ARIOPsiModel(io)
        sim = Simulation(model, n_temporal_units_to_sim=days)
        impact = pd.Series(0.5, index=pd.MultiIndex.from_product([[regions[0]], sectors]))
        sim.add_event(from_series(impact, event_type="arbitrary", occurrence=1, duration=days - 1, recovery_tau=1))
        t1 = time.perf_counter()
        sim.loop()
        t2 = time.perf_counter()
        setup.append(t1 - t0)
        times.append(t2 - t1)
        prod = np.asarray(sim.production_realised)
    print(json.dumps({"loop_s": min(times), "setup_s": min(setup), "days": days,
                      "prod_change_pct": float(100.0 * (prod[-1].sum() / prod[0].sum() - 1.0))}))


def _boario_python(arg: str | None) -> str | None:
    """The interpreter to run BoARIO in: the one asked for (only it), else $SHOCKMODEL_BOARIO_PYTHON, the
    private venv /tmp/boario-venv, or this one; None if none of them imports boario and pymrio."""
    cands = [arg] if arg else [os.environ.get("SHOCKMODEL_BOARIO_PYTHON"), "/tmp/boario-venv/bin/python", sys.executable]
    for c in cands:
        if c and Path(c).exists():
            ok = subprocess.run([c, "-c", "import boario, pymrio"], capture_output=True).returncode == 0
            if ok:
                return c
    return None


def _our_paths_per_second(table: str, scenario: str, draws: int) -> tuple[float, float]:
    from shockmodel import engine, pipeline
    from shockmodel.criticality import critical_weights
    from shockmodel.io.tables import load_table
    from shockmodel.models import dynamic

    m = load_table(table)
    W = critical_weights(m)
    comp = pipeline.compile_for(scenario, m)[1]
    engine.simulate(comp, m, draws=dynamic.SUB_BATCH, seed=0, model="dynamic", critical=W)   # compile, warm
    t0 = time.perf_counter()
    raw = engine.simulate(comp, m, draws=draws, seed=1, model="dynamic", critical=W)
    dt = time.perf_counter() - t0
    return draws / dt, float(raw.iterations.mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--table", default="default")
    ap.add_argument("--scenario", default="taiwan_blockade")
    ap.add_argument("--draws", type=int, default=256)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--reps", type=int, default=2, help="BoARIO runs (the fastest counts)")
    ap.add_argument("--boario-python", default=None)
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        _worker(args.worker, args.days, args.reps)
        return
    py = _boario_python(args.boario_python)
    if py is None:
        print("bench_boario: skipped: no Python interpreter with boario and pymrio found (pip install boario "
              "pymrio into a separate venv and pass --boario-python or set SHOCKMODEL_BOARIO_PYTHON)")
        return
    import numpy as np

    from shockmodel.io.tables import load_table

    m = load_table(args.table)
    with tempfile.TemporaryDirectory() as tmp:
        npz = str(Path(tmp) / "table.npz")
        np.savez(npz, Z=np.asarray(m.Z), Y=np.asarray(m.Y), x=np.asarray(m.x),
                 regions=np.array(m.regions), sectors=np.array(m.sectors))
        ours, steps = _our_paths_per_second(args.table, args.scenario, args.draws)
        proc = subprocess.run([py, __file__, "--worker", npz, "--days", str(args.days), "--reps", str(args.reps)],
                              capture_output=True, text=True)
        ours2, _ = _our_paths_per_second(args.table, args.scenario, args.draws)   # after, too: the load drifts
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        print(f"bench_boario: skipped: BoARIO run failed: {tail}")
        return
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    ours = (ours + ours2) / 2.0
    boario_rate = 1.0 / res["loop_s"]
    print(f"{args.table}: ours {ours:.1f} one-year daily paths/s of {args.scenario} ({args.draws} draws, mean steps "
          f"{steps:.0f}, numba threads as configured); BoARIO 0.7.2 ARIOPsiModel one {res['days']}-day run "
          f"{res['loop_s']:.2f} s loop (+{res['setup_s']:.2f} s setup) = {boario_rate:.3f} runs/s "
          f"(its production change {res['prod_change_pct']:+.1f}%); ratio ours/BoARIO {ours / boario_rate:.0f} "
          f"(target >= 500). The models and shocks differ: see the module docstring.")


if __name__ == "__main__":
    main()
