"""Run profiles: the one place that says what ``smoke``, ``demo`` and ``full`` mean.

* ``smoke`` -- tests and CI: each notebook in well under a minute on 2 CPU cores.
* ``demo``  -- the README's main command on the embedded data: minutes on 2 CPU cores.
* ``full``  -- the brief's settings (full grids, 224 px images, 30 epochs, 3+ seeds); for a GPU/Colab.

``PARAMETERS[notebook][profile]`` holds every parameter of a notebook (``COMMON`` is added to all).
``REPEATS[notebook][profile]`` lists the parameter sets of a notebook the runner executes several
times (the four grid-search variants, the four backbones); each set needs a ``label``.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from helpers import runs

__all__ = ["PROFILES", "NOTEBOOKS", "PARAMETERS", "REPEATS", "resolve", "parameter_sets", "check_profile"]

PROFILES = ("smoke", "demo", "full")

NOTEBOOKS = (
    "00_primer",
    "01_breathing_eda",
    "02_upsampling",
    "03_gridsearch",
    "04_synthesize_retrain",
    "05_banana_transfer",
    "06_gradcam",
    "07_cnn_architecture",
    "08_imbalanced_training",
    "09_results_report",
)

# Parameters every notebook has.
# run_dir None: the profile's current run (helpers.runs.current_run); "new": start a new run.
COMMON: dict[str, Any] = {"seed": 42, "run_dir": None}

# Tabular notebooks read `data_path` (None = embedded breathing data); image notebooks `data_dir`.
TABULAR_NOTEBOOKS = ("01_breathing_eda", "02_upsampling", "03_gridsearch", "04_synthesize_retrain")
IMAGE_NOTEBOOKS = ("05_banana_transfer", "06_gradcam", "07_cnn_architecture", "08_imbalanced_training")


def _same(**params: Any) -> dict[str, dict[str, Any]]:
    """The same parameters in every profile."""
    return {p: dict(params) for p in PROFILES}


PARAMETERS: dict[str, dict[str, dict[str, Any]]] = {
    # ----------------------------------------------------------------- 00 primer
    "00_primer": {
        "smoke": {"epochs": 2, "n_samples": 300, "folds": 3},
        "demo": {"epochs": 10, "n_samples": 1000, "folds": 5},
        "full": {"epochs": 20, "n_samples": 2000, "folds": 5},
    },
    # ----------------------------------------------------------------- 01 EDA
    "01_breathing_eda": {
        "smoke": {"data_path": None, "data_fraction": 0.05, "label_column": "labels", "test_size": 0.2},
        "demo": {"data_path": None, "data_fraction": 1.0, "label_column": "labels", "test_size": 0.2},
        "full": {"data_path": None, "data_fraction": 1.0, "label_column": "labels", "test_size": 0.2},
    },
    # ----------------------------------------------------------------- 02 upsampling
    "02_upsampling": {
        "smoke": {"data_path": None, "data_fraction": 0.05, "label_column": "labels", "test_size": 0.2,
                  "method": "random"},
        "demo": {"data_path": None, "data_fraction": 1.0, "label_column": "labels", "test_size": 0.2,
                 "method": "random"},
        "full": {"data_path": None, "data_fraction": 1.0, "label_column": "labels", "test_size": 0.2,
                 "method": "random"},
    },
    # ----------------------------------------------------------------- 03 grid search (run once per variant)
    "03_gridsearch": {
        "smoke": {"data_path": None, "data_fraction": 0.03, "label_column": "labels", "test_size": 0.2,
                  "variants": ["original", "up", "down", "updown"],
                  "delta": 0.01, "labels": None, "cv": 2, "scoring": "average_precision",
                  "engine": "sklearn", "val_size": 0.2,
                  "backend": "local", "n_jobs": 1, "scheduler_address": None,
                  "param_grid": {"epochs": [2], "batch_size": [64], "model__neurons": [30]}},
        "demo": {"data_path": None, "data_fraction": 0.2, "label_column": "labels", "test_size": 0.2,
                 "variants": ["original", "up", "down", "updown"],
                 "delta": 0.01, "labels": None, "cv": 3, "scoring": "average_precision",
                 "engine": "fast", "val_size": 0.2,
                 "backend": "local", "n_jobs": 1, "scheduler_address": None,
                 "param_grid": {"epochs": [8], "batch_size": [64], "model__neurons": [30, 60]}},
        "full": {"data_path": None, "data_fraction": 1.0, "label_column": "labels", "test_size": 0.2,
                 "variants": ["original", "up", "down", "updown"],
                 "delta": 0.01, "labels": None, "cv": 3, "scoring": "average_precision",
                 "engine": "fast", "val_size": 0.2,
                 "backend": "local", "n_jobs": 1, "scheduler_address": None,
                 "param_grid": {"epochs": [15, 20], "batch_size": [16, 32, 64], "model__dropout": [0.2, 0.3],
                                "model__kernel_initializer": ["glorot_uniform", "he_uniform"],
                                "model__neurons": [30, 60]}},
    },
    # ----------------------------------------------------------------- 04 synthesis and retraining
    "04_synthesize_retrain": {
        "smoke": {"data_path": None, "data_fraction": 0.03, "label_column": "labels", "test_size": 0.2,
                  "variants": ["original", "up", "down", "updown"], "threshold": "auto", "k_neighbors": 5,
                  "jitter": 0.01, "max_rounds": 10, "val_size": 0.15, "seeds": [0, 1, 2],
                  "epochs": 2, "batch_size": 64, "neurons": 30, "dropout": 0.2, "learning_rate": 0.001},
        "demo": {"data_path": None, "data_fraction": 0.2, "label_column": "labels", "test_size": 0.2,
                 "variants": ["original", "up", "down", "updown"], "threshold": "auto", "k_neighbors": 5,
                 "jitter": 0.01, "max_rounds": 10, "val_size": 0.15, "seeds": [0, 1, 2],
                 "epochs": 15, "batch_size": 64, "neurons": 60, "dropout": 0.2, "learning_rate": 0.001},
        "full": {"data_path": None, "data_fraction": 1.0, "label_column": "labels", "test_size": 0.2,
                 "variants": ["original", "up", "down", "updown"], "threshold": "auto", "k_neighbors": 5,
                 "jitter": 0.01, "max_rounds": 10, "val_size": 0.15, "seeds": [0, 1, 2, 3, 4],
                 "epochs": 20, "batch_size": 32, "neurons": 60, "dropout": 0.2, "learning_rate": 0.001},
    },
    # ----------------------------------------------------------------- 09 results report
    "09_results_report": _same(show_figures=True),
    # 03-09: filled in by their tracks.
}

REPEATS: dict[str, dict[str, list[dict[str, Any]]]] = {}

# 03_gridsearch searches every variant in `variants` (the brief's original, UP, DOWN, UP & DOWN) when
# run on its own; the runner executes it once per variant so that --jobs runs them in parallel.
REPEATS["03_gridsearch"] = {
    p: [{"label": v, "variants": [v]} for v in ("original", "up", "down", "updown")] for p in PROFILES
}

# 05_banana_transfer: every backbone in `backbones` when run on its own; the runner executes it once per
# backbone (both modes inside) so that --jobs trains them in parallel. smoke/demo use small images
# on a CPU; full uses the brief's 224 px, 3 seeds, 30 epochs. weights="auto" everywhere: ImageNet where it
# is cached or can be downloaded, else random initialisation, announced by the notebook and the report.
_ALL_BACKBONES = ["VGG16", "ResNet50V2", "Xception", "InceptionV3"]
_BANANA_COMMON = {"data_dir": None, "max_per_class": None, "test_size": 0.3, "val_size": 0.3,
                  "modes": ["frozen", "finetune"], "dropout": 0.3, "learning_rate": 1e-3,
                  "augment": True, "feature_cache": True, "weights": "auto", "mixed_precision": False}
PARAMETERS["05_banana_transfer"] = {
    "smoke": {**_BANANA_COMMON, "backbones": ["VGG16"], "image_size": 32, "n_per_class": 10, "epochs": 1,
              "fine_tune_epochs": 1, "seeds": [0], "batch_size": 16,
              "fine_tune_learning_rate": 1e-4},
    "demo": {**_BANANA_COMMON, "backbones": _ALL_BACKBONES, "image_size": 64, "n_per_class": 60, "epochs": 30,
             "fine_tune_epochs": 3, "seeds": [0, 1], "batch_size": 32,
             "fine_tune_learning_rate": 1e-4},
    "full": {**_BANANA_COMMON, "backbones": _ALL_BACKBONES, "image_size": 224, "n_per_class": 200, "epochs": 30,
             "fine_tune_epochs": 30, "seeds": [0, 1, 2], "batch_size": 32,
             "fine_tune_learning_rate": 1e-5},
}
REPEATS["05_banana_transfer"] = {
    # smoke runs VGG16 only: on 2 CPU cores InceptionV3/Xception alone take ~1 min (graph building and
    # tracing); every backbone is still built and checked by tests/unit/test_backbones.py.
    "smoke": [{"label": "VGG16", "backbones": ["VGG16"]}],
    "demo": [{"label": b, "backbones": [b]} for b in _ALL_BACKBONES],
    "full": [{"label": b, "backbones": [b]} for b in _ALL_BACKBONES],
}
PARAMETERS["06_gradcam"] = {
    "smoke": {"n_images": 2, "backbones": None, "alpha": 0.4},
    "demo": {"n_images": 4, "backbones": None, "alpha": 0.4},
    "full": {"n_images": 6, "backbones": None, "alpha": 0.4},
}

# 07_cnn_architecture: from-scratch CNN families (depth, feature maps, dense, dropout, advanced).
# custom_specs: a student's own spec strings (a "custom" family); class_subset: e.g. two class
# names for the binary (sigmoid) case.
_CNN_COMMON = {"data_dir": None, "max_per_class": None, "test_size": 0.3, "val_size": 0.3,
               "custom_specs": [], "class_subset": None, "learning_rate": 1e-3,
               "lr_schedule": "exponential", "strategy": "auto", "mixed_precision": False}
_CNN_FAMILIES = ["depth", "feature_maps", "dense", "dropout", "advanced"]
PARAMETERS["07_cnn_architecture"] = {
    "smoke": {**_CNN_COMMON, "n_per_class": 20, "image_size": 32, "families": ["depth"], "seeds": [0],
              "epochs": 1, "batch_size": 16},
    "demo": {**_CNN_COMMON, "n_per_class": 150, "image_size": 32, "families": _CNN_FAMILIES, "seeds": [0, 1],
             "epochs": 10, "batch_size": 16},
    "full": {**_CNN_COMMON, "n_per_class": 200, "image_size": 64, "families": _CNN_FAMILIES,
             "seeds": [0, 1, 2], "epochs": 30, "batch_size": 32},
}

# 08_imbalanced_training: long-tailed train split in HDF5, ResNet ablation (one technique at a time).
_ALL_ABLATION = ["baseline", "+frequency weights", "+effective-number weights", "+label smoothing (labels)",
                 "+label smoothing (loss)", "+LR step decay", "+LR polynomial decay", "+CLAHE/WB"]
_IMB_COMMON = {"data_dir": None, "max_per_class": None, "test_size": 0.3, "val_size": 0.3,
               "beta": 0.99, "smoothing": 0.1, "polynomial_power": 2.5, "tail_fraction": 1 / 3,
               "learning_rate": 1e-3, "strategy": "auto", "mixed_precision": False}
PARAMETERS["08_imbalanced_training"] = {
    "smoke": {**_IMB_COMMON, "n_per_class": 30, "image_size": 24, "imbalance_ratio": 5.0,
              "variants": ["baseline", "+effective-number weights"], "seeds": [0], "epochs": 1,
              "batch_size": 16, "blocks_per_stage": 1, "base_filters": 8},
    "demo": {**_IMB_COMMON, "n_per_class": 200, "image_size": 32, "imbalance_ratio": 10.0,
             "variants": _ALL_ABLATION, "seeds": [0, 1], "epochs": 12, "batch_size": 16,
             "blocks_per_stage": 1, "base_filters": 16},
    "full": {**_IMB_COMMON, "n_per_class": 200, "image_size": 64, "imbalance_ratio": 10.0,
             "variants": _ALL_ABLATION, "seeds": [0, 1, 2], "epochs": 40, "batch_size": 32,
             "blocks_per_stage": 3, "base_filters": 16},
}


def notebooks_dir() -> Path:
    """``$DL_NOTEBOOKS_DIR`` if set (tests use tiny notebooks), else ``<repo>/notebooks``."""
    folder = os.environ.get("DL_NOTEBOOKS_DIR")
    return Path(folder) if folder else runs.repo_root() / "notebooks"


def available_notebooks() -> list[str]:
    """Notebooks that exist in :func:`notebooks_dir` and have a profile entry, in numbering order."""
    present = {p.stem for p in notebooks_dir().glob("[0-9][0-9]_*.ipynb")}
    return [n for n in NOTEBOOKS if n in present and n in PARAMETERS]


def check_profile(profile: str) -> str:
    """Return ``profile`` if it is known, else raise an error listing the known ones."""
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}")
    return profile


def check_notebook(notebook: str) -> str:
    """Return the notebook key (``NN_name``) if it is known, else raise a clear error."""
    if notebook not in PARAMETERS:
        known = ", ".join(sorted(PARAMETERS))
        raise ValueError(f"unknown notebook {notebook!r}; expected one of {known}")
    return notebook


def defaults(notebook: str, profile: str) -> dict[str, Any]:
    """All parameters of ``notebook`` under ``profile`` (a deep copy, safe to modify)."""
    check_profile(profile)
    check_notebook(notebook)
    out = {"profile": profile, "label": None, **copy.deepcopy(COMMON)}
    out.update(copy.deepcopy(PARAMETERS[notebook][profile]))
    return out


def resolve(notebook: str, profile: str, **given: Any) -> dict[str, Any]:
    """Parameters for one execution: the profile's values, overridden by every non-None ``given``.

    Raises ``ValueError`` naming the parameter when ``given`` has a name the notebook does not know.
    """
    params = defaults(notebook, profile)
    allowed = set(params)
    unknown = sorted(set(given) - allowed)
    if unknown:
        raise ValueError(
            f"{notebook}: unknown parameter(s) {', '.join(unknown)}; expected some of "
            f"{', '.join(sorted(allowed))}"
        )
    for key, value in given.items():
        if value is not None:
            params[key] = value
    return params


def parameter_sets(notebook: str, profile: str) -> list[dict[str, Any]]:
    """The executions of ``notebook`` under ``profile``: a list of full parameter dicts.

    A notebook that runs once gives one set with label None; a repeated notebook gives one set
    per entry of ``REPEATS`` (each with its ``label``, e.g. the variant or backbone name).
    """
    repeats = REPEATS.get(notebook, {}).get(check_profile(profile))
    if not repeats:
        return [{**defaults(notebook, profile), "label": None}]
    sets = []
    for entry in repeats:
        entry = dict(entry)
        label = entry.pop("label", None)
        if not label:
            raise ValueError(f"profiles.REPEATS[{notebook!r}][{profile!r}] entry {entry} has no 'label'")
        sets.append({**resolve(notebook, profile, **entry), "label": label})
    return sets
