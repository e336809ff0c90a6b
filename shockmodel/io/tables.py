"""Reading and writing input-output tables (L5).

Our own format is one ``.npz`` (numpy, no pickle) with keys ``Z``, ``Y``, ``x``, ``v``, ``regions``,
``sectors`` and optionally ``Y_categories``, ``fd_categories``, ``region_names``, ``sector_names``,
``region_group_of``/``sector_group_of`` (built-in groups, one code per label, "" for none) and
``meta_json`` (provenance). Shipped tables are in ``params/mrio/`` (``shockmodel table list``), except the
two 41-region nowcast tables (``wiod2021``, ``wiod2022``): :mod:`shockmodel.io.build` builds them from
``data/sources/`` on first use into the user cache.
"""

from __future__ import annotations

import json
import os
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np

from shockmodel.errors import TableError
from shockmodel.io.results import atomic_path
from shockmodel.mrio import MRIO, validate
from shockmodel.paths import params_dir

REQUIRED_KEYS = ("Z", "Y", "x", "v", "regions", "sectors")


def table_dir() -> Path:
    return params_dir() / "mrio"


def list_tables() -> dict[str, Path]:
    """Shipped tables: name -> path, by name. The tables built on first use map to their place in the user
    cache, which need not exist yet (:func:`resolve_table` builds it)."""
    from shockmodel.io.build import BUILT_ON_FIRST_USE, build_key, cache_dir

    shipped = {p.stem: p for p in table_dir().glob("*.npz")}
    for name in BUILT_ON_FIRST_USE:
        shipped.setdefault(name, cache_dir() / f"{name}-{build_key()}.npz")
    return dict(sorted(shipped.items()))


def resolve_table(name_or_path: str | os.PathLike) -> Path:
    """A shipped table name or a path to an ``.npz`` file -> the file's path (or a clear error); a table
    built on first use is built into the user cache first if it is not there."""
    from shockmodel.io.build import BUILT_ON_FIRST_USE, cached_table

    shipped = list_tables()
    key = str(name_or_path)
    if key in BUILT_ON_FIRST_USE and not shipped[key].is_file():
        return cached_table(key)
    if key in shipped:
        return shipped[key]
    path = Path(key).expanduser()
    if path.is_file():
        return path
    if path.suffix or os.sep in key or "/" in key:
        raise TableError("no such file", file=key)
    raise TableError(f"unknown table {key!r}; shipped tables: {', '.join(shipped) or 'none'}, or give a path to an .npz file")


def load_table(name_or_path: str | os.PathLike = "default") -> MRIO:
    """Load and validate a table by shipped name (``"default"``, ``"wiod2011"``) or path.

    Raises :class:`~shockmodel.errors.TableError` (one line: file, field, problem) for a missing,
    unreadable or invalid table. Loaded tables are cached (they are immutable).
    """
    path = resolve_table(name_or_path).resolve()
    stat = path.stat()
    return _load_cached(str(path), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=8)
def _load_cached(path: str, _mtime: int, _size: int) -> MRIO:
    mrio = read_npz(path)
    validate(mrio, source=path)
    return mrio


def _str_tuple(arr) -> tuple[str, ...]:
    return tuple(str(a) for a in np.asarray(arr).ravel())


def _groups(labels: tuple[str, ...], group_of) -> dict[str, tuple[str, ...]]:
    groups: dict[str, list[str]] = {}
    for lab, g in zip(labels, _str_tuple(group_of)):
        if g:
            groups.setdefault(g, []).append(lab)
    return {k: tuple(v) for k, v in groups.items()}


def read_npz(path: str | os.PathLike) -> MRIO:
    """Read our npz format into an (unvalidated) :class:`MRIO`."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise TableError("no such file", file=str(path)) from None
    except Exception as exc:  # zipfile/pickle/format errors: the file is not an npz we can read
        raise TableError(f"not a readable .npz table ({type(exc).__name__}: {exc})", file=str(path)) from None
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise TableError(f"missing arrays {missing}; an npz table needs {list(REQUIRED_KEYS)}", file=str(path))
    complex_ = [k for k in ("Z", "Y", "x", "v", "Y_categories") if k in data and np.iscomplexobj(data[k])]
    if complex_:   # casting would drop the imaginary part with only a warning
        raise TableError(f"complex values in {complex_[0]}; a table holds real numbers", file=str(path),
                         field=complex_[0])
    try:
        arrays = {k: np.asarray(data[k], dtype=np.float64) for k in ("Z", "Y", "x", "v")}
        ycat = np.asarray(data["Y_categories"], dtype=np.float64) if "Y_categories" in data else None
    except (TypeError, ValueError) as exc:
        raise TableError(f"non-numeric values ({exc})", file=str(path)) from None
    regions, sectors = _str_tuple(data["regions"]), _str_tuple(data["sectors"])
    try:
        meta = json.loads(str(data["meta_json"])) if "meta_json" in data else {}
    except ValueError as exc:
        raise TableError(f"not valid JSON ({exc})", file=str(path), field="meta_json") from None
    if not isinstance(meta, dict):
        raise TableError(f"expected a JSON object, got {type(meta).__name__}", file=str(path), field="meta_json")
    return MRIO(
        name=str(meta.get("name", path.stem)),
        regions=regions,
        sectors=sectors,
        Y_categories=ycat,
        fd_categories=_str_tuple(data.get("fd_categories", ())),
        region_names=_str_tuple(data.get("region_names", ())),
        sector_names=_str_tuple(data.get("sector_names", ())),
        region_groups=_groups(regions, data["region_group_of"]) if "region_group_of" in data else {},
        sector_groups=_groups(sectors, data["sector_group_of"]) if "sector_group_of" in data else {},
        meta={k: str(v) for k, v in meta.items()},
        **arrays,
    )


def _group_of(labels, groups) -> np.ndarray:
    of = {lab: "" for lab in labels}
    for g, members in groups.items():
        for m in members:
            if m in of and not of[m] and g != m:
                of[m] = g
    return np.array([of[lab] for lab in labels])


def _savez_reproducible(path: str, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` with a fixed member order and timestamp, so that the same table gives the
    same bytes (``np.savez`` stamps each member with the current time)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for key, value in arrays.items():
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)


def write_npz(mrio: MRIO, path: str | os.PathLike) -> Path:
    """Write a table atomically (:func:`shockmodel.io.results.atomic_path`); the same table always gives
    the same bytes."""
    path = Path(path)
    payload = dict(
        Z=mrio.Z, Y=mrio.Y, x=mrio.x, v=mrio.v,
        regions=np.array(mrio.regions), sectors=np.array(mrio.sectors),
        fd_categories=np.array(mrio.fd_categories, dtype=str),
        region_names=np.array(mrio.region_names, dtype=str),
        sector_names=np.array(mrio.sector_names, dtype=str),
        meta_json=np.array(json.dumps({**dict(mrio.meta), "name": mrio.name}, sort_keys=True)),
    )
    # Only groups with one level: a label belongs to at most one built-in group (ELECTRONICS etc.).
    payload["region_group_of"] = _group_of(mrio.regions, mrio.region_groups)
    payload["sector_group_of"] = _group_of(mrio.sectors, mrio.sector_groups)
    if mrio.Y_categories is not None:
        payload["Y_categories"] = mrio.Y_categories
    with atomic_path(path) as tmp:   # the one atomic write (io.results): temporary beside it, then rename
        _savez_reproducible(str(tmp), payload)
    return path
