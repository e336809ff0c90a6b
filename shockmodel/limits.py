"""Documented limits and the checks every layer shares for numbers, names and input files (L0: imports
nothing from shockmodel but :mod:`shockmodel.errors`).

Every limit here is checked before any work starts, and crossing one is a :class:`UserError` (one line,
exit status 2 from the CLI). The values are generous for real use (the library's largest scenario has
2 packages and 9 shocks; its files are a few kilobytes) and small enough that a hostile or mistaken
input cannot hang the program, exhaust memory or overflow the result format. docs/contracts.md
section 5 lists them.
"""

from __future__ import annotations

import math
import os
import stat
import unicodedata
from pathlib import Path

from shockmodel.errors import UserError

#: Largest scenario, sweep-spec or market-parameter file read (bytes).
MAX_FILE_BYTES = 1 << 20
#: Deepest nesting of tables and arrays in a TOML file (the library's deepest is 6).
MAX_TOML_DEPTH = 32
#: Longest chain of includes (a includes b includes c ...).
MAX_INCLUDE_DEPTH = 16
#: Longest chain of groups naming groups (region_groups / sector_groups).
MAX_GROUP_DEPTH = 16
#: Packages in one scenario, and shocks in one scenario (all packages together).
MAX_PACKAGES = 64
MAX_SHOCKS = 256
#: Draws of one run: the ``draw`` counts and indices are int64 in data.nc, and a run of more than a
#: billion draws would take days; split it into seeds instead.
MAX_DRAWS = 10**9
#: Cells of one sweep (each is a full run).
MAX_CELLS = 10_000
#: Seeds are stored in data.nc as int64 attributes.
MAX_SEED = 2**63 - 1
#: Integers anywhere in an input must fit in a signed 64-bit integer (a 400-digit integer cannot be a
#: float, a count or a seed).
MAX_INT = 2**63 - 1


def check_int(value: int, *, file: str | None = None, field: str | None = None, low: int | None = None,
              high: int = MAX_INT) -> int:
    """``value`` as an int in ``[low, high]`` (booleans are not integers)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise UserError(f"expected an integer, got {value!r}", file=file, field=field)
    if (low is not None and value < low) or value > high:
        shown = value if abs(value) < 10**20 else f"a {len(str(abs(value)))}-digit integer"
        bound = f"in [{low}, {high}]" if low is not None else f"<= {high}"
        raise UserError(f"expected an integer {bound}, got {shown}", file=file, field=field)
    return value


def finite_float(value, *, file: str | None = None, field: str | None = None, allow_inf: bool = False) -> float:
    """A real number (int or float, not bool) as a float; NaN, and infinity unless allowed, rejected;
    an integer too large for a float (a 400-digit one) rejected, not an OverflowError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"expected a number, got {value!r}", file=file, field=field)
    if isinstance(value, int) and abs(value) > MAX_INT:
        raise UserError(f"integer too large: {len(str(abs(value)))} digits (at most {MAX_INT})",
                        file=file, field=field)
    x = float(value)
    if math.isnan(x) or (math.isinf(x) and not allow_inf):
        raise UserError(f"expected a finite number, got {x}", file=file, field=field)
    return x


def check_name(value: str, *, file: str | None = None, field: str | None = None) -> str:
    """A name that goes into files and folder names: no NUL or other control character."""
    bad = next((ch for ch in value if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp")), None)
    if bad is not None:
        raise UserError(f"name holds the control character U+{ord(bad):04X}; use printable characters",
                        file=file, field=field)
    return value


def toml_depth(data, limit: int = MAX_TOML_DEPTH) -> int:
    """Nesting depth of parsed TOML data (tables and arrays), walked without recursion; stops at limit + 1."""
    deepest = 0
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > limit:
                return deepest
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return deepest


def parse_toml(text: str, *, file: str | None = None):
    """``tomllib.loads`` with the nesting limit: deeper input is one clear error, not a RecursionError."""
    import tomllib

    try:
        data = tomllib.loads(text)
    except RecursionError:
        raise UserError(f"nested deeper than {MAX_TOML_DEPTH} tables or arrays", file=file) from None
    if toml_depth(data) > MAX_TOML_DEPTH:
        raise UserError(f"nested deeper than {MAX_TOML_DEPTH} tables or arrays", file=file)
    return data


def read_input_file(path: str | os.PathLike, *, limit: int = MAX_FILE_BYTES, what: str = "file") -> bytes:
    """The bytes of a small input file, read safely: it must be a regular file (a FIFO would block for
    ever, ``/dev/zero`` never ends) of at most ``limit`` bytes; never reads more than ``limit + 1``."""
    file = str(path)
    try:
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise UserError("no such file", file=file) from None
    except IsADirectoryError:
        raise UserError(f"is a directory, expected a {what}", file=file) from None
    except OSError as err:
        raise UserError(f"cannot read: {err.strerror}", file=file) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise UserError(f"is a directory, expected a {what}", file=file)
        if not stat.S_ISREG(st.st_mode):
            raise UserError(f"not a regular file (a device, pipe or socket), expected a {what}", file=file)
        if st.st_size > limit:
            raise UserError(f"too large: {st.st_size} bytes, at most {limit}", file=file)
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, min(1 << 16, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise UserError(f"too large: more than {limit} bytes", file=file)
        return b"".join(chunks)
    except OSError as err:
        raise UserError(f"cannot read: {err.strerror}", file=file) from None
    finally:
        os.close(fd)


def _exists(path: Path) -> bool:
    try:
        os.lstat(path)
        return True
    except (FileNotFoundError, NotADirectoryError):   # a file on the way is found as the walk goes up
        return False
    except OSError as err:   # ENAMETOOLONG (a file on the way), ENAMETOOLONG, ELOOP, EACCES
        raise UserError(f"cannot use this path: {err.strerror}", file=str(path), field="--out") from None


def check_destination(out: str | os.PathLike, *, field: str = "--out", new_name_length: int = 0) -> Path:
    """Check, before any work, that a result folder can be made under ``out``: every existing part of
    the path is a folder, the nearest existing one is writable (probed with a temporary file, so
    read-only mounts fail here too), and no part of the name is too long. Creates nothing."""
    import tempfile

    path = Path(out).expanduser()
    absolute = Path(os.path.abspath(path))
    if "\0" in str(path):
        raise UserError("path holds a NUL character", field=field)
    for part in absolute.parts:
        if len(os.fsencode(part)) > 255:   # NAME_MAX of every common file system; checked again below
            raise UserError("a folder name is longer than 255 bytes", file=str(out), field=field)
    existing, missing = absolute, []
    while not _exists(existing):
        missing.append(existing.name)
        existing = existing.parent
    if not existing.is_dir():
        what = "a file" if existing.is_file() else "not a folder"
        raise UserError(f"{existing} is {what}; --out must be a folder (or a path to create one)",
                        file=str(out), field=field)
    try:
        name_max = os.pathconf(existing, "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = 255
    for part in missing:
        if len(os.fsencode(part)) > name_max:
            raise UserError(f"a folder name is longer than {name_max} bytes", file=str(out), field=field)
    if new_name_length > name_max:
        raise UserError(f"the result folder name would be longer than {name_max} bytes", file=str(out), field=field)
    try:
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".shockmodel-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        raise UserError(f"cannot write in {existing}: {err.strerror}", file=str(out), field=field) from None
    return path
