"""Unit tests of helpers.data.resampling: shift augmentation (original / up / down / updown) with its
training-only sampler, oversampling to the majority count and the brief's table."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator

from helpers.data import breathing, resampling


@pytest.fixture
def data():
    X = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], dtype=np.float32)
    y = np.array(["a", "b", "a"])
    return X, y


def test_original_is_unchanged(data):
    X, y = data
    Xa, ya = resampling.shift_augment(X, y, "original")
    np.testing.assert_array_equal(Xa, X)
    np.testing.assert_array_equal(ya, y)


@pytest.mark.parametrize("variant,shifts", [("up", [0.01]), ("down", [-0.01]), ("updown", [0.01, -0.01])])
def test_shifted_copies(data, variant, shifts):
    X, y = data
    Xa, ya = resampling.shift_augment(X, y, variant, delta=0.01)
    assert Xa.shape == (3 * (1 + len(shifts)), 2)
    assert Xa.dtype == np.float32
    np.testing.assert_array_equal(Xa[:3], X)
    for i, s in enumerate(shifts, start=1):
        np.testing.assert_allclose(Xa[3 * i:3 * (i + 1)], X + s, atol=1e-7)
    assert list(ya) == list(y) * (1 + len(shifts))
    assert resampling.augmentation_factor(variant) == 1 + len(shifts)


def test_integer_features_become_float():
    Xa, _ = resampling.shift_augment(np.array([[1, 2]]), np.array([0]), "up", delta=0.5)
    np.testing.assert_allclose(Xa, [[1, 2], [1.5, 2.5]])


def test_unknown_variant_lists_allowed(data):
    with pytest.raises(ValueError, match=r"variant must be one of original, up, down, updown; got 'sideways'"):
        resampling.shift_augment(*data, variant="sideways")


@pytest.mark.parametrize("delta", ["0.01", None, float("nan"), -0.1, True])
def test_bad_delta(data, delta):
    with pytest.raises(ValueError, match="delta must be a finite non-negative number"):
        resampling.shift_augment(*data, variant="up", delta=delta)


def test_shape_errors():
    with pytest.raises(ValueError, match="X must be a 2-D array"):
        resampling.shift_augment(np.zeros(3), np.zeros(3), "up")
    with pytest.raises(ValueError, match="same number of rows, got 2 and 3"):
        resampling.shift_augment(np.zeros((2, 2)), np.zeros(3), "up")
    with pytest.raises(ValueError, match="X must be numeric, got dtype <U1"):
        resampling.shift_augment(np.array([["a"]]), np.zeros(1), "up")


class _Recorder(BaseEstimator):
    """A minimal estimator that remembers what it was fitted on and what it predicted."""

    def fit(self, X, y):
        self.fit_X_ = np.asarray(X)
        return self

    def predict(self, X):
        self.predict_X_ = np.asarray(X)
        return np.zeros(len(X))


def test_sampler_runs_at_fit_only(data):
    from imblearn.pipeline import Pipeline

    X, y = data
    rec = _Recorder()
    pipe = Pipeline([("augment", resampling.make_shift_sampler("updown", 0.01)), ("model", rec)])
    pipe.fit(X, y)
    assert rec.fit_X_.shape == (9, 2)
    pipe.predict(X)
    np.testing.assert_array_equal(rec.predict_X_, X)  # prediction sees the rows as they are



def test_brief_table_on_the_full_default_dataset():
    frame = breathing.make_breathing_dataset(seed=0)
    X, y, _ = breathing.split_features_labels(frame)
    X_res, y_res = resampling.oversample_to_majority(X, y, seed=0)
    table = resampling.upsampling_table(y, y_res)
    rows = [tuple(r) for r in table[["label", "original", "added", "total"]].itertuples(index=False)]
    assert rows == [
        ("normal", 19060, 0, 19060),
        ("quick", 2667, 16393, 19060),
        ("hold", 2133, 16927, 19060),
        ("deep", 1066, 17994, 19060),
        ("deep_quick", 800, 18260, 19060),
    ]
    assert X_res.shape == (5 * 19060, 32) and X_res.dtype == np.float32
    text = resampling.format_upsampling_table(table)
    assert text.splitlines() == [
        "LABELS:",
        "normal      19060 + 0     = 19060",
        "quick        2667 + 16393 = 19060",
        "hold         2133 + 16927 = 19060",
        "deep         1066 + 17994 = 19060",
        "deep_quick    800 + 18260 = 19060",
    ]


def test_originals_come_first_and_added_rows_are_copies():
    rng = np.random.default_rng(0)
    X = rng.random((13, 2))
    y = np.array(["a"] * 10 + ["b"] * 3)
    X_res, y_res = resampling.oversample_to_majority(X, y, seed=1)
    np.testing.assert_array_equal(X_res[:13], X)
    added = X_res[13:]
    assert len(added) == 7 and set(y_res[13:]) == {"b"}
    assert all(any(np.array_equal(row, orig) for orig in X[10:]) for row in added)
    again, _ = resampling.oversample_to_majority(X, y, seed=1)
    np.testing.assert_array_equal(X_res, again)


def test_smote_makes_new_rows():
    rng = np.random.default_rng(0)
    X = rng.random((16, 3))
    y = np.array(["a"] * 12 + ["b"] * 4)
    X_res, y_res = resampling.oversample_to_majority(X, y, seed=0, method="smote")
    assert (y_res == "b").sum() == 12
    with pytest.raises(ValueError, match=r"method='smote' needs at least 2 rows per class; class 'b' has 1"):
        resampling.oversample_to_majority(X[:13], y[:13], method="smote")


@pytest.mark.parametrize("X, y, kwargs, message", [
    (np.zeros((4, 2)), np.array(["a", "a", "b", "b"]), {"method": "magic"},
     r"method must be one of random, smote, got 'magic'"),
    (np.zeros((4, 2)), np.array(["a", "a", "b"]), {}, r"same number of rows, got 4 and 3"),
    (np.zeros(4), np.array(["a", "a", "b", "b"]), {}, r"X must be a 2-D array"),
    (np.zeros((3, 2)), np.array(["a", "a", "a"]), {}, r"y has 1 class\(es\); expected at least 2"),
])
def test_oversample_rejects_bad_input(X, y, kwargs, message):
    with pytest.raises(ValueError, match=message):
        resampling.oversample_to_majority(X, y, **kwargs)


def test_table_without_resampled_labels_assumes_majority():
    table = resampling.upsampling_table(["x", "y", "y", "z", "z", "z"])
    assert list(table["label"]) == ["z", "y", "x"]
    assert list(table["added"]) == [0, 1, 2] and set(table["total"]) == {3}


def test_table_rejects_inconsistent_resampling():
    with pytest.raises(ValueError, match=r"fewer rows than y for class\(es\) \['a'\]"):
        resampling.upsampling_table(["a", "a", "b"], ["a", "b"])
    with pytest.raises(ValueError, match=r"y_resampled has class\(es\) \['c'\]"):
        resampling.upsampling_table(["a", "b"], ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"table lacks column\(s\) \['added'\]"):
        resampling.format_upsampling_table(resampling.upsampling_table(["a", "b"]).drop(columns="added"))
