"""Run independent tasks (grid-search fits) locally or on a Dask cluster, and pick a tf.distribute strategy.

:func:`map_tasks` yields results as they finish (so each is persisted at once) with ``"local"`` (a loop, or
joblib processes) or ``"dask"`` (a scheduler address, or a loopback ``LocalCluster``); every worker limits
TensorFlow to ``tf_threads`` threads. :func:`get_strategy` picks MirroredStrategy when several GPUs are visible."""

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
    os.environ["TF_NUM_INTRAOP_THREADS"] = os.environ["TF_NUM_INTEROP_THREADS"] = str(n)
    os.environ.setdefault("OMP_NUM_THREADS", str(n))
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # as helpers.env.QUIET_TENSORFLOW_ENV
    import tensorflow as tf

    with contextlib.suppress(RuntimeError):  # TensorFlow already initialised here: keep what it has
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)


class _InWorker:
    """Picklable wrapper: limit TF threads in the worker, then call ``fn``."""

    def __init__(self, fn: Callable, tf_threads: int):
        self.fn, self.tf_threads = fn, tf_threads

    def __call__(self, index: int, *args: Any) -> tuple[int, Any]:
        limit_tf_threads(self.tf_threads)
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")  # a worker builds many small models: no retracing warnings
        return index, self.fn(*args)


@contextlib.contextmanager
def local_cluster(n_workers: int = 2, tf_threads: int = 1):
    """A ``dask.distributed`` LocalCluster on loopback (one thread per worker process) and its Client."""
    from dask.distributed import Client, LocalCluster

    thread_env = {"TF_NUM_INTRAOP_THREADS": str(tf_threads), "TF_NUM_INTEROP_THREADS": str(tf_threads),
                  "OMP_NUM_THREADS": str(tf_threads), "TF_CPP_MIN_LOG_LEVEL": "3"}  # no C++ log lines
    saved = {k: os.environ.get(k) for k in thread_env}
    os.environ.update(thread_env)  # inherited by the worker processes the nanny starts
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
    """Yield ``(i, fn(*tasks[i]))`` for every task, in completion order. ``fn`` is module-level (picklable) and
    seeds itself; ``n_jobs`` counts local processes or LocalCluster workers; ``scheduler_address``
    (``"tcp://host:8786"``) only with ``backend="dask"``."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {backend!r}")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer; got {n_jobs!r}")
    if scheduler_address is not None and backend != "dask":
        raise ValueError("scheduler_address is only used with backend='dask'")
    if backend == "local" and n_jobs == 1:
        yield from ((i, fn(*args)) for i, args in enumerate(tasks))
        return
    if not tasks:
        return
    from joblib import Parallel, delayed, parallel_config

    calls = (delayed(_InWorker(fn, tf_threads))(i, *args) for i, args in enumerate(tasks))
    with contextlib.ExitStack() as stack:
        if backend == "local":
            stack.enter_context(parallel_config(backend="loky", n_jobs=n_jobs))
        else:
            if scheduler_address is None:
                stack.enter_context(local_cluster(n_workers=n_jobs, tf_threads=tf_threads))
            else:
                from dask.distributed import Client

                stack.enter_context(Client(scheduler_address))
            stack.enter_context(parallel_config(backend="dask", n_jobs=-1))
        yield from Parallel(return_as="generator_unordered")(calls)


def get_strategy(strategy: str = "auto", devices: Sequence[str] | None = None):
    """A ``tf.distribute`` strategy: ``"auto"`` MirroredStrategy with more than one visible GPU, else the
    default; ``"mirrored"`` MirroredStrategy over ``devices`` (default: all GPUs, or the CPU); ``"default"``."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}; got {strategy!r}")
    import tensorflow as tf

    if strategy == "default" or (strategy == "auto" and len(tf.config.list_logical_devices("GPU")) <= 1):
        return tf.distribute.get_strategy()
    return tf.distribute.MirroredStrategy(devices=list(devices) if devices else None)
