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


def repo_url() -> str:
    """The repository URL from pyproject.toml ([project.urls] Repository): the one place it lives."""
    text = (ROOT / "pyproject.toml").read_text()
    match = re.search(r'^Repository\s*=\s*"([^"]+)"', text, flags=re.M)
    if not match:
        raise ValueError("pyproject.toml has no [project.urls] Repository entry")
    return match.group(1).rstrip("/")


def colab_badge(notebook_file: str) -> str:
    """Markdown for an 'Open in Colab' badge of ``notebooks/<notebook_file>``."""
    url = repo_url().replace("https://github.com/", "https://colab.research.google.com/github/")
    return (f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
            f"({url}/blob/main/notebooks/{notebook_file})")


def colab_cell() -> str:
    return f'''# Colab setup: clone this repository and install it (does nothing outside Colab).
import sys
if "google.colab" in sys.modules:
    import os
    import subprocess
    REPO_URL = "{repo_url()}"
    REPO = "/content/deep-learning-course"
    if not os.path.exists(REPO):
        subprocess.run(["git", "clone", "--depth", "1", REPO_URL, REPO], check=True)
    %pip install -q -e {{REPO}}
    sys.path.insert(0, REPO)
    os.chdir(REPO)'''


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
