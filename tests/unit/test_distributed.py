import operator
import subprocess
import sys
import textwrap

import pytest

from helpers import distributed

TASKS = [(i, i + 1) for i in range(6)]
EXPECTED = {i: i * (i + 1) for i in range(6)}


def test_local_loop_and_local_processes_give_the_same_results():
    assert dict(distributed.map_tasks(operator.mul, TASKS)) == EXPECTED
    assert dict(distributed.map_tasks(operator.mul, TASKS, backend="local", n_jobs=2)) == EXPECTED


def test_dask_local_cluster_on_loopback_gives_the_same_results():
    assert dict(distributed.map_tasks(operator.mul, TASKS, backend="dask", n_jobs=2)) == EXPECTED


def test_dask_with_a_scheduler_address():
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
                      silence_logs=40) as cluster:
        got = dict(distributed.map_tasks(operator.mul, TASKS, backend="dask",
                                         scheduler_address=cluster.scheduler_address))
    assert got == EXPECTED


@pytest.mark.parametrize("kwargs, message", [
    ({"backend": "spark"}, "backend must be one of local, dask; got 'spark'"),
    ({"n_jobs": 0}, "n_jobs must be a positive integer; got 0"),
    ({"scheduler_address": "tcp://127.0.0.1:1"}, "scheduler_address is only used with backend='dask'"),
])
def test_bad_backend_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        list(distributed.map_tasks(operator.mul, TASKS, **kwargs))


def test_unknown_strategy_is_a_clear_error():
    with pytest.raises(ValueError, match="strategy must be one of auto, default, mirrored; got 'tpu'"):
        distributed.get_strategy("tpu")


def test_auto_strategy_without_gpus_is_the_default_strategy():
    import tensorflow as tf

    assert distributed.get_strategy("auto").num_replicas_in_sync == 1
    assert distributed.get_strategy("auto") is tf.distribute.get_strategy()


def test_mirrored_strategy_on_two_logical_cpus_trains():
    """MirroredStrategy across two logical CPU devices (needs a fresh process to split the CPU)."""
    script = textwrap.dedent("""
        import os
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
        import numpy as np, tensorflow as tf, keras
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])
        from helpers import distributed
        strategy = distributed.get_strategy("mirrored", devices=["/cpu:0", "/cpu:1"])
        with strategy.scope():
            model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
            model.compile("adam", "sparse_categorical_crossentropy")
        x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
        y = (x[:, 0] > 0).astype("int32")
        h = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
        print("replicas", strategy.num_replicas_in_sync, "loss_finite", bool(np.isfinite(h.history["loss"][-1])))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "replicas 2 loss_finite True" in out.stdout
