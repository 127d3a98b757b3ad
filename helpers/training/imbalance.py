"""Training on a long-tailed image dataset (notebook 08): class weights (inverse frequency; effective number of
samples, Cui et al. 2019), label smoothing in the labels or the loss (Szegedy et al. 2016), LR schedules, and the
ablation training the notebook's network once per technique (CLAHE/white balance: :mod:`helpers.data.enhancement`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from helpers import env, layout
from helpers.data import longtail
from helpers.data.enhancement import preprocess_images
from helpers.evaluation.metrics import classification_metrics
from helpers.training.experiments import Unit, fingerprint, mean_sd_table, run_units
from helpers.training.fitting import fit_model, get_strategy, mean_epoch_seconds

__all__ = ["class_counts", "frequency_class_weights", "effective_number_class_weights", "class_weights",
           "class_weight_dict", "smooth_labels", "smoothed_crossentropy", "step_decay", "polynomial_decay",
           "exponential_decay", "lr_schedule", "lr_callback", "LR_SCHEDULES", "ABLATION_VARIANTS", "ablation_config", "smoothing_variant",
           "run_ablation", "ablation_table", "per_class_f1"]


def _number(value, low: float, high: float, what: str) -> float:
    """``value`` as a float in [low, high), else a ValueError saying ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not low <= value < high:
        raise ValueError(f"{what}, got {value!r}")
    return float(value)


# --------------------------------------------------------------------------- class weights
def class_counts(labels: Sequence[int], num_classes: int | None = None) -> np.ndarray:
    """Samples per class index (``num_classes`` defaults to ``max(labels) + 1``; empty classes count 0)."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be a 1-D array of class indices, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError("labels must be non-negative integer class indices")
    n = int(num_classes) if num_classes is not None else (int(labels.max()) + 1 if labels.size else 0)
    if labels.size and labels.max() >= n:
        raise ValueError(f"labels contain class {int(labels.max())} but num_classes is {n}")
    return np.bincount(labels, minlength=n).astype(int)


def _weights(counts: Sequence[int], what: str, normalize: str, inverse: Callable) -> np.ndarray:
    """``inverse(counts)`` normalised as ``normalize`` says, after checking ``counts`` (errors name ``what``)."""
    counts = np.asarray(counts, dtype=float)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(f"{what}: counts must be a non-empty 1-D array, got shape {counts.shape}")
    if np.any(counts <= 0):
        raise ValueError(f"{what}: every class needs at least one sample; class(es) "
                         f"{np.flatnonzero(counts <= 0).tolist()} have none")
    inverse = inverse(counts)
    if normalize == "sum_to_classes":  # Cui et al.: the weights sum to the number of classes
        return inverse * len(inverse) / inverse.sum()
    if normalize == "min_one":  # the reference log: the most frequent class 1, the rarest n_max / n_min
        return inverse / inverse.min()
    raise ValueError(f"normalize must be 'sum_to_classes' or 'min_one', got {normalize!r}")


def frequency_class_weights(counts: Sequence[int], normalize: str = "sum_to_classes") -> np.ndarray:
    """Weights ``w_c ∝ 1 / n_c`` (counts > 0), normalised to ``sum_to_classes`` (comparable with the effective
    number weights) or ``min_one`` (most frequent class 1, the rarest ``n_max / n_min``: the log's 1 .. 678)."""
    return _weights(counts, "frequency_class_weights", normalize, lambda n: 1.0 / n)


def effective_number_class_weights(counts: Sequence[int], beta: float = 0.999,
                                   normalize: str = "sum_to_classes") -> np.ndarray:
    """Weights ``w_c ∝ 1 / E_{n_c}``, ``E_n = (1 - beta**n) / (1 - beta)`` (Cui et al. 2019; beta 0: equal
    weights, close to 1: inverse frequency); ``normalize`` as in :func:`frequency_class_weights`."""
    beta = _number(beta, 0.0, 1.0, "beta must be a number in [0, 1) (0 = no re-weighting, close to 1 = inverse "
                                   "frequency)")
    return _weights(counts, "effective_number_class_weights", normalize,
                    lambda n: (1.0 - beta) / (1.0 - np.power(beta, n)))


def class_weights(counts: Sequence[int], kind: str | None, beta: float = 0.999,
                  normalize: str = "sum_to_classes") -> np.ndarray | None:
    """Weights of ``kind`` ``"frequency"`` or ``"effective"``; None (or ``"none"``) gives None."""
    if kind is None or kind == "none":
        return None
    if kind not in ("frequency", "effective"):
        raise ValueError(f"class weight kind must be None, 'frequency' or 'effective', got {kind!r}")
    return (frequency_class_weights(counts, normalize=normalize) if kind == "frequency"
            else effective_number_class_weights(counts, beta=beta, normalize=normalize))


def class_weight_dict(weights: Sequence[float] | None) -> dict[int, float] | None:
    """Keras' ``class_weight`` argument (``{class index: weight}``) from an array of weights."""
    return None if weights is None else {i: float(w) for i, w in enumerate(np.asarray(weights, dtype=float))}


# --------------------------------------------------------------------------- label smoothing
def smooth_labels(labels, num_classes: int, factor: float) -> np.ndarray:
    """One-hot labels (from indices (N,) or one-hot (N, K)) with smoothing baked in:
    ``y * (1 - factor) + factor / num_classes`` (float32, rows sum to 1). Compare :func:`smoothed_crossentropy`."""
    factor = _number(factor, 0.0, 1.0, "label smoothing factor must be a number in [0, 1)")
    labels = np.asarray(labels)
    if labels.ndim == 1:
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"labels must be class indices in [0, {num_classes}), got {labels.min()}..{labels.max()}")
        labels = np.eye(num_classes, dtype=np.float32)[labels.astype(int)]
    elif labels.ndim != 2 or labels.shape[1] != num_classes:
        raise ValueError(f"labels must have shape (N,) or (N, {num_classes}), got {labels.shape}")
    return (labels.astype(np.float32) * (1.0 - factor) + factor / num_classes).astype(np.float32)


def smoothed_crossentropy(factor: float = 0.1):
    """Categorical cross-entropy with label smoothing inside the loss (the labels stay one-hot)."""
    import keras

    return keras.losses.CategoricalCrossentropy(
        label_smoothing=_number(factor, 0.0, 1.0, "label smoothing factor must be a number in [0, 1)"))


# --------------------------------------------------------------------------- LR schedules (epoch from 0)
def _lr(initial_lr: float) -> float:
    return _number(initial_lr, 1e-300, float("inf"), "initial_lr must be a positive number")


def step_decay(initial_lr: float, drop: float = 0.1, epochs_per_drop: int = 10) -> Callable[[int], float]:
    """``initial_lr * drop ** (epoch // epochs_per_drop)`` (the reference log's 1e-1 -> 1e-2 -> ... steps)."""
    initial_lr = _lr(initial_lr)
    if not 0 < drop <= 1 or int(epochs_per_drop) < 1:
        raise ValueError(f"drop must be in (0, 1] and epochs_per_drop >= 1, got {drop!r}, {epochs_per_drop!r}")
    return lambda epoch: initial_lr * drop ** (int(epoch) // int(epochs_per_drop))


def polynomial_decay(initial_lr: float, max_epochs: int, power: float = 2.5,
                     end_lr: float = 0.0) -> Callable[[int], float]:
    """``end_lr + (initial_lr - end_lr) * (1 - epoch / max_epochs) ** power`` (power 1: linear; the log: 2.5)."""
    initial_lr = _lr(initial_lr)
    if int(max_epochs) < 1 or power <= 0:
        raise ValueError(f"max_epochs must be >= 1 and power > 0, got {max_epochs!r}, {power!r}")
    return lambda epoch: end_lr + (initial_lr - end_lr) * (1 - min(max(int(epoch), 0), max_epochs) / max_epochs) ** power


def exponential_decay(initial_lr: float, rate: float = 0.95) -> Callable[[int], float]:
    """The CNN-architecture study's "annealer": ``initial_lr * rate ** epoch``."""
    initial_lr = _lr(initial_lr)
    if not 0 < rate <= 1:
        raise ValueError(f"rate must be in (0, 1], got {rate!r}")
    return lambda epoch: initial_lr * rate ** int(epoch)


LR_SCHEDULES = ("constant", "step", "polynomial", "exponential")


def lr_schedule(name: str, initial_lr: float, epochs: int, **options) -> Callable[[int], float]:
    """A schedule ``epoch -> learning rate`` by name: ``constant``; ``step`` (x ``drop`` = 0.1 per ``epochs_per_drop``
    epochs, default 1/3); ``polynomial`` (to 0 in ``epochs``, ``power`` 2.5); ``exponential`` (x ``rate`` = 0.95)."""
    initial_lr = _lr(initial_lr)
    if name == "constant":
        return lambda epoch: initial_lr
    if name == "step":
        return step_decay(initial_lr, **{"epochs_per_drop": max(1, int(np.ceil(epochs / 3))), **options})
    if name == "polynomial":
        return polynomial_decay(initial_lr, max_epochs=epochs, **options)
    if name == "exponential":
        return exponential_decay(initial_lr, **options)
    raise ValueError(f"unknown lr_schedule {name!r}; expected one of {', '.join(LR_SCHEDULES)}")


def lr_callback(name: str, initial_lr: float, epochs: int, **options):
    """A ``keras.callbacks.LearningRateScheduler`` for :func:`lr_schedule` (None for ``constant``)."""
    import keras

    schedule = lr_schedule(name, initial_lr, epochs, **options)  # validates ``name`` and ``initial_lr`` first
    return None if name == "constant" else keras.callbacks.LearningRateScheduler(
        lambda epoch, lr: float(schedule(epoch)), verbose=0)


# --------------------------------------------------------------------------- the ablation (notebook 08)
#: Each row is the baseline plus ONE technique, so its line in the table shows that technique's effect.
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
_BASELINE = {"class_weights": None, "smoothing_labels": False, "smoothing_loss": False, "lr_schedule": "constant",
             "preprocess": None}
_SMOOTHING_ROW = re.compile(r"^\+label smoothing \((labels|loss)\) eps=([0-9]*\.?[0-9]+)$")


def smoothing_variant(factor: float, where: str = "loss") -> str:
    """The ablation row of label smoothing ``factor`` in the ``loss`` or the ``labels``: ``+label smoothing (loss) eps=0.2``."""
    if where not in ("loss", "labels"):
        raise ValueError(f"label smoothing goes in 'loss' or 'labels', got {where!r}")
    _number(factor, 0.0, 1.0, "a label smoothing factor must be a number in [0, 1)")
    return f"+label smoothing ({where}) eps={float(factor):g}"


def ablation_config(name: str, smoothing: float = 0.1) -> dict:
    """The full settings of an ablation row: the baseline's values plus the row's change; ``smoothing`` is the
    factor of the smoothing rows, unless the name carries its own (:func:`smoothing_variant`)."""
    if match := _SMOOTHING_ROW.match(str(name)):
        return {**_BASELINE, f"smoothing_{match[1]}": True, "smoothing": float(match[2])}
    if name not in ABLATION_VARIANTS:
        raise ValueError(f"unknown ablation variant {name!r}; expected some of {list(ABLATION_VARIANTS)} or a "
                         f"smoothing row such as {smoothing_variant(0.2)!r}")
    config = {**_BASELINE, **ABLATION_VARIANTS[name]}
    return {**config, "smoothing": float(smoothing) if config["smoothing_labels"] or config["smoothing_loss"] else 0.0}


def run_ablation(run, variants: Sequence[str], hdf5_path, seeds: Sequence[int], epochs: int, build_model: Callable,
                 *, batch_size: int = 32, learning_rate: float = 1e-3, beta: float = 0.999, smoothing: float = 0.1,
                 polynomial_power: float = 2.5, tail_fraction: float = 1 / 3, strategy="auto",
                 results_file: str = layout.SEED_RESULTS, progress: bool = True) -> pd.DataFrame:
    """Train every (ablation row, seed) on the HDF5 long tail (train streamed, val; test for the metrics).
    ``build_model(config, input_shape, num_classes, seed)`` compiles the row's network and loss (``config``:
    :func:`ablation_config`, its ``smoothing`` the factor for the loss); this adds class weights, label smoothing
    in the labels, LR schedule and preprocessing. Writes ``imbalanced/<row>/seed<k>/{history.csv, per_class.csv,
    metrics.json}`` and ``imbalanced/<results_file>``. Head and tail recall: the mean recall of the most and of the
    least frequent ``tail_fraction`` of the classes in training."""
    configs = {name: ablation_config(name, smoothing) for name in variants}  # unknown names fail before training
    if not seeds:
        raise ValueError("seeds must list at least one seed")
    class_names = longtail.hdf5_class_names(hdf5_path)
    k = len(class_names)
    splits = {name: longtail.read_hdf5(hdf5_path, name) for name in ("train", "val", "test")}
    counts = class_counts(splits["train"][1], k)
    tail = longtail.tail_classes(counts, tail_fraction)
    head = np.sort(np.argsort(-counts, kind="stable")[:len(tail)])
    settings = {"epochs": int(epochs), "batch_size": int(batch_size), "learning_rate": float(learning_rate),
                "beta": float(beta), "smoothing": float(smoothing), "polynomial_power": float(polynomial_power),
                "tail_fraction": float(tail_fraction), "build_model": build_model,
                "data": fingerprint({**splits, "class_names": class_names})}
    units = [Unit(layout.ablation_unit(name, seed), {"config": configs[name], "seed": int(seed), **settings},
                  {"variant": name, "seed": int(seed)}) for name in variants for seed in seeds]

    def train(unit: Unit) -> dict:
        config, seed = unit.inputs["config"], unit.inputs["seed"]
        pre = (lambda x: preprocess_images(x, config["preprocess"])) if config["preprocess"] else None
        train_ds = longtail.hdf5_dataset(hdf5_path, "train", batch_size, shuffle=True, seed=seed, preprocess=pre,
                                         num_classes=k, label_smoothing=config["smoothing"] if config["smoothing_labels"] else 0.0)
        val_ds = longtail.hdf5_dataset(hdf5_path, "val", batch_size, preprocess=pre, num_classes=k)
        env.seed_everything(seed)
        with get_strategy(strategy).scope():
            model = build_model(config, splits["test"][0].shape[1:], k, seed)
        weights = class_weights(counts, config["class_weights"], beta=beta)
        options = {"power": polynomial_power} if config["lr_schedule"] == "polynomial" else {}
        schedule = lr_callback(config["lr_schedule"], learning_rate, epochs, **options)
        history = fit_model(model, train_ds, val_ds, int(epochs), [schedule] if schedule else [],
                            class_weight=class_weight_dict(weights))
        run.write_csv(f"{unit.folder}/{layout.HISTORY}", history)
        x_test, y_test = splits["test"]
        y_pred = model.predict(pre(x_test) if pre else x_test, batch_size=64, verbose=0).argmax(axis=-1)
        m = classification_metrics(y_test, y_pred, class_names)
        recalls = np.array([m["per_class"][name]["recall"] for name in class_names])
        run.write_csv(f"{unit.folder}/{layout.PER_CLASS}", pd.DataFrame(
            [{"class": name, "train_count": int(counts[c]), **m["per_class"][name]} for c, name in enumerate(class_names)]
        ).assign(split="test", averaging="per class"))
        row = {"accuracy": m["accuracy"], "macro_f1": m["macro_f1"], "tail_recall": float(recalls[tail].mean()),
               "head_recall": float(recalls[head].mean()), "balanced_accuracy": m["balanced_accuracy"],
               "mean_epoch_seconds": mean_epoch_seconds(history), "smoothing": config["smoothing"],
               "split": "test", "averaging": "accuracy: over samples; macro_f1: unweighted mean over classes; "
                                             "tail_recall/head_recall: unweighted mean recall over the tail/head classes"}
        run.write_json(f"{unit.folder}/{layout.METRICS}", {
            **row, "variant": unit.labels["variant"], "seed": seed, "epochs": int(epochs), "config": config,
            "tail_classes": [class_names[c] for c in tail], "head_classes": [class_names[c] for c in head], "beta": beta,
            "learning_rate": learning_rate, "class_weights": None if weights is None else weights.round(4).tolist()})
        return row

    results = run_units(run, units, train, desc="ablation", progress=progress)
    run.write_csv(f"{layout.IMBALANCED}/{results_file}", results)
    return results


def ablation_table(results: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """Test accuracy, macro-F1, head and tail recall as mean ± SD over seeds, one row per ablation row
    (numeric ``<metric>_mean``/``_sd``/``_n`` columns kept for sorting and verdicts)."""
    metrics = {"accuracy": "test accuracy", "macro_f1": "test macro f1", "head_recall": "test head recall",
               "tail_recall": "test tail recall"}
    return mean_sd_table(results, "variant", {k: v for k, v in metrics.items() if k in results}, digits=digits)


def per_class_f1(run, variants: Sequence[str], seeds: Sequence[int]) -> pd.DataFrame:
    """Test F1 per class (mean over seeds), from the most to the least frequent class in training: index
    class, columns ``train_count`` and one per ablation row."""
    frames = [run.read_csv(f"{layout.ablation_unit(v, s)}/{layout.PER_CLASS}").assign(variant=v, seed=s)
              for v in variants for s in seeds]
    table = pd.concat(frames).pivot_table(index=["class", "train_count"], columns="variant", values="f1", aggfunc="mean")
    table = table.reset_index().sort_values(["train_count", "class"], ascending=[False, True]).set_index("class")
    return table[["train_count"] + list(variants)]
