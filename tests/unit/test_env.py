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
    info = env.describe()
    out = capsys.readouterr().out
    for key in ("python", "numpy", "sklearn", "tensorflow", "keras", "image_data_format", "gpus"):
        assert key in info and key in out
    assert info["image_data_format"] in ("channels_last", "channels_first")
    assert env.in_colab() is False


# --------------------------------------------------------------------------- quiet outputs
def test_quiet_tensorflow_sets_level_3(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")  # level 2 still shows ERROR lines such as cuInit
    env.quiet_tensorflow()
    import os

    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3" == env.QUIET_TENSORFLOW_ENV["TF_CPP_MIN_LOG_LEVEL"]


def test_tensorflow_first_import_prints_no_cpp_log_lines():
    """Regression: the golden notebooks showed 'I0000 ... port.cc', 'E0000 ... cuda_platform.cc' lines."""
    import os
    import subprocess
    import sys

    code = ("from helpers import env; env.quiet_tensorflow(); import tensorflow as tf; import numpy as np\n"
            "tf.config.list_physical_devices('GPU')\n"
            "ds = tf.data.Dataset.from_tensor_slices(np.zeros((4, 2), 'float32')).map(lambda x: x * 2).batch(2)\n"
            "print(sum(float(tf.reduce_sum(b)) for b in ds))")
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=120)
    assert done.returncode == 0, done.stderr
    noise = [line for line in done.stderr.splitlines()
             if "0000 " in line or "absl::InitializeLog" in line or "To enable the following instructions" in line]
    assert noise == [], "TensorFlow C++ log lines reached stderr:\n" + "\n".join(noise)


def test_filtered_import_replays_other_stderr_lines(tmp_path, monkeypatch, capfd):
    """What is not load-time log noise (e.g. a real warning) still reaches the user."""
    (tmp_path / "noisy_module.py").write_text(
        "import os\n"
        "os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n')\n"
        "os.write(2, b'I0000 00:00:1795314946.481096    2159 port.cc:153] oneDNN custom operations are on.\\n')\n"
        # TensorFlow 2.19 (Colab's) logs these at ERROR level while its CUDA plugins load
        "os.write(2, b'E0000 00:00:1795468667.952655   18895 cuda_dnn.cc:8579] Unable to register cuDNN factory: "
        "Attempting to register factory for plugin cuDNN when one has already been registered\\n')\n"
        "os.write(2, b'E0000 00:00:1795468667.962577   18895 cuda_blas.cc:1407] Unable to register cuBLAS factory: "
        "Attempting to register factory for plugin cuBLAS when one has already been registered\\n')\n"
        "os.write(2, b'E0000 00:00:1795468667.962577   18895 other.cc:1] a real error\\n')\n"
        "os.write(2, b'something the user must see\\n')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    env._import_with_filtered_stderr("noisy_module")
    err = capfd.readouterr().err
    assert "something the user must see" in err and "a real error" in err
    assert "I0000" not in err and "absl" not in err and "factory" not in err


def test_progress_bar_is_the_text_bar_without_ipywidgets(monkeypatch):
    import importlib.util
    import sys
    import warnings

    import tqdm.std

    real_find_spec = importlib.util.find_spec
    monkeypatch.setitem(sys.modules, "ipykernel", sys.modules.get("ipykernel") or type(sys)("ipykernel"))
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ipywidgets" else real_find_spec(name, *a))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a TqdmWarning ("IProgress not found") would fail here
        bar = env.progress_bar(range(3), disable=True)
    assert type(bar) is tqdm.std.tqdm
    assert list(bar) == [0, 1, 2]


def test_helpers_use_the_one_progress_bar():
    from pathlib import Path

    import helpers

    offenders = [p.name for p in Path(helpers.__file__).parent.glob("*.py")
                 if "tqdm.auto" in p.read_text() and p.name != "env.py"]
    assert offenders == [], f"use helpers.env.progress_bar instead of tqdm.auto in {offenders}"


# --------------------------------------------------------------------------- devices and mixed precision
def test_training_device_line():
    assert env.training_device(["Tesla T4"]) == "GPU 0 (Tesla T4)"
    assert env.training_device(["A100", "A100"]).startswith("GPU 0 (A100) (+1 more")
    line = env.training_device([])
    assert line.startswith("CPU (no GPU visible)") and "Runtime > Change runtime type > T4 GPU" in line


def test_report_says_which_device_trains(capsys):
    info = env.describe()
    out = capsys.readouterr().out
    assert f"training on: {info['training_on']}" in out


def test_mixed_precision_is_ignored_on_a_cpu(capsys, monkeypatch):
    import keras

    monkeypatch.setattr(env, "devices", lambda: {"gpus": []})
    try:
        assert env.set_mixed_precision(True) == "float32"
        assert "ignored on a CPU" in capsys.readouterr().out
        assert keras.mixed_precision.global_policy().name == "float32"
        monkeypatch.setattr(env, "devices", lambda: {"gpus": ["Tesla T4"]})
        assert env.set_mixed_precision(True) == "mixed_float16"
        assert keras.mixed_precision.global_policy().name == "mixed_float16"
        assert env.set_mixed_precision(False) == "float32"
        with pytest.raises(ValueError, match="mixed_precision must be True or False"):
            env.set_mixed_precision("yes")
    finally:
        keras.mixed_precision.set_global_policy("float32")
