"""Scenario parsing, includes, overrides, compilation against the shipped tables, and the readable view.

Fixtures: ``tests/data/scenarios/two_crises.toml`` (every shock kind and distribution), ``child.toml``
(includes it, deep merge, ``[overrides]``) and ``nested/grandchild.toml`` (includes one folder up).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shockmodel import scenario as scenario_module
from shockmodel.errors import ScenarioError
from shockmodel.io.tables import read_npz, resolve_table
from shockmodel.paths import params_dir
from shockmodel.sampling import ppf
from shockmodel.scenario import (
    DIST_PARAMS,
    DISTRIBUTIONS,
    SHOCK_KINDS,
    Distribution,
    compile_scenario,
    dist_mean,
    dist_support,
    format_scenario,
    list_scenarios,
    load_scenario,
    scenario_from_dict,
)

DATA = Path(__file__).parent / "data" / "scenarios"
LIBRARY = sorted((params_dir() / "scenarios").glob("*.toml"))


@pytest.fixture(scope="module")
def wiod():
    """The shipped wiod2011 table without load_table's validation: compiling needs only its labels,
    groups and hash, and validation (an eigenvalue problem of order 1476) takes about 10 s."""
    return read_npz(resolve_table("wiod2011"))


@pytest.fixture(scope="module")
def two_crises():
    return load_scenario(DATA / "two_crises.toml")


def _shock(compiled, key):
    return next(s for s in compiled.shocks if s.key == key)


def _shock_named(package, name):
    return next(s for s in package.shocks if s.name == name)


def _minimal(**shock) -> dict:
    """A one-package, one-shock scenario as a dict; ``shock`` gives its kind and targets."""
    shock = {"severity": {"dist": "fixed", "value": 0.5}, "source": "test", **shock}
    return {"name": "minimal", "packages": {"p": {"probability": 1.0, "source": "test", "shocks": {"s": shock}}}}


# --- stage 1: parsing ---------------------------------------------------------------------------------------


def test_constants_match_the_contract():
    assert SHOCK_KINDS == ("capacity", "trade_block", "payment_friction", "final_demand", "substitution",
                           "duration", "inventory", "tariff", "financial_sanction", "capital_controls")
    assert DISTRIBUTIONS == ("fixed", "uniform", "triangular", "pert", "beta", "lognormal", "truncnormal")
    assert set(DIST_PARAMS) == set(DISTRIBUTIONS)


def test_parse_good_fixture(two_crises):
    spec = two_crises
    assert spec.name == "two_crises"
    assert spec.source == str(DATA / "two_crises.toml")
    assert spec.horizon_months == 12.0 and isinstance(spec.horizon_months, float)
    assert (spec.coordination, spec.coordination_range) == (0.3, (-0.5, 0.9))
    assert spec.package_names == ("china_taiwan", "russia")
    assert spec.region_groups["WEST"] == ("G7ISH", "EUR", "KOR", "AUS")
    assert dict(spec.sector_groups) == {"ENERGY": ("MIN_ENERGY", "PETROLEUM"), "CHIPS": ("SEMICONDUCTORS",)}
    ct, ru = spec.packages
    assert (ct.probability, ct.correlation, ru.probability, ru.correlation) == (1.0, 0.5, 0.35, 0.0)
    shocks = {s.name: s for s in ct.shocks + ru.shocks}
    assert shocks["tw_exports"].targets == {"exporters": ("TWN",), "importers": ("ALL",), "sectors": ("ALL",)}
    assert shocks["swift"].targets == {"regions": ("RUS",), "partners": ("WEST",), "sectors": ("ALL",)}
    assert shocks["months"].targets == {}
    # canonical tuples with defaults filled in (contracts section 1)
    assert shocks["tw_exports"].severity == Distribution("pert", (0.6, 0.85, 0.95, 4.0))
    assert shocks["rerouting"].severity == Distribution("beta", (2.0, 5.0, 0.0, 1.0))
    assert shocks["months"].severity == Distribution("lognormal", (math.log(6.0), 0.5, math.inf))
    assert shocks["demand"].severity == Distribution("lognormal", (math.log(0.05), 0.4, 1.0))  # a share: cap 1
    assert shocks["swift"].severity == Distribution("truncnormal", (0.5, 0.2, 0.0, 1.0))


def test_includes_deep_merge_and_overrides_table():
    child = load_scenario(DATA / "child.toml")
    assert child.name == "child"
    assert child.description.startswith("Test fixture: a Taiwan")  # inherited
    assert child.horizon_months == 24.0
    ct, ru = child.packages
    assert ru.probability == 0.5
    assert ru.source == "assumption: test" and len(ru.shocks) == 3   # the rest of the package is kept
    # a new distribution replaces the old one whole instead of merging parameters
    assert _shock_named(ru, "energy_embargo").severity == Distribution("uniform", (0.4, 0.8))
    assert child.region_groups["WEST"] == ("G7ISH", "EUR")             # lists replace
    assert child.region_groups["G7ISH"][0] == "USA"                    # other keys stay
    # [overrides]: a quoted dotted key and a nested (unquoted) one
    assert ct.probability == 0.8
    assert _shock_named(ct, "tw_exports").severity.params == (0.6, 0.9, 0.95, 4.0)


def test_nested_include_relative_to_the_including_file():
    grandchild = load_scenario(DATA / "nested" / "grandchild.toml")
    child = load_scenario(DATA / "child.toml")
    assert grandchild.name == "grandchild"
    assert grandchild.packages == child.packages


def test_loaded_specs_are_reused_only_while_every_file_is_unchanged(tmp_path):
    """load_scenario reuses a loaded spec (it and compile_for are cached by content) but re-reads every
    file it came from: an edit to the file itself or to an included file is always seen."""
    base = tmp_path / "base.toml"
    top = tmp_path / "top.toml"
    base.write_text((DATA / "two_crises.toml").read_text())
    top.write_text('include = ["base.toml"]\nname = "top"\nhorizon_months = 12\n')
    first = load_scenario(top)
    assert load_scenario(top) is first                          # unchanged: the same (frozen) spec
    assert load_scenario(top, overrides={"horizon_months": 6}).horizon_months == 6.0   # overrides are part of the key
    top.write_text('include = ["base.toml"]\nname = "top"\nhorizon_months = 18\n')
    edited = load_scenario(top)
    assert edited.horizon_months == 18.0 and edited is not first
    text = base.read_text()
    assert "probability = 0.35\n" in text
    base.write_text(text.replace("probability = 0.35\n", "probability = 0.45\n", 1))   # the included file
    included = load_scenario(top)
    assert included is not edited
    assert 0.45 in [p.probability for p in included.packages]


def test_compiled_scenarios_are_reused_for_the_same_spec_and_table(default_table):
    from shockmodel.pipeline import compile_for

    spec_a, comp_a = compile_for("taiwan_blockade", default_table)
    spec_b, comp_b = compile_for("taiwan_blockade", default_table)
    assert spec_a is spec_b and comp_a is comp_b
    _, comp_c = compile_for("taiwan_blockade", default_table, {"horizon_months": 6})
    assert comp_c is not comp_a and comp_c.horizon_months == 6.0


def test_library_include_by_name_and_stem_rule(tmp_path, monkeypatch):
    library = tmp_path / "params" / "scenarios"
    library.mkdir(parents=True)
    monkeypatch.setattr(scenario_module, "params_dir", lambda: tmp_path / "params")
    (library / "base.toml").write_text(_library_file("base", 0.25))
    (tmp_path / "mine.toml").write_text('include = ["base"]\nname = "mine"\n')
    assert load_scenario(tmp_path / "mine.toml").packages[0].probability == 0.25
    assert load_scenario("base").name == "base"
    assert list_scenarios() == {"base": "fixture"}
    (library / "wrong.toml").write_text(_library_file("not_wrong", 0.25))
    with pytest.raises(ScenarioError, match="must equal its file stem 'wrong'") as info:
        load_scenario("wrong")
    assert info.value.field == "name"
    assert list_scenarios()["wrong"].startswith("(invalid: ")
    with pytest.raises(ScenarioError, match="did you mean 'base'"):
        load_scenario("bsae")


def _library_file(name: str, probability: float) -> str:
    return (f'name = "{name}"\ndescription = "fixture"\n[packages.p]\nprobability = {probability}\n'
            'source = "t"\n[packages.p.shocks.s]\nkind = "capacity"\nregions = ["CHN"]\n'
            'severity = { dist = "fixed", value = 0.1 }\nsource = "t"\n')


def test_override_argument(two_crises):
    spec = load_scenario(DATA / "two_crises.toml", overrides={
        "packages.russia.probability": 0.9,
        "coordination": -0.2,
        "packages.china_taiwan.shocks.tw_exports.severity": {"dist": "fixed", "value": 0.5},
        "packages.china_taiwan.shocks.tw_exports.severity.value": 0.6,   # later entries see earlier ones
        "packages.russia.shocks.demand.description": "absent key the schema allows",
    })
    ct, ru = spec.packages
    assert ru.probability == 0.9 and spec.coordination == -0.2
    assert _shock_named(ct, "tw_exports").severity == Distribution("fixed", (0.6,))
    assert _shock_named(ru, "demand").description == "absent key the schema allows"
    assert spec.sha256 != two_crises.sha256


def test_scenario_from_dict_round_trip(two_crises):
    data = two_crises.to_dict()
    assert _plain(data)
    again = scenario_from_dict(data)
    assert again == two_crises and again.sha256 == two_crises.sha256
    assert again.source == "<dict>"


def _plain(value) -> bool:
    """TOML-serialisable: tables, lists, strings, finite numbers; never None."""
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_plain(v) for v in value)
    return isinstance(value, (str, bool, int)) or (isinstance(value, float) and math.isfinite(value))


def test_to_dict_written_as_toml_loads_back_identical(two_crises, tmp_path):
    """What the pipeline stores in ``inputs/scenario.toml`` reproduces the scenario and its hash."""
    tomli_w = pytest.importorskip("tomli_w")
    path = tmp_path / "scenario.toml"
    path.write_text(tomli_w.dumps(two_crises.to_dict()))
    again = load_scenario(path)
    assert again == two_crises and again.sha256 == two_crises.sha256


def test_scenario_from_dict_includes_relative_to_base_dir():
    spec = scenario_from_dict({"include": ["two_crises.toml"], "name": "via_dict"}, base_dir=DATA)
    assert spec.name == "via_dict" and spec.package_names == ("china_taiwan", "russia")


def test_sha256_is_canonical(two_crises):
    data = two_crises.to_dict()
    reordered = dict(reversed(list(data.items())))
    assert scenario_from_dict(reordered).sha256 == two_crises.sha256
    assert load_scenario(DATA / "two_crises.toml").sha256 == two_crises.sha256
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert two_crises.sha256 == hashlib.sha256(canonical.encode()).hexdigest()
    data["packages"]["russia"]["probability"] = 0.36
    assert scenario_from_dict(data).sha256 != two_crises.sha256


@given(digits=st.integers(1, 999_999), exponent=st.integers(-9, 4))
def test_lognormal_median_survives_to_dict(digits, exponent):
    median = float(f"{digits}e{exponent}")
    d = Distribution.from_named("lognormal", {"median": median, "sigma": 0.5, "high": math.inf})
    assert d.named() == {"median": median, "sigma": 0.5}
    assert Distribution.from_named("lognormal", {**d.named(), "high": math.inf}) == d


def test_only_and_without_packages(two_crises):
    only = two_crises.only_packages(["russia"])
    assert only.name == "two_crises[russia]" and only.package_names == ("russia",)
    without = two_crises.without_packages("russia")   # a single name works too
    assert without.name == "two_crises[-russia]" and without.package_names == ("china_taiwan",)
    assert len({two_crises.sha256, only.sha256, without.sha256}) == 3
    assert only.region_groups == two_crises.region_groups
    with pytest.raises(ScenarioError, match="did you mean 'russia'"):
        two_crises.only_packages(["rusia"])
    with pytest.raises(ScenarioError, match="no package left"):
        two_crises.without_packages(two_crises.package_names)


# --- distributions ----------------------------------------------------------------------------------------

DISTS = [
    Distribution("fixed", (0.4,)),
    Distribution("uniform", (0.2, 0.7)),
    Distribution("triangular", (0.1, 0.2, 0.9)),
    Distribution("pert", (0.6, 0.85, 0.95, 4.0)),
    Distribution("pert", (0.0, 0.1, 1.0, 2.0)),
    Distribution("beta", (2.0, 5.0, 0.0, 1.0)),
    Distribution("beta", (0.5, 0.5, 10.0, 20.0)),
    Distribution("lognormal", (math.log(0.1), 0.8, 1.0)),
    Distribution("lognormal", (math.log(0.5), 1.0, 1.0)),      # the cap binds often
    Distribution("lognormal", (math.log(6.0), 0.3, math.inf)),
    Distribution("truncnormal", (0.5, 0.2, 0.0, 1.0)),
    Distribution("truncnormal", (0.9, 0.3, 0.0, 1.0)),
]


@pytest.mark.parametrize("d", DISTS, ids=str)
def test_dist_mean_and_support_agree_with_the_sampler(d):
    """``dist_mean`` equals the integral of the engine's quantile function, ppf stays in the support."""
    u = (np.arange(200_000) + 0.5) / 200_000
    x = ppf(d.dist, d.params, u)
    lo, hi = dist_support(d)
    assert dist_mean(d) == pytest.approx(x.mean(), rel=1e-4, abs=1e-9)
    assert lo - 1e-12 <= x.min() and x.max() <= hi + 1e-12


def test_format_scenario(two_crises):
    text = format_scenario(two_crises)
    for expected in (
        "two_crises: Test fixture: a Taiwan blockade and Russia sanctions",
        "horizon: 12 months",
        "coordination between packages: 0.3 (sweep range -0.5 to 0.9)",
        "source: assumption: test fixture",
        "WEST = G7ISH, EUR, KOR, AUS",
        "package china_taiwan: probability 1, correlation of its shocks 0.5",
        "shock tw_exports (trade_block): exporters TWN; importers ALL; sectors ALL",
        "severity: pert(low=0.6, mode=0.85, high=0.95, lambda=4), mean 0.825 (share)",
        "severity: lognormal(median=6, sigma=0.5), mean 6.79889 (months)",
        "severity: uniform(low=5, high=40), mean 22.5 (days)",
        "source: US Commerce RFI (Jan 2022)",
        f"sha256: {two_crises.sha256}",
    ):
        assert expected in text, expected


# --- stage 2: compiling against the shipped tables ----------------------------------------------------------


def test_compile_on_default_table(two_crises, default_table):
    m = default_table
    c = compile_scenario(two_crises, m)
    R, S = m.n_regions, m.n_sectors
    r, s = m.regions.index, m.sectors.index
    assert (c.regions, c.sectors, c.table_sha256, c.spec_sha256) == (m.regions, m.sectors, m.sha256, two_crises.sha256)
    assert [p.name for p in c.packages] == ["china_taiwan", "russia"]
    assert [sh.key for sh in c.shocks][:2] == ["china_taiwan.tw_exports", "china_taiwan.tw_capacity"]
    assert {sh.package for sh in c.shocks if sh.key.startswith("russia.")} == {1}

    tw = _shock(c, "china_taiwan.tw_exports").mask
    assert tw.shape == (R, R, S) and tw.dtype == bool and not tw.flags.writeable
    expected = np.zeros((R, R, S), bool)
    expected[r("TWN")] = True
    expected[r("TWN"), r("TWN")] = False     # domestic flows are never blocked
    np.testing.assert_array_equal(tw, expected)

    cap = _shock(c, "china_taiwan.tw_capacity").mask   # CHIPS (scenario group) + ELECTRONICS (built-in)
    assert cap.shape == (R, S)
    assert set(zip(*np.nonzero(cap))) == {(r("TWN"), s("SEMICONDUCTORS")), (r("TWN"), s("OTHER_ELECTRONICS"))}

    sub = _shock(c, "china_taiwan.rerouting").mask
    assert sub.shape == (S,) and set(np.flatnonzero(sub)) == {s("SEMICONDUCTORS"), s("OTHER_ELECTRONICS")}
    assert _shock(c, "china_taiwan.months").mask is None and _shock(c, "china_taiwan.stocks").mask is None

    fd = _shock(c, "russia.demand")
    assert fd.kind == "final_demand" and fd.mask[r("RUS")].all() and fd.mask.sum() == S


def test_payment_friction_blocks_both_directions(two_crises, default_table):
    m = default_table
    r = m.regions.index
    swift = _shock(compile_scenario(two_crises, m), "russia.swift")
    assert swift.kind == "trade_block"
    west = {"USA", "JPN", "GBR", "CAN", "DEU", "EUR", "KOR", "AUS"}   # WEST nests G7ISH
    pairs = {(m.regions[e], m.regions[i]) for e, i in zip(*np.nonzero(swift.mask.any(axis=2)))}
    assert pairs == {("RUS", w) for w in west} | {(w, "RUS") for w in west}
    assert swift.mask[r("RUS"), r("USA")].all() and swift.mask[r("USA"), r("RUS")].all()
    assert not swift.mask[r("USA"), r("DEU")].any()          # both partners: not between themselves


def test_payment_friction_default_partners_all(default_table):
    spec = scenario_from_dict(_minimal(kind="payment_friction", regions=["RUS"]))
    mask = compile_scenario(spec, default_table).shocks[0].mask
    R = default_table.n_regions
    i = default_table.regions.index("RUS")
    pair = mask.any(axis=2)
    assert pair[i].sum() == R - 1 and pair[:, i].sum() == R - 1 and pair.sum() == 2 * (R - 1)


def test_all_means_every_label_and_diagonal_stays_false(default_table):
    spec = scenario_from_dict(_minimal(kind="trade_block", exporters=["ALL"], importers=["ALL"]))
    mask = compile_scenario(spec, default_table).shocks[0].mask
    R, S = default_table.n_regions, default_table.n_sectors
    assert mask.sum() == R * (R - 1) * S
    assert not np.einsum("iis->is", mask).any()


def test_groups_nest_in_any_order(default_table):
    data = _minimal(kind="trade_block", exporters=["OUTER"], importers=["ALL"], sectors=["HEAVY"])
    data["region_groups"] = {"OUTER": ["INNER", "JPN"], "INNER": ["CORE", "KOR"], "CORE": ["CHN", "TWN"]}
    data["sector_groups"] = {"HEAVY": ["ELECTRONICS", "METAL"], "METAL": ["BASIC_METALS"]}
    m = default_table
    mask = compile_scenario(scenario_from_dict(data), m).shocks[0].mask
    exporters = {m.regions[i] for i in np.flatnonzero(mask.any(axis=(1, 2)))}
    sectors = {m.sectors[i] for i in np.flatnonzero(mask.any(axis=(0, 1)))}
    assert exporters == {"CHN", "TWN", "KOR", "JPN"}
    assert sectors == {"SEMICONDUCTORS", "OTHER_ELECTRONICS", "BASIC_METALS"}


def test_compile_on_wiod2011_uses_builtin_groups(two_crises, wiod):
    m = wiod
    assert "EUR" in m.region_groups and "AGR_FOOD" in m.sector_groups
    c = compile_scenario(two_crises, m)
    assert c.table_sha256 == m.sha256 and c.regions == m.regions and len(m.regions) == 41
    embargo = _shock(c, "russia.energy_embargo").mask
    importers = {m.regions[i] for i in np.flatnonzero(embargo.any(axis=(0, 2)))}
    sectors = {m.sectors[i] for i in np.flatnonzero(embargo.any(axis=(0, 1)))}
    assert importers == {"USA", "JPN", "GBR", "CAN", "DEU", "KOR", "AUS", *m.region_groups["EUR"]}
    assert "FRA" in importers and "RUS" not in importers
    assert sectors == {"c2", "c8"}                          # ENERGY = MIN_ENERGY + PETROLEUM, built-in groups
    cap = _shock(c, "china_taiwan.tw_capacity").mask
    assert {m.sectors[j] for j in np.flatnonzero(cap.any(axis=0))} == {"SEMICONDUCTORS", "OTHER_ELECTRONICS"}


def test_wiod2011_builtin_sector_and_region_groups(wiod):
    m = wiod
    spec = scenario_from_dict(_minimal(kind="capacity", regions=["ROW"], sectors=["AGR_FOOD"]))
    mask = compile_scenario(spec, m).shocks[0].mask
    cells = {(m.regions[i], m.sectors[j]) for i, j in zip(*np.nonzero(mask))}
    assert cells == {(reg, sec) for reg in ("IDN", "RoW") for sec in ("c1", "c3")}


# --- the shipped library ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", LIBRARY or [None], ids=[p.stem for p in LIBRARY] or ["empty"])
def test_library_scenarios_validate(path, default_table, wiod):
    if path is None:
        pytest.skip("params/scenarios is empty")
    spec = load_scenario(path.stem)
    assert spec.name == path.stem
    for table in (default_table, wiod):
        compiled = compile_scenario(spec, table)
        assert len(compiled.shocks) == sum(len(p.shocks) for p in spec.packages)
    assert scenario_from_dict(spec.to_dict()).sha256 == spec.sha256
    assert spec.name in format_scenario(spec)
