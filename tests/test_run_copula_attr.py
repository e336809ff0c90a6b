"""A run's dataset says which copula made its draws (the t copula changes the tail; a reader of data.nc
alone must be able to tell)."""

import pytest

import shockmodel as sm


@pytest.mark.parametrize("overrides, copula", [
    (None, "gaussian"),
    ({"copula": "t", "copula_df": 4, "copula_source": "assumption"}, "student-t, 4 df"),
])
def test_run_names_its_copula(overrides, copula):
    ds = sm.run("taiwan_blockade", draws=16, seed=0, model="leontief", markets=None, overrides=overrides)
    assert ds.attrs["copula"] == copula
