"""nbval-style comparison of executed notebooks, in nbval's lax mode: only cells marked ``# NBVAL_CHECK_OUTPUT`` (or
tagged ``nbval-check-output``) are compared, after the regex replacements of an nbval sanitize file; stream text and
``text/plain`` results are compared, images and HTML never. The golden-copy tests (tests/notebooks/test_golden.py)
and ``batch --check`` (a student's notebook against the reference execution) share it."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

from helpers import runs

__all__ = ["MARKERS", "sanitize_file", "sanitize_patterns", "sanitize", "options", "code_cells", "compared_outputs",
           "output_differences", "first_code_difference", "checked_against", "first_line"]

# nbval's comment markers and tags (lax mode: a cell is checked only when it asks for it)
MARKERS = {"NBVAL_CHECK_OUTPUT": ("check", True), "NBVAL_IGNORE_OUTPUT": ("check", False),
           "PYTEST_VALIDATE_IGNORE_OUTPUT": ("check", False), "NBVAL_SKIP": ("skip", True)}
TAGS = {name.lower().replace("_", "-"): option for name, option in MARKERS.items()}


def sanitize_file() -> Path:
    """The repository's nbval sanitize file (``tests/golden/sanitize.cfg``)."""
    return runs.repo_root() / "tests" / "golden" / "sanitize.cfg"


def sanitize_patterns(path: str | Path | None = None) -> dict[str, str]:
    """``regex -> replacement`` pairs of an nbval sanitize file (nbval's own format); none if it does not exist."""
    path = Path(path) if path else sanitize_file()
    if not path.is_file():
        return {}
    return dict(re.findall(r"^regex: (.*)$\n^replace: (.*)$", path.read_text(), flags=re.MULTILINE))


def sanitize(text: str, patterns: dict[str, str]) -> str:
    for regex, replace in patterns.items():
        text = re.sub(regex, replace, text)
    return text


def options(cell) -> dict[str, bool]:
    """nbval's options of a code cell: tags first, comment markers in the source override them."""
    found = {"check": False, "skip": False}
    for tag in cell.metadata.get("tags", []):
        if tag in TAGS:
            found[TAGS[tag][0]] = TAGS[tag][1]
    for line in cell.source.splitlines():
        line = line.strip()
        if line.startswith("#") and line.lstrip("#").strip() in MARKERS:
            key, value = MARKERS[line.lstrip("#").strip()]
            found[key] = value
    return found


def code_cells(nb) -> list:
    """The code cells, without the one papermill injects."""
    return [c for c in nb.cells
            if c.cell_type == "code" and "injected-parameters" not in c.metadata.get("tags", [])]


_CARRIAGE_RETURN = re.compile(r"^.*\r(?=[^\n])", re.MULTILINE)
_BACKSPACE = re.compile(r"[^\n]\x08")  # a character erased by a backspace


def compared_outputs(outputs, patterns: dict[str, str]) -> dict[str, list[str]]:
    """What nbval compares, sanitized: ``{"stdout": [text], "stderr": [...], "text/plain": [...]}``.

    Streams of the same name are merged into one text (with ``\\r`` and ``\\b`` applied), as nbval
    merges them; ``text/plain`` of results and displays keeps its order.
    """
    streams: dict[str, str] = {}
    found: dict[str, list[str]] = {}
    for out in outputs:
        if out.get("output_type") == "stream":
            streams[out["name"]] = streams.get(out["name"], "") + out.get("text", "")
        elif "text/plain" in out.get("data", {}):
            found.setdefault("text/plain", []).append(out["data"]["text/plain"])
    for name, text in streams.items():
        previous = None
        while previous != text:
            previous, text = text, _BACKSPACE.sub("", text)
        found[name] = [_CARRIAGE_RETURN.sub("", text)]
    return {key: [sanitize(v, patterns) for v in values] for key, values in sorted(found.items())}


def first_line(source: str) -> str:
    """A cell's first line that is not a comment, shortened: how messages name a cell."""
    return next((line.strip() for line in source.splitlines() if line.strip() and not line.startswith("#")), "")[:70]


def _difference(number: int, want, got, patterns: dict[str, str]) -> str | None:
    expected, actual = compared_outputs(want.outputs, patterns), compared_outputs(got.outputs, patterns)
    if expected == actual:
        return None
    lines = [f"code cell {number} ({first_line(want.source)!r}):"]
    for key in sorted(set(expected) | set(actual)):
        a, b = "\n".join(expected.get(key, [])), "\n".join(actual.get(key, []))
        if a != b:
            lines.extend(difflib.unified_diff(a.splitlines(), b.splitlines(), f"expected {key}", f"this run's {key}",
                                              lineterm="", n=2))
    return "\n".join(lines)


def _checked(cell) -> bool:
    opts = options(cell)
    return opts["check"] and not opts["skip"] and cell.get("execution_count") is not None


def output_differences(golden_nb, executed_nb, patterns: dict[str, str]) -> list[str]:
    """One readable diff per checked cell whose outputs differ, cell by cell (empty when all agree)."""
    stale = first_code_difference(golden_nb, executed_nb)
    if stale is not None:
        return [f"the golden copy is stale (its code is not the executed notebook's): {stale}"]
    return [d for number, (want, got) in enumerate(zip(code_cells(golden_nb), code_cells(executed_nb)), start=1)
            if _checked(want) and (d := _difference(number, want, got, patterns)) is not None]


def first_code_difference(golden_nb, notebook_nb) -> str | None:
    """Where the golden copy's code stops matching the notebook's (or an executed copy's), as a message."""
    want, have = [c.source for c in code_cells(notebook_nb)], [c.source for c in code_cells(golden_nb)]
    for number, (a, b) in enumerate(zip(want, have), start=1):
        if a != b:
            diff = "\n".join(difflib.unified_diff(b.splitlines(), a.splitlines(), "golden copy", "notebook",
                                                  lineterm="", n=1))
            return f"code cell {number} differs:\n{diff}"
    if len(want) != len(have):
        return (f"the notebook has {len(want)} code cells, the golden copy {len(have)} "
                f"(the first {min(len(want), len(have))} agree)")
    return None


def checked_against(reference_nb, submission_nb, patterns: dict[str, str]) -> dict:
    """A student's executed notebook against the reference execution: every cell the reference checks is looked up
    in the submission by its source (students add and move cells), then compared. Returns ``{"checked", "matched",
    "edited"}`` counts and ``problems`` (one message per differing or missing cell)."""
    unused = [c for c in code_cells(submission_nb)]
    out = {"checked": 0, "matched": 0, "edited": 0, "problems": []}
    for number, want in enumerate(code_cells(reference_nb), start=1):
        if not _checked(want):
            continue
        out["checked"] += 1
        got = next((c for c in unused if c.source == want.source), None)
        if got is None:
            out["edited"] += 1
            out["problems"].append(f"code cell {number} ({first_line(want.source)!r}): edited or removed")
            continue
        unused.remove(got)
        if got.get("execution_count") is None:
            out["problems"].append(f"code cell {number} ({first_line(want.source)!r}): not executed")
        elif (difference := _difference(number, want, got, patterns)) is not None:
            out["problems"].append(difference)
        else:
            out["matched"] += 1
    return out
