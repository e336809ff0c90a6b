"""Bridge to pymrio (L5, optional extra ``pip install shockmodel[pymrio]``).

* :func:`to_pymrio` / :func:`from_pymrio`: convert between :class:`~shockmodel.mrio.MRIO` and
  ``pymrio.IOSystem`` (``Z`` and ``Y`` as region/sector MultiIndex DataFrames; pymrio's final demand has
  one column per (region, category) and is summed by region here, categories kept).
* :func:`import_downloaded`: parse a WIOD, OECD ICIO or EXIOBASE 3 file that the user downloaded (pymrio
  does the parsing), optionally aggregate regions and sectors with concordance CSVs (two columns:
  ``source,target``), balance it and write it in our npz format, ready for ``shockmodel run --table``.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np

from shockmodel.errors import TableError, UserError
from shockmodel.mrio import MRIO, aggregate, balance

PARSERS = {"wiod": "parse_wiod", "oecd": "parse_oecd", "exiobase3": "parse_exiobase3"}


def _pymrio():
    try:
        import pymrio
    except ImportError:  # pragma: no cover - the extra is installed in the test environment
        raise TableError("the pymrio bridge needs pymrio: pip install 'shockmodel[pymrio]'") from None
    return pymrio


def to_pymrio(mrio: MRIO):
    """An ``IOSystem`` with ``Z``, ``Y`` (one column per region and category, or per region) and ``x``."""
    import pandas as pd

    pymrio = _pymrio()
    idx = pd.MultiIndex.from_product([mrio.regions, mrio.sectors], names=["region", "sector"])
    if mrio.Y_categories is not None:
        cats = list(mrio.fd_categories)
        cols = pd.MultiIndex.from_product([mrio.regions, cats], names=["region", "category"])
        Y = pd.DataFrame(mrio.Y_categories.reshape(mrio.n, -1), index=idx, columns=cols)
    else:
        cols = pd.MultiIndex.from_product([mrio.regions, ["FD"]], names=["region", "category"])
        Y = pd.DataFrame(mrio.Y, index=idx, columns=cols)
    io = pymrio.IOSystem(Z=pd.DataFrame(mrio.Z, index=idx, columns=idx), Y=Y,
                         x=pd.DataFrame(mrio.x, index=idx, columns=["indout"]),
                         unit=pd.DataFrame({"unit": [mrio.units] * mrio.n}, index=idx), name=mrio.name)
    return io


def from_pymrio(io, name: str | None = None) -> MRIO:
    """An (unvalidated, balanced) MRIO from an ``IOSystem`` with ``Z`` and ``Y`` (``io.calc_all()`` not needed)."""
    if io.Z is None or io.Y is None:
        raise TableError("the IOSystem has no Z or Y (run io.calc_all() or parse a full table)")
    Zdf = io.Z
    regions = tuple(str(r) for r in dict.fromkeys(Zdf.index.get_level_values(0)))
    sectors = tuple(str(s) for s in dict.fromkeys(Zdf.index.get_level_values(1)))
    n = len(regions) * len(sectors)
    if Zdf.shape != (n, n):
        raise TableError(f"Z is {Zdf.shape}, expected a full region x sector grid ({n} x {n})")
    Ydf = io.Y.reindex(Zdf.index)
    y_regions = [str(r) for r in Ydf.columns.get_level_values(0)]
    cats = tuple(str(c) for c in dict.fromkeys(Ydf.columns.get_level_values(1)))
    Ycat = np.zeros((n, len(regions), len(cats)))
    for col, (r, c) in enumerate(zip(y_regions, Ydf.columns.get_level_values(1))):
        if r in regions:
            Ycat[:, regions.index(r), cats.index(str(c))] += Ydf.iloc[:, col].to_numpy(dtype=float)
    Z, Ycat, x, v = balance(np.nan_to_num(Zdf.to_numpy(dtype=float)), np.nan_to_num(Ycat))
    return MRIO(name=name or str(getattr(io, "name", "pymrio") or "pymrio"), regions=regions, sectors=sectors,
                Z=Z, Y=Ycat.sum(axis=2), x=x, v=v, Y_categories=Ycat, fd_categories=cats,
                meta={"source": f"pymrio IOSystem {getattr(io, 'name', '')}".strip(),
                      "balancing": "x := Z1 + Y1, v := x - 1'Z"})


def read_concordance(path: str | os.PathLike) -> dict[str, str]:
    """A two-column CSV ``source,target`` (header row required) -> mapping."""
    import io as _io

    from shockmodel import limits

    path = Path(path)
    try:   # a regular file of at most limits.MAX_FILE_BYTES
        text = limits.read_input_file(path, what="concordance .csv file").decode("utf-8-sig")
    except UserError as exc:
        raise TableError(exc.message, file=exc.file) from None
    except UnicodeDecodeError as exc:
        raise TableError(f"not UTF-8 text ({exc.reason})", file=str(path)) from None
    rows = list(csv.reader(_io.StringIO(text, newline="")))
    if len(rows) < 2 or any(len(r) < 2 for r in rows[1:]):
        raise TableError("expected a header and rows of 'source,target'", file=str(path))
    return {r[0].strip(): r[1].strip() for r in rows[1:]}


def import_downloaded(kind: str, path: str | os.PathLike, *, year: int | None = None, name: str | None = None,
                      region_concordance: str | os.PathLike | None = None,
                      sector_concordance: str | os.PathLike | None = None) -> MRIO:
    """Parse a downloaded ``kind`` ("wiod", "oecd", "exiobase3") file with pymrio and aggregate it."""
    if kind not in PARSERS:
        raise TableError(f"unknown source kind {kind!r}; choose {', '.join(PARSERS)}", field="kind")
    pymrio = _pymrio()
    parse = getattr(pymrio, PARSERS[kind])
    try:
        io = parse(path) if kind == "exiobase3" else parse(path, year=year)
    except Exception as exc:  # pymrio raises many kinds of errors for files it cannot read
        raise TableError(f"pymrio could not parse it as {kind}: {exc}", file=str(path)) from None
    mrio = from_pymrio(io, name=name or Path(path).stem)
    rmap = read_concordance(region_concordance) if region_concordance else None
    smap = read_concordance(sector_concordance) if sector_concordance else None
    return aggregate(mrio, rmap, smap, name=mrio.name) if (rmap or smap) else mrio
