"""``batch`` on the real lesson 01 (smoke profile): a correct copy, one with a bug in a middle cell, a broken file,
a notebook without its parameters cell and a notebook of another lesson, in one command. The slow kinds (a
sleeper, a memory hog) and the write confinement are in tests/unit/test_batch.py with tiny notebooks."""

from __future__ import annotations

import csv

from helpers import pipeline
from helpers.batch import examples


def test_a_class_folder_of_lesson_01(tmp_path, capsys):
    kinds = ["good", "error", "broken_json", "no_parameters", "other_lesson"]
    made = examples.make_example_submissions(tmp_path / "class", "01_breathing_eda", kinds)
    code = pipeline.main(["batch", str(tmp_path / "class"), "--notebook", "01", "--profile", "smoke", "--jobs", "2",
                          "--check", "--timeout", "600", "--out", str(tmp_path / "b"), "--batch-id", "hw1",
                          "--no-progress"])
    assert code == 0, capsys.readouterr().err
    with open(tmp_path / "b" / "hw1" / "grades.csv", newline="") as f:
        rows = {r["student_id"]: r for r in csv.DictReader(f)}
    assert list(rows) == ["(reference)", *sorted(made.values())]
    reference, good, bug = rows["(reference)"], rows[made["good"]], rows[made["error"]]
    counts = [k for k in reference if k.startswith("rows[")]
    assert reference["status"] == "completed" and len(counts) == 5  # the five breathing labels' row counts
    assert good["status"] == "completed" and [good[k] for k in counts] == [reference[k] for k in counts]
    assert good["differs_from_reference"] == "0 of 5"
    matched, checked = map(int, good["checks"].split(" match")[0].split(" of "))
    assert checked >= 3 and matched == checked  # every cell 01 marks NBVAL_CHECK_OUTPUT printed the same
    assert bug["status"] == "failed" and "NameError: name 'total_rows' is not defined" in bug["detail"]
    assert int(bug["cell"]) > 3 and all(bug[k] == "" for k in counts)  # failed mid-way: no numbers
    assert rows[made["broken_json"]]["status"] == "not a notebook"
    assert rows[made["no_parameters"]]["status"] == "no parameters cell"
    assert rows[made["other_lesson"]]["status"] == "another lesson"
    summary = (tmp_path / "b" / "hw1" / "summary.md").read_text()
    assert "| (reference) |" in summary and "rows[normal]" in summary
