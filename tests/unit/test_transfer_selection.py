"""Notebooks 05 and 06 choose on validation only, say which initial weights every table's models had, and judge
every score against chance (helpers.training.transfer, helpers.evaluation.gradcam, helpers.models.backbones)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers import layout, runs
from helpers.evaluation import gradcam, verdicts
from helpers.models import backbones
from helpers.training import transfer

CLASSES = ["a", "b", "c"]


def _chance(val_accuracy=1 / 3, test_accuracy=1 / 3, test_f1=0.2):
    return pd.DataFrame({"model": ["chance: majority class", "chance: stratified random"] * 2,
                         "accuracy": [val_accuracy, 0.3, test_accuracy, 0.3], "macro-F1": [0.2, 0.2, test_f1, 0.2],
                         "split": ["val", "val", "test", "test"]})


def _results(rows):
    """run_transfer's rows from (mode, seed, val_accuracy, test_accuracy) tuples, one backbone."""
    return pd.DataFrame([{"backbone": "VGG16", "mode": mode, "seed": seed, "weights": "random init",
                          "augmentation": "none", "split": "test", "accuracy": test, "loss": 1.0, "macro_f1": test,
                          "val_accuracy": val, "val_loss": 1.0, "mean_epoch_seconds": 0.1,
                          "inference_ms_per_image": 1.0, "device": "CPU (2 cores)", "params": 10, "model_mb": 0.1}
                         for mode, seed, val, test in rows])


def test_weights_label_says_what_every_table_shows(tmp_path):
    assert backbones.weights_label("VGG16", None) == "random init"
    assert backbones.weights_label("VGG16", "random") == "random init"
    assert backbones.weights_label("vgg16", "imagenet") == "imagenet"
    assert backbones.weights_label("VGG16", f"/cache/models/{backbones.get_backbone('VGG16').weights_file}") == "imagenet"
    assert backbones.weights_label("VGG16", tmp_path / "mine.h5") == "file mine.h5"
    choice = backbones.resolve_weights("VGG16", None)
    assert choice.label == "random init" and backbones.weights_label("VGG16", choice) == "random init"
    with pytest.raises(ValueError, match="weights='auto' is not resolved yet"):
        backbones.weights_label("VGG16", "auto")


def test_augmentation_label_is_the_same_words_for_both_modes():
    assert transfer.augmentation_label(False) == "none"
    assert "flip" in transfer.augmentation_label(True)


def test_report_backbone_picks_the_confusion_matrix_seed_on_validation_never_reading_other_predictions(tmp_path):
    run = runs.open_run(tmp_path / "r")
    # seed 1 is best on validation, seed 0 on test: seed 1 is shown
    results = _results([("frozen", 0, 0.50, 0.90), ("frozen", 1, 0.80, 0.40),
                        ("finetune", 0, 0.70, 0.30), ("finetune", 1, 0.60, 0.95)])
    y = np.array([0, 1, 2, 0, 1, 2])
    for mode, seed in (("frozen", 1), ("finetune", 0)):  # only the val-best seeds have predictions to read
        run.write_csv(f"{layout.transfer_unit('VGG16', mode, seed)}/{layout.PREDICTIONS}",
                      pd.DataFrame({"split": "test", "weights": "random init", "y_true": y, "y_pred": y}))
    for mode, seed in (("frozen", 0), ("finetune", 1)):  # the test-best seeds' predictions are unreadable
        path = run.path / layout.transfer_unit("VGG16", mode, seed) / layout.PREDICTIONS
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("not,a\n\"broken")
    summary, shown = transfer.report_backbone(run, "VGG16", results, CLASSES, _chance())
    assert set(shown) == {"frozen", "finetune"}
    for mode, seed in (("frozen", 1), ("finetune", 0)):
        report = pd.read_csv(run.path / f"banana/VGG16/{mode}/classification_report.csv")
        assert set(report["seed"]) == {seed} and set(report["chosen_on"]) == {"val"}
        assert set(report["weights"]) == {"random init"}
    written = pd.read_csv(run.path / "banana/VGG16/summary.csv")
    assert written.columns[:4].tolist() == ["backbone", "mode", "weights", "augmentation"]
    assert set(written["weights"]) == {"random init"} and set(written["augmentation"]) == {"none"}
    assert {"test_chance_accuracy", "test_chance_macro_f1", "verdict", "val_accuracy_mean"} <= set(written.columns)
    assert written["test_chance_accuracy"].tolist() == pytest.approx([1 / 3, 1 / 3])


def test_judge_against_chance_needs_both_test_scores_beyond_their_sd():
    results = _results([("frozen", 0, 0.5, 0.30), ("frozen", 1, 0.5, 0.60),       # 0.45 ± 0.21: at chance
                        ("finetune", 0, 0.9, 0.90), ("finetune", 1, 0.9, 0.92)])  # 0.91 ± 0.01: above
    judged = transfer.judge_against_chance(results, _chance()).set_index("mode")
    assert judged.loc["frozen", "verdict"] == "at chance"
    assert judged.loc["finetune", "verdict"] == "above chance beyond its SD"
    assert judged.loc["frozen", "accuracy_mean"] == pytest.approx(0.45)
    assert judged.loc["finetune", "chance_accuracy"] == pytest.approx(1 / 3)
    assert set(judged["weights"]) == {"random init"} and set(judged["augmentation"]) == {"none"}
    # a macro-F1 at chance is enough to say "at chance"
    low_f1 = transfer.judge_against_chance(results.assign(macro_f1=0.1), _chance()).set_index("mode")
    assert low_f1.loc["finetune", "verdict"] == "at chance"
    one_seed = transfer.judge_against_chance(results[results["seed"] == 0], _chance()).set_index("mode")
    assert one_seed.loc["finetune", "verdict"] == "above chance (1 seed: no SD)"
    with pytest.raises(ValueError, match="judge_against_chance"):
        transfer.judge_against_chance(results.drop(columns="val_accuracy"), _chance())


def _judged(rows, chance=None):
    return transfer.judge_against_chance(_results(rows), _chance() if chance is None else chance)


def test_best_on_validation_ignores_the_test_ranking_and_missing_or_corrupted_test_numbers():
    # finetune is best on validation (0.90 ± 0.01), frozen on test (0.99)
    rows = [("frozen", 0, 0.60, 0.99), ("frozen", 1, 0.62, 0.98), ("finetune", 0, 0.90, 0.50),
            ("finetune", 1, 0.91, 0.52)]
    judged = _judged(rows)
    pick = transfer.best_on_validation(judged)
    assert pick["best"] == ("VGG16", "finetune") and pick["reason"] == "best on validation"
    assert pick["sentence"].startswith("Best on validation accuracy: VGG16 finetune (random init)")
    # the test numbers missing or corrupted: the same choice
    for broken in (judged.assign(accuracy_mean=np.nan, accuracy_sd=np.nan, macro_f1_mean=np.nan),
                   judged.assign(accuracy_mean=[10.0, -3.0], verdict="garbage")):
        assert transfer.best_on_validation(broken)["best"] == ("VGG16", "finetune")
    # and from results without any test score at all
    no_test = transfer.judge_against_chance(_results(rows).assign(accuracy="corrupt", macro_f1=np.nan), _chance())
    assert transfer.best_on_validation(no_test)["best"] == ("VGG16", "finetune")


def test_nothing_is_called_best_at_chance_or_without_a_clear_lead():
    at_chance = transfer.best_on_validation(_judged([("frozen", 0, 0.34, 0.9), ("frozen", 1, 0.33, 0.9),
                                                     ("finetune", 0, 0.30, 0.9), ("finetune", 1, 0.33, 0.9)]))
    assert at_chance["best"] is None and at_chance["reason"] == "at chance"
    assert at_chance["sentence"].startswith("No model is called best") and "Best" not in at_chance["sentence"]
    close = transfer.best_on_validation(_judged([("frozen", 0, 0.80, 0.5), ("frozen", 1, 0.90, 0.5),
                                                 ("finetune", 0, 0.82, 0.5), ("finetune", 1, 0.86, 0.5)]))
    assert close["best"] is None and close["reason"] == "no clear winner"
    assert close["candidate"] == ("VGG16", "frozen")
    one_seed = transfer.best_on_validation(_judged([("frozen", 0, 0.9, 0.5), ("finetune", 0, 0.6, 0.5)]))
    assert one_seed["best"] is None and one_seed["reason"] == "no clear winner"  # no SD: undetermined
    assert verdicts.beats_chance(0.9, None, 1 / 3)


def _unit(run, mode, seed, val_accuracy, **test):
    unit = layout.transfer_unit("VGG16", mode, seed)
    row = {"backbone": "VGG16", "mode": mode, "seed": seed, "weights": "random init", "split": "test",
           "val_accuracy": val_accuracy, "val_loss": 1.0, **test}
    run.write_json(f"{unit}/{layout.METRICS}", {"row": row})
    run.mark_complete(unit)


def test_gradcam_best_models_work_without_test_numbers_and_say_which_weights(tmp_path):
    run = runs.open_run(tmp_path / "r")
    _unit(run, "frozen", 0, 0.50, accuracy=0.99, loss=0.1, macro_f1=0.99)  # best on test
    _unit(run, "finetune", 0, 0.70)                                        # best on validation, no test numbers
    _unit(run, "finetune", 1, 0.60, accuracy="corrupt", loss=None, macro_f1=[1, 2])
    best = gradcam.best_models(run)
    assert best[["mode", "seed", "weights", "chosen_on"]].values.tolist() == [["finetune", 0, "random init", "val"]]
    assert best[["test_accuracy", "test_loss", "test_macro_f1"]].isna().all(axis=None)
    # the chosen unit's test numbers corrupted: still chosen, reported as missing
    data = run.read_json(f"{layout.transfer_unit('VGG16', 'finetune', 0)}/{layout.METRICS}")
    data["row"].update(accuracy="n/a", loss={"x": 1})
    run.write_json(f"{layout.transfer_unit('VGG16', 'finetune', 0)}/{layout.METRICS}", data)
    again = gradcam.best_models(run)
    assert again[["mode", "seed"]].values.tolist() == [["finetune", 0]] and again["test_accuracy"].isna().all()


def _tiny_splits(n=6, size=32, seed=0):
    rng = np.random.default_rng(seed)

    def part(k):
        return rng.integers(0, 255, size=(k, size, size, 3)).astype(np.uint8), np.arange(k) % 3
    return {"train": part(n), "val": part(3), "test": part(3)}


@pytest.mark.parametrize("augment", [False, True])
def test_run_transfer_labels_weights_and_the_same_augmentation_for_both_modes(tmp_path, augment):
    run = runs.create_run(run_id="t", profile="smoke", root=tmp_path)
    params = {"modes": ["frozen", "finetune"], "seeds": [0], "epochs": 1, "fine_tune_epochs": 1, "batch_size": 4,
              "augment": augment, "feature_cache": True}
    results = transfer.run_transfer(run, "VGG16", _tiny_splits(), CLASSES, params, backbones.build_transfer_model,
                                    backbones.fine_tune, image_size=32, progress=False)
    assert results["weights"].tolist() == ["random init"] * 2
    assert results["augmentation"].tolist() == [transfer.augmentation_label(augment)] * 2
    # the frozen arm uses the feature cache only without augmentation (cached features cannot be augmented)
    assert ("feature_seconds" in results and results["feature_seconds"].notna().any()) == (not augment)
    predictions = run.read_csv(f"{layout.transfer_unit('VGG16', 'frozen', 0)}/{layout.PREDICTIONS}")
    assert set(predictions["weights"]) == {"random init"}
