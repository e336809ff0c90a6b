"""Every benchmark in one run: ceilings, end to end, baselines, memory, rendering (the README's figures).

    python benchmarks/run_all.py                  # about 10 minutes on 2 idle cores
    python benchmarks/run_all.py --quick          # tiny sizes, no BoARIO, memory at 1e4 draws (about a minute)
    python benchmarks/run_all.py --big            # memory also at 1e7 draws (1e7 constrained: 15-30 min more)
    python benchmarks/run_all.py --no-boario --no-memory --no-rendering

Runs the scripts' ``measure`` functions in one process, so the baselines are compared with the end-to-end
runs of the same process and run, and writes one JSON (``benchmarks/results/run_all-<UTC>.json``).
"""

from __future__ import annotations

import sys

import baselines
import ceilings
import common
import end_to_end
import memory
import rendering


def main(argv=None) -> int:
    ap = common.parser(__doc__.split("\n")[0])
    ap.add_argument("--big", action="store_true", help="memory check at 1e6 and 1e7 draws")
    ap.add_argument("--memory-models", type=memory._models, default=None, metavar="MODELS",
                    help="models of the memory check (default constrained; leontief with --quick)")
    ap.add_argument("--no-boario", action="store_true", help="skip the BoARIO baseline (always skipped with --quick)")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory check")
    ap.add_argument("--no-rendering", action="store_true", help="skip the report rendering")
    args = ap.parse_args(argv)
    res = common.start("run_all", args.quick)
    common.log("ceilings ...")
    start_c = ceilings.measure(args.quick)
    e2e = end_to_end.measure(args.quick)
    res["end_to_end"] = e2e["runs"]
    res["warm_start"] = None if args.quick else end_to_end.warm_start_seconds()
    res["baselines"] = baselines.measure(args.quick, rows=e2e["runs"], boario=not (args.no_boario or args.quick))
    for r in res["end_to_end"]:
        r.pop("world_gdp_loss_head", None)
    if args.no_memory:
        res["memory"] = None
    else:
        models = args.memory_models or (["leontief"] if args.quick else ["constrained"])
        res["memory"] = memory.measure(models, memory.SIZES["quick" if args.quick else "big" if args.big else "full"])
    res["rendering"] = None if args.no_rendering else rendering.measure(args.quick)
    common.log("ceilings again ...")
    res["ceilings"] = {"start": start_c, "end": ceilings.measure(args.quick)}
    res["ceilings"].update(ceilings.better(start_c, res["ceilings"]["end"]))
    peak = res["ceilings"]["float64_gflops"]
    res["targets"] = end_to_end.targets(res["end_to_end"], peak)
    parts = [common.header(res), ceilings.render(res["ceilings"]), "",
             end_to_end.render(res["end_to_end"], peak, res["warm_start"], res["targets"]), "",
             baselines.render(res["baselines"])]
    if res["memory"]:
        parts += ["", memory.render(res["memory"])]
    if res["rendering"]:
        parts += ["", rendering.render(res["rendering"])]
    common.finish(res, "\n".join(parts), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
