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
        assert summary.columns[:4].tolist() == ["backbone", "mode", "weights", "augmentation"]
        assert summary["augmentation"].nunique() == 1, "both modes train with the same augmentation"
        assert set(summary["verdict"]) <= {"at chance", "above chance beyond its SD", "above chance (1 seed: no SD)"}
        chance = pd.read_csv(run.path / f"banana/{backbone}/chance.csv")
        assert set(chance["split"]) == {"val", "test"} and chance["accuracy"].between(0, 1).all()
        for mode in p["modes"]:
            report = pd.read_csv(run.path / f"banana/{backbone}/{mode}/classification_report.csv")
            assert set(report["weights"]) == {"random init"} and set(report["chosen_on"]) == {"val"}
            predictions = pd.read_csv(run.path / f"banana/{backbone}/{mode}/seed{p['seeds'][0]}/predictions.csv")
            assert set(predictions["weights"]) == {"random init"}


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


def _executed(run, stem):
    import json

    paths = sorted((run.path / "notebooks").glob(f"{stem}*.ipynb"))
    assert paths, f"no executed copy of {stem} in {run.path / 'notebooks'}"
    return [(path, json.loads(path.read_text())["cells"]) for path in paths]


def _output_text(cell) -> str:
    import json

    return json.dumps(cell.get("outputs", []))


def test_05_first_output_after_the_parameters_says_random_weights(smoke):
    run = smoke.ensure("05_banana_transfer")
    for path, cells in _executed(run, "05_banana_transfer"):
        start = next(i for i, c in enumerate(cells) if "lesson.start(" in "".join(c["source"]))
        first = next(c for c in cells[start + 1:] if c["cell_type"] == "code" and c.get("outputs"))
        text = _output_text(first)
        assert "random initialisation" in text and "RANDOMLY initialised" in text, (path.name, text[:300])
        assert "weights = random init" in text, "the banner names the weights column's value"


def test_05_shows_chance_beside_the_tables_and_calls_nothing_best_at_chance(smoke):
    run = smoke.ensure("05_banana_transfer")
    for path, cells in _executed(run, "05_banana_transfer"):
        tables = [c for c in cells if "mean_sd_table(" in "".join(c["source"])]
        assert tables and all("chance: majority class" in _output_text(c) for c in tables), path.name
        assert all("random init" in _output_text(c) and "augmentation" in _output_text(c) for c in tables)
        takeaway = _output_text(next(c for c in cells if "judge_against_chance(" in "".join(c["source"])))
        backbone = path.stem.split("-")[-1]
        summary = pd.read_csv(run.path / f"banana/{backbone}/summary.csv")
        if (summary["verdict"] == "at chance").all():
            assert "AT CHANCE" in takeaway and "No model is called best" in takeaway, takeaway
            assert "Best on validation" not in takeaway


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


def test_06_says_random_weights_at_the_top_and_in_its_choice(smoke):
    run = smoke.ensure("06_gradcam")
    ((path, cells),) = _executed(run, "06_gradcam")
    start = next(i for i, c in enumerate(cells) if "lesson.start(" in "".join(c["source"]))
    first = next(c for c in cells[start + 1:] if c["cell_type"] == "code" and c.get("outputs"))
    assert "RANDOM WEIGHTS" in _output_text(first), path.name
    chosen = _output_text(next(c for c in cells if "gradcam.best_models(" in "".join(c["source"])))
    assert "weights: random init" in chosen and "chosen on split: val" in chosen, chosen
