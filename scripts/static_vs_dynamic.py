"""The static (`constrained`) and the `dynamic` model side by side for every library scenario, and the
simultaneity premium of `combined_coordinated` at package offsets of 0, 3 and 6 months (markdown).

    python scripts/static_vs_dynamic.py [--table default] [--static-draws 2000] [--dynamic-draws 400]
                                        [--seed 0] [--offsets 0 3 6] [--feedback none]
                                        [--dynamic-params PATH] [--scenarios NAME ...] [--structure central]

Markets are off (the feedback needs them: with --feedback CHANNELS the market channel `default` is on for
both models). GDP loss in % of the table's baseline GDP over the scenario's horizon: mean and the 5th and
95th percentiles of the draws (exact quantiles of the kept draws, every draw kept). Regions: the world and
TWN, CHN, USA, RUS, DEU. The premium is the combination minus the sum of its packages alone, per draw on
the same draws (docs/model.md); the static model has no time, so its premium does not depend on the offset.
--dynamic-params replaces params/dynamic.toml (e.g. a copy without rerouting or overproduction, to take the
differences apart by mechanism).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REGIONS = ("TWN", "CHN", "USA", "RUS", "DEU")
COMBINED = "combined_coordinated"
PARTS = ("russia", "china_taiwan")


def _stats(x: np.ndarray) -> tuple[float, float, float]:
    x = np.asarray(x, dtype=np.float64)
    return float(x.mean()), float(np.percentile(x, 5)), float(np.percentile(x, 95))


def losses(ds, variant: str | None = None) -> dict[str, tuple[float, float, float]]:
    """World and regional GDP loss (%): (mean, p05, p95) over the draws."""
    if variant is not None:
        ds = ds.sel(scenario=variant)
    out = {"World": _stats(ds["world_gdp_loss_pct"].values)}
    for r in REGIONS:
        out[r] = _stats(ds["gdp_loss_pct"].sel(region=r).values)
    return out


def premium(ds) -> dict[str, tuple[float, float, float]]:
    out = {"World": _stats(ds["world_simultaneity_premium_pct"].values)}
    for r in REGIONS:
        out[r] = _stats(ds["simultaneity_premium_pct"].sel(region=r).values)
    return out


def _run(scenario, model, draws, a, **kw):
    from shockmodel import pipeline

    markets = "default" if a.feedback != "none" else None
    t0 = time.perf_counter()
    ds = pipeline.run(scenario, table=a.table, draws=draws, seed=a.seed, model=model, markets=markets,
                      keep_draws=draws, feedback=a.feedback, structure=a.structure, **kw)
    print(f"  {scenario} {model} {kw.get('overrides', '')}: {draws} draws in {time.perf_counter() - t0:.0f} s",
          file=sys.stderr, flush=True)
    return ds


def _cell(v: tuple[float, float, float]) -> str:
    return f"{v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}]"


def main(argv: list[str] | None = None) -> int:
    from shockmodel.scenario import list_scenarios

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--table", default="default")
    p.add_argument("--static-draws", type=int, default=2000)
    p.add_argument("--dynamic-draws", type=int, default=400)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--offsets", type=float, nargs="*", default=[0.0, 3.0, 6.0])
    p.add_argument("--feedback", default="none")
    p.add_argument("--scenarios", nargs="*", default=None, help="default: every library scenario but baseline")
    p.add_argument("--structure", default="sampled", choices=("sampled", "central"),
                   help="critical-input weights drawn per draw (sampled, run's default) or as declared (central)")
    p.add_argument("--dynamic-params", default=None, help="a params/dynamic.toml to use instead of the shipped one")
    a = p.parse_args(argv)
    if a.dynamic_params:
        from shockmodel.models import dynamic

        path = Path(a.dynamic_params).resolve()
        dynamic.default_params_path = lambda: path
    names = a.scenarios or [s for s in list_scenarios() if s != "baseline"]
    variants = {"combined": list(PARTS), **{x: [x] for x in PARTS}}
    draws = {"constrained": a.static_draws, "dynamic": a.dynamic_draws}
    res: dict = {}
    prem: dict = {}
    for name in names:
        for model in ("constrained", "dynamic"):
            if name == COMBINED:    # the offset-0 run with its parts gives the scenario's losses too
                ds = _run(name, model, draws[model], a, variants=variants,
                          overrides={"package_offset_months": a.offsets[0]} if model == "dynamic" else None)
                res[name, model] = losses(ds, "combined")
                prem[model, a.offsets[0] if model == "dynamic" else None] = premium(ds)
                if model == "dynamic":
                    for off in a.offsets[1:]:
                        d2 = _run(name, model, draws[model], a, variants=variants,
                                  overrides={"package_offset_months": off})
                        prem[model, off] = premium(d2)
            else:
                res[name, model] = losses(_run(name, model, draws[model], a))
    cols = ["World", *REGIONS]
    print(f"GDP loss over the horizon, % of baseline GDP, mean [p05, p95]; table `{a.table}`, seed {a.seed}, "
          f"constrained {a.static_draws:,} draws, dynamic {a.dynamic_draws:,} draws, feedback {a.feedback}, "
          f"structure {a.structure}, "
          f"markets {'default' if a.feedback != 'none' else 'off'}"
          f"{f', dynamic parameters {a.dynamic_params}' if a.dynamic_params else ''}.\n")
    print("| scenario | model | " + " | ".join(cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for name in names:
        for model in ("constrained", "dynamic"):
            row = res[name, model]
            print(f"| {name} | {model} | " + " | ".join(_cell(row[c]) for c in cols) + " |")
    print(f"\nSimultaneity premium of `{COMBINED}` (combination minus {' + '.join(PARTS)} alone, same draws), "
          "percentage points of GDP, mean [p05, p95]; `package_offset_months` starts `china_taiwan` that many "
          "months after `russia` (dynamic only: the static model has no time).\n")
    print("| model | offset (months) | " + " | ".join(cols) + " |")
    print("|---|---|" + "---|" * len(cols))
    for (model, off), row in prem.items():
        shown = "any" if off is None else f"{off:g}"
        print(f"| {model} | {shown} | " + " | ".join(_cell(row[c]) for c in cols) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
