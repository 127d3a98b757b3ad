"""Bad-input sweep (issue 8): every entry point gets malformed input -- wrong types, missing paths,
empty files, unknown names, out-of-range numbers -- and answers with an error that names what was
wrong, without writing anything into an existing run."""

import hashlib
from pathlib import Path

import numpy as np
import pytest

from helpers import pipeline, profiles, report, runs
from helpers.data import breathing, images, longtail, resampling
from helpers.models.cnn import parse_spec
from helpers.training import imbalance, search


def _snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def existing_run():
    run = runs.create_run(profile="smoke")
    run.write_json("tabular/result.json", {"score": 0.5})
    run.mark_complete("tabular")
    return run


# ------------------------------------------------------------------------------------- runner flags
@pytest.mark.parametrize("argv, message", [
    (["--profile", "turbo"], "unknown profile 'turbo'"),
    (["--only", "42"], "--only: no notebook '42'"),
    (["--tabular-data", "/nonexistent/data.csv"], "--tabular-data: /nonexistent/data.csv does not exist"),
    (["--image-data", "/nonexistent/photos"], "--image-data: /nonexistent/photos does not exist"),
    (["--set", "seed"], "--set expects KEY=VALUE"),
    (["--set", "colour=red"], "no chosen notebook has the parameter"),
    (["--resume", "no-such-run"], "not a run directory"),
])
def test_runner_flags(argv, message, capsys, existing_run):
    before = _snapshot(existing_run.path)
    assert pipeline.main(argv) == 2
    assert message in capsys.readouterr().err
    assert _snapshot(existing_run.path) == before


def test_runner_refuses_an_existing_run_id_and_leaves_it_untouched(capsys, existing_run):
    before = _snapshot(existing_run.path)
    assert pipeline.main(["--run-id", existing_run.run_id, "--only", "00"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert _snapshot(existing_run.path) == before


def test_jobs_must_be_positive(existing_run):
    with pytest.raises(ValueError, match="--jobs must be a positive integer, got 0"):
        pipeline.run_pipeline([], existing_run, jobs=0)


# ------------------------------------------------------------------------------- notebook parameters
@pytest.mark.parametrize("call, message", [
    (lambda: profiles.resolve("03_gridsearch", "smoke", colour="red"), "unknown parameter.*colour"),
    (lambda: resampling.check_variant("sideways"), "sideways"),
    (lambda: resampling.check_delta("abc"), "delta"),
    (lambda: search.check_param_grid({"colour": [1]}), "colour"),
    (lambda: search.check_param_grid({"epochs": []}), "epochs"),
    (lambda: parse_spec("32C3-PX-512"), "PX"),
    (lambda: imbalance.effective_number_class_weights([10, 5], beta=1.0), "beta must be a number in \\[0, 1\\)"),
    (lambda: longtail.make_long_tail(np.zeros((4, 2, 2, 3)), np.array([0, 0, 1, 1]), imbalance_ratio=0.5),
     "imbalance_ratio must be a number >= 1"),
])
def test_notebook_parameters(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# ---------------------------------------------------------------------------------------- data files
def test_csv_loader_missing_empty_and_wrong_column(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.csv"):
        breathing.load_tabular_csv(tmp_path / "missing.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ValueError, match="empty.csv"):
        breathing.load_tabular_csv(empty)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("target,a\nx,1\ny,2\n")
    with pytest.raises(ValueError, match="labels"):
        breathing.load_tabular_csv(wrong)


def test_image_loader_missing_and_empty_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        images.load_image_folder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty"):
        images.load_image_folder(tmp_path / "empty")


def test_hdf5_reader_missing_file_and_missing_key(tmp_path):
    import h5py

    with pytest.raises(FileNotFoundError, match="none.h5"):
        longtail.read_hdf5(tmp_path / "none.h5", "train")
    path = tmp_path / "partial.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("train/images", data=np.zeros((2, 4, 4, 3), dtype="uint8"))
        f.create_dataset("train/labels", data=np.zeros(2, dtype="int64"))
    with pytest.raises(ValueError, match="partial.h5.*val"):
        longtail.read_hdf5(path, "val")


# -------------------------------------------------------------------------------------------- report
def test_report_on_a_folder_that_is_not_a_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a run directory"):
        report.build_report(tmp_path)


def test_report_names_a_corrupt_artifact_and_does_not_crash(existing_run):
    bad = existing_run.dir("tabular", "retrain") / "comparison.csv"
    bad.write_text("\x00\x01 not a csv")
    text = report.build_report(existing_run).to_markdown()
    assert "comparison.csv" in text
