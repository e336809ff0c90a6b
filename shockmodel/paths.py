"""Where shipped parameters live (L0). An installed wheel carries them as ``shockmodel/_params``;
a source checkout (``pip install -e .``) uses the repository's ``params/``."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def params_dir() -> Path:
    """The folder holding ``mrio/``, ``scenarios/``, ``sweeps/``, ``markets/`` and the TOML parameters."""
    packaged = _PACKAGE / "_params"
    return packaged if packaged.is_dir() else _PACKAGE.parent / "params"
