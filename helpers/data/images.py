"""Image data: the embedded synthetic banana dataset, a validating image-folder loader,
duplicate-aware stratified splits and a ``tf.data`` input pipeline.

The embedded dataset is written as real JPEG/PNG files, one folder per class, so exactly the
same loader serves a real folder of photos (``data_dir``)::

    data_dir/
        Lady Finger Banana/  img001.jpg  img002.png ...
        Cavendish Banana/    ...
        Cultivated Banana/   ...

TensorFlow is imported lazily (only by :func:`make_dataset` and :func:`augmentation_layers`).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from helpers.data.bananas import (
    BANANA_CLASSES,
    data_root,
    draw_banana,
    embedded_banana_dir,
    make_banana_dataset,
)
from helpers.env import op_determinism_enabled

__all__ = [
    "BANANA_CLASSES",
    "data_root",
    "draw_banana",
    "ImageFolder",
    "make_banana_dataset",
    "embedded_banana_dir",
    "load_image_folder",
    "split_indices",
    "split_dataset",
    "make_dataset",
    "augmentation_layers",
    "show_images",
]

# --------------------------------------------------------------------------- loader
@dataclass
class ImageFolder:
    """Images loaded from a class-per-folder directory.

    Attributes
    ----------
    images : uint8 array, N x H x W x 3
    labels : int array, N (index into ``class_names``)
    class_names : list of str (sorted folder names)
    paths : list of str (one per image)
    groups : int array, N -- duplicate-group id; identical pixel content -> same id
    formats : list of str -- format detected from the content (JPEG, PNG, WEBP, ...)
    skipped : DataFrame (class, path, reason) -- files that were not loaded
    summary : DataFrame, one row per class: found, loaded, skipped, duplicates
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    paths: list[str]
    groups: np.ndarray
    formats: list[str] = field(default_factory=list)
    skipped: pd.DataFrame = field(default_factory=pd.DataFrame)
    summary: pd.DataFrame = field(default_factory=pd.DataFrame)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.images.shape[1:3])


def _as_hw(image_size) -> tuple[int, int]:
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        image_size = (int(image_size), int(image_size))
    try:
        h, w = (int(v) for v in image_size)
    except (TypeError, ValueError):
        raise ValueError(f"image_size must be an int or a (height, width) pair, got {image_size!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"image_size must be positive, got {image_size!r}")
    return h, w


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to RGB; transparency is composited over white."""
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(arr)
        return Image.fromarray(arr.astype(np.uint8)).convert("RGB")
    return img.convert("RGB") if img.mode != "RGB" else img


def read_image(path: str | os.PathLike, image_size) -> tuple[np.ndarray, str, str]:
    """Decode one image file by its content and return (RGB uint8 array, format, content hash).

    Large JPEGs are decoded at reduced scale (``Image.draft``) and other large images are
    shrunk with ``reduce`` before the final resize, so several-thousand-pixel files do not
    need much memory. The hash is of the decoded pixels (before resizing): identical content
    under different names or extensions gets the same hash.

    Raises
    ------
    PIL.UnidentifiedImageError, OSError, ValueError
        When the file is not a readable image.
    """
    h, w = _as_hw(image_size)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(path) as img:
            fmt = img.format or "unknown"
            if fmt == "JPEG":
                img.draft("RGB", (w * 2, h * 2))  # decode at 1/2..1/8 scale when much larger
            img.seek(0)  # first frame of GIF/WEBP animations
            img.load()
            rgb = _to_rgb(img)
    digest = hashlib.sha1(rgb.tobytes() + repr(rgb.size).encode()).hexdigest()
    factor = min(rgb.width // (2 * w), rgb.height // (2 * h))
    if factor >= 2:
        rgb = rgb.reduce(factor)
    if rgb.size != (w, h):
        rgb = rgb.resize((w, h), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(rgb, dtype=np.uint8), fmt, digest


def load_image_folder(data_dir: str | os.PathLike, image_size=96, max_per_class: int | None = None) -> ImageFolder:
    """Load a class-per-folder image directory, validating every file.

    Parameters
    ----------
    data_dir : path
        Folder with one sub-folder per class (hidden folders and loose files are ignored).
    image_size : int or (height, width)
        Every image is resized to this size (aspect ratio not kept, as Keras does).
    max_per_class : int, optional
        Load at most this many images per class (in sorted file order).

    Returns
    -------
    ImageFolder
        Images, labels, paths, duplicate groups, the skipped files with a reason and a per-class
        summary (found, loaded, skipped, duplicates).

    Raises
    ------
    FileNotFoundError
        ``data_dir`` does not exist or is not a folder.
    ValueError
        Fewer than two class folders, an empty class folder, a class without any loadable image,
        or a bad ``image_size``/``max_per_class``.
    """
    size = _as_hw(image_size)
    if max_per_class is not None and (not isinstance(max_per_class, (int, np.integer)) or max_per_class < 1):
        raise ValueError(f"max_per_class must be a positive integer or None, got {max_per_class!r}")
    root = Path(data_dir).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"image folder {root} does not exist; expected a folder with one "
                                "sub-folder of images per class")
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is a file, not a folder; expected a folder with one "
                                "sub-folder of images per class")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        found = ", ".join(p.name for p in class_dirs) or "none"
        raise ValueError(f"{root} has {len(class_dirs)} class folder(s) ({found}); expected at least "
                         "two sub-folders, one per class")
    images, labels, paths, hashes, formats, skipped, rows = [], [], [], [], [], [], []
    for label, cdir in enumerate(class_dirs):
        files = sorted(p for p in cdir.rglob("*") if p.is_file() and not p.name.startswith("."))
        if not files:
            raise ValueError(f"class folder {cdir} is empty; expected at least one image file "
                             "(remove the folder if the class is not wanted)")
        loaded = n_skipped = 0
        class_hashes = []
        for path in files:
            if max_per_class is not None and loaded >= max_per_class:
                break
            try:
                arr, fmt, digest = read_image(path, size)
            except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
                    Image.DecompressionBombWarning, Image.DecompressionBombError) as err:
                reason = ("not an image (content not recognised)" if isinstance(err, UnidentifiedImageError)
                          else f"unreadable image: {type(err).__name__}: {err}")
                skipped.append({"class": cdir.name, "path": str(path), "reason": reason})
                n_skipped += 1
                continue
            images.append(arr)
            labels.append(label)
            paths.append(str(path))
            hashes.append(digest)
            formats.append(fmt)
            class_hashes.append(digest)
            loaded += 1
        if loaded == 0:
            reasons = "; ".join(f"{Path(s['path']).name}: {s['reason']}" for s in skipped if s["class"] == cdir.name)
            raise ValueError(f"class folder {cdir} has no loadable image ({reasons}); expected JPEG, PNG, "
                             "WEBP, GIF or BMP files")
        rows.append({"class": cdir.name, "found": len(files), "loaded": loaded, "skipped": n_skipped,
                     "duplicates": loaded - len(set(class_hashes))})
    group_of: dict[str, int] = {}
    groups = np.array([group_of.setdefault(h, len(group_of)) for h in hashes], dtype=np.int64)
    summary = pd.DataFrame(rows)
    summary.loc[len(summary)] = {"class": "total", "found": summary["found"].sum(),
                                 "loaded": summary["loaded"].sum(), "skipped": summary["skipped"].sum(),
                                 "duplicates": len(groups) - len(group_of)}
    return ImageFolder(
        images=np.stack(images).astype(np.uint8),
        labels=np.asarray(labels, dtype=np.int64),
        class_names=[p.name for p in class_dirs],
        paths=paths,
        groups=groups,
        formats=formats,
        skipped=pd.DataFrame(skipped, columns=["class", "path", "reason"]),
        summary=summary,
    )


# --------------------------------------------------------------------------- splits
def _take_groups(labels: np.ndarray, groups: np.ndarray, candidates: np.ndarray, fraction: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Pick whole duplicate groups from ``candidates`` (indices) so that about ``fraction`` of
    each class is chosen. Returns a boolean mask over ``candidates``."""
    chosen = np.zeros(len(candidates), dtype=bool)
    cand_groups = groups[candidates]
    cand_labels = labels[candidates]
    unique_groups = np.unique(cand_groups)
    # a group's class is the most common label inside it
    group_label = {g: np.bincount(cand_labels[cand_groups == g]).argmax() for g in unique_groups}
    for cls in np.unique(cand_labels):
        target = int(round(fraction * np.sum(cand_labels == cls)))
        cls_groups = np.array([g for g in unique_groups if group_label[g] == cls])
        rng.shuffle(cls_groups)
        taken = 0
        for g in cls_groups:
            if taken >= target:
                break
            size = int(np.sum(cand_groups == g))
            if taken + size > target and taken > 0 and (taken + size - target) > (target - taken):
                continue  # would overshoot more than it helps
            chosen |= cand_groups == g
            taken += size
    return chosen


def split_indices(labels, groups=None, test_size: float = 0.3, val_size: float = 0.3,
                  seed: int = 0) -> dict[str, np.ndarray]:
    """Stratified, duplicate-aware train/val/test indices.

    ``test_size`` of each class goes to test, then ``val_size`` of the rest to validation (the
    reference study's "test 30 %, validation 30 % of train"). A duplicate group (same ``groups``
    id) is always kept in one split, so no image leaks between train, val and test.

    Parameters
    ----------
    labels : array of int, N
    groups : array of int, N, optional (None: every image its own group)
    test_size, val_size : float in [0, 1)
    seed : int

    Returns
    -------
    dict
        ``{"train": idx, "val": idx, "test": idx}``, sorted integer index arrays.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")
    groups = np.arange(len(labels)) if groups is None else np.asarray(groups)
    if groups.shape != labels.shape:
        raise ValueError(f"groups has shape {groups.shape} but labels has {labels.shape}; expected the same")
    for name, value in (("test_size", test_size), ("val_size", val_size)):
        if not 0 <= value < 1:
            raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    rng = np.random.default_rng(seed)
    all_idx = np.arange(len(labels))
    test_mask = _take_groups(labels, groups, all_idx, test_size, rng)
    rest = all_idx[~test_mask]
    val_mask = _take_groups(labels, groups, rest, val_size, rng)
    out = {"train": np.sort(rest[~val_mask]), "val": np.sort(rest[val_mask]), "test": np.sort(all_idx[test_mask])}
    if len(out["train"]) == 0:
        raise ValueError(f"no images left for training with test_size={test_size}, val_size={val_size} "
                         f"and {len(labels)} images; use smaller fractions or more images")
    return out


def split_dataset(folder: ImageFolder, test_size: float = 0.3, val_size: float = 0.3,
                  seed: int = 0, return_indices: bool = False):
    """Split an :class:`ImageFolder` into train/val/test ``(x, y)`` pairs.

    Stratified and duplicate-aware (see :func:`split_indices`).

    Returns
    -------
    dict
        ``{"train": (x, y), "val": (x, y), "test": (x, y)}``; with ``return_indices=True`` a
        pair ``(splits, indices)`` where ``indices`` maps each split to its image indices.
    """
    idx = split_indices(folder.labels, folder.groups, test_size=test_size, val_size=val_size, seed=seed)
    splits = {name: (folder.images[i], folder.labels[i]) for name, i in idx.items()}
    return (splits, idx) if return_indices else splits


# --------------------------------------------------------------------------- tf.data
def augmentation_layers(seed: int = 0, rotation: float = 0.05, zoom: float = 0.2,
                        translation: float = 0.1, flip: str = "horizontal_and_vertical"):
    """Keras preprocessing layers for training-time augmentation (flip, rotation, zoom, shift).

    Parameters
    ----------
    seed : int
    rotation : float
        Fraction of a full turn (0.05 = +-18 degrees).
    zoom, translation : float
        Fractions of the image size.
    flip : str
        ``"horizontal"``, ``"vertical"`` or ``"horizontal_and_vertical"``.

    Returns
    -------
    keras.Sequential
    """
    import keras

    return keras.Sequential([
        keras.layers.RandomFlip(flip, seed=seed),
        keras.layers.RandomRotation(rotation, fill_mode="reflect", seed=seed + 1),
        keras.layers.RandomZoom(zoom, fill_mode="reflect", seed=seed + 2),
        keras.layers.RandomTranslation(translation, translation, fill_mode="reflect", seed=seed + 3),
    ], name="augmentation")


def make_dataset(x, y=None, batch_size: int = 32, training: bool = False, augment=None, preprocess=None,
                 seed: int = 0, cache: bool = True):
    """A ``tf.data.Dataset`` of ``(images, labels)`` batches from in-memory arrays.

    Training: shuffle (seeded, reshuffled each epoch), batch, ``augment``, ``preprocess``,
    prefetch. Evaluation (``training=False``): batch, ``preprocess``, cache, prefetch -- never
    shuffled or augmented. Images enter as float32 copies, so ``preprocess`` never modifies
    ``x`` in place.

    Parameters
    ----------
    x : uint8 or float array, N x H x W x C
    y : int array, N, optional (None: a dataset of images only)
    batch_size : int
    training : bool
    augment : callable or None
        E.g. :func:`augmentation_layers`; only used when ``training=True``.
    preprocess : callable or None
        E.g. a backbone's ``preprocess_input``; applied once, after augmentation.
    seed : int
    cache : bool

    Returns
    -------
    tf.data.Dataset
    """
    import tensorflow as tf


    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, height, width, channels), got {x.shape}")
    if y is not None and len(y) != len(x):
        raise ValueError(f"x has {len(x)} images but y has {len(y)} labels; expected the same number")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    items = x if y is None else (x, np.asarray(y))
    ds = tf.data.Dataset.from_tensor_slices(items)
    if training:
        if cache:
            ds = ds.cache()
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)

    def transform(images, *rest):
        images = tf.cast(images, tf.float32)
        if training and augment is not None:
            images = augment(images, training=True)
        if preprocess is not None:
            images = preprocess(images)
        return (images, *rest) if rest else images

    # With op determinism on, tf.data runs a map with random (stateful) ops sequentially anyway, and
    # asking for a parallel one only makes TensorFlow log a spurious "use_unbounded_threadpool" error.
    stateful = training and augment is not None and op_determinism_enabled()
    ds = ds.map(transform) if stateful else ds.map(transform, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if cache and not training:
        ds = ds.cache()
    return ds.prefetch(tf.data.AUTOTUNE)


# --------------------------------------------------------------------------- display
def show_images(images, titles=None, ncols: int = 6, size: float = 1.8, suptitle: str | None = None):
    """A grid of images (uint8 or float 0..255) with optional titles; returns the Figure."""
    import matplotlib.pyplot as plt

    images = np.asarray(images)
    n = len(images)
    if n == 0:
        raise ValueError("show_images got no images; expected at least one")
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + (0.4 if suptitle else 0)),
                             squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < n:
            img = images[i]
            ax.imshow(np.clip(img, 0, 255).astype(np.uint8) if img.dtype != np.uint8 else img)
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
