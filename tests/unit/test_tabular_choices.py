"""Notebook 04's choices from notebook 03's stored results: the retraining hyperparameters come from 03's best
combinations of each label's chosen variant (majority vote, ties by CV score), the profile only fills in what 03
did not search, and the retraining units are keyed by those values."""

import numpy as np
import pytest

from helpers import layout, profiles, runs
from helpers.training import synthesis

LABELS = ("normal", "quick", "deep")
# 03's best combination per (variant, label) and its CV average precision; "original" is never chosen
BEST = {
    ("original", "normal"): ({"epochs": 15, "batch_size": 64, "model__neurons": 30, "model__dropout": 0.2}, 0.50),
    ("original", "quick"): ({"epochs": 15, "batch_size": 64, "model__neurons": 30, "model__dropout": 0.2}, 0.30),
    ("original", "deep"): ({"epochs": 15, "batch_size": 64, "model__neurons": 30, "model__dropout": 0.2}, 0.20),
    ("updown", "normal"): ({"epochs": 20, "batch_size": 16, "model__neurons": 60, "model__dropout": 0.3,
                            "model__kernel_initializer": "he_uniform"}, 0.90),
    ("updown", "quick"): ({"epochs": 20, "batch_size": 16, "model__neurons": 60, "model__dropout": 0.3,
                           "model__kernel_initializer": "glorot_uniform"}, 0.60),
    ("updown", "deep"): ({"epochs": 12, "batch_size": 32, "model__neurons": 60, "model__dropout": 0.3,
                          "model__kernel_initializer": "glorot_uniform"}, 0.40),
}


def _gridsearch_run(tmp_path, best=BEST):
    """A run folder as 03 leaves it: best_params.json and test_scores.json per (variant, label), marked complete."""
    run = runs.create_run(run_id="tabular", root=tmp_path)
    for (variant, label), (params, cv) in best.items():
        rel = layout.gridsearch_label(variant, label)
        run.write_json(f"{rel}/{layout.BEST_PARAMS}", {
            "scoring": "average_precision", "best_params": params, "split_fingerprint": "abc", "split": "val",
            "cv": {"average_precision": {"mean": cv, "std": 0.01}}})
        run.write_json(f"{rel}/{layout.TEST_SCORES}", {"split": "test", "average_precision": 0.5, "f1": 0.4,
                                                       "accuracy": 0.8})
        run.mark_complete(rel)
    return run


def _chosen_hyperparameters(run, profile="demo"):
    P = profiles.defaults("04_synthesize_retrain", profile)
    scores = synthesis.collect_variant_scores(run, LABELS, ["original", "updown"])
    choices = synthesis.choose_variants(scores)
    fallback = {k: P[k] for k in ("epochs", "batch_size", "neurons", "dropout", "learning_rate")}
    params, table = synthesis.retrain_hyperparameters(scores, choices, fallback=fallback)
    return P, choices, params, table.set_index("hyperparameter")


def test_04_uses_the_best_params_of_03_not_the_profile(tmp_path):
    P, choices, params, table = _chosen_hyperparameters(_gridsearch_run(tmp_path))
    assert choices.set_index("label")["chosen_variant"].to_dict() == {lab: "updown" for lab in LABELS}
    # majority over the three labels' chosen (updown) combinations; "original" (never chosen) has no vote
    expected = {"epochs": 20, "batch_size": 16, "neurons": 60, "dropout": 0.3, "kernel_initializer": "glorot_uniform"}
    assert {k: params[k] for k in expected} == expected
    for key in ("epochs", "batch_size", "dropout"):  # the demo profile's values are not what 03 found
        assert params[key] != P[key], key
    assert table.loc["epochs", "source"] == "03: best for 2 of 3 labels (their chosen variants)"
    assert table.loc["neurons", "source"] == "03: best for 3 of 3 labels (their chosen variants)"
    assert table.loc["epochs", "votes"] == "20: normal, quick; 12: deep"
    assert table.loc["kernel_initializer", "votes"] == "glorot_uniform: quick, deep; he_uniform: normal"


def test_a_parameter_03_did_not_search_falls_back_to_the_profile_and_says_so(tmp_path):
    P, _, params, table = _chosen_hyperparameters(_gridsearch_run(tmp_path))
    assert params["learning_rate"] == P["learning_rate"]
    assert table.loc["learning_rate", "source"] == synthesis.FALLBACK_SOURCE
    assert table.loc["learning_rate", "votes"] == ""
    # without a fallback from the notebook: build_mlp's default, named as such
    scores = synthesis.collect_variant_scores(_gridsearch_run(tmp_path / "bare"), LABELS, ["original"])
    params, table = synthesis.retrain_hyperparameters(scores, synthesis.choose_variants(scores))
    table = table.set_index("hyperparameter")
    assert params["kernel_initializer"] == "glorot_uniform" and params["epochs"] == 15
    assert table.loc["kernel_initializer", "source"] == "build_mlp's default: 03 did not search it"
    assert table.loc["epochs", "source"].startswith("03: best for 3 of 3")


def test_a_tie_goes_to_the_value_whose_labels_scored_higher(tmp_path):
    best = {key: value for key, value in BEST.items() if key[1] != "deep"}  # two labels: every vote a tie
    run = _gridsearch_run(tmp_path, best)
    scores = synthesis.collect_variant_scores(run, LABELS[:2], ["original", "updown"])
    params, table = synthesis.retrain_hyperparameters(scores, synthesis.choose_variants(scores))
    assert params["kernel_initializer"] == "he_uniform"  # normal (CV 0.90) beats quick (CV 0.60)
    assert table.set_index("hyperparameter").loc["kernel_initializer", "source"].startswith("03: best for 1 of 2")


def test_retraining_units_record_the_hyperparameters_and_retrain_when_they_change(tmp_path):
    run = runs.create_run(run_id="retrain", root=tmp_path)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(48, 3)).astype(np.float32)
    y = np.array(["a", "b"] * 24)
    H = {"neurons": 4}

    def build(n_features, n_classes):  # reads H like 04's build_classifier: same source, other values
        import keras

        model = keras.Sequential([keras.Input((n_features,)), keras.layers.Dense(H["neurons"], activation="relu"),
                                  keras.layers.Dense(n_classes, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return model

    def retrain():
        synthesis.retrain_comparison(run, {"original": (X[:32], y[:32])}, X[32:40], y[32:40], X[40:], y[40:],
                                     ["a", "b"], [0], build, epochs=1, batch_size=16, hyperparameters=H,
                                     progress=False)
        return run.read_json(f"{layout.retrain_unit('original', 0)}/{layout.RESULT}")["inputs"]

    assert retrain()["hyperparameters"] == {"neurons": 4}
    history = run.path / layout.retrain_unit("original", 0) / layout.HISTORY
    stamp = history.stat().st_mtime_ns
    retrain()
    assert history.stat().st_mtime_ns == stamp  # same values: loaded
    H["neurons"] = 6
    assert retrain()["hyperparameters"] == {"neurons": 6}
    assert history.stat().st_mtime_ns != stamp  # new values: trained again


@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_the_profile_values_of_04_are_only_fallbacks_for_what_03_did_not_search(profile):
    grid = profiles.defaults("03_gridsearch", profile)["param_grid"]
    P = profiles.defaults("04_synthesize_retrain", profile)
    searched = {key.removeprefix("model__") for key in grid}
    assert searched <= set(synthesis.RETRAIN_DEFAULTS), f"04 cannot use 03's {searched - set(synthesis.RETRAIN_DEFAULTS)}"
    assert {"epochs", "batch_size", "neurons", "dropout", "learning_rate"} <= set(P)
