"""Instructors: execute a folder of students' notebooks of one lesson headless and grade them side by side.

    python -m helpers.pipeline batch SUBMISSIONS_DIR --notebook 05 [--profile smoke|demo|full] [--jobs N]
        [--timeout S] [--memory MB] [--set k=v ...] [--check] [--scheduler ADDRESS] [--resume BATCH_ID]

Layers: :mod:`~helpers.batch.submissions` (finding and checking notebooks), :mod:`~helpers.batch.sandbox` (one
execution under limits, in a worker process: :mod:`~helpers.batch.worker`), :mod:`~helpers.batch.numbers` (what a
run recorded), :mod:`~helpers.batch.checks` (nbval-style output checks), :mod:`~helpers.batch.grades` (grades.csv,
summary.md), :mod:`~helpers.batch.grading` (the batch), :mod:`~helpers.batch.cli`.
"""
