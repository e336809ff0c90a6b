"""Every TOML example in docs/scenarios.md validates on the default table, and the guide covers every
shock kind and distribution.

A block with a ``name`` is a whole scenario; any other block is a fragment (shocks of a package called
``example``, groups, critical inputs) merged into a one-package base scenario, as a reader would paste it.
"""

from __future__ import annotations

import copy
import re
import tomllib
from pathlib import Path

import pytest

from shockmodel.errors import ScenarioError
from shockmodel.scenario import DISTRIBUTIONS, SHOCK_KINDS, compile_scenario, scenario_from_dict

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "scenarios.md"
BLOCKS = re.findall(r"^```toml\n(.*?)^```", GUIDE.read_text(encoding="utf-8"), flags=re.S | re.M)
BASE = {"name": "guide_fragment",
        "packages": {"example": {"probability": 1.0, "source": "assumption: guide example", "shocks": {
            "base": {"kind": "capacity", "regions": ["TWN"], "severity": {"dist": "fixed", "value": 0.1},
                     "source": "assumption: guide example"}}}}}


def _merge(base: dict, top: dict) -> dict:
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict) and "dist" not in value:
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def _scenario(text: str) -> dict:
    data = tomllib.loads(text)
    return data if "name" in data else _merge(copy.deepcopy(BASE), data)


def test_the_guide_has_examples():
    assert len(BLOCKS) >= 15


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_every_example_validates(index, default_table):
    spec = scenario_from_dict(_scenario(BLOCKS[index]), source=f"docs/scenarios.md block {index + 1}",
                              base_dir=GUIDE.parent)
    compile_scenario(spec, default_table)


def test_every_kind_and_distribution_has_an_example():
    data = [scenario_from_dict(_scenario(b), base_dir=GUIDE.parent).to_dict() for b in BLOCKS]
    shocks = [s for d in data for p in d["packages"].values() for s in p["shocks"].values()]
    assert {s["kind"] for s in shocks} == set(SHOCK_KINDS)
    assert {s["severity"]["dist"] for s in shocks} == set(DISTRIBUTIONS)


def test_the_quoted_error_is_what_the_code_says(default_table):
    quoted = re.search(r"^Error: my\.toml: (packages\.china\.shocks\.minerals\.importers): (.*?) \(on table",
                       GUIDE.read_text(encoding="utf-8"), flags=re.M)
    data = tomllib.loads(BLOCKS[0])
    data["packages"]["china"]["shocks"]["minerals"]["importers"] = ["EU28"]
    with pytest.raises(ScenarioError) as err:
        compile_scenario(scenario_from_dict(data, source="my.toml"), default_table)
    assert err.value.field == quoted.group(1)
    assert str(err.value).startswith(f"my.toml: {quoted.group(1)}: {quoted.group(2)} (on table")
