"""A student's Colab session on Google Drive, disconnected twice while notebook 05 trains.

Notebook 05 is executed alone, as a student runs it (papermill with only ``profile="smoke"``: no
``run_dir``), with runs and data on a simulated Drive folder. It is killed (kernel and all, like a
Colab disconnect) once while the repetition trains the frozen model and once while it fine-tunes it,
and re-run each time with the same defaults: it joins the same run (the profile's current run on
Drive), the frozen model finished before the second kill is not trained again (same digest: the
notebook's functions and settings did not change), the interrupted units are redone from their start,
and every artifact equals the uninterrupted smoke run's (same seed, deterministic ops)."""

import json

import killing
import pandas as pd

from helpers import runs

METRICS = ("accuracy", "loss", "macro_f1", "val_accuracy", "val_loss", "epochs", "params", "trainable_params")


def test_disconnects_mid_training_on_drive_then_rerun_with_defaults_gives_the_same_artifacts(smoke, tmp_path):
    reference = smoke.ensure("05_banana_transfer").path / "banana" / "VGG16"
    drive = tmp_path / "MyDrive"

    def unit(mode: str):
        found = sorted((drive / "runs").glob(f"*/banana/VGG16/{mode}/seed0"))
        return found[0] if found else None

    def complete(mode: str) -> bool:
        return unit(mode) is not None and (unit(mode) / "_COMPLETE.json").exists()

    # 1. disconnected while the repetition trains the frozen model (the cell just before it saves the
    #    visible fits' history figure)
    proc = killing.start_notebook(drive, "05_banana_transfer", tmp_path / "attempt1.ipynb")
    killing.kill_when(proc, lambda: any((drive / "runs").glob("*/banana/VGG16/history.png")),
                      "the repetition cell", after=1.0)
    assert not complete("frozen"), "the frozen model finished before the kill"
    (first_run,) = [p for p in (drive / "runs").iterdir() if p.is_dir()]

    # 2. the student re-runs the notebook with its defaults; disconnected again while fine-tuning
    proc = killing.start_notebook(drive, "05_banana_transfer", tmp_path / "attempt2.ipynb")
    killing.kill_when(proc, lambda: complete("frozen"), "a complete frozen model", after=1.5)
    assert not complete("finetune"), "fine-tuning finished before the kill"
    killing.check_intact(drive / "runs")
    frozen_written = {p.name: p.stat().st_mtime_ns for p in unit("frozen").iterdir()}

    # 3. re-run to the end
    proc = killing.start_notebook(drive, "05_banana_transfer", tmp_path / "attempt3.ipynb")
    assert proc.wait(timeout=600) == 0, (tmp_path / "attempt3.log").read_text()[-3000:]
    assert [p for p in (drive / "runs").iterdir() if p.is_dir()] == [first_run], "every attempt joined one run"
    got = first_run / "banana" / "VGG16"
    assert {p.name: p.stat().st_mtime_ns for p in unit("frozen").iterdir()} == frozen_written  # not redone
    for mode in ("frozen", "finetune"):
        have, want = got / mode / "seed0", reference / mode / "seed0"
        pd.testing.assert_frame_equal(pd.read_csv(have / "predictions.csv"), pd.read_csv(want / "predictions.csv"),
                                      check_exact=True)
        history = pd.read_csv(have / "history.csv").drop(columns=["epoch_seconds", "feature_seconds"], errors="ignore")
        pd.testing.assert_frame_equal(history, pd.read_csv(want / "history.csv")[history.columns], check_exact=True)
        row, want_row = (json.loads((u / "metrics.json").read_text())["row"] for u in (have, want))
        assert {k: row[k] for k in METRICS} == {k: want_row[k] for k in METRICS}, mode
    split, want_split = (pd.read_csv(d / "split.csv") for d in (got, reference))
    in_class_folder = {"path": lambda paths: paths.map(lambda p: "/".join(p.split("/")[-2:]))}  # data on Drive
    pd.testing.assert_frame_equal(split.transform(in_class_folder | {"split": lambda x: x, "label": lambda x: x}),
                                  want_split.transform(in_class_folder | {"split": lambda x: x, "label": lambda x: x}))
    run = runs.Run(first_run)
    assert run.manifest["notebooks"]["05_banana_transfer"]["status"] == "completed"
    assert runs.current_run("smoke", root=drive / "runs").path == run.path
