"""The embedded banana dataset: synthetic photographs of the three varieties of the brief (Lady
Finger, Cavendish, Cultivated), drawn with Pillow from each class's real cues -- size, length,
curvature, angularity, colour -- on cluttered backgrounds, generated once per setting and reused."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from helpers.runs import repo_root

__all__ = ["BANANA_CLASSES", "check_difficulty", "draw_banana", "make_banana_dataset", "data_root", "embedded_banana_dir"]

BANANA_CLASSES = ("Lady Finger Banana", "Cavendish Banana", "Cultivated Banana")

# Per class, ranges (low, high) drawn uniformly per fruit, overlapping a little (learnable, not trivial):
# length (fraction of the image side), thickness (width / length), curvature (bend / length), facets
# (straight segments of the outline: few = angular), count (fruits per image), stalk, hue (RGB range).
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


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A random linear colour gradient with sensor-like noise (float32, H x W x 3, 0..255)."""
    c0, c1, angle = rng.uniform(40, 230, size=3), rng.uniform(40, 230, size=3), rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / max(size - 1, 1)
    t = (np.cos(angle) * xx + np.sin(angle) * yy)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    img = c0[None, None, :] * (1 - t[..., None]) + c1[None, None, :] * t[..., None]
    img += rng.normal(0, rng.uniform(2, 9), size=img.shape)
    return img.astype(np.float32)


def _clutter(draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: int, difficulty: float = 1.0) -> None:
    """Random ellipses, rectangles and lines (plates, leaves, table edges) behind the fruit: up to four at
    ``difficulty`` 1, none at 0."""
    for _ in range(int(round(int(rng.integers(0, 5)) * difficulty))):
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
    """Outline polygon, centre line and stalk of one fruit in pixels: a quadratic Bezier centre line, a
    width ``sin(pi t) ** 0.55``, sampled at ``facets`` points (few: the angular Cultivated banana)."""
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
    polygon, line = polygon @ rot.T + centre, line @ rot.T + centre
    stalk_dir = (tangent[0] / np.linalg.norm(tangent[0])) @ rot.T
    stalk_len = rng.uniform(*shape["stalk"]) * size * scale
    stalk = np.stack([line[0], line[0] - stalk_dir * stalk_len])
    return polygon, line, stalk, thickness


def check_difficulty(difficulty) -> float:
    """``difficulty`` as a float in [0, 1], else a ValueError naming it."""
    if isinstance(difficulty, bool) or not isinstance(difficulty, (int, float, np.floating, np.integer)) \
            or not 0 <= float(difficulty) <= 1:
        raise ValueError(f"difficulty must be a number in [0, 1] (1: the hardest, brief-like photos), got {difficulty!r}")
    return float(difficulty)


def _shape_at(shape: dict, difficulty: float) -> dict:
    """The class's ranges narrowed around their centres to ``0.3 + 0.7 * difficulty`` of their width (the
    classes overlap less at a lower difficulty; the cues themselves stay the same)."""
    keep = 0.3 + 0.7 * difficulty
    out = {}
    for key, (lo, hi) in shape.items():
        lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
        mid, half = (lo + hi) / 2, (hi - lo) / 2 * keep
        pair = (mid - half, mid + half)
        out[key] = tuple(int(round(float(v))) for v in pair) if key in ("facets", "count") else \
            tuple(tuple(float(x) for x in v) if v.ndim else float(v) for v in pair)
    return out


def _toward(value, neutral: float, d: float):
    """``value`` moved toward ``neutral`` by ``1 - d`` (exactly ``value`` at ``d == 1``)."""
    return value if d == 1 else neutral + (value - neutral) * d


def draw_banana(cls: str, rng: np.random.Generator, size: int = 96, difficulty: float = 1.0) -> Image.Image:
    """One synthetic RGB photo (``size`` x ``size`` ``PIL.Image``) of the banana class ``cls``, a pure
    function of the generator's state. ``difficulty`` (0..1) scales every nuisance -- the overlap of the
    classes' ranges, the fruit's scale, background clutter, unripe green, lighting -- 1 being the hardest."""
    if cls not in _BANANA_SHAPES:
        raise ValueError(f"unknown banana class {cls!r}; expected one of {', '.join(BANANA_CLASSES)}")
    d = check_difficulty(difficulty)
    shape = _BANANA_SHAPES[cls] if d == 1 else _shape_at(_BANANA_SHAPES[cls], d)
    big = size * 2  # supersampling for smooth edges
    canvas = Image.fromarray(np.clip(_background(rng, big), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    _clutter(draw, rng, big, d)
    scale = _toward(rng.uniform(0.75, 1.2), 1.0, d)
    centre = rng.uniform(0.35, 0.65, size=2) * big
    base_angle = rng.uniform(0, 2 * np.pi)
    lo, hi = np.array(shape["hue"][0]), np.array(shape["hue"][1])
    green = _toward(rng.uniform(0, 0.35), 0.0, d)  # ripeness: mix in some green
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
    spot = 1.0 + _toward(rng.uniform(-0.25, 0.25), 0.0, d) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / 0.15)
    light, cast = rng.uniform(0.65, 1.25), rng.uniform(0.9, 1.1, size=3)
    arr = arr * _toward(light, 1.0, d) * _toward(cast, 1.0, d)[None, None, :] * spot[..., None]
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def make_banana_dataset(out_dir: str | os.PathLike, n_per_class: int = 60, image_size: int = 96,
                        seed: int = 0, formats: tuple[str, ...] = ("jpg", "png"), difficulty: float = 1.0) -> Path:
    """Write ``n_per_class`` images per class (the reference study had 200) into ``out_dir/<class>/``, in
    turn in ``formats`` (jpg, png, webp, bmp, gif), drawn at ``difficulty`` (see :func:`draw_banana`); the
    same arguments write byte-identical files. Returns ``out_dir``."""
    if not isinstance(n_per_class, (int, np.integer)) or n_per_class < 1:
        raise ValueError(f"n_per_class must be a positive integer, got {n_per_class!r}")
    if not isinstance(image_size, (int, np.integer)) or image_size < 16:
        raise ValueError(f"image_size must be an integer >= 16 (pixels), got {image_size!r}")
    difficulty = check_difficulty(difficulty)
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
            img = draw_banana(cls, rng, image_size, difficulty)
            ext = formats[i % len(formats)]
            kwargs = {"quality": int(rng.integers(75, 96))} if pil_formats[ext] in ("JPEG", "WEBP") else {}
            img.save(folder / f"{stem}_{i:04d}.{ext}", format=pil_formats[ext], **kwargs)
    return out


def data_root() -> Path:
    """Where generated data lives: ``$DL_DATA_DIR`` if set, else ``<repo>/data/embedded``."""
    env = os.environ.get("DL_DATA_DIR")
    return Path(env).expanduser().resolve() if env else repo_root() / "data" / "embedded"


def embedded_banana_dir(n_per_class: int = 60, image_size: int = 96, seed: int = 0, difficulty: float = 1.0) -> Path:
    """The embedded banana folder ``data_root()/bananas-n{n}-s{size}-seed{seed}[-d{difficulty}]/``, generated
    once (in a temporary sibling folder, then renamed: an interruption never leaves half a dataset) and reused."""
    difficulty = check_difficulty(difficulty)
    root = data_root()
    final = root / (f"bananas-n{n_per_class}-s{image_size}-seed{seed}" + ("" if difficulty == 1 else f"-d{difficulty:g}"))
    if final.is_dir():
        return final
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=root))
    try:
        make_banana_dataset(tmp, n_per_class=n_per_class, image_size=image_size, seed=seed, difficulty=difficulty)
        try:
            os.rename(tmp, final)
        except OSError:
            if not final.is_dir():  # another process did not win the race: a real error
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return final
