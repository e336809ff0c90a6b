"""Executors: run a sweep's cells serially or on dask.distributed.

Every cell is one task that runs :func:`shockmodel.pipeline.run` and writes its own cell file atomically
(temporary file, then rename), then returns the cell id; the driver only counts. A cell's numbers
depend on the seed alone (the engine keys its random numbers by seed and block), so the backend, the
number of workers and the number of threads never change them.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from shockmodel.errors import UserError
from shockmodel.sweep.spec import Value


@dataclass(frozen=True)
class CellTask:
    """Everything a worker needs to compute one cell and store it at ``path`` (picklable)."""

    cell_id: str
    scenario: str
    overrides: tuple[tuple[str, Value], ...]
    table: str
    model: str
    draws: int
    seed: int
    markets: str | None
    path: str
    sweep_id: str
    threads: int | None = None   # numba threads; 1 on dask workers (one task per worker thread)
    structure: str = "sampled"   # critical-input classes drawn per draw, or "central" (docs/model.md eq. 55)


def run_cell(task: CellTask) -> str:
    """Compute one cell, write it atomically to ``task.path`` and return its id."""
    from shockmodel import pipeline
    from shockmodel.io.results import write_dataset

    overrides = dict(task.overrides)
    ds = pipeline.run(task.scenario, table=task.table, draws=task.draws, seed=task.seed, model=task.model,
                      overrides=overrides, markets=task.markets, threads=task.threads, structure=task.structure,
                      variants=premium_variants(task.scenario, overrides))
    ds.attrs.update(run_id=f"{task.sweep_id}/{task.cell_id}", cell_id=task.cell_id,
                    overrides=json.dumps(overrides, sort_keys=True))
    with _local_write_lock():
        write_dataset(ds, task.path)
    return task.cell_id


@contextmanager
def _local_write_lock():
    """xarray takes a cluster-wide lock (a dask.distributed semaphore, through a client of the worker's own)
    for every netCDF write made on a dask worker. A cell writes its own file, so a lock of the process is
    enough, and it leaves no connection or client behind when the cluster shuts down (after an interrupt
    they printed errors and tracebacks at the worker's exit). dask's synchronous scheduler makes xarray
    take its local lock; without dask there is nothing to change."""
    try:
        import dask
    except ImportError:
        yield
        return
    with dask.config.set(scheduler="synchronous"):
        yield


def premium_variants(scenario: str, overrides) -> dict[str, list[str]] | None:
    """A cell of a scenario with two or more packages also runs each package alone on the same draws,
    so the sweep carries the simultaneity premium per cell (``combined`` = every package)."""
    from shockmodel.scenario import load_scenario

    names = list(load_scenario(scenario, overrides=overrides or None).package_names)
    return {"combined": names, **{n: [n] for n in names}} if len(names) > 1 else None


def run_serial(tasks: Sequence[CellTask], done: Callable[[str], None]) -> None:
    """Run the tasks one after the other in this process, calling ``done(cell_id)`` after each."""
    for task in tasks:
        done(run_cell(task))


def run_distributed(tasks: Sequence[CellTask], done: Callable[[str], None], *, workers: int | None = None,
                    scheduler: str | None = None) -> None:
    """Run the tasks on a local cluster of ``workers`` processes, or on the cluster at ``scheduler``;
    ``done(cell_id)`` is called as each one finishes. On an error the other tasks are cancelled."""
    from distributed import as_completed

    with _client(workers, scheduler) as client:
        futures = [client.submit(run_cell, task, key=f"shockmodel-{task.sweep_id}-{task.cell_id}")
                   for task in tasks]
        try:
            for future in as_completed(futures):
                done(future.result())
        finally:
            client.cancel(futures)


@contextmanager
def _workers_ignore_ctrl_c():
    """SIGINT ignored while the local cluster starts its worker processes, which inherit that (an ignored
    signal stays ignored across exec, and Python installs its KeyboardInterrupt handler only where SIGINT
    has its default action). Ctrl-C in a terminal reaches the whole process group: only this process
    must act on it (cancel, shut the cluster down, print one line); workers that raised
    KeyboardInterrupt too would print tracebacks of their own. Restored for this process as soon as the
    workers are up (a Ctrl-C in the few seconds of start-up is not seen; one after it is)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def _client(workers: int | None, scheduler: str | None) -> Iterator:
    """A dask Client: connected to ``scheduler``, or to a new LocalCluster of single-threaded processes."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise UserError("needs dask.distributed: pip install 'shockmodel[distributed]'",
                        field="scheduler" if scheduler else "workers") from None
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError, ValueError) as err:
            raise UserError(f"cannot reach the dask scheduler ({err})", field="scheduler") from None
        with client:
            yield client
        return
    import logging

    # silence_logs: the cluster's own log lines (tasks cancelled, a busy worker killed on shutdown after an
    # interrupt, a write lock released into a closed connection) are not the user's concern: a failed
    # task raises in future.result(), and an interrupt is the one line the CLI prints
    with _workers_ignore_ctrl_c():
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.CRITICAL)
    with cluster:
        client = Client(cluster)
        try:
            yield client
        finally:
            _close(client)


def _close(client) -> None:
    """Close ``client``; if an interrupt left it half closed, mark it closed: the cluster is shut down
    right after, and a client still "closing" would try again when collected at exit and print a
    traceback ("Exception ignored in Client.__del__ ... IOLoop is closed")."""
    try:
        client.close()
    finally:
        if client.status != "closed":
            client.status = "closed"
