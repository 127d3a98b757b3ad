"""Environment: seeding, version/device report, Colab detection, quiet TensorFlow logs, progress bars."""

from __future__ import annotations

import importlib
import importlib.util
import os
import platform
import random
import re
import sys
import tempfile
import warnings

__all__ = ["in_colab", "seed_everything", "versions", "devices", "describe", "quiet_tensorflow",
           "QUIET_TENSORFLOW_ENV", "progress_bar", "training_device", "set_mixed_precision"]

REPORTED_PACKAGES = ("numpy", "pandas", "sklearn", "tensorflow", "keras", "scikeras", "imblearn")

# Level 3 hides TensorFlow's C++ INFO, WARNING **and ERROR** lines. Level 2 is not enough: on a machine
# without a GPU TensorFlow logs "E0000 ... cuda_platform.cc] failed call to cuInit" and tf.data logs
# "E0000 ... node_def_util.cc] NodeDef mentions attribute use_unbounded_threadpool" (an attribute newer
# Keras sets that this TensorFlow's op registry does not list; harmless) at ERROR level. Python
# exceptions are unaffected: a real failure still raises.
QUIET_TENSORFLOW_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3"}

# What TensorFlow's shared libraries print while they load, before absl logging is initialised (and
# therefore before TF_CPP_MIN_LOG_LEVEL is read): "WARNING: All log messages before absl::InitializeLog()
# ...", "I0000 ... port.cc] oneDNN custom operations are on ...", "I0000 ... cudart_stub.cc] Could not
# find cuda drivers ...", "To enable the following instructions: AVX2 ...".
_PRELOAD_NOISE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\)"
                            r"|[IW]\d{4} \S+\s+\d+ [\w.]+:\d+\] "
                            # TF 2.19 (Colab's): "E0000 ... cuda_dnn.cc:8579] Unable to register cuDNN factory:
                            # Attempting to register factory for plugin cuDNN when one has already been
                            # registered" (and cuFFT, cuBLAS) while its CUDA plugins load, GPU or not
                            r"|E\d{4} \S+\s+\d+ cuda_\w+\.cc:\d+\] Unable to register cu\w+ factory"
                            r"|To enable the following instructions:)")


def quiet_tensorflow() -> None:
    """Keep TensorFlow's C++ log lines out of the notebook's outputs. Call before importing TensorFlow.

    Sets ``TF_CPP_MIN_LOG_LEVEL=3`` (:data:`QUIET_TENSORFLOW_ENV`) and, if TensorFlow is installed
    and not imported yet, imports it once with the process's C-level stderr captured, replaying
    every captured line except the known load-time INFO lines (those are printed before TensorFlow
    reads ``TF_CPP_MIN_LOG_LEVEL``). Safe to call many times; without TensorFlow it only sets the
    environment. To debug TensorFlow itself, set ``os.environ["TF_CPP_MIN_LOG_LEVEL"] = "0"`` after
    this call and restart the kernel.
    """
    os.environ.update(QUIET_TENSORFLOW_ENV)
    # Keras 3.15 warns about shuffle=True on a tf.data.Dataset that shuffles itself (make_dataset)
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed", category=UserWarning)
    if "tensorflow" in sys.modules or importlib.util.find_spec("tensorflow") is None:
        return
    _import_with_filtered_stderr("tensorflow")
    # Python-side warnings such as "N out of the last M calls ... triggered tf.function retracing"
    # (many small models trained one after another) are not for students
    sys.modules["tensorflow"].get_logger().setLevel("ERROR")


def _import_with_filtered_stderr(module: str) -> None:
    """Import ``module`` with file descriptor 2 captured; replay what is not load-time log noise."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # pragma: no cover - no usable fd 2
        importlib.import_module(module)
        return
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            importlib.import_module(module)
        finally:
            try:
                sys.stderr.flush()
            except (OSError, ValueError, AttributeError):  # pragma: no cover
                pass
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode("utf-8", errors="replace").splitlines()
            kept = [line for line in lines if line.strip() and not _PRELOAD_NOISE.match(line)]
            if kept:
                print("\n".join(kept), file=sys.stderr)


def progress_bar(*args, **kwargs):
    """A tqdm progress bar: the notebook widget when ipywidgets is installed, else the text bar.

    ``tqdm.auto`` warns "IProgress not found. Please update jupyter and ipywidgets" in a notebook
    without ipywidgets; this picks the text bar there instead (same arguments as ``tqdm.tqdm``).
    """
    return _tqdm_class()(*args, **kwargs)


def _tqdm_class():
    in_notebook = "ipykernel" in sys.modules
    if in_notebook and importlib.util.find_spec("ipywidgets") is not None:
        try:
            from tqdm.notebook import IProgress
            from tqdm.notebook import tqdm as notebook_tqdm

            if IProgress is not None:
                return notebook_tqdm
        except ImportError:  # pragma: no cover
            pass
    from tqdm.std import tqdm as text_tqdm

    return text_tqdm


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


def training_device(gpus: list[str] | None = None) -> str:
    """One line saying which device trains: ``GPU 0 (Tesla T4)`` or the CPU with how to get a GPU.

    Parameters
    ----------
    gpus : list of str, optional
        GPU names (as in ``devices()["gpus"]``); looked up with TensorFlow when omitted.
    """
    if gpus is None:
        gpus = devices()["gpus"]
    if gpus:
        more = f" (+{len(gpus) - 1} more GPU(s))" if len(gpus) > 1 else ""
        return f"GPU 0 ({gpus[0]}){more}"
    hint = (" -- in Colab choose Runtime > Change runtime type > T4 GPU" if in_colab()
            else " -- on Colab: Runtime > Change runtime type > T4 GPU")
    return f"CPU (no GPU visible){hint}"


def set_mixed_precision(enabled: bool) -> str:
    """Turn Keras' ``mixed_float16`` policy on (GPU only) or off; print and return the policy in use.

    Mixed precision computes in float16 and keeps the weights in float32: about 2x faster on a T4's
    tensor cores. On a CPU it is slower, so there the request is ignored (and said so). The models of
    the course keep their final softmax/sigmoid in float32 either way.
    """
    import keras

    if not isinstance(enabled, bool):
        raise ValueError(f"mixed_precision must be True or False, got {enabled!r}")
    if enabled and not devices()["gpus"]:
        keras.mixed_precision.set_global_policy("float32")
        print("mixed precision: ignored on a CPU (it only speeds up GPUs); policy float32")
        return "float32"
    policy = "mixed_float16" if enabled else "float32"
    keras.mixed_precision.set_global_policy(policy)
    print(f"mixed precision: policy {policy}")
    return policy


def describe(print_it: bool = True) -> dict[str, object]:
    """Print (and return) versions, devices, whether this is Colab and which device trains."""
    info = {**versions(), **devices()}
    info["training_on"] = training_device(info["gpus"])
    if print_it:
        width = max(len(k) for k in info)
        for key, value in info.items():
            if key == "gpus":
                value = ", ".join(value) if value else "none (CPU only)"
            if key == "training_on":
                continue
            print(f"{key:<{width}}  {value}")
        print(f"training on: {info['training_on']}")
    return info
