"""Techniques for training on a long-tailed (imbalanced) image dataset.

* Class weights: inverse frequency, and the *effective number of samples* of Cui et al. (2019).
* Label smoothing (Szegedy et al. 2016) baked into the labels, or applied inside the loss.
* Learning-rate schedules: step decay, polynomial decay (power 2.5 in the reference log) and the
  exponential "annealer" of the CNN-architecture study; a Keras callback for each.
* Image preprocessing: CLAHE (Zuiderveld 1994, OpenCV) and grey-world white balance.

All functions are plain NumPy/Keras code with no work at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "class_counts",
    "frequency_class_weights",
    "effective_number_class_weights",
    "class_weights",
    "class_weight_dict",
    "smooth_labels",
    "smoothed_crossentropy",
    "step_decay",
    "polynomial_decay",
    "exponential_decay",
    "lr_schedule",
    "lr_callback",
    "LR_SCHEDULES",
    "clahe",
    "grey_world_white_balance",
    "clahe_white_balance",
    "PREPROCESSING",
    "preprocess_images",
    "ABLATION_VARIANTS",
    "ablation_config",
    "train_ablation_variant",
    "run_ablation",
    "ablation_table",
    "per_class_f1",
]


# --------------------------------------------------------------------------- class weights
def class_counts(labels: Sequence[int], num_classes: int | None = None) -> np.ndarray:
    """Number of samples per class.

    Parameters
    ----------
    labels : sequence of int
        Class indices 0 .. num_classes-1.
    num_classes : int, optional
        Total number of classes (default: ``max(labels) + 1``); classes with no sample count 0.

    Returns
    -------
    numpy.ndarray of int, shape (num_classes,)
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be a 1-D array of class indices, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError("labels must be non-negative integer class indices")
    n = int(num_classes) if num_classes is not None else (int(labels.max()) + 1 if labels.size else 0)
    if labels.size and labels.max() >= n:
        raise ValueError(f"labels contain class {int(labels.max())} but num_classes is {n}")
    return np.bincount(labels, minlength=n).astype(int)


def _check_counts(counts: Sequence[int], what: str) -> np.ndarray:
    counts = np.asarray(counts, dtype=float)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(f"{what}: counts must be a non-empty 1-D array, got shape {counts.shape}")
    if np.any(counts <= 0):
        empty = np.flatnonzero(counts <= 0).tolist()
        raise ValueError(f"{what}: every class needs at least one sample; class(es) {empty} have none")
    return counts


def _normalize(weights: np.ndarray, normalize: str) -> np.ndarray:
    if normalize == "sum_to_classes":  # Cui et al.: sum of the weights = number of classes
        return weights * len(weights) / weights.sum()
    if normalize == "min_one":  # the reference log's convention: rarest class max, most frequent 1.0
        return weights / weights.min()
    raise ValueError(f"normalize must be 'sum_to_classes' or 'min_one', got {normalize!r}")


def frequency_class_weights(counts: Sequence[int], normalize: str = "sum_to_classes") -> np.ndarray:
    """Class weights proportional to the inverse class frequency, ``w_c ∝ 1 / n_c``.

    Parameters
    ----------
    counts : sequence of int
        Training samples per class (all > 0).
    normalize : {"sum_to_classes", "min_one"}
        ``sum_to_classes`` scales the weights to sum to the number of classes (as Cui et al. do, so
        the two kinds of weights are comparable); ``min_one`` makes the most frequent class weigh 1
        and the rarest ``n_max / n_min`` (the convention of the reference log: 1 .. 678).

    Returns
    -------
    numpy.ndarray of float, shape (num_classes,)
    """
    counts = _check_counts(counts, "frequency_class_weights")
    return _normalize(1.0 / counts, normalize)


def effective_number_class_weights(counts: Sequence[int], beta: float = 0.999,
                                   normalize: str = "sum_to_classes") -> np.ndarray:
    """Class-balanced weights from the effective number of samples (Cui et al. 2019).

    The effective number of a class with ``n`` samples is ``E_n = (1 - beta**n) / (1 - beta)``;
    the weight is ``w_c ∝ 1 / E_{n_c}``. ``beta = 0`` gives equal weights, ``beta -> 1`` tends to
    inverse frequency.

    Parameters
    ----------
    counts : sequence of int
        Training samples per class (all > 0).
    beta : float in [0, 1)
        Hyper-parameter; Cui et al. use 0.9, 0.99, 0.999, 0.9999.
    normalize : {"sum_to_classes", "min_one"}
        See :func:`frequency_class_weights`.

    Returns
    -------
    numpy.ndarray of float, shape (num_classes,)
    """
    if isinstance(beta, bool) or not isinstance(beta, (int, float, np.floating)) or not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must be a number in [0, 1) (0 = no re-weighting, close to 1 = inverse "
                         f"frequency), got {beta!r}")
    counts = _check_counts(counts, "effective_number_class_weights")
    effective = (1.0 - np.power(float(beta), counts)) / (1.0 - float(beta))
    return _normalize(1.0 / effective, normalize)


def class_weights(counts: Sequence[int], kind: str | None, beta: float = 0.999,
                  normalize: str = "sum_to_classes") -> np.ndarray | None:
    """Weights of ``kind`` ``"frequency"`` or ``"effective"``; ``None`` gives None (no weighting)."""
    if kind is None or kind == "none":
        return None
    if kind == "frequency":
        return frequency_class_weights(counts, normalize=normalize)
    if kind == "effective":
        return effective_number_class_weights(counts, beta=beta, normalize=normalize)
    raise ValueError(f"class weight kind must be None, 'frequency' or 'effective', got {kind!r}")


def class_weight_dict(weights: Sequence[float] | None) -> dict[int, float] | None:
    """Keras' ``class_weight`` argument (``{class index: weight}``) from an array of weights."""
    if weights is None:
        return None
    return {i: float(w) for i, w in enumerate(np.asarray(weights, dtype=float))}


# --------------------------------------------------------------------------- label smoothing
def _check_smoothing(factor: float) -> float:
    if isinstance(factor, bool) or not isinstance(factor, (int, float, np.floating)) or not 0.0 <= factor < 1.0:
        raise ValueError(f"label smoothing factor must be a number in [0, 1), got {factor!r}")
    return float(factor)


def smooth_labels(labels, num_classes: int, factor: float) -> np.ndarray:
    """One-hot labels with label smoothing baked in: ``y * (1 - factor) + factor / num_classes``.

    This is "smoothing in the labels" (the reference log rewrote the stored labels); compare
    :func:`smoothed_crossentropy`, which smooths inside the loss and keeps the data unchanged.

    Parameters
    ----------
    labels : array of int (N,) or one-hot array (N, num_classes)
    num_classes : int
    factor : float in [0, 1)

    Returns
    -------
    numpy.ndarray of float32, shape (N, num_classes); rows sum to 1.
    """
    factor = _check_smoothing(factor)
    labels = np.asarray(labels)
    if labels.ndim == 1:
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"labels must be class indices in [0, {num_classes}), got {labels.min()}..{labels.max()}")
        onehot = np.eye(num_classes, dtype=np.float32)[labels.astype(int)]
    elif labels.ndim == 2 and labels.shape[1] == num_classes:
        onehot = labels.astype(np.float32)
    else:
        raise ValueError(f"labels must have shape (N,) or (N, {num_classes}), got {labels.shape}")
    return (onehot * (1.0 - factor) + factor / num_classes).astype(np.float32)


def smoothed_crossentropy(factor: float = 0.1):
    """Categorical cross-entropy with label smoothing inside the loss (labels stay one-hot)."""
    import keras

    return keras.losses.CategoricalCrossentropy(label_smoothing=_check_smoothing(factor))


# --------------------------------------------------------------------------- LR schedules
def _check_lr(initial_lr: float) -> float:
    if isinstance(initial_lr, bool) or not isinstance(initial_lr, (int, float)) or initial_lr <= 0:
        raise ValueError(f"initial_lr must be a positive number, got {initial_lr!r}")
    return float(initial_lr)


def step_decay(initial_lr: float, drop: float = 0.1, epochs_per_drop: int = 10) -> Callable[[int], float]:
    """Step decay: ``lr(epoch) = initial_lr * drop ** (epoch // epochs_per_drop)`` (epoch from 0).

    The reference log used 1e-1 -> 1e-2 -> 1e-3 -> 1e-4 steps.
    """
    initial_lr = _check_lr(initial_lr)
    if not 0 < drop <= 1:
        raise ValueError(f"drop must be in (0, 1], got {drop!r}")
    if int(epochs_per_drop) < 1:
        raise ValueError(f"epochs_per_drop must be >= 1, got {epochs_per_drop!r}")

    def schedule(epoch: int) -> float:
        return initial_lr * drop ** (int(epoch) // int(epochs_per_drop))

    return schedule


def polynomial_decay(initial_lr: float, max_epochs: int, power: float = 2.5,
                     end_lr: float = 0.0) -> Callable[[int], float]:
    """Polynomial decay: ``lr(e) = end_lr + (initial_lr - end_lr) * (1 - e / max_epochs) ** power``.

    ``power = 1`` is linear decay; the reference log used ``power = 2.5`` over 40 epochs.
    """
    initial_lr = _check_lr(initial_lr)
    if int(max_epochs) < 1:
        raise ValueError(f"max_epochs must be >= 1, got {max_epochs!r}")
    if power <= 0:
        raise ValueError(f"power must be > 0, got {power!r}")

    def schedule(epoch: int) -> float:
        frac = min(max(int(epoch), 0), int(max_epochs)) / float(max_epochs)
        return end_lr + (initial_lr - end_lr) * (1.0 - frac) ** power

    return schedule


def exponential_decay(initial_lr: float, rate: float = 0.95) -> Callable[[int], float]:
    """The "annealer" of the CNN-architecture study: ``lr(e) = initial_lr * rate ** e``."""
    initial_lr = _check_lr(initial_lr)
    if not 0 < rate <= 1:
        raise ValueError(f"rate must be in (0, 1], got {rate!r}")

    def schedule(epoch: int) -> float:
        return initial_lr * rate ** int(epoch)

    return schedule


LR_SCHEDULES = ("constant", "step", "polynomial", "exponential")


def lr_schedule(name: str, initial_lr: float, epochs: int, **options) -> Callable[[int], float]:
    """A schedule ``epoch -> learning rate`` by name.

    Parameters
    ----------
    name : {"constant", "step", "polynomial", "exponential"}
        ``step`` drops by ``drop`` (default 0.1) every ``epochs_per_drop`` epochs (default: a third of
        ``epochs``); ``polynomial`` decays to 0 over ``epochs`` with ``power`` (default 2.5);
        ``exponential`` multiplies by ``rate`` (default 0.95) each epoch.
    initial_lr : float
    epochs : int
        Length of training (used by ``step`` and ``polynomial``).
    """
    initial_lr = _check_lr(initial_lr)
    if name == "constant":
        return lambda epoch: initial_lr
    if name == "step":
        every = options.pop("epochs_per_drop", max(1, int(np.ceil(epochs / 3))))
        return step_decay(initial_lr, epochs_per_drop=every, **options)
    if name == "polynomial":
        return polynomial_decay(initial_lr, max_epochs=epochs, **options)
    if name == "exponential":
        return exponential_decay(initial_lr, **options)
    raise ValueError(f"unknown lr_schedule {name!r}; expected one of {', '.join(LR_SCHEDULES)}")


def lr_callback(name: str, initial_lr: float, epochs: int, **options):
    """A ``keras.callbacks.LearningRateScheduler`` for :func:`lr_schedule` (None for ``constant``)."""
    import keras

    schedule = lr_schedule(name, initial_lr, epochs, **options)
    if name == "constant":
        return None
    return keras.callbacks.LearningRateScheduler(lambda epoch, lr: float(schedule(epoch)), verbose=0)


# --------------------------------------------------------------------------- CLAHE / white balance
def _check_images(images) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (0..255), got dtype {images.dtype}")
    if images.ndim == 3 and images.shape[-1] == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (N, H, W, 3) or (H, W, 3), got {images.shape}")
    return images


def clahe(images, clip_limit: float = 2.0, tile_grid_size: tuple[int, int] = (8, 8)) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation (Zuiderveld 1994) on the lightness channel.

    Each RGB image is converted to CIE L*a*b* with OpenCV, ``cv2.createCLAHE`` equalises L, and the
    image is converted back, so colours (hue) are kept.

    Parameters
    ----------
    images : uint8 array (N, H, W, 3) or (H, W, 3), RGB
    clip_limit : float
        OpenCV's contrast limit (higher = stronger equalisation).
    tile_grid_size : (int, int)
        Number of tiles along height and width.

    Returns
    -------
    numpy.ndarray of uint8, same shape as ``images``.
    """
    import cv2

    single = np.asarray(images).ndim == 3
    images = _check_images(images)
    if clip_limit <= 0:
        raise ValueError(f"clip_limit must be > 0, got {clip_limit!r}")
    op = cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=tuple(int(t) for t in tile_grid_size))
    out = np.empty_like(images)
    for i, image in enumerate(images):
        lab = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2LAB)
        lab[..., 0] = op.apply(np.ascontiguousarray(lab[..., 0]))
        out[i] = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
    return out[0] if single else out


def grey_world_white_balance(images) -> np.ndarray:
    """Grey-world white balance: scale each channel so that its mean equals the image's grey mean.

    Vectorised over the whole batch (no per-pixel loops). A channel that is all zero is left as is.

    Parameters
    ----------
    images : uint8 array (N, H, W, 3) or (H, W, 3), RGB

    Returns
    -------
    numpy.ndarray of uint8, same shape as ``images``.
    """
    single = np.asarray(images).ndim == 3
    images = _check_images(images)
    x = images.astype(np.float32)
    channel_means = x.mean(axis=(1, 2), keepdims=True)  # (N, 1, 1, 3)
    grey = channel_means.mean(axis=-1, keepdims=True)
    gain = np.divide(grey, channel_means, out=np.ones_like(channel_means), where=channel_means > 0)
    out = np.clip(np.rint(x * gain), 0, 255).astype(np.uint8)
    return out[0] if single else out


def clahe_white_balance(images, clip_limit: float = 2.0, tile_grid_size: tuple[int, int] = (8, 8)) -> np.ndarray:
    """Grey-world white balance followed by CLAHE (the reference log's EXP10 preprocessing).

    The log found this helps only *without* mean subtraction; the models here rescale by 1/255.
    """
    return clahe(grey_world_white_balance(images), clip_limit=clip_limit, tile_grid_size=tile_grid_size)


PREPROCESSING = ("none", "clahe", "white_balance", "clahe_wb")


def preprocess_images(images, method: str | None) -> np.ndarray:
    """Apply a preprocessing ``method`` by name (``None``/``"none"`` returns the images unchanged)."""
    if method is None or method == "none":
        return np.asarray(images)
    if method == "clahe":
        return clahe(images)
    if method == "white_balance":
        return grey_world_white_balance(images)
    if method == "clahe_wb":
        return clahe_white_balance(images)
    raise ValueError(f"unknown preprocessing {method!r}; expected one of {', '.join(PREPROCESSING)}")


# --------------------------------------------------------------------------- ablation (notebook 08)
#: Each variant is the baseline plus ONE technique, so its row in the table shows that technique's effect.
ABLATION_VARIANTS: dict[str, dict] = {
    "baseline": {},
    "+frequency weights": {"class_weights": "frequency"},
    "+effective-number weights": {"class_weights": "effective"},
    "+label smoothing (labels)": {"smoothing_labels": True},
    "+label smoothing (loss)": {"smoothing_loss": True},
    "+LR step decay": {"lr_schedule": "step"},
    "+LR polynomial decay": {"lr_schedule": "polynomial"},
    "+CLAHE/WB": {"preprocess": "clahe_wb"},
}

_ABLATION_DEFAULTS = {"class_weights": None, "smoothing_labels": False, "smoothing_loss": False,
                      "lr_schedule": "constant", "preprocess": None}


def ablation_config(name: str) -> dict:
    """The full settings of an ablation variant (the baseline's values plus the variant's change)."""
    if name not in ABLATION_VARIANTS:
        raise ValueError(f"unknown ablation variant {name!r}; expected some of {list(ABLATION_VARIANTS)}")
    return {**_ABLATION_DEFAULTS, **ABLATION_VARIANTS[name]}


def _slug(name: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_") or "variant"


def train_ablation_variant(run, relpath: str, variant: str, hdf5_path, seed: int, epochs: int,
                           batch_size: int = 32, learning_rate: float = 1e-3, beta: float = 0.999,
                           smoothing: float = 0.1, polynomial_power: float = 2.5, tail_fraction: float = 1 / 3,
                           blocks_per_stage: int = 1, base_filters: int = 16, strategy="auto") -> dict:
    """Train the small ResNet with one ablation ``variant`` on the HDF5 long-tailed data.

    Training streams the ``train`` split from the HDF5 file (:func:`helpers.data.longtail.hdf5_dataset`),
    validation uses ``val``, the reported metrics use ``test``. A unit that is complete is loaded.

    Writes ``history.csv``, ``metrics.json`` (test accuracy, macro-F1, tail recall, with ``split`` and
    ``averaging``) and ``per_class.csv`` (train count, precision, recall, F1 per class), then marks
    ``relpath`` complete.

    Returns
    -------
    dict
        The metrics.
    """
    import keras
    import pandas as pd

    from helpers import env
    from helpers.data import longtail
    from helpers.evaluation import metrics as evaluation
    from helpers.training.architecture import build_resnet
    from helpers.training.fitting import EpochTimer, get_strategy

    config = ablation_config(variant)
    if run.is_complete(relpath):
        return run.read_json(f"{relpath}/metrics.json")
    class_names = longtail.hdf5_class_names(hdf5_path)
    k = len(class_names)
    _, y_train = longtail.read_hdf5(hdf5_path, "train")
    counts = class_counts(y_train, k)
    x_test, y_test = longtail.read_hdf5(hdf5_path, "test")
    pre = (lambda x: preprocess_images(x, config["preprocess"])) if config["preprocess"] else None
    eps_labels = smoothing if config["smoothing_labels"] else 0.0
    train = longtail.hdf5_dataset(hdf5_path, "train", batch_size, shuffle=True, seed=seed, preprocess=pre,
                                  num_classes=k, label_smoothing=eps_labels)
    val = longtail.hdf5_dataset(hdf5_path, "val", batch_size, preprocess=pre, num_classes=k)
    env.seed_everything(int(seed))
    with get_strategy(strategy).scope():
        model = build_resnet(x_test.shape[1:], k, blocks_per_stage=blocks_per_stage, base_filters=base_filters)
        loss = keras.losses.CategoricalCrossentropy(label_smoothing=smoothing if config["smoothing_loss"] else 0.0)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=["accuracy"])
    weights = class_weights(counts, config["class_weights"], beta=beta)
    timer = EpochTimer()
    options = {"power": polynomial_power} if config["lr_schedule"] == "polynomial" else {}
    callbacks = [timer] + [cb for cb in [lr_callback(config["lr_schedule"], learning_rate, epochs, **options)] if cb]
    hist = model.fit(train, validation_data=val, epochs=int(epochs), verbose=0, callbacks=callbacks,
                     class_weight=class_weight_dict(weights), shuffle=False)  # the stream shuffles itself
    history = pd.DataFrame(hist.history).rename(columns={"learning_rate": "lr"})
    history.insert(0, "epoch", np.arange(1, len(history) + 1))
    history["seconds"] = timer.seconds
    run.write_csv(f"{relpath}/history.csv", history)

    x_eval = pre(x_test) if pre else x_test
    y_pred = model.predict(x_eval, batch_size=64, verbose=0).argmax(axis=-1)
    m = evaluation.classification_metrics(y_test, y_pred, class_names)
    tail = longtail.tail_classes(counts, tail_fraction)
    recalls = np.array([m["per_class"][class_names[c]]["recall"] for c in range(k)])
    metrics = {
        "variant": variant, "seed": int(seed), "epochs": int(epochs),
        "accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "tail_recall": float(recalls[tail].mean()),
        "balanced_accuracy": m["balanced_accuracy"],
        "tail_classes": [class_names[c] for c in tail],
        "split": "test",
        "averaging": "accuracy: over samples; macro_f1: unweighted mean over classes; "
                     "tail_recall: unweighted mean recall over the tail classes",
        "config": config, "beta": beta, "smoothing": smoothing, "learning_rate": learning_rate,
        "class_weights": None if weights is None else weights.round(4).tolist(),
        "seconds_per_epoch": float(np.mean(timer.seconds[1:] or timer.seconds)),
    }
    per_class = pd.DataFrame([{"class": name, "train_count": int(counts[c]), **m["per_class"][name]}
                              for c, name in enumerate(class_names)])
    per_class["split"], per_class["averaging"] = "test", "per class"
    run.write_csv(f"{relpath}/per_class.csv", per_class)
    run.write_json(f"{relpath}/metrics.json", metrics)
    run.mark_complete(relpath, macro_f1=metrics["macro_f1"])
    return metrics


def run_ablation(run, variants: Sequence[str], hdf5_path, seeds: Sequence[int], epochs: int,
                 root: str = "imbalanced", progress: bool = True, **options):
    """Train every (variant, seed) with :func:`train_ablation_variant`, resuming finished units.

    Artifacts: ``<root>/<variant>/seed<k>/...`` and ``<root>/results.csv`` (one row per variant and
    seed; columns ``split`` = test and ``averaging``). ``options`` go to :func:`train_ablation_variant`.

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    from helpers.env import progress_bar as tqdm  # text bar when ipywidgets is missing (no TqdmWarning)

    for name in variants:
        ablation_config(name)  # unknown names fail before any training
    if not seeds:
        raise ValueError("seeds must list at least one seed")
    jobs = [(v, s) for v in variants for s in seeds]
    rows = []
    for variant, seed in tqdm(jobs, desc="ablation", disable=not progress, leave=False):
        metrics = train_ablation_variant(run, f"{root}/{_slug(variant)}/seed{seed}", variant, hdf5_path,
                                         seed, epochs, **options)
        rows.append({k: metrics[k] for k in ("variant", "seed", "accuracy", "macro_f1", "tail_recall",
                                             "balanced_accuracy", "seconds_per_epoch", "split", "averaging")})
    results = pd.DataFrame(rows)
    run.write_csv(f"{root}/results.csv", results)
    return results


def ablation_table(results, digits: int = 3):
    """Mean ± SD over seeds of test accuracy, macro-F1 and tail recall, one row per variant."""
    import pandas as pd

    from helpers.evaluation.metrics import format_mean_sd, summarize_mean_sd

    metrics = ["accuracy", "macro_f1", "tail_recall"]
    s = summarize_mean_sd(results, "variant", metrics)
    table = pd.DataFrame({"variant": s["variant"]})
    for m in metrics:
        table[f"test {m.replace('_', ' ')}"] = [format_mean_sd(a, b, digits) for a, b in zip(s[f"{m}_mean"], s[f"{m}_sd"])]
    table["seeds"] = s["n"]
    for m in metrics:
        table[f"{m}_mean"] = s[f"{m}_mean"]
    return table


def per_class_f1(run, variants: Sequence[str], seeds: Sequence[int], root: str = "imbalanced"):
    """Test F1 per class (mean over seeds), classes sorted from most to least frequent in training.

    Returns
    -------
    pandas.DataFrame
        Index = class (head first), columns ``train_count`` and one column per variant.
    """
    import pandas as pd

    frames = []
    for variant in variants:
        for seed in seeds:
            frame = run.read_csv(f"{root}/{_slug(variant)}/seed{seed}/per_class.csv")
            frames.append(frame.assign(variant=variant, seed=seed))
    allf = pd.concat(frames)
    table = allf.pivot_table(index=["class", "train_count"], columns="variant", values="f1", aggfunc="mean")
    table = table.reset_index().sort_values(["train_count", "class"], ascending=[False, True]).set_index("class")
    return table[["train_count"] + [v for v in variants]]
