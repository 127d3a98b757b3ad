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
import pandas as pd

from helpers import env, layout
from helpers.data import longtail
from helpers.data.enhancement import (
    PREPROCESSING,
    clahe,
    clahe_white_balance,
    grey_world_white_balance,
    preprocess_images,
)
from helpers.evaluation.metrics import classification_metrics
from helpers.training.experiments import Unit, fingerprint, history_frame, mean_sd_table, run_units
from helpers.training.fitting import EpochTimer, get_strategy, mean_epoch_seconds

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


def run_ablation(run, variants: Sequence[str], hdf5_path, seeds: Sequence[int], epochs: int, build_model: Callable,
                 *, batch_size: int = 32, learning_rate: float = 1e-3, beta: float = 0.999, smoothing: float = 0.1,
                 polynomial_power: float = 2.5, tail_fraction: float = 1 / 3, strategy="auto",
                 progress: bool = True) -> pd.DataFrame:
    """Train every (ablation row, seed) on the HDF5 long-tailed data with the notebook's ``build_model``.

    ``build_model(config, input_shape, num_classes, seed)`` returns the compiled network for one row
    (``config`` = :func:`ablation_config`: the notebook decides the loss, e.g. smoothing in the loss).
    This function applies the rest of the row: class weights, smoothing baked into the labels, the
    LR schedule (starting at ``learning_rate``) and the preprocessing. Training streams ``train``
    from the file, validation uses ``val``, the metrics use ``test``. Every unit goes through
    :func:`helpers.training.experiments.run_units` (digest: row, seed, settings, data, the function).

    Artifacts per unit ``imbalanced/<row>/seed<k>/``: ``history.csv``, ``per_class.csv``,
    ``metrics.json`` (test accuracy, macro-F1, tail recall, class weights; ``split``, ``averaging``),
    ``result.json``; and ``imbalanced/results.csv`` (one row per row and seed).
    """
    configs = {name: ablation_config(name) for name in variants}  # unknown names fail before any training
    if not seeds:
        raise ValueError("seeds must list at least one seed")
    class_names = longtail.hdf5_class_names(hdf5_path)
    k = len(class_names)
    splits = {name: longtail.read_hdf5(hdf5_path, name) for name in ("train", "val", "test")}
    counts = class_counts(splits["train"][1], k)
    tail = longtail.tail_classes(counts, tail_fraction)
    settings = {"epochs": int(epochs), "batch_size": int(batch_size), "learning_rate": float(learning_rate),
                "beta": float(beta), "smoothing": float(smoothing), "polynomial_power": float(polynomial_power),
                "tail_fraction": float(tail_fraction)}
    data_digest = fingerprint({**splits, "class_names": class_names})
    units = [Unit(layout.ablation_unit(name, seed),
                  inputs={"config": configs[name], "seed": int(seed), **settings, "build_model": build_model,
                          "data": data_digest},
                  labels={"variant": name, "seed": int(seed)}) for name in variants for seed in seeds]

    def train(unit: Unit) -> dict:
        config, seed = unit.inputs["config"], unit.inputs["seed"]
        pre = (lambda x: preprocess_images(x, config["preprocess"])) if config["preprocess"] else None
        train_ds = longtail.hdf5_dataset(hdf5_path, "train", batch_size, shuffle=True, seed=seed, preprocess=pre,
                                         num_classes=k, label_smoothing=smoothing if config["smoothing_labels"] else 0.0)
        val_ds = longtail.hdf5_dataset(hdf5_path, "val", batch_size, preprocess=pre, num_classes=k)
        env.seed_everything(seed)
        with get_strategy(strategy).scope():
            model = build_model(config, splits["test"][0].shape[1:], k, seed)
        weights = class_weights(counts, config["class_weights"], beta=beta)
        timer = EpochTimer()
        options = {"power": polynomial_power} if config["lr_schedule"] == "polynomial" else {}
        schedule = lr_callback(config["lr_schedule"], learning_rate, epochs, **options)
        fitted = model.fit(train_ds, validation_data=val_ds, epochs=int(epochs), verbose=0,
                           callbacks=[timer] + ([schedule] if schedule else []),
                           class_weight=class_weight_dict(weights), shuffle=False)  # the stream shuffles itself
        history = history_frame(fitted, timer.seconds)
        run.write_csv(f"{unit.folder}/{layout.HISTORY}", history)
        x_test, y_test = splits["test"]
        y_pred = model.predict(pre(x_test) if pre else x_test, batch_size=64, verbose=0).argmax(axis=-1)
        m = classification_metrics(y_test, y_pred, class_names)
        recalls = np.array([m["per_class"][class_names[c]]["recall"] for c in range(k)])
        per_class = pd.DataFrame([{"class": name, "train_count": int(counts[c]), **m["per_class"][name]}
                                  for c, name in enumerate(class_names)]).assign(split="test", averaging="per class")
        run.write_csv(f"{unit.folder}/{layout.PER_CLASS}", per_class)
        row = {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "tail_recall": float(recalls[tail].mean()),
               "balanced_accuracy": m["balanced_accuracy"], "mean_epoch_seconds": mean_epoch_seconds(history),
               "split": "test", "averaging": "accuracy: over samples; macro_f1: unweighted mean over classes; "
                                             "tail_recall: unweighted mean recall over the tail classes"}
        run.write_json(f"{unit.folder}/{layout.METRICS}", {
            **row, "variant": unit.labels["variant"], "seed": seed, "epochs": int(epochs), "config": config,
            "tail_classes": [class_names[c] for c in tail], "beta": beta, "smoothing": smoothing,
            "learning_rate": learning_rate, "class_weights": None if weights is None else weights.round(4).tolist()})
        return row

    results = run_units(run, units, train, desc="ablation", progress=progress)
    run.write_csv(f"{layout.IMBALANCED}/results.csv", results)
    return results


def ablation_table(results: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Mean ± SD over seeds of test accuracy, macro-F1 and tail recall, one row per ablation row
    (numeric ``<metric>_mean``/``_sd``/``_n`` columns kept for sorting and verdicts)."""
    return mean_sd_table(results, "variant", {"accuracy": "test accuracy", "macro_f1": "test macro f1",
                                              "tail_recall": "test tail recall"}, digits=digits)


def per_class_f1(run, variants: Sequence[str], seeds: Sequence[int]) -> pd.DataFrame:
    """Test F1 per class (mean over seeds), classes from most to least frequent in training: index =
    class, columns ``train_count`` and one column per ablation row."""
    frames = [run.read_csv(f"{layout.ablation_unit(v, s)}/{layout.PER_CLASS}").assign(variant=v, seed=s)
              for v in variants for s in seeds]
    table = pd.concat(frames).pivot_table(index=["class", "train_count"], columns="variant", values="f1", aggfunc="mean")
    table = table.reset_index().sort_values(["train_count", "class"], ascending=[False, True]).set_index("class")
    return table[["train_count"] + list(variants)]
