"""Write course notebooks from a list of cells (never hand-edit notebook JSON).

Usage from a script::

    from tools.notebook import write_notebook, md, code, params
    write_notebook("notebooks/01_breathing_eda.ipynb", "01_breathing_eda", [
        md("# **Breathing patterns: EDA**\n*...*"),
        ...
    ])

``write_notebook`` inserts the Colab badge into the first markdown cell and the Colab setup
cell right after it, so every notebook opens the same way.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent


def repo_url(root: Path = ROOT) -> str:
    """The repository URL from pyproject.toml ([project.urls] Repository): the one place it lives."""
    text = (Path(root) / "pyproject.toml").read_text()
    match = re.search(r'^Repository\s*=\s*"([^"]+)"', text, flags=re.M)
    if not match:
        raise ValueError("pyproject.toml has no [project.urls] Repository entry")
    return match.group(1).rstrip("/")


def colab_badge(notebook_file: str, root: Path = ROOT) -> str:
    """Markdown for an 'Open in Colab' badge of ``notebooks/<notebook_file>``."""
    url = repo_url(root).replace("https://github.com/", "https://colab.research.google.com/github/")
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({url}/blob/main/notebooks/{notebook_file})")


def colab_cell(url: str | None = None) -> str:
    """The Colab setup cell (cell 1 of every notebook), with ``url`` (default: pyproject's) as REPO_URL."""
    return COLAB_CELL.replace("__REPO_URL__", url or repo_url())


COLAB_CELL = '''# Colab setup (does nothing outside Colab): find or clone this repository, install what the notebooks
# need -- Colab's own TensorFlow, Keras, NumPy and ipykernel stay as they are -- and keep runs on Drive.
import sys
if "google.colab" in sys.modules:
    import os
    import subprocess
    REPO_URL = "__REPO_URL__"  # `python tools/set_repo_url.py URL` writes this line
    # Colab gives every notebook its own machine: only with runs on Google Drive do later notebooks find
    # what earlier ones wrote, and a disconnect loses nothing. False keeps runs on this machine.
    USE_DRIVE = True
    if USE_DRIVE:
        from google.colab import drive
        drive.mount("/content/drive")
    # a copy you uploaded to /content or put on Drive is used as it is; otherwise the repository is cloned
    COPIES = ["/content/deep-learning-course", "/content/drive/MyDrive/deep-learning-course"]
    REPO = next((c for c in COPIES if os.path.isdir(f"{c}/helpers") and os.path.isfile(f"{c}/pyproject.toml")), None)
    if REPO is None and "YOUR-ORG" in REPO_URL:
        raise SystemExit(f"REPO_URL = {REPO_URL!r} still names the placeholder YOUR-ORG: in your fork run "
                         "`python tools/set_repo_url.py https://github.com/ORG/NAME`, commit and push, and open "
                         f"the notebook from your fork's badge -- or upload the repository folder as {COPIES[0]} "
                         f"or put it on Drive as {COPIES[1]}.")
    if REPO is None:
        REPO = COPIES[0]
        subprocess.run(["git", "clone", "--depth", "1", REPO_URL, REPO], check=True)
    sys.path.insert(0, REPO)
    import helpers.colab as colab
    colab.install(REPO)  # prints one line: what it installed or upgraded
    colab.configure(use_drive=USE_DRIVE)'''


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text.strip("\n"))


def code(text: str, tags: list[str] | None = None) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(text.strip("\n"))
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def params(text: str) -> nbformat.NotebookNode:
    """The papermill ``parameters`` cell."""
    return code(text, tags=["parameters"])


def write_notebook(path: str | Path, cells: list[nbformat.NotebookNode], gpu: bool = False) -> Path:
    """Write a notebook: badge after the title, Colab setup cell second, outputs empty.

    ``gpu=True`` adds Colab's accelerator metadata (``accelerator: GPU``, ``colab.gpuType: T4``) so the
    notebook opens on a GPU runtime in Colab (the training notebooks 05-08).
    """
    path = Path(path)
    cells = list(cells)
    if not cells or cells[0].cell_type != "markdown":
        raise ValueError("the first cell must be the markdown title")
    cells[0].source = cells[0].source + "\n\n" + colab_badge(path.name)
    cells.insert(1, code(colab_cell()))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["colab"] = {"provenance": []}
    if gpu:
        nb.metadata["accelerator"] = "GPU"
        nb.metadata["colab"]["gpuType"] = "T4"
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"
    nbformat.validate(nb)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(path))
    return path


if __name__ == "__main__":  # pragma: no cover
    print(repo_url(), file=sys.stdout)
