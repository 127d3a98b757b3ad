"""``python -m helpers.pipeline batch``: a constructed class folder (every kind of submission a class hands in),
executed with tiny stand-in notebooks registered as lessons 00 and 01, so each kernel takes a second or two."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from tiny_notebooks import write_tiny_notebook

from helpers import pipeline, profiles, runs
from helpers.batch import checks, examples, grades, grading, numbers, sandbox, submissions

# the stand-in for lesson 01: it records its numbers where the real 01 does (tabular/eda/class_counts.csv)
LESSON = ("from pathlib import Path\n(Path(run_dir) / 'tabular' / 'eda').mkdir(parents=True, exist_ok=True)\n"
          "(Path(run_dir) / 'tabular/eda/class_counts.csv').write_text(f'label,count\\na,{10 * value}\\nb,5\\n')\n")
CHECKED = "# NBVAL_CHECK_OUTPUT\nprint('rows', 10 * value)"
TIMEOUT_S, MEMORY_MB = 10, 1500


@pytest.fixture
def lessons(tmp_path, monkeypatch):
    """notebooks/ with a tiny 01 (three cells: parameters, the lesson, a checked print) and a tiny 00."""
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    write_tiny_notebook(nbdir / "01_breathing_eda.ipynb", LESSON)
    nb = nbformat.read(str(nbdir / "01_breathing_eda.ipynb"), as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(CHECKED))
    nbformat.write(nb, str(nbdir / "01_breathing_eda.ipynb"))
    write_tiny_notebook(nbdir / "00_primer.ipynb", "print('primer')",
                        parameters="run_dir = None\nepochs = 1\nn_samples = 3\nfolds = 2\nprofile = 'smoke'\nseed = 0")
    monkeypatch.setenv("DL_NOTEBOOKS_DIR", str(nbdir))
    monkeypatch.setitem(profiles.PARAMETERS, "01_breathing_eda", {p: {"value": 1} for p in profiles.PROFILES})
    monkeypatch.setitem(profiles.PARAMETERS, "00_primer",
                        {p: {"epochs": 1, "n_samples": 3, "folds": 2} for p in profiles.PROFILES})
    assert pipeline.available_notebooks() == ["00_primer", "01_breathing_eda"]
    return nbdir


def _grades(folder: Path) -> dict[str, dict]:
    with open(folder / "grades.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return {(r["student_id"], r["submission"]): r for r in rows}


def test_every_kind_of_submission_gets_its_row(lessons, tmp_path):
    kinds = list(examples.KINDS) if sandbox.landlock_abi() else [k for k in examples.KINDS if k != "writes_outside"]
    made = examples.make_example_submissions(tmp_path / "class", "01_breathing_eda", kinds)
    folder = grading.run_batch(tmp_path / "class", "01", jobs=2, timeout_s=TIMEOUT_S, memory_mb=MEMORY_MB,
                              out_dir=tmp_path / "batch", check=True, progress=False, log=lambda *_: None)
    rows = _grades(folder)
    by_id = {}
    for (student, _), row in rows.items():
        by_id.setdefault(student, []).append(row)
    reference = by_id[grades.REFERENCE][0]
    assert reference["status"] == "completed" and reference["rows[a]"] == "10" and reference["rows[b]"] == "5"

    good = by_id[made["good"]][0]
    assert good["submission"] == "ada/01_breathing_eda.ipynb" and good["status"] == "completed"
    assert (good["rows[a]"], good["rows[b]"]) == ("10", "5") and good["differs_from_reference"] == "0 of 2"
    assert good["checks"] == "1 of 1 match"
    error = by_id[made["error"]][0]
    assert error["status"] == "failed" and error["cell"] == "3"
    assert "code cell 3 ('print(total_rows)')" in error["detail"] and "NameError" in error["detail"]
    sleeper = by_id[made["sleep"]][0]
    assert sleeper["status"] == "timed out" and f"limit of {TIMEOUT_S} s" in sleeper["detail"]
    assert "code cell 3 ('import time')" in sleeper["detail"] and float(sleeper["seconds"]) < TIMEOUT_S + 15
    hog = by_id[made["memory"]][0]
    assert hog["status"] == "memory limit" and f"limit of {MEMORY_MB} MiB" in hog["detail"]
    assert MEMORY_MB < float(hog["peak_memory_mb"]) < 4096  # stopped before its 4 GiB
    assert by_id[made["broken_json"]][0]["status"] == "not a notebook"
    assert "not JSON" in by_id[made["broken_json"]][0]["detail"]
    assert by_id[made["no_parameters"]][0]["status"] == "no parameters cell"
    other = by_id[made["other_lesson"]][0]
    assert other["status"] == "another lesson" and "00_primer" in other["detail"]
    twins = by_id[made["duplicate"]]
    assert len(twins) == 2 and {r["status"] for r in twins} == {"duplicate id"}
    if "writes_outside" in kinds:
        writer = by_id[made["writes_outside"]][0]
        assert writer["status"] == "failed" and "PermissionError" in writer["detail"] and "blocked" in writer["detail"]
        assert not (runs.repo_root() / "written-by-a-submission.txt").exists()
    assert len(rows) == 1 + len(kinds) + 1  # the reference, one per kind, the duplicate's second notebook

    summary = (folder / "summary.md").read_text()
    assert "## Numbers beside the reference" in summary and "| (reference) | 10 | 5 |" in summary
    assert "1 timed out" in summary and "1 memory limit" in summary and "write protection:" in summary
    # each submission worked in a copy of its folder; the class folder is untouched
    assert (folder / "submissions" / "ada" / "work" / "notes.txt").exists()
    assert sorted(p.name for p in (tmp_path / "class" / "ada").iterdir()) == ["01_breathing_eda.ipynb", "notes.txt"]


def test_resume_keeps_completed_and_reruns_the_rest(lessons, tmp_path):
    examples.make_example_submissions(tmp_path / "class", "01_breathing_eda", ["good", "error"])
    folder = grading.run_batch(tmp_path / "class", "01", batch_id="b1", out_dir=tmp_path / "batch", progress=False,
                              log=lambda *_: None)
    kept = (folder / "submissions" / "ada" / "result.json").stat().st_mtime_ns
    failed = (folder / "submissions" / "bob" / "result.json").stat().st_mtime_ns
    with pytest.raises(FileExistsError, match="--resume b1"):
        grading.run_batch(tmp_path / "class", "01", batch_id="b1", out_dir=tmp_path / "batch", progress=False)
    said = []
    again = grading.run_batch(None, None, resume="b1", out_dir=tmp_path / "batch", progress=False, log=said.append)
    assert again == folder and any("ada: completed in an earlier attempt" in s for s in said)
    assert (folder / "submissions" / "ada" / "result.json").stat().st_mtime_ns == kept
    assert (folder / "submissions" / "bob" / "result.json").stat().st_mtime_ns != failed
    assert _grades(folder)[("ada", "ada/01_breathing_eda.ipynb")]["status"] == "completed"


def test_an_empty_folder_gives_the_reference_and_a_clear_row(lessons, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code = pipeline.main(["batch", str(tmp_path / "empty"), "--notebook", "01", "--out", str(tmp_path / "b"),
                          "--batch-id", "e", "--no-progress"])
    assert code == 0 and "grades.csv" in capsys.readouterr().out
    rows = _grades(tmp_path / "b" / "e")
    assert [r["status"] for r in rows.values()] == ["completed", submissions.NO_SUBMISSIONS]
    assert "No notebooks" in (tmp_path / "b" / "e" / "summary.md").read_text()


@pytest.mark.parametrize("argv, message", [
    (["batch", "/nonexistent/class", "--notebook", "01"], "does not exist or is not a folder"),
    (["batch", "{tmp}", "--notebook", "99"], "--notebook: no notebook '99'"),
    (["batch", "{tmp}", "--notebook", "01", "--set", "colour=3"], "unknown parameter(s) colour"),
    (["batch", "{tmp}", "--notebook", "01", "--jobs", "0"], "--jobs must be a positive integer"),
    (["batch", "{tmp}"], "give SUBMISSIONS_DIR and --notebook"),
    (["batch", "--resume", "nothing-here"], "batch.json"),
])
def test_bad_arguments_are_clear_errors_and_write_nothing(lessons, tmp_path, capsys, argv, message):
    out = tmp_path / "b"
    code = pipeline.main([a.replace("{tmp}", str(tmp_path)) for a in argv] + ["--out", str(out)])
    assert code == 2 and message in capsys.readouterr().err
    assert not out.exists()


def test_a_dask_cluster_runs_the_submissions(lessons, tmp_path):
    from dask.distributed import LocalCluster

    examples.make_example_submissions(tmp_path / "class", "01_breathing_eda", ["good"])
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as cluster:
        folder = grading.run_batch(tmp_path / "class", "01", scheduler=cluster.scheduler_address,
                                  out_dir=tmp_path / "b", progress=False, log=lambda *_: None)
    assert [r["status"] for r in _grades(folder).values()] == ["completed", "completed"]


def test_submissions_are_found_by_file_or_folder_and_ids_are_unique(tmp_path):
    for path in ("ann.ipynb", "ben/hw.ipynb", "ben/data.csv", "cat/.ipynb_checkpoints/hw-checkpoint.ipynb",
                 "cat/hw.ipynb", "dan.ipynb", "dan/hw.ipynb", "notes.txt"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("{}")
    found = submissions.find_submissions(tmp_path)
    assert [(s.student_id, s.relative, s.status) for s in found] == [
        ("ann", "ann.ipynb", "ready"), ("ben", "ben/hw.ipynb", "ready"), ("cat", "cat/hw.ipynb", "ready"),
        ("dan", "dan.ipynb", "duplicate id"), ("dan", "dan/hw.ipynb", "duplicate id")]
    assert len({s.key for s in found}) == len(found)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        submissions.find_submissions(tmp_path / "ann.ipynb")


def test_another_lesson_needs_its_parameters_and_another_title(lessons, tmp_path):
    nb = nbformat.read(str(lessons / "01_breathing_eda.ipynb"), as_version=4)
    nb.cells.insert(0, nbformat.v4.new_markdown_cell("# Lesson one\ntext"))
    nbformat.write(nb, str(lessons / "01_breathing_eda.ipynb"))
    nb.cells[1].source = "run_dir = None\nepochs = 1\nn_samples = 3\nfolds = 2"  # 00's parameters, 01's title
    (tmp_path / "class").mkdir()
    nbformat.write(nb, str(tmp_path / "class" / "s.ipynb"))
    [s] = submissions.find_submissions(tmp_path / "class")
    assert submissions.inspect(s, "01_breathing_eda").status == submissions.READY
    nb.cells[0].source = "# Another title"
    nbformat.write(nb, str(tmp_path / "class" / "s.ipynb"))
    [s] = submissions.find_submissions(tmp_path / "class")
    assert submissions.inspect(s, "01_breathing_eda").status == submissions.OTHER_LESSON
    assert submissions.parameter_names("a = 1\nb: int = 2\nc += 1\nd, e = 1, 2") == {"a", "b"}


def _executed(*cells):
    nb = nbformat.v4.new_notebook()
    for source, text in cells:
        cell = nbformat.v4.new_code_cell(source, execution_count=1)
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text)] if text is not None else []
        nb.cells.append(cell)
    return nb


def test_checks_find_cells_by_source_and_compare_sanitized_outputs():
    reference = _executed(("# NBVAL_CHECK_OUTPUT\nprint(a)", "1 took 3 s\n"), ("# NBVAL_CHECK_OUTPUT\nprint(b)", "2\n"),
                          ("# NBVAL_CHECK_OUTPUT\nprint(c)", "3\n"), ("print(d)", "4\n"))
    student = _executed(("x = 1", ""), ("# NBVAL_CHECK_OUTPUT\nprint(c)", "30\n"),
                        ("# NBVAL_CHECK_OUTPUT\nprint(a)", "1 took 9 s\n"), ("print(d)", "anything\n"))
    found = checks.checked_against(reference, student, {r"\d+ s": "T s"})
    assert (found["checked"], found["matched"], found["edited"]) == (3, 1, 1)
    assert any("print(b)" in p and "edited or removed" in p for p in found["problems"])
    assert any("print(c)" in p and "+30" in p for p in found["problems"])


def test_numbers_and_differences():
    assert numbers.parse_mean_sd("0.812 ± 0.014") == (0.812, 0.014) and numbers.parse_mean_sd("updown") is None
    assert grades.differs("0.80 ± 0.02", "0.83 ± 0.02") is False and grades.differs("0.70 ± 0.02", "0.83 ± 0.02")
    assert grades.differs(10, 10) is False and grades.differs(11, 10) and grades.differs("up", "down")
    assert grades.differs("", 1) is True  # text that is not the number differs
    assert grades.differs(None, 1) is None


@pytest.mark.skipif(not sandbox.landlock_abi(), reason="this kernel has no Landlock")
def test_landlock_confines_writes_to_the_allowed_folders(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "theirs").mkdir()
    code = ("import sys\nfrom helpers.batch import sandbox\nassert sandbox.restrict_writes([sys.argv[1]])\n"
            "open(sys.argv[1] + '/ok.txt', 'w').write('x')\n"
            "try:\n    open(sys.argv[2] + '/no.txt', 'w')\nexcept PermissionError:\n    print('blocked')\n")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "mine"), str(tmp_path / "theirs")],
                          capture_output=True, text=True, env={**os.environ}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "blocked" and (tmp_path / "mine" / "ok.txt").exists()
    assert not (tmp_path / "theirs" / "no.txt").exists()


def test_prerequisites_run_once_and_every_submission_gets_a_copy(tmp_path, monkeypatch):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    write_tiny_notebook(nbdir / "03_gridsearch.ipynb",
                        "from pathlib import Path\nfor v in variants:\n    (Path(run_dir) / f'searched-{v}.txt').write_text(v)",
                        parameters="run_dir = None\nvariants = None\nprofile = 'smoke'\nseed = 0")
    write_tiny_notebook(nbdir / "04_synthesize_retrain.ipynb",
                        "from pathlib import Path\nimport os\nfound = sorted(p.name for p in Path(run_dir).glob('searched-*'))\n"
                        "assert len(found) == 4, found\nos.makedirs(Path(run_dir) / 'tabular/synthesis', exist_ok=True)\n"
                        "(Path(run_dir) / 'tabular/synthesis/chosen_variants.csv').write_text('label,chosen_variant\\na,up\\n')")
    monkeypatch.setenv("DL_NOTEBOOKS_DIR", str(nbdir))
    monkeypatch.setitem(profiles.PARAMETERS, "03_gridsearch", {p: {"variants": ["x"]} for p in profiles.PROFILES})
    monkeypatch.setitem(profiles.PARAMETERS, "04_synthesize_retrain", {p: {"value": 1} for p in profiles.PROFILES})
    (tmp_path / "class").mkdir()
    nbformat.write(nbformat.read(str(nbdir / "04_synthesize_retrain.ipynb"), as_version=4),
                   str(tmp_path / "class" / "ada.ipynb"))
    folder = grading.run_batch(tmp_path / "class", "04", jobs=2, out_dir=tmp_path / "b", progress=False,
                               log=lambda *_: None)
    rows = _grades(folder)
    assert [r["status"] for r in rows.values()] == ["completed", "completed"]
    assert [r["variant[a]"] for r in rows.values()] == ["up", "up"]
    manifest = runs.Run(folder / "prerequisites").manifest["notebooks"]
    assert sorted(manifest) == [f"03_gridsearch-{v}" for v in ("down", "original", "up", "updown")]
    assert (folder / "submissions" / "ada" / "run" / "searched-up.txt").exists()
