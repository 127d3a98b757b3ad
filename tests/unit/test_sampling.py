"""Shift augmentation (original / up / down / updown) and its training-only sampler."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator

from helpers.data import sampling


@pytest.fixture
def data():
    X = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], dtype=np.float32)
    y = np.array(["a", "b", "a"])
    return X, y


def test_original_is_unchanged(data):
    X, y = data
    Xa, ya = sampling.shift_augment(X, y, "original")
    np.testing.assert_array_equal(Xa, X)
    np.testing.assert_array_equal(ya, y)


@pytest.mark.parametrize("variant,shifts", [("up", [0.01]), ("down", [-0.01]), ("updown", [0.01, -0.01])])
def test_shifted_copies(data, variant, shifts):
    X, y = data
    Xa, ya = sampling.shift_augment(X, y, variant, delta=0.01)
    assert Xa.shape == (3 * (1 + len(shifts)), 2)
    assert Xa.dtype == np.float32
    np.testing.assert_array_equal(Xa[:3], X)
    for i, s in enumerate(shifts, start=1):
        np.testing.assert_allclose(Xa[3 * i:3 * (i + 1)], X + s, atol=1e-7)
    assert list(ya) == list(y) * (1 + len(shifts))
    assert sampling.augmentation_factor(variant) == 1 + len(shifts)


def test_integer_features_become_float():
    Xa, _ = sampling.shift_augment(np.array([[1, 2]]), np.array([0]), "up", delta=0.5)
    np.testing.assert_allclose(Xa, [[1, 2], [1.5, 2.5]])


def test_unknown_variant_lists_allowed(data):
    with pytest.raises(ValueError, match=r"variant must be one of original, up, down, updown; got 'sideways'"):
        sampling.shift_augment(*data, variant="sideways")


@pytest.mark.parametrize("delta", ["0.01", None, float("nan"), -0.1, True])
def test_bad_delta(data, delta):
    with pytest.raises(ValueError, match="delta must be a finite non-negative number"):
        sampling.shift_augment(*data, variant="up", delta=delta)


def test_shape_errors():
    with pytest.raises(ValueError, match="X must be a 2-D array"):
        sampling.shift_augment(np.zeros(3), np.zeros(3), "up")
    with pytest.raises(ValueError, match="same number of rows, got 2 and 3"):
        sampling.shift_augment(np.zeros((2, 2)), np.zeros(3), "up")


class _Recorder(BaseEstimator):
    """A minimal estimator that remembers what it was fitted on and what it predicted."""

    def fit(self, X, y):
        self.fit_X_ = np.asarray(X)
        return self

    def predict(self, X):
        self.predict_X_ = np.asarray(X)
        return np.zeros(len(X))


def test_sampler_runs_at_fit_only(data):
    from imblearn.pipeline import Pipeline

    X, y = data
    rec = _Recorder()
    pipe = Pipeline([("augment", sampling.make_shift_sampler("updown", 0.01)), ("model", rec)])
    pipe.fit(X, y)
    assert rec.fit_X_.shape == (9, 2)
    pipe.predict(X)
    np.testing.assert_array_equal(rec.predict_X_, X)  # prediction sees the rows as they are
