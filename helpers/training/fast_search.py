"""A fast, batched grid search of the brief's one-hidden-layer MLP (same science, one fit per group).

The naive way (scikeras ``KerasClassifier`` in ``GridSearchCV``) trains every (combination, fold)
on its own, and almost all of its time is per-step framework overhead: the network's arithmetic per
step is a few microseconds. This engine trains the same networks, with the same maths, many at once:

* **Stacked sub-networks.** All combinations that share a batch size, on all CV folds, are one
  batched model. Every fold is a *block* (its own training rows, its own shuffle); every
  combination is a *sub-network* inside each block, with its own stacked weights
  (``[n_blocks, n_features, k * width]`` per hidden width), its own dropout rate, initializer and
  learning rate. The loss is the sum of the sub-networks' own mean losses, so each sub-network's
  gradient is exactly its own; Adam is element-wise, so with one Adam slot per weight every
  update is exactly the one a lone Keras fit would make (tested against Keras).
* **Epochs from one run.** Combinations that differ only in ``epochs`` are one training run; the
  validation predictions are taken after each requested epoch (the state after epoch 15 of a
  20-epoch run *is* a 15-epoch run with the same seed and data order).
* **One graph per epoch.** One ``tf.function`` loops over all steps of an epoch on in-memory
  tensors (indices for the shuffle are made up front); no Python per step, no callbacks.
* **Resume.** Each group's fold scores are written (atomically) to ``checkpoint_dir`` when the
  group finishes; a killed search redoes only the missing groups.

The result has scikit-learn's ``GridSearchCV`` shape (``cv_results_``, ``best_params_``,
``best_estimator_`` -- a fitted :func:`helpers.training.search.make_classifier` carrying the refit weights).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ModelSpec", "StackedResult", "train_stacked", "FastGridSearchCV", "plan_groups"]

# Keras 3 Adam defaults (keras.optimizers.Adam): the update rule below is Keras' own.
ADAM_BETA_1 = 0.9
ADAM_BETA_2 = 0.999
ADAM_EPSILON = 1e-7


@dataclass(frozen=True)
class ModelSpec:
    """One sub-network: the hyperparameters of :func:`helpers.training.search.build_mlp`."""

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
def _initial_weights(spec: ModelSpec, n_features: int, seed: int) -> list[np.ndarray]:
    """Keras-layout initial weights of one sub-network, drawn with Keras' own initializers."""
    import keras

    kernel_init = keras.initializers.get({"class_name": spec.kernel_initializer,
                                          "config": {"seed": int(seed)}})
    output_init = keras.initializers.GlorotUniform(seed=int(seed) + 7919)  # Dense default
    kernel = np.asarray(kernel_init((n_features, spec.neurons), dtype="float32"))
    out = np.asarray(output_init((spec.neurons, 1), dtype="float32"))
    return [kernel, np.zeros(spec.neurons, np.float32), out, np.zeros(1, np.float32)]


def _check_initializer(name: str) -> str:
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
        initial_weights = [[_initial_weights(specs[m], n_features, seed * 1_000_003 + g * 1009 + m)
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
_SPEC_KEYS = {"model__neurons": "neurons", "model__dropout": "dropout",
              "model__kernel_initializer": "kernel_initializer", "model__learning_rate": "learning_rate"}


def _classifier_defaults() -> dict[str, Any]:
    """Default values of :func:`helpers.training.search.make_classifier` (for keys a grid leaves out)."""
    from helpers.training.search import make_classifier

    return {name: p.default for name, p in inspect.signature(make_classifier).parameters.items()
            if p.default is not inspect.Parameter.empty}


def combination_settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """A grid combination as ``make_classifier`` keyword arguments (defaults filled in).

    Parameters
    ----------
    params : dict
        One combination with grid keys (``epochs``, ``batch_size``, ``model__neurons``, ...).

    Returns
    -------
    dict
        ``neurons, dropout, kernel_initializer, learning_rate, epochs, batch_size``.
    """
    defaults = _classifier_defaults()
    out = {k: defaults[k] for k in ("neurons", "dropout", "kernel_initializer", "learning_rate", "epochs",
                                    "batch_size")}
    for key, value in params.items():
        if key in _SPEC_KEYS:
            out[_SPEC_KEYS[key]] = value
        elif key in ("epochs", "batch_size"):
            out[key] = value
        elif key == "optimizer":
            if str(value).lower() != "adam":
                raise ValueError(f"optimizer must be 'adam' (the brief's optimizer), got {value!r}")
        else:
            raise ValueError(f"param_grid has an unknown parameter {key!r}; allowed keys: "
                             f"{', '.join(['epochs', 'batch_size', 'optimizer', *_SPEC_KEYS])}")
    for key in ("epochs", "batch_size", "neurons"):
        value = out[key]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{key} must be a positive integer, got {value!r}")
    if not isinstance(out["dropout"], (int, float)) or not 0 <= float(out["dropout"]) < 1:
        raise ValueError(f"model__dropout must be a number in [0, 1), got {out['dropout']!r}")
    _check_initializer(out["kernel_initializer"])
    return out


@dataclass
class Group:
    """Combinations trained together: one batch size, one stacked model, one run of ``epochs``.

    ``specs[j]`` is a sub-network; ``members[j]`` maps each of its epoch counts to the index of
    the grid combination it answers.
    """

    batch_size: int
    specs: list
    members: list
    epochs: int

    @property
    def eval_epochs(self) -> list[int]:
        return sorted({e for m in self.members for e in m})

    def cost(self, n_rows: int) -> float:
        """Relative cost: sample passes times total hidden width (for scheduling and estimates)."""
        return float(self.epochs * n_rows * sum(s.neurons for s in self.specs))


def plan_groups(combos: Sequence[Mapping[str, Any]]) -> list[Group]:
    """Group grid combinations by batch size; combinations differing only in epochs share a run.

    Parameters
    ----------
    combos : list of dict
        Grid combinations (``ParameterGrid`` order).

    Returns
    -------
    list of Group
        Sorted by batch size.
    """
    groups: dict[int, dict[ModelSpec, dict[int, int]]] = {}
    for index, params in enumerate(combos):
        s = combination_settings(params)
        spec = ModelSpec(int(s["neurons"]), float(s["dropout"]), str(s["kernel_initializer"]),
                         float(s["learning_rate"]))
        by_spec = groups.setdefault(int(s["batch_size"]), {})
        by_spec.setdefault(spec, {})[int(s["epochs"])] = index
    out = []
    for batch_size in sorted(groups):
        specs = list(groups[batch_size])
        members = [groups[batch_size][s] for s in specs]
        out.append(Group(batch_size, specs, members, max(e for m in members for e in m)))
    return out


def _digest(*arrays) -> str:
    h = hashlib.sha1()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str(a.shape).encode() + str(a.dtype).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


# --------------------------------------------------------------------------- the search
class FastGridSearchCV:
    """Grid search with ``GridSearchCV``'s results, training every batch-size group as one model.

    Parameters
    ----------
    param_grid : dict of lists
        Keys as in :func:`helpers.training.search.brief_param_grid` (``epochs``, ``batch_size``,
        ``model__neurons``, ``model__dropout``, ``model__kernel_initializer``,
        ``model__learning_rate``, ``optimizer`` = adam).
    cv : int or splitter
        Number of stratified folds, or a splitter with ``split`` (pass a ``StratifiedKFold``).
    scoring : str
        Primary metric (one of :data:`helpers.training.search.METRICS`); picks ``best_params_``. Every
        metric of :func:`helpers.training.search.score_binary` is computed on every validation fold.
    sampler : callable, optional
        ``sampler(X_train, y_train) -> (X_aug, y_aug)``, applied to each training fold and to the
        refit training part only -- never to validation rows.
    refit : bool
        Refit the best combination (on ``1 - refit_validation`` of the rows, augmented) and build
        ``best_estimator_``.
    random_state : int
        Seeds folds (when ``cv`` is an int), initial weights, shuffling, dropout, refit split.
    checkpoint_dir : path, optional
        Folder for one JSON per finished group; a re-run loads them instead of training.
    progress : bool
        Show a tqdm progress bar (one tick per epoch of a group).
    refit_validation : float
        Held-out share of the rows during the refit (for ``history_``'s val_loss/val_accuracy,
        as :func:`helpers.training.search.run_search` does); 0 refits on all rows.
    desc : str, optional
        Progress-bar label.

    Attributes
    ----------
    cv_results_, best_params_, best_score_, best_index_, n_splits_, best_estimator_, refit_time_ :
        As in ``GridSearchCV`` (``mean_fit_time`` is the group's training time shared out over its
        sub-networks and folds, in proportion to their epochs).
    history_, refit_history_ : dict of lists
        Per-epoch ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` of the refit.
    info_ : dict
        Groups trained/loaded, seconds per phase.
    """

    def __init__(self, param_grid, cv=3, scoring: str = "average_precision", sampler=None, refit: bool = True,
                 random_state: int = 0, checkpoint_dir=None, progress: bool = True,
                 refit_validation: float = 0.2, desc: str | None = None):
        self.param_grid = param_grid
        self.cv = cv
        self.scoring = scoring
        self.sampler = sampler
        self.refit = refit
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir
        self.progress = progress
        self.refit_validation = refit_validation
        self.desc = desc

    # ------------------------------------------------------------------ helpers
    def _check(self, X, y):
        from helpers.training.search import METRICS, _check_xy, make_cv

        X, y = _check_xy(X, y)
        if self.scoring not in METRICS:
            raise ValueError(f"scoring must be one of {', '.join(METRICS)}; got {self.scoring!r}")
        seed = self.random_state
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"random_state must be a non-negative integer, got {seed!r}")
        if not isinstance(self.refit_validation, (int, float)) or not 0 <= self.refit_validation < 1:
            raise ValueError(f"refit_validation must be a number in [0, 1), got {self.refit_validation!r}")
        cv = self.cv
        if isinstance(cv, (int, np.integer)) and not isinstance(cv, bool):
            cv = make_cv(int(cv), int(seed))
        elif isinstance(cv, (str, bytes, bool)) or not hasattr(cv, "split") or not hasattr(cv, "get_n_splits"):
            raise ValueError(f"cv must be a number of folds (>= 2) or a splitter such as StratifiedKFold, "
                             f"got {cv!r}")
        return X, y, cv

    def _augment(self, X, y):
        if self.sampler is None:
            return X, y
        Xa, ya = self.sampler(X, y)
        return np.asarray(Xa, np.float32), np.asarray(ya)

    # ------------------------------------------------------------------ fit
    def fit(self, X, y):
        """Run the search (and the refit); returns ``self``."""
        from helpers.env import progress_bar as tqdm  # text bar when ipywidgets is missing (no TqdmWarning)
        from helpers.runs import read_json, write_json
        from helpers.training.search import _assemble_cv_results, _grid_combinations, score_binary

        t_start = time.perf_counter()
        X, y, cv = self._check(X, y)
        combos = _grid_combinations(self.param_grid)
        groups = plan_groups(combos)
        folds = list(cv.split(X, y))
        self.n_splits_ = len(folds)
        blocks = [self._augment(X[tr], y[tr]) for tr, _ in folds]
        vals = [(X[va], y[va]) for _, va in folds]
        seed = int(self.random_state)
        data_key = _digest(X, y, *[np.asarray(va) for _, va in folds], *[b[0] for b in blocks],
                           *[b[1] for b in blocks])
        store = Path(self.checkpoint_dir) if self.checkpoint_dir is not None else None
        if store is not None:
            store.mkdir(parents=True, exist_ok=True)

        fold_results: list[list[dict | None]] = [[None] * len(folds) for _ in combos]
        timing = {"train_s": 0.0, "score_s": 0.0, "groups_trained": 0, "groups_loaded": 0, "steps": 0}
        total = sum(g.epochs for g in groups)
        bar = tqdm(total=total, desc=self.desc or "fast grid search", unit="epoch", disable=not self.progress)
        try:
            for group in groups:
                key = hashlib.sha1(json.dumps({
                    "data": data_key, "seed": seed, "batch_size": group.batch_size, "epochs": group.epochs,
                    "specs": [s.__dict__ for s in group.specs],
                    "members": [sorted(m.items()) for m in group.members]}, sort_keys=True).encode()
                ).hexdigest()[:16]
                path = store / f"group_bs{group.batch_size}_{key}.json" if store is not None else None
                if path is not None and path.exists():
                    saved = read_json(path)
                    timing["groups_loaded"] += 1
                    bar.update(group.epochs)
                else:
                    result = train_stacked(blocks, group.specs, group.batch_size, group.epochs,
                                           eval_sets=[v[0] for v in vals], eval_epochs=group.eval_epochs,
                                           seed=seed, epoch_callback=lambda _e: bar.update(1))
                    timing["train_s"] += result.seconds
                    timing["steps"] += result.steps
                    timing["groups_trained"] += 1
                    share = result.seconds / (len(folds) * len(group.specs))  # per sub-network and fold
                    saved = {"batch_size": group.batch_size, "epochs": group.epochs, "seconds": result.seconds,
                             "steps_per_model": result.steps, "split": "val",
                             "averaging": "binary (positive class = the label), per validation fold",
                             "results": []}
                    t_score = time.perf_counter()
                    for j, members in enumerate(group.members):
                        for epochs, index in sorted(members.items()):
                            for k, (_, yv) in enumerate(vals):
                                s0 = time.perf_counter()
                                scores = score_binary(yv, result.predictions[epochs][k][:, j])
                                saved["results"].append({
                                    "combination": index, "fold": k, "scores": scores,
                                    "fit_time": share * epochs / group.epochs,
                                    "score_time": time.perf_counter() - s0, "params": combos[index]})
                    timing["score_s"] += time.perf_counter() - t_score
                    if path is not None:
                        write_json(path, saved)
                for r in saved["results"]:
                    fold_results[r["combination"]][r["fold"]] = r
        finally:
            bar.close()
        missing = [i for i, row in enumerate(fold_results) if any(r is None for r in row)]
        if missing:  # pragma: no cover - a bug, not a user error
            raise RuntimeError(f"combinations {missing} have no results")
        self.cv_results_ = _assemble_cv_results(combos, fold_results)
        ranks = np.asarray(self.cv_results_[f"rank_test_{self.scoring}"])
        self.best_index_ = int(np.argmin(ranks))
        self.best_params_ = dict(combos[self.best_index_])
        self.best_score_ = float(self.cv_results_[f"mean_test_{self.scoring}"][self.best_index_])
        self.multimetric_ = True
        self.refit_time_ = float("nan")
        if self.refit:
            self._refit(X, y, seed)
        timing["total_s"] = time.perf_counter() - t_start
        timing["refit_s"] = self.refit_time_
        self.info_ = {"engine": "fast", "n_groups": len(groups), **timing}
        return self

    def _refit(self, X, y, seed: int) -> None:
        from sklearn.model_selection import train_test_split

        from helpers.training.search import make_classifier

        settings = combination_settings(self.best_params_)
        if self.refit_validation > 0:
            idx_train, idx_val = train_test_split(np.arange(len(y)), test_size=self.refit_validation,
                                                  stratify=y, random_state=seed)
        else:
            idx_train, idx_val = np.arange(len(y)), np.array([], dtype=int)
        X_aug, y_aug = self._augment(X[idx_train], y[idx_train])
        spec = ModelSpec(int(settings["neurons"]), float(settings["dropout"]),
                         str(settings["kernel_initializer"]), float(settings["learning_rate"]))
        history_rows = [(X[idx_val], y[idx_val])] if len(idx_val) else [None]
        result = train_stacked([(X_aug, y_aug)], [spec], int(settings["batch_size"]), int(settings["epochs"]),
                               history_sets=history_rows, seed=seed)
        estimator = make_classifier(random_state=seed, **settings)
        estimator.initialize(X_aug, y_aug)
        estimator.model_.set_weights(result.weights[0][0])
        self.history_ = {k: list(v) for k, v in sorted(result.history[0][0].items())}  # Keras order
        self.refit_history_ = self.history_
        estimator.history_ = dict(self.history_)
        self.best_estimator_ = estimator
        self.refit_time_ = result.seconds
        self.refit_info_ = {"refit_train_rows": int(len(idx_train)), "refit_train_rows_augmented": int(len(y_aug)),
                            "refit_val_rows": int(len(idx_val))}

    def predict_proba(self, X):
        """``best_estimator_.predict_proba`` (after a refit)."""
        if not hasattr(self, "best_estimator_"):
            raise ValueError("this FastGridSearchCV has no best_estimator_: call fit with refit=True first")
        return self.best_estimator_.predict_proba(np.asarray(X, np.float32))
