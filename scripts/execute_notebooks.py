"""Execute the example notebooks and save them with their outputs, so a reader browsing the repository
sees the tables and figures without running anything.

    python scripts/execute_notebooks.py [NOTEBOOK ...]      # default: every notebooks/*.ipynb

Each notebook runs top to bottom with nbclient on the ``python3`` kernel, in a temporary working folder,
with the draw count of its parameter cell (``SHOCKMODEL_NB_DRAWS`` unset: the notebook's own default).
Figures are embedded as PNG. The notebook's metadata records the draws and a digest of its code cells
(``metadata.shockmodel``), so tests/test_notebooks.py can tell when code changed without a re-run. A
notebook whose file would exceed ``MAX_BYTES`` is not written.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_BYTES = 1_000_000


def code_digest(nb) -> str:
    """sha256 of the notebook's code cells, in order (what the outputs were made from)."""
    h = hashlib.sha256()
    for cell in nb.cells:
        if cell.cell_type == "code":
            h.update(cell.source.encode() + b"\0")
    return h.hexdigest()


def execute(path: Path) -> int:
    import nbclient
    import nbformat

    nb = nbformat.read(path, as_version=4)
    env_draws = os.environ.pop("SHOCKMODEL_NB_DRAWS", None)
    os.environ.pop("MPLBACKEND", None)          # figures come from %matplotlib inline
    try:
        with tempfile.TemporaryDirectory() as tmp:
            client = nbclient.NotebookClient(nb, timeout=900, kernel_name="python3", record_timing=False,
                                             resources={"metadata": {"path": tmp}})
            client.execute()
    finally:
        if env_draws is not None:
            os.environ["SHOCKMODEL_NB_DRAWS"] = env_draws
    nb.metadata["shockmodel"] = {"executed_by": "scripts/execute_notebooks.py", "code_sha256": code_digest(nb)}
    nb.metadata.get("language_info", {}).pop("version", None)   # keep diffs to what matters
    text = nbformat.writes(nb) + "\n"
    if len(text.encode()) > MAX_BYTES:
        print(f"{path.name}: {len(text.encode()):,} bytes > {MAX_BYTES:,}; not written", file=sys.stderr)
        return 1
    path.write_text(text, encoding="utf-8")
    print(f"{path.relative_to(ROOT)}: {len(text.encode()):,} bytes")
    return 0


def main(argv: list[str]) -> int:
    paths = [Path(a).resolve() for a in argv] or sorted((ROOT / "notebooks").glob("*.ipynb"))
    return max((execute(p) for p in paths), default=0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
