"""Critical and important inputs per using sector (L2), from ``params/critical_inputs.toml``.

Weights follow Pichler et al. (2022), "Forecasting the propagation of pandemic shocks with a dynamic
input-output model", JEDC 144:104527: 1 = critical (output falls with the input's shortage), 0.5 =
important ("half-critical"), 0 = non-critical (acts only through demand).

The file's weights are the central classification; its ``[uncertainty]`` tables give, for a pair declared
critical or important, the probabilities of each of the three classes in a draw (``--structure sampled``,
docs/model.md eq. 54-55): :func:`class_probabilities`, :func:`class_thresholds`, :func:`sampled_weights`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shockmodel import limits, runtime
from shockmodel.errors import UserError
from shockmodel.mrio import MRIO
from shockmodel.paths import params_dir


def default_path() -> Path:
    return params_dir() / "critical_inputs.toml"


def _expand(name: str, mrio: MRIO, file: str, field: str) -> tuple[int, ...]:
    if name in mrio.sectors:
        return (mrio.sectors.index(name),)
    if name in mrio.sector_groups:
        return tuple(mrio.sectors.index(s) for s in mrio.sector_groups[name])
    raise UserError(f"unknown sector {name!r} for table {mrio.name!r}", file=file, field=field)


def critical_weights(mrio: MRIO, path: str | Path | None = None) -> np.ndarray:
    """(S, S) matrix ``W[input_sector, using_sector]`` of criticality weights in [0, 1] (read-only).

    The file is read every call; it is parsed again only when its text or the table changed (parsing
    cost ~0.4 ms, 2% of a 10,000-draw leontief run)."""
    path = Path(path) if path is not None else default_path()
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise UserError("no such file", file=str(path)) from None
    except OSError as exc:
        raise UserError(f"cannot read: {exc.strerror or exc}", file=str(path)) from None
    key = (str(path.resolve()), mrio.sha256)
    hit = _PARSED.get(key)
    if hit is not None and hit[0] == text:
        return hit[1]
    W = _parse_weights(text, mrio, path)
    W.flags.writeable = False
    if len(_PARSED) >= 16:
        _PARSED.clear()
    _PARSED[key] = (text, W)
    return W


def with_overrides(W: np.ndarray, overrides) -> np.ndarray:
    """``W`` with a scenario's critical inputs (``CompiledScenario.critical_overrides``: (input sector, using
    sector, weight), applied in order, a later one winning) in place of the file's weights; ``W`` itself
    (the same read-only array) when there are none, so a scenario without overrides runs on exactly the
    file's weights."""
    if not overrides:
        return W
    out = np.array(W, dtype=np.float64)
    for inp, using, weight in overrides:
        out[inp, using] = weight
    out.flags.writeable = False
    return out


#: parsed weights by (resolved path, table content): (file bytes they were parsed from, weights)
_PARSED: dict[tuple[str, str], tuple[bytes, np.ndarray]] = {}
runtime.register_cache(_PARSED.clear)


def _parse_weights(text: bytes, mrio: MRIO, path: Path) -> np.ndarray:
    try:
        decoded = text.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"not UTF-8 text (byte 0x{text[exc.start]:02x} at offset {exc.start})", file=str(path)) from None
    data = limits.parse_toml_text(decoded, file=str(path))
    unknown = set(data) - {"weights", "uncertainty"}
    if unknown:
        raise UserError(f"unknown keys {sorted(unknown)}; expected [weights.<using sector>] and [uncertainty.<class>]",
                        file=str(path))
    W = np.zeros((mrio.n_sectors, mrio.n_sectors))
    for using, inputs in data.get("weights", {}).items():
        cols = _expand(using, mrio, str(path), f"weights.{using}")
        if not isinstance(inputs, dict):
            raise UserError("expected a table of input sector = weight", file=str(path), field=f"weights.{using}")
        for inp, w in inputs.items():
            field = f"weights.{using}.{inp}"
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0.0 <= w <= 1.0:
                raise UserError(f"weight must be a number in [0, 1], got {w!r}", file=str(path), field=field)
            for r in _expand(inp, mrio, str(path), field):
                for c in cols:
                    W[r, c] = max(W[r, c], float(w))
    return W


#: the classes of Pichler et al. (2022), in the order of the columns of :func:`class_probabilities`
CLASS_WEIGHTS = (0.0, 0.5, 1.0)
_CLASS_KEYS = ("non_critical", "important", "critical")
_ROWS = ("critical", "important")   # row 0: pairs declared critical (weight 1); row 1: any other positive weight


def class_probabilities(path: str | Path | None = None) -> np.ndarray:
    """(2, 3) probabilities of the classes non-critical, important, critical (columns) for a pair declared
    critical (row 0) or important (row 1), from the file's ``[uncertainty.critical]`` and
    ``[uncertainty.important]`` tables (eq. 54). Each row is checked: three numbers in [0, 1] summing to 1
    and a ``source``."""
    path = Path(path) if path is not None else default_path()
    data = limits.load_toml(path, what="critical-input file")
    unc = data.get("uncertainty")
    if not isinstance(unc, dict):
        raise UserError("missing [uncertainty.critical] and [uncertainty.important] tables", file=str(path),
                        field="uncertainty")
    out = np.zeros((2, 3))
    for r, row in enumerate(_ROWS):
        t = unc.get(row)
        field = f"uncertainty.{row}"
        if not isinstance(t, dict):
            raise UserError(f"missing table [{field}]", file=str(path), field=field)
        extra = set(t) - {*_CLASS_KEYS, "source"}
        if extra:
            raise UserError(f"unknown keys {sorted(extra)}; expected {', '.join(_CLASS_KEYS)}, source", file=str(path),
                            field=field)
        if not isinstance(t.get("source"), str) or not t["source"].strip():
            raise UserError("every class distribution needs a source (or 'assumption')", file=str(path),
                            field=f"{field}.source")
        for c, key in enumerate(_CLASS_KEYS):
            v = t.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= v <= 1.0:
                raise UserError(f"expected a probability in [0, 1], got {v!r}", file=str(path), field=f"{field}.{key}")
            out[r, c] = float(v)
        if abs(out[r].sum() - 1.0) > 1e-9:
            raise UserError(f"probabilities must sum to 1, got {out[r].sum():g}", file=str(path), field=field)
    return out


def class_thresholds(central_w: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """(Q, 2) cumulative thresholds per declared pair from its central weight: ``P(non-critical)`` and
    ``P(non-critical) + P(important)`` of the row its weight takes (1: critical; else important)."""
    rows = np.where(np.asarray(central_w) >= 1.0, 0, 1)
    cum = np.cumsum(probs, axis=1)[:, :2]
    return np.ascontiguousarray(cum[rows])


def sampled_weights(u: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Eq. 55: the weight of each pair (rows) in each draw (columns) from its uniform ``u`` (Q, B):
    0 below the first threshold, 0.5 below the second, 1 above; monotone in ``u``, so a larger uniform is
    never a less critical input (common random numbers across scenarios and sensitivity inputs)."""
    t0, t1 = thresholds[:, 0:1], thresholds[:, 1:2]
    return np.where(u < t0, CLASS_WEIGHTS[0], np.where(u < t1, CLASS_WEIGHTS[1], CLASS_WEIGHTS[2]))
