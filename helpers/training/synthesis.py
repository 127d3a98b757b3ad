"""Best variant per label, model-guided synthesis of minority rows, and the three-way retraining comparison.

Notebook 04 reads what ``03_gridsearch`` stored for the four variants and:

1. :func:`collect_variant_scores` / :func:`choose_variants` -- one row per (label, variant) with the CV score
   (mean ± SD over validation folds) and the held-out test score; the chosen variant per label is the one with
   the best **CV** score (the test split never chooses anything);
2. :func:`synthesize_to_majority` -- for every minority label, candidate rows are made from that label's real
   training rows (interpolation between a row and one of its nearest same-label neighbours, plus a little
   Gaussian jitter); a candidate is kept only when the label's chosen one-vs-rest model gives it a probability
   of at least ``threshold`` (a number, or ``"auto"``: the lower quartile of its probabilities on the real rows); this repeats until the label has as many rows as the majority label;
3. :func:`retrain_comparison` -- the multi-class network trained on (a) the original imbalanced rows,
   (b) random oversampling, (c) model-guided synthesis, over several seeds, scored on the untouched test split.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from helpers import layout
from helpers.data.sampling import VARIANTS, check_variant
from helpers.env import progress_bar as tqdm  # text bar when ipywidgets is missing (no TqdmWarning)
from helpers.env import seed_everything
from helpers.evaluation.metrics import classification_metrics
from helpers.runs import MissingPrerequisite, require
from helpers.training.experiments import Unit, fingerprint, history_frame, mean_sd_table, run_units
from helpers.training.search import load_estimator

__all__ = [
    "STRATEGIES", "require_gridsearch", "collect_variant_scores", "choose_variants", "load_chosen_models", "interpolation_candidates",
    "resolve_threshold", "synthesize_label", "synthesize_to_majority",
    "retrain_comparison", "comparison_table", "check_split_matches",
]

STRATEGIES = ("original", "random_oversampling", "model_guided_synthesis")


# --------------------------------------------------------------------------- reading 03's results
def require_gridsearch(run, variants: Sequence[str] = VARIANTS) -> None:
    """Stop with :class:`~helpers.runs.MissingPrerequisite` unless 03 finished every variant in ``run``.

    03 writes ``tabular/gridsearch/<variant>/summary.csv`` after its last label of that variant; the
    message names the variants still to run (``03_gridsearch with variants=[...]``).
    """
    for v in variants:
        check_variant(v)
    missing = [v for v in variants if not run.is_complete(f"tabular/gridsearch/{v}/summary.csv")]
    if missing:
        require(run, {f"tabular/gridsearch/{missing[0]}/summary.csv":
                      f"03_gridsearch with variants={list(missing)!r} (its default searches all four)"},
                notebook="04_synthesize_retrain")


def collect_variant_scores(run, labels: Sequence[str], variants: Sequence[str] = VARIANTS):
    """One row per (label, variant) from ``tabular/gridsearch/<variant>/<label>/``.

    Parameters
    ----------
    run : helpers.runs.Run
        The run that ``03_gridsearch`` wrote into.
    labels : sequence of str
        Labels to collect.
    variants : sequence of str
        Variants to compare (each one of original, up, down, updown).

    Returns
    -------
    pandas.DataFrame
        Columns ``label, variant, scoring, cv_mean, cv_sd, cv_split, test_score, test_f1, test_accuracy,
        test_split, best_params``. Raises ``FileNotFoundError`` naming the missing folder and the variant
        to run when a label has no finished search for a requested variant.
    """

    if not variants:
        raise ValueError(f"variants must list at least one of {', '.join(VARIANTS)}")
    for v in variants:
        check_variant(v)
    rows, missing = [], []
    for label in labels:
        for variant in variants:
            rel = f"tabular/gridsearch/{variant}/{label}"
            if not run.is_complete(rel):
                missing.append(rel)
                continue
            best = run.read_json(f"{rel}/best_params.json")
            test = run.read_json(f"{rel}/test_scores.json")
            metric = best["scoring"]
            rows.append({
                "label": label, "variant": variant, "scoring": metric,
                "cv_mean": best["cv"][metric]["mean"], "cv_sd": best["cv"][metric]["std"], "cv_split": "val",
                "test_score": test[metric], "test_f1": test["f1"], "test_accuracy": test["accuracy"],
                "test_split": test.get("split", "test"), "best_params": best["best_params"],
                "split_fingerprint": best.get("split_fingerprint"),
            })
    if missing:
        raise MissingPrerequisite(
            f"no finished grid search in {run.path} for: {', '.join(missing[:6])}"
            f"{' ...' if len(missing) > 6 else ''}; run 03_gridsearch with those variants first "
            f"(or pass variants= with the ones you ran)"
        )
    return pd.DataFrame(rows)


def check_split_matches(scores, fingerprint: str) -> None:
    """Raise ``ValueError`` when 03 searched on a different train/test split than the one rebuilt here."""
    stored = {f for f in scores["split_fingerprint"].dropna().unique()}
    if stored and stored != {fingerprint}:
        raise ValueError(
            "the train/test split rebuilt here differs from the one 03_gridsearch used "
            f"(fingerprints {sorted(stored)} vs {fingerprint}); use the same data_path, data_fraction, "
            "test_size and seed in 03 and 04"
        )


def choose_variants(scores, tolerance: float = 0.0):
    """The best variant per label by mean CV score, with a one-line reason.

    Ties (CV means within ``tolerance``) go to the variant with fewer training rows (the order
    original, up, down, updown). The test score is not used to choose.

    Returns
    -------
    pandas.DataFrame
        ``label, chosen_variant, cv_mean, cv_sd, test_score, reason`` (one row per label).
    """

    order = {v: i for i, v in enumerate(VARIANTS)}
    rows = []
    for label, group in scores.groupby("label", sort=False):
        group = group.assign(_order=group["variant"].map(order))
        top = group["cv_mean"].max()
        best = group[group["cv_mean"] >= top - tolerance].sort_values("_order").iloc[0]
        others = group[group["variant"] != best["variant"]].sort_values("cv_mean", ascending=False)
        metric = best["scoring"]
        reason = f"highest mean CV {metric} {best['cv_mean']:.3f} ± {best['cv_sd']:.3f}"
        if len(others):
            runner = others.iloc[0]
            reason += f" (next: {runner['variant']} {runner['cv_mean']:.3f} ± {runner['cv_sd']:.3f})"
            if abs(runner["cv_mean"] - best["cv_mean"]) <= max(best["cv_sd"], runner["cv_sd"]):
                reason += "; the difference is within one SD, so the choice is not clear-cut"
        rows.append({"label": label, "chosen_variant": best["variant"], "cv_mean": best["cv_mean"],
                     "cv_sd": best["cv_sd"], "test_score": best["test_score"], "scoring": metric,
                     "reason": reason})
    return pd.DataFrame(rows)


def load_chosen_models(run, choices) -> dict:
    """``{label: fitted scikeras estimator}`` of each label's chosen variant (from ``model.pkl``)."""

    return {row.label: load_estimator(Path(run.path) / f"tabular/gridsearch/{row.chosen_variant}/{row.label}")
            for row in choices.itertuples()}


# --------------------------------------------------------------------------- synthesis
def interpolation_candidates(X_label, n: int, rng: np.random.Generator, k_neighbors: int = 5,
                             jitter: float = 0.01) -> np.ndarray:
    """``n`` candidate rows made from one label's real rows.

    Each candidate is ``a + u * (b - a) + noise``: ``a`` a random row of the label, ``b`` one of its
    ``k_neighbors`` nearest rows of the same label, ``u ~ Uniform(0, 1)`` and ``noise ~ Normal(0, jitter)``
    per feature. With a single row only the jitter varies.

    Parameters
    ----------
    X_label : array (n_rows, n_features)
        The label's real training rows.
    n : int
        Number of candidates.
    rng : numpy Generator
    k_neighbors : int
        Neighbours to interpolate towards (capped at the label's rows - 1).
    jitter : float
        SD of the Gaussian noise (in feature units); 0 = pure interpolation.

    Returns
    -------
    numpy.ndarray of float32, shape (n, n_features)
    """
    from sklearn.neighbors import NearestNeighbors

    X_label = np.asarray(X_label, dtype=np.float32)
    if X_label.ndim != 2 or len(X_label) == 0:
        raise ValueError(f"X_label must be a non-empty 2-D array, got shape {X_label.shape}")
    if isinstance(k_neighbors, bool) or not isinstance(k_neighbors, int) or k_neighbors < 1:
        raise ValueError(f"k_neighbors must be an integer >= 1, got {k_neighbors!r}")
    if not np.isfinite(jitter) or jitter < 0:
        raise ValueError(f"jitter must be a finite non-negative number, got {jitter!r}")
    base = rng.integers(0, len(X_label), size=n)
    if len(X_label) > 1:
        k = min(k_neighbors, len(X_label) - 1)
        neighbours = NearestNeighbors(n_neighbors=k + 1).fit(X_label).kneighbors(X_label, return_distance=False)
        partner = neighbours[base, rng.integers(1, k + 1, size=n)]
        u = rng.uniform(0, 1, size=(n, 1)).astype(np.float32)
        out = X_label[base] + u * (X_label[partner] - X_label[base])
    else:
        out = X_label[base].copy()
    if jitter > 0:
        out = out + rng.normal(0.0, jitter, size=out.shape).astype(np.float32)
    return out.astype(np.float32)


def resolve_threshold(model, X_label, threshold, quantile: float = 0.25) -> float:
    """The acceptance threshold: a probability, or ``"auto"``.

    ``"auto"`` is the ``quantile`` (lower quartile) of the model's probabilities on the label's own real
    rows: a candidate must look at least as much like the label as three quarters of the real rows do.
    A one-vs-rest model trained on a 3 % label rarely says more than 0.5 even for real rows, so a fixed
    0.5 can reject everything; the automatic threshold adapts to that calibration.

    Raises ``ValueError`` for anything else than a number in [0, 1] or ``"auto"``.
    """
    if isinstance(threshold, str) and threshold == "auto":
        proba = np.asarray(model.predict_proba(np.asarray(X_label, dtype=np.float32)))[:, -1]
        return float(np.quantile(proba, quantile))
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be a probability in [0, 1] or 'auto', got {threshold!r}")
    return float(threshold)


def synthesize_label(model, X_label, n_needed: int, *, threshold: float = 0.5, seed: int = 0,
                     k_neighbors: int = 5, jitter: float = 0.01, max_rounds: int = 20,
                     batch_size: int | None = None) -> tuple[np.ndarray, dict]:
    """Generate candidates for one label until ``n_needed`` are accepted by the label's one-vs-rest model.

    Parameters
    ----------
    model : estimator with ``predict_proba``
        The label's chosen one-vs-rest model (column 1 = probability of the label).
    X_label : array
        The label's real training rows.
    n_needed : int
        How many rows to add.
    threshold : float or "auto"
        Keep a candidate when the model's probability is >= threshold (see :func:`resolve_threshold`).
    seed, k_neighbors, jitter :
        See :func:`interpolation_candidates`.
    max_rounds : int
        Give up after this many rounds (a round makes ``batch_size`` candidates; default
        ``max(2 * n_needed, 256)``); the shortfall is reported, never padded with unchecked rows.

    Returns
    -------
    (numpy.ndarray, dict)
        The accepted rows (at most ``n_needed``) and ``generated``, ``accepted``, ``added``,
        ``acceptance_rate``, ``rounds``, ``shortfall``, ``mean_probability``.
    """
    threshold = resolve_threshold(model, X_label, threshold)
    rng = np.random.default_rng(seed)
    n_needed = int(n_needed)
    kept: list[np.ndarray] = []
    generated = accepted = rounds = 0
    prob_sum = 0.0
    batch = int(batch_size or max(2 * n_needed, 256))
    while n_needed > 0 and sum(len(k) for k in kept) < n_needed and rounds < max_rounds:
        candidates = interpolation_candidates(X_label, batch, rng, k_neighbors=k_neighbors, jitter=jitter)
        proba = np.asarray(model.predict_proba(candidates))[:, -1]
        good = proba >= threshold
        generated += len(candidates)
        accepted += int(good.sum())
        prob_sum += float(proba.sum())
        kept.append(candidates[good])
        rounds += 1
    rows = np.concatenate(kept, axis=0)[:n_needed] if kept else np.zeros((0, np.shape(X_label)[1]), np.float32)
    stats = {"threshold": threshold, "generated": generated, "accepted": accepted, "added": int(len(rows)),
             "acceptance_rate": accepted / generated if generated else float("nan"), "rounds": rounds,
             "shortfall": int(n_needed - len(rows)),
             "mean_probability": prob_sum / generated if generated else float("nan")}
    return rows.astype(np.float32), stats


def synthesize_to_majority(models: Mapping, X, y, *, threshold: float = 0.5, seed: int = 0,
                           k_neighbors: int = 5, jitter: float = 0.01, max_rounds: int = 20, progress: bool = True):
    """Bring every minority label of ``(X, y)`` up to the majority label's count with model-guided synthesis.

    Parameters
    ----------
    models : mapping label -> estimator
        Each minority label's chosen one-vs-rest model (labels without a model raise ``ValueError``).
    X, y : arrays
        The training rows and their labels (only these are used to make candidates).
    threshold, seed, k_neighbors, jitter, max_rounds :
        See :func:`synthesize_label`.

    Returns
    -------
    (X_new, y_new, table)
        The original rows followed by the accepted synthetic rows, and a DataFrame with one row per label:
        ``label, before, target, needed, generated, accepted, acceptance_rate, added, after, shortfall``
        (``split`` = train).
    """


    X = np.asarray(X, dtype=np.float32)
    y = np.asarray(y)
    counts = pd.Series(y).value_counts()
    target = int(counts.max())
    parts_X, parts_y, rows = [X], [y], []
    labels = sorted(counts.index, key=lambda v: (-counts[v], str(v)))
    for i, label in enumerate(tqdm(labels, desc="model-guided synthesis", disable=not progress)):
        needed = target - int(counts[label])
        stats = {"threshold": float("nan"), "generated": 0, "accepted": 0, "added": 0,
                 "acceptance_rate": float("nan"), "shortfall": 0}
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
                     "threshold": stats["threshold"], "generated": stats["generated"], "accepted": stats["accepted"],
                     "acceptance_rate": stats["acceptance_rate"], "added": stats["added"],
                     "after": int(counts[label]) + stats["added"], "shortfall": stats["shortfall"],
                     "split": "train"})
    return np.concatenate(parts_X), np.concatenate(parts_y), pd.DataFrame(rows)


# --------------------------------------------------------------------------- retraining
def retrain_comparison(run, training_sets: Mapping[str, tuple], X_val, y_val, X_test, y_test,
                       class_names: Sequence[str], seeds: Sequence[int], build_model: Callable, *, epochs: int = 15,
                       batch_size: int = 64, progress: bool = True) -> pd.DataFrame:
    """Train the notebook's multi-class network on each training set over ``seeds``; score val and test.

    Every (strategy, seed) is one unit of :func:`helpers.training.experiments.run_units` in
    ``tabular/retrain/<strategy>/seed<k>/`` (``history.csv``, ``test_predictions.csv``,
    ``result.json``): its digest covers the data, class order, seed, epochs, batch size and the
    source of ``build_model``, so a changed input trains it again and an unchanged one is loaded.

    Parameters
    ----------
    training_sets : mapping strategy -> (X, y)
    X_val, y_val : the held-out validation part of the training split (real rows, for curves and val scores)
    X_test, y_test : the untouched test split
    class_names : label order of the network's outputs
    build_model : callable
        ``build_model(n_features, n_classes)`` returning a compiled Keras model with a softmax output.

    Returns
    -------
    pandas.DataFrame
        One row per (strategy, seed, split in val/test): ``accuracy, macro_f1, recall_<class>...``,
        ``n_train_rows``, ``averaging``.
    """
    index = {name: i for i, name in enumerate(class_names)}
    for strategy, (_, y_tr) in training_sets.items():
        unknown = sorted(set(np.unique(y_tr).tolist()) - set(index))
        if unknown:
            raise ValueError(f"training set {strategy!r} has labels {unknown} that are not in class_names {list(class_names)}")
    evaluation_sets = {"val": (X_val, y_val), "test": (X_test, y_test)}
    units = [Unit(layout.retrain_unit(strategy, seed),
                  inputs={"data": fingerprint([*training_sets[strategy], X_val, y_val, X_test, y_test]),
                          "class_names": list(class_names), "seed": int(seed), "epochs": int(epochs),
                          "batch_size": int(batch_size), "build_model": build_model},
                  labels={"strategy": strategy, "seed": int(seed)}) for strategy in training_sets for seed in seeds]

    def train(unit: Unit) -> dict:
        strategy, seed = unit.labels["strategy"], unit.labels["seed"]
        X_tr, y_tr = training_sets[strategy]
        seed_everything(seed)
        model = build_model(np.shape(X_tr)[1], len(class_names))
        fitted = model.fit(np.asarray(X_tr, np.float32), np.array([index[v] for v in y_tr]),
                           validation_data=(np.asarray(X_val, np.float32), np.array([index[v] for v in y_val])),
                           epochs=int(epochs), batch_size=int(batch_size), shuffle=True, verbose=0)
        run.write_csv(f"{unit.folder}/{layout.HISTORY}", history_frame(fitted))
        entries = []
        for split, (Xs, ys) in evaluation_sets.items():
            pred = np.argmax(model.predict(np.asarray(Xs, np.float32), verbose=0), axis=1)
            m = classification_metrics(np.array([index[v] for v in ys]), pred, class_names)
            entries.append({"strategy": strategy, "seed": seed, "split": split,
                            "averaging": "accuracy: all rows; macro_f1: unweighted mean over classes; recall: per class",
                            "accuracy": m["accuracy"], "macro_f1": m["macro_f1"],
                            "balanced_accuracy": m["balanced_accuracy"],
                            **{f"recall_{c}": m["per_class"][c]["recall"] for c in class_names},
                            "n_train_rows": int(len(y_tr))})
            if split == "test":
                run.write_csv(f"{unit.folder}/test_predictions.csv", pd.DataFrame(
                    {"y_true": list(ys), "y_pred": [class_names[p] for p in pred], "split": "test"}))
        return {"rows": entries}

    done = run_units(run, units, train, desc="retraining", progress=progress)
    return pd.DataFrame([entry for rows in done["rows"] for entry in rows])


def comparison_table(results: pd.DataFrame, class_names: Sequence[str], split: str = "test", digits: int = 3):
    """Mean ± SD over seeds per strategy for one split: ``strategy, split, seeds, macro_f1, accuracy,
    recall_<class>...`` (text) and the numeric ``macro_f1_mean``, ``macro_f1_sd``."""
    part = results[results["split"] == split]
    if part.empty:
        raise ValueError(f"no results for split {split!r}; splits present: {sorted(results['split'].unique())}")
    metrics = ["macro_f1", "accuracy"] + [f"recall_{c}" for c in class_names]
    table = mean_sd_table(part, "strategy", {m: m for m in metrics}, digits=digits)
    table.insert(1, "split", split)
    seeds = table.pop("seeds")
    table.insert(2, "seeds", seeds)
    return table[["strategy", "split", "seeds", *metrics, "macro_f1_mean", "macro_f1_sd"]]
