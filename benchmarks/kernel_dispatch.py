"""Dispatch cost of a kernel's named inputs: numba's per-call overhead for leontief_block's ten named parts
(kernels/structs.py, as the model calls it) against the 38 positional arrays they group.

    python benchmarks/kernel_dispatch.py

Two no-op kernels take arguments of exactly those types, so only the dispatch (typing the arguments,
finding the compiled overload, unboxing) is timed; the two are alternated in one process, 15 rounds of
5,000 calls each, and the median and spread per call are printed with the load average.
"""

from __future__ import annotations

import os
import timeit

import numpy as np


def main() -> None:
    from numba import njit

    from shockmodel import engine
    from shockmodel.io.tables import load_table
    from shockmodel.kernels.propagate import leontief_work_sizes
    from shockmodel.kernels.structs import Horizon, LeontiefWork
    from shockmodel.scenario import compile_scenario, load_scenario

    names = ", ".join(f"a{i}" for i in range(38))
    ns: dict = {"njit": njit}
    exec(f"@njit(nogil=True)\ndef positional({names}):\n    return 0\n", ns)          # noqa: S102
    exec("@njit(nogil=True)\ndef named(a0, a1, a2, a3, a4, a5, a6, a7, a8, a9):\n    return 0\n", ns)   # noqa: S102
    m = load_table("default")
    plan = engine.make_plan(compile_scenario(load_scenario("taiwan_blockade"), m), m, "leontief")
    B, cls = engine.BLOCK, plan.classes
    f64, g = leontief_work_sizes(plan.n_shocks, plan.n_packages, plan.n_sectors, len(plan.trade_cols),
                                 len(plan.fd_cols), cls.n_classes, m.n, cls.Q_ptr, B)
    ws = LeontiefWork(np.empty((m.n, B)), np.empty((m.n_regions, m.n_regions, B)), np.empty(B),
                      np.empty((cls.n_classes, B)), np.empty(f64), np.empty(g))
    sev, on = np.zeros((B, plan.n_shocks)), np.zeros((B, plan.n_packages), dtype=bool)
    flat = (sev, on, plan.shock_pkg, plan.subst_cols, plan.subst_pkg, plan.subst_mask, plan.dur_cols, plan.dur_pkg,
            plan.inv_cols, plan.inv_pkg, plan.horizon_months, engine.DAYS_PER_MONTH, plan.trade_cols,
            plan.trade_pkg, plan.fd_cols, cls.cls_ptr, cls.cls_shock, cls.cls_sector, cls.cls_fd_ptr, cls.cls_fd,
            plan.M, plan.x0, plan.Q_g, cls.Q_ptr, cls.ug_ptr, cls.ug_row, cls.ug_c, cls.ug_Z, cls.grp_ptr,
            cls.grp_c, cls.grp_Y, plan.n_sectors, *ws)
    calls = {
        "38 positional": lambda: ns["positional"](*flat),
        "10 named parts": lambda: ns["named"](sev, on, plan.columns, Horizon(plan.horizon_months,
                                                                            engine.DAYS_PER_MONTH),
                                              plan.class_shocks, plan.trade_groups, plan.M, plan.Q_g,
                                              plan.baseline, ws),
    }
    times: dict[str, list[float]] = {k: [] for k in calls}
    for fn in calls.values():
        fn()   # compile
    for _ in range(15):
        for k, fn in calls.items():
            times[k].append(timeit.timeit(fn, number=5000) / 5000 * 1e6)
    print(f"load average {os.getloadavg()[0]:.1f}")
    for k, v in times.items():
        a = np.array(v)
        print(f"{k:15s} median {np.median(a):6.1f} us per call (min {a.min():.1f}, max {a.max():.1f})")


if __name__ == "__main__":
    main()
