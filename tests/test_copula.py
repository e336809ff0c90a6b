"""Student-t copula option (scenario keys copula, copula_df; engine.latents_to_sample)."""

import numpy as np
import pytest

from shockmodel import engine
from shockmodel.errors import UserError
from shockmodel.io.tables import load_table
from shockmodel.scenario import compile_scenario, load_scenario, scenario_from_dict

RHO = 0.5


def _spec(copula: dict, probability: float = 1.0):
    """Two uniform(0, 1) capacity shocks in one package with within-package correlation RHO: the
    severities are the copula's uniforms themselves."""
    shock = {"kind": "capacity", "regions": ["TWN"], "sectors": ["SEMICONDUCTORS"],
             "severity": {"dist": "uniform", "low": 0.0, "high": 1.0}, "source": "test"}
    return scenario_from_dict({"name": "pair", "horizon_months": 12, **copula, "packages": {"p": {
        "probability": probability, "correlation": RHO, "source": "test", "shocks": {"a": dict(shock), "b": dict(shock)}}}})


def _uniforms(copula: dict, blocks: int = 100):
    mrio = load_table("default")
    plan = engine.make_plan(compile_scenario(_spec(copula), mrio), mrio)
    return np.concatenate([engine.sample_block(plan, 1, k, engine.BLOCK).severity for k in range(blocks)])


T4 = {"copula": "t", "copula_df": 4.0, "copula_source": "assumption: test"}


def test_t_copula_has_tail_dependence_that_the_gaussian_lacks():
    """At equal correlation (0.5) the t(4) copula puts more draws in the joint upper tail. Joint exceedance
    of the 95% quantiles, theory (scipy.stats bivariate cdfs): Gaussian 0.0122, t(4) 0.0170; 25,600 draws give binomial sd 0.0007 and
    0.0008, so the gap is over 4 sd. Marginals stay uniform."""
    g, t = _uniforms({}), _uniforms(T4)
    joint_g = np.mean((g[:, 0] > 0.95) & (g[:, 1] > 0.95))
    joint_t = np.mean((t[:, 0] > 0.95) & (t[:, 1] > 0.95))
    assert joint_t > joint_g + 0.003, (joint_g, joint_t)
    # conditional exceedance P(U2 > 0.99 | U1 > 0.99): t(4) tail dependence keeps it high
    assert np.mean(t[t[:, 0] > 0.99, 1] > 0.99) > np.mean(g[g[:, 0] > 0.99, 1] > 0.99)
    for u in (g, t):   # marginals: uniform quantiles within 0.01
        np.testing.assert_allclose(np.quantile(u, [0.1, 0.5, 0.9], axis=0).T, [[0.1, 0.5, 0.9]] * 2, atol=0.01)


def test_t_copula_with_many_degrees_of_freedom_is_the_gaussian():
    g = _uniforms({}, blocks=4)
    t = _uniforms({"copula": "t", "copula_df": 1e6, "copula_source": "assumption: test"}, blocks=4)
    np.testing.assert_allclose(t, g, atol=2e-3)


def test_t_copula_occurrence_keeps_the_probability():
    mrio = load_table("default")
    plan = engine.make_plan(compile_scenario(_spec(T4, probability=0.3), mrio), mrio)
    occ = np.concatenate([engine.sample_block(plan, 2, k, engine.BLOCK).occurred for k in range(40)])
    assert occ.mean() == pytest.approx(0.3, abs=0.015)   # binomial sd 0.003 over 10,240 draws


def test_gaussian_default_is_unchanged():
    """No copula key: the spec writes none (same sha256 as before the option existed) and sample_block runs
    the numba kernel path; latents_to_sample on the same normals gives the same numbers bit for bit."""
    spec = load_scenario("taiwan_blockade")
    assert "copula" not in spec.to_dict() and "copula_df" not in spec.to_dict()
    mrio = load_table("default")
    plan = engine.cached_plan(compile_scenario(spec, mrio), mrio)
    assert plan.copula_df == 0.0
    smp = engine.sample_block(plan, 5, 3, engine.BLOCK)
    rng = np.random.default_rng(np.random.SeedSequence(5, spawn_key=(3,)))
    P, K = plan.n_packages, plan.n_shocks
    W, F, E = rng.standard_normal((engine.BLOCK, P)), rng.standard_normal((engine.BLOCK, P)), rng.standard_normal((engine.BLOCK, K))
    occ, sev = np.empty((engine.BLOCK, P), bool), np.empty((engine.BLOCK, K))
    engine.latents_to_sample(plan, W, F, E, None, occ, sev)
    assert np.array_equal(sev, smp.severity) and np.array_equal(occ, smp.occurred)


@pytest.mark.parametrize("keys, message", [
    ({"copula": "t", "copula_source": "x"}, "copula_df: required"),
    ({"copula": "t", "copula_df": 4}, "copula_source: required"),
    ({"copula_df": 4, "copula": "gaussian", "copula_source": "x"}, "only a Student-t copula"),
    ({"copula": "clayton", "copula_source": "x"}, "unknown copula 'clayton'"),
    ({"copula": "t", "copula_df": 0.5, "copula_source": "x"}, "copula_df"),
])
def test_bad_copula_keys_are_user_errors(keys, message):
    with pytest.raises(UserError, match=message):
        _spec(keys)
