"""Every numba kernel of the package takes at most twelve parameters: longer inputs go in the named tuples
of shockmodel/kernels/structs.py, so that two arrays of the same dtype cannot be swapped by position."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import shockmodel

MAX_PARAMETERS = 12


def _dispatchers():
    """``{"module.name": dispatcher}`` for every numba CPU dispatcher defined in a module of the package."""
    from numba.core.registry import CPUDispatcher

    found = {}
    for info in pkgutil.walk_packages(shockmodel.__path__, "shockmodel."):
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if isinstance(obj, CPUDispatcher) and obj.py_func.__module__ == module.__name__:
                found[f"{module.__name__}.{name}"] = obj
    return found


def test_the_walk_finds_the_kernels_of_every_kernel_module():
    names = set(_dispatchers())
    assert {"shockmodel.kernels.propagate.constrained_sub_batch", "shockmodel.kernels.propagate.leontief_block",
            "shockmodel.kernels.stats.order_stats"} <= names
    assert any(n.startswith("shockmodel.kernels.dynamic.") for n in names)


def test_no_kernel_takes_more_than_twelve_parameters():
    counts = {name: len(inspect.signature(d.py_func).parameters) for name, d in _dispatchers().items()}
    over = {name: c for name, c in sorted(counts.items()) if c > MAX_PARAMETERS}
    assert not over, f"kernels with more than {MAX_PARAMETERS} parameters (group them in kernels/structs.py): {over}"
