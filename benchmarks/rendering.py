"""Rendering: seconds to build a run's report (figures, report.html, report.pdf) from its data.nc.

    python benchmarks/rendering.py            # the demo's result (combined and each package alone), 20,000 draws
    python benchmarks/rendering.py --quick    # 512 draws, HTML only, one timed build (checks that it runs)

One run of ``combined_coordinated`` with its packages as variants (what ``shockmodel demo`` writes) is
saved without a report into a temporary folder; then ``shockmodel.pipeline.build_report`` is timed on it
for each set of formats (matplotlib imported and the first build done untimed, then ``common.autorange``).
The report is rebuilt from ``data.nc`` alone, so the draw count matters only through the per-draw
figures (histograms, exceedance curves).
"""

from __future__ import annotations

import sys
import tempfile
import time

import common

DRAWS = {"full": 20_000, "quick": 512}
FORMATS = {"full": [("html",), ("html", "pdf")], "quick": [("html",)]}


def measure(quick: bool) -> dict:
    from shockmodel import pipeline

    mode = "quick" if quick else "full"
    draws = DRAWS[mode]
    out = {"draws": draws, "builds": []}
    with tempfile.TemporaryDirectory() as tmp:
        mrio = pipeline._table("default")
        spec, compiled = pipeline.compile_for(common.SCENARIO, mrio)
        names = [p.name for p in compiled.packages]
        variants = {"combined": names, **{n: [n] for n in names}}
        common.log(f"rendering: a {draws}-draw run to render ...")
        ds = pipeline.run(compiled, table=mrio, draws=draws, seed=common.SEED, variants=variants)
        folder = pipeline.write_run(ds, spec, tmp, report=False).folder
        for formats in FORMATS[mode]:
            common.log(f"rendering: {'+'.join(formats)} ...")

            def build():
                t0 = time.perf_counter()
                files = pipeline.build_report(folder, formats)
                return {"wall_s": time.perf_counter() - t0, "files": len(files)}

            first, rows = common.autorange(build, repeats=1 if quick else common.REPEATS, warm=1 if quick else 2,
                                           min_s=0.0 if quick else common.MIN_TIMED_S)
            best = common.best_of(first, rows, 1.0)
            out["builds"].append({"formats": list(formats), "seconds": best["wall_s"], "walls_s": best["walls_s"],
                                  "first_s": first["wall_s"], "files": best["files"]})
    return out


def render(r: dict) -> str:
    L = [f"report build from data.nc ({r['draws']} draws, combined_coordinated and each package alone)"]
    for b in r["builds"]:
        med = sorted(b["walls_s"])[len(b["walls_s"]) // 2]
        L.append(f"  {'+'.join(b['formats']):9} {b['seconds']:.2f} s best, {med:.2f} s median, {b['first_s']:.2f} s "
                 f"first (matplotlib import included), {b['files']} files")
    return "\n".join(L)


def main(argv=None) -> int:
    args = common.parser(__doc__.split("\n")[0]).parse_args(argv)
    res = common.start("rendering", args.quick)
    res["rendering"] = measure(args.quick)
    common.finish(res, common.header(res) + "\n" + render(res["rendering"]), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
