"""Shift augmentation (the brief's UP / DOWN / UP & DOWN variants), applied inside training folds only.

The brief's grid search compares four versions of each label's training data:

* ``original`` -- the rows as they are;
* ``up``       -- the rows plus a copy with every feature shifted by ``+delta``;
* ``down``     -- the rows plus a copy shifted by ``-delta``;
* ``updown``   -- the rows plus both shifted copies (three times the rows).

The copies must only ever be added to data a model is *trained* on. :func:`make_shift_sampler`
wraps :func:`shift_augment` in an imbalanced-learn ``FunctionSampler``; inside an imbalanced-learn
``Pipeline`` a sampler runs during ``fit`` only, so a validation fold or the test split is never
augmented and no shifted copy of a validation row can reach training.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["VARIANTS", "check_variant", "check_delta", "shift_augment", "make_shift_sampler",
           "augmentation_factor"]

VARIANTS = ("original", "up", "down", "updown")

_SHIFTS = {"original": (), "up": (1.0,), "down": (-1.0,), "updown": (1.0, -1.0)}


def check_variant(variant: str) -> str:
    """Return ``variant`` if it is one of :data:`VARIANTS`, else raise a ``ValueError`` naming them."""
    if not isinstance(variant, str) or variant not in VARIANTS:
        raise ValueError(
            f"variant must be one of {', '.join(VARIANTS)}; got {variant!r}"
        )
    return variant


def check_delta(delta) -> float:
    """Return ``delta`` as a float if it is a finite, non-negative number, else raise ``ValueError``."""
    if isinstance(delta, bool) or not isinstance(delta, numbers.Real) or not np.isfinite(delta) or delta < 0:
        raise ValueError(
            f"delta must be a finite non-negative number (e.g. 0.01), got {delta!r} "
            f"of type {type(delta).__name__}"
        )
    return float(delta)


def augmentation_factor(variant: str) -> int:
    """How many times the rows a variant's training data has (1, 2, 2 or 3)."""
    return 1 + len(_SHIFTS[check_variant(variant)])


def shift_augment(X, y, variant: str = "original", delta: float = 0.01):
    """Add shifted copies of the rows ``X`` (every feature +/- ``delta``) with the same labels.

    Parameters
    ----------
    X : array-like, shape (n_rows, n_features)
        Numeric features.
    y : array-like, shape (n_rows,)
        Labels (copied unchanged for the shifted rows).
    variant : {"original", "up", "down", "updown"}
        ``original`` returns the data unchanged; ``up`` appends ``X + delta``; ``down`` appends
        ``X - delta``; ``updown`` appends both (first ``+delta``, then ``-delta``).
    delta : float
        The shift, a finite non-negative number (0.01 in the brief).

    Returns
    -------
    (X_aug, y_aug) : tuple of numpy arrays
        ``X_aug`` has the dtype of ``X`` (float32 stays float32); the original rows come first.
    """
    check_variant(variant)
    delta = check_delta(delta)
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array (rows x features), got shape {X.shape}")
    if len(X) != len(y):
        raise ValueError(f"X and y must have the same number of rows, got {len(X)} and {len(y)}")
    if not np.issubdtype(X.dtype, np.number):
        raise ValueError(f"X must be numeric, got dtype {X.dtype}")
    if not np.issubdtype(X.dtype, np.floating):
        X = X.astype(np.float32)
    shifts = _SHIFTS[variant]
    if not shifts:
        return X, y
    parts = [X] + [(X + sign * delta).astype(X.dtype, copy=False) for sign in shifts]
    return np.concatenate(parts, axis=0), np.concatenate([y] * (1 + len(shifts)), axis=0)


def make_shift_sampler(variant: str = "original", delta: float = 0.01):
    """An imbalanced-learn ``FunctionSampler`` that applies :func:`shift_augment` at fit time only.

    Parameters
    ----------
    variant : {"original", "up", "down", "updown"}
    delta : float

    Returns
    -------
    imblearn.FunctionSampler
        Put it first in an ``imblearn.pipeline.Pipeline``; at ``predict`` time it is skipped.
    """
    from imblearn import FunctionSampler

    check_variant(variant)
    delta = check_delta(delta)
    return FunctionSampler(func=shift_augment, kw_args={"variant": variant, "delta": delta},
                           validate=False)
