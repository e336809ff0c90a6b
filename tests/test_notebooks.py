"""The example notebooks are shipped executed (outputs and figures embedded, so a reader browsing the
repository sees them) and still run without errors on a few draws.

Committed notebooks: every code cell ran, in order, without errors, figures are embedded as PNG, the file
stays under 1 MB and names no local path, and the code cells are those the outputs were made from
(``metadata.shockmodel.code_sha256``, written by ``scripts/execute_notebooks.py``; after editing a
notebook, run that script). Execution: each notebook is run with nbclient on the ``python3`` kernel of this
interpreter, in a temporary working directory (nothing is left in the repository and the committed file is
not rewritten), with ``SHOCKMODEL_NB_DRAWS`` set to a small number (the notebooks' parameter cell reads
it) and matplotlib's Agg backend.
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


MAX_BYTES = 1_000_000
LOCAL_PATHS = ("/tmp/", "/home/", "/work/", "/Users/", "site-packages", "shared/data", str(NOTEBOOK_DIR.parent))


def _code_digest(nb) -> str:
    sys.path.insert(0, str(NOTEBOOK_DIR.parent / "scripts"))
    try:
        from execute_notebooks import code_digest
    finally:
        sys.path.pop(0)
    return code_digest(nb)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_committed_executed(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.get("execution_count") for c in code] == list(range(1, len(code) + 1)), \
        f"{path.name}: not executed top to bottom; run scripts/execute_notebooks.py"
    outputs = [o for c in code for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error" or o.get("name") == "stderr"]
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 3, f"{path.name}: figures are not embedded"
    assert nb.metadata.get("shockmodel", {}).get("code_sha256") == _code_digest(nb), \
        f"{path.name}: code changed since its outputs were made; run scripts/execute_notebooks.py"
    assert path.stat().st_size < MAX_BYTES
    text = path.read_text(encoding="utf-8")
    assert not [p for p in LOCAL_PATHS if p in text], f"{path.name}: outputs name a local path"


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
