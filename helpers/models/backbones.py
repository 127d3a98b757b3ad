"""The backbone registry of notebooks 05-06 (VGG16, ResNet50V2, Xception, InceptionV3), their initial weights
(ImageNet where it can be loaded, else random, saying why), and checked versions of the two functions notebook 05
writes out: a **flat** model with ``head_*`` layers (Grad-CAM reaches the base's layers) and its fine-tuning."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["BackboneSpec", "BACKBONES", "MODES", "HEAD_PREFIX", "get_backbone", "effective_image_size",
           "imagenet_cache_path", "imagenet_weights_url", "WeightsChoice", "resolve_weights", "weights_label",
           "build_transfer_model", "fine_tune", "top_block", "trainable_layer_names", "feature_and_head_models"]

MODES = ("frozen", "finetune")
HEAD_PREFIX = "head_"


@dataclass(frozen=True)
class BackboneSpec:
    """One backbone: its ``keras.applications`` class ``name``, the ``module`` of its ``preprocess_input``,
    ``min_size``, the ``last_conv_layer`` Grad-CAM reads, the ``last_frozen_layer`` (fine-tuning unfreezes
    the base after it), its ImageNet no-top ``weights_file`` (download folder, genuine md5), ``unfreezes``."""

    name: str
    module: str
    min_size: int
    last_conv_layer: str
    last_frozen_layer: str
    weights_file: str
    weights_folder: str
    weights_md5: str
    unfreezes: str

    def preprocess_input(self, x):
        """The backbone's ``preprocess_input`` on a float32 COPY of ``x`` (Keras' modifies NumPy arrays in place)."""
        import keras

        if isinstance(x, (np.ndarray, list, tuple)):
            x = np.array(x, dtype=np.float32, copy=True)
        return getattr(keras.applications, self.module).preprocess_input(x)


_NOTOP = "_weights_tf_dim_ordering_tf_kernels_notop.h5"  # the end of every Keras ImageNet no-top file name
BACKBONES: dict[str, BackboneSpec] = {spec.name: spec for spec in (
    BackboneSpec("VGG16", "vgg16", 32, "block5_conv3", "block4_pool", f"vgg16{_NOTOP}", "vgg16",
                 "6d6bbae143d832006294945121d1f1fc", "block 5 (3 conv layers)"),
    BackboneSpec("ResNet50V2", "resnet_v2", 32, "post_relu", "conv5_block2_out", f"resnet50v2{_NOTOP}", "resnet",
                 "fac2f116257151a9d068a22e544a4917", "the last residual block conv5_block3"),
    BackboneSpec("Xception", "xception", 71, "block14_sepconv2_act", "block13_pool", f"xception{_NOTOP}", "xception",
                 "b0042744bf5b25fce3cb969f33bebb97", "exit-flow block 14 (2 separable convs)"),
    BackboneSpec("InceptionV3", "inception_v3", 75, "mixed10", "mixed8", f"inception_v3{_NOTOP}", "inception_v3",
                 "bcbd6486424b2319ff4ef7d526e38f63", "the top two inception blocks mixed9 and mixed10"),
)}


def get_backbone(name) -> BackboneSpec:
    """The :class:`BackboneSpec` called ``name`` (case-insensitive); a clear error otherwise."""
    if isinstance(name, BackboneSpec):
        return name
    found = {key.lower(): spec for key, spec in BACKBONES.items()}.get(str(name).lower())
    if found is None:
        raise ValueError(f"unknown backbone {name!r}; expected one of {', '.join(BACKBONES)}")
    return found


def effective_image_size(backbone: str, image_size: int, raise_to_minimum: bool = True) -> int:
    """``image_size`` raised to the backbone's minimum (or a ValueError when not allowed)."""
    spec = get_backbone(backbone)
    if not isinstance(image_size, (int, np.integer)) or image_size < 1:
        raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
    if image_size < spec.min_size and not raise_to_minimum:
        raise ValueError(f"image_size={image_size} is below {spec.name}'s minimum input size "
                         f"{spec.min_size}; expected image_size >= {spec.min_size}")
    return int(max(image_size, spec.min_size))


def imagenet_cache_path(backbone: str) -> Path:
    """Where Keras caches (and looks for) the ImageNet no-top weights of ``backbone``."""
    from keras.src.backend import config

    return Path(config.keras_home()) / "models" / get_backbone(backbone).weights_file


def imagenet_weights_url(backbone: str) -> str:
    """Where Keras downloads the ImageNet no-top weights of ``backbone`` from."""
    spec = get_backbone(backbone)
    return f"https://storage.googleapis.com/tensorflow/keras-applications/{spec.weights_folder}/{spec.weights_file}"


@dataclass(frozen=True)
class WeightsChoice:
    """Which initial weights a backbone gets and why: ``asked`` ("auto", "imagenet", None, a path), ``used``
    ("imagenet", "random", "file"), ``weights`` (what to build with: a file or None), ``reason`` (a sentence)."""

    backbone: str
    asked: str | None
    used: str
    weights: str | None
    reason: str

    @property
    def random(self) -> bool:
        return self.used == "random"

    @property
    def description(self) -> str:
        names = {"imagenet": "ImageNet weights", "random": "random initialisation (no ImageNet weights)"}
        return names.get(self.used) or f"weights file {Path(self.weights).name}"

    def banner(self, num_classes: int | None = None) -> str:
        """The line a notebook shows before training (a warning when the weights are random)."""
        if not self.random:
            return f"{self.backbone}: {self.description} ({self.reason})"
        head = (f"{self.backbone}: random initialisation (asked for)" if self.asked in (None, "random") else
                f"WARNING -- no ImageNet weights could be loaded for {self.backbone}: random initialisation")
        chance = f" (chance accuracy = 1/{num_classes})" if num_classes else ""
        return f"{head} -- results will be near chance{chance}. {self.reason}"

    @property
    def label(self) -> str:
        """The short value of the ``weights`` column of every table 05 and 06 write (see :func:`weights_label`)."""
        return weights_label(self.backbone, self.weights)

    def as_dict(self) -> dict:
        """For ``weights.json`` and the manifest (no machine paths: only the file's name)."""
        return {"backbone": self.backbone, "asked": self.asked, "used": self.used,
                "file": Path(self.weights).name if self.weights else None,
                "description": self.description, "reason": self.reason}


def resolve_weights(backbone: str, weights="auto", timeout: float = 10.0) -> WeightsChoice:
    """``"auto"``: the md5-checked ImageNet no-top file from the Keras cache, else downloaded (``timeout`` s per network
    operation), else random, saying why (``"imagenet"``: an error naming the file); or None/``"random"``, or a path."""
    spec = get_backbone(backbone)
    if weights is None or weights == "random":
        return WeightsChoice(spec.name, weights, "random", None,
                             f"weights={weights!r}: random initialisation was asked")
    if weights not in ("auto", "imagenet"):
        if not isinstance(weights, (str, os.PathLike)):
            raise ValueError(f"weights must be 'auto', 'imagenet', None or a file path, got {weights!r}")
        path = Path(os.fspath(weights)).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"weights file {path} does not exist; expected 'auto', 'imagenet', None "
                                    f"or the path of a {spec.name} no-top weights file")
        return WeightsChoice(spec.name, str(weights), "file", str(path), f"local file {path.name}")
    import keras
    from keras.src.utils import file_utils

    cached, url, previous = imagenet_cache_path(spec.name), imagenet_weights_url(spec.name), socket.getdefaulttimeout()
    if cached.is_file() and file_utils.validate_file(str(cached), spec.weights_md5):
        return WeightsChoice(spec.name, weights, "imagenet", str(cached), f"from the Keras cache ({cached.name})")
    try:
        socket.setdefaulttimeout(timeout)  # per connect/read (offline cannot hang), not for the whole file
        path = Path(keras.utils.get_file(spec.weights_file, url, cache_subdir="models", file_hash=spec.weights_md5))
    except Exception as err:  # offline, DNS failure, timeout, HTTP error...
        # the first line; Keras says "URL fetch failure on <url>: <code> -- <reason>"
        problem = (str(err).splitlines()[0] if str(err) else type(err).__name__).split(" -- ")[-1]
        if weights == "imagenet":
            raise RuntimeError(
                f"could not load the ImageNet weights of {spec.name}: not in the Keras cache ({cached}) and the "
                f"download failed ({problem}). Download {url} on a machine with internet and copy it to {cached}, "
                "or use weights='auto' (random when missing) or weights=None.") from err
        return WeightsChoice(spec.name, weights, "random", None,
                             f"{spec.weights_file} is not in the Keras cache and downloading it failed ({problem}). "
                             f"To use ImageNet, put that file (from {url}) into $KERAS_HOME/models "
                             f"(backbones.imagenet_cache_path({spec.name!r})).")
    finally:
        socket.setdefaulttimeout(previous)
    return WeightsChoice(spec.name, weights, "imagenet", str(path), f"downloaded into the Keras cache ({path.name})")


def weights_label(backbone: str, weights) -> str:
    """What a ``weights`` column says about the initial weights ``weights`` (None, a file path or a
    :class:`WeightsChoice`): "random init", "imagenet" (the backbone's ImageNet no-top file) or "file <name>"."""
    spec = get_backbone(backbone)
    if isinstance(weights, WeightsChoice):
        weights = weights.weights
    if weights is None or weights == "random":
        return "random init"
    if weights in ("auto", "imagenet"):
        if weights == "auto":
            raise ValueError("weights='auto' is not resolved yet; pass resolve_weights(backbone, 'auto') or its "
                             ".weights (a file or None)")
        return "imagenet"
    name = Path(os.fspath(weights)).name
    return "imagenet" if name == spec.weights_file else f"file {name}"


def _compile(model, learning_rate: float):
    import keras

    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def build_transfer_model(backbone: str, num_classes: int, image_size: int, weights=None, dropout: float = 0.3,
                         learning_rate: float = 1e-3):
    """Notebook 05's model, checked: frozen no-top base -> GlobalAveragePooling2D -> BatchNormalization -> Dropout ->
    Dense softmax (float32), compiled (Adam, sparse CE); ``weights``: as :func:`resolve_weights` or a WeightsChoice."""
    import keras

    spec = get_backbone(backbone)
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    size = effective_image_size(spec.name, image_size, raise_to_minimum=False)
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    choice = weights if weights is None or isinstance(weights, WeightsChoice) else resolve_weights(spec.name, weights)
    base = getattr(keras.applications, spec.name)(include_top=False, weights=getattr(choice, "weights", None),
                                                  input_shape=(size, size, 3))
    base.trainable = False
    x = keras.layers.GlobalAveragePooling2D(name=f"{HEAD_PREFIX}pool")(base.output)
    # the pooled features' scale differs a lot between bases (random weights: tiny) -- normalised, the head trains
    x = keras.layers.BatchNormalization(name=f"{HEAD_PREFIX}norm")(x)
    x = keras.layers.Dropout(dropout, name=f"{HEAD_PREFIX}dropout")(x)
    out = keras.layers.Dense(int(num_classes), activation="softmax", dtype="float32", name=f"{HEAD_PREFIX}output")(x)
    return _compile(keras.Model(base.input, out, name=f"{spec.name}_transfer"), learning_rate)


def top_block(model, backbone: str) -> list:
    """The base layers fine-tuning unfreezes: after ``last_frozen_layer``, before the head."""
    spec = get_backbone(backbone)
    names = [layer.name for layer in model.layers]
    if spec.last_frozen_layer not in names:
        raise ValueError(f"model {model.name!r} has no layer {spec.last_frozen_layer!r}; expected a model "
                         f"built by build_transfer_model({spec.name!r}, ...)")
    return [layer for layer in model.layers[names.index(spec.last_frozen_layer) + 1:]
            if not layer.name.startswith(HEAD_PREFIX)]


def fine_tune(model, backbone: str, learning_rate: float = 1e-5):
    """Notebook 05's fine-tuning step, checked: unfreeze :func:`top_block` except BatchNormalization (frozen:
    it stays in inference mode) and recompile at ``learning_rate``. Returns the model."""
    import keras

    for layer in top_block(model, backbone):
        layer.trainable = not isinstance(layer, keras.layers.BatchNormalization)
    return _compile(model, learning_rate)


def trainable_layer_names(model) -> list[str]:
    """Names of the layers that have trainable weights."""
    return [layer.name for layer in model.layers if layer.trainable and layer.trainable_weights]


def feature_and_head_models(model):
    """(feature model, head model) sharing the ``head_*`` layers: training the head model on features computed
    once by the feature model trains the full model's head (the frozen mode's fast path)."""
    import keras

    head = [layer for layer in model.layers if layer.name.startswith(HEAD_PREFIX)]
    if not head:
        raise ValueError(f"model {model.name!r} has no head layers (names starting with {HEAD_PREFIX!r}); "
                         "expected a model built by build_transfer_model")
    inputs = x = keras.Input(shape=tuple(head[0].input.shape[1:]), name="features")
    for layer in head:
        x = layer(x)
    return (keras.Model(model.input, head[0].input, name=f"{model.name}_features"),
            keras.Model(inputs, x, name=f"{model.name}_head"))
