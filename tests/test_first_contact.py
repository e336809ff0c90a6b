"""First contact: the CLI says once that the first run on a machine compiles the kernels, and no output
of the CLI names a development path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from shockmodel import jitcache
from shockmodel.cli import main

NOTICE = "compiling kernels once"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def fresh_marker(tmp_path, monkeypatch):
    """A marker location of its own, so the test sees a machine where no run has completed yet."""
    monkeypatch.setattr(jitcache, "_marker", lambda model: tmp_path / f"shockmodel-{model}.compiled")
    return tmp_path


def test_notice_until_a_run_completes(fresh_marker, tmp_path):
    assert jitcache.needs_compile("leontief")
    args = ["run", "baseline", "-n", "10", "-m", "leontief", "--no-report", "-q", "-o", str(tmp_path / "out")]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    assert first.output.count(NOTICE) == 1
    assert not jitcache.needs_compile("leontief") and jitcache.needs_compile("constrained")
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 0 and NOTICE not in second.output


def test_failed_run_leaves_no_marker(fresh_marker, tmp_path):
    res = CliRunner().invoke(main, ["run", "no_such_scenario", "-n", "10", "-m", "leontief", "-o", str(tmp_path)])
    assert res.exit_code == 2 and jitcache.needs_compile("leontief")


def test_marker_names_the_kernel_source():
    """A changed kernel source or numba version gives another marker name (the cache is stale then)."""
    marker = jitcache._marker("constrained")
    assert marker is not None and marker.name.startswith("shockmodel-constrained-")
    assert marker.parent == Path(jitcache._dispatcher()._cache._cache_path)


def test_empty_numba_cache_is_seen_in_a_fresh_process(tmp_path):
    """With an empty numba cache (NUMBA_CACHE_DIR) a run would compile: the check says so without
    compiling anything (compiling takes about a minute; the marker tests above cover the rest)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba"), "PYTHONPATH": str(ROOT)}
    code = "from shockmodel import jitcache; print(jitcache.needs_compile('leontief'), jitcache._marker('leontief'))"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    needs, marker = out.stdout.split()
    assert needs == "True" and marker.startswith(str(tmp_path / "numba"))


DEV_MARKERS = ("shared/data", "../shared", str(ROOT))


def _dev_paths(text: str) -> list[str]:
    return [m for m in DEV_MARKERS if m in text]


@pytest.mark.parametrize("args", [["scenarios", "list"], ["scenarios", "show", "taiwan_blockade"],
                                  ["scenarios", "validate", "combined_coordinated"], ["table", "list"]])
def test_cli_output_names_no_development_path(args):
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert not _dev_paths(res.output), res.output


def test_result_folder_names_no_development_path(tmp_path):
    """Every text file of a result folder (manifest, resolved scenario, report) and the dataset's
    attributes are free of checkout and shared-data paths."""
    import shockmodel as sm
    from shockmodel.pipeline import write_run
    from shockmodel.scenario import load_scenario

    spec = load_scenario("taiwan_blockade")
    ds = sm.run(spec, draws=256, seed=0, model="leontief")
    out = write_run(ds, spec, tmp_path, formats=("html",))
    for path in out.folder.rglob("*"):
        if path.suffix in (".json", ".toml", ".html"):
            assert not _dev_paths(path.read_text(encoding="utf-8")), path.name
    attrs = [str(v) for v in ds.attrs.values()] + [str(v) for var in ds.variables.values() for v in var.attrs.values()]
    assert not _dev_paths("\n".join(attrs))
