"""A constructed class folder to try ``batch`` on (and the tests' and benchmark's input): copies of one lesson's
notebook, each with one thing a real class hands in.

    python -m helpers.batch.examples DIR --notebook 01 [--kinds good,error,...]
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Sequence
from pathlib import Path

from helpers import profiles
from helpers.batch.grading import resolve_notebook

__all__ = ["KINDS", "make_example_submissions", "insert_cell"]

# kind -> (student id, the code cell inserted in the middle of the notebook, or None)
KINDS: dict[str, tuple[str, str | None]] = {
    "good": ("ada", None),
    "error": ("bob", "# a student's bug in a middle cell\nprint(total_rows)"),
    "sleep": ("cyd", "import time\ntime.sleep(3600)  # never finishes"),
    "memory": ("dee", "import time\nimport numpy as np\nblocks = []\nfor _ in range(64):  # up to 4 GiB, 64 MiB at a "
                      "time\n    blocks.append(np.ones(2**23))\n    time.sleep(0.05)"),
    "writes_outside": ("eve", "from helpers import runs\n(runs.repo_root() / 'written-by-a-submission.txt')"
                              ".write_text('a submission wrote into the repository')"),
    "broken_json": ("fay", None),
    "no_parameters": ("gus", None),
    "other_lesson": ("hal", None),
    "duplicate": ("ivy", None),
}


def insert_cell(nb, source: str):
    """A copy of ``nb`` with a code cell ``source`` in the middle of its code cells (after the parameters cell)."""
    import nbformat

    nb = copy.deepcopy(nb)
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    tagged = next((i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])), code[0])
    after = [i for i in code if i > tagged]
    nb.cells.insert(after[len(after) // 2] if after else len(nb.cells), nbformat.v4.new_code_cell(source))
    return nb


def make_example_submissions(folder: str | Path, notebook: str, kinds: Sequence[str] = tuple(KINDS)) -> dict:
    """Write one submission per kind of :data:`KINDS` into ``folder`` (good and error as notebooks in student
    folders, the others as single notebooks); returns ``{kind: student id}``."""
    import nbformat

    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        raise ValueError(f"unknown kind(s) {', '.join(unknown)}; expected some of {', '.join(KINDS)}")
    source = profiles.notebooks_dir() / f"{notebook}.ipynb"
    nb = nbformat.read(str(source), as_version=4)
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    made = {}
    for kind in kinds:
        student, cell = KINDS[kind]
        path = root / f"{student}.ipynb"
        if kind in ("good", "error"):  # a student folder, with a file of their own beside the notebook
            path = root / student / source.name
            path.parent.mkdir(exist_ok=True)
            (path.parent / "notes.txt").write_text(f"{student}'s notes\n")
        if kind == "broken_json":
            path.write_text('{"cells": [ this is not JSON')
        elif kind == "no_parameters":
            nbformat.write(_without_parameters(nb), str(path))
        elif kind == "other_lesson":
            other = next(n for n in profiles.NOTEBOOKS if n != notebook and (profiles.notebooks_dir() / f"{n}.ipynb")
                         .is_file() and set(profiles.PARAMETERS[n]["smoke"]) != set(profiles.PARAMETERS[notebook]["smoke"]))
            nbformat.write(nbformat.read(str(profiles.notebooks_dir() / f"{other}.ipynb"), as_version=4), str(path))
        elif kind == "duplicate":  # two notebooks under one id: a file and a folder of the same name
            nbformat.write(nb, str(path))
            (root / student).mkdir(exist_ok=True)
            nbformat.write(nb, str(root / student / source.name))
        else:
            nbformat.write(insert_cell(nb, cell) if cell else nb, str(path))
        made[kind] = student
    return made


def _without_parameters(nb):
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if "parameters" not in c.metadata.get("tags", [])]
    return nb


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.batch.examples", description=__doc__.splitlines()[0])
    parser.add_argument("folder")
    parser.add_argument("--notebook", required=True, help="the lesson, e.g. 01 or 01_breathing_eda")
    parser.add_argument("--kinds", default=",".join(k for k in KINDS if k != "writes_outside"),
                        help=f"comma separated, among {', '.join(KINDS)}")
    args = parser.parse_args(argv)
    made = make_example_submissions(args.folder, resolve_notebook(args.notebook), args.kinds.split(","))
    print("\n".join(f"{student:6s} {kind}" for kind, student in made.items()))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
