"""One-vs-rest grid search of the brief's MLP on the four shift-augmentation variants: leakage-safe (shifted copies
join training folds only), resumable (each fit stored when done, keyed by a digest), local, multi-process or on Dask;
:func:`search_label` stores a label's artifacts in a run. Never ``GridSearchCV(cv=3)``: with scikit-learn >= 1.7
``is_classifier(KerasClassifier(...))`` is False, so an int ``cv`` would mean plain ``KFold``; ours are stratified."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import pickle
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers import layout
from helpers.data.resampling import VARIANTS, check_delta, check_variant, make_shift_sampler, shift_augment
from helpers.distributed import map_tasks
from helpers.env import progress_bar as tqdm  # text bar when ipywidgets is missing (no TqdmWarning)
from helpers.models.mlp import build_mlp, make_classifier
from helpers.runs import COMPLETE_MARKER, atomic_path, write_json
from helpers.training.experiments import fingerprint
from helpers.training.fast_search import FastGridSearchCV, check_network
from helpers.training.grid import (
    DEFAULT_SCORING,
    GRID_KEYS,
    METRICS,
    array_digest,
    assemble_cv_results,
    brief_param_grid,
    check_choice,
    check_cv,
    check_min_rows,
    check_param_grid,
    check_xy,
    grid_combinations,
    json_digest,
    make_cv,
    n_combinations,
    ovr_target,
    refit_split,
    score_binary,
)

__all__ = ["VARIANTS", "METRICS", "DEFAULT_SCORING", "ENGINES", "GRID_KEYS", "build_mlp", "make_classifier",
           "brief_param_grid", "check_param_grid", "n_combinations", "make_cv", "ovr_target", "score_binary",
           "run_search", "SearchResult", "results_table", "save_search", "load_estimator", "search_label",
           "shift_augment", "check_min_rows", "choose_labels", "split_fingerprint", "summary_frame"]

ENGINES = ("sklearn", "fast")
MODEL_FILES = {"pkl": "model.pkl", "keras": "model.keras", "h5": "model.h5"}
BINARY = "binary (positive class = the label)"
HISTORY_NOTE = ("loss/accuracy: refit-train part (augmented); val_loss/val_accuracy: held-out validation part "
                "of the training split (not augmented)")


@dataclass
class SearchResult:
    """What :func:`run_search` returns: ``GridSearchCV``'s ``cv_results_``, ``best_*`` (``best_estimator_``: a
    fitted ``KerasClassifier``) and the refit's per-epoch ``history_``."""

    cv_results_: dict
    best_params_: dict
    best_score_: float
    best_index_: int
    best_estimator_: Any
    history_: Any
    scoring: str = DEFAULT_SCORING
    variant: str = "original"
    delta: float = 0.01
    engine: str = "sklearn"
    n_splits: int = 3
    refit_time_: float = float("nan")
    n_fits_run_: int = 0
    n_fits_loaded_: int = 0
    info: dict = field(default_factory=dict)


def _fit_and_score(X, y, train_idx, val_idx, params: dict, variant: str, delta: float, seed: int,
                   build_model=None) -> dict:
    """Fit one (combination, fold): augment the training fold only, score the untouched validation fold."""
    import keras
    import tensorflow as tf
    from imblearn.pipeline import Pipeline

    keras.utils.set_random_seed(int(seed))  # the same numbers in this process, a worker or on Dask
    tf.config.experimental.enable_op_determinism()  # else a loaded worker may reorder batches
    model = make_classifier(random_state=seed, model=build_model).set_params(**params)
    pipe = Pipeline([("augment", make_shift_sampler(variant, delta)), ("model", model)])
    start = time.perf_counter()
    pipe.fit(X[train_idx], y[train_idx])
    fit_time, start = time.perf_counter() - start, time.perf_counter()
    scores = score_binary(y[val_idx], pipe.predict_proba(X[val_idx]))
    return {"scores": scores, "fit_time": fit_time, "score_time": time.perf_counter() - start,
            "n_train": int(len(train_idx) * (1 + {"original": 0, "up": 1, "down": 1, "updown": 2}[variant])),
            "n_val": int(len(val_idx))}


def _refit(X, y, params: dict, variant: str, delta: float, seed: int, val_size: float, build_model=None):
    """Refit ``params`` on the augmented refit-train part; the held-out part gives the val curves."""
    idx_train, idx_val = refit_split(y, val_size, seed)
    X_aug, y_aug = shift_augment(X[idx_train], y[idx_train], variant=variant, delta=delta)
    model = make_classifier(random_state=seed, model=build_model).set_params(**params)
    if len(idx_val):
        model.set_params(fit__validation_data=(X[idx_val], y[idx_val]))
    start = time.perf_counter()
    model.fit(X_aug, y_aug)
    refit_time = time.perf_counter() - start
    if len(idx_val):  # light and picklable without the validation arrays
        model.set_params(fit__validation_data=None)
    info = {"refit_train_rows": int(len(idx_train)), "refit_train_rows_augmented": int(len(y_aug)),
            "refit_val_rows": int(len(idx_val)), "history_columns": HISTORY_NOTE}
    return model, _history(model.history_), refit_time, info


def _history(history) -> pd.DataFrame:
    frame = pd.DataFrame(history)
    frame.insert(0, "epoch", np.arange(1, len(frame) + 1))
    return frame


def run_search(X, y, *, param_grid: Mapping[str, Sequence] | None = None, cv=None, variant: str = "original",
               delta: float = 0.01, scoring: str = DEFAULT_SCORING, engine: str = "sklearn", seed: int = 0,
               store_dir: str | Path | None = None, progress: bool = True, val_size: float = 0.2,
               desc: str | None = None, backend: str = "local", n_jobs: int = 1,
               scheduler_address: str | None = None, build_model=None) -> SearchResult:
    """Leakage-safe one-vs-rest grid search of ``build_model`` (default :func:`build_mlp`) on one ``variant``: engine
    ``sklearn`` fits each (combination, fold) in scikeras via ``backend``, ``fast`` is :class:`FastGridSearchCV`;
    ``store_dir`` keeps each fit (keyed by data, settings, build source); the best is refit holding out ``val_size``."""
    check_variant(variant)
    delta = check_delta(delta)
    check_choice("scoring", scoring, METRICS)
    check_choice("engine", engine, ENGINES)
    grid = check_param_grid(param_grid if param_grid is not None else brief_param_grid())
    X, y = check_xy(X, y)
    cv = check_cv(cv, seed)
    n_splits = int(cv.get_n_splits(X, y))
    check_min_rows(y, n_splits)
    if engine == "fast":
        if build_model is not None:
            check_network(build_model, X.shape[1], grid)
        fast = FastGridSearchCV(param_grid=grid, cv=cv, scoring=scoring, random_state=seed,
                                sampler=functools.partial(shift_augment, variant=variant, delta=delta),
                                checkpoint_dir=store_dir, progress=progress, val_size=val_size,
                                desc=desc or f"grid search ({variant}, fast)").fit(X, y)
        return SearchResult(dict(fast.cv_results_), dict(fast.best_params_), float(fast.best_score_),
                            int(fast.best_index_), fast.best_estimator_, _history(fast.history_), scoring=scoring,
                            variant=variant, delta=delta, engine="fast", n_splits=n_splits,
                            refit_time_=float(fast.refit_time_),
                            info={**fast.refit_info_, "fast_engine": dict(fast.info_), "history_columns": HISTORY_NOTE})
    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # one retracing warning per new model is expected
    combos, folds = grid_combinations(grid), list(cv.split(X, y))
    digest = array_digest(X, y, typed=False) + (fingerprint(build_model) if build_model is not None else "")
    if store_dir is not None:
        Path(store_dir).mkdir(parents=True, exist_ok=True)
    results, todo = {}, {}  # (combination, fold) -> stored result / (its file, its task)
    for ci, params in enumerate(combos):
        for k, (tr, va) in enumerate(folds):
            key = json_digest({"params": params, "fold": k, "variant": variant, "delta": delta, "seed": seed,
                               "n_splits": n_splits, "n_rows": len(y), "data": digest})
            path = Path(store_dir) / f"fit_{ci:03d}_fold{k}_{key}.json" if store_dir is not None else None
            if path is not None and path.exists():
                results[ci, k] = json.loads(path.read_text())
            else:
                todo[ci, k] = (path, (X, y, tr, va, params, variant, delta, seed, build_model))
    loaded, keys = len(results), list(todo)
    with tqdm(total=len(combos) * len(folds), initial=loaded, desc=desc or f"grid search ({variant})",
              disable=not progress, unit="fit") as bar:  # every fit is stored the moment it finishes
        for i, result in map_tasks(_fit_and_score, [todo[key][1] for key in keys], backend=backend,
                                   n_jobs=n_jobs, scheduler_address=scheduler_address):
            (ci, k), path = keys[i], todo[keys[i]][0]
            result.update(params=combos[ci], fold=k, combination=ci, split="val", averaging=BINARY)
            if path is not None:
                write_json(path, result)
            results[ci, k] = result
            bar.update(1)
    cv_results = assemble_cv_results(combos, [[results[ci, k] for k in range(len(folds))]
                                              for ci in range(len(combos))])
    best_index = int(np.argmin(cv_results[f"rank_test_{scoring}"]))  # first of the best (ties: grid order)
    estimator, history, refit_time, info = _refit(X, y, dict(combos[best_index]), variant, delta, seed, val_size,
                                                  build_model)
    return SearchResult(cv_results, dict(combos[best_index]), float(cv_results[f"mean_test_{scoring}"][best_index]),
                        best_index, estimator, history, scoring=scoring, variant=variant, delta=delta,
                        engine="sklearn", n_splits=n_splits, refit_time_=refit_time, n_fits_run_=len(keys),
                        n_fits_loaded_=loaded, info=info)


def choose_labels(y, labels=None) -> list:
    """The labels to search: ``labels`` checked against ``y`` (else ``ValueError``), or all, largest first."""
    counts = pd.Series(np.asarray(y)).value_counts()
    order = sorted(counts.index.tolist(), key=lambda v: (-counts[v], str(v)))
    if labels is None:
        return order
    labels = [labels] if isinstance(labels, str) else labels
    unknown = [lab for lab in labels if lab not in counts.index]
    if unknown or not labels:
        raise ValueError(f"labels: {unknown or labels!r} not in the data; "
                         f"expected some of {', '.join(map(str, order))}")
    return list(labels)


def split_fingerprint(train, test) -> str:
    """A short hash of a train/test split (row contents and order), to check that notebooks agree."""
    h = hashlib.sha1()
    for part in (train, test):
        h.update(pd.util.hash_pandas_object(part, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def summary_frame(summaries: Mapping[str, dict]) -> pd.DataFrame:
    """One row per label from :func:`search_label` results: best params, CV (val) and test scores."""
    rows = []
    for label, s in summaries.items():
        metric, test = s["scoring"], s["test"]
        rows.append({"label": label, **{k.replace("model__", ""): v for k, v in s["best_params"].items()},
                     f"cv_{metric}": f"{s['cv'][metric]['mean']:.3f} ± {s['cv'][metric]['std']:.3f}",
                     f"test_{metric}": round(float(test[metric]), 3), "test_f1": round(float(test["f1"]), 3),
                     "test_accuracy": round(float(test["accuracy"]), 3)})
    return pd.DataFrame(rows)


def results_table(result, top: int | None = None) -> pd.DataFrame:
    """A :class:`SearchResult` (or a :func:`save_search` folder) as a table sorted best first: parameters without
    ``model__``, ``mean_<m>``/``std_<m>`` per metric over the validation folds, ``rank``, ``mean_fit_time``."""
    if isinstance(result, (str, Path)):
        folder = Path(result)
        if not (folder / "cv_results.csv").exists():
            raise FileNotFoundError(f"expected {folder / 'cv_results.csv'}; run 03_gridsearch first")
        table = pd.read_csv(folder / "cv_results.csv")
        cv = {**{c: table[c].to_numpy() for c in table.columns}, "params": [json.loads(p) for p in table["params"]]}
        scoring = json.loads((folder / "best_params.json").read_text())["scoring"]
    else:
        cv, scoring = result.cv_results_, result.scoring
    frame = pd.DataFrame([{k.replace("model__", ""): v for k, v in p.items()} for p in cv["params"]])
    for metric in (m for m in METRICS if f"mean_test_{m}" in cv):
        frame[f"mean_{metric}"] = np.asarray(cv[f"mean_test_{metric}"], dtype=float)
        frame[f"std_{metric}"] = np.asarray(cv[f"std_test_{metric}"], dtype=float)
    frame["rank"] = np.asarray(cv[f"rank_test_{scoring}"])
    frame["mean_fit_time"] = np.asarray(cv["mean_fit_time"], dtype=float)
    frame = frame.sort_values(["rank", f"mean_{scoring}"], ascending=[True, False], kind="stable")
    return frame.reset_index(drop=True).head(top) if top else frame.reset_index(drop=True)


def save_search(result: SearchResult, folder: str | Path, test_scores: dict | None = None,
                extra: dict | None = None) -> Path:
    """Write one label's artifacts into ``folder``, each atomically: ``model.pkl`` (scikeras), ``model.keras``/``.h5``,
    ``history.csv`` (refit), ``best_params.json``, ``cv_results.csv`` (val folds), if given ``test_scores.json``."""
    import cloudpickle  # stores a notebook's own build function by value: 04, in another kernel, can load it

    folder, cv, index = Path(folder), result.cv_results_, result.best_index_
    cv_frame = pd.DataFrame({k: [json.dumps(p, sort_keys=True) for p in v] if k == "params" else list(np.asarray(v))
                             for k, v in cv.items()})
    keras_model = result.best_estimator_.model_
    for name, write in {"model.pkl": lambda p: p.write_bytes(cloudpickle.dumps(result.best_estimator_)),
                        "model.keras": keras_model.save, "model.h5": keras_model.save,
                        "history.csv": lambda p: result.history_.to_csv(p, index=False),
                        "cv_results.csv": lambda p: cv_frame.to_csv(p, index=False)}.items():
        with atomic_path(folder / name) as tmp:
            write(tmp)
    write_json(folder / "best_params.json", {
        "best_params": result.best_params_, "best_index": index, "scoring": result.scoring,
        "best_score": result.best_score_,
        "cv": {m: {"mean": float(cv[f"mean_test_{m}"][index]), "std": float(cv[f"std_test_{m}"][index])}
               for m in METRICS if f"mean_test_{m}" in cv},
        "split": "val", "averaging": f"mean and SD over {result.n_splits} stratified CV folds; {BINARY}",
        "variant": result.variant, "delta": result.delta, "engine": result.engine, "n_fits_run": result.n_fits_run_,
        "n_fits_loaded": result.n_fits_loaded_, "refit_time_s": result.refit_time_, **result.info, **(extra or {})})
    if test_scores is not None:
        write_json(folder / "test_scores.json", test_scores)
    return folder


def load_estimator(folder: str | Path, kind: str = "pkl"):
    """Load a saved model: ``kind="pkl"`` gives the scikeras estimator, ``"keras"``/``"h5"`` the Keras model."""
    check_choice("kind", kind, MODEL_FILES)
    path = Path(folder) / MODEL_FILES[kind]
    if not path.exists():
        raise FileNotFoundError(f"expected the model file {path}, but it does not exist; run 03_gridsearch first")
    if kind == "pkl":
        return pickle.loads(path.read_bytes())
    import keras

    return keras.models.load_model(path)


def search_label(run, X_train, y_train, X_test, y_test, label, *, variant: str, delta: float = 0.01, param_grid=None,
                 cv: int = 3, scoring: str = DEFAULT_SCORING, engine: str = "sklearn", seed: int = 0,
                 progress: bool = True, extra: dict | None = None, backend: str = "local", n_jobs: int = 1,
                 scheduler_address: str | None = None, build_model=None, val_size: float = 0.2) -> dict:
    """:func:`run_search` of one label (``y_*``: multi-class) in ``run``'s ``tabular/gridsearch/<variant>/<label>/``
    (``extra`` joins best_params.json), scored once on test; skipped if complete with the same digest (data, settings,
    ``build_model``'s source). Returns ``folder, best_params, cv, scoring, test, n_fits_*, result`` (None if loaded)."""
    rel = layout.gridsearch_label(variant, label)
    digest = fingerprint({"X_train": X_train, "y_train": y_train, "X_test": X_test, "y_test": y_test,
                          "param_grid": param_grid, "cv": cv, "scoring": scoring, "engine": engine, "seed": seed,
                          "delta": delta, "val_size": val_size, "build_model": build_model})
    marker = run.path / rel / COMPLETE_MARKER
    if marker.exists() and run.read_json(f"{rel}/{COMPLETE_MARKER}").get("digest") != digest:
        print(f"{rel}: searched again, its data, parameters or build function changed since the stored search")
        marker.unlink()
    result = None
    if not run.is_complete(rel):
        y_bin = ovr_target(y_train, label)
        try:
            check_min_rows(y_bin, cv if isinstance(cv, int) else cv.get_n_splits(), label)
        except ValueError as err:
            raise ValueError(f"{err} (parameter cv={cv})") from None
        result = run_search(X_train, y_bin, param_grid=param_grid, cv=cv, variant=variant, delta=delta,
                            scoring=scoring, engine=engine, seed=seed, store_dir=run.dir(rel, "fits"),
                            progress=progress, desc=f"{variant} / {label}", backend=backend, n_jobs=n_jobs,
                            scheduler_address=scheduler_address, build_model=build_model, val_size=val_size)
        y_test_bin = (np.asarray(y_test) == label).astype(int)
        test = score_binary(y_test_bin, result.best_estimator_.predict_proba(np.asarray(X_test, dtype=np.float32)))
        save_search(result, run.path / rel, extra={"label": label, "n_train_rows": int(len(y_bin)),
                                                   "n_train_positive": int(y_bin.sum()), **(extra or {})},
                    test_scores={"label": label, "variant": variant, "split": "test", "averaging": BINARY,
                                 "n_rows": int(len(y_test_bin)), "n_positive": int(y_test_bin.sum()), **test})
        run.mark_complete(rel, label=label, variant=variant, best_score=result.best_score_, digest=digest)
    summary = run.read_json(f"{rel}/best_params.json")
    return {"folder": rel, "best_params": summary["best_params"], "cv": summary["cv"],
            "scoring": summary["scoring"], "test": run.read_json(f"{rel}/test_scores.json"), "result": result,
            "n_fits_run": summary.get("n_fits_run"), "n_fits_loaded": summary.get("n_fits_loaded")}
