"""Grad-CAM (Selvaraju et al., 2017): which image regions drive a CNN's prediction.

The heatmap is the ReLU of the last convolutional feature maps weighted by the spatially
averaged gradients of the class score. The class score is the pre-softmax logit when the model
ends in a Dense softmax layer (as :func:`helpers.backbones.build_transfer_model` models do),
so saturated probabilities do not flatten the gradients.
"""

from __future__ import annotations

import numpy as np

__all__ = ["gradcam_heatmap", "overlay", "select_right_wrong", "gradcam_grid"]


def gradcam_heatmap(model, image, last_conv_layer: str, class_index: int | None = None) -> np.ndarray:
    """Grad-CAM heatmap of one (already preprocessed) image.

    Parameters
    ----------
    model : keras.Model
        A flat functional model (the conv layer must be one of ``model.layers``).
    image : array, H x W x C
        The image exactly as the model receives it (after ``preprocess_input``).
    last_conv_layer : str
        Name of the convolutional layer to explain (e.g. ``block5_conv3`` for VGG16).
    class_index : int, optional
        Class to explain; None = the predicted class.

    Returns
    -------
    ndarray, float32, h x w (the conv layer's spatial size), values in [0, 1].
    """
    import keras
    import tensorflow as tf

    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3:
        raise ValueError(f"image must have shape (height, width, channels), got {image.shape}")
    names = [layer.name for layer in model.layers]
    if last_conv_layer not in names:
        raise ValueError(f"model {model.name!r} has no layer {last_conv_layer!r}; expected one of its "
                         f"layers, e.g. {', '.join(names[-4:])} (nested base models are not supported: "
                         "build a flat model)")
    conv_out = model.get_layer(last_conv_layer).output
    last = model.layers[-1]
    use_logits = isinstance(last, keras.layers.Dense) and getattr(last.activation, "__name__", "") == "softmax"
    target = last.input if use_logits else model.output
    grad_model = keras.Model(model.inputs, [conv_out, target])
    x = tf.convert_to_tensor(image[None])
    with tf.GradientTape() as tape:
        conv, out = grad_model(x, training=False)
        scores = tf.matmul(out, last.kernel) + last.bias if use_logits else out
        if class_index is None:
            class_index = int(tf.argmax(scores[0]))
        if not 0 <= class_index < scores.shape[-1]:
            raise ValueError(f"class_index={class_index} out of range; the model has {scores.shape[-1]} classes")
        score = scores[:, class_index]
    grads = tape.gradient(score, conv)
    weights = tf.reduce_mean(grads, axis=(0, 1, 2))
    heat = tf.nn.relu(tf.reduce_sum(conv[0] * weights, axis=-1)).numpy().astype(np.float32)
    peak = float(heat.max())
    return heat / peak if peak > 0 else heat


def overlay(image, heatmap, alpha: float = 0.4, colormap: str = "jet") -> np.ndarray:
    """Blend a heatmap (any size, values in [0, 1]) over an RGB image; returns uint8 H x W x 3.

    ``image`` is the original uint8 (0..255) image, not the preprocessed one.
    """
    import matplotlib
    from PIL import Image

    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"image must have shape (height, width, 3), got {img.shape}")
    heat = np.clip(np.asarray(heatmap, dtype=np.float32), 0, 1)
    heat_img = Image.fromarray(np.uint8(heat * 255)).resize((img.shape[1], img.shape[0]), Image.Resampling.BILINEAR)
    colours = matplotlib.colormaps[colormap](np.asarray(heat_img) / 255.0)[..., :3] * 255
    blended = (1 - alpha) * img.astype(np.float32) + alpha * colours
    return np.clip(blended, 0, 255).astype(np.uint8)


def select_right_wrong(y_true, y_pred, n: int, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices of up to ``n`` correct and ``n`` wrong predictions.

    In index order, or a seeded random choice when ``seed`` is given. Fewer are returned when
    fewer exist (e.g. no wrong predictions at all).
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has {y_pred.shape}; expected the same")
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n must be a non-negative integer, got {n!r}")
    right, wrong = np.flatnonzero(y_true == y_pred), np.flatnonzero(y_true != y_pred)
    if seed is not None:
        rng = np.random.default_rng(seed)
        right, wrong = rng.permutation(right), rng.permutation(wrong)
    return np.sort(right[:n]), np.sort(wrong[:n])


def gradcam_grid(model, images, preprocessed, indices, last_conv_layer, titles, alpha: float = 0.4,
                 ncols: int = 4, suptitle: str | None = None):
    """A figure of Grad-CAM overlays for ``images[indices]`` with the given titles."""
    from .images import show_images

    overlays = [overlay(images[i], gradcam_heatmap(model, preprocessed[i], last_conv_layer), alpha)
                for i in indices]
    if not overlays:
        return None
    return show_images(np.stack(overlays), titles, ncols=ncols, size=2.2, suptitle=suptitle)
