"""The example notebooks run without errors on a few draws, and are committed without outputs.

Each notebook is executed with nbclient on the ``python3`` kernel of this interpreter, in a temporary
working directory (nothing is left in the repository), with ``SHOCKMODEL_NB_DRAWS`` set to a small number
(the notebooks' parameter cell reads it) and matplotlib's Agg backend.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
EXPECTED = {"01_quickstart.ipynb", "02_taiwan_semiconductors.ipynb", "03_combined_crisis.ipynb"}
DRAWS = 256
TIMEOUT_S = 300


def test_expected_notebooks_exist():
    assert EXPECTED <= {p.name for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, cell in enumerate(nb.cells)
             if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count") is not None)]
    assert not dirty, f"{path.name}: code cells {dirty} have outputs or execution counts; clear them before committing"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_draws_parameter(path):
    nb = nbformat.read(path, as_version=4)
    params = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert params and "SHOCKMODEL_NB_DRAWS" in params[0].source, f"{path.name}: no parameter cell reading SHOCKMODEL_NB_DRAWS"


@pytest.fixture
def notebook_env(monkeypatch):
    """The kernel inherits os.environ: small draws, a non-interactive backend, this interpreter first."""
    monkeypatch.setenv("SHOCKMODEL_NB_DRAWS", str(DRAWS))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PATH", os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_executes(path, tmp_path, notebook_env):
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=TIMEOUT_S, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:   # names the cell and the traceback
        pytest.fail(f"{path.name} failed:\n{exc}")
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors, f"{path.name}: {errors[0].get('ename')}: {errors[0].get('evalue')}"
    assert list(tmp_path.iterdir()) == [], f"{path.name} left files in its working directory"
    # nothing was written next to the committed notebooks either
    assert {p.name for p in NOTEBOOK_DIR.iterdir() if not p.name.startswith(".")} <= {p.name for p in NOTEBOOKS}
