"""Run profiles: ``smoke`` (tests and CI: each notebook well under a minute on 2 CPU cores), ``demo`` (the README's
command: minutes on 2 CPU cores) and ``full`` (the brief's settings, for a GPU/Colab). ``PARAMETERS[notebook][profile]``
holds every parameter of a notebook (``COMMON`` is added to all); ``REPEATS[notebook][profile]`` lists the labelled
parameter sets the runner executes one by one."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

from helpers import runs

__all__ = ["PROFILES", "NOTEBOOKS", "PARAMETERS", "REPEATS", "resolve", "parameter_sets", "check_profile"]

PROFILES = ("smoke", "demo", "full")
NOTEBOOKS = ("00_primer", "01_breathing_eda", "02_upsampling", "03_gridsearch", "04_synthesize_retrain",
             "05_banana_transfer", "06_gradcam", "07_cnn_architecture", "08_imbalanced_training", "09_results_report")
# run_dir None: the profile's current run (helpers.runs.current_run); "new": start a new run.
COMMON: dict[str, Any] = {"seed": 42, "run_dir": None}
# Tabular notebooks read `data_path` (None = embedded breathing data); image notebooks `data_dir`.
TABULAR_NOTEBOOKS = ("01_breathing_eda", "02_upsampling", "03_gridsearch", "04_synthesize_retrain")
IMAGE_NOTEBOOKS = ("05_banana_transfer", "06_gradcam", "07_cnn_architecture", "08_imbalanced_training")


class _Each(tuple):
    """A parameter's (smoke, demo, full) values."""


def _each(smoke: Any, demo: Any, full: Any) -> _Each:
    return _Each((smoke, demo, full))


def _profiles(**params: Any) -> dict[str, dict[str, Any]]:
    """``{profile: parameters}``: an :func:`_each` value differs by profile, any other is the same in all."""
    return {p: {k: v[i] if isinstance(v, _Each) else v for k, v in params.items()} for i, p in enumerate(PROFILES)}


def _tabular(fraction: _Each) -> dict[str, Any]:
    return {"data_path": None, "data_fraction": fraction, "label_column": "labels", "test_size": 0.2}


_VARIANTS = ["original", "up", "down", "updown"]  # the brief's original, UP, DOWN, UP & DOWN
_ALL_BACKBONES = ["VGG16", "ResNet50V2", "Xception", "InceptionV3"]
# difficulty: the embedded bananas' nuisances (helpers.data.bananas.draw_banana), 1 = the hardest; 0.4 lets a
# small CNN trained on 2 CPU cores for minutes tell the varieties apart (notebook 07's best family >= 0.85).
_IMAGES = {"data_dir": None, "max_per_class": None, "test_size": 0.3, "val_size": 0.3,
           "difficulty": _each(0.4, 0.4, 1.0)}
_CNN_FAMILIES = ["depth", "feature_maps", "dense", "dropout", "advanced", "input_size"]
_ALL_ABLATION = ["baseline", "+frequency weights", "+effective-number weights", "+label smoothing (labels)",
                 "+label smoothing (loss)", "+LR step decay", "+LR polynomial decay", "+CLAHE/WB"]
_SEEDS = _each([0], [0, 1, 2], [0, 1, 2])  # the course rubric asks for 3-5 runs

PARAMETERS: dict[str, dict[str, dict[str, Any]]] = {
    "00_primer": _profiles(epochs=_each(2, 10, 20), n_samples=_each(300, 1000, 2000), folds=_each(3, 5, 5)),
    "01_breathing_eda": _profiles(**_tabular(_each(0.05, 1.0, 1.0))),
    "02_upsampling": _profiles(**_tabular(_each(0.05, 1.0, 1.0)), method="random"),
    "03_gridsearch": _profiles(
        **_tabular(_each(0.03, 0.2, 1.0)), variants=_VARIANTS, delta=0.01, labels=None, cv=_each(2, 3, 3),
        scoring="average_precision", engine=_each("sklearn", "fast", "fast"), val_size=0.2, backend="local",
        n_jobs=1, scheduler_address=None,
        param_grid=_each({"epochs": [2], "batch_size": [64], "model__neurons": [30]},
                         {"epochs": [8], "batch_size": [64], "model__neurons": [30, 60]},
                         {"epochs": [15, 20], "batch_size": [16, 32, 64], "model__dropout": [0.2, 0.3],
                          "model__kernel_initializer": ["glorot_uniform", "he_uniform"], "model__neurons": [30, 60]})),
    # 04: epochs, batch_size, neurons, dropout, learning_rate only where 03's grid did not search them (04 takes
    # 03's best values; smoke: epochs 3 vs the grid's 2, so the tests see which one 04 used).
    "04_synthesize_retrain": _profiles(
        **_tabular(_each(0.03, 0.2, 1.0)), variants=_VARIANTS, threshold="auto", k_neighbors=5, jitter=0.01,
        max_rounds=10, val_size=0.15, seeds=_each([0, 1, 2], [0, 1, 2], [0, 1, 2, 3, 4]), epochs=_each(3, 15, 20),
        batch_size=_each(64, 64, 32), neurons=_each(30, 60, 60), dropout=0.2, learning_rate=0.001),
    # 05: smoke/demo use small images on a CPU, full the brief's 224 px. weights="auto": ImageNet where it is
    # cached or can be downloaded, else random initialisation, announced by the notebook and the report.
    "05_banana_transfer": _profiles(
        **_IMAGES, modes=["frozen", "finetune"], dropout=0.3, learning_rate=1e-3, feature_cache=True,
        augment=_each(False, False, True),  # both modes alike; without it the frozen base's features are cached
        weights="auto", mixed_precision=False, backbones=_each(["VGG16"], _ALL_BACKBONES, _ALL_BACKBONES),
        image_size=_each(32, 64, 224), n_per_class=_each(10, 60, 200), epochs=_each(1, 30, 30),
        fine_tune_epochs=_each(1, 3, 30), seeds=_SEEDS, batch_size=_each(16, 32, 32),
        fine_tune_learning_rate=_each(1e-4, 1e-4, 1e-5)),
    "06_gradcam": _profiles(n_images=_each(2, 4, 6), backbones=None, alpha=0.4),
    # 07: from-scratch CNN families; custom_specs: a student's own spec strings (a "custom" family);
    # class_subset: e.g. two class names for the binary (sigmoid) case.
    "07_cnn_architecture": _profiles(
        **_IMAGES, custom_specs=[], class_subset=None, learning_rate=1e-3, lr_schedule="exponential",
        strategy="auto", mixed_precision=False, n_per_class=_each(20, 300, 200), image_size=_each(32, 32, 64),
        input_sizes=_each([16, 24], [16, 24, 32, 48], [32, 48, 64, 96]),
        families=_each(["depth", "input_size"], _CNN_FAMILIES, _CNN_FAMILIES), seeds=_SEEDS, epochs=_each(1, 12, 30),
        batch_size=_each(16, 16, 32)),
    # 08: long-tailed train split in HDF5, ResNet ablation (one technique at a time).
    "08_imbalanced_training": _profiles(
        **_IMAGES, beta=0.99, smoothing=0.1, smoothing_sweep=_each([0.2], [0.2, 0.1, 0.01], [0.2, 0.1, 0.01]),
        polynomial_power=2.5, tail_fraction=1 / 3, learning_rate=1e-3,
        strategy="auto", mixed_precision=False, n_per_class=_each(30, 600, 200), image_size=_each(24, 32, 64),
        imbalance_ratio=_each(5.0, 10.0, 10.0), variants=_each(["baseline", "+effective-number weights"],
                                                               _ALL_ABLATION, _ALL_ABLATION),
        seeds=_SEEDS, epochs=_each(1, 15, 40), batch_size=_each(16, 16, 32), blocks_per_stage=_each(1, 1, 3),
        base_filters=_each(8, 16, 16)),
    "09_results_report": _profiles(show_figures=True),
}

# The runner executes 03 once per variant and 05 once per backbone (alone, they do all) so that --jobs runs them in
# parallel. smoke: VGG16 only (InceptionV3/Xception take ~1 min on 2 CPU cores; tests/unit/test_backbones.py checks all).
REPEATS: dict[str, dict[str, list[dict[str, Any]]]] = {
    "03_gridsearch": {p: [{"label": v, "variants": [v]} for v in _VARIANTS] for p in PROFILES},
    "05_banana_transfer": {p: [{"label": b, "backbones": [b]} for b in (["VGG16"] if p == "smoke" else _ALL_BACKBONES)]
                           for p in PROFILES},
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
        raise ValueError(f"unknown notebook {notebook!r}; expected one of {', '.join(sorted(PARAMETERS))}")
    return notebook


def defaults(notebook: str, profile: str) -> dict[str, Any]:
    """All parameters of ``notebook`` under ``profile`` (a deep copy, safe to modify)."""
    check_profile(profile)
    return copy.deepcopy({"profile": profile, "label": None, **COMMON, **PARAMETERS[check_notebook(notebook)][profile]})


def resolve(notebook: str, profile: str, **given: Any) -> dict[str, Any]:
    """Parameters for one execution: the profile's values, overridden by every non-None ``given``; a ``given``
    name the notebook does not know raises ``ValueError`` naming it."""
    params = defaults(notebook, profile)
    if unknown := sorted(set(given) - set(params)):
        raise ValueError(f"{notebook}: unknown parameter(s) {', '.join(unknown)}; expected some of "
                         f"{', '.join(sorted(params))}")
    return {**params, **{k: v for k, v in given.items() if v is not None}}


def parameter_sets(notebook: str, profile: str) -> list[dict[str, Any]]:
    """The executions of ``notebook`` under ``profile``: one full parameter dict each, with its ``label``
    (None for a notebook that runs once, else the ``REPEATS`` entry's label, e.g. the variant or backbone)."""
    repeats = REPEATS.get(notebook, {}).get(check_profile(profile))
    if not repeats:
        return [{**defaults(notebook, profile), "label": None}]
    if any(not entry.get("label") for entry in repeats):
        raise ValueError(f"profiles.REPEATS[{notebook!r}][{profile!r}]: every entry needs a 'label'")
    return [{**resolve(notebook, profile, **{k: v for k, v in e.items() if k != "label"}), "label": e["label"]}
            for e in repeats]
