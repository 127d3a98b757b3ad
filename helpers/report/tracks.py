"""The results sections, one per track: tables as mean ± SD over seeds (each naming its split), the
verdicts of :mod:`helpers.evaluation.verdicts`, train-vs-validation figures. Each section also adds
the facts the highlights and the discussion quote to ``facts``."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from helpers import layout
from helpers.evaluation import verdicts
from helpers.evaluation.metrics import format_mean_sd
from helpers.evaluation.verdicts import Verdict, fit_verdict, spread
from helpers.plots import plot_class_counts, plot_history
from helpers.report.document import Section
from helpers.training.experiments import mean_sd_table

__all__ = ["section_tabular", "section_images", "section_family", "weights_table", "history_figure", "mean_history"]

VARIANT_ORDER = ("original", "up", "down", "updown")
# The image track's columns, in the table's order: result name -> heading (the heading names the split).
IMAGE_METRICS = {"accuracy": "test accuracy", "loss": "test loss", "macro_f1": "test macro-F1",
                 "val_accuracy": "val accuracy", "train_accuracy_final": "train accuracy (final epoch)",
                 "mean_epoch_seconds": "s/epoch (excl. first)", "inference_ms_per_image": "inference ms/image",
                 "model_mb": "model MB"}
FAMILY_RANKING = ("val_macro_f1", "macro_f1", "test_macro_f1", "val_accuracy", "accuracy")
FAMILY_METRICS = ("val_accuracy", "val_accuracy_best", "train_accuracy", "test_accuracy", "macro_f1", "val_macro_f1",
                  "test_macro_f1", "mean_epoch_seconds")
FAMILY_TITLES = {layout.CNN_ARCHITECTURE: "CNN architecture search (notebook 07)",
                 layout.IMBALANCED: "Ablation: imbalanced-training techniques (notebook 08)"}
CONSTANT = ("params", "trainable_params")  # the same for every seed: shown as they are, not as mean ± SD


def mean_history(frames: Sequence[pd.DataFrame]) -> pd.DataFrame | None:
    """Several per-seed histories averaged epoch by epoch (truncated to the shortest)."""
    frames = [f for f in frames if f is not None and len(f)]
    if not frames:
        return None
    length = min(len(f) for f in frames)
    cols = [c for c in frames[0].columns if all(c in f.columns for f in frames)
            and pd.api.types.is_numeric_dtype(frames[0][c])]
    return pd.DataFrame({c: np.mean([f[c].to_numpy(dtype=float)[:length] for f in frames], axis=0) for c in cols})


def history_figure(history: pd.DataFrame, title: str):
    acc = verdicts.accuracy_key(history.columns)
    return plot_history(history, metrics=("loss", acc) if acc else ("loss",), title=title)


def _mean_sd(frame: pd.DataFrame, by: list[str], metrics: dict[str, str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(shown, numeric): the mean ± SD table over seeds of the ``metrics`` the frame has, and the same
    rows with the numeric ``<metric>_mean / _sd / _n`` columns for rankings and verdicts."""
    present = {m: h for m, h in metrics.items() if m in frame.columns and pd.api.types.is_numeric_dtype(frame[m])}
    keep = [c for c in CONSTANT if c in frame.columns]
    numeric = mean_sd_table(frame, by, present, keep=keep)
    return numeric[[c for c in numeric.columns if not c.endswith(("_mean", "_sd", "_n"))]], numeric


def _differ(a, b, metric: str, names: tuple[str, str], label: str) -> Verdict:
    """``differ_beyond_sd`` of two rows of a numeric mean ± SD table (``label`` names the metric)."""
    (ma, sa, na), (mb, sb, nb) = ((float(r[f"{metric}_mean"]), spread(r[f"{metric}_sd"]), int(r[f"{metric}_n"]))
                                  for r in (a, b))
    return verdicts.differ_beyond_sd(ma, sa, mb, sb, n_a=na, n_b=nb, names=names, metric=label)


def _fit_verdicts(section: Section, caption: str, rows: list[dict], facts: dict) -> None:
    """A fit-verdict table; a sentence shared by every row is stated once instead."""
    if not rows:
        return
    table = pd.DataFrame(rows)
    facts.setdefault("fit_verdicts", []).extend(table["verdict"])
    if table["sentence"].nunique() == 1 and len(table) > 1:
        section.note(f"{caption}: every curve gives the same verdict -- {table['sentence'].iloc[0]}")
        table = table.drop(columns="sentence")
    section.table(caption, table)


def _curves(section: Section, histories: dict, names: Sequence[str], caption: str, facts: dict, *,
            figure: str | None = None, prefix: str = "", chance: float | None = None) -> None:
    """Seed-averaged curves per key of ``histories``: one fit verdict each, and a figure when ``figure``."""
    rows = []
    for key, frames in sorted(histories.items()):
        mean = mean_history(frames)
        if mean is None:
            continue
        key = key if isinstance(key, tuple) else (key,)
        v = fit_verdict(mean, chance=chance)
        rows.append({**dict(zip(names, key)), "seeds": len(frames), "verdict": v.verdict, "sentence": v.sentence})
        if figure:
            what = prefix + " ".join(map(str, key))
            section.figure(f"{figure}_{'_'.join(map(str, key))}",
                           history_figure(mean, f"{what}: train vs validation (mean over {len(frames)} seeds)"),
                           f"{what}: train vs validation loss/accuracy, mean over {len(frames)} seed(s)")
    _fit_verdicts(section, caption, rows, facts)


def _class_counts(s: Section, counts: pd.DataFrame, facts: dict) -> None:
    s.table("Class counts of the whole dataset (before any resampling)", counts)
    numbers, names = counts.select_dtypes("number"), counts.select_dtypes(exclude="number")
    if numbers.shape[1] < 1:
        return
    series = numbers.iloc[:, 0].copy()
    if names.shape[1]:
        series.index = names.iloc[:, 0].astype(str)
    s.figure("tabular_class_counts", plot_class_counts(series, title="class counts (all rows)"),
             "Class counts of the tabular data (all rows, before resampling)")
    if series.min() > 0:
        ratio = float(series.max() / series.min())
        facts["tabular_imbalance"] = (str(series.idxmax()), str(series.idxmin()), ratio)
        s.note(f"Imbalance: the largest class `{series.idxmax()}` has {int(series.max())} rows, "
               f"the smallest `{series.idxmin()}` {int(series.min())} (ratio {ratio:.1f}:1).")


def _grid_search(s: Section, search: pd.DataFrame, data: dict, facts: dict) -> None:
    scoring = str(search["scoring"].iloc[0])
    order = {v: i for i, v in enumerate(VARIANT_ORDER)}
    search = search.assign(_o=search["variant"].map(lambda v: order.get(v, 99))).sort_values(["label", "_o"])
    view = search[["label", "variant"]].copy()
    view[f"{scoring} (val, mean ± SD over CV folds)"] = [format_mean_sd(m, spread(sd)) for m, sd in
                                                         zip(search["val_mean"], search["val_sd"])]
    for col in [c for c in search.columns if c.startswith("test_")]:
        view[f"{col[5:]} (test)"] = search[col]
    s.table(f"Grid search per variant and label (one-vs-rest; selection by {scoring} on the validation folds; "
            "test = the untouched test split, scored once)", view)
    winners = verdicts.winner_per_label(search.rename(columns={"val_mean": "score"}), sd="val_sd")
    if f"test_{scoring}" in search.columns:
        lookup = search.set_index(["label", "variant"])[f"test_{scoring}"]
        winners[f"{scoring} of the winner (test)"] = [lookup.get(k, float("nan"))
                                                      for k in zip(winners["label"], winners["winner"])]
    facts["tabular_winners"] = winners
    s.table(f"Chosen variant per label (highest {scoring} on the validation folds; the test column is reported, "
            "never used to choose)", winners[[c for c in winners.columns if c not in ("sentence", "tie", "beyond_sd")]])
    s.verdicts += [Verdict("winner", sentence) for sentence in winners["sentence"]]
    s.table("Best hyper-parameters per variant and label (from the grid search)", data.get("best_params"))


def section_tabular(data: dict, facts: dict) -> Section:
    """Class balance, the four-variant x label table, winners, fit verdicts, retraining comparison."""
    title = "Tabular track (notebooks 01-04)"
    if not data["present"]:
        return Section.not_run("tabular", title, f"no `{layout.TABULAR}/` folder in this run.")
    s = Section("tabular", title, problems=list(data["problems"]))
    if data.get("class_counts") is not None and len(data["class_counts"]):
        _class_counts(s, data["class_counts"], facts)
    for name, frame in data.get("eda_tables", {}).items():
        s.table(f"EDA: `{name}`", frame)
    for name, frame in data.get("upsampling", {}).items():
        s.table(f"Upsampling: `{name}` (the split column says which rows are counted; resampling is applied to "
                "the train split only)", frame)
    if data.get("search") is not None and len(data["search"]):
        _grid_search(s, data["search"], data, facts)
    histories, rows = data.get("histories") or {}, []
    for (variant, label), frame in sorted(histories.items()):
        v = fit_verdict(frame)
        rows.append({"variant": variant, "label": label, "verdict": v.verdict, "epochs": v.numbers.get("epochs"),
                     "sentence": v.sentence})
    _fit_verdicts(s, "Fit verdicts of the refit models (train = refit part, val = held-out part of the train split)",
                  rows, facts)
    winners = facts.get("tabular_winners")
    chosen = [(v, lab) for v, lab in sorted(histories) if winners is None
              or ((winners["label"] == lab) & (winners["winner"] == v)).any()]
    for variant, label in chosen[:4]:
        s.figure(f"tabular_history_{variant}_{label}",
                 history_figure(histories[(variant, label)], f"{label} ({variant}): train vs validation"),
                 f"Train vs validation curves, label {label}, variant {variant} (chosen variant)")
    for caption, frame in (data.get("retrain") or {}).items():
        s.table(f"Synthesis / retraining: `{caption}`", frame)
    comparison = data.get("comparison")
    if comparison is not None and len(comparison):
        metrics = {m: m for m in ("macro_f1", "accuracy", "balanced_accuracy")}
        table, numeric = _mean_sd(comparison, ["strategy", "split"], metrics)
        s.table("Retraining comparison (multi-class network): mean ± SD over seeds, per split (test = untouched "
                "test split, val = held-out part of the train split); macro-F1 = unweighted mean of the per-class F1",
                table.sort_values(["split", "strategy"], kind="stable"))  # test before val
        test = numeric[numeric["split"] == "test"].sort_values("macro_f1_mean", ascending=False)
        if len(test):
            best = test.iloc[0]
            facts["retrain_best"] = (str(best["strategy"]), "macro-F1", float(best["macro_f1_mean"]),
                                     float(best["macro_f1_sd"]), int(best["seeds"]))
            for _, row in test.iloc[1:].iterrows():
                s.verdicts.append(_differ(best, row, "macro_f1", (str(best["strategy"]), str(row["strategy"])),
                                          "test macro-F1"))
    _curves(s, data.get("retrain_histories") or {}, ["strategy"], "Fit verdicts of the retrained networks "
            "(seed-averaged train vs validation curves)", facts, figure="tabular_retrain_history",
            prefix="Retraining with ")
    for png in data.get("figures", []):
        if any(k in png.name.lower() for k in ("confusion", "comparison", "before_after")):
            s.figure(f"tabular_{png.stem}", png, f"{png.stem.replace('_', ' ')} (from `{png.parent.name}/`)")
    return s


def weights_table(data: dict) -> pd.DataFrame | None:
    """Backbone, initial weights ("ImageNet weights" / "random initialisation (no ImageNet weights)"),
    asked and the reason, from the ``weights.json`` files :func:`load_images` read (None when none)."""
    recorded = data.get("weights") or {}
    if not recorded:
        return None
    return pd.DataFrame([{"backbone": b, "initial weights": w.get("description") or w.get("used"),
                          "asked": w.get("asked"), "reason": w.get("reason")} for b, w in sorted(recorded.items())])


def _backbone_table(s: Section, seeds: pd.DataFrame, data: dict, facts: dict) -> None:
    if not any(m in seeds.columns for m in IMAGE_METRICS):
        s.note("The seed folders hold no recognised metric names; their numeric values: "
               + ", ".join(sorted(c for c in seeds.select_dtypes("number").columns)))
        return
    table, numeric = _mean_sd(seeds, ["backbone", "mode"], IMAGE_METRICS)
    s.table("Backbone x mode, mean ± SD over seeds. Split in each column name: test = the held-out test images "
            "(loss: mean cross-entropy; accuracy over images; macro-F1 unweighted over classes), val = validation, "
            "train = last training epoch; s/epoch averaged over epochs excluding the first of each phase; "
            "inference ms per image batched after warm-up on the same test images", table)
    if "accuracy_mean" not in numeric.columns:
        return
    ranked = numeric.sort_values("accuracy_mean", ascending=False)
    best = ranked.iloc[0]
    ties = int((ranked["accuracy_mean"] == best["accuracy_mean"]).sum())
    facts["images_best"] = (best["backbone"], best["mode"], best["accuracy_mean"], best["accuracy_sd"],
                            int(best["seeds"]), ties, len(ranked))
    names = next((d["class_names"] for d in (data.get("data") or {}).values() if d.get("class_names")), None)
    if names:
        facts["images_chance"] = 1.0 / len(names)
    for backbone, group in numeric.groupby("backbone", sort=False):
        modes = group.set_index("mode")
        if {"finetune", "frozen"} <= set(modes.index):
            v = _differ(modes.loc["finetune"], modes.loc["frozen"], "accuracy",
                        (f"{backbone} fine-tuned", f"{backbone} frozen"), "test accuracy")
            s.verdicts.append(v)
            facts.setdefault("finetune_verdicts", []).append(v)


def _split_counts(s: Section, data: dict) -> None:
    for backbone, frame in list((data.get("splits") or {}).items())[:1]:
        label = next((c for c in ("label", "class", "class_name", "y") if c in frame.columns), None)
        if not label:
            continue
        info = (data.get("data") or {}).get(backbone, {})
        labels, names = frame[label], info.get("class_names")
        if names and pd.api.types.is_integer_dtype(labels) and labels.between(0, len(names) - 1).all():
            labels = labels.map(dict(enumerate(names))).rename("class")
        counts = pd.crosstab(labels, frame["split"])
        counts.columns = [str(c) for c in counts.columns]
        size = f"; images resized to {info['image_size']} px" if info.get("image_size") else ""
        s.table(f"Images per class and split (from `{layout.backbone_dir(backbone)}/{layout.BACKBONE_SPLIT}`; every backbone uses the same "
                f"split of the same images{size})", counts.reset_index())


def section_images(data: dict, facts: dict) -> Section:
    """Backbone x mode table (mean ± SD over seeds), fit verdicts, curves, fine-tuned vs frozen, Grad-CAM."""
    title = "Image track: transfer learning (notebooks 05-06)"
    if not data["present"]:
        return Section.not_run("images", title, f"no `{layout.BANANA}/` or `{layout.GRADCAM}/` folder in this run.")
    s = Section("images", title, problems=list(data["problems"]))
    weights = weights_table(data)
    if weights is not None:
        facts["images_weights"] = dict(zip(weights["backbone"], weights["initial weights"]))
        s.table(f"Initial weights of each backbone's base (from `{layout.backbone_dir('<backbone>')}/"
                f"{layout.BACKBONE_WEIGHTS}`; random "
                "initialisation means no ImageNet weights could be loaded or none were asked for: the results "
                "are then not transfer learning and are expected near chance)", weights)
    seeds = data.get("units")
    if seeds is not None and len(seeds):
        _backbone_table(s, seeds, data, facts)
        if data.get("devices"):
            s.note("Timings measured on: " + ", ".join(sorted(data["devices"])) + ".")
    else:
        for caption, frame in (data.get("summaries") or {}).items():
            s.table(f"Summary written by the notebook: `{caption}`", frame)
    _split_counts(s, data)
    _curves(s, data.get("histories") or {}, ["backbone", "mode"], "Fit verdicts on the seed-averaged curves "
            "(train vs validation split)", facts, figure="images_history", chance=facts.get("images_chance"))
    for png in data.get("figures", []):
        if "confusion" in png.name.lower():
            where = os.path.relpath(png.parent, png.parents[2]) if len(png.parents) > 2 else png.parent.name
            s.figure("images_" + where.replace("/", "_") + f"_{png.stem}", png,
                     f"{png.stem.replace('_', ' ')} of the best seed, test split ({where})")
    for png in data.get("gradcam", [])[:6]:
        s.figure(f"gradcam_{png.stem}", png, f"Grad-CAM: {png.stem.replace('_', ' ')} (test images)")
    if not data.get("gradcam"):
        s.note("Grad-CAM (notebook 06): not run.")
    return s


def section_family(data: dict, facts: dict, baseline_hint: str = "baseline") -> Section:
    """Notebook 07 or 08 (``data`` of ``load_architecture`` / ``load_imbalanced``): every variant of each
    family against the family's baseline (named so, else its first variant), mean ± SD over seeds."""
    key, title = data["folder"], FAMILY_TITLES[data["folder"]]
    if not data["present"]:
        return Section.not_run(key, title, f"no `{data['folder']}/` folder in this run.")
    s = Section(key, title, problems=list(data["problems"]))
    units = data.get("units")
    numeric_cols = [] if units is None else [c for c in units.columns if pd.api.types.is_numeric_dtype(units[c])]
    metric = next((m for m in FAMILY_RANKING if m in numeric_cols), None)
    if metric:
        table, numeric = _mean_sd(units, ["family", "variant"], {m: m for m in (*FAMILY_METRICS, metric)})
        split = "validation" if metric.startswith("val") else "test" if "test" in metric else (
            str(units["split"].dropna().iloc[0]) if "split" in units.columns and units["split"].notna().any()
            else "as stored")
        s.table(f"Per family and variant: mean ± SD over seeds; split of each column in its name (val = validation, "
                f"train = training); ranking metric `{metric}` ({split})", table)
        for family, group in numeric.groupby("family", sort=False):
            names = [str(v) for v in group["variant"]]
            base = next((n for n in names if baseline_hint in n.lower()), names[0])
            cmp = verdicts.compare_to_baseline(group.rename(columns={"variant": "name", f"{metric}_mean": "mean",
                                                            f"{metric}_sd": "sd", f"{metric}_n": "n"}),
                                      base, metric=metric)
            s.verdicts += [Verdict(v, f"[{family}] {sentence}") for v, sentence in zip(cmp["verdict"], cmp["sentence"])
                           if v != "baseline"]
            top = group.sort_values(f"{metric}_mean", ascending=False).iloc[0]
            facts.setdefault(f"{key}_best", []).append((family, str(top["variant"]), metric, float(top[f"{metric}_mean"]),
                                                        float(top[f"{metric}_sd"]), int(top["seeds"]), base))
    for caption, frame in (data.get("tables") or {}).items():
        s.table(f"Table written by the notebook: `{caption}`", frame)
    _curves(s, data.get("histories") or {}, ["family", "variant"], "Fit verdicts on the seed-averaged curves "
            "(train vs validation split)", facts)
    for png in data.get("figures", [])[:8]:
        rel = os.path.relpath(png, data["root"])
        s.figure(f"{key}_" + rel[:-4].replace("/", "_"), png,
                 f"{png.stem.replace('_', ' ')} (from `{data['folder']}/{rel}`)")
    return s

