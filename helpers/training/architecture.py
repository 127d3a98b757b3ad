"""The experiment families of the "how to choose a CNN architecture" study (notebook 07): every
(variant, seed) trained with the notebook's build function through the one experiment runner,
then one table and one validation-curve plot per family. The spec notation and the families'
specs live in :mod:`helpers.models.cnn`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from helpers import env, layout, plots
from helpers.data import images
from helpers.models.cnn import Variant
from helpers.training import imbalance
from helpers.training.experiments import Unit, fingerprint, history_frame, mean_sd_table, run_units
from helpers.training.fitting import EpochTimer, get_strategy, mean_epoch_seconds

__all__ = ["run_family", "family_table", "family_curves", "load_image_splits", "save_family_report"]


def run_family(run, family: str, variants: list[Variant], data: dict, seeds: list[int], epochs: int,
               build_model: Callable, *, batch_size: int = 32, learning_rate: float = 1e-3,
               lr_schedule: str = "exponential", strategy="auto", progress: bool = True) -> pd.DataFrame:
    """Train every (variant, seed) of ``family`` with ``build_model`` and save the results.

    Parameters
    ----------
    data : dict
        ``{"train": (x, y), "val": (x, y)}`` (the test split is never used here).
    build_model : callable
        The notebook's ``build_model(variant, input_shape, num_classes, seed)`` returning a
        compiled Keras model. Its source is part of every unit's digest: edit it and the family
        is trained again; leave it and finished units are loaded.
    learning_rate, lr_schedule : the schedule's start value and name
        (:func:`helpers.training.imbalance.lr_schedule`; the model's optimizer is the notebook's).

    Artifacts: ``cnn_architecture/<family>/<variant>/seed<k>/{history.csv, result.json}`` and
    ``cnn_architecture/<family>/results.csv`` (one row per variant and seed).
    """
    if not variants:
        raise ValueError(f"family {family!r} has no variants to train")
    if not seeds:
        raise ValueError("seeds must list at least one seed")
    for split in ("train", "val"):
        if split not in data:
            raise ValueError(f"data must have 'train' and 'val' (x, y) pairs; it has {sorted(data)}")
    (x_train, y_train), (x_val, y_val) = data["train"], data["val"]
    num_classes = int(max(np.max(y_train), np.max(y_val))) + 1
    data_digest = fingerprint({"train": data["train"], "val": data["val"]})
    by_folder, units = {}, []
    for variant in variants:
        for seed in seeds:
            unit = Unit(layout.family_unit(family, variant.name, seed),
                        inputs={"spec": variant.spec, "augment": variant.augment, "seed": int(seed), "epochs": int(epochs),
                                "batch_size": int(batch_size), "learning_rate": float(learning_rate),
                                "lr_schedule": lr_schedule, "build_model": build_model, "data": data_digest},
                        labels={"family": family, "variant": variant.name, "spec": variant.spec,
                                "augment": variant.augment, "seed": int(seed)})
            by_folder[unit.folder] = variant
            units.append(unit)

    def train(unit: Unit) -> dict:
        variant, seed = by_folder[unit.folder], unit.inputs["seed"]
        env.seed_everything(seed)
        with get_strategy(strategy).scope():
            model = build_model(variant, x_train.shape[1:], num_classes, seed)
        timer = EpochTimer()
        callbacks = [timer] + [cb for cb in [imbalance.lr_callback(lr_schedule, learning_rate, epochs)] if cb]
        fitted = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=int(epochs),
                           batch_size=int(batch_size), verbose=0, callbacks=callbacks, shuffle=True)
        history = history_frame(fitted, timer.seconds)
        if "lr" not in history:
            history["lr"] = [imbalance.lr_schedule(lr_schedule, learning_rate, epochs)(e) for e in range(len(history))]
        run.write_csv(f"{unit.folder}/{layout.HISTORY}", history)
        return {"epochs": int(epochs), "params": int(model.count_params()),
                "train_accuracy": float(history["accuracy"].iloc[-1]),
                "val_accuracy": float(history["val_accuracy"].iloc[-1]),
                "val_accuracy_best": float(history["val_accuracy"].max()),
                "mean_epoch_seconds": mean_epoch_seconds(history),
                "lr_schedule": lr_schedule, "learning_rate": float(learning_rate),
                "split": "train (running mean over the last epoch, training mode) / val",
                "averaging": "accuracy over samples; final epoch (val_accuracy_best: best epoch)"}

    results = run_units(run, units, train, desc=family, progress=progress)
    run.write_csv(f"{layout.family_dir(family)}/results.csv", results)
    return results


def family_table(results: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """One row per variant: val accuracy (final and best epoch) mean ± SD over seeds, train accuracy,
    parameters, seconds per epoch; ``val_accuracy_mean``/``_sd``/``_n`` kept for sorting and verdicts."""
    table = mean_sd_table(results, "variant", {"val_accuracy": "val accuracy", "val_accuracy_best": "best val accuracy",
                                                "train_accuracy": "train accuracy", "mean_epoch_seconds": "s/epoch"},
                          keep=["spec", "augment", "params"], digits=digits)
    table["spec"] = [s + (" +aug" if a else "") for s, a in zip(table["spec"], table.pop("augment"))]
    keep = {"val_accuracy_mean", "val_accuracy_sd", "val_accuracy_n"}
    return table.drop(columns=[c for c in table if c.endswith(("_mean", "_sd", "_n")) and c not in keep])


def family_curves(run, family: str, variants: list[Variant], seeds: list[int],
                  metric: str = "val_accuracy") -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-epoch ``metric`` averaged over seeds, one curve per variant, and the SD bands (for
    :func:`helpers.plots.plot_curves`)."""
    curves, bands = {}, {}
    for variant in variants:
        per_seed = []
        for seed in seeds:
            frame = run.read_csv(f"{layout.family_unit(family, variant.name, seed)}/{layout.HISTORY}")
            if metric not in frame:
                raise ValueError(f"history of {variant.name!r} (seed {seed}) has no column {metric!r}; "
                                 f"it has {list(frame.columns)}")
            per_seed.append(frame[metric].to_numpy(dtype=float))
        length = min(len(v) for v in per_seed)
        stacked = np.stack([v[:length] for v in per_seed])
        curves[variant.name] = stacked.mean(axis=0)
        bands[variant.name] = stacked.std(axis=0, ddof=1) if len(per_seed) > 1 else np.zeros(length)
    return curves, bands


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


def save_family_report(run, family: str, variants: list[Variant], results, seeds: list[int]):
    """Write ``cnn_architecture/<family>/table.csv`` and ``val_accuracy.png`` (one line per variant,
    ±SD band); return ``(table, figure)``."""
    table = family_table(results)
    run.write_csv(f"{layout.family_dir(family)}/table.csv",
                  table.assign(split="val", averaging=f"final epoch; mean ± SD over {len(seeds)} seed(s)"))
    curves, bands = family_curves(run, family, variants, seeds)
    fig = plots.plot_curves(curves, "validation accuracy", title=f"{family}: validation accuracy per epoch "
                            f"(mean over {len(seeds)} seed(s))", bands=bands if len(seeds) > 1 else None)
    run.save_figure(f"{layout.family_dir(family)}/val_accuracy.png", fig)
    return table, fig
