"""Fitting plumbing shared by every training notebook: epoch timing, compile/fit with a history
frame, the ``tf.distribute`` strategy."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from helpers import distributed
from helpers.training.experiments import history_frame

__all__ = ["EpochTimer", "get_strategy", "compile_model", "fit_model", "mean_epoch_seconds"]


def _keras_callback_base():
    import keras

    return keras.callbacks.Callback


class EpochTimer(_keras_callback_base()):
    """Keras callback that records the wall-clock seconds of every epoch in ``self.seconds``.

    The first epoch includes graph tracing and warm-up; :func:`mean_epoch_seconds` leaves it out.
    """

    def __init__(self):
        super().__init__()
        self.seconds: list[float] = []
        self._start = None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def get_strategy(strategy="auto"):
    """A ``tf.distribute`` strategy: a Strategy object is returned as is; a name goes to
    :func:`helpers.distributed.get_strategy` (``"auto"``: MirroredStrategy when more than one GPU is
    visible, else the default strategy). Build and compile the model inside ``strategy.scope()``."""
    if not isinstance(strategy, str):
        return strategy
    return distributed.get_strategy(strategy)


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
    """``model.fit`` with epoch timing; returns the history as a DataFrame.

    Parameters
    ----------
    model : compiled keras.Model
    train : tf.data.Dataset (or x, with ``y=`` in ``fit_kwargs``)
    validation : tf.data.Dataset or (x, y), optional
    epochs : int
        Number of epochs to run in this call (counted from ``initial_epoch``).
    csv_path : path, optional
        Also stream the history to this CSV file (``keras.callbacks.CSVLogger``).
    verbose : 0 or 2
        Keras verbosity (never 1: progress bars break notebook output checks).

    Returns
    -------
    DataFrame
        Columns ``epoch`` (1-based), ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``
        (when validation data is given), ``lr`` (when a callback logs the learning rate) and
        ``epoch_seconds`` (see :func:`helpers.training.experiments.history_frame`).
    """
    import keras

    if not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if verbose not in (0, 2):
        raise ValueError(f"verbose must be 0 or 2 (1 draws progress bars), got {verbose!r}")
    import tensorflow as tf

    if isinstance(train, tf.data.Dataset):
        fit_kwargs.setdefault("shuffle", False)  # a Dataset shuffles itself (make_dataset)
    timer = EpochTimer()
    cbs = [timer, *(callbacks or [])]
    if csv_path is not None:
        cbs.append(keras.callbacks.CSVLogger(str(csv_path), append=initial_epoch > 0))
    hist = model.fit(train, validation_data=validation, epochs=initial_epoch + epochs,
                     initial_epoch=initial_epoch, callbacks=cbs, verbose=verbose, **fit_kwargs)
    return history_frame(hist, timer.seconds, initial_epoch)


def mean_epoch_seconds(history: pd.DataFrame, skip_first: bool = True) -> float:
    """Mean ``epoch_seconds``, leaving out the first epoch (tracing, warm-up) when there are more.

    With a ``phase`` column the first epoch of every phase is left out.
    """
    if "epoch_seconds" not in history:
        raise ValueError(f"history has no 'epoch_seconds' column; it has {list(history.columns)}")
    parts = [g for _, g in history.groupby("phase", sort=False)] if "phase" in history else [history]
    values = []
    for part in parts:
        secs = part["epoch_seconds"].to_numpy(dtype=float)
        values.extend(secs[1:] if skip_first and len(secs) > 1 else secs)
    return float(np.mean(values)) if values else float("nan")
