"""Tests of the market channel (shockmodel.markets): commodity prices and equity drawdowns."""

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
from hypothesis.extra.numpy import arrays

from shockmodel.errors import UserError
from shockmodel.io.tables import load_table
from shockmodel.markets import (
    CompiledMarkets,
    MarketDistribution,
    compile_market_params,
    equity_drawdown_pct,
    format_market_params,
    list_market_params,
    load_market_params,
    market_outcomes,
    market_uniform_layout,
    markets_dir,
    n_market_uniforms,
    price_change_pct,
    sample_market_draws,
)

TABLES = ("default", "wiod2011")


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
def cm_default(params) -> CompiledMarkets:
    return compile_market_params(params, load_table("default"))


def zeros_inputs(cm: CompiledMarkets, B: int):
    R, S = len(cm.regions), len(cm.sectors)
    return (np.zeros((B, S)), np.ones(S) * 1e5, np.zeros((B, R, S)), np.zeros((B, R)), np.zeros((B, R), bool))


def world_supply0(mrio) -> np.ndarray:
    return mrio.x.reshape(mrio.n_regions, mrio.n_sectors).sum(axis=0)


def idx(names, name):
    return list(names).index(name)


# ------------------------------------------------------------------------------------------------
# The shipped file
# ------------------------------------------------------------------------------------------------
def test_default_loads_with_sources(params):
    assert "default" in list_market_params()
    assert params.source and params.sha256
    names = params.commodity_names
    for c in ("crude_oil", "natural_gas", "refined_products", "food", "basic_metals", "semiconductors"):
        assert c in names
    for ix in ("S&P 500", "TAIEX", "CSI 300", "MOEX Russia", "DAX", "Nikkei 225", "KOSPI", "EURO STOXX 50",
               "FTSE 100"):
        assert ix in params.index_names
    for item in (*params.commodities, *params.indices):
        assert item.source.strip()
    for ix in params.indices:
        assert 0.0 <= sum(ix.sector_weights.values()) <= 1.0
    assert n_market_uniforms(params) == 2 * len(params.commodities) + 4 * len(params.indices) + 1
    lay = market_uniform_layout(params)
    assert lay["common_risk_premium"].stop == n_market_uniforms(params)


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
    assert "TSMC" in text


def test_markets_module_imports_no_heavy_libraries():
    code = ("import sys, shockmodel.markets; bad = [m for m in ('xarray', 'matplotlib', 'click', 'numba') "
            "if m in sys.modules]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


# ------------------------------------------------------------------------------------------------
# Compilation against both tables
# ------------------------------------------------------------------------------------------------
def test_compile_against_both_tables(params, table, compiled):
    C, I = len(params.commodities), len(params.indices)
    R, S = table.n_regions, table.n_sectors
    assert compiled.table == table.name
    assert compiled.commodity_mask.shape == (C, S)
    assert compiled.sector_loading.shape == (I, R, S)
    assert compiled.residual_loading.shape == (I, R)
    np.testing.assert_allclose(compiled.region_share.sum(axis=1), 1.0)
    for i, ix in enumerate(params.indices):  # loadings add up to the weights: F stays in [0, 1]
        assert compiled.sector_loading[i].sum() == pytest.approx(sum(ix.sector_weights.values()))
        assert compiled.residual_loading[i].sum() == pytest.approx(ix.other_weight)
    energy = compiled.commodity_mask[idx(compiled.commodity_names, "crude_oil")]
    expect = "MIN_ENERGY" if table.name == "default" else "c2"
    assert [table.sectors[j] for j in np.flatnonzero(energy)] == [expect]
    food = compiled.commodity_mask[idx(compiled.commodity_names, "food")]
    assert np.flatnonzero(food).size == (1 if table.name == "default" else 2)  # wiod2011: c1 + c3
    eu = compiled.region_share[idx(compiled.index_names, "EURO STOXX 50")]
    assert np.count_nonzero(eu) == (2 if table.name == "default" else 26)  # EUR (+25 on wiod2011) + DEU


def test_compile_unknown_region_names_field_and_suggests(params, tmp_path):
    path = write_params(tmp_path, MINIMAL.replace('region = "TWN"', 'region = "TWM"'))
    p = load_market_params(path)
    with pytest.raises(UserError) as err:
        compile_market_params(p, load_table("default"))
    assert err.value.file == str(path)
    assert err.value.field == "indices.taiex.region"
    assert "did you mean 'TWN'?" in str(err.value)
    assert "\n" not in str(err.value)


def test_compile_unknown_sector(tmp_path):
    path = write_params(tmp_path, MINIMAL.replace('sectors = ["MIN_ENERGY"]', 'sectors = ["MIN_ENERGI"]'))
    with pytest.raises(UserError) as err:
        compile_market_params(load_market_params(path), load_table("wiod2011"))
    assert err.value.field == "commodities.oil.sectors"
    assert "did you mean 'MIN_ENERGY'?" in str(err.value)


# ------------------------------------------------------------------------------------------------
# Zero shock, bounds, reproducibility
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("u_value", [0.0, 0.5, 1.0, None])
def test_zero_shock_gives_exactly_zero(compiled, u_value):
    B = 64
    n = compiled.n_uniforms
    u = np.random.default_rng(3).random((B, n)) if u_value is None else np.full((B, n), u_value)
    price, dd = market_outcomes(compiled, *zeros_inputs(compiled, B), u)
    assert price.shape == (B, len(compiled.commodity_names))
    assert dd.shape == (B, len(compiled.index_names))
    assert np.all(price == 0.0) and np.all(dd == 0.0)
    assert not np.any(np.signbit(price)) and not np.any(np.signbit(dd))  # no -0.0


def test_same_u_same_outcome(cm_default):
    rng = np.random.default_rng(11)
    B, (R, S) = 32, (len(cm_default.regions), len(cm_default.sectors))
    args = (rng.random((B, S)) * 1e4, np.full(S, 1e5), rng.random((B, R, S)) * 0.3, rng.random((B, R)) * 0.1,
            rng.random((B, R)) < 0.2)
    u = rng.random((B, cm_default.n_uniforms))
    a = market_outcomes(cm_default, *args, u)
    b = market_outcomes(cm_default, *args, u.copy())
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    # each draw depends on its own row of u only: a sub-batch gives the same rows
    c = market_outcomes(cm_default, *(x[:5] if x.ndim > 1 else x for x in args), u[:5])
    np.testing.assert_array_equal(a[1][:5], c[1])


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_bounds_and_finiteness(cm_default, data):
    R, S = len(cm_default.regions), len(cm_default.sectors)
    B = data.draw(st.integers(1, 6))
    floats = st.floats(-0.5, 1.5, allow_nan=False)
    olr = data.draw(arrays(np.float64, (B, R, S), elements=floats))
    gdp = data.draw(arrays(np.float64, (B, R), elements=floats))
    sanc = data.draw(arrays(np.bool_, (B, R)))
    supply0 = data.draw(arrays(np.float64, (S,), elements=st.floats(0.0, 1e7, allow_nan=False)))
    withdrawn = data.draw(arrays(np.float64, (B, S), elements=st.floats(-1e6, 2e7, allow_nan=False)))
    u = data.draw(arrays(np.float64, (B, cm_default.n_uniforms), elements=st.floats(0.0, 1.0)))
    price, dd = market_outcomes(cm_default, withdrawn, supply0, olr, gdp, sanc, u)
    assert np.all(np.isfinite(price)) and np.all(np.isfinite(dd))
    assert np.all(price >= 0.0) and np.all(price <= cm_default.max_price_change_pct[None, :] * (1 + 1e-12))
    assert np.all(dd >= 0.0) and np.all(dd <= 100.0)


# ------------------------------------------------------------------------------------------------
# Monotonicity (property tests)
# ------------------------------------------------------------------------------------------------
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_more_blocked_energy_never_lowers_energy_prices(cm_default, data):
    """Larger withdrawn energy supply (MIN_ENERGY, PETROLEUM) never lowers an energy price, for fixed u."""
    S = len(cm_default.sectors)
    B = data.draw(st.integers(1, 4))
    supply0 = np.full(S, 1e6)
    base = data.draw(arrays(np.float64, (B, S), elements=st.floats(0.0, 1e6)))
    extra = np.zeros((B, S))
    for name in ("MIN_ENERGY", "PETROLEUM"):
        extra[:, idx(cm_default.sectors, name)] = data.draw(
            arrays(np.float64, (B,), elements=st.floats(0.0, 1e6)))
    u = data.draw(arrays(np.float64, (B, cm_default.n_uniforms), elements=st.floats(0.0, 1.0)))
    _, _, olr, gdp, sanc = zeros_inputs(cm_default, B)
    p1, _ = market_outcomes(cm_default, base, supply0, olr, gdp, sanc, u)
    p2, _ = market_outcomes(cm_default, base + extra, supply0, olr, gdp, sanc, u)
    for c in ("crude_oil", "natural_gas", "refined_products"):
        j = idx(cm_default.commodity_names, c)
        assert np.all(p2[:, j] >= p1[:, j])
    assert np.all(p2 >= p1)  # and no other price falls either


@settings(max_examples=60, deadline=None)
@given(q1=st.floats(0.0, 1.0), dq=st.floats(0.0, 1.0), e=st.floats(1e-3, 2.0), cap=st.floats(1.0, 5000.0))
def test_price_formula_monotone_and_capped(q1, dq, e, cap):
    q2 = min(1.0, q1 + dq)
    p1, p2 = price_change_pct(np.array([q1, q2]), e, cap)
    assert 0.0 <= p1 <= p2 <= cap * (1 + 1e-12)


def test_price_formula_values():
    # 10% of supply withdrawn, elasticity 0.1: P = 0.9^-10 = 2.868 -> +186.8%
    assert price_change_pct(np.array(0.1), 0.1, 1000.0) == pytest.approx(100 * (0.9 ** -10 - 1))
    assert price_change_pct(np.array(0.1), 0.1, 100.0) == pytest.approx(100.0)   # capped
    assert price_change_pct(np.array(1.0), 0.2, 300.0) == pytest.approx(300.0)   # all supply gone: the cap
    assert price_change_pct(np.array(0.0), 1e-9, 300.0) == 0.0
    # a more elastic market moves the price less
    assert price_change_pct(np.array(0.05), 0.3, 1e4) < price_change_pct(np.array(0.05), 0.1, 1e4)


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_drawdown_monotone_in_losses(cm_default, data):
    R, S = len(cm_default.regions), len(cm_default.sectors)
    B = 2
    unit = st.floats(0.0, 1.0)
    olr = data.draw(arrays(np.float64, (B, R, S), elements=unit))
    gdp = data.draw(arrays(np.float64, (B, R), elements=unit))
    more_olr = np.minimum(1.0, olr + data.draw(arrays(np.float64, (B, R, S), elements=unit)))
    more_gdp = np.minimum(1.0, gdp + data.draw(arrays(np.float64, (B, R), elements=unit)))
    sanc = data.draw(arrays(np.bool_, (B, R)))
    u = data.draw(arrays(np.float64, (B, cm_default.n_uniforms), elements=unit))
    draws = sample_market_draws(cm_default, u)
    d1 = equity_drawdown_pct(cm_default, olr, gdp, sanc, draws)
    d2 = equity_drawdown_pct(cm_default, more_olr, more_gdp, sanc, draws)
    assert np.all(d2 >= d1 - 1e-9)


# ------------------------------------------------------------------------------------------------
# Equity economics
# ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("both_hit", [False, True])
@pytest.mark.parametrize("v", [0.05, 0.5, 0.95])
def test_taiwan_chips_hit_taiex_harder_than_sp500(compiled, both_hit, v):
    """A strong hit to TWN SEMICONDUCTORS lowers TAIEX more than the S&P 500 for the same u; with the
    same chip output loss in both regions, the larger semiconductor weight (TSMC) alone drives it."""
    R, S = len(compiled.regions), len(compiled.sectors)
    B = 1
    olr = np.zeros((B, R, S))
    s = idx(compiled.sectors, "SEMICONDUCTORS")
    olr[:, idx(compiled.regions, "TWN"), s] = 0.9
    if both_hit:
        olr[:, idx(compiled.regions, "USA"), s] = 0.9
    u = np.full((B, compiled.n_uniforms), v)
    _, dd = market_outcomes(compiled, np.zeros((B, S)), np.ones(S), olr, np.zeros((B, R)),
                            np.zeros((B, R), bool), u)
    taiex, sp = dd[0, idx(compiled.index_names, "TAIEX")], dd[0, idx(compiled.index_names, "S&P 500")]
    assert taiex > sp >= 0.0
    if both_hit:  # no GDP loss, same leverage draw: the ratio is the ratio of the chip weights
        w = {ix.name: ix.sector_weights.get("SEMICONDUCTORS", 0.0) for ix in compiled.params.indices}
        if taiex < 100.0:
            assert taiex / sp == pytest.approx(w["TAIEX"] / w["S&P 500"])


def test_risk_premium_ramps_with_gdp_loss(cm_default):
    R, S = len(cm_default.regions), len(cm_default.sectors)
    u = np.full((3, cm_default.n_uniforms), 0.5)
    gdp = np.zeros((3, R))
    t = idx(cm_default.regions, "TWN")
    full = cm_default.risk_premium_full_at_gdp_loss
    gdp[:, t] = [1e-12, full / 2, full * 3]
    _, dd = market_outcomes(cm_default, np.zeros((3, S)), np.ones(S), np.zeros((3, R, S)), gdp,
                            np.zeros((3, R), bool), u)
    d = dd[:, idx(cm_default.index_names, "TAIEX")]
    assert 0.0 < d[0] < 1e-6          # a numerically tiny loss gives a tiny drawdown, no jump
    assert d[0] < d[1] < d[2] <= 100.0


def test_sanctioned_market_closed_to_foreigners(cm_default):
    params = cm_default.params
    R, S = len(cm_default.regions), len(cm_default.sectors)
    lay = market_uniform_layout(params)
    i = idx(cm_default.index_names, "MOEX Russia")
    moex = params.indices[i]
    u = np.full((2, cm_default.n_uniforms), 0.5)
    u[0, lay["closure"].start + i] = 0.0   # closes (u < p)
    u[1, lay["closure"].start + i] = 1.0   # stays open
    sanc = np.zeros((2, R), bool)
    sanc[:, idx(cm_default.regions, "RUS")] = True
    _, dd = market_outcomes(cm_default, np.zeros((2, S)), np.ones(S), np.zeros((2, R, S)), np.zeros((2, R)),
                            sanc, u)
    assert dd[0, i] == pytest.approx(float(moex.uninvestable_loss_pct.ppf(np.array(0.5))))
    assert dd[1, i] == 0.0
    others = [j for j in range(len(cm_default.index_names)) if j != i]
    assert np.all(dd[:, others] == 0.0)   # sanctions on Russia close no other market


def test_risk_premia_share_a_common_factor(cm_default):
    rng = np.random.default_rng(5)
    draws = sample_market_draws(cm_default, rng.random((4000, cm_default.n_uniforms)))
    corr = np.corrcoef(draws.risk_premium_pct.T)
    off = corr[~np.eye(corr.shape[0], dtype=bool)]
    assert off.mean() > 0.2   # risk_premium_correlation = 0.5 in the default file


def test_distribution_ppf_matches_definitions():
    u = np.linspace(0.0, 1.0, 11)
    tri = MarketDistribution("triangular", (0.0, 4.0, 15.0)).ppf(u)
    assert tri[0] == 0.0 and tri[-1] == 15.0 and np.all(np.diff(tri) >= 0)
    ln = MarketDistribution("lognormal", (math.log(0.15), 0.5, 1.0))
    assert ln.ppf(np.array(0.5)) == pytest.approx(0.15)
    assert ln.ppf(np.array(1.0)) == 1.0   # capped at high
    pert = MarketDistribution("pert", (1.0, 2.0, 5.0, 4.0)).ppf(u)
    assert pert[0] == pytest.approx(1.0) and pert[-1] == pytest.approx(5.0)
    tn = MarketDistribution("truncnormal", (0.0, 1.0, -0.5, 2.0)).ppf(u)
    assert tn.min() >= -0.5 and tn.max() <= 2.0


def test_bad_shapes_raise_value_error(cm_default):
    B, (R, S) = 2, (len(cm_default.regions), len(cm_default.sectors))
    args = list(zeros_inputs(cm_default, B))
    with pytest.raises(ValueError, match="u must have shape"):
        market_outcomes(cm_default, *args, np.zeros((B, 3)))
    args[2] = np.zeros((B, R, S + 1))
    with pytest.raises(ValueError, match="output_loss_ratio"):
        market_outcomes(cm_default, *args, np.zeros((B, cm_default.n_uniforms)))


# ------------------------------------------------------------------------------------------------
# Validation errors: one line, file and field
# ------------------------------------------------------------------------------------------------
MINIMAL = """\
name = "mini"
source = "test file"

[index_defaults]
leverage = 1.5   # assumption
risk_premium_pct = { dist = "uniform", low = 0.0, high = 10.0 }   # assumption
sanction_closure = 0.5   # assumption
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
    assert tomllib.loads(MINIMAL)  # the template itself is valid TOML


BAD_CASES = [
    # (description, old, new, field, message fragment)
    ("unknown key", "max_price_change_pct = 300.0", "max_price_change_pct = 300.0\nelastcity = 0.2",
     "commodities.oil.elastcity", "did you mean 'elasticity'?"),
    ("unknown top-level key", 'name = "mini"', 'name = "mini"\nindexes = 1', "indexes", "did you mean 'indices'?"),
    ("negative elasticity", 'elasticity = { dist = "lognormal", median = 0.15, sigma = 0.5 }',
     'elasticity = { dist = "uniform", low = -0.1, high = 0.3 }', "commodities.oil.elasticity", "must be > 0"),
    ("zero elasticity", 'elasticity = { dist = "lognormal", median = 0.15, sigma = 0.5 }', "elasticity = 0.0",
     "commodities.oil.elasticity", "must be > 0"),
    ("weights sum > 1", "FINANCE = 0.10", "FINANCE = 0.70", "indices.taiex.sector_weights", "sum to 1.05 > 1"),
    ("weight out of range", "FINANCE = 0.10", "FINANCE = -0.10", "indices.taiex.sector_weights.FINANCE",
     "in [0, 1]"),
    ("missing commodity source", 'max_price_change_pct = 300.0   # test\nsource = "test"',
     "max_price_change_pct = 300.0   # test", "commodities.oil.source", "missing required key 'source'"),
    ("missing index source", 'region = "TWN"\nsource = "test"', 'region = "TWN"', "indices.taiex.source",
     "missing required key 'source'"),
    ("empty source", 'region = "TWN"\nsource = "test"', 'region = "TWN"\nsource = "  "', "indices.taiex.source",
     "non-empty string"),
    ("missing file source", 'source = "test file"\n', "", "source", "missing required key 'source'"),
    ("unknown dist", 'dist = "lognormal"', 'dist = "lognormale"', "commodities.oil.elasticity.dist",
     "did you mean 'lognormal'?"),
    ("unknown dist parameter", "sigma = 0.5 }", "sigma = 0.5, meadian = 1 }", "commodities.oil.elasticity.meadian",
     "did you mean 'median'?"),
    ("closure probability > 1", "sanction_closure = 0.5", "sanction_closure = 1.5",
     "index_defaults.sanction_closure", "probability in [0, 1]"),
    ("risk premium > 100", "high = 10.0 }", "high = 150.0 }", "index_defaults.risk_premium_pct", "<= 100"),
    ("cap <= 0", "max_price_change_pct = 300.0", "max_price_change_pct = 0", "commodities.oil.max_price_change_pct",
     "must be > 0"),
    ("string for number", "max_price_change_pct = 300.0", 'max_price_change_pct = "300"',
     "commodities.oil.max_price_change_pct", "finite number"),
]


@pytest.mark.parametrize("desc, old, new, field, fragment", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_validation_errors_name_file_and_field(tmp_path, desc, old, new, field, fragment):
    assert old in MINIMAL, desc
    path = write_params(tmp_path, MINIMAL.replace(old, new, 1))
    with pytest.raises(UserError) as err:
        load_market_params(path)
    e = err.value
    assert e.file == str(path)
    assert e.field == field
    assert fragment in str(e)
    assert "\n" not in str(e)
    assert str(e).startswith(f"{path}: {field}: ")


def test_invalid_toml_and_unknown_name(tmp_path):
    path = write_params(tmp_path, "name = [unclosed\n")
    with pytest.raises(UserError, match="not valid TOML") as err:
        load_market_params(path)
    assert err.value.file == str(path)
    with pytest.raises(UserError, match="did you mean 'default'") as err:
        load_market_params("defualt")
    with pytest.raises(UserError, match="no such file"):
        load_market_params(tmp_path / "missing.toml")


def test_index_parameters_fall_back_to_defaults_or_fail(tmp_path):
    text = MINIMAL.replace("leverage = 1.5   # assumption\n", "")
    with pytest.raises(UserError) as err:
        load_market_params(write_params(tmp_path, text))
    assert err.value.field == "indices.taiex.leverage"
    text = text.replace('region = "TWN"', 'region = "TWN"\nleverage = { dist = "uniform", low = 1, high = 2 }')
    p = load_market_params(write_params(tmp_path, text))
    assert p.indices[0].leverage.dist == "uniform"
