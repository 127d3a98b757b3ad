"""Tests of helpers.training (fitting, transfer) and helpers.evaluation.metrics: fit/history, epoch timing, batched evaluation, transfer recipe."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers import runs
from helpers.data import images
from helpers.evaluation import metrics
from helpers.models import backbones
from helpers.training import fitting, transfer

RECIPE = (backbones.build_transfer_model, backbones.fine_tune)  # notebook 05 writes these two out


def _tiny_splits(n=6, size=32, seed=0):
    rng = np.random.default_rng(seed)
    def part(k):
        return rng.integers(0, 255, size=(k, size, size, 3)).astype(np.uint8), np.arange(k) % 3
    return {"train": part(n), "val": part(3), "test": part(3)}


def _small_model():
    import keras

    inp = keras.Input((4,))
    return keras.Model(inp, keras.layers.Dense(3, activation="softmax", name="out")(inp))


def test_fit_model_returns_history_with_epoch_seconds():
    model = fitting.compile_model(_small_model(), 0.01)
    x = np.random.default_rng(0).normal(size=(12, 4)).astype(np.float32)
    y = np.arange(12) % 3
    hist = fitting.fit_model(model, x, (x, y), epochs=3, y=y, batch_size=4)
    assert list(hist.columns) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "epoch_seconds"]
    assert hist["epoch"].tolist() == [1, 2, 3]
    assert (hist["epoch_seconds"] > 0).all()


def test_mean_epoch_seconds_skips_first_epoch_of_each_phase():
    hist = pd.DataFrame({"epoch_seconds": [10.0, 1.0, 3.0, 20.0, 2.0], "phase": ["head"] * 3 + ["finetune"] * 2})
    assert fitting.mean_epoch_seconds(hist) == pytest.approx(2.0)
    assert fitting.mean_epoch_seconds(hist.drop(columns="phase")) == pytest.approx(26 / 4)
    assert fitting.mean_epoch_seconds(pd.DataFrame({"epoch_seconds": [5.0]})) == 5.0
    with pytest.raises(ValueError, match="history has no 'epoch_seconds' column"):
        fitting.mean_epoch_seconds(pd.DataFrame({"loss": [1.0]}))


def test_bad_arguments():
    model = _small_model()
    with pytest.raises(ValueError, match="learning_rate must be positive, got 0"):
        fitting.compile_model(model, 0)
    with pytest.raises(ValueError, match="unknown optimizer 'adamw2'"):
        fitting.compile_model(model, 0.1, optimizer="adamw2")
    with pytest.raises(ValueError, match="verbose must be 0 or 2"):
        fitting.fit_model(fitting.compile_model(model), np.zeros((2, 4)), epochs=1, y=[0, 1], verbose=1)
    with pytest.raises(ValueError, match="strategy must be one of auto, default, mirrored; got 'tpu'"):
        fitting.get_strategy("tpu")
    with pytest.raises(ValueError, match="unknown mode 'partial'"):
        transfer.train_transfer(*RECIPE, "VGG16", "partial", _tiny_splits(), 3, image_size=32)
    with pytest.raises(ValueError, match=r"unknown setting\(s\) \['epoch'\]"):
        transfer.train_transfer(*RECIPE, "VGG16", "frozen", _tiny_splits(), 3, image_size=32, epoch=2)


def test_get_strategy_auto_is_default_on_cpu():
    import tensorflow as tf

    assert fitting.get_strategy("auto") is tf.distribute.get_strategy()


def test_evaluate_classifier_is_batched_and_consistent():
    model = _small_model()
    x = np.random.default_rng(1).normal(size=(10, 4)).astype(np.float32)
    y = np.arange(10) % 3
    x4 = x.reshape(10, 1, 1, 4)
    import keras

    inp = keras.Input((1, 1, 4))
    wrapped = keras.Model(inp, model(keras.layers.Reshape((4,))(inp)))
    res = metrics.evaluate_classifier(wrapped, x4, y, ["a", "b", "c"], batch_size=3)
    proba = model.predict(x, verbose=0)
    np.testing.assert_array_equal(res["y_pred"], proba.argmax(1))
    assert res["loss"] == pytest.approx(float(-np.mean(np.log(proba[np.arange(10), y]))), rel=1e-5)
    assert res["split"] == "test" and res["n"] == 10 and "macro_f1" in res


def test_train_transfer_frozen_cached_and_finetune_reproducible():
    splits = _tiny_splits()
    common = dict(image_size=32, epochs=2, batch_size=4, augment=False, feature_cache=True, seed=3)
    m1, h1 = transfer.train_transfer(*RECIPE, "VGG16", "frozen", splits, 3, **common)
    assert h1["phase"].tolist() == ["head", "head"] and "feature_seconds" in h1
    m2, h2 = transfer.train_transfer(*RECIPE, "VGG16", "frozen", splits, 3, **common)
    np.testing.assert_allclose(h1["loss"], h2["loss"], rtol=1e-5)  # same seed -> same numbers
    spec = backbones.get_backbone("VGG16")
    p1 = metrics.predict_proba(m1, splits["test"][0], spec.preprocess_input)
    p2 = metrics.predict_proba(m2, splits["test"][0], spec.preprocess_input)
    np.testing.assert_allclose(p1, p2, rtol=1e-5, atol=1e-6)
    m3, h3 = transfer.train_transfer(*RECIPE, "VGG16", "finetune", splits, 3, image_size=32, fine_tune_epochs=1,
                                     batch_size=4, augment=True, seed=3, start_model=m1, start_history=h1)
    assert h3["phase"].tolist() == ["head", "head", "finetune"] and h3["epoch"].tolist() == [1, 2, 3]
    assert "block5_conv3" in backbones.trainable_layer_names(m3)


def test_augmentation_applies_to_both_modes_and_disables_the_feature_cache():
    """Frozen vs fine-tuned differ only by the fine-tuning: with augment=True the head trains on augmented images
    (no cached features, which could not be augmented); without it the cache is used."""
    splits = _tiny_splits(seed=4)
    common = dict(image_size=32, epochs=1, batch_size=4, feature_cache=True, seed=0)
    _, plain = transfer.train_transfer(*RECIPE, "VGG16", "frozen", splits, 3, augment=False, **common)
    _, augmented = transfer.train_transfer(*RECIPE, "VGG16", "frozen", splits, 3, augment=True, **common)
    assert "feature_seconds" in plain and "feature_seconds" not in augmented


def test_cached_features_equal_full_model_head_training():
    """Training the head on cached features gives the model the same predictions path."""
    splits = _tiny_splits(seed=2)
    model, _ = transfer.train_transfer(*RECIPE, "VGG16", "frozen", splits, 3, image_size=32, epochs=1, batch_size=4,
                                       augment=False, feature_cache=True, seed=0)
    feature_model, head_model = backbones.feature_and_head_models(model)
    spec = backbones.get_backbone("VGG16")
    x = spec.preprocess_input(splits["test"][0])
    np.testing.assert_allclose(head_model.predict(feature_model.predict(x, verbose=0), verbose=0),
                               model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_build_must_return_a_compiled_model():
    def build_uncompiled(backbone, num_classes, image_size, weights=None, dropout=0.3, learning_rate=1e-3):
        import keras

        model = backbones.build_transfer_model(backbone, num_classes, image_size, weights, dropout)
        return keras.Model(model.input, model.output)  # the same layers, never compiled

    with pytest.raises(ValueError, match="is not compiled; build and fine_tune must return a compiled model"):
        transfer.train_transfer(build_uncompiled, backbones.fine_tune, "VGG16", "frozen", _tiny_splits(), 3,
                                image_size=32, epochs=1, batch_size=4)


def _build_edited(backbone, num_classes, image_size, weights=None, dropout=0.3, learning_rate=1e-3):
    """A student's edited model cell: another function (another source), the same model."""
    return backbones.build_transfer_model(backbone, num_classes, image_size, weights, dropout, learning_rate)


def test_run_transfer_recomputes_a_unit_when_the_build_function_changes(tmp_path, capsys):
    run = runs.create_run(run_id="t", profile="smoke", root=tmp_path)
    params = {"modes": ["frozen", "finetune"], "seeds": [0], "epochs": 1, "fine_tune_epochs": 1, "batch_size": 4,
              "augment": False, "feature_cache": True}
    splits = _tiny_splits()

    def train(build, **changes):
        capsys.readouterr()
        results = transfer.run_transfer(run, "VGG16", splits, ["a", "b", "c"], {**params, **changes}, build,
                                        backbones.fine_tune, image_size=32, progress=False)
        written = {m: (run.path / f"banana/VGG16/{m}/seed0/model.keras").stat().st_mtime_ns for m in params["modes"]}
        return results, written, capsys.readouterr().out

    first, written, _ = train(backbones.build_transfer_model)
    assert first[["backbone", "mode", "seed"]].values.tolist() == [["VGG16", "frozen", 0], ["VGG16", "finetune", 0]]
    assert {"accuracy", "val_accuracy", "mean_epoch_seconds", "model_mb"} <= set(first.columns)
    assert run.read_json("banana/VGG16/frozen/seed0/metrics.json")["row"] == first.iloc[0].to_dict()
    same, unchanged, out = train(backbones.build_transfer_model)  # the same function: loaded, not retrained
    assert unchanged == written and "trained again" not in out
    pd.testing.assert_frame_equal(same, first)
    _, rebuilt, out = train(_build_edited)  # an edited model cell: both units are trained again
    assert all(rebuilt[m] != written[m] for m in params["modes"])
    assert "banana/VGG16/frozen/seed0: trained again" in out and "build" in out
    _, retuned, out = train(_build_edited, fine_tune_epochs=2)  # a fine-tuning setting: only finetune again
    assert retuned["frozen"] == rebuilt["frozen"] and retuned["finetune"] != rebuilt["finetune"]
    assert "fine_tune_epochs" in out
    with pytest.raises(ValueError, match="modes \\['thaw'\\] not valid"):
        transfer.run_transfer(run, "VGG16", splits, ["a", "b", "c"], {**params, "modes": ["thaw"]},
                              *RECIPE, image_size=32)


def test_augmentation_is_training_only():
    x = np.random.default_rng(0).integers(0, 255, size=(4, 16, 16, 3)).astype(np.uint8)
    ds = images.make_dataset(x, np.arange(4), batch_size=4, augment=images.augmentation_layers(0))
    xb, _ = next(iter(ds))
    np.testing.assert_array_equal(xb.numpy(), x.astype(np.float32))
