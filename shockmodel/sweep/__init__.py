"""Parameter sweeps: many pipeline runs over scenarios x a design of scenario key paths (layer above the
pipeline; see the import-linter contract in pyproject.toml).

A sweep spec (``params/sweeps/*.toml``, format in :mod:`shockmodel.sweep.spec`) names base scenarios and
a grid (full factorial) and/or a sampled design (``[random]`` or ``[lhs]``) over dotted scenario key
paths such as ``coordination`` or ``packages.russia.probability``. Each cell (scenario x design point) is
one :func:`shockmodel.pipeline.run` with the same seed, so cells see common random numbers and their
differences are not noise.

    from shockmodel.sweep import run_sweep
    folder = run_sweep("coordination", workers=4)        # -> results/<UTC>-sweep-coordination-<hash8>/
    folder = run_sweep(None, resume=folder)              # after an interruption: only missing cells run

Each finished cell is written at once to ``<folder>/cells/<cell_id>.nc`` (atomically); ``data.nc``
holds all cells on a grid of named dimensions (``base_scenario`` when there are several, one per [grid]
key path, ``cell`` for sampled points; layout in :func:`shockmodel.sweep.run.assemble`), each cell with
the simultaneity premium when its scenario has two or more packages
(layout in :mod:`shockmodel.sweep.run`). Numbers are bit-identical whatever the backend or worker count.

Backends: serial (default); ``workers=N``: a dask.distributed LocalCluster of N single-threaded worker
processes on this machine; ``scheduler=ADDRESS``: an existing dask cluster. To start one by hand (on
one or several machines that all see the sweep folder at the same path and have shockmodel installed)::

    dask scheduler                                  # on HOST; listens on tcp://HOST:8786
    dask worker tcp://HOST:8786 --nthreads 1        # once per core, on any machine
    shockmodel sweep SPEC --scheduler tcp://HOST:8786

Use ``--nthreads 1`` and more workers instead (``--nworkers N`` starts N processes): each task runs
its cell on one numba thread. A script that calls ``run_sweep(..., workers=N)`` needs the usual
``if __name__ == "__main__":`` guard, because the worker processes import the main module.
If the scheduler cannot be reached, the sweep folder is kept: ``resume`` it once the cluster is up.
"""

from shockmodel.sweep.run import run_sweep
from shockmodel.sweep.spec import Cell, SweepSpec, load_sweep_spec

__all__ = ["Cell", "SweepSpec", "load_sweep_spec", "run_sweep"]
