"""Papermill smoke tests of 05_banana_transfer (per backbone) and 06_gradcam: artifacts exist and agree."""

from __future__ import annotations

import pandas as pd
import pytest

from helpers import profiles

pytestmark = pytest.mark.slow

SMOKE_BACKBONES = [s["label"] for s in profiles.parameter_sets("05_banana_transfer", "smoke")]


def test_05_writes_every_seed_and_summary(smoke):
    run = smoke.ensure("05_banana_transfer")
    params = profiles.parameter_sets("05_banana_transfer", "smoke")
    for p in params:
        (backbone,) = p["backbones"]
        for mode in p["modes"]:
            for seed in p["seeds"]:
                unit = f"banana/{backbone}/{mode}/seed{seed}"
                assert run.is_complete(unit), unit
                for name in ("history.csv", "metrics.json", "predictions.csv", "model.keras"):
                    assert (run.path / unit / name).is_file(), f"{unit}/{name}"
                metrics = run.read_json(f"{unit}/metrics.json")
                assert metrics["split"] == "test" and "averaging" in metrics
                assert 0.0 <= metrics["test"]["accuracy"] <= 1.0
                history = run.read_csv(f"{unit}/history.csv")
                assert {"loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds"} <= set(history.columns)
        summary = pd.read_csv(run.path / f"banana/{backbone}/summary.csv")
        assert summary["mode"].tolist() == p["modes"]
        assert (summary["split"] == "test").all()
        assert {"accuracy_mean", "accuracy_sd", "macro_f1_mean", "mean_epoch_seconds_mean",
                "inference_ms_per_image_mean", "params", "model_mb"} <= set(summary.columns)
        split = pd.read_csv(run.path / f"banana/{backbone}/split.csv")
        assert set(split["split"]) == {"train", "val", "test"}
        assert not split["path"].duplicated().any()
        assert (run.path / f"banana/{backbone}/augmented_batch.png").is_file()
        # no ImageNet weights offline: every table says so, and the chance baselines sit beside the scores
        assert set(summary["weights"]) == {"random init"} and {"val_accuracy_mean", "val_accuracy_sd"} <= set(summary)
        chance = pd.read_csv(run.path / f"banana/{backbone}/chance.csv")
        assert set(chance["split"]) == {"val", "test"} and chance["accuracy"].between(0, 1).all()


def test_05_says_random_weights_before_anything_is_trained(smoke):
    import json

    run = smoke.ensure("05_banana_transfer")
    for path in sorted((run.path / "notebooks").glob("05_banana_transfer*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        text = ["".join(c["source"]) + json.dumps(c.get("outputs", [])) for c in cells]
        first_fit = next(i for i, t in enumerate(text) if "model.fit(" in t)
        warned = [i for i, t in enumerate(text) if "RANDOMLY initialised" in t and i > 0 and "display(" in t
                  and "RANDOMLY initialised" in json.dumps(cells[i].get("outputs", []))]
        assert warned and warned[0] < first_fit, path.name
        prepare = next(i for i, t in enumerate(text) if t.startswith("## Prepare the data"))
        assert warned[0] < prepare, "the warning comes before the data, at the top"


def test_05_image_size_raised_to_backbone_minimum(smoke):
    run = smoke.ensure("05_banana_transfer")
    minimum = {"VGG16": 32, "ResNet50V2": 32, "Xception": 71, "InceptionV3": 75}
    for backbone in SMOKE_BACKBONES:
        assert run.read_json(f"banana/{backbone}/data.json")["image_size"] >= minimum[backbone]


def test_06_saves_gradcam_pngs_for_every_backbone(smoke):
    run = smoke.ensure("06_gradcam")
    pngs = sorted(p.name for p in (run.path / "gradcam").glob("*.png"))
    for backbone in SMOKE_BACKBONES:
        assert any(name.startswith(f"{backbone}_") for name in pngs), (backbone, pngs)
