"""Where shipped parameters live (L0). An installed wheel carries them as ``shockmodel/_params``;
a source checkout (``pip install -e .``) uses the repository's ``params/``."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def params_dir() -> Path:
    """The folder holding ``mrio/``, ``scenarios/``, ``sweeps/``, ``markets/`` and the TOML parameters."""
    packaged = _PACKAGE / "_params"
    return packaged if packaged.is_dir() else _PACKAGE.parent / "params"


def display_path(file: str | Path) -> str:
    """``file`` as users should read it: a shipped parameter file as ``params/...``, a file below the working
    directory relative to it, anything else as given (no installation or checkout paths in messages)."""
    path = Path(file)
    for base, shown in ((params_dir(), "params/"), (Path.cwd(), "")):
        try:
            return shown + path.resolve().relative_to(base.resolve()).as_posix()
        except (ValueError, OSError):
            continue
    return str(file)


def sources_dir() -> Path:
    """The source arrays the tables are built from (``data/sources/`` of the repository; an installed wheel
    carries them as ``shockmodel/_sources``)."""
    packaged = _PACKAGE / "_sources"
    return packaged if packaged.is_dir() else _PACKAGE.parent / "data" / "sources"
