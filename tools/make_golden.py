"""Regenerate the golden copies in tests/golden/ (smoke profile, outputs kept).

    python tools/make_golden.py            # every notebook
    python tools/make_golden.py --only 03  # one notebook (all its parameter sets)

The golden copies are the executed notebooks of one smoke run, made exactly as the tests make theirs
(tests/notebooks/conftest.py: run id ``smoke``, the notebooks in numbering order, the same
environment), so tests/notebooks/test_golden.py can compare the outputs of the test session's own
executions with them. A notebook's dependencies run too (09 reads every other notebook's results),
but only the wanted copies are written.

In each copy papermill's per-cell metadata is dropped, this machine's folders are written as
``$DL_RUNS_DIR``, ``$DL_DATA_DIR`` and ``<repo>``, and the injected ``run_dir`` becomes ``"golden"``
(a run id resolved under ``$DL_RUNS_DIR``), so nbval can still re-execute a copy anywhere::

    pytest --nbval-lax --nbval-current-env --nbval-sanitize-with tests/golden/sanitize.cfg tests/golden
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"
RUN_ID = "smoke"  # the run id of the tests' shared smoke run
TEST_ENVIRONMENT = {"TF_CPP_MIN_LOG_LEVEL": "2", "MPLBACKEND": "Agg", "PYTHONHASHSEED": "0"}  # tests/conftest.py


def needed_notebooks(wanted: list[str], depends_on: dict[str, tuple[str, ...]]) -> set[str]:
    """``wanted`` and everything they depend on, transitively."""
    needed, todo = set(), list(wanted)
    while todo:
        notebook = todo.pop()
        if notebook not in needed:
            needed.add(notebook)
            todo.extend(depends_on.get(notebook, ()))
    return needed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, help="notebook numbers, comma separated")
    args = parser.parse_args(argv)
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = TEST_ENVIRONMENT["TF_CPP_MIN_LOG_LEVEL"]
    for key, value in TEST_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    temporary = [tempfile.mkdtemp(prefix="golden-runs-")]
    os.environ["DL_RUNS_DIR"] = temporary[0]
    if "DL_DATA_DIR" not in os.environ:
        temporary.append(tempfile.mkdtemp(prefix="golden-data-"))
        os.environ["DL_DATA_DIR"] = temporary[-1]
    from helpers import pipeline, runs

    available = pipeline.available_notebooks()
    wanted = pipeline.parse_only(args.only, available) if args.only else available
    needed = needed_notebooks(wanted, pipeline.DEPENDS_ON)
    executions = pipeline.plan("smoke", only=[n for n in available if n in needed])
    run = runs.create_run(run_id=RUN_ID, profile="smoke")
    pipeline.run_pipeline(executions, run, progress=True, log=print)
    GOLDEN.mkdir(parents=True, exist_ok=True)
    written = set()
    for e in executions:
        if e.notebook in wanted:
            target = GOLDEN / f"{e.key}.ipynb"
            write_golden(run.path / run.manifest["notebooks"][e.key]["output"], target)
            written.add(target.name)
            print(f"wrote {target}")
    if not args.only:  # every execution was made: a copy that none produced is stale
        for stale in sorted(p for p in GOLDEN.glob("*.ipynb") if p.name not in written):
            stale.unlink()
            print(f"deleted {stale} (no smoke execution produces it)")
    for folder in temporary:  # kept when a notebook fails: the error names its partial output there
        shutil.rmtree(folder, ignore_errors=True)
    return 0


def machine_folders() -> list[tuple[str, str]]:
    """This machine's folders and how golden copies show them."""
    return [(os.environ["DL_RUNS_DIR"], "$DL_RUNS_DIR"), (os.environ["DL_DATA_DIR"], "$DL_DATA_DIR"),
            (str(ROOT), "<repo>")]


def anonymous(value, folders: list[tuple[str, str]]):
    """``value`` (JSON-able) with every machine folder replaced by its placeholder."""
    text = json.dumps(value)
    for real, shown in folders:
        text = text.replace(json.dumps(real)[1:-1], shown)
    return json.loads(text)


def write_golden(executed: Path, target: Path) -> None:
    """Write the executed notebook as a golden copy: no papermill timing metadata (readable diffs),
    no machine path in the outputs, ``run_dir = "golden"`` in the injected parameters."""
    import nbformat

    folders = machine_folders()
    nb = nbformat.read(str(executed), as_version=4)
    for cell in nb.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
        if cell.cell_type != "code":
            continue
        cell.outputs = nbformat.from_dict(anonymous(cell.outputs, folders))
        if "injected-parameters" in cell.metadata.get("tags", []):
            source = re.sub(r"^run_dir = .*$", 'run_dir = "golden"', cell.source, flags=re.MULTILINE)
            cell.source = anonymous(source, folders)
    nb.metadata.pop("papermill", None)
    nbformat.write(nb, str(target))


if __name__ == "__main__":
    sys.exit(main())
