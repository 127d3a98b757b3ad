"""Papermill smoke tests of 07_cnn_architecture and 08_imbalanced_training: artifacts exist and agree."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers import layout, profiles
from helpers.data import longtail
from helpers.models import cnn

pytestmark = pytest.mark.slow


def test_07_writes_every_unit_table_and_plot(smoke):
    run = smoke.ensure("07_cnn_architecture")
    P = profiles.defaults("07_cnn_architecture", "smoke")
    for family in P["families"]:
        variants = cnn.family_variants(family, input_sizes=P["input_sizes"])
        for variant in variants:
            for seed in P["seeds"]:
                unit = f"cnn_architecture/{family}/{variant.slug}/seed{seed}"
                assert run.is_complete(unit), unit
                history = run.read_csv(f"{unit}/history.csv")
                assert len(history) == P["epochs"]
                assert {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "epoch_seconds"} <= set(history.columns)
                row = run.read_json(f"{unit}/result.json")["row"]
                assert row["spec"] == variant.spec and "split" in row and "averaging" in row
        table = run.read_csv(f"cnn_architecture/{family}/table.csv")
        assert table["variant"].tolist() == [v.name for v in variants]
        assert (table["split"] == "val").all() and table["params"].gt(0).all()
        assert (run.path / f"cnn_architecture/{family}/val_accuracy.png").is_file()
    results = run.read_csv("cnn_architecture/results.csv")
    assert len(results) == sum(len(cnn.family_variants(f, input_sizes=P["input_sizes"]))
                               for f in P["families"]) * len(P["seeds"])
    assert results[["val_accuracy", "test_accuracy", "test_macro_f1"]].apply(lambda c: c.between(0, 1)).all().all()
    sizes = results.loc[results["family"] == "input_size", "image_size"].tolist()
    assert sizes == [s for s in P["input_sizes"] for _ in P["seeds"]]
    chance = run.read_csv(layout.CNN_CHANCE)
    assert set(chance["split"]) == {"val", "test"} and chance["accuracy"].between(0, 1).all()
    best = run.read_csv("cnn_architecture/best_per_family.csv")
    assert {"val accuracy", "test accuracy"} <= set(best.columns)


def test_08_hdf5_is_long_tailed_and_ablation_complete(smoke):
    run = smoke.ensure("08_imbalanced_training")
    P = profiles.defaults("08_imbalanced_training", "smoke")
    h5 = run.path / "imbalanced/longtail.h5"
    _, y = longtail.read_hdf5(h5, "train")
    counts = np.bincount(y)
    assert counts.max() / counts.min() == pytest.approx(P["imbalance_ratio"], rel=0.35)
    assert list(counts) == sorted(counts, reverse=True)
    _, y_test = longtail.read_hdf5(h5, "test")
    assert len(set(np.bincount(y_test))) == 1  # the test split stays balanced
    results = pd.read_csv(run.path / "imbalanced/results.csv")
    assert results["variant"].tolist() == [v for v in P["variants"] for _ in P["seeds"]]
    assert (results["split"] == "test").all()
    assert results[["accuracy", "macro_f1", "tail_recall"]].apply(lambda c: c.between(0, 1)).all().all()
    for variant in P["variants"]:
        for seed in P["seeds"]:
            unit = run.path / layout.ablation_unit(variant, seed)
            assert (unit / "_COMPLETE.json").is_file(), unit
            per_class = pd.read_csv(unit / "per_class.csv")
            assert per_class["train_count"].tolist() == counts.tolist()
    table = pd.read_csv(run.path / "imbalanced/ablation_table.csv")
    assert table["variant"].tolist() == P["variants"] and {"test macro f1", "test head recall"} <= set(table.columns)
    sweep = pd.read_csv(run.path / "imbalanced/smoothing_sweep.csv")
    rows = ["baseline"] + [f"+label smoothing (loss) eps={e:g}" for e in P["smoothing_sweep"]]
    assert sweep["variant"].tolist() == [v for v in rows for _ in P["seeds"]]
    assert sweep["smoothing"].tolist() == [0.0 if v == "baseline" else float(v.split("=")[1]) for v in sweep["variant"]]
    base = results[results["variant"] == "baseline"].reset_index(drop=True)
    pd.testing.assert_frame_equal(sweep[sweep["variant"] == "baseline"].reset_index(drop=True), base)  # reused
    assert set(pd.read_csv(run.path / layout.IMBALANCED_CHANCE)["split"]) == {"val", "test"}
    for name in ("per_class_f1.png", "class_counts.png", "clahe_wb_examples.png", "per_class_f1.csv"):
        assert (run.path / "imbalanced" / name).is_file(), name
