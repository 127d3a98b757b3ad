"""``python -m helpers.batch.worker SPEC.json``: execute one submission (started by
:func:`helpers.batch.sandbox.grade_one`, which watches its time and memory).

The spec names ``notebook`` (the copy in ``work_dir``), ``output`` (the executed copy), ``kernel_log``,
``parameters`` (papermill injects them into the ``parameters`` cell), ``work_dir`` (the kernel's working directory),
``writable`` (the only paths it may write beneath) and ``folder`` (where ``worker.json``, the result, goes). The
worker restricts its own writes first; the kernel it starts inherits the restriction.
"""

from __future__ import annotations

import sys
from pathlib import Path

from helpers import env, runs
from helpers.batch import sandbox
from helpers.batch.checks import code_cells, first_line


def _failure(err: Exception, output: Path, protected: bool) -> dict:
    """``failed`` with the code cell (numbered as in the student's notebook) and the error's last line."""
    import nbformat

    ename, evalue = getattr(err, "ename", type(err).__name__), getattr(err, "evalue", str(err))
    last_line = (f"{ename}: {evalue}".strip().splitlines() or [ename])[-1][:300]
    if protected and ename == "PermissionError":
        last_line += " (a write outside the submission's folder, blocked by the batch)"
    out = {"status": sandbox.FAILED, "error": last_line, "detail": last_line}
    try:
        cells = code_cells(nbformat.read(str(output), as_version=4))
    except Exception:  # noqa: BLE001 - no output notebook: the error alone
        return out
    for number, cell in enumerate(cells, start=1):
        if cell.metadata.get("papermill", {}).get("exception") or any(
                o.get("output_type") == "error" for o in cell.get("outputs", [])):
            source = first_line(cell.source)
            return {**out, "cell": number, "cell_source": source,
                    "detail": f"failed in code cell {number} ({source!r}): {last_line}"}
    return out


def main(spec_path: str) -> int:
    spec = runs.read_json(spec_path)
    folder = Path(spec["folder"])
    try:
        protected, unconfined = sandbox.restrict_writes(spec["writable"]), ""
    except OSError as err:  # Landlock offered but refused: run, and say so in the row
        protected, unconfined = False, f"writes NOT confined (Landlock refused: {err})"
    import papermill as pm

    output = Path(spec["output"])
    try:
        with open(spec["kernel_log"], "ab", buffering=0) as kernel_log:
            pm.execute_notebook(spec["notebook"], str(output), parameters=spec["parameters"], progress_bar=False,
                                cwd=spec["work_dir"], kernel_name="python3", log_output=False,
                                kernel_manager_class=env.kernel_manager_logging_to(kernel_log))
        result = {"status": sandbox.COMPLETED, "detail": ""}
    except Exception as err:  # noqa: BLE001 - the student's error is the result
        result = _failure(err, output, protected)
    if unconfined:
        result["detail"] = "; ".join(filter(None, [result["detail"], unconfined]))
    runs.write_json(folder / "worker.json", {**result, "write_protection": protected})
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1]))
