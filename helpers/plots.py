"""Plots the notebooks share: training curves, confusion matrices, class balance, image grids."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = ["history_columns", "plot_history", "plot_confusion_matrix", "plot_class_counts", "plot_curves",
           "image_grid"]

METRIC_LABELS = {"loss": "loss", "accuracy": "accuracy", "acc": "accuracy", "auc": "AUC"}


def _subplots(*args, **kwargs):
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def _finish(fig, ax=None, title: str | None = None, **labels):
    """Set the title and ``labels`` of ``ax``, lay ``fig`` out and return it."""
    if ax is not None:
        ax.set(title=title or "", **labels)
    fig.tight_layout()
    return fig


def history_columns(history, require: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """A Keras History, a dict of lists or a DataFrame as ``{column: float array}``; a ValueError names the
    ``require``-d columns it lacks."""
    if hasattr(history, "history") and isinstance(history.history, Mapping):
        history = history.history
    if hasattr(history, "to_dict") and hasattr(history, "columns"):
        history = {c: history[c] for c in history.columns}
    if not isinstance(history, Mapping):
        raise TypeError(f"history must be a Keras History, a dict or a DataFrame, got {type(history).__name__}")
    cols = {str(k): np.asarray(v, dtype=float) for k, v in history.items()}
    missing = [c for c in require if c not in cols]
    if missing:
        raise ValueError(f"history has no column(s) {missing}; it has {sorted(cols)}")
    return cols


def plot_history(history, metrics: Sequence[str] = ("loss", "accuracy"), title: str | None = None,
                 figsize: tuple[float, float] | None = None):
    """Train and validation curves, one axes per metric (``loss`` beside ``val_loss``...); returns the Figure."""
    cols = history_columns(history, require=metrics)
    fig, axes = _subplots(1, len(metrics), figsize=figsize or (5.2 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        name = METRIC_LABELS.get(metric, metric)
        epochs = np.arange(1, len(cols[metric]) + 1)
        ax.plot(epochs, cols[metric], "o-", ms=3, label=f"train {name}")
        if f"val_{metric}" in cols:
            ax.plot(epochs, cols[f"val_{metric}"], "s--", ms=3, label=f"validation {name}")
        ax.set(xlabel="epoch", ylabel=name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    return _finish(fig)


def plot_confusion_matrix(y_true, y_pred, class_names: Sequence[str], normalize: str | None = None,
                          title: str | None = None, ax=None):
    """Confusion matrix as an annotated heatmap (rows true, columns predicted; ``normalize`` as in
    :func:`sklearn.metrics.confusion_matrix`), on ``ax`` or a new figure; returns the Figure."""
    from sklearn.metrics import confusion_matrix

    labels = np.arange(len(class_names))
    cm = confusion_matrix(y_true, y_pred, labels=labels, normalize=normalize)
    size = max(3.5, 0.8 * len(class_names) + 2)
    fig, ax = _subplots(figsize=(size + 1, size)) if ax is None else (ax.figure, ax)
    fig.colorbar(ax.imshow(cm, cmap="Blues"), ax=ax, fraction=0.046)
    for (i, j), value in np.ndenumerate(cm):
        ax.text(j, i, format(value, ".2f" if normalize else "d"), ha="center", va="center",
                color="white" if value > cm.max() / 2 else "black", fontsize=9)
    ax.set_xticks(labels, class_names, rotation=35, ha="right")
    ax.set_yticks(labels, class_names)
    return _finish(fig, ax, title, xlabel="predicted", ylabel="true")


def plot_class_counts(counts, title: str | None = None, log: bool = False, ax=None):
    """Bar plot of class counts: a mapping or Series (one bar per class) or a DataFrame (one group per column)."""
    import pandas as pd

    frame = pd.Series(counts).to_frame("count") if isinstance(counts, (Mapping, pd.Series)) else counts
    fig, ax = _subplots(figsize=(7, 3.6)) if ax is None else (ax.figure, ax)
    frame.plot.bar(ax=ax, rot=30, logy=log, legend=frame.shape[1] > 1)
    for container in ax.containers:
        ax.bar_label(container, fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _finish(fig, ax, title, ylabel="rows (log scale)" if log else "rows")


def plot_curves(curves: Mapping[str, Sequence[float]], ylabel: str, title: str | None = None,
                xlabel: str = "epoch", bands: Mapping[str, Sequence[float]] | None = None, ax=None):
    """One line per variant (e.g. validation accuracy per epoch); optional ±SD ``bands``."""
    fig, ax = _subplots(figsize=(7, 4)) if ax is None else (ax.figure, ax)
    for label, values in curves.items():
        values = np.asarray(values, dtype=float)
        x = np.arange(1, len(values) + 1)
        (line,) = ax.plot(x, values, "o-", ms=3, label=str(label))
        if bands and label in bands:
            sd = np.asarray(bands[label], dtype=float)
            if sd.shape != values.shape:
                raise ValueError(f"plot_curves: bands[{label!r}] has {sd.size} values, its curve {values.size}")
            ax.fill_between(x, values - sd, values + sd, alpha=0.15, color=line.get_color())
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _finish(fig, ax, title, xlabel=xlabel, ylabel=ylabel)


def image_grid(images, titles: Sequence[str] | None = None, ncols: int = 6, size: float = 2.0,
               title: str | None = None):
    """A grid of images (uint8 or float in [0, 1]) with optional titles."""
    images = list(images)
    if not images:
        raise ValueError("image_grid needs at least one image")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"image_grid: {len(titles)} titles for {len(images)} images")
    ncols = min(ncols, len(images))
    nrows = -(-len(images) // ncols)
    fig, axes = _subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            img = np.asarray(images[i])
            ax.imshow(img if img.dtype == np.uint8 else np.clip(img, 0, 1))
            if titles is not None:
                ax.set_title(titles[i], fontsize=8)
    if title:
        fig.suptitle(title)
    return _finish(fig)
