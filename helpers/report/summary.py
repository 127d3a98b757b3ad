"""The sections around the results (highlights, data, training, discussion...) and :func:`build_report` of a run."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from helpers import layout, profiles, runs
from helpers.evaluation.metrics import format_mean_sd
from helpers.report.document import Report, Section
from helpers.report.readers import compact_layers, keras_architecture, load_family, load_images, load_tabular
from helpers.report.tracks import section_family, section_images, section_tabular

TRAINING_PARAMETERS = ("epochs", "batch_size", "learning_rate", "fine_tune_epochs", "fine_tune_learning_rate",
                       "image_size", "seeds", "backbones", "mode", "weights", "cv", "variants", "delta", "param_grid",
                       "optimizer", "lr_schedule", "data_fraction", "n_samples", "engine", "val_size")


def executions(manifest: dict) -> dict[str, dict]:
    """The notebook entries, less the ``<key>-<label>`` echo of an execution the runner records as ``<key>``."""
    nbs = manifest.get("notebooks") or {}
    return {key: entry for key, entry in nbs.items()
            if not ((label := (entry.get("parameters") or {}).get("label")) and key.endswith(f"-{label}")
                    and key[: -len(label) - 1] in nbs and not entry.get("output"))}


def notebook_parameters(manifest: dict, notebooks: Sequence[str] = profiles.NOTEBOOKS) -> list[tuple[str, dict]]:
    """(execution key, parameters) of the executions of ``notebooks``, in the manifest's order."""
    return [(k, v.get("parameters") or {}) for k, v in executions(manifest).items() if k.split("-")[0] in notebooks]


def _parameter(manifest: dict, notebooks: Sequence[str], name: str, last: bool = False):
    """The first (``last``: the last non-empty) value of parameter ``name`` among the executions of ``notebooks``."""
    params = notebook_parameters(manifest, notebooks)
    return next((p[name] for _k, p in (reversed(params) if last else params) if (p.get(name) if last else name in p)),
                None)


def data_source(manifest: dict) -> dict[str, str]:
    """Where each track's data came from: the user's CSV / image folder, or the embedded data."""
    out, tabular = {}, notebook_parameters(manifest, profiles.TABULAR_NOTEBOOKS)
    if tabular:
        given = [(str(p["data_fraction"]), k[:2]) for k, p in tabular if p.get("data_fraction") is not None]
        fractions = pd.DataFrame(given, columns=["f", "nb"]).drop_duplicates().groupby("f", sort=False)["nb"]
        fraction = ", ".join(f"{f} in {'/'.join(nbs)}" for f, nbs in fractions)
        path = _parameter(manifest, profiles.TABULAR_NOTEBOOKS, "data_path", last=True)
        out["tabular"] = (f"your CSV `{path}`" if path else "the embedded synthetic breathing-pattern data "
                          "(`helpers.data.breathing`, generated deterministically by seed"
                          f"{f'; data_fraction {fraction}' if fraction else ''})")
    if notebook_parameters(manifest, profiles.IMAGE_NOTEBOOKS):
        folder = _parameter(manifest, profiles.IMAGE_NOTEBOOKS, "data_dir", last=True)
        out["images"] = (f"your image folder `{folder}`" if folder else "the embedded synthetic banana images "
                         "(`helpers.data.images`, drawn deterministically by seed)")
    return out


def section_task_data(manifest: dict, run_path: Path, tabular: dict, images: dict) -> Section:
    """Task type, data source, splitting and imbalance handling of the tracks that ran."""
    test_size, method = (_parameter(manifest, nbs, n) for nbs, n in ((profiles.TABULAR_NOTEBOOKS, "test_size"),
                                                                     (("02_upsampling",), "method")))
    val_sizes = [f"{k[:2]}: {p['val_size']}" for k, p in notebook_parameters(manifest) if p.get("val_size") is not None]
    image_test = [f"{k[:2]}: {p['test_size']}" for k, p in notebook_parameters(manifest, profiles.IMAGE_NOTEBOOKS)
                  if p.get("test_size") is not None]
    delta = _parameter(manifest, ("03_gridsearch",), "delta")
    tasks = (["tabular: single-label multi-class classification of breathing patterns, searched as one-vs-rest "
              "binary problems per label"] if tabular["present"] else [])
    tasks += ["images: single-label multi-class image classification (banana types)"] if images["present"] else []
    tasks += [f"{name.replace('_', ' ')}: image classification experiments"
              for name in (layout.CNN_ARCHITECTURE, layout.IMBALANCED) if (run_path / name).is_dir()]
    split = ([f"tabular: stratified train/test split with test_size={test_size}; resampling and augmentation are "
              "applied inside the training folds only, the test split is never resampled"] if test_size is not None
             else [])
    split += ["images: duplicate-aware stratified train/val/test split (exact duplicates kept in one split)"
              ] if images["present"] else []
    split += [f"images: test share (test_size) per notebook: {', '.join(dict.fromkeys(image_test))}"] if image_test else []
    split += [f"validation share (val_size, of the training part) per notebook: {', '.join(dict.fromkeys(val_sizes))}"
              ] if val_sizes else []
    if delta is None:  # not in the manifest: the profile's value
        try:
            delta = profiles.defaults("03_gridsearch", manifest.get("profile") or "").get("delta")
        except (KeyError, ValueError):
            delta = None
    shift = f"{delta}" if delta is not None else "delta"
    imbalance = ([f"tabular: four data variants compared in 03's training folds -- original (the rows as they are), "
                  f"up (the rows plus a copy with every feature +{shift}), down (plus a copy -{shift}), updown (plus "
                  "both copies, 3x the rows); 04 then oversamples every minority label to the majority count "
                  f"(random duplicates, or model-guided synthesis){f'; 02 shows method {method}' if method else ''}"]
                 if tabular["present"] else [])
    imbalance += (["images: class weights, label smoothing, LR schedules and CLAHE compared in the ablation"]
                  if (run_path / layout.IMBALANCED).is_dir() else [])
    s = Section("data", "Task and data")
    s.note("**Task type.** " + ("; ".join(tasks) + "." if tasks else "no track ran in this run."))
    for head, parts in (("Data source", [f"{k}: {v}" for k, v in data_source(manifest).items()]),
                        ("Splitting", split), ("Imbalance handling", imbalance)):
        if parts:
            s.note(f"**{head}.** " + "; ".join(parts) + ".")
    return s


def _models_per_execution(key: str, entry: dict, tabular: dict, images: dict, arch: dict) -> int:
    label = (entry.get("parameters") or {}).get("label")
    for prefix, frame, column in (("03", tabular.get("search"), "variant"), ("05", images.get("units"), "backbone")):
        if key.startswith(prefix) and frame is not None and len(frame):
            return int((frame[column] == label).sum()) if label else len(frame)
    return len(arch["units"]) if key.startswith("07") and arch.get("units") is not None else 0


def section_training(manifest: dict, run_path: Path, tabular: dict, images: dict, arch: dict) -> Section:
    """Architectures (read from the saved .keras configs) and the training parameters of each notebook."""
    s, shown = Section("training", "Network architecture and training strategy"), 0
    for name, models in (("tabular MLP", tabular.get("models") or {}), ("transfer model", images.get("models") or {})):
        for key, path in list(models.items())[:1]:
            try:
                layers, compiled = keras_architecture(path)
            except ValueError as err:
                s.problems.append(str(err).replace(str(run_path) + os.sep, ""))
                continue
            where = f"{' / '.join(map(str, key))} (from `{os.path.relpath(path, run_path)}`)"
            s.table(f"Architecture of the {name} {where}", compact_layers(layers))
            if compiled:
                rate = f" (learning rate {compiled['learning_rate']})" if "learning_rate" in compiled else ""
                s.note(f"{name}: loss `{compiled.get('loss')}`, optimizer `{compiled.get('optimizer')}`{rate}, "
                       f"metrics {compiled.get('metrics')}.")
            shown += 1
    if (units := arch.get("units")) is not None and "spec" in units.columns:
        s.table("CNN variants of notebook 07 (layer spec as trained)", units.drop_duplicates(["family", "variant"])[
            [c for c in ("family", "variant", "spec", "augment", "params") if c in units.columns]])
    rows = [{"execution": key, "parameters": json.dumps(picked, default=str)[:300]}
            for key, params in notebook_parameters(manifest)
            if (picked := {k: params[k] for k in TRAINING_PARAMETERS if k in params})]
    s.table("Training parameters per notebook execution (from the manifest)", pd.DataFrame(rows))
    times = [{"execution": key, "models": count, "seconds": entry["seconds"],
              "seconds per model": float(entry["seconds"]) / count} for key, entry in executions(manifest).items()
             if entry.get("seconds") and (count := _models_per_execution(key, entry, tabular, images, arch))]
    s.table("Approximate wall time per trained model (notebook wall time / models it trained, incl. evaluation "
            "and I/O)", pd.DataFrame(times))
    if not shown and not rows:
        s.note("No saved model or training parameters in this run.")
    return s


def section_environment(manifest: dict, devices: Sequence[str] = ()) -> Section:
    """Library versions, device and the wall time per notebook execution, from the manifest."""
    s, hardware = Section("environment", "Environment and wall time"), manifest.get("devices") or {}
    rows = [{"item": k, "value": v} for k, v in (manifest.get("versions") or {}).items()]
    shown = {k: hardware[k] for k in ("platform", "processor", "cpu_count", "gpus") if k in hardware}
    rows += [{"item": k, "value": "none (CPU only)" if k == "gpus" and not v else ", ".join(v) if isinstance(v, list)
              else v} for k, v in shown.items()]
    rows += [{"item": "device used for timings", "value": d} for d in sorted(set(devices))]
    if not hardware:
        s.note("The manifest records no device description; devices below are those the notebooks reported with "
               "their timings.")
    s.table("Library versions and hardware (from the run's manifest)", pd.DataFrame(rows))
    if not (nbs := executions(manifest)):
        s.note("The manifest records no notebook executions.")
        return s
    frame = pd.DataFrame([{"execution": k, **{c: v.get(c) for c in ("status", "seconds", "started", "finished")}}
                          for k, v in nbs.items()])
    s.table("Wall time per notebook execution (seconds, from the manifest)", frame)
    s.note(f"{len(frame)} notebook execution(s) recorded; total wall time "
           f"{pd.to_numeric(frame['seconds'], errors='coerce').sum():.0f} s.")
    return s


def section_fair_comparison(facts: dict) -> Section:
    """How timings, losses and scores are compared, and the devices the timings come from."""
    s, devices = Section("fairness", "Fair-comparison notes"), sorted(facts.get("devices") or [])
    s.note("Training time is compared as **seconds per epoch averaged over epochs, excluding the first** (which "
           "includes graph tracing). Inference time is **milliseconds per image, batched, after a warm-up, on the "
           "same test images and the same device** for every model. Losses are compared only between models trained "
           "with the same loss function (cross-entropy); macro-F1 is the headline metric for imbalanced data because "
           "accuracy rewards the majority class.")
    if devices:
        s.note("Devices used for the timings in this run: " + ", ".join(devices) + ".")
    if len(devices) > 1:
        s.problems.append("timings come from more than one device; compare them only within one device")
    return s


def _pm(mean: float, sd: float, n: int) -> str:
    return format_mean_sd(mean, sd, n=n) + (f" over {n} seeds" if n > 1 else "")


def highlights_and_discussion(facts: dict, profile: str) -> tuple[Section, Section]:
    """The highlights (a few bullets: only what is beyond the SDs and above chance) and the discussion, every
    sentence generated from ``facts``."""
    bullets, discussion, weights = [], [], facts.get("images_weights") or {}
    if random_init := facts.get("images_random") or [b for b, w in weights.items() if "random" in str(w)]:
        many = len(random_init) > 1
        bullets.append("Transfer learning without ImageNet weights: " + ", ".join(random_init)
                       + (" start" if many else " starts") + " from **random initialisation (no ImageNet weights)**, "
                       f"so {'their' if many else 'its'} results say nothing about transfer learning.")
    if arch := facts.get("cnn_architecture_overall"):
        status, family, variant, metric, mean, sd, n, test_mean, test_sd, level, test_level = arch
        test = (f"; test accuracy {_pm(test_mean, test_sd, n)}" + (f" vs chance {test_level:.3f}" if test_level else "")
                if test_mean is not None else "")
        chance = f" vs chance {level:.3f}" if level is not None else ""
        bullets.append({"best": f"CNN architecture, chosen on validation: **{variant}** ({family}), {metric} "
                                f"{_pm(mean, sd, n)}{chance}{test}.",
                        "at chance": f"CNN architecture: every variant is at chance on validation (highest {metric} "
                                     f"{_pm(mean, sd, n)}{chance}).",
                        "no clear winner": f"CNN architecture: no variant is ahead of the runner-up beyond the SDs; the "
                                           f"highest {metric} is {variant} ({family}), {_pm(mean, sd, n)}{chance}{test}."
                        }[status])
    if head_tail := facts.get("imbalanced_head_tail"):
        hm, hs, tm, ts = head_tail
        helped = [(name, diff) for family, name, v, diff in facts.get("imbalanced_versus_baseline", []) if v == "differ"]
        metric = (facts.get("imbalanced_overall") or (None,) * 4)[3] or "macro_f1"
        bullets.append(f"Long tail: the baseline recalls the head class {format_mean_sd(hm, hs)} but the tail class "
                       f"{format_mean_sd(tm, ts)} (test); "
                       + ("beyond the SDs against the baseline in test " + metric + ": "
                          + ", ".join(f"{name} {diff:+.3f}" for name, diff in helped) + "." if helped else
                          f"no technique changes test {metric} beyond the SDs."))
    elif facts.get("imbalanced_versus_baseline"):
        helped = [(name, diff) for family, name, v, diff in facts["imbalanced_versus_baseline"] if v == "differ"]
        bullets.append("Ablation: " + ("beyond the SDs against the baseline: " + ", ".join(
            f"{name} {diff:+.3f}" for name, diff in helped) + "." if helped else
            "no technique differs from the baseline beyond the SDs."))
    if "images_best" in facts:
        status, backbone, mode, mean, sd, n, key = facts["images_best"]
        init, chance = weights.get(backbone), facts.get("images_chance")
        chosen = "validation accuracy" if key == "val_accuracy" else "test accuracy"
        bullets.append({"best": f"Transfer learning, chosen on {chosen}: **{backbone} ({mode})**"
                                + (f", {init}" if init else "") + f", test accuracy {_pm(mean, sd, n)}"
                                + (f" vs chance {chance:.3f}" if chance else "") + ".",
                        "at chance": "Transfer learning: the models are **at chance** on the test split (the one "
                                     f"chosen on {chosen}, {backbone} {mode}: test accuracy {_pm(mean, sd, n)}"
                                     + (f" vs chance {chance:.3f}" if chance else "") + ", and its accuracy and "
                                     "macro-F1 are not both above chance beyond their SDs): no model is called best.",
                        "no clear winner": f"Transfer learning: no backbone x mode is ahead beyond the SDs on {chosen}; "
                                           f"{backbone} ({mode}) scores {_pm(mean, sd, n)} on test."}[status])
    if finetune := facts.get("finetune_verdicts", []):
        discussion += [f"Fine-tuning vs frozen: {v.sentence}" for v in finetune]
        if differ := sum(v.verdict == "differ" for v in finetune):
            bullets.append(f"Fine-tuning vs frozen base: a difference beyond the SDs for {differ} of {len(finetune)} "
                           "backbone(s).")
    if (winners := facts.get("tabular_winners")) is not None and len(winners):
        clear = winners[winners["verdict"] == "chosen (ahead beyond the SDs)"] if "verdict" in winners else winners[:0]
        if len(clear):
            bullets.append("Tabular grid search, variant above the positive rate and ahead of the runner-up beyond "
                           "the SDs (validation folds): " + ", ".join(f"{r.label}: {r.winner}" for r in
                                                                      clear.itertuples()) + ".")
        if unclear := int((winners.get("verdict") == "no clear winner").sum()):
            discussion.append(f"For {unclear} of {len(winners)} labels the highest-scoring variant is within the SDs "
                              "of the runner-up across CV folds: no clear winner there.")
        if at_chance := int((winners.get("verdict") == "at chance").sum()):
            discussion.append(f"For {at_chance} of {len(winners)} labels even the highest-scoring variant is at chance "
                              "(not above the label's positive rate beyond its SD): no variant is chosen there.")
    if at := facts.get("tabular_at_chance"):
        discussion.append(f"{at[0]} of {at[1]} grid searches (label x variant) do not beat their label's positive rate "
                          "(the average precision of a random ranking) beyond the SD.")
    if "tabular_imbalance" in facts:
        big, small, ratio = facts["tabular_imbalance"]
        discussion.append(f"The tabular data is imbalanced ({big} vs {small}: {ratio:.1f}:1), so per-label "
                          "precision-recall scores and macro-F1 are reported rather than accuracy alone.")
    if "retrain_best" in facts:
        status, name, metric, mean, sd, n, chosen, level = facts["retrain_best"]
        chance = f" vs chance {level:.3f}" if level is not None else ""
        text = {"best": f"Retraining comparison, chosen on {chosen} {metric}: **{name}**, ahead of the runner-up beyond "
                        f"the SDs; test {metric} {_pm(mean, sd, n)}{chance}.",
                "at chance": f"Retraining comparison: the strategy chosen on {chosen} ({name}) is **at chance** on the "
                             f"test split, {metric} {_pm(mean, sd, n)}{chance}: no strategy is called best.",
                "no clear winner": f"Retraining comparison: no strategy is ahead beyond the SDs on {chosen} (highest: "
                                   f"{name}, test {metric} {_pm(mean, sd, n)}{chance})."}[status]
        (bullets if status == "best" else discussion).append(text)
    for key, label in (("cnn_architecture_best", "CNN architecture"), ("imbalanced_best", "Ablation")):
        for status, family, variant, metric, mean, sd, n, base in facts.get(key, []):
            said = {"best": f"{variant} is ahead of the runner-up beyond the SDs and above chance",
                    "at chance": f"every variant is at chance (highest: {variant})",
                    "no clear winner": f"no clear winner (highest: {variant}, within the SDs of the runner-up)"}[status]
            discussion.append(f"{label} [{family}], {metric}: {said}, {_pm(mean, sd, n)} (baseline of the comparison: "
                              f"{base}).")
    if verdicts := Counter(facts.get("fit_verdicts", [])):
        discussion.append(f"Fit verdicts over {verdicts.total()} train-vs-validation curves: "
                          + ", ".join(f"{k}: {v}" for k, v in verdicts.most_common()) + ".")
        if verdicts["inconclusive"] or verdicts["underfitting"]:
            discussion.append(f"{verdicts['underfitting']} curve(s) are judged underfitting and "
                              f"{verdicts['inconclusive']} inconclusive: with the `{profile}` profile the models train "
                              "for few epochs, so these numbers show the pipeline works, not the best achievable "
                              "accuracy; the `full` profile trains longer.")
        if verdicts["overfitting"]:
            discussion.append(f"{verdicts['overfitting']} curve(s) overfit (validation loss rising while training "
                              "loss falls, or a large accuracy gap): early stopping or more regularisation would help "
                              "there.")
    if bullets and profile in ("smoke", "demo"):
        bullets.append(f"Profile `{profile}`: small data and few epochs; rerun with `--profile full` for the brief's "
                       "settings.")
    bullets = [f"- {b}" for b in bullets[:7]] or ["No results in this run yet: no track produced complete artifacts."]
    discussion = discussion or ["Nothing to discuss: no track produced comparable results in this run."]
    return Section("highlights", "Highlights", text=["\n".join(bullets)]), Section(
        "discussion", "Discussion and conclusion", text=["Every sentence below is generated from this run's numbers.",
                                                         "\n".join(f"- {t}" for t in discussion)])


def section_references(manifest: dict) -> Section:
    """The libraries (versions from the manifest) and the methods' papers, pointing to ``Citing.bib``."""
    libraries = ", ".join(f"{k} {v}" for k, v in (manifest.get("versions") or {}).items())
    return Section("references", "References and citing", text=[
        f"Libraries (versions from the run's manifest): {libraries or 'not recorded'}; papermill and nbval run the "
        "notebooks. Methods: Glorot & Bengio 2010 (initialisation), He et al. 2015 (initialisation), Simonyan & "
        "Zisserman 2015 (VGG16), He et al. 2016 (ResNet v2), Chollet 2017 (Xception), Szegedy et al. 2016 "
        "(Inception v3, label smoothing), Selvaraju et al. 2017 (Grad-CAM), Cui et al. 2019 (class-balanced loss, "
        "effective number of samples), Chawla et al. 2002 (SMOTE) -- BibTeX entries in "
        "[Citing.bib](../../../Citing.bib) of the repository, which also says how to cite this repository."])


def build_report(run_dir: str | os.PathLike | runs.Run | None = None) -> Report:
    """Read a run directory (None: the latest run) and build all its sections (figures as Matplotlib objects)."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    path = (runs.latest_run().path if run_dir is None else run_dir.path if isinstance(run_dir, runs.Run)
            else runs.resolve_run_path(run_dir))
    if not (path / runs.MANIFEST).exists():
        raise FileNotFoundError(f"{path} is not a run directory: {runs.MANIFEST} is missing")
    manifest, facts = runs.read_json(path / runs.MANIFEST), {}
    tabular, images = load_tabular(path), load_images(path)
    arch, imbalanced = (load_family(path, f) for f in (layout.CNN_ARCHITECTURE, layout.IMBALANCED))
    results = [section_tabular(tabular, facts), section_images(images, facts),
               section_family(arch, facts), section_family(imbalanced, facts)]
    facts["devices"] = set().union(*(d.get("devices") or set() for d in (images, arch, imbalanced)))
    highlights, discussion = highlights_and_discussion(facts, manifest.get("profile") or "unknown")
    sections = [highlights, section_task_data(manifest, path, tabular, images),
                section_training(manifest, path, tabular, images, arch), *results, section_fair_comparison(facts),
                discussion, section_environment(manifest, sorted(facts["devices"])), section_references(manifest)]
    return Report(run_path=path, manifest=manifest, sections=sections, facts=facts)
