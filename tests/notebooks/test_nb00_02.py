"""Papermill smoke tests of notebooks 00-02: artifacts exist and their counts agree."""

from __future__ import annotations

import nbformat

from helpers import pipeline, profiles, runs
from helpers.data import breathing


def smoke_frame():
    """The embedded data exactly as the smoke profile of 01/02 loads it."""
    P = profiles.defaults("01_breathing_eda", "smoke")
    frame, _ = breathing.load_dataset(P["data_path"], P["data_fraction"], P["label_column"], seed=P["seed"])
    return frame


def stdout_of(path) -> str:
    nb = nbformat.read(str(path), as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []) if o.get("name") == "stdout")


def test_primer_artifacts(smoke):
    run = smoke.ensure("00_primer")
    P = profiles.defaults("00_primer", "smoke")
    for name in ("activations.png", "history.png", "history.csv", "kfold.csv"):
        assert (run.path / "primer" / name).is_file(), name
    history = run.read_csv("primer/history.csv")
    assert len(history) == P["epochs"]
    assert {"loss", "val_loss", "accuracy", "val_accuracy", "split"} <= set(history.columns)
    kfold = run.read_csv("primer/kfold.csv")
    assert len(kfold) == P["folds"] and kfold["accuracy"].between(0, 1).all()
    assert set(kfold["split"]) == {"val"}
    text = stdout_of(run.path / "notebooks" / "00_primer.ipynb")
    assert text.count("0.2990") == 3  # the three cross-entropies agree


def test_eda_artifacts(smoke):
    run = smoke.ensure("01_breathing_eda")
    assert run.is_complete("tabular/eda")
    expected = smoke_frame()["labels"].value_counts()
    counts = run.read_csv("tabular/eda/class_counts.csv")
    assert dict(zip(counts["label"], counts["count"])) == expected.to_dict()
    assert counts["imbalance_ratio"].iloc[0] == 1.0
    split = run.read_csv("tabular/eda/split_counts.csv").set_index("label")
    assert split.loc["total", "train"] + split.loc["total", "test"] == expected.sum()
    assert (split.drop("total")["train"] + split.drop("total")["test"]).to_dict() == expected.to_dict()
    for name in ("class_counts", "example_windows", "feature_profiles", "row_statistics", "correlation"):
        assert (run.path / "tabular" / "eda" / f"{name}.png").is_file(), name


def test_upsampling_artifacts(smoke):
    run = smoke.ensure("02_upsampling")
    assert run.is_complete("tabular/upsampling")
    expected = smoke_frame()["labels"].value_counts()
    full = run.read_csv("tabular/upsampling/table_full.csv")
    assert dict(zip(full["label"], full["original"])) == expected.to_dict()
    assert (full["total"] == expected.max()).all()
    assert (full["original"] + full["added"] == full["total"]).all()
    train = run.read_csv("tabular/upsampling/table_train.csv")
    test = run.read_csv("tabular/upsampling/test_counts.csv")
    assert set(train["split"]) == {"train"} and set(test["split"]) == {"test"}
    assert (train["total"] == train["original"].max()).all()
    originals = dict(zip(train["label"], train["original"]))
    assert {k: originals[k] + c for k, c in zip(test["label"], test["count"])} == expected.to_dict()
    # The split matches notebook 01's (same test_size and seed).
    eda_split = run.read_csv("tabular/eda/split_counts.csv").set_index("label")
    assert eda_split.drop("total")["train"].to_dict() == originals



def test_eda_and_upsampling_on_a_user_csv(user_csv, tmp_path):
    path, sizes = user_csv
    run = runs.create_run(run_id="user-csv", profile="smoke", root=tmp_path)
    executions = pipeline.plan("smoke", only="01,02", tabular_data=str(path))
    assert all(e.parameters["data_path"] == str(path.resolve()) for e in executions)
    pipeline.run_pipeline(executions, run, progress=False, log=lambda *_: None)

    counts = run.read_csv("tabular/eda/class_counts.csv")
    assert dict(zip(counts["label"], counts["count"])) == sizes
    table = run.read_csv("tabular/upsampling/table_full.csv")
    assert list(table["label"]) == ["calm", "panting", "sigh"]
    assert list(table["added"]) == [0, 24, 28] and set(table["total"]) == {40}
    train = run.read_csv("tabular/upsampling/table_train.csv")
    assert set(train["label"]) == set(sizes)
    for notebook in ("01_breathing_eda", "02_upsampling"):
        text = stdout_of(run.path / "notebooks" / f"{notebook}.ipynb")
        assert "my_breaths.csv" in text and "6 features, 3 classes" in text
        for word in ("normal", "deep_quick", "19060", "embedded"):
            assert word not in text, f"{notebook} printed {word!r} for a user CSV"
