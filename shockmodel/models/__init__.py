"""The model registry (L3, beside the engine's driver): one module per model, found by name.

Each model module declares

* ``IGNORES``: ``{shock kind: what of it the model does not take}`` (said with every result and by the CLI);
* ``WORKSPACE``: whether the engine hands it the per-thread leontief workspace (``engine._workspace``);
* ``prepare(ctx) -> dict``: the model's own plan fields (:class:`PrepareContext`), computed once per plan;
* ``propagate(plan, sev, on, ctx) -> (dxT, tradeT, f, converged, iterations, uT)``: one block of draws,
  draws-last, before the horizon fraction ``f`` is applied (:class:`RunContext`);
* optionally ``KEEP_DRAWS``: how many draws keep their per-draw variables by default (the engine's
  ``KEEP_DRAWS`` otherwise); a model whose draws carry time paths keeps fewer, so memory stays flat.

Adding a model is one module and one line in ``_MODULES``. Importing this package imports no model (and
no numba), so the CLI can list the names cheaply.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

if TYPE_CHECKING:   # no numpy at import: the CLI reads MODELS from here and its --help stays fast
    import numpy as np

_MODULES = {
    "constrained": "shockmodel.models.constrained",
    "leontief": "shockmodel.models.leontief",
    "ghosh": "shockmodel.models.ghosh",
    "dynamic": "shockmodel.models.dynamic",
}
MODELS: tuple[str, ...] = tuple(_MODULES)
#: Dtypes of the matrix products (``precision``); every other quantity is float64.
PRECISIONS: tuple[str, ...] = ("float64", "float32")


_LOADED: dict[str, Any] = {}


def get(name: str):
    """The module of model ``name`` (KeyError if unknown; the engine checks names first). Kept once found:
    the engine asks for it on every block, and ``importlib.import_module`` costs a quarter millisecond."""
    module = _LOADED.get(name)
    if module is None:
        module = _LOADED[name] = importlib.import_module(_MODULES[name])
    return module


class PrepareContext(NamedTuple):
    """What a model may read while its plan is built (engine.make_plan)."""

    compiled: Any          # scenario.CompiledScenario
    mrio: Any              # mrio.MRIO
    A: np.ndarray          # (n, n) technical coefficients
    tri_A: np.ndarray      # (T, S) coefficients of the buyers along each triple
    classes: Any           # passclasses.PassClasses
    gemm_dtype: type       # np.float64 or np.float32
    critical: np.ndarray | None   # (S, S) criticality weights or None
    plan_fields: dict      # the plan's common fields (index lists, baselines), read-only
    days_per_month: float


class RunContext(NamedTuple):
    """Settings of one block's propagation (engine._propagate_raw)."""

    tol: float
    max_iter: int
    ws: dict | None                     # the calling thread's workspace (models with WORKSPACE), or None
    keep: int | None                    # only the first ``keep`` draws are wanted
    map_sub_batches: Callable           # engine._map_sub_batches
    sub_batch: int                      # engine.SUB_BATCH
    aa_depth: int                       # engine.AA_DEPTH
    days_per_month: float
    extras: dict | None = None          # per-block extra outputs a model may fill (name -> (B, ...) array)
    crit_w: np.ndarray | None = None    # (Q, B) sampled critical-input weights (eq. 55); None: the plan's central
    dyn_uniforms: dict | None = None    # dynamic model: its behavioural uniforms given (sensitivity), not drawn


def default_keep_draws(name: str, engine_default: int) -> int:
    """Draws whose per-draw variables model ``name`` keeps unless the user says otherwise."""
    return int(getattr(get(name), "KEEP_DRAWS", engine_default))


def ignored_kinds(name: str, kinds) -> dict[str, str]:
    """``{kind: what is ignored}`` for the shock kinds among ``kinds`` that model ``name`` does not take
    (in part or in full), in the order given."""
    ign = get(name).IGNORES
    return {k: ign[k] for k in dict.fromkeys(kinds) if k in ign}
