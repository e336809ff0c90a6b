"""Benchmark of the dynamic model: one-year daily paths per second, end to end (sampling, stepping,
aggregation into the run's arrays), on `default` and `wiod2011`, beside the machine's GEMM ceiling measured
in the same run.

    PYTHONPATH=. python benchmarks/bench_dynamic.py [--draws 512] [--tables default,wiod2011] [--quick]

Targets (issue 17): >= 1,000 paths/s on default, >= 25/s on wiod2011 (2 cores). The step's cost is one
GEMM per importer region (A[:, J_m] (n x S) by the sub-batch's losses (S x B)), so the GEMM ceiling bounds
it: paths/s <= ceiling / (2 n^2 B_steps) with B_steps = 365 steps a year.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def gemm_gflops(n: int, S: int, B: int, seconds: float = 1.0) -> float:
    """GFLOP/s of the step's GEMM shape (n x S) @ (S x B) on this machine, one thread."""
    from shockmodel.engine import blas_single_thread

    a = np.random.default_rng(0).random((n, S))
    x = np.random.default_rng(1).random((S, B))
    out = np.empty((n, B))
    with blas_single_thread():
        reps, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            np.dot(a, x, out)
            reps += 1
        dt = time.perf_counter() - t0
    return 2.0 * n * S * B * reps / dt / 1e9


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=512)
    ap.add_argument("--tables", default="default,wiod2011")
    ap.add_argument("--scenario", default="taiwan_blockade")
    ap.add_argument("--quick", action="store_true", help="one sub-batch on default (checks that it runs)")
    args = ap.parse_args()
    if args.quick:
        args.draws, args.tables = 64, "default"
    from shockmodel import engine, pipeline
    from shockmodel.criticality import critical_weights
    from shockmodel.io.tables import load_table
    from shockmodel.models import dynamic

    for name in args.tables.split(","):
        m = load_table(name)
        W = critical_weights(m)
        comp = pipeline.compile_for(args.scenario, m)[1]
        engine.simulate(comp, m, draws=dynamic.SUB_BATCH, seed=0, model="dynamic", critical=W)   # compile, warm
        draws = args.draws if name == "default" else max(dynamic.SUB_BATCH, args.draws // 8)
        t0 = time.perf_counter()
        raw = engine.simulate(comp, m, draws=draws, seed=1, model="dynamic", critical=W)
        dt = time.perf_counter() - t0
        steps = raw.iterations.mean()
        g = gemm_gflops(m.n, m.n_sectors, dynamic.SUB_BATCH)
        ceiling = g * 1e9 / (2.0 * m.n * m.n * 365)   # one-year paths/s if the GEMMs were all, one core
        print(f"{name}: {draws} draws of {args.scenario} in {dt:.2f} s = {draws / dt:.1f} paths/s "
              f"(mean steps {steps:.0f}); step GEMM {g:.1f} GFLOP/s -> ceiling {ceiling:.0f} paths/s per core")


if __name__ == "__main__":
    main()
