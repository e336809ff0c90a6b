"""Process-wide state (L0), in one place: caches, pools, scratch buffers, thread and BLAS settings.

Everything a run keeps for the next one in the same process lives here, so that it can be seen and
dropped at once (:func:`clear_caches`):

* ``PLANS``: engine plans by content hash (engine.cached_plan), most recently used last;
* ``COMPILED``: compiled scenarios by spec and table (pipeline);
* ``WORKSPACE_KEYS``: per plan, what its workspaces' sizes depend on (engine._workspace_key);
* ``COUNT_POOL``: histogram sets handed back by finished runs (engine.take_counts, give_counts);
* ``scratch``: per-thread buffers (workspaces, reduction scratch, histogram sets of pool threads);
* the thread pools (:func:`thread_pool`, :func:`background_pool`) and the BLAS controller
  (:func:`blas_controller`);
* caches other modules register (:func:`register_cache`), e.g. ``functools.lru_cache`` tables.

The engine changes numba's thread count only inside :func:`numba_threads` and BLAS's only inside
:func:`blas_single_thread`; both restore what they found. Imports nothing heavy at module level.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Callable

PLANS: dict[str, Any] = {}
PLANS_SIZE = 4            #: plans kept (a wiod2011 plan holds a few 1476 x 1476 matrices)
PLANS_LOCK = threading.Lock()

COMPILED: dict[tuple[int, str], tuple[Any, Any]] = {}
WORKSPACE_KEYS: dict[int, tuple[Any, tuple]] = {}

COUNT_POOL: dict[tuple, list] = {}
COUNT_POOL_LOCK = threading.Lock()
COUNT_POOL_BYTES = 256 * 2**20   #: at most this much kept (a wiod2011 set is 43 MB, a default set 7 MB)

scratch = threading.local()      #: per-thread buffers (read as ``runtime.scratch``: clear_caches replaces it)

_POOL = None
_POOL_LOCK = threading.Lock()
_BACKGROUND = None
_BLAS = None
_REGISTERED: list[Callable[[], None]] = []


def thread_pool(workers: int):
    """A process-wide pool of at least ``workers`` Python threads, kept between calls (its threads keep
    their scratch buffers)."""
    global _POOL
    from concurrent.futures import ThreadPoolExecutor

    with _POOL_LOCK:
        if _POOL is None or _POOL._max_workers < workers:
            _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="shockmodel")
        return _POOL


def background_pool():
    """One worker thread kept for the process (starting a thread per run costs ~0.3 ms)."""
    global _BACKGROUND
    from concurrent.futures import ThreadPoolExecutor

    with _POOL_LOCK:
        if _BACKGROUND is None:
            _BACKGROUND = ThreadPoolExecutor(max_workers=1, thread_name_prefix="shockmodel-aggregate")
        return _BACKGROUND


def blas_controller():
    """threadpoolctl's controller of the loaded BLAS libraries (finding them costs ~3 ms: once)."""
    global _BLAS
    if _BLAS is None:
        import scipy.linalg.cython_blas  # noqa: F401  the BLAS numba's np.dot calls: loaded, so it is limited too
        from threadpoolctl import ThreadpoolController

        _BLAS = ThreadpoolController()
    return _BLAS


def blas_single_thread():
    """Context keeping BLAS on one thread, restoring its settings on exit: its spinning worker threads
    otherwise fight numba's threads for the cores (docs/performance.md, "threads and BLAS")."""
    return blas_controller().limit(limits=1, user_api="blas")


@contextmanager
def numba_threads(threads: int | None):
    """numba's thread count (thread-local) at ``threads`` (clipped to [1, NUMBA_NUM_THREADS]) inside,
    restored on exit; None leaves it alone."""
    if threads is None:
        yield
        return
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(before)


def register_cache(clear: Callable[[], None]) -> Callable[[], None]:
    """Have :func:`clear_caches` call ``clear`` (e.g. an ``lru_cache``'s ``cache_clear``); returns it."""
    _REGISTERED.append(clear)
    return clear


def clear_caches() -> None:
    """Drop every cache, pooled histogram set and per-thread buffer the process holds (the thread pools
    and the BLAS controller stay: they hold no results). Results do not change: everything dropped is
    rebuilt on demand. Not while a run is in progress in another thread."""
    global scratch
    with PLANS_LOCK:
        PLANS.clear()
    COMPILED.clear()
    WORKSPACE_KEYS.clear()
    with COUNT_POOL_LOCK:
        COUNT_POOL.clear()
    scratch = threading.local()
    for clear in _REGISTERED:
        clear()
