"""Run independent tasks (grid-search fits) locally or on a Dask cluster, and pick a tf.distribute strategy.

Grid search
-----------
:func:`map_tasks` runs ``fn(*args)`` for every task and yields ``(index, result)`` as each finishes,
so the caller can persist every result the moment it exists (an interrupted search then resumes
with only the missing fits). Backends:

* ``"local"`` -- ``n_jobs=1``: a plain loop in this process; ``n_jobs>1``: joblib worker processes.
* ``"dask"`` -- scikit-learn's joblib integration on ``dask.distributed``: give ``scheduler_address``
  (``"tcp://10.0.0.5:8786"``, a cluster started with ``dask scheduler`` / ``dask worker``) or leave it
  None to start a ``LocalCluster`` on loopback with ``n_jobs`` single-threaded worker processes.

Every worker limits TensorFlow to ``tf_threads`` threads (default 1) so workers do not
oversubscribe the cores. Tasks are deterministic functions of their arguments (they seed
themselves), so every backend gives the same results for the same seed.

Training on several devices
---------------------------
:func:`get_strategy` returns ``MirroredStrategy`` when more than one GPU is visible (``"auto"``),
or the default strategy otherwise.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = ["BACKENDS", "map_tasks", "limit_tf_threads", "get_strategy", "local_cluster", "STRATEGIES"]

BACKENDS = ("local", "dask")
STRATEGIES = ("auto", "default", "mirrored")


def limit_tf_threads(n: int = 1) -> None:
    """Limit this process's TensorFlow thread pools to ``n`` threads (no-op once TF has started)."""
    os.environ["TF_NUM_INTRAOP_THREADS"] = str(n)
    os.environ["TF_NUM_INTEROP_THREADS"] = str(n)
    os.environ.setdefault("OMP_NUM_THREADS", str(n))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # as helpers.env.QUIET_TENSORFLOW_ENV
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:  # TensorFlow already initialised in this process: keep what it has
        pass


class _InWorker:
    """Picklable wrapper: limit TF threads in the worker, then call ``fn``."""

    def __init__(self, fn: Callable, tf_threads: int):
        self.fn, self.tf_threads = fn, tf_threads

    def __call__(self, index: int, *args: Any) -> tuple[int, Any]:
        limit_tf_threads(self.tf_threads)
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")  # a worker builds many small models: no retracing warnings
        return index, self.fn(*args)


def _check(backend: str, n_jobs: int) -> None:
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer; got {n_jobs!r}")


@contextlib.contextmanager
def local_cluster(n_workers: int = 2, tf_threads: int = 1):
    """A ``dask.distributed`` LocalCluster on loopback (one thread per worker process) and its Client."""
    from dask.distributed import Client, LocalCluster

    env = {"TF_NUM_INTRAOP_THREADS": str(tf_threads), "TF_NUM_INTEROP_THREADS": str(tf_threads),
           "OMP_NUM_THREADS": str(tf_threads), "TF_CPP_MIN_LOG_LEVEL": "3"}  # no C++ log lines from workers
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # inherited by the worker processes the nanny starts
    try:
        with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                          dashboard_address=None, silence_logs=40) as cluster, Client(cluster) as client:
            yield client
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def map_tasks(fn: Callable, tasks: Sequence[tuple], backend: str = "local", n_jobs: int = 1,
              scheduler_address: str | None = None, tf_threads: int = 1) -> Iterator[tuple[int, Any]]:
    """Yield ``(i, fn(*tasks[i]))`` for every task, in completion order.

    Parameters
    ----------
    fn : callable
        A module-level (picklable) function; it must seed itself from its arguments.
    tasks : sequence of tuples
        Positional arguments of each call.
    backend : {"local", "dask"}
    n_jobs : int
        Local worker processes, or LocalCluster workers for ``"dask"`` without an address.
    scheduler_address : str, optional
        Address of a running Dask scheduler (``"tcp://host:8786"``); only with ``backend="dask"``.
    tf_threads : int
        TensorFlow threads per worker.
    """
    _check(backend, n_jobs)
    if scheduler_address is not None and backend != "dask":
        raise ValueError("scheduler_address is only used with backend='dask'")
    if not tasks:
        return
    if backend == "local" and n_jobs == 1:
        for i, args in enumerate(tasks):
            yield i, fn(*args)
        return
    from joblib import Parallel, delayed, parallel_config

    wrapped = _InWorker(fn, tf_threads)
    calls = (delayed(wrapped)(i, *args) for i, args in enumerate(tasks))
    if backend == "local":
        with parallel_config(backend="loky", n_jobs=n_jobs):
            yield from Parallel(return_as="generator_unordered")(calls)
        return
    with contextlib.ExitStack() as stack:
        if scheduler_address is None:
            stack.enter_context(local_cluster(n_workers=n_jobs, tf_threads=tf_threads))
        else:
            from dask.distributed import Client

            stack.enter_context(Client(scheduler_address))
        stack.enter_context(parallel_config(backend="dask"))
        yield from Parallel(n_jobs=-1, return_as="generator_unordered")(calls)


def get_strategy(strategy: str = "auto", devices: Sequence[str] | None = None):
    """A ``tf.distribute`` strategy.

    ``"auto"``: MirroredStrategy when more than one GPU is visible, else the default strategy;
    ``"mirrored"``: MirroredStrategy over ``devices`` (default: all GPUs, or the CPU);
    ``"default"``: the default (single-device) strategy.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}; got {strategy!r}")
    import tensorflow as tf

    gpus = tf.config.list_logical_devices("GPU")
    if strategy == "default" or (strategy == "auto" and len(gpus) <= 1):
        return tf.distribute.get_strategy()
    return tf.distribute.MirroredStrategy(devices=list(devices) if devices else None)
