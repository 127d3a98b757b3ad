"""Unit tests of helpers.data.breathing: the simulated dataset, the CSV loader and the splits."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.data import breathing


@pytest.fixture(scope="module")
def full():
    return breathing.make_breathing_dataset(seed=0)


@pytest.fixture(scope="module")
def small():
    return breathing.make_breathing_dataset(fraction=0.02, seed=1)


def write_csv(tmp_path, frame, name="data.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def tiny_frame(n_per_class=(6, 5), labels=("a", "b"), n_features=3, seed=0):
    rng = np.random.default_rng(seed)
    rows = sum(n_per_class)
    frame = pd.DataFrame(rng.random((rows, n_features)), columns=[f"x{i}" for i in range(n_features)])
    frame["labels"] = np.repeat(labels, n_per_class)
    return frame


# ---------------------------------------------------------------------------- generator

def test_default_counts_are_the_briefs(full):
    assert full["labels"].value_counts().to_dict() == breathing.CLASS_COUNTS
    assert len(full) == 25726
    assert list(full.columns) == [f"f{i:02d}" for i in range(32)] + ["labels"]


def test_values_are_in_unit_range_and_float32(full):
    X = full.drop(columns="labels").to_numpy()
    assert X.dtype == np.float32
    assert X.min() >= 0.0 and X.max() <= 1.0
    assert np.isfinite(X).all()


def test_same_seed_same_frame_other_seed_differs():
    a = breathing.make_breathing_dataset(fraction=0.01, seed=3)
    b = breathing.make_breathing_dataset(fraction=0.01, seed=3)
    c = breathing.make_breathing_dataset(fraction=0.01, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not a.drop(columns="labels").equals(c.drop(columns="labels"))


def test_fraction_scales_counts_with_a_floor(small):
    counts = small["labels"].value_counts().to_dict()
    assert counts["normal"] == round(19060 * 0.02)
    assert counts["deep_quick"] == round(800 * 0.02)  # 16 >= floor 12
    tiny = breathing.scaled_counts(0.001)
    assert min(tiny.values()) == breathing.MIN_ROWS_PER_CLASS


def test_custom_counts_and_window():
    frame = breathing.make_breathing_dataset(counts={"normal": 20, "hold": 15}, window=16, seed=0)
    assert frame["labels"].value_counts().to_dict() == {"normal": 20, "hold": 15}
    assert frame.shape == (35, 17)


def test_amplitude_is_kept_deep_breaths_have_larger_range(full):
    stats = breathing.row_statistics(full)
    median_range = stats.groupby("labels")["range"].median()
    assert median_range["deep"] > 1.4 * median_range["normal"]
    assert median_range["deep_quick"] > 1.4 * median_range["quick"]


def test_classes_overlap_a_quick_classifier_is_not_perfect(small):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score

    train, test = breathing.train_test_split_frame(small, test_size=0.3, seed=0)
    X_train, y_train, _ = breathing.split_features_labels(train)
    X_test, y_test, _ = breathing.split_features_labels(test)
    model = LogisticRegression(max_iter=300).fit(X_train, y_train)
    score = f1_score(y_test, model.predict(X_test), average="macro")
    assert score < 0.95


@pytest.mark.parametrize("kwargs, message", [
    ({"fraction": 0}, r"data fraction must be a number in \(0, 1\], got 0"),
    ({"fraction": 1.5}, r"data fraction must be a number in \(0, 1\], got 1.5"),
    ({"window": 4}, r"window must be an integer >= 8 samples, got 4"),
    ({"seed": -1}, r"seed must be a non-negative integer, got -1"),
    ({"counts": {"normal": 10, "sneeze": 5}}, r"unknown class 'sneeze'"),
    ({"counts": {"normal": 0}}, r"counts\['normal'\] must be a positive integer, got 0"),
])
def test_generator_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        breathing.make_breathing_dataset(**kwargs)


# ---------------------------------------------------------------------------- CSV loader

def test_load_valid_csv_roundtrip(tmp_path):
    path = write_csv(tmp_path, tiny_frame())
    frame = breathing.load_tabular_csv(path)
    assert list(frame.columns) == ["x0", "x1", "x2", "labels"]
    assert frame["labels"].value_counts().to_dict() == {"a": 6, "b": 5}
    assert frame.attrs["dropped_nonfinite"] == 0
    assert frame["x0"].dtype == np.float32


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.csv does not exist.*'labels' column"):
        breathing.load_tabular_csv(tmp_path / "nope.csv")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(ValueError, match=r"empty\.csv is empty; expected a CSV file with a header"):
        breathing.load_tabular_csv(path)


def test_missing_label_column_lists_columns(tmp_path):
    path = write_csv(tmp_path, tiny_frame().rename(columns={"labels": "target"}))
    with pytest.raises(ValueError, match=r"data\.csv: label column 'labels' not found; the columns are: "
                                         r"x0, x1, x2, target"):
        breathing.load_tabular_csv(path)


def test_configurable_label_column(tmp_path):
    path = write_csv(tmp_path, tiny_frame().rename(columns={"labels": "target"}))
    frame = breathing.load_tabular_csv(path, label_column="target")
    assert "target" in frame.columns


def test_only_label_column(tmp_path):
    path = write_csv(tmp_path, tiny_frame()[["labels"]])
    with pytest.raises(ValueError, match=r"only the label column 'labels' was found; expected at least one"):
        breathing.load_tabular_csv(path)


def test_non_numeric_column_is_named(tmp_path):
    frame = tiny_frame()
    frame["x1"] = frame["x1"].astype(object)
    frame.loc[3, "x1"] = "oops"
    path = write_csv(tmp_path, frame)
    with pytest.raises(ValueError, match=r"data\.csv: feature column\(s\) 'x1' \(e\.g\. 'oops'\) are not "
                                         r"numeric; expected numbers in every column except the label"):
        breathing.load_tabular_csv(path)


def test_nan_and_inf_error_names_columns_and_counts(tmp_path):
    frame = tiny_frame()
    frame.loc[0, "x0"] = np.nan
    frame.loc[1, "x2"] = np.inf
    frame.loc[2, "x2"] = -np.inf
    path = write_csv(tmp_path, frame)
    with pytest.raises(ValueError, match=r"data\.csv: NaN or infinite values in 3 row\(s\), by column "
                                         r"'x0': 1, 'x2': 2; .*drop_nonfinite=True"):
        breathing.load_tabular_csv(path)


def test_drop_nonfinite_drops_and_reports(tmp_path):
    frame = tiny_frame()
    frame.loc[0, "x0"] = np.nan
    frame.loc[7, "x2"] = np.inf
    path = write_csv(tmp_path, frame)
    with pytest.warns(UserWarning, match=r"dropped 2 row\(s\) with NaN or infinite values"):
        loaded = breathing.load_tabular_csv(path, drop_nonfinite=True)
    assert len(loaded) == 9
    assert loaded.attrs["dropped_nonfinite"] == 2
    assert np.isfinite(loaded.drop(columns="labels").to_numpy()).all()


def test_one_class_is_rejected(tmp_path):
    path = write_csv(tmp_path, tiny_frame(n_per_class=(5,), labels=("only",)))
    with pytest.raises(ValueError, match=r"data\.csv: column 'labels' has 1 class\(es\) \(only\); "
                                         r"expected at least 2"):
        breathing.load_tabular_csv(path)


def test_too_few_rows_per_class(tmp_path):
    path = write_csv(tmp_path, tiny_frame(n_per_class=(6, 3)))
    with pytest.raises(ValueError, match=r"data\.csv: column 'labels': too few rows per class \('b' has 3\); "
                                         r"every class needs at least 5 rows"):
        breathing.load_tabular_csv(path, min_rows_per_class=5)


def test_missing_labels_are_rejected(tmp_path):
    frame = tiny_frame()
    frame.loc[2, "labels"] = None
    path = write_csv(tmp_path, frame)
    with pytest.raises(ValueError, match=r"column 'labels' is empty in 1 row\(s\)"):
        breathing.load_tabular_csv(path)


def test_load_dataset_embedded_and_csv(tmp_path):
    frame, text = breathing.load_dataset(None, data_fraction=0.01, seed=0)
    assert "embedded" in text and f"{len(frame):,} rows" in text and "5 classes" in text
    path = write_csv(tmp_path, tiny_frame())
    frame, text = breathing.load_dataset(path, min_rows_per_class=2)
    assert text.startswith("CSV ") and "11 rows, 3 features, 2 classes" in text
    with pytest.raises(ValueError, match=r"only apply to the embedded data"):
        breathing.load_dataset(path, window=16)


# ---------------------------------------------------------------------------- tables and splits

def test_class_count_table(small):
    table = breathing.class_count_table(small)
    assert list(table["label"]) == ["normal", "quick", "hold", "deep", "deep_quick"]
    assert table["imbalance_ratio"].iloc[0] == 1.0
    assert table["imbalance_ratio"].iloc[-1] == pytest.approx(table["count"].iloc[0] / table["count"].iloc[-1])
    assert table["share"].sum() == pytest.approx(1.0)


def test_split_features_labels(small):
    X, y, names = breathing.split_features_labels(small)
    assert X.dtype == np.float32 and X.shape == (len(small), 32)
    assert y.dtype.kind in "UO" and names[0] == "f00"
    with pytest.raises(ValueError, match=r"label column 'target' not found"):
        breathing.split_features_labels(small, "target")


def test_stratified_split_keeps_shares_and_is_seeded(small):
    train, test = breathing.train_test_split_frame(small, test_size=0.25, seed=5)
    again, _ = breathing.train_test_split_frame(small, test_size=0.25, seed=5)
    pd.testing.assert_frame_equal(train, again)
    assert len(train) + len(test) == len(small)
    table = breathing.split_count_table(train, test)
    assert table.iloc[-1]["label"] == "total"
    assert (table.iloc[:-1]["test_share"].between(0.15, 0.35)).all()
    with pytest.raises(ValueError, match=r"test_size must be a share in \(0, 1\), got 1.5"):
        breathing.train_test_split_frame(small, test_size=1.5)


def test_plots_return_figures(small):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for fig in (breathing.plot_example_windows(small, n_per_class=2),
                breathing.plot_feature_profiles(small),
                breathing.plot_row_statistics(breathing.row_statistics(small)),
                breathing.plot_correlation_heatmap(small)):
        assert fig.axes
        plt.close(fig)
