"""Variant choice, model-guided synthesis, oversampling and the retraining comparison."""

import numpy as np
import pandas as pd
import pytest

from helpers import runs
from helpers.training import synthesis


class ThresholdModel:
    """One-vs-rest stand-in: probability of the label = the first feature (clipped to [0, 1])."""

    def predict_proba(self, X):
        p = np.clip(np.asarray(X)[:, 0], 0, 1)
        return np.column_stack([1 - p, p])


def _scores():
    rows = []
    for label, means in {"a": [0.8, 0.9, 0.7, 0.85], "b": [0.5, 0.5, 0.4, 0.3]}.items():
        for variant, mean in zip(["original", "up", "down", "updown"], means):
            rows.append({"label": label, "variant": variant, "scoring": "average_precision", "cv_mean": mean,
                         "cv_sd": 0.02, "test_score": 0.99 if variant == "down" else 0.1})
    return pd.DataFrame(rows)


def test_choose_variants_uses_cv_not_test_and_breaks_ties_by_fewer_rows():
    choices = synthesis.choose_variants(_scores()).set_index("label")
    assert choices.loc["a", "chosen_variant"] == "up"  # best CV, although "down" has the best test score
    assert choices.loc["b", "chosen_variant"] == "original"  # tie 0.5 = 0.5 -> fewer rows
    assert "highest mean CV average_precision 0.900 ± 0.020 (next: updown 0.850 ± 0.020)" in choices.loc["a", "reason"]
    assert "not clear-cut" in choices.loc["b", "reason"]


def test_retrain_hyperparameters_come_from_the_chosen_variants_by_majority():
    scores = _scores()
    params = {("a", "up"): {"epochs": 20, "batch_size": 16, "model__neurons": 60},
              ("b", "original"): {"epochs": 20, "batch_size": 64, "model__neurons": 30},
              ("a", "down"): {"epochs": 15, "batch_size": 64, "model__neurons": 30}}  # not chosen: no vote
    scores["best_params"] = [params.get((r.label, r.variant), {"epochs": 15}) for r in scores.itertuples()]
    third = scores[scores["label"] == "a"].assign(label="c", cv_mean=[0.2, 0.1, 0.1, 0.1])
    third["best_params"] = [{"epochs": 15, "batch_size": 64, "model__neurons": 30} for _ in range(len(third))]
    scores = pd.concat([scores, third], ignore_index=True)
    choices = synthesis.choose_variants(scores)  # a: up, b: original, c: original
    chosen, table = synthesis.retrain_hyperparameters(scores, choices, fallback={"dropout": 0.3, "epochs": 99})
    # epochs: 20 (a, b) beats 15 (c); batch_size: 64 (b, c) beats 16 (a); neurons: 30 (b, c) beats 60 (a)
    assert chosen["epochs"] == 20 and chosen["batch_size"] == 64 and chosen["neurons"] == 30
    assert chosen["dropout"] == 0.3 and chosen["kernel_initializer"] == "glorot_uniform"  # not searched: fallback
    rows = table.set_index("hyperparameter")
    assert rows.loc["epochs", "source"].startswith("03: best for 2 of 3 labels")
    assert rows.loc["dropout", "source"] == "profile default: 03 did not search it"
    assert rows.loc["neurons", "votes"] == "30: b, c; 60: a"
    # a tie goes to the value whose labels scored higher in cross-validation
    two = scores[scores["label"].isin(["a", "b"])]
    chosen, _ = synthesis.retrain_hyperparameters(two, synthesis.choose_variants(two))
    assert chosen["batch_size"] == 16 and chosen["neurons"] == 60  # label a (CV 0.9) beats b (0.5)


def test_interpolation_stays_between_neighbours():
    X = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]], dtype=np.float32)
    out = synthesis.interpolation_candidates(X, 200, np.random.default_rng(0), k_neighbors=1, jitter=0.0)
    assert out.shape == (200, 2) and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 2
    np.testing.assert_allclose(out[:, 0], out[:, 1])  # on the segment between neighbours
    single = synthesis.interpolation_candidates(X[:1], 5, np.random.default_rng(0), jitter=0.0)
    np.testing.assert_array_equal(single, np.zeros((5, 2)))
    with pytest.raises(ValueError, match="k_neighbors must be an integer >= 1, got 0"):
        synthesis.interpolation_candidates(X, 5, np.random.default_rng(0), k_neighbors=0)


def test_synthesize_label_keeps_only_accepted_rows():
    X = np.array([[0.2, 0.0], [0.4, 0.0], [0.6, 0.0], [0.8, 0.0]], dtype=np.float32)
    rows, stats = synthesis.synthesize_label(ThresholdModel(), X, 50, threshold=0.5, seed=1, jitter=0.0)
    assert len(rows) == 50 and (rows[:, 0] >= 0.5).all()
    assert stats["added"] == 50 and stats["shortfall"] == 0
    assert 0 < stats["acceptance_rate"] < 1
    assert stats["accepted"] >= 50


def test_synthesize_label_reports_shortfall_instead_of_padding():
    X = np.array([[0.1, 0.0], [0.2, 0.0]], dtype=np.float32)
    rows, stats = synthesis.synthesize_label(ThresholdModel(), X, 10, threshold=0.9, jitter=0.0, max_rounds=2,
                                             batch_size=20)
    assert len(rows) == 0
    assert stats == {**stats, "generated": 40, "accepted": 0, "added": 0, "shortfall": 10, "acceptance_rate": 0.0}
    with pytest.raises(ValueError, match="threshold must be a probability"):
        synthesis.synthesize_label(ThresholdModel(), X, 1, threshold=1.5)


def test_auto_threshold_is_the_lower_quartile_on_real_rows():
    X = np.array([[0.1], [0.2], [0.3], [0.4], [0.5]], dtype=np.float32)
    assert synthesis.resolve_threshold(ThresholdModel(), X, "auto") == pytest.approx(0.2)
    assert synthesis.resolve_threshold(ThresholdModel(), X, 0.7) == 0.7
    with pytest.raises(ValueError, match="threshold must be a probability in \\[0, 1\\] or 'auto', got 'high'"):
        synthesis.resolve_threshold(ThresholdModel(), X, "high")
    rows, stats = synthesis.synthesize_label(ThresholdModel(), X, 20, threshold="auto", jitter=0.0)
    assert len(rows) == 20 and (rows[:, 0] >= 0.2 - 1e-6).all() and stats["threshold"] == pytest.approx(0.2)


def test_synthesize_to_majority_counts():
    rng = np.random.default_rng(0)
    X = rng.uniform(0.5, 1.0, size=(30, 3)).astype(np.float32)
    y = np.array(["big"] * 20 + ["mid"] * 7 + ["small"] * 3)
    models = {"mid": ThresholdModel(), "small": ThresholdModel()}
    X_new, y_new, table = synthesis.synthesize_to_majority(models, X, y, threshold=0.4, seed=0, progress=False)
    assert pd.Series(y_new).value_counts().to_dict() == {"big": 20, "mid": 20, "small": 20}
    np.testing.assert_array_equal(X_new[:30], X)
    t = table.set_index("label")
    assert t.loc["small", "needed"] == 17 and t.loc["small", "added"] == 17 and t.loc["big", "needed"] == 0
    assert set(table["split"]) == {"train"}
    with pytest.raises(ValueError, match="no one-vs-rest model for label 'small'"):
        synthesis.synthesize_to_majority({"mid": ThresholdModel()}, X, y, progress=False)


def _fake_gridsearch_run(tmp_path, variants=("original", "up")):
    run = runs.create_run(run_id="r", root=tmp_path)
    for variant in variants:
        for label in ("a", "b"):
            rel = f"tabular/gridsearch/{variant}/{label}"
            run.write_json(f"{rel}/best_params.json", {
                "scoring": "average_precision", "best_params": {"epochs": 1}, "split_fingerprint": "abc",
                "cv": {"average_precision": {"mean": 0.5 + 0.1 * (variant == "up"), "std": 0.01}}})
            run.write_json(f"{rel}/test_scores.json", {"split": "test", "average_precision": 0.4, "f1": 0.3,
                                                       "accuracy": 0.9})
            run.mark_complete(rel)
    return run


def test_collect_variant_scores_and_missing_variant(tmp_path):
    run = _fake_gridsearch_run(tmp_path)
    scores = synthesis.collect_variant_scores(run, ["a", "b"], ["original", "up"])
    assert len(scores) == 4 and set(scores["cv_split"]) == {"val"} and set(scores["test_split"]) == {"test"}
    assert synthesis.choose_variants(scores)["chosen_variant"].tolist() == ["up", "up"]
    synthesis.check_split_matches(scores, "abc")
    with pytest.raises(ValueError, match="split rebuilt here differs"):
        synthesis.check_split_matches(scores, "zzz")
    with pytest.raises(FileNotFoundError, match="tabular/gridsearch/down/a.*run 03_gridsearch"):
        synthesis.collect_variant_scores(run, ["a"], ["down"])
    with pytest.raises(ValueError, match="variant must be one of"):
        synthesis.collect_variant_scores(run, ["a"], ["sideways"])


def test_retrain_comparison_stores_resumes_and_summarizes(tmp_path):
    run = runs.create_run(run_id="retrain", root=tmp_path)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4)).astype(np.float32)
    y = np.array(["a", "b", "c"] * 20)
    X[:, 0] += (y == "a") * 3
    sets = {"original": (X[:40], y[:40]), "random_oversampling": (X[:40], y[:40])}
    def build(n_features, n_classes, neurons=4):
        import keras

        model = keras.Sequential([keras.Input((n_features,)), keras.layers.Dense(neurons, activation="relu"),
                                  keras.layers.Dense(n_classes, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    def build_wider(n_features, n_classes):
        return build(n_features, n_classes, neurons=8)  # an edited build function

    kwargs = dict(epochs=1, batch_size=16, progress=False)
    first = synthesis.retrain_comparison(run, sets, X[40:50], y[40:50], X[50:], y[50:], ["a", "b", "c"], [0, 1],
                                         build, **kwargs)
    assert len(first) == 2 * 2 * 2 and set(first["split"]) == {"val", "test"}
    assert {"recall_a", "recall_b", "recall_c", "macro_f1", "accuracy"} <= set(first.columns)
    assert run.is_complete("tabular/retrain/original/seed1")
    stamp = (run.path / "tabular/retrain/original/seed0/history.csv").stat().st_mtime_ns
    again = synthesis.retrain_comparison(run, sets, X[40:50], y[40:50], X[50:], y[50:], ["a", "b", "c"], [0, 1],
                                         build, **kwargs)
    pd.testing.assert_frame_equal(first, again)
    assert (run.path / "tabular/retrain/original/seed0/history.csv").stat().st_mtime_ns == stamp  # loaded
    changed = {"original": (X[:30], y[:30])}  # other training rows: the stored result is not reused
    synthesis.retrain_comparison(run, changed, X[40:50], y[40:50], X[50:], y[50:], ["a", "b", "c"], [0],
                                 build, **kwargs)
    assert run.read_json("tabular/retrain/original/seed0/result.json")["row"]["rows"][0]["n_train_rows"] == 30
    stamp = (run.path / "tabular/retrain/original/seed0/history.csv").stat().st_mtime_ns
    synthesis.retrain_comparison(run, changed, X[40:50], y[40:50], X[50:], y[50:], ["a", "b", "c"], [0],
                                 build_wider, **kwargs)  # an edited network trains again
    assert (run.path / "tabular/retrain/original/seed0/history.csv").stat().st_mtime_ns != stamp
    # same seed -> same numbers (recomputed in a fresh run)
    other = runs.create_run(run_id="retrain2", root=tmp_path)
    third = synthesis.retrain_comparison(other, sets, X[40:50], y[40:50], X[50:], y[50:], ["a", "b", "c"], [0, 1],
                                         build, **kwargs)
    np.testing.assert_allclose(first["macro_f1"], third["macro_f1"])
    table = synthesis.comparison_table(first, ["a", "b", "c"], split="test")
    assert table["seeds"].tolist() == [2, 2] and "±" in table.loc[0, "macro_f1"]
    with pytest.raises(ValueError, match="no results for split 'train'"):
        synthesis.comparison_table(first, ["a", "b", "c"], split="train")
