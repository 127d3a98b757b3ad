"""One results section per track: mean ± SD tables over seeds, verdicts, train-vs-validation figures, ``facts``."""

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

VARIANT_ORDER = ("original", "up", "down", "updown")
IMAGE_METRICS = {"accuracy": "test accuracy", "loss": "test loss", "macro_f1": "test macro-F1",  # heading names split
                 "val_accuracy": "val accuracy", "train_accuracy_final": "train accuracy (final epoch)",
                 "mean_epoch_seconds": "s/epoch (excl. first)", "inference_ms_per_image": "inference ms/image",
                 "model_mb": "model MB"}
# validation first: a family's variants are ranked on validation where it was recorded (07); the ablation of 08
# records test scores only, and compares each technique with its baseline on them (a report, not a choice)
FAMILY_RANKING = ("val_macro_f1", "val_accuracy", "macro_f1", "accuracy", "test_macro_f1")
# metric -> column heading; the split is in every heading (08's unprefixed scores are on its test split)
FAMILY_METRICS = {"val_accuracy": "val accuracy", "val_macro_f1": "val macro-F1",
                  "val_accuracy_best": "val accuracy (best epoch)", "test_accuracy": "test accuracy",
                  "test_macro_f1": "test macro-F1", "accuracy": "test accuracy", "macro_f1": "test macro-F1",
                  "head_recall": "test head recall", "tail_recall": "test tail recall",
                  "train_accuracy": "train accuracy (final epoch)", "mean_epoch_seconds": "s/epoch (excl. first)"}
# the chance score beside each heading: (column of chance.csv, split)
CHANCE_OF = {"accuracy": ("accuracy", "test"), "macro-F1": ("macro-F1", "test"), "macro_f1": ("macro-F1", "test"),
             "val accuracy": ("accuracy", "val"), "val macro-F1": ("macro-F1", "val"),
             "val accuracy (best epoch)": ("accuracy", "val"), "test accuracy": ("accuracy", "test"),
             "test macro-F1": ("macro-F1", "test")}
CHANCE_CAPTION = ("Chance baselines: what guessing scores without looking at the input (always the majority class; "
                  "guessing each class with its training frequency); every score above is read against them")
FAMILY_TITLES = {layout.CNN_ARCHITECTURE: "CNN architecture search (notebook 07)",
                 layout.IMBALANCED: "Ablation: imbalanced-training techniques (notebook 08)"}
CONSTANT = ("params", "trainable_params")  # the same for every seed: shown as they are, not as mean ± SD
SEED_CURVES = "Fit verdicts on the seed-averaged curves (train vs validation split)"


def mean_history(frames: Sequence[pd.DataFrame]) -> pd.DataFrame | None:
    """Several per-seed histories averaged epoch by epoch (truncated to the shortest; None when none)."""
    frames = [f for f in frames if f is not None and len(f)]
    if not frames:
        return None
    n = min(map(len, frames))
    cols = [c for c in frames[0].columns if all(c in f.columns for f in frames)
            and pd.api.types.is_numeric_dtype(frames[0][c])]
    return pd.DataFrame({c: np.mean([f[c].to_numpy(dtype=float)[:n] for f in frames], axis=0) for c in cols})


def history_figure(history: pd.DataFrame, title: str):
    """The train-vs-validation loss (and accuracy, when logged) curves of one history."""
    acc = verdicts.accuracy_key(history.columns)
    return plot_history(history, metrics=("loss", acc) if acc else ("loss",), title=title)


def _mean_sd(frame: pd.DataFrame, by: list[str], metrics: Sequence[str] | dict[str, str]):
    """(shown, numeric): mean ± SD over seeds of the ``metrics`` present; numeric keeps ``<metric>_mean/_sd/_n``."""
    metrics = metrics if isinstance(metrics, dict) else dict.fromkeys(metrics)
    present = {m: h or m for m, h in metrics.items() if m in frame and pd.api.types.is_numeric_dtype(frame[m])}
    numeric = mean_sd_table(frame, by, present, keep=[c for c in CONSTANT if c in frame])
    return numeric[[c for c in numeric.columns if not c.endswith(("_mean", "_sd", "_n"))]], numeric


def _differ(a, b, metric: str, names: tuple[str, str], label: str) -> Verdict:
    """``differ_beyond_sd`` of two rows of a numeric mean ± SD table (``label`` names the metric)."""
    (ma, sa, na), (mb, sb, nb) = ((float(r[f"{metric}_mean"]), spread(r[f"{metric}_sd"]), int(r[f"{metric}_n"]))
                                  for r in (a, b))
    return verdicts.differ_beyond_sd(ma, sa, mb, sb, n_a=na, n_b=nb, names=names, metric=label)


def _curves(s: Section, histories: dict, names: Sequence[str], caption: str, facts: dict, figure: str = "",
            prefix: str = "", chance: float | None = None, count: str = "seeds") -> None:
    """A fit verdict (and a figure when ``figure``) per seed-averaged curve; a sentence shared by all is said once."""
    rows = []
    for key, frames in sorted(histories.items()):
        if (mean := mean_history(frames)) is None:
            continue
        key, v, n = key if isinstance(key, tuple) else (key,), fit_verdict(mean, chance=chance), len(frames)
        rows.append({**dict(zip(names, key)), count: n if count == "seeds" else v.numbers.get(count),
                     "verdict": v.verdict, "sentence": v.sentence})
        if figure:
            what = prefix + " ".join(map(str, key))
            s.figure(f"{figure}_{'_'.join(map(str, key))}", history_figure(mean, f"{what}: train vs validation (mean "
                     f"over {n} seeds)"), f"{what}: train vs validation loss/accuracy, mean over {n} seed(s)")
    if rows:
        table = pd.DataFrame(rows)
        facts.setdefault("fit_verdicts", []).extend(table["verdict"])
        if table["sentence"].nunique() == 1 and len(table) > 1:
            s.note(f"{caption}: every curve gives the same verdict -- {table['sentence'].iloc[0]}")
            table = table.drop(columns="sentence")
        s.table(caption, table)


def _usable(chance: pd.DataFrame | None) -> bool:
    return chance is not None and {"model", "accuracy", "split"} <= set(chance.columns) and len(chance) > 0


def _chance(s: Section, chance: pd.DataFrame | None, split: str = "test", source: str = "") -> dict[str, float] | None:
    """Show the chance table (or say "chance: not recorded"); return the better guesser's accuracy and macro-F1 on
    ``split`` (None when not recorded)."""
    if not _usable(chance):
        s.note("Chance: not recorded in this run (no `chance.csv`, and nothing to compute it from); read the scores "
               "with care, nothing below is compared with guessing.")
        return None
    s.table(CHANCE_CAPTION + (f" (from {source})" if source else ""), chance.round(3))
    return _chance_levels(chance, split)


def _chance_levels(chance: pd.DataFrame | None, split: str) -> dict[str, float] | None:
    """The better guesser's accuracy and macro-F1 on ``split`` (None when not recorded)."""
    if not _usable(chance):
        return None
    rows = chance[chance["split"].astype(str) == split]
    return {k: float(rows[c].max()) for k, c in (("accuracy", "accuracy"), ("macro_f1", "macro-F1"))
            if c in rows and len(rows)} or None


def _with_chance(table: pd.DataFrame, chance: pd.DataFrame | None, name: str, fixed: dict | None = None,
                 chance_of: dict[str, tuple[str, str]] = CHANCE_OF) -> pd.DataFrame:
    """``table`` with one row per chance guesser appended (its name in column ``name``, ``fixed`` values in others):
    in each column of ``chance_of`` (``{heading: (chance.csv column, split)}``) the guesser's score, else empty."""
    if not _usable(chance) or not len(table):
        return table
    rows = []
    for model, group in chance.groupby("model", sort=False):
        row = {name: str(model), **(fixed or {})}
        for column, (score, split) in chance_of.items():
            found = group.loc[group["split"].astype(str) == split, score] if score in group else []
            if column in table.columns and len(found):
                row[column] = f"{float(found.iloc[0]):.3f}"
        if len(row) > 1 + len(fixed or {}):
            rows.append({c: row.get(c, "") for c in table.columns})
    return pd.concat([table.astype(object), pd.DataFrame(rows)], ignore_index=True) if rows else table


def _winner(numeric: pd.DataFrame, metric: str, name: str, chance: float | None) -> tuple[str, pd.Series]:
    """``("best", row)`` only when the top row beats ``chance`` beyond its SD and the runner-up beyond both SDs;
    else ``("at chance", row)`` or ``("no clear winner", row)`` (:func:`helpers.evaluation.verdicts.choose_best`)."""
    status, top, _verdict = verdicts.choose_best(numeric, metric, chance=chance, name=name)
    return status, top


def _class_counts(s: Section, counts: pd.DataFrame, facts: dict) -> None:
    s.table("Class counts of the whole dataset (before any resampling)", counts)
    numbers, names = counts.select_dtypes("number"), counts.select_dtypes(exclude="number")
    if numbers.empty:
        return
    series = numbers.iloc[:, 0].set_axis(names.iloc[:, 0].astype(str) if names.shape[1] else counts.index)
    s.figure("tabular_class_counts", plot_class_counts(series, title="class counts (all rows)"),
             "Class counts of the tabular data (all rows, before resampling)")
    if series.min() > 0:
        big, small, ratio = series.idxmax(), series.idxmin(), float(series.max() / series.min())
        facts["tabular_imbalance"] = (str(big), str(small), ratio)
        s.note(f"Imbalance: the largest class `{big}` has {int(series.max())} rows, "
               f"the smallest `{small}` {int(series.min())} (ratio {ratio:.1f}:1).")


def _grid_search(s: Section, search: pd.DataFrame, best_params, facts: dict, rates: dict | None = None,
                 source: str = "") -> None:
    scoring = str(search["scoring"].iloc[0])
    rank = {v: i for i, v in enumerate(VARIANT_ORDER)}
    search = search.sort_values(["label", "variant"], key=lambda c: c if c.name == "label" else c.map(rank).fillna(99))
    view = search[["label", "variant"]].assign(**{f"{scoring} (val, mean ± SD over CV folds)": [
        format_mean_sd(m, spread(sd)) for m, sd in zip(search["val_mean"], search["val_sd"])]})
    if rates:  # the chance level of average precision: the label's positive rate
        view["positive rate (= chance AP)"] = [rates.get((v, str(lab)), np.nan)
                                               for v, lab in zip(search["variant"], search["label"])]
        at_chance = [f"{lab} ({v})" for v, lab, m, sd in zip(search["variant"], search["label"], search["val_mean"],
                                                               search["val_sd"])
                     if (v, str(lab)) in rates and not verdicts.beats_chance(m, sd, rates[(v, str(lab))])]
        facts["tabular_at_chance"] = (len(at_chance), len(search))
        s.note(f"Average precision at the positive rate is what a random ranking scores: {len(at_chance)} of "
               f"{len(search)} (label, variant) searches do not beat it beyond their SD"
               + (f" ({', '.join(at_chance[:8])}{' ...' if len(at_chance) > 8 else ''})" if at_chance else "")
               + (f". Positive rates: {source}." if source else "."))
    elif scoring == "average_precision":
        s.note("Positive rate per label (the average precision of a random ranking, its chance level): not recorded "
               "in this run, and not computable from its artifacts.")
    view = view.assign(**{f"{c[5:]} (test)": search[c] for c in search.columns if c.startswith("test_")})
    s.table(f"Grid search per variant and label (one-vs-rest; selection by {scoring} on the validation folds; "
            "test = the untouched test split, scored once)", view)
    winners = verdicts.winner_per_label(search.rename(columns={"val_mean": "score"}), sd="val_sd")
    sds = search.set_index(["label", "variant"])["val_sd"]
    rate = [(rates or {}).get((str(w), str(lab)), np.nan) for lab, w in zip(winners["label"], winners["winner"])]
    at_chance = [pd.notna(r) and w is not None and not verdicts.beats_chance(m, sds.get((lab, w)), r)
                 for lab, w, m, r in zip(winners["label"], winners["winner"], winners["score"], rate)]
    winners["verdict"] = ["at chance" if a else "chosen (ahead beyond the SDs)" if pd.notna(b) and bool(b) else
                          "only variant" if pd.isna(r) else "no clear winner"
                          for a, b, r in zip(at_chance, winners.get("beyond_sd", pd.Series([None] * len(winners))),
                                             winners["runner_up_score"])]
    if rates:
        winners.insert(3, "positive rate (= chance AP)", rate)
    winners["sentence"] = [f"{sentence[:-1]} -- at chance: not above the positive rate {r:.3f} beyond its SD."
                           if a else sentence for sentence, a, r in zip(winners["sentence"], at_chance, rate)]
    if f"test_{scoring}" in search:
        lookup = search.set_index(["label", "variant"])[f"test_{scoring}"]
        winners[f"{scoring} of that variant (test)"] = [lookup.get(k, np.nan) for k in zip(winners.label, winners.winner)]
    facts["tabular_winners"] = winners
    s.table(f"Variant per label with the highest {scoring} on the validation folds, and its verdict: chosen only when "
            "above the positive rate and ahead of the runner-up beyond the SDs (the test column is reported, never "
            "used to choose)", winners.drop(columns=["sentence", "tie", "beyond_sd"], errors="ignore").rename(
                columns={"winner": "highest (val)", "score": "val score", "runner_up": "runner-up",
                         "runner_up_score": "runner-up val score"}))
    s.verdicts += [Verdict(v, sentence) for v, sentence in zip(winners["verdict"], winners["sentence"])]
    s.table("Chosen hyper-parameters per variant and label (the grid search's highest mean score on the validation "
            "folds; not a claim that they beat chance or the runner-up)", best_params)


def section_tabular(data: dict, facts: dict) -> Section:
    """Class balance, the four-variant x label table, winners, fit verdicts, retraining comparison."""
    s = Section("tabular", "Tabular track (notebooks 01-04)", problems=list(data["problems"]))
    if not data["present"]:
        return Section.not_run(s.key, s.title, f"no `{layout.TABULAR}/` folder in this run.")
    if data.get("class_counts") is not None and len(data["class_counts"]):
        _class_counts(s, data["class_counts"], facts)
    for key, caption in (("eda_tables", "EDA: `{}`"), ("upsampling", "Upsampling: `{}` (the split column says which "
                         "rows are counted; resampling is applied to the train split only)")):
        for name, frame in data.get(key, {}).items():
            s.table(caption.format(name), frame)
    if data.get("search") is not None and len(data["search"]):
        _grid_search(s, data["search"], data.get("best_params"), facts, data.get("positive_rates"),
                     data.get("positive_rate_source", ""))
    histories = data.get("histories") or {}
    _curves(s, {k: [f] for k, f in histories.items()}, ["variant", "label"], "Fit verdicts of the refit models "
            "(train = refit part, val = held-out part of the train split)", facts, count="epochs")
    winners = facts.get("tabular_winners")
    for variant, label in [k for k in sorted(histories) if winners is None or (
            (winners["label"] == k[1]) & (winners["winner"] == k[0])).any()][:4]:
        s.figure(f"tabular_history_{variant}_{label}",
                 history_figure(histories[(variant, label)], f"{label} ({variant}): train vs validation"),
                 f"Train vs validation curves, label {label}, variant {variant} (chosen variant)")
    for caption, frame in (data.get("retrain") or {}).items():
        s.table(f"Synthesis / retraining: `{caption}`", frame)
    if (comparison := data.get("comparison")) is not None and len(comparison):
        table, numeric = _mean_sd(comparison, ["strategy", "split"], ("macro_f1", "accuracy", "balanced_accuracy"))
        table = _with_chance(table.sort_values(["split", "strategy"], kind="stable"),  # test before val
                             data.get("chance"), "strategy", {"split": "test"},
                             {"macro_f1": ("macro-F1", "test"), "accuracy": ("accuracy", "test")})
        s.table("Retraining comparison (multi-class network): mean ± SD over seeds, per split (test = untouched "
                "test split, val = held-out part of the train split); macro-F1 = unweighted mean of the per-class F1; "
                "the chance rows score guessing on the test split", table)
        chance = _chance(s, data.get("chance"), source=data.get("chance_source", ""))
        test = numeric[numeric["split"] == "test"].sort_values("macro_f1_mean", ascending=False)
        val = numeric[(numeric["split"] == "val") & numeric["strategy"].isin(test["strategy"])]
        if len(test):  # chosen on the validation part where recorded; its test macro-F1 is what is reported
            status, chosen = _winner(val if len(val) else test, "macro_f1", "strategy", None)
            best = test[test["strategy"] == chosen["strategy"]].iloc[0]
            if (level := (chance or {}).get("macro_f1")) is not None and not verdicts.beats_chance(
                    best["macro_f1_mean"], best["macro_f1_sd"], level):
                status = "at chance"
            facts["retrain_best"] = (status, str(best["strategy"]), "macro-F1", float(best["macro_f1_mean"]),
                                     float(best["macro_f1_sd"]), int(best["seeds"]), "validation" if len(val) else
                                     "test", level)
            top = test.iloc[0]
            s.verdicts += [_differ(top, row, "macro_f1", (str(top["strategy"]), str(row["strategy"])), "test macro-F1")
                           for _, row in test.iloc[1:].iterrows()]
    _curves(s, data.get("retrain_histories") or {}, ["strategy"], "Fit verdicts of the retrained networks "
            "(seed-averaged train vs validation curves)", facts, figure="tabular_retrain_history",
            prefix="Retraining with ")
    for png in data.get("figures", []):
        if any(k in png.name.lower() for k in ("confusion", "comparison", "before_after")):
            s.figure(f"tabular_{png.stem}", png, f"{png.stem.replace('_', ' ')} (from `{png.parent.name}/`)")
    return s


def weights_table(data: dict) -> pd.DataFrame | None:
    """Backbone, initial weights, asked and reason, from each ``weights.json`` :func:`load_images` read (or None)."""
    rows = [{"backbone": b, "initial weights": w.get("description") or w.get("used"), "asked": w.get("asked"),
             "reason": w.get("reason")} for b, w in sorted((data.get("weights") or {}).items())]
    return pd.DataFrame(rows) if rows else None


def initial_weights(data: dict) -> dict[str, tuple[str, bool]]:
    """``{backbone: (description, random?)}``: from ``weights.json`` / the manifest, else the units' ``weights``."""
    out = {str(b): (str(w.get("description") or w.get("used")), w.get("used") == "random" or "random" in str(
        w.get("description", ""))) for b, w in (data.get("weights") or {}).items()}
    units = data.get("units")
    if units is not None and {"backbone", "weights"} <= set(units.columns):
        for backbone, weights in units.drop_duplicates("backbone")[["backbone", "weights"]].itertuples(index=False):
            if pd.notna(weights):
                out.setdefault(str(backbone), (str(weights), "random" in str(weights).lower()))
    return out


def _backbone_table(s: Section, seeds: pd.DataFrame, data: dict, facts: dict) -> None:
    if not any(m in seeds.columns for m in IMAGE_METRICS):
        s.note("The seed folders hold no recognised metric names; their numeric values: "
               + ", ".join(sorted(seeds.select_dtypes("number").columns)))
        return
    table, numeric = _mean_sd(seeds, ["backbone", "mode"], IMAGE_METRICS)
    init = initial_weights(data)
    table.insert(2, "initial weights", [init.get(str(b), ("not recorded", False))[0] for b in table["backbone"]])
    s.table("Backbone x mode, mean ± SD over seeds. Split in each column name: test = the held-out test images "
            "(loss: mean cross-entropy; accuracy over images; macro-F1 unweighted over classes), val = validation, "
            "train = last training epoch; s/epoch averaged over epochs excluding the first of each phase; "
            "inference ms per image batched after warm-up on the same test images; initial weights of the base "
            "(random initialisation: not transfer learning); the chance rows score guessing without looking",
            _with_chance(table, data.get("chance"), "backbone", {"mode": ""}))
    chance = _chance(s, data.get("chance"), source=data.get("chance_source", ""))
    if "accuracy_mean" not in numeric.columns:
        return
    if chance:
        facts["images_chance"] = chance["accuracy"]
    elif names := next((d["class_names"] for d in (data.get("data") or {}).values() if d.get("class_names")), None):
        facts["images_chance"] = 1.0 / len(names)
    # the model is chosen on validation accuracy where recorded; its test accuracy is what is reported
    key = "val_accuracy" if "val_accuracy_mean" in numeric.columns else "accuracy"
    status, best = _winner(numeric.assign(name=numeric["backbone"] + " " + numeric["mode"]), key, "name", None)
    beats = verdicts.beats_chance(best["accuracy_mean"], best["accuracy_sd"], facts.get("images_chance", 0.0))
    if chance and "macro_f1" in chance and "macro_f1_mean" in best:  # as 05 judges: accuracy and macro-F1 both
        beats = beats and verdicts.beats_chance(best["macro_f1_mean"], best["macro_f1_sd"], chance["macro_f1"])
    facts["images_best"] = (status if beats else "at chance", best["backbone"], best["mode"], float(best["accuracy_mean"]),
                            float(best["accuracy_sd"]), int(best["seeds"]), key)
    for backbone, modes in ((b, g.set_index("mode")) for b, g in numeric.groupby("backbone", sort=False)):
        if {"finetune", "frozen"} <= set(modes.index):
            v = _differ(modes.loc["finetune"], modes.loc["frozen"], "accuracy",
                        (f"{backbone} fine-tuned", f"{backbone} frozen"), "test accuracy")
            s.verdicts.append(v)
            facts.setdefault("finetune_verdicts", []).append(v)


def section_images(data: dict, facts: dict) -> Section:
    """Backbone x mode table (mean ± SD over seeds), fit verdicts, curves, fine-tuned vs frozen, Grad-CAM."""
    s = Section("images", "Image track: transfer learning (notebooks 05-06)", problems=list(data["problems"]))
    if not data["present"]:
        return Section.not_run(s.key, s.title, f"no `{layout.BANANA}/` or `{layout.GRADCAM}/` folder in this run.")
    init = initial_weights(data)
    facts["images_weights"] = {b: w for b, (w, _random) in init.items()}
    if random := sorted(b for b, (_w, r) in init.items() if r):
        facts["images_random"] = random
        s.note(f"**Random weights: {', '.join(random)} started from random initialisation (no ImageNet weights), "
               "so every number in this section for "
               f"{'them' if len(random) > 1 else 'it'} is training from scratch on a few hundred images, not "
               "transfer learning; read it against the chance baselines.**")
    if (weights := weights_table(data)) is not None:
        s.table(f"Initial weights of each backbone's base (from `{layout.backbone_dir('<backbone>')}/"
                f"{layout.BACKBONE_WEIGHTS}`; random initialisation means no ImageNet weights could be loaded or none "
                "were asked for: the results are then not transfer learning and are expected near chance)", weights)
    if data.get("units") is not None and len(data["units"]):
        _backbone_table(s, data["units"], data, facts)
        if data.get("devices"):
            s.note("Timings measured on: " + ", ".join(sorted(data["devices"])) + ".")
    else:
        for caption, frame in (data.get("summaries") or {}).items():
            s.table(f"Summary written by the notebook: `{caption}`", frame)
    for backbone, frame in list((data.get("splits") or {}).items())[:1]:
        if not (label := next((c for c in ("label", "class", "class_name", "y") if c in frame.columns), None)):
            continue
        info = (data.get("data") or {}).get(backbone, {})
        labels, names = frame[label], info.get("class_names")
        if names and pd.api.types.is_integer_dtype(labels) and labels.between(0, len(names) - 1).all():
            labels = labels.map(dict(enumerate(names))).rename("class")
        counts = pd.crosstab(labels, frame["split"]).rename(columns=str).rename_axis(columns=None)
        size = f"; images resized to {info['image_size']} px" if info.get("image_size") else ""
        s.table(f"Images per class and split (from `{layout.backbone_dir(backbone)}/{layout.BACKBONE_SPLIT}`; every "
                f"backbone uses the same split of the same images{size})", counts.reset_index())
    _curves(s, data.get("histories") or {}, ["backbone", "mode"], SEED_CURVES, facts, figure="images_history",
            chance=facts.get("images_chance"))
    for png in (p for p in data.get("figures", []) if "confusion" in p.name.lower()):
        where = os.path.relpath(png.parent, png.parents[2]) if len(png.parents) > 2 else png.parent.name
        s.figure("images_" + where.replace("/", "_") + f"_{png.stem}", png,
                 f"{png.stem.replace('_', ' ')} of the seed with the highest validation accuracy, test split ({where})")
    for png in data.get("gradcam", [])[:6]:
        s.figure(f"gradcam_{png.stem}", png, f"Grad-CAM: {png.stem.replace('_', ' ')} (test images)")
    if not data.get("gradcam"):
        s.note("Grad-CAM (notebook 06): not run.")
    return s


def section_family(data: dict, facts: dict, baseline_hint: str = "baseline") -> Section:
    """Notebook 07 or 08: each variant vs its family's baseline (named so, else its first), mean ± SD over seeds."""
    s = Section(data["folder"], FAMILY_TITLES[data["folder"]], problems=list(data["problems"]))
    if not data["present"]:
        return Section.not_run(s.key, s.title, f"no `{s.key}/` folder in this run.")
    numeric_cols = [] if (units := data.get("units")) is None else list(units.select_dtypes("number").columns)
    if metric := next((m for m in FAMILY_RANKING if m in numeric_cols), None):
        headings: dict[str, str] = {}
        for m, heading in FAMILY_METRICS.items():  # a second metric with the same heading keeps its own name
            if m in numeric_cols:
                headings[m] = heading if heading not in headings.values() else m
        table, numeric = _mean_sd(units, ["family", "variant"], headings)
        split = ("validation" if metric.startswith("val") else "test" if "test" in metric else
                 str(units["split"].dropna().iloc[0]) if units.get("split", pd.Series()).notna().any() else "as stored")
        role = ("it chooses the variant; test columns are reported, never used to choose" if split == "validation"
                else "each technique is compared with its baseline on it; nothing is chosen from it")
        s.table(f"Per family and variant: mean ± SD over seeds; split of each column in its name (val = validation, "
                f"train = training, test = the held-out test split); ranking column `{headings[metric]}` ({split}: "
                f"{role}); the chance rows score guessing without looking at an image",
                _with_chance(table, data.get("chance"), "variant", {"family": "chance"}))
        chance = _chance(s, data.get("chance"), "val" if metric.startswith("val") else "test",
                         data.get("chance_source", ""))
        level = (chance or {}).get("macro_f1" if "f1" in metric else "accuracy")
        for family, group in numeric.groupby("family", sort=False):
            names = [str(v) for v in group["variant"]]
            base = next((n for n in names if baseline_hint in n.lower()), names[0])
            stats = group.rename(columns={"variant": "name", **{f"{metric}_{k}": k for k in ("mean", "sd", "n")}})
            cmp = verdicts.compare_to_baseline(stats, base, metric=metric)
            s.verdicts += [Verdict(v, f"[{family}] {t}") for v, t in zip(cmp["verdict"], cmp["sentence"])
                           if v != "baseline"]
            status, top = _winner(group, metric, "variant", level)  # validation only where recorded (07)
            facts.setdefault(f"{s.key}_best", []).append((status, family, str(top["variant"]), metric,
                                                          float(top[f"{metric}_mean"]), float(top[f"{metric}_sd"]),
                                                          int(top["seeds"]), base))
            facts.setdefault(f"{s.key}_versus_baseline", []).extend(
                (family, str(n), str(v), float(d)) for n, v, d in zip(cmp["name"], cmp["verdict"], cmp["diff_vs_baseline"])
                if v != "baseline")
        status, top = _winner(numeric.assign(name=numeric["family"] + " / " + numeric["variant"]), metric, "name", level)
        facts[f"{s.key}_overall"] = (status, str(top["family"]), str(top["variant"]), metric, float(top[f"{metric}_mean"]),
                                     float(top[f"{metric}_sd"]), int(top["seeds"]),
                                     *((float(top["test_accuracy_mean"]), float(top["test_accuracy_sd"]))
                                       if "test_accuracy_mean" in top else (None, None)), level,
                                     (_chance_levels(data.get("chance"), "test") or {}).get("accuracy"))
        if "tail_recall_mean" in numeric and "head_recall_mean" in numeric:
            base = numeric[numeric["variant"].str.lower().str.contains(baseline_hint)]
            if len(base):
                b = base.iloc[0]
                facts[f"{s.key}_head_tail"] = (float(b["head_recall_mean"]), float(b["head_recall_sd"]),
                                               float(b["tail_recall_mean"]), float(b["tail_recall_sd"]))
        if (key := (str(top["family"]), str(top["variant"]))) in (data.get("histories") or {}) and \
                (mean := mean_history(data["histories"][key])) is not None:
            s.figure(f"{s.key}_best_history", history_figure(mean, f"{key[1]} ({key[0]}): train vs validation, mean "
                     f"over {len(data['histories'][key])} seeds"), f"{key[1]} ({key[0]}), the variant with the highest "
                     f"{metric}: train vs validation loss/accuracy, mean over {len(data['histories'][key])} seed(s)")
    for caption, frame in (data.get("tables") or {}).items():
        s.table(f"Table written by the notebook: `{caption}`", frame)
    _curves(s, data.get("histories") or {}, ["family", "variant"], SEED_CURVES, facts)
    for png in data.get("figures", [])[:8]:
        rel = os.path.relpath(png, data["root"])
        s.figure(f"{s.key}_" + rel[:-4].replace("/", "_"), png, f"{png.stem.replace('_', ' ')} (from `{s.key}/{rel}`)")
    return s
