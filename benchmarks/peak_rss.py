"""Peak memory (RSS) and wall time of a full CLI run (simulation, data.nc, report), in a fresh process.

    python benchmarks/peak_rss.py                      # 1e6 draws of combined_coordinated
    python benchmarks/peak_rss.py --draws 10000000 --model constrained

The target (issue 20): a 1e6-draw run with its report peaks under 2 GB. The peak is the child's
``ru_maxrss`` (Linux: kilobytes), the same figure as ``/usr/bin/time -v``'s "Maximum resident set size".
Run it on a quiet machine; the first run in a new checkout also compiles the numba kernels.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=1_000_000)
    parser.add_argument("--scenario", default="combined_coordinated")
    parser.add_argument("--model", default="constrained")
    parser.add_argument("--no-report", action="store_true", help="skip the report (data.nc only)")
    parser.add_argument("--keep-draws", type=int, default=None, help="per-draw arrays kept (the run's default if unset)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        cmd = [sys.executable, "-m", "shockmodel.cli", "run", args.scenario, "-n", str(args.draws), "-m",
               args.model, "-q", "--out", out, *(["--no-report"] if args.no_report else []),
               *(["--keep-draws", str(args.keep_draws)] if args.keep_draws else [])]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "MPLBACKEND": "Agg"})
        wall = time.perf_counter() - t0
        if proc.returncode:
            sys.exit(f"run failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(json.dumps({"scenario": args.scenario, "model": args.model, "draws": args.draws,
                      "report": not args.no_report, "keep_draws": args.keep_draws, "peak_rss_gb": round(peak_kb / 1e6, 3),
                      "wall_seconds": round(wall, 1)}))


if __name__ == "__main__":
    main()
