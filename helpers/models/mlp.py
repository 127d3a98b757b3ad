"""The brief's MLP (Input -> Dense(neurons, relu) -> Dropout -> output) and its scikeras wrapper: the
reference network that the grid search trains when a notebook gives no build function of its own,
and that the fast engine's batched implementation reproduces."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["build_mlp", "make_classifier", "parameter_count"]


def build_mlp(meta: Mapping[str, Any], neurons: int = 30, dropout: float = 0.2,
              kernel_initializer: str = "glorot_uniform", learning_rate: float = 1e-3, seed: int | None = None):
    """The brief's MLP, compiled: Input -> Dense(neurons, relu) -> Dropout -> output.

    Parameters
    ----------
    meta : mapping
        scikeras' meta data; uses ``n_features_in_`` and ``n_classes_``.
    neurons, dropout, kernel_initializer :
        Width of the hidden layer, dropout rate after it, initializer of its kernel.
    learning_rate : float
        Adam's learning rate.
    seed : int, optional
        Seeds both kernel initializers and the dropout mask stream explicitly. Without it Keras draws
        those seeds from Python's global ``random`` module, which other threads of the same process
        also draw from -- a Dask worker's event loop does, so a fit there could start from different
        weights than the same fit in a plain process.

    Returns
    -------
    keras.Model
        One sigmoid unit with binary cross-entropy for two classes; softmax with sparse categorical
        cross-entropy for more. Metric: accuracy.
    """
    import keras

    n_features = int(meta["n_features_in_"])
    n_classes = int(meta.get("n_classes_", 2) or 2)
    hidden_init, output_init = keras.initializers.get(kernel_initializer), "glorot_uniform"
    dropout_seed = None
    if seed is not None:
        hidden_init = type(hidden_init).from_config({**hidden_init.get_config(), "seed": int(seed)})
        output_init = keras.initializers.GlorotUniform(seed=int(seed) + 1)
        dropout_seed = int(seed) + 2
    inputs = keras.Input(shape=(n_features,), name="features")
    x = keras.layers.Dense(int(neurons), activation="relu", kernel_initializer=hidden_init,
                           name="hidden")(inputs)
    x = keras.layers.Dropout(float(dropout), seed=dropout_seed, name="dropout")(x)
    if n_classes <= 2:
        outputs = keras.layers.Dense(1, activation="sigmoid", kernel_initializer=output_init, name="output")(x)
        loss = "binary_crossentropy"
    else:
        outputs = keras.layers.Dense(n_classes, activation="softmax", kernel_initializer=output_init,
                                     name="output")(x)
        loss = "sparse_categorical_crossentropy"
    model = keras.Model(inputs, outputs, name="mlp")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=float(learning_rate)), loss=loss,
                  metrics=["accuracy"])
    return model


def make_classifier(neurons: int = 30, dropout: float = 0.2, kernel_initializer: str = "glorot_uniform",
                    epochs: int = 15, batch_size: int = 32, learning_rate: float = 1e-3,
                    random_state: int | None = None, verbose: int = 0, validation_split: float = 0.0,
                    model: Callable | None = None):
    """A scikeras ``KerasClassifier`` around :func:`build_mlp`.

    Parameters
    ----------
    neurons, dropout, kernel_initializer, learning_rate :
        Passed to :func:`build_mlp` (grid keys ``model__neurons``, ``model__dropout``, ...).
    epochs, batch_size : int
        Training length and mini-batch size (grid keys ``epochs``, ``batch_size``).
    random_state : int or None
        Seeds weight initialisation, dropout and shuffling of each ``fit`` (initializers and dropout
        get it explicitly as ``model__seed``, see :func:`build_mlp`).
    verbose : int
        Keras verbosity (0 or 2; never 1 in notebooks).
    validation_split : float
        Keras' own validation split (last rows; prefer explicit validation data).
    model : callable, optional
        The build function (a notebook's own ``build_mlp(meta, neurons, dropout, kernel_initializer,
        learning_rate, seed)``); default :func:`build_mlp`. scikeras passes it the ``model__`` keys
        its signature accepts.

    Returns
    -------
    scikeras.wrappers.KerasClassifier
    """
    from scikeras.wrappers import KerasClassifier

    return KerasClassifier(
        model=model or build_mlp, model__neurons=neurons, model__dropout=dropout,
        model__kernel_initializer=kernel_initializer, model__learning_rate=learning_rate,
        model__seed=random_state, optimizer="adam", epochs=epochs, batch_size=batch_size,
        random_state=random_state, verbose=verbose, validation_split=validation_split,
    )


def parameter_count(n_features: int, neurons: int, n_outputs: int = 1) -> int:
    """Weights of Dense(neurons) -> Dropout -> Dense(n_outputs): what the fast engine trains per combination."""
    return int(neurons) * (int(n_features) + 1) + int(n_outputs) * (int(neurons) + 1)
