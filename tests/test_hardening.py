"""Hostile and mistaken input, one test per failure class of issue 20: every case ends with exit status 0
and finite results, or exit status 2 and one line (no traceback), before any work where it can, and
leaves no partial folder or temporary file.

Fast cases run in-process (click's CliRunner); cases that could hang (a FIFO) run in a subprocess with a
timeout. Signals, full disks and concurrency are in tests/test_faults.py; generated inputs in
tests/test_fuzz.py.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from shockmodel import limits
from shockmodel.cli import main
from shockmodel.errors import TableError, UserError

ROOT = Path(__file__).resolve().parents[1]
TOP = 'name = "case"\n'
SHOCK = ('kind = "trade_block"\nexporters = ["TWN"]\nimporters = ["ALL"]\n'
         'severity = { dist = "pert", low = 0.6, mode = 0.85, high = 0.95 }\nsource = "test"\n')


def scenario_text(top: str = TOP, probability: str = "0.5", shock: str = SHOCK, extra: str = "") -> str:
    return f'{top}{extra}\n[packages.p]\nprobability = {probability}\nsource = "test"\n\n[packages.p.shocks.s]\n{shock}'


def invoke(*args):
    """Run the CLI in-process; return (exit code, combined output)."""
    res = CliRunner().invoke(main, [str(a) for a in args])
    return res.exit_code, res.output


def assert_one_line_error(code: int, output: str, *needles: str) -> None:
    """Exit status 2, exactly one line of output starting 'Error:', no traceback, naming ``needles``."""
    # the one-time notice of a first run in a fresh checkout (numba compiling) is not part of the outcome
    lines = [line for line in output.splitlines() if line.strip() and not line.startswith("compiling kernels")]
    assert code == 2, output
    assert len(lines) == 1 and lines[0].startswith("Error: "), output
    assert "Traceback" not in output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def cli_subprocess(*args, timeout: float = 60, cwd=None, env=None):
    """The CLI in a fresh interpreter (for cases that could hang or crash the process)."""
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg", **(env or {})}
    return subprocess.run([sys.executable, "-m", "shockmodel.cli", *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd, env=full_env)


def write(tmp_path: Path, text: str, name: str = "case.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --- silent wrong results: parameters the sampler cannot represent --------------------------------------


@pytest.mark.parametrize("sigma", ["200", "1e200", "89.0"])
def test_lognormal_sigma_that_overflows_is_rejected(tmp_path, sigma):
    shock = SHOCK.replace('severity = { dist = "pert", low = 0.6, mode = 0.85, high = 0.95 }',
                          f'severity = {{ dist = "lognormal", median = 0.5, sigma = {sigma} }}')
    path = write(tmp_path, scenario_text(shock=shock))
    for command in (("scenarios", "validate", path), ("scenarios", "show", path)):
        assert_one_line_error(*invoke(*command), "severity.sigma", "cannot be sampled")


def test_latent_range_matches_the_sampler():
    from shockmodel.sampling import TABLE_Z
    from shockmodel.scenario import LATENT_Z

    assert LATENT_Z == TABLE_Z


@pytest.mark.parametrize("kind,median,sigma", [("trade_block", 0.5, 88.0), ("inventory", 30.0, 2.0),
                                               ("duration", 6.0, 2.3)])
def test_accepted_distributions_sample_finite_values_in_range(kind, median, sigma):
    """At the edge of what validation accepts, every tabulated severity is finite and in the kind's range."""
    from shockmodel.sampling import severity_cap, severity_table
    from shockmodel.scenario import SHARE_KINDS, scenario_from_dict

    targets = {"trade_block": {"exporters": ["TWN"], "importers": ["ALL"]}}.get(kind, {})
    spec = scenario_from_dict({"name": "edge", "packages": {"p": {"probability": 0.5, "source": "t", "shocks": {
        "s": {"kind": kind, "source": "t", **targets,
              "severity": {"dist": "lognormal", "median": median, "sigma": sigma}}}}}})
    d = spec.packages[0].shocks[0].severity
    table = np.minimum(severity_table(d.dist, d.params), severity_cap(d.dist, d.params))
    assert np.isfinite(table).all()
    assert table.min() >= 0 and table.max() <= (1.0 if kind in SHARE_KINDS else 1e9)


def test_month_and_day_kinds_are_bounded(tmp_path):
    shock = ('kind = "duration"\nseverity = { dist = "uniform", low = 1, high = 1e300 }\nsource = "t"\n')
    assert_one_line_error(*invoke("scenarios", "validate", write(tmp_path, scenario_text(shock=shock))),
                          "severity", "1e+09")


@pytest.mark.parametrize("name", ['"a\\u0000b"', '"tab\\there"', '"bell\\u0007"'])
def test_control_characters_in_names_are_rejected(tmp_path, name):
    path = write(tmp_path, scenario_text(top=f"name = {name}\n"))
    assert_one_line_error(*invoke("scenarios", "validate", path), "name")


# --- numbers too large for any format ----------------------------------------------------------------------


BIG = "9" * 400


def test_huge_integers_in_a_scenario_are_rejected(tmp_path):
    assert_one_line_error(*invoke("scenarios", "validate", write(tmp_path, scenario_text(probability=BIG))),
                          "probability", "too large")
    path = write(tmp_path, scenario_text(extra=f"horizon_months = {BIG}\n"), "h.toml")
    assert_one_line_error(*invoke("scenarios", "validate", path), "horizon_months", "too large")


def test_huge_integer_in_set_is_rejected(tmp_path):
    assert_one_line_error(*invoke("run", "taiwan_blockade", "--set", f"horizon_months={BIG}", "-n", 10,
                                  "--out", tmp_path), "horizon_months", "too large")
    assert not list(tmp_path.iterdir())


def test_huge_integers_in_a_sweep_are_rejected(tmp_path):
    for body, field in ((f"[grid]\ncoordination = [{BIG}]\n", "grid.coordination"),
                        (f"draws = {BIG}\n[grid]\ncoordination = [0]\n", "draws"),
                        ("[lhs]\nsamples = 1000000\ncoordination = { low = 0, high = 1 }\n", "lhs.samples")):
        spec = write(tmp_path, f'name = "s"\nscenarios = ["taiwan_blockade"]\n{body}', "s.toml")
        t0 = time.perf_counter()
        assert_one_line_error(*invoke("sweep", spec, "--out", tmp_path / "out"), field)
        assert time.perf_counter() - t0 < 5    # said before checking a million cells
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args,needle", [(("-n", "1e30"), "--draws"), (("-n", 10**30), "--draws"),
                                         (("-s", 2**64), "--seed"), (("-s", -1), "--seed"),
                                         (("--keep-draws", 0), "--keep-draws")])
def test_absurd_draws_and_seeds_are_rejected(tmp_path, args, needle):
    assert_one_line_error(*invoke("run", "taiwan_blockade", *args, "--out", tmp_path), needle)
    assert not list(tmp_path.iterdir())


# --- deep and large input ----------------------------------------------------------------------------------


def test_deep_toml_nesting_is_rejected(tmp_path):
    deep = "x = " + "[" * 3000 + "]" * 3000 + "\n"
    assert_one_line_error(*invoke("scenarios", "validate", write(tmp_path, scenario_text(extra=deep))),
                          "nested deeper")
    dotted = "[" + ".".join(["a"] * 3000) + "]\nb = 1\n"
    assert_one_line_error(*invoke("scenarios", "validate", write(tmp_path, TOP + dotted, "d.toml")),
                          "nested deeper")


def test_long_include_chains_are_rejected(tmp_path):
    write(tmp_path, scenario_text(), "f0.toml")
    for i in range(1, 200):
        write(tmp_path, f'include = ["f{i - 1}.toml"]\n', f"f{i}.toml")
    assert_one_line_error(*invoke("scenarios", "validate", tmp_path / "f199.toml"), "include", "nest more than")


def test_deep_region_group_chains_are_rejected(tmp_path):
    groups = "".join(f'G{i} = ["G{i + 1}"]\n' for i in range(3000)) + 'G3000 = ["TWN"]\n'
    text = scenario_text(extra=f"[region_groups]\n{groups}")
    t0 = time.perf_counter()
    assert_one_line_error(*invoke("scenarios", "validate", write(tmp_path, text)), "region_groups", "nest more")
    assert time.perf_counter() - t0 < 10


def test_too_many_packages_are_rejected_at_once(tmp_path):
    packages = "".join(f'[packages.p{i}]\nprobability = 0.5\nsource = "t"\n[packages.p{i}.shocks.s]\n{SHOCK}\n'
                       for i in range(10_000))
    t0 = time.perf_counter()
    code, out = invoke("run", write(tmp_path, TOP + packages), "-n", 512, "--out", tmp_path / "out")
    assert_one_line_error(code, out)
    assert "packages" in out and time.perf_counter() - t0 < 20
    assert not (tmp_path / "out").exists()


def test_oversized_file_is_rejected(tmp_path):
    text = scenario_text() + "# padding\n" * (limits.MAX_FILE_BYTES // 10 + 10)
    assert_one_line_error(*invoke("scenarios", "validate", write(tmp_path, text)), "too large")


def test_fifo_and_device_as_scenario_do_not_hang(tmp_path):
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/zero"):
        res = cli_subprocess("scenarios", "validate", path, timeout=60)
        assert_one_line_error(res.returncode, res.stderr + res.stdout, "not a regular file")


def test_market_parameter_files_are_read_through_the_size_capped_reader(tmp_path):
    """--markets FILE: a pipe or device does not hang, an oversized or too deeply nested file is one line
    (limits.read_input_file, limits.parse_toml), and nothing is computed or written."""
    fifo = tmp_path / "pipe.toml"
    os.mkfifo(fifo)
    out = tmp_path / "out"
    for path in (fifo, "/dev/zero"):
        res = cli_subprocess("run", "taiwan_blockade", "-n", 256, "-m", "leontief", "--no-report", "-q",
                             "--out", out, "--markets", path, timeout=120)
        assert_one_line_error(res.returncode, res.stderr + res.stdout, str(path), "not a regular file")
    big = write(tmp_path, "# padding\n" * (limits.MAX_FILE_BYTES // 10 + 10), "big.toml")
    deep = write(tmp_path, "x = " + "[" * (limits.MAX_TOML_DEPTH + 5) + "]" * (limits.MAX_TOML_DEPTH + 5) + "\n",
                 "deep.toml")
    for path, needle in ((big, "too large"), (deep, "nested deeper"), (tmp_path, "is a directory"), (tmp_path / "none.toml", "no such file")):
        assert_one_line_error(*_fast_run(out, "--markets", path), needle)
    assert not out.exists()


def test_backtest_cases_and_concordances_are_read_through_the_size_capped_reader(tmp_path):
    from shockmodel import backtest
    from shockmodel.io.pymrio_bridge import read_concordance

    big = write(tmp_path, "# padding\n" * (limits.MAX_FILE_BYTES // 10 + 10), "case.toml")
    with pytest.raises(UserError, match="too large"):
        backtest.load_case(str(big))
    with pytest.raises(TableError, match="not a regular file"):
        read_concordance("/dev/zero")
    with pytest.raises(TableError, match="too large"):
        read_concordance(write(tmp_path, "a,b\n" * (limits.MAX_FILE_BYTES // 4 + 10), "map.csv"))
    assert read_concordance(write(tmp_path, "\ufeffsource,target\nx, y\n", "ok.csv")) == {"x": "y"}


# --- destinations checked before computing ---------------------------------------------------------------


def _fast_run(out, *extra):
    return invoke("run", "taiwan_blockade", "-n", 256, "-m", "leontief", "--no-report", "-q", "--out", out, *extra)


def test_bad_destinations_fail_before_computing(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("x")
    for out, needle in ((a_file / "sub", "is a file"), ("/dev/null", "not a folder"),
                        (tmp_path / ("n" * 300), "longer than 255"), (a_file, "is a file")):
        code, output = _fast_run(out)
        assert_one_line_error(code, output, needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a read-only file system needs root")
def test_read_only_destination_fails_before_computing(tmp_path):
    mnt = tmp_path / "ro"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount tmpfs here")
    try:
        assert_one_line_error(*_fast_run(mnt / "results"), "Read-only file system")
    finally:
        subprocess.run(["umount", str(mnt)])


def test_identical_runs_in_the_same_second_get_distinct_folders(tmp_path):
    from shockmodel import pipeline

    ds = pipeline.run("taiwan_blockade", draws=256, seed=1, model="leontief", markets=None)
    folders = [pipeline.write_run(ds, None, tmp_path, report=False).folder for _ in range(3)]
    assert len(set(folders)) == 3 and all(f.is_dir() for f in folders)
    assert {json.loads((f / "manifest.json").read_text())["run_id"] for f in folders} == {f.name for f in folders}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_a_failed_write_leaves_no_folder_and_no_temporary(tmp_path, monkeypatch):
    from shockmodel import pipeline
    from shockmodel.report import build

    ds = pipeline.run("taiwan_blockade", draws=256, seed=1, model="leontief", markets=None)

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(build, "build_report", full_disk)
    with pytest.raises(UserError, match="no space left"):
        pipeline.write_run(ds, None, tmp_path, report=True)
    assert list(tmp_path.iterdir()) == []


def test_free_space_is_checked_before_hdf5_writes(tmp_path, monkeypatch):
    from shockmodel import pipeline
    from shockmodel.io import results

    ds = pipeline.run("taiwan_blockade", draws=256, seed=1, model="leontief", markets=None)
    monkeypatch.setattr(results, "SPACE_EXTRA", 1 << 60)
    with pytest.raises(UserError, match="not enough free space"):
        pipeline.write_run(ds, None, tmp_path, report=False)
    assert list(tmp_path.iterdir()) == []


def test_stale_temporaries_of_dead_writers_are_cleaned(tmp_path):
    from shockmodel.io import results

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    stale_file = tmp_path / f".data.nc.{results._HOST}-{dead}.0123abcd.tmp"
    stale_dir = tmp_path / f".run.{results._HOST}-{dead}.0123abcd.partial"
    live_file = tmp_path / f".data.nc.{results._HOST}-{os.getpid()}.0123abcd.tmp"
    stale_file.write_text("x")
    stale_dir.mkdir()
    (tmp_path / "run").mkdir()    # its empty claimed folder
    live_file.write_text("x")
    results.clean_stale(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [live_file.name]


# --- files that are not what they claim -----------------------------------------------------------------


def test_report_on_foreign_files_is_one_line(tmp_path):
    import h5py
    import xarray as xr

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    xr.Dataset({"t": ("x", np.arange(3.0))}, attrs={"title": "weather"}).to_netcdf(foreign / "data.nc",
                                                                                   engine="h5netcdf")
    hdf = tmp_path / "hdf"
    hdf.mkdir()
    with h5py.File(hdf / "data.nc", "w") as f:
        f["a"] = np.arange(4)
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "data.nc").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    for folder, needle in ((foreign, "not a shockmodel result"), (hdf, "not a shockmodel result"),
                           (garbage, "not a readable")):
        assert_one_line_error(*invoke("report", folder), needle)
        assert not (folder / "report").exists()


def _table_npz(path: Path, **changes):
    from shockmodel.io.tables import load_table, write_npz

    write_npz(load_table("default"), path)
    with np.load(path) as f:
        data = {k: f[k] for k in f.files}
    data.update(changes)
    np.savez(path, **data)
    return path


def test_complex_table_is_rejected(tmp_path):
    from shockmodel.io.tables import read_npz

    with np.load(_table_npz(tmp_path / "t.npz")) as f:
        z = f["Z"]
    path = _table_npz(tmp_path / "c.npz", Z=z.astype(complex) + 1j)
    with pytest.raises(TableError, match="complex values in Z"):
        read_npz(path)


def test_malformed_table_metadata_is_one_line(tmp_path):
    path = _table_npz(tmp_path / "m.npz", meta_json=np.array("{not json"))
    assert_one_line_error(*invoke("table", "info", path), "meta_json", "not valid JSON")


# --- click's own errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [("run", "x", "--draws", "many"), ("run", "x", "--bogus"), ("nosuchcommand",),
                                  ("run",), ("run", "x", "--model", "magic")])
def test_option_errors_are_one_line(args):
    assert_one_line_error(*invoke(*args))


# --- statistics over every draw -----------------------------------------------------------------------------


def test_market_summaries_cover_every_draw_whatever_keep_draws():
    from shockmodel import pipeline

    full = pipeline.run("combined_coordinated", draws=5000, seed=7)
    kept = pipeline.run("combined_coordinated", draws=5000, seed=7, keep_draws=1000)
    assert kept.attrs["draws_kept"] == 1000 and kept.sizes["draw"] == 1000
    for name in ("price_change_pct_summary", "equity_drawdown_pct_summary"):
        np.testing.assert_array_equal(kept[name].values, full[name].values)
    np.testing.assert_array_equal(kept.price_change_pct.values, full.price_change_pct.values[:1000])


def test_piecewise_write_gives_the_same_file_contents(tmp_path, monkeypatch):
    """data.nc written variable by variable (interruptible between them) reads back identical, but for
    the per-draw variables stored in single precision (named in the dataset), which read back as the
    nearest float32."""
    import xarray as xr

    from shockmodel import pipeline
    from shockmodel.io import results

    monkeypatch.setattr(results, "PIECE_BYTES", 1000)
    ds = pipeline.run("combined_coordinated", draws=600, seed=1, model="leontief")
    folder = pipeline.write_run(ds, None, tmp_path, report=False).folder
    with xr.open_dataset(folder / "data.nc", engine="h5netcdf") as back:
        back = back.load()
    assert set(back.coords) == set(ds.coords) and set(back.data_vars) == set(ds.data_vars)
    assert back.attrs == ds.attrs
    narrow = set(ds.attrs["stored_float32"].split(","))
    assert narrow == set(results.FLOAT32_DRAWS) & set(ds.data_vars) and "price_change_pct" in narrow
    for name, var in ds.variables.items():
        assert back[name].dims == var.dims and back[name].attrs == var.attrs, name
        if name in narrow:   # single precision: the nearest float32, within 2^-24 of the value
            assert back[name].dtype == np.float32
            np.testing.assert_array_equal(back[name].values, var.values.astype(np.float32))
            np.testing.assert_allclose(back[name].values, var.values, rtol=2.0 ** -24, atol=0)
        else:
            np.testing.assert_array_equal(back[name].values, var.values)


def test_errors_stay_one_line_whatever_the_input():
    err = UserError("bad\nvalue\u2028here", file="a\x1eb.toml", field="x\x1cy")
    assert len(str(err).splitlines()) == 1
    assert "\\x1e" in str(err) and "\\x1c" in str(err)


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_severities_are_checked_again_before_propagation(default_table):
    """The engine's own check: a distribution that slipped past validation cannot reach the kernels."""
    from dataclasses import replace

    from shockmodel import engine
    from shockmodel.scenario import Distribution, compile_scenario, load_scenario

    compiled = compile_scenario(load_scenario("taiwan_blockade"), default_table)
    shock = compiled.shocks[0]
    bad = replace(shock, severity=Distribution("lognormal", (0.0, 200.0, float("inf"))))
    with pytest.raises(UserError, match="cannot be sampled"):
        engine.make_plan(replace(compiled, shocks=(bad, *compiled.shocks[1:])), default_table, model="leontief")
