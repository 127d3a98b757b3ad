"""``grades.csv`` (one row per submission, the reference first) and ``summary.md`` of a batch."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from helpers import runs
from helpers.batch.numbers import parse_mean_sd
from helpers.batch.submissions import NO_SUBMISSIONS

__all__ = ["REFERENCE", "COLUMNS", "grades_table", "differs", "write_grades", "summary_markdown"]

REFERENCE = "(reference)"
COLUMNS = ["student_id", "submission", "status", "detail", "cell", "seconds", "peak_memory_mb", "checks",
           "differs_from_reference"]


def differs(value, reference) -> bool | None:
    """Whether a student's number differs from the reference's: two ``mean ± SD`` values beyond their summed SDs,
    two plain numbers by more than 1e-6 (relative), text when not equal; None when either is missing."""
    if value is None or reference is None or (isinstance(value, float) and math.isnan(value)):
        return None
    a, b = parse_mean_sd(value), parse_mean_sd(reference)
    if a is None or b is None:
        return str(value) != str(reference)
    spread = sum(s for s in (a[1], b[1]) if not math.isnan(s))
    return abs(a[0] - b[0]) > max(spread, 1e-6 * max(1.0, abs(b[0])))


def grades_table(rows: Sequence[dict]) -> pd.DataFrame:
    """One row per result (``numbers`` spread into columns, in the reference's order first); the column
    ``differs_from_reference`` counts the numbers that differ (see :func:`differs`) out of those both have."""
    reference = next((r.get("numbers") or {} for r in rows if r.get("student_id") == REFERENCE), {})
    names = list(dict.fromkeys([*reference, *(k for r in rows for k in (r.get("numbers") or {}))]))
    records = []
    for r in rows:
        numbers = r.get("numbers") or {}
        verdicts = [d for k in names if (d := differs(numbers.get(k), reference.get(k))) is not None]
        compared = "" if r.get("student_id") == REFERENCE or not verdicts else f"{sum(verdicts)} of {len(verdicts)}"
        records.append({**{c: r.get(c, "") for c in COLUMNS}, "differs_from_reference": compared,
                        **{k: numbers.get(k, "") for k in names}})
    return pd.DataFrame(records, columns=[*COLUMNS, *names])


def write_grades(batch_dir: Path, table: pd.DataFrame) -> Path:
    path = Path(batch_dir) / "grades.csv"
    with runs.atomic_path(path) as tmp:
        table.to_csv(tmp, index=False)
    return path


def _md(value) -> str:
    text = "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(frame: pd.DataFrame) -> list[str]:
    lines = ["| " + " | ".join(map(_md, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    return lines + ["| " + " | ".join(_md(v) for v in row) + " |" for row in frame.itertuples(index=False)]


def summary_markdown(info: dict, table: pd.DataFrame, per_table: int = 6) -> str:
    """The readable summary: what ran and how, the statuses, every submission's row, then its numbers beside the
    reference's (at most ``per_table`` numbers per table)."""
    students = table[(table["student_id"] != REFERENCE) & (table["status"] != NO_SUBMISSIONS)]
    reference = table[table["student_id"] == REFERENCE]
    counts = Counter(students["status"])
    lines = [f"# Batch {info['batch_id']}: {info['notebook']} ({info['profile']} profile)", "",
             f"- submissions: `{info['submissions_dir']}`, {len(students)} notebook(s): "
             + (", ".join(f"{n} {s}" for s, n in counts.most_common()) or "none found"),
             f"- limits per submission: {info['timeout_s']} s wall clock, {info['memory_mb']} MiB memory "
             "(the worker, the kernel and their children together)",
             f"- write protection: {info['write_protection']}",
             f"- parameters (the {info['profile']} profile's"
             + (f", with {', '.join(f'{k}={v!r}' for k, v in info['overrides'].items())}" if info["overrides"] else "")
             + f"): see `batch.json`; prerequisites: {', '.join(info['prerequisites']) or 'none'}"]
    if not reference.empty:
        ref = reference.iloc[0]
        lines.append(f"- reference (`notebooks/{info['notebook']}.ipynb`, same parameters): {ref['status']}"
                     + (f" in {ref['seconds']} s" if ref["seconds"] != "" else "")
                     + (f" -- {ref['detail']}" if ref["detail"] else ""))
    lines += ["", "## Submissions", ""]
    if students.empty:
        lines.append(f"No notebooks (`*.ipynb`) under `{info['submissions_dir']}`.")
    else:
        shown = ["student_id", "submission", "status", "detail", "seconds", "peak_memory_mb"]
        shown += [c for c in ("checks", "differs_from_reference") if (students[c] != "").any()]
        lines += _table(students[shown])
    numbers = [c for c in table.columns if c not in COLUMNS]
    if numbers:
        lines += ["", "## Numbers beside the reference", "",
                  "Read from the CSV files each run wrote (not from printed output). `differs_from_reference` above "
                  "counts the numbers further from the reference's than their summed SDs (plain numbers: any "
                  "difference; text: not equal).", ""]
        ran = table[table["status"] == "completed"]
        for start in range(0, len(numbers), per_table):
            lines += _table(ran[["student_id", *numbers[start:start + per_table]]]) + [""]
    return "\n".join(lines).rstrip() + "\n"
