"""Image folders (``data_dir/<class name>/<image files>``): a validating loader, duplicate-aware stratified splits,
the arrays of notebooks 07/08, a lazy ``tf.data`` pipeline; real JPEG/PNG bananas (:mod:`helpers.data.bananas`)."""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from helpers import plots
from helpers.data.bananas import BANANA_CLASSES, data_root, embedded_banana_dir
from helpers.env import op_determinism_enabled

__all__ = ["BANANA_CLASSES", "data_root", "embedded_banana_dir", "ImageFolder", "read_image", "load_image_folder",
           "split_indices", "split_dataset", "load_image_splits", "make_dataset", "augmentation_layers", "show_images"]


@dataclass
class ImageFolder:
    """Images of a class-per-folder directory: ``images`` (uint8 N x H x W x 3), ``labels`` (into ``class_names``,
    the sorted folder names), ``paths``, ``groups`` (same id = same pixels), ``formats``, ``skipped``, ``summary``."""

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
    """Any Pillow mode as RGB; transparency is composited over white, 16-bit/float images are stretched."""
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        return Image.alpha_composite(Image.new("RGBA", img.size, "white"), img.convert("RGBA")).convert("RGB")
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(arr)
        return Image.fromarray(arr.astype(np.uint8)).convert("RGB")
    return img.convert("RGB")


def read_image(path: str | os.PathLike, image_size) -> tuple[np.ndarray, str, str]:
    """Decode one image by its content: ``(RGB uint8 array, format, hash of the decoded pixels)``; huge files
    are decoded at reduced scale (JPEG ``draft``, else ``reduce``). Raises UnidentifiedImageError, OSError..."""
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
    rgb = rgb.reduce(factor) if factor >= 2 else rgb
    if rgb.size != (w, h):
        rgb = rgb.resize((w, h), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(rgb, dtype=np.uint8), fmt, digest


def _load_class(cdir: Path, label: int, size, max_per_class, out: dict) -> dict:
    """Load one class folder into the lists of ``out``; return its summary row."""
    files = sorted(p for p in cdir.rglob("*") if p.is_file() and not p.name.startswith("."))
    if not files:
        raise ValueError(f"class folder {cdir} is empty; expected at least one image file "
                         "(remove the folder if the class is not wanted)")
    hashes, reasons = [], []
    for path in files:
        if max_per_class is not None and len(hashes) >= max_per_class:
            break
        try:
            arr, fmt, digest = read_image(path, size)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError,
                Image.DecompressionBombWarning, Image.DecompressionBombError) as err:
            reason = ("not an image (content not recognised)" if isinstance(err, UnidentifiedImageError)
                      else f"unreadable image: {type(err).__name__}: {err}")
            out["skipped"].append({"class": cdir.name, "path": str(path), "reason": reason})
            reasons.append(f"{path.name}: {reason}")
            continue
        for key, value in zip(("images", "labels", "paths", "hashes", "formats"), (arr, label, str(path), digest, fmt)):
            out[key].append(value)
        hashes.append(digest)
    if not hashes:
        raise ValueError(f"class folder {cdir} has no loadable image ({'; '.join(reasons)}); expected JPEG, PNG, "
                         "WEBP, GIF or BMP files")
    return {"class": cdir.name, "found": len(files), "loaded": len(hashes), "skipped": len(reasons),
            "duplicates": len(hashes) - len(set(hashes))}


def load_image_folder(data_dir: str | os.PathLike, image_size=96, max_per_class: int | None = None) -> ImageFolder:
    """Load a class-per-folder directory (hidden folders, loose files ignored; unreadable files skipped with a reason),
    resized to ``image_size`` (int or (height, width)), at most ``max_per_class`` per class. A missing folder raises
    FileNotFoundError; fewer than two classes, a class without any loadable image or a bad argument ValueError."""
    size = _as_hw(image_size)
    if max_per_class is not None and (not isinstance(max_per_class, (int, np.integer)) or max_per_class < 1):
        raise ValueError(f"max_per_class must be a positive integer or None, got {max_per_class!r}")
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        raise FileNotFoundError(f"image folder {root} {what}; expected a folder with one sub-folder of images per class")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        found = ", ".join(p.name for p in class_dirs) or "none"
        raise ValueError(f"{root} has {len(class_dirs)} class folder(s) ({found}); expected at least "
                         "two sub-folders, one per class")
    out = {key: [] for key in ("images", "labels", "paths", "hashes", "formats", "skipped")}
    summary = pd.DataFrame([_load_class(cdir, label, size, max_per_class, out) for label, cdir in enumerate(class_dirs)])
    group_of: dict[str, int] = {}
    groups = np.array([group_of.setdefault(h, len(group_of)) for h in out["hashes"]], dtype=np.int64)
    summary.loc[len(summary)] = {"class": "total", **summary[["found", "loaded", "skipped"]].sum(),
                                 "duplicates": len(groups) - len(group_of)}
    return ImageFolder(np.stack(out["images"]).astype(np.uint8), np.asarray(out["labels"], dtype=np.int64),
                       [p.name for p in class_dirs], out["paths"], groups, out["formats"],
                       pd.DataFrame(out["skipped"], columns=["class", "path", "reason"]), summary)


# --------------------------------------------------------------------------- splits
def _take_groups(labels: np.ndarray, groups: np.ndarray, candidates: np.ndarray, fraction: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Whole duplicate groups from ``candidates`` (indices), about ``fraction`` of each class: a mask over them."""
    chosen = np.zeros(len(candidates), dtype=bool)
    cand_groups, cand_labels = groups[candidates], labels[candidates]
    unique_groups = np.unique(cand_groups)
    group_label = {g: np.bincount(cand_labels[cand_groups == g]).argmax() for g in unique_groups}  # majority label
    for cls in np.unique(cand_labels):
        target, taken = int(round(fraction * np.sum(cand_labels == cls))), 0
        cls_groups = np.array([g for g in unique_groups if group_label[g] == cls])
        rng.shuffle(cls_groups)
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
    """Stratified sorted ``{"train", "val", "test"}`` indices: ``test_size`` of each class to test, ``val_size`` of the
    rest to val; a duplicate group (same ``groups`` id; None: all distinct) stays in one split, so nothing leaks."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) == 0:
        raise ValueError(f"labels must be a non-empty 1-D array, got shape {labels.shape}")
    groups = np.arange(len(labels)) if groups is None else np.asarray(groups)
    if groups.shape != labels.shape:
        raise ValueError(f"groups has shape {groups.shape} but labels has {labels.shape}; expected the same")
    for name, value in (("test_size", test_size), ("val_size", val_size)):
        if not 0 <= value < 1:
            raise ValueError(f"{name} must be in [0, 1), got {value!r}")
    rng, all_idx = np.random.default_rng(seed), np.arange(len(labels))
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
    """``{"train": (x, y), "val": (x, y), "test": (x, y)}`` from an :class:`ImageFolder` (see
    :func:`split_indices`); with ``return_indices`` also the image indices of each split."""
    idx = split_indices(folder.labels, folder.groups, test_size=test_size, val_size=val_size, seed=seed)
    splits = {name: (folder.images[i], folder.labels[i]) for name, i in idx.items()}
    return (splits, idx) if return_indices else splits


def load_image_splits(data_dir=None, image_size: int = 32, n_per_class: int = 60, max_per_class: int | None = None,
                      test_size: float = 0.3, val_size: float = 0.3, seed: int = 0,
                      class_subset: list[str] | None = None, difficulty: float = 1.0):
    """``(splits, class_names, folder)`` of an image folder (None: the embedded bananas, ``n_per_class`` each,
    drawn at ``difficulty``); ``class_subset`` keeps these classes, relabelled 0..k-1 in the given order (two
    names: the binary case)."""
    source = data_dir or embedded_banana_dir(n_per_class=int(n_per_class), image_size=max(96, int(image_size)),
                                             difficulty=difficulty)
    folder = load_image_folder(source, image_size=image_size, max_per_class=max_per_class)
    if class_subset:
        missing = [c for c in class_subset if c not in folder.class_names]
        if missing or len(class_subset) < 2:
            raise ValueError(f"class_subset must name at least two classes of {folder.class_names}; got "
                             f"{class_subset} (unknown: {missing})")
        old = [folder.class_names.index(c) for c in class_subset]
        keep = np.isin(folder.labels, old)
        folder.images, folder.groups = folder.images[keep], folder.groups[keep]
        folder.paths, folder.formats = ([v for v, k in zip(vs, keep) if k] for vs in (folder.paths, folder.formats))
        folder.labels = np.array([old.index(int(v)) for v in folder.labels[keep]], dtype=np.int64)
        folder.class_names = list(class_subset)
    splits = split_dataset(folder, test_size=test_size, val_size=val_size, seed=seed)
    return splits, list(folder.class_names), folder


# --------------------------------------------------------------------------- tf.data
def augmentation_layers(seed: int = 0, rotation: float = 0.05, zoom: float = 0.2, translation: float = 0.1,
                        flip: str | None = "horizontal_and_vertical", fill_mode: str = "reflect"):
    """Training-time augmentation as a ``keras.Sequential``: ``flip`` (horizontal, vertical, both or None),
    ``rotation`` (fraction of a turn: 0.05 = ±18°), ``zoom`` and ``translation`` (fractions of the size)."""
    import keras

    flips = [keras.layers.RandomFlip(flip, seed=seed)] if flip else []
    return keras.Sequential(flips + [
        keras.layers.RandomRotation(rotation, fill_mode=fill_mode, seed=seed + 1),
        keras.layers.RandomZoom(zoom, fill_mode=fill_mode, seed=seed + 2),
        keras.layers.RandomTranslation(translation, translation, fill_mode=fill_mode, seed=seed + 3),
    ], name="augmentation")


def make_dataset(x, y=None, batch_size: int = 32, training: bool = False, augment=None, preprocess=None,
                 seed: int = 0, cache: bool = True):
    """A ``tf.data.Dataset`` of float32 ``(images, labels)`` batches (images only if ``y`` is None). Training: cache,
    shuffle (seeded, anew each epoch), batch, ``augment``, ``preprocess``; else batch, ``preprocess``, cache."""
    import tensorflow as tf

    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"x must have shape (N, height, width, channels), got {x.shape}")
    if y is not None and len(y) != len(x):
        raise ValueError(f"x has {len(x)} images but y has {len(y)} labels; expected the same number")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    ds = tf.data.Dataset.from_tensor_slices(x if y is None else (x, np.asarray(y)))
    if training:
        ds = (ds.cache() if cache else ds).shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)

    def transform(images, *rest):
        images = tf.cast(images, tf.float32)
        if training and augment is not None:
            images = augment(images, training=True)
        if preprocess is not None:
            images = preprocess(images)
        return (images, *rest) if rest else images

    # Op determinism runs a random map sequentially anyway; a parallel one only logs a spurious TensorFlow error.
    stateful = training and augment is not None and op_determinism_enabled()
    ds = ds.map(transform) if stateful else ds.map(transform, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return (ds.cache() if cache and not training else ds).prefetch(tf.data.AUTOTUNE)


def show_images(images, titles=None, ncols: int = 6, size: float = 1.8, suptitle: str | None = None):
    """A grid of images (uint8, or float in 0..255) with optional titles; returns the Figure."""
    images = np.asarray(images)
    if len(images) == 0:
        raise ValueError("show_images got no images; expected at least one")
    return plots.image_grid(np.clip(images, 0, 255).astype(np.uint8), titles, ncols, size, suptitle)
