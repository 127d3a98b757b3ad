"""The sections around the results: highlights, task and data, training, fairness, discussion,
environment, references -- and :func:`build_report`, which puts every section of one run together."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from helpers import layout, profiles, runs
from helpers.evaluation.metrics import format_mean_sd
from helpers.report import readers, tracks
from helpers.report.document import Report, Section

__all__ = ["build_report", "executions", "notebook_parameters", "data_source"]

TRAINING_PARAMETERS = ("epochs", "batch_size", "learning_rate", "fine_tune_epochs", "fine_tune_learning_rate",
                       "image_size", "seeds", "backbones", "mode", "weights", "cv", "variants", "delta", "param_grid",
                       "optimizer", "lr_schedule", "data_fraction", "n_samples", "engine", "val_size")


def executions(manifest: dict) -> dict[str, dict]:
    """The manifest's notebook entries, without the echo a notebook leaves when it records itself under
    ``<key>-<label>`` while the runner records the same execution under ``<key>``."""
    nbs = manifest.get("notebooks") or {}
    return {key: entry for key, entry in nbs.items()
            if not ((label := (entry.get("parameters") or {}).get("label")) and key.endswith(f"-{label}")
                    and key[: -len(label) - 1] in nbs and not entry.get("output"))}


def notebook_parameters(manifest: dict, notebooks: Sequence[str] = profiles.NOTEBOOKS) -> list[tuple[str, dict]]:
    """(execution key, parameters) of the executions of ``notebooks``, in the manifest's order."""
    return [(k, v.get("parameters") or {}) for k, v in executions(manifest).items() if k.split("-")[0] in notebooks]


def _parameter(manifest: dict, notebooks: Sequence[str], name: str):
    return next((p[name] for _k, p in notebook_parameters(manifest, notebooks) if name in p), None)


def data_source(manifest: dict) -> dict[str, str]:
    """Where each track's data came from: the user's CSV / image folder, or the embedded data."""
    out = {}
    tabular = notebook_parameters(manifest, profiles.TABULAR_NOTEBOOKS)
    if tabular:
        path = next((p["data_path"] for _k, p in reversed(tabular) if p.get("data_path")), None)
        fractions: dict[str, list[str]] = {}
        for key, p in tabular:
            if p.get("data_fraction") is not None and key[:2] not in fractions.setdefault(str(p["data_fraction"]), []):
                fractions[str(p["data_fraction"])].append(key[:2])
        fraction = ", ".join(f"{f} in {'/'.join(nbs)}" for f, nbs in fractions.items())
        out["tabular"] = (f"your CSV `{path}`" if path else "the embedded synthetic breathing-pattern data "
                          "(`helpers.data.breathing`, generated deterministically by seed"
                          f"{f'; data_fraction {fraction}' if fraction else ''})")
    images = notebook_parameters(manifest, profiles.IMAGE_NOTEBOOKS)
    if images:
        folder = next((p["data_dir"] for _k, p in reversed(images) if p.get("data_dir")), None)
        out["images"] = (f"your image folder `{folder}`" if folder else "the embedded synthetic banana images "
                         "(`helpers.data.images`, drawn deterministically by seed)")
    return out


def section_task_data(manifest: dict, run_path: Path, tabular: dict, images: dict) -> Section:
    s = Section("data", "Task and data")
    tasks = (["tabular: single-label multi-class classification of breathing patterns, searched as one-vs-rest "
              "binary problems per label"] if tabular["present"] else [])
    tasks += ["images: single-label multi-class image classification (banana types)"] if images["present"] else []
    tasks += [f"{name.replace('_', ' ')}: image classification experiments"
              for name in (layout.CNN_ARCHITECTURE, layout.IMBALANCED) if (run_path / name).is_dir()]
    s.note("**Task type.** " + ("; ".join(tasks) + "." if tasks else "no track ran in this run."))
    if source := data_source(manifest):
        s.note("**Data source.** " + "; ".join(f"{k}: {v}" for k, v in source.items()) + ".")
    split = []
    test_size = _parameter(manifest, profiles.TABULAR_NOTEBOOKS, "test_size")
    if test_size is not None:
        split.append(f"tabular: stratified train/test split with test_size={test_size}; resampling and augmentation "
                     "are applied inside the training folds only, the test split is never resampled")
    if images["present"]:
        val_size = _parameter(manifest, profiles.IMAGE_NOTEBOOKS, "val_size")
        split.append("images: duplicate-aware stratified train/val/test split (exact duplicates kept in one split)"
                     + (f", val_size={val_size}" if val_size is not None else ""))
    if split:
        s.note("**Splitting.** " + "; ".join(split) + ".")
    imbalance = []
    if tabular["present"]:
        method = _parameter(manifest, ("02_upsampling",), "method")
        imbalance.append("tabular: four data variants compared (original, up = oversampling to the majority count, "
                         f"down, updown){f'; oversampling method {method}' if method else ''}")
    if (run_path / layout.IMBALANCED).is_dir():
        imbalance.append("images: class weights, label smoothing, LR schedules and CLAHE compared in the ablation")
    if imbalance:
        s.note("**Imbalance handling.** " + "; ".join(imbalance) + ".")
    return s


def _models_per_execution(key: str, entry: dict, tabular: dict, images: dict, arch: dict) -> int:
    label = (entry.get("parameters") or {}).get("label")
    search, seeds, units = tabular.get("search"), images.get("units"), arch.get("units")
    if key.startswith("03") and search is not None and len(search):
        return int((search["variant"] == label).sum()) if label else len(search)
    if key.startswith("05") and seeds is not None and len(seeds):
        return int((seeds["backbone"] == label).sum()) if label else len(seeds)
    return len(units) if key.startswith("07") and units is not None else 0


def section_training(manifest: dict, run_path: Path, tabular: dict, images: dict, arch: dict) -> Section:
    """Architectures (read from the saved .keras configs) and the training parameters of each notebook."""
    s = Section("training", "Network architecture and training strategy")
    shown = 0
    for name, models in (("tabular MLP", tabular.get("models") or {}), ("transfer model", images.get("models") or {})):
        for key, path in list(models.items())[:1]:
            try:
                layers, compiled = readers.keras_architecture(path)
            except ValueError as err:
                s.problems.append(str(err).replace(str(run_path) + os.sep, ""))
                continue
            s.table(f"Architecture of the {name} {' / '.join(map(str, key))} (from `{os.path.relpath(path, run_path)}`)",
                    readers.compact_layers(layers))
            if compiled:
                rate = f" (learning rate {compiled['learning_rate']})" if "learning_rate" in compiled else ""
                s.note(f"{name}: loss `{compiled.get('loss')}`, optimizer `{compiled.get('optimizer')}`{rate}, "
                       f"metrics {compiled.get('metrics')}.")
            shown += 1
    units = arch.get("units")
    if units is not None and len(units) and "spec" in units.columns:
        s.table("CNN variants of notebook 07 (layer spec as trained)", units.drop_duplicates(["family", "variant"])[
            [c for c in ("family", "variant", "spec", "augment", "params") if c in units.columns]])
    rows = [{"execution": key, "parameters": json.dumps(picked, default=str)[:300]}
            for key, params in notebook_parameters(manifest)
            if (picked := {k: params[k] for k in TRAINING_PARAMETERS if k in params})]
    s.table("Training parameters per notebook execution (from the manifest)", pd.DataFrame(rows))
    times = [{"execution": key, "models": count, "seconds": entry["seconds"],
              "seconds per model": float(entry["seconds"]) / count}
             for key, entry in executions(manifest).items()
             if entry.get("seconds") and (count := _models_per_execution(key, entry, tabular, images, arch))]
    s.table("Approximate wall time per trained model (notebook wall time / models it trained, incl. evaluation "
            "and I/O)", pd.DataFrame(times))
    if not shown and not rows:
        s.note("No saved model or training parameters in this run.")
    return s


def section_environment(manifest: dict, devices: Sequence[str] = ()) -> Section:
    """Library versions, device and the wall time per notebook execution, from the manifest."""
    s = Section("environment", "Environment and wall time")
    rows = [{"item": k, "value": v} for k, v in (manifest.get("versions") or {}).items()]
    hardware = manifest.get("devices") or {}
    for k in ("platform", "processor", "cpu_count", "gpus"):
        if k in hardware:
            v = hardware[k]
            rows.append({"item": k, "value": "none (CPU only)" if k == "gpus" and not v else
                         ", ".join(v) if isinstance(v, list) else v})
    rows += [{"item": "device used for timings", "value": d} for d in sorted(set(devices))]
    if not hardware:
        s.note("The manifest records no device description; devices below are those the notebooks reported with "
               "their timings.")
    s.table("Library versions and hardware (from the run's manifest)", pd.DataFrame(rows))
    nbs = executions(manifest)
    if not nbs:
        s.note("The manifest records no notebook executions.")
        return s
    frame = pd.DataFrame([{"execution": k, "status": v.get("status"), "seconds": v.get("seconds"),
                           "started": v.get("started"), "finished": v.get("finished")} for k, v in nbs.items()])
    s.table("Wall time per notebook execution (seconds, from the manifest)", frame)
    s.note(f"{len(frame)} notebook execution(s) recorded; total wall time "
           f"{pd.to_numeric(frame['seconds'], errors='coerce').sum():.0f} s.")
    return s


def section_fair_comparison(facts: dict) -> Section:
    s = Section("fairness", "Fair-comparison notes")
    s.note("Training time is compared as **seconds per epoch averaged over epochs, excluding the first** (which "
           "includes graph tracing). Inference time is **milliseconds per image, batched, after a warm-up, on the "
           "same test images and the same device** for every model. Losses are compared only between models trained "
           "with the same loss function (cross-entropy); macro-F1 is the headline metric for imbalanced data because "
           "accuracy rewards the majority class.")
    devices = sorted(facts.get("devices") or [])
    if devices:
        s.note("Devices used for the timings in this run: " + ", ".join(devices) + ".")
    if len(devices) > 1:
        s.problems.append("timings come from more than one device; compare them only within one device")
    return s


def _value(mean: float, sd: float, n: int) -> str:
    """``0.912 ± 0.013 over 3 seeds`` or ``0.912 (1 seed)``."""
    return format_mean_sd(mean, sd, n=n) + (f" over {n} seeds" if n > 1 else "")


def highlights_and_discussion(facts: dict, profile: str) -> tuple[Section, Section]:
    """The highlights (a few bullets) and the discussion, every sentence generated from ``facts``."""
    bullets, discussion = [], []
    if "images_best" in facts:
        backbone, mode, mean, sd, n, ties, total = facts["images_best"]
        value = format_mean_sd(mean, sd, n=n)
        init = (facts.get("images_weights") or {}).get(backbone)
        bullets.append(f"Transfer learning: {ties} of {total} backbone x mode combinations tie for the best test "
                       f"accuracy, {value}." if ties > 1 else f"Best transfer model on the test split: **{backbone} "
                       f"({mode})**" + (f", {init}" if init else "") + f", accuracy {value}"
                       + (f" (mean ± SD over {n} seeds)." if n > 1 else "."))
        chance = facts.get("images_chance")
        if chance and mean <= chance + 0.05:
            discussion.append(f"The best test accuracy of the transfer models ({mean:.3f}) is at chance level "
                              f"({chance:.3f} for {round(1 / chance)} classes): with this profile the models did not "
                              "learn the task yet (too few epochs / images, or no pretrained weights).")
    random_init = [b for b, w in (facts.get("images_weights") or {}).items() if "random" in str(w)]
    if random_init:
        many = len(random_init) > 1
        bullets.append("Transfer learning without ImageNet weights: " + ", ".join(random_init)
                       + (" start" if many else " starts") + " from **random initialisation (no ImageNet weights)**, "
                       f"so {'their' if many else 'its'} results say nothing about transfer learning.")
    finetune = facts.get("finetune_verdicts", [])
    discussion += [f"Fine-tuning vs frozen: {v.sentence}" for v in finetune]
    if finetune:
        undetermined = sum(v.verdict == "undetermined" for v in finetune)
        bullets.append(f"Fine-tuning vs frozen base: a difference beyond the SDs for "
                       f"{sum(v.verdict == 'differ' for v in finetune)} of {len(finetune)} backbone(s)"
                       + (f" ({undetermined} undetermined: a single seed has no SD)." if undetermined else "."))
    winners = facts.get("tabular_winners")
    if winners is not None and len(winners):
        bullets.append("Tabular grid search: the chosen data variant per label is " + ", ".join(
            f"{w} for {int(c)} label(s)" for w, c in winners["winner"].value_counts().items()) + " (validation folds).")
        unclear = int((winners["beyond_sd"] == False).sum()) if "beyond_sd" in winners else 0  # noqa: E712
        if unclear:
            discussion.append(f"For {unclear} of {len(winners)} labels the winning variant is within the SD of the "
                              "runner-up across CV folds: the choice of variant is not a clear win there.")
    if "tabular_imbalance" in facts:
        big, small, ratio = facts["tabular_imbalance"]
        discussion.append(f"The tabular data is imbalanced ({big} vs {small}: {ratio:.1f}:1), so per-label "
                          "precision-recall scores and macro-F1 are reported rather than accuracy alone.")
    if "retrain_best" in facts:
        name, metric, mean, sd, n = facts["retrain_best"]
        bullets.append(f"Retraining comparison: best is **{name}** with {metric} {format_mean_sd(mean, sd, n=n)} (test).")
    for key, label in (("cnn_architecture_best", "CNN architecture"), ("imbalanced_best", "Ablation")):
        for family, variant, metric, mean, sd, n, base in facts.get(key, []):
            discussion.append(f"{label} [{family}]: best variant {variant} with {metric} {_value(mean, sd, n)} "
                              f"(baseline of the comparison: {base}).")
        if facts.get(key):
            family, variant, metric, mean, sd, n, _base = max(facts[key], key=lambda t: t[3])
            where = "" if family == "all" else f" ({family})"
            bullets.append(f"{label}: best is {variant}{where} with {metric} {_value(mean, sd, n)}.")
    verdicts = Counter(facts.get("fit_verdicts", []))
    if verdicts:
        bullets.append(f"Fit verdicts over {verdicts.total()} train-vs-validation curves: "
                       + ", ".join(f"{k}: {v}" for k, v in verdicts.most_common()) + ".")
        if verdicts["inconclusive"] or verdicts["underfitting"]:
            discussion.append(f"{verdicts['underfitting']} curve(s) are judged underfitting and "
                              f"{verdicts['inconclusive']} inconclusive: with the `{profile}` profile the models train "
                              "for few epochs, so these numbers show the pipeline works, not the best achievable "
                              "accuracy; the `full` profile trains longer.")
        if verdicts["overfitting"]:
            discussion.append(f"{verdicts['overfitting']} curve(s) overfit (validation loss rising while training loss "
                              "falls, or a large accuracy gap): early stopping or more regularisation would help there.")
    if bullets and profile in ("smoke", "demo"):
        bullets.append(f"Profile `{profile}`: small data and few epochs; rerun with `--profile full` for the brief's "
                       "settings.")
    highlights = Section("highlights", "Highlights", text=["\n".join(f"- {b}" for b in bullets[:6]) if bullets else
                                                           "No results in this run yet: no track produced complete "
                                                           "artifacts."])
    discussed = ("\n".join(f"- {t}" for t in discussion)
                 or "- Nothing to discuss: no track produced comparable results in this run.")
    return highlights, Section("discussion", "Discussion and conclusion",
                               text=["Every sentence below is generated from this run's numbers.", discussed])


def section_references(manifest: dict) -> Section:
    libraries = ", ".join(f"{k} {v}" for k, v in (manifest.get("versions") or {}).items())
    return Section("references", "References and citing", text=[
        f"Libraries (versions from the run's manifest): {libraries or 'not recorded'}; papermill and nbval run the "
        "notebooks. Methods: Glorot & Bengio 2010 (initialisation), He et al. 2015 (initialisation), Simonyan & "
        "Zisserman 2015 (VGG16), He et al. 2016 (ResNet v2), Chollet 2017 (Xception), Szegedy et al. 2016 "
        "(Inception v3, label smoothing), Selvaraju et al. 2017 (Grad-CAM), Cui et al. 2019 (class-balanced loss, "
        "effective number of samples), Chawla et al. 2002 (SMOTE) -- BibTeX entries in "
        "[Citing.bib](../../../Citing.bib) of the repository, which also says how to cite this repository."])


def build_report(run_dir: str | os.PathLike | runs.Run | None = None) -> Report:
    """Read a run directory (None: the latest run) and build every section (figures as Matplotlib objects).

    Sections: highlights, data, training, tabular, images, cnn_architecture, imbalanced, fairness,
    discussion, environment, references. A track that did not run has status "not run".
    """
    os.environ.setdefault("MPLBACKEND", "Agg")
    if run_dir is None:
        path = runs.latest_run().path
    else:
        path = run_dir.path if isinstance(run_dir, runs.Run) else runs.resolve_run_path(run_dir)
    if not (path / runs.MANIFEST).exists():
        raise FileNotFoundError(f"{path} is not a run directory: {runs.MANIFEST} is missing")
    manifest = readers.load_manifest(path)
    facts: dict[str, Any] = {}
    tabular, images = readers.load_tabular(path), readers.load_images(path)
    arch, imbalanced = readers.load_architecture(path), readers.load_imbalanced(path)
    results = [tracks.section_tabular(tabular, facts), tracks.section_images(images, facts),
               tracks.section_family(arch, facts), tracks.section_family(imbalanced, facts)]
    facts["devices"] = set().union(*(d.get("devices") or set() for d in (images, arch, imbalanced)))
    highlights, discussion = highlights_and_discussion(facts, manifest.get("profile") or "unknown")
    sections = [highlights, section_task_data(manifest, path, tabular, images),
                section_training(manifest, path, tabular, images, arch), *results, section_fair_comparison(facts),
                discussion, section_environment(manifest, sorted(facts["devices"])), section_references(manifest)]
    return Report(run_path=path, manifest=manifest, sections=sections, facts=facts)
