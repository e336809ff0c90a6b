"""Every library scenario validates and runs (a few draws) on every shipped table."""

from __future__ import annotations

import numpy as np
import pytest

from shockmodel import pipeline
from shockmodel.io.tables import list_tables, load_table
from shockmodel.scenario import compile_scenario, list_scenarios, load_scenario

TABLES = sorted(list_tables())
SCENARIOS = sorted(list_scenarios())


@pytest.mark.parametrize("table", TABLES)
@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_validates(scenario, table):
    compiled = compile_scenario(load_scenario(scenario), load_table(table))
    assert compiled.name == scenario


def _run_cases():
    # the 41-region tables take seconds per run (compile and solve): slow
    return [pytest.param(s, t, marks=pytest.mark.slow) if t.startswith("wiod") else (s, t)
            for t in TABLES for s in SCENARIOS]


@pytest.mark.parametrize(("scenario", "table"), _run_cases())
def test_scenario_runs(scenario, table):
    ds = pipeline.run(scenario, table=table, draws=64, seed=0, markets=None)
    assert ds.attrs["table"] == load_table(table).name
    assert ds.attrs["table_year"] == load_table(table).meta["year"]
    assert ds.attrs["attribution"].startswith("Data: WIOD 2013 release")
    numeric = [v for v in ds.data_vars.values() if np.issubdtype(v.dtype, np.number)]
    assert numeric and all(np.isfinite(v.values).all() for v in numeric)
