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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

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
    "train_variant",
    "run_family",
    "family_table",
    "family_curves",
    "load_image_splits",
    "save_family_report",
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
        return re.sub(r"[^A-Za-z0-9_-]+", "_", self.name).strip("_") or "variant"


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


# --------------------------------------------------------------------------- training
@dataclass
class _Data:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    num_classes: int
    extra: dict = field(default_factory=dict)


def _unpack(data: dict, num_classes: int | None) -> _Data:
    for split in ("train", "val"):
        if split not in data:
            raise ValueError(f"data must have 'train' and 'val' (x, y) pairs; it has {sorted(data)}")
    (xt, yt), (xv, yv) = data["train"], data["val"]
    n = int(num_classes) if num_classes else int(max(np.max(yt), np.max(yv))) + 1
    return _Data(np.asarray(xt), np.asarray(yt), np.asarray(xv), np.asarray(yv), n)


def train_variant(run, relpath: str, variant: Variant, data: dict, seed: int, epochs: int,
                  batch_size: int = 32, learning_rate: float = 1e-3, lr_schedule: str = "exponential",
                  num_classes: int | None = None, binary: bool | None = None, family: str = "",
                  strategy="auto") -> dict:
    """Train one (variant, seed) into ``run/relpath`` or load it when that unit is complete.

    Writes ``history.csv`` (epoch, loss, accuracy, val_loss, val_accuracy, lr, seconds) and
    ``summary.json`` (final-epoch train/val accuracy, best val accuracy, parameters, seconds per
    epoch; ``split`` and ``averaging`` say what the numbers are), then marks the folder complete.

    ``strategy`` is passed to :func:`helpers.training.fitting.get_strategy` ("auto": MirroredStrategy when
    more than one GPU is visible); the model is built inside its scope.

    Returns
    -------
    dict
        The summary.
    """
    import pandas as pd

    from helpers import env
    from helpers.training import imbalance
    from helpers.training.fitting import EpochTimer, get_strategy

    if run.is_complete(relpath):
        return run.read_json(f"{relpath}/summary.json")
    d = _unpack(data, num_classes)
    env.seed_everything(int(seed))
    with get_strategy(strategy).scope():
        model = build_cnn(variant.spec, d.x_train.shape[1:], d.num_classes, augment=variant.augment,
                          binary=binary, learning_rate=learning_rate, seed=int(seed), name=variant.slug)
    timer = EpochTimer()
    callbacks = [timer]
    lr_cb = imbalance.lr_callback(lr_schedule, learning_rate, epochs)
    if lr_cb is not None:
        callbacks.append(lr_cb)
    hist = model.fit(d.x_train, d.y_train, validation_data=(d.x_val, d.y_val), epochs=int(epochs),
                     batch_size=int(batch_size), verbose=0, callbacks=callbacks, shuffle=True)
    history = pd.DataFrame(hist.history)
    history.insert(0, "epoch", np.arange(1, len(history) + 1))
    if "learning_rate" in history:
        history = history.rename(columns={"learning_rate": "lr"})
    else:
        history["lr"] = [imbalance.lr_schedule(lr_schedule, learning_rate, epochs)(e) for e in range(len(history))]
    history["seconds"] = timer.seconds
    first = ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds"]
    history = history[first + [c for c in history.columns if c not in first]]
    run.write_csv(f"{relpath}/history.csv", history)
    steady = timer.seconds[1:] or timer.seconds  # the first epoch includes tracing
    summary = {
        "family": family, "variant": variant.name, "spec": variant.spec, "augment": variant.augment,
        "seed": int(seed), "epochs": int(epochs), "params": int(model.count_params()),
        "train_accuracy": float(history["accuracy"].iloc[-1]),
        "val_accuracy": float(history["val_accuracy"].iloc[-1]),
        "val_accuracy_best": float(history["val_accuracy"].max()),
        "seconds_per_epoch": float(np.mean(steady)),
        "lr_schedule": lr_schedule, "learning_rate": float(learning_rate),
        "split": "train (running mean over the last epoch, training mode) / val",
        "averaging": "accuracy over samples; final epoch (val_accuracy_best: best epoch)",
    }
    run.write_json(f"{relpath}/summary.json", summary)
    run.mark_complete(relpath, val_accuracy=summary["val_accuracy"])
    return summary


def run_family(run, family: str, variants: list[Variant], data: dict, seeds: list[int], epochs: int,
               batch_size: int = 32, learning_rate: float = 1e-3, lr_schedule: str = "exponential",
               num_classes: int | None = None, binary: bool | None = None, root: str = "cnn_architecture",
               progress: bool = True, strategy="auto"):
    """Train every (variant, seed) of a family (resuming finished units) and save the results.

    Artifacts: ``<root>/<family>/<variant>/seed<k>/{history.csv, summary.json}`` and
    ``<root>/<family>/results.csv`` (one row per variant and seed).

    Returns
    -------
    pandas.DataFrame
        One row per (variant, seed): the summaries.
    """
    import pandas as pd

    from helpers.env import progress_bar as tqdm  # text bar when ipywidgets is missing (no TqdmWarning)

    if not variants:
        raise ValueError(f"family {family!r} has no variants to train")
    if not seeds:
        raise ValueError("seeds must list at least one seed")
    jobs = [(v, s) for v in variants for s in seeds]
    rows = []
    for variant, seed in tqdm(jobs, desc=family, disable=not progress, leave=False):
        rel = f"{root}/{family}/{variant.slug}/seed{seed}"
        rows.append(train_variant(run, rel, variant, data, seed, epochs, batch_size, learning_rate,
                                  lr_schedule, num_classes, binary, family=family, strategy=strategy))
    results = pd.DataFrame(rows)
    run.write_csv(f"{root}/{family}/results.csv", results)
    return results


def family_table(results, digits: int = 3):
    """One row per variant: val accuracy mean ± SD over seeds, train accuracy, parameters, s/epoch.

    Parameters
    ----------
    results : DataFrame
        From :func:`run_family`.

    Returns
    -------
    pandas.DataFrame
        Columns variant, spec, params, ``val accuracy`` (mean ± SD, final epoch), ``best val
        accuracy``, ``train accuracy``, ``s/epoch``, ``seeds``, plus the numeric
        ``val_accuracy_mean``/``val_accuracy_sd`` columns.
    """
    import pandas as pd

    from helpers.evaluation.metrics import format_mean_sd, summarize_mean_sd

    metrics = ["val_accuracy", "val_accuracy_best", "train_accuracy", "seconds_per_epoch"]
    summary = summarize_mean_sd(results, "variant", metrics)
    first = results.drop_duplicates("variant").set_index("variant")
    table = pd.DataFrame({
        "variant": summary["variant"],
        "spec": [first.loc[v, "spec"] + (" +aug" if first.loc[v, "augment"] else "") for v in summary["variant"]],
        "params": [int(first.loc[v, "params"]) for v in summary["variant"]],
        "val accuracy": [format_mean_sd(m, s, digits) for m, s in
                         zip(summary["val_accuracy_mean"], summary["val_accuracy_sd"])],
        "best val accuracy": [format_mean_sd(m, s, digits) for m, s in
                              zip(summary["val_accuracy_best_mean"], summary["val_accuracy_best_sd"])],
        "train accuracy": summary["train_accuracy_mean"].round(digits),
        "s/epoch": summary["seconds_per_epoch_mean"].round(2),
        "seeds": summary["n"],
        "val_accuracy_mean": summary["val_accuracy_mean"],
        "val_accuracy_sd": summary["val_accuracy_sd"],
    })
    return table


def family_curves(run, family: str, variants: list[Variant], seeds: list[int], metric: str = "val_accuracy",
                  root: str = "cnn_architecture") -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-epoch ``metric`` averaged over seeds, one curve per variant, and the SD bands.

    Returns
    -------
    (curves, bands) : two dicts ``variant name -> array over epochs`` for ``plots.plot_curves``.
    """
    curves, bands = {}, {}
    for variant in variants:
        per_seed = []
        for seed in seeds:
            path = Path(run.path) / root / family / variant.slug / f"seed{seed}" / "history.csv"
            frame = run.read_csv(path.relative_to(run.path))
            if metric not in frame:
                raise ValueError(f"{path} has no column {metric!r}; it has {list(frame.columns)}")
            per_seed.append(frame[metric].to_numpy(dtype=float))
        length = min(len(v) for v in per_seed)
        stacked = np.stack([v[:length] for v in per_seed])
        curves[variant.name] = stacked.mean(axis=0)
        bands[variant.name] = stacked.std(axis=0, ddof=1) if len(per_seed) > 1 else np.zeros(length)
    return curves, bands


# --------------------------------------------------------------------------- notebook glue
def load_image_splits(data_dir=None, image_size: int = 32, n_per_class: int = 60, max_per_class: int | None = None,
                      test_size: float = 0.3, val_size: float = 0.3, seed: int = 0,
                      class_subset: list[str] | None = None):
    """Load an image folder (None = the embedded bananas) and split it train/val/test.

    Uses :mod:`helpers.data.images` (validating loader, stratified duplicate-aware split).

    Parameters
    ----------
    data_dir : path or None
        A folder with one sub-folder per class; None generates/reuses the embedded bananas with
        ``n_per_class`` images per class.
    image_size : int
    n_per_class : int
        Only for the embedded data.
    max_per_class : int, optional
    test_size, val_size : float
    seed : int
        Seed of the split.
    class_subset : list of str, optional
        Keep only these classes (relabelled 0..k-1 in the given order); two names give the binary case.

    Returns
    -------
    (splits, class_names, folder)
        ``{"train": (x, y), "val": ..., "test": ...}``, the class names, and the loaded ImageFolder.
    """
    from helpers.data import images

    source = data_dir or images.embedded_banana_dir(n_per_class=int(n_per_class), image_size=max(96, int(image_size)))
    folder = images.load_image_folder(source, image_size=image_size, max_per_class=max_per_class)
    class_names = list(folder.class_names)
    if class_subset:
        missing = [c for c in class_subset if c not in class_names]
        if missing or len(class_subset) < 2:
            raise ValueError(f"class_subset must name at least two classes of {class_names}; got {class_subset} "
                             f"(unknown: {missing})")
        old = np.array([class_names.index(c) for c in class_subset])
        keep = np.isin(folder.labels, old)
        remap = {int(o): i for i, o in enumerate(old)}
        folder.images, folder.groups = folder.images[keep], folder.groups[keep]
        folder.labels = np.array([remap[int(v)] for v in folder.labels[keep]], dtype=np.int64)
        folder.paths = [p for p, k in zip(folder.paths, keep) if k]
        folder.class_names = class_names = list(class_subset)
    splits = images.split_dataset(folder, test_size=test_size, val_size=val_size, seed=seed)
    return splits, class_names, folder


def save_family_report(run, family: str, variants: list[Variant], results, seeds: list[int],
                       root: str = "cnn_architecture"):
    """Write ``<root>/<family>/table.csv`` and ``val_accuracy.png`` (one line per variant, ±SD band).

    Returns
    -------
    (table, figure)
    """
    from helpers import plots

    table = family_table(results)
    run.write_csv(f"{root}/{family}/table.csv",
                  table.assign(split="val", averaging=f"final epoch; mean ± SD over {len(seeds)} seed(s)"))
    curves, bands = family_curves(run, family, variants, seeds, root=root)
    fig = plots.plot_curves(curves, "validation accuracy", title=f"{family}: validation accuracy per epoch "
                            f"(mean over {len(seeds)} seed(s))", bands=bands if len(seeds) > 1 else None)
    run.save_figure(f"{root}/{family}/val_accuracy.png", fig)
    return table, fig
