"""Plots the notebooks share: training curves, confusion matrices, class balance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["plot_history", "plot_confusion_matrix", "plot_class_counts", "plot_curves", "image_grid"]

METRIC_LABELS = {"loss": "loss", "accuracy": "accuracy", "acc": "accuracy", "auc": "AUC"}


def _plt():
    import matplotlib.pyplot as plt

    return plt


def _as_columns(history) -> dict[str, np.ndarray]:
    """Keras History, dict of lists or DataFrame -> dict of arrays."""
    if hasattr(history, "history") and isinstance(history.history, Mapping):
        history = history.history
    if hasattr(history, "to_dict") and hasattr(history, "columns"):
        return {c: np.asarray(history[c], dtype=float) for c in history.columns}
    if isinstance(history, Mapping):
        return {k: np.asarray(v, dtype=float) for k, v in history.items()}
    raise TypeError(f"history must be a Keras History, a dict or a DataFrame, got {type(history).__name__}")


def plot_history(history, metrics: Sequence[str] = ("loss", "accuracy"), title: str | None = None,
                 figsize: tuple[float, float] | None = None):
    """Train and validation curves of each metric on ONE axes per metric.

    Parameters
    ----------
    history : keras History, dict or DataFrame
        Columns named as Keras names them: ``loss``, ``val_loss``, ``accuracy``, ``val_accuracy``.
    metrics : sequence of str
        Metrics to draw; a metric missing from ``history`` raises a ValueError naming it.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    cols = _as_columns(history)
    missing = [m for m in metrics if m not in cols]
    if missing:
        raise ValueError(f"history has no column(s) {missing}; it has {sorted(cols)}")
    plt = _plt()
    fig, axes = plt.subplots(1, len(metrics), figsize=figsize or (5.2 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        train = cols[metric]
        epochs = np.arange(1, len(train) + 1)
        ax.plot(epochs, train, "o-", ms=3, label=f"train {METRIC_LABELS.get(metric, metric)}")
        if f"val_{metric}" in cols:
            ax.plot(epochs, cols[f"val_{metric}"], "s--", ms=3,
                    label=f"validation {METRIC_LABELS.get(metric, metric)}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(METRIC_LABELS.get(metric, metric))
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion_matrix(y_true, y_pred, class_names: Sequence[str], normalize: str | None = None,
                          title: str | None = None, ax=None):
    """Confusion matrix as an annotated heatmap (rows = true class, columns = predicted).

    ``normalize`` is passed to :func:`sklearn.metrics.confusion_matrix` (None, 'true', 'pred', 'all').
    Returns the Figure.
    """
    from sklearn.metrics import confusion_matrix

    labels = np.arange(len(class_names))
    cm = confusion_matrix(y_true, y_pred, labels=labels, normalize=normalize)
    plt = _plt()
    if ax is None:
        size = max(3.5, 0.8 * len(class_names) + 2)
        fig, ax = plt.subplots(figsize=(size + 1, size))
    else:
        fig = ax.figure
    im = ax.imshow(cm, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fmt = ".2f" if normalize else "d"
    thresh = cm.max() / 2 if cm.size else 0
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, format(cm[i, j], fmt), ha="center", va="center",
                    color="white" if cm[i, j] > thresh else "black", fontsize=9)
    ax.set_xticks(labels, class_names, rotation=35, ha="right")
    ax.set_yticks(labels, class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_class_counts(counts, title: str | None = None, log: bool = False, ax=None):
    """Bar plot of class counts: a Series (one bar per class) or a DataFrame (one group per column)."""
    import pandas as pd

    if isinstance(counts, Mapping):
        counts = pd.Series(counts)
    plt = _plt()
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 3.6))
    else:
        fig = ax.figure
    frame = counts.to_frame("count") if isinstance(counts, pd.Series) else counts
    frame.plot.bar(ax=ax, rot=30, logy=log, legend=frame.shape[1] > 1)
    for container in ax.containers:
        ax.bar_label(container, fontsize=8)
    ax.set_ylabel("rows" if not log else "rows (log scale)")
    ax.grid(axis="y", alpha=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_curves(curves: Mapping[str, Sequence[float]], ylabel: str, title: str | None = None,
                xlabel: str = "epoch", bands: Mapping[str, Sequence[float]] | None = None, ax=None):
    """One line per variant (e.g. validation accuracy per epoch); optional ±SD ``bands``."""
    plt = _plt()
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4))
    else:
        fig = ax.figure
    for label, values in curves.items():
        values = np.asarray(values, dtype=float)
        x = np.arange(1, len(values) + 1)
        (line,) = ax.plot(x, values, "o-", ms=3, label=str(label))
        if bands and label in bands:
            sd = np.asarray(bands[label], dtype=float)
            ax.fill_between(x, values - sd, values + sd, alpha=0.15, color=line.get_color())
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def image_grid(images, titles: Sequence[str] | None = None, ncols: int = 6, size: float = 2.0,
               title: str | None = None):
    """A grid of images (uint8 or float in [0, 1]) with optional titles."""
    images = list(images)
    if not images:
        raise ValueError("image_grid needs at least one image")
    plt = _plt()
    ncols = min(ncols, len(images))
    nrows = int(np.ceil(len(images) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            img = np.asarray(images[i])
            if img.dtype != np.uint8:
                img = np.clip(img, 0, 1)
            ax.imshow(img)
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
