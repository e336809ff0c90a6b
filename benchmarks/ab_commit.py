"""Same-process A/B: this checkout's engine against the engine of an earlier commit, loaded beside it.

    python benchmarks/ab_commit.py [--against COMMIT] [--rounds N] [--quick]

The earlier commit's ``shockmodel/`` and ``params/`` are taken from git (``git archive``) into a temporary
folder and renamed ``shockmodel_ab``, so both versions live in one process and share its allocator, CPU
frequency and neighbours: on a noisy machine only a ratio measured this way means much. Each round times
one run of each version, in alternating order, on the same scenario, table, seed and draws (markets off:
the engine alone, the part both versions share; the declared critical inputs, ``structure="central"``). Prints, per model, the draws per second of each version,
the ratio new / old of every round, its median and its spread (min-max), and checks that both versions
gave the same numbers (largest difference of the world GDP loss over every draw; the 2011 table as
rebuilt from the repository's sources differs from the earlier file in the last bits, about 1e-11).
"""

from __future__ import annotations

import argparse
import importlib
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_COMMIT = "cea1c1d"   #: the last commit before the models moved behind a registry
CASES = (("constrained", 10_000), ("leontief", 100_000))
SCENARIO, TABLE, SEED = "taiwan_blockade", "default2011", 0   #: a scenario both versions ship unchanged


def load_old(commit: str, where: Path):
    """Import ``shockmodel`` of ``commit`` as ``shockmodel_ab`` from ``where``."""
    blob = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "shockmodel", "params"],
                          check=True, capture_output=True).stdout
    with tarfile.open(fileobj=BytesIO(blob)) as tar:
        tar.extractall(where, filter="data")
    (where / "shockmodel").rename(where / "shockmodel_ab")
    word = re.compile(r"\bshockmodel(?=[.\s]|$)")
    for py in (where / "shockmodel_ab").rglob("*.py"):
        text = py.read_text()
        py.write_text(word.sub("shockmodel_ab", text))
    sys.path.insert(0, str(where))
    return importlib.import_module("shockmodel_ab")


def table_name(pkg) -> str:
    """The 2011 16-region table under the name that version ships it as."""
    from_tables = importlib.import_module(pkg.__name__ + ".io.tables")
    names = from_tables.list_tables() if hasattr(from_tables, "list_tables") else {}
    return TABLE if TABLE in names else "default"


def timed(pkg, table, model: str, draws: int):
    import inspect

    # the same computation in both: a version that samples the model's structure per draw runs "central"
    kw = {"structure": "central"} if "structure" in inspect.signature(pkg.run).parameters else {}
    t0 = time.perf_counter()
    ds = pkg.run(SCENARIO, table=table, draws=draws, seed=SEED, model=model, markets=None, **kw)
    return time.perf_counter() - t0, np.asarray(ds["world_gdp_loss_pct"].values)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--against", default=DEFAULT_COMMIT)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--quick", action="store_true", help="100x fewer draws, 2 rounds (checks the script runs)")
    args = ap.parse_args()
    import shockmodel as new
    with tempfile.TemporaryDirectory() as tmp:
        old = load_old(args.against, Path(tmp))
        rounds = 2 if args.quick else args.rounds
        for model, draws in CASES:
            draws = max(draws // 100, 256) if args.quick else draws
            versions = {"new": (new, table_name(new)), "old": (old, table_name(old))}
            ref = {}
            for name, (pkg, table) in versions.items():   # compile and warm
                _, ref[name] = timed(pkg, table, model, draws)
                timed(pkg, table, model, draws)
            same = float(np.max(np.abs(ref["new"] - ref["old"])))
            ratios, rates = [], {"new": [], "old": []}
            for r in range(rounds):
                order = ("new", "old") if r % 2 == 0 else ("old", "new")
                t = {}
                for name in order:
                    pkg, table = versions[name]
                    t[name], _ = timed(pkg, table, model, draws)
                    rates[name].append(draws / t[name])
                ratios.append(t["old"] / t["new"])
            print(f"{model:12s} {draws:>8,d} draws  new {statistics.median(rates['new']):>10,.0f}/s  "
                  f"old {statistics.median(rates['old']):>10,.0f}/s  ratio new/old median "
                  f"{statistics.median(ratios):.3f} (min {min(ratios):.3f}, max {max(ratios):.3f}, {rounds} rounds)  "
                  f"largest difference {same:.2g} pp")


if __name__ == "__main__":
    main()
