"""Compile/fit helpers for the image notebooks: epoch timing, history frames, batched evaluation,
the distribution strategy, and the transfer-learning recipe of notebook 05 (frozen / finetune).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from helpers.evaluation.metrics import evaluate_classifier
from helpers.training.fitting import compile_model, fit_model, mean_epoch_seconds

__all__ = [
    "transfer_backbone",
    "record_weights",
    "train_transfer",
    "run_transfer_experiment",
    "summarize_transfer",
]





def _phase(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    frame = frame.copy()
    frame.insert(1, "phase", name)
    return frame


def train_transfer(backbone, mode, splits, num_classes, *, image_size, weights=None, epochs=5,
                   fine_tune_epochs=5, batch_size=32, learning_rate=1e-3, fine_tune_learning_rate=1e-5,
                   dropout=0.3, augment=True, feature_cache=True, seed=0, start_model=None,
                   start_history=None, verbose=0):
    """Train one transfer model (one backbone, one mode, one seed).

    ``frozen``: build the model (base frozen) and train the head for ``epochs``. Without
    augmentation and with ``feature_cache`` the frozen base runs ONCE over train/val and the
    head trains on the cached features (identical maths, far cheaper epochs).
    ``finetune``: start from ``start_model`` (e.g. the frozen model of the same seed) or train
    the head first as above; then unfreeze the top block(s) (BatchNorm stays frozen) and train
    ``fine_tune_epochs`` more at ``fine_tune_learning_rate`` with the training augmentation.

    Parameters
    ----------
    splits : dict
        ``{"train": (x, y), "val": (x, y)}`` with uint8 images.
    augment : bool
        Augment the training split (Keras preprocessing layers) -- never val/test.

    Returns
    -------
    (keras.Model, DataFrame)
        The trained model and its history (columns of :func:`fit_model` plus ``phase``
        = ``head`` or ``finetune`` and, for the cached path, ``feature_seconds`` = the one-off
        time to compute the features).
    """
    from helpers import env
    from helpers.data.images import augmentation_layers, make_dataset
    from helpers.models import backbones

    spec = backbones.get_backbone(backbone)
    if mode not in backbones.MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(backbones.MODES)}")
    for name in ("train", "val"):
        if name not in splits:
            raise ValueError(f"splits has no {name!r} entry; expected keys 'train' and 'val'")
    (x_tr, y_tr), (x_va, y_va) = splits["train"], splits["val"]
    env.seed_everything(int(seed))
    aug = augmentation_layers(seed=int(seed)) if augment else None
    train_ds = make_dataset(x_tr, y_tr, batch_size, training=True, augment=aug,
                            preprocess=spec.preprocess_input, seed=int(seed))
    val_ds = make_dataset(x_va, y_va, batch_size, preprocess=spec.preprocess_input)

    if start_model is not None:
        model = start_model
        history = start_history.copy() if start_history is not None else pd.DataFrame()
    else:
        model = backbones.build_transfer_model(spec.name, num_classes, image_size, weights=weights,
                                               dropout=dropout)
        if feature_cache and not augment:
            feature_model, head_model = backbones.feature_and_head_models(model)
            start = time.perf_counter()
            f_tr = feature_model.predict(make_dataset(x_tr, None, batch_size, preprocess=spec.preprocess_input,
                                                      cache=False), verbose=0)
            f_va = feature_model.predict(val_ds.map(lambda xb, yb: xb), verbose=0)
            feature_seconds = time.perf_counter() - start
            compile_model(head_model, learning_rate)
            history = fit_model(head_model, f_tr, (f_va, np.asarray(y_va)), epochs=epochs, y=np.asarray(y_tr),
                                batch_size=batch_size, verbose=verbose)
            history["feature_seconds"] = feature_seconds
        else:
            compile_model(model, learning_rate)
            history = fit_model(model, train_ds, val_ds, epochs=epochs, verbose=verbose)
        history = _phase(history, "head")
    if mode == "finetune":
        backbones.set_mode(model, spec.name, "finetune")
        compile_model(model, fine_tune_learning_rate)
        done = int(history["epoch"].max()) if len(history) else 0
        fine = fit_model(model, train_ds, val_ds, epochs=fine_tune_epochs, initial_epoch=done, verbose=verbose)
        history = pd.concat([history, _phase(fine, "finetune")], ignore_index=True)
    return model, history


# --------------------------------------------------------------------------- notebook 05 recipe
def _model_size_mb(path) -> float:
    import os

    return os.path.getsize(path) / 2**20


def run_transfer_experiment(run, backbone, modes, seeds, splits, class_names, *, image_size, weights=None,
                            epochs=5, fine_tune_epochs=5, batch_size=32, learning_rate=1e-3,
                            fine_tune_learning_rate=1e-5, dropout=0.3, augment=True, feature_cache=True,
                            verbose=0, progress=True) -> pd.DataFrame:
    """Train/evaluate every (mode, seed) of one backbone into ``run``, resuming finished ones.

    Per unit ``banana/<backbone>/<mode>/seed<k>/`` it writes ``history.csv``, ``metrics.json``
    (split=test, with the val metrics alongside), ``predictions.csv`` (test), ``model.keras`` and
    marks the folder complete; a complete folder is loaded instead of retrained. ``finetune``
    starts from the ``frozen`` model of the same seed when that mode is run too.

    The frozen mode trains on cached base features (no augmentation) when ``feature_cache`` is
    True, else on augmented images when ``augment`` is True. The fine-tune phase uses
    ``augment``.

    Returns
    -------
    DataFrame
        One row per (mode, seed): test accuracy/loss/macro_f1, val accuracy, mean epoch seconds
        (first epoch of each phase excluded), inference ms per image, parameter count, model MB.
    """
    import keras
    import tensorflow as tf

    from helpers import env
    from helpers.env import progress_bar as tqdm  # text bar when ipywidgets is missing (no TqdmWarning)
    from helpers.evaluation.metrics import inference_time_per_sample
    from helpers.models import backbones
    from helpers.runs import atomic_path

    tf.get_logger().setLevel("ERROR")  # no retracing warnings between the many small fits
    spec = backbones.get_backbone(backbone)
    bad = [m for m in modes if m not in backbones.MODES]
    if bad or not modes:
        raise ValueError(f"modes {list(modes)!r} not valid; expected a non-empty list of {', '.join(backbones.MODES)}")
    if not seeds:
        raise ValueError("seeds is empty; expected at least one integer seed")
    order = [m for m in backbones.MODES if m in modes]  # frozen first: finetune starts from it
    x_te, y_te = splits["test"]
    x_te_pre = spec.preprocess_input(x_te)
    rows = []
    units = [(mode, int(s)) for mode in order for s in seeds]
    for mode, seed in tqdm(units, desc=spec.name, disable=not progress):
        unit = f"banana/{spec.name}/{mode}/seed{seed}"
        if run.is_complete(unit):
            rows.append(run.read_json(f"{unit}/metrics.json")["row"])
            continue
        start_model = start_history = None
        frozen_unit = f"banana/{spec.name}/frozen/seed{seed}"
        if mode == "finetune" and "frozen" in order and run.is_complete(frozen_unit):
            # Loading re-creates the head's dropout, which draws its seed from Python's random state:
            # seed first, or a resumed run (fresh process) fine-tunes with other dropout masks than
            # an uninterrupted one (whose random state went through the frozen training first).
            env.seed_everything(seed)
            start_model = keras.models.load_model(run.path / frozen_unit / "model.keras", compile=False)
            start_history = run.read_csv(f"{frozen_unit}/history.csv")
        model, history = train_transfer(
            spec.name, mode, splits, len(class_names), image_size=image_size, weights=weights, epochs=epochs,
            fine_tune_epochs=fine_tune_epochs, batch_size=batch_size, learning_rate=learning_rate,
            fine_tune_learning_rate=fine_tune_learning_rate, dropout=dropout,
            augment=augment if mode == "finetune" else (augment and not feature_cache),
            feature_cache=feature_cache, seed=seed, start_model=start_model, start_history=start_history,
            verbose=verbose)
        phase = "finetune" if mode == "finetune" else "head"
        test = evaluate_classifier(model, x_te, y_te, class_names, spec.preprocess_input, batch_size, "test")
        val = evaluate_classifier(model, *splits["val"], class_names, spec.preprocess_input, batch_size, "val")
        timing = inference_time_per_sample(model, x_te_pre, batch_size=batch_size)
        run.write_csv(f"{unit}/history.csv", history)
        run.write_csv(f"{unit}/predictions.csv", pd.DataFrame(
            {"split": "test", "index": np.arange(len(y_te)), "y_true": y_te, "y_pred": test["y_pred"],
             **{f"p_{c}": test["proba"][:, i] for i, c in enumerate(class_names)}}))
        target = run.file(f"{unit}/model.keras")
        compile_model(model, learning_rate)  # a fresh, unbuilt optimizer: the file holds no optimizer state
        with atomic_path(target) as tmp:
            model.save(tmp)
        row = {"backbone": spec.name, "mode": mode, "seed": seed, "split": "test",
               "accuracy": test["accuracy"], "loss": test["loss"], "macro_f1": test["macro_f1"],
               "val_accuracy": val["accuracy"], "val_loss": val["loss"],
               "epochs": int(len(history)),
               # time per epoch of THIS mode's training phase (finetune: the unfrozen epochs only)
               "mean_epoch_seconds": mean_epoch_seconds(history[history["phase"] == phase]),
               "inference_ms_per_image": timing["ms_per_sample"], "device": timing["device"],
               "params": int(model.count_params()),
               "trainable_params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
               "model_mb": _model_size_mb(target)}
        if "feature_seconds" in history:
            row["feature_seconds"] = float(history["feature_seconds"].dropna().iloc[0])
        drop = ("y_pred", "proba")
        run.write_json(f"{unit}/metrics.json", {
            "split": "test", "averaging": test["averaging"], "row": row,
            "test": {k: v for k, v in test.items() if k not in drop},
            "val": {k: v for k, v in val.items() if k not in drop}, "inference": timing})
        run.mark_complete(unit, accuracy=test["accuracy"])
        rows.append(row)
        keras.backend.clear_session()
    return pd.DataFrame(rows)


def summarize_transfer(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and SD over seeds per (backbone, mode) of the test metrics and timings (split=test)."""
    from helpers.evaluation.metrics import summarize_mean_sd

    metrics = ["accuracy", "loss", "macro_f1", "mean_epoch_seconds", "inference_ms_per_image"]
    summary = summarize_mean_sd(results, ["backbone", "mode"], metrics)
    summary.insert(2, "split", "test")
    summary.insert(3, "averaging", "mean and sample SD over seeds")
    for col in ("params", "model_mb", "device"):
        summary[col] = results.groupby(["backbone", "mode"], sort=False)[col].first().to_numpy()
    return summary


def record_weights(run, backbone: str, choice) -> None:
    """Store which initial weights ``backbone`` got (a :class:`helpers.models.backbones.WeightsChoice`):
    ``banana/<backbone>/weights.json`` and ``manifest["weights"][backbone]`` (the report reads both)."""
    run.write_json(f"banana/{backbone}/weights.json", choice.as_dict())
    run.update_manifest(lambda m: m.setdefault("weights", {}).__setitem__(backbone, choice.as_dict()))


def transfer_backbone(run, backbone: str, params, progress: bool = True) -> pd.DataFrame:
    """Notebook 05's steps for one more backbone, as the notebook does them for its first one.

    Loads the images at the backbone's size, resolves and records its initial weights (the banner is
    printed), splits with the same seed (``split.csv``, ``data.json``), trains every (mode, seed) with
    :func:`run_transfer_experiment` (finished units are skipped), and writes ``summary.csv`` and, for
    the best seed of each mode, ``classification_report.csv`` and ``confusion_matrix.png``.

    Parameters
    ----------
    run : helpers.runs.Run
        The run 05 writes into.
    backbone : str
        VGG16, ResNet50V2, Xception or InceptionV3.
    params : mapping
        05's resolved parameters (``profiles.resolve("05_banana_transfer", ...)``).

    Returns
    -------
    DataFrame
        One row per (mode, seed), as :func:`run_transfer_experiment`.
    """
    import matplotlib.pyplot as plt

    from helpers import plots
    from helpers.data import images
    from helpers.evaluation.metrics import classification_report_frame
    from helpers.models import backbones

    P = params
    spec = backbones.get_backbone(backbone)
    size = backbones.effective_image_size(spec.name, P["image_size"])
    source = P["data_dir"] or images.embedded_banana_dir(n_per_class=P["n_per_class"], image_size=max(96, size))
    folder = images.load_image_folder(source, image_size=size, max_per_class=P["max_per_class"])
    choice = backbones.resolve_weights(spec.name, P["weights"])
    record_weights(run, spec.name, choice)
    print(f"{spec.name}: image size {size} px; {choice.banner(num_classes=len(folder.class_names))}")
    splits, index = images.split_dataset(folder, P["test_size"], P["val_size"], seed=P["seed"], return_indices=True)
    run.write_csv(f"banana/{spec.name}/split.csv", pd.DataFrame(
        [{"split": k, "path": folder.paths[i], "label": int(folder.labels[i])} for k, idx in index.items() for i in idx]))
    run.write_json(f"banana/{spec.name}/data.json", {"data_dir": str(source), "image_size": size,
                                                     "class_names": folder.class_names, "seed": P["seed"]})
    results = run_transfer_experiment(
        run, spec.name, P["modes"], P["seeds"], splits, folder.class_names, image_size=size, weights=choice.weights,
        epochs=P["epochs"], fine_tune_epochs=P["fine_tune_epochs"], batch_size=P["batch_size"],
        learning_rate=P["learning_rate"], fine_tune_learning_rate=P["fine_tune_learning_rate"], dropout=P["dropout"],
        augment=P["augment"], feature_cache=P["feature_cache"], progress=progress)
    run.write_csv(f"banana/{spec.name}/summary.csv", summarize_transfer(results))
    for mode, rows in results.groupby("mode", sort=False):
        best = int(rows.sort_values("accuracy", ascending=False).iloc[0]["seed"])
        pred = run.read_csv(f"banana/{spec.name}/{mode}/seed{best}/predictions.csv")
        fig = plots.plot_confusion_matrix(pred["y_true"], pred["y_pred"], folder.class_names,
                                          title=f"{spec.name} {mode}, seed {best} (test)")
        run.save_figure(f"banana/{spec.name}/{mode}/confusion_matrix.png", fig)
        plt.close(fig)
        report = classification_report_frame(pred["y_true"], pred["y_pred"], folder.class_names, split="test")
        run.write_csv(f"banana/{spec.name}/{mode}/classification_report.csv", report, index=True)
    return results
