"""Metrics, mean±SD across seeds and fair inference timing."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from helpers.data.images import make_dataset

__all__ = [
    "classification_metrics",
    "classification_report_frame",
    "summarize_mean_sd",
    "format_mean_sd",
    "inference_time_per_sample",
    "device_name",
]


def _check_same_length(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape[0] != y_pred.shape[0]:
        raise ValueError(f"y_true has {y_true.shape[0]} labels but y_pred has {y_pred.shape[0]}")
    if y_true.shape[0] == 0:
        raise ValueError("cannot compute metrics on zero samples")
    return y_true, y_pred


def classification_metrics(y_true, y_pred, class_names: Sequence[str] | None = None) -> dict:
    """Accuracy, macro-F1, balanced accuracy and per-class precision/recall/F1.

    Parameters
    ----------
    y_true, y_pred : array-like of int
        Class indices (0 .. n_classes-1).
    class_names : sequence of str, optional
        Names for the per-class entries (default: the indices as strings).

    Returns
    -------
    dict
        ``accuracy``, ``macro_f1``, ``balanced_accuracy`` and ``per_class`` =
        {name: {precision, recall, f1, support}}.
    """
    from sklearn.metrics import (
        accuracy_score,
        balanced_accuracy_score,
        f1_score,
        precision_recall_fscore_support,
    )

    y_true, y_pred = _check_same_length(y_true, y_pred)
    n = len(class_names) if class_names is not None else int(max(y_true.max(), y_pred.max())) + 1
    labels = np.arange(n)
    names = list(class_names) if class_names is not None else [str(i) for i in labels]
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
        "per_class": {
            names[i]: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i in range(n)
        },
    }


def classification_report_frame(y_true, y_pred, class_names: Sequence[str], split: str = "test"):
    """Per-class precision/recall/F1/support plus macro and weighted averages, as a DataFrame.

    The ``split`` column says which data the numbers come from.
    """
    import pandas as pd
    from sklearn.metrics import classification_report

    y_true, y_pred = _check_same_length(y_true, y_pred)
    report = classification_report(y_true, y_pred, labels=np.arange(len(class_names)),
                                   target_names=list(class_names), output_dict=True, zero_division=0)
    accuracy = report.pop("accuracy", None)
    frame = pd.DataFrame(report).T
    frame["support"] = frame["support"].astype(int)
    frame.index.name = "class"
    frame["split"] = split
    if accuracy is not None:
        frame.attrs["accuracy"] = accuracy
    return frame


def summarize_mean_sd(frame, by: str | Sequence[str] | None, metrics: Sequence[str]):
    """Mean, sample SD and count of ``metrics`` per group of ``by`` (typically: over seeds).

    Missing values (NaN, or text that is not a number) are left out, metric by metric.

    Returns
    -------
    DataFrame
        One row per group: the ``by`` columns, then per metric ``<m>_mean``, ``<m>_sd`` (ddof=1)
        and ``<m>_n`` (the number of values behind that mean and SD), then ``n``: the number of
        rows of the group with a value for at least one metric (the seeds that produced a result).
        With one value the SD is undefined and given as NaN, never 0; with none the mean is NaN too.
    """
    import pandas as pd

    missing = [m for m in metrics if m not in frame.columns]
    if missing:
        raise ValueError(f"summarize_mean_sd: column(s) {missing} not in the frame; it has {list(frame.columns)}")
    if by is None or (not isinstance(by, str) and len(by) == 0):
        groups = [((), frame)]
        by_cols: list[str] = []
    else:
        by_cols = [by] if isinstance(by, str) else list(by)
        groups = frame.groupby(by_cols, sort=False, dropna=False)
    rows = []
    for key, group in groups:
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(by_cols, key))
        numbers = group[list(metrics)].apply(pd.to_numeric, errors="coerce")
        for m in metrics:
            values = numbers[m].dropna().to_numpy(dtype=float)
            row[f"{m}_mean"] = float(values.mean()) if values.size else float("nan")
            row[f"{m}_sd"] = float(values.std(ddof=1)) if values.size > 1 else float("nan")
            row[f"{m}_n"] = int(values.size)
        row["n"] = int(numbers.notna().any(axis=1).sum()) if len(metrics) else len(group)
        rows.append(row)
    return pd.DataFrame(rows)


def format_mean_sd(mean: float, sd: float | None, digits: int = 3, n: int | None = None,
                   unit: str = "seed") -> str:
    """``0.912 ± 0.013``; one value (``n == 1``, or an SD that is NaN) gives ``0.912 (1 seed)``.

    ``unit`` names what was repeated (``"seed"``, ``"fold"``...). A missing mean (None, NaN) or
    ``n == 0`` gives ``n/a``.
    """
    if _missing(mean) or n == 0:
        return "n/a"
    if n == 1 or _missing(sd):
        return f"{mean:.{digits}f} (1 {unit})"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def _missing(value) -> bool:
    return value is None or (isinstance(value, (float, np.floating)) and bool(np.isnan(value)))


def device_name() -> str:
    """'GPU (<name>)' when TensorFlow sees a GPU, else 'CPU (<n> cores)'."""
    import os

    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        try:
            name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)
        except Exception:  # pragma: no cover
            name = gpus[0].name
        return f"GPU ({name})"
    return f"CPU ({os.cpu_count()} cores)"


def inference_time_per_sample(model, x, batch_size: int = 32, warmup: int = 1, repeats: int = 3) -> dict:
    """Batched inference time per sample, after warm-up, best of ``repeats`` passes over ``x``.

    Every model compared this way sees the same samples on the same device, so the numbers are
    comparable. Returns ``{"ms_per_sample", "n_samples", "batch_size", "device"}``.
    """
    x = np.asarray(x)
    if len(x) == 0:
        raise ValueError("inference_time_per_sample needs at least one sample")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(max(0, warmup)):
        model.predict(x[:batch_size], batch_size=batch_size, verbose=0)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model.predict(x, batch_size=batch_size, verbose=0)
        best = min(best, time.perf_counter() - start)
    return {"ms_per_sample": 1000.0 * best / len(x), "n_samples": int(len(x)),
            "batch_size": int(batch_size), "device": device_name()}


def predict_proba(model, x, preprocess=None, batch_size: int = 32) -> np.ndarray:
    """Class probabilities for ``x`` in batches (one ``predict`` call, never one per image)."""
    ds = make_dataset(x, None, batch_size=batch_size, preprocess=preprocess, cache=False)
    return np.asarray(model.predict(ds, verbose=0))


def evaluate_classifier(model, x, y, class_names, preprocess=None, batch_size: int = 32,
                        split: str = "test") -> dict:
    """Batched evaluation: loss (mean cross-entropy), accuracy, macro-F1, predictions.

    Returns
    -------
    dict
        ``split``, ``averaging`` ("macro over classes for macro_f1; mean over images for loss
        and accuracy"), ``n``, ``loss``, ``accuracy``, ``macro_f1``, ``balanced_accuracy``,
        ``per_class`` and ``y_pred`` / ``proba`` (NumPy arrays; drop them before writing JSON).
    """
    y = np.asarray(y)
    proba = predict_proba(model, x, preprocess=preprocess, batch_size=batch_size)
    if len(proba) != len(y):
        raise ValueError(f"model gave {len(proba)} predictions for {len(y)} labels")
    y_pred = proba.argmax(axis=1)
    loss = float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], 1e-7, 1.0))))
    metrics = classification_metrics(y, y_pred, class_names)
    return {"split": split, "averaging": "loss/accuracy: mean over images; macro_f1: unweighted mean over classes",
            "n": int(len(y)), "loss": loss, **metrics, "y_pred": y_pred, "proba": proba}
