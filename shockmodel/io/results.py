"""Result folders (L5): ``results/<UTC time>-<scenario>-<hash8>/`` with ``manifest.json``, ``inputs/``,
``data.nc`` and ``report/`` (docs/architecture.md), and the one writer every result file goes through.

What holds (docs/contracts.md section 5):

- Every file is written to a temporary file in its destination folder, flushed and fsync'ed, then
  renamed over its name (:func:`atomic_path`); a file is therefore complete or absent. Temporary names
  are ``.<name>.<host>-<pid>.<random>.tmp``: on any exception the temporary is deleted; one left by a
  killed process (SIGKILL, power loss) is deleted by the next writer in that folder
  (:func:`clean_stale`), never one whose process still runs.
- A run folder is claimed by an atomic ``mkdir`` (a ``-2``, ``-3``, ... suffix when two runs share a
  name, so concurrent identical runs never collide), filled as a hidden temporary folder and renamed
  over the claim when complete (:func:`staged_run_dir`): after a failure there is no partial folder.
- SIGINT and SIGTERM during a write are held until the current piece is written, then raised as
  :class:`KeyboardInterrupt` (:func:`deferred_signals`): HDF5 swallows an exception raised inside it.
- HDF5 crashes (segmentation fault) when the disk fills under it, so :func:`write_dataset` first checks
  that the free space and the file-size limit hold the uncompressed size; a full or unwritable disk is
  one :class:`~shockmodel.errors.UserError` line and leaves nothing behind.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Sequence

from shockmodel.errors import UserError

DATA_FILE = "data.nc"
MANIFEST = "manifest.json"

#: Margin of the free-space check over the uncompressed size of a dataset (headers, B-trees, attrs).
SPACE_MARGIN = 1.05
SPACE_EXTRA = 4 << 20

_HOST = re.sub(r"[^A-Za-z0-9-]", "", socket.gethostname())[:32] or "host"
_TMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9-]+)-(?P<pid>\d+)\.[0-9a-f]{8}\.(tmp|partial)$")


# --- interrupts --------------------------------------------------------------------------------------


@contextmanager
def deferred_signals() -> Iterator[list[int]]:
    """Hold SIGINT and SIGTERM for the block; yield the list of held signals (poll it to stop between
    pieces of work) and raise :class:`KeyboardInterrupt` at the end of the block if one came.

    Only in the main thread (signal handlers can only be set there); elsewhere a no-op.
    """
    held: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    old = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, lambda signum, frame: held.append(signum))
        yield held
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
    if held:
        raise KeyboardInterrupt


def raise_if_interrupted(held: list[int]) -> None:
    """Between pieces of a deferred write: stop now if a signal came."""
    if held:
        raise KeyboardInterrupt


def ignore_interrupts() -> None:
    """Ignore SIGINT and SIGTERM from now on (the CLI, once a command's outcome is decided and written)."""
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)


# --- temporary files ---------------------------------------------------------------------------------


def _tmp_name(name: str, kind: str = "tmp") -> str:
    return f".{name}.{_HOST}-{os.getpid()}.{secrets.token_hex(4)}.{kind}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files and folders in ``folder`` left by killed writers of this machine (whose
    process is gone); with a staged run folder, its empty claimed folder too. Returns what was deleted."""
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        m = _TMP_RE.match(entry.name)
        if not m or m["host"] != _HOST or _alive(int(m["pid"])):
            continue
        path = Path(entry.path)
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(path)
                claim = path.parent / m["name"]
                if claim.is_dir() and not any(claim.iterdir()):
                    claim.rmdir()
            else:
                path.unlink()
            removed.append(path)
        except OSError:
            pass
    return removed


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def disk_error(err: OSError, path: str | os.PathLike) -> UserError:
    """A write that failed for a reason outside the program (full disk, read-only, permissions) as one line."""
    reason = {errno.ENOSPC: "no space left on the device", errno.EDQUOT: "disk quota exceeded",
              errno.EFBIG: "file too large (file-size limit)", errno.EROFS: "read-only file system",
              errno.EACCES: "permission denied", errno.EPERM: "operation not permitted",
              errno.ENAMETOOLONG: "file name too long"}.get(err.errno, err.strerror or str(err))
    return UserError(f"cannot write: {reason}; nothing was kept", file=str(path))


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success fsync it and rename it onto ``path``; on any
    exception (interrupts included) delete it. ``suffix`` is kept for callers that name the format."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise disk_error(err, path.parent) from None
    tmp = path.parent / _tmp_name(path.name)
    try:
        yield tmp
        os.chmod(tmp, 0o644)
        _fsync_file(tmp)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except OSError as err:
        raise disk_error(err, path) from None
    finally:
        try:
            os.unlink(tmp)
        except OSError:   # already renamed (FileNotFoundError), or the disk is gone: nothing more to do
            pass


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(path: str | os.PathLike, obj) -> Path:
    return write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def dataset_bytes(ds) -> int:
    """Upper bound of the size of ``ds`` in a NetCDF4 file (uncompressed data, coordinates included)."""
    total = sum(int(v.nbytes) for v in ds.variables.values())
    return int(total * SPACE_MARGIN) + SPACE_EXTRA


def check_space(folder: str | os.PathLike, need: int) -> None:
    """Fail (one line) unless ``folder``'s file system has ``need`` bytes free and the process's
    file-size limit allows a file that large."""
    folder = Path(folder)
    try:
        st = os.statvfs(folder)
    except OSError as err:
        raise disk_error(err, folder) from None
    free = st.f_bavail * st.f_frsize
    if free < need:
        raise UserError(f"not enough free space: need up to {need / 1e6:.1f} MB, {free / 1e6:.1f} MB free; "
                        "nothing was kept", file=str(folder))
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    except (ImportError, OSError, ValueError):
        return
    if soft != resource.RLIM_INFINITY and soft < need:
        raise UserError(f"the file-size limit ({soft} bytes, ulimit -f) is below the {need} bytes this file "
                        "may need; nothing was kept", file=str(folder))


#: Variables larger than this are appended to the file one at a time, with a check for Ctrl-C/SIGTERM
#: between them (HDF5 must not be interrupted inside a write).
PIECE_BYTES = 16 << 20


#: Per-draw variables a run stores as float32 (docs/contracts.md section 3, "storage"): percent losses,
#: market series, 0/1 flags and horizon fractions, whose 7 significant digits (relative rounding at most
#: 2^-24 = 6e-8) are far finer than their Monte Carlo error; the file is about a quarter smaller. Money
#: (``gdp_loss``, ``world_gdp_loss``: sums a reader may add up) and the sampled ``severity`` (a draw's
#: inputs, to propagate it again) stay float64, as do all statistics. In memory every variable is float64.
FLOAT32_DRAWS = ("gdp_loss_pct", "world_gdp_loss_pct", "trade_loss_pct", "world_trade_loss_pct",
                 "simultaneity_premium_pct", "world_simultaneity_premium_pct", "price_change_pct",
                 "price_at_bound", "equity_drawdown_pct", "equity_closed", "horizon_fraction",
                 "gdp_loss_path_pct", "world_gdp_loss_path_pct", "simultaneity_premium_path_pct",
                 "world_simultaneity_premium_path_pct")


def float32_names(ds, names: Sequence[str] = FLOAT32_DRAWS) -> list[str]:
    """The float64 data variables of ``ds`` among ``names`` (those :func:`write_dataset` narrows)."""
    return [n for n in names if n in ds.data_vars and ds[n].dtype.kind == "f" and ds[n].dtype.itemsize == 8]


def write_dataset(ds, path: str | os.PathLike, *, float32: Sequence[str] = ()) -> Path:
    """Write an xarray Dataset to NetCDF4 (h5netcdf engine), atomically, with light compression.

    ``float32``: names of float64 variables to store as float32 (:data:`FLOAT32_DRAWS` for a run's
    ``data.nc``, whose writer lists them in the global attribute ``stored_float32``).
    Free space is checked first (HDF5 crashes when the disk fills under it). The small variables are
    written first, then each large one is appended on its own; SIGINT/SIGTERM are held while HDF5 writes
    and acted on between variables (the temporary file is then deleted), so an interrupt stops within
    one variable's write.
    """
    import xarray as xr

    path = Path(path)
    encoding = {name: {"zlib": True, "complevel": 1} for name, v in ds.data_vars.items()
                if v.dtype.kind in "fiu" and v.size > 1024}
    for name in float32_names(ds, float32):
        encoding.setdefault(name, {})["dtype"] = "float32"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise disk_error(err, path.parent) from None
    check_space(path.parent, dataset_bytes(ds))
    large = [name for name, v in ds.data_vars.items() if v.nbytes > PIECE_BYTES]
    with atomic_path(path) as tmp, deferred_signals() as held:
        first = ds.drop_vars(large)
        first.to_netcdf(tmp, engine="h5netcdf", encoding={k: v for k, v in encoding.items() if k in first})
        for name in large:
            raise_if_interrupted(held)
            piece = xr.Dataset({name: ds[name].variable})   # dims and coordinates are in the file already
            piece.to_netcdf(tmp, mode="a", engine="h5netcdf",
                            encoding={k: v for k, v in encoding.items() if k == name})
    return path


#: Global attributes and variables that make a file a shockmodel result (run or sweep).
_RESULT_ATTRS = ("shockmodel_version", "draws", "seed", "table")
#: Other result kinds (global attribute ``kind``) and the variable each must hold.
_OTHER_KINDS = {"backtest": "forecast_loss_pct", "sensitivity": "ST"}


def read_dataset(folder_or_file: str | os.PathLike):
    """Open ``data.nc`` of a run or sweep folder (or a .nc file) fully into memory."""
    import xarray as xr

    p = Path(folder_or_file)
    f = p / DATA_FILE if p.is_dir() else p
    if not f.is_file():
        raise UserError(f"no {DATA_FILE} here (expected a run or sweep folder)", file=str(p))
    check_result_file(f)
    with xr.open_dataset(f, engine="h5netcdf") as ds:
        return ds.load()


def check_result_file(path: str | os.PathLike) -> None:
    """Fail with one line unless ``path`` is a readable shockmodel result file (a run's or a sweep's
    ``data.nc``): a foreign NetCDF/HDF5 file, a truncated one or any other file is rejected."""
    import xarray as xr

    path = Path(path)
    try:
        with xr.open_dataset(path, engine="h5netcdf", phony_dims="sort") as ds:
            attrs = dict(ds.attrs)
            names = set(ds.data_vars)
    except Exception as err:   # h5py/h5netcdf raise OSError, ValueError, KeyError ... for non-HDF5 files
        raise UserError(f"not a readable NetCDF4 result file ({type(err).__name__})", file=str(path)) from None
    kind = attrs.get("kind")
    if kind in _OTHER_KINDS:   # a backtest's or a sensitivity analysis's data.nc
        if "shockmodel_version" in attrs and _OTHER_KINDS[kind] in names:
            return
        raise UserError(f"not a shockmodel {kind} file (attribute shockmodel_version or variable "
                        f"{_OTHER_KINDS[kind]} missing)", file=str(path))
    missing = [a for a in _RESULT_ATTRS if a not in attrs]
    if missing or not ({"scenario", "sweep"} & set(attrs)) or "world_gdp_loss_pct_summary" not in names:
        raise UserError("not a shockmodel result file (attributes "
                        f"{', '.join(missing) or 'scenario/sweep'} or variable world_gdp_loss_pct_summary missing)",
                        file=str(path))


# --- run folders -------------------------------------------------------------------------------------


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:60] or "run"


def run_id(scenario: str, *parts: object) -> str:
    """``<UTC time>-<scenario>-<hash8>``; the hash covers everything that determines the numbers."""
    h = hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:8]
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{slug(scenario)}-{h}"


def new_run_dir(out: str | os.PathLike, rid: str) -> Path:
    """Claim ``out/rid`` (or ``rid-2``, ``rid-3``, ... if taken) by an atomic mkdir and return it."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise disk_error(err, out) from None
    for n in range(1, 10_000):
        folder = out / (rid if n == 1 else f"{rid}-{n}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
        except OSError as err:
            raise disk_error(err, folder) from None
    raise UserError("too many run folders with the same name", file=str(out / rid))


def in_final(files: dict, stage: Path, final: Path) -> dict:
    """``files`` (name -> path written under ``stage``) as the paths they have once the stage is ``final``."""
    return {k: final / Path(p).relative_to(stage) if isinstance(p, (str, Path)) else p for k, p in files.items()}


@contextmanager
def staged_run_dir(out: str | os.PathLike, rid: str) -> Iterator[tuple[Path, Path]]:
    """Claim a run folder and yield ``(stage, final)``: write everything into ``stage`` (a hidden
    temporary folder next to it); when the block ends without exception the stage is renamed over the
    (empty) claimed folder, else both are removed. A killed run leaves only names :func:`clean_stale`
    removes."""
    out = Path(out)
    if out.is_dir():
        clean_stale(out)
    final = new_run_dir(out, rid)
    stage = out / _tmp_name(final.name, "partial")
    try:
        stage.mkdir()
        yield stage, final
        _fsync_dir(stage)
        os.replace(stage, final)   # a directory replaces an empty directory atomically (POSIX rename)
        _fsync_dir(out)
    except OSError as err:
        raise disk_error(err, final) from None
    finally:
        if stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
            try:
                final.rmdir()
            except OSError:
                pass
