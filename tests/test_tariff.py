"""The ``tariff`` shock kind: an ad valorem rate turned into a share of trade lost per draw,
``1 - (1 + rate)^(-elasticity)`` (docs/scenarios.md eq. T1), with a sampled trade elasticity."""

from __future__ import annotations

import math

import numpy as np
import pytest

from shockmodel.errors import ScenarioError
from shockmodel.sampling import ppf
from shockmodel.scenario import (
    DEFAULT_TRADE_ELASTICITY,
    compile_scenario,
    format_scenario,
    scenario_from_dict,
    tariff_share_lost,
)


def _scenario(shock: dict, extra: dict | None = None) -> dict:
    return {"name": "t", "packages": {"p": {"probability": 1.0, "source": "assumption: test", "correlation": 0.5,
                                            "shocks": {"s": {"source": "assumption: test", **shock}, **(extra or {})}}}}


TARIFF = {"kind": "tariff", "exporters": ["CHN"], "importers": ["USA", "JPN"], "sectors": ["TRANSPORT_EQ"]}


def test_share_lost_formula():
    assert tariff_share_lost(0.0, 2.0) == 0.0
    assert tariff_share_lost(0.5, 0.0) == 0.0
    assert math.isclose(float(tariff_share_lost(0.5, 0.76)), 1 - 1.5 ** -0.76, rel_tol=1e-14)
    assert math.isclose(float(tariff_share_lost(1.0, 1.0)), 0.5, rel_tol=1e-14)
    # more tariff or more elasticity: more trade lost; never all of it
    r = np.linspace(0, 5, 51)
    assert np.all(np.diff(tariff_share_lost(r, 0.76)) > 0) and np.all(tariff_share_lost(r, 2.25) < 1)


def test_default_elasticity_is_filled_in_and_cited(default_table):
    spec = scenario_from_dict(_scenario({**TARIFF, "severity": {"dist": "fixed", "value": 0.5}}))
    shock = spec.packages[0].shocks[0]
    dist, named = DEFAULT_TRADE_ELASTICITY
    assert shock.elasticity.dist == dist and shock.elasticity.named()["mode"] == named["mode"]
    assert "Boehm" in shock.elasticity_source
    # the resolved scenario carries it, so inputs/scenario.toml of a run says which elasticity was used
    again = scenario_from_dict(spec.to_dict())
    assert again.sha256 == spec.sha256 and again.packages[0].shocks[0].elasticity == shock.elasticity
    text = format_scenario(spec)
    assert "trade elasticity: pert(low=0.4, mode=0.76, high=2.25" in text and "ad valorem rate" in text
    compiled = compile_scenario(spec, default_table)
    assert compiled.shocks[0].kind == "tariff" and compiled.shocks[0].elasticity == shock.elasticity
    m = compiled.shocks[0].mask
    r, s = default_table.regions.index, default_table.sectors.index("TRANSPORT_EQ")
    assert m[r("CHN"), r("USA"), s] and m[r("CHN"), r("JPN"), s] and m.sum() == 2


@pytest.mark.parametrize("shock, field, words", [
    ({"severity": {"dist": "uniform", "low": -0.1, "high": 0.5}}, "severity", "must be >= 0"),
    ({"severity": {"dist": "fixed", "value": 0.5}, "elasticity": {"dist": "fixed", "value": 1.0}},
     "elasticity_source", "required when elasticity is given"),
    ({"severity": {"dist": "fixed", "value": 0.5}, "elasticity_source": "x"}, "elasticity_source",
     "without 'elasticity'"),
    ({"severity": {"dist": "fixed", "value": 0.5}, "elasticity": {"dist": "uniform", "low": -1, "high": 1},
      "elasticity_source": "x"}, "elasticity", "must be >= 0"),
    ({"severity": {"dist": "fixed", "value": 0.5}, "elasticty": {"dist": "fixed", "value": 1}}, "elasticty",
     "did you mean 'elasticity'"),
])
def test_bad_tariffs_are_one_line_errors(shock, field, words):
    with pytest.raises(ScenarioError) as err:
        scenario_from_dict(_scenario({**TARIFF, **shock}))
    assert err.value.field.endswith(field) and words in str(err.value) and "\n" not in str(err.value)


def test_elasticity_is_not_a_key_of_other_kinds():
    with pytest.raises(ScenarioError, match="unknown key 'elasticity'"):
        scenario_from_dict(_scenario({"kind": "trade_block", "exporters": ["CHN"], "importers": ["USA"],
                                      "severity": {"dist": "fixed", "value": 0.5},
                                      "elasticity": {"dist": "fixed", "value": 1.0}}))


def _run(spec, draws=512, seed=3):
    import shockmodel as sm

    return sm.run(spec, table="default", draws=draws, seed=seed, model="leontief", markets=None)


def test_fixed_tariff_equals_the_trade_block_it_maps_to():
    """A fixed 50% tariff with a fixed elasticity 0.76 is a trade block of 1 - 1.5^-0.76, bit for bit."""
    share = float(tariff_share_lost(0.5, 0.76))
    tariff = scenario_from_dict(_scenario({**TARIFF, "severity": {"dist": "fixed", "value": 0.5},
                                           "elasticity": {"dist": "fixed", "value": 0.76},
                                           "elasticity_source": "assumption: test"}))
    block = scenario_from_dict(_scenario({**{**TARIFF, "kind": "trade_block"},
                                          "severity": {"dist": "fixed", "value": share}}))
    a, b = _run(tariff), _run(block)
    assert np.all(a["severity"].values == share)
    np.testing.assert_array_equal(a["gdp_loss"].values, b["gdp_loss"].values)
    assert float(a["world_gdp_loss_pct"].mean()) > 0


def test_rate_and_elasticity_are_sampled_per_draw_and_independent():
    """Sampled shares follow 1 - (1 + T)^-E for independent T (the package's intensity) and E (its own
    stream): their mean matches a quadrature over the two distributions, and with the rate fixed the
    elasticity alone still spreads the share."""
    rate = {"dist": "uniform", "low": 0.25, "high": 1.0}
    spec = scenario_from_dict(_scenario({**TARIFF, "severity": rate}))
    draws = 20_000
    sev = _run(spec, draws=draws)["severity"].values[:, 0]
    u = (np.arange(400) + 0.5) / 400
    t = ppf("uniform", (0.25, 1.0), u)
    e = ppf("pert", (0.4, 0.76, 2.25, 4.0), u)
    expected = tariff_share_lost(t[:, None], e[None, :]).mean()
    assert abs(sev.mean() - expected) < 4 * sev.std() / math.sqrt(draws)
    fixed_rate = scenario_from_dict(_scenario({**TARIFF, "severity": {"dist": "fixed", "value": 0.5}}))
    shares = _run(fixed_rate)["severity"].values[:, 0]
    sigma = -np.log1p(-shares) / math.log(1.5)          # the elasticity each draw used
    assert sigma.min() >= 0.4 - 1e-9 and sigma.max() <= 2.25 + 1e-9 and sigma.std() > 0.1
    # the elasticity stream is independent of the package's intensity: a second shock of the package
    # (correlation 0.5 with the rate's latent) does not move with the elasticity
    both = scenario_from_dict(_scenario({**TARIFF, "severity": {"dist": "fixed", "value": 0.5}}, extra={
        "cap": {"kind": "capacity", "regions": ["CHN"], "source": "assumption: test",
                "severity": {"dist": "uniform", "low": 0.0, "high": 0.2}}}))
    sv = _run(both, draws=4096)["severity"].values
    assert abs(np.corrcoef(sv[:, 0], sv[:, 1])[0, 1]) < 0.1


def test_tariff_scenario_is_reproducible_across_chunking():
    import shockmodel as sm

    spec = scenario_from_dict(_scenario({**TARIFF, "severity": {"dist": "pert", "low": 0.1, "mode": 0.5, "high": 1.0}}))
    a = sm.run(spec, table="default", draws=700, seed=5, model="leontief", markets=None, chunk_size=256)
    b = sm.run(spec, table="default", draws=700, seed=5, model="leontief", markets=None, chunk_size=1024)
    np.testing.assert_array_equal(a["severity"].values, b["severity"].values)
    np.testing.assert_array_equal(a["gdp_loss"].values, b["gdp_loss"].values)
