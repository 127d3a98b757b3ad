"""The fast batched grid search: exact equivalence with Keras, GridSearchCV shape, leakage, resume."""

from __future__ import annotations

import functools
import pickle

import numpy as np
import pytest

from helpers.models.mlp import build_mlp
from helpers.models.stacked_mlp import ModelSpec, initial_mlp_weights, train_stacked
from helpers.training.fast_search import (
    FastGridSearchCV,
    plan_groups,
)
from helpers.training.grid import brief_param_grid
from helpers.training.search import run_search, shift_augment

TINY_GRID = {"epochs": [1, 2], "batch_size": [16], "model__neurons": [3, 5]}


def _data(n=90, n_features=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, n_features)).astype(np.float32)
    y = (X[:, 0] + 0.4 * rng.random(n) > 0.75).astype(np.int64)
    return X, y


@pytest.mark.parametrize("second_block_rows", [90, 100])
def test_stacked_training_matches_keras_fit_weight_for_weight(second_block_rows):
    """Same initial weights, same data order, no dropout: every sub-network ends as Keras' own fit."""
    X, y = _data(101, 6)
    n = second_block_rows  # 101 rows: 7 steps with a partial last batch; 90 rows: 6 steps; 100 rows: 7
    blocks = [(X, y), (X[:n], y[:n])]
    specs = [ModelSpec(5, 0.0, "glorot_uniform", 1e-2), ModelSpec(3, 0.0, "he_uniform", 3e-3),
             ModelSpec(5, 0.0, "he_uniform", 1e-3)]
    init = [[initial_mlp_weights(s, 6, 100 * g + m) for m, s in enumerate(specs)] for g in range(2)]
    result = train_stacked(blocks, specs, batch_size=16, epochs=3, shuffle=False, initial_weights=init,
                           history_sets=[None, None])
    for g, (Xb, yb) in enumerate(blocks):
        for m, spec in enumerate(specs):
            model = build_mlp({"n_features_in_": 6, "n_classes_": 2}, spec.neurons, spec.dropout,
                              spec.kernel_initializer, spec.learning_rate)
            model.set_weights(init[g][m])
            fitted = model.fit(Xb, yb.astype(np.float32), batch_size=16, epochs=3, shuffle=False, verbose=0)
            for ours, theirs in zip(result.weights[g][m], model.get_weights()):
                np.testing.assert_allclose(ours, theirs, atol=1e-5)
            np.testing.assert_allclose(result.history[g][m]["loss"], fitted.history["loss"], rtol=1e-4)
            np.testing.assert_allclose(result.history[g][m]["accuracy"], fitted.history["accuracy"], atol=1e-6)


def test_snapshot_at_epoch_k_equals_a_k_epoch_run_with_dropout_and_shuffling():
    X, y = _data()
    specs = [ModelSpec(4, 0.3, "glorot_uniform"), ModelSpec(6, 0.2, "he_uniform")]
    long = train_stacked([(X, y)], specs, 16, 3, eval_sets=[X], eval_epochs=[2, 3], seed=5)
    short = train_stacked([(X, y)], specs, 16, 2, eval_sets=[X], eval_epochs=[2], seed=5)
    np.testing.assert_allclose(long.predictions[2][0], short.predictions[2][0], atol=1e-6)
    assert not np.allclose(long.predictions[3][0], long.predictions[2][0])


def test_same_seed_same_numbers_other_seed_other_numbers():
    X, y = _data()
    a = FastGridSearchCV(TINY_GRID, cv=2, random_state=3, refit=False, progress=False).fit(X, y)
    b = FastGridSearchCV(TINY_GRID, cv=2, random_state=3, refit=False, progress=False).fit(X, y)
    c = FastGridSearchCV(TINY_GRID, cv=2, random_state=4, refit=False, progress=False).fit(X, y)
    key = "split0_test_average_precision"
    np.testing.assert_array_equal(a.cv_results_[key], b.cv_results_[key])
    assert not np.array_equal(a.cv_results_[key], c.cv_results_[key])


def test_plan_groups_shares_one_run_between_epoch_counts():
    groups = plan_groups(__import__("sklearn.model_selection", fromlist=["ParameterGrid"])
                         .ParameterGrid(brief_param_grid()))
    assert [g.batch_size for g in groups] == [16, 32, 64]
    assert all(len(g.specs) == 8 and g.epochs == 20 and g.eval_epochs == [15, 20] for g in groups)
    assert sorted(i for g in groups for m in g.members for i in m.values()) == list(range(48))


def test_cv_results_have_the_sklearn_engine_keys_and_refit_estimator_works():
    X, y = _data()
    grid = {"epochs": [1], "batch_size": [32], "model__neurons": [3]}
    naive = run_search(X, y, param_grid=grid, cv=2, engine="sklearn", progress=False, val_size=0.2)
    fast = run_search(X, y, param_grid=grid, cv=2, engine="fast", progress=False)
    assert sorted(fast.cv_results_) == sorted(naive.cv_results_)
    assert fast.best_params_ == naive.best_params_
    assert list(fast.history_.columns) == list(naive.history_.columns)
    proba = fast.best_estimator_.predict_proba(X)
    assert proba.shape == (len(X), 2)
    again = pickle.loads(pickle.dumps(fast.best_estimator_))
    np.testing.assert_allclose(again.predict_proba(X), proba, atol=1e-6)


def test_refit_estimator_carries_the_refit_weights():
    X, y = _data()
    search = FastGridSearchCV({"epochs": [2], "batch_size": [16], "model__neurons": [4]}, cv=2,
                              progress=False, val_size=0.0).fit(X, y)
    est = search.best_estimator_
    assert est.model_.layers[1].get_weights()[0].shape == (4, 4)
    assert len(search.history_["loss"]) == 2 and "val_loss" not in search.history_
    logits = np.maximum(X @ est.model_.get_weights()[0] + est.model_.get_weights()[1], 0)
    manual = 1 / (1 + np.exp(-(logits @ est.model_.get_weights()[2] + est.model_.get_weights()[3])))
    np.testing.assert_allclose(est.predict_proba(X)[:, 1], manual[:, 0], atol=1e-5)


def test_sampler_sees_training_rows_only():
    X, y = _data()
    X = X + np.arange(len(X))[:, None] * 10.0  # every row is recognisable by its first feature
    seen = []

    def sampler(Xt, yt):
        seen.append(np.round(Xt[:, 0] // 10).astype(int))
        return shift_augment(Xt, yt, variant="updown", delta=0.01)

    from helpers.training.search import make_cv

    cv = make_cv(3, 0)
    FastGridSearchCV(TINY_GRID, cv=cv, sampler=sampler, progress=False, val_size=0.25).fit(X, y)
    folds = list(cv.split(X, y))
    assert len(seen) == 4  # three training folds and the refit part
    for (train, val), rows in zip(folds, seen[:3]):
        assert set(rows) == set(train) and not set(rows) & set(val)
    from sklearn.model_selection import train_test_split

    _, refit_val = train_test_split(np.arange(len(y)), test_size=0.25, stratify=y, random_state=0)
    assert not set(seen[3]) & set(refit_val)


def test_checkpoint_resume_trains_only_missing_groups(tmp_path):
    X, y = _data()
    grid = {"epochs": [1], "batch_size": [16, 32], "model__neurons": [3]}
    first = FastGridSearchCV(grid, cv=2, checkpoint_dir=tmp_path, progress=False, refit=False).fit(X, y)
    files = sorted(tmp_path.glob("group_*.json"))
    assert len(files) == 2 and first.info_["groups_trained"] == 2
    files[1].unlink()  # as if the search had been killed before the second group finished
    second = FastGridSearchCV(grid, cv=2, checkpoint_dir=tmp_path, progress=False, refit=False).fit(X, y)
    assert (second.info_["groups_loaded"], second.info_["groups_trained"]) == (1, 1)
    for key in ("split0_test_average_precision", "mean_test_f1"):
        np.testing.assert_allclose(second.cv_results_[key], first.cv_results_[key])
    # other data -> other checkpoint names, nothing stale is reused
    third = FastGridSearchCV(grid, cv=2, checkpoint_dir=tmp_path, progress=False, refit=False,
                             sampler=functools.partial(shift_augment, variant="up", delta=0.01)).fit(X, y)
    assert third.info_["groups_loaded"] == 0


@pytest.mark.parametrize("kwargs, match", [
    ({"param_grid": {"model__width": [3]}}, "unknown parameter 'model__width'"),
    ({"param_grid": {"model__dropout": [1.5]}}, r"model__dropout must be a number in \[0, 1\)"),
    ({"param_grid": {"model__kernel_initializer": ["nope"]}}, "'nope' is not a Keras initializer"),
    ({"scoring": "roc"}, "scoring must be one of average_precision, f1, accuracy; got 'roc'"),
    ({"cv": "three"}, "cv must be a number of folds"),
])
def test_bad_settings_name_the_parameter(kwargs, match):
    X, y = _data()
    settings = {"param_grid": TINY_GRID, "progress": False, **kwargs}
    with pytest.raises(ValueError, match=match):
        FastGridSearchCV(**settings).fit(X, y)


def test_bad_data_is_named():
    X, y = _data()
    with pytest.raises(ValueError, match="y must be a one-vs-rest 0/1 target"):
        FastGridSearchCV(TINY_GRID, progress=False).fit(X, y + 1)
    with pytest.raises(ValueError, match="same number of rows"):
        FastGridSearchCV(TINY_GRID, progress=False).fit(X, y[:-1])
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        train_stacked([(X, y)], [ModelSpec()], 0, 1)
