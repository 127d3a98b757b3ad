"""Oversampling every class to the majority count (imbalanced-learn) and the brief's table.

The brief prints, for the whole breathing dataset::

    normal        19060 + 0      = 19060
    quick          2667 + 16393  = 19060
    ...

:func:`oversample_to_majority` does the resampling with imbalanced-learn's ``RandomOverSampler``
(or ``SMOTE``); :func:`upsampling_table` counts original, added and total rows per class and
:func:`format_upsampling_table` prints them in the brief's style. Only a TRAINING split is ever
resampled; the test split keeps the original class distribution.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["METHODS", "oversample_to_majority", "upsampling_table", "format_upsampling_table"]

METHODS = ("random", "smote")


def oversample_to_majority(X, y, seed: int = 0, method: str = "random"):
    """Oversample every minority class up to the majority class count.

    Parameters
    ----------
    X : array-like, shape (n_rows, n_features)
        Features.
    y : array-like, shape (n_rows,)
        Class labels.
    seed : int
        Random seed of the sampler.
    method : {"random", "smote"}
        ``"random"``: duplicate randomly chosen rows (``RandomOverSampler``); ``"smote"``: interpolate
        new rows between nearest neighbours of the same class (``SMOTE``, needs >= 2 rows per class).

    Returns
    -------
    (numpy.ndarray, numpy.ndarray)
        ``X_resampled``, ``y_resampled``: the original rows first, then the added ones.
    """
    from imblearn.over_sampling import SMOTE, RandomOverSampler

    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2:
        raise ValueError(f"X must be a 2-D array (rows x features), got shape {X.shape}")
    if len(X) != len(y):
        raise ValueError(f"X has {len(X)} rows but y has {len(y)} labels; expected the same number")
    labels, counts = np.unique(y, return_counts=True)
    if len(labels) < 2:
        raise ValueError(f"y has {len(labels)} class(es); expected at least 2 to oversample")
    if method == "random":
        sampler = RandomOverSampler(sampling_strategy="not majority", random_state=seed)
    elif method == "smote":
        smallest = int(counts.min())
        if smallest < 2:
            raise ValueError(f"method='smote' needs at least 2 rows per class; class "
                             f"{str(labels[counts.argmin()])!r} has {smallest}")
        sampler = SMOTE(sampling_strategy="not majority", random_state=seed,
                        k_neighbors=min(5, smallest - 1))
    else:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    X_res, y_res = sampler.fit_resample(X, y)
    return np.asarray(X_res, dtype=X.dtype), np.asarray(y_res)


def upsampling_table(y, y_resampled=None) -> pd.DataFrame:
    """Rows per class before and after oversampling.

    Parameters
    ----------
    y : array-like
        Labels before resampling.
    y_resampled : array-like, optional
        Labels after resampling; None means "every class brought to the majority count".

    Returns
    -------
    pandas.DataFrame
        Columns ``label``, ``original``, ``added``, ``total``, largest original class first
        (ties by label).
    """
    original = pd.Series(np.asarray(y)).value_counts()
    if len(original) == 0:
        raise ValueError("y is empty; expected at least one label")
    if y_resampled is None:
        total = pd.Series(int(original.max()), index=original.index)
    else:
        total = pd.Series(np.asarray(y_resampled)).value_counts()
        unknown = sorted(str(k) for k in set(total.index) - set(original.index))
        if unknown:
            raise ValueError(f"y_resampled has class(es) {unknown} that y does not have")
        total = total.reindex(original.index, fill_value=0)
        shrunk = [str(k) for k in original.index if total[k] < original[k]]
        if shrunk:
            raise ValueError(f"y_resampled has fewer rows than y for class(es) {shrunk}; "
                             "expected oversampling (counts only grow)")
    table = pd.DataFrame({
        "label": original.index.astype(str),
        "original": original.to_numpy(dtype=int),
        "added": (total - original).to_numpy(dtype=int),
        "total": total.to_numpy(dtype=int),
    })
    table = table.sort_values("label", kind="stable").sort_values("original", ascending=False, kind="stable")
    return table.reset_index(drop=True)


def format_upsampling_table(table: pd.DataFrame, title: str | None = "LABELS:") -> str:
    """The table as text in the brief's style: ``label  original + added = total`` per line.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`upsampling_table` (columns label, original, added, total).
    title : str, optional
        First line (None for none).

    Returns
    -------
    str
    """
    missing = [c for c in ("label", "original", "added", "total") if c not in table.columns]
    if missing:
        raise ValueError(f"table lacks column(s) {missing}; expected the output of upsampling_table")
    w_label = max(len(str(v)) for v in table["label"]) + 2
    w_orig = max(len(str(v)) for v in table["original"])
    w_added = max(len(str(v)) for v in table["added"])
    lines = [title] if title else []
    for row in table.itertuples(index=False):
        lines.append(f"{row.label:<{w_label}}{row.original:>{w_orig}} + {row.added:<{w_added}} = {row.total}")
    return "\n".join(lines)
