"""float32 matrix products: results within a stated tolerance of float64 on the library's largest scenario.

Stated tolerance: every per-draw GDP and export loss within 1e-5 of the float64 result, relative to the
world total of the draw (so tiny regional losses are not held to a relative bound the float32 rounding
of a product of ~240 terms cannot meet); the constrained solver stops at 1e-6 of output in float32
(engine.DEFAULT_TOL), which this bound includes.
"""

from __future__ import annotations

import numpy as np
import pytest

from shockmodel import pipeline

TOL = 1e-5


@pytest.mark.parametrize("model", ["leontief", "ghosh", "constrained"])
def test_float32_within_tolerance_of_float64(model, default_table):
    kw = dict(table=default_table, draws=512, model=model, markets=None, seed=3)
    d64 = pipeline.run("combined_coordinated", **kw)
    d32 = pipeline.run("combined_coordinated", precision="float32", **kw)
    assert d32.attrs["precision"] == "float32"
    w64 = d64["world_gdp_loss"].values
    assert (w64 > 0).all()
    np.testing.assert_allclose(d32["world_gdp_loss"].values, w64, rtol=TOL)
    err = np.abs(d32["gdp_loss"].values - d64["gdp_loss"].values).max(axis=1)
    assert (err <= TOL * w64).all(), (err / w64).max()
    np.testing.assert_allclose(d32["trade_loss_pct"].values, d64["trade_loss_pct"].values, rtol=TOL, atol=TOL)
    # streamed means of sector output losses: within TOL of the world output loss
    o64, o32 = d64["output_loss"].sel(statistic="mean").values, d32["output_loss"].sel(statistic="mean").values
    assert np.abs(o32 - o64).max() <= TOL * o64.sum()
    assert d32.attrs["non_converged_draws"] == 0


@pytest.mark.parametrize("model", ["leontief", "constrained"])
def test_float32_baseline_is_exactly_zero(model, default_table):
    ds = pipeline.run("baseline", table=default_table, draws=256, model=model, markets=None, precision="float32")
    streamed = ds["trade_loss"].sel(statistic=["mean", "p05", "p50", "p95"])   # the others are not computed (NaN)
    assert (ds["gdp_loss"].values == 0).all() and (streamed.values == 0).all()


def test_unknown_precision_is_a_user_error(default_table):
    from shockmodel.errors import UserError

    with pytest.raises(UserError, match="precision"):
        pipeline.run("baseline", table=default_table, draws=10, precision="float16", markets=None)
