"""Tests of the market channel (shockmodel.markets): two-sided commodity prices, discounted equity
valuations, financial shock kinds."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import tomllib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shockmodel import engine, pipeline, sampling
from shockmodel.criticality import critical_weights
from shockmodel.errors import UserError
from shockmodel.io.tables import load_table
from shockmodel.markets import (
    CompiledMarkets,
    MarketDistribution,
    compile_market_params,
    format_market_params,
    list_market_params,
    load_market_params,
    market_outcomes,
    market_params_from_dict,
    market_uniform_layout,
    markets_dir,
    n_market_uniforms,
    price_change_pct,
)
from shockmodel.scenario import compile_scenario, list_scenarios, scenario_from_dict
from shockmodel.testing import fixed, scenario_dict, toy_mrio

TABLES = ("default", "wiod2011")
COMMODITIES = ("crude_oil", "gas_europe", "gas_asia", "gas_north_america", "coal", "refined_products", "food",
               "basic_metals", "semiconductors")


@pytest.fixture(scope="module")
def params():
    return load_market_params("default")


@pytest.fixture(scope="module", params=TABLES)
def table(request):
    return load_table(request.param)


@pytest.fixture(scope="module")
def compiled(params, table) -> CompiledMarkets:
    return compile_market_params(params, table)


@pytest.fixture(scope="module")
def default_table():
    return load_table("default")


def idx(names, name):
    return list(names).index(name)


# ------------------------------------------------------------------------------------------------
# The shipped file
# ------------------------------------------------------------------------------------------------
def test_default_loads_with_sources(params):
    assert "default" in list_market_params()
    assert params.source and params.sha256
    assert params.commodity_names == COMMODITIES
    for ix in ("S&P 500", "TAIEX", "CSI 300", "MOEX Russia", "DAX", "Nikkei 225", "KOSPI", "EURO STOXX 50",
               "FTSE 100"):
        assert ix in params.index_names
    for item in (*params.commodities, *params.indices):
        assert item.source.strip()
    for ix in params.indices:
        assert 0.0 <= sum(ix.sector_weights.values()) <= 1.0
        assert 0.0 < ix.earnings_yield < 1.0
    assert params.feedback.source
    C, I = len(params.commodities), len(params.indices)
    assert n_market_uniforms(params, 3) == 4 * C + 4 * I + 4 + 3
    assert market_uniform_layout(params, 3)["financial"].stop == n_market_uniforms(params, 3)
    gas = {c.name: c for c in params.commodities}
    assert gas["gas_europe"].market and gas["gas_asia"].market and gas["gas_north_america"].market
    assert not gas["crude_oil"].market and gas["crude_oil"].stock_release.dist != "fixed"


def test_default_every_number_has_a_comment():
    """Every number in params/markets/default.toml sits on a line with a comment (source or 'assumption')."""
    text = (markets_dir() / "default.toml").read_text()
    missing = []
    for no, line in enumerate(text.splitlines(), 1):
        s = line.strip()
        if not s or s.startswith("#") or s.startswith("[") or "=" not in s:
            continue
        value = s.split("=", 1)[1]
        code = re.sub(r'"[^"]*"', '""', value)  # drop strings (names, sources)
        code = code.split("#", 1)[0]
        if re.search(r"(?<![A-Za-z_])[-+]?\d", code) and "#" not in re.sub(r'"[^"]*"', '""', value):
            missing.append(f"line {no}: {s}")
    assert not missing, "numbers without a source comment:\n" + "\n".join(missing)


def test_format_market_params_shows_numbers_and_sources(params):
    text = format_market_params(params)
    for ix in params.indices:
        assert ix.name in text and ix.source in text
    for c in params.commodities:
        assert c.name in text and c.source in text
    for needle in ("TSMC", "marginal propensity to consume", "terms-of-trade", "investment semi-elasticity",
                   "earnings persistence", "stock release", "arbitrage", params.feedback.source):
        assert needle in text


def test_markets_show_cli_prints_feedback_parameters():
    from click.testing import CliRunner

    from shockmodel.cli import main

    res = CliRunner().invoke(main, ["markets", "show"])   # in-process: no second interpreter to start
    assert res.exit_code == 0, res.output
    out = res.output
    assert "mpc" in out and "Feedback to demand" in out and "gas_europe" in out


def test_markets_module_imports_no_heavy_libraries():
    code = ("import sys, shockmodel.markets, shockmodel.feedback; bad = [m for m in ('xarray', 'matplotlib', "
            "'click', 'numba') if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------------------------------
# Compilation against both tables
# ------------------------------------------------------------------------------------------------
def test_compile_against_both_tables(params, table, compiled):
    C, I = len(params.commodities), len(params.indices)
    R, n = table.n_regions, table.n
    cells = R * len(compiled.csec)
    assert compiled.cell_market.shape == (cells, C) and compiled.K_cap.shape == (n, cells)
    assert compiled.sector_loading.shape == (I, n)
    np.testing.assert_allclose(compiled.region_share.sum(axis=1), 1.0)
    for i, ix in enumerate(params.indices):
        assert compiled.sector_loading[i].sum() == pytest.approx(sum(ix.sector_weights.values()))
        assert compiled.residual_loading[i].sum() == pytest.approx(ix.other_weight)
    # deliveries into a cell = the capacity map's column sums (every supplier's sales to the buyer region)
    np.testing.assert_allclose(compiled.K_cap.sum(axis=0), compiled.deliv0, rtol=1e-12)
    assert np.all(compiled.imports0 <= compiled.deliv0 + 1e-9)
    world = compiled.cell_world[:, idx(compiled.commodity_names, "crude_oil")]
    assert np.array_equal(world, compiled.cell_market[:, idx(compiled.commodity_names, "crude_oil")])
    eu = compiled.cell_market[:, idx(compiled.commodity_names, "gas_europe")].reshape(R, -1).any(axis=1)
    assert eu[table.regions.index("DEU")] and not eu[table.regions.index("USA")]
    n_eu = np.count_nonzero(compiled.region_share[idx(compiled.index_names, "EURO STOXX 50")])
    assert n_eu == (2 if table.name == "default" else 26)  # EUR (+25 on wiod2011) + DEU


# ------------------------------------------------------------------------------------------------
# The price equation (M6): properties
# ------------------------------------------------------------------------------------------------
NO_BOUNDS = np.array([[-math.inf], [math.inf]])   # the logs of the bounds: none
share = st.floats(0.0, 0.6)
elasticity = st.floats(0.02, 1.0)
supply = st.floats(0.0, 0.2)


def price(qs, qd, ed, es, bounds=NO_BOUNDS):
    p, b = price_change_pct(np.array([qs]), np.array([qd]), np.array([ed]), np.array([es]), bounds)
    return float(p[0]), bool(b[0])


@settings(max_examples=200, deadline=None)
@given(share, elasticity, supply)
def test_price_zero_when_supply_and_demand_lose_alike(q, ed, es):
    assert price(q, q, ed, es) == (0.0, False)


@settings(max_examples=200, deadline=None)
@given(share, share, st.floats(0.001, 0.2), elasticity, supply)
def test_price_rises_with_supply_withdrawn_and_falls_with_demand_lost(qs, qd, dq, ed, es):
    base, _ = price(qs, qd, ed, es)
    assert price(qs + dq, qd, ed, es)[0] >= base          # more supply withdrawn: never cheaper
    assert price(qs, qd + dq, ed, es)[0] <= base          # more demand lost: never dearer
    assert price(dq, 0.0, ed, es)[0] > 0.0                # a pure supply withdrawal raises the price
    assert price(0.0, dq, ed, es + 0.01)[0] < 0.0         # a pure demand loss lowers it


@settings(max_examples=100, deadline=None)
@given(share, share, elasticity, supply)
def test_price_solves_the_market_clearing_equation(qs, qd, ed, es):
    """(1 - q_d)(1 - theta + theta P)^-1 = (1 - q_s) P^e_s with theta = e_d (eta = 1), where P > 0."""
    p, at = price(qs, qd, ed, es)
    if at:
        return
    P = 1.0 + p / 100.0
    if P < 1e-9:   # a demand collapse with almost no supply response: the price is (nearly) zero
        return
    lhs = math.log1p(-qd) - math.log(1.0 - ed + ed * P)
    rhs = math.log1p(-qs) + es * math.log(P)
    assert lhs == pytest.approx(rhs, abs=1e-9)


def test_price_matches_constant_elasticity_to_first_order_and_stays_finite():
    p, _ = price(0.001, 0.0, 0.15, 0.05)
    assert p == pytest.approx(100 * 0.001 / 0.2, rel=0.02)    # dP/P = q / (e_d + e_s)
    p, at = price(0.5, 0.0, 0.1, 0.0)                          # half the supply gone, no supply response
    assert p == pytest.approx(100 * (2.0 - 1.0) / 0.1) and not at   # closed form 1 + (1/(1-q) - 1)/theta
    p, at = price(0.5, 0.0, 0.1, 0.0, np.array([[-math.inf], [math.log(4.0)]]))
    assert p == pytest.approx(300.0) and at                    # a historical bound is reported as such


# ------------------------------------------------------------------------------------------------
# Prices and valuations from scenarios: zero shock, pure demand cut, pure supply cut
# ------------------------------------------------------------------------------------------------
def block_outcome(mrio, spec_dict, severity_scale=1.0, model="leontief", params="default", u_value=None):
    """Market outcome of one engine block of ``spec_dict`` on ``mrio`` (severities times the scale)."""
    comp = compile_scenario(scenario_from_dict(spec_dict), mrio)
    hook = pipeline.MarketHook(params, mrio, comp)
    plan = engine.make_plan(comp, mrio, model, critical_weights(mrio) if mrio.name != "toy" else None)
    smp = engine.sample_block(plan, 7, 0, engine.BLOCK, hook.n_uniforms)
    sev = smp.severity * severity_scale
    dxT, tradeT, f, conv, it, uT = engine._propagate_raw(plan, sev, smp.occurred, 1e-10, 2000)
    u = smp.u_market if u_value is None else np.full_like(smp.u_market, u_value)
    out = engine.BlockOutput(dx=(dxT * f).T, trade=None, gdp_loss=None, horizon_fraction=f, converged=conv,
                             iterations=it, blocked_export_share=None, severity=sev, on=smp.occurred,
                             blocked_class_share=uT.T)
    return hook.cm, hook.outcome(plan, out, u)


def one_shock(kind, severity, **targets):
    return scenario_dict({"p": {"shocks": {"s": {"kind": kind, "severity": fixed(severity), **targets}}}})


@pytest.mark.parametrize("u_value", [0.0, 0.5, 1.0, None])
def test_zero_shock_gives_exactly_zero(default_table, u_value):
    spec = one_shock("capacity", 0.0, regions=["RUS"], sectors=["MIN_ENERGY"])
    spec["packages"]["p"]["shocks"]["t"] = {"kind": "trade_block", "exporters": ["TWN"], "importers": ["ALL"],
                                           "severity": fixed(0.0), "source": "test"}
    _, res = block_outcome(default_table, spec, u_value=u_value)
    assert np.all(res.price_change_pct == 0.0) and not res.price_at_bound.any()
    assert np.all(res.equity_drawdown_pct == 0.0) and not res.equity_closed.any()


def test_pure_final_demand_cut_lowers_the_prices_it_touches(default_table):
    cm, res = block_outcome(default_table, one_shock("final_demand", 0.3, regions=["ALL"], sectors=["AGR_FOOD"]))
    food = res.price_change_pct[:, idx(cm.commodity_names, "food")]
    assert np.all(food < 0.0)
    assert np.all(res.price_change_pct <= 0.0)   # no commodity gets dearer from a demand cut alone


def test_pure_supply_withdrawal_raises_the_prices_it_touches(default_table):
    cm, res = block_outcome(default_table, one_shock("capacity", 0.3, regions=["RUS"], sectors=["MIN_ENERGY"]))
    for c in ("crude_oil", "gas_europe", "coal"):
        assert np.all(res.price_change_pct[:, idx(cm.commodity_names, c)] > 0.0), c
    assert np.all(res.price_change_pct >= 0.0)


@settings(max_examples=8, deadline=None)
@given(st.floats(0.05, 0.5), st.floats(0.01, 0.4))
def test_prices_monotone_in_supply_and_demand_shocks(default_table, s, ds):
    spec = one_shock("capacity", s, regions=["RUS"], sectors=["MIN_ENERGY"])
    spec["packages"]["p"]["shocks"]["d"] = {"kind": "final_demand", "regions": ["ALL"], "sectors": ["MIN_ENERGY"],
                                           "severity": fixed(0.1), "source": "test"}
    cm, base = block_outcome(default_table, spec)
    more_supply = dict(spec)
    more_supply["packages"] = {"p": {**spec["packages"]["p"], "shocks": {
        **spec["packages"]["p"]["shocks"], "s": {**spec["packages"]["p"]["shocks"]["s"], "severity": fixed(min(1.0, s + ds))}}}}
    more_demand = dict(spec)
    more_demand["packages"] = {"p": {**spec["packages"]["p"], "shocks": {
        **spec["packages"]["p"]["shocks"], "d": {**spec["packages"]["p"]["shocks"]["d"], "severity": fixed(0.1 + ds)}}}}
    _, hi = block_outcome(default_table, more_supply)
    _, lo = block_outcome(default_table, more_demand)
    assert np.all(hi.price_change_pct >= base.price_change_pct - 1e-12)
    assert np.all(lo.price_change_pct <= base.price_change_pct + 1e-12)


def test_blockaded_importer_leaves_the_market(default_table):
    """A blockade of an importer cuts its demand as much as the supply it cannot receive: flows into a
    blockaded region count on both sides, so world oil does not rise from them."""
    spec = one_shock("trade_block", 0.9, exporters=["ALL"], importers=["TWN"], sectors=["MIN_ENERGY"])
    cm, res = block_outcome(default_table, spec)
    assert np.all(res.price_change_pct[:, idx(cm.commodity_names, "crude_oil")] <= 0.0)


# ------------------------------------------------------------------------------------------------
# Equity valuations
# ------------------------------------------------------------------------------------------------
TOY_PARAMS = {
    "name": "toy", "source": "test",
    "equity": {"common_risk_premium_pp": 0.0, "source": "test"},
    "index_defaults": {"operating_leverage": 1.5, "earnings_persistence": 0.6, "earnings_yield": 0.08,
                       "local_risk_premium_pp": 0.0, "uninvestable_loss_pct": 90.0, "source": "test"},
    "commodities": {"energy": {"sectors": ["ENERGY"], "elasticity": 0.15, "supply_elasticity": 0.05,
                               "revenue_share": 0.8, "source": "test"}},
    "indices": {"exp": {"name": "EXP index", "region": "EXP", "sector_weights": {"ENERGY": 0.6}, "source": "test"},
                "buy": {"name": "BUY index", "region": "BUY", "sector_weights": {"SERVICES": 0.6}, "source": "test"}},
}


def test_energy_exporter_index_gains_from_an_embargo_on_another_producer(tmp_path):
    """Toy table: an embargo on SAN's energy exports to BUY withdraws supply, raises the energy price, and
    the index of the unsanctioned exporter EXP, heavy in energy, gains (a negative drawdown)."""
    mrio = toy_mrio(3, regions=("EXP", "SAN", "BUY"))
    path = tmp_path / "toy.toml"
    import tomli_w

    path.write_text(tomli_w.dumps(TOY_PARAMS))
    spec = one_shock("trade_block", 0.8, exporters=["SAN"], importers=["BUY", "EXP"], sectors=["ENERGY"])
    cm, res = block_outcome(mrio, spec, params=str(path))
    assert np.all(res.price_change_pct[:, 0] > 0.0)
    exp = res.equity_drawdown_pct[:, idx(cm.index_names, "EXP index")]
    assert np.all(exp < 0.0)                       # a gain for the exporter
    # without the price gain (revenue share 0) the same index cannot gain
    no_price = {**TOY_PARAMS, "commodities": {"energy": {**TOY_PARAMS["commodities"]["energy"], "revenue_share": 0.0}}}
    path.write_text(tomli_w.dumps(no_price))
    _, res0 = block_outcome(mrio, spec, params=str(path))
    assert np.all(res0.equity_drawdown_pct[:, 0] >= 0.0)


def test_discounting_a_transitory_loss_costs_a_few_percent():
    """A one-year 50% earnings loss with no persistence costs ey * 0.5 / (1 + g + ey) of value (M8)."""
    from shockmodel.markets import equity_drawdown_pct, revenue_lost, sample_market_draws

    d = dict(TOY_PARAMS, indices={"exp": TOY_PARAMS["indices"]["exp"]})
    d["index_defaults"] = {**TOY_PARAMS["index_defaults"], "operating_leverage": 1.0, "earnings_persistence": 0.0}
    p = market_params_from_dict(d)
    mrio = toy_mrio(3, regions=("EXP", "SAN", "BUY"))
    cm = compile_market_params(p, mrio)
    draws = sample_market_draws(cm, np.full((1, n_market_uniforms(p)), 0.5))
    dx = np.zeros((1, mrio.n))
    dx[0, : mrio.n_sectors] = 0.5 * mrio.x[: mrio.n_sectors]              # every EXP industry loses half
    F = revenue_lost(cm, dx, np.zeros((1, 1)))
    assert F[0, 0] == pytest.approx(0.5)
    dd, closed = equity_drawdown_pct(cm, F, np.array([[0.5, 0.0, 0.0]]), np.zeros((1, 3), bool), draws)
    assert dd[0, 0] == pytest.approx(100 * 0.08 * 0.5 / (1.04 + 0.08))    # about 3.6%, not 50%
    assert not closed.any()


# ------------------------------------------------------------------------------------------------
# Library scenarios: bounds and explicit financial shocks
# ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def library_runs(default_table):
    """Every library scenario, 2,000 draws. Prices do not depend on the propagation model (they are
    built from the shocks and the table), so the fast leontief model stands for all three."""
    return {name: pipeline.run(name, table=default_table, draws=2000, seed=11, model="leontief")
            for name in list_scenarios()}


def test_no_library_scenario_has_more_than_5pct_of_draws_at_a_price_bound(library_runs):
    for name, ds in library_runs.items():
        share = ds["price_bound_share"]
        assert share.dims[-1] == "commodity"
        assert float(share.max()) < 0.05, (name, share.to_pandas())


def test_taiwan_is_never_flagged_as_sanctioned(library_runs):
    for name in ("taiwan_blockade", "taiwan_war", "combined_coordinated"):
        closed = library_runs[name]["equity_closed"].sel(equity_index="TAIEX")
        assert float(closed.max()) == 0.0, name


def test_moex_closed_to_foreign_holders_with_the_cited_probability(library_runs):
    """russia_2022: the reserve freeze and capital controls were adopted (severity, i.e. probability, 1):
    MOEX is closed to foreign holders in every draw. russia_escalation: two measures with probability
    pert(0.90, 0.98, 1.0) each: closed unless both fail, about 1 - 0.02^2."""
    c22 = library_runs["russia_2022"]["equity_closed"].sel(equity_index="MOEX Russia").values
    assert c22.mean() == 1.0
    esc = library_runs["russia_escalation"]["equity_closed"].sel(equity_index="MOEX Russia").values
    assert 0.99 <= esc.mean() <= 1.0
    dd = library_runs["russia_2022"]["equity_drawdown_pct"].sel(equity_index="MOEX Russia").values
    assert np.all(dd >= 50.0)          # a foreign holder loses at least the uninvestable loss (>= 50%)
    for name in ("taiwan_blockade", "china_sanctions", "baseline"):
        assert float(library_runs[name]["equity_closed"].max()) == 0.0


def test_financial_kinds_do_not_change_the_propagation(default_table):
    """The propagation models ignore financial shocks: adding one with the same draws of the other shocks
    (a fixed severity consumes no randomness beyond its column) leaves every other severity's effect."""
    base = one_shock("capacity", 0.2, regions=["RUS"], sectors=["MIN_ENERGY"])
    with_fin = one_shock("capacity", 0.2, regions=["RUS"], sectors=["MIN_ENERGY"])
    with_fin["packages"]["p"]["shocks"]["f"] = {"kind": "financial_sanction", "regions": ["RUS"],
                                               "severity": fixed(1.0), "source": "test"}
    a = pipeline.run(scenario_from_dict(base), table=default_table, draws=300, model="leontief", markets=None)
    b = pipeline.run(scenario_from_dict(with_fin), table=default_table, draws=300, model="leontief", markets=None)
    np.testing.assert_array_equal(a.gdp_loss.values, b.gdp_loss.values)


def test_financial_shock_kind_validates_regions():
    spec = one_shock("capital_controls", 0.5, regions=["RUZ"])
    with pytest.raises(UserError, match="RUS"):
        compile_scenario(scenario_from_dict(spec), load_table("default"))
    bad = one_shock("financial_sanction", 0.5, regions=["RUS"])
    bad["packages"]["p"]["shocks"]["s"]["severity"] = {"dist": "uniform", "low": 0.5, "high": 1.5}
    with pytest.raises(UserError, match="share"):
        scenario_from_dict(bad)


# ------------------------------------------------------------------------------------------------
# Validation errors: one line, file and field
# ------------------------------------------------------------------------------------------------
MINIMAL = """\
name = "mini"
source = "test file"

[index_defaults]
operating_leverage = 1.5   # assumption
earnings_persistence = { dist = "uniform", low = 0.3, high = 0.8 }   # assumption
earnings_yield = 0.06   # assumption
local_risk_premium_pp = 0.0   # assumption
uninvestable_loss_pct = 90.0   # assumption
source = "assumption"

[commodities.oil]
sectors = ["MIN_ENERGY"]
elasticity = { dist = "lognormal", median = 0.15, sigma = 0.5 }   # test
max_price_change_pct = 300.0   # test
source = "test"

[indices.taiex]
name = "TAIEX"
region = "TWN"
source = "test"
[indices.taiex.sector_weights]
SEMICONDUCTORS = 0.35   # test
FINANCE = 0.10   # test
"""


def write_params(tmp_path, text: str):
    path = tmp_path / "mini.toml"
    path.write_text(text)
    return path


def test_minimal_file_is_valid(tmp_path):
    p = load_market_params(write_params(tmp_path, MINIMAL))
    assert p.name == "mini" and p.index_names == ("TAIEX",)
    assert p.indices[0].other_weight == pytest.approx(0.55)
    assert tomllib.loads(MINIMAL)


BAD_CASES = [
    ("unknown key", "max_price_change_pct = 300.0", "max_price_change_pct = 300.0\nelastcity = 0.2",
     "commodities.oil.elastcity", "did you mean 'elasticity'?"),
    ("unknown top-level key", 'name = "mini"', 'name = "mini"\nindexes = 1', "indexes", "did you mean 'indices'?"),
    ("zero elasticity", 'elasticity = { dist = "lognormal", median = 0.15, sigma = 0.5 }', "elasticity = 0.0",
     "commodities.oil.elasticity", "must be > 0"),
    ("weights sum > 1", "FINANCE = 0.10", "FINANCE = 0.70", "indices.taiex.sector_weights", "sum to 1.05 > 1"),
    ("missing index source", 'region = "TWN"\nsource = "test"', 'region = "TWN"', "indices.taiex.source",
     "missing required key 'source'"),
    ("persistence > 1", "low = 0.3, high = 0.8 }", "low = 0.3, high = 1.8 }", "index_defaults.earnings_persistence",
     "<= 1"),
    ("earnings yield 0", "earnings_yield = 0.06", "earnings_yield = 0", "index_defaults.earnings_yield", "(0, 1)"),
    ("bound <= 0", "max_price_change_pct = 300.0", "max_price_change_pct = 0", "commodities.oil.max_price_change_pct",
     "must be > 0"),
    ("arbitrage without market", 'sectors = ["MIN_ENERGY"]', 'sectors = ["MIN_ENERGY"]\narbitrage = 0.2',
     "commodities.oil.arbitrage", "give 'market'"),
    ("mpc > 1", 'name = "mini"', 'name = "mini"\n[feedback]\nmpc = 1.5\nsource = "x"', "feedback.mpc", "<= 1"),
]


@pytest.mark.parametrize("desc, old, new, field, fragment", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_validation_errors_name_file_and_field(tmp_path, desc, old, new, field, fragment):
    assert old in MINIMAL, desc
    text = MINIMAL.replace(old, new, 1)
    if desc == "mpc > 1":   # a table must come after the top-level keys
        text = MINIMAL + '\n[feedback]\nmpc = 1.5   # test\nsource = "x"\n'
    path = write_params(tmp_path, text)
    with pytest.raises(UserError) as err:
        load_market_params(path)
    e = err.value
    assert e.file == str(path) and e.field == field
    assert fragment in str(e) and "\n" not in str(e)


def test_invalid_toml_and_unknown_name(tmp_path):
    path = write_params(tmp_path, "name = [unclosed\n")
    with pytest.raises(UserError, match="not valid TOML"):
        load_market_params(path)
    with pytest.raises(UserError, match="did you mean 'default'"):
        load_market_params("defualt")


def test_distribution_ppf_matches_definitions():
    u = np.linspace(0.0, 1.0, 11)
    tri = sampling.draw("triangular", (0.0, 4.0, 15.0), u)
    assert tri[0] == 0.0 and tri[-1] == 15.0 and np.all(np.diff(tri) >= 0)
    assert sampling.draw("lognormal", (math.log(0.15), 0.5, 1.0), np.array(0.5)) == pytest.approx(0.15)


def test_market_outcomes_rejects_wrong_shapes(default_table):
    comp = compile_scenario(scenario_from_dict(one_shock("capacity", 0.1, regions=["RUS"])), default_table)
    hook = pipeline.MarketHook("default", default_table, comp)
    plan = engine.make_plan(comp, default_table, "leontief", critical_weights(default_table))
    sm = hook.scenario_arrays(plan)
    B = 4
    args = (np.zeros(B), np.zeros((B, 1)), np.zeros((B, 1), bool), np.zeros((B, plan.classes.n_classes)))
    with pytest.raises(ValueError, match="dx must have shape"):
        market_outcomes(hook.cm, sm, np.zeros((B, 3)), *args, np.zeros((B, hook.n_uniforms)))
    with pytest.raises(ValueError, match="u must have shape"):
        market_outcomes(hook.cm, sm, np.zeros((B, default_table.n)), *args, np.zeros((B, 2)))


def test_grouped_sampler_matches_column_by_column_inverse_cdfs(params, default_table):
    """The kernel's inverse CDFs give the numbers of each distribution's own ppf: bit for bit, except that
    a lognormal's ``exp`` is the C library's in the kernel and numpy's own (SIMD) one in ``ppf``, which may
    differ in the last bit."""
    from shockmodel.markets import _column_dists

    cm = compile_market_params(params, default_table)
    dists = _column_dists(params)
    u = np.random.default_rng(1).random((257, len(dists)))
    u[0], u[1] = 0.0, 1.0
    X = cm.sampler(u)
    for j, d in enumerate(dists):
        if d.dist == "lognormal":
            np.testing.assert_allclose(X[:, j], sampling.draw(d.dist, d.params, u[:, j]), rtol=2 * np.finfo(float).eps, atol=0, err_msg=str(d))
        else:
            np.testing.assert_array_equal(X[:, j], sampling.draw(d.dist, d.params, u[:, j]), err_msg=str(d))


# ------------------------------------------------------------------------------------------------
# The block kernel against the equations written out in numpy
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("scenario", ["russia_2022", "taiwan_blockade"])
def test_block_kernel_matches_the_numpy_equations(default_table, scenario):
    """``kernels.markets.market_block`` (one call per block) gives the prices, bounds, drawdowns and
    closures of the equations as written with numpy (withdrawn_shares, revenue_lost, equity_drawdown_pct,
    closed_regions) on a full engine block, up to rounding: the sums run in another order."""
    from shockmodel.markets import (cell_losses, closed_regions, equity_drawdown_pct, revenue_lost,
                                    sample_market_draws, withdrawn_shares)

    _, comp = pipeline.compile_for(scenario, default_table)
    hook = pipeline.MarketHook("default", default_table, comp)
    plan = engine.make_plan(comp, default_table, "leontief", critical_weights(default_table))
    smp = engine.sample_block(plan, 3, 1, engine.BLOCK, hook.n_uniforms)
    dxT, _, f, conv, it, uT = engine._propagate_raw(plan, smp.severity, smp.occurred, 1e-10, 2000)
    dx = (dxT * f).T
    out = engine.BlockOutput(dx=dx, trade=None, gdp_loss=None, horizon_fraction=f, converged=conv, iterations=it,
                             blocked_export_share=None, severity=smp.severity, on=smp.occurred,
                             blocked_class_share=uT.T)
    cm, sm, u = hook.cm, hook.scenario_arrays(plan), smp.u_market
    res = hook.outcome(plan, out, u)

    draws = sample_market_draws(cm, u, sm.n_financial)
    W, U = cell_losses(cm, sm, f, smp.severity, smp.occurred, uT.T)
    q_s, q_d = withdrawn_shares(cm, W, U, draws)
    price, at_bound = price_change_pct(q_s, q_d, draws.elasticity, draws.supply_elasticity, cm.log_bounds)
    g = np.divide(dx @ cm.V_gdp, cm.gdp0, out=np.zeros((dx.shape[0], cm.gdp0.size)), where=cm.gdp0 > 0)
    shut = closed_regions(sm, smp.severity, smp.occurred, draws)
    dd, closed = equity_drawdown_pct(cm, revenue_lost(cm, dx, price), g, shut, draws)

    assert np.abs(price).max() > 1.0 and np.abs(dd).max() > 1.0          # the block moves prices and indices
    np.testing.assert_allclose(res.price_change_pct, price, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(res.price_at_bound, at_bound)
    np.testing.assert_allclose(res.equity_drawdown_pct, dd, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(res.equity_closed, closed)
    if scenario == "russia_2022":
        assert closed.any()                                               # the financial shocks bind in some draws


def test_kernel_downstream_elasticity_is_the_documented_one():
    from shockmodel.kernels import markets as km
    from shockmodel.markets import DOWNSTREAM_ELASTICITY

    assert km._ETA == DOWNSTREAM_ELASTICITY
