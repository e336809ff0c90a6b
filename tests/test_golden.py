"""Golden outputs: every library scenario under every model, compared exactly with stored results.

Each file ``tests/golden/<scenario>-<model>.npz`` holds every numeric variable (data and coordinates) of a
small run: ``GOLDEN_DRAWS`` draws (part of one block: a run's last, partial block; fewer for the dynamic
model, whose monthly paths make each draw twenty times larger), seed ``GOLDEN_SEED``, the default
table, the default market parameters, ``structure="central"`` (the declared critical-input weights: the
default run samples their classes, docs/model.md eq. 54-55, and is checked against this one in
tests/test_structure.py), and, for scenarios with several packages, each package alone beside the
combination (the simultaneity premium). A changed, missing or new variable fails the test; only
``pytest tests/test_golden.py --update-golden`` rewrites the files, and it prints what changed.
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


def _differences(stored: dict[str, np.ndarray], now: dict[str, np.ndarray]) -> list[str]:
    lines = [f"new variable {k}" for k in sorted(set(now) - set(stored))]
    lines += [f"missing variable {k}" for k in sorted(set(stored) - set(now))]
    for k in sorted(set(stored) & set(now)):
        a, b = stored[k], now[k]
        if a.shape != b.shape or a.dtype != b.dtype:
            lines.append(f"{k}: shape/dtype {a.shape} {a.dtype} -> {b.shape} {b.dtype}")
        elif not np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"):
            a64, b64 = a.astype(np.float64), b.astype(np.float64)
            moved = ~((a64 == b64) | (np.isnan(a64) & np.isnan(b64)))
            diff = np.abs(a64 - b64)[moved]
            finite = diff[np.isfinite(diff)]
            lines.append(f"{k}: {int(moved.sum())} of {a.size} values differ"
                         + (f", largest by {finite.max():.3g}" if finite.size else "")
                         + (f", {int(diff.size - finite.size)} to or from NaN/inf" if finite.size < diff.size else ""))
    return lines


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
    changes = _differences(stored, now)
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
