"""Verdicts on constructed histories and tables."""

import numpy as np
import pandas as pd
import pytest

from helpers.evaluation.verdicts import (
    Verdict,
    average_precision_baseline,
    beats_chance,
    chance_baselines,
    chance_table,
    compare_to_baseline,
    differ_beyond_sd,
    fit_verdict,
    winner_per_label,
)


def _history(loss, val_loss, acc=None, val_acc=None):
    h = {"loss": list(loss), "val_loss": list(val_loss)}
    if acc is not None:
        h.update(accuracy=list(acc), val_accuracy=list(val_acc))
    return h


def test_overfitting_when_val_loss_rises_while_train_falls():
    h = _history([1.0, 0.7, 0.5, 0.35, 0.25, 0.15], [1.0, 0.8, 0.7, 0.75, 0.85, 0.95],
                 [0.5, 0.65, 0.75, 0.82, 0.88, 0.93], [0.5, 0.6, 0.66, 0.66, 0.65, 0.64])
    v = fit_verdict(h)
    assert isinstance(v, Verdict)
    assert v.verdict == "overfitting"
    assert v.numbers["min_val_loss_epoch"] == 3
    assert v.numbers["accuracy_gap"] == pytest.approx(0.29)
    assert "0.700 at epoch 3" in v.sentence and "0.290" in v.sentence


def test_overfitting_from_accuracy_gap_alone():
    h = _history([0.5, 0.4, 0.39], [0.6, 0.55, 0.55], [0.8, 0.9, 0.95], [0.7, 0.75, 0.76])
    v = fit_verdict(h, gap_threshold=0.1)
    assert v.verdict == "overfitting"
    assert "gap" in v.sentence
    assert fit_verdict(h, gap_threshold=0.25).verdict != "overfitting"


def test_underfitting_close_to_chance():
    h = _history([1.10, 1.09, 1.09, 1.09], [1.10, 1.10, 1.10, 1.10],
                 [0.34, 0.35, 0.36, 0.36], [0.33, 0.34, 0.33, 0.34])
    v = fit_verdict(h, chance=1 / 3)
    assert v.verdict == "underfitting"
    assert "chance (0.333)" in v.sentence


def test_underfitting_when_losses_still_fall_steeply():
    h = _history([2.0, 1.5, 1.1, 0.8], [2.0, 1.6, 1.2, 0.9], [0.3, 0.4, 0.5, 0.6], [0.3, 0.4, 0.5, 0.58])
    v = fit_verdict(h)
    assert v.verdict == "underfitting"
    assert "still learning" in v.sentence
    assert v.numbers["last_epoch_loss_drop"] == pytest.approx(0.2727, abs=1e-4)


def test_good_fit():
    h = _history([1.0, 0.6, 0.45, 0.42, 0.41], [1.0, 0.65, 0.5, 0.47, 0.465],
                 [0.5, 0.75, 0.85, 0.86, 0.87], [0.5, 0.73, 0.83, 0.84, 0.85])
    v = fit_verdict(h)
    assert v.verdict == "good fit", v.sentence
    assert v.numbers["epochs"] == 5


def test_too_few_epochs_is_inconclusive_and_dataframe_accepted():
    v = fit_verdict(pd.DataFrame({"loss": [1.0, 0.5], "val_loss": [1.0, 0.6]}))
    assert v.verdict == "inconclusive"
    assert "2 epoch" in v.sentence


def test_fit_verdict_missing_column_names_it():
    with pytest.raises(ValueError, match=r"no column\(s\) \['val_loss'\]"):
        fit_verdict({"loss": [1, 2, 3]})
    with pytest.raises(ValueError, match="gap_threshold must be a number >= 0"):
        fit_verdict(_history([1, 1, 1], [1, 1, 1]), gap_threshold=-1)


def test_differ_beyond_sd():
    v = differ_beyond_sd(0.90, 0.01, 0.80, 0.02, names=("fine-tuned", "frozen"), metric="test accuracy")
    assert v.verdict == "differ"
    assert v.sentence.startswith("fine-tuned is higher")
    assert v.numbers["sd_sum"] == pytest.approx(0.03)
    w = differ_beyond_sd(0.90, 0.05, 0.88, 0.04)
    assert w.verdict == "no clear difference"
    assert "within the summed SDs 0.090" in w.sentence


def test_differ_beyond_sd_with_welch_test():
    v = differ_beyond_sd(0.90, 0.01, 0.80, 0.01, n_a=5, n_b=5)
    assert v.verdict == "differ" and v.numbers["p"] < 0.001
    # beyond the SDs but too few runs for significance
    w = differ_beyond_sd(0.90, 0.04, 0.80, 0.04, n_a=2, n_b=2, alpha=0.01)
    assert w.verdict == "no clear difference" and "not significant" in w.sentence


def test_differ_beyond_sd_bad_input():
    with pytest.raises(ValueError, match="mean_b must be a finite number, got nan"):
        differ_beyond_sd(0.5, 0.1, float("nan"), 0.1)
    with pytest.raises(ValueError, match="SDs must be >= 0"):
        differ_beyond_sd(0.5, -0.1, 0.4, 0.1)


def test_winner_per_label():
    table = pd.DataFrame({
        "label": ["a", "a", "a", "a", "b", "b"],
        "variant": ["original", "up", "down", "updown", "original", "up"],
        "score": [0.5, 0.7, 0.6, 0.65, 0.8, 0.8],
        "sd": [0.01, 0.01, 0.01, 0.01, 0.0, 0.0],
    })
    out = winner_per_label(table, sd="sd").set_index("label")
    assert out.loc["a", "winner"] == "up"
    assert out.loc["a", "runner_up"] == "updown"
    assert out.loc["a", "margin"] == pytest.approx(0.05)
    assert "beyond their SDs" in out.loc["a", "sentence"]
    assert bool(out.loc["b", "tie"]) and "tie" in out.loc["b", "sentence"]


def test_winner_per_label_lower_is_better_and_missing_column():
    table = pd.DataFrame({"label": ["x", "x"], "variant": ["p", "q"], "loss": [0.3, 0.2]})
    assert winner_per_label(table, score="loss", higher_is_better=False)["winner"].iloc[0] == "q"
    with pytest.raises(ValueError, match=r"column\(s\) \['score'\] not in the table"):
        winner_per_label(table)


def test_compare_to_baseline():
    table = pd.DataFrame({"name": ["baseline", "class weights", "smoothing"], "mean": [0.5, 0.7, 0.51],
                          "sd": [0.02, 0.02, 0.03], "n": [3, 3, 3]})
    out = compare_to_baseline(table, "baseline", metric="macro-F1").set_index("name")
    assert out.loc["baseline", "verdict"] == "baseline"
    assert out.loc["class weights", "verdict"] == "differ"
    assert out.loc["class weights", "diff_vs_baseline"] == pytest.approx(0.2)
    assert out.loc["smoothing", "verdict"] == "no clear difference"
    assert np.isfinite(out["diff_vs_baseline"]).all()
    with pytest.raises(ValueError, match="baseline 'nope' not in column 'name'"):
        compare_to_baseline(table, "nope")


def test_differ_beyond_sd_single_run_is_undetermined():
    v = differ_beyond_sd(0.5, 0.0, 0.33, 0.0, n_a=1, n_b=1)
    assert v.verdict == "undetermined"
    assert "n = 1 and 1 run(s)" in v.sentence


def test_chance_baselines_match_simulated_guessers():
    from sklearn.dummy import DummyClassifier
    from sklearn.metrics import accuracy_score, f1_score

    y = np.repeat([0, 1, 2], [50, 30, 20])
    c = chance_baselines(y)
    assert c["majority_accuracy"] == pytest.approx(0.5)
    assert c["majority_macro_f1"] == pytest.approx(2 * 0.5 / 1.5 / 3)  # F1 of the majority class, 0 for the others
    x = np.zeros((len(y), 1))
    guesses = [DummyClassifier(strategy="stratified", random_state=i).fit(x, y).predict(x) for i in range(400)]
    assert c["stratified_accuracy"] == pytest.approx(np.mean([accuracy_score(y, g) for g in guesses]), abs=0.01)
    assert c["stratified_macro_f1"] == pytest.approx(np.mean([f1_score(y, g, average="macro") for g in guesses]), abs=0.01)
    # a prior from a long-tailed training split, scored on a balanced test split
    balanced = np.repeat([0, 1, 2], 10)
    skewed = chance_baselines(balanced, prior=np.repeat([0, 1, 2], [90, 9, 1]))
    assert skewed["majority_accuracy"] == pytest.approx(1 / 3) and skewed["stratified_accuracy"] == pytest.approx(1 / 3)
    assert skewed["stratified_macro_f1"] < 1 / 3
    assert chance_baselines([0, 0, 1], num_classes=4)["majority_macro_f1"] == pytest.approx(2 * (2 / 3) / (5 / 3) / 4)
    table = chance_table(y, split="val")
    assert table["model"].tolist() == ["chance: majority class", "chance: stratified random"]
    assert set(table["split"]) == {"val"} and table["accuracy"].tolist() == [c["majority_accuracy"], c["stratified_accuracy"]]
    with pytest.raises(ValueError, match="empty"):
        chance_baselines([])


def test_average_precision_baseline_is_the_positive_rate_and_beats_chance_needs_the_sd():
    from sklearn.metrics import average_precision_score

    y = np.repeat([1, 0], [1000, 4000])
    scores = [average_precision_score(y, np.random.default_rng(i).random(len(y))) for i in range(40)]
    assert average_precision_baseline(y) == pytest.approx(0.2)
    assert np.mean(scores) == pytest.approx(0.2, abs=0.01)  # a random ranking, on a large sample
    assert beats_chance(0.5, 0.1, 0.35) and not beats_chance(0.5, 0.2, 0.35)
    assert beats_chance(0.36, float("nan"), 0.35) and not beats_chance(0.35, None, 0.35)


def test_choose_best_is_the_one_rule_for_best():
    from helpers.evaluation.verdicts import choose_best

    table = pd.DataFrame({"name": ["a", "b", "c"], "acc_mean": [0.70, 0.90, float("nan")],
                          "acc_sd": [0.02, 0.02, 0.0], "acc_n": [3, 3, 3], "level": [0.8, 0.95, 0.3]})
    status, top, versus = choose_best(table, "acc", chance=0.5)
    assert (status, top["name"], versus) == ("best", "b", None)  # ahead of a beyond both SDs; NaN ranked last
    assert choose_best(table, "acc", chance=0.89)[0] == "at chance"  # 0.90 - 0.02 is not above 0.89
    assert choose_best(table, "acc", chance="level")[0] == "at chance"  # b's own level 0.95
    close = table.assign(acc_mean=[0.88, 0.90, 0.1])
    status, top, versus = choose_best(close, "acc", chance=None)
    assert status == "no clear winner" and top["name"] == "b" and versus.verdict != "differ"
    tie = table.assign(acc_mean=[0.9, 0.9, 0.9], acc_sd=0.0)
    assert choose_best(tie, "acc")[1]["name"] == "a"  # ties keep the table's order
    with pytest.raises(ValueError, match="no rows"):
        choose_best(table.iloc[:0], "acc")
