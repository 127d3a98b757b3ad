"""Every committed notebook follows the anatomy in CONTRIBUTING.md."""

import ast
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


PLAIN_FUNCTION_LINES = 6    # a helper a lesson defines in passing
MODEL_FUNCTION_LINES = 25   # a network written out layer by layer (the lesson itself)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_defines_no_long_functions(path):
    """Plumbing lives in helpers/: a notebook may define only short functions, except the network it
    teaches (a function that writes out Keras layers may be as long as its layers need)."""
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        lines = cell.source.splitlines()
        for i, line in enumerate(lines):
            if line.lstrip().startswith("def "):
                indent = len(line) - len(line.lstrip())
                body = []
                for nxt in lines[i + 1:]:
                    if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent:
                        break
                    if nxt.strip():
                        body.append(nxt)
                builds_a_model = any("layers." in b or "keras." in b for b in body)
                limit = MODEL_FUNCTION_LINES if builds_a_model else PLAIN_FUNCTION_LINES
                assert len(body) <= limit, (f"{path.name}: function at {line.strip()!r} has {len(body)} lines "
                                            f"(at most {limit}); move the plumbing to helpers/")


KERAS_FIT_KEYWORDS = {"epochs", "validation_data", "validation_split", "callbacks", "initial_epoch"}


def keras_fit_calls(path):
    """``(cell number, call)`` of every Keras ``.fit(...)`` call (one with ``epochs=``, ``validation_data=``...)
    in the notebook's code cells; a scikit-learn ``scaler.fit(X)`` is not one."""
    nb = nbformat.read(str(path), as_version=4)
    calls = []
    for number, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        source = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(source)
        except SyntaxError:
            continue
        calls += [(number, node) for node in ast.walk(tree) if isinstance(node, ast.Call)
                  and isinstance(node.func, ast.Attribute) and node.func.attr == "fit"
                  and KERAS_FIT_KEYWORDS & {k.arg for k in node.keywords}]
    return calls


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_visible_fits_print_no_progress_bars(path):
    """``model.fit(..., verbose=0 or 2)``: verbose=1 (the default in a notebook) draws progress bars."""
    for number, call in keras_fit_calls(path):
        verbose = [k.value for k in call.keywords if k.arg == "verbose"]
        ok = bool(verbose) and isinstance(verbose[0], ast.Constant) and verbose[0].value in (0, 2)
        assert ok, f"{path.name}, cell {number}: {ast.unparse(call)[:80]} needs verbose=0 or verbose=2"


TRAINING_LESSONS = ("03_gridsearch", "04_synthesize_retrain", "05_banana_transfer", "07_cnn_architecture",
                    "08_imbalanced_training")


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.stem in TRAINING_LESSONS], ids=lambda p: p.stem)
def test_training_notebooks_show_their_network(path):
    """Issue 13: the network is written out in a cell, compiled and fitted in sight, its history plotted."""
    nb = nbformat.read(str(path), as_version=4)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    missing = [what for what, seen in [
        ("a cell that writes out the network's layers", any(src.count("layers.") >= 2 for src in code)),
        ("a compile call", any(".compile(" in src for src in code)),
        ("a visible Keras fit (model.fit(..., epochs=...))", bool(keras_fit_calls(path))),
        ("the visible fit's history plotted (plot_history)", any("plot_history(" in src for src in code)),
    ] if not seen]
    assert not missing, f"{path.name} lacks " + "; ".join(missing)


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
