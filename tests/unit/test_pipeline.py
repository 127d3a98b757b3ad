"""The runner: planning, flags, bad input, resume and failure reporting (with tiny notebooks)."""

import json

import pytest
from tiny_notebooks import write_tiny_notebook

from helpers import pipeline, profiles, runs


def test_plan_follows_the_numbering_and_repeats():
    executions = pipeline.plan("smoke")
    order = [profiles.NOTEBOOKS.index(e.notebook) for e in executions]
    assert order == sorted(order)
    for notebook, per_profile in profiles.REPEATS.items():
        if notebook in pipeline.available_notebooks():
            labels = [e.label for e in executions if e.notebook == notebook]
            assert labels == [r["label"] for r in per_profile["smoke"]]


def test_overriding_a_repeated_parameter_selects_the_executions():
    executions = pipeline.plan("smoke", only="03,04", overrides={"variants": ["up", "original"]})
    grid = [e for e in executions if e.notebook == "03_gridsearch"]
    assert [(e.label, e.parameters["variants"]) for e in grid] == [("original", ["original"]), ("up", ["up"])]
    (retrain,) = [e for e in executions if e.notebook == "04_synthesize_retrain"]
    assert retrain.parameters["variants"] == ["up", "original"], "a notebook that does not repeat takes the value"
    with pytest.raises(ValueError, match=r"selects none of 03_gridsearch's executions \(original, up, down, updown\)"):
        pipeline.plan("smoke", only="03", overrides={"variants": ["sideways"]})


def test_every_gridsearch_execution_of_the_runner_searches_one_variant_and_alone_all_four():
    grid = [e for e in pipeline.plan("demo", only="03")]
    assert [e.parameters["variants"] for e in grid] == [["original"], ["up"], ["down"], ["updown"]]
    assert profiles.defaults("03_gridsearch", "demo")["variants"] == ["original", "up", "down", "updown"]


def test_only_accepts_numbers_and_names_and_rejects_unknown():
    available = ["00_primer", "01_breathing_eda", "02_upsampling"]
    assert pipeline.parse_only("02,00", available) == ["00_primer", "02_upsampling"]
    assert pipeline.parse_only(["1"], available) == ["01_breathing_eda"]
    with pytest.raises(ValueError, match="--only: no notebook '77'"):
        pipeline.parse_only("77", available)


def test_data_flags_are_checked_before_anything_is_written(tmp_path):
    with pytest.raises(FileNotFoundError, match="--tabular-data: .*missing.csv does not exist"):
        pipeline.plan("smoke", tabular_data=str(tmp_path / "missing.csv"))
    with pytest.raises(FileNotFoundError, match="--image-data: .*nope does not exist"):
        pipeline.plan("smoke", image_data=str(tmp_path / "nope"))


def test_tabular_data_reaches_only_notebooks_with_data_path(tmp_path):
    csv = tmp_path / "mine.csv"
    csv.write_text("labels,a\nx,1\n")
    for e in pipeline.plan("smoke", tabular_data=str(csv)):
        if "data_path" in e.parameters:
            assert e.parameters["data_path"] == str(csv.resolve())


def test_set_overrides_and_rejects_unknown_parameter(tiny):
    assert pipeline.parse_set(["seed=7", "name=abc", "grid=[1, 2]"]) == {"seed": 7, "name": "abc", "grid": [1, 2]}
    (e,) = pipeline.plan("smoke", only="00", overrides={"seed": 7})
    assert e.parameters["seed"] == 7
    with pytest.raises(ValueError, match="no chosen notebook has the parameter.*colour"):
        pipeline.plan("smoke", only="00", overrides={"colour": 1})
    with pytest.raises(ValueError, match="--set expects KEY=VALUE"):
        pipeline.parse_set(["seed"])


def test_cli_bad_flags_exit_2_and_create_no_run(tmp_path, capsys):
    before = set(runs.runs_root().glob("*")) if runs.runs_root().exists() else set()
    assert pipeline.main(["--profile", "turbo"]) == 2
    assert "unknown profile 'turbo'" in capsys.readouterr().err
    assert pipeline.main(["--only", "99"]) == 2
    assert pipeline.main(["--resume", str(tmp_path / "nothing")]) == 2
    assert "not a run directory" in capsys.readouterr().err
    after = set(runs.runs_root().glob("*")) if runs.runs_root().exists() else set()
    assert after == before


# ---------------------------------------------------------------- executions with tiny notebooks

@pytest.fixture
def tiny(tmp_path, monkeypatch):
    """A notebooks/ folder with two tiny notebooks, registered as 00 and 01."""
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    write_tiny_notebook(nbdir / "00_primer.ipynb",
                   "from pathlib import Path\n"
                   "p = Path(run_dir) / 'count.txt'\n"
                   "p.write_text(str(int(p.read_text()) + 1) if p.exists() else '1')")
    write_tiny_notebook(nbdir / "01_breathing_eda.ipynb",
                        "import os\nos.write(2, b'kernel process stderr line\\n')\n"
                        "assert value == 1, f'value was {value}'")
    monkeypatch.setenv("DL_NOTEBOOKS_DIR", str(nbdir))  # helpers.profiles.notebooks_dir
    monkeypatch.setitem(profiles.PARAMETERS, "00_primer", {p: {"value": 1} for p in profiles.PROFILES})
    monkeypatch.setitem(profiles.PARAMETERS, "01_breathing_eda", {p: {"value": 1} for p in profiles.PROFILES})
    assert pipeline.available_notebooks() == ["00_primer", "01_breathing_eda"]
    return nbdir


def test_run_resume_skips_completed_and_new_run_is_separate(tiny, capsys):
    assert pipeline.main(["--profile", "smoke", "--run-id", "t1", "--no-progress"]) == 0
    out = capsys.readouterr().out
    run = runs.Run(runs.runs_root() / "t1")
    assert "executed notebooks" in out and str(run.path) in out
    m = run.manifest
    assert m["status"] == "completed"
    assert {k: v["status"] for k, v in m["notebooks"].items()} == {"00_primer": "completed",
                                                                    "01_breathing_eda": "completed"}
    assert (run.path / "notebooks" / "00_primer.ipynb").exists()
    # --resume on a completed run does no work again
    assert pipeline.main(["--resume", "t1", "--no-progress"]) == 0
    assert (run.path / "count.txt").read_text() == "1"
    # the same run id without --resume is refused; a plain second run gets a new folder
    assert pipeline.main(["--profile", "smoke", "--run-id", "t1"]) == 2
    assert "already exists" in capsys.readouterr().err


def test_failure_names_notebook_cell_and_partial_output(tiny, capsys):
    code = pipeline.main(["--profile", "smoke", "--run-id", "t2", "--set", "value=5", "--no-progress"])
    assert code == 1
    err = capsys.readouterr().err
    assert "notebook 01_breathing_eda failed" in err
    assert "starting 'import os'" in err and "value was 5" in err  # the failing cell and message
    assert "partial output notebook:" in err and "01_breathing_eda.ipynb" in err
    run = runs.Run(runs.runs_root() / "t2")
    kernel_log = run.path / "logs" / "01_breathing_eda.kernel.log"
    assert f"kernel log: {kernel_log}" in err
    # what the kernel process printed went to its log, not to the runner's terminal
    assert "kernel process stderr line" in kernel_log.read_text()
    assert "kernel process stderr line" not in err
    m = run.manifest
    assert m["status"] == "failed"
    assert m["notebooks"]["00_primer"]["status"] == "completed"
    assert m["notebooks"]["01_breathing_eda"]["status"] == "failed"
    # resume redoes only the failed notebook
    # resume (with the profile's value=1 this time) redoes only the failed notebook
    assert pipeline.main(["--resume", "t2", "--no-progress"]) == 0
    assert (run.path / "count.txt").read_text() == "1"
    assert runs.Run(run.path).manifest["notebooks"]["01_breathing_eda"]["status"] == "completed"
    # the retry appended to the kernel log: both attempts are in it
    assert kernel_log.read_text().count("--- ") == 2
    assert kernel_log.read_text().count("kernel process stderr line") == 2


def test_jobs_runs_everything_and_respects_failures(tiny):
    run = runs.create_run(run_id="t3", profile="smoke")
    outputs = pipeline.run_pipeline(pipeline.plan("smoke"), run, jobs=2, progress=False)
    assert len(outputs) == 2
    assert json.loads((run.path / "manifest.json").read_text())["notebooks"]["01_breathing_eda"]["status"] == "completed"
    with pytest.raises(ValueError, match="--jobs must be a positive integer"):
        pipeline.run_pipeline([], run, jobs=0)
