"""Techniques for training on a long-tailed (imbalanced) image dataset.

* Class weights: inverse frequency, and the *effective number of samples* of Cui et al. (2019).
* Label smoothing (Szegedy et al. 2016) baked into the labels, or applied inside the loss.
* Learning-rate schedules: step decay, polynomial decay (power 2.5 in the reference log) and the
  exponential "annealer" of the CNN-architecture study; a Keras callback for each.
* Image preprocessing: CLAHE (Zuiderveld 1994, OpenCV) and grey-world white balance.

All functions are plain NumPy/Keras code with no work at import time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "class_counts",
    "frequency_class_weights",
    "effective_number_class_weights",
    "class_weights",
    "class_weight_dict",
    "smooth_labels",
    "smoothed_crossentropy",
    "step_decay",
    "polynomial_decay",
    "exponential_decay",
    "lr_schedule",
    "lr_callback",
    "LR_SCHEDULES",
    "clahe",
    "grey_world_white_balance",
    "clahe_white_balance",
    "PREPROCESSING",
    "preprocess_images",
]


# --------------------------------------------------------------------------- class weights
def class_counts(labels: Sequence[int], num_classes: int | None = None) -> np.ndarray:
    """Number of samples per class.

    Parameters
    ----------
    labels : sequence of int
        Class indices 0 .. num_classes-1.
    num_classes : int, optional
        Total number of classes (default: ``max(labels) + 1``); classes with no sample count 0.

    Returns
    -------
    numpy.ndarray of int, shape (num_classes,)
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be a 1-D array of class indices, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or not np.issubdtype(labels.dtype, np.integer)):
        raise ValueError("labels must be non-negative integer class indices")
    n = int(num_classes) if num_classes is not None else (int(labels.max()) + 1 if labels.size else 0)
    if labels.size and labels.max() >= n:
        raise ValueError(f"labels contain class {int(labels.max())} but num_classes is {n}")
    return np.bincount(labels, minlength=n).astype(int)


def _check_counts(counts: Sequence[int], what: str) -> np.ndarray:
    counts = np.asarray(counts, dtype=float)
    if counts.ndim != 1 or counts.size == 0:
        raise ValueError(f"{what}: counts must be a non-empty 1-D array, got shape {counts.shape}")
    if np.any(counts <= 0):
        empty = np.flatnonzero(counts <= 0).tolist()
        raise ValueError(f"{what}: every class needs at least one sample; class(es) {empty} have none")
    return counts


def _normalize(weights: np.ndarray, normalize: str) -> np.ndarray:
    if normalize == "sum_to_classes":  # Cui et al.: sum of the weights = number of classes
        return weights * len(weights) / weights.sum()
    if normalize == "min_one":  # the reference log's convention: rarest class max, most frequent 1.0
        return weights / weights.min()
    raise ValueError(f"normalize must be 'sum_to_classes' or 'min_one', got {normalize!r}")


def frequency_class_weights(counts: Sequence[int], normalize: str = "sum_to_classes") -> np.ndarray:
    """Class weights proportional to the inverse class frequency, ``w_c ∝ 1 / n_c``.

    Parameters
    ----------
    counts : sequence of int
        Training samples per class (all > 0).
    normalize : {"sum_to_classes", "min_one"}
        ``sum_to_classes`` scales the weights to sum to the number of classes (as Cui et al. do, so
        the two kinds of weights are comparable); ``min_one`` makes the most frequent class weigh 1
        and the rarest ``n_max / n_min`` (the convention of the reference log: 1 .. 678).

    Returns
    -------
    numpy.ndarray of float, shape (num_classes,)
    """
    counts = _check_counts(counts, "frequency_class_weights")
    return _normalize(1.0 / counts, normalize)


def effective_number_class_weights(counts: Sequence[int], beta: float = 0.999,
                                   normalize: str = "sum_to_classes") -> np.ndarray:
    """Class-balanced weights from the effective number of samples (Cui et al. 2019).

    The effective number of a class with ``n`` samples is ``E_n = (1 - beta**n) / (1 - beta)``;
    the weight is ``w_c ∝ 1 / E_{n_c}``. ``beta = 0`` gives equal weights, ``beta -> 1`` tends to
    inverse frequency.

    Parameters
    ----------
    counts : sequence of int
        Training samples per class (all > 0).
    beta : float in [0, 1)
        Hyper-parameter; Cui et al. use 0.9, 0.99, 0.999, 0.9999.
    normalize : {"sum_to_classes", "min_one"}
        See :func:`frequency_class_weights`.

    Returns
    -------
    numpy.ndarray of float, shape (num_classes,)
    """
    if isinstance(beta, bool) or not isinstance(beta, (int, float, np.floating)) or not 0.0 <= beta < 1.0:
        raise ValueError(f"beta must be a number in [0, 1) (0 = no re-weighting, close to 1 = inverse "
                         f"frequency), got {beta!r}")
    counts = _check_counts(counts, "effective_number_class_weights")
    effective = (1.0 - np.power(float(beta), counts)) / (1.0 - float(beta))
    return _normalize(1.0 / effective, normalize)


def class_weights(counts: Sequence[int], kind: str | None, beta: float = 0.999,
                  normalize: str = "sum_to_classes") -> np.ndarray | None:
    """Weights of ``kind`` ``"frequency"`` or ``"effective"``; ``None`` gives None (no weighting)."""
    if kind is None or kind == "none":
        return None
    if kind == "frequency":
        return frequency_class_weights(counts, normalize=normalize)
    if kind == "effective":
        return effective_number_class_weights(counts, beta=beta, normalize=normalize)
    raise ValueError(f"class weight kind must be None, 'frequency' or 'effective', got {kind!r}")


def class_weight_dict(weights: Sequence[float] | None) -> dict[int, float] | None:
    """Keras' ``class_weight`` argument (``{class index: weight}``) from an array of weights."""
    if weights is None:
        return None
    return {i: float(w) for i, w in enumerate(np.asarray(weights, dtype=float))}


# --------------------------------------------------------------------------- label smoothing
def _check_smoothing(factor: float) -> float:
    if isinstance(factor, bool) or not isinstance(factor, (int, float, np.floating)) or not 0.0 <= factor < 1.0:
        raise ValueError(f"label smoothing factor must be a number in [0, 1), got {factor!r}")
    return float(factor)


def smooth_labels(labels, num_classes: int, factor: float) -> np.ndarray:
    """One-hot labels with label smoothing baked in: ``y * (1 - factor) + factor / num_classes``.

    This is "smoothing in the labels" (the reference log rewrote the stored labels); compare
    :func:`smoothed_crossentropy`, which smooths inside the loss and keeps the data unchanged.

    Parameters
    ----------
    labels : array of int (N,) or one-hot array (N, num_classes)
    num_classes : int
    factor : float in [0, 1)

    Returns
    -------
    numpy.ndarray of float32, shape (N, num_classes); rows sum to 1.
    """
    factor = _check_smoothing(factor)
    labels = np.asarray(labels)
    if labels.ndim == 1:
        if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
            raise ValueError(f"labels must be class indices in [0, {num_classes}), got {labels.min()}..{labels.max()}")
        onehot = np.eye(num_classes, dtype=np.float32)[labels.astype(int)]
    elif labels.ndim == 2 and labels.shape[1] == num_classes:
        onehot = labels.astype(np.float32)
    else:
        raise ValueError(f"labels must have shape (N,) or (N, {num_classes}), got {labels.shape}")
    return (onehot * (1.0 - factor) + factor / num_classes).astype(np.float32)


def smoothed_crossentropy(factor: float = 0.1):
    """Categorical cross-entropy with label smoothing inside the loss (labels stay one-hot)."""
    import keras

    return keras.losses.CategoricalCrossentropy(label_smoothing=_check_smoothing(factor))


# --------------------------------------------------------------------------- LR schedules
def _check_lr(initial_lr: float) -> float:
    if isinstance(initial_lr, bool) or not isinstance(initial_lr, (int, float)) or initial_lr <= 0:
        raise ValueError(f"initial_lr must be a positive number, got {initial_lr!r}")
    return float(initial_lr)


def step_decay(initial_lr: float, drop: float = 0.1, epochs_per_drop: int = 10) -> Callable[[int], float]:
    """Step decay: ``lr(epoch) = initial_lr * drop ** (epoch // epochs_per_drop)`` (epoch from 0).

    The reference log used 1e-1 -> 1e-2 -> 1e-3 -> 1e-4 steps.
    """
    initial_lr = _check_lr(initial_lr)
    if not 0 < drop <= 1:
        raise ValueError(f"drop must be in (0, 1], got {drop!r}")
    if int(epochs_per_drop) < 1:
        raise ValueError(f"epochs_per_drop must be >= 1, got {epochs_per_drop!r}")

    def schedule(epoch: int) -> float:
        return initial_lr * drop ** (int(epoch) // int(epochs_per_drop))

    return schedule


def polynomial_decay(initial_lr: float, max_epochs: int, power: float = 2.5,
                     end_lr: float = 0.0) -> Callable[[int], float]:
    """Polynomial decay: ``lr(e) = end_lr + (initial_lr - end_lr) * (1 - e / max_epochs) ** power``.

    ``power = 1`` is linear decay; the reference log used ``power = 2.5`` over 40 epochs.
    """
    initial_lr = _check_lr(initial_lr)
    if int(max_epochs) < 1:
        raise ValueError(f"max_epochs must be >= 1, got {max_epochs!r}")
    if power <= 0:
        raise ValueError(f"power must be > 0, got {power!r}")

    def schedule(epoch: int) -> float:
        frac = min(max(int(epoch), 0), int(max_epochs)) / float(max_epochs)
        return end_lr + (initial_lr - end_lr) * (1.0 - frac) ** power

    return schedule


def exponential_decay(initial_lr: float, rate: float = 0.95) -> Callable[[int], float]:
    """The "annealer" of the CNN-architecture study: ``lr(e) = initial_lr * rate ** e``."""
    initial_lr = _check_lr(initial_lr)
    if not 0 < rate <= 1:
        raise ValueError(f"rate must be in (0, 1], got {rate!r}")

    def schedule(epoch: int) -> float:
        return initial_lr * rate ** int(epoch)

    return schedule


LR_SCHEDULES = ("constant", "step", "polynomial", "exponential")


def lr_schedule(name: str, initial_lr: float, epochs: int, **options) -> Callable[[int], float]:
    """A schedule ``epoch -> learning rate`` by name.

    Parameters
    ----------
    name : {"constant", "step", "polynomial", "exponential"}
        ``step`` drops by ``drop`` (default 0.1) every ``epochs_per_drop`` epochs (default: a third of
        ``epochs``); ``polynomial`` decays to 0 over ``epochs`` with ``power`` (default 2.5);
        ``exponential`` multiplies by ``rate`` (default 0.95) each epoch.
    initial_lr : float
    epochs : int
        Length of training (used by ``step`` and ``polynomial``).
    """
    initial_lr = _check_lr(initial_lr)
    if name == "constant":
        return lambda epoch: initial_lr
    if name == "step":
        every = options.pop("epochs_per_drop", max(1, int(np.ceil(epochs / 3))))
        return step_decay(initial_lr, epochs_per_drop=every, **options)
    if name == "polynomial":
        return polynomial_decay(initial_lr, max_epochs=epochs, **options)
    if name == "exponential":
        return exponential_decay(initial_lr, **options)
    raise ValueError(f"unknown lr_schedule {name!r}; expected one of {', '.join(LR_SCHEDULES)}")


def lr_callback(name: str, initial_lr: float, epochs: int, **options):
    """A ``keras.callbacks.LearningRateScheduler`` for :func:`lr_schedule` (None for ``constant``)."""
    import keras

    schedule = lr_schedule(name, initial_lr, epochs, **options)
    if name == "constant":
        return None
    return keras.callbacks.LearningRateScheduler(lambda epoch, lr: float(schedule(epoch)), verbose=0)


# --------------------------------------------------------------------------- CLAHE / white balance
def _check_images(images) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 (0..255), got dtype {images.dtype}")
    if images.ndim == 3 and images.shape[-1] == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (N, H, W, 3) or (H, W, 3), got {images.shape}")
    return images


def clahe(images, clip_limit: float = 2.0, tile_grid_size: tuple[int, int] = (8, 8)) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation (Zuiderveld 1994) on the lightness channel.

    Each RGB image is converted to CIE L*a*b* with OpenCV, ``cv2.createCLAHE`` equalises L, and the
    image is converted back, so colours (hue) are kept.

    Parameters
    ----------
    images : uint8 array (N, H, W, 3) or (H, W, 3), RGB
    clip_limit : float
        OpenCV's contrast limit (higher = stronger equalisation).
    tile_grid_size : (int, int)
        Number of tiles along height and width.

    Returns
    -------
    numpy.ndarray of uint8, same shape as ``images``.
    """
    import cv2

    single = np.asarray(images).ndim == 3
    images = _check_images(images)
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
    """Grey-world white balance: scale each channel so that its mean equals the image's grey mean.

    Vectorised over the whole batch (no per-pixel loops). A channel that is all zero is left as is.

    Parameters
    ----------
    images : uint8 array (N, H, W, 3) or (H, W, 3), RGB

    Returns
    -------
    numpy.ndarray of uint8, same shape as ``images``.
    """
    single = np.asarray(images).ndim == 3
    images = _check_images(images)
    x = images.astype(np.float32)
    channel_means = x.mean(axis=(1, 2), keepdims=True)  # (N, 1, 1, 3)
    grey = channel_means.mean(axis=-1, keepdims=True)
    gain = np.divide(grey, channel_means, out=np.ones_like(channel_means), where=channel_means > 0)
    out = np.clip(np.rint(x * gain), 0, 255).astype(np.uint8)
    return out[0] if single else out


def clahe_white_balance(images, clip_limit: float = 2.0, tile_grid_size: tuple[int, int] = (8, 8)) -> np.ndarray:
    """Grey-world white balance followed by CLAHE (the reference log's EXP10 preprocessing).

    The log found this helps only *without* mean subtraction; the models here rescale by 1/255.
    """
    return clahe(grey_world_white_balance(images), clip_limit=clip_limit, tile_grid_size=tile_grid_size)


PREPROCESSING = ("none", "clahe", "white_balance", "clahe_wb")


def preprocess_images(images, method: str | None) -> np.ndarray:
    """Apply a preprocessing ``method`` by name (``None``/``"none"`` returns the images unchanged)."""
    if method is None or method == "none":
        return np.asarray(images)
    if method == "clahe":
        return clahe(images)
    if method == "white_balance":
        return grey_world_white_balance(images)
    if method == "clahe_wb":
        return clahe_white_balance(images)
    raise ValueError(f"unknown preprocessing {method!r}; expected one of {', '.join(PREPROCESSING)}")
