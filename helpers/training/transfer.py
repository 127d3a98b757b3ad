"""Notebook 05's repetition: its own ``build`` and ``fine_tune`` trained per (backbone, mode, seed) by
:func:`helpers.training.experiments.run_units` (inputs: the functions, settings, split fingerprint), so an edited
model cell or setting retrains and an unchanged unit is loaded; ``finetune`` continues the seed's ``frozen`` model."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import env, layout, plots
from helpers.data import images
from helpers.evaluation import metrics
from helpers.evaluation.verdicts import beats_chance, chance_table, choose_best
from helpers.models import backbones
from helpers.runs import atomic_path
from helpers.training.experiments import Unit, fingerprint, run_units
from helpers.training.fitting import fit_model, mean_epoch_seconds

__all__ = ["SETTINGS", "augmentation_label", "train_transfer", "run_transfer", "report_backbone", "record_weights",
           "write_split", "write_chance", "judge_against_chance", "best_on_validation", "transfer_backbone"]

SETTINGS = {"epochs": 5, "fine_tune_epochs": 5, "batch_size": 32, "learning_rate": 1e-3,
            "fine_tune_learning_rate": 1e-5, "dropout": 0.3, "augment": True, "feature_cache": True}
FINE_TUNE_SETTINGS = ("fine_tune_epochs", "fine_tune_learning_rate")


def augmentation_label(augment) -> str:
    """What the ``augmentation`` column of 05's tables says: the same for both modes of a run."""
    return "flip, rotate, zoom, shift (train split)" if augment else "none"


def _settings(given: Mapping) -> dict:
    if unknown := sorted(set(given) - set(SETTINGS)):
        raise ValueError(f"unknown setting(s) {unknown}; expected some of {', '.join(SETTINGS)}")
    return {**SETTINGS, **given}


def _phase(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    return frame.assign(phase=name)[["epoch", "phase", *frame.columns.drop("epoch")]]


def _compile_like(target, source):
    """Compile ``target`` as ``source`` was compiled, with a fresh (stateless) optimizer."""
    import keras

    if not getattr(source, "compiled", False):
        raise ValueError(f"model {source.name!r} is not compiled; build and fine_tune must return a compiled model")
    target.compile(**keras.saving.deserialize_keras_object(source.get_compile_config()))
    return target


def _fit_head_on_features(model, spec, splits, s, verbose) -> pd.DataFrame:
    """The frozen mode's fast path: the base runs once over train/val, the head trains on its features."""
    feature_model, head_model = backbones.feature_and_head_models(model)
    _compile_like(head_model, model)
    start = time.perf_counter()
    train, val = (feature_model.predict(images.make_dataset(splits[k][0], None, s["batch_size"], cache=False,
                                                            preprocess=spec.preprocess_input), verbose=0)
                  for k in ("train", "val"))
    seconds = time.perf_counter() - start
    return fit_model(head_model, train, (val, np.asarray(splits["val"][1])), epochs=s["epochs"],
                     y=np.asarray(splits["train"][1]), batch_size=s["batch_size"],
                     verbose=verbose).assign(feature_seconds=seconds)


def train_transfer(build: Callable, fine_tune: Callable, backbone: str, mode: str, splits: dict, num_classes: int, *,
                   image_size: int, weights=None, seed: int = 0, start_model=None, start_history=None, verbose: int = 0,
                   **settings):
    """Train one model with notebook 05's ``build``/``fine_tune`` on uint8 ``splits`` (``train``, ``val``: ``(x, y)``)
    and :data:`SETTINGS`: ``(model, history)`` (``phase`` head/finetune). ``augment`` applies to the head and to the
    fine-tuning alike; ``feature_cache`` (used only without augmentation, which cached features cannot see): the head
    trains on features computed once (``feature_seconds``); ``finetune`` continues ``start_model`` (else head first)."""
    spec = backbones.get_backbone(backbone)
    if mode not in backbones.MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(backbones.MODES)}")
    if "train" not in splits or "val" not in splits:
        raise ValueError(f"splits has keys {sorted(splits)}; expected 'train' and 'val'")
    s = _settings(settings)
    augment = bool(s["augment"])  # the same in both modes: frozen vs finetune differs only by the fine-tuning
    env.seed_everything(int(seed))
    aug = images.augmentation_layers(seed=int(seed)) if augment else None
    train_ds = images.make_dataset(*splits["train"], s["batch_size"], training=True, augment=aug,
                                   preprocess=spec.preprocess_input, seed=int(seed))
    val_ds = images.make_dataset(*splits["val"], s["batch_size"], preprocess=spec.preprocess_input)
    if start_model is not None:
        model, history = start_model, (start_history.copy() if start_history is not None else pd.DataFrame())
    else:
        model = build(spec.name, num_classes, image_size, weights=weights, dropout=s["dropout"],
                      learning_rate=s["learning_rate"])
        if not getattr(model, "compiled", False):
            raise ValueError(f"model {model.name!r} is not compiled; build and fine_tune must return a compiled model")
        history = _phase(_fit_head_on_features(model, spec, splits, s, verbose) if s["feature_cache"] and not augment
                         else fit_model(model, train_ds, val_ds, epochs=s["epochs"], verbose=verbose), "head")
    if mode == "finetune":
        model = fine_tune(model, spec.name, s["fine_tune_learning_rate"])
        done = int(history["epoch"].max()) if len(history) else 0
        fine = fit_model(model, train_ds, val_ds, epochs=s["fine_tune_epochs"], initial_epoch=done, verbose=verbose)
        history = pd.concat([history, _phase(fine, "finetune")], ignore_index=True)
    return model, history


def _evaluate_and_save(run, unit: Unit, model, history, spec, splits, class_names, batch_size) -> dict:
    """history.csv, predictions.csv (test), model.keras and metrics.json of one unit; returns its row."""
    (x_te, y_te), pre = splits["test"], spec.preprocess_input
    test = metrics.evaluate_classifier(model, x_te, y_te, class_names, pre, batch_size, "test")
    val = metrics.evaluate_classifier(model, *splits["val"], class_names, pre, batch_size, "val")
    timing = metrics.inference_time_per_sample(model, pre(x_te), batch_size=batch_size)
    run.write_csv(f"{unit.folder}/{layout.HISTORY}", history)
    run.write_csv(f"{unit.folder}/{layout.PREDICTIONS}", pd.DataFrame(
        {"split": "test", "weights": unit.labels["weights"], "index": np.arange(len(y_te)), "y_true": y_te,
         "y_pred": test["y_pred"],
         **{f"p_{c}": test["proba"][:, i] for i, c in enumerate(class_names)}}))
    target = run.file(f"{unit.folder}/{layout.MODEL}")
    with atomic_path(target) as tmp:
        _compile_like(model, model).save(tmp)  # a fresh optimizer: the file holds no optimizer state
    phase = "finetune" if unit.labels["mode"] == "finetune" else "head"
    row = {**unit.labels, "split": "test", **{k: test[k] for k in ("accuracy", "loss", "macro_f1")},
           "val_accuracy": val["accuracy"], "val_loss": val["loss"], "epochs": int(len(history)),
           # time per epoch of THIS mode's training phase (finetune: the unfrozen epochs only)
           "mean_epoch_seconds": mean_epoch_seconds(history[history["phase"] == phase]),
           "inference_ms_per_image": timing["ms_per_sample"], "device": timing["device"],
           "params": int(model.count_params()),
           "trainable_params": int(sum(np.prod(w.shape) for w in model.trainable_weights)),
           "model_mb": target.stat().st_size / 2**20}
    if "feature_seconds" in history:
        row["feature_seconds"] = float(history["feature_seconds"].dropna().iloc[0])
    scores = {d["split"]: {k: v for k, v in d.items() if k not in ("y_pred", "proba")} for d in (test, val)}
    run.write_json(f"{unit.folder}/{layout.METRICS}",
                   {"split": "test", "averaging": test["averaging"], "row": row, **scores, "inference": timing})
    return row


def run_transfer(run, backbone: str, splits: dict, class_names, params: Mapping, build: Callable,
                 fine_tune: Callable, *, image_size: int, weights=None, progress: bool = True) -> pd.DataFrame:
    """Train and evaluate one backbone per (mode, seed) of ``params`` (05's ``P``): history, metrics, predictions and
    model in ``banana/<backbone>/<mode>/seed<k>/``; finished units are loaded. Returns one row per unit."""
    import keras
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # no retracing warnings between the many small fits
    spec = backbones.get_backbone(backbone)
    modes, seeds = list(params["modes"]), [int(s) for s in params["seeds"]]
    if not modes or any(m not in backbones.MODES for m in modes):
        raise ValueError(f"modes {modes!r} not valid; expected a non-empty list of {', '.join(backbones.MODES)}")
    if not seeds:
        raise ValueError("seeds is empty; expected at least one integer seed")
    s = _settings({k: params[k] for k in SETTINGS if k in params})
    order = [m for m in backbones.MODES if m in modes]  # frozen first: finetune starts from it
    head = {"backbone": spec.name, "classes": list(class_names), "image_size": int(image_size), "build": build,
            "weights": Path(weights).name if weights else None, "data": fingerprint(splits),
            **{k: v for k, v in s.items() if k not in FINE_TUNE_SETTINGS}}
    units: dict[tuple[str, int], Unit] = {}
    for mode, seed in itertools.product(order, seeds):
        inputs = {**head, "mode": mode, "seed": seed}
        if mode == "finetune":
            inputs.update({k: s[k] for k in FINE_TUNE_SETTINGS}, fine_tune=fine_tune,
                          start=units[("frozen", seed)].digest if "frozen" in order else "head trained here")
        units[(mode, seed)] = Unit(layout.transfer_unit(spec.name, mode, seed), inputs,
                                   {"backbone": spec.name, "mode": mode, "seed": seed,
                                    "weights": backbones.weights_label(spec.name, weights),
                                    "augmentation": augmentation_label(s["augment"])})

    def train(unit: Unit) -> dict:
        mode, seed = unit.labels["mode"], unit.labels["seed"]
        start_model = start_history = None
        if mode == "finetune" and "frozen" in order:
            frozen = units[("frozen", seed)].folder
            env.seed_everything(seed)  # load_model seeds the dropout from Python's random state: same masks resumed
            start_model = keras.models.load_model(run.path / frozen / layout.MODEL, compile=False)
            start_history = run.read_csv(f"{frozen}/{layout.HISTORY}")
        model, history = train_transfer(build, fine_tune, spec.name, mode, splits, len(class_names),
                                        image_size=image_size, weights=weights, seed=seed, start_model=start_model,
                                        start_history=start_history, **s)
        row = _evaluate_and_save(run, unit, model, history, spec, splits, class_names, s["batch_size"])
        keras.backend.clear_session()
        return row

    return run_units(run, units.values(), train, desc=spec.name, progress=progress)


def report_backbone(run, backbone: str, results: pd.DataFrame, class_names,
                    chance: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict]:
    """Write one backbone's ``summary.csv`` (mean, SD over seeds per mode of the test scores and of the validation
    accuracy, its ``weights`` and ``augmentation``; with ``chance`` (:func:`write_chance`) each mode's verdict
    against the test split's chance baseline) and, for each mode's seed with the best VALIDATION accuracy (test numbers
    are never read to choose), its test confusion matrix and classification report; returns the summary and
    ``{mode: (figure, report)}``."""
    import matplotlib.pyplot as plt

    rows, root = results[results["backbone"] == backbone], layout.backbone_dir(backbone)
    summary = metrics.summarize_mean_sd(rows, ["backbone", "mode"], ["accuracy", "loss", "macro_f1",
                                                                     "mean_epoch_seconds", "inference_ms_per_image"])
    summary.insert(2, "split", "test")
    summary.insert(3, "averaging", "mean and sample SD over seeds")
    first = rows.groupby(["backbone", "mode"], sort=False).first()
    for at, col in enumerate(c for c in ("weights", "augmentation") if c in rows):  # said first, beside the mode
        summary.insert(2 + at, col, first[col].to_numpy())
    val = metrics.summarize_mean_sd(rows, ["backbone", "mode"], ["val_accuracy"])
    summary["val_accuracy_mean"], summary["val_accuracy_sd"] = val["val_accuracy_mean"].to_numpy(), val["val_accuracy_sd"].to_numpy()
    for col in ("params", "model_mb", "device"):
        if col in rows:
            summary[col] = first[col].to_numpy()
    if chance is not None:
        judged = judge_against_chance(rows, chance).set_index(["backbone", "mode"])
        keys = list(zip(summary["backbone"], summary["mode"]))
        for col in ("chance_accuracy", "chance_macro_f1", "verdict"):
            summary[f"test_{col}" if col != "verdict" else "verdict"] = judged.loc[keys, col].to_numpy()
    run.write_csv(f"{root}/summary.csv", summary)
    shown = {}
    for mode, group in rows.groupby("mode", sort=False):  # the seed with the best VALIDATION accuracy
        best = int(group.sort_values(["val_accuracy", "seed"], ascending=[False, True]).iloc[0]["seed"])
        weights = str(group["weights"].iloc[0]) if "weights" in group else "weights not recorded"
        folder = layout.transfer_mode_dir(backbone, mode)
        pred = run.read_csv(f"{layout.transfer_unit(backbone, mode, best)}/{layout.PREDICTIONS}")
        fig = plots.plot_confusion_matrix(pred["y_true"], pred["y_pred"], class_names,
                                          title=f"{backbone} {mode} ({weights}), seed {best} (test)")
        run.save_figure(f"{folder}/confusion_matrix.png", fig)
        plt.close(fig)
        report = metrics.classification_report_frame(pred["y_true"], pred["y_pred"], class_names, split="test")
        report = report.assign(weights=weights, seed=best, chosen_on="val")
        run.write_csv(f"{folder}/classification_report.csv", report, index=True)
        shown[mode] = (fig, report)
    return summary, shown


def _chance_level(chance: pd.DataFrame, split: str, column: str) -> float:
    """The better of the two guessers of :func:`write_chance`'s table on ``split`` (NaN when it has no such row)."""
    values = pd.to_numeric(chance.loc[chance["split"] == split, column], errors="coerce")
    return float(values.max()) if values.notna().any() else float("nan")


def judge_against_chance(results: pd.DataFrame, chance: pd.DataFrame) -> pd.DataFrame:
    """One row per (backbone, mode) of :func:`run_transfer`'s ``results``: ``weights``, ``augmentation``, ``seeds``,
    mean and SD of the validation accuracy and of the test accuracy and macro-F1, the better chance baseline of each
    (``chance``: :func:`write_chance`'s table; one table for all backbones, or with a ``backbone`` column), and
    ``val_beats_chance`` / ``verdict`` ("above chance beyond its SD" only when both test scores beat their chance
    baseline by more than their SD, :func:`helpers.evaluation.verdicts.beats_chance`; else "at chance")."""
    missing = [c for c in ("backbone", "mode", "val_accuracy", "accuracy", "macro_f1") if c not in results]
    if missing or not {"split", "accuracy", "macro-F1"} <= set(chance.columns):
        raise ValueError(f"judge_against_chance: results lack {missing} or chance lacks split/accuracy/macro-F1; "
                         "expected run_transfer's rows and write_chance's table")
    rows = []
    for (backbone, mode), group in results.groupby(["backbone", "mode"], sort=False):
        table = chance[chance["backbone"] == backbone] if "backbone" in chance else chance
        row = {"backbone": backbone, "mode": mode, "weights": group["weights"].iloc[0] if "weights" in group else "?",
               "augmentation": group["augmentation"].iloc[0] if "augmentation" in group else "?", "seeds": len(group)}
        for col in ("val_accuracy", "accuracy", "macro_f1"):
            values = pd.to_numeric(group[col], errors="coerce")
            row[f"{col}_mean"], row[f"{col}_sd"] = float(values.mean()), float(values.std())
        row["chance_val_accuracy"] = _chance_level(table, "val", "accuracy")
        row["chance_accuracy"] = _chance_level(table, "test", "accuracy")
        row["chance_macro_f1"] = _chance_level(table, "test", "macro-F1")
        row["val_beats_chance"] = bool(np.isfinite(row["val_accuracy_mean"]) and beats_chance(
            row["val_accuracy_mean"], row["val_accuracy_sd"], row["chance_val_accuracy"]))
        above = all(np.isfinite(row[f"{m}_mean"]) and beats_chance(row[f"{m}_mean"], row[f"{m}_sd"], row[f"chance_{m}"])
                    for m in ("accuracy", "macro_f1"))
        row["verdict"] = ("at chance" if not above else "above chance beyond its SD" if len(group) > 1
                          else "above chance (1 seed: no SD)")
        rows.append(row)
    return pd.DataFrame(rows)


def best_on_validation(judged: pd.DataFrame, digits: int = 3) -> dict:
    """The model to call best among :func:`judge_against_chance`'s rows, chosen on VALIDATION accuracy only by
    :func:`helpers.evaluation.verdicts.choose_best` (the highest mean, only if it beats the validation chance baseline
    beyond its SD and the runner-up beyond both SDs). Returns ``{"best": (backbone, mode) or None, "candidate":
    (backbone, mode), "reason", "sentence"}``; the test numbers are read only after the choice."""
    if judged.empty:
        raise ValueError("best_on_validation: no models to choose from")
    named = judged.assign(_name=judged["backbone"].astype(str) + " " + judged["mode"].astype(str))
    status, top, versus = choose_best(named, "val_accuracy", chance="chance_val_accuracy", name="_name", n="seeds",
                                      label="validation accuracy", digits=digits)
    name, f = f"{top['backbone']} {top['mode']} ({top['weights']})", f".{digits}f"
    val = metrics.format_mean_sd(top["val_accuracy_mean"], top["val_accuracy_sd"], digits, n=int(top["seeds"]))
    out = {"best": None, "candidate": (top["backbone"], top["mode"]), "reason": status}
    if status == "at chance":
        out["sentence"] = (f"No model is called best: the highest validation accuracy, {name} {val}, is at chance "
                           f"(validation chance {top['chance_val_accuracy']:{f}}).")
    elif status == "no clear winner":
        out["sentence"] = f"No clear winner on validation accuracy: {versus.sentence}"
    else:
        test = metrics.format_mean_sd(top["accuracy_mean"], top["accuracy_sd"], digits, n=int(top["seeds"]))  # read after choosing
        out.update(best=out["candidate"], reason="best on validation")
        out["sentence"] = (f"Best on validation accuracy: {name}, {val} (validation chance "
                           f"{top['chance_val_accuracy']:{f}}); its test accuracy {test} against chance "
                           f"{top['chance_accuracy']:{f}}: {top['verdict']}.")
    return out


def write_chance(run, backbone: str, splits: dict, num_classes: int) -> pd.DataFrame:
    """The chance baselines of the val and test splits (the training split's class frequencies as the guessers'
    prior) in ``banana/<backbone>/chance.csv``; returns the table."""
    table = pd.concat([chance_table(splits[k][1], num_classes, prior=splits["train"][1], split=k)
                       for k in ("val", "test")], ignore_index=True)
    run.write_csv(f"{layout.backbone_dir(backbone)}/{layout.BACKBONE_CHANCE}", table)
    return table


def record_weights(run, backbone: str, choice) -> None:
    """Store ``choice`` in ``banana/<backbone>/weights.json`` and ``manifest["weights"][backbone]`` (report input)."""
    run.write_json(f"{layout.backbone_dir(backbone)}/{layout.BACKBONE_WEIGHTS}", choice.as_dict())
    run.update_manifest(lambda m: m.setdefault("weights", {}).__setitem__(backbone, choice.as_dict()))


def write_split(run, backbone: str, folder, index: dict, source, image_size: int, seed: int) -> pd.DataFrame:
    """Store ``split.csv`` (split, path, label) and ``data.json`` (06 rebuilds the test images); returns the table."""
    table = pd.DataFrame([{"split": k, "path": folder.paths[i], "label": int(folder.labels[i])}
                          for k, idx in index.items() for i in idx])
    run.write_csv(f"{layout.backbone_dir(backbone)}/{layout.BACKBONE_SPLIT}", table)
    run.write_json(f"{layout.backbone_dir(backbone)}/{layout.BACKBONE_DATA}", {
        "data_dir": str(source), "image_size": image_size, "class_names": folder.class_names, "seed": seed})
    return table


def transfer_backbone(run, backbone: str, params: Mapping, build: Callable, fine_tune: Callable,
                      progress: bool = True) -> pd.DataFrame:
    """Notebook 05's steps for one more backbone, as for its first: images at the backbone's size, its initial
    weights (recorded, announced), the same split, :func:`run_transfer` with the notebook's functions, reports."""
    spec, P = backbones.get_backbone(backbone), params
    size = backbones.effective_image_size(spec.name, P["image_size"])
    source = P["data_dir"] or images.embedded_banana_dir(n_per_class=P["n_per_class"], image_size=max(96, size),
                                                          difficulty=P.get("difficulty", 1.0))
    folder = images.load_image_folder(source, image_size=size, max_per_class=P["max_per_class"])
    choice = backbones.resolve_weights(spec.name, P["weights"])
    record_weights(run, spec.name, choice)
    print(f"{spec.name}: image size {size} px; {choice.banner(num_classes=len(folder.class_names))}")
    splits, index = images.split_dataset(folder, P["test_size"], P["val_size"], seed=P["seed"], return_indices=True)
    write_split(run, spec.name, folder, index, source, size, P["seed"])
    chance = write_chance(run, spec.name, splits, len(folder.class_names))
    results = run_transfer(run, spec.name, splits, folder.class_names, params, build, fine_tune, image_size=size,
                           weights=choice.weights, progress=progress)
    report_backbone(run, spec.name, results, folder.class_names, chance)
    return results
