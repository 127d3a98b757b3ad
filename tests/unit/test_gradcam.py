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
