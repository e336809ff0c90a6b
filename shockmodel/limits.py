"""Documented limits and the checks every layer shares for numbers, names and input files (L0: imports
nothing from shockmodel but :mod:`shockmodel.errors`).

Every limit here is checked before any work starts, and crossing one is a :class:`UserError` (one line,
exit status 2 from the CLI). The values are generous for real use (the library's largest scenario has
2 packages and 9 shocks; its files are a few kilobytes) and small enough that a hostile or mistaken
input cannot hang the program, exhaust memory or overflow the result format. docs/contracts.md
section 5 lists them.
"""

from __future__ import annotations

import difflib
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


#: How close a name must be to be suggested (difflib ratio), for every "did you mean" of every file.
SUGGEST_CUTOFF = 0.6
#: Stricter for group names suggested before region codes: a near-miss of a group (EU28 -> EU27) means the
#: group, but EUROPE is not OPEC (ratio 0.6).
GROUP_SUGGEST_CUTOFF = 0.7


def closest(word: str, choices, *, cutoff: float = SUGGEST_CUTOFF) -> str | None:
    """The closest of ``choices`` to ``word``: a case-insensitive match first, else difflib's best above
    ``cutoff``; None if none is close."""
    choices = [str(c) for c in choices]
    same_case = [c for c in choices if c.lower() == str(word).lower()]
    close = same_case or difflib.get_close_matches(str(word), choices, n=1, cutoff=cutoff)
    return close[0] if close else None


def did_you_mean(word: str, choices, *, cutoff: float = SUGGEST_CUTOFF) -> str:
    """``"; did you mean 'TWN'?"`` for the closest choice (:func:`closest`), or ``""``: the one wording of
    every parameter file's suggestions (scenarios, markets, sweeps, critical inputs, dynamic parameters,
    backtests, region groups)."""
    close = closest(word, choices, cutoff=cutoff)
    return f"; did you mean {close!r}?" if close else ""


def read_toml_text(path: str | os.PathLike, *, what: str = "TOML file", error: type[UserError] = UserError,
                   file: str | None = None) -> str:
    """The text of one TOML parameter file: a regular file of at most :data:`MAX_FILE_BYTES`
    (:func:`read_input_file`), no NUL byte, UTF-8 (a byte-order mark is allowed). Every failure is one
    ``error`` naming ``file`` (default: the path)."""
    name = file if file is not None else str(path)
    try:
        raw = read_input_file(path, what=what)
    except UserError as exc:
        raise error(exc.message, file=name) from None
    if b"\0" in raw:
        raise error("binary file, expected TOML text", file=name)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise error(f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})", file=name) from None


def parse_toml_text(text: str, *, file: str | None = None, error: type[UserError] = UserError) -> dict:
    """:func:`parse_toml` with its failures as one ``error``: ``not valid TOML (<tomllib's message, with
    line and column>)`` or too deep."""
    import tomllib

    try:
        return parse_toml(text, file=file)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"not valid TOML ({exc})", file=file) from None
    except UserError as exc:
        raise error(exc.message, file=file) from None


def load_toml(path: str | os.PathLike, *, what: str = "TOML file", error: type[UserError] = UserError,
              file: str | None = None) -> dict:
    """Read and parse one TOML parameter file (:func:`read_toml_text`, :func:`parse_toml_text`): the one
    reader of scenarios, market parameters, sweep specs, critical inputs, dynamic parameters, backtest
    cases and region groups, so a broken file reads the same whichever it is."""
    name = file if file is not None else str(path)
    return parse_toml_text(read_toml_text(path, what=what, error=error, file=name), file=name, error=error)


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
