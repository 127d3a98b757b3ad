"""A fast, batched grid search of the brief's MLP: the same networks and maths as scikeras, many at once.
All combinations sharing a batch size, on all folds, train as one stacked model (each sub-network its own
weights, loss and Adam slots: exactly a lone Keras fit); combinations differing only in ``epochs`` share
a run (scored after each epoch count); one ``tf.function`` runs an epoch; each group's fold scores are
stored as it finishes, so a killed search resumes. Results have ``GridSearchCV``'s shape."""

from __future__ import annotations

import inspect
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
    array_digest,
    assemble_cv_results,
    check_choice,
    check_cv,
    check_param_grid,
    check_xy,
    grid_combinations,
    json_digest,
    refit_split,
    score_binary,
)

__all__ = ["FastGridSearchCV", "plan_groups", "combination_settings", "check_network"]

SETTINGS = ("neurons", "dropout", "kernel_initializer", "learning_rate", "epochs", "batch_size")


def check_network(build_model: Callable, n_features: int, grid: Mapping[str, Sequence]) -> None:
    """Check that a notebook's ``build_model`` is the network this engine trains for every (neurons, dropout,
    initializer) of ``grid``: Dense -> Dropout -> Dense with the same parameter count. Raises ValueError saying
    what differs (then use engine="sklearn", which trains the notebook's function itself)."""
    import keras

    seen = set()
    for s in map(combination_settings, grid_combinations(grid)):
        if (s["neurons"], s["dropout"], s["kernel_initializer"]) in seen:
            continue
        seen.add((s["neurons"], s["dropout"], s["kernel_initializer"]))
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
    """A grid combination as ``make_classifier`` keyword arguments (``neurons, dropout, kernel_initializer,
    learning_rate, epochs, batch_size``), defaults filled in and values checked."""
    check_param_grid({key: [value] for key, value in params.items()})
    given = {key.removeprefix("model__"): value for key, value in params.items()}
    defaults = inspect.signature(make_classifier).parameters
    out = {key: given.get(key, defaults[key].default) for key in SETTINGS}
    for key in ("epochs", "batch_size", "neurons"):
        if isinstance(out[key], bool) or not isinstance(out[key], (int, np.integer)) or out[key] < 1:
            raise ValueError(f"{key} must be a positive integer, got {out[key]!r}")
    if not isinstance(out["dropout"], (int, float)) or not 0 <= float(out["dropout"]) < 1:
        raise ValueError(f"model__dropout must be a number in [0, 1), got {out['dropout']!r}")
    check_initializer(out["kernel_initializer"])
    return out


def _spec(s: Mapping[str, Any]) -> ModelSpec:
    return ModelSpec(int(s["neurons"]), float(s["dropout"]), str(s["kernel_initializer"]), float(s["learning_rate"]))


@dataclass
class Group:
    """Combinations trained together (one batch size, one stacked model, one run of ``epochs``): ``specs[j]``
    is a sub-network, ``members[j]`` maps each of its epoch counts to the grid combination it answers."""

    batch_size: int
    specs: list
    members: list
    epochs: int

    @property
    def eval_epochs(self) -> list[int]:
        return sorted({e for m in self.members for e in m})


def plan_groups(combos: Sequence[Mapping[str, Any]]) -> list[Group]:
    """Group grid combinations by batch size (sorted); combinations differing only in epochs share a run."""
    groups: dict[int, dict[ModelSpec, dict[int, int]]] = {}
    for index, params in enumerate(combos):
        s = combination_settings(params)
        groups.setdefault(int(s["batch_size"]), {}).setdefault(_spec(s), {})[int(s["epochs"])] = index
    return [Group(bs, list(by_spec), list(by_spec.values()), max(e for m in by_spec.values() for e in m))
            for bs, by_spec in sorted(groups.items())]


class FastGridSearchCV:
    """Grid search with ``GridSearchCV``'s results (``cv_results_``, ``best_params_``, ``best_estimator_``, ...),
    training every batch-size group as one model. ``sampler(X, y) -> (X_aug, y_aug)`` augments training folds
    and the refit part only; the refit holds out ``val_size`` of the rows for ``history_``'s val curves;
    ``checkpoint_dir`` stores one JSON per finished group; ``info_`` counts groups trained/loaded and times."""

    def __init__(self, param_grid, cv=3, scoring: str = "average_precision", sampler=None, refit: bool = True,
                 random_state: int = 0, checkpoint_dir=None, progress: bool = True,
                 val_size: float = 0.2, desc: str | None = None):
        self.param_grid, self.cv, self.scoring, self.sampler, self.refit = param_grid, cv, scoring, sampler, refit
        self.random_state, self.checkpoint_dir, self.progress = random_state, checkpoint_dir, progress
        self.val_size, self.desc = val_size, desc

    def _augment(self, X, y):
        if self.sampler is None:
            return X, y
        Xa, ya = self.sampler(X, y)
        return np.asarray(Xa, np.float32), np.asarray(ya)

    def fit(self, X, y):
        """Run the search (and the refit); returns ``self``."""
        t_start = time.perf_counter()
        X, y = check_xy(X, y)
        check_choice("scoring", self.scoring, METRICS)
        seed = self.random_state
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"random_state must be a non-negative integer, got {seed!r}")
        if not isinstance(self.val_size, (int, float)) or not 0 <= self.val_size < 1:
            raise ValueError(f"val_size must be a number in [0, 1), got {self.val_size!r}")
        seed = int(seed)
        folds = list(check_cv(self.cv, seed).split(X, y))
        combos = grid_combinations(self.param_grid)
        groups = plan_groups(combos)
        self.n_splits_ = len(folds)
        blocks = [self._augment(X[tr], y[tr]) for tr, _ in folds]
        vals = [(X[va], y[va]) for _, va in folds]
        data_key = array_digest(X, y, *[va for _, va in folds], *[b[0] for b in blocks], *[b[1] for b in blocks])
        store = Path(self.checkpoint_dir) if self.checkpoint_dir is not None else None
        if store is not None:
            store.mkdir(parents=True, exist_ok=True)
        fold_results: list[list[Any]] = [[None] * len(folds) for _ in combos]
        timing = {"train_s": 0.0, "score_s": 0.0, "groups_trained": 0, "groups_loaded": 0, "steps": 0}
        with tqdm(total=sum(g.epochs for g in groups), desc=self.desc or "fast grid search", unit="epoch",
                  disable=not self.progress) as bar:
            for group in groups:
                key = json_digest({"data": data_key, "seed": seed, "batch_size": group.batch_size,
                                   "epochs": group.epochs, "specs": [s.__dict__ for s in group.specs],
                                   "members": [sorted(m.items()) for m in group.members]})
                path = store / f"group_bs{group.batch_size}_{key}.json" if store is not None else None
                if path is not None and path.exists():
                    saved = read_json(path)
                    timing["groups_loaded"] += 1
                    bar.update(group.epochs)
                else:
                    saved = self._train_group(group, blocks, vals, combos, seed, bar, timing)
                    if path is not None:
                        write_json(path, saved)
                for r in saved["results"]:
                    fold_results[r["combination"]][r["fold"]] = r
        self.cv_results_ = assemble_cv_results(combos, fold_results)
        self.best_index_ = int(np.argmin(self.cv_results_[f"rank_test_{self.scoring}"]))
        self.best_params_ = dict(combos[self.best_index_])
        self.best_score_ = float(self.cv_results_[f"mean_test_{self.scoring}"][self.best_index_])
        self.multimetric_, self.refit_time_ = True, float("nan")
        if self.refit:
            self._refit(X, y, seed)
        timing.update(total_s=time.perf_counter() - t_start, refit_s=self.refit_time_)
        self.info_ = {"engine": "fast", "n_groups": len(groups), **timing}
        return self

    def _train_group(self, group: Group, blocks, vals, combos, seed: int, bar, timing: dict) -> dict:
        """Train one group on all folds; its per-(combination, fold) validation scores, as stored."""
        result = train_stacked(blocks, group.specs, group.batch_size, group.epochs, eval_sets=[v[0] for v in vals],
                               eval_epochs=group.eval_epochs, seed=seed, epoch_callback=lambda _e: bar.update(1))
        timing["train_s"] += result.seconds
        timing["steps"] += result.steps
        timing["groups_trained"] += 1
        share = result.seconds / (len(vals) * len(group.specs))  # per sub-network and fold
        saved = {"batch_size": group.batch_size, "epochs": group.epochs, "seconds": result.seconds,
                 "steps_per_model": result.steps, "split": "val",
                 "averaging": "binary (positive class = the label), per validation fold", "results": []}
        t_score = time.perf_counter()
        for j, members in enumerate(group.members):
            for epochs, index in sorted(members.items()):
                for k, (_, yv) in enumerate(vals):
                    s0 = time.perf_counter()
                    scores = score_binary(yv, result.predictions[epochs][k][:, j])
                    saved["results"].append({"combination": index, "fold": k, "scores": scores,
                                             "fit_time": share * epochs / group.epochs,
                                             "score_time": time.perf_counter() - s0, "params": combos[index]})
        timing["score_s"] += time.perf_counter() - t_score
        return saved

    def _refit(self, X, y, seed: int) -> None:
        settings = combination_settings(self.best_params_)
        idx_train, idx_val = refit_split(y, self.val_size, seed)
        X_aug, y_aug = self._augment(X[idx_train], y[idx_train])
        result = train_stacked([(X_aug, y_aug)], [_spec(settings)], int(settings["batch_size"]),
                               int(settings["epochs"]), seed=seed,
                               history_sets=[(X[idx_val], y[idx_val])] if len(idx_val) else [None])
        estimator = make_classifier(random_state=seed, **settings)
        estimator.initialize(X_aug, y_aug)
        estimator.model_.set_weights(result.weights[0][0])
        self.history_ = self.refit_history_ = {k: list(v) for k, v in sorted(result.history[0][0].items())}
        estimator.history_ = dict(self.history_)
        self.best_estimator_, self.refit_time_ = estimator, result.seconds
        self.refit_info_ = {"refit_train_rows": int(len(idx_train)), "refit_train_rows_augmented": int(len(y_aug)),
                            "refit_val_rows": int(len(idx_val))}

    def predict_proba(self, X):
        """``best_estimator_.predict_proba`` (after a refit)."""
        if not hasattr(self, "best_estimator_"):
            raise ValueError("this FastGridSearchCV has no best_estimator_: call fit with refit=True first")
        return self.best_estimator_.predict_proba(np.asarray(X, np.float32))
