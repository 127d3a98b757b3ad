"""Environment: seeding, version/device report, Colab detection."""

from __future__ import annotations

import importlib
import os
import platform
import random
import sys

__all__ = ["in_colab", "seed_everything", "versions", "devices", "report", "quiet_tensorflow"]

REPORTED_PACKAGES = ("numpy", "pandas", "sklearn", "tensorflow", "keras", "scikeras", "imblearn")


def quiet_tensorflow() -> None:
    """Silence TensorFlow's C++ INFO/WARNING logs (call before importing TensorFlow)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def in_colab() -> bool:
    """True when running inside Google Colab."""
    return "google.colab" in sys.modules


def seed_everything(seed: int, deterministic: bool = True) -> int:
    """Fix Python, NumPy and TensorFlow/Keras random state from one seed.

    Parameters
    ----------
    seed : int
        A non-negative integer.
    deterministic : bool
        Turn on TensorFlow op determinism (same seed -> same numbers, at some speed cost).

    Returns
    -------
    int
        The seed, so a notebook can print it.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    quiet_tensorflow()
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    import numpy as np

    np.random.seed(seed)
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)  # Python, NumPy and the TensorFlow backend
    if deterministic:
        try:
            tf.config.experimental.enable_op_determinism()
        except Exception:  # pragma: no cover - very old TensorFlow
            pass
    return seed


def op_determinism_enabled() -> bool:
    """Whether TensorFlow's op determinism is on (``seed_everything`` turns it on)."""
    try:  # public tf.config.experimental has only enable/disable; the query lives here
        from tensorflow.python.framework import config as tf_config

        return bool(tf_config.is_op_determinism_enabled())
    except (ImportError, AttributeError):  # pragma: no cover - other TensorFlow versions
        return os.environ.get("TF_DETERMINISTIC_OPS", "0").lower() in ("1", "true")


def _version(name: str) -> str:
    try:
        module = importlib.import_module(name)
    except Exception:
        return "not installed"
    return str(getattr(module, "__version__", "unknown"))


def versions() -> dict[str, str]:
    """Versions of Python and of the libraries the notebooks use."""
    quiet_tensorflow()
    out = {"python": platform.python_version()}
    for name in REPORTED_PACKAGES:
        out[name] = _version(name)
    return out


def devices() -> dict[str, object]:
    """CPU description, GPUs found by TensorFlow and Keras' image data format."""
    quiet_tensorflow()
    import keras
    import tensorflow as tf

    gpus = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            name = tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
        except Exception:  # pragma: no cover
            name = gpu.name
        gpus.append(name)
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "gpus": gpus,
        "image_data_format": keras.config.image_data_format(),
        "colab": in_colab(),
    }


def report(print_it: bool = True) -> dict[str, object]:
    """Print (and return) versions, devices and whether this is Colab."""
    info = {**versions(), **devices()}
    if print_it:
        width = max(len(k) for k in info)
        for key, value in info.items():
            if key == "gpus":
                value = ", ".join(value) if value else "none (CPU only)"
            print(f"{key:<{width}}  {value}")
    return info
