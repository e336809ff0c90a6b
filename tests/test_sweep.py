"""Sweeps: spec validation, the same numbers serially and on a dask cluster, and resume after a kill.

One small sweep (2 scenarios x coordination in {-0.5, 0, 0.5, 0.9}, 512 draws, no markets) is run
serially once per module and serves as the reference for every other backend and for resuming.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tomli_w

from shockmodel.errors import UserError
from shockmodel.io.results import MANIFEST, read_dataset
from shockmodel.sweep import load_sweep_spec, run_sweep

RHOS = [-0.5, 0, 0.5, 0.9]
SPEC = {"name": "rho", "scenarios": ["combined_coordinated", "half.toml"], "draws": 512, "seed": 3,
        "markets": "none", "grid": {"coordination": RHOS}}
HALF = """name = "combined_half"
description = "combined_coordinated with the blockade at 50 percent"
include = ["combined_coordinated"]
[overrides]
"packages.china_taiwan.probability" = 0.5
"""
N_CELLS = 2 * len(RHOS)


def _write_spec(folder: Path, spec: dict, name: str = "rho.toml") -> Path:
    (folder / "half.toml").write_text(HALF)
    path = folder / name
    path.write_text(tomli_w.dumps(spec))
    return path


@pytest.fixture(scope="module")
def spec_path(tmp_path_factory) -> Path:
    return _write_spec(tmp_path_factory.mktemp("spec"), SPEC)


@pytest.fixture(scope="module")
def serial(spec_path, tmp_path_factory):
    """The reference sweep folder, run serially, and the progress calls it made."""
    calls = []
    folder = run_sweep(spec_path, out=tmp_path_factory.mktemp("serial"), progress=lambda *a: calls.append(a))
    return folder, calls


def _assert_same_numbers(a: Path, b: Path) -> None:
    """Every variable and coordinate of the two sweeps' data.nc is bit-identical."""
    da, db = read_dataset(a), read_dataset(b)
    assert set(da.variables) == set(db.variables)
    for name in da.variables:
        x, y = da[name].values, db[name].values
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name


def _cell_files(folder: Path) -> dict[str, tuple[int, int]]:
    """Finished cell files (temporary ones start with '.') -> (inode, mtime_ns)."""
    return {p.stem: (p.stat().st_ino, p.stat().st_mtime_ns) for p in (folder / "cells").glob("[!.]*.nc")}


# --- (a) spec validation -------------------------------------------------------------------------------


@pytest.mark.parametrize("change, field, words", [
    ({"drawz": 10}, "drawz", "did you mean 'draws'"),
    ({"grid": {"packages.russia.probabilty": [0.5]}}, "grid.packages.russia.probabilty",
     "did you mean 'probability'"),
    ({"grid": {"coordination": []}}, "grid.coordination", "empty list"),
    ({"grid": {}}, "grid", "empty grid"),
    ({"grid": {"coordination": [0.5, 1.5]}}, "grid.coordination", "coordination = 1.5"),
    ({"grid": {"coordination": [0, "high"]}}, "grid.coordination", "all numbers"),
    ({"draws": "many"}, "draws", "integer"),
    ({"model": "leontiev"}, "model", "did you mean 'leontief'"),
    ({"scenarios": ["no_such_scenario"]}, "scenarios", "does not load"),
    ({"markets": "bogus"}, "markets", "unknown market parameters"),
    ({"structure": "median"}, "structure", "choose sampled or central"),
    ({"lhs": {"samples": 4, "coordination": {"low": 0.5, "high": 0.1}}}, "lhs.coordination", "low < high"),
    ({"lhs": {"samples": 4, "coordination": {"low": 0, "hi": 1}}}, "lhs.coordination.hi",
     "did you mean 'high'"),
    ({"random": {"samples": 2, "seed": 1, "coordination": {"low": 0, "high": 1}},
      "lhs": {"samples": 2, "coordination": {"low": 0, "high": 1}}}, "lhs", "not both"),
    ({"lhs": {"samples": 2, "coordination": {"low": 0, "high": 1}}}, "lhs.coordination", "also in [grid]"),
])
def test_spec_errors_name_the_field(tmp_path, change, field, words):
    path = _write_spec(tmp_path, {**SPEC, **change})
    with pytest.raises(UserError) as info:
        load_sweep_spec(path)
    err = info.value
    assert (err.file, err.field) == (str(path), field)
    assert words in err.message and "\n" not in str(err)


def test_dotted_keys_and_nested_tables_are_the_same_key_path(tmp_path):
    quoted = load_sweep_spec(_write_spec(tmp_path, {**SPEC, "grid": {"packages.russia.probability": [1.0, 0.5]}}))
    nested = load_sweep_spec(_write_spec(tmp_path, {**SPEC, "grid": {"packages": {"russia": {"probability": [1, 0.5]}}}}))
    assert quoted.params == nested.params == ("packages.russia.probability",)
    assert [c.id for c in quoted.cells] == [c.id for c in nested.cells]


def test_cell_ids_are_stable_distinct_and_cover_the_settings(spec_path, tmp_path):
    spec = load_sweep_spec(spec_path)
    assert [c.id for c in spec.cells] == [c.id for c in load_sweep_spec(spec_path).cells]
    assert len({c.id for c in spec.cells}) == N_CELLS
    more_draws = load_sweep_spec(_write_spec(tmp_path, {**SPEC, "draws": 1024}))
    assert not {c.id for c in spec.cells} & {c.id for c in more_draws.cells}
    central = load_sweep_spec(_write_spec(tmp_path, {**SPEC, "structure": "central"}, "central.toml"))
    assert spec.structure == "sampled" and central.structure == "central"
    assert not {c.id for c in spec.cells} & {c.id for c in central.cells}   # a cell file holds one structure's numbers


def test_library_specs_load():
    coordination = load_sweep_spec("coordination")
    assert coordination.scenarios[0] == "combined_coordinated"
    assert dict(coordination.grid)["coordination"] == (-0.5, 0.0, 0.5, 0.9)
    substitution = load_sweep_spec("substitution")
    (key, low, high), _ = substitution.sampling.ranges
    modes = np.array([dict(c.overrides)[key] for c in substitution.cells[:substitution.sampling.samples]])
    strata = np.floor((modes - low) / (high - low) * modes.size).astype(int)
    assert sorted(strata) == list(range(modes.size))  # a Latin hypercube: one point per stratum


# --- (b) serial and dask give the same numbers ----------------------------------------------------------


def test_sweep_dataset_layout(serial):
    folder, calls = serial
    ds = read_dataset(folder)
    assert folder.name.split("-")[1:3] == ["sweep", "rho"]
    grid = ("base_scenario", "coordination")
    assert ds["world_gdp_loss_pct"].dims == (*grid, "draw") and ds.sizes["base_scenario"] * ds.sizes["coordination"] == N_CELLS
    assert ds["gdp_loss_pct"].dims == (*grid, "draw", "region")
    assert ds["trade_loss"].dims == (*grid, "exporter", "importer", "statistic")
    assert list(ds["base_scenario"].values) == ["combined_coordinated", "combined_half"]
    assert list(ds["coordination"].values) == RHOS and ds["coordination"].attrs["key_path"] == "coordination"
    assert not [c for c in ds.coords if "." in c]   # no dotted coordinates to set_index / unstack
    # the premium per cell: the combination minus each package alone, on the same draws
    premium = ds["world_simultaneity_premium_pct"]
    assert premium.dims == (*grid, "draw") and np.isfinite(premium.values).all()
    cell = read_dataset(folder / "cells" / f"{ds.cell_id.values[0, 1]}.nc")
    world = cell["world_gdp_loss_pct"]
    np.testing.assert_allclose(premium.values[0, 1], (world.sel(scenario="combined") - world.sel(scenario="russia")
                                                      - world.sel(scenario="china_taiwan")).values, rtol=1e-12)
    assert ds.attrs["swept"] == "scenario,coordination" and ds.attrs["run_id"] == folder.name
    assert (ds.attrs["draws"], ds.attrs["seed"], ds.attrs["table"]) == (512, 3, "default")
    assert calls == [(i, N_CELLS) for i in range(N_CELLS + 1)]
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["status"] == "complete" and len(manifest["computed_cells"]) == N_CELLS
    assert manifest["cells"][1]["overrides"] == {"coordination": 0.0}
    assert (folder / "inputs" / "sweep.toml").is_file()
    world = ds["world_gdp_loss_pct"].values
    assert not np.array_equal(world[0, 0], world[0, 3])  # coordination matters


def test_cells_share_random_numbers(serial):
    """Common random numbers: at the same coordination, making the blockade uncertain leaves the Russian
    package's sampled severities untouched."""
    folder = serial[0]
    ds = read_dataset(folder)
    certain, half = (read_dataset(folder / "cells" / f"{ds.cell_id.values[i, 2]}.nc") for i in (0, 1))
    assert ds.coordination.values[2] == 0.5
    russia = [s for s in certain.shock.values if s.startswith("russia.")]
    assert np.array_equal(certain.severity.sel(shock=russia), half.severity.sel(shock=russia))
    assert half.occurred.sel(package="china_taiwan").mean() < 1 == certain.occurred.sel(package="china_taiwan").mean()


def test_two_dask_workers_give_identical_numbers(spec_path, serial, tmp_path):
    folder = run_sweep(spec_path, out=tmp_path, workers=2)
    assert json.loads((folder / MANIFEST).read_text())["backend"] == "dask-local"
    _assert_same_numbers(serial[0], folder)


# --- (c) resume -----------------------------------------------------------------------------------------


def _wait_for_first_cell(out: Path, proc: subprocess.Popen, timeout: float = 180.0) -> Path:
    """Poll until the sweep in ``proc`` has finished one cell; return its folder."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = list(out.glob("*/cells/[!.]*.nc"))
        if done:
            return done[0].parents[1]
        if proc.poll() is not None:
            pytest.fail(f"the sweep exited (status {proc.returncode}) before finishing a cell")
        time.sleep(0.01)
    pytest.fail("no cell finished in time")


def test_resume_after_sigkill_recomputes_only_missing_cells(spec_path, serial, tmp_path):
    out = tmp_path / "killed"
    code = f"from shockmodel.sweep import run_sweep; run_sweep({str(spec_path)!r}, out={str(out)!r})"
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        folder = _wait_for_first_cell(out, proc)
    finally:
        proc.kill()  # SIGKILL: no clean-up runs
        proc.wait()
    finished = _cell_files(folder)
    assert 0 < len(finished) < N_CELLS and not (folder / "data.nc").exists()

    run_sweep(None, resume=folder)
    computed = json.loads((folder / MANIFEST).read_text())["computed_cells"]
    assert set(computed) == {c.id for c in load_sweep_spec(spec_path).cells} - set(finished)
    assert {k: v for k, v in _cell_files(folder).items() if k in finished} == finished  # not rewritten
    _assert_same_numbers(serial[0], folder)


def test_resume_ignores_a_half_written_cell(spec_path, serial, tmp_path):
    folder = tmp_path / serial[0].name
    shutil.copytree(serial[0], folder)
    (folder / "data.nc").unlink()
    lost = sorted(_cell_files(folder))[0]
    (folder / "cells" / f"{lost}.nc").unlink()
    from shockmodel.io.results import _HOST

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    # what an atomic write killed by SIGKILL leaves behind: its process is gone, so the next writer deletes it
    partial = folder / "cells" / f".{lost}.nc.{_HOST}-{dead}.0123abcd.tmp"
    partial.write_bytes(b"\x89HDF half")
    run_sweep(spec_path, resume=folder)
    assert json.loads((folder / MANIFEST).read_text())["computed_cells"] == [lost]
    assert not partial.exists()
    _assert_same_numbers(serial[0], folder)


def test_resume_checks_the_folder_and_the_spec(spec_path, serial, tmp_path):
    with pytest.raises(UserError) as info:
        run_sweep(None, resume=tmp_path)
    assert info.value.field == "resume"
    other = _write_spec(tmp_path, {**SPEC, "seed": 4}, "other.toml")
    with pytest.raises(UserError) as info:
        run_sweep(other, resume=serial[0])
    assert (info.value.file, info.value.field) == (str(other), "resume")


def test_workers_and_scheduler_exclude_each_other(spec_path):
    with pytest.raises(UserError, match="not both"):
        run_sweep(spec_path, workers=2, scheduler="tcp://127.0.0.1:8786")


def test_draws_option_replaces_the_spec_draws(spec_path, serial, tmp_path):
    quick = load_sweep_spec(spec_path, draws=64)
    assert quick.draws == 64 and quick.to_dict()["draws"] == 64
    assert not {c.id for c in quick.cells} & {c.id for c in load_sweep_spec(spec_path).cells}
    with pytest.raises(UserError) as info:   # a resume keeps the draws it started with
        run_sweep(None, resume=serial[0], draws=64)
    assert info.value.field == "--draws"


def test_sweep_command_draws_and_terminal_summary(spec_path, tmp_path):
    from click.testing import CliRunner

    from shockmodel.cli import main

    res = CliRunner().invoke(main, ["sweep", str(spec_path), "--draws", "16", "--no-report", "-o", str(tmp_path)])
    assert res.exit_code == 0, res.output
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    ds = read_dataset(folder)
    assert ds.attrs["draws"] == 16
    assert "Sweep rho: model constrained, table default, 16 draws per cell, seed 3" in res.output
    assert "World GDP loss, percent of baseline value added" in res.output
    assert "World simultaneity premium" in res.output
    from shockmodel.report.stats import format_sig, sweep_table

    table = sweep_table(ds)
    label, values = table.rows[0]
    assert f"{label}" in res.output and format_sig(values[0], 3) in res.output
