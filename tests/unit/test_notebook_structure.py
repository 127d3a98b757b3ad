"""Every committed notebook follows the anatomy in CONTRIBUTING.md."""

from pathlib import Path

import nbformat
import pytest

from helpers import profiles

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_anatomy(path):
    nb = nbformat.read(str(path), as_version=4)
    cells = nb.cells
    assert cells[0].cell_type == "markdown" and cells[0].source.startswith("# "), "first cell: the title"
    assert "colab.research.google.com" in cells[0].source, "Open-in-Colab badge after the title"
    assert 'if "google.colab" in sys.modules' in cells[1].source, "second cell: the Colab setup cell"
    tagged = [c for c in cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    assert "profile" in tagged[0].source and "run_dir" in tagged[0].source
    assert path.stem in profiles.PARAMETERS, f"{path.stem} has no entry in helpers/profiles.py"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_without_outputs(path):
    nb = nbformat.read(str(path), as_version=4)
    with_outputs = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("outputs")]
    assert not with_outputs, f"cells {with_outputs} have outputs: run `make strip`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_defines_no_long_functions(path):
    """Logic lives in helpers/: a notebook may define only tiny functions (a few lines)."""
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        lines = cell.source.splitlines()
        for i, line in enumerate(lines):
            if line.lstrip().startswith("def "):
                body = 0
                for nxt in lines[i + 1:]:
                    if nxt.strip() and not nxt.startswith((" ", "\t")):
                        break
                    body += bool(nxt.strip())
                assert body <= 6, f"{path.name}: function at {line.strip()!r} has {body} lines; move it to helpers/"


def test_golden_copies_cover_every_notebook():
    golden = Path(__file__).resolve().parents[1] / "golden"
    stems = {p.stem.split("-")[0] for p in golden.glob("*.ipynb")}
    missing = [p.stem for p in NOTEBOOKS if p.stem not in stems]
    assert not missing, f"no golden copy for {missing}: run `make golden`"
