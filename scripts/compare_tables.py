"""Mean GDP loss (%) of every library scenario on two tables, side by side (markdown table).

    python scripts/compare_tables.py [--tables default2011 default] [--draws 5000] [--seed 0] [--model constrained]

Markets are off. Regions: the world and TWN, CHN, USA, RUS, DEU.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REGIONS = ("TWN", "CHN", "USA", "RUS", "DEU")


def mean_losses(scenario: str, table: str, draws: int, seed: int, model: str) -> list[float]:
    from shockmodel import pipeline

    ds = pipeline.run(scenario, table=table, draws=draws, seed=seed, model=model, markets=None)
    world = float(ds["world_gdp_loss_pct_summary"].sel(metric="mean"))
    regional = ds["gdp_loss_pct_summary"].sel(metric="mean")
    return [world] + [float(regional.sel(region=r)) for r in REGIONS]


def main(argv: list[str] | None = None) -> int:
    from shockmodel.scenario import list_scenarios

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tables", nargs=2, default=["default2011", "default"])
    p.add_argument("--draws", type=int, default=5000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", default="constrained")
    a = p.parse_args(argv)
    cols = ["World", *REGIONS]
    print(f"Mean GDP loss, % of the table's baseline ({a.model}, {a.draws:,} draws, seed {a.seed}, markets off); "
          f"each cell: {a.tables[0]} / {a.tables[1]}\n")
    print("| scenario | " + " | ".join(cols) + " |")
    print("| --- |" + " --- |" * len(cols))
    for name in sorted(list_scenarios()):
        left, right = (mean_losses(name, t, a.draws, a.seed, a.model) for t in a.tables)
        print(f"| {name} | " + " | ".join(f"{x:.2f} / {y:.2f}" for x, y in zip(left, right)) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
