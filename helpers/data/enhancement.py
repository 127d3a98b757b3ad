"""Image preprocessing against colour casts and low contrast: grey-world white balance and CLAHE
(Zuiderveld 1994, OpenCV), the reference log's EXP10 preprocessing (notebook 08's "+CLAHE/WB" row).
Every function takes uint8 RGB images (N, H, W, 3) or one image (H, W, 3) and returns the same shape."""

from __future__ import annotations

import numpy as np

__all__ = ["clahe", "grey_world_white_balance", "clahe_white_balance", "PREPROCESSING", "preprocess_images"]


def _batch(images) -> tuple[np.ndarray, bool]:
    """The images as a uint8 batch, and whether one image was given."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (0..255), got dtype {images.dtype}")
    single = images.ndim == 3 and images.shape[-1] == 3
    images = images[None] if single else images
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (N, H, W, 3) or (H, W, 3), got {images.shape}")
    return images, single


def clahe(images, clip_limit: float = 2.0, tile_grid_size: tuple[int, int] = (8, 8)) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation of the lightness channel (CIE L*a*b*, so the
    hue is kept), with OpenCV's ``clip_limit`` (higher = stronger) and ``tile_grid_size`` tiles."""
    import cv2

    images, single = _batch(images)
    if clip_limit <= 0:
        raise ValueError(f"clip_limit must be > 0, got {clip_limit!r}")
    op = cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=tuple(int(t) for t in tile_grid_size))
    out = np.empty_like(images)
    for i, image in enumerate(images):
        lab = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2LAB)
        lab[..., 0] = op.apply(np.ascontiguousarray(lab[..., 0]))
        out[i] = cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
    return out[0] if single else out


def grey_world_white_balance(images) -> np.ndarray:
    """Scale each channel so that its mean equals the image's grey mean (vectorised over the batch; an
    all-zero channel is left as is)."""
    images, single = _batch(images)
    x = images.astype(np.float32)
    channel_means = x.mean(axis=(1, 2), keepdims=True)  # (N, 1, 1, 3)
    grey = channel_means.mean(axis=-1, keepdims=True)
    gain = np.divide(grey, channel_means, out=np.ones_like(channel_means), where=channel_means > 0)
    out = np.clip(np.rint(x * gain), 0, 255).astype(np.uint8)
    return out[0] if single else out


def clahe_white_balance(images, clip_limit: float = 2.0, tile_grid_size: tuple[int, int] = (8, 8)) -> np.ndarray:
    """Grey-world white balance, then CLAHE. The log found it helps only *without* mean subtraction;
    the models here rescale by 1/255."""
    return clahe(grey_world_white_balance(images), clip_limit=clip_limit, tile_grid_size=tile_grid_size)


PREPROCESSING = {"none": np.asarray, "clahe": clahe, "white_balance": grey_world_white_balance,
                 "clahe_wb": clahe_white_balance}


def preprocess_images(images, method: str | None) -> np.ndarray:
    """Apply a preprocessing ``method`` by name (``None``/``"none"`` returns the images unchanged)."""
    if (method or "none") not in PREPROCESSING:
        raise ValueError(f"unknown preprocessing {method!r}; expected one of {', '.join(PREPROCESSING)}")
    return PREPROCESSING[method or "none"](images)
