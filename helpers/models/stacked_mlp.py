"""The fast grid engine's network: many copies of the brief's MLP (Dense(relu) -> Dropout -> Dense(1, sigmoid))
stacked into one batched model and trained with the exact maths of a lone Keras fit (Adam element-wise, each
sub-network's own mean loss). :mod:`helpers.training.fast_search` plans and runs the search."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["ADAM_EPSILON", "ModelSpec", "StackedResult", "initial_mlp_weights", "check_initializer", "train_stacked"]

ADAM_BETA_1, ADAM_BETA_2, ADAM_EPSILON = 0.9, 0.999, 1e-7


@dataclass(frozen=True)
class ModelSpec:
    """One sub-network: the hyperparameters of :func:`helpers.models.mlp.build_mlp`."""

    neurons: int = 30
    dropout: float = 0.2
    kernel_initializer: str = "glorot_uniform"
    learning_rate: float = 1e-3


@dataclass
class StackedResult:
    """What :func:`train_stacked` returns: ``predictions[epoch][block]`` (eval rows x models, no dropout), Keras-layout
    ``weights[block][model]``, per-epoch ``history[block][model]`` (or None), wall ``seconds``, ``steps`` per model."""

    predictions: dict
    weights: list
    history: list | None
    seconds: float
    steps: int
    info: dict = field(default_factory=dict)


def initial_mlp_weights(spec: ModelSpec, n_features: int, seed: int) -> list[np.ndarray]:
    """Keras-layout initial weights of one sub-network, drawn with Keras' own initializers."""
    import keras

    kernel_init = keras.initializers.get({"class_name": spec.kernel_initializer, "config": {"seed": int(seed)}})
    output_init = keras.initializers.GlorotUniform(seed=int(seed) + 7919)  # Dense default
    return [np.asarray(kernel_init((n_features, spec.neurons), dtype="float32")), np.zeros(spec.neurons, np.float32),
            np.asarray(output_init((spec.neurons, 1), dtype="float32")), np.zeros(1, np.float32)]


def check_initializer(name: str) -> str:
    """Return ``name`` if Keras knows it as an initializer, else raise a ``ValueError`` naming it."""
    import keras

    try:
        keras.initializers.get(name)
    except (ValueError, TypeError) as err:
        raise ValueError(f"model__kernel_initializer {name!r} is not a Keras initializer "
                         f"(e.g. 'glorot_uniform', 'he_uniform'): {err}") from None
    return name


_STEP_FUNCTIONS: dict = {}


def _epoch_function(n_width_groups: int, track: bool, ragged: bool = True):
    """The cached ``tf.function`` pair (run one epoch, predict): per width group ``(W1 [G,F,H], b1 [G,H], W2 [G,H],
    b2 [G,K])``, Adam's ``m``/``v``, ``t`` [G] block steps (``ragged``: a block without rows in a step stays put)."""
    key = (n_width_groups, track, ragged)
    if key in _STEP_FUNCTIONS:
        return _STEP_FUNCTIONS[key]
    import tensorflow as tf

    b1c, b2c = ADAM_BETA_1, ADAM_BETA_2

    def forward(x, params, consts, training, seed):
        outs = []  # logits [G, B, M], width groups concatenated in their order
        for gi, (w1, b1, w2, b2) in enumerate(params):
            h = tf.nn.relu(tf.einsum("gbf,gfh->gbh", x, w1) + b1[:, None, :])
            if training:
                u = tf.random.stateless_uniform(tf.shape(h), seed=seed + gi)
                h = tf.where(u >= consts[gi]["rate"], h * consts[gi]["scale"], tf.zeros_like(h))
            shape = tf.shape(h)
            z = tf.reshape(h * w2[:, None, :], [shape[0], shape[1], int(consts[gi]["n_models"]), consts[gi]["width"]])
            outs.append(tf.reduce_sum(z, axis=-1) + b2[:, None, :])
        return outs[0] if len(outs) == 1 else tf.concat(outs, axis=-1)

    @tf.function(reduce_retracing=True)
    def run_epoch(X, Y, idx, mask, params, slots_m, slots_v, t, consts, seed):
        G, n_models = tf.shape(idx)[1], sum(int(c["n_models"]) for c in consts)

        def body(s, params, slots_m, slots_v, t, loss_sum, correct):
            mk = mask[s]  # [G, B]
            x = tf.gather(X, idx[s], batch_dims=1)  # [G, B, F]
            y = tf.gather(Y, idx[s], batch_dims=1)[:, :, None]  # [G, B, 1]
            count = tf.reduce_sum(mk, axis=1)
            active = tf.cast(count > 0, tf.float32)
            flat = [v for group in params for v in group]
            with tf.GradientTape() as tape:
                tape.watch(flat)
                nested = [flat[4 * i: 4 * i + 4] for i in range(len(params))]
                logits = forward(x, nested, consts, True, tf.stack([seed, s * 16]))
                per = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.broadcast_to(y, tf.shape(logits)),
                                                              logits=logits)
                weighted = per * mk[:, :, None]
                loss = tf.reduce_sum(tf.reduce_sum(weighted, axis=1) / tf.maximum(count, 1.0)[:, None])
            grads = tape.gradient(loss, flat)
            if track:
                loss_sum = loss_sum + tf.reduce_sum(weighted, axis=1)
                hit = tf.cast(tf.equal(tf.cast(logits > 0, tf.float32), y), tf.float32)
                correct = correct + tf.reduce_sum(hit * mk[:, :, None], axis=1)
            t_new = t + active
            corr = tf.sqrt(1.0 - tf.pow(b2c, t_new)) / (1.0 - tf.pow(b1c, tf.maximum(t_new, 1.0)))
            updated = []  # (variable, m, v) per variable, groups in order
            for gi in range(len(params)):
                for j in range(4):
                    var, m, v, g = params[gi][j], slots_m[gi][j], slots_v[gi][j], grads[4 * gi + j]
                    lr = consts[gi]["lr_model" if j == 3 else "lr_unit"]
                    alpha = tf.reshape(corr[:, None] * lr[None, :],
                                       [-1] + [1] * (len(var.shape) - 2) + [tf.shape(lr)[0]])
                    m2 = m + (g - m) * (1.0 - b1c)
                    v2 = v + (tf.square(g) - v) * (1.0 - b2c)
                    var2 = var - (m2 * alpha) / (tf.sqrt(v2) + ADAM_EPSILON)
                    if ragged:
                        act = tf.reshape(active, [-1] + [1] * (len(var.shape) - 1))
                        var2, m2, v2 = (a + act * (b - a) for a, b in ((var, var2), (m, m2), (v, v2)))
                    updated.append((var2, m2, v2))
            new_p, new_m, new_v = (tuple(tuple(u[k] for u in updated[4 * gi: 4 * gi + 4])
                                         for gi in range(len(params))) for k in range(3))
            return s + 1, new_p, new_m, new_v, t_new, loss_sum, correct

        _, params, slots_m, slots_v, t, loss_sum, correct = tf.while_loop(
            lambda s, *_: s < tf.shape(idx)[0], body,
            [tf.constant(0), params, slots_m, slots_v, t, tf.zeros([G, n_models]), tf.zeros([G, n_models])])
        return params, slots_m, slots_v, t, loss_sum, correct

    @tf.function(reduce_retracing=True)
    def predict(Xe, params, consts):
        return tf.sigmoid(forward(Xe, params, consts, False, None))

    _STEP_FUNCTIONS[key] = (run_epoch, predict)
    return run_epoch, predict


def _pad_stack(arrays: Sequence[np.ndarray]) -> np.ndarray:
    out = np.zeros((len(arrays), max(max(len(a) for a in arrays), 1), *arrays[0].shape[1:]), np.float32)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return out


def _epoch_indices(sizes: Sequence[int], batch_size: int, rngs, shuffle: bool):
    """Per-step row indices ``[S, G, B]`` and a 0/1 mask of real rows (Keras' last partial batch)."""
    steps = max(math.ceil(n / batch_size) for n in sizes)
    idx = np.zeros((len(sizes), steps * batch_size), np.int32)
    for g, n in enumerate(sizes):
        idx[g, :n] = rngs[g].permutation(n) if shuffle else np.arange(n)
    mask = (np.arange(idx.shape[1]) < np.array(sizes)[:, None]).astype(np.float32)
    return *(np.ascontiguousarray(a.reshape(len(sizes), steps, batch_size).transpose(1, 0, 2))
             for a in (idx, mask)), steps


def train_stacked(train_sets: Sequence[tuple[np.ndarray, np.ndarray]], specs: Sequence[ModelSpec],
                  batch_size: int, epochs: int, *, eval_sets: Sequence[np.ndarray] | None = None,
                  eval_epochs: Sequence[int] | None = None,
                  history_sets: Sequence[tuple[np.ndarray, np.ndarray] | None] | None = None,
                  seed: int = 0, shuffle: bool = True, initial_weights: list | None = None,
                  epoch_callback: Callable[[int], None] | None = None) -> StackedResult:
    """Train every spec on every ``(X, y 0/1)`` block at once, each as Keras would: ``eval_sets`` predicted after each
    of ``eval_epochs`` (default: last), ``history_sets`` (per block rows or None) add history, ``seed`` seeds weights,
    shuffling, dropout, ``initial_weights[block][model]`` replaces drawn ones; then ``epoch_callback(epoch)``."""
    import tensorflow as tf

    for name, value, item in (("train_sets", train_sets, "(X, y) block"), ("specs", specs, "ModelSpec")):
        if not value:
            raise ValueError(f"{name} is empty: expected at least one {item}")
    for name, value in (("batch_size", batch_size), ("epochs", epochs)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    eval_epochs = sorted(set(eval_epochs or [epochs]))
    if eval_epochs[0] < 1 or eval_epochs[-1] > epochs:
        raise ValueError(f"eval_epochs must lie in 1..{epochs}, got {eval_epochs}")
    n_features = int(np.asarray(train_sets[0][0]).shape[1])
    for g, (Xb, yb) in enumerate(train_sets):
        Xb = np.asarray(Xb)
        if Xb.ndim != 2 or Xb.shape[1] != n_features or len(Xb) != len(yb) or len(Xb) == 0:
            raise ValueError(f"train_sets[{g}] must be (X, y) with X of shape (n>0, {n_features}) and "
                             f"len(y) == n; got X {Xb.shape} and {len(yb)} labels")
    for s in specs:
        if not 0 <= float(s.dropout) < 1:
            raise ValueError(f"dropout must be in [0, 1), got {s.dropout!r}")
        if int(s.neurons) < 1:
            raise ValueError(f"neurons must be a positive integer, got {s.neurons!r}")
    G, M, track = len(train_sets), len(specs), history_sets is not None
    widths = sorted({int(s.neurons) for s in specs})  # sub-networks of one width share a stacked kernel
    members = {w: [i for i, s in enumerate(specs) if int(s.neurons) == w] for w in widths}
    inverse = np.argsort([i for w in widths for i in members[w]])  # output column -> model index
    if initial_weights is None:
        initial_weights = [[initial_mlp_weights(specs[m], n_features, seed * 1_000_003 + g * 1009 + m)
                            for m in range(M)] for g in range(G)]
    params, consts = [], []
    for w in widths:
        ids = members[w]
        group = tuple(tf.constant(np.stack([np.concatenate(
            [np.reshape(initial_weights[g][m][j], (-1, w) if j == 0 else -1) for m in ids], axis=-1)
            for g in range(G)]).astype(np.float32)) for j in range(4))
        params.append(group)
        rate = np.repeat([float(specs[m].dropout) for m in ids], w).astype(np.float32)
        lr = np.array([float(specs[m].learning_rate) for m in ids], np.float32)
        consts.append({"rate": tf.constant(rate), "scale": tf.constant(1.0 / (1.0 - rate)), "width": w,
                       "lr_unit": tf.constant(np.repeat(lr, w)), "lr_model": tf.constant(lr), "n_models": len(ids)})
    params = tuple(params)
    slots_m, slots_v = (tuple(tuple(map(tf.zeros_like, group)) for group in params) for _ in range(2))
    sizes = [len(yb) for _, yb in train_sets]
    run_epoch, predict = _epoch_function(len(widths), track, len({math.ceil(n / int(batch_size)) for n in sizes}) > 1)
    X, Y = (tf.constant(_pad_stack([np.asarray(block[i], np.float32) for block in train_sets])) for i in (0, 1))
    Xe = None if eval_sets is None else tf.constant(
        _pad_stack([np.asarray(e, np.float32).reshape(-1, n_features) for e in eval_sets]))
    hist_X = hist_y = None
    if track and any(h is not None for h in history_sets):
        hist_X = tf.constant(_pad_stack([np.asarray(np.zeros((0, n_features)) if h is None else h[0], np.float32)
                                         for h in history_sets]))
        hist_y = [None if h is None else np.asarray(h[1], np.float32) for h in history_sets]
    rngs = [np.random.default_rng([int(seed), 7, g]) for g in range(G)]
    t, predictions, steps_total = tf.zeros([G]), {}, 0
    history = [[{"loss": [], "accuracy": []} for _ in range(M)] for _ in range(G)] if track else None
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        idx, mask, steps = _epoch_indices(sizes, int(batch_size), rngs, shuffle)
        steps_total += steps
        params, slots_m, slots_v, t, loss_sum, correct = run_epoch(
            X, Y, tf.constant(idx), tf.constant(mask), params, slots_m, slots_v, t, consts,
            tf.constant(int(seed) * 100_003 + epoch, tf.int32))
        if track:
            loss_np, acc_np = loss_sum.numpy()[:, inverse], correct.numpy()[:, inverse]
            proba = None if hist_X is None else predict(hist_X, params, consts).numpy()[:, :, inverse]
            for g in range(G):
                stats = {"loss": loss_np[g] / sizes[g], "accuracy": acc_np[g] / sizes[g]}
                if hist_y is not None and hist_y[g] is not None:
                    yv = hist_y[g][:, None]
                    p = np.clip(proba[g, :len(yv)].astype(np.float64), 1e-7, 1 - 1e-7)
                    stats["val_loss"] = -(yv * np.log(p) + (1 - yv) * np.log(1 - p)).mean(axis=0)
                    stats["val_accuracy"] = ((p > 0.5) == (yv > 0.5)).mean(axis=0)
                for m in range(M):
                    for key, values in stats.items():
                        history[g][m].setdefault(key, []).append(float(values[m]))
        if Xe is not None and epoch in eval_epochs:
            proba = predict(Xe, params, consts).numpy()[:, :, inverse]
            predictions[epoch] = [proba[g, : len(eval_sets[g])] for g in range(G)]
        if epoch_callback is not None:
            epoch_callback(epoch)
    seconds, weights = time.perf_counter() - start, [[None] * M for _ in range(G)]
    for gi, w in enumerate(widths):
        W1, b1, W2, b2 = (a.numpy() for a in params[gi])
        for k, m in enumerate(members[w]):
            cols = slice(k * w, (k + 1) * w)
            for g in range(G):
                weights[g][m] = [a.copy() for a in (W1[g][:, cols], b1[g][cols], W2[g][cols, None], b2[g][k: k + 1])]
    return StackedResult(predictions=predictions, weights=weights, history=history, seconds=seconds,
                         steps=steps_total, info={"blocks": G, "models_per_block": M, "widths": widths})
