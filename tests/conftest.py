"""Session fixtures: tables are loaded once, numba kernels compiled once (cache=True on disk too)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def default_table():
    from shockmodel.io.tables import load_table

    return load_table("default")


@pytest.fixture(scope="session")
def wiod_table():
    from shockmodel.io.tables import load_table

    return load_table("wiod2011")


@pytest.fixture(scope="session")
def critical_default(default_table):
    from shockmodel.criticality import critical_weights

    return critical_weights(default_table)


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/golden/*.npz from the current code and print what changed")
