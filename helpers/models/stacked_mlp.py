"""The fast grid engine's network: many copies of the brief's MLP (Dense(relu) -> Dropout ->
Dense(1, sigmoid)), stacked into one batched model and trained with the exact maths of a lone Keras
fit (Adam element-wise, each sub-network's own mean loss). :mod:`helpers.training.fast_search` plans
the groups and runs the search; this module is the model and its training loop."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["ADAM_EPSILON", "ModelSpec", "StackedResult", "initial_mlp_weights", "check_initializer", "train_stacked"]


ADAM_BETA_1 = 0.9
ADAM_BETA_2 = 0.999
ADAM_EPSILON = 1e-7


@dataclass(frozen=True)
class ModelSpec:
    """One sub-network: the hyperparameters of :func:`helpers.models.mlp.build_mlp`."""

    neurons: int = 30
    dropout: float = 0.2
    kernel_initializer: str = "glorot_uniform"
    learning_rate: float = 1e-3


@dataclass
class StackedResult:
    """What :func:`train_stacked` returns.

    Attributes
    ----------
    predictions : dict
        ``predictions[epoch][block]`` = array ``(n_eval_rows, n_models)`` of positive-class
        probabilities on that block's evaluation rows, after that epoch (no dropout).
    weights : list
        ``weights[block][model]`` = final Keras-layout weights ``[kernel (F, w), bias (w,),
        output kernel (w, 1), output bias (1,)]``.
    history : list or None
        ``history[block][model]`` = dict of per-epoch lists ``loss``, ``accuracy`` (training rows,
        dropout on, mean over samples as Keras reports it) and, when history rows were given,
        ``val_loss``, ``val_accuracy``.
    seconds : float
        Wall time of the training loop (tracing included).
    steps : int
        Optimizer steps per sub-network (the longest block).
    """

    predictions: dict
    weights: list
    history: list | None
    seconds: float
    steps: int
    info: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- initial weights
def initial_mlp_weights(spec: ModelSpec, n_features: int, seed: int) -> list[np.ndarray]:
    """Keras-layout initial weights of one sub-network, drawn with Keras' own initializers."""
    import keras

    kernel_init = keras.initializers.get({"class_name": spec.kernel_initializer,
                                          "config": {"seed": int(seed)}})
    output_init = keras.initializers.GlorotUniform(seed=int(seed) + 7919)  # Dense default
    kernel = np.asarray(kernel_init((n_features, spec.neurons), dtype="float32"))
    out = np.asarray(output_init((spec.neurons, 1), dtype="float32"))
    return [kernel, np.zeros(spec.neurons, np.float32), out, np.zeros(1, np.float32)]


def check_initializer(name: str) -> str:
    import keras

    try:
        keras.initializers.get(name)
    except (ValueError, TypeError) as err:
        raise ValueError(f"model__kernel_initializer {name!r} is not a Keras initializer "
                         f"(e.g. 'glorot_uniform', 'he_uniform'): {err}") from None
    return name


# --------------------------------------------------------------------------- the graph
_STEP_FUNCTIONS: dict = {}


def _epoch_function(n_width_groups: int, track: bool, ragged: bool = True):
    """The cached ``tf.function`` that runs every step of one epoch for a stacked model.

    State per width group: ``(W1 [G,F,H], b1 [G,H], W2 [G,H], b2 [G,K])`` plus Adam's ``m``/``v``
    of each; ``t`` [G] counts each block's steps (a block without rows in a step does not move;
    ``ragged=False`` -- every block has the same number of steps -- leaves that masking out).
    """
    key = (n_width_groups, track, ragged)
    if key in _STEP_FUNCTIONS:
        return _STEP_FUNCTIONS[key]
    import tensorflow as tf

    b1c, b2c = ADAM_BETA_1, ADAM_BETA_2

    def forward(x, params, consts, training, seed):
        """Logits [G, B, M] (width groups concatenated in their order)."""
        outs = []
        for gi, (w1, b1, w2, b2) in enumerate(params):
            rate, scale, width = consts[gi]["rate"], consts[gi]["scale"], consts[gi]["width"]
            h = tf.nn.relu(tf.einsum("gbf,gfh->gbh", x, w1) + b1[:, None, :])
            if training:
                u = tf.random.stateless_uniform(tf.shape(h), seed=seed + gi)
                h = tf.where(u >= rate, h * scale, tf.zeros_like(h))
            z = h * w2[:, None, :]
            shape = tf.shape(z)
            z = tf.reduce_sum(tf.reshape(z, [shape[0], shape[1], int(consts[gi]["n_models"]), width]), axis=-1)
            outs.append(z + b2[:, None, :])
        return outs[0] if len(outs) == 1 else tf.concat(outs, axis=-1)

    @tf.function(reduce_retracing=True)
    def run_epoch(X, Y, idx, mask, params, slots_m, slots_v, t, consts, seed):
        n_steps = tf.shape(idx)[0]
        n_models = sum(int(c["n_models"]) for c in consts)
        G = tf.shape(idx)[1]
        loss_sum = tf.zeros([G, n_models])
        correct = tf.zeros([G, n_models])

        def body(s, params, slots_m, slots_v, t, loss_sum, correct):
            ix = idx[s]
            mk = mask[s]                                   # [G, B]
            x = tf.gather(X, ix, batch_dims=1)             # [G, B, F]
            y = tf.gather(Y, ix, batch_dims=1)[:, :, None]  # [G, B, 1]
            count = tf.reduce_sum(mk, axis=1)              # [G]
            active = tf.cast(count > 0, tf.float32)
            flat = [v for group in params for v in group]
            with tf.GradientTape() as tape:
                tape.watch(flat)
                nested = [flat[4 * i: 4 * i + 4] for i in range(len(params))]
                logits = forward(x, nested, consts, True, tf.stack([seed, s * 16]))
                per = tf.nn.sigmoid_cross_entropy_with_logits(
                    labels=tf.broadcast_to(y, tf.shape(logits)), logits=logits)
                weighted = per * mk[:, :, None]
                mean = tf.reduce_sum(weighted, axis=1) / tf.maximum(count, 1.0)[:, None]
                loss = tf.reduce_sum(mean)
            grads = tape.gradient(loss, flat)
            if track:
                loss_sum = loss_sum + tf.reduce_sum(weighted, axis=1)
                hit = tf.cast(tf.equal(tf.cast(logits > 0, tf.float32), y), tf.float32)
                correct = correct + tf.reduce_sum(hit * mk[:, :, None], axis=1)
            t_new = t + active
            corr = tf.sqrt(1.0 - tf.pow(b2c, t_new)) / (1.0 - tf.pow(b1c, tf.maximum(t_new, 1.0)))
            new_p, new_m, new_v = [], [], []
            for gi in range(len(params)):
                lr_unit, lr_model = consts[gi]["lr_unit"], consts[gi]["lr_model"]
                gp, gm, gv = [], [], []
                for j in range(4):
                    var, m, v, g = params[gi][j], slots_m[gi][j], slots_v[gi][j], grads[4 * gi + j]
                    lr = lr_model if j == 3 else lr_unit
                    shape = [-1] + [1] * (len(var.shape) - 2) + [tf.shape(lr)[0]]
                    alpha = tf.reshape(corr[:, None] * lr[None, :], shape)
                    act = tf.reshape(active, [-1] + [1] * (len(var.shape) - 1))
                    m2 = m + (g - m) * (1.0 - b1c)
                    v2 = v + (tf.square(g) - v) * (1.0 - b2c)
                    var2 = var - (m2 * alpha) / (tf.sqrt(v2) + ADAM_EPSILON)
                    if ragged:
                        gp.append(var + act * (var2 - var))
                        gm.append(m + act * (m2 - m))
                        gv.append(v + act * (v2 - v))
                    else:
                        gp.append(var2)
                        gm.append(m2)
                        gv.append(v2)
                new_p.append(tuple(gp))
                new_m.append(tuple(gm))
                new_v.append(tuple(gv))
            return s + 1, tuple(new_p), tuple(new_m), tuple(new_v), t_new, loss_sum, correct

        _, params, slots_m, slots_v, t, loss_sum, correct = tf.while_loop(
            lambda s, *_: s < n_steps, body,
            [tf.constant(0), params, slots_m, slots_v, t, loss_sum, correct])
        return params, slots_m, slots_v, t, loss_sum, correct

    @tf.function(reduce_retracing=True)
    def predict(Xe, params, consts):
        return tf.sigmoid(forward(Xe, params, consts, False, None))

    _STEP_FUNCTIONS[key] = (run_epoch, predict)
    return run_epoch, predict


def _pad_stack(arrays: Sequence[np.ndarray], dtype) -> np.ndarray:
    n = max(max(len(a) for a in arrays), 1)
    shape = (len(arrays), n) + tuple(arrays[0].shape[1:])
    out = np.zeros(shape, dtype=dtype)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return out


def _epoch_indices(sizes: Sequence[int], batch_size: int, rngs, shuffle: bool):
    """Per-step row indices ``[S, G, B]`` and a 0/1 mask of real rows (Keras' last partial batch)."""
    steps = max(math.ceil(n / batch_size) for n in sizes)
    idx = np.zeros((len(sizes), steps * batch_size), np.int32)
    mask = np.zeros((len(sizes), steps * batch_size), np.float32)
    for g, n in enumerate(sizes):
        order = rngs[g].permutation(n) if shuffle else np.arange(n)
        idx[g, :n] = order
        mask[g, :n] = 1.0
    idx = idx.reshape(len(sizes), steps, batch_size).transpose(1, 0, 2)
    mask = mask.reshape(len(sizes), steps, batch_size).transpose(1, 0, 2)
    return np.ascontiguousarray(idx), np.ascontiguousarray(mask), steps


def train_stacked(train_sets: Sequence[tuple[np.ndarray, np.ndarray]], specs: Sequence[ModelSpec],
                  batch_size: int, epochs: int, *, eval_sets: Sequence[np.ndarray] | None = None,
                  eval_epochs: Sequence[int] | None = None,
                  history_sets: Sequence[tuple[np.ndarray, np.ndarray] | None] | None = None,
                  seed: int = 0, shuffle: bool = True, initial_weights: list | None = None,
                  epoch_callback: Callable[[int], None] | None = None) -> StackedResult:
    """Train ``len(train_sets) x len(specs)`` independent MLPs at once, each exactly as Keras would.

    Parameters
    ----------
    train_sets : list of (X, y)
        One block per entry (e.g. a CV training fold, already augmented); ``y`` is 0/1.
        Every model of a block sees the block's rows in the same order.
    specs : list of ModelSpec
        The sub-networks trained in every block.
    batch_size, epochs : int
        Adam steps use mini-batches of ``batch_size`` rows (the last one of an epoch may be
        smaller, as in Keras); ``epochs`` passes over the rows.
    eval_sets : list of arrays, optional
        Per block, rows to predict (validation fold) after each epoch in ``eval_epochs``.
    eval_epochs : list of int, optional
        Epochs after which ``eval_sets`` are predicted (default: the last).
    history_sets : list of (X, y) or None, optional
        Per block, validation rows for ``val_loss``/``val_accuracy`` after every epoch; giving it
        (even as ``[None, ...]``) turns on per-epoch training loss/accuracy too.
    seed : int
        Seeds initial weights, shuffling (per block and epoch) and dropout masks.
    shuffle : bool
        Shuffle the rows every epoch (Keras' default) or keep their order.
    initial_weights : list, optional
        ``initial_weights[block][model]`` in Keras layout, instead of drawing them (for tests).
    epoch_callback : callable, optional
        Called with the epoch number after each epoch (progress bars).

    Returns
    -------
    StackedResult
    """
    import tensorflow as tf

    if not train_sets:
        raise ValueError("train_sets is empty: expected at least one (X, y) block")
    if not specs:
        raise ValueError("specs is empty: expected at least one ModelSpec")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
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
    G, M = len(train_sets), len(specs)
    track = history_sets is not None

    # Width groups: sub-networks of the same width share one stacked kernel.
    widths = sorted({int(s.neurons) for s in specs})
    members = {w: [i for i, s in enumerate(specs) if int(s.neurons) == w] for w in widths}
    order = [i for w in widths for i in members[w]]         # model index of each output column
    inverse = np.argsort(order)

    if initial_weights is None:
        initial_weights = [[initial_mlp_weights(specs[m], n_features, seed * 1_000_003 + g * 1009 + m)
                            for m in range(M)] for g in range(G)]
    params, slots_m, slots_v, consts = [], [], [], []
    for w in widths:
        ids = members[w]
        W1 = np.stack([np.concatenate([initial_weights[g][m][0] for m in ids], axis=1) for g in range(G)])
        b1 = np.stack([np.concatenate([initial_weights[g][m][1] for m in ids]) for g in range(G)])
        W2 = np.stack([np.concatenate([initial_weights[g][m][2][:, 0] for m in ids]) for g in range(G)])
        b2 = np.stack([np.array([initial_weights[g][m][3][0] for m in ids]) for g in range(G)])
        group = tuple(tf.constant(a.astype(np.float32)) for a in (W1, b1, W2, b2))
        params.append(group)
        slots_m.append(tuple(tf.zeros_like(a) for a in group))
        slots_v.append(tuple(tf.zeros_like(a) for a in group))
        rate = np.repeat([float(specs[m].dropout) for m in ids], w).astype(np.float32)
        consts.append({
            "rate": tf.constant(rate), "scale": tf.constant(1.0 / (1.0 - rate)), "width": w,
            "lr_unit": tf.constant(np.repeat([float(specs[m].learning_rate) for m in ids], w).astype(np.float32)),
            "lr_model": tf.constant(np.array([float(specs[m].learning_rate) for m in ids], np.float32)),
            "n_models": len(ids),
        })
    params, slots_m, slots_v = tuple(params), tuple(slots_m), tuple(slots_v)
    sizes = [len(yb) for _, yb in train_sets]
    ragged = len({math.ceil(n / int(batch_size)) for n in sizes}) > 1
    run_epoch, predict = _epoch_function(len(widths), track, ragged)

    X = tf.constant(_pad_stack([np.asarray(Xb, np.float32) for Xb, _ in train_sets], np.float32))
    Y = tf.constant(_pad_stack([np.asarray(yb, np.float32) for _, yb in train_sets], np.float32))
    Xe = (tf.constant(_pad_stack([np.asarray(e, np.float32).reshape(-1, n_features) for e in eval_sets],
                                 np.float32)) if eval_sets is not None else None)
    hist_X = hist_y = None
    if track and any(h is not None for h in history_sets):
        hist_X = tf.constant(_pad_stack([np.asarray(h[0] if h is not None else np.zeros((0, n_features)),
                                                    np.float32) for h in history_sets], np.float32))
        hist_y = [np.asarray(h[1], np.float32) if h is not None else None for h in history_sets]
    rngs = [np.random.default_rng([int(seed), 7, g]) for g in range(G)]
    t = tf.zeros([G])
    predictions: dict = {}
    history = [[{"loss": [], "accuracy": []} for _ in range(M)] for _ in range(G)] if track else None
    steps_total = 0
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        idx, mask, steps = _epoch_indices(sizes, int(batch_size), rngs, shuffle)
        steps_total += steps
        params, slots_m, slots_v, t, loss_sum, correct = run_epoch(
            X, Y, tf.constant(idx), tf.constant(mask), params, slots_m, slots_v, t, consts,
            tf.constant(int(seed) * 100_003 + epoch, tf.int32))
        if track:
            loss_np = loss_sum.numpy()[:, inverse]
            acc_np = correct.numpy()[:, inverse]
            for g in range(G):
                for m in range(M):
                    history[g][m]["loss"].append(float(loss_np[g, m] / sizes[g]))
                    history[g][m]["accuracy"].append(float(acc_np[g, m] / sizes[g]))
            if hist_X is not None:
                proba = predict(hist_X, params, consts).numpy()[:, :, inverse]
                for g in range(G):
                    if hist_y[g] is None:
                        continue
                    n, yv = len(hist_y[g]), hist_y[g][:, None]
                    p = np.clip(proba[g, :n].astype(np.float64), 1e-7, 1 - 1e-7)
                    vloss = -(yv * np.log(p) + (1 - yv) * np.log(1 - p)).mean(axis=0)
                    vacc = ((p > 0.5) == (yv > 0.5)).mean(axis=0)
                    for m in range(M):
                        history[g][m].setdefault("val_loss", []).append(float(vloss[m]))
                        history[g][m].setdefault("val_accuracy", []).append(float(vacc[m]))
        if Xe is not None and epoch in eval_epochs:
            proba = predict(Xe, params, consts).numpy()[:, :, inverse]
            predictions[epoch] = [proba[g, : len(eval_sets[g])] for g in range(G)]
        if epoch_callback is not None:
            epoch_callback(epoch)
    seconds = time.perf_counter() - start

    weights = [[None] * M for _ in range(G)]
    for gi, w in enumerate(widths):
        W1, b1, W2, b2 = (a.numpy() for a in params[gi])
        for k, m in enumerate(members[w]):
            cols = slice(k * w, (k + 1) * w)
            for g in range(G):
                weights[g][m] = [W1[g][:, cols].copy(), b1[g][cols].copy(), W2[g][cols].reshape(w, 1).copy(),
                                 b2[g][k: k + 1].copy()]
    return StackedResult(predictions=predictions, weights=weights, history=history, seconds=seconds,
                         steps=steps_total, info={"blocks": G, "models_per_block": M, "widths": widths})


# --------------------------------------------------------------------------- grid planning
