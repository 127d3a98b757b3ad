"""Transfer-learning backbones: VGG16, ResNet50V2, Xception and InceptionV3.

Each entry of :data:`BACKBONES` knows its Keras constructor, its own ``preprocess_input`` (the
only normalisation applied -- nothing on top), its minimum input size, the last convolutional
layer Grad-CAM reads, and where fine-tuning starts unfreezing.

:func:`build_transfer_model` returns a **flat** functional model
``Model(base.input, head(base.output))`` -- the base's layers are the model's own layers, so
Grad-CAM can read any of them (a base nested as one layer gives "Graph disconnected").

Modes (see :func:`set_mode`):

* ``frozen``   -- feature extraction: the whole base is frozen, only the new head trains.
* ``finetune`` -- after training the head, the top block(s) of the base are unfrozen and
  trained at a low learning rate; BatchNormalization layers stay frozen, which in Keras 3 also
  keeps them in inference mode (moving statistics are not updated).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "BackboneSpec",
    "BACKBONES",
    "MODES",
    "get_backbone",
    "effective_image_size",
    "build_transfer_model",
    "set_mode",
    "trainable_layer_names",
    "feature_and_head_models",
    "imagenet_cache_path",
    "imagenet_weights_url",
    "WeightsChoice",
    "resolve_weights",
    "WEIGHTS_CHOICES",
]

MODES = ("frozen", "finetune")
WEIGHTS_CHOICES = ("auto", "imagenet", None, "random")  # or the path of a local weights file
IMAGENET_WEIGHTS_ORIGIN = "https://storage.googleapis.com/tensorflow/keras-applications/"
# sub-folder of IMAGENET_WEIGHTS_ORIGIN per backbone (as in keras.applications)
_WEIGHTS_FOLDER = {"VGG16": "vgg16", "ResNet50V2": "resnet", "Xception": "xception", "InceptionV3": "inception_v3"}
# md5 of the genuine no-top files (as keras.applications checks them): a cached file that differs is not used
_WEIGHTS_MD5 = {"VGG16": "6d6bbae143d832006294945121d1f1fc", "ResNet50V2": "fac2f116257151a9d068a22e544a4917",
                "Xception": "b0042744bf5b25fce3cb969f33bebb97", "InceptionV3": "bcbd6486424b2319ff4ef7d526e38f63"}
HEAD_PREFIX = "head_"


@dataclass(frozen=True)
class BackboneSpec:
    """What the course needs to know about one ImageNet backbone.

    Attributes
    ----------
    name : str
        Keras application name (``VGG16``...).
    module : str
        Sub-module of ``keras.applications`` that holds ``preprocess_input``.
    min_size : int
        Smallest input height/width the architecture accepts.
    last_conv_layer : str
        Layer Grad-CAM reads (last convolutional feature map).
    last_frozen_layer : str
        Fine-tuning unfreezes every base layer AFTER this one (except BatchNormalization).
    weights_file : str
        File name of the ImageNet no-top weights in the Keras cache (``$KERAS_HOME/models/``).
    unfreezes : str
        In words, what ``finetune`` unfreezes (BatchNormalization layers always stay frozen).
    """

    name: str
    module: str
    min_size: int
    last_conv_layer: str
    last_frozen_layer: str
    weights_file: str
    unfreezes: str

    def constructor(self):
        """The ``keras.applications`` constructor (e.g. ``keras.applications.VGG16``)."""
        import keras

        return getattr(keras.applications, self.name)

    def preprocess_input(self, x):
        """The backbone's own ``preprocess_input`` on a COPY of ``x`` (float32).

        Keras' ``preprocess_input`` modifies float32 NumPy arrays in place; this wrapper never
        does, so the caller's images stay usable (e.g. for Grad-CAM overlays). Tensors are
        passed through (TensorFlow ops do not modify their input).
        """
        import keras

        fn = getattr(keras.applications, self.module).preprocess_input
        if isinstance(x, np.ndarray) or isinstance(x, (list, tuple)):
            x = np.array(x, dtype=np.float32, copy=True)
        return fn(x)


BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec("VGG16", "vgg16", 32, "block5_conv3", "block4_pool",
                     "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5", "block 5 (3 conv layers)"),
        BackboneSpec("ResNet50V2", "resnet_v2", 32, "post_relu", "conv5_block2_out",
                     "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
                     "the last residual block conv5_block3"),
        BackboneSpec("Xception", "xception", 71, "block14_sepconv2_act", "block13_pool",
                     "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
                     "exit-flow block 14 (2 separable convs)"),
        BackboneSpec("InceptionV3", "inception_v3", 75, "mixed10", "mixed8",
                     "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
                     "the top two inception blocks mixed9 and mixed10"),
    )
}


def get_backbone(name: str) -> BackboneSpec:
    """The :class:`BackboneSpec` called ``name`` (case-insensitive); a clear error otherwise."""
    if isinstance(name, BackboneSpec):
        return name
    for key, spec in BACKBONES.items():
        if isinstance(name, str) and key.lower() == name.lower():
            return spec
    raise ValueError(f"unknown backbone {name!r}; expected one of {', '.join(BACKBONES)}")


def effective_image_size(backbone: str, image_size: int, raise_to_minimum: bool = True) -> int:
    """``image_size`` raised to the backbone's minimum (or a ValueError when not allowed)."""
    spec = get_backbone(backbone)
    if not isinstance(image_size, (int, np.integer)) or image_size < 1:
        raise ValueError(f"image_size must be a positive integer, got {image_size!r}")
    if image_size < spec.min_size:
        if not raise_to_minimum:
            raise ValueError(f"image_size={image_size} is below {spec.name}'s minimum input size "
                             f"{spec.min_size}; expected image_size >= {spec.min_size}")
        return int(spec.min_size)
    return int(image_size)


def imagenet_cache_path(backbone: str) -> Path:
    """Where Keras caches (and looks for) the ImageNet no-top weights of ``backbone``."""
    from keras.src.backend import config

    return Path(config.keras_home()) / "models" / get_backbone(backbone).weights_file


def imagenet_weights_url(backbone: str) -> str:
    """Where Keras downloads the ImageNet no-top weights of ``backbone`` from."""
    spec = get_backbone(backbone)
    return f"{IMAGENET_WEIGHTS_ORIGIN}{_WEIGHTS_FOLDER[spec.name]}/{spec.weights_file}"


@dataclass(frozen=True)
class WeightsChoice:
    """Which initial weights a backbone gets, and why (see :func:`resolve_weights`).

    Attributes
    ----------
    backbone : str
    asked : str or None
        What was asked: ``"auto"``, ``"imagenet"``, None or a path.
    used : str
        ``"imagenet"``, ``"random"`` or ``"file"``.
    weights : str or None
        What to pass to :func:`build_transfer_model` (a weights file, or None = random).
    reason : str
        One sentence: where the weights came from, or why there are none.
    """

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
        """``ImageNet weights`` / ``random initialisation (no ImageNet weights)`` / ``weights file ...``."""
        if self.used == "imagenet":
            return "ImageNet weights"
        if self.used == "file":
            return f"weights file {Path(self.weights).name}"
        return "random initialisation (no ImageNet weights)"

    def banner(self, num_classes: int | None = None) -> str:
        """The line a notebook shows before training (a warning when the weights are random)."""
        if not self.random:
            return f"{self.backbone}: {self.description} ({self.reason})"
        if self.asked in (None, "random"):
            head = f"{self.backbone}: random initialisation (asked for)"
        else:
            head = f"WARNING -- no ImageNet weights could be loaded for {self.backbone}: random initialisation"
        chance = f" (chance accuracy = 1/{num_classes})" if num_classes else ""
        return f"{head} -- results will be near chance{chance}. {self.reason}"

    def as_dict(self) -> dict:
        """For ``weights.json`` and the manifest (no machine paths: only the file's name)."""
        return {"backbone": self.backbone, "asked": self.asked, "used": self.used,
                "file": Path(self.weights).name if self.weights else None,
                "description": self.description, "reason": self.reason}


def _download_imagenet_weights(spec: BackboneSpec, timeout: float) -> Path:
    """Download the no-top weights into the Keras cache; a socket timeout so offline cannot hang."""
    import socket

    import keras

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)  # per connect/read, not for the whole (large) file
    try:
        return Path(keras.utils.get_file(spec.weights_file, imagenet_weights_url(spec.name),
                                         cache_subdir="models", file_hash=_WEIGHTS_MD5[spec.name]))
    finally:
        socket.setdefaulttimeout(previous)


def resolve_weights(backbone: str, weights="auto", timeout: float = 10.0) -> WeightsChoice:
    """Decide the initial weights of ``backbone``: ImageNet where it can be loaded, else random.

    ``"auto"``: the ImageNet no-top file from the Keras cache (:func:`imagenet_cache_path`; used
    when its md5 is the genuine file's, as Keras checks it), else downloaded (each network
    operation times out after ``timeout`` seconds, so an offline machine fails fast), else random
    initialisation -- the returned choice says so and why.
    ``"imagenet"``: the same, but an error naming the backbone and the file to fetch when neither
    works. ``None`` (or ``"random"``, for a notebook parameter where None means the profile's
    value): random initialisation. A path: that local weights file (it must exist).

    Returns
    -------
    WeightsChoice
        ``.weights`` is what :func:`build_transfer_model` takes; ``.banner()`` is what to show.
    """
    spec = get_backbone(backbone)
    if weights is None or weights == "random":
        return WeightsChoice(spec.name, weights, "random", None, f"weights={weights!r}: random initialisation was asked")
    if weights not in ("auto", "imagenet"):
        if not isinstance(weights, (str, os.PathLike)):
            raise ValueError(f"weights must be 'auto', 'imagenet', None or a file path, got {weights!r}")
        path = Path(os.fspath(weights)).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"weights file {path} does not exist; expected 'auto', 'imagenet', None "
                                    f"or the path of a {spec.name} no-top weights file")
        return WeightsChoice(spec.name, str(weights), "file", str(path), f"local file {path.name}")
    from keras.src.utils import file_utils

    cached = imagenet_cache_path(spec.name)
    if cached.is_file() and file_utils.validate_file(str(cached), _WEIGHTS_MD5[spec.name]):
        return WeightsChoice(spec.name, weights, "imagenet", str(cached), f"from the Keras cache ({cached.name})")
    try:
        path = _download_imagenet_weights(spec, timeout)
    except Exception as err:  # offline, DNS failure, timeout, HTTP error...
        problem = str(err).splitlines()[0] if str(err) else type(err).__name__
        problem = problem.split(" -- ")[-1]  # Keras: "URL fetch failure on <url>: <code> -- <reason>"
        if weights == "imagenet":
            raise RuntimeError(
                f"could not load the ImageNet weights of {spec.name}: not in the Keras cache ({cached}) and "
                f"the download failed ({problem}). Download {imagenet_weights_url(spec.name)} on a machine "
                f"with internet and copy it to {cached}, or use weights='auto' (random when missing) or "
                f"weights=None.") from err
        return WeightsChoice(spec.name, weights, "random", None,
                             f"{spec.weights_file} is not in the Keras cache and downloading it failed "
                             f"({problem}). To use ImageNet, put that file (from {imagenet_weights_url(spec.name)}) "
                             f"into $KERAS_HOME/models (backbones.imagenet_cache_path({spec.name!r})).")
    return WeightsChoice(spec.name, weights, "imagenet", str(path), f"downloaded into the Keras cache ({path.name})")


def build_transfer_model(backbone: str, num_classes: int, image_size: int, weights=None,
                         dropout: float = 0.3, dense_units: int = 0, name: str | None = None):
    """A flat functional transfer model: the backbone without its top plus a new head.

    Head: GlobalAveragePooling2D -> BatchNormalization -> [Dense(dense_units, relu)] -> Dropout ->
    Dense(softmax).
    The base is returned frozen (mode ``frozen``); use :func:`set_mode` to fine-tune.
    Inputs must already be preprocessed with ``get_backbone(backbone).preprocess_input``.

    Parameters
    ----------
    backbone : str
        A key of :data:`BACKBONES`.
    num_classes : int
        Number of output classes (>= 2).
    image_size : int
        Input height = width; at least the backbone's ``min_size``.
    weights : "auto", "imagenet", None, a path or a :class:`WeightsChoice`
        Resolved by :func:`resolve_weights`. ``"auto"``: ImageNet when it is cached or can be
        downloaded, else random. ``"imagenet"``: Keras' pre-trained weights (downloaded once into
        ``$KERAS_HOME/models``, read from there afterwards; an error when impossible). None:
        random initialisation. A path: a local no-top weights file (e.g. ``*_notop.h5``).
        Resolve once with :func:`resolve_weights` and pass ``choice.weights`` to avoid repeated
        download attempts.
    dropout : float
        Dropout rate before the output layer.
    dense_units : int
        Hidden units of an optional dense layer in the head (0 = none).

    Returns
    -------
    keras.Model
    """
    import keras

    spec = get_backbone(backbone)
    if not isinstance(num_classes, (int, np.integer)) or num_classes < 2:
        raise ValueError(f"num_classes must be an integer >= 2, got {num_classes!r}")
    if not isinstance(image_size, (int, np.integer)) or image_size < spec.min_size:
        raise ValueError(f"image_size={image_size!r} is below {spec.name}'s minimum input size "
                         f"{spec.min_size}; expected an integer >= {spec.min_size}")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must be in [0, 1), got {dropout!r}")
    if isinstance(weights, WeightsChoice):
        weights = weights.weights
    elif weights is not None:
        weights = resolve_weights(spec.name, weights).weights  # "auto", "imagenet" or a path -> file or None
    base = spec.constructor()(include_top=False, weights=weights,
                              input_shape=(int(image_size), int(image_size), 3))
    x = keras.layers.GlobalAveragePooling2D(name=f"{HEAD_PREFIX}pool")(base.output)
    # normalise the pooled features: their scale differs a lot between backbones and weights
    # (random-weight bases give tiny activations), which otherwise stalls the head's training
    x = keras.layers.BatchNormalization(name=f"{HEAD_PREFIX}norm")(x)
    if dense_units:
        x = keras.layers.Dense(int(dense_units), activation="relu", name=f"{HEAD_PREFIX}dense")(x)
    x = keras.layers.Dropout(dropout, name=f"{HEAD_PREFIX}dropout")(x)
    # float32 output: under the mixed_float16 policy the probabilities (and the loss) stay float32
    out = keras.layers.Dense(int(num_classes), activation="softmax", dtype="float32", name=f"{HEAD_PREFIX}output")(x)
    model = keras.Model(base.input, out, name=name or f"{spec.name}_transfer")
    set_mode(model, spec, "frozen")
    return model


def _is_head(layer) -> bool:
    return layer.name.startswith(HEAD_PREFIX)


def set_mode(model, backbone: str, mode: str):
    """Set which layers train: ``frozen`` (head only) or ``finetune`` (head + top block(s)).

    In ``finetune`` every base layer after ``spec.last_frozen_layer`` becomes trainable except
    BatchNormalization layers, which stay frozen and therefore in inference mode. Recompile the
    model after calling this (Keras reads ``trainable`` at compile time).

    Returns
    -------
    keras.Model
        The same model.
    """
    import keras

    spec = get_backbone(backbone)
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")
    names = [layer.name for layer in model.layers]
    if spec.last_frozen_layer not in names:
        raise ValueError(f"model {model.name!r} has no layer {spec.last_frozen_layer!r}; expected a model "
                         f"built by build_transfer_model({spec.name!r}, ...)")
    boundary = names.index(spec.last_frozen_layer)
    for i, layer in enumerate(model.layers):
        if _is_head(layer):
            layer.trainable = True
        elif mode == "finetune" and i > boundary and not isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = True
        else:
            layer.trainable = False
    return model


def trainable_layer_names(model) -> list[str]:
    """Names of the layers that have trainable weights."""
    return [layer.name for layer in model.layers if layer.trainable and layer.trainable_weights]


def feature_and_head_models(model):
    """Split a transfer model into (feature model, head model) that SHARE the head's weights.

    The feature model maps images to the base's last feature map; the head model maps those
    features to class probabilities. Training the head model on cached features trains the
    full model's head (used for the frozen mode without augmentation: the frozen base runs
    once instead of every epoch).

    Returns
    -------
    (keras.Model, keras.Model)
    """
    import keras

    head_layers = [layer for layer in model.layers if _is_head(layer)]
    if not head_layers:
        raise ValueError(f"model {model.name!r} has no head layers (names starting with {HEAD_PREFIX!r}); "
                         "expected a model built by build_transfer_model")
    features = head_layers[0].input
    feature_model = keras.Model(model.input, features, name=f"{model.name}_features")
    feat_in = keras.Input(shape=tuple(features.shape[1:]), name="features")
    x = feat_in
    for layer in head_layers:
        x = layer(x)
    head_model = keras.Model(feat_in, x, name=f"{model.name}_head")
    return feature_model, head_model
