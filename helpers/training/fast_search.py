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
``best_estimator_`` -- a fitted :func:`helpers.models.mlp.make_classifier` carrying the refit weights).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from helpers.env import progress_bar as tqdm  # text bar when ipywidgets is missing (no TqdmWarning)
from helpers.models.mlp import make_classifier, parameter_count
from helpers.models.stacked_mlp import ModelSpec, check_initializer, train_stacked
from helpers.runs import read_json, write_json
from helpers.training.grid import (
    METRICS,
    assemble_cv_results,
    check_xy,
    grid_combinations,
    make_cv,
    score_binary,
)

__all__ = ["FastGridSearchCV", "plan_groups", "combination_settings", "check_network"]

# Keras 3 Adam defaults (keras.optimizers.Adam): the update rule below is Keras' own.
_SPEC_KEYS = {"model__neurons": "neurons", "model__dropout": "dropout",
              "model__kernel_initializer": "kernel_initializer", "model__learning_rate": "learning_rate"}


def _classifier_defaults() -> dict[str, Any]:
    """Default values of :func:`helpers.models.mlp.make_classifier` (for keys a grid leaves out)."""

    return {name: p.default for name, p in inspect.signature(make_classifier).parameters.items()
            if p.default is not inspect.Parameter.empty}


def check_network(build_model: Callable, n_features: int, grid: Mapping[str, Sequence]) -> None:
    """Check that a notebook's ``build_model`` is the network this engine trains, for every
    (neurons, dropout, initializer) of ``grid``: layers Dense -> Dropout -> Dense(1, sigmoid) with
    the same number of parameters. Raises ValueError saying what differs (then use engine="sklearn",
    which trains the notebook's function itself)."""
    import keras

    seen = set()
    for params in grid_combinations(grid):
        s = combination_settings(params)
        key = (s["neurons"], s["dropout"], s["kernel_initializer"])
        if key in seen:
            continue
        seen.add(key)
        model = build_model({"n_features_in_": int(n_features), "n_classes_": 2}, neurons=s["neurons"],
                            dropout=s["dropout"], kernel_initializer=s["kernel_initializer"],
                            learning_rate=s["learning_rate"])
        kinds = [type(layer).__name__ for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
        expected = parameter_count(n_features, s["neurons"])
        if kinds != ["Dense", "Dropout", "Dense"] or model.count_params() != expected:
            raise ValueError(
                f"engine='fast' trains Dense({s['neurons']}) -> Dropout({s['dropout']}) -> Dense(1) "
                f"({expected:,} parameters for {n_features} features), but your build_model gives "
                f"{' -> '.join(kinds)} with {model.count_params():,} parameters; use engine='sklearn', "
                "which trains your function itself")
        keras.backend.clear_session()


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
    check_initializer(out["kernel_initializer"])
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
        Refit the best combination (on ``1 - val_size`` of the rows, augmented) and build
        ``best_estimator_``.
    random_state : int
        Seeds folds (when ``cv`` is an int), initial weights, shuffling, dropout, refit split.
    checkpoint_dir : path, optional
        Folder for one JSON per finished group; a re-run loads them instead of training.
    progress : bool
        Show a tqdm progress bar (one tick per epoch of a group).
    val_size : float
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
                 val_size: float = 0.2, desc: str | None = None):
        self.param_grid = param_grid
        self.cv = cv
        self.scoring = scoring
        self.sampler = sampler
        self.refit = refit
        self.random_state = random_state
        self.checkpoint_dir = checkpoint_dir
        self.progress = progress
        self.val_size = val_size
        self.desc = desc

    # ------------------------------------------------------------------ helpers
    def _check(self, X, y):

        X, y = check_xy(X, y)
        if self.scoring not in METRICS:
            raise ValueError(f"scoring must be one of {', '.join(METRICS)}; got {self.scoring!r}")
        seed = self.random_state
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"random_state must be a non-negative integer, got {seed!r}")
        if not isinstance(self.val_size, (int, float)) or not 0 <= self.val_size < 1:
            raise ValueError(f"val_size must be a number in [0, 1), got {self.val_size!r}")
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

        t_start = time.perf_counter()
        X, y, cv = self._check(X, y)
        combos = grid_combinations(self.param_grid)
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
        self.cv_results_ = assemble_cv_results(combos, fold_results)
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


        settings = combination_settings(self.best_params_)
        if self.val_size > 0:
            idx_train, idx_val = train_test_split(np.arange(len(y)), test_size=self.val_size,
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
