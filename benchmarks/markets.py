"""Cost of the market channel: ``shockmodel.run`` draws/s with markets off, on, and on with the demand
feedback, in one process (the issue's target: markets on at least 80% as fast as off), for ``leontief``
and for ``constrained``, the default model of ``shockmodel run`` (the user's path).

    python benchmarks/markets.py            # leontief 100,000 and constrained 20,000 draws, 3 rounds
    python benchmarks/markets.py --quick    # 5,000 / 1,000 draws, one round (checks that it runs)
    python benchmarks/markets.py --models leontief --rounds 5

The scenario is ``combined_coordinated`` (common.SCENARIO) on the ``default`` table, one variant. A warm-up
run of each setting compiles the kernels and builds the plans; then, round by round, the settings
alternate, so a slow spell of a shared machine hits all of them. Each round gives its own ratio
(throughput with markets over throughput without, from runs seconds apart); the median and the range of
the rounds' ratios are reported, with the load average before and after.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

import common

DRAWS = {"full": {"leontief": 100_000, "constrained": 20_000, "ghosh": 100_000},
         "quick": {"leontief": 5_000, "constrained": 1_000, "ghosh": 5_000}}
ROUNDS = {"full": 3, "quick": 1}
SETTINGS = {"off": {"markets": None}, "on": {"markets": "default"},
            "on+feedback": {"markets": "default", "feedback": "all"}}


def measure(quick: bool, model: str = "leontief", rounds: int | None = None) -> dict:
    import shockmodel
    from shockmodel.io.tables import load_table

    mode = "quick" if quick else "full"
    draws = DRAWS[mode][model]
    rounds = rounds or ROUNDS[mode]
    mrio = load_table("default")
    for kw in SETTINGS.values():
        shockmodel.run(common.SCENARIO, table=mrio, draws=2048, seed=common.SEED, model=model, **kw)
    times = {name: [] for name in SETTINGS}
    load = [os.getloadavg()[0]]
    for _ in range(rounds):
        for name, kw in SETTINGS.items():
            t0 = time.perf_counter()
            shockmodel.run(common.SCENARIO, table=mrio, draws=draws, seed=common.SEED, model=model, **kw)
            times[name].append(time.perf_counter() - t0)
        load.append(os.getloadavg()[0])
    on = [off / t for off, t in zip(times["off"], times["on"])]
    fb = [off / t for off, t in zip(times["off"], times["on+feedback"])]
    best = {k: min(v) for k, v in times.items()}
    return {"model": model, "draws": draws, "rounds": rounds, "seconds": times, "best_seconds": best,
            "draws_per_s": {k: draws / v for k, v in best.items()},
            "ratio_on_off": {"median": statistics.median(on), "min": min(on), "max": max(on), "rounds": on},
            "ratio_feedback_off": {"median": statistics.median(fb), "min": min(fb), "max": max(fb), "rounds": fb},
            "load_1min": load}


def _ratio(r: dict) -> str:
    return f"median {r['median']:.3f} (range {r['min']:.3f}-{r['max']:.3f})"


def main(argv=None) -> None:
    ap = common.parser(__doc__.splitlines()[0])
    ap.add_argument("--models", default="leontief,constrained", help="comma-separated propagation models")
    ap.add_argument("--rounds", type=int, default=None, help="alternating timed rounds (default 3, quick 1)")
    args = ap.parse_args(argv)
    res = common.start("markets", args.quick)
    res["result"] = results = [measure(args.quick, m.strip(), args.rounds) for m in args.models.split(",")]
    lines = [common.header(res)]
    for r in results:
        lines.append(f"{r['model']}, {r['draws']:,} draws, {r['rounds']} rounds (best seconds; "
                     f"1-min load {', '.join(f'{x:.1f}' for x in r['load_1min'])}):")
        for name in SETTINGS:
            lines.append(f"  {name:12s} {r['best_seconds'][name]:8.3f} s  {r['draws_per_s'][name]:12,.0f} draws/s")
        lines.append(f"  markets on / off (throughput): {_ratio(r['ratio_on_off'])}   (target >= 0.8)")
        lines.append(f"  on + feedback / off:           {_ratio(r['ratio_feedback_off'])}")
    common.finish(res, "\n".join(lines), args.out)


if __name__ == "__main__":
    sys.exit(main())
