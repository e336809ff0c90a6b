"""Faults from outside: full disks, signals at random points of a run and of a sweep, and several processes
on one output folder. Every case ends with exit status 0 (complete results) or 2 / 130 with one line,
leaves no partial folder or temporary file, and an interrupted sweep resumes bit for bit.

The CLI runs in subprocesses where the fault needs its own process (signals, resource limits, several
processes at once); a full disk (the file system's state), a follow-up command that only reads what a
fault left (the next run, a refused resume, a resume that only assembles) and the missing-package check
run in this process. Random points are drawn from a seeded generator, so a failure can be replayed.
"""

from __future__ import annotations

import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from click.testing import CliRunner

from shockmodel.cli import main
from shockmodel.io.results import read_dataset

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
RUN = ("run", "taiwan_blockade", "-m", "leontief", "--markets", "none", "-q", "--no-report")
SPEC = {"name": "faults", "scenarios": ["taiwan_blockade"], "draws": 512, "seed": 5, "model": "leontief",
        "markets": "none", "grid": {"packages.china_taiwan.probability": [0.2, 0.5, 0.8, 1.0]}}
N_CELLS = 4
INTERRUPTED = "Interrupted"

pytestmark = pytest.mark.slow


def cli(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "shockmodel.cli", *map(str, args)], env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen, timeout: float = 600) -> tuple[int, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, (out or "") + (err or "")


def one_line(output: str) -> str:
    # the one-time notice of a first run in a fresh checkout (numba compiling) is not part of the outcome
    lines = [line for line in output.splitlines() if line.strip() and not line.startswith("compiling kernels")]
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]


def leftovers(out: Path) -> list[Path]:
    """Temporary files and folders (names starting with '.') anywhere under ``out``, locks aside."""
    return [p for p in out.rglob(".*") if p.name != ".lock"]


def wait_for(predicate, proc: subprocess.Popen, timeout: float = 300) -> bool:
    """Poll ``predicate()`` until true; False if the process ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    pytest.fail("timed out waiting for the process")


# --- full disk --------------------------------------------------------------------------------------------


@pytest.fixture
def tiny_fs(tmp_path):
    """A 2 MB tmpfs (needs root); skipped elsewhere (the file-size-limit test covers the same path)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)]).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield mnt
    subprocess.run(["umount", str(mnt)])


# A full disk is the file system's state, not the process's: these two run the CLI in this process.
def test_full_disk_is_one_line_and_leaves_nothing(tiny_fs):
    res = CliRunner().invoke(main, [*RUN, "-n", "20000", "--out", str(tiny_fs / "results")])
    assert res.exit_code == 2 and "not enough free space" in one_line(res.output)
    assert [p for p in tiny_fs.rglob("*") if p.is_file()] == []
    assert not [p for p in (tiny_fs / "results").iterdir()] if (tiny_fs / "results").exists() else True


def test_full_disk_during_the_report_is_one_line_and_leaves_nothing(tiny_fs):
    filler = tiny_fs / "filler"
    st = os.statvfs(tiny_fs)
    # leave room for data.nc of a small run (about 0.3 MB with the free-space margin), not for the report
    filler.write_bytes(b"\0" * (st.f_bavail * st.f_frsize - (900 << 10)))
    res = CliRunner().invoke(main, ["run", "taiwan_blockade", "-m", "leontief", "-q", "-n", "256",
                                    "--out", str(tiny_fs / "results")])
    assert res.exit_code == 2 and "Error:" in one_line(res.output)
    assert sorted(p.name for p in tiny_fs.rglob("*")) in (["filler"], ["filler", "results"])


def test_file_size_limit_is_one_line_and_leaves_nothing(tmp_path):
    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    proc = subprocess.Popen([sys.executable, "-m", "shockmodel.cli", *RUN, "-n", "20000", "--out", str(tmp_path)],
                            env=ENV, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=limit)
    code, output = finish(proc)
    assert code == 2 and "file-size limit" in one_line(output)
    assert list(tmp_path.iterdir()) == []


# --- signals during a run -------------------------------------------------------------------------------


# While computing, SIGINT (Ctrl-C in a terminal) and SIGTERM (a scheduler's stop) both reach the run
# through cli._interrupt, and both are sent there; while writing, io.results.deferred_signals holds
# either signal with one handler, so one of them stands for both.
@pytest.mark.parametrize("sig, point", [(signal.SIGINT, "compute"), (signal.SIGTERM, "compute"),
                                        (signal.SIGTERM, "write")])
def test_interrupted_run_stops_with_130_and_leaves_nothing(tmp_path, sig, point):
    rng = random.Random(f"{sig}-{point}")
    proc = cli(*RUN, "-n", 200_000, "--out", tmp_path)
    if point == "write":   # as soon as data.nc is being written in the hidden staging folder
        wait_for(lambda: any(tmp_path.glob(".*.partial/.data.nc.*")), proc)
    else:                  # at a random moment after start-up (imports take about a second)
        time.sleep(rng.uniform(1.0, 4.0))
    if proc.poll() is None:
        proc.send_signal(sig)
    code, output = finish(proc)
    if code == 0:          # it finished first: then the folder is complete
        (folder,) = tmp_path.iterdir()
        assert (folder / "data.nc").is_file() and (folder / "manifest.json").is_file()
    else:
        assert code == 130 and INTERRUPTED in one_line(output)
        assert list(tmp_path.iterdir()) == []
    assert leftovers(tmp_path) == []


def test_sigkill_leftovers_are_cleaned_by_the_next_run(tmp_path):
    proc = cli(*RUN, "-n", 200_000, "--out", tmp_path)
    staged = wait_for(lambda: any(tmp_path.glob(".*.partial/.data.nc.*")), proc)
    proc.kill()
    proc.wait()
    if staged:
        assert leftovers(tmp_path)          # the kill left its staging folder (nothing can clean on SIGKILL)
    res = CliRunner().invoke(main, [*RUN, "-n", "256", "--out", str(tmp_path)])   # the next run: any process
    assert res.exit_code == 0, res.output
    assert leftovers(tmp_path) == []
    folders = [p for p in tmp_path.iterdir()]
    assert len(folders) == 1 and (folders[0] / "data.nc").is_file()   # the killed run's claim is gone too


# --- signals during a sweep, then resume --------------------------------------------------------------


@pytest.fixture(scope="module")
def spec_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("spec") / "faults.toml"
    path.write_text(tomli_w.dumps(SPEC))
    return path


@pytest.fixture(scope="module")
def reference(spec_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    code, output = finish(cli("sweep", spec_file, "--out", out, "-q", "--no-report"))
    assert code == 0, output
    (folder,) = out.iterdir()
    return folder


def same_numbers(a: Path, b: Path) -> None:
    da, db = read_dataset(a), read_dataset(b)
    assert set(da.variables) == set(db.variables)
    for name in da.variables:
        x, y = da[name].values, db[name].values
        assert np.array_equal(x, y, equal_nan=x.dtype.kind == "f"), name


def cells_done(out: Path) -> int:
    return len(list(out.glob("*/cells/[!.]*.nc")))


# SIGINT and SIGTERM end a sweep through the same KeyboardInterrupt (the run cases above send both);
# SIGKILL leaves what no handler could clean.
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_interrupted_sweep_resumes_bit_for_bit(spec_file, reference, tmp_path, sig):
    rng = random.Random(int(sig))
    after = rng.randrange(N_CELLS - 1)       # signal once this many cells are done, plus a random delay
    proc = cli("sweep", spec_file, "--out", tmp_path, "-q", "--no-report")
    wait_for(lambda: cells_done(tmp_path) >= after and any(tmp_path.glob("*/manifest.json")), proc)
    time.sleep(rng.uniform(0.0, 0.5))
    if proc.poll() is None:
        proc.send_signal(sig)
    code, output = finish(proc)
    if sig != signal.SIGKILL and code != 0:
        assert code == 130 and INTERRUPTED in one_line(output)
    folders = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    if folders:
        (folder,) = folders
        code, output = finish(cli("sweep", "--resume", folder, "-q", "--no-report"))
    else:   # interrupted while the folder was being set up: it was removed, so start again
        code, output = finish(cli("sweep", spec_file, "--out", tmp_path, "-q", "--no-report"))
        (folder,) = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    assert code == 0, output
    assert leftovers(tmp_path) == []
    same_numbers(reference, folder)


def test_resume_refuses_a_changed_scenario(tmp_path):
    scenario = tmp_path / "mine.toml"
    scenario.write_text('name = "mine"\ninclude = ["taiwan_blockade"]\n')
    spec = tmp_path / "s.toml"
    spec.write_text(tomli_w.dumps({**SPEC, "scenarios": ["mine.toml"]}))
    out = tmp_path / "out"
    proc = cli("sweep", spec, "--out", out, "-q", "--no-report")
    wait_for(lambda: cells_done(out) >= 1, proc)
    proc.kill()
    proc.wait()
    (folder,) = [p for p in out.iterdir() if not p.name.startswith(".")]
    scenario.write_text('name = "mine"\ninclude = ["taiwan_blockade"]\nhorizon_months = 6\n')
    res = CliRunner().invoke(main, ["sweep", "--resume", str(folder), "-q", "--no-report"])   # a user error
    assert res.exit_code == 2 and "scenario files changed" in one_line(res.output)


# --- several processes on one folder ---------------------------------------------------------------------


@pytest.mark.parametrize("n", [4])   # four at once: every pair of them races too
def test_concurrent_identical_runs_get_their_own_folders(tmp_path, n):
    procs = [cli(*RUN, "-n", 256, "--seed", 1, "--out", tmp_path) for _ in range(n)]
    results = [finish(p) for p in procs]
    assert all(code == 0 for code, _ in results), results
    folders = sorted(tmp_path.iterdir())
    assert len(folders) == n and all((f / "data.nc").is_file() for f in folders)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("n", [4])   # four at once: every pair of them races too
def test_concurrent_resumes_do_not_race(spec_file, reference, tmp_path, n):
    proc = cli("sweep", spec_file, "--out", tmp_path, "-q", "--no-report")
    wait_for(lambda: cells_done(tmp_path) >= 1, proc)
    proc.kill()
    proc.wait()
    (folder,) = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    results = [finish(p) for p in [cli("sweep", "--resume", folder, "-q", "--no-report") for _ in range(n)]]
    for code, output in results:
        assert code == 0 or (code == 2 and "another process" in one_line(output)), output
    assert any(code == 0 for code, _ in results)
    res = CliRunner().invoke(main, ["sweep", "--resume", str(folder), "-q", "--no-report"])   # assembles only
    assert res.exit_code == 0, res.output
    assert leftovers(tmp_path) == []
    same_numbers(reference, folder)


def test_concurrent_identical_sweeps_get_their_own_folders(spec_file, tmp_path):
    results = [finish(p) for p in [cli("sweep", spec_file, "--out", tmp_path, "-q", "--no-report") for _ in range(2)]]
    assert all(code == 0 for code, _ in results), results
    assert len([p for p in tmp_path.iterdir()]) == 2


def test_workers_without_distributed_leave_no_folder(spec_file, tmp_path, monkeypatch):
    """With dask.distributed made unimportable, --workers gives the install hint and creates nothing (in
    this process: the import is hidden for the test only, and restored after it)."""
    import importlib.util

    find = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "distributed" else find(name, *a))
    monkeypatch.setitem(sys.modules, "distributed", None)
    res = CliRunner().invoke(main, ["sweep", str(spec_file), "--workers", "2", "--out", str(tmp_path / "out"), "-q"])
    assert res.exit_code == 2 and "pip install 'shockmodel[distributed]'" in one_line(res.output)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("group", [False, True], ids=["main-process", "whole-group"])
def test_interrupted_dask_sweep_stops_with_130_and_resumes_bit_for_bit(spec_file, reference, tmp_path, group):
    """SIGINT during a sweep on a local dask cluster (``--workers 2``): to the main process alone, or to
    the whole process group as Ctrl-C in a terminal sends it (the workers get it too). Exit 130 with one
    line, no temporaries, and ``--resume`` on the cluster finishes with the numbers of an uninterrupted
    run, serial or not (plans are built with BLAS on one thread, as on dask's workers)."""
    proc = subprocess.Popen([sys.executable, "-m", "shockmodel.cli", "sweep", str(spec_file), "--workers", "2",
                             "--out", str(tmp_path), "-q", "--no-report"], env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    wait_for(lambda: cells_done(tmp_path) >= 1, proc)
    if proc.poll() is None:
        if group:
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGINT)
    code, output = finish(proc, timeout=120)
    if code != 0:   # 0 only if every cell was done before the signal arrived
        assert code == 130 and INTERRUPTED in one_line(output), output
    assert leftovers(tmp_path) == []
    (folder,) = [p for p in tmp_path.iterdir() if not p.name.startswith(".")]
    code, output = finish(cli("sweep", "--resume", folder, "--workers", "2", "-q", "--no-report"))
    assert code == 0, output
    assert leftovers(tmp_path) == []
    same_numbers(reference, folder)
