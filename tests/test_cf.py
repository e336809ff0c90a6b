"""data.nc follows the CF conventions where they fit, checked with cf_xarray (units parsed by its pint
registry, with one currency unit defined: USD)."""

from __future__ import annotations

import pytest
import xarray as xr

cfx_units = pytest.importorskip("cf_xarray.units")

GLOBAL = ("Conventions", "title", "history", "source", "references")
#: Known departures, listed in the report: severity mixes shares, months and days in one variable (its
#: per-shock unit is the ``shock_units`` coordinate), so it has no single unit.
KNOWN = {"severity"}


def cf_problems(ds) -> list[str]:
    """One line per CF problem found: a missing global attribute, a coordinate without long_name, a
    variable without units or with units the registry cannot parse."""
    registry = cfx_units.units
    if "USD" not in registry:
        registry.define("USD = [currency]")
    problems = [f"global attribute {key} missing" for key in GLOBAL if not ds.attrs.get(key)]
    if not str(ds.attrs.get("Conventions", "")).startswith("CF-"):
        problems.append("Conventions is not CF-x.y")
    for name in ds.coords:
        if "long_name" not in ds[name].attrs and "standard_name" not in ds[name].attrs:
            problems.append(f"coordinate {name}: no long_name")
        if ds[name].dtype.kind in "iuf" and "units" not in ds[name].attrs:   # cfchecker: CF 3.1 units
            problems.append(f"coordinate {name}: numeric without units")
    for name, var in ds.data_vars.items():
        if name in KNOWN:
            continue
        if "long_name" not in var.attrs:
            problems.append(f"{name}: no long_name")
        unit = var.attrs.get("units")
        if unit is None:
            problems.append(f"{name}: no units")
            continue
        try:
            registry(str(unit))
        except Exception as err:  # pint raises several kinds
            problems.append(f"{name}: units {unit!r} not machine-readable ({type(err).__name__})")
    return problems


@pytest.fixture(scope="module")
def data_nc(tmp_path_factory):
    from click.testing import CliRunner

    from shockmodel.cli import main

    out = tmp_path_factory.mktemp("cf")
    res = CliRunner().invoke(main, ["run", "combined_coordinated", "--draws", "200", "--variants",
                                    "combined=russia,china_taiwan;russia=russia;china_taiwan=china_taiwan",
                                    "--out", str(out), "--no-report", "--quiet"])
    assert res.exit_code == 0, res.output
    (folder,) = list(out.iterdir())
    return folder / "data.nc"


def test_data_nc_passes_the_cf_check(data_nc):
    with xr.open_dataset(data_nc) as ds:
        assert cf_problems(ds) == []
        assert ds.attrs["Conventions"] == "CF-1.10"
        assert ds["gdp_loss_pct"].attrs["units"] == "percent"
        assert ds["gdp_loss_pct"].attrs["units_description"] == "percent of baseline value added"
        assert ds["gdp_loss"].attrs["units"] == "1e6 USD"
        assert "Taiwan" in " ".join(ds["region_name"].values.tolist())


def test_cf_check_finds_problems():
    ds = xr.Dataset({"x": ("draw", [1.0], {"units": "percent of nothing", "long_name": "x"})},
                    coords={"draw": [0]})
    found = cf_problems(ds)
    assert "global attribute Conventions missing" in found and "coordinate draw: no long_name" in found
    assert "coordinate draw: numeric without units" in found
    assert any("not machine-readable" in p for p in found)


def test_path_coordinates_have_long_names_and_units():
    from shockmodel.aggregate import cf_encode

    ds = xr.Dataset({"x": (("month", "path_stat"), [[1.0, 2.0]], {"units": "percent", "long_name": "x"})},
                    coords={"month": [1], "path_stat": ["mean", "p50"], "draw": [0]})
    out = cf_encode(ds)
    assert out["month"].attrs["units"] == "1" and out["draw"].attrs["units"] == "1"
    assert "month after the shock begins" in out["month"].attrs["long_name"]
    assert out["path_stat"].attrs["long_name"]
    assert not [p for p in cf_problems(out) if "coordinate" in p]

