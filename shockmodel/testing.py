"""Test helpers (importable by users' own tests): textbook tables and small scenarios.

* :func:`miller_blair_2x2` — the two-sector example of Miller & Blair (2009), section 2.2 (Table 2.3):
  ``Z = [[150, 500], [200, 100]]``, ``f = [350, 1700]``, ``x = [1000, 2000]``, so
  ``A = [[0.15, 0.25], [0.20, 0.05]]`` and ``L = [[1.2541, 0.3300], [0.2640, 1.1221]]`` (their eq. 2.14).
* :func:`toy_mrio` — 2 regions x 3 sectors, balanced, for kernel tests against dense references.
"""

from __future__ import annotations

import numpy as np

from shockmodel.mrio import MRIO, balance

MB_Z = np.array([[150.0, 500.0], [200.0, 100.0]])
MB_F = np.array([[350.0], [1700.0]])
MB_X = np.array([1000.0, 2000.0])
MB_L = np.array([[1.2541, 0.3300], [0.2640, 1.1221]])  # Miller & Blair (2009) eq. 2.14, 4 decimals


def miller_blair_2x2() -> MRIO:
    """One region, two sectors: Miller & Blair (2009) Table 2.3."""
    return MRIO(name="miller_blair_2x2", regions=("R",), sectors=("S1", "S2"), Z=MB_Z.copy(), Y=MB_F.copy(),
                x=MB_X.copy(), v=MB_X - MB_Z.sum(axis=0))


def toy_mrio(seed: int = 0, regions=("AAA", "BBB"), sectors=("ENERGY", "CHIPS", "SERVICES")) -> MRIO:
    """A random but balanced and productive table (column sums of A about 0.5)."""
    rng = np.random.default_rng(seed)
    R, S = len(regions), len(sectors)
    n = R * S
    Z = rng.uniform(1.0, 10.0, (n, n)) * (rng.random((n, n)) < 0.8)
    Y = rng.uniform(20.0, 60.0, (n, R))
    Z, Y, x, v = balance(Z, Y)
    return MRIO(name="toy", regions=tuple(regions), sectors=tuple(sectors), Z=Z, Y=Y, x=x, v=v)


def scenario_dict(packages: dict, **top) -> dict:
    """A scenario as a dict (``shockmodel.scenario.scenario_from_dict``), sources filled in for tests."""
    out = {"name": top.pop("name", "test"), "description": "test scenario", **top, "packages": {}}
    for pname, pkg in packages.items():
        shocks = {}
        for sname, sh in pkg.get("shocks", {}).items():
            shocks[sname] = {"source": "test", **sh}
        out["packages"][pname] = {"probability": 1.0, "source": "test", **{k: v for k, v in pkg.items() if k != "shocks"},
                                  "shocks": shocks}
    return out


def fixed(value: float) -> dict:
    return {"dist": "fixed", "value": value}
