"""CNN architectures from short spec strings, a small CIFAR-style ResNet, and the experiment
families of the "how to choose a CNN architecture" study (notebook 07).

Spec notation (tokens separated by ``-``; square brackets only group and are ignored)::

    32C3      convolution, 32 feature maps, 3x3 kernel, stride 1, 'same' padding, ReLU
    24C5S2    convolution, 24 maps, 5x5 kernel, stride 2 (a learnable down-sampling)
    P2        max pooling 2x2 with stride 2 (Pn: n x n, stride n)
    BN        batch normalisation
    D3        dropout with rate 0.3: the digits are the decimals, D45 = 0.45, D05 = 0.05, D0 = none
    512       fully connected (dense) layer with 512 units, ReLU
    F, GAP    flatten / global average pooling (a Flatten is inserted before the first dense layer
              and before the output when the features are still an image)

Example: ``"[32C3-P2]-[64C3-P2]-512-D3"``. A bad token raises ``ValueError`` naming the token,
its position and what was expected. The output layer is added by :func:`build_cnn`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from helpers import layout

__all__ = [
    "LayerSpec",
    "parse_spec",
    "spec_output_shape",
    "build_cnn",
    "build_resnet",
    "brief_augmentation",
    "output_config",
    "predict_classes",
    "Variant",
    "FAMILIES",
    "family_variants",
    "custom_variants",
]

TOKEN_HELP = ("expected NNCk (conv, e.g. 32C3), NNCkSs (strided conv, e.g. 32C5S2), Pn (max-pool, e.g. P2), "
              "Dx (dropout 0.x, e.g. D3), NNN (dense units, e.g. 512), BN, F or GAP")

_CONV = re.compile(r"^(\d+)C(\d+)(?:S(\d+))?$")
_POOL = re.compile(r"^P(\d+)$")
_DROP = re.compile(r"^D(\d+)$")
_DENSE = re.compile(r"^(\d+)$")


@dataclass(frozen=True)
class LayerSpec:
    """One parsed token: ``kind`` is conv, pool, dropout, dense, batchnorm, flatten or gap."""

    kind: str
    token: str
    position: int  # 1-based token number in the spec
    filters: int | None = None
    kernel: int | None = None
    stride: int = 1
    pool: int | None = None
    rate: float | None = None
    units: int | None = None


def _bad(spec: str, token: str, position: int, column: int, why: str) -> ValueError:
    return ValueError(
        f"bad token {token!r} at position {position} (character {column}) of spec {spec!r}: {why}"
    )


def parse_spec(spec: str) -> list[LayerSpec]:
    """Parse an architecture spec string into layer specs.

    Parameters
    ----------
    spec : str
        E.g. ``"[32C3-P2]-[64C3-P2]-512-D3"`` (see the module docstring for the notation).

    Returns
    -------
    list of LayerSpec

    Raises
    ------
    ValueError
        The spec is empty, a token is not understood, a number is zero, or a convolution/pooling
        token comes after the features were flattened (the message names the token and position).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"spec must be a non-empty string such as '32C3-P2-64C3-P2-512-D3', got {spec!r}")
    if spec.count("[") != spec.count("]"):
        raise ValueError(f"spec {spec!r} has unbalanced brackets: {spec.count('[')} '[' and {spec.count(']')} ']'")
    layers: list[LayerSpec] = []
    flat = False
    column = 0
    for position, raw in enumerate(spec.split("-"), start=1):
        col = column + 1 + (len(raw) - len(raw.lstrip(" [")))
        column += len(raw) + 1
        token = raw.strip().strip("[]").strip().upper()
        if not token:
            raise _bad(spec, raw, position, col, "empty token (two '-' in a row or a trailing '-'?)")
        if m := _CONV.match(token):
            filters, kernel, stride = int(m[1]), int(m[2]), int(m[3] or 1)
            if min(filters, kernel, stride) < 1:
                raise _bad(spec, token, position, col, "feature maps, kernel size and stride must be >= 1")
            layer = LayerSpec("conv", token, position, filters=filters, kernel=kernel, stride=stride)
        elif m := _POOL.match(token):
            if int(m[1]) < 1:
                raise _bad(spec, token, position, col, "the pooling size must be >= 1")
            layer = LayerSpec("pool", token, position, pool=int(m[1]))
        elif m := _DROP.match(token):
            layer = LayerSpec("dropout", token, position, rate=float("0." + m[1]))
        elif m := _DENSE.match(token):
            if int(m[1]) < 1:
                raise _bad(spec, token, position, col, "a dense layer needs at least one unit "
                           "(leave the token out for 'no dense layer')")
            layer = LayerSpec("dense", token, position, units=int(m[1]))
        elif token == "BN":
            layer = LayerSpec("batchnorm", token, position)
        elif token in ("F", "FLATTEN"):
            layer = LayerSpec("flatten", token, position)
        elif token == "GAP":
            layer = LayerSpec("gap", token, position)
        else:
            raise _bad(spec, raw.strip(), position, col, TOKEN_HELP)
        if layer.kind in ("conv", "pool") and flat:
            raise _bad(spec, token, position, col, "convolution and pooling must come before the "
                       "features are flattened (before F, GAP and dense layers)")
        if layer.kind in ("flatten", "gap") and flat:
            raise _bad(spec, token, position, col, "the features are already flat")
        flat = flat or layer.kind in ("dense", "flatten", "gap")
        layers.append(layer)
    return layers


def spec_output_shape(spec: str | list[LayerSpec], input_shape: tuple[int, int, int]) -> tuple[int, ...]:
    """Shape of the features after the spec's layers (before the output layer).

    Raises ValueError naming the token that shrinks the feature map below 1 pixel.
    """
    layers = parse_spec(spec) if isinstance(spec, str) else spec
    h, w, c = (int(v) for v in input_shape)
    flat: int | None = None
    for layer in layers:
        if layer.kind == "conv":
            h, w, c = math.ceil(h / layer.stride), math.ceil(w / layer.stride), layer.filters
        elif layer.kind == "pool":
            if h // layer.pool < 1 or w // layer.pool < 1:
                raise ValueError(
                    f"token {layer.token!r} at position {layer.position} pools a {h}x{w} feature map "
                    f"to nothing; use a larger image_size or fewer pooling layers")
            h, w = h // layer.pool, w // layer.pool
        elif layer.kind == "flatten" or (layer.kind == "dense" and flat is None):
            flat = h * w * c
        elif layer.kind == "gap":
            flat = c
        if layer.kind == "dense":
            flat = layer.units
    return (flat,) if flat is not None else (h, w, c)


def brief_augmentation(seed: int = 0):
    """The augmentation of the architecture study: rotation ±10°, zoom 10 %, shifts 10 %.

    Returns a ``keras.Sequential`` of preprocessing layers (active only in training).
    """
    import keras

    return keras.Sequential([
        keras.layers.RandomRotation(10 / 360, fill_mode="nearest", seed=seed),
        keras.layers.RandomZoom(0.1, fill_mode="nearest", seed=seed + 1),
        keras.layers.RandomTranslation(0.1, 0.1, fill_mode="nearest", seed=seed + 2),
    ], name="augmentation")


def output_config(num_classes: int, binary: bool | None = None) -> dict[str, Any]:
    """Output units, activation and loss for ``num_classes``.

    One sigmoid unit with binary cross-entropy when ``num_classes == 1``, or ``num_classes == 2``
    and ``binary`` is True; otherwise ``num_classes`` softmax units with sparse categorical
    cross-entropy (integer labels).
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if binary and num_classes not in (1, 2):
        raise ValueError(f"binary=True needs num_classes 1 or 2, got {num_classes}")
    if num_classes == 1 or (num_classes == 2 and binary):
        return {"units": 1, "activation": "sigmoid", "loss": "binary_crossentropy", "binary": True}
    return {"units": int(num_classes), "activation": "softmax", "loss": "sparse_categorical_crossentropy",
            "binary": False}


def build_cnn(spec: str, input_shape: tuple[int, int, int], num_classes: int, augment: bool = False,
              binary: bool | None = None, learning_rate: float = 1e-3, compile: bool = True,
              seed: int = 0, name: str | None = None):
    """A Keras CNN from a spec string (inputs are uint8-range images; the model rescales by 1/255).

    Parameters
    ----------
    spec : str
        Architecture, e.g. ``"[32C3-P2]-[64C3-P2]-512-D3"`` (see :func:`parse_spec`).
    input_shape : (height, width, channels)
    num_classes : int
        Number of classes; see :func:`output_config` for the binary case.
    augment : bool
        Add :func:`brief_augmentation` after the input (active in training only).
    binary : bool, optional
        With ``num_classes=2``: one sigmoid unit instead of two softmax units.
    learning_rate : float
        Adam's learning rate (when ``compile``).
    compile : bool
        Compile with Adam, the matching loss and ``accuracy``.
    seed : int
        Seed of the augmentation layers.
    name : str, optional

    Returns
    -------
    keras.Model
    """
    import keras
    from keras import layers as L

    layer_specs = parse_spec(spec)
    spec_output_shape(layer_specs, input_shape)  # fails early, naming the token
    out = output_config(num_classes, binary)
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = L.Rescaling(1.0 / 255, name="rescale")(inputs)
    if augment:
        x = brief_augmentation(seed)(x)
    flat = False
    for layer in layer_specs:
        tag = f"{layer.position:02d}_{layer.token.lower()}"
        if layer.kind == "conv":
            x = L.Conv2D(layer.filters, layer.kernel, strides=layer.stride, padding="same",
                         activation="relu", name=f"conv{tag}")(x)
        elif layer.kind == "pool":
            x = L.MaxPooling2D(layer.pool, name=f"pool{tag}")(x)
        elif layer.kind == "batchnorm":
            x = L.BatchNormalization(name=f"bn{tag}")(x)
        elif layer.kind == "dropout":
            if layer.rate > 0:
                x = L.Dropout(layer.rate, seed=seed, name=f"dropout{tag}")(x)
        elif layer.kind == "flatten":
            x, flat = L.Flatten(name=f"flatten{tag}")(x), True
        elif layer.kind == "gap":
            x, flat = L.GlobalAveragePooling2D(name=f"gap{tag}")(x), True
        elif layer.kind == "dense":
            if not flat:
                x, flat = L.Flatten(name=f"flatten{tag}")(x), True
            x = L.Dense(layer.units, activation="relu", name=f"dense{tag}")(x)
    if not flat:
        x = L.Flatten(name="flatten")(x)
    # dtype float32: under the mixed_float16 policy the probabilities (and the loss) stay float32
    outputs = L.Dense(out["units"], activation=out["activation"], dtype="float32", name="output")(x)
    model = keras.Model(inputs, outputs, name=name or "cnn")
    if compile:
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=out["loss"], metrics=["accuracy"])
    return model


def build_resnet(input_shape: tuple[int, int, int], num_classes: int, blocks_per_stage: int = 1,
                 base_filters: int = 16, name: str | None = None):
    """A small CIFAR-style ResNet (He et al. 2016, v1): depth ``6 * blocks_per_stage + 2``.

    3x3 conv -> three stages of residual blocks with ``base_filters``, 2x and 4x maps (stride 2 at
    the start of stages 2 and 3, 1x1 projection shortcuts) -> global average pooling -> softmax.
    Inputs are uint8-range images (rescaled by 1/255 inside). Returned uncompiled.

    Parameters
    ----------
    input_shape : (height, width, channels)
    num_classes : int (>= 2)
    blocks_per_stage : int
        1 gives ResNet-8, 3 gives the ResNet-20 of the paper.
    base_filters : int

    Returns
    -------
    keras.Model
    """
    import keras
    from keras import layers as L

    if int(blocks_per_stage) < 1 or int(base_filters) < 1:
        raise ValueError(f"blocks_per_stage and base_filters must be >= 1, got {blocks_per_stage}, {base_filters}")
    if int(num_classes) < 2:
        raise ValueError(f"build_resnet needs num_classes >= 2, got {num_classes}")

    def conv_bn(x, filters, stride=1, relu=True, tag=""):
        x = L.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                     kernel_initializer="he_normal", name=f"{tag}_conv")(x)
        x = L.BatchNormalization(name=f"{tag}_bn")(x)
        return L.Activation("relu", name=f"{tag}_relu")(x) if relu else x

    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = L.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = conv_bn(x, base_filters, tag="stem")
    for stage in range(3):
        filters = base_filters * 2 ** stage
        for block in range(int(blocks_per_stage)):
            stride = 2 if stage > 0 and block == 0 else 1
            tag = f"s{stage + 1}b{block + 1}"
            y = conv_bn(x, filters, stride, tag=f"{tag}a")
            y = conv_bn(y, filters, relu=False, tag=f"{tag}b")
            if stride != 1 or x.shape[-1] != filters:
                x = L.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{tag}_proj")(x)
                x = L.BatchNormalization(name=f"{tag}_proj_bn")(x)
            x = L.Activation("relu", name=f"{tag}_out")(L.Add(name=f"{tag}_add")([x, y]))
    x = L.GlobalAveragePooling2D(name="gap")(x)
    outputs = L.Dense(int(num_classes), activation="softmax", dtype="float32", name="output")(x)
    return keras.Model(inputs, outputs, name=name or f"resnet{6 * int(blocks_per_stage) + 2}")


def predict_classes(model, x, batch_size: int = 64) -> np.ndarray:
    """Class indices predicted by ``model`` (threshold 0.5 for a one-unit sigmoid output)."""
    probs = np.asarray(model.predict(x, batch_size=batch_size, verbose=0))
    if probs.ndim == 1 or probs.shape[-1] == 1:
        return (probs.reshape(-1) >= 0.5).astype(int)
    return probs.argmax(axis=-1)


# --------------------------------------------------------------------------- experiment families
@dataclass(frozen=True)
class Variant:
    """One architecture to train: a display ``name``, a ``spec`` and whether to ``augment``."""

    name: str
    spec: str
    augment: bool = False

    @property
    def slug(self) -> str:
        """A folder name for the variant (letters, digits, '-', '_')."""
        return layout.slug(self.name)


def _blocks(*maps: int, extra: str = "") -> str:
    return "-".join(f"[{m}C3-P2{extra}]" for m in maps)


_ADV = "[{0}C3-{0}C5S2]"
_ADV_BN = "[{0}C3-BN-{0}C5S2-BN]"

FAMILIES: dict[str, list[Variant]] = {
    "depth": [
        Variant("(C-P)x2", _blocks(32, 64) + "-512-D3"),
        Variant("(C-P)x3", _blocks(32, 64, 128) + "-512-D3"),
        Variant("(C-P)x4", _blocks(32, 64, 128, 256) + "-512-D3"),
    ],
    "feature_maps": [Variant(f"{n} maps", _blocks(n, 2 * n, 4 * n) + "-256-D3") for n in (8, 16, 32, 48, 64)],
    "dense": [Variant("0 (no dense)", _blocks(32, 64, 128) + "-F-D3")]
    + [Variant(f"{d} units", _blocks(32, 64, 128) + f"-{d}-D3") for d in (32, 64, 128, 256, 512, 1024)],
    "dropout": [Variant(f"dropout 0.{r}", _blocks(32, 64, 128, extra=f"-D{r}") + f"-128-D{r}") for r in range(9)],
    "advanced": [
        Variant("P2 (baseline)", _blocks(32, 64, 128) + "-128-D4"),
        Variant("C5S2 instead of P2", "-".join(_ADV.format(m) for m in (32, 64, 128)) + "-128-D4"),
        Variant("C5S2 + batch norm", "-".join(_ADV_BN.format(m) for m in (32, 64, 128)) + "-128-BN-D4"),
        Variant("C5S2 + BN + augmentation", "-".join(_ADV_BN.format(m) for m in (32, 64, 128)) + "-128-BN-D4",
                augment=True),
    ],
}


def family_variants(family: str, names: list[str] | None = None) -> list[Variant]:
    """The variants of ``family`` (optionally only those whose name is in ``names``)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; expected one of {', '.join(FAMILIES)} "
                         "(or put your own specs in custom_specs)")
    variants = FAMILIES[family]
    if names is not None:
        unknown = sorted(set(names) - {v.name for v in variants})
        if unknown:
            raise ValueError(f"family {family!r} has no variant(s) {unknown}; it has {[v.name for v in variants]}")
        variants = [v for v in variants if v.name in names]
    return list(variants)


def custom_variants(specs: list[str] | None) -> list[Variant]:
    """Variants from a student's list of spec strings (each is parsed, so a typo fails here).

    A spec may end with ``+aug`` to train it with data augmentation.
    """
    out = []
    for spec in specs or []:
        augment = spec.strip().lower().endswith("+aug")
        clean = spec.strip()[: -len("+aug")].strip() if augment else spec.strip()
        parse_spec(clean)
        out.append(Variant(spec.strip(), clean, augment))
    return out
