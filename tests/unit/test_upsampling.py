"""Unit tests of helpers.data.upsampling: oversampling to the majority count and the brief's table."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.data import breathing, upsampling


def test_brief_table_on_the_full_default_dataset():
    frame = breathing.make_breathing_dataset(seed=0)
    X, y, _ = breathing.split_features_labels(frame)
    X_res, y_res = upsampling.oversample_to_majority(X, y, seed=0)
    table = upsampling.upsampling_table(y, y_res)
    rows = [tuple(r) for r in table[["label", "original", "added", "total"]].itertuples(index=False)]
    assert rows == [
        ("normal", 19060, 0, 19060),
        ("quick", 2667, 16393, 19060),
        ("hold", 2133, 16927, 19060),
        ("deep", 1066, 17994, 19060),
        ("deep_quick", 800, 18260, 19060),
    ]
    assert X_res.shape == (5 * 19060, 32) and X_res.dtype == np.float32
    text = upsampling.format_upsampling_table(table)
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
    X_res, y_res = upsampling.oversample_to_majority(X, y, seed=1)
    np.testing.assert_array_equal(X_res[:13], X)
    added = X_res[13:]
    assert len(added) == 7 and set(y_res[13:]) == {"b"}
    assert all(any(np.array_equal(row, orig) for orig in X[10:]) for row in added)
    again, _ = upsampling.oversample_to_majority(X, y, seed=1)
    np.testing.assert_array_equal(X_res, again)


def test_smote_makes_new_rows():
    rng = np.random.default_rng(0)
    X = rng.random((16, 3))
    y = np.array(["a"] * 12 + ["b"] * 4)
    X_res, y_res = upsampling.oversample_to_majority(X, y, seed=0, method="smote")
    assert (y_res == "b").sum() == 12
    with pytest.raises(ValueError, match=r"method='smote' needs at least 2 rows per class; class 'b' has 1"):
        upsampling.oversample_to_majority(X[:13], y[:13], method="smote")


@pytest.mark.parametrize("X, y, kwargs, message", [
    (np.zeros((4, 2)), np.array(["a", "a", "b", "b"]), {"method": "magic"},
     r"method must be one of random, smote, got 'magic'"),
    (np.zeros((4, 2)), np.array(["a", "a", "b"]), {}, r"X has 4 rows but y has 3 labels"),
    (np.zeros(4), np.array(["a", "a", "b", "b"]), {}, r"X must be a 2-D array"),
    (np.zeros((3, 2)), np.array(["a", "a", "a"]), {}, r"y has 1 class\(es\); expected at least 2"),
])
def test_oversample_rejects_bad_input(X, y, kwargs, message):
    with pytest.raises(ValueError, match=message):
        upsampling.oversample_to_majority(X, y, **kwargs)


def test_table_without_resampled_labels_assumes_majority():
    table = upsampling.upsampling_table(["x", "y", "y", "z", "z", "z"])
    assert list(table["label"]) == ["z", "y", "x"]
    assert list(table["added"]) == [0, 1, 2] and set(table["total"]) == {3}


def test_table_rejects_inconsistent_resampling():
    with pytest.raises(ValueError, match=r"fewer rows than y for class\(es\) \['a'\]"):
        upsampling.upsampling_table(["a", "a", "b"], ["a", "b"])
    with pytest.raises(ValueError, match=r"y_resampled has class\(es\) \['c'\]"):
        upsampling.upsampling_table(["a", "b"], ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"table lacks column\(s\) \['added'\]"):
        upsampling.format_upsampling_table(upsampling.upsampling_table(["a", "b"]).drop(columns="added"))
