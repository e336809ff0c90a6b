"""Global sensitivity (shockmodel.sensitivity): the Sobol machinery against the Ishigami function's
analytical indices, and the scenario analysis end to end on a small sample."""

import numpy as np
import pytest

from shockmodel import sensitivity
from shockmodel.errors import UserError

A, B = 7.0, 0.1


def ishigami(X):
    return np.sin(X[:, 0]) + A * np.sin(X[:, 1]) ** 2 + B * X[:, 2] ** 4 * np.sin(X[:, 0])


def ishigami_indices():
    """Analytical indices (Ishigami & Homma 1990; Sobol' & Levitan 1999)."""
    v1 = 0.5 * (1 + B * np.pi ** 4 / 5) ** 2
    v2 = A ** 2 / 8
    v13 = B ** 2 * np.pi ** 8 * (1 / 18 - 1 / 50)
    v = v1 + v2 + v13
    return np.array([v1, v2, 0.0]) / v, np.array([v1 + v13, v2, v13]) / v


def test_sobol_machinery_recovers_the_ishigami_indices_within_their_intervals():
    problem = {"num_vars": 3, "names": ["x1", "x2", "x3"], "bounds": [[-np.pi, np.pi]] * 3}
    X = sensitivity.saltelli_sample(problem, 4096, seed=1)
    assert X.shape == (4096 * 5, 3)
    got = sensitivity.sobol_indices(problem, ishigami(X), seed=1, conf_level=0.95)
    s1, st = ishigami_indices()     # S1 = 0.314, 0.442, 0; ST = 0.558, 0.442, 0.244
    assert np.all(np.abs(got["S1"] - s1) <= got["S1_conf"]), (got, s1)
    assert np.all(np.abs(got["ST"] - st) <= got["ST_conf"]), (got, st)
    assert np.all(got["ST_conf"] < 0.05)   # intervals narrow enough to mean something


def test_samples_must_be_a_power_of_two():
    with pytest.raises(UserError, match="power of two"):
        sensitivity.saltelli_sample({"num_vars": 1, "names": ["x"], "bounds": [[0, 1]]}, 100)


@pytest.fixture(scope="module")
def small_run():
    return sensitivity.analyse("russia_2022", samples=64, seed=0, grouping="packages", structure="central")


def test_scenario_sensitivity_dataset(small_run):
    spec, ds = small_run
    assert set(ds.data_vars) >= {"S1", "S1_conf", "ST", "ST_conf", "output_mean"}
    assert list(ds.group.values) == ["russia: common factor (package correlation, coordination)", "russia: shock severities"]
    assert ds.attrs["evaluations"] == 64 * (2 + 2)
    assert "INDEPENDENT latent" in ds.attrs["inputs"]
    w = ds.sel(output="World")
    # the losses vary, and the inputs explain it: total indices are positive
    assert float(ds.output_variance.sel(output="World")) > 0 and (w.ST.values > 0).all()
    tab = sensitivity.summary_table(ds)
    assert tab.ST.is_monotonic_decreasing and (tab.ST_hi >= tab.ST).all()


def test_inputs_follow_the_engine(small_run):
    """At the medians of every latent (u = 0.5) the sensitivity evaluation gives the engine's loss for
    the same severities: the mapping is the engine's own."""
    from shockmodel import engine, pipeline
    from shockmodel.criticality import critical_weights

    mrio = pipeline._table("default")
    _, compiled = pipeline.compile_for("russia_2022", mrio)
    plan = engine.cached_plan(compiled, mrio, "constrained", critical_weights(mrio))
    layout = sensitivity.input_layout(compiled, plan, "shocks")
    assert len(layout.names) == 1 + len(compiled.shocks)
    X = np.full((3, len(layout.names)), 0.5)
    X[1] = 0.9
    world, regional = sensitivity.evaluate(plan, layout, X)
    occ, sev = np.ones((3, 1), bool), np.empty((3, plan.n_shocks))
    from scipy.special import ndtri

    z = ndtri(X)
    engine.latents_to_sample(plan, np.zeros((3, 1)), z[:, :1], z[:, 1:], None, occ, sev)
    out = engine.propagate_block(plan, sev, occ)
    np.testing.assert_allclose(world, 100 * out.gdp_loss.sum(axis=1) / plan.gdp0.sum(), rtol=1e-12)
    assert world[1] > world[0]   # harsher latents, larger loss


def test_sensitivity_command_writes_dataset_table_and_chart(tmp_path):
    from click.testing import CliRunner

    from shockmodel.cli import main

    r = CliRunner().invoke(main, ["sensitivity", "russia_2022", "-n", "32", "-q", "-o", str(tmp_path),
                                  "--output", "World", "--output", "RUS"])
    assert r.exit_code == 0, r.output
    assert "Sobol indices of World GDP loss" in r.output and "Sobol indices of RUS GDP loss" in r.output
    folder = next(tmp_path.iterdir())
    for f in ("data.nc", "sensitivity.csv", "manifest.json", "report/sobol_World.png", "report/sensitivity.pdf"):
        assert (folder / f).is_file(), f
    bad = CliRunner().invoke(main, ["sensitivity", "russia_2022", "-n", "32", "-q", "-o", str(tmp_path),
                                    "--output", "MARS"])
    assert bad.exit_code == 2 and "no output 'MARS'" in bad.output


def test_t_copula_adds_its_mixing_variable_as_an_input():
    t = {"copula": "t", "copula_df": 4.0, "copula_source": "assumption: test"}
    _, ds = sensitivity.analyse("russia_2022", samples=32, seed=0, overrides=t, structure="central")
    assert "t-copula mixing variable" in ds.group.values and ds.attrs["copula"] == "student-t, 4 df"
    assert ds.attrs["evaluations"] == 32 * (3 + 2)


def test_tariff_elasticity_is_an_input_and_mapped_as_the_engine_maps_it():
    """A tariff shock's share lost depends on the sampled trade elasticity: it is an input of its own, and
    at given latents the evaluation equals the engine's severities turned into shares (engine._tariff_shares)."""
    from scipy.special import ndtri

    from shockmodel import engine, pipeline
    from shockmodel.sampling import table_ppf
    from shockmodel.scenario import compile_scenario, scenario_from_dict, tariff_share_lost

    spec = scenario_from_dict({"name": "tariffs", "packages": {"p": {
        "probability": 1.0, "source": "assumption: test", "correlation": 0.5, "shocks": {"t": {
            "kind": "tariff", "exporters": ["CHN"], "importers": ["USA"], "sectors": ["ALL"],
            "severity": {"dist": "uniform", "low": 0.1, "high": 0.6}, "source": "assumption: test"}}}}})
    mrio = pipeline._table("default")
    plan = engine.make_plan(compile_scenario(spec, mrio), mrio)
    layout = sensitivity.input_layout(compile_scenario(spec, mrio), plan, "shocks")
    assert layout.names == ("p.factor", "p.t", "tariff.trade_elasticity")
    X = np.array([[0.5, 0.5, 0.1], [0.5, 0.5, 0.9]])
    world, _ = sensitivity.evaluate(plan, layout, X)
    assert world[1] > world[0] > 0          # a larger elasticity loses more trade
    z = ndtri(X)
    occ, sev = np.ones((2, 1), bool), np.empty((2, 1))
    engine.latents_to_sample(plan, np.zeros((2, 1)), z[:, :1], z[:, 1:2], None, occ, sev)
    (k, (dist, params)), = zip(plan.tariff_cols, plan.elasticities)
    sev[:, k] = tariff_share_lost(sev[:, k], table_ppf(dist, params, z[:, 2]))
    out = engine.propagate_block(plan, sev, occ)
    np.testing.assert_allclose(world, 100 * out.gdp_loss.sum(axis=1) / plan.gdp0.sum(), rtol=1e-12)


def test_dynamic_model_takes_its_behavioural_parameters_as_structural_inputs():
    """The dynamic model's uniforms (targets, substitutable shares, speeds) are inputs, in groups of their own,
    beside the critical-input classes of a sampled structure; an index per group, finite."""
    _, ds = sensitivity.analyse("russia_2022", samples=4, model="dynamic", structure="sampled")
    groups = set(ds.group.values.tolist())
    assert {"structure: inventory target days (per product)", "structure: rerouting speed",
            "structure: critical-input classes"} <= groups
    assert np.isfinite(ds.ST.sel(output="World").values).all()


def test_sampled_structure_adds_the_critical_input_classes_and_maps_them_as_the_engine():
    """Under a sampled structure each declared pair's class uniform is an input; at u = 0.5 every pair takes
    its declared class (eq. 55 with the file's probabilities), so the evaluation equals the central one."""
    from shockmodel import engine, pipeline
    from shockmodel.criticality import critical_weights

    mrio = pipeline._table("default")
    _, compiled = pipeline.compile_for("russia_2022", mrio)
    crit = critical_weights(mrio)
    central = engine.cached_plan(compiled, mrio, "constrained", crit)
    sampled = engine.cached_plan(compiled, mrio, "constrained", crit, structure="sampled")
    lay_c = sensitivity.input_layout(compiled, central, "packages")
    lay_s = sensitivity.input_layout(compiled, sampled, "packages")
    extra = len(lay_s.names) - len(lay_c.names)
    assert extra == len(set(sampled.crit_pair.tolist())) > 0
    assert lay_s.groups[-1] == "structure: critical-input classes"
    X = np.full((2, len(lay_s.names)), 0.5)
    X[1, : len(lay_c.names)] = 0.8
    ws, _ = sensitivity.evaluate(sampled, lay_s, X)
    wc, _ = sensitivity.evaluate(central, lay_c, X[:, : len(lay_c.names)])
    np.testing.assert_array_equal(ws, wc)
    X[:, len(lay_c.names):] = 0.01   # every pair drawn non-critical: a different loss
    w0, _ = sensitivity.evaluate(sampled, lay_s, X)
    assert not np.allclose(w0, wc)


def _full_disk(*args, **kwargs):
    import errno

    raise OSError(errno.ENOSPC, "No space left on device")


def test_sensitivity_folder_appears_complete_or_not_at_all(small_run, tmp_path, monkeypatch):
    """Written as a staged folder (io.results.staged_run_dir), as runs are: a failure while writing
    the report is one line and leaves neither the folder nor a hidden temporary."""
    from shockmodel.errors import UserError
    from shockmodel.report import sensitivity as charts

    spec, ds = small_run
    folder, files = sensitivity.write_sensitivity(ds.copy(), spec, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]
    assert files and all(folder in p.parents and p.is_file() for p in files.values())
    monkeypatch.setattr(charts, "write_charts", _full_disk)
    with pytest.raises(UserError, match="no space left"):
        sensitivity.write_sensitivity(ds.copy(), spec, tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [folder.name]
