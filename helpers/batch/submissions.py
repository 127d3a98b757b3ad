"""Finding students' notebooks in a folder and checking each before anything runs.

A submission is an ``.ipynb`` directly in the folder (the student id is the file name without ``.ipynb``) or inside
one sub-folder per student (the id is that sub-folder's name; the folder's other files travel with it). Hidden
folders (``.ipynb_checkpoints``) are ignored. :func:`inspect` turns every problem into a status, never an exception.
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from helpers import profiles

__all__ = ["Submission", "find_submissions", "inspect", "parameter_names", "READY", "NOT_A_NOTEBOOK",
           "NO_PARAMETERS", "OTHER_LESSON", "DUPLICATE_ID", "NO_SUBMISSIONS"]

READY = "ready"
NOT_A_NOTEBOOK = "not a notebook"
NO_PARAMETERS = "no parameters cell"
OTHER_LESSON = "another lesson"
DUPLICATE_ID = "duplicate id"
NO_SUBMISSIONS = "no submissions"
# parameters every notebook has (they say nothing about which lesson a notebook is)
_SHARED = {"profile", "seed", "run_dir", "label"}


@dataclass
class Submission:
    """One student's notebook: ``student_id``, its ``path``, the folder copied as its working directory (None: the
    notebook alone), a unique ``key`` (its folder name in the batch), and after :func:`inspect` a ``status``
    (:data:`READY` or why it cannot run) with a ``detail``."""

    student_id: str
    path: Path
    folder: Path | None
    key: str
    status: str = READY
    detail: str = ""

    @property
    def relative(self) -> str:
        return self.path.name if self.folder is None else f"{self.folder.name}/{self.path.relative_to(self.folder)}"


def _key(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("._") or "submission"


def find_submissions(folder: str | Path) -> list[Submission]:
    """Every submission under ``folder``, sorted by student id; the second and later notebooks of one id are marked
    :data:`DUPLICATE_ID` (all of them: which one to grade is the instructor's call). Raises ``FileNotFoundError``
    when ``folder`` is not a folder."""
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"submissions folder {root} does not exist or is not a folder")
    found = []
    for path in sorted(p for p in root.rglob("*.ipynb") if p.is_file()):
        parts = path.relative_to(root).parts
        if any(part.startswith(".") for part in parts):
            continue
        owner = None if len(parts) == 1 else root / parts[0]
        found.append(Submission(path.stem if owner is None else parts[0], path, owner, ""))
    counts = Counter(s.student_id for s in found)
    keys: Counter = Counter()
    for s in found:
        base = _key(s.student_id if counts[s.student_id] == 1 else s.relative.removesuffix(".ipynb"))
        keys[base] += 1
        s.key = base if keys[base] == 1 else f"{base}-{keys[base]}"
        if counts[s.student_id] > 1:
            others = [o.relative for o in found if o.student_id == s.student_id and o is not s]
            s.status, s.detail = DUPLICATE_ID, (f"{s.student_id!r} also submitted {', '.join(others)}: keep one "
                                                "notebook per student and rerun with --resume")
    return sorted(found, key=lambda s: (s.student_id, s.relative))


def parameter_names(source: str) -> set[str]:
    """The names a parameters cell assigns (``x = 1``, ``x: int = 1``); a cell that does not parse gives none."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, ast.AnnAssign) else []
        names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


def _lesson_of(names: set[str]) -> tuple[str | None, float]:
    """The lesson whose parameters best match ``names`` (Jaccard similarity over lesson-specific names)."""
    best, score = None, 0.0
    for notebook, by_profile in profiles.PARAMETERS.items():
        known = set(next(iter(by_profile.values()))) - _SHARED
        mine = names - _SHARED
        similarity = len(known & mine) / len(known | mine) if known | mine else 0.0
        if similarity > score:
            best, score = notebook, similarity
    return best, score


def _title(nb) -> str:
    """The first line of a notebook's first markdown cell (the lesson's title)."""
    first = next((c for c in nb.cells if c.get("cell_type") == "markdown"), None)
    return (first.get("source", "").strip().splitlines() or [""])[0].strip() if first is not None else ""


def _reference_title(notebook: str) -> str | None:
    import nbformat

    path = profiles.notebooks_dir() / f"{notebook}.ipynb"
    return _title(nbformat.read(str(path), as_version=4)) if path.is_file() else None


def inspect(submission: Submission, notebook: str) -> Submission:
    """Check that ``submission`` is a notebook (JSON, nbformat 4) of lesson ``notebook`` with a cell tagged
    ``parameters``; sets ``status``/``detail`` and returns the submission. Another lesson: its parameters cell
    matches another lesson's better than this one's and its title is not this lesson's (a student may rename a
    parameter, or retitle the notebook, but not both)."""
    import nbformat

    if submission.status != READY:
        return submission
    try:
        nb = nbformat.reads(submission.path.read_bytes().decode("utf-8"), as_version=4)
    except (UnicodeDecodeError, json.JSONDecodeError, nbformat.reader.NotJSONError) as err:
        submission.status, submission.detail = NOT_A_NOTEBOOK, f"not JSON: {str(err).splitlines()[0][:160]}"
        return submission
    except Exception as err:  # noqa: BLE001 - any reader error is a status, not a crash
        submission.status, submission.detail = NOT_A_NOTEBOOK, f"{type(err).__name__}: {str(err)[:160]}"
        return submission
    if not isinstance(getattr(nb, "cells", None), list) or nb.get("nbformat") != 4:
        submission.status, submission.detail = NOT_A_NOTEBOOK, "JSON, but not an nbformat 4 notebook"
        return submission
    tagged = [c for c in nb.cells if "parameters" in (c.get("metadata", {}).get("tags") or [])]
    if not tagged:
        submission.status = NO_PARAMETERS
        submission.detail = ("no cell is tagged 'parameters' (it was deleted or its tag removed): the batch cannot set "
                             "the profile's parameters; restore the cell from notebooks/" + f"{notebook}.ipynb")
        return submission
    lesson, score = _lesson_of(parameter_names(tagged[0].get("source", "")))
    expected = set(next(iter(profiles.PARAMETERS[notebook].values()))) - _SHARED
    mine = parameter_names(tagged[0].get("source", "")) - _SHARED
    own = len(expected & mine) / len(expected | mine) if expected | mine else 1.0
    title = _title(nb)
    if lesson is not None and lesson != notebook and score > own and not (title and title == _reference_title(notebook)):
        submission.status = OTHER_LESSON
        submission.detail = f"its parameters cell is {lesson}'s, not {notebook}'s"
    return submission
