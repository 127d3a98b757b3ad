"""Fitting plumbing shared by every training notebook: compile/fit with epoch timing and a history frame,
the ``tf.distribute`` strategy."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from helpers import distributed
from helpers.training.experiments import history_frame

__all__ = ["get_strategy", "compile_model", "fit_model", "mean_epoch_seconds"]


def get_strategy(strategy="auto"):
    """A ``tf.distribute`` strategy: a Strategy object as is, a name through :func:`helpers.distributed.get_strategy`
    (``"auto"``: MirroredStrategy with more than one GPU). Build and compile inside ``strategy.scope()``."""
    return distributed.get_strategy(strategy) if isinstance(strategy, str) else strategy


def compile_model(model, learning_rate: float = 1e-3, optimizer: str = "adam"):
    """Compile for integer labels: sparse categorical cross-entropy, accuracy. Returns the model."""
    import keras

    if not learning_rate or learning_rate <= 0:
        raise ValueError(f"learning_rate must be positive, got {learning_rate!r}")
    optimizers = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}
    if optimizer not in optimizers:
        raise ValueError(f"unknown optimizer {optimizer!r}; expected one of {', '.join(optimizers)}")
    model.compile(optimizer=optimizers[optimizer](learning_rate=learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def fit_model(model, train, validation=None, epochs: int = 1, callbacks=None, csv_path=None,
              verbose: int = 0, initial_epoch: int = 0, **fit_kwargs) -> pd.DataFrame:
    """``model.fit`` for ``epochs`` more epochs, timed; returns :func:`history_frame` with ``epoch_seconds``.

    ``train``: a Dataset (or x, with ``y=``); ``csv_path`` also streams the history to a CSV file;
    ``verbose`` 0 or 2 (1 draws progress bars, which break the notebook output checks)."""
    import keras
    import tensorflow as tf

    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if verbose not in (0, 2):
        raise ValueError(f"verbose must be 0 or 2 (1 draws progress bars), got {verbose!r}")
    if isinstance(train, tf.data.Dataset):
        fit_kwargs.setdefault("shuffle", False)  # a Dataset shuffles itself (make_dataset)
    starts, seconds = [], []
    timer = keras.callbacks.LambdaCallback(on_epoch_begin=lambda *_: starts.append(time.perf_counter()),
                                           on_epoch_end=lambda *_: seconds.append(time.perf_counter() - starts[-1]))
    cbs = [timer, *(callbacks or [])]
    if csv_path is not None:
        cbs.append(keras.callbacks.CSVLogger(str(csv_path), append=initial_epoch > 0))
    hist = model.fit(train, validation_data=validation, epochs=initial_epoch + epochs,
                     initial_epoch=initial_epoch, callbacks=cbs, verbose=verbose, **fit_kwargs)
    return history_frame(hist, seconds, initial_epoch)


def mean_epoch_seconds(history: pd.DataFrame, skip_first: bool = True) -> float:
    """Mean ``epoch_seconds``, leaving out the first epoch of each ``phase`` (tracing, warm-up) when it has more."""
    if "epoch_seconds" not in history:
        raise ValueError(f"history has no 'epoch_seconds' column; it has {list(history.columns)}")
    parts = [g for _, g in history.groupby("phase", sort=False)] if "phase" in history else [history]
    values = [s for p in parts for s in p["epoch_seconds"].to_numpy(dtype=float)[int(skip_first and len(p) > 1):]]
    return float(np.mean(values)) if values else float("nan")
