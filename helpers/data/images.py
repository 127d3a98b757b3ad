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
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw, ImageFilter, UnidentifiedImageError

__all__ = [
    "BANANA_CLASSES",
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

BANANA_CLASSES = ("Lady Finger Banana", "Cavendish Banana", "Cultivated Banana")

# Shape of each class, as ranges (low, high) drawn uniformly per fruit. The ranges overlap a
# little so that the task is learnable but not trivial:
#   length    -- fruit length as a fraction of the image side
#   thickness -- maximum width / length
#   curvature -- bend of the centre line (sagitta / length)
#   facets    -- number of straight segments of the outline (few = angular)
#   count     -- fruits per image (a small hand)
_BANANA_SHAPES = {
    "Lady Finger Banana": dict(length=(0.26, 0.42), thickness=(0.26, 0.36), curvature=(0.04, 0.14),
                               facets=(14, 24), count=(1, 4), stalk=(0.05, 0.09),
                               hue=((225, 195, 40), (245, 215, 70))),
    "Cavendish Banana": dict(length=(0.55, 0.82), thickness=(0.13, 0.2), curvature=(0.14, 0.26),
                             facets=(16, 26), count=(1, 3), stalk=(0.06, 0.1),
                             hue=((215, 200, 50), (250, 225, 80))),
    "Cultivated Banana": dict(length=(0.4, 0.6), thickness=(0.26, 0.36), curvature=(0.06, 0.15),
                              facets=(4, 7), count=(1, 3), stalk=(0.08, 0.13),
                              hue=((190, 195, 70), (235, 220, 110))),
}


# --------------------------------------------------------------------------- synthetic data
def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random linear colour gradient with sensor-like noise (float32, H x W x 3, 0..255)."""
    c0 = rng.uniform(40, 230, size=3)
    c1 = rng.uniform(40, 230, size=3)
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / max(size - 1, 1)
    t = (np.cos(angle) * xx + np.sin(angle) * yy)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    img = c0[None, None, :] * (1 - t[..., None]) + c1[None, None, :] * t[..., None]
    img += rng.normal(0, rng.uniform(2, 9), size=img.shape)
    return img.astype(np.float32)


def _clutter(draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: int) -> None:
    """Random ellipses, rectangles and lines (plates, leaves, table edges) behind the fruit."""
    for _ in range(int(rng.integers(0, 5))):
        colour = tuple(int(v) for v in rng.uniform(20, 235, size=3))
        x0, y0 = rng.uniform(-0.2, 1.0, size=2) * size
        w, h = rng.uniform(0.1, 0.6, size=2) * size
        kind = rng.integers(0, 3)
        if kind == 0:
            draw.ellipse([x0, y0, x0 + w, y0 + h], fill=colour)
        elif kind == 1:
            draw.rectangle([x0, y0, x0 + w, y0 + h], fill=colour)
        else:
            draw.line([x0, y0, x0 + w, y0 + h], fill=colour, width=max(1, int(rng.uniform(0.01, 0.05) * size)))


def _banana_outline(rng: np.random.Generator, shape: dict, size: int, centre: np.ndarray,
                    scale: float, angle: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Polygon of one fruit, its centre line and the stalk end, in pixel coordinates.

    The centre line is a quadratic Bezier curve; the width follows ``sin(pi t) ** p`` (blunt
    ends for small ``p``); the outline is sampled at ``facets`` points, so few facets give the
    angular cross-section of the Cultivated banana.
    """
    length = rng.uniform(*shape["length"]) * size * scale
    thickness = rng.uniform(*shape["thickness"]) * length
    bend = rng.uniform(*shape["curvature"]) * length * rng.choice([-1.0, 1.0])
    facets = int(rng.integers(shape["facets"][0], shape["facets"][1] + 1))
    t = np.linspace(0.0, 1.0, facets + 1)
    p0, p1, p2 = np.array([-length / 2, 0.0]), np.array([0.0, 2 * bend]), np.array([length / 2, 0.0])
    line = ((1 - t) ** 2)[:, None] * p0 + (2 * (1 - t) * t)[:, None] * p1 + (t ** 2)[:, None] * p2
    tangent = 2 * (1 - t)[:, None] * (p1 - p0) + 2 * t[:, None] * (p2 - p1)
    normal = np.stack([-tangent[:, 1], tangent[:, 0]], axis=1)
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    width = thickness / 2 * np.clip(np.sin(np.pi * np.clip(t, 0.02, 0.98)), 0, 1) ** 0.55
    upper, lower = line + normal * width[:, None], line - normal * width[:, None]
    polygon = np.concatenate([upper, lower[::-1]], axis=0)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    polygon = polygon @ rot.T + centre
    line = line @ rot.T + centre
    stalk_dir = (tangent[0] / np.linalg.norm(tangent[0])) @ rot.T
    stalk_len = rng.uniform(*shape["stalk"]) * size * scale
    stalk = np.stack([line[0], line[0] - stalk_dir * stalk_len])
    return polygon, line, stalk, thickness


def draw_banana(cls: str, rng: np.random.Generator, size: int = 96) -> Image.Image:
    """Draw one synthetic photo of the banana class ``cls`` (an RGB ``PIL.Image``).

    Parameters
    ----------
    cls : str
        One of :data:`BANANA_CLASSES`.
    rng : numpy.random.Generator
        Source of randomness (the image is a pure function of the generator's state).
    size : int
        Side of the square image in pixels.

    Returns
    -------
    PIL.Image.Image
    """
    if cls not in _BANANA_SHAPES:
        raise ValueError(f"unknown banana class {cls!r}; expected one of {', '.join(BANANA_CLASSES)}")
    shape = _BANANA_SHAPES[cls]
    ss = 2  # supersampling for smooth edges
    big = size * ss
    canvas = Image.fromarray(np.clip(_background(rng, big), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    _clutter(draw, rng, big)
    scale = rng.uniform(0.75, 1.2)
    centre = rng.uniform(0.35, 0.65, size=2) * big
    base_angle = rng.uniform(0, 2 * np.pi)
    lo, hi = np.array(shape["hue"][0]), np.array(shape["hue"][1])
    green = rng.uniform(0, 0.35)  # ripeness: mix in some green
    n_fruit = int(rng.integers(shape["count"][0], shape["count"][1] + 1))
    for k in range(n_fruit):
        offset = rng.normal(0, 0.06, size=2) * big
        angle = base_angle + (k - (n_fruit - 1) / 2) * rng.uniform(0.15, 0.4)
        polygon, line, stalk, thickness = _banana_outline(rng, shape, big, centre + offset, scale, angle)
        colour = lo + (hi - lo) * rng.uniform(0, 1, size=3)
        colour = colour * (1 - green) + np.array([110, 170, 50]) * green
        edge = tuple(int(v) for v in np.clip(colour * 0.55, 0, 255))
        draw.polygon([tuple(p) for p in polygon], fill=tuple(int(v) for v in colour), outline=edge)
        # highlight along the ridge and a darker ridge line (angular fruit show facets)
        highlight = tuple(int(v) for v in np.clip(colour * 1.12 + 12, 0, 255))
        draw.line([tuple(p) for p in line], fill=highlight, width=max(1, int(thickness * 0.18)))
        if shape["facets"][1] <= 8:
            draw.line([tuple(p) for p in line], fill=edge, width=max(1, int(thickness * 0.04)))
        # cut stalk and dark tip
        draw.line([tuple(p) for p in stalk], fill=(95, 80, 40), width=max(1, int(thickness * 0.22)))
        tip = polygon[len(polygon) // 2]
        r = max(1.0, thickness * 0.06)
        draw.ellipse([tip[0] - r, tip[1] - r, tip[0] + r, tip[1] + r], fill=(60, 50, 30))
        # brown speckles on some fruit
        for _ in range(int(rng.integers(0, 6))):
            sx, sy = line[int(rng.integers(0, len(line)))] + rng.normal(0, thickness * 0.15, size=2)
            rs = thickness * rng.uniform(0.02, 0.06)
            draw.ellipse([sx - rs, sy - rs, sx + rs, sy + rs], fill=(120, 85, 40))
    canvas = canvas.resize((size, size), Image.Resampling.LANCZOS)
    if rng.uniform() < 0.3:
        canvas = canvas.filter(ImageFilter.GaussianBlur(radius=rng.uniform(0.3, 1.0)))
    # lighting: global brightness, colour cast and a soft vignette/spotlight
    arr = np.asarray(canvas, dtype=np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    cx, cy = rng.uniform(0, 1, size=2)
    spot = 1.0 + rng.uniform(-0.25, 0.25) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.15)
    arr = arr * rng.uniform(0.65, 1.25) * rng.uniform(0.9, 1.1, size=3)[None, None, :] * spot[..., None]
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def make_banana_dataset(out_dir: str | os.PathLike, n_per_class: int = 60, image_size: int = 96,
                        seed: int = 0, formats: tuple[str, ...] = ("jpg", "png")) -> Path:
    """Write the synthetic banana dataset: one folder per class of real JPEG/PNG files.

    Parameters
    ----------
    out_dir : path
        Folder to write into (created; existing files with the same names are overwritten).
    n_per_class : int
        Images per class (the reference study had 200).
    image_size : int
        Side of the square images in pixels.
    seed : int
        Same seed -> byte-identical files.
    formats : tuple of str
        File formats, used in turn (``"jpg"``/``"jpeg"``, ``"png"``, ``"webp"``, ``"bmp"``, ``"gif"``).

    Returns
    -------
    pathlib.Path
        ``out_dir``.
    """
    if not isinstance(n_per_class, (int, np.integer)) or n_per_class < 1:
        raise ValueError(f"n_per_class must be a positive integer, got {n_per_class!r}")
    if not isinstance(image_size, (int, np.integer)) or image_size < 16:
        raise ValueError(f"image_size must be an integer >= 16 (pixels), got {image_size!r}")
    pil_formats = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "bmp": "BMP", "gif": "GIF"}
    formats = tuple(f.lower().lstrip(".") for f in formats)
    bad = [f for f in formats if f not in pil_formats]
    if not formats or bad:
        raise ValueError(f"formats {bad or formats!r} not supported; expected some of {sorted(pil_formats)}")
    out = Path(out_dir)
    for c, cls in enumerate(BANANA_CLASSES):
        folder = out / cls
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng([seed, c])
        stem = cls.lower().replace(" banana", "").replace(" ", "_")
        for i in range(n_per_class):
            img = draw_banana(cls, rng, image_size)
            ext = formats[i % len(formats)]
            kwargs = {"quality": int(rng.integers(75, 96))} if pil_formats[ext] in ("JPEG", "WEBP") else {}
            img.save(folder / f"{stem}_{i:04d}.{ext}", format=pil_formats[ext], **kwargs)
    return out


def data_root() -> Path:
    """Where generated data lives: ``$DL_DATA_DIR`` if set, else ``<repo>/data/embedded``."""
    env = os.environ.get("DL_DATA_DIR")
    if env:
        return Path(env).expanduser().resolve()
    from helpers.runs import repo_root

    return repo_root() / "data" / "embedded"


def embedded_banana_dir(n_per_class: int = 60, image_size: int = 96, seed: int = 0) -> Path:
    """The embedded synthetic banana folder, generated once and reused.

    Written atomically to ``data_root()/bananas-n{n}-s{size}-seed{seed}/`` (generated in a
    temporary sibling folder, then renamed), so an interrupted generation never leaves a
    half-filled dataset behind.

    Returns
    -------
    pathlib.Path
        The folder with one sub-folder per class.
    """
    root = data_root()
    final = root / f"bananas-n{n_per_class}-s{image_size}-seed{seed}"
    if final.is_dir():
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=root))
    try:
        make_banana_dataset(tmp, n_per_class=n_per_class, image_size=image_size, seed=seed)
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():  # another process did not win the race: a real error
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final


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

    from helpers.env import op_determinism_enabled

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
