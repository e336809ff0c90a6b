"""An unknown name's list of choices names each label or group once, also when a scenario group reuses a
shipped group's name (docs/scenarios.md: the scenario's wins)."""

import re

import pytest

from shockmodel.errors import ScenarioError
from shockmodel.scenario import compile_scenario, scenario_from_dict


def test_choices_name_a_shadowed_group_once(default_table):
    spec = scenario_from_dict({"name": "x", "region_groups": {"G7": ["USA"]}, "packages": {"p": {
        "probability": 1.0, "source": "a", "shocks": {"s": {
            "kind": "trade_block", "exporters": ["CHN"], "importers": ["NO_SUCH"],
            "severity": {"dist": "fixed", "value": 0.5}, "source": "a"}}}}})
    with pytest.raises(ScenarioError) as err:
        compile_scenario(spec, default_table)
    choices = re.search(r"choose from: ([^)]*)\)", str(err.value)).group(1).split(", ")
    assert "G7" in choices and len(choices) == len(set(choices)), choices
