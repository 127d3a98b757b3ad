"""The grid-search pieces both engines share (:mod:`~helpers.training.search` fits one model at a time,
:mod:`~helpers.training.fast_search` many at once): the grid, stratified folds, the one-vs-rest target,
fold scores, the ``cv_results_`` table, the refit split and the digests that key stored fits."""

from __future__ import annotations

import hashlib
import json
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["METRICS", "DEFAULT_SCORING", "GRID_KEYS", "brief_param_grid", "check_param_grid", "n_combinations",
           "grid_combinations", "make_cv", "ovr_target", "check_min_rows", "score_binary", "rank",
           "assemble_cv_results", "check_xy", "check_cv", "check_choice", "refit_split", "array_digest",
           "json_digest"]

# Scores of every validation fold; the default primary score, average precision, ignores the easy true
# negatives that flatter accuracy when a one-vs-rest label has 3-10 % of the rows.
METRICS = ("average_precision", "f1", "accuracy")
DEFAULT_SCORING = "average_precision"
# Grid keys the search understands (scikeras routing: ``model__`` goes to build_mlp).
GRID_KEYS = ("epochs", "batch_size", "model__neurons", "model__dropout", "model__kernel_initializer",
             "model__learning_rate", "optimizer")


def brief_param_grid() -> dict[str, list]:
    """The brief's grid: 2 x 3 x 2 x 2 x 2 = 48 combinations (optimizer Adam throughout)."""
    return {"epochs": [15, 20], "batch_size": [16, 32, 64], "model__dropout": [0.2, 0.3],
            "model__kernel_initializer": ["glorot_uniform", "he_uniform"], "model__neurons": [30, 60]}


def check_param_grid(grid: Mapping[str, Sequence]) -> dict[str, list]:
    """Validate a parameter grid (keys from :data:`GRID_KEYS`, non-empty lists); return it as a dict of lists."""
    if not isinstance(grid, Mapping) or not grid:
        raise ValueError(f"param_grid must be a non-empty dict of lists with keys from "
                         f"{', '.join(GRID_KEYS)}; got {grid!r}")
    for key, values in grid.items():
        if key not in GRID_KEYS:
            raise ValueError(f"param_grid has an unknown parameter {key!r}; allowed keys: {', '.join(GRID_KEYS)}")
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or len(values) == 0:
            raise ValueError(f"param_grid[{key!r}] must be a non-empty list of values, got {values!r}")
        if key == "optimizer" and any(str(v).lower() != "adam" for v in values):
            raise ValueError(f"param_grid['optimizer'] supports only 'adam' (the brief's optimizer), got {values!r}")
    return {key: list(values) for key, values in grid.items()}


def n_combinations(grid: Mapping[str, Sequence]) -> int:
    """Number of combinations of a grid."""
    return math.prod(len(v) for v in check_param_grid(grid).values())


def grid_combinations(grid: Mapping[str, Sequence]) -> list[dict]:
    """All combinations, in scikit-learn's ``ParameterGrid`` order (keys sorted)."""
    from sklearn.model_selection import ParameterGrid

    return list(ParameterGrid(check_param_grid(grid)))


def check_choice(name: str, value, allowed: Sequence) -> None:
    """Raise ``ValueError("<name> must be one of ...; got ...")`` unless ``value`` is in ``allowed``."""
    if value not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def make_cv(n_splits: int = 3, seed: int = 0):
    """``StratifiedKFold(n_splits, shuffle=True, random_state=seed)`` (never plain KFold)."""
    from sklearn.model_selection import StratifiedKFold

    if isinstance(n_splits, bool) or not isinstance(n_splits, numbers.Integral) or n_splits < 2:
        raise ValueError(f"cv (number of folds) must be an integer >= 2, got {n_splits!r}")
    return StratifiedKFold(n_splits=int(n_splits), shuffle=True, random_state=seed)


def check_cv(cv, seed: int):
    """A splitter from ``cv``: None (3 folds) or a number of folds gives :func:`make_cv`; a splitter is kept."""
    if cv is None or (isinstance(cv, numbers.Integral) and not isinstance(cv, bool)):
        return make_cv(3 if cv is None else int(cv), seed)
    if not hasattr(cv, "split") or not hasattr(cv, "get_n_splits"):
        raise ValueError(f"cv must be a number of folds (>= 2) or a splitter such as StratifiedKFold, got {cv!r}")
    return cv


def ovr_target(y, label) -> np.ndarray:
    """One-vs-rest target: 1 where ``y == label``, else 0; a ``label`` absent from ``y`` raises ``ValueError``."""
    hits = np.asarray(y) == label
    if not hits.any():
        raise ValueError(f"label {label!r} does not occur in y; labels present: "
                         f"{', '.join(map(str, sorted(set(np.asarray(y).tolist()))))}")
    return hits.astype(np.int64)


def check_min_rows(y_binary, n_splits: int, label=None) -> None:
    """Raise a clear ``ValueError`` when either class of a one-vs-rest target has fewer rows than folds."""
    pos = int((np.asarray(y_binary) == 1).sum())
    neg = int((np.asarray(y_binary) == 0).sum())
    if pos < n_splits or neg < n_splits:
        name = f"label {label!r}" if label is not None else "the positive class"
        raise ValueError(f"{name} has {pos} rows (and the rest {neg}) in the training split, fewer than the "
                         f"cv={n_splits} folds; use fewer folds (cv >= 2), more data, or leave the label out "
                         f"via the labels parameter")


def check_xy(X, y) -> tuple[np.ndarray, np.ndarray]:
    """``X`` as a 2-D float32 array and ``y`` as a 0/1 int64 target of the same length, or a ``ValueError``."""
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2 or not np.issubdtype(X.dtype, np.number):
        raise ValueError(f"X must be a 2-D numeric array, got shape {X.shape} and dtype {X.dtype}")
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same number of rows, got {len(X)} and {len(y)}")
    if not set(np.unique(y).tolist()) <= {0, 1}:
        raise ValueError(f"y must be a one-vs-rest 0/1 target (see ovr_target), got values "
                         f"{sorted(set(np.unique(y).tolist()))}")
    return X.astype(np.float32, copy=False), y.astype(np.int64, copy=False)


def score_binary(y_true, proba, threshold: float = 0.5) -> dict[str, float]:
    """Scores of one-vs-rest predictions (positive-class probabilities, or 2-column ``predict_proba``) on one
    split: ``average_precision`` (NaN without positive rows), ``f1`` (0 when nothing is predicted positive)
    and ``accuracy``, F1 and accuracy at ``threshold``."""
    from sklearn.metrics import accuracy_score, average_precision_score, f1_score

    y_true = np.asarray(y_true).astype(int)
    proba = np.asarray(proba, dtype=float)
    proba = proba[:, -1] if proba.ndim == 2 else proba
    if len(proba) != len(y_true):
        raise ValueError(f"y_true and proba must have the same length, got {len(y_true)} and {len(proba)}")
    pred = (proba >= threshold).astype(int)
    return {"average_precision": float(average_precision_score(y_true, proba)) if y_true.any() else float("nan"),
            "f1": float(f1_score(y_true, pred, zero_division=0)), "accuracy": float(accuracy_score(y_true, pred))}


def rank(values: np.ndarray) -> np.ndarray:
    """Ranks, best (highest) first, ties sharing the lowest rank; NaN ranks last."""
    order = -np.where(np.isnan(values), -np.inf, values)
    return (np.searchsorted(np.sort(order), order, side="left") + 1).astype(np.int32)


def assemble_cv_results(combos: list[dict], fold_results: list[list[dict]], metrics=METRICS) -> dict:
    """``GridSearchCV.cv_results_`` from ``fold_results[combination][fold]`` (``scores``, ``fit_time``,
    ``score_time``): parameters, per-split scores, their mean, SD and rank, and the times."""
    out: dict[str, Any] = {"params": [dict(c) for c in combos]}
    for name in sorted({k for c in combos for k in c}):
        out[f"param_{name}"] = np.array([c.get(name) for c in combos], dtype=object)
    for metric in metrics:
        per_split = np.array([[f["scores"][metric] for f in fr] for fr in fold_results], dtype=float)
        for k in range(per_split.shape[1]):
            out[f"split{k}_test_{metric}"] = per_split[:, k]
        with np.errstate(all="ignore"):
            out[f"mean_test_{metric}"] = np.nanmean(per_split, axis=1)
            out[f"std_test_{metric}"] = np.nanstd(per_split, axis=1)
        out[f"rank_test_{metric}"] = rank(out[f"mean_test_{metric}"])
    for name in ("fit_time", "score_time"):
        times = np.array([[f[name] for f in fr] for fr in fold_results], dtype=float)
        out[f"mean_{name}"], out[f"std_{name}"] = times.mean(axis=1), times.std(axis=1)
    return out


def refit_split(y, val_size: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (refit-train, held-out validation), stratified; no validation rows when ``val_size`` is 0."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(y))
    if not (val_size and val_size > 0):
        return rows, rows[:0]
    idx_train, idx_val = train_test_split(rows, test_size=val_size, stratify=y, random_state=seed)
    return idx_train, idx_val


def array_digest(*arrays, typed: bool = True) -> str:
    """A short SHA-1 of arrays' bytes (with ``typed``, of their shapes and dtypes too)."""
    h = hashlib.sha1()
    for a in map(np.ascontiguousarray, arrays):
        h.update(str(a.shape).encode() + str(a.dtype).encode() if typed else b"")
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def json_digest(value) -> str:
    """A short SHA-1 of ``value`` as sorted-key JSON (what names a stored fit)."""
    return hashlib.sha1(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]
