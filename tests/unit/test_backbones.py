"""Tests of helpers.models.backbones: registry, flat models, modes, offline ImageNet weights."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.models import backbones


@pytest.mark.parametrize("name", list(backbones.BACKBONES))
def test_every_backbone_builds_flat_at_its_minimum_size(name):
    spec = backbones.get_backbone(name)
    model = backbones.build_transfer_model(name, num_classes=3, image_size=spec.min_size)
    names = [layer.name for layer in model.layers]
    assert spec.last_conv_layer in names  # flat: Grad-CAM can reach it
    assert spec.last_frozen_layer in names
    assert model.output.shape[-1] == 3
    assert backbones.trainable_layer_names(model) == ["head_norm", "head_output"]
    assert model.compiled and model.loss == "sparse_categorical_crossentropy"
    backbones.fine_tune(model, name, learning_rate=1e-5)
    assert float(model.optimizer.learning_rate) == pytest.approx(1e-5)
    trainable = backbones.trainable_layer_names(model)
    assert len(trainable) >= 3 and trainable[-1] == "head_output"
    assert not any("bn" in n.split("_")[-1] or n.startswith("batch_normalization") for n in trainable)
    import keras

    base_bn = [la for la in model.layers if isinstance(la, keras.layers.BatchNormalization) and la.name != "head_norm"]
    assert all(not layer.trainable for layer in base_bn)  # frozen BatchNorm runs in inference mode
    assert names.index(trainable[0]) > names.index(spec.last_frozen_layer)


def test_finetune_unfreezes_exactly_vgg16_block5():
    model = backbones.build_transfer_model("vgg16", 2, 32)
    assert [layer.name for layer in backbones.top_block(model, "VGG16")] == ["block5_conv1", "block5_conv2",
                                                                            "block5_conv3", "block5_pool"]
    backbones.fine_tune(model, "VGG16")
    assert backbones.trainable_layer_names(model) == ["block5_conv1", "block5_conv2", "block5_conv3", "head_norm", "head_output"]


def test_image_size_below_minimum():
    assert backbones.effective_image_size("Xception", 32) == 71
    assert backbones.effective_image_size("InceptionV3", 96) == 96
    with pytest.raises(ValueError, match="image_size=32 is below Xception's minimum input size 71"):
        backbones.effective_image_size("Xception", 32, raise_to_minimum=False)
    with pytest.raises(ValueError, match="image_size=40 is below InceptionV3's minimum input size 75"):
        backbones.build_transfer_model("InceptionV3", 3, 40)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="unknown backbone 'AlexNet'; expected one of VGG16, ResNet50V2"):
        backbones.get_backbone("AlexNet")
    with pytest.raises(ValueError, match="num_classes must be an integer >= 2, got 1"):
        backbones.build_transfer_model("VGG16", 1, 32)
    with pytest.raises(FileNotFoundError, match="weights file .*missing.h5 does not exist"):
        backbones.build_transfer_model("VGG16", 3, 32, weights="/nowhere/missing.h5")
    with pytest.raises(ValueError, match="dropout must be in"):
        backbones.build_transfer_model("VGG16", 3, 32, dropout=1.0)
    model = backbones.build_transfer_model("VGG16", 3, 32)
    with pytest.raises(ValueError, match="has no layer 'conv5_block2_out'"):
        backbones.fine_tune(model, "ResNet50V2")


def test_preprocess_input_never_modifies_its_input():
    spec = backbones.get_backbone("ResNet50V2")
    x = np.full((2, 4, 4, 3), 255.0, dtype=np.float32)
    out = spec.preprocess_input(x)
    assert np.all(x == 255.0)  # Keras' own preprocess_input would scale x in place
    np.testing.assert_allclose(out, 1.0)
    vgg = backbones.get_backbone("VGG16").preprocess_input(x)  # caffe mode: BGR, mean-centred
    np.testing.assert_allclose(vgg[0, 0, 0], [255 - 103.939, 255 - 116.779, 255 - 123.68], rtol=1e-5)


def test_feature_and_head_models_share_weights():
    model = backbones.build_transfer_model("VGG16", 3, 32)
    feature_model, head_model = backbones.feature_and_head_models(model)
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(head_model.predict(feature_model.predict(x, verbose=0), verbose=0),
                               model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    head_model.get_layer("head_output").kernel.assign(np.zeros((512, 3), dtype=np.float32))
    np.testing.assert_allclose(model.predict(x, verbose=0), 1 / 3, rtol=1e-5)


def _write_fake_imagenet_weights(path, seed=3):
    """A correctly shaped VGG16 no-top weights file in Keras' legacy HDF5 layout."""
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    keras.utils.set_random_seed(seed)
    base = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, base)
    return base.get_layer("block1_conv1").get_weights()[0]


def test_imagenet_weights_load_from_keras_cache_without_network(tmp_path, monkeypatch):
    from keras.src.backend import config
    from keras.src.utils import file_utils

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(config, "_KERAS_DIR", str(tmp_path))  # Keras reads KERAS_HOME at import time
    cached = backbones.imagenet_cache_path("VGG16")
    assert cached == tmp_path / "models" / "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    expected = _write_fake_imagenet_weights(cached)

    def no_network(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args[:1]}")

    checked = []

    def accept_known_hash(fpath, file_hash, algorithm="auto", chunk_size=65535):
        checked.append((fpath, file_hash))
        return True  # our file is correctly shaped but not the genuine one, so its md5 differs

    monkeypatch.setattr(file_utils, "urlretrieve", no_network)
    monkeypatch.setattr(file_utils, "validate_file", accept_known_hash)
    model = backbones.build_transfer_model("VGG16", 3, 32, weights="imagenet")
    np.testing.assert_array_equal(model.get_layer("block1_conv1").get_weights()[0], expected)
    assert checked == [(str(cached), "6d6bbae143d832006294945121d1f1fc")]  # the cache is verified (md5)


def test_imagenet_cache_with_a_wrong_hash_would_download(tmp_path, monkeypatch):
    """Keras checks the cached file's md5: a corrupt/foreign file triggers a re-download."""
    from keras.src.backend import config
    from keras.src.utils import file_utils

    monkeypatch.setattr(config, "_KERAS_DIR", str(tmp_path))
    _write_fake_imagenet_weights(backbones.imagenet_cache_path("VGG16"))
    attempts = []

    def no_network(origin, *args, **kwargs):
        attempts.append(origin)
        raise OSError("offline")

    monkeypatch.setattr(file_utils, "urlretrieve", no_network)
    with pytest.raises(Exception, match="offline|URL fetch failure"):
        backbones.build_transfer_model("VGG16", 3, 32, weights="imagenet")
    assert attempts and attempts[0].endswith("vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5")


def test_local_weights_path_is_accepted(tmp_path):
    path = tmp_path / "vgg16_notop.h5"
    expected = _write_fake_imagenet_weights(path, seed=7)
    model = backbones.build_transfer_model("VGG16", 3, 32, weights=path)
    np.testing.assert_array_equal(model.get_layer("block1_conv1").get_weights()[0], expected)


# --------------------------------------------------------------------------- weights="auto"
def _offline(monkeypatch, attempts=None, timeouts=None):
    """Make every download fail the way it does without network (DNS failure)."""
    import socket
    import urllib.error

    from keras.src.utils import file_utils

    def no_network(origin, *args, **kwargs):
        if attempts is not None:
            attempts.append(origin)
        if timeouts is not None:
            timeouts.append(socket.getdefaulttimeout())
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(file_utils, "urlretrieve", no_network)


def test_auto_weights_offline_fall_back_to_random_and_say_so(tmp_path, monkeypatch):
    import socket

    from keras.src.backend import config

    monkeypatch.setattr(config, "_KERAS_DIR", str(tmp_path))  # an empty Keras cache
    attempts, timeouts = [], []
    _offline(monkeypatch, attempts, timeouts)
    before = socket.getdefaulttimeout()
    choice = backbones.resolve_weights("VGG16", "auto", timeout=3.0)
    assert attempts == [backbones.imagenet_weights_url("VGG16")]
    assert timeouts == [3.0] and socket.getdefaulttimeout() == before  # short timeout, restored afterwards
    assert (choice.used, choice.weights, choice.random) == ("random", None, True)
    assert choice.description == "random initialisation (no ImageNet weights)"
    banner = choice.banner(num_classes=3)
    assert "no ImageNet weights could be loaded for VGG16" in banner and "chance accuracy = 1/3" in banner
    assert "Name or service not known" in choice.reason
    record = choice.as_dict()
    assert record["asked"] == "auto" and record["used"] == "random" and str(tmp_path) not in str(record)
    model = backbones.build_transfer_model("VGG16", 3, 32, weights=choice)  # random weights, no second attempt
    assert model.output_shape == (None, 3) and len(attempts) == 1


def test_imagenet_weights_offline_is_a_clear_error(tmp_path, monkeypatch):
    from keras.src.backend import config

    monkeypatch.setattr(config, "_KERAS_DIR", str(tmp_path))
    _offline(monkeypatch)
    with pytest.raises(RuntimeError, match=r"ImageNet weights of ResNet50V2.*Download https://.*resnet50v2.*notop\.h5"):
        backbones.resolve_weights("ResNet50V2", "imagenet")


def test_auto_weights_from_keras_cache_without_network(tmp_path, monkeypatch):
    from keras.src.backend import config
    from keras.src.utils import file_utils

    monkeypatch.setattr(config, "_KERAS_DIR", str(tmp_path))
    expected = _write_fake_imagenet_weights(backbones.imagenet_cache_path("VGG16"), seed=11)
    attempts = []
    _offline(monkeypatch, attempts)
    monkeypatch.setattr(file_utils, "validate_file", lambda fpath, file_hash, *a, **k: True)  # our fake's md5
    choice = backbones.resolve_weights("VGG16", "auto")
    assert (choice.used, choice.description, attempts) == ("imagenet", "ImageNet weights", [])
    assert choice.as_dict()["file"] == "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
    model = backbones.build_transfer_model("VGG16", 3, 32, weights=choice.weights)
    np.testing.assert_array_equal(model.get_layer("block1_conv1").get_weights()[0], expected)
    model = backbones.build_transfer_model("VGG16", 3, 32, weights="auto")  # the same, resolved inside
    np.testing.assert_array_equal(model.get_layer("block1_conv1").get_weights()[0], expected)


@pytest.mark.parametrize("asked", [None, "random"])
def test_random_weights_when_asked(asked):
    choice = backbones.resolve_weights("Xception", asked)
    assert choice.used == "random" and choice.weights is None
    assert "no ImageNet weights could be loaded" not in choice.banner(3)


def test_bad_weights_argument_names_what_is_expected():
    with pytest.raises(ValueError, match="weights must be 'auto', 'imagenet', None or a file path"):
        backbones.resolve_weights("VGG16", 3)
    with pytest.raises(FileNotFoundError, match="weights file .*nothing.h5 does not exist"):
        backbones.resolve_weights("VGG16", "/nowhere/nothing.h5")


# --------------------------------------------------------------------------- mixed precision
def test_outputs_stay_float32_under_mixed_precision():
    import keras

    from helpers.models import cnn as architecture

    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        models = [backbones.build_transfer_model("VGG16", 3, 32, weights=None),
                  architecture.build_cnn("[8C3-P2]-16-D2", (16, 16, 3), num_classes=3),
                  architecture.build_cnn("8C3-P2-16", (16, 16, 3), num_classes=2),  # one sigmoid unit
                  architecture.build_resnet((16, 16, 3), 3, blocks_per_stage=1, base_filters=4)]
        for model in models:
            assert model.layers[1].compute_dtype == "float16" or any(
                layer.compute_dtype == "float16" for layer in model.layers), model.name
            assert model.output.dtype == "float32", model.name
            assert model(np.zeros((1, *model.input_shape[1:]), "float32")).dtype == "float32", model.name
    finally:
        keras.mixed_precision.set_global_policy("float32")


# --------------------------------------------------------------------------- notebook 05's own functions
def notebook_functions(notebook: str, *names: str) -> dict:
    """The functions ``names`` as a notebook's cells define them (run in a namespace of their own)."""
    from pathlib import Path

    import nbformat

    path = Path(__file__).resolve().parents[2] / "notebooks" / f"{notebook}.ipynb"
    namespace = {"get_backbone": backbones.get_backbone}
    for cell in nbformat.read(str(path), as_version=4).cells:
        if cell.cell_type == "code" and any(f"def {name}(" in cell.source for name in names):
            exec(compile(cell.source, str(path), "exec"), namespace)
    missing = [name for name in names if name not in namespace]
    assert not missing, f"{notebook} defines no {missing}"
    return {name: namespace[name] for name in names}


def _compiled_with(model):
    config = model.get_compile_config()
    assert config["metrics"] == ["accuracy"]
    return config["optimizer"]["class_name"], pytest.approx(config["optimizer"]["config"]["learning_rate"]), config["loss"]


def test_notebook_05_builds_and_fine_tunes_the_model_the_registry_checks():
    nb = notebook_functions("05_banana_transfer", "build_transfer_model", "fine_tune")
    for name in ("VGG16", "ResNet50V2"):
        mine, checked = nb["build_transfer_model"](name, 3, 32), backbones.build_transfer_model(name, 3, 32)
        assert [type(la) for la in mine.layers] == [type(la) for la in checked.layers]
        assert [la.name for la in mine.layers[-4:]] == ["head_pool", "head_norm", "head_dropout", "head_output"]
        assert backbones.trainable_layer_names(mine) == backbones.trainable_layer_names(checked)
        assert _compiled_with(mine) == _compiled_with(checked) == ("Adam", 1e-3, "sparse_categorical_crossentropy")
        nb["fine_tune"](mine, name, 1e-4)
        backbones.fine_tune(checked, name, 1e-4)
        assert backbones.trainable_layer_names(mine) == backbones.trainable_layer_names(checked)
        assert _compiled_with(mine) == _compiled_with(checked) == ("Adam", 1e-4, "sparse_categorical_crossentropy")
        feature_model, head_model = backbones.feature_and_head_models(mine)  # the cached-feature path works
        assert [la.name for la in head_model.layers[1:]] == [la.name for la in mine.layers[-4:]]
