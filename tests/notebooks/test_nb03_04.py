"""Papermill smoke tests of notebooks 03 (four variants) and 04: artifacts, splits, reload, user CSV."""

from __future__ import annotations

import json

import nbformat
import numpy as np
import pytest

from helpers import pipeline, profiles, runs
from helpers.data import breathing
from helpers.training import search

VARIANTS = ("original", "up", "down", "updown")


def stdout_of(path) -> str:
    nb = nbformat.read(str(path), as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []) if o.get("name") == "stdout")


def smoke_split():
    P = profiles.defaults("03_gridsearch", "smoke")
    frame, _ = breathing.load_dataset(P["data_path"], P["data_fraction"], P["label_column"], seed=P["seed"])
    train, test = breathing.train_test_split_frame(frame, P["test_size"], P["seed"], P["label_column"])
    return train, test


def test_gridsearch_artifacts_for_every_variant_and_label(smoke):
    run = smoke.ensure("03_gridsearch")
    P = profiles.defaults("03_gridsearch", "smoke")
    train, test = smoke_split()
    labels = search.choose_labels(train["labels"])
    n_combos = search.n_combinations(P["param_grid"])
    for variant in VARIANTS:
        assert (run.path / "notebooks" / f"03_gridsearch-{variant}.ipynb").is_file()
        for label in labels:
            rel = f"tabular/gridsearch/{variant}/{label}"
            assert run.is_complete(rel), rel
            for name in ("model.pkl", "model.keras", "model.h5", "history.png"):
                assert (run.path / rel / name).is_file(), f"{rel}/{name}"
            best = run.read_json(f"{rel}/best_params.json")
            assert best["split"] == "val" and best["variant"] == variant and best["label"] == label
            assert best["split_fingerprint"] == search.split_fingerprint(train, test)
            assert best["n_train_positive"] == int((train["labels"] == label).sum())
            test_scores = run.read_json(f"{rel}/test_scores.json")
            assert test_scores["split"] == "test" and test_scores["n_rows"] == len(test)
            history = run.read_csv(f"{rel}/history.csv")
            assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(history.columns)
            assert len(history) == P["param_grid"]["epochs"][0]
            cv = run.read_csv(f"{rel}/cv_results.csv")
            assert len(cv) == n_combos and f"split{P['cv'] - 1}_test_average_precision" in cv.columns
            assert len(list((run.path / rel / "fits").glob("fit_*.json"))) == n_combos * P["cv"]


def test_saved_models_reproduce_the_same_predictions(smoke):
    run = smoke.ensure("03_gridsearch")
    _, test = smoke_split()
    X_test, _, _ = breathing.split_features_labels(test, "labels")
    folder = run.path / "tabular" / "gridsearch" / "updown" / "deep_quick"
    proba = search.load_estimator(folder).predict_proba(X_test)[:, 1]
    for kind in ("keras", "h5"):
        model = search.load_estimator(folder, kind)
        np.testing.assert_allclose(model.predict(X_test, verbose=0)[:, 0], proba, atol=1e-6)
    stored = run.read_json("tabular/gridsearch/updown/deep_quick/test_scores.json")
    y_bin = (test["labels"].to_numpy() == "deep_quick").astype(int)
    assert search.score_binary(y_bin, proba)["average_precision"] == pytest.approx(stored["average_precision"])


def test_synthesis_and_retraining_artifacts(smoke):
    run = smoke.ensure("04_synthesize_retrain")
    P = profiles.defaults("04_synthesize_retrain", "smoke")
    train, _ = smoke_split()
    labels = set(train["labels"])
    scores = run.read_csv("tabular/synthesis/variant_scores.csv")
    assert len(scores) == len(labels) * len(VARIANTS)
    assert set(scores["cv_split"]) == {"val"} and set(scores["test_split"]) == {"test"}
    chosen = run.read_csv("tabular/synthesis/chosen_variants.csv")
    assert set(chosen["label"]) == labels and set(chosen["chosen_variant"]) <= set(VARIANTS)
    for row in chosen.itertuples():  # the choice is the best CV mean, never the test score
        group = scores[scores["label"] == row.label]
        assert row.cv_mean == pytest.approx(group["cv_mean"].max())
    counts = run.read_csv("tabular/synthesis/synthesis_counts.csv")
    assert (counts["before"] + counts["added"] == counts["after"]).all()
    assert (counts["after"] + counts["shortfall"] == counts["target"]).all()
    assert counts["acceptance_rate"].dropna().between(0, 1).all()
    results = run.read_csv("tabular/retrain/comparison.csv")
    assert set(results["strategy"]) == {"original", "random_oversampling", "model_guided_synthesis"}
    assert set(results["split"]) == {"val", "test"}
    assert len(results) == 3 * len(P["seeds"]) * 2
    assert results["macro_f1"].between(0, 1).all()
    summary = run.read_csv("tabular/retrain/comparison_summary.csv")
    assert set(summary["split"]) == {"val", "test"} and (summary["seeds"] == len(P["seeds"])).all()
    text = stdout_of(run.path / "notebooks" / "04_synthesize_retrain.ipynb")
    assert "split: test" in text
    # 04 retrains with the hyperparameters 03 found for the chosen variants, not the profile's
    used = run.read_csv("tabular/retrain/hyperparameters.csv").set_index("hyperparameter")
    best = [json.loads((run.path / f"tabular/gridsearch/{r.chosen_variant}/{r.label}/best_params.json").read_text())
            ["best_params"] for r in chosen.itertuples()]
    searched = {k.replace("model__", "") for b in best for k in b}
    for key in searched:
        values = [b[k] for b in best for k in b if k.replace("model__", "") == key]
        top = max(map(values.count, values))  # the majority (a tie: any of the tied values)
        assert str(used.loc[key, "value"]) in {str(v) for v in values if values.count(v) == top}, key
        assert used.loc[key, "source"].startswith("03: best for"), key
    not_searched = sorted(set(used.index) - searched)
    assert all(used.loc[k, "source"].endswith("03 did not search it") for k in not_searched)
    assert f"NOT FROM 03: {', '.join(k for k in used.index if k in not_searched)}" in text
    assert int(used.loc["epochs", "value"]) != P["epochs"]  # the smoke profile makes 03's value differ from 04's own
    for strategy in ("original", "random_oversampling", "model_guided_synthesis"):
        for seed in P["seeds"]:  # every repetition trained with those values
            inputs = run.read_json(f"tabular/retrain/{strategy}/seed{seed}/result.json")["inputs"]
            assert inputs["epochs"] == int(used.loc["epochs", "value"])
            assert inputs["batch_size"] == int(used.loc["batch_size", "value"])
            assert {k: str(v) for k, v in inputs["hyperparameters"].items()} == used["value"].astype(str).to_dict()
    chance = run.read_csv("tabular/retrain/chance.csv")
    assert set(chance["split"]) == {"test", "val"}
    for split in ("test", "val"):
        assert chance[chance["split"] == split]["model"].tolist() == ["chance: majority class",
                                                                       "chance: stratified random"]
    assert "chance: majority class" in text and ("best: " in text or "no clear winner" in text
                                                 or "no strategy is called best" in text)
    for variant in VARIANTS:  # 03 stored the chance level of average precision beside the CV scores
        summary = run.read_csv(f"tabular/gridsearch/{variant}/summary.csv")
        assert summary["positive_rate"].between(0, 1).all()
        rates = {lab: round(float((train["labels"] == lab).mean()), 4) for lab in summary["label"]}
        assert summary.set_index("label")["positive_rate"].to_dict() == pytest.approx(rates)
        assert summary["above_positive_rate"].isin([True, False]).all()
        text03 = stdout_of(run.path / "notebooks" / f"03_gridsearch-{variant}.ipynb")
        assert "AT THE BASE RATE" in text03 or "every label's CV average precision is above" in text03


def test_gridsearch_and_synthesis_on_a_user_csv(user_csv, tmp_path):
    path, sizes = user_csv
    run = runs.create_run(run_id="user-csv", profile="smoke", root=tmp_path)
    executions = pipeline.plan("smoke", only="03,04", tabular_data=str(path),
                               overrides={"variants": ["original", "up"]})
    executions = [e for e in executions if e.label in (None, "original", "up")]
    pipeline.run_pipeline(executions, run, progress=False, log=lambda *_: None)
    for variant in ("original", "up"):
        for label in sizes:
            assert run.is_complete(f"tabular/gridsearch/{variant}/{label}")
    counts = run.read_csv("tabular/synthesis/synthesis_counts.csv").set_index("label")
    assert list(counts.index) == ["calm", "panting", "sigh"]
    assert counts.loc["calm", "needed"] == 0 and counts.loc["sigh", "needed"] > 0
    chosen = run.read_csv("tabular/synthesis/chosen_variants.csv")
    assert set(chosen["chosen_variant"]) <= {"original", "up"}
    best = json.loads((run.path / "tabular/gridsearch/up/sigh/best_params.json").read_text())
    assert best["n_train_positive"] < 12
    for name in ("03_gridsearch-up", "04_synthesize_retrain"):
        text = stdout_of(run.path / "notebooks" / f"{name}.ipynb")
        assert "my_breaths.csv" in text
        for word in ("normal", "deep_quick", "embedded"):
            assert word not in text, f"{name} printed {word!r} for a user CSV"
