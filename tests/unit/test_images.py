"""Tests of helpers.data.images and helpers.data.bananas: synthetic bananas, the validating loader, splits and tf.data."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from fixtures_images import make_messy_folder, make_simple_folder

from helpers.data import bananas, images


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    root = make_messy_folder(tmp_path_factory.mktemp("messy"))
    return root, images.load_image_folder(root, image_size=32)


# ---------------------------------------------------------------- synthetic dataset
def test_make_banana_dataset_writes_jpeg_and_png_per_class(tmp_path):
    out = bananas.make_banana_dataset(tmp_path / "b", n_per_class=4, image_size=48, seed=1)
    for cls in images.BANANA_CLASSES:
        files = sorted((out / cls).iterdir())
        assert len(files) == 4
        assert {f.suffix for f in files} == {".jpg", ".png"}
    folder = images.load_image_folder(out, image_size=48)
    assert folder.images.shape == (12, 48, 48, 3)
    assert sorted(set(folder.formats)) == ["JPEG", "PNG"]
    assert folder.summary.set_index("class").loc["total", "duplicates"] == 0


def test_make_banana_dataset_is_deterministic(tmp_path):
    def digest(root):
        return [hashlib.sha1(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*.*"))]

    a = bananas.make_banana_dataset(tmp_path / "a", n_per_class=3, image_size=32, seed=5)
    b = bananas.make_banana_dataset(tmp_path / "b", n_per_class=3, image_size=32, seed=5)
    c = bananas.make_banana_dataset(tmp_path / "c", n_per_class=3, image_size=32, seed=6)
    assert digest(a) == digest(b)
    assert digest(a) != digest(c)


def test_make_banana_dataset_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="n_per_class must be a positive integer, got 0"):
        bananas.make_banana_dataset(tmp_path, n_per_class=0)
    with pytest.raises(ValueError, match="image_size must be an integer >= 16"):
        bananas.make_banana_dataset(tmp_path, image_size=8)
    with pytest.raises(ValueError, match="formats .*tiff.* not supported"):
        bananas.make_banana_dataset(tmp_path, formats=("tiff",))


def test_embedded_banana_dir_is_generated_once(tmp_path, monkeypatch):
    monkeypatch.setenv("DL_DATA_DIR", str(tmp_path))
    first = images.embedded_banana_dir(n_per_class=2, image_size=32, seed=0)
    assert first == tmp_path / "bananas-n2-s32-seed0"
    marker = first / images.BANANA_CLASSES[0] / "marker.txt"
    marker.write_text("kept")
    assert images.embedded_banana_dir(n_per_class=2, image_size=32, seed=0) == first
    assert marker.exists()  # reused, not regenerated
    assert [p.name for p in tmp_path.iterdir()] == ["bananas-n2-s32-seed0"]  # no temp folder left


# ---------------------------------------------------------------- loader on the messy fixture
def test_loader_summary_counts_every_case(messy):
    _, folder = messy
    s = folder.summary.set_index("class")
    assert folder.class_names == ["Cavendish Banana", "Lady Finger Banana"]
    assert s.loc["Cavendish Banana", ["found", "loaded", "skipped", "duplicates"]].tolist() == [10, 8, 2, 1]
    assert s.loc["Lady Finger Banana", ["found", "loaded", "skipped", "duplicates"]].tolist() == [6, 6, 0, 0]
    assert s.loc["total", ["found", "loaded", "skipped", "duplicates"]].tolist() == [16, 14, 2, 1]
    assert folder.images.shape == (14, 32, 32, 3) and folder.images.dtype == np.uint8
    assert np.bincount(folder.labels).tolist() == [8, 6]


def test_loader_skips_non_images_with_a_reason(messy):
    _, folder = messy
    reasons = dict(zip([p.split("/")[-1] for p in folder.skipped["path"]], folder.skipped["reason"]))
    assert set(reasons) == {"notes.txt", "broken.jpg"}
    assert reasons["notes.txt"] == "not an image (content not recognised)"
    assert reasons["broken.jpg"].startswith(("not an image", "unreadable image"))


def test_loader_decodes_by_content_not_extension(messy):
    _, folder = messy
    fmt = dict(zip([p.split("/")[-1] for p in folder.paths], folder.formats))
    assert fmt["wrong_ext.jpg"] == "PNG"
    assert fmt["photo.webp"] == "WEBP"
    assert fmt["anim.gif"] == "GIF"
    assert fmt["bitmap.bmp"] == "BMP"
    assert fmt["huge.jpg"] == "JPEG"
    assert "nested.jpg" in fmt  # nested folders inside a class are read
    assert not any(".cache" in p for p in folder.paths)


def test_loader_converts_modes_to_rgb(messy):
    _, folder = messy
    by_name = {p.split("/")[-1]: img for p, img in zip(folder.paths, folder.images)}
    grey = by_name["grey.png"].astype(int)
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])
    for name in ("palette.png", "rgba.png", "tiny.png", "huge.jpg"):
        assert by_name[name].shape == (32, 32, 3)
    # the huge gradient image keeps its left-to-right gradient after the reduced decode
    huge = by_name["huge.jpg"].astype(int)
    assert huge[:, -1, 0].mean() > huge[:, 0, 0].mean() + 150
    assert abs(huge[..., 1].mean() - 128) < 6


def test_loader_groups_exact_duplicates(messy):
    _, folder = messy
    by_name = {p.split("/")[-1]: g for p, g in zip(folder.paths, folder.groups)}
    assert by_name["c0.jpg"] == by_name["Copy of c0.jpg"]
    assert len(set(folder.groups)) == len(folder.groups) - 1


def test_loader_max_per_class_and_size_pair(messy):
    root, _ = messy
    folder = images.load_image_folder(root, image_size=(20, 30), max_per_class=2)
    assert folder.images.shape == (4, 20, 30, 3)
    assert folder.summary.set_index("class").loc["Cavendish Banana", "loaded"] == 2


def test_loader_errors_name_the_path(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(FileNotFoundError, match=r"image folder .*nope does not exist"):
        images.load_image_folder(missing)
    one = make_simple_folder(tmp_path / "one", classes=("only",))
    with pytest.raises(ValueError, match=r"has 1 class folder\(s\) \(only\); expected at least two"):
        images.load_image_folder(one)
    empty = make_simple_folder(tmp_path / "empty", classes=("a", "b"))
    (empty / "c").mkdir()
    with pytest.raises(ValueError, match=r"class folder .*empty/c is empty; expected at least one image"):
        images.load_image_folder(empty)
    junk = make_simple_folder(tmp_path / "junk", classes=("a", "b"))
    (junk / "c").mkdir()
    (junk / "c" / "x.jpg").write_text("not a jpeg")
    with pytest.raises(ValueError, match=r"class folder .*junk/c has no loadable image \(x.jpg: not an image"):
        images.load_image_folder(junk)
    with pytest.raises(ValueError, match="image_size must be an int or a"):
        images.load_image_folder(junk, image_size="big")
    with pytest.raises(ValueError, match="max_per_class must be a positive integer"):
        images.load_image_folder(junk, max_per_class=0)


# ---------------------------------------------------------------- splits
def test_split_is_stratified_with_brief_defaults():
    labels = np.repeat([0, 1, 2], 200)
    idx = images.split_indices(labels, seed=3)
    assert [len(idx[k]) for k in ("train", "val", "test")] == [294, 126, 180]  # as in the brief
    for k in idx:
        assert np.bincount(labels[idx[k]]).tolist() == [len(idx[k]) // 3] * 3
    all_idx = np.concatenate(list(idx.values()))
    assert sorted(all_idx.tolist()) == list(range(600))


def test_split_never_splits_a_duplicate_group():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], 50)
    groups = np.arange(100)
    for _ in range(15):  # 15 groups of 2-4 duplicates
        members = rng.choice(np.where(labels == rng.integers(0, 2))[0], size=rng.integers(2, 5), replace=False)
        groups[members] = groups[members[0]]
    for seed in range(10):
        idx = images.split_indices(labels, groups, seed=seed)
        where = {}
        for name, ids in idx.items():
            for g in groups[ids]:
                where.setdefault(g, set()).add(name)
        assert all(len(v) == 1 for v in where.values())


def test_split_dataset_and_seed(messy):
    _, folder = messy
    splits, idx = images.split_dataset(folder, seed=1, return_indices=True)
    assert set(splits) == {"train", "val", "test"}
    assert sum(len(y) for _, y in splits.values()) == len(folder)
    np.testing.assert_array_equal(splits["test"][0], folder.images[idx["test"]])
    again = images.split_indices(folder.labels, folder.groups, seed=1)
    assert all(np.array_equal(idx[k], again[k]) for k in idx)


def test_split_rejects_bad_sizes():
    with pytest.raises(ValueError, match=r"test_size must be in \[0, 1\), got 1.5"):
        images.split_indices([0, 1, 0, 1], test_size=1.5)
    with pytest.raises(ValueError, match="groups has shape"):
        images.split_indices([0, 1, 0, 1], groups=[0, 1])


# ---------------------------------------------------------------- tf.data
def test_make_dataset_eval_keeps_order_and_copies():
    x = np.arange(5 * 4 * 4 * 3, dtype=np.float32).reshape(5, 4, 4, 3)
    original = x.copy()
    calls = []

    def preprocess(t):
        calls.append(1)
        return t / 2.0

    ds = images.make_dataset(x, np.arange(5), batch_size=2, preprocess=preprocess)
    xb = np.concatenate([b[0].numpy() for b in ds])
    yb = np.concatenate([b[1].numpy() for b in ds])
    np.testing.assert_allclose(xb, original / 2.0)  # preprocess applied exactly once
    np.testing.assert_array_equal(yb, np.arange(5))
    np.testing.assert_array_equal(x, original)  # input not modified in place


def test_make_dataset_training_shuffles_and_augments():
    x = np.random.default_rng(0).integers(0, 255, size=(8, 16, 16, 3)).astype(np.uint8)
    ds = images.make_dataset(x, np.arange(8), batch_size=8, training=True,
                             augment=images.augmentation_layers(seed=0), seed=0)
    xb, yb = next(iter(ds))
    assert xb.shape == (8, 16, 16, 3) and xb.dtype.name == "float32"
    assert sorted(yb.numpy().tolist()) == list(range(8))
    order = yb.numpy()
    assert not np.allclose(xb.numpy(), x[order].astype(np.float32))  # augmented


def test_make_dataset_rejects_mismatch():
    with pytest.raises(ValueError, match="x has 3 images but y has 2 labels"):
        images.make_dataset(np.zeros((3, 4, 4, 3)), [0, 1])
    with pytest.raises(ValueError, match="x must have shape"):
        images.make_dataset(np.zeros((3, 4, 4)), [0, 1, 2])


def test_show_images_takes_float_pixels_in_0_255():
    x = np.full((3, 4, 4, 3), 300.0)
    fig = images.show_images(x, titles=["a", "b", "c"], ncols=2, suptitle="t")
    shown = [ax.images[0].get_array() for ax in fig.axes if ax.images]
    assert len(shown) == 3 and shown[0].dtype == np.uint8 and shown[0].max() == 255
    with pytest.raises(ValueError, match="show_images got no images"):
        images.show_images(np.zeros((0, 4, 4, 3)))


def test_banana_difficulty_narrows_the_classes_and_names_the_folder(tmp_path, monkeypatch):
    shape = bananas._BANANA_SHAPES["Cavendish Banana"]
    easy, same = bananas._shape_at(shape, 0.0), bananas._shape_at(shape, 1.0)
    for key in ("length", "thickness", "curvature", "stalk"):
        lo, hi = shape[key]
        assert same[key] == pytest.approx((lo, hi))
        assert easy[key][1] - easy[key][0] == pytest.approx(0.3 * (hi - lo))  # 30 % of the width at 0
        assert sum(easy[key]) == pytest.approx(lo + hi)  # around the same centre: the cue stays the same
    draw = lambda d: np.asarray(bananas.draw_banana("Cavendish Banana", np.random.default_rng(3), 32, d))  # noqa: E731
    assert np.array_equal(draw(1.0), np.asarray(bananas.draw_banana("Cavendish Banana", np.random.default_rng(3), 32)))
    assert np.array_equal(draw(0.4), draw(0.4)) and not np.array_equal(draw(0.4), draw(1.0))
    for bad in (1.5, -0.1, "hard", True, None):
        with pytest.raises(ValueError, match="difficulty must be a number in"):
            bananas.check_difficulty(bad)
    monkeypatch.setenv("DL_DATA_DIR", str(tmp_path))
    assert images.embedded_banana_dir(n_per_class=1, image_size=32, difficulty=0.4).name == "bananas-n1-s32-seed0-d0.4"
    assert images.embedded_banana_dir(n_per_class=1, image_size=32).name == "bananas-n1-s32-seed0"
