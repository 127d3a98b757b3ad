"""kill -9 of a real run of notebook 05 twice -- once while the frozen model trains, once while it is
fine-tuned -- then --resume: the frozen model finished before the second kill is not trained again,
the interrupted units are redone from their start, and every artifact equals the uninterrupted smoke
run's (same seed, deterministic ops)."""

import json

import killing
import pandas as pd

from helpers import runs

METRICS = ("accuracy", "loss", "macro_f1", "val_accuracy", "val_loss", "epochs", "params", "trainable_params")


def test_kill_mid_training_twice_then_resume_gives_the_same_artifacts(smoke, tmp_path):
    reference = smoke.ensure("05_banana_transfer").path / "banana" / "VGG16"
    got = tmp_path / "killed" / "banana" / "VGG16"
    frozen, finetune = got / "frozen" / "seed0", got / "finetune" / "seed0"

    # 1. killed while the frozen model trains (the augmented batch is saved by the cell just before)
    proc = killing.start(tmp_path, "killed", "05")
    killing.kill_when(proc, lambda: (got / "augmented_batch.png").exists(), "the training cell", after=1.0)
    assert not (frozen / "_COMPLETE.json").exists(), "the frozen model finished before the kill"

    # 2. resumed, and killed again while fine-tuning (it starts as soon as the frozen model is complete)
    proc = killing.start(tmp_path, "killed", "05")
    killing.kill_when(proc, lambda: (frozen / "_COMPLETE.json").exists(), "a complete frozen model", after=1.5)
    assert not (finetune / "_COMPLETE.json").exists(), "fine-tuning finished before the kill"
    killing.check_intact(tmp_path / "killed")
    frozen_written = {p.name: p.stat().st_mtime_ns for p in frozen.iterdir()}

    # 3. resumed to the end
    killing.finish(tmp_path, "killed", "05")
    assert not killing.leftovers(tmp_path / "killed")
    assert {p.name: p.stat().st_mtime_ns for p in frozen.iterdir()} == frozen_written  # not redone
    for mode in ("frozen", "finetune"):
        unit, want = got / mode / "seed0", reference / mode / "seed0"
        pd.testing.assert_frame_equal(pd.read_csv(unit / "predictions.csv"), pd.read_csv(want / "predictions.csv"),
                                      check_exact=True)
        history = pd.read_csv(unit / "history.csv").drop(columns=["epoch_seconds", "feature_seconds"], errors="ignore")
        pd.testing.assert_frame_equal(history, pd.read_csv(want / "history.csv")[history.columns], check_exact=True)
        row, want_row = (json.loads((u / "metrics.json").read_text())["row"] for u in (unit, want))
        assert {k: row[k] for k in METRICS} == {k: want_row[k] for k in METRICS}, mode
    assert (got / "split.csv").read_text() == (reference / "split.csv").read_text()
    run = runs.Run(tmp_path / "killed")
    assert run.manifest["notebooks"]["05_banana_transfer-VGG16"]["status"] == "completed"
    log = (tmp_path / "killed" / "logs" / "05_banana_transfer-VGG16.kernel.log").read_text()
    assert log.count("--- ") == 3  # three attempts, all kept
