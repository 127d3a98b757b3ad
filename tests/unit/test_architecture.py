"""Unit tests of helpers.models.cnn (spec parser, CNN/ResNet builders, families) and
helpers.training.architecture (the family runner with the notebook's build function)."""

import numpy as np
import pytest

from helpers import runs
from helpers.models import cnn as C
from helpers.training import architecture as A


# --------------------------------------------------------------------------- parser
def test_parse_spec_all_tokens():
    layers = C.parse_spec("[32C3-P2]-[24C5S2-BN]-D45-GAP-512-D3")
    kinds = [layer.kind for layer in layers]
    assert kinds == ["conv", "pool", "conv", "batchnorm", "dropout", "gap", "dense", "dropout"]
    assert (layers[0].filters, layers[0].kernel, layers[0].stride) == (32, 3, 1)
    assert (layers[2].filters, layers[2].kernel, layers[2].stride) == (24, 5, 2)
    assert layers[1].pool == 2
    assert layers[4].rate == pytest.approx(0.45)
    assert layers[7].rate == pytest.approx(0.3)
    assert layers[6].units == 512
    assert [layer.position for layer in layers] == list(range(1, 9))


def test_parse_spec_is_case_and_space_tolerant():
    assert C.parse_spec(" 32c3 - p2 - 64 ") == C.parse_spec("32C3-P2-64")
    assert C.parse_spec("16C3-D0")[1].rate == 0.0
    assert C.parse_spec("16C3-D05")[1].rate == pytest.approx(0.05)


@pytest.mark.parametrize("spec, match", [
    ("32C3-PX-512", r"bad token 'PX' at position 2 \(character 6\).*expected NNCk"),
    ("32C3-P2-512-64C3", r"bad token '64C3' at position 4 .*before the features are flattened"),
    ("32C3--P2", r"bad token '' at position 2 .*empty token"),
    ("32C3-0", r"position 2 .*at least one unit"),
    ("32C0", r"position 1 .*must be >= 1"),
    ("32C3-GAP-F", r"position 3 .*already flat"),
    ("[32C3-P2", r"unbalanced brackets"),
    ("", r"non-empty string"),
])
def test_parse_spec_bad_tokens(spec, match):
    with pytest.raises(ValueError, match=match):
        C.parse_spec(spec)


def test_spec_output_shape_and_too_many_pools():
    assert C.spec_output_shape("32C3-P2-64C3S2", (32, 32, 3)) == (8, 8, 64)
    assert C.spec_output_shape("32C3-P2-F", (32, 32, 3)) == (16 * 16 * 32,)
    assert C.spec_output_shape("32C3-P2-100", (32, 32, 3)) == (100,)
    with pytest.raises(ValueError, match=r"token 'P2' at position 3 pools a 1x1 feature map"):
        C.spec_output_shape("P2-P2-P2", (4, 4, 3))


# --------------------------------------------------------------------------- builders
def test_build_cnn_multiclass():
    model = C.build_cnn("[8C3-P2]-[16C3-P2]-32-D3", (16, 16, 3), num_classes=3)
    assert model.output_shape == (None, 3)
    assert model.layers[-1].activation.__name__ == "softmax"
    assert model.loss == "sparse_categorical_crossentropy"
    # params: conv 3*3*3*8+8, conv 3*3*8*16+16, dense 4*4*16*32+32, output 32*3+3
    assert model.count_params() == 224 + 1168 + 8224 + 99


@pytest.mark.parametrize("num_classes, binary", [(1, None), (2, True)])
def test_build_cnn_binary(num_classes, binary):
    model = C.build_cnn("8C3-P2", (8, 8, 3), num_classes=num_classes, binary=binary)
    assert model.output_shape == (None, 1)
    assert model.layers[-1].activation.__name__ == "sigmoid"
    assert model.loss == "binary_crossentropy"


def test_output_config_errors():
    assert C.output_config(2)["units"] == 2
    with pytest.raises(ValueError, match="binary=True needs num_classes 1 or 2, got 3"):
        C.output_config(3, binary=True)
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        C.output_config(0)


def test_build_cnn_augment_and_strided():
    model = C.build_cnn("8C5S2-BN-GAP", (16, 16, 3), 3, augment=True, compile=False)
    names = [layer.name for layer in model.layers]
    assert "augmentation" in names
    assert model.get_layer("conv01_8c5s2").strides == (2, 2)


def test_build_resnet_shapes():
    model = C.build_resnet((16, 16, 3), 4, blocks_per_stage=1, base_filters=4)
    assert model.output_shape == (None, 4)
    assert model.name == "resnet8"
    assert any(layer.name.endswith("_add") for layer in model.layers)
    with pytest.raises(ValueError, match="num_classes >= 2"):
        C.build_resnet((16, 16, 3), 1)


def test_binary_training_and_predict_classes():
    from helpers import env

    env.seed_everything(0)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 60, size=(32, 8, 8, 3)).astype("uint8")
    y = np.repeat([0, 1], 16)
    x[y == 1] += 150  # bright = class 1
    model = C.build_cnn("4C3-GAP", (8, 8, 3), 2, binary=True, learning_rate=0.05)
    model.fit(x, y, epochs=15, batch_size=8, verbose=0)
    pred = C.predict_classes(model, x)
    assert pred.shape == (32,) and set(pred) <= {0, 1}
    assert (pred == y).mean() >= 0.9


# --------------------------------------------------------------------------- families
def test_families_build_and_have_expected_sizes():
    sizes = {name: len(v) for name, v in C.FAMILIES.items()}
    assert sizes == {"depth": 3, "feature_maps": 4, "dense": 4, "dropout": 5, "advanced": 4}
    for variants in C.FAMILIES.values():
        for variant in variants:
            C.spec_output_shape(variant.spec, (32, 32, 3))
    assert C.family_variants("depth", ["(C-P)x2"])[0].spec == "[32C3-P2]-[64C3-P2]-512-D3"
    with pytest.raises(ValueError, match="unknown family 'width'"):
        C.family_variants("width")
    with pytest.raises(ValueError, match=r"no variant\(s\) \['x'\]"):
        C.family_variants("depth", ["x"])


def test_custom_variants():
    variants = C.custom_variants(["16C3-P2-32", "8C3-GAP +aug"])
    assert [v.augment for v in variants] == [False, True]
    assert variants[1].spec == "8C3-GAP"
    with pytest.raises(ValueError, match="bad token 'Q2'"):
        C.custom_variants(["16C3-Q2"])


def _tiny_data():
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1, 2], 6)
    x = rng.integers(0, 255, size=(18, 8, 8, 3)).astype("uint8")
    return {"train": (x, y), "val": (x[::2], y[::2])}


def _build(spec, input_shape, num_classes, augment, seed):
    import keras

    model = C.build_cnn(spec, input_shape, num_classes, augment=augment, compile=False, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _build_wider(spec, input_shape, num_classes, augment, seed):
    import keras

    spec = spec.replace("4C3", "6C3")  # a student edits a layer size inside the build function
    model = C.build_cnn(spec, input_shape, num_classes, augment=augment, compile=False, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_run_family_writes_resumes_and_is_reproducible(tmp_path):
    run = runs.open_run(tmp_path / "r1")
    variants = C.custom_variants(["4C3-P2-8", "4C3-GAP"])
    data = _tiny_data()
    res = A.run_family(run, "custom", variants, data, [0], 2, _build, batch_size=6, progress=False)
    assert len(res) == 2 and {"val_accuracy", "params", "mean_epoch_seconds", "split", "averaging"} <= set(res.columns)
    unit = run.path / "cnn_architecture/custom/4C3-P2-8/seed0"
    assert (unit / "_COMPLETE.json").exists()
    history = run.read_csv("cnn_architecture/custom/4C3-P2-8/seed0/history.csv")
    assert list(history.columns[:5]) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"]
    assert "lr" in history and history["lr"].iloc[1] == pytest.approx(1e-3 * 0.95)
    # resume: a completed unit with the same inputs is loaded, not retrained
    stamp = (unit / "history.csv").stat().st_mtime_ns
    again = A.run_family(run, "custom", variants, data, [0], 2, _build, batch_size=6, progress=False)
    assert again["val_accuracy"].tolist() == res["val_accuracy"].tolist()
    assert (unit / "history.csv").stat().st_mtime_ns == stamp
    # same seed in a fresh run -> same numbers
    other = runs.open_run(tmp_path / "r2")
    fresh = A.run_family(other, "custom", variants, data, [0], 2, _build, batch_size=6, progress=False)
    np.testing.assert_allclose(fresh["val_accuracy"], res["val_accuracy"])
    table = A.family_table(res)
    assert table["variant"].tolist() == ["4C3-P2-8", "4C3-GAP"]
    assert table["val accuracy"].iloc[0].endswith("(1 seed)") and table["seeds"].tolist() == [1, 1]
    curves, bands = A.family_curves(run, "custom", variants, [0])
    assert len(curves["4C3-GAP"]) == 2 and bands["4C3-GAP"].tolist() == [0.0, 0.0]


def test_an_edited_build_function_or_parameter_retrains_the_family(tmp_path, capsys):
    run = runs.open_run(tmp_path / "r")
    variants = C.custom_variants(["4C3-P2-8"])
    data = _tiny_data()
    history = run.path / "cnn_architecture/custom/4C3-P2-8/seed0/history.csv"
    before = A.run_family(run, "custom", variants, data, [0], 1, _build, batch_size=6, progress=False)
    wider = A.run_family(run, "custom", variants, data, [0], 1, _build_wider, batch_size=6, progress=False)
    assert wider["params"].iloc[0] > before["params"].iloc[0]  # the repetition trained the edited network
    assert "build_model" in capsys.readouterr().out  # and said why it trained again
    stamp = history.stat().st_mtime_ns
    same = A.run_family(run, "custom", variants, data, [0], 1, _build_wider, batch_size=6, progress=False)
    assert same.equals(wider) and history.stat().st_mtime_ns == stamp  # the same function: loaded, not trained
    assert "trained again" not in capsys.readouterr().out
    longer = A.run_family(run, "custom", variants, data, [0], 2, _build_wider, batch_size=6, progress=False)
    assert longer["epochs"].iloc[0] == 2 and len(run.read_csv("cnn_architecture/custom/4C3-P2-8/seed0/history.csv")) == 2


def test_a_layer_size_edited_inside_the_build_function_recomputes_and_the_same_function_skips(tmp_path):
    """The notebook's build function is an input of every unit: re-running the same cell loads the stored
    units; re-running it with another layer size trains again, and the trained model has the new size."""
    import keras
    from keras import layers

    run = runs.open_run(tmp_path / "r")
    variants, data = C.custom_variants(["4C3-GAP"]), _tiny_data()
    history = run.path / "cnn_architecture/custom/4C3-GAP/seed0/history.csv"

    def build_model(spec, input_shape, num_classes, augment, seed):  # the notebook's cell: Conv2D with 4 maps
        model = keras.Sequential([keras.Input(input_shape), layers.Rescaling(1 / 255),
                                  layers.Conv2D(4, 3, padding="same", activation="relu"),
                                  layers.GlobalAveragePooling2D(), layers.Dense(num_classes, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    first = A.run_family(run, "custom", variants, data, [0], 1, build_model, batch_size=6, progress=False)
    assert first["params"].iloc[0] == (3 * 3 * 3 * 4 + 4) + (4 * 3 + 3)
    stamp = history.stat().st_mtime_ns
    again = A.run_family(run, "custom", variants, data, [0], 1, build_model, batch_size=6, progress=False)
    assert again.equals(first) and history.stat().st_mtime_ns == stamp  # the same function: loaded

    def build_model(spec, input_shape, num_classes, augment, seed):  # the same cell edited: 8 maps  # noqa: F811
        model = keras.Sequential([keras.Input(input_shape), layers.Rescaling(1 / 255),
                                  layers.Conv2D(8, 3, padding="same", activation="relu"),
                                  layers.GlobalAveragePooling2D(), layers.Dense(num_classes, activation="softmax")])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        return model

    edited = A.run_family(run, "custom", variants, data, [0], 1, build_model, batch_size=6, progress=False)
    assert edited["params"].iloc[0] == (3 * 3 * 3 * 8 + 8) + (8 * 3 + 3)  # trained again, with the new layer
    assert history.stat().st_mtime_ns != stamp
    assert run.read_json("cnn_architecture/custom/4C3-GAP/seed0/result.json")["row"]["params"] == 251


def test_load_image_splits_class_subset(tmp_path):
    from helpers.data import bananas, images

    data = bananas.make_banana_dataset(tmp_path / "bananas", n_per_class=6, image_size=16)
    splits, names, _ = images.load_image_splits(data, image_size=16, test_size=0.3, val_size=0.3)
    assert len(names) == 3 and splits["train"][0].shape[1:] == (16, 16, 3)
    pair = [images.BANANA_CLASSES[1], images.BANANA_CLASSES[0]]
    splits, names, folder = images.load_image_splits(data, image_size=16, class_subset=pair)
    assert names == pair and set(np.concatenate([y for _, y in splits.values()])) == {0, 1}
    assert len(folder.labels) == len(folder.paths) == len(folder.formats) == len(folder.groups) == 12
    with pytest.raises(ValueError, match=r"class_subset must name at least two classes.*unknown: \['Plantain'\]"):
        images.load_image_splits(data, image_size=16, class_subset=["Plantain", pair[0]])


def test_run_family_scores_the_test_split_and_trains_input_sizes_on_their_own_data(tmp_path):
    run = runs.open_run(tmp_path / "r")
    data = _tiny_data()
    rng = np.random.default_rng(2)
    data["test"] = (rng.integers(0, 255, size=(9, 8, 8, 3)).astype("uint8"), np.repeat([0, 1, 2], 3))
    loaded = []

    def load_at(size):
        loaded.append(size)
        x = rng.integers(0, 255, size=(18, size, size, 3)).astype("uint8")
        y = np.repeat([0, 1, 2], 6)
        return {"train": (x, y), "val": (x[::2], y[::2]), "test": (x[1::2], y[1::2])}

    variants = C.input_size_variants([8, 12], spec="4C3-P2-8")
    assert [v.name for v in variants] == ["8 px", "12 px"] and [v.image_size for v in variants] == [8, 12]
    with pytest.raises(ValueError, match="load_data"):
        A.run_family(run, "input_size", variants, data, [0], 1, _build, batch_size=6, progress=False)
    res = A.run_family(run, "input_size", variants, data, [0], 1, _build, batch_size=6, load_data=load_at,
                       progress=False)
    assert loaded == [8, 12]  # each size loaded once
    assert res["image_size"].tolist() == [8, 12]
    assert res[["test_accuracy", "test_macro_f1"]].apply(lambda c: c.between(0, 1)).all().all()
    assert "test" in res["split"].iloc[0]
    # the 12 px model really saw 12 px images: its first conv's output is larger, so it has the same conv weights
    # but a bigger dense layer than the 8 px one
    assert res["params"].iloc[1] > res["params"].iloc[0]
    table = A.family_table(res)
    assert {"val accuracy", "test accuracy", "test macro-F1"} <= set(table.columns)
    with pytest.raises(ValueError, match="integers >= 8"):
        C.input_size_variants([4])
    with pytest.raises(ValueError, match="pools a"):
        C.input_size_variants([8], spec="4C3-P2-P2-P2-P2")
    assert C.family_variants("input_size", input_sizes=[16])[0].image_size == 16
