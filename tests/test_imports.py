"""Layering: the CLI starts without heavy imports, and import-linter's contracts hold."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("numba", "xarray", "matplotlib")


def _modules_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys; print(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return set(out.stdout.split())


def test_cli_import_is_light():
    mods = _modules_after("import shockmodel.cli")
    assert not [m for m in HEAVY if m in mods]


def test_help_is_light():
    code = ("import sys\nfrom shockmodel.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass")
    mods = _modules_after(code)
    assert not [m for m in HEAVY if m in mods]


def test_import_contracts():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(exe).exists():
        pytest.skip("import-linter not installed")
    res = subprocess.run([exe, "--no-cache"], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
