"""Long-tailed datasets: exponential subsampling with an imbalance ratio, one HDF5 file per
dataset (h5py) and a ``tf.data`` reader that streams from it.

HDF5 layout written by :func:`write_hdf5`::

    /class_names          1-D UTF-8 strings (also the file attribute ``class_names``)
    /<split>/images       uint8, N x H x W x 3, chunked one image per chunk
    /<split>/labels       int64, N
    attributes            anything passed as ``attrs`` (imbalance ratio, seed, counts...)

The reference log stored its 108,764 images this way so that training streams from disk instead
of decoding JPEGs every epoch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from helpers.runs import atomic_path

__all__ = [
    "long_tail_counts",
    "make_long_tail",
    "long_tail_splits",
    "write_hdf5",
    "read_hdf5",
    "hdf5_class_names",
    "hdf5_summary",
    "hdf5_dataset",
    "tail_classes",
]


def _check_ratio(imbalance_ratio: float) -> float:
    if (isinstance(imbalance_ratio, bool) or not isinstance(imbalance_ratio, (int, float, np.number))
            or not np.isfinite(imbalance_ratio) or imbalance_ratio < 1):
        raise ValueError(f"imbalance_ratio must be a number >= 1 (n_max / n_min; 1 = balanced), "
                         f"got {imbalance_ratio!r}")
    return float(imbalance_ratio)


def long_tail_counts(n_max: int, num_classes: int, imbalance_ratio: float) -> np.ndarray:
    """Exponential long-tail class sizes: ``n_i = n_max * imbalance_ratio ** (-i / (C - 1))``.

    Class 0 keeps ``n_max`` samples, the last class ``n_max / imbalance_ratio`` (at least 1);
    sizes are rounded down.

    Parameters
    ----------
    n_max : int (>= 1)
    num_classes : int (>= 1)
    imbalance_ratio : float (>= 1)

    Returns
    -------
    numpy.ndarray of int, shape (num_classes,), non-increasing.
    """
    ratio = _check_ratio(imbalance_ratio)
    if int(n_max) < 1 or int(num_classes) < 1:
        raise ValueError(f"n_max and num_classes must be >= 1, got n_max={n_max!r}, num_classes={num_classes!r}")
    if num_classes == 1:
        return np.array([int(n_max)])
    exponents = np.arange(num_classes) / (num_classes - 1)
    counts = np.floor(int(n_max) * ratio ** (-exponents) + 1e-9).astype(int)
    return np.maximum(counts, 1)


def make_long_tail(x, y, imbalance_ratio: float, seed: int = 0, class_order: Sequence[int] | None = None,
                   n_max: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Subsample ``(x, y)`` to an exponential long tail.

    Parameters
    ----------
    x : array, N x ...
    y : array of int, N (class indices 0 .. C-1)
    imbalance_ratio : float >= 1
        Size of the largest class over the smallest.
    seed : int
        Which samples are kept (same seed -> same subset).
    class_order : sequence of int, optional
        Classes from head (most samples) to tail; default 0, 1, ..., C-1.
    n_max : int, optional
        Size of the head class; default: the number of samples of the head class.

    Returns
    -------
    (x_lt, y_lt, counts)
        The kept samples (in their original order) and the kept count per class index.

    Raises
    ------
    ValueError
        ``imbalance_ratio < 1``, a class that has fewer samples than its target, or a bad ``class_order``.
    """
    ratio = _check_ratio(imbalance_ratio)
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"y must be 1-D with one label per image; got y shape {y.shape} for {len(x)} images")
    num_classes = int(y.max()) + 1
    order = list(range(num_classes)) if class_order is None else [int(c) for c in class_order]
    if sorted(order) != list(range(num_classes)):
        raise ValueError(f"class_order must be a permutation of 0..{num_classes - 1}, got {list(class_order)}")
    available = np.bincount(y, minlength=num_classes)
    head = int(n_max) if n_max is not None else int(available[order[0]])
    targets = long_tail_counts(head, num_classes, ratio)
    rng = np.random.default_rng(seed)
    keep = []
    counts = np.zeros(num_classes, dtype=int)
    for rank, cls in enumerate(order):
        idx = np.flatnonzero(y == cls)
        if targets[rank] > len(idx):
            raise ValueError(f"class {cls} has {len(idx)} samples but the long tail needs {targets[rank]} "
                             f"(n_max={head}, imbalance_ratio={ratio}); lower n_max")
        keep.append(rng.choice(idx, size=targets[rank], replace=False))
        counts[cls] = targets[rank]
    keep = np.sort(np.concatenate(keep))
    return np.asarray(x)[keep], y[keep], counts


def long_tail_splits(splits: Mapping[str, tuple], imbalance_ratio: float, seed: int = 0,
                     class_order: Sequence[int] | None = None, n_max: int | None = None) -> dict:
    """Long-tail only the ``train`` split of ``{"train": (x, y), "val": ..., "test": ...}``.

    Validation and test stay as they are (balanced), so per-class metrics are measured fairly.
    Returns a new dict of the same shape.
    """
    if "train" not in splits:
        raise ValueError(f"splits must contain 'train'; it has {sorted(splits)}")
    x, y = splits["train"]
    x_lt, y_lt, _ = make_long_tail(x, y, imbalance_ratio, seed=seed, class_order=class_order, n_max=n_max)
    out = dict(splits)
    out["train"] = (x_lt, y_lt)
    return out


def tail_classes(counts: Sequence[int], fraction: float = 1 / 3) -> np.ndarray:
    """Indices of the tail: the rarest ``fraction`` of the classes by training count (at least one).

    Ties are broken by class index (the higher index counts as rarer).
    """
    counts = np.asarray(counts)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(f"counts must be a non-empty 1-D array, got shape {counts.shape}")
    if not 0 < fraction <= 1:
        raise ValueError(f"tail fraction must be in (0, 1], got {fraction!r}")
    k = max(1, int(round(fraction * counts.size)))
    order = sorted(range(counts.size), key=lambda c: (counts[c], -c))
    return np.sort(np.array(order[:k]))


# --------------------------------------------------------------------------- HDF5
def write_hdf5(path: str | os.PathLike, splits: Mapping[str, tuple], class_names: Sequence[str],
               attrs: Mapping[str, Any] | None = None, compression: str | None = "lzf") -> Path:
    """Write ``{split: (images uint8 NxHxWx3, labels int)}`` and the class names to one HDF5 file.

    The file is written atomically (temporary file, then rename).

    Parameters
    ----------
    path : path of the ``.h5`` file
    splits : mapping split name -> (images, labels)
    class_names : sequence of str
    attrs : mapping, optional
        Extra file attributes (numbers, strings or lists of them).
    compression : str or None
        h5py compression filter (``"lzf"`` is fast; None for none).

    Returns
    -------
    pathlib.Path
    """
    import h5py

    if not splits:
        raise ValueError("splits is empty; expected e.g. {'train': (x, y), 'val': (x, y), 'test': (x, y)}")
    names = [str(c) for c in class_names]
    for split, pair in splits.items():
        x, y = np.asarray(pair[0]), np.asarray(pair[1])
        if x.dtype != np.uint8 or x.ndim != 4:
            raise ValueError(f"split {split!r}: images must be uint8 with shape (N, H, W, C), got {x.dtype} {x.shape}")
        if y.shape != (len(x),):
            raise ValueError(f"split {split!r}: labels must have shape ({len(x)},), got {y.shape}")
        if len(y) and (y.min() < 0 or y.max() >= len(names)):
            raise ValueError(f"split {split!r}: labels must be in [0, {len(names)}) (one per class name), "
                             f"got {y.min()}..{y.max()}")
    path = Path(path)
    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("class_names", data=np.array(names, dtype=object), dtype=h5py.string_dtype())
            f.attrs["class_names"] = names
            for key, value in (attrs or {}).items():
                f.attrs[key] = value
            for split, (x, y) in splits.items():
                x, y = np.asarray(x), np.asarray(y, dtype=np.int64)
                chunks = (1, *x.shape[1:]) if len(x) else None
                f.create_dataset(f"{split}/images", data=x, chunks=chunks,
                                 compression=compression if len(x) else None)
                f.create_dataset(f"{split}/labels", data=y)
    return path


def _open(path: str | os.PathLike):
    import h5py

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"HDF5 file {p} does not exist; write it with longtail.write_hdf5 first")
    try:
        return h5py.File(p, "r")
    except OSError as err:
        raise ValueError(f"{p} is not a readable HDF5 file: {err}") from err


def _require(f, key: str) -> Any:
    if key not in f:
        keys = []
        f.visit(lambda name: keys.append(name) if hasattr(f[name], "shape") else None)
        raise ValueError(f"HDF5 file {f.filename} has no dataset {key!r}; it has {sorted(keys)}")
    return f[key]


def hdf5_class_names(path: str | os.PathLike) -> list[str]:
    """The class names stored in the file."""
    with _open(path) as f:
        return [n.decode() if isinstance(n, bytes) else str(n) for n in _require(f, "class_names")[()]]


def hdf5_summary(path: str | os.PathLike):
    """One row per split and class: the number of images (a DataFrame with split, class, count)."""
    import pandas as pd

    names = hdf5_class_names(path)
    rows = []
    with _open(path) as f:
        for split in f:
            if split == "class_names":
                continue
            counts = np.bincount(_require(f, f"{split}/labels")[()], minlength=len(names))
            rows += [{"split": split, "class": names[c], "count": int(n)} for c, n in enumerate(counts)]
    return pd.DataFrame(rows)


def read_hdf5(path: str | os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one split fully into memory: ``(images uint8, labels int64)``.

    Raises FileNotFoundError for a missing file and ValueError naming the file and the missing
    dataset key (e.g. ``'val/images'``).
    """
    with _open(path) as f:
        x = _require(f, f"{split}/images")[()]
        y = _require(f, f"{split}/labels")[()]
    if len(x) != len(y):
        raise ValueError(f"HDF5 file {path}: {split}/images has {len(x)} rows but {split}/labels has {len(y)}")
    return x, y.astype(np.int64)


def hdf5_dataset(path: str | os.PathLike, split: str, batch_size: int = 32, shuffle: bool = False,
                 seed: int = 0, block_size: int = 256, preprocess: Callable[[np.ndarray], np.ndarray] | None = None,
                 num_classes: int | None = None, label_smoothing: float = 0.0):
    """A ``tf.data.Dataset`` of ``(images, labels)`` batches streamed from an HDF5 split.

    The file is read block by block (``block_size`` images at a time), so a dataset larger than
    memory can be used. With ``shuffle`` the order of the blocks and of the images inside each
    block changes every epoch (seeded by ``seed`` and the epoch number).

    Parameters
    ----------
    path, split : the file and split (``"train"``, ``"val"``, ``"test"``)
    batch_size : int
    shuffle : bool
    seed : int
    block_size : int
        Images read per disk access.
    preprocess : callable, optional
        NumPy function on a uint8 block (N x H x W x 3) -> uint8 block, e.g.
        :func:`helpers.data.enhancement.clahe_white_balance`.
    num_classes : int, optional
        Give it to get one-hot float labels (needed for label smoothing); None keeps int labels.
    label_smoothing : float
        Smoothing baked into the one-hot labels (requires ``num_classes``).

    Returns
    -------
    tf.data.Dataset
        Images as uint8, labels int64 (N,) or float32 (N, num_classes).
    """
    import tensorflow as tf

    if int(batch_size) < 1 or int(block_size) < 1:
        raise ValueError(f"batch_size and block_size must be >= 1, got {batch_size!r}, {block_size!r}")
    if label_smoothing and not num_classes:
        raise ValueError("label_smoothing needs num_classes (one-hot labels)")
    with _open(path) as f:
        images = _require(f, f"{split}/images")
        _require(f, f"{split}/labels")
        n, shape = images.shape[0], images.shape[1:]
    if n == 0:
        raise ValueError(f"HDF5 file {path}: split {split!r} has no images")
    epoch = {"count": 0}

    def generate():
        rng = np.random.default_rng([int(seed), epoch["count"]])
        epoch["count"] += 1
        starts = np.arange(0, n, int(block_size))
        if shuffle:
            rng.shuffle(starts)
        with _open(path) as f:
            xs, ys = f[f"{split}/images"], f[f"{split}/labels"]
            for start in starts:
                x = xs[start:start + block_size]
                y = ys[start:start + block_size].astype(np.int64)
                if preprocess is not None:
                    x = preprocess(x)
                if shuffle:
                    perm = rng.permutation(len(x))
                    x, y = x[perm], y[perm]
                for b in range(0, len(x), int(batch_size)):
                    yield x[b:b + batch_size], y[b:b + batch_size]

    ds = tf.data.Dataset.from_generator(generate, output_signature=(
        tf.TensorSpec(shape=(None, *shape), dtype=tf.uint8), tf.TensorSpec(shape=(None,), dtype=tf.int64)))
    block_lengths = [min(int(block_size), n - start) for start in range(0, n, int(block_size))]
    n_batches = sum(-(-length // int(batch_size)) for length in block_lengths)
    ds = ds.apply(tf.data.experimental.assert_cardinality(n_batches))  # Keras then knows the epoch length
    if num_classes:
        k, eps = int(num_classes), float(label_smoothing)

        def to_one_hot(x, y):
            onehot = tf.one_hot(y, k, dtype=tf.float32)
            return x, onehot * (1.0 - eps) + eps / k

        ds = ds.map(to_one_hot)
    return ds.prefetch(tf.data.AUTOTUNE)
