"""Unit tests of helpers.training.imbalance (class weights, label smoothing, LR schedules, the ablation) and
helpers.data.enhancement (CLAHE / white balance)."""

import numpy as np
import pytest

from helpers.data import enhancement as en
from helpers.training import imbalance as im


# --------------------------------------------------------------------------- class weights
def test_class_counts_includes_empty_classes():
    assert im.class_counts([0, 0, 2], num_classes=4).tolist() == [2, 0, 1, 0]


def test_class_counts_rejects_out_of_range():
    with pytest.raises(ValueError, match="class 3 but num_classes is 2"):
        im.class_counts([0, 3], num_classes=2)


def test_frequency_weights_inverse_and_normalised():
    w = im.frequency_class_weights([100, 10, 1])
    assert w.sum() == pytest.approx(3.0)
    assert w[1] / w[0] == pytest.approx(10.0)
    assert w[2] / w[0] == pytest.approx(100.0)


def test_frequency_weights_min_one_matches_log_convention():
    w = im.frequency_class_weights([678, 2, 1], normalize="min_one")
    np.testing.assert_allclose(w, [1.0, 339.0, 678.0])


def test_effective_number_values():
    counts = np.array([1000, 100, 10])
    beta = 0.99
    eff = (1 - beta ** counts) / (1 - beta)
    expected = (1 / eff) * 3 / (1 / eff).sum()
    np.testing.assert_allclose(im.effective_number_class_weights(counts, beta=beta), expected)


def test_effective_number_limits():
    counts = [50, 5]
    np.testing.assert_allclose(im.effective_number_class_weights(counts, beta=0.0), [1.0, 1.0])
    # beta close to 1 approaches inverse frequency
    np.testing.assert_allclose(im.effective_number_class_weights(counts, beta=0.999999),
                               im.frequency_class_weights(counts), rtol=1e-3)
    # effective weights are less extreme than inverse frequency
    eff = im.effective_number_class_weights(counts, beta=0.9)
    freq = im.frequency_class_weights(counts)
    assert eff[1] / eff[0] < freq[1] / freq[0]


@pytest.mark.parametrize("beta", [1.0, -0.1, 1.5, "0.9", True])
def test_effective_number_rejects_bad_beta(beta):
    with pytest.raises(ValueError, match=r"beta must be a number in \[0, 1\)"):
        im.effective_number_class_weights([10, 5], beta=beta)


def test_weights_reject_empty_class():
    with pytest.raises(ValueError, match=r"class\(es\) \[1\] have none"):
        im.frequency_class_weights([10, 0, 3])


def test_class_weights_dispatch_and_dict():
    assert im.class_weights([3, 1], None) is None
    d = im.class_weight_dict(im.class_weights([3, 1], "frequency"))
    assert set(d) == {0, 1} and d[1] == pytest.approx(3 * d[0])
    with pytest.raises(ValueError, match="class weight kind"):
        im.class_weights([3, 1], "inverse")


# --------------------------------------------------------------------------- label smoothing
def test_smooth_labels_from_indices_and_onehot():
    y = im.smooth_labels([0, 2], num_classes=4, factor=0.2)
    np.testing.assert_allclose(y[0], [0.85, 0.05, 0.05, 0.05])
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(im.smooth_labels(np.eye(4)[[0, 2]], 4, 0.2), y)
    np.testing.assert_array_equal(im.smooth_labels([1], 3, 0.0), [[0, 1, 0]])


def test_smooth_labels_bad_input():
    with pytest.raises(ValueError, match=r"factor must be a number in \[0, 1\)"):
        im.smooth_labels([0], 2, 1.0)
    with pytest.raises(ValueError, match=r"class indices in \[0, 2\)"):
        im.smooth_labels([0, 2], 2, 0.1)
    with pytest.raises(ValueError, match=r"shape \(N,\) or \(N, 3\)"):
        im.smooth_labels(np.zeros((2, 2)), 3, 0.1)


def test_smoothing_in_labels_equals_smoothing_in_loss():
    import keras

    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(5), size=8).astype("float32")
    labels = rng.integers(0, 5, size=8)
    in_loss = float(im.smoothed_crossentropy(0.1)(np.eye(5)[labels], probs))
    in_labels = float(keras.losses.CategoricalCrossentropy()(im.smooth_labels(labels, 5, 0.1), probs))
    assert in_loss == pytest.approx(in_labels, rel=1e-5)


# --------------------------------------------------------------------------- LR schedules
def test_step_decay():
    s = im.step_decay(0.1, drop=0.1, epochs_per_drop=10)
    assert [s(0), s(9), s(10), s(25)] == pytest.approx([0.1, 0.1, 0.01, 0.001])


def test_polynomial_decay_power():
    s = im.polynomial_decay(0.1, max_epochs=40, power=2.5)
    assert s(0) == pytest.approx(0.1)
    assert s(20) == pytest.approx(0.1 * 0.5 ** 2.5)
    assert s(40) == pytest.approx(0.0) and s(50) == pytest.approx(0.0)
    lrs = [s(e) for e in range(41)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_exponential_and_named_schedules():
    assert im.exponential_decay(1e-3)(2) == pytest.approx(1e-3 * 0.95 ** 2)
    assert im.lr_schedule("constant", 0.01, 5)(4) == 0.01
    step = im.lr_schedule("step", 1.0, epochs=9)  # drops every 3 epochs
    assert [step(2), step(3), step(6)] == pytest.approx([1.0, 0.1, 0.01])
    with pytest.raises(ValueError, match="unknown lr_schedule 'cosine'"):
        im.lr_schedule("cosine", 0.01, 5)
    with pytest.raises(ValueError, match="initial_lr must be a positive number"):
        im.lr_schedule("step", 0, 5)


def test_lr_callback_sets_learning_rate():
    import keras

    assert im.lr_callback("constant", 0.01, 3) is None
    cb = im.lr_callback("polynomial", 0.01, 4, power=1.0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    seen = []
    log = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: seen.append(float(model.optimizer.learning_rate.numpy())))
    model.fit(np.zeros((4, 2)), np.zeros(4), epochs=4, verbose=0, callbacks=[cb, log])
    assert seen == pytest.approx([0.01, 0.0075, 0.005, 0.0025])


# --------------------------------------------------------------------------- CLAHE / white balance
def _tinted(seed=0, n=2):
    rng = np.random.default_rng(seed)
    base = rng.integers(40, 120, size=(n, 16, 16, 3)).astype(np.float32)
    base[..., 0] *= 1.8  # a red cast
    return np.clip(base, 0, 255).astype(np.uint8)


def test_grey_world_equalises_channel_means():
    out = en.grey_world_white_balance(_tinted())
    means = out.astype(float).mean(axis=(1, 2))
    assert out.dtype == np.uint8 and out.shape == (2, 16, 16, 3)
    np.testing.assert_allclose(means, np.repeat(means.mean(axis=1, keepdims=True), 3, axis=1), atol=1.0)


def test_grey_world_single_image_and_black_image():
    black = np.zeros((8, 8, 3), np.uint8)
    np.testing.assert_array_equal(en.grey_world_white_balance(black), black)


def test_clahe_raises_contrast_and_keeps_shape():
    rng = np.random.default_rng(1)
    low = rng.integers(100, 130, size=(1, 32, 32, 3)).astype(np.uint8)  # low contrast
    out = en.clahe(low, clip_limit=4.0, tile_grid_size=(4, 4))
    assert out.shape == low.shape and out.dtype == np.uint8
    assert out.std() > low.std()
    assert en.clahe(low[0]).shape == (32, 32, 3)


def test_preprocess_images_dispatch_and_errors():
    x = _tinted()
    np.testing.assert_array_equal(en.preprocess_images(x, None), x)
    np.testing.assert_array_equal(en.preprocess_images(x, "clahe_wb"), en.clahe(en.grey_world_white_balance(x)))
    with pytest.raises(ValueError, match="unknown preprocessing 'hist'"):
        en.preprocess_images(x, "hist")
    with pytest.raises(ValueError, match="images must be uint8"):
        en.clahe(x.astype(np.float32))
    with pytest.raises(ValueError, match=r"shape \(N, H, W, 3\)"):
        en.grey_world_white_balance(np.zeros((4, 4), np.uint8))


# --------------------------------------------------------------------------- ablation
def test_ablation_config_and_unknown_variant():
    assert im.ablation_config("baseline")["lr_schedule"] == "constant"
    assert im.ablation_config("+effective-number weights")["class_weights"] == "effective"
    with pytest.raises(ValueError, match="unknown ablation variant 'mixup'"):
        im.ablation_config("mixup")


@pytest.mark.slow
def test_run_ablation_tiny(tmp_path):
    from helpers import runs
    from helpers.data import longtail

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [12, 6, 3])
    x = rng.integers(0, 255, size=(len(y), 8, 8, 3)).astype(np.uint8)
    yt = np.repeat([0, 1, 2], 3)
    xt = rng.integers(0, 255, size=(9, 8, 8, 3)).astype(np.uint8)
    path = longtail.write_hdf5(tmp_path / "lt.h5", {"train": (x, y), "val": (xt, yt), "test": (xt, yt)},
                               ["head", "mid", "tail"])
    run = runs.open_run(tmp_path / "run")
    variants = ["baseline", "+CLAHE/WB"]

    def build(config, input_shape, num_classes, seed):
        import keras

        from helpers.models.cnn import build_resnet

        model = build_resnet(input_shape, num_classes, base_filters=2)
        model.compile(optimizer="adam", loss=keras.losses.CategoricalCrossentropy(), metrics=["accuracy"])
        return model

    res = im.run_ablation(run, variants, path, [0], 1, build, batch_size=8, progress=False)
    assert res["variant"].tolist() == variants
    assert set(res["split"]) == {"test"}
    assert res[["accuracy", "macro_f1", "tail_recall"]].apply(lambda c: c.between(0, 1)).all().all()
    assert run.is_complete("imbalanced/baseline/seed0")
    metrics = run.read_json("imbalanced/baseline/seed0/metrics.json")
    assert metrics["tail_classes"] == ["tail"] and metrics["split"] == "test"
    again = im.run_ablation(run, variants, path, [0], 1, build, batch_size=8, progress=False)
    assert again.equals(res)  # resumed from the completed units
    table = im.ablation_table(res)
    assert list(table.columns[:5]) == ["variant", "test accuracy", "test macro f1", "test head recall", "test tail recall"]
    f1 = im.per_class_f1(run, variants, [0])
    assert f1.index.tolist() == ["head", "mid", "tail"] and f1["train_count"].tolist() == [12, 6, 3]


def test_smoothing_rows_carry_their_own_factor():
    assert im.smoothing_variant(0.2) == "+label smoothing (loss) eps=0.2"
    assert im.smoothing_variant(0.01, "labels") == "+label smoothing (labels) eps=0.01"
    row = im.ablation_config("+label smoothing (loss) eps=0.2")
    assert row["smoothing_loss"] and not row["smoothing_labels"] and row["smoothing"] == 0.2
    assert im.ablation_config("+label smoothing (labels)", smoothing=0.3)["smoothing"] == 0.3
    assert im.ablation_config("baseline", smoothing=0.3)["smoothing"] == 0.0  # no smoothing row, no factor
    with pytest.raises(ValueError, match="in \\[0, 1\\)"):
        im.smoothing_variant(1.5)
    with pytest.raises(ValueError, match="'loss' or 'labels'"):
        im.smoothing_variant(0.1, "targets")
    with pytest.raises(ValueError, match="smoothing row such as"):
        im.ablation_config("+label smoothing (loss) eps=big")
