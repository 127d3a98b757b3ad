"""Classification metrics, mean ± SD over seeds, batched evaluation and fair inference timing."""

from __future__ import annotations

import timeit
from collections.abc import Sequence

import numpy as np
import pandas as pd

from helpers import env
from helpers.data.images import make_dataset

__all__ = ["classification_metrics", "classification_report_frame", "summarize_mean_sd", "format_mean_sd",
           "inference_time_per_sample", "device_name"]


def _check_same_length(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}")
    if not len(y_true):
        raise ValueError("cannot compute metrics on zero samples")
    return y_true, y_pred


def classification_metrics(y_true, y_pred, class_names: Sequence[str] | None = None) -> dict:
    """``accuracy``, ``macro_f1``, ``balanced_accuracy`` and ``per_class`` {name: {precision, recall, f1,
    support}} of integer labels; ``class_names`` default to the indices as strings."""
    from sklearn.metrics import balanced_accuracy_score, precision_recall_fscore_support

    y_true, y_pred = _check_same_length(y_true, y_pred)
    n = len(class_names) if class_names is not None else int(max(y_true.max(), y_pred.max())) + 1
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=np.arange(n), zero_division=0)
    return {"accuracy": float(np.mean(y_true == y_pred)), "macro_f1": float(f.mean()),
            "balanced_accuracy": float(balanced_accuracy_score(y_true, y_pred)),
            "per_class": {name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                                 "support": int(s[i])} for i, name in enumerate(names)}}


def classification_report_frame(y_true, y_pred, class_names: Sequence[str], split: str = "test"):
    """Per-class precision/recall/F1/support plus macro and weighted averages, as a DataFrame indexed by
    ``class``, with a ``split`` column (the data the numbers come from); ``attrs["accuracy"]``."""
    from sklearn.metrics import classification_report

    report = classification_report(*_check_same_length(y_true, y_pred), labels=np.arange(len(class_names)),
                                   target_names=list(class_names), output_dict=True, zero_division=0)
    accuracy = report.pop("accuracy", None)
    frame = pd.DataFrame(report).T.astype({"support": int}).rename_axis("class").assign(split=split)
    if accuracy is not None:
        frame.attrs["accuracy"] = accuracy
    return frame


def summarize_mean_sd(frame, by: str | Sequence[str] | None, metrics: Sequence[str]):
    """One row per group of ``by``: per metric ``<m>_mean``, ``<m>_sd`` (ddof=1; NaN for one value, never 0),
    ``<m>_n`` (values behind them; NaN and non-numbers are left out), then ``n``: rows with any value."""
    missing = [m for m in metrics if m not in frame.columns]
    if missing:
        raise ValueError(f"summarize_mean_sd: column(s) {missing} not in the frame; it has {list(frame.columns)}")
    by_cols = [by] if isinstance(by, str) else list(by or [])
    numbers = frame[list(metrics)].apply(pd.to_numeric, errors="coerce")
    groups = numbers.groupby([frame[c] for c in by_cols], sort=False, dropna=False) if by_cols else [((), numbers)]
    rows = []
    for key, group in groups:
        row = dict(zip(by_cols, key if isinstance(key, tuple) else (key,)))
        for m in metrics:
            row.update({f"{m}_mean": float(group[m].mean()), f"{m}_sd": float(group[m].std()),
                        f"{m}_n": int(group[m].count())})
        row["n"] = int(group.notna().any(axis=1).sum()) if len(metrics) else len(group)
        rows.append(row)
    return pd.DataFrame(rows)


def format_mean_sd(mean: float, sd: float | None, digits: int = 3, n: int | None = None,
                   unit: str = "seed") -> str:
    """``0.912 ± 0.013``; one value (``n == 1`` or a NaN SD) gives ``0.912 (1 seed)`` (``unit`` names what was
    repeated); a missing mean or ``n == 0`` gives ``n/a``."""
    if mean is None or pd.isna(mean) or n == 0:
        return "n/a"
    if n == 1 or sd is None or pd.isna(sd):
        return f"{mean:.{digits}f} (1 {unit})"
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def device_name() -> str:
    """'GPU (<name>)' when TensorFlow sees a GPU, else 'CPU (<n> cores)'."""
    found = env.devices()
    return f"GPU ({found['gpus'][0]})" if found["gpus"] else f"CPU ({found['cpu_count']} cores)"


def inference_time_per_sample(model, x, batch_size: int = 32, warmup: int = 1, repeats: int = 3) -> dict:
    """Batched inference ms per sample (best of ``repeats`` passes over ``x`` after ``warmup`` batches), so models
    are compared on the same samples and device: ``{"ms_per_sample", "n_samples", "batch_size", "device"}``."""
    x = np.asarray(x)
    if len(x) == 0:
        raise ValueError("inference_time_per_sample needs at least one sample")
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    for _ in range(max(0, warmup)):
        model.predict(x[:batch_size], batch_size=batch_size, verbose=0)
    best = min(timeit.repeat(lambda: model.predict(x, batch_size=batch_size, verbose=0), number=1, repeat=repeats))
    return {"ms_per_sample": 1000.0 * best / len(x), "n_samples": int(len(x)),
            "batch_size": int(batch_size), "device": device_name()}


def predict_proba(model, x, preprocess=None, batch_size: int = 32) -> np.ndarray:
    """Class probabilities for ``x`` in batches (one ``predict`` call, never one per image)."""
    ds = make_dataset(x, None, batch_size=batch_size, preprocess=preprocess, cache=False)
    return np.asarray(model.predict(ds, verbose=0))


def evaluate_classifier(model, x, y, class_names, preprocess=None, batch_size: int = 32,
                        split: str = "test") -> dict:
    """Batched evaluation: ``split``, ``averaging``, ``n``, ``loss`` (mean cross-entropy), the
    :func:`classification_metrics` and ``y_pred`` / ``proba`` arrays (drop them before writing JSON)."""
    y = np.asarray(y)
    proba = predict_proba(model, x, preprocess=preprocess, batch_size=batch_size)
    if len(proba) != len(y):
        raise ValueError(f"model gave {len(proba)} predictions for {len(y)} labels")
    y_pred = proba.argmax(axis=1)
    loss = float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], 1e-7, 1.0))))
    return {"split": split, "averaging": "loss/accuracy: mean over images; macro_f1: unweighted mean over classes",
            "n": int(len(y)), "loss": loss, **classification_metrics(y, y_pred, class_names), "y_pred": y_pred,
            "proba": proba}
