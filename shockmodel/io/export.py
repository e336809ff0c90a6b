"""Tables that travel: a run's summary, its exceedance table and (on request) its per-draw variables as
CSV, parquet or Excel files (``shockmodel export``).

Tidy tables (one observation per row): ``summary`` is :func:`shockmodel.aggregate.summarize`,
``exceedance`` is :func:`shockmodel.aggregate.exceedance_table`, ``draws`` has one row per (scenario,
draw, label) and one column per per-draw variable. parquet needs ``pyarrow`` and xlsx ``openpyxl``
(``pip install 'shockmodel[export]'``); a missing one is a one-line error saying so.
"""

from __future__ import annotations

import os
from pathlib import Path

from shockmodel.errors import UserError
from shockmodel.io.results import atomic_path, read_dataset

FORMATS = ("csv", "parquet", "xlsx")
ENGINE = {"parquet": "pyarrow", "xlsx": "openpyxl"}


def tables(ds, *, draws: bool = False) -> dict:
    """name -> pandas DataFrame of the tables to export."""
    from shockmodel.aggregate import exceedance_table, summarize

    out = {"summary": summarize(ds), "exceedance": exceedance_table(ds)}
    if draws:
        out["draws"] = draw_table(ds)
    return out


def draw_table(ds):
    """Per-draw variables as a tidy table, one row per (scenario, draw, region), one column per variable:
    regional variables (dims ``draw``, ``region``) and world ones (``world_x`` as column ``x``, region
    ``World``)."""
    import pandas as pd

    def per_draw(dims):
        return [v for v in ds.data_vars if set(ds[v].dims) - {"scenario"} == dims]

    regional = per_draw({"draw", "region"})
    world = [v for v in per_draw({"draw"}) if v.startswith("world_") and v.removeprefix("world_") in regional]
    frames = []
    if regional:
        frames.append(ds[regional].reset_coords(drop=True).to_dataframe().reset_index())
    if world:
        w = ds[world].reset_coords(drop=True).to_dataframe().reset_index()
        frames.append(w.rename(columns={v: v.removeprefix("world_") for v in world}).assign(region="World"))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def export(source: str | os.PathLike, fmt: str = "csv", *, out: str | os.PathLike | None = None,
           draws: bool = False) -> list[Path]:
    """Write the tables of the run folder ``source`` as ``fmt`` into ``out`` (default
    ``<run>/export``): ``summary.<ext>``, ``exceedance.<ext>`` (and ``draws.<ext>``), or one workbook
    ``<run id>.xlsx`` with a sheet per table. Returns the written paths."""
    if fmt not in FORMATS:
        raise UserError(f"unknown export format {fmt!r}; choose {', '.join(FORMATS)}", field="--format")
    _check_engine(fmt)
    ds = read_dataset(source)
    folder = Path(out) if out is not None else Path(source) / "export"
    folder.mkdir(parents=True, exist_ok=True)
    found = tables(ds, draws=draws)
    if fmt == "xlsx":
        import pandas as pd

        path = folder / f"{ds.attrs.get('run_id', 'run')}.xlsx"
        with atomic_path(path, suffix=".xlsx") as tmp:
            with pd.ExcelWriter(tmp, engine="openpyxl") as book:
                for name, frame in found.items():
                    frame.to_excel(book, sheet_name=name, index=False)
        return [path]
    written = []
    for name, frame in found.items():
        path = folder / f"{name}.{fmt}"
        with atomic_path(path, suffix=f".{fmt}") as tmp:
            if fmt == "csv":
                frame.to_csv(tmp, index=False)
            else:
                frame.to_parquet(tmp, index=False, engine="pyarrow")
        written.append(path)
    return written


def _check_engine(fmt: str) -> None:
    engine = ENGINE.get(fmt)
    if engine is None:
        return
    try:
        __import__(engine)
    except ImportError:
        raise UserError(f"{fmt} export needs the package {engine}: pip install {engine} "
                        "(or pip install 'shockmodel[export]')", field="--format") from None
