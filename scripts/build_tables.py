"""Build every table from the source arrays in data/sources/ (nothing outside the repository is read).

    python scripts/build_tables.py [--out DIR] [NAME ...]

Without names: into params/mrio/ (the default), the five committed tables; into any other folder, those and
the two 41-region nowcast tables that the package builds on first use into the user cache (``wiod2021``,
``wiod2022``).
Steps, the reference numpy path that makes the bytes the same on every x86 machine, and the cache:
``shockmodel/io/build.py``. ``tests/test_build_tables.py`` rebuilds and compares the bytes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from shockmodel.io.build import ALL_TABLES, SHIPPED, build_to  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "params" / "mrio", help="output folder (default: params/mrio)")
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"tables to build (default: all: {', '.join(ALL_TABLES)})")
    args = parser.parse_args(argv)
    names = tuple(args.names) or (ALL_TABLES if args.out.resolve() != (ROOT / "params" / "mrio").resolve() else SHIPPED)
    build_to(args.out, names)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
