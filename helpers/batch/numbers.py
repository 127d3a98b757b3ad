"""The numbers a lesson's run records, as one flat ``{name: value}`` row per execution (what ``batch`` puts beside
the reference's): read from the CSVs the notebooks write (:mod:`helpers.layout` names them), never from the
notebook's printed output, which a student may change."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from helpers import layout

__all__ = ["collect", "NUMBERS", "parse_mean_sd"]

_PM = re.compile(r"^\s*(-?[\d.]+(?:e-?\d+)?)\s*±\s*(-?[\d.]+(?:e-?\d+)?)\s*$")


def parse_mean_sd(value) -> tuple[float, float] | None:
    """``"0.812 ± 0.014"`` -> (0.812, 0.014); a plain number -> (x, nan); anything else -> None."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), math.nan
    match = _PM.match(str(value))
    return (float(match[1]), float(match[2])) if match else None


def _read(run: Path, pattern: str) -> list[tuple[Path, pd.DataFrame]]:
    found = []
    for path in sorted(run.glob(pattern)):
        try:
            found.append((path, pd.read_csv(path)))
        except (OSError, ValueError, pd.errors.ParserError):
            continue
    return found


def _cell(value, digits: int = 3) -> str | float:
    if isinstance(value, float):
        return round(value, digits)
    return value if isinstance(value, (int, str)) else str(value)


def _rows(run: Path, pattern: str, keys: list[str], values: dict[str, str], where: dict | None = None,
          prefix: Callable[[Path], str] = lambda _: "") -> dict:
    """``{"<value name>[<key values>]": value}`` for every row of every CSV matching ``pattern``."""
    out = {}
    for path, frame in _read(run, pattern):
        for column, wanted in (where or {}).items():
            if column in frame:
                frame = frame[frame[column] == wanted]
        if not set(keys) <= set(frame.columns):
            continue
        for _, row in frame.iterrows():
            key = ", ".join(str(row[k]) for k in keys)
            for column, name in values.items():
                mean, sd = f"{column}_mean", f"{column}_sd"
                if mean in frame and sd in frame:  # one seed: no SD
                    value = round(float(row[mean]), 3) if pd.isna(row[sd]) else f"{row[mean]:.3f} ± {row[sd]:.3f}"
                elif column in frame:
                    value = _cell(row[column])
                else:
                    continue
                out[f"{prefix(path)}{name}[{key}]"] = value
    return out


def _tabular_variants(run: Path) -> dict:
    return _rows(run, f"{layout.GRIDSEARCH}/*/summary.csv", ["variant", "label"],
                 {"cv_average_precision": "cv AP (val)"})


def _retrain(run: Path) -> dict:
    return {**_rows(run, f"{layout.SYNTHESIS}/chosen_variants.csv", ["label"], {"chosen_variant": "variant"}),
            **_rows(run, layout.RETRAIN_COMPARISON_SUMMARY, ["strategy"], {"macro_f1": "test macro-F1"},
                    where={"split": "test"})}


def _transfer(run: Path) -> dict:
    return _rows(run, f"{layout.BANANA}/*/summary.csv", ["backbone", "mode"],
                 {"val_accuracy": "val accuracy", "accuracy": "test accuracy"}, where={"split": "test"})


def _gradcam(run: Path) -> dict:
    figures = sorted((run / layout.GRADCAM).glob("*.png"))
    return {"Grad-CAM figures": len(figures)} if figures else {}


def _report(run: Path) -> dict:
    report = run / layout.REPORT_MARKDOWN
    if not report.is_file():
        return {}
    text = report.read_text(errors="replace")
    return {"report sections": sum(line.startswith("## ") for line in text.splitlines()),
            "report figures": len(list((run / layout.REPORT / "figures").glob("*.png")))}


# notebook -> the function reading its numbers from a run directory
NUMBERS: dict[str, Callable[[Path], dict]] = {
    "00_primer": lambda run: _rows(run, "primer/kfold.csv", ["fold"], {"accuracy": "val accuracy"}),
    "01_breathing_eda": lambda run: _rows(run, layout.EDA_CLASS_COUNTS, ["label"], {"count": "rows"}),
    "02_upsampling": lambda run: _rows(run, f"{layout.UPSAMPLING}/table_train.csv", ["label"],
                                       {"total": "train rows after"}),
    "03_gridsearch": _tabular_variants,
    "04_synthesize_retrain": _retrain,
    "05_banana_transfer": _transfer,
    "06_gradcam": _gradcam,
    "07_cnn_architecture": lambda run: _rows(run, f"{layout.CNN_ARCHITECTURE}/best_per_family.csv", ["family"],
                                             {"variant": "chosen", "val accuracy": "val accuracy",
                                              "test accuracy": "test accuracy"}),
    "08_imbalanced_training": lambda run: _rows(run, f"{layout.IMBALANCED}/ablation_table.csv", ["variant"],
                                                {"test macro f1": "test macro-F1",
                                                 "test tail recall": "test tail recall"}),
    "09_results_report": _report,
}


def collect(notebook: str, run_dir: str | os.PathLike) -> dict:
    """The numbers ``notebook`` recorded in ``run_dir`` (empty when it recorded none, or its files are missing)."""
    reader = NUMBERS.get(notebook)
    run = Path(run_dir)
    return reader(run) if reader is not None and run.is_dir() else {}
