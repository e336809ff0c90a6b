"""Helpers shared by the benchmark scripts: the scenario, logging, machine information, timing loops,
the command-line switches every script has, and the JSON result file.

Not part of the test suite and not part of the package: every script in this folder imports this module
as ``common`` (they are run as ``python benchmarks/<script>.py``, which puts this folder on the path).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Callable

import numpy as np

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
SCENARIO = "combined_coordinated"   #: two packages, 36 shocks: the library's largest scenario
SEED = 0
MODELS = ("leontief", "ghosh", "constrained")

REPEATS = 3          #: timed runs per configuration (the best is reported, the median too)
MIN_TIMED_S = 1.0    #: ... and more while the timed runs add up to less than this (as timeit's autorange)
MAX_TIMED_RUNS = 50  #: ... but at most this many
REPEAT_MAX_S = 8.0   #: ... unless one run takes longer than this
WARM_RUNS = 3        #: untimed runs of a configuration's size before its timed runs (steady state)


def log(msg: str) -> None:
    """Progress, on stderr (stdout carries the table)."""
    print(msg, file=sys.stderr, flush=True)


def seconds(fn: Callable[[], object]) -> float:
    """Wall seconds of one call of ``fn``."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def autorange(fn: Callable[[], dict], repeats: int = REPEATS, warm: int = WARM_RUNS,
              min_s: float = MIN_TIMED_S) -> tuple[dict, list[dict]]:
    """(first row, timed rows) of ``fn()``, a callable returning a dict with ``wall_s``.

    The first call is kept apart (what a single command-line run of that size sees); if it took over
    ``REPEAT_MAX_S`` it is the only timed row. Otherwise ``warm - 1`` more untimed calls, then at least
    ``repeats`` timed calls and more until they add up to ``min_s`` (at most ``MAX_TIMED_RUNS``).
    Why: the first runs of a size in a process are slower (their memory is new to the process), and the
    machine is noisy, so the best of several runs is the least disturbed one (as timeit reports)."""
    first = fn()
    if first["wall_s"] > REPEAT_MAX_S or repeats < 1:
        return first, [first]
    for _ in range(warm - 1):
        fn()
    rows: list[dict] = []
    while len(rows) < repeats or (sum(r["wall_s"] for r in rows) < min_s and len(rows) < MAX_TIMED_RUNS):
        rows.append(fn())
    return first, rows


def best_of(first: dict, rows: list[dict], work: float) -> dict:
    """The fastest row, with every wall time, the median rate and the first run's rate (``work`` per s)."""
    best = dict(min(rows, key=lambda r: r["wall_s"]))
    walls = sorted(r["wall_s"] for r in rows)
    best["walls_s"] = walls
    best["rate_median"] = work / float(np.median(walls))
    best["rate_first"] = work / first["wall_s"]
    return best


def numba_threads() -> int:
    import numba

    return numba.get_num_threads()


def machine_info() -> dict:
    import numba
    from threadpoolctl import threadpool_info

    return {
        "python": platform.python_version(), "numpy": np.__version__, "numba": numba.__version__,
        "cpu_count": os.cpu_count(), "numba_threads": numba.get_num_threads(), "platform": platform.platform(),
        "processor": platform.processor(),
        "blas": [{k: i.get(k) for k in ("internal_api", "version", "num_threads", "threading_layer")}
                 for i in threadpool_info() if i.get("user_api") == "blas"],
    }


def parser(description: str) -> argparse.ArgumentParser:
    """The switches every script has: ``--quick`` (tiny sizes, to check that it runs) and ``--out``."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true", help="small sizes: checks that the script runs (seconds to a minute)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON result (default benchmarks/results)")
    return ap


def start(name: str, quick: bool) -> dict:
    """The head of a result: what ran, when, where and under what load."""
    return {"benchmark": name, "mode": "quick" if quick else "full", "scenario": SCENARIO, "seed": SEED,
            "started_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "machine": machine_info(),
            "loadavg_start": list(os.getloadavg()), "_t0": time.perf_counter()}


def finish(res: dict, text: str, out: Path) -> Path:
    """Print ``text``, and write ``res`` (with the text and the load average at the end) as
    ``<out>/<benchmark>-<UTC date-time>[-quick].json`` (benchmarks/results/*.json is gitignored)."""
    res["loadavg_end"] = list(os.getloadavg())
    res["total_s"] = time.perf_counter() - res.pop("_t0")
    res["table_text"] = text
    print(text)
    out.mkdir(parents=True, exist_ok=True)
    stamp = res["started_utc"].replace("-", "").replace(":", "")
    path = out / f"{res['benchmark']}-{stamp}{'-quick' if res['mode'] == 'quick' else ''}.json"
    path.write_text(json.dumps(res, indent=1, default=_jsonable) + "\n")
    log(f"wrote {path}")
    return path


def _jsonable(x):
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    return str(x)


def header(res: dict) -> str:
    m = res["machine"]
    return (f"{res['benchmark']} ({res['mode']}), {res['started_utc']}, scenario {res['scenario']}, seed {res['seed']}; "
            f"{m['cpu_count']} cores, numba threads {m['numba_threads']}, numpy {m['numpy']}, numba {m['numba']}, "
            f"load average {res['loadavg_start'][0]:.1f} at start")


def pct(x) -> str:
    return "-" if x is None else f"{x:.0%}"


def num(x, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)
