"""Regenerate the README's notebook table (Open-in-Colab badges) from the repository URL in
pyproject.toml, and the URL inside every notebook's Colab setup cell.

    python tools/badges.py
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.notebook import ROOT, colab_badge, repo_url  # noqa: E402

WHAT = {
    "00_primer": "Keras building blocks: layers, activations, the three cross-entropies, Adam, k-fold CV",
    "01_breathing_eda": "EDA of an imbalanced breathing-pattern dataset",
    "02_upsampling": "oversampling every class to the majority count (train split only)",
    "03_gridsearch": "leakage-safe one-vs-rest GridSearchCV per label on four data variants",
    "04_synthesize_retrain": "best variant per label, model-guided synthesis, retraining compared on the test split",
    "05_banana_transfer": "transfer learning with VGG16 / ResNet50V2 / Xception / InceptionV3, frozen vs fine-tuned",
    "06_gradcam": "Grad-CAM on right and wrong predictions",
    "07_cnn_architecture": "how to choose a CNN architecture: depth, maps, dense size, dropout, strides, BN, augmentation",
    "08_imbalanced_training": "long-tailed training: class weights, label smoothing, LR schedules, CLAHE, HDF5, macro-F1",
    "09_results_report": "one run directory becomes tables, figures and a report",
}


def table() -> str:
    rows = ["| # | notebook | what you learn | Colab |", "|---|---|---|---|"]
    for key, what in WHAT.items():
        num, name = key.split("_", 1)
        rows.append(f"| {num} | [{name}](notebooks/{key}.ipynb) | {what} | {colab_badge(key + '.ipynb')} |")
    return "\n".join(rows)


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text()
    new = re.sub(r"(<!-- BADGES:START[^\n]*-->\n).*?(\n<!-- BADGES:END -->)",
                 lambda m: m.group(1) + table() + m.group(2), text, flags=re.S)
    readme.write_text(new)
    url = repo_url()
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        changed = False
        for cell in nb.cells[:2]:
            src = re.sub(r'REPO_URL = "[^"]*"', f'REPO_URL = "{url}"', cell.source)
            src = re.sub(r"\(https://colab\.research\.google\.com/github/[^)]*\)",
                         "(" + colab_badge(path.name).split("](", 1)[1], src) if cell.cell_type == "markdown" else src
            if src != cell.source:
                cell.source, changed = src, True
        if changed:
            nbformat.write(nb, str(path))
    return 0


if __name__ == "__main__":
    sys.exit(main())
