"""One-vs-rest grid search of a small MLP on the four shift-augmentation variants (the brief's plan).

Pieces (all importable on their own):

* :func:`build_mlp` / :func:`make_classifier` -- the network (Input -> Dense(relu) -> Dropout -> output)
  and its scikeras ``KerasClassifier`` wrapper;
* :func:`brief_param_grid` / :func:`check_param_grid` -- the brief's 48-combination grid and validation;
* :func:`make_cv` / :func:`ovr_target` -- stratified folds with a seed and the one-vs-rest target;
* :func:`score_binary` -- the scores of one validation fold (primary: average precision);
* :func:`run_search` -- the leakage-safe search: shifted copies are added to training folds only
  (an imbalanced-learn ``Pipeline`` with a ``FunctionSampler``), every (combination, fold) result is
  written to disk as it finishes so a killed search resumes, and the best combination is refit with
  a held-out validation part for train-vs-validation curves;
* :func:`save_search` / :func:`load_estimator` / :func:`search_label` -- the per-label artifacts in a run.

Why not ``GridSearchCV(cv=3)``: with scikit-learn >= 1.7, ``is_classifier(KerasClassifier(...))`` is
False, so an integer ``cv`` silently means plain ``KFold``. We always pass a ``StratifiedKFold``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from helpers import layout
from helpers.data.sampling import VARIANTS, check_delta, check_variant, make_shift_sampler, shift_augment
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
    assemble_cv_results,
    brief_param_grid,
    check_cv,
    check_min_rows,
    check_param_grid,
    check_xy,
    grid_combinations,
    make_cv,
    n_combinations,
    ovr_target,
    score_binary,
)

__all__ = [
    "VARIANTS", "METRICS", "DEFAULT_SCORING", "ENGINES", "GRID_KEYS",
    "build_mlp", "make_classifier", "brief_param_grid", "check_param_grid", "n_combinations",
    "make_cv", "ovr_target", "score_binary", "run_search", "SearchResult", "results_table",
    "save_search", "load_estimator", "search_label", "shift_augment", "check_min_rows", "choose_labels",
    "split_fingerprint", "summary_frame",
]

ENGINES = ("sklearn", "fast")

@dataclass
class SearchResult:
    """What :func:`run_search` returns (the ``GridSearchCV`` attributes plus a refit history).

    Attributes
    ----------
    cv_results_ : dict of arrays in scikit-learn's multi-metric shape
    best_params_, best_score_, best_index_ : the best combination by ``scoring``
    best_estimator_ : fitted ``KerasClassifier`` (refit on the augmented refit-train part)
    history_ : DataFrame with ``epoch, loss, accuracy, val_loss, val_accuracy`` of that refit
    """

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


def _fit_key(params: dict, fold: int, variant: str, delta: float, seed: int, n_splits: int,
             n_rows: int, data_digest: str) -> str:
    blob = json.dumps({"params": params, "fold": fold, "variant": variant, "delta": delta, "seed": seed,
                       "n_splits": n_splits, "n_rows": n_rows, "data": data_digest},
                      sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()[:16]


def _data_digest(X, y) -> str:
    h = hashlib.sha1()
    h.update(np.ascontiguousarray(X).tobytes())
    h.update(np.ascontiguousarray(y).tobytes())
    return h.hexdigest()[:16]


def _fit_and_score(X, y, train_idx, val_idx, params: dict, variant: str, delta: float, seed: int,
                   build_model=None) -> dict:
    """Fit one (combination, fold): augment the training fold only, score the untouched validation fold."""
    import keras
    from imblearn.pipeline import Pipeline

    # Reset Keras' global seed generator too, so a fit gives the same numbers in this process,
    # in a fresh worker process or on a Dask worker (scikeras' random_state alone does not).
    keras.utils.set_random_seed(int(seed))
    # Deterministic ops and tf.data ordering: without it a loaded worker may reorder batches.
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    model = make_classifier(random_state=seed, model=build_model).set_params(**params)
    pipe = Pipeline([("augment", make_shift_sampler(variant, delta)), ("model", model)])
    start = time.perf_counter()
    pipe.fit(X[train_idx], y[train_idx])
    fit_time = time.perf_counter() - start
    start = time.perf_counter()
    proba = pipe.predict_proba(X[val_idx])
    scores = score_binary(y[val_idx], proba)
    return {"scores": scores, "fit_time": fit_time, "score_time": time.perf_counter() - start,
            "n_train": int(len(train_idx) * (1 + {"original": 0, "up": 1, "down": 1, "updown": 2}[variant])),
            "n_val": int(len(val_idx))}


def _refit(X, y, params: dict, variant: str, delta: float, seed: int, val_size: float, build_model=None):
    """Refit ``params`` on the augmented refit-train part; the held-out part gives val curves."""
    import pandas as pd
    from sklearn.model_selection import train_test_split

    if val_size and val_size > 0:
        idx_train, idx_val = train_test_split(np.arange(len(y)), test_size=val_size,
                                              stratify=y, random_state=seed)
    else:
        idx_train, idx_val = np.arange(len(y)), np.array([], dtype=int)
    X_aug, y_aug = shift_augment(X[idx_train], y[idx_train], variant=variant, delta=delta)
    model = make_classifier(random_state=seed, model=build_model).set_params(**params)
    if len(idx_val):
        model.set_params(fit__validation_data=(X[idx_val], y[idx_val]))
    start = time.perf_counter()
    model.fit(X_aug, y_aug)
    refit_time = time.perf_counter() - start
    if len(idx_val):  # keep the estimator light and picklable without the validation arrays
        model.set_params(fit__validation_data=None)
    history = pd.DataFrame(model.history_)
    history.insert(0, "epoch", np.arange(1, len(history) + 1))
    info = {"refit_train_rows": int(len(idx_train)), "refit_train_rows_augmented": int(len(y_aug)),
            "refit_val_rows": int(len(idx_val)),
            "history_columns": "loss/accuracy: refit-train part (augmented); val_loss/val_accuracy: "
                               "held-out validation part of the training split (not augmented)"}
    return model, history, refit_time, info


def run_search(X, y, *, param_grid: Mapping[str, Sequence] | None = None, cv=None, variant: str = "original",
               delta: float = 0.01, scoring: str = DEFAULT_SCORING, engine: str = "sklearn", seed: int = 0,
               store_dir: str | Path | None = None, progress: bool = True,
               val_size: float = 0.2, desc: str | None = None, backend: str = "local",
               n_jobs: int = 1, scheduler_address: str | None = None, build_model=None) -> SearchResult:
    """Leakage-safe one-vs-rest grid search of :func:`make_classifier` on one augmentation variant.

    Parameters
    ----------
    X : array (n_rows, n_features), numeric
        The training split (never the test split).
    y : array of 0/1
        One-vs-rest target (:func:`ovr_target`).
    param_grid : dict of lists, optional
        Keys from :data:`GRID_KEYS` (default: :func:`brief_param_grid`).
    cv : int or splitter, optional
        Number of stratified folds (default 3) or a splitter (pass a ``StratifiedKFold``).
    variant : {"original", "up", "down", "updown"}
        Shifted copies added to every training fold (and to the refit data), never to validation.
    delta : float
        The shift (0.01 in the brief).
    scoring : str
        One of :data:`METRICS`; picks ``best_params_`` (all metrics are computed).
    engine : {"sklearn", "fast"}
        ``sklearn``: scikeras in an imbalanced-learn Pipeline, one fit at a time (this module);
        ``fast``: :class:`helpers.training.fast_search.FastGridSearchCV`.
    seed : int
        Seeds the folds' model initialisation/shuffling and the refit validation split.
    store_dir : path, optional
        Folder for per-(combination, fold) JSON results; a re-run loads them instead of refitting.
    progress : bool
        Show a tqdm progress bar.
    val_size : float
        Fraction of ``X`` held out (stratified) while refitting the best combination, for the
        train-vs-validation curves in ``history_``.
    desc : str, optional
        Progress bar label.
    backend : {"local", "dask"}
        Where the ``sklearn`` engine's fits run (:func:`helpers.distributed.map_tasks`): ``local``
        processes (``n_jobs``; 1 = in this process) or a Dask cluster (``scheduler_address``, or a
        ``LocalCluster`` of ``n_jobs`` workers started on loopback). Each fit seeds itself, so every
        backend gives the same results for the same seed.
    n_jobs : int
        Worker processes (each with one TensorFlow thread).
    scheduler_address : str, optional
        ``tcp://host:8786`` of a running Dask scheduler.
    build_model : callable, optional
        The notebook's ``build_mlp(meta, neurons, dropout, kernel_initializer, learning_rate, seed)``
        (default :func:`helpers.models.mlp.build_mlp`). The ``sklearn`` engine trains exactly this
        function; the ``fast`` engine checks that it is the network it reproduces
        (:func:`helpers.training.fast_search.check_network`). Its source is part of every stored
        fit's key, so an edited function is searched again.

    Returns
    -------
    SearchResult
    """
    check_variant(variant)
    delta = check_delta(delta)
    if scoring not in METRICS:
        raise ValueError(f"scoring must be one of {', '.join(METRICS)}; got {scoring!r}")
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {', '.join(ENGINES)}; got {engine!r}")
    grid = check_param_grid(param_grid if param_grid is not None else brief_param_grid())
    X, y = check_xy(X, y)
    cv = check_cv(cv, seed)
    n_splits = int(cv.get_n_splits(X, y))
    check_min_rows(y, n_splits)
    if engine == "fast":
        if build_model is not None:
            check_network(build_model, X.shape[1], grid)
        return _run_fast(X, y, grid=grid, cv=cv, variant=variant, delta=delta, scoring=scoring, seed=seed,
                         store_dir=store_dir, progress=progress, n_splits=n_splits, val_size=val_size, desc=desc)

    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # one retracing warning per new model is expected
    combos = grid_combinations(grid)
    folds = list(cv.split(X, y))
    digest = _data_digest(X, y) + (fingerprint(build_model) if build_model is not None else "")
    store = Path(store_dir) if store_dir is not None else None
    if store is not None:
        store.mkdir(parents=True, exist_ok=True)

    results: dict[tuple[int, int], dict] = {}
    paths: dict[tuple[int, int], Path | None] = {}
    tasks, task_keys = [], []
    for ci, params in enumerate(combos):
        for k, (tr, va) in enumerate(folds):
            key = _fit_key(params, k, variant, delta, seed, n_splits, len(y), digest)
            path = store / f"fit_{ci:03d}_fold{k}_{key}.json" if store is not None else None
            paths[ci, k] = path
            if path is not None and path.exists():
                results[ci, k] = json.loads(path.read_text())
            else:
                tasks.append((X, y, tr, va, params, variant, delta, seed, build_model))
                task_keys.append((ci, k))
    loaded, ran = len(results), 0
    bar = tqdm(total=len(combos) * len(folds), initial=loaded, desc=desc or f"grid search ({variant})",
               disable=not progress, unit="fit")
    try:  # every fit is persisted the moment it finishes, whatever the backend
        for i, result in map_tasks(_fit_and_score, tasks, backend=backend, n_jobs=n_jobs,
                                   scheduler_address=scheduler_address):
            ci, k = task_keys[i]
            result.update(params=combos[ci], fold=k, combination=ci, split="val",
                          averaging="binary (positive class = the label)")
            if paths[ci, k] is not None:
                write_json(paths[ci, k], result)
            results[ci, k] = result
            ran += 1
            bar.update(1)
    finally:
        bar.close()
    fold_results = [[results[ci, k] for k in range(len(folds))] for ci in range(len(combos))]
    cv_results = assemble_cv_results(combos, fold_results)
    ranks = cv_results[f"rank_test_{scoring}"]
    best_index = int(np.argmin(ranks))  # first of the best (ties: grid order)
    best_params = dict(combos[best_index])
    estimator, history, refit_time, info = _refit(X, y, best_params, variant, delta, seed, val_size, build_model)
    return SearchResult(
        cv_results_=cv_results, best_params_=best_params,
        best_score_=float(cv_results[f"mean_test_{scoring}"][best_index]), best_index_=best_index,
        best_estimator_=estimator, history_=history, scoring=scoring, variant=variant, delta=delta,
        engine="sklearn", n_splits=n_splits, refit_time_=refit_time, n_fits_run_=ran, n_fits_loaded_=loaded,
        info=info,
    )


def _run_fast(X, y, *, grid, cv, variant, delta, scoring, seed, store_dir, progress, n_splits,
              val_size=0.2, desc=None) -> SearchResult:
    """Delegate to :class:`helpers.training.fast_search.FastGridSearchCV` and wrap its result."""
    import pandas as pd

    sampler = functools.partial(shift_augment, variant=variant, delta=delta)
    search = FastGridSearchCV(param_grid=grid, cv=cv, scoring=scoring, sampler=sampler, random_state=seed,
                              checkpoint_dir=store_dir, progress=progress, val_size=val_size,
                              desc=desc or f"grid search ({variant}, fast)").fit(X, y)
    history = getattr(search, "history_", None)
    if history is None:
        history = getattr(search.best_estimator_, "history_", {})
    history = pd.DataFrame(history)
    if "epoch" not in history.columns:
        history.insert(0, "epoch", np.arange(1, len(history) + 1))
    return SearchResult(
        cv_results_=dict(search.cv_results_), best_params_=dict(search.best_params_),
        best_score_=float(search.best_score_), best_index_=int(search.best_index_),
        best_estimator_=search.best_estimator_, history_=history, scoring=scoring, variant=variant,
        delta=delta, engine="fast", n_splits=n_splits,
        refit_time_=float(getattr(search, "refit_time_", float("nan"))),
        info={**dict(getattr(search, "refit_info_", {}) or {}), "fast_engine": dict(getattr(search, "info_", {}) or {}),
              "history_columns": "loss/accuracy: refit-train part (augmented); val_loss/val_accuracy: "
                                 "held-out validation part of the training split (not augmented)"},
    )


# --------------------------------------------------------------------------- labels and splits
def choose_labels(y, labels=None) -> list:
    """The one-vs-rest labels to search: ``labels`` checked against ``y``, or all of ``y``'s labels.

    Labels come largest class first (ties by name). An unknown label raises a ``ValueError`` naming
    the parameter and the labels present.
    """
    import pandas as pd

    counts = pd.Series(np.asarray(y)).value_counts()
    order = sorted(counts.index.tolist(), key=lambda v: (-counts[v], str(v)))
    if labels is None:
        return order
    if isinstance(labels, str):
        labels = [labels]
    unknown = [lab for lab in labels if lab not in counts.index]
    if unknown or not labels:
        raise ValueError(f"labels: {unknown or labels!r} not in the data; expected some of "
                         f"{', '.join(map(str, order))}")
    return list(labels)


def split_fingerprint(train, test) -> str:
    """A short hash of a train/test split (row contents and order), to check that notebooks agree."""
    import pandas as pd

    h = hashlib.sha1()
    for part in (train, test):
        h.update(pd.util.hash_pandas_object(part, index=False).to_numpy().tobytes())
    return h.hexdigest()[:16]


def summary_frame(summaries: Mapping[str, dict]):
    """One row per label from :func:`search_label` results: best params, CV (val) and test scores."""
    import pandas as pd

    rows = []
    for label, s in summaries.items():
        metric = s["scoring"]
        rows.append({
            "label": label,
            **{k.replace("model__", ""): v for k, v in s["best_params"].items()},
            f"cv_{metric}": f"{s['cv'][metric]['mean']:.3f} ± {s['cv'][metric]['std']:.3f}",
            f"test_{metric}": round(float(s["test"][metric]), 3),
            "test_f1": round(float(s["test"]["f1"]), 3),
            "test_accuracy": round(float(s["test"]["accuracy"]), 3),
        })
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------- tables and storage
def results_table(result, top: int | None = None):
    """The search results as a DataFrame sorted by the primary score (best first).

    Parameters
    ----------
    result : SearchResult or path
        A search result, or a folder written by :func:`save_search` (reads ``cv_results.csv``).
    top : int, optional
        Keep only the first ``top`` rows.

    Returns
    -------
    pandas.DataFrame
        The grid parameters (without the ``model__`` prefix), ``mean_<m>``/``std_<m>`` for every
        metric (split = validation folds), ``rank`` and ``mean_fit_time``.
    """
    import pandas as pd

    if isinstance(result, (str, Path)):
        folder = Path(result)
        if not (folder / "cv_results.csv").exists():
            raise FileNotFoundError(f"expected {folder / 'cv_results.csv'}; run 03_gridsearch first")
        table = pd.read_csv(folder / "cv_results.csv")
        cv = {c: table[c].to_numpy() for c in table.columns}
        cv["params"] = [json.loads(p) for p in table["params"]]
        scoring = json.loads((folder / "best_params.json").read_text())["scoring"]
    else:
        cv, scoring = result.cv_results_, result.scoring
    frame = pd.DataFrame([{k.replace("model__", ""): v for k, v in p.items()} for p in cv["params"]])
    for metric in METRICS:
        if f"mean_test_{metric}" in cv:
            frame[f"mean_{metric}"] = np.asarray(cv[f"mean_test_{metric}"], dtype=float)
            frame[f"std_{metric}"] = np.asarray(cv[f"std_test_{metric}"], dtype=float)
    frame["rank"] = np.asarray(cv[f"rank_test_{scoring}"])
    frame["mean_fit_time"] = np.asarray(cv["mean_fit_time"], dtype=float)
    frame = frame.sort_values(["rank", f"mean_{scoring}"], ascending=[True, False], kind="stable")
    frame = frame.reset_index(drop=True)
    return frame.head(top) if top else frame


def _cv_results_frame(cv_results: dict):
    import pandas as pd

    cols = {}
    for key, values in cv_results.items():
        if key == "params":
            cols[key] = [json.dumps(p, sort_keys=True) for p in values]
        else:
            cols[key] = list(np.asarray(values))
    return pd.DataFrame(cols)


def save_search(result: SearchResult, folder: str | Path, test_scores: dict | None = None,
                extra: dict | None = None) -> Path:
    """Write one label's search artifacts into ``folder`` (atomically, each file).

    Files: ``model.pkl`` (the fitted scikeras estimator), ``model.keras``, ``model.h5``,
    ``history.csv`` (per epoch: loss/accuracy on the refit-train part, val_loss/val_accuracy on the
    held-out validation part), ``best_params.json``, ``cv_results.csv`` (validation folds) and, when
    given, ``test_scores.json`` (split ``test``).
    """

    import cloudpickle

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "model.pkl") as tmp:
        # cloudpickle stores a notebook's own build function by value: 04, in another kernel, can load it
        tmp.write_bytes(cloudpickle.dumps(result.best_estimator_))
    keras_model = result.best_estimator_.model_
    with atomic_path(folder / "model.keras") as tmp:
        keras_model.save(tmp)
    with atomic_path(folder / "model.h5") as tmp:
        keras_model.save(tmp)
    with atomic_path(folder / "history.csv") as tmp:
        result.history_.to_csv(tmp, index=False)
    with atomic_path(folder / "cv_results.csv") as tmp:
        _cv_results_frame(result.cv_results_).to_csv(tmp, index=False)
    index = result.best_index_
    cv = result.cv_results_
    write_json(folder / "best_params.json", {
        "best_params": result.best_params_, "best_index": index, "scoring": result.scoring,
        "best_score": result.best_score_,
        "cv": {m: {"mean": float(cv[f"mean_test_{m}"][index]), "std": float(cv[f"std_test_{m}"][index])}
               for m in METRICS if f"mean_test_{m}" in cv},
        "split": "val", "averaging": f"mean and SD over {result.n_splits} stratified CV folds; binary "
                                     "(positive class = the label)",
        "variant": result.variant, "delta": result.delta, "engine": result.engine,
        "n_fits_run": result.n_fits_run_, "n_fits_loaded": result.n_fits_loaded_,
        "refit_time_s": result.refit_time_, **result.info, **(extra or {}),
    })
    if test_scores is not None:
        write_json(folder / "test_scores.json", test_scores)
    return folder


def load_estimator(folder: str | Path, kind: str = "pkl"):
    """Load a saved model: ``kind="pkl"`` gives the scikeras estimator, ``"keras"``/``"h5"`` the Keras model."""
    import pickle

    folder = Path(folder)
    names = {"pkl": "model.pkl", "keras": "model.keras", "h5": "model.h5"}
    if kind not in names:
        raise ValueError(f"kind must be one of {', '.join(names)}; got {kind!r}")
    path = folder / names[kind]
    if not path.exists():
        raise FileNotFoundError(f"expected the model file {path}, but it does not exist; run 03_gridsearch first")
    if kind == "pkl":
        return pickle.loads(path.read_bytes())
    import keras

    return keras.models.load_model(path)


def search_label(run, X_train, y_train, X_test, y_test, label, *, variant: str, delta: float = 0.01,
                 param_grid=None, cv: int = 3, scoring: str = DEFAULT_SCORING, engine: str = "sklearn",
                 seed: int = 0, progress: bool = True, extra: dict | None = None, backend: str = "local",
                 n_jobs: int = 1, scheduler_address: str | None = None, build_model=None,
                 val_size: float = 0.2) -> dict:
    """Search one label on one variant inside a run, store its artifacts, score the test split.

    Skips the work when ``tabular/gridsearch/<variant>/<label>/`` is complete with the same digest
    (data, grid, folds, scoring, engine, seed, ``val_size`` and the source of ``build_model``); a
    different digest searches again (per-fit results whose key still matches are reused).

    Parameters
    ----------
    run : helpers.runs.Run
    X_train, y_train, X_test, y_test : arrays
        Training split (searched) and the untouched test split (scored once, at the end);
        ``y_*`` hold the original multi-class labels.
    label : str
        The one-vs-rest label.
    variant, delta, param_grid, cv, scoring, engine, seed, progress, backend, n_jobs, scheduler_address,
    build_model, val_size :
        As in :func:`run_search`.
    extra : dict, optional
        More fields for ``best_params.json`` (e.g. a fingerprint of the split).

    Returns
    -------
    dict
        ``folder`` (relative path), ``best_params``, ``cv`` (mean/std per metric, split val),
        ``test`` (scores, split test), ``result`` (the SearchResult, or None when loaded).
    """
    rel = layout.gridsearch_label(variant, label)
    digest = fingerprint({"X_train": X_train, "y_train": y_train, "X_test": X_test, "y_test": y_test,
                          "param_grid": param_grid, "cv": cv, "scoring": scoring, "engine": engine, "seed": seed,
                          "delta": delta, "val_size": val_size, "build_model": build_model})
    marker = run.path / rel / COMPLETE_MARKER
    if marker.exists() and run.read_json(f"{rel}/{COMPLETE_MARKER}").get("digest") != digest:
        print(f"{rel}: searched again, its data, parameters or build function changed since the stored search")
        marker.unlink()
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
        test_scores = {"label": label, "variant": variant, "split": "test",
                       "averaging": "binary (positive class = the label)", "n_rows": int(len(y_test_bin)),
                       "n_positive": int(y_test_bin.sum()), **test}
        save_search(result, run.path / rel, test_scores=test_scores,
                    extra={"label": label, "n_train_rows": int(len(y_bin)),
                           "n_train_positive": int(y_bin.sum()), **(extra or {})})
        run.mark_complete(rel, label=label, variant=variant, best_score=result.best_score_, digest=digest)
    else:
        result = None
    summary = run.read_json(f"{rel}/best_params.json")
    return {"folder": rel, "best_params": summary["best_params"], "cv": summary["cv"],
            "scoring": summary["scoring"], "test": run.read_json(f"{rel}/test_scores.json"), "result": result,
            "n_fits_run": summary.get("n_fits_run"), "n_fits_loaded": summary.get("n_fits_loaded")}

