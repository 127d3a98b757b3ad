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


TRAINING_NOTEBOOKS = ("05_banana_transfer", "06_gradcam", "07_cnn_architecture", "08_imbalanced_training")


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.stem in TRAINING_NOTEBOOKS], ids=lambda p: p.stem)
def test_training_notebooks_open_on_a_colab_gpu(path):
    nb = nbformat.read(str(path), as_version=4)
    assert nb.metadata.get("accelerator") == "GPU" and nb.metadata.get("colab", {}).get("gpuType") == "T4"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outputs_stay_quiet(path):
    """TensorFlow is quietened before it loads, and no cell echoes a Path (e.g. PosixPath('/tmp/...'))."""
    nb = nbformat.read(str(path), as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    first_helpers = next(i for i, src in enumerate(code) if "from helpers import" in src)
    assert "env.quiet_tensorflow()" in code[first_helpers], "the first helpers cell calls env.quiet_tensorflow()"
    assert not any("tensorflow" in src or "keras" in src for src in code[:first_helpers])
    for src in code:
        top = [line for line in src.rstrip().splitlines() if line and not line[0].isspace() and not line.startswith("#")]
        if top:
            assert not top[-1].startswith(("run.save_figure(", "run.write_csv(", "run.write_json(")), \
                f"{path.name}: a cell ends with {top[-1][:60]!r}, which echoes a Path; assign it to _"
