"""Per-scenario critical inputs (``[critical_inputs]``, docs/scenarios.md): checked like the rest of a
scenario, expanded through groups, and applied on top of params/critical_inputs.toml in the pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from shockmodel.criticality import critical_weights, with_overrides
from shockmodel.errors import ScenarioError
from shockmodel.scenario import compile_scenario, format_scenario, scenario_from_dict

CUT = {"kind": "trade_block", "exporters": ["CHN"], "importers": ["ALL"], "sectors": ["MINERALS"],
       "severity": {"dist": "fixed", "value": 0.8}, "source": "assumption: test"}


def _scenario(critical=None) -> dict:
    data = {"name": "minerals", "sector_groups": {"MINERALS": ["BASIC_METALS", "CHEMICALS"]},
            "packages": {"p": {"probability": 1.0, "source": "assumption: test", "shocks": {"cut": CUT}}}}
    if critical is not None:
        data["critical_inputs"] = critical
    return data


VEHICLES = {"TRANSPORT_EQ": {"MINERALS": {"weight": 1.0, "source": "assumption: test"}}}


def test_overrides_compile_through_groups(default_table):
    spec = scenario_from_dict(_scenario(VEHICLES))
    compiled = compile_scenario(spec, default_table)
    s = default_table.sectors.index
    assert set(compiled.critical_overrides) == {(s("BASIC_METALS"), s("TRANSPORT_EQ"), 1.0),
                                                (s("CHEMICALS"), s("TRANSPORT_EQ"), 1.0)}
    W = critical_weights(default_table)
    W2 = with_overrides(W, compiled.critical_overrides)
    assert W[s("BASIC_METALS"), s("TRANSPORT_EQ")] == 0.5 and W2[s("BASIC_METALS"), s("TRANSPORT_EQ")] == 1.0
    assert W2[s("CHEMICALS"), s("TRANSPORT_EQ")] == 1.0 and not W2.flags.writeable
    changed = np.argwhere(W2 != W)
    assert {tuple(x) for x in changed} == {(s("BASIC_METALS"), s("TRANSPORT_EQ")), (s("CHEMICALS"), s("TRANSPORT_EQ"))}
    # no overrides: the very same array, so the plan (and every number) is that of the file
    plain = compile_scenario(scenario_from_dict(_scenario()), default_table)
    assert plain.critical_overrides == () and with_overrides(W, plain.critical_overrides) is W
    assert "TRANSPORT_EQ needs MINERALS: weight 1" in format_scenario(spec)
    # the resolved scenario keeps them; a scenario without them has no such key (its sha256 is unchanged)
    assert scenario_from_dict(spec.to_dict()).critical_inputs == spec.critical_inputs
    assert "critical_inputs" not in scenario_from_dict(_scenario()).to_dict()


def test_a_lower_weight_replaces_the_file(default_table):
    spec = scenario_from_dict(_scenario({"TRANSPORT_EQ": {"SEMICONDUCTORS": {"weight": 0.0, "source": "test"}}}))
    s = default_table.sectors.index
    W2 = with_overrides(critical_weights(default_table), compile_scenario(spec, default_table).critical_overrides)
    assert W2[s("SEMICONDUCTORS"), s("TRANSPORT_EQ")] == 0.0


@pytest.mark.parametrize("critical, field, words", [
    ({"TRANSPORT_EQ": {"BASIC_METAL": {"weight": 1.0, "source": "x"}}}, "critical_inputs.TRANSPORT_EQ.BASIC_METAL",
     "did you mean 'BASIC_METALS'"),
    ({"VEHICLES": {"BASIC_METALS": {"weight": 1.0, "source": "x"}}}, "critical_inputs.VEHICLES", "unknown sector"),
    ({"TRANSPORT_EQ": {"BASIC_METALS": {"weight": 2.0, "source": "x"}}}, "critical_inputs.TRANSPORT_EQ.BASIC_METALS.weight",
     "must be in [0, 1]"),
    ({"TRANSPORT_EQ": {"BASIC_METALS": {"weight": 1.0}}}, "critical_inputs.TRANSPORT_EQ.BASIC_METALS.source",
     "missing required key 'source'"),
    ({"TRANSPORT_EQ": {"BASIC_METALS": 1.0}}, "critical_inputs.TRANSPORT_EQ.BASIC_METALS", "expected a table"),
    ({"TRANSPORT_EQ": {"BASIC_METALS": {"weight": 1.0, "source": "x", "wieght": 1}}},
     "critical_inputs.TRANSPORT_EQ.BASIC_METALS.wieght", "did you mean 'weight'"),
])
def test_bad_critical_inputs_are_one_line_errors(default_table, critical, field, words):
    with pytest.raises(ScenarioError) as err:
        compile_scenario(scenario_from_dict(_scenario(critical)), default_table)
    assert err.value.field == field and words in str(err.value) and "\n" not in str(err.value)


def test_critical_minerals_cut_hits_vehicles_harder_when_critical():
    """The constrained model: making the cut inputs critical for vehicles lowers vehicle output further."""
    import shockmodel as sm

    kw = dict(table="default", draws=256, seed=0, model="constrained", markets=None)
    plain = sm.run(scenario_from_dict(_scenario()), **kw)
    crit = sm.run(scenario_from_dict(_scenario(VEHICLES)), **kw)
    sel = dict(sector="TRANSPORT_EQ", statistic="mean")
    a = plain["output_loss_pct"].sel(**sel).values
    b = crit["output_loss_pct"].sel(**sel).values
    assert np.all(b >= a - 1e-9) and (b - a).max() > 1.0
