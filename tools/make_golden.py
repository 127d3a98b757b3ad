"""Regenerate the nbval golden copies in tests/golden/ (smoke profile, outputs kept).

    python tools/make_golden.py            # every notebook
    python tools/make_golden.py --only 03  # one notebook (all its parameter sets)

Each golden copy is executed with run_dir="golden" (a run id that nbval resolves under
$DL_RUNS_DIR, a temporary folder in the tests), so `pytest` can re-execute it anywhere. Notebooks
are regenerated in numbering order into one temporary run, so later notebooks find the artifacts
of earlier ones, exactly as nbval will re-run them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help="notebook numbers, comma separated")
    args = parser.parse_args(argv)
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    os.environ["DL_RUNS_DIR"] = tempfile.mkdtemp(prefix="golden-runs-")
    os.environ.setdefault("DL_DATA_DIR", tempfile.mkdtemp(prefix="golden-data-"))
    import papermill as pm

    from helpers import pipeline

    executions = pipeline.plan("smoke", only=None)
    wanted = pipeline.parse_only(args.only, pipeline.available_notebooks()) if args.only else None
    if wanted:  # dependencies run too (into the temporary run) but only the wanted copies are written
        needed = set(wanted)
        for w in wanted:
            needed.update(pipeline.DEPENDS_ON.get(w, ()) if w != "09_results_report" else ())
        executions = [e for e in executions if e.notebook in needed]
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for e in executions:
        params = {**e.parameters, "run_dir": "golden"}
        if e.label:
            params["label"] = e.label
        target = GOLDEN / f"{e.key}.ipynb"
        out = target if (not wanted or e.notebook in wanted) else Path(tempfile.mkdtemp()) / target.name
        print(f"> {e.key} -> {out}")
        pm.execute_notebook(str(ROOT / "notebooks" / f"{e.notebook}.ipynb"), str(out), parameters=params,
                            cwd=str(GOLDEN), kernel_name="python3", progress_bar=False)
        if out == target:
            _clean(target)
    return 0


def _clean(path: Path) -> None:
    """Drop papermill's per-cell timing metadata so golden diffs stay readable, and write this machine's
    folders (the temporary runs and data folders, the checkout) as ``$DL_RUNS_DIR``, ``$DL_DATA_DIR``
    and ``<repo>`` in the outputs: no machine path in a committed file."""
    import json

    import nbformat

    machine = [(os.environ["DL_RUNS_DIR"], "$DL_RUNS_DIR"), (os.environ["DL_DATA_DIR"], "$DL_DATA_DIR"),
               (str(ROOT), "<repo>")]

    def anonymous(value):
        text = json.dumps(value)
        for real, shown in machine:
            text = text.replace(json.dumps(real)[1:-1], shown)
        return json.loads(text)

    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = nbformat.from_dict(anonymous(cell.outputs))
    nb.metadata.pop("papermill", None)
    nbformat.write(nb, str(path))


if __name__ == "__main__":
    sys.exit(main())
