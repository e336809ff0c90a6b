"""Cost of the market channel: ``shockmodel.run`` draws/s with markets off, on, and on with the demand
feedback, in one process (the issue's target: markets on at least 80% as fast as off).

    python benchmarks/markets.py            # leontief, 100,000 draws, best of 3 alternating rounds
    python benchmarks/markets.py --quick    # 5,000 draws, one round (checks that it runs)

The scenario is ``combined_coordinated`` (common.SCENARIO) on the ``default`` table, one variant. A warm-up
run of each setting compiles the kernels and builds the plans; then the settings alternate, so a slow
spell of a shared machine hits all of them. The ratio is throughput with markets over throughput without.
"""

from __future__ import annotations

import sys
import time

import common

DRAWS = {"full": 100_000, "quick": 5_000}
ROUNDS = {"full": 3, "quick": 1}
SETTINGS = {"off": {"markets": None}, "on": {"markets": "default"},
            "on+feedback": {"markets": "default", "feedback": "all"}}


def measure(quick: bool, model: str = "leontief") -> dict:
    import shockmodel
    from shockmodel.io.tables import load_table

    mode = "quick" if quick else "full"
    draws = DRAWS[mode]
    mrio = load_table("default")
    for kw in SETTINGS.values():
        shockmodel.run(common.SCENARIO, table=mrio, draws=2048, seed=common.SEED, model=model, **kw)
    best = {name: float("inf") for name in SETTINGS}
    for _ in range(ROUNDS[mode]):
        for name, kw in SETTINGS.items():
            t0 = time.perf_counter()
            shockmodel.run(common.SCENARIO, table=mrio, draws=draws, seed=common.SEED, model=model, **kw)
            best[name] = min(best[name], time.perf_counter() - t0)
    return {"model": model, "draws": draws, "seconds": best,
            "draws_per_s": {k: draws / v for k, v in best.items()},
            "ratio_on_off": best["off"] / best["on"], "ratio_feedback_off": best["off"] / best["on+feedback"]}


def main(argv=None) -> None:
    ap = common.parser(__doc__.splitlines()[0])
    ap.add_argument("--model", default="leontief")
    args = ap.parse_args(argv)
    res = common.start("markets", args.quick)
    res["result"] = r = measure(args.quick, args.model)
    lines = [common.header(res)]
    for name in SETTINGS:
        lines.append(f"{name:12s} {r['seconds'][name]:8.3f} s  {r['draws_per_s'][name]:12,.0f} draws/s")
    lines.append(f"markets on / off (throughput): {r['ratio_on_off']:.3f}   (target >= 0.8)")
    lines.append(f"on + feedback / off:           {r['ratio_feedback_off']:.3f}")
    common.finish(res, "\n".join(lines), args.out)


if __name__ == "__main__":
    sys.exit(main())
