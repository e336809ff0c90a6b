"""Result folders (L5): ``results/<UTC time>-<scenario>-<hash8>/`` with ``manifest.json``, ``inputs/``,
``data.nc`` and ``report/`` (docs/architecture.md, "result folders"). Every file is written atomically: a temporary file in
the same folder, then ``os.replace``, so an interrupted run never leaves a half-written file behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from shockmodel.errors import UserError

DATA_FILE = "data.nc"
MANIFEST = "manifest.json"


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it onto ``path``, else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix or ".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, obj) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_dataset(ds, path: str | os.PathLike) -> Path:
    """Write an xarray Dataset to NetCDF4 (h5netcdf engine), atomically, with light compression."""
    encoding = {name: {"zlib": True, "complevel": 1} for name, v in ds.data_vars.items()
                if v.dtype.kind in "fiu" and v.size > 1024}
    with atomic_path(path, suffix=".nc") as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf", encoding=encoding)
    return Path(path)


def read_dataset(folder_or_file: str | os.PathLike):
    """Open ``data.nc`` of a run or sweep folder (or a .nc file) fully into memory."""
    import xarray as xr

    p = Path(folder_or_file)
    f = p / DATA_FILE if p.is_dir() else p
    if not f.is_file():
        raise UserError(f"no {DATA_FILE} here (expected a run or sweep folder)", file=str(p))
    with xr.open_dataset(f, engine="h5netcdf") as ds:
        return ds.load()


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:60] or "run"


def run_id(scenario: str, *parts: object) -> str:
    """``<UTC time>-<scenario>-<hash8>``; the hash covers everything that determines the numbers."""
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:8]
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{slug(scenario)}-{h}"


def new_run_dir(out: str | os.PathLike, rid: str) -> Path:
    folder = Path(out) / rid
    folder.mkdir(parents=True, exist_ok=False)
    return folder
