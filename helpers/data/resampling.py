"""Resampling of a training split: the brief's shift augmentation (``original``, ``up`` / ``down`` = one copy
shifted by +/- delta, ``updown`` = both) and oversampling every class to the majority count, with its table.
Only training data is ever resampled: :func:`make_shift_sampler` runs inside an imbalanced-learn ``Pipeline``
at ``fit`` only, so validation folds and the test split keep their rows and class distribution.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd

__all__ = ["VARIANTS", "METHODS", "check_variant", "check_delta", "augmentation_factor", "shift_augment",
           "make_shift_sampler", "oversample_to_majority", "upsampling_table", "format_upsampling_table"]

VARIANTS = ("original", "up", "down", "updown")
METHODS = ("random", "smote")
_SHIFTS = {"original": (), "up": (1.0,), "down": (-1.0,), "updown": (1.0, -1.0)}


def check_variant(variant: str) -> str:
    """Return ``variant`` if it is one of :data:`VARIANTS`, else raise a ``ValueError`` naming them."""
    if not isinstance(variant, str) or variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}; got {variant!r}")
    return variant


def check_delta(delta) -> float:
    """Return ``delta`` as a float if it is a finite, non-negative number, else raise ``ValueError``."""
    if isinstance(delta, bool) or not isinstance(delta, numbers.Real) or not np.isfinite(delta) or delta < 0:
        raise ValueError(f"delta must be a finite non-negative number (e.g. 0.01), got {delta!r} "
                         f"of type {type(delta).__name__}")
    return float(delta)


def augmentation_factor(variant: str) -> int:
    """How many times the rows a variant's training data has (1, 2, 2 or 3)."""
    return 1 + len(_SHIFTS[check_variant(variant)])


def _rows(X, y) -> tuple[np.ndarray, np.ndarray]:
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array (rows x features), got shape {X.shape}")
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same number of rows, got {len(X)} and {len(y)}")
    return X, y


def shift_augment(X, y, variant: str = "original", delta: float = 0.01):
    """Return ``(X_aug, y_aug)``: the rows first, then a copy with every feature ``+delta`` (up), ``-delta``
    (down) or both (updown, +delta first), labels repeated. Float dtypes are kept, integers become float32."""
    shifts = _SHIFTS[check_variant(variant)]
    delta = check_delta(delta)
    X, y = _rows(X, y)
    if not np.issubdtype(X.dtype, np.number):
        raise ValueError(f"X must be numeric, got dtype {X.dtype}")
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float32)
    parts = [X] + [(X + sign * delta).astype(X.dtype, copy=False) for sign in shifts]
    return np.concatenate(parts), np.concatenate([y] * len(parts))


def make_shift_sampler(variant: str = "original", delta: float = 0.01):
    """An imbalanced-learn ``FunctionSampler`` applying :func:`shift_augment` at fit time only: put it first
    in an ``imblearn.pipeline.Pipeline``; ``predict`` skips it."""
    from imblearn import FunctionSampler

    kw_args = {"variant": check_variant(variant), "delta": check_delta(delta)}
    return FunctionSampler(func=shift_augment, kw_args=kw_args, validate=False)


def oversample_to_majority(X, y, seed: int = 0, method: str = "random"):
    """Oversample every minority class to the majority count; returns ``(X_res, y_res)``, originals first.
    ``method="random"`` duplicates random rows (``RandomOverSampler``), ``"smote"`` interpolates between
    neighbours of the same class (``SMOTE``, needs >= 2 rows per class)."""
    from imblearn.over_sampling import SMOTE, RandomOverSampler

    X, y = _rows(X, y)
    labels, counts = np.unique(y, return_counts=True)
    if len(labels) < 2:
        raise ValueError(f"y has {len(labels)} class(es); expected at least 2 to oversample")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    smallest = int(counts.min())
    if method == "random":
        sampler = RandomOverSampler(sampling_strategy="not majority", random_state=seed)
    elif smallest < 2:
        raise ValueError(f"method='smote' needs at least 2 rows per class; class "
                         f"{str(labels[counts.argmin()])!r} has {smallest}")
    else:
        sampler = SMOTE(sampling_strategy="not majority", random_state=seed, k_neighbors=min(5, smallest - 1))
    X_res, y_res = sampler.fit_resample(X, y)
    return np.asarray(X_res, dtype=X.dtype), np.asarray(y_res)


def upsampling_table(y, y_resampled=None) -> pd.DataFrame:
    """Rows per class before and after oversampling (``y_resampled=None``: all at the majority count):
    columns ``label``, ``original``, ``added``, ``total``; largest original class first, ties by label."""
    original = pd.Series(np.asarray(y)).value_counts()
    if original.empty:
        raise ValueError("y is empty; expected at least one label")
    if y_resampled is None:
        total = pd.Series(int(original.max()), index=original.index)
    else:
        total = pd.Series(np.asarray(y_resampled)).value_counts()
        if unknown := sorted(str(k) for k in set(total.index) - set(original.index)):
            raise ValueError(f"y_resampled has class(es) {unknown} that y does not have")
        total = total.reindex(original.index, fill_value=0)
        if shrunk := [str(k) for k in original.index if total[k] < original[k]]:
            raise ValueError(f"y_resampled has fewer rows than y for class(es) {shrunk}; "
                             "expected oversampling (counts only grow)")
    table = pd.DataFrame({"label": original.index.astype(str), "original": original.to_numpy(dtype=int),
                          "added": (total - original).to_numpy(dtype=int), "total": total.to_numpy(dtype=int)})
    return table.sort_values(["original", "label"], ascending=[False, True]).reset_index(drop=True)


def format_upsampling_table(table: pd.DataFrame, title: str | None = "LABELS:") -> str:
    """The table of :func:`upsampling_table` in the brief's style, one ``label  original + added = total``
    line per class under ``title`` (None for no title line)."""
    if missing := [c for c in ("label", "original", "added", "total") if c not in table.columns]:
        raise ValueError(f"table lacks column(s) {missing}; expected the output of upsampling_table")
    w_label, w_orig, w_added = (max(len(str(v)) for v in table[c]) for c in ("label", "original", "added"))
    lines = [f"{r.label:<{w_label + 2}}{r.original:>{w_orig}} + {r.added:<{w_added}} = {r.total}"
             for r in table.itertuples(index=False)]
    return "\n".join(([title] if title else []) + lines)
