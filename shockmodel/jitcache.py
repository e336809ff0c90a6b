"""Whether numba's on-disk cache already holds the kernels (L1), so the CLI can say once that the first
run on a machine compiles them.

numba compiles every ``cache=True`` kernel on first use and stores it next to its source (or in numba's
user-wide cache when that folder is read-only). The first run on a machine, or after the kernels'
source or numba changed, therefore takes about a minute longer. After a run completes, :func:`mark`
writes a marker file in that cache folder, named after the model and a digest of the kernels' source and
numba's version; :func:`needs_compile` is true while the marker is missing or numba's index for the
sampling kernel is empty or stale.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

_KERNELS = Path(__file__).resolve().parent / "kernels"


def _dispatcher():
    from shockmodel.kernels.propagate import sample_block_draws

    return sample_block_draws


def _marker(model: str) -> Path | None:
    import numba

    try:
        cache = _dispatcher()._cache
        folder = Path(cache._cache_path)
    except AttributeError:   # a numba without this cache layout: nothing to say
        return None
    h = hashlib.sha256(numba.__version__.encode())
    for src in sorted(_KERNELS.glob("*.py")):
        h.update(src.read_bytes())
    return folder / f"shockmodel-{model}-{h.hexdigest()[:16]}.compiled"


def needs_compile(model: str) -> bool:
    """True if a run of ``model`` will (most likely) compile kernels first."""
    marker = _marker(model)
    if marker is None:
        return False
    try:
        index = _dispatcher()._cache._cache_file._load_index()
    except Exception:   # noqa: BLE001 - a missing or unreadable index means "not cached"
        index = {}
    return not (marker.is_file() and index)


def mark(model: str) -> None:
    """Record that the kernels a run of ``model`` uses are in the cache (best effort)."""
    marker = _marker(model)
    if marker is None:
        return
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError:
        pass
