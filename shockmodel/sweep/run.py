"""Run a sweep into a folder, resume it, and assemble the cells into one dataset.

Folder layout (``results/<UTC time>-sweep-<name>-<hash8>/``)::

    inputs/sweep.toml            the resolved spec (what ``resume`` reads)
    inputs/scenarios/NAME.toml   each base scenario, resolved (includes merged), as run
    manifest.json                settings, backend, and every cell with its parameter values and file
    cells/<cell_id>.nc           one result dataset per cell, written when the cell finishes
    data.nc                      all cells on a grid of named dimensions (written last; see :func:`assemble`)

Every file is written atomically, so after an interruption a cell file is either complete or absent;
``resume`` recomputes only the absent ones (and any cell file that does not open as that cell's result,
e.g. truncated by a full disk or a copy) and the result is bit-identical to an uninterrupted run.

A run or resume holds an exclusive lock on ``<folder>/.lock`` (``fcntl.flock``; released by the kernel
when the process ends, however it ends), so a second process on the same folder stops at once with one
line instead of racing for the same cells. ``resume`` refuses a folder whose scenario files changed since
the sweep started (the cells' ids hash the resolved scenarios; manifest.json lists the ids it started with).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Callable

import numpy as np

from shockmodel import __version__
from shockmodel.errors import UserError
from shockmodel.io import results
from shockmodel.sweep.executors import CellTask, run_distributed, run_serial
from shockmodel.sweep.spec import Cell, SweepSpec, load_sweep_spec

INPUTS = "inputs"
SPEC_FILE = "sweep.toml"
CELLS = "cells"

#: Variables of each cell kept in the combined ``data.nc`` (market variables when the cells have them).
KEEP = ("world_gdp_loss_pct", "gdp_loss_pct", "gdp_loss_pct_summary", "world_gdp_loss_pct_summary",
        "output_loss_pct", "trade_loss", "price_change_pct", "equity_drawdown_pct",
        "world_simultaneity_premium_pct", "simultaneity_premium_pct")
#: Dimension of the sampled design points ([random] / [lhs]); each sampled key path is a coordinate along it.
SAMPLE_DIM = "cell"


def run_sweep(spec_path: str | os.PathLike | None, *, workers: int | None = None, scheduler: str | None = None,
              out: str | os.PathLike = "results", resume: str | os.PathLike | None = None,
              progress: Callable[[int, int], None] | None = None, draws: int | None = None) -> Path:
    """Run the sweep ``spec_path`` (library name or path) and return its folder.

    workers: run on a local dask cluster of that many single-threaded processes; scheduler: run on the
    dask cluster at that address (workers must see the same file system); neither: serially here.
    resume: an existing sweep folder; only its missing cells are computed (``spec_path`` may then be
    None, else it must be the same spec). progress(done, total) is called at the start and after each cell.
    draws: replaces the spec's ``draws`` for a new sweep (stored with its inputs, so a resume keeps it).
    """
    _check_backend(workers, scheduler)
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if resume is not None:
            stack.enter_context(_locked(Path(resume)))
            folder, spec = _resumed(Path(resume), spec_path)
            if draws is not None and draws != spec.draws:
                raise UserError(f"the sweep being resumed runs {spec.draws} draws per cell; resume without "
                                "--draws or start a new sweep", file=str(resume), field="--draws")
        else:
            folder, spec = _started(spec_path, out, stack, draws)
        return _run(folder, spec, workers, scheduler, resume is not None, progress, t0)


def _run(folder: Path, spec: SweepSpec, workers, scheduler, resumed: bool, progress, t0: float) -> Path:
    """Compute the missing cells of a locked sweep folder and assemble them."""
    results.clean_stale(folder / CELLS)
    todo = [cell for cell in spec.cells if not _cell_ok(cell_path(folder, cell), cell)]
    manifest = _manifest(spec, folder, workers, scheduler, resumed=resumed)
    results.write_json(folder / results.MANIFEST, {**manifest, "status": "running"})
    tasks = [_task(spec, cell, folder, threads=None if workers is None and scheduler is None else 1)
             for cell in todo]
    done = _counter(len(spec.cells) - len(todo), len(spec.cells), progress)
    if workers is None and scheduler is None:
        run_serial(tasks, done)
    else:
        run_distributed(tasks, done, workers=workers, scheduler=scheduler)
    results.write_dataset(assemble(spec, folder), folder / results.DATA_FILE)
    results.write_json(folder / results.MANIFEST, {
        **manifest, "status": "complete", "computed_cells": [cell.id for cell in todo],
        "wall_seconds": round(time.perf_counter() - t0, 3),
        "completed_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
    return folder


def cell_path(folder: Path, cell: Cell) -> Path:
    """Where a cell's result lives in a sweep folder."""
    return folder / CELLS / f"{cell.id}.nc"


def _check_backend(workers: int | None, scheduler: str | None) -> None:
    if workers is not None and scheduler is not None:
        raise UserError("give either workers (a local cluster) or scheduler (an existing one), not both",
                        field="scheduler")
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise UserError(f"expected a number of workers >= 1, got {workers!r}", field="workers")
    if workers is not None or scheduler is not None:
        import importlib.util

        # checked before any folder exists (the executor imports it only when the cells start)
        if importlib.util.find_spec("distributed") is None:
            raise UserError("needs dask.distributed: pip install 'shockmodel[distributed]'",
                            field="scheduler" if scheduler else "workers")


LOCK = ".lock"


@contextlib.contextmanager
def _locked(folder: Path):
    """Hold the sweep folder's lock (non-blocking: a second process on the folder fails with one line)."""
    import fcntl

    if not (folder / INPUTS / SPEC_FILE).is_file():
        raise UserError(f"not a sweep folder (no {INPUTS}/{SPEC_FILE})", file=str(folder), field="resume")
    try:
        fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise results.disk_error(err, folder / LOCK) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError("another process is running or resuming this sweep; wait for it to finish "
                            "(then resume again if cells are missing)", file=str(folder), field="resume") from None
        yield
    finally:
        os.close(fd)   # closing releases the lock


def _cell_ok(path: Path, cell: Cell) -> bool:
    """A cell file that opens as this cell's result (a truncated or foreign file is deleted: recomputed)."""
    if not path.is_file():
        return False
    import xarray as xr

    try:
        with xr.open_dataset(path, engine="h5netcdf") as ds:
            ok = ds.attrs.get("cell_id") == cell.id and "world_gdp_loss_pct_summary" in ds
    except Exception:   # h5py raises OSError, ValueError, KeyError ... for damaged files
        ok = False
    if not ok:
        path.unlink(missing_ok=True)
    return ok


def _started(spec_path, out, stack: contextlib.ExitStack, draws: int | None = None) -> tuple[Path, SweepSpec]:
    """Check the spec and the destination, create a new sweep folder (unique under concurrency), lock it
    and write its inputs; if writing the inputs fails the folder is removed (it could not be resumed)."""
    import tomli_w

    from shockmodel import limits
    from shockmodel.scenario import load_scenario

    if spec_path is None:
        raise UserError("give a sweep spec (library name or path), or resume a sweep folder", field="spec")
    spec = load_sweep_spec(spec_path, draws=draws)
    limits.check_destination(out)
    rid = results.run_id(f"sweep-{spec.name}", *(cell.id for cell in spec.cells))
    folder = results.new_run_dir(out, rid).resolve()
    try:
        results.write_text(folder / INPUTS / SPEC_FILE, tomli_w.dumps(spec.to_dict()))
        for entry in spec.scenarios:
            scenario = load_scenario(entry)
            results.write_text(folder / INPUTS / "scenarios" / f"{scenario.name}.toml",
                               tomli_w.dumps(scenario.to_dict()))
        stack.enter_context(_locked(folder))
        results.write_json(folder / results.MANIFEST, {**_manifest(spec, folder, None, None, resumed=False),
                                                       "status": "starting"})
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return folder, spec


def _resumed(folder: Path, spec_path) -> tuple[Path, SweepSpec]:
    """The folder to resume and its stored spec (checked against ``spec_path`` when one is given)."""
    stored = folder / INPUTS / SPEC_FILE
    if not stored.is_file():
        raise UserError(f"not a sweep folder (no {INPUTS}/{SPEC_FILE})", file=str(folder), field="resume")
    spec = load_sweep_spec(stored)
    if spec_path is not None and load_sweep_spec(spec_path).sha256 != spec.sha256:
        raise UserError(f"differs from the spec of the sweep being resumed ({stored}); resume without a spec "
                        "or start a new sweep", file=str(spec_path), field="resume")
    started = _started_cells(folder)
    if started != [cell.id for cell in spec.cells]:
        # the ids hash the resolved scenarios: a scenario file (or an include) changed since the start
        raise UserError("the scenario files changed since this sweep started (its cells would not match); "
                        "restore them or start a new sweep", file=str(folder), field="resume")
    return folder.resolve(), spec


def _started_cells(folder: Path) -> list[str]:
    """The cell ids the sweep in ``folder`` started with (from its manifest)."""
    from shockmodel import limits

    try:
        manifest = json.loads(limits.read_input_file(folder / results.MANIFEST, limit=64 << 20))
        return [cell["id"] for cell in manifest["cells"]]
    except (UserError, ValueError, KeyError, TypeError) as err:
        raise UserError(f"manifest.json is missing or damaged ({type(err).__name__}); cannot check what the "
                        "sweep started with", file=str(folder), field="resume") from None


def _task(spec: SweepSpec, cell: Cell, folder: Path, *, threads: int | None) -> CellTask:
    return CellTask(cell_id=cell.id, scenario=cell.scenario, overrides=cell.overrides, table=spec.table,
                    model=spec.model, draws=spec.draws, seed=spec.seed, markets=spec.markets, structure=spec.structure,
                    path=str(cell_path(folder, cell)), sweep_id=folder.name, threads=threads)


def _counter(done: int, total: int, progress: Callable[[int, int], None] | None) -> Callable[[str], None]:
    """Report ``progress(done, total)`` now and return the callback that counts each finished cell."""
    count = [done]
    if progress:
        progress(done, total)

    def finished(_cell_id: str) -> None:
        count[0] += 1
        if progress:
            progress(count[0], total)

    return finished


def _manifest(spec: SweepSpec, folder: Path, workers: int | None, scheduler: str | None, *, resumed: bool) -> dict:
    backend = "dask" if scheduler else "dask-local" if workers else "serial"
    return {
        "sweep": spec.name, "sweep_id": folder.name, "description": spec.description, "spec_sha256": spec.sha256,
        "table": spec.table, "model": spec.model, "draws": spec.draws, "seed": spec.seed,
        "markets": spec.markets or "none", "swept": list(spec.swept), "backend": backend, "workers": workers,
        "scheduler": scheduler, "resumed": resumed,
        "cells": [{"id": cell.id, "file": f"{CELLS}/{cell.id}.nc", "scenario": cell.scenario_name,
                   "overrides": dict(cell.overrides)} for cell in spec.cells],
        "versions": {"shockmodel": __version__, "numpy": np.__version__, "python": platform.python_version()},
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


# --- the combined dataset --------------------------------------------------------------------------


def assemble(spec: SweepSpec, folder: Path):
    """All cells of ``folder`` as one ``xarray.Dataset`` laid out as a grid of named dimensions:
    ``base_scenario`` (when the spec has several scenarios), one dimension per [grid] key path (named by
    :func:`dim_name`, e.g. ``china_taiwan_probability``; ``attrs["key_path"]`` holds the key path), and
    for a sampled design a ``cell`` dimension with each sampled key path as a coordinate along it.
    Cells with variants keep their combination and the simultaneity premium. ``cell_id`` names each
    cell's file."""
    import xarray as xr

    parts = [_cell_part(cell_path(folder, cell), cell.id) for cell in spec.cells]
    stacked = xr.concat([part for part, _ in parts], dim="cell", join="exact", combine_attrs="override")
    names = {key: dim_name(key) for key in spec.params}
    grid_keys = [key for key, _ in spec.grid]
    shape, coords = [], {}
    if len(spec.scenarios) > 1:
        shape.append(("base_scenario", list(dict.fromkeys(c.scenario_name for c in spec.cells))))
    for key, values in spec.grid:
        shape.append((names[key], list(values)))
    if spec.sampling:
        shape.append((SAMPLE_DIM, list(range(spec.sampling.samples))))
    dims = [d for d, _ in shape]
    sizes = [len(v) for _, v in shape]
    data_vars = {}
    for name, var in stacked.data_vars.items():
        rest = var.dims[1:]
        data_vars[name] = xr.Variable(dims + list(rest), var.values.reshape(sizes + [var.shape[i + 1] for i in
                                                                                     range(len(rest))]), var.attrs)
    for d, values in shape:
        attrs = {"long_name": "base scenario"} if d == "base_scenario" else {}
        if d == SAMPLE_DIM:
            attrs = {"long_name": "sampled design point"}
        key = next((k for k in grid_keys if names[k] == d), None)
        if key:
            attrs = {"long_name": f"swept scenario key path {key}", "key_path": key}
        coords[d] = (d, values, attrs)
    if spec.sampling:
        points = spec.sampling.points()
        for key, _, _ in spec.sampling.ranges:
            coords[names[key]] = (SAMPLE_DIM, [p[key] for p in points],
                                  {"long_name": f"sampled scenario key path {key}", "key_path": key})
    coords["cell_id"] = (dims, np.array([c.id for c in spec.cells]).reshape(sizes), {"long_name": "cell file id"})
    keep = {k: v for k, v in stacked.coords.items() if "cell" not in v.dims and k not in coords}
    ds = xr.Dataset(data_vars, coords={**keep, **coords})
    first = parts[0][1]
    ds.attrs = {
        "sweep": spec.name, "description": spec.description, "swept": ",".join(spec.swept),
        "draws": spec.draws, "seed": spec.seed, "table": spec.table, "table_sha256": first["table_sha256"],
        "model": spec.model, "market_params": spec.markets or "", "run_id": folder.name,
        "shockmodel_version": __version__, "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "attribution": first["attribution"],
    }
    if len(spec.scenarios) == 1:
        ds.attrs["base_scenario"] = spec.cells[0].scenario_name
    from shockmodel.aggregate import cf_encode

    return cf_encode(ds)


def dim_name(key: str) -> str:
    """The dimension name of a swept key path: dots to ``_``, without the ``packages`` and ``shocks``
    levels: ``packages.china_taiwan.probability`` -> ``china_taiwan_probability``."""
    parts = [p for p in key.split(".") if p not in ("packages", "shocks")]
    return "_".join(parts) or key.replace(".", "_")


def _cell_part(path: Path, cell_id: str):
    """The kept variables of one cell file, loaded, with a leading ``cell`` dimension; and its attrs."""
    import xarray as xr

    with xr.open_dataset(path, engine="h5netcdf") as ds:
        part = ds[[name for name in KEEP if name in ds]].load()
        if "scenario" in part.dims:   # variants: keep the combination (the premium has no scenario dim)
            part = part.sel(scenario=ds.attrs.get("combination", "combined"), drop=True)
        return part.expand_dims(cell=[cell_id]), dict(ds.attrs)
