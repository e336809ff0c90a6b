"""Generated hostile input (hypothesis): scenario files and ``--set`` values.

Every outcome must be exit status 0 with finite results, or exit status 2 with one line naming what was
wrong; never a traceback, a hang or a NaN. Example counts are bounded so the module stays within a
minute or two; the runs of accepted inputs are small (256 draws, leontief, no market channel). The
outcome counts are printed at the end of the module (``pytest -s tests/test_fuzz.py``).
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import tomli_w
from click.testing import CliRunner
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from shockmodel.cli import main
from shockmodel.scenario import DISTRIBUTIONS, SHOCK_KINDS

COUNTS: Counter = Counter()
# derandomized (the same cases every run); no shrinking, which can take minutes when each case is a run
FUZZ = settings(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck),
                phases=(Phase.explicit, Phase.generate))


@pytest.fixture(scope="module", autouse=True)
def report_counts():
    yield
    print("\nfuzz outcomes:", dict(sorted(COUNTS.items())))


def classify(res, what: str) -> str:
    """'ok' or 'rejected' (exit 2, one line); anything else fails the test."""
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert "Traceback" not in res.output, res.output
    if res.exit_code == 2:
        assert len(lines) == 1 and lines[0].startswith("Error: "), res.output
        COUNTS[f"{what}: exit 2, one line"] += 1
        return "rejected"
    assert res.exit_code == 0, (res.exit_code, res.output, res.exception)
    COUNTS[f"{what}: exit 0"] += 1
    return "ok"


def assert_finite_run(out: Path) -> None:
    import xarray as xr

    (folder,) = out.iterdir()
    with xr.open_dataset(folder / "data.nc", engine="h5netcdf") as ds:
        for name, var in ds.data_vars.items():
            if var.dtype.kind == "f":
                assert np.isfinite(var.values).all(), name
        g = ds.gdp_loss_pct.values
        assert (g >= -1e-9).all() and (g <= 100 + 1e-9).all()
        sev = ds.severity.values
        for j, units in enumerate(ds.shock_units.values):
            col = sev[:, j]
            assert (col >= 0).all() and (units != "share" or (col <= 1).all())


# --- strategies -------------------------------------------------------------------------------------------

weird_numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(min_value=-(10**30), max_value=10**30),
    st.just(10**400), st.just(-(10**400)), st.sampled_from([0, 1, 0.5, 1e-300, 1e300, -1.0, 2.0]))
plausible = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
numbers = st.one_of(plausible, plausible, weird_numbers)
names = st.one_of(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True),
                  st.text(min_size=0, max_size=12))
labels = st.lists(st.sampled_from(["TWN", "CHN", "USA", "RUS", "ALL", "DEU", "SEMICONDUCTORS", "XX", ""]),
                  min_size=0, max_size=3)


@st.composite
def severities(draw, unit: str = "share"):
    """Mostly valid severities of a kind's unit (share, months, days), sometimes at or past the edges."""
    top = 1.0 if unit == "share" else draw(st.sampled_from([12.0, 60.0, 1e6, 1e12]))
    lo, mode, hi = sorted(draw(st.lists(st.floats(0.0, top), min_size=3, max_size=3)))
    choice = draw(st.sampled_from(["pert", "triangular", "uniform", "fixed", "lognormal", "beta", "truncnormal"]))
    if choice in ("pert", "triangular"):
        return {"dist": choice, "low": lo, "mode": mode, "high": hi}
    if choice == "uniform":
        return {"dist": "uniform", "low": lo, "high": hi}
    if choice == "fixed":
        return {"dist": "fixed", "value": mode}
    if choice == "beta":
        return {"dist": "beta", "a": draw(st.floats(0.01, 50)), "b": draw(st.floats(0.01, 50))}
    if choice == "truncnormal":
        return {"dist": "truncnormal", "mean": mode, "sd": draw(st.floats(1e-6, 10)), "low": lo, "high": hi}
    return {"dist": "lognormal", "median": draw(st.floats(1e-3, 10)),
            "sigma": draw(st.one_of(st.floats(1e-3, 100), st.sampled_from([88.0, 89.0, 200.0, 1e200])))}


SHOCK_TEMPLATES = {
    "trade_block": ({"exporters": ["TWN"], "importers": ["ALL"], "sectors": ["SEMICONDUCTORS"]}, "share"),
    "capacity": ({"regions": ["TWN"]}, "share"),
    "payment_friction": ({"regions": ["RUS"], "partners": ["ALL"]}, "share"),
    "final_demand": ({"regions": ["USA", "CHN"]}, "share"),
    "substitution": ({"sectors": ["ALL"]}, "share"),
    "duration": ({}, "months"),
    "inventory": ({}, "days"),
}


@st.composite
def valid_scenarios(draw):
    packages = {}
    for i in range(draw(st.integers(1, 3))):
        kinds = draw(st.lists(st.sampled_from(sorted(SHOCK_TEMPLATES)), min_size=1, max_size=3, unique=True))
        shocks = {}
        for j, kind in enumerate(kinds):
            targets, unit = SHOCK_TEMPLATES[kind]
            shocks[f"s{j}"] = {"kind": kind, **targets, "severity": draw(severities(unit)), "source": "test"}
        packages[f"p{i}"] = {"probability": draw(plausible), "source": "test", "shocks": shocks}
    data = {"name": "fuzz", "packages": packages, "horizon_months": draw(st.floats(0.5, 36))}
    if draw(st.booleans()):
        data["coordination"] = draw(st.floats(-0.4, 1.0))
        data["coordination_source"] = "assumption"
    return data


def _paths(node, prefix=()):
    """Every key path of nested dicts (leaves and tables)."""
    for key, value in node.items():
        yield (*prefix, key)
        if isinstance(value, dict):
            yield from _paths(value, (*prefix, key))


@st.composite
def scenarios(draw):
    """A valid scenario with zero to two hostile edits: a weird value at any key path, a deleted key,
    an unknown key, an odd name, a kind or distribution that does not exist."""
    data = draw(valid_scenarios())
    for _ in range(draw(st.integers(0, 2))):
        path = draw(st.sampled_from(sorted(_paths(data))))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        edit = draw(st.sampled_from(["value", "delete", "unknown", "name", "kind", "labels"]))
        if edit == "value":
            parent[path[-1]] = draw(st.one_of(weird_numbers, names, st.lists(weird_numbers, max_size=2)))
        elif edit == "delete" and len(parent) > 1:
            del parent[path[-1]]
        elif edit == "unknown":
            parent[draw(names)] = draw(weird_numbers)
        elif edit == "name":
            data["name"] = draw(names)
        elif edit == "kind" and isinstance(parent.get("kind"), str):
            parent["kind"] = draw(st.sampled_from([*SHOCK_KINDS, "nuclear"]))
        elif edit == "labels" and isinstance(parent.get(path[-1]), list):
            parent[path[-1]] = draw(labels)
        if isinstance(parent.get("dist"), str) and draw(st.booleans()):
            parent["dist"] = draw(st.sampled_from([*DISTRIBUTIONS, "gamma"]))
    return data


def to_text(data, cut: int | None) -> str:
    try:
        text = tomli_w.dumps(data)
    except (TypeError, ValueError):   # tomli_w cannot write some values (e.g. control characters in keys)
        text = "name = 'fuzz'\n[packages.p]\nprobability = 'x'\n"
    return text if cut is None else text[:cut]


# --- tests ------------------------------------------------------------------------------------------------


@settings(FUZZ, max_examples=150)
@given(data=scenarios(), cut=st.one_of(st.none(), st.none(), st.integers(0, 400)))
def test_generated_scenario_files_validate_or_fail_in_one_line(data, cut):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.toml"
        path.write_text(to_text(data, cut))
        classify(CliRunner().invoke(main, ["scenarios", "validate", str(path)]), "scenario validate")


@pytest.mark.slow
@settings(FUZZ, max_examples=40)
@given(data=scenarios())
def test_generated_scenarios_run_finite_or_fail_in_one_line(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "s.toml"
        path.write_text(to_text(data, None))
        out = Path(tmp) / "out"
        res = CliRunner().invoke(main, ["run", str(path), "-n", "256", "-m", "leontief", "--markets", "none",
                                        "--no-report", "-q", "--out", str(out)])
        if classify(res, "scenario run") == "ok":
            assert_finite_run(out)
        else:
            assert not out.exists() or not list(out.iterdir())


GOOD_KEYS = ["horizon_months", "packages.china_taiwan.probability", "packages.china_taiwan.correlation",
             "packages.china_taiwan.shocks.tw_exports_world.severity"]
SET_KEYS = [*GOOD_KEYS * 3, "coordination", "packages.china_taiwan.shocks.tw_exports_world.severity.mode",
            "name", "packages", "packages.nope.probability", "a..b", ""]
set_values = st.one_of(
    st.from_type(float).map(repr), st.integers(-(10**30), 10**30).map(str), st.just("9" * 400),
    st.just("[" * 2000 + "]" * 2000), st.just('{ dist = "lognormal", median = 0.5, sigma = 1e200 }'),
    st.just('{ dist = "pert", low = 0.2, mode = 0.5, high = 0.9 }'), st.just('"a\\u0000b"'),
    st.text(max_size=20), st.floats(0, 1).map(repr), st.floats(0, 1).map(repr), st.floats(0, 1).map(repr))


@pytest.mark.slow
@settings(FUZZ, max_examples=40)
@given(key=st.sampled_from(SET_KEYS), value=set_values)
def test_generated_set_values_run_finite_or_fail_in_one_line(key, value):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        res = CliRunner().invoke(main, ["run", "taiwan_blockade", "-n", "256", "-m", "leontief", "--markets",
                                        "none", "--no-report", "-q", "--out", str(out), "--set", f"{key}={value}"])
        if classify(res, "--set run") == "ok":
            assert_finite_run(out)

