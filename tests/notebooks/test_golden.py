"""The golden copies in tests/golden/ against the notebooks and the shared smoke run.

Every notebook is executed once per test session (the ``smoke`` fixture of conftest.py); these
tests compare what that execution printed with the golden copy, instead of having nbval execute the
golden copies a second time:

* the outputs of the cells marked ``# NBVAL_CHECK_OUTPUT`` (nbval's lax mode: only those cells)
  must equal the golden copy's after the regex replacements of tests/golden/sanitize.cfg -- stream
  text (stdout/stderr, merged per cell as nbval merges it) and ``text/plain`` results; images and
  HTML are never compared;
* the golden copy's code cells must equal the notebook's (the cell papermill injects, tagged
  ``injected-parameters``, aside), so an edited notebook whose golden copy was not regenerated
  fails with the first cell that differs;
* the golden copies cover exactly the smoke profile's executions and hold no machine path.

The golden copies stay valid nbval inputs: ``pytest --nbval-lax --nbval-current-env
--nbval-sanitize-with tests/golden/sanitize.cfg tests/golden`` re-executes them. Regenerate them with
``make golden`` (tools/make_golden.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from helpers import pipeline
from helpers.batch.checks import (
    code_cells,
    first_code_difference,
    output_differences,
    sanitize,
    sanitize_patterns,
)

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
SANITIZE = GOLDEN / "sanitize.cfg"
GOLDEN_COPIES = sorted(GOLDEN.glob("*.ipynb"))
REGENERATE = "regenerate the golden copies with `make golden` (or `make golden ARGS='--only NN'`)"

MACHINE_PATHS = ("/tmp/", "/home/", "/Users/", "/root/", "/private/var/")


def machine_paths(nb, extra: tuple[str, ...] = ()) -> list[str]:
    """Machine paths in the outputs' text (images left out: base64 may spell anything)."""
    found = []
    for number, cell in enumerate(code_cells(nb), start=1):
        for out in cell.get("outputs", []):
            texts = [out.get("text", ""), out.get("evalue", ""), "\n".join(out.get("traceback", []))]
            texts += [v if isinstance(v, str) else json.dumps(v) for k, v in out.get("data", {}).items()
                      if not k.startswith("image/")]
            for text in texts:
                for path in (*extra, *MACHINE_PATHS):
                    if path and path in text:
                        at = text.index(path)
                        found.append(f"code cell {number}: {path!r} in ...{text[max(0, at - 40):at + 60]!r}...")
    return found


# --- the tests -----------------------------------------------------------------------------------


def executions() -> dict[str, pipeline.Execution]:
    return {e.key: e for e in pipeline.plan("smoke")}


def golden_id(path: Path) -> str:
    return path.stem


def read(path: Path):
    return nbformat.read(str(path), as_version=4)


def test_golden_copies_cover_the_smoke_executions():
    keys, stems = set(executions()), {p.stem for p in GOLDEN_COPIES}
    missing, extra = sorted(keys - stems), sorted(stems - keys)
    if missing or extra:
        pytest.fail(f"tests/golden/ lacks {missing} and has copies of no smoke execution {extra}: {REGENERATE} "
                    f"(it deletes the copies that no execution produces any more)", pytrace=False)


@pytest.mark.parametrize("path", GOLDEN_COPIES, ids=golden_id)
def test_golden_code_matches_the_notebook(path):
    execution = executions().get(path.stem)
    if execution is None:
        pytest.fail(f"{path.name} is the golden copy of no smoke execution (see test_golden_copies_cover_...)")
    notebook = pipeline.notebooks_dir() / f"{execution.notebook}.ipynb"
    difference = first_code_difference(read(path), read(notebook))
    if difference is not None:
        pytest.fail(f"tests/golden/{path.name} is stale against notebooks/{notebook.name}: {difference}\n"
                    f"{REGENERATE}", pytrace=False)


@pytest.mark.parametrize("path", GOLDEN_COPIES, ids=golden_id)
def test_golden_outputs_hold_no_machine_path(path):
    found = machine_paths(read(path), extra=(str(ROOT),))
    if found:
        pytest.fail(f"tests/golden/{path.name} shows machine paths (tools/make_golden.py writes them as "
                    f"$DL_RUNS_DIR, $DL_DATA_DIR, <repo>; a checked cell must not print one):\n  "
                    + "\n  ".join(found[:10]), pytrace=False)


@pytest.mark.parametrize("path", GOLDEN_COPIES, ids=golden_id)
def test_checked_outputs_match_the_golden_copy(path, smoke):
    execution = executions().get(path.stem)
    if execution is None:
        pytest.fail(f"{path.name} is the golden copy of no smoke execution (see test_golden_copies_cover_...)")
    for dependency in pipeline.DEPENDS_ON.get(execution.notebook, ()):  # 09 reads all of them
        if dependency in pipeline.available_notebooks():
            smoke.ensure(dependency)
    run = smoke.ensure(execution.notebook)
    executed = run.path / run.manifest["notebooks"][path.stem]["output"]
    problems = output_differences(read(path), read(executed), sanitize_patterns(SANITIZE))
    if problems:
        pytest.fail(f"{path.name}: checked outputs of this run's {executed.name} differ from the golden copy "
                    f"(after tests/golden/sanitize.cfg):\n\n" + "\n\n".join(problems)
                    + f"\n\nIf the change is intended, {REGENERATE}.", pytrace=False)


# --- the comparison itself, on hand-made notebooks --------------------------------------------------


def _notebook(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


def _cell(source, outputs=(), tags=()):
    cell = nbformat.v4.new_code_cell(source, execution_count=1)
    cell.outputs = [nbformat.from_dict(o) for o in outputs]
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def _stream(text, name="stdout"):
    return {"output_type": "stream", "name": name, "text": text}


def test_the_comparison_checks_only_marked_cells_after_sanitizing():
    patterns = {r"\d+(\.\d+)? s": "T s"}
    golden = _notebook(_cell("# NBVAL_CHECK_OUTPUT\nprint(x)", [_stream("took 1.5 s\n"), _stream("ok\n")]),
                       _cell("print(y)", [_stream("anything\n")]))
    same = _notebook(_cell("# NBVAL_CHECK_OUTPUT\nprint(x)", [_stream("took 3 s\nok\n")]),
                     _cell("print(y)", [_stream("something else\n")]))
    assert output_differences(golden, same, patterns) == []
    other = _notebook(_cell("# NBVAL_CHECK_OUTPUT\nprint(x)", [_stream("took 3 s\nnot ok\n")]), _cell("print(y)"))
    [problem] = output_differences(golden, other, patterns)
    assert "code cell 1 ('print(x)')" in problem and "-ok" in problem and "+not ok" in problem


def test_the_comparison_sees_results_streams_and_tags():
    result = {"output_type": "execute_result", "execution_count": 1, "metadata": {},
              "data": {"text/plain": "0.5", "image/png": "iVBOR"}}
    golden = _notebook(_cell("x", [result], tags=["nbval-check-output"]))
    assert output_differences(golden, _notebook(_cell("x", [{**result, "data": {"text/plain": "0.5"}}])), {}) == []
    assert output_differences(golden, _notebook(_cell("x", [_stream("0.5")])), {})  # a print is not a result
    skipped = _notebook(_cell("# NBVAL_CHECK_OUTPUT\n# NBVAL_SKIP\nx", [result]))
    assert output_differences(skipped, _notebook(_cell("# NBVAL_CHECK_OUTPUT\n# NBVAL_SKIP\nx")), {}) == []


def test_the_code_check_names_the_first_differing_cell():
    injected = _cell('run_dir = "golden"', tags=["injected-parameters"])
    golden = _notebook(_cell("a = 1"), injected, _cell("b = 2"))
    assert first_code_difference(golden, _notebook(_cell("a = 1"), _cell("b = 2"))) is None
    message = first_code_difference(golden, _notebook(_cell("a = 1"), _cell("b = 3")))
    assert message.startswith("code cell 2 differs") and "+b = 3" in message
    assert "the notebook has 3 code cells, the golden copy 2" in first_code_difference(
        golden, _notebook(_cell("a = 1"), _cell("b = 2"), _cell("c")))


def test_the_machine_path_check():
    nb = _notebook(_cell("x", [_stream("saved to /tmp/abc/run\n"),
                               {"output_type": "display_data", "metadata": {}, "data": {"image/png": "x/tmp/y"}}]))
    [found] = machine_paths(nb)
    assert "'/tmp/'" in found and "code cell 1" in found
    assert machine_paths(_notebook(_cell("x", [_stream("saved to $DL_RUNS_DIR/run\n")]))) == []


def test_the_sanitize_file_parses():
    patterns = sanitize_patterns()
    assert patterns and sanitize("Wall time: 3.2 s", patterns) == "WALL-TIME"
