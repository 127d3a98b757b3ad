import random

import numpy as np
import pytest

from helpers import env


def test_seed_everything_repeats_python_numpy_and_tensorflow():
    import tensorflow as tf

    def draw():
        return random.random(), np.random.rand(), float(tf.random.uniform(()))

    env.seed_everything(7)
    first = draw()
    env.seed_everything(7)
    assert draw() == first
    env.seed_everything(8)
    assert draw() != first


def test_same_seed_same_keras_weights():
    import keras

    def weights():
        env.seed_everything(3)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        return model.get_weights()[0]

    np.testing.assert_array_equal(weights(), weights())


def test_seed_everything_turns_op_determinism_on():
    env.seed_everything(1)
    assert env.op_determinism_enabled() is True


@pytest.mark.parametrize("bad", [-1, 1.5, "7", None, True])
def test_seed_must_be_a_non_negative_integer(bad):
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        env.seed_everything(bad)


def test_report_lists_versions_and_devices(capsys):
    info = env.report()
    out = capsys.readouterr().out
    for key in ("python", "numpy", "sklearn", "tensorflow", "keras", "image_data_format", "gpus"):
        assert key in info and key in out
    assert info["image_data_format"] in ("channels_last", "channels_first")
    assert env.in_colab() is False
