"""The experiment families of notebook 07: every (variant, seed) trained with the notebook's build
function through :func:`helpers.training.experiments.run_units`, then one table and one validation
curve plot per family. The spec notation and the families live in :mod:`helpers.models.cnn`."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from helpers import env, layout, plots
from helpers.evaluation.metrics import classification_metrics
from helpers.models.cnn import Variant, predict_classes
from helpers.training import imbalance
from helpers.training.experiments import Unit, fingerprint, mean_sd_table, run_units
from helpers.training.fitting import fit_model, get_strategy, mean_epoch_seconds

__all__ = ["run_family", "family_table", "family_curves", "save_family_report"]


def run_family(run, family: str, variants: list[Variant], data: dict, seeds: list[int], epochs: int,
               build_model: Callable, *, batch_size: int = 32, learning_rate: float = 1e-3,
               lr_schedule: str = "exponential", strategy="auto", load_data: Callable | None = None,
               progress: bool = True) -> pd.DataFrame:
    """Train every (variant, seed) with the notebook's ``build_model`` and return one row per unit.

    ``build_model(spec, input_shape, num_classes, augment, seed)`` returns a compiled Keras model; its
    source, the data (``{"train": (x, y), "val": (x, y)[, "test": (x, y)]}``), the variant and every setting
    are the unit's inputs: an edited function or parameter trains again, an unchanged unit is loaded. A variant
    with an ``image_size`` (the input-size family) trains on ``load_data(image_size)``, the same split at that
    size. The learning rate follows ``lr_schedule`` from ``learning_rate`` (``constant``: the optimizer's own).
    With a test split every model is also scored on it (``test_accuracy``, ``test_macro_f1``: reported, never
    used to choose). Writes ``cnn_architecture/<family>/<variant>/seed<k>/history.csv`` and ``<family>/results.csv``."""
    if not variants or not seeds:
        raise ValueError(f"family {family!r} needs at least one variant and one seed, got {len(variants)} and {seeds!r}")
    if not {"train", "val"} <= set(data):
        raise ValueError(f"data must have 'train' and 'val' (x, y) pairs; it has {sorted(data)}")
    if any(v.image_size for v in variants) and load_data is None:
        raise ValueError(f"family {family!r} has variants with their own image_size: pass load_data(image_size)")
    sized: dict[int | None, dict] = {None: data}
    for size in dict.fromkeys(v.image_size for v in variants if v.image_size):
        sized[size] = load_data(size)
    num_classes = int(max(np.max(data["train"][1]), np.max(data["val"][1]))) + 1
    settings = {"epochs": int(epochs), "batch_size": int(batch_size), "learning_rate": float(learning_rate),
                "lr_schedule": lr_schedule, "build_model": build_model}
    digests = {size: fingerprint({k: d[k] for k in ("train", "val", "test") if k in d}) for size, d in sized.items()}
    units = [Unit(layout.family_unit(family, v.name, seed),
                  {"spec": v.spec, "augment": v.augment, "seed": int(seed), "image_size": v.image_size,
                   "data": digests[v.image_size], **settings},
                  {"family": family, "variant": v.name, "spec": v.spec, "augment": v.augment, "seed": int(seed),
                   **({"image_size": v.image_size} if v.image_size else {})})
             for v in variants for seed in seeds]

    def train(unit: Unit) -> dict:
        spec, augment, seed = unit.inputs["spec"], unit.inputs["augment"], unit.inputs["seed"]
        split = sized[unit.inputs["image_size"]]
        (x_train, y_train), (x_val, y_val) = split["train"], split["val"]
        env.seed_everything(seed)
        with get_strategy(strategy).scope():
            model = build_model(spec, x_train.shape[1:], num_classes, augment, seed)
        schedule = imbalance.lr_callback(lr_schedule, learning_rate, epochs)
        history = fit_model(model, x_train, (x_val, y_val), int(epochs), [schedule] if schedule else [],
                            y=y_train, batch_size=int(batch_size), shuffle=True)
        if "lr" not in history:
            history["lr"] = [imbalance.lr_schedule(lr_schedule, learning_rate, epochs)(e) for e in range(len(history))]
        run.write_csv(f"{unit.folder}/{layout.HISTORY}", history)
        row = {"epochs": int(epochs), "params": int(model.count_params()),
               "train_accuracy": float(history["accuracy"].iloc[-1]),
               "val_accuracy": float(history["val_accuracy"].iloc[-1]),
               "val_accuracy_best": float(history["val_accuracy"].max()),
               "mean_epoch_seconds": mean_epoch_seconds(history), "lr_schedule": lr_schedule,
               "learning_rate": float(learning_rate),
               "split": "train (running mean over the last epoch, training mode) / val" + (" / test" if "test" in split else ""),
               "averaging": "accuracy over samples, macro-F1 unweighted over classes; final epoch "
                            "(val_accuracy_best: best epoch)"}
        if "test" in split:
            x_test, y_test = split["test"]
            scores = classification_metrics(y_test, predict_classes(model, x_test), list(range(num_classes)))
            row.update(test_accuracy=scores["accuracy"], test_macro_f1=scores["macro_f1"])
        return row

    results = run_units(run, units, train, desc=family, progress=progress)
    run.write_csv(f"{layout.family_dir(family)}/{layout.SEED_RESULTS}", results)
    return results


def family_table(results: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    """One row per variant: val accuracy (final and best epoch), train accuracy and s/epoch as mean ± SD
    over seeds, parameters; ``val_accuracy_mean``/``_sd``/``_n`` kept for sorting and verdicts."""
    columns = {"val_accuracy": "val accuracy", "val_accuracy_best": "best val accuracy",
               "test_accuracy": "test accuracy", "test_macro_f1": "test macro-F1",
               "train_accuracy": "train accuracy", "mean_epoch_seconds": "s/epoch"}
    table = mean_sd_table(results, "variant", {k: v for k, v in columns.items() if k in results},
                          keep=["spec", "augment", "params"], digits=digits)
    table["spec"] = [s + (" +aug" if a else "") for s, a in zip(table["spec"], table.pop("augment"))]
    keep = {"val_accuracy_mean", "val_accuracy_sd", "val_accuracy_n", "test_accuracy_mean", "test_accuracy_sd"}
    return table.drop(columns=[c for c in table if c.endswith(("_mean", "_sd", "_n")) and c not in keep])


def family_curves(run, family: str, variants: list[Variant], seeds: list[int],
                  metric: str = "val_accuracy") -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Per-epoch ``metric`` averaged over seeds (one curve per variant) and its SD bands."""
    curves, bands = {}, {}
    for variant in variants:
        frames = [run.read_csv(f"{layout.family_unit(family, variant.name, s)}/{layout.HISTORY}") for s in seeds]
        if any(metric not in f for f in frames):
            raise ValueError(f"history of {variant.name!r} has no column {metric!r}; it has {list(frames[0].columns)}")
        length = min(len(f) for f in frames)
        stacked = np.stack([f[metric].to_numpy(dtype=float)[:length] for f in frames])
        curves[variant.name] = stacked.mean(axis=0)
        bands[variant.name] = stacked.std(axis=0, ddof=1) if len(frames) > 1 else np.zeros(length)
    return curves, bands


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
