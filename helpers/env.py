"""Environment: seeding, version/device report, Colab detection, quiet TensorFlow logs, progress bars."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import platform
import re
import sys
import tempfile
import warnings

__all__ = ["in_colab", "seed_everything", "versions", "devices", "describe", "quiet_tensorflow",
           "QUIET_TENSORFLOW_ENV", "progress_bar", "training_device", "set_mixed_precision", "kernel_manager_logging_to"]

REPORTED_PACKAGES = ("numpy", "pandas", "sklearn", "tensorflow", "keras", "scikeras", "imblearn")

# Level 3 hides TensorFlow's C++ ERROR lines too: level 2 still shows harmless ones ("failed call to cuInit"
# without a GPU, tf.data's "NodeDef mentions attribute use_unbounded_threadpool"); Python exceptions still raise.
QUIET_TENSORFLOW_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3"}

# What TensorFlow prints while loading, before it reads TF_CPP_MIN_LOG_LEVEL: absl's notice, I/W lines (oneDNN...),
# TF 2.19's (Colab's) "E0000 ... cuda_dnn.cc] Unable to register cuDNN factory" (cuFFT, cuBLAS), the CPU notice.
_PRELOAD_NOISE = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\)"
                            r"|[IW]\d{4} \S+\s+\d+ [\w.]+:\d+\] "
                            r"|E\d{4} \S+\s+\d+ cuda_\w+\.cc:\d+\] Unable to register cu\w+ factory"
                            r"|To enable the following instructions:)")


def quiet_tensorflow() -> None:
    """Set :data:`QUIET_TENSORFLOW_ENV` and import TensorFlow (if installed) with its load-time C++ log lines
    filtered out; call before importing TensorFlow (idempotent). To debug, set ``TF_CPP_MIN_LOG_LEVEL=0``."""
    os.environ.update(QUIET_TENSORFLOW_ENV)
    # Keras 3.15 warns about shuffle=True on a tf.data.Dataset that shuffles itself (make_dataset)
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed", category=UserWarning)
    if "tensorflow" in sys.modules or importlib.util.find_spec("tensorflow") is None:
        return
    _import_with_filtered_stderr("tensorflow")
    # Python-side warnings such as "... triggered tf.function retracing" are not for students
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
            with contextlib.suppress(OSError, ValueError, AttributeError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode("utf-8", errors="replace").splitlines()
            if kept := [line for line in lines if line.strip() and not _PRELOAD_NOISE.match(line)]:
                print("\n".join(kept), file=sys.stderr)


def progress_bar(*args, **kwargs):
    """A tqdm bar (``tqdm.tqdm``'s arguments): the notebook widget when ipywidgets is installed, else the
    text bar (``tqdm.auto`` would warn "IProgress not found" in a notebook without ipywidgets)."""
    if "ipykernel" in sys.modules and importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import IProgress
        from tqdm.notebook import tqdm as notebook_tqdm

        if IProgress is not None:
            return notebook_tqdm(*args, **kwargs)
    from tqdm.std import tqdm

    return tqdm(*args, **kwargs)


def in_colab() -> bool:
    """True when running inside Google Colab."""
    return "google.colab" in sys.modules


def seed_everything(seed: int, deterministic: bool = True) -> int:
    """Seed Python, NumPy and TensorFlow/Keras from one non-negative ``seed`` and return it; ``deterministic``
    turns on TensorFlow op determinism (same seed, same numbers, at some speed cost)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    quiet_tensorflow()
    os.environ["PYTHONHASHSEED"] = str(seed)
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)  # seeds Python's random, NumPy and the TensorFlow backend
    if deterministic:
        tf.config.experimental.enable_op_determinism()
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
        return str(getattr(importlib.import_module(name), "__version__", "unknown"))
    except Exception:
        return "not installed"


def versions() -> dict[str, str]:
    """Versions of Python and of the libraries the notebooks use."""
    quiet_tensorflow()
    return {"python": platform.python_version(), **{name: _version(name) for name in REPORTED_PACKAGES}}


def devices() -> dict[str, object]:
    """CPU description, GPUs found by TensorFlow and Keras' image data format."""
    quiet_tensorflow()
    import keras
    import tensorflow as tf

    def name(gpu) -> str:
        try:
            return tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
        except Exception:  # pragma: no cover
            return gpu.name

    return {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "gpus": [name(g) for g in tf.config.list_physical_devices("GPU")],
            "image_data_format": keras.config.image_data_format(), "colab": in_colab()}


def training_device(gpus: list[str] | None = None) -> str:
    """One line saying which device trains: ``GPU 0 (Tesla T4)`` or the CPU with how to get a GPU; ``gpus``
    are GPU names (as in ``devices()["gpus"]``), looked up with TensorFlow when omitted."""
    gpus = devices()["gpus"] if gpus is None else gpus
    if gpus:
        return f"GPU 0 ({gpus[0]})" + (f" (+{len(gpus) - 1} more GPU(s))" if len(gpus) > 1 else "")
    where = "in Colab choose" if in_colab() else "on Colab:"
    return f"CPU (no GPU visible) -- {where} Runtime > Change runtime type > T4 GPU"


def set_mixed_precision(enabled: bool) -> str:
    """Turn Keras' ``mixed_float16`` policy on (GPU only: slower on a CPU, where the request is ignored and said
    so) or off; print and return the policy in use. The course's models keep their final activation in float32."""
    import keras

    if not isinstance(enabled, bool):
        raise ValueError(f"mixed_precision must be True or False, got {enabled!r}")
    policy = "mixed_float16" if enabled and devices()["gpus"] else "float32"
    keras.mixed_precision.set_global_policy(policy)
    print("mixed precision: ignored on a CPU (it only speeds up GPUs); policy float32"
          if enabled and policy == "float32" else f"mixed precision: policy {policy}")
    return policy


def describe(print_it: bool = True) -> dict[str, object]:
    """Print (and return) versions, devices, whether this is Colab and which device trains."""
    info = {**versions(), **devices()}
    info["training_on"] = training_device(info["gpus"])
    if print_it:
        shown = {**info, "gpus": ", ".join(info["gpus"]) or "none (CPU only)"}
        training_on, width = shown.pop("training_on"), max(map(len, info))
        print("\n".join(f"{k:<{width}}  {v}" for k, v in shown.items()) + f"\ntraining on: {training_on}")
    return info


def kernel_manager_logging_to(stream):
    """An nbclient kernel-manager class whose kernel process writes stdout/stderr to ``stream``."""
    from jupyter_client.manager import AsyncKernelManager

    class LoggingKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw):
            return await super().start_kernel(**{"stdout": stream, "stderr": stream, **kw})

    return LoggingKernelManager
