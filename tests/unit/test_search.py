"""One-vs-rest grid search: grid, folds, scoring, leakage, resume, storage, reload, bad input."""

import json

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from helpers.training import search

DELTA = 0.01


def _data(n=60, n_features=4, positive=12, seed=0):
    """Tiny hand-made one-vs-rest data: well-separated positives, values on a 0.1 grid."""
    rng = np.random.default_rng(seed)
    X = np.round(rng.uniform(0, 1, size=(n, n_features)), 1).astype(np.float32)
    X += np.arange(n, dtype=np.float32)[:, None]  # every row distinct, far apart (> delta)
    y = np.zeros(n, dtype=int)
    y[:positive] = 1
    return X, y


class Recorder(BaseEstimator, ClassifierMixin):
    """Stands in for the KerasClassifier: records what every fit trained on and every prediction saw."""

    log: list = []

    def __init__(self, **params):
        self.params = dict(params)

    def set_params(self, **params):
        self.params.update(params)
        return self

    def get_params(self, deep=True):
        return {}

    def fit(self, X, y):
        Recorder.log.append(("fit", np.array(X, copy=True)))
        self.classes_ = np.array([0, 1])
        self.history_ = {"loss": [0.5], "accuracy": [0.8], "val_loss": [0.6], "val_accuracy": [0.7]}
        return self

    def predict_proba(self, X):
        Recorder.log.append(("predict", np.array(X, copy=True)))
        score = (np.asarray(X)[:, 0] % 1.0)
        return np.column_stack([1 - score, score])


@pytest.fixture
def recorder(monkeypatch):
    Recorder.log = []
    monkeypatch.setattr(search, "make_classifier", lambda **kw: Recorder(**kw))
    return Recorder


GRID = {"epochs": [1], "batch_size": [8, 16]}


# ----------------------------------------------------------------------------- grid
def test_brief_grid_has_48_combinations():
    grid = search.brief_param_grid()
    assert search.n_combinations(grid) == 48
    assert grid["batch_size"] == [16, 32, 64]
    assert grid["model__kernel_initializer"] == ["glorot_uniform", "he_uniform"]


def test_unknown_grid_key_names_it_and_allowed_keys():
    with pytest.raises(ValueError, match=r"unknown parameter 'neurons'; allowed keys: epochs, batch_size"):
        search.check_param_grid({"neurons": [30]})


def test_empty_grid_values():
    with pytest.raises(ValueError, match=r"param_grid\['epochs'\] must be a non-empty list"):
        search.check_param_grid({"epochs": []})
    with pytest.raises(ValueError, match="non-empty dict"):
        search.check_param_grid({})


# ----------------------------------------------------------------------------- folds and targets
def test_make_cv_is_stratified_and_seeded():
    from sklearn.model_selection import StratifiedKFold

    X, y = _data(n=90, positive=9)
    cv = search.make_cv(3, seed=1)
    assert isinstance(cv, StratifiedKFold) and cv.shuffle
    for _, val in cv.split(X, y):
        assert y[val].sum() == 3  # 9 positives over 3 folds: exactly 3 each
    again = [v.tolist() for _, v in search.make_cv(3, seed=1).split(X, y)]
    assert again == [v.tolist() for _, v in cv.split(X, y)]


def test_make_cv_rejects_bad_folds():
    with pytest.raises(ValueError, match="cv .* must be an integer >= 2, got 1"):
        search.make_cv(1)


def test_integer_cv_means_stratified_folds(recorder):
    """scikeras + sklearn>=1.7 would make cv=3 plain KFold in GridSearchCV; run_search never does."""
    X, y = _data(n=60, positive=6)
    search.run_search(X, y, param_grid={"epochs": [1]}, cv=3, progress=False)
    val_sets = [x for kind, x in recorder.log if kind == "predict"][:3]
    positives = [int((v[:, 0] < 6).sum()) for v in val_sets]  # rows 0..5 are the positives
    assert positives == [2, 2, 2]


def test_ovr_target():
    y = np.array(["a", "b", "a"])
    assert search.ovr_target(y, "a").tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match="label 'z' does not occur in y; labels present: a, b"):
        search.ovr_target(y, "z")


def test_label_with_fewer_rows_than_folds():
    with pytest.raises(ValueError, match=r"label 'rare' has 2 rows .* fewer than the cv=3 folds"):
        search.check_min_rows(np.array([1, 1] + [0] * 10), 3, label="rare")
    X, y = _data(n=30, positive=2)
    with pytest.raises(ValueError, match="fewer than the cv=3 folds"):
        search.run_search(X, y, param_grid=GRID, cv=3, progress=False)


# ----------------------------------------------------------------------------- scoring
def test_score_binary_values():
    scores = search.score_binary([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
    assert scores["accuracy"] == pytest.approx(0.5)
    assert scores["f1"] == pytest.approx(0.5)
    assert scores["average_precision"] == pytest.approx((1 + 2 / 3) / 2)
    assert np.isnan(search.score_binary([0, 0], [0.2, 0.3])["average_precision"])
    two_columns = search.score_binary([0, 1], np.array([[0.9, 0.1], [0.2, 0.8]]))
    assert two_columns["accuracy"] == 1.0


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("kwargs,message", [
    ({"variant": "both"}, "variant must be one of original, up, down, updown; got 'both'"),
    ({"delta": "0.01"}, "delta must be a finite non-negative number"),
    ({"scoring": "roc"}, "scoring must be one of average_precision, f1, accuracy"),
    ({"engine": "gpu"}, "engine must be one of sklearn, fast"),
    ({"param_grid": {"lr": [1]}}, "unknown parameter 'lr'"),
])
def test_run_search_bad_input(kwargs, message):
    X, y = _data()
    with pytest.raises(ValueError, match=message):
        search.run_search(X, y, **{"param_grid": GRID, "cv": 2, "progress": False, **kwargs})


def test_run_search_rejects_multiclass_target():
    X, _ = _data()
    with pytest.raises(ValueError, match="one-vs-rest 0/1 target"):
        search.run_search(X, np.arange(len(X)) % 3, param_grid=GRID, cv=2, progress=False)


# ----------------------------------------------------------------------------- leakage
@pytest.mark.parametrize("variant", ["original", "up", "down", "updown"])
def test_no_validation_row_shifted_or_not_is_seen_in_training(recorder, variant):
    X, y = _data()
    folds = list(search.make_cv(3, seed=0).split(X, y))
    search.run_search(X, y, param_grid=GRID, cv=3, variant=variant, delta=DELTA, seed=0, progress=False)
    events = recorder.log
    fits = [x for kind, x in events if kind == "fit"]
    preds = [x for kind, x in events if kind == "predict"]
    assert len(fits) == 2 * 3 + 1  # 2 combinations x 3 folds + the refit
    factor = {"original": 1, "up": 2, "down": 2, "updown": 3}[variant]
    for i, (train_X, val_X) in enumerate(zip(fits[:6], preds[:6])):
        train_idx, val_idx = folds[i % 3]
        np.testing.assert_array_equal(val_X, X[val_idx])  # validation rows are never shifted
        assert len(train_X) == factor * len(train_idx)
        for shift in (0.0, DELTA, -DELTA):
            forbidden = X[val_idx] + shift
            close = np.isclose(train_X[:, None, :], forbidden[None, :, :], atol=DELTA / 4).all(axis=2)
            assert not close.any(), f"fit {i}: a validation row (shift {shift:+}) was in training"
        # and the training fold really got its shifted copies
        np.testing.assert_allclose(train_X[:len(train_idx)], X[train_idx])
        if variant in ("up", "updown"):
            np.testing.assert_allclose(train_X[len(train_idx):2 * len(train_idx)], X[train_idx] + DELTA,
                                       atol=1e-5)


def test_refit_holds_out_validation_rows(recorder):
    X, y = _data()
    result = search.run_search(X, y, param_grid=GRID, cv=2, variant="updown", seed=0, progress=False,
                               val_size=0.25)
    refit_X = [x for kind, x in recorder.log if kind == "fit"][-1]
    assert result.info["refit_val_rows"] == 15
    assert len(refit_X) == 3 * 45


# ----------------------------------------------------------------------------- results and resume
def test_cv_results_shape(recorder):
    X, y = _data()
    result = search.run_search(X, y, param_grid=GRID, cv=2, progress=False)
    cv = result.cv_results_
    for key in ("params", "param_batch_size", "split0_test_average_precision", "split1_test_f1",
                "mean_test_accuracy", "std_test_average_precision", "rank_test_average_precision",
                "mean_fit_time"):
        assert key in cv
    assert len(cv["params"]) == 2
    assert result.best_params_ == cv["params"][result.best_index_]
    assert result.best_score_ == cv["mean_test_average_precision"][result.best_index_]
    table = search.results_table(result)
    assert table["rank"].tolist() == sorted(table["rank"].tolist())


def test_killed_search_resumes_redoing_only_missing_fits(recorder, monkeypatch, tmp_path):
    X, y = _data()
    grid = {"epochs": [1], "batch_size": [8, 16, 32]}  # 3 combinations x 2 folds = 6 fits
    real = search._fit_and_score
    calls = {"n": 0}

    def dying(*args, **kwargs):
        if calls["n"] == 4:
            raise KeyboardInterrupt("simulated kill after 4 fits")
        calls["n"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(search, "_fit_and_score", dying)
    with pytest.raises(KeyboardInterrupt):
        search.run_search(X, y, param_grid=grid, cv=2, store_dir=tmp_path, progress=False)
    assert len(list(tmp_path.glob("fit_*.json"))) == 4
    monkeypatch.setattr(search, "_fit_and_score", real)
    result = search.run_search(X, y, param_grid=grid, cv=2, store_dir=tmp_path, progress=False)
    assert (result.n_fits_loaded_, result.n_fits_run_) == (4, 2)
    record = json.loads(sorted(tmp_path.glob("fit_*.json"))[0].read_text())
    assert record["split"] == "val" and "average_precision" in record["scores"]
    # a different variant never reuses these fits
    other = search.run_search(X, y, param_grid=grid, cv=2, variant="up", store_dir=tmp_path, progress=False)
    assert other.n_fits_run_ == 6


# ----------------------------------------------------------------------------- the real network
def test_build_mlp_outputs():
    binary = search.build_mlp({"n_features_in_": 4, "n_classes_": 2}, neurons=5)
    assert binary.output_shape == (None, 1) and binary.loss == "binary_crossentropy"
    multi = search.build_mlp({"n_features_in_": 4, "n_classes_": 3}, neurons=5, kernel_initializer="he_uniform")
    assert multi.output_shape == (None, 3) and multi.loss == "sparse_categorical_crossentropy"
    assert multi.get_layer("hidden").units == 5


@pytest.mark.parametrize("initializer", ["glorot_uniform", "he_uniform"])
def test_seeded_mlp_ignores_pythons_global_random_state(initializer):
    """Another thread drawing from ``random`` (a Dask worker's event loop) must not change a seeded model."""
    import random

    import keras

    meta = {"n_features_in_": 4, "n_classes_": 2}
    weights = []
    for disturbance in (1, 2):
        random.seed(disturbance)
        model = search.build_mlp(meta, neurons=6, kernel_initializer=initializer, seed=11)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)
    assert keras.ops.convert_to_numpy(weights[0][0]).std() > 0  # really initialised
    assert model.get_layer("dropout").seed == 13
    other = search.build_mlp(meta, neurons=6, kernel_initializer=initializer, seed=12).get_weights()
    assert not np.array_equal(other[0], weights[0][0])
    # make_classifier routes its random_state to the model's seed
    assert search.make_classifier(random_state=11).get_params()["model__seed"] == 11


def test_real_search_is_reproducible_and_reloads(tmp_path):
    X, y = _data(n=48, positive=12)
    grid = {"epochs": [2], "batch_size": [16], "model__neurons": [8]}
    first = search.run_search(X, y, param_grid=grid, cv=2, variant="up", seed=3, progress=False)
    second = search.run_search(X, y, param_grid=grid, cv=2, variant="up", seed=3, progress=False)
    np.testing.assert_allclose(first.cv_results_["mean_test_average_precision"],
                               second.cv_results_["mean_test_average_precision"])
    assert set(first.history_.columns) == {"epoch", "accuracy", "loss", "val_accuracy", "val_loss"}
    assert len(first.history_) == 2

    folder = search.save_search(first, tmp_path / "up" / "a", test_scores={"split": "test", "f1": 0.5})
    for name in ("model.pkl", "model.keras", "model.h5", "history.csv", "best_params.json", "cv_results.csv",
                 "test_scores.json"):
        assert (folder / name).exists(), name
    expected = first.best_estimator_.predict_proba(X)[:, 1]
    np.testing.assert_allclose(search.load_estimator(folder).predict_proba(X)[:, 1], expected, atol=1e-6)
    for kind in ("keras", "h5"):
        model = search.load_estimator(folder, kind)
        np.testing.assert_allclose(model.predict(X, verbose=0)[:, 0], expected, atol=1e-6)
    best = json.loads((folder / "best_params.json").read_text())
    assert best["split"] == "val" and best["best_params"] == {"batch_size": 16, "epochs": 2, "model__neurons": 8}
    with pytest.raises(FileNotFoundError, match="model.pkl"):
        search.load_estimator(tmp_path)


def test_fast_engine_result_has_the_same_shape_and_saves(tmp_path):
    pytest.importorskip("helpers.training.fast_search")
    X, y = _data(n=48, positive=12)
    grid = {"epochs": [2], "batch_size": [16], "model__neurons": [8]}
    fast = search.run_search(X, y, param_grid=grid, cv=2, variant="updown", seed=3, engine="fast",
                             store_dir=tmp_path / "fits", progress=False)
    assert fast.engine == "fast" and fast.best_params_ == {"batch_size": 16, "epochs": 2, "model__neurons": 8}
    for key in ("params", "param_batch_size", "split1_test_average_precision", "mean_test_f1",
                "rank_test_average_precision", "mean_fit_time"):
        assert key in fast.cv_results_, key
    assert {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(fast.history_.columns)
    folder = search.save_search(fast, tmp_path / "out")
    np.testing.assert_allclose(search.load_estimator(folder).predict_proba(X)[:, 1],
                               fast.best_estimator_.predict_proba(X)[:, 1], atol=1e-6)
    assert search.results_table(folder)["rank"].tolist() == [1]
