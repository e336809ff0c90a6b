"""Process-wide state (shockmodel/runtime.py): a run restores the thread and BLAS settings it changes, and
clear_caches() drops every cache without changing a number."""

from __future__ import annotations

import numpy as np

from shockmodel import engine, runtime
from shockmodel.scenario import compile_scenario, load_scenario


def _blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in runtime.blas_controller().info() if lib["user_api"] == "blas"]


def test_simulate_restores_numba_threads_and_blas_settings(default_table):
    import numba

    compiled = compile_scenario(load_scenario("taiwan_blockade"), default_table)
    before, blas_before = numba.get_num_threads(), _blas_threads()
    assert blas_before, "no BLAS library found by threadpoolctl"
    other = 1 if before > 1 else numba.config.NUMBA_NUM_THREADS
    seen = []
    engine.simulate(compiled, default_table, draws=2 * engine.BLOCK, model="leontief", threads=other,
                    progress=lambda n: seen.append((numba.get_num_threads(), _blas_threads())))
    assert seen and all(t == min(other, numba.config.NUMBA_NUM_THREADS) for t, _ in seen)   # applied during
    assert all(set(b) == {1} for _, b in seen)                                              # BLAS on one thread
    assert numba.get_num_threads() == before
    assert _blas_threads() == blas_before


def test_solver_settings_are_arguments(default_table, critical_default):
    """max_iter and aa_depth reach the solver: one sweep stops every shocked draw unconverged."""
    plan = engine.make_plan(compile_scenario(load_scenario("taiwan_blockade"), default_table), default_table,
                            "constrained", critical_default)
    smp = engine.sample_block(plan, 5, 0, engine.SUB_BATCH)
    full = engine.propagate_block(plan, smp.severity, smp.occurred)
    one = engine.propagate_block(plan, smp.severity, smp.occurred, max_iter=1, aa_depth=0)
    assert full.converged.all() and (full.iterations > 1).any()
    assert not one.converged[full.iterations > 1].any() and one.iterations.max() == 1


def test_clear_caches_drops_state_and_keeps_numbers(default_table):
    compiled = compile_scenario(load_scenario("taiwan_blockade"), default_table)
    first = engine.simulate(compiled, default_table, draws=300, seed=3, model="leontief")
    assert runtime.PLANS
    runtime.clear_caches()
    assert not runtime.PLANS and not runtime.COUNT_POOL and not runtime.WORKSPACE_KEYS
    assert getattr(runtime.scratch, "workspaces", None) is None
    again = engine.simulate(compiled, default_table, draws=300, seed=3, model="leontief")
    np.testing.assert_array_equal(first.gdp_loss, again.gdp_loss)
    np.testing.assert_array_equal(first.output_sum, again.output_sum)
