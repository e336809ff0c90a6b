"""A clone alone rebuilds every shipped table bit for bit: ``python scripts/build_tables.py --out DIR``,
then a byte comparison with params/mrio/ (the script reads only data/sources/ and params/)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_rebuild_is_byte_identical(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_tables.py"), "--out", str(tmp_path)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr
    shipped = sorted(p.name for p in (ROOT / "params" / "mrio").glob("*.npz"))
    built = sorted(p.name for p in tmp_path.glob("*.npz"))
    assert built == shipped
    for name in shipped:
        assert (tmp_path / name).read_bytes() == (ROOT / "params" / "mrio" / name).read_bytes(), name
