"""helpers.plots on tiny inputs: each function returns a Figure with the expected axes, lines and
labels; bad input is an error that says what was wrong."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from helpers import plots  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


HISTORY = {"loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.8, 0.7], "accuracy": [0.5, 0.7, 0.8],
           "val_accuracy": [0.4, 0.6, 0.65]}


@pytest.mark.parametrize("history", [HISTORY, pd.DataFrame(HISTORY)], ids=["dict", "frame"])
def test_plot_history_one_axes_per_metric_with_train_and_validation(history):
    fig = plots.plot_history(history, title="tiny")
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    loss, acc = fig.axes
    assert [line.get_label() for line in loss.lines] == ["train loss", "validation loss"]
    assert [line.get_label() for line in acc.lines] == ["train accuracy", "validation accuracy"]
    assert loss.get_xlabel() == "epoch" and acc.get_ylabel() == "accuracy"
    assert list(loss.lines[0].get_xdata()) == [1, 2, 3]
    assert fig._suptitle.get_text() == "tiny"


def test_plot_history_without_validation_draws_one_line():
    fig = plots.plot_history({"loss": [1.0, 0.5]}, metrics=["loss"])
    assert len(fig.axes) == 1 and [line.get_label() for line in fig.axes[0].lines] == ["train loss"]


def test_plot_history_reads_a_keras_history_object():
    class History:
        history = {"loss": [1.0, 0.5], "val_loss": [1.2, 0.9]}

    fig = plots.plot_history(History(), metrics=["loss"])
    assert len(fig.axes[0].lines) == 2


def test_plot_history_bad_input():
    with pytest.raises(ValueError, match=r"no column\(s\) \['auc'\]"):
        plots.plot_history(HISTORY, metrics=["loss", "auc"])
    with pytest.raises(TypeError, match="history must be a Keras History, a dict or a DataFrame, got list"):
        plots.plot_history([1.0, 0.5])


def test_plot_confusion_matrix_counts_and_labels():
    fig = plots.plot_confusion_matrix([0, 0, 1, 2], [0, 1, 1, 2], ["a", "b", "c"], title="cm")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]  # the second axes is the colour bar
    assert len(fig.axes) == 2
    assert [t.get_text() for t in ax.texts] == ["1", "1", "0", "0", "1", "0", "0", "0", "1"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["a", "b", "c"]
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true" and ax.get_title() == "cm"


def test_plot_confusion_matrix_normalized_rows():
    fig = plots.plot_confusion_matrix([0, 0, 1, 1], [0, 1, 1, 1], ["a", "b"], normalize="true")
    assert [t.get_text() for t in fig.axes[0].texts] == ["0.50", "0.50", "0.00", "1.00"]


def test_plot_confusion_matrix_draws_on_given_axes():
    fig, ax = plt.subplots()
    assert plots.plot_confusion_matrix([0, 1], [0, 1], ["a", "b"], ax=ax) is fig


def test_plot_class_counts_one_bar_per_class_with_labels():
    fig = plots.plot_class_counts({"normal": 50, "deep": 5, "quick": 12}, title="counts")
    ax = fig.axes[0]
    assert len(ax.patches) == 3
    assert [t.get_text() for t in ax.get_xticklabels()] == ["normal", "deep", "quick"]
    assert [t.get_text() for t in ax.texts] == ["50", "5", "12"]
    assert ax.get_ylabel() == "rows" and ax.get_legend() is None


def test_plot_class_counts_groups_and_log_scale():
    frame = pd.DataFrame({"train": [40, 4], "test": [10, 1]}, index=["a", "b"])
    fig = plots.plot_class_counts(frame, log=True)
    ax = fig.axes[0]
    assert len(ax.patches) == 4 and ax.get_yscale() == "log" and ax.get_legend() is not None
    assert ax.get_ylabel() == "rows (log scale)"


def test_plot_curves_one_line_per_variant_with_bands():
    fig = plots.plot_curves({"A": [0.5, 0.6], "B": [0.4, 0.7]}, "val accuracy", bands={"A": [0.05, 0.02]})
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["A", "B"]
    assert len(ax.collections) == 1  # one band
    assert ax.get_ylabel() == "val accuracy" and ax.get_xlabel() == "epoch"


def test_image_grid_layout_and_titles():
    images = [np.zeros((4, 4, 3), dtype=np.uint8)] * 5 + [np.ones((4, 4, 3), dtype=float)]
    fig = plots.image_grid(images, titles=[f"img{i}" for i in range(6)], ncols=4, title="grid")
    assert len(fig.axes) == 8  # 2 rows x 4 columns, the last two empty
    assert sum(bool(ax.images) for ax in fig.axes) == 6
    assert [ax.get_title() for ax in fig.axes[:6]] == [f"img{i}" for i in range(6)]
    assert len(plots.image_grid(images[:2], ncols=6).axes) == 2  # never more columns than images


def test_image_grid_bad_input():
    with pytest.raises(ValueError, match="at least one image"):
        plots.image_grid([])


def test_image_grid_titles_must_match_the_images():
    with pytest.raises(ValueError, match="titles"):
        plots.image_grid([np.zeros((2, 2, 3))] * 3, titles=["only one"])


def test_plot_curves_bands_must_match_their_curve():
    with pytest.raises(ValueError, match="bands"):
        plots.plot_curves({"A": [0.5, 0.6, 0.7]}, "acc", bands={"A": [0.1]})
