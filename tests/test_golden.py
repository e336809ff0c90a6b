"""Golden outputs: every library scenario under every model, compared exactly with stored results.

Each file ``tests/golden/<scenario>-<model>.npz`` holds every numeric variable (data and coordinates) of a
small run: ``GOLDEN_DRAWS`` draws (part of one block: a run's last, partial block; fewer for the dynamic
model, whose monthly paths make each draw twenty times larger), seed ``GOLDEN_SEED``, the default
table, the default market parameters, ``structure="central"`` (the declared critical-input weights: the
default run samples their classes, docs/model.md eq. 54-55, and is checked against this one in
tests/test_structure.py), and, for scenarios with several packages, each package alone beside the
combination (the simultaneity premium). A changed, missing or new variable fails the test; only
``pytest tests/test_golden.py --update-golden`` rewrites the files, and it prints what changed.

"Changed" means beyond the last bits: a value may differ from the stored one by ``GOLDEN_RTOL`` of the
variable's largest magnitude. The same code on another processor does not give the same last bits: numpy
picks its SIMD summation kernels (AVX2, AVX-512) by CPU at import, OpenBLAS its GEMM kernels, glibc its
``exp``/``log``/``pow`` variants (FMA or not), so a file written on one machine differs from a run on
another by a few units in the last place (seen: 2.3e-13 percentage points on prices). Any change to an
equation, a parameter or the sampling moves results by many orders of magnitude more than the tolerance.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

GOLDEN_DIR = Path(__file__).parent / "golden"
GOLDEN_DRAWS = 120
GOLDEN_DRAWS_BY_MODEL = {"dynamic": 48}   #: the stored files stay well under 5 MB in all
GOLDEN_SEED = 7
GOLDEN_MODELS = ("constrained", "leontief", "ghosh", "dynamic")
GOLDEN_RTOL = 1e-10   #: of a variable's largest magnitude (at least 1): far below any modelling change


def _library() -> list[str]:
    from shockmodel.scenario import list_scenarios

    return sorted(list_scenarios())


def _numeric_arrays(ds) -> dict[str, np.ndarray]:
    """Every numeric or boolean variable and coordinate of ``ds`` as a plain array (names prefixed by kind)."""
    out = {}
    for kind, items in (("data", ds.data_vars.items()), ("coord", ds.coords.items())):
        for name, var in items:
            values = np.asarray(var.values)
            if values.dtype.kind in "biuf":
                out[f"{kind}:{name}"] = values
    return out


def _run(scenario: str, model: str):
    import shockmodel
    from shockmodel.scenario import load_scenario

    names = load_scenario(scenario).package_names
    variants = {"combined": list(names), **{n: [n] for n in names}} if len(names) > 1 else None
    return shockmodel.run(scenario, draws=GOLDEN_DRAWS_BY_MODEL.get(model, GOLDEN_DRAWS), seed=GOLDEN_SEED, model=model,
                          variants=variants, structure="central")


def _differences(stored: dict[str, np.ndarray], now: dict[str, np.ndarray], rtol: float = 0.0) -> list[str]:
    """What changed from ``stored`` to ``now``; float differences within ``rtol`` of the variable's scale pass."""
    lines = [f"new variable {k}" for k in sorted(set(now) - set(stored))]
    lines += [f"missing variable {k}" for k in sorted(set(stored) - set(now))]
    for k in sorted(set(stored) & set(now)):
        a, b = stored[k], now[k]
        if a.shape != b.shape or a.dtype != b.dtype:
            lines.append(f"{k}: shape/dtype {a.shape} {a.dtype} -> {b.shape} {b.dtype}")
        elif not np.array_equal(a, b, equal_nan=a.dtype.kind in "fc") and not _within_last_bits(a, b, rtol):
            a64, b64 = a.astype(np.float64), b.astype(np.float64)
            moved = ~((a64 == b64) | (np.isnan(a64) & np.isnan(b64)))
            diff = np.abs(a64 - b64)[moved]
            finite = diff[np.isfinite(diff)]
            lines.append(f"{k}: {int(moved.sum())} of {a.size} values differ"
                         + (f", largest by {finite.max():.3g}" if finite.size else "")
                         + (f", {int(diff.size - finite.size)} to or from NaN/inf" if finite.size < diff.size else ""))
    return lines


def _within_last_bits(a: np.ndarray, b: np.ndarray, rtol: float) -> bool:
    if rtol == 0.0 or a.dtype.kind not in "fc":
        return False
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    if not np.array_equal(np.isfinite(a64), np.isfinite(b64)) or not np.array_equal(a64[~np.isfinite(a64)], b64[~np.isfinite(b64)], equal_nan=True):
        return False
    finite = np.isfinite(a64)
    scale = max(1.0, float(np.abs(a64[finite]).max(initial=0.0)))
    return bool(np.all(np.abs(a64[finite] - b64[finite]) <= rtol * scale))


CASES = [(s, m) for s in _library() for m in GOLDEN_MODELS]


@pytest.mark.parametrize(("scenario", "model"), CASES, ids=[f"{s}-{m}" for s, m in CASES])
def test_golden(scenario, model, request):
    path = GOLDEN_DIR / f"{scenario}-{model}.npz"
    now = _numeric_arrays(_run(scenario, model))
    if request.config.getoption("--update-golden"):
        stored = dict(np.load(path)) if path.exists() else {}
        changes = _differences(stored, now) if path.exists() else ["new golden file"]
        GOLDEN_DIR.mkdir(exist_ok=True)
        np.savez_compressed(path, **now)
        print(f"\n{path.name}: " + ("; ".join(changes) if changes else "unchanged"))
        return
    assert path.exists(), f"no golden file {path.name}: run pytest tests/test_golden.py --update-golden"
    with np.load(path) as f:
        stored = dict(f)
    changes = _differences(stored, now, rtol=GOLDEN_RTOL)
    assert not changes, f"{path.name} differs from the stored golden output:\n  " + "\n  ".join(changes)


def test_every_golden_file_has_a_case():
    """A golden file without a case (a scenario or model removed) is stale, not silently ignored."""
    expected = {f"{s}-{m}.npz" for s, m in CASES}
    assert {p.name for p in GOLDEN_DIR.glob("*.npz")} <= expected


def test_differences_name_every_kind_of_change():
    stored = {"a": np.zeros(3), "b": np.ones(2), "gone": np.ones(1)}
    now = {"a": np.array([0.0, 1e-300, 0.0]), "b": np.ones(2), "new": np.ones(1)}
    lines = _differences(stored, now)
    assert lines == ["new variable new", "missing variable gone", "a: 1 of 3 values differ, largest by 1e-300"]


def test_last_bit_differences_pass_and_real_changes_do_not():
    stored = {"x": np.array([100.0, 2.0, np.nan]), "n": np.array([3, 4])}
    last_bits = {"x": np.array([100.0, 2.0 + 2.0**-45, np.nan]), "n": np.array([3, 4])}
    assert _differences(stored, last_bits, rtol=GOLDEN_RTOL) == []
    assert _differences(stored, last_bits) == ["x: 1 of 3 values differ, largest by 2.84e-14"]
    moved = {"x": np.array([100.0, 2.0 + 1e-6, np.nan]), "n": np.array([3, 4])}
    assert _differences(stored, moved, rtol=GOLDEN_RTOL) == ["x: 1 of 3 values differ, largest by 1e-06"]
    to_inf = {"x": np.array([100.0, np.inf, np.nan]), "n": np.array([3, 4])}
    assert _differences(stored, to_inf, rtol=GOLDEN_RTOL) != []
    ints = {"x": stored["x"], "n": np.array([3, 5])}
    assert _differences(stored, ints, rtol=GOLDEN_RTOL) == ["n: 1 of 2 values differ, largest by 1"]
