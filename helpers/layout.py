"""Where every artifact lives inside a run directory, relative to the run folder: the one module that names
the layout (base layer), so writers (notebooks, training helpers) and readers (the report) agree; a folder
renamed here is renamed everywhere.
"""

from __future__ import annotations

import re

# files inside every trained unit
HISTORY = "history.csv"
RESULT = "result.json"
PREDICTIONS = "predictions.csv"
METRICS = "metrics.json"
SUMMARY = "summary.json"
PER_CLASS = "per_class.csv"
MODEL = "model.keras"
# chance baselines (helpers.evaluation.verdicts.chance_table: model, accuracy, macro-F1, split) beside a track's scores
CHANCE = "chance.csv"

# tabular track (01-04)
TABULAR = "tabular"
EDA = f"{TABULAR}/eda"
EDA_CLASS_COUNTS = f"{EDA}/class_counts.csv"
UPSAMPLING = f"{TABULAR}/upsampling"
GRIDSEARCH = f"{TABULAR}/gridsearch"
BEST_PARAMS = "best_params.json"  # in a gridsearch_label folder, beside TEST_SCORES
TEST_SCORES = "test_scores.json"
SYNTHESIS = f"{TABULAR}/synthesis"
SYNTHESIS_VARIANT_SCORES = f"{SYNTHESIS}/variant_scores.csv"
RETRAIN = f"{TABULAR}/retrain"
RETRAIN_COMPARISON = f"{RETRAIN}/comparison.csv"
RETRAIN_COMPARISON_SUMMARY = f"{RETRAIN}/comparison_summary.csv"
RETRAIN_CHANCE = f"{RETRAIN}/{CHANCE}"

# transfer learning (05, 06), CNN architecture (07), long tail (08), report (09)
BANANA = "banana"
BACKBONE_DATA = "data.json"  # in a backbone_dir: class names, image size
BACKBONE_SPLIT = "split.csv"  # in a backbone_dir: one row per image and its split
BACKBONE_WEIGHTS = "weights.json"  # in a backbone_dir: the initial weights asked for and used
BACKBONE_CHANCE = CHANCE  # in a backbone_dir: chance on its test (and val) split
GRADCAM = "gradcam"
CNN_ARCHITECTURE = "cnn_architecture"
IMBALANCED = "imbalanced"
SEED_RESULTS = "results.csv"  # 07/08: one row per (variant, seed), summarised by the report
CNN_CHANCE = f"{CNN_ARCHITECTURE}/{CHANCE}"
IMBALANCED_CHANCE = f"{IMBALANCED}/{CHANCE}"
REPORT = "report"
REPORT_MARKDOWN = f"{REPORT}/report.md"


def gridsearch_summary(variant: str) -> str:
    """03's per-variant summary (one row per label): what 04 needs before it can start."""
    return f"{GRIDSEARCH}/{variant}/summary.csv"


def gridsearch_label(variant: str, label: str) -> str:
    """03's folder for one (variant, label): fits/, best_params.json, model files, history."""
    return f"{GRIDSEARCH}/{variant}/{label}"


def retrain_unit(strategy: str, seed: int) -> str:
    """04's retraining of the multi-class network, one strategy and seed."""
    return f"{RETRAIN}/{strategy}/seed{int(seed)}"


def backbone_dir(backbone: str) -> str:
    """05's folder of one backbone (data.json, split.csv, weights.json, summary.csv)."""
    return f"{BANANA}/{backbone}"


def transfer_mode_dir(backbone: str, mode: str) -> str:
    """One backbone and mode (frozen / finetune): confusion matrix and classification report."""
    return f"{BANANA}/{backbone}/{mode}"


def transfer_unit(backbone: str, mode: str, seed: int) -> str:
    """One trained transfer model."""
    return f"{BANANA}/{backbone}/{mode}/seed{int(seed)}"


def gradcam_figure(backbone: str, kind: str) -> str:
    """06's grid of right or wrong predictions."""
    return f"{GRADCAM}/{backbone}_{kind}.png"


def slug(name: str) -> str:
    """A folder name for a variant name (``+label smoothing (loss)`` -> ``label_smoothing_loss``)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", str(name)).strip("_") or "variant"


def family_dir(family: str) -> str:
    """07's folder of one architecture family (``results.csv`` and ``best_per_family.csv`` sit above)."""
    return f"{CNN_ARCHITECTURE}/{family}"


def family_unit(family: str, variant: str, seed: int) -> str:
    """One 07 model: ``variant`` is the variant's name or slug."""
    return f"{CNN_ARCHITECTURE}/{family}/{slug(variant)}/seed{int(seed)}"


def ablation_unit(variant: str, seed: int) -> str:
    """One 08 model: ``variant`` is the ablation row's name or slug."""
    return f"{IMBALANCED}/{slug(variant)}/seed{int(seed)}"


def report_figure(name: str) -> str:
    """09's figure ``name`` (PNG)."""
    return f"{REPORT}/figures/{name}.png"
