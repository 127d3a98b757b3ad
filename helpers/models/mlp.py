"""The brief's MLP (Input -> Dense(neurons, relu) -> Dropout -> output) and its scikeras wrapper: the
reference network the grid search trains by default and the fast engine reproduces."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["build_mlp", "make_classifier", "parameter_count"]


def build_mlp(meta: Mapping[str, Any], neurons: int = 30, dropout: float = 0.2,
              kernel_initializer: str = "glorot_uniform", learning_rate: float = 1e-3, seed: int | None = None):
    """The brief's MLP for scikeras ``meta``, compiled (Adam, accuracy): sigmoid + binary cross-entropy for
    two classes, softmax + sparse categorical cross-entropy for more. ``seed`` seeds both kernels and the
    dropout explicitly (else Keras draws them from the global ``random``, which other threads share)."""
    import keras

    n_classes = int(meta.get("n_classes_", 2) or 2)
    hidden_init, output_init, dropout_seed = keras.initializers.get(kernel_initializer), "glorot_uniform", None
    if seed is not None:
        hidden_init = type(hidden_init).from_config({**hidden_init.get_config(), "seed": int(seed)})
        output_init, dropout_seed = keras.initializers.GlorotUniform(seed=int(seed) + 1), int(seed) + 2
    inputs = keras.Input(shape=(int(meta["n_features_in_"]),), name="features")
    x = keras.layers.Dense(int(neurons), activation="relu", kernel_initializer=hidden_init, name="hidden")(inputs)
    x = keras.layers.Dropout(float(dropout), seed=dropout_seed, name="dropout")(x)
    binary = n_classes <= 2
    outputs = keras.layers.Dense(1 if binary else n_classes, activation="sigmoid" if binary else "softmax",
                                 kernel_initializer=output_init, name="output")(x)
    model = keras.Model(inputs, outputs, name="mlp")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=float(learning_rate)), metrics=["accuracy"],
                  loss="binary_crossentropy" if binary else "sparse_categorical_crossentropy")
    return model


def make_classifier(neurons: int = 30, dropout: float = 0.2, kernel_initializer: str = "glorot_uniform",
                    epochs: int = 15, batch_size: int = 32, learning_rate: float = 1e-3,
                    random_state: int | None = None, verbose: int = 0, validation_split: float = 0.0,
                    model: Callable | None = None):
    """A scikeras ``KerasClassifier`` around ``model`` (default :func:`build_mlp`; grid keys ``model__neurons``,
    ``epochs``, ...). ``random_state`` seeds shuffling and, as ``model__seed``, initializers and dropout."""
    from scikeras.wrappers import KerasClassifier

    return KerasClassifier(model=model or build_mlp, model__neurons=neurons, model__dropout=dropout,
                           model__kernel_initializer=kernel_initializer, model__learning_rate=learning_rate,
                           model__seed=random_state, optimizer="adam", epochs=epochs, batch_size=batch_size,
                           random_state=random_state, verbose=verbose, validation_split=validation_split)


def parameter_count(n_features: int, neurons: int, n_outputs: int = 1) -> int:
    """Weights of Dense(neurons) -> Dropout -> Dense(n_outputs): what the fast engine trains per combination."""
    return int(neurons) * (int(n_features) + 1) + int(n_outputs) * (int(neurons) + 1)
