"""CNNs from short spec strings, a small CIFAR-style ResNet, and the families of notebook 07.

Spec notation, e.g. ``"[32C3-P2]-[64C3-P2]-512-D3"`` (tokens separated by ``-``; square brackets only group;
:func:`build_cnn` adds the rescaling input and the output layer)::

    32C3      convolution, 32 maps, 3x3 kernel, stride 1, 'same' padding, ReLU
    24C5S2    convolution with stride 2 (a learnable down-sampling)
    P2        max pooling 2x2, stride 2          BN       batch normalisation
    D3        dropout 0.3 (D45 = 0.45, D0 = none) 512      dense layer of 512 units, ReLU
    F, GAP    flatten / global average pooling (a Flatten is added before a dense layer when needed)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from helpers import layout
from helpers.data.images import augmentation_layers

__all__ = ["LayerSpec", "parse_spec", "spec_output_shape", "build_cnn", "build_resnet", "brief_augmentation",
           "output_config", "predict_classes", "Variant", "FAMILIES", "family_variants", "custom_variants"]

TOKEN_HELP = ("expected NNCk (conv, e.g. 32C3), NNCkSs (strided conv, e.g. 32C5S2), Pn (max-pool, e.g. P2), "
              "Dx (dropout 0.x, e.g. D3), NNN (dense units, e.g. 512), BN, F or GAP")
_CONV, _POOL, _DROP, _DENSE = (re.compile(p) for p in (r"^(\d+)C(\d+)(?:S(\d+))?$", r"^P(\d+)$", r"^D(\d+)$",
                                                        r"^(\d+)$"))
_SIMPLE = {"BN": "batchnorm", "F": "flatten", "FLATTEN": "flatten", "GAP": "gap"}


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


def _token(token: str, position: int) -> tuple[LayerSpec | None, str]:
    """The layer of one token, or None and why it is wrong."""
    if m := _CONV.match(token):
        filters, kernel, stride = int(m[1]), int(m[2]), int(m[3] or 1)
        if min(filters, kernel, stride) < 1:
            return None, "feature maps, kernel size and stride must be >= 1"
        return LayerSpec("conv", token, position, filters=filters, kernel=kernel, stride=stride), ""
    if m := _POOL.match(token):
        ok = int(m[1]) >= 1
        return (LayerSpec("pool", token, position, pool=int(m[1])), "") if ok else (None, "the pooling size must be >= 1")
    if m := _DROP.match(token):
        return LayerSpec("dropout", token, position, rate=float("0." + m[1])), ""
    if m := _DENSE.match(token):
        if int(m[1]) < 1:
            return None, "a dense layer needs at least one unit (leave the token out for 'no dense layer')"
        return LayerSpec("dense", token, position, units=int(m[1])), ""
    if token in _SIMPLE:
        return LayerSpec(_SIMPLE[token], token, position), ""
    return None, TOKEN_HELP if token else "empty token (two '-' in a row or a trailing '-'?)"


def parse_spec(spec: str) -> list[LayerSpec]:
    """The layers of ``spec`` (e.g. ``"[32C3-P2]-[64C3-P2]-512-D3"``); a ValueError names the bad token, its
    position and character, and what was expected."""
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"spec must be a non-empty string such as '32C3-P2-64C3-P2-512-D3', got {spec!r}")
    if spec.count("[") != spec.count("]"):
        raise ValueError(f"spec {spec!r} has unbalanced brackets: {spec.count('[')} '[' and {spec.count(']')} ']'")
    layers, flat, column = [], False, 0
    for position, raw in enumerate(spec.split("-"), start=1):
        col = column + 1 + (len(raw) - len(raw.lstrip(" [")))
        column += len(raw) + 1
        token = raw.strip().strip("[]").strip().upper()
        layer, why = _token(token, position)
        if layer and layer.kind in ("conv", "pool") and flat:
            layer, why = None, ("convolution and pooling must come before the features are flattened "
                                "(before F, GAP and dense layers)")
        elif layer and layer.kind in ("flatten", "gap") and flat:
            layer, why = None, "the features are already flat"
        if layer is None:
            shown = token if why != TOKEN_HELP else raw.strip()
            raise ValueError(f"bad token {shown!r} at position {position} (character {col}) of spec {spec!r}: {why}")
        flat = flat or layer.kind in ("dense", "flatten", "gap")
        layers.append(layer)
    return layers


def spec_output_shape(spec: str | list[LayerSpec], input_shape: tuple[int, int, int]) -> tuple[int, ...]:
    """Shape of the features after the spec's layers (before the output layer); a ValueError names the
    token that pools the feature map to nothing."""
    layers = parse_spec(spec) if isinstance(spec, str) else spec
    (h, w, c), flat = (int(v) for v in input_shape), None
    for layer in layers:
        if layer.kind == "conv":
            h, w, c = math.ceil(h / layer.stride), math.ceil(w / layer.stride), layer.filters
        elif layer.kind == "pool":
            if h // layer.pool < 1 or w // layer.pool < 1:
                raise ValueError(f"token {layer.token!r} at position {layer.position} pools a {h}x{w} feature map "
                                 "to nothing; use a larger image_size or fewer pooling layers")
            h, w = h // layer.pool, w // layer.pool
        elif layer.kind == "flatten" or (layer.kind == "dense" and flat is None):
            flat = h * w * c
        elif layer.kind == "gap":
            flat = c
        flat = layer.units if layer.kind == "dense" else flat
    return (flat,) if flat is not None else (h, w, c)


def brief_augmentation(seed: int = 0):
    """The study's augmentation (training only): rotation ±10°, zoom 10 %, shifts 10 % (a ``keras.Sequential``)."""
    return augmentation_layers(seed, rotation=10 / 360, zoom=0.1, translation=0.1, flip=None, fill_mode="nearest")


def output_config(num_classes: int, binary: bool | None = None) -> dict[str, Any]:
    """Output units, activation and loss: one sigmoid unit with binary cross-entropy for ``num_classes`` 1
    (or 2 with ``binary``), else ``num_classes`` softmax units with sparse categorical cross-entropy."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive integer, got {num_classes!r}")
    if binary and num_classes not in (1, 2):
        raise ValueError(f"binary=True needs num_classes 1 or 2, got {num_classes}")
    if num_classes == 1 or (num_classes == 2 and binary):
        return {"units": 1, "activation": "sigmoid", "loss": "binary_crossentropy", "binary": True}
    return {"units": int(num_classes), "activation": "softmax", "loss": "sparse_categorical_crossentropy",
            "binary": False}


def build_cnn(spec: str, input_shape: tuple[int, int, int], num_classes: int, augment: bool = False,
              binary: bool | None = None, learning_rate: float = 1e-3, compile: bool = True, seed: int = 0,
              name: str | None = None):
    """A Keras CNN from ``spec`` for uint8-range images (rescaled inside; layers named by token; ``seed``: dropout,
    augmentation); ``augment`` adds :func:`brief_augmentation`, ``binary`` a sigmoid unit, ``compile`` Adam + loss."""
    import keras
    from keras import layers as L

    layer_specs = parse_spec(spec)
    spec_output_shape(layer_specs, input_shape)  # fails early, naming the token
    out = output_config(num_classes, binary)
    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = L.Rescaling(1.0 / 255, name="rescale")(inputs)
    x = brief_augmentation(seed)(x) if augment else x
    flat = False
    for layer in layer_specs:
        tag = f"{layer.position:02d}_{layer.token.lower()}"
        if layer.kind == "flatten" or (layer.kind == "dense" and not flat):  # a Flatten before the first dense
            x = L.Flatten(name=f"flatten{tag}")(x)
        flat = flat or layer.kind in ("dense", "flatten", "gap")
        if layer.kind == "conv":
            x = L.Conv2D(layer.filters, layer.kernel, strides=layer.stride, padding="same", activation="relu",
                         name=f"conv{tag}")(x)
        elif layer.kind == "pool":
            x = L.MaxPooling2D(layer.pool, name=f"pool{tag}")(x)
        elif layer.kind == "batchnorm":
            x = L.BatchNormalization(momentum=0.9, name=f"bn{tag}")(x)  # Keras' 0.99 lags on small data
        elif layer.kind == "dropout" and layer.rate > 0:
            x = L.Dropout(layer.rate, seed=seed, name=f"dropout{tag}")(x)
        elif layer.kind == "gap":
            x = L.GlobalAveragePooling2D(name=f"gap{tag}")(x)
        elif layer.kind == "dense":
            x = L.Dense(layer.units, activation="relu", name=f"dense{tag}")(x)
    x = x if flat else L.Flatten(name="flatten")(x)
    # dtype float32: under the mixed_float16 policy the probabilities (and the loss) stay float32
    outputs = L.Dense(out["units"], activation=out["activation"], dtype="float32", name="output")(x)
    model = keras.Model(inputs, outputs, name=name or "cnn")
    if compile:
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=out["loss"], metrics=["accuracy"])
    return model


def build_resnet(input_shape: tuple[int, int, int], num_classes: int, blocks_per_stage: int = 1,
                 base_filters: int = 16, name: str | None = None, bn_momentum: float = 0.9):
    """The reference uncompiled CIFAR-style ResNet v1 (He et al. 2016) of depth ``6 * blocks_per_stage + 2``: 3x3 conv,
    3 residual stages (``base_filters`` x1, x2, x4 maps; stride 2 + 1x1 projection into stages 2, 3), GAP, softmax.
    ``bn_momentum`` 0.9 (Keras: 0.99): the moving statistics used at evaluation follow the weights within a few
    dozen steps, which a small dataset needs (with 0.99 validation stays at chance for hundreds of steps)."""
    import keras
    from keras import layers as L

    if int(blocks_per_stage) < 1 or int(base_filters) < 1:
        raise ValueError(f"blocks_per_stage and base_filters must be >= 1, got {blocks_per_stage}, {base_filters}")
    if int(num_classes) < 2:
        raise ValueError(f"build_resnet needs num_classes >= 2, got {num_classes}")

    def conv_bn(x, filters, stride=1, relu=True, tag=""):
        x = L.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False, kernel_initializer="he_normal",
                     name=f"{tag}_conv")(x)
        x = L.BatchNormalization(momentum=bn_momentum, name=f"{tag}_bn")(x)
        return L.Activation("relu", name=f"{tag}_relu")(x) if relu else x

    inputs = keras.Input(shape=tuple(input_shape), name="image")
    x = conv_bn(L.Rescaling(1.0 / 255, name="rescale")(inputs), base_filters, tag="stem")
    for stage in range(3):
        filters = base_filters * 2 ** stage
        for block in range(int(blocks_per_stage)):
            stride, tag = (2 if stage > 0 and block == 0 else 1), f"s{stage + 1}b{block + 1}"
            y = conv_bn(conv_bn(x, filters, stride, tag=f"{tag}a"), filters, relu=False, tag=f"{tag}b")
            if stride != 1 or x.shape[-1] != filters:
                x = L.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{tag}_proj")(x)
                x = L.BatchNormalization(momentum=bn_momentum, name=f"{tag}_proj_bn")(x)
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
    """One architecture to train: a display ``name``, a ``spec``, whether to ``augment`` and, for the
    input-size family, its ``image_size`` (None: the notebook's)."""

    name: str
    spec: str
    augment: bool = False
    image_size: int | None = None

    @property
    def slug(self) -> str:  # a folder name
        return layout.slug(self.name)


def _blocks(*maps: int, extra: str = "", block: str = "[{0}C3-P2{1}]") -> str:
    return "-".join(block.format(m, extra) for m in maps)


_ADV, _ADV_BN = "[{0}C3-{0}C5S2]", "[{0}C3-BN-{0}C5S2-BN]"
FAMILIES: dict[str, list[Variant]] = {
    "depth": [Variant(f"(C-P)x{len(maps)}", _blocks(*maps) + "-512-D3")
              for maps in ((32, 64), (32, 64, 128), (32, 64, 128, 256))],
    "feature_maps": [Variant(f"{n} maps", _blocks(n, 2 * n, 4 * n) + "-256-D3") for n in (8, 16, 32, 64)],
    "dense": [Variant("0 (no dense)", _blocks(32, 64, 128) + "-F-D3")]
    + [Variant(f"{d} units", _blocks(32, 64, 128) + f"-{d}-D3") for d in (32, 128, 512)],
    "dropout": [Variant(f"dropout 0.{r}", _blocks(32, 64, 128, extra=f"-D{r}") + f"-128-D{r}") for r in range(0, 9, 2)],
    "advanced": [Variant("P2 (baseline)", _blocks(32, 64, 128) + "-128-D4"),
                 Variant("C5S2 instead of P2", _blocks(32, 64, 128, block=_ADV) + "-128-D4"),
                 Variant("C5S2 + batch norm", _blocks(32, 64, 128, block=_ADV_BN) + "-128-BN-D4"),
                 Variant("C5S2 + BN + augmentation", _blocks(32, 64, 128, block=_ADV_BN) + "-128-BN-D4", True)],
}


INPUT_SIZE_SPEC = _blocks(32, 64, 128) + "-128-D3"


def input_size_variants(sizes=(16, 24, 32, 48), spec: str = INPUT_SIZE_SPEC) -> list[Variant]:
    """The input-size family: one ``spec`` on the same images resized to each of ``sizes`` pixels (the
    reference study's input-shape experiment); every size must leave at least 1 x 1 after the spec's pooling."""
    out = []
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 8:
            raise ValueError(f"input sizes must be integers >= 8 (pixels), got {size!r} in {list(sizes)!r}")
        spec_output_shape(spec, (int(size), int(size), 3))
        out.append(Variant(f"{int(size)} px", spec, image_size=int(size)))
    return out


def family_variants(family: str, names: list[str] | None = None, input_sizes=(16, 24, 32, 48)) -> list[Variant]:
    """The variants of ``family`` (optionally only those whose name is in ``names``); ``input_size`` is
    :func:`input_size_variants` of ``input_sizes``."""
    if family not in FAMILIES and family != "input_size":
        raise ValueError(f"unknown family {family!r}; expected one of {', '.join([*FAMILIES, 'input_size'])} "
                         "(or put your own specs in custom_specs)")
    variants = input_size_variants(input_sizes) if family == "input_size" else FAMILIES[family]
    if unknown := sorted(set(names or []) - {v.name for v in variants}):
        raise ValueError(f"family {family!r} has no variant(s) {unknown}; it has {[v.name for v in variants]}")
    return [v for v in variants if names is None or v.name in names]


def custom_variants(specs: list[str] | None) -> list[Variant]:
    """Variants from a student's spec strings (each parsed, so a typo fails here); ``+aug`` at the end
    of a spec trains it with data augmentation."""
    out = []
    for spec in (s.strip() for s in specs or []):
        augment = spec.lower().endswith("+aug")
        out.append(Variant(spec, spec[: -len("+aug")].strip() if augment else spec, augment))
        parse_spec(out[-1].spec)
    return out
