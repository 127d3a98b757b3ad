"""kill -9 of a real run in the middle of notebook 03's grid search (runner and kernel together,
like a Colab disconnect), then --resume: the finished fits are loaded, only the missing ones are
trained, and the artifacts equal those of the uninterrupted smoke run with the same seed."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

from helpers import runs

SCRIPT = """
import sys
from helpers import pipeline, runs
run_id = sys.argv[1]
path = runs.runs_root() / run_id
run = runs.Run(path) if path.exists() else runs.create_run(run_id=run_id, profile="smoke")
executions = [e for e in pipeline.plan("smoke", only="03") if e.label == "original"]
pipeline.run_pipeline(executions, run, progress=False)
print("DONE")
"""


def test_kill_mid_gridsearch_then_resume_gives_the_same_artifacts(smoke, tmp_path):
    reference = smoke.ensure("03_gridsearch")  # the uninterrupted run
    env = {**os.environ, "DL_RUNS_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, "killed"], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = tmp_path / "killed" / "tabular" / "gridsearch" / "original"
    deadline = time.time() + 300
    while not list(root.glob("*/fits/fit_*.json")):  # at least one fit persisted
        assert proc.poll() is None, "the run ended before any grid-search fit was written"
        assert time.time() < deadline, "no grid-search fit was written in 300 s"
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    fits_before = {d.name: len(list((d / "fits").glob("fit_*.json"))) for d in root.iterdir() if d.is_dir()}
    finished_before = {p.parent.name: p.parent.joinpath("best_params.json").stat().st_mtime_ns
                       for p in root.glob("*/_COMPLETE.json")}
    assert not list((tmp_path / "killed").rglob("*.tmp*")), "a half-written file was left behind"

    resumed = subprocess.run([sys.executable, "-c", SCRIPT, "killed"], env=env, capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0 and "DONE" in resumed.stdout, resumed.stderr[-3000:]

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
