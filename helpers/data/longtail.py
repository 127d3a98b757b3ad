"""Long-tailed datasets: exponential subsampling with an imbalance ratio, one HDF5 file per dataset (h5py; as the
reference log did, so training streams its 108,764 images from disk, not JPEGs) and a ``tf.data`` reader.
The HDF5 layout written by :func:`write_hdf5`::

    /class_names          1-D UTF-8 strings (also the file attribute ``class_names``)
    /<split>/images       uint8, N x H x W x 3, chunked one image per chunk
    /<split>/labels       int64, N
    attributes            anything passed as ``attrs`` (imbalance ratio, seed, counts...)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers.runs import atomic_path

__all__ = ["long_tail_counts", "make_long_tail", "long_tail_splits", "tail_classes", "write_hdf5", "read_hdf5",
           "hdf5_class_names", "hdf5_summary", "hdf5_dataset"]


def _check_ratio(ratio: float) -> float:
    if isinstance(ratio, bool) or not isinstance(ratio, (int, float, np.number)) or not 1 <= ratio < np.inf:
        raise ValueError(f"imbalance_ratio must be a number >= 1 (n_max / n_min; 1 = balanced), got {ratio!r}")
    return float(ratio)


def long_tail_counts(n_max: int, num_classes: int, imbalance_ratio: float) -> np.ndarray:
    """Exponential long-tail class sizes ``n_i = n_max * imbalance_ratio ** (-i / (C - 1))``, rounded down:
    class 0 keeps ``n_max``, the last ``n_max / imbalance_ratio`` (at least 1)."""
    ratio = _check_ratio(imbalance_ratio)
    if int(n_max) < 1 or int(num_classes) < 1:
        raise ValueError(f"n_max and num_classes must be >= 1, got n_max={n_max!r}, num_classes={num_classes!r}")
    exponents = np.arange(num_classes) / max(num_classes - 1, 1)
    return np.maximum(np.floor(int(n_max) * ratio ** (-exponents) + 1e-9).astype(int), 1)


def make_long_tail(x, y, imbalance_ratio: float, seed: int = 0, class_order: Sequence[int] | None = None,
                   n_max: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x_lt, y_lt, counts)``: ``(x, y)`` subsampled (``seed``, original order) to an exponential long tail;
    ``class_order`` head to tail (default 0, 1, ...), ``n_max`` the head's size (default: all its samples)."""
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
    rng, keep = np.random.default_rng(seed), []
    for rank, cls in enumerate(order):
        idx = np.flatnonzero(y == cls)
        if targets[rank] > len(idx):
            raise ValueError(f"class {cls} has {len(idx)} samples but the long tail needs {targets[rank]} "
                             f"(n_max={head}, imbalance_ratio={ratio}); lower n_max")
        keep.append(rng.choice(idx, size=targets[rank], replace=False))
    keep = np.sort(np.concatenate(keep))
    return np.asarray(x)[keep], y[keep], targets[np.argsort(order)]  # the count of each class index


def long_tail_splits(splits: Mapping[str, tuple], imbalance_ratio: float, seed: int = 0,
                     class_order: Sequence[int] | None = None, n_max: int | None = None) -> dict:
    """A copy of ``{"train": (x, y), "val": ..., "test": ...}`` with only ``train`` long-tailed: validation
    and test stay balanced, so per-class metrics are measured fairly."""
    if "train" not in splits:
        raise ValueError(f"splits must contain 'train'; it has {sorted(splits)}")
    x_lt, y_lt, _ = make_long_tail(*splits["train"], imbalance_ratio, seed=seed, class_order=class_order, n_max=n_max)
    return {**splits, "train": (x_lt, y_lt)}


def tail_classes(counts: Sequence[int], fraction: float = 1 / 3) -> np.ndarray:
    """Indices of the tail: the rarest ``fraction`` of the classes by training count (at least one; on a
    tie the higher index counts as rarer)."""
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
    """Write ``{split: (images uint8 N x H x W x 3, labels int)}``, the class names and ``attrs`` (numbers,
    strings or lists of them) to one HDF5 file, atomically; ``compression`` is h5py's filter. Returns the path."""
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
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("class_names", data=np.array(names, dtype=object), dtype=h5py.string_dtype())
        f.attrs.update({"class_names": names, **(attrs or {})})
        for split, (x, y) in splits.items():
            x, filled = np.asarray(x), len(x) > 0
            f.create_dataset(f"{split}/images", data=x, chunks=(1, *x.shape[1:]) if filled else None,
                             compression=compression if filled else None)
            f.create_dataset(f"{split}/labels", data=np.asarray(y, dtype=np.int64))
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
    names = hdf5_class_names(path)
    with _open(path) as f:
        counts = {split: np.bincount(_require(f, f"{split}/labels")[()], minlength=len(names))
                  for split in f if split != "class_names"}
    return pd.DataFrame([{"split": split, "class": names[c], "count": int(n)}
                         for split, per_class in counts.items() for c, n in enumerate(per_class)])


def read_hdf5(path: str | os.PathLike, split: str) -> tuple[np.ndarray, np.ndarray]:
    """One split fully in memory: ``(images uint8, labels int64)``. A missing file raises FileNotFoundError,
    a missing split ValueError naming the file and key (e.g. ``'val/images'``)."""
    with _open(path) as f:
        x, y = _require(f, f"{split}/images")[()], _require(f, f"{split}/labels")[()]
    if len(x) != len(y):
        raise ValueError(f"HDF5 file {path}: {split}/images has {len(x)} rows but {split}/labels has {len(y)}")
    return x, y.astype(np.int64)


def hdf5_dataset(path: str | os.PathLike, split: str, batch_size: int = 32, shuffle: bool = False,
                 seed: int = 0, block_size: int = 256, preprocess: Callable[[np.ndarray], np.ndarray] | None = None,
                 num_classes: int | None = None, label_smoothing: float = 0.0):
    """A ``tf.data.Dataset`` of ``(images uint8, labels)`` batches streamed ``block_size`` images at a time from an
    HDF5 split (larger than memory works); ``shuffle``: new block and image order each epoch (seeded); ``preprocess``:
    a NumPy function on a uint8 block; ``num_classes``: one-hot float32 labels with ``label_smoothing`` (else int64)."""
    import tensorflow as tf

    if int(batch_size) < 1 or int(block_size) < 1:
        raise ValueError(f"batch_size and block_size must be >= 1, got {batch_size!r}, {block_size!r}")
    if label_smoothing and not num_classes:
        raise ValueError("label_smoothing needs num_classes (one-hot labels)")
    with _open(path) as f:
        images, _ = _require(f, f"{split}/images"), _require(f, f"{split}/labels")
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
                x, y = xs[start:start + block_size], ys[start:start + block_size].astype(np.int64)
                x = x if preprocess is None else preprocess(x)
                if shuffle:
                    perm = rng.permutation(len(x))
                    x, y = x[perm], y[perm]
                for b in range(0, len(x), int(batch_size)):
                    yield x[b:b + batch_size], y[b:b + batch_size]

    ds = tf.data.Dataset.from_generator(generate, output_signature=(
        tf.TensorSpec(shape=(None, *shape), dtype=tf.uint8), tf.TensorSpec(shape=(None,), dtype=tf.int64)))
    n_batches = sum(-(-min(int(block_size), n - start) // int(batch_size)) for start in range(0, n, int(block_size)))
    ds = ds.apply(tf.data.experimental.assert_cardinality(n_batches))  # Keras then knows the epoch length
    if num_classes:
        k, eps = int(num_classes), float(label_smoothing)
        ds = ds.map(lambda x, y: (x, tf.one_hot(y, k, dtype=tf.float32) * (1.0 - eps) + eps / k))
    return ds.prefetch(tf.data.AUTOTUNE)
