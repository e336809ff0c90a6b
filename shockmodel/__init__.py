"""shockmodel: Monte Carlo forecasts of losses from sanctions, blockades and wars through a
multi-regional input-output network.

Public API (imported lazily, so ``import shockmodel`` is cheap)::

    load_table(name_or_path)      -> MRIO
    load_scenario(name_or_path)   -> ScenarioSpec
    run(scenario, table="default", draws=10_000, seed=0, model="constrained", chunk_size=None) -> xarray.Dataset
    summarize(ds)                 -> pandas.DataFrame
    compare([run folder | scenario, ...]) -> pandas.DataFrame (one row per run)
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["MRIO", "load_table", "load_scenario", "run", "summarize", "demo", "compare", "__version__"]

_LAZY = {
    "MRIO": ("shockmodel.mrio", "MRIO"),
    "load_table": ("shockmodel.io.tables", "load_table"),
    "load_scenario": ("shockmodel.scenario", "load_scenario"),
    "run": ("shockmodel.pipeline", "run"),
    "demo": ("shockmodel.pipeline", "demo"),
    "compare": ("shockmodel.pipeline", "compare"),
    "summarize": ("shockmodel.aggregate", "summarize"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'shockmodel' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY))
