"""helpers.evaluation.metrics on hand-made labels: values, shapes, missing values, one seed, timing."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from helpers.evaluation import metrics


def test_classification_metrics_values():
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [0, 0, 1, 1, 1, 0]
    out = metrics.classification_metrics(y_true, y_pred, ["a", "b", "c"])
    assert out["accuracy"] == pytest.approx(4 / 6)
    # recall a 2/3, b 1, c 0 -> balanced accuracy 5/9
    assert out["balanced_accuracy"] == pytest.approx(5 / 9)
    # F1: a = 2*(2/3*2/3)/(4/3) = 2/3, b = 2*(2/3*1)/(5/3) = 0.8, c = 0
    assert out["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 0) / 3)
    assert out["per_class"]["b"] == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2})
    assert out["per_class"]["c"]["support"] == 1 and out["per_class"]["c"]["f1"] == 0.0


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
def test_classification_metrics_names_default_to_indices_and_count_unseen_classes():
    out = metrics.classification_metrics([0, 1], [0, 3])
    assert list(out["per_class"]) == ["0", "1", "2", "3"]
    assert out["per_class"]["2"]["support"] == 0


@pytest.mark.parametrize("y_true, y_pred, message", [
    ([0, 1, 1], [0, 1], "y_true has 3 labels but y_pred has 2"),
    ([], [], "zero samples"),
])
def test_classification_metrics_bad_input(y_true, y_pred, message):
    with pytest.raises(ValueError, match=message):
        metrics.classification_metrics(y_true, y_pred, ["a", "b"])


def test_classification_report_frame_shape_and_split():
    frame = metrics.classification_report_frame([0, 0, 1, 1], [0, 1, 1, 1], ["neg", "pos"], split="val")
    assert list(frame.index) == ["neg", "pos", "macro avg", "weighted avg"]
    assert frame.index.name == "class"
    assert {"precision", "recall", "f1-score", "support", "split"} <= set(frame.columns)
    assert frame.loc["neg", "recall"] == pytest.approx(0.5) and frame.loc["pos", "precision"] == pytest.approx(2 / 3)
    assert frame["support"].tolist() == [2, 2, 4, 4] and set(frame["split"]) == {"val"}
    assert frame.attrs["accuracy"] == pytest.approx(0.75)
    with pytest.raises(ValueError, match="y_true has 4 labels but y_pred has 3"):
        metrics.classification_report_frame([0, 0, 1, 1], [0, 1, 1], ["neg", "pos"])


def test_summarize_mean_sd_values():
    frame = pd.DataFrame({"variant": ["a", "a", "b", "b", "b"], "acc": [0.6, 0.8, 0.1, 0.2, 0.3]})
    s = metrics.summarize_mean_sd(frame, "variant", ["acc"])
    assert list(s.columns) == ["variant", "acc_mean", "acc_sd", "acc_n", "n"]
    assert s["acc_mean"].tolist() == pytest.approx([0.7, 0.2])
    assert s["acc_sd"].tolist() == pytest.approx([np.std([0.6, 0.8], ddof=1), 0.1])
    assert s["n"].tolist() == [2, 3]
    whole = metrics.summarize_mean_sd(frame, None, ["acc"])
    assert len(whole) == 1 and whole.loc[0, "n"] == 5 and whole.loc[0, "acc_mean"] == pytest.approx(0.4)


def test_summarize_mean_sd_counts_only_values_and_one_value_has_no_sd():
    frame = pd.DataFrame({
        "variant": ["a", "a", "a", "b", "c"],
        "acc": [0.5, np.nan, 0.7, 0.9, np.nan],
        "loss": [1.0, 2.0, "n/a", np.nan, np.nan],  # text that is not a number counts as missing
    })
    s = metrics.summarize_mean_sd(frame, "variant", ["acc", "loss"]).set_index("variant")
    assert s["acc_n"].to_dict() == {"a": 2, "b": 1, "c": 0}
    assert s["loss_n"].to_dict() == {"a": 2, "b": 0, "c": 0}
    assert s["n"].to_dict() == {"a": 3, "b": 1, "c": 0}  # rows with a value for at least one metric
    assert s.loc["a", "acc_mean"] == pytest.approx(0.6) and s.loc["a", "acc_sd"] == pytest.approx(math.sqrt(0.02))
    assert s.loc["b", "acc_mean"] == pytest.approx(0.9) and math.isnan(s.loc["b", "acc_sd"])  # one seed: no SD
    assert math.isnan(s.loc["c", "acc_mean"]) and math.isnan(s.loc["c", "acc_sd"])


def test_summarize_mean_sd_names_a_missing_column():
    with pytest.raises(ValueError, match=r"\['f1'\] not in the frame"):
        metrics.summarize_mean_sd(pd.DataFrame({"acc": [1.0]}), None, ["f1"])


@pytest.mark.parametrize("args, kwargs, text", [
    ((0.91234, 0.0131), {}, "0.912 ± 0.013"),
    ((0.91234, 0.0131), {"digits": 2}, "0.91 ± 0.01"),
    ((0.91234, float("nan")), {}, "0.912 (1 seed)"),
    ((0.91234, None), {}, "0.912 (1 seed)"),
    ((0.91234, 0.0), {"n": 1}, "0.912 (1 seed)"),
    ((0.91234, np.float64("nan")), {"unit": "fold"}, "0.912 (1 fold)"),
    ((0.5, 0.0), {"n": 3}, "0.500 ± 0.000"),  # three equal seeds: a real SD of zero
    ((float("nan"), float("nan")), {}, "n/a"),
    ((None, None), {}, "n/a"),
    ((0.5, 0.1), {"n": 0}, "n/a"),
])
def test_format_mean_sd(args, kwargs, text):
    assert metrics.format_mean_sd(*args, **kwargs) == text


class FakeModel:
    """Counts ``predict`` calls and the samples they saw."""

    def __init__(self):
        self.calls: list[int] = []

    def predict(self, x, batch_size=32, verbose=0):
        self.calls.append(len(x))
        return np.zeros((len(x), 2))


def test_inference_time_per_sample_shape(monkeypatch):
    monkeypatch.setattr(metrics, "device_name", lambda: "CPU (test)")
    model = FakeModel()
    out = metrics.inference_time_per_sample(model, np.zeros((10, 3)), batch_size=4, warmup=2, repeats=3)
    assert set(out) == {"ms_per_sample", "n_samples", "batch_size", "device"}
    assert out["n_samples"] == 10 and out["batch_size"] == 4 and out["device"] == "CPU (test)"
    assert out["ms_per_sample"] >= 0
    assert model.calls == [4, 4, 10, 10, 10]  # two warm-up batches, then three timed passes over all samples


@pytest.mark.parametrize("x, kwargs, message", [
    (np.zeros((0, 3)), {}, "at least one sample"),
    (np.zeros((2, 3)), {"repeats": 0}, "repeats must be >= 1, got 0"),
])
def test_inference_time_per_sample_bad_input(x, kwargs, message):
    with pytest.raises(ValueError, match=message):
        metrics.inference_time_per_sample(FakeModel(), x, **kwargs)
