"""Unit tests of helpers.data.longtail: long-tail subsampling, HDF5 round trip, streaming reader."""

import numpy as np
import pytest

from helpers.data import longtail as lt


def _data(n_per_class=20, classes=3, size=4, seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(classes), n_per_class)
    x = rng.integers(0, 256, size=(len(y), size, size, 3), dtype=np.uint8)
    return x, y


def test_long_tail_counts_exponential():
    counts = lt.long_tail_counts(100, 3, 10)
    assert counts.tolist() == [100, 31, 10]
    assert lt.long_tail_counts(50, 4, 1).tolist() == [50] * 4
    assert lt.long_tail_counts(5, 3, 1000).tolist()[-1] == 1  # never empty


@pytest.mark.parametrize("ratio", [0.5, 0, -3, float("nan"), "10", True])
def test_imbalance_ratio_below_one_is_rejected(ratio):
    with pytest.raises(ValueError, match="imbalance_ratio must be a number >= 1"):
        lt.long_tail_counts(10, 3, ratio)


def test_make_long_tail_counts_order_and_determinism():
    x, y = _data()
    x1, y1, counts = lt.make_long_tail(x, y, imbalance_ratio=4, seed=1)
    assert counts.tolist() == [20, 10, 5]
    assert np.bincount(y1).tolist() == [20, 10, 5]
    x2, y2, _ = lt.make_long_tail(x, y, imbalance_ratio=4, seed=1)
    np.testing.assert_array_equal(x1, x2)
    _, y3, counts3 = lt.make_long_tail(x, y, imbalance_ratio=4, seed=1, class_order=[2, 0, 1])
    assert counts3.tolist() == [10, 5, 20]
    assert np.bincount(y3).tolist() == [10, 5, 20]


def test_make_long_tail_errors():
    x, y = _data()
    with pytest.raises(ValueError, match="class 0 has 20 samples but the long tail needs 30"):
        lt.make_long_tail(x, y, 2, n_max=30)
    with pytest.raises(ValueError, match="class_order must be a permutation"):
        lt.make_long_tail(x, y, 2, class_order=[0, 1])


def test_long_tail_splits_keeps_val_and_test():
    x, y = _data()
    splits = {"train": (x, y), "val": (x[:6], y[:6]), "test": (x[6:9], y[6:9])}
    out = lt.long_tail_splits(splits, 4)
    assert np.bincount(out["train"][1]).tolist() == [20, 10, 5]
    assert out["val"][0] is splits["val"][0]


def test_tail_classes():
    assert lt.tail_classes([100, 31, 10]).tolist() == [2]
    assert lt.tail_classes([5, 50, 5, 20, 40, 30], fraction=1 / 3).tolist() == [0, 2]


def test_hdf5_round_trip_is_identical(tmp_path):
    x, y = _data()
    splits = {"train": (x[:30], y[:30]), "val": (x[30:45], y[30:45]), "test": (x[45:], y[45:])}
    path = lt.write_hdf5(tmp_path / "lt.h5", splits, ["a", "b", "c"], attrs={"imbalance_ratio": 4.0})
    assert lt.hdf5_class_names(path) == ["a", "b", "c"]
    for split, (xs, ys) in splits.items():
        xr, yr = lt.read_hdf5(path, split)
        assert xr.dtype == np.uint8
        np.testing.assert_array_equal(xr, xs)
        np.testing.assert_array_equal(yr, ys)
    summary = lt.hdf5_summary(path)
    assert summary.query("split == 'train'")["count"].tolist() == [20, 10, 0]


def test_hdf5_stream_gives_identical_arrays(tmp_path):
    x, y = _data()
    path = lt.write_hdf5(tmp_path / "s.h5", {"train": (x, y)}, ["a", "b", "c"])
    ds = lt.hdf5_dataset(path, "train", batch_size=7, block_size=16)
    xs, ys = zip(*[(a.numpy(), b.numpy()) for a, b in ds])
    np.testing.assert_array_equal(np.concatenate(xs), x)
    np.testing.assert_array_equal(np.concatenate(ys), y)


def test_hdf5_stream_shuffles_per_epoch_and_one_hot(tmp_path):
    x, y = _data()
    path = lt.write_hdf5(tmp_path / "s.h5", {"train": (x, y)}, ["a", "b", "c"])
    ds = lt.hdf5_dataset(path, "train", batch_size=8, shuffle=True, seed=3, block_size=16,
                         num_classes=3, label_smoothing=0.3)
    first = np.concatenate([b.numpy() for _, b in ds])
    second = np.concatenate([b.numpy() for _, b in ds])
    assert first.shape == (60, 3)
    np.testing.assert_allclose(first.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(first.max(axis=1), 0.8, rtol=1e-6)
    assert not np.array_equal(first, second)  # a new order each epoch
    np.testing.assert_allclose(np.sort(first.argmax(1)), np.sort(y))


def test_hdf5_missing_file_and_key(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.h5 does not exist"):
        lt.read_hdf5(tmp_path / "nope.h5", "train")
    x, y = _data()
    path = lt.write_hdf5(tmp_path / "t.h5", {"train": (x, y)}, ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"t\.h5 has no dataset 'val/images'"):
        lt.read_hdf5(path, "val")
    with pytest.raises(ValueError, match=r"has no dataset 'test/images'"):
        lt.hdf5_dataset(path, "test")


def test_write_hdf5_bad_input(tmp_path):
    x, y = _data()
    with pytest.raises(ValueError, match="images must be uint8"):
        lt.write_hdf5(tmp_path / "b.h5", {"train": (x.astype(float), y)}, ["a", "b", "c"])
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\)"):
        lt.write_hdf5(tmp_path / "b.h5", {"train": (x, y)}, ["a", "b"])
    assert not (tmp_path / "b.h5").exists()


def test_hdf5_stream_knows_its_length(tmp_path):
    x, y = _data()
    path = lt.write_hdf5(tmp_path / "c.h5", {"train": (x, y)}, ["a", "b", "c"])
    ds = lt.hdf5_dataset(path, "train", batch_size=7, block_size=16)  # blocks 16,16,16,12 -> 3+3+3+2
    assert int(ds.cardinality()) == 11 == len(list(ds))
