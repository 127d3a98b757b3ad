"""Notebook 04: each label's best variant from 03's grid search (by CV score, not test), model-guided synthesis of
minority rows up to the majority count (interpolation to same-label neighbours plus jitter, kept when the label's
chosen one-vs-rest model accepts them), and retraining on original / oversampled / synthesised rows over seeds."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import layout
from helpers.data.resampling import VARIANTS, check_variant
from helpers.env import progress_bar as tqdm  # text bar when ipywidgets is missing (no TqdmWarning)
from helpers.env import seed_everything
from helpers.evaluation.metrics import classification_metrics
from helpers.runs import MissingPrerequisite, require
from helpers.training.experiments import Unit, fingerprint, history_frame, mean_sd_table, run_units
from helpers.training.search import load_estimator

__all__ = ["STRATEGIES", "require_gridsearch", "collect_variant_scores", "choose_variants", "load_chosen_models",
           "interpolation_candidates", "resolve_threshold", "synthesize_label", "synthesize_to_majority",
           "retrain_comparison", "comparison_table", "check_split_matches", "RETRAIN_DEFAULTS",
           "FALLBACK_SOURCE", "retrain_hyperparameters"]

STRATEGIES = ("original", "random_oversampling", "model_guided_synthesis")


def require_gridsearch(run, variants: Sequence[str] = VARIANTS) -> None:
    """Raise ``MissingPrerequisite`` naming the variants without 03's ``tabular/gridsearch/<variant>/summary.csv``."""
    missing = [v for v in map(check_variant, variants) if not run.is_complete(layout.gridsearch_summary(v))]
    if missing:
        require(run, {layout.gridsearch_summary(missing[0]):
                      f"03_gridsearch with variants={list(missing)!r} (its default searches all four)"},
                notebook="04_synthesize_retrain")


def collect_variant_scores(run, labels: Sequence[str], variants: Sequence[str] = VARIANTS):
    """One row per (label, variant) from ``tabular/gridsearch/<variant>/<label>/``: CV mean/SD, test scores,
    best params and split fingerprint; raises ``MissingPrerequisite`` naming unfinished searches."""
    if not variants:
        raise ValueError(f"variants must list at least one of {', '.join(VARIANTS)}")
    variants = list(map(check_variant, variants))
    rows, missing = [], []
    for label in labels:
        for variant in variants:
            rel = layout.gridsearch_label(variant, label)
            if not run.is_complete(rel):
                missing.append(rel)
                continue
            best, test = run.read_json(f"{rel}/{layout.BEST_PARAMS}"), run.read_json(f"{rel}/{layout.TEST_SCORES}")
            metric = best["scoring"]
            rows.append({"label": label, "variant": variant, "scoring": metric, "cv_mean": best["cv"][metric]["mean"],
                         "cv_sd": best["cv"][metric]["std"], "cv_split": "val", "test_score": test[metric],
                         "test_f1": test["f1"], "test_accuracy": test["accuracy"],
                         "test_split": test.get("split", "test"), "best_params": best["best_params"],
                         "split_fingerprint": best.get("split_fingerprint")})
    if missing:
        raise MissingPrerequisite(f"no finished grid search in {run.path} for: {', '.join(missing[:6])}"
                                  f"{' ...' if len(missing) > 6 else ''}; run 03_gridsearch with those variants "
                                  "first (or pass variants= with the ones you ran)")
    return pd.DataFrame(rows)


def check_split_matches(scores, fingerprint: str) -> None:
    """Raise ``ValueError`` when 03 searched on a different train/test split than the one rebuilt here."""
    stored = set(scores["split_fingerprint"].dropna().unique())
    if stored and stored != {fingerprint}:
        raise ValueError("the train/test split rebuilt here differs from the one 03_gridsearch used (fingerprints "
                         f"{sorted(stored)} vs {fingerprint}); use the same data_path, data_fraction, test_size "
                         "and seed in 03 and 04")


def choose_variants(scores, tolerance: float = 0.0):
    """The best variant per label by mean CV score, with a one-line reason (test scores are not used). Ties
    within ``tolerance`` go to the variant with fewer training rows (order original, up, down, updown)."""
    order = {v: i for i, v in enumerate(VARIANTS)}
    rows = []
    for label, group in scores.groupby("label", sort=False):
        group = group.assign(_order=group["variant"].map(order))
        best = group[group["cv_mean"] >= group["cv_mean"].max() - tolerance].sort_values("_order").iloc[0]
        others = group[group["variant"] != best["variant"]].sort_values("cv_mean", ascending=False)
        reason = f"highest mean CV {best['scoring']} {best['cv_mean']:.3f} ± {best['cv_sd']:.3f}"
        if len(others):
            runner = others.iloc[0]
            reason += f" (next: {runner['variant']} {runner['cv_mean']:.3f} ± {runner['cv_sd']:.3f})"
            if abs(runner["cv_mean"] - best["cv_mean"]) <= max(best["cv_sd"], runner["cv_sd"]):
                reason += "; the difference is within one SD, so the choice is not clear-cut"
        rows.append({"label": label, "chosen_variant": best["variant"],
                     **best[["cv_mean", "cv_sd", "test_score", "scoring"]], "reason": reason})
    return pd.DataFrame(rows)


# build_mlp's defaults (03): used for a hyperparameter that neither 03's grid nor the notebook's fallback names
RETRAIN_DEFAULTS = {"epochs": 15, "batch_size": 32, "neurons": 30, "dropout": 0.2, "kernel_initializer": "glorot_uniform",
                    "learning_rate": 1e-3}
FALLBACK_SOURCE = "profile default: 03 did not search it"


def retrain_hyperparameters(scores, choices, fallback: Mapping | None = None):
    """The multi-class network's hyperparameters from 03's grid search.

    The rule: each label brings the best combination of its chosen variant (``choices``, from
    :func:`choose_variants`; ``model__`` stripped from the names); per hyperparameter the value most labels chose
    wins, a tie going to the value whose labels have the higher mean CV score (then to the smaller value as text).
    A hyperparameter that 03 did not search takes ``fallback`` (the notebook's profile values; source
    :data:`FALLBACK_SOURCE`), else :data:`RETRAIN_DEFAULTS` (build_mlp's defaults).

    Parameters
    ----------
    scores : DataFrame from :func:`collect_variant_scores` (label, variant, cv_mean, best_params).
    choices : DataFrame from :func:`choose_variants` (label, chosen_variant).
    fallback : values for hyperparameters 03 did not search.

    Returns
    -------
    ``(params, table)``: ``params`` maps each hyperparameter to its value; ``table`` has one row per
    hyperparameter: hyperparameter, value, votes (``value: labels`` per value, most votes first), source.
    """
    given = dict(fallback or {})
    fallback = {**RETRAIN_DEFAULTS, **given}
    chosen = scores.merge(choices[["label", "chosen_variant"]], left_on=["label", "variant"],
                          right_on=["label", "chosen_variant"])
    if chosen.empty:
        raise ValueError("no label's chosen variant is in the scores: run choose_variants on these scores first")
    votes: dict[str, dict] = {}
    for row in chosen.itertuples():
        for key, value in row.best_params.items():
            votes.setdefault(key.replace("model__", ""), {}).setdefault(value, []).append((row.label, row.cv_mean))
    params, rows = {}, []
    for key in dict.fromkeys([*fallback, *votes]):
        if key not in votes:
            params[key] = fallback[key]
            rows.append({"hyperparameter": key, "value": fallback[key], "votes": "",
                         "source": FALLBACK_SOURCE if key in given else "build_mlp's default: 03 did not search it"})
            continue
        ranked = sorted(votes[key].items(), key=lambda kv: (-len(kv[1]), -np.mean([s for _, s in kv[1]]), str(kv[0])))
        value, voters = ranked[0]
        params[key] = value
        rows.append({"hyperparameter": key, "value": value,
                     "votes": "; ".join(f"{v}: {', '.join(label for label, _ in who)}" for v, who in ranked),
                     "source": f"03: best for {len(voters)} of {len(chosen)} labels (their chosen variants)"})
    return params, pd.DataFrame(rows)


def load_chosen_models(run, choices) -> dict:
    """``{label: fitted scikeras estimator}`` of each label's chosen variant (from ``model.pkl``)."""
    return {row.label: load_estimator(Path(run.path) / layout.gridsearch_label(row.chosen_variant, row.label))
            for row in choices.itertuples()}


def interpolation_candidates(X_label, n: int, rng: np.random.Generator, k_neighbors: int = 5,
                             jitter: float = 0.01) -> np.ndarray:
    """``n`` float32 rows ``a + u * (b - a) + noise``: ``a`` a random row of the label, ``b`` one of its ``k_neighbors``
    nearest same-label rows, ``u ~ U(0, 1)``, ``noise ~ N(0, jitter)`` per feature (one row: jitter only)."""
    from sklearn.neighbors import NearestNeighbors

    X_label = np.asarray(X_label, dtype=np.float32)
    if X_label.ndim != 2 or len(X_label) == 0:
        raise ValueError(f"X_label must be a non-empty 2-D array, got shape {X_label.shape}")
    if isinstance(k_neighbors, bool) or not isinstance(k_neighbors, int) or k_neighbors < 1:
        raise ValueError(f"k_neighbors must be an integer >= 1, got {k_neighbors!r}")
    if not np.isfinite(jitter) or jitter < 0:
        raise ValueError(f"jitter must be a finite non-negative number, got {jitter!r}")
    base = rng.integers(0, len(X_label), size=n)
    out = X_label[base]
    if len(X_label) > 1:
        k = min(k_neighbors, len(X_label) - 1)
        neighbours = NearestNeighbors(n_neighbors=k + 1).fit(X_label).kneighbors(X_label, return_distance=False)
        partner = neighbours[base, rng.integers(1, k + 1, size=n)]
        out = out + rng.uniform(0, 1, size=(n, 1)).astype(np.float32) * (X_label[partner] - out)
    if jitter > 0:
        out = out + rng.normal(0.0, jitter, size=out.shape).astype(np.float32)
    return out.astype(np.float32)


def resolve_threshold(model, X_label, threshold, quantile: float = 0.25) -> float:
    """A probability in [0, 1], or for ``"auto"`` the ``quantile`` of the model's probabilities on the label's
    real rows (a 3 % label's one-vs-rest model rarely says 0.5 even for real rows); else ``ValueError``."""
    if isinstance(threshold, str) and threshold == "auto":
        proba = np.asarray(model.predict_proba(np.asarray(X_label, dtype=np.float32)))[:, -1]
        return float(np.quantile(proba, quantile))
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be a probability in [0, 1] or 'auto', got {threshold!r}")
    return float(threshold)


def synthesize_label(model, X_label, n_needed: int, *, threshold: float = 0.5, seed: int = 0,
                     k_neighbors: int = 5, jitter: float = 0.01, max_rounds: int = 20,
                     batch_size: int | None = None) -> tuple[np.ndarray, dict]:
    """Candidates in rounds of ``batch_size`` (default ``max(2 * n_needed, 256)``) until ``n_needed`` reach ``model``'s
    ``threshold`` or ``max_rounds`` pass: the accepted rows (never padded) and their stats (``generated``, ...)."""
    threshold = resolve_threshold(model, X_label, threshold)
    rng, n_needed = np.random.default_rng(seed), int(n_needed)
    kept, generated, accepted, rounds, prob_sum = [], 0, 0, 0, 0.0
    batch = int(batch_size or max(2 * n_needed, 256))
    while n_needed > 0 and sum(map(len, kept)) < n_needed and rounds < max_rounds:
        candidates = interpolation_candidates(X_label, batch, rng, k_neighbors=k_neighbors, jitter=jitter)
        proba = np.asarray(model.predict_proba(candidates))[:, -1]
        kept.append(candidates[proba >= threshold])
        generated, accepted, rounds = generated + len(candidates), accepted + len(kept[-1]), rounds + 1
        prob_sum += float(proba.sum())
    rows = np.concatenate(kept, axis=0)[:n_needed] if kept else np.zeros((0, np.shape(X_label)[1]), np.float32)
    nan = float("nan")
    return rows.astype(np.float32), {
        "threshold": threshold, "generated": generated, "accepted": accepted, "added": int(len(rows)),
        "acceptance_rate": accepted / generated if generated else nan, "rounds": rounds,
        "shortfall": int(n_needed - len(rows)), "mean_probability": prob_sum / generated if generated else nan}


def synthesize_to_majority(models: Mapping, X, y, *, threshold: float = 0.5, seed: int = 0,
                           k_neighbors: int = 5, jitter: float = 0.01, max_rounds: int = 20, progress: bool = True):
    """Every minority label up to the majority count by :func:`synthesize_label` with ``models[label]`` (missing:
    ``ValueError``): ``(X_new, y_new, table)``, original then synthetic rows, and one table row per label."""
    X, y = np.asarray(X, dtype=np.float32), np.asarray(y)
    counts = pd.Series(y).value_counts()
    target, parts_X, parts_y, rows = int(counts.max()), [X], [y], []
    labels = sorted(counts.index, key=lambda v: (-counts[v], str(v)))
    for i, label in enumerate(tqdm(labels, desc="model-guided synthesis", disable=not progress)):
        needed = target - int(counts[label])
        stats = {"threshold": float("nan"), "generated": 0, "accepted": 0, "acceptance_rate": float("nan"),
                 "added": 0, "shortfall": 0}
        if needed > 0:
            if label not in models:
                raise ValueError(f"no one-vs-rest model for label {label!r}; models exist for "
                                 f"{', '.join(map(str, models))}")
            new, stats = synthesize_label(models[label], X[y == label], needed, threshold=threshold,
                                          seed=seed + 1000 * i, k_neighbors=k_neighbors, jitter=jitter,
                                          max_rounds=max_rounds)
            parts_X.append(new)
            parts_y.append(np.full(len(new), label, dtype=y.dtype))
        rows.append({"label": label, "before": int(counts[label]), "target": target, "needed": needed,
                     **{k: stats[k] for k in ("threshold", "generated", "accepted", "acceptance_rate", "added")},
                     "after": int(counts[label]) + stats["added"], "shortfall": stats["shortfall"], "split": "train"})
    return np.concatenate(parts_X), np.concatenate(parts_y), pd.DataFrame(rows)


def retrain_comparison(run, training_sets: Mapping[str, tuple], X_val, y_val, X_test, y_test,
                       class_names: Sequence[str], seeds: Sequence[int], build_model: Callable, *, epochs: int = 15,
                       batch_size: int = 64, hyperparameters: Mapping | None = None,
                       progress: bool = True) -> pd.DataFrame:
    """Train ``build_model(n_features, n_classes)`` on each strategy's ``(X, y)`` per seed, each a resumable unit
    (``tabular/retrain/<strategy>/seed<k>/``, keyed by data and settings): one row per (strategy, seed, split).
    ``hyperparameters`` are the values ``build_model`` reads (neurons, dropout...): recorded in each unit's
    ``result.json`` inputs and part of its key, so a new choice trains again although the function is unchanged."""
    index = {name: i for i, name in enumerate(class_names)}
    for strategy, (_, y_tr) in training_sets.items():
        if unknown := sorted(set(np.unique(y_tr).tolist()) - set(index)):
            raise ValueError(f"training set {strategy!r} has labels {unknown} that are not in class_names "
                             f"{list(class_names)}")

    def codes(ys):
        return np.array([index[v] for v in ys])

    units = [Unit(layout.retrain_unit(strategy, seed),
                  inputs={"data": fingerprint([*training_sets[strategy], X_val, y_val, X_test, y_test]),
                          "class_names": list(class_names), "seed": int(seed), "epochs": int(epochs),
                          "batch_size": int(batch_size), "build_model": build_model,
                          "hyperparameters": dict(hyperparameters or {})},
                  labels={"strategy": strategy, "seed": int(seed)}) for strategy in training_sets for seed in seeds]

    def train(unit: Unit) -> dict:
        strategy, seed = unit.labels["strategy"], unit.labels["seed"]
        X_tr, y_tr = training_sets[strategy]
        seed_everything(seed)
        model = build_model(np.shape(X_tr)[1], len(class_names))
        fitted = model.fit(np.asarray(X_tr, np.float32), codes(y_tr), validation_data=(
            np.asarray(X_val, np.float32), codes(y_val)), epochs=int(epochs), batch_size=int(batch_size),
            shuffle=True, verbose=0)
        run.write_csv(f"{unit.folder}/{layout.HISTORY}", history_frame(fitted))
        entries = []
        for split, (Xs, ys) in {"val": (X_val, y_val), "test": (X_test, y_test)}.items():
            pred = np.argmax(model.predict(np.asarray(Xs, np.float32), verbose=0), axis=1)
            m = classification_metrics(codes(ys), pred, class_names)
            entries.append({
                "strategy": strategy, "seed": seed, "split": split,
                "averaging": "accuracy: all rows; macro_f1: unweighted mean over classes; recall: per class",
                **{k: m[k] for k in ("accuracy", "macro_f1", "balanced_accuracy")},
                **{f"recall_{c}": m["per_class"][c]["recall"] for c in class_names}, "n_train_rows": int(len(y_tr))})
        run.write_csv(f"{unit.folder}/test_predictions.csv", pd.DataFrame(  # ys, pred: the test split
            {"y_true": list(ys), "y_pred": [class_names[p] for p in pred], "split": "test"}))
        return {"rows": entries}

    done = run_units(run, units, train, desc="retraining", progress=progress)
    return pd.DataFrame([entry for rows in done["rows"] for entry in rows])


def comparison_table(results: pd.DataFrame, class_names: Sequence[str], split: str = "test", digits: int = 3):
    """Mean ± SD over seeds per strategy for one ``split`` (text columns) and the numeric ``macro_f1_mean``/``_sd``."""
    part = results[results["split"] == split]
    if part.empty:
        raise ValueError(f"no results for split {split!r}; splits present: {sorted(results['split'].unique())}")
    metrics = ["macro_f1", "accuracy"] + [f"recall_{c}" for c in class_names]
    table = mean_sd_table(part, "strategy", {m: m for m in metrics}, digits=digits)
    table.insert(1, "split", split)
    table.insert(2, "seeds", table.pop("seeds"))
    return table[["strategy", "split", "seeds", *metrics, "macro_f1_mean", "macro_f1_sd"]]
