"""Cost of the market channel: draws per second of ``shockmodel.run`` with markets on and off, one process.

Usage: ``PYTHONPATH=. python benchmarks/bench_markets.py [--draws 100000] [--model leontief] [--repeats 3]``

Runs ``combined_coordinated`` (the benchmark scenario of bench_engine.py) on the ``default`` table, after a
warm-up (numba compilation, plan caches), alternating markets off / on / on with feedback ``all``, and
prints the best wall time of each and the ratio (markets-on throughput / markets-off throughput; the
issue's target is >= 0.8). On a shared machine the figures are noisy: quote them as such.
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--draws", type=int, default=100_000)
    ap.add_argument("--model", default="leontief")
    ap.add_argument("--scenario", default="combined_coordinated")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    import shockmodel
    from shockmodel.io.tables import load_table

    mrio = load_table("default")
    settings = {"off": dict(markets=None), "on": dict(markets="default"),
                "on+feedback": dict(markets="default", feedback="all")}
    for kw in settings.values():   # warm-up: compile kernels, build plans
        shockmodel.run(args.scenario, table=mrio, draws=2048, model=args.model, **kw)
    best = {k: float("inf") for k in settings}
    for _ in range(args.repeats):
        for name, kw in settings.items():
            t0 = time.perf_counter()
            shockmodel.run(args.scenario, table=mrio, draws=args.draws, model=args.model, **kw)
            best[name] = min(best[name], time.perf_counter() - t0)
    for name, sec in best.items():
        print(f"{name:12s} {sec:8.3f} s  {args.draws / sec:12,.0f} draws/s")
    print(f"ratio on/off (throughput): {best['off'] / best['on']:.3f}")
    print(f"ratio on+feedback/off:     {best['off'] / best['on+feedback']:.3f}")


if __name__ == "__main__":
    main()
