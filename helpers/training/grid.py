"""The grid-search pieces both engines share (scikeras one fit at a time in
:mod:`helpers.training.search`, the batched engine in :mod:`helpers.training.fast_search`): the grid,
stratified folds, the one-vs-rest target, fold scores and the ``cv_results_`` table."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["METRICS", "DEFAULT_SCORING", "GRID_KEYS", "brief_param_grid", "check_param_grid", "n_combinations",
           "grid_combinations", "make_cv", "ovr_target", "check_min_rows", "score_binary", "rank",
           "assemble_cv_results", "check_xy", "check_cv"]

# Scores computed for every validation fold. The first is the default primary score.
METRICS = ("average_precision", "f1", "accuracy")
# Average precision (area under the precision-recall curve of the positive class) does not
# depend on a threshold and ignores the easy true negatives that make accuracy look good when
# a one-vs-rest label has 3-10 % of the rows; F1 (threshold 0.5) and accuracy are reported too.
DEFAULT_SCORING = "average_precision"

# Grid keys the search understands (scikeras routing: ``model__`` goes to build_mlp).
GRID_KEYS = ("epochs", "batch_size", "model__neurons", "model__dropout", "model__kernel_initializer",
             "model__learning_rate", "optimizer")


def brief_param_grid() -> dict[str, list]:
    """The brief's grid: 2 x 3 x 2 x 2 x 2 = 48 combinations (optimizer Adam throughout)."""
    return {
        "epochs": [15, 20],
        "batch_size": [16, 32, 64],
        "model__dropout": [0.2, 0.3],
        "model__kernel_initializer": ["glorot_uniform", "he_uniform"],
        "model__neurons": [30, 60],
    }


def check_param_grid(grid: Mapping[str, Sequence]) -> dict[str, list]:
    """Validate a parameter grid; return it as a dict of lists.

    Raises
    ------
    ValueError
        When the grid is not a non-empty mapping, a key is not one of :data:`GRID_KEYS`
        (the message names it and the allowed keys), or a value is not a non-empty list.
    """
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError(f"param_grid must be a non-empty dict of lists with keys from "
                         f"{', '.join(GRID_KEYS)}; got {grid!r}")
    out = {}
    for key, values in grid.items():
        if key not in GRID_KEYS:
            raise ValueError(f"param_grid has an unknown parameter {key!r}; allowed keys: "
                             f"{', '.join(GRID_KEYS)}")
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
            raise ValueError(f"param_grid[{key!r}] must be a non-empty list of values, got {values!r}")
        if key == "optimizer" and any(str(v).lower() != "adam" for v in values):
            raise ValueError(f"param_grid['optimizer'] supports only 'adam' (the brief's optimizer), "
                             f"got {values!r}")
        out[key] = list(values)
    return out


def n_combinations(grid: Mapping[str, Sequence]) -> int:
    """Number of combinations of a grid."""
    return math.prod(len(v) for v in check_param_grid(grid).values())


def grid_combinations(grid: Mapping[str, Sequence]) -> list[dict]:
    """All combinations, in scikit-learn's ``ParameterGrid`` order (keys sorted)."""
    from sklearn.model_selection import ParameterGrid

    return list(ParameterGrid(check_param_grid(grid)))


# --------------------------------------------------------------------------- folds and targets
def make_cv(n_splits: int = 3, seed: int = 0):
    """``StratifiedKFold(n_splits, shuffle=True, random_state=seed)`` (never plain KFold)."""
    from sklearn.model_selection import StratifiedKFold

    if isinstance(n_splits, bool) or not isinstance(n_splits, numbers.Integral) or n_splits < 2:
        raise ValueError(f"cv (number of folds) must be an integer >= 2, got {n_splits!r}")
    return StratifiedKFold(n_splits=int(n_splits), shuffle=True, random_state=seed)


def ovr_target(y, label) -> np.ndarray:
    """One-vs-rest target: 1 where ``y == label``, else 0 (int array).

    Raises ``ValueError`` when ``label`` does not occur in ``y`` (naming the labels that do).
    """
    y = np.asarray(y)
    hits = y == label
    if not hits.any():
        raise ValueError(f"label {label!r} does not occur in y; labels present: "
                         f"{', '.join(map(str, sorted(set(y.tolist()))))}")
    return hits.astype(np.int64)


def check_min_rows(y_binary, n_splits: int, label=None) -> None:
    """Raise a clear ``ValueError`` when either class of a one-vs-rest target has fewer rows than folds."""
    y_binary = np.asarray(y_binary)
    pos, neg = int((y_binary == 1).sum()), int((y_binary == 0).sum())
    name = f"label {label!r}" if label is not None else "the positive class"
    if pos < n_splits or neg < n_splits:
        raise ValueError(
            f"{name} has {pos} rows (and the rest {neg}) in the training split, fewer than the "
            f"cv={n_splits} folds; use fewer folds (cv >= 2), more data, or leave the label out "
            f"via the labels parameter"
        )


# --------------------------------------------------------------------------- scoring
def score_binary(y_true, proba, threshold: float = 0.5) -> dict[str, float]:
    """Scores of one-vs-rest predictions on one split.

    Parameters
    ----------
    y_true : array-like of 0/1
    proba : array-like
        Probability of the positive class (1-D), or a 2-column ``predict_proba`` output.
    threshold : float
        For F1 and accuracy.

    Returns
    -------
    dict
        ``average_precision`` (NaN when the split has no positive row), ``f1`` (positive class,
        0 when nothing is predicted positive) and ``accuracy``.
    """
    from sklearn.metrics import accuracy_score, average_precision_score, f1_score

    y_true = np.asarray(y_true).astype(int)
    proba = np.asarray(proba, dtype=float)
    if proba.ndim == 2:
        proba = proba[:, -1]
    if len(proba) != len(y_true):
        raise ValueError(f"y_true and proba must have the same length, got {len(y_true)} and {len(proba)}")
    pred = (proba >= threshold).astype(int)
    ap = float(average_precision_score(y_true, proba)) if y_true.any() else float("nan")
    return {
        "average_precision": ap,
        "f1": float(f1_score(y_true, pred, zero_division=0)),
        "accuracy": float(accuracy_score(y_true, pred)),
    }


# --------------------------------------------------------------------------- the search


def rank(values: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    filled = np.where(np.isnan(values), -np.inf, values)
    return rankdata(-filled, method="min").astype(np.int32)


def assemble_cv_results(combos: list[dict], fold_results: list[list[dict]], metrics=METRICS) -> dict:
    n_splits = len(fold_results[0]) if fold_results else 0
    out: dict[str, Any] = {}
    out["params"] = [dict(c) for c in combos]
    for name in sorted({k for c in combos for k in c}):
        out[f"param_{name}"] = np.array([c.get(name) for c in combos], dtype=object)
    for metric in metrics:
        per_split = np.array([[fr[k]["scores"][metric] for k in range(n_splits)] for fr in fold_results],
                             dtype=float)
        for k in range(n_splits):
            out[f"split{k}_test_{metric}"] = per_split[:, k]
        with np.errstate(all="ignore"):
            mean = np.nanmean(per_split, axis=1) if per_split.size else np.array([])
            std = np.nanstd(per_split, axis=1) if per_split.size else np.array([])
        out[f"mean_test_{metric}"] = mean
        out[f"std_test_{metric}"] = std
        out[f"rank_test_{metric}"] = rank(mean)
    fit_times = np.array([[f["fit_time"] for f in fr] for fr in fold_results], dtype=float)
    score_times = np.array([[f["score_time"] for f in fr] for fr in fold_results], dtype=float)
    out["mean_fit_time"], out["std_fit_time"] = fit_times.mean(axis=1), fit_times.std(axis=1)
    out["mean_score_time"], out["std_score_time"] = score_times.mean(axis=1), score_times.std(axis=1)
    return out


def check_xy(X, y) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2 or not np.issubdtype(X.dtype, np.number):
        raise ValueError(f"X must be a 2-D numeric array, got shape {X.shape} and dtype {X.dtype}")
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same number of rows, got {len(X)} and {len(y)}")
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:
        raise ValueError(f"y must be a one-vs-rest 0/1 target (see ovr_target), got values {sorted(values)}")
    return X.astype(np.float32, copy=False), y.astype(np.int64, copy=False)


def check_cv(cv, seed: int):
    if cv is None:
        return make_cv(3, seed)
    if isinstance(cv, numbers.Integral) and not isinstance(cv, bool):
        return make_cv(int(cv), seed)
    if not hasattr(cv, "split") or not hasattr(cv, "get_n_splits"):
        raise ValueError(f"cv must be a number of folds (>= 2) or a splitter such as StratifiedKFold, got {cv!r}")
    return cv
