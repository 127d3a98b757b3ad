"""kill -9 of a real run in the middle of notebook 03's grid search (runner and kernel together,
like a Colab disconnect), then --resume: the finished fits are loaded, only the missing ones are
trained, and the artifacts equal those of the uninterrupted smoke run with the same seed."""

import json
from pathlib import Path

import killing
import pandas as pd

from helpers import runs


def test_kill_mid_gridsearch_then_resume_gives_the_same_artifacts(smoke, tmp_path):
    reference = smoke.ensure("03_gridsearch")  # the uninterrupted run
    root = tmp_path / "killed" / "tabular" / "gridsearch" / "original"
    proc = killing.start(tmp_path, "killed", "03", "original")
    killing.kill_when(proc, lambda: list(root.glob("*/fits/fit_*.json")), "a persisted grid-search fit")
    fits_before = {d.name: len(list((d / "fits").glob("fit_*.json"))) for d in root.iterdir() if d.is_dir()}
    finished_before = {p.parent.name: p.parent.joinpath("best_params.json").stat().st_mtime_ns
                       for p in root.glob("*/_COMPLETE.json")}
    killing.check_intact(tmp_path / "killed")

    killing.finish(tmp_path, "killed", "03", "original")
    assert not killing.leftovers(tmp_path / "killed")

    ref_root = reference.path / "tabular" / "gridsearch" / "original"
    labels = sorted(p.name for p in ref_root.iterdir() if (p / "_COMPLETE.json").exists())
    assert labels and sorted(p.parent.name for p in root.glob("*/_COMPLETE.json")) == labels
    for label in labels:
        got, want = root / label, ref_root / label
        pd.testing.assert_frame_equal(
            pd.read_csv(got / "cv_results.csv").filter(regex="^(param|split|mean_test|std_test|rank)"),
            pd.read_csv(want / "cv_results.csv").filter(regex="^(param|split|mean_test|std_test|rank)"))
        assert json.loads((got / "best_params.json").read_text())["best_params"] == \
            json.loads((want / "best_params.json").read_text())["best_params"]
        summary = json.loads((got / "best_params.json").read_text())
        if label in finished_before:  # finished before the kill: not touched again
            assert (got / "best_params.json").stat().st_mtime_ns == finished_before[label]
        elif fits_before.get(label):  # interrupted mid-search: its persisted fits were loaded, not redone
            assert summary["n_fits_loaded"] == fits_before[label], summary
    m = runs.Run(tmp_path / "killed").manifest
    assert m["notebooks"]["03_gridsearch-original"]["status"] == "completed"
    assert Path(tmp_path / "killed" / "notebooks" / "03_gridsearch-original.ipynb").exists()
