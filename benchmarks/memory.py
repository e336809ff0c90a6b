"""Memory: peak resident set size of ``shockmodel.run`` in a child process, and whether it stays flat.

    python benchmarks/memory.py                   # 1e6 draws, constrained (the default model)
    python benchmarks/memory.py --big             # 1e6 and 1e7 draws: the flatness ratio (1e7 constrained: 15-30 min)
    python benchmarks/memory.py --models leontief,constrained
    python benchmarks/memory.py --quick           # 1e4 and 2e4 draws, leontief (checks that it runs)

For each model and draw count a child process runs ``shockmodel.run("combined_coordinated", draws=N,
model=M, markets=None)`` on ``default``. The peak is the child's ``VmHWM`` from ``/proc/self/status`` (the
high-water mark of its own address space), read by the child at its end; ``getrusage`` is not used for
the figure because on Linux a child's ``ru_maxrss`` starts from the parent's peak at the fork (it is
kept in the JSON as ``wait4_ru_maxrss_mb``, and used only where ``/proc`` is missing). Per-draw arrays
keep the first 1,000,000 draws (``engine.KEEP_DRAWS``) and statistics stream, so the ratio of the peaks
at the largest and smallest size should be close to 1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import common

SIZES = {"full": [1_000_000], "big": [1_000_000, 10_000_000], "quick": [10_000, 20_000]}


MEMORY_CHILD = r"""
import json, sys, time
def peak_kb():
    # VmHWM: peak RSS of this process image only. ru_maxrss of a child is no good here: Linux carries the
    # parent's peak over fork and execve into it (the benchmark process holds hundreds of MB by now)
    try:
        with open("/proc/self/status") as fh:
            return int(next(l for l in fh if l.startswith("VmHWM:")).split()[1])
    except (OSError, StopIteration):
        return None
t0 = time.perf_counter()
import shockmodel
draws, model = int(sys.argv[1]), sys.argv[2]
hwm_import = peak_kb()
t1 = time.perf_counter()
ds = shockmodel.run(sys.argv[3], table=sys.argv[4], draws=draws, model=model, markets=None)
t2 = time.perf_counter()
print(json.dumps({"run_s": t2 - t1, "import_s": t1 - t0, "vmhwm_after_import_kb": hwm_import,
                  "vmhwm_kb": peak_kb(), "draws_kept": int(ds.sizes.get("draw", -1))}))
"""


def _maxrss_mb(ru_maxrss: int) -> float:
    """ru_maxrss is in kilobytes on Linux, in bytes on macOS."""
    return ru_maxrss / 1024**2 if sys.platform == "darwin" else ru_maxrss / 1024


def memory_run(draws: int, model: str, table: str = "default") -> dict:
    """Peak RSS and wall time of ``shockmodel.run(SCENARIO, draws=draws, model=model, markets=None)`` in a
    child process.

    The peak is the child's VmHWM (/proc/self/status, read by the child at its end: the high-water mark of
    its own address space). The child's ``ru_maxrss`` (``os.wait4``, i.e. getrusage of that one child) is
    kept in the JSON but is only a fallback where /proc is missing: on Linux it includes the parent's peak
    at the time of the fork (carried over fork and execve), and RUSAGE_CHILDREN would in addition carry the
    peak of earlier children, such as a 1e6 run before a 1e7 run."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", MEMORY_CHILD, str(draws), model, common.SCENARIO, table],
                                stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        return {"draws": draws, "model": model, "table": table, "error": stderr[-2000:] or f"exit {proc.returncode}"}
    child = json.loads(stdout.strip().splitlines()[-1])
    hwm = child["vmhwm_kb"]
    after_import = child["vmhwm_after_import_kb"]
    return {"draws": draws, "model": model, "table": table,
            "peak_rss_mb": hwm / 1024 if hwm is not None else _maxrss_mb(usage.ru_maxrss),
            "rss_after_import_mb": after_import / 1024 if after_import is not None else None,
            "wait4_ru_maxrss_mb": _maxrss_mb(usage.ru_maxrss), "draws_kept": child["draws_kept"],
            "process_wall_s": wall, "run_s": child["run_s"], "draws_per_s": draws / child["run_s"],
            "measured_with": "VmHWM of the child (/proc/self/status)" if hwm is not None else
                             "os.wait4 ru_maxrss of the child (includes the parent's peak on Linux)"}


def measure(models: list[str], sizes: list[int]) -> dict:
    """memory_run for every model and size; ratio of the peak RSS of the largest to the smallest size."""
    runs = []
    for model in models:
        for draws in sizes:
            common.log(f"memory: {draws:.0e} draws ({model}) in a child process ...")
            runs.append(memory_run(draws, model))
    ratios = {}
    for model in models:
        ok = {r["draws"]: r["peak_rss_mb"] for r in runs if r["model"] == model and r.get("peak_rss_mb")}
        if len(sizes) > 1 and sizes[0] in ok and sizes[-1] in ok:
            ratios[model] = ok[sizes[-1]] / ok[sizes[0]]
    return {"measured": True, "sizes": sizes, "models": models, "runs": runs,
            "peak_rss_ratio": ratios, "ratio_of": f"{sizes[-1]:.0e} / {sizes[0]:.0e} draws" if len(sizes) > 1 else None}


def _models(text: str) -> list[str]:
    models = [m.strip() for m in text.split(",") if m.strip()]
    models = list(common.MODELS) if models == ["all"] else models
    bad = [m for m in models if m not in common.MODELS]
    if not models or bad:
        raise argparse.ArgumentTypeError(f"models must be 'all' or a comma-separated list of {common.MODELS}, got {text!r}")
    return models


def render(mem: dict) -> str:
    L = ["memory (child process per run, table default, markets=None; peak RSS = the child's VmHWM, wall "
         "includes interpreter start and imports)"]
    for r in mem["runs"]:
        if r.get("error"):
            L.append(f"  {r['model']:11} {r['draws']:.0e} draws: failed: {r['error'].strip().splitlines()[-1]}")
        else:
            L.append(f"  {r['model']:11} {r['draws']:.0e} draws: peak RSS {r['peak_rss_mb']:.0f} MB, "
                     f"{r['process_wall_s']:.0f} s wall, {r['draws_per_s']:.0f} draws/s, {r['draws_kept']} draws kept")
    for model in mem["models"]:
        if model in mem["peak_rss_ratio"]:
            L.append(f"  {model}: peak RSS ratio {mem['ratio_of']}: {mem['peak_rss_ratio'][model]:.2f} (flat = 1)")
        elif len(mem["sizes"]) == 1:
            L.append(f"  {model}: flatness ratio not measured (needs --big for the 1e7 run)")
    return "\n".join(L)


def main(argv=None) -> int:
    ap = common.parser(__doc__.split("\n")[0])
    ap.add_argument("--big", action="store_true", help="1e6 and 1e7 draws (the flatness ratio)")
    ap.add_argument("--models", type=_models, default=None, metavar="MODELS",
                    help="comma-separated models, or 'all' (default: constrained; leontief with --quick)")
    args = ap.parse_args(argv)
    res = common.start("memory", args.quick)
    models = args.models or (["leontief"] if args.quick else ["constrained"])
    sizes = SIZES["quick" if args.quick else "big" if args.big else "full"]
    res["memory"] = measure(models, sizes)
    common.finish(res, common.header(res) + "\n" + render(res["memory"]), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
