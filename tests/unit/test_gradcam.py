"""Tests of helpers.evaluation.gradcam."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.evaluation import gradcam
from helpers.models import backbones


@pytest.fixture(scope="module")
def vgg():
    return backbones.build_transfer_model("VGG16", 3, 64)


def test_heatmap_shape_and_range(vgg):
    image = np.random.default_rng(0).normal(0, 50, size=(64, 64, 3)).astype(np.float32)
    before = image.copy()
    heat = gradcam.gradcam_heatmap(vgg, image, "block5_conv3")
    assert heat.shape == (4, 4) and heat.dtype == np.float32
    assert heat.min() >= 0 and heat.max() <= 1
    np.testing.assert_array_equal(image, before)
    for k in range(3):
        h = gradcam.gradcam_heatmap(vgg, image, "block5_conv3", class_index=k)
        assert h.shape == (4, 4)


def test_heatmap_errors(vgg):
    with pytest.raises(ValueError, match="has no layer 'mixed10'"):
        gradcam.gradcam_heatmap(vgg, np.zeros((64, 64, 3)), "mixed10")
    with pytest.raises(ValueError, match="image must have shape"):
        gradcam.gradcam_heatmap(vgg, np.zeros((1, 64, 64, 3)), "block5_conv3")
    with pytest.raises(ValueError, match="class_index=5 out of range; the model has 3 classes"):
        gradcam.gradcam_heatmap(vgg, np.zeros((64, 64, 3)), "block5_conv3", class_index=5)


def test_overlay():
    img = np.zeros((20, 30, 3), dtype=np.uint8)
    heat = np.array([[0.0, 1.0], [0.5, 0.0]])
    out = gradcam.overlay(img, heat, alpha=0.5)
    assert out.shape == (20, 30, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(gradcam.overlay(img, heat, alpha=0.0), img)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\], got 2"):
        gradcam.overlay(img, heat, alpha=2)


def test_select_right_wrong():
    y_true = np.array([0, 1, 2, 0, 1, 2, 0])
    y_pred = np.array([0, 2, 2, 1, 1, 0, 0])
    right, wrong = gradcam.select_right_wrong(y_true, y_pred, 2)
    assert right.tolist() == [0, 2] and wrong.tolist() == [1, 3]
    right, wrong = gradcam.select_right_wrong(y_true, y_pred, 10, seed=0)
    assert sorted(right.tolist()) == [0, 2, 4, 6] and sorted(wrong.tolist()) == [1, 3, 5]
    with pytest.raises(ValueError, match="y_true has shape"):
        gradcam.select_right_wrong([0, 1], [0], 1)


def test_notebook_06_gradcam_cell_equals_the_helper(vgg):
    from test_backbones import notebook_functions

    notebook_heatmap = notebook_functions("06_gradcam", "gradcam_heatmap")["gradcam_heatmap"]
    for seed in range(3):
        image = np.random.default_rng(seed).normal(0, 50, size=(64, 64, 3)).astype(np.float32)
        np.testing.assert_allclose(notebook_heatmap(vgg, image, "block5_conv3"),
                                   gradcam.gradcam_heatmap(vgg, image, "block5_conv3"), atol=1e-5)


def test_grid_draws_the_given_heatmap_function(vgg):
    images = np.zeros((3, 64, 64, 3), dtype=np.uint8)
    calls = []

    def constant(model, image, layer):
        calls.append(layer)
        return np.ones((4, 4), dtype=np.float32)

    fig = gradcam.gradcam_grid(vgg, images, images.astype(np.float32), [0, 2], "block5_conv3", ["a", "b"],
                               heatmap=constant)
    assert calls == ["block5_conv3"] * 2 and len(fig.axes) >= 2
    assert gradcam.gradcam_grid(vgg, images, images, [], "block5_conv3", []) is None


def _unit(run, backbone, mode, seed, val_accuracy, test_accuracy, val_loss=1.0, test_loss=1.0):
    unit = f"banana/{backbone}/{mode}/seed{seed}"
    row = {"backbone": backbone, "mode": mode, "seed": seed, "split": "test", "accuracy": test_accuracy,
           "loss": test_loss, "macro_f1": test_accuracy, "val_accuracy": val_accuracy, "val_loss": val_loss}
    run.write_json(f"{unit}/metrics.json", {"row": row})
    run.mark_complete(unit)


def test_best_models_choose_on_validation_and_never_on_test(tmp_path, monkeypatch):
    from helpers import runs

    run = runs.open_run(tmp_path / "r")
    # validation and test disagree: frozen/seed1 is best on val, finetune/seed0 on test
    _unit(run, "VGG16", "frozen", 0, val_accuracy=0.70, test_accuracy=0.60)
    _unit(run, "VGG16", "frozen", 1, val_accuracy=0.80, test_accuracy=0.50)
    _unit(run, "VGG16", "finetune", 0, val_accuracy=0.75, test_accuracy=0.95)
    # a tie on val accuracy is broken by val loss, never by test numbers
    _unit(run, "Xception", "frozen", 0, val_accuracy=0.6, test_accuracy=0.9, val_loss=0.9, test_loss=0.1)
    _unit(run, "Xception", "finetune", 0, val_accuracy=0.6, test_accuracy=0.4, val_loss=0.5, test_loss=2.0)
    best = gradcam.best_models(run).set_index("backbone")
    assert (best.loc["VGG16", "mode"], best.loc["VGG16", "seed"]) == ("frozen", 1)
    assert best.loc["Xception", "mode"] == "finetune"
    assert best.loc["VGG16", "test_accuracy"] == 0.50  # reported after the choice
    assert set(best["chosen_on"]) == {"val"}
    # scramble every test number: the choice does not move
    for unit in sorted((run.path / "banana").glob("*/*/seed*")):
        rel = unit.relative_to(run.path)
        data = run.read_json(f"{rel}/metrics.json")
        data["row"].update(accuracy=float(np.random.default_rng(len(str(rel))).random()), loss=0.0, macro_f1=0.0)
        run.write_json(f"{rel}/metrics.json", data)
    again = gradcam.best_models(run).set_index("backbone")
    assert again[["mode", "seed"]].equals(best[["mode", "seed"]])
    # without validation numbers there is nothing to choose on: a clear error, not a silent test-based pick
    data = run.read_json("banana/VGG16/frozen/seed0/metrics.json")
    del data["row"]["val_accuracy"]
    run.write_json("banana/VGG16/frozen/seed0/metrics.json", data)
    with pytest.raises(ValueError, match="chosen on validation"):
        gradcam.best_models(run)
