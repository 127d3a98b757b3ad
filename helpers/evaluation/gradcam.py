"""Grad-CAM (Selvaraju et al., 2017): which image regions drive a CNN's prediction.

The heatmap is the ReLU of the last convolutional feature maps weighted by the spatially
averaged gradients of the class score. The class score is the pre-softmax logit when the model
ends in a Dense softmax layer (as :func:`helpers.models.backbones.build_transfer_model` models do),
so saturated probabilities do not flatten the gradients.
"""

from __future__ import annotations

import numpy as np

from helpers.runs import MissingPrerequisite

__all__ = ["gradcam_heatmap", "overlay", "select_right_wrong", "gradcam_grid", "best_models", "load_test_split",
           "explain_best_model"]


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
    from helpers.data.images import show_images

    overlays = [overlay(images[i], gradcam_heatmap(model, preprocessed[i], last_conv_layer), alpha)
                for i in indices]
    if not overlays:
        return None
    return show_images(np.stack(overlays), titles, ncols=ncols, size=2.2, suptitle=suptitle)


# --------------------------------------------------------------------------- notebook 06
def best_models(run, backbones=None):
    """The best trained model of each backbone in a run (highest test accuracy, then lowest loss).

    Parameters
    ----------
    run : helpers.runs.Run
        A run in which ``05_banana_transfer`` wrote ``banana/<backbone>/<mode>/seed<k>/``.
    backbones : list of str, optional
        Restrict to these backbones (default: every backbone found).

    Returns
    -------
    DataFrame
        One row per backbone: backbone, mode, seed, split (test), accuracy, loss, macro_f1, unit.
    """
    import pandas as pd

    root = run.path / "banana"
    found = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    wanted = list(backbones) if backbones else found
    missing = [b for b in wanted if b not in found]
    if not found or missing:
        todo = ", ".join(f"backbone={b!r}" for b in missing) if missing else "its defaults"
        raise MissingPrerequisite(f"no trained models for {missing or 'any backbone'} in {root} (found "
                                  f"{found or 'none'}): run 05_banana_transfer with {todo} into this run first")
    rows = []
    for backbone in wanted:
        for marker in sorted((root / backbone).glob("*/seed*/_COMPLETE.json")):
            unit = marker.parent.relative_to(run.path)
            row = run.read_json(unit / "metrics.json")["row"]
            rows.append({k: row[k] for k in ("backbone", "mode", "seed", "split", "accuracy", "loss", "macro_f1")}
                        | {"unit": str(unit)})
    if not rows:
        raise FileNotFoundError(f"no completed model folders under {root}; run 05_banana_transfer first")
    frame = pd.DataFrame(rows).sort_values(["backbone", "accuracy", "loss"], ascending=[True, False, True])
    return frame.groupby("backbone", sort=False).head(1).reset_index(drop=True)


def load_test_split(run, backbone: str):
    """The test images of ``backbone`` exactly as 05 used them (paths from ``split.csv``).

    Returns
    -------
    (uint8 array N x H x W x 3, int labels, class_names)
    """
    from helpers.data.images import read_image

    info = run.read_json(f"banana/{backbone}/data.json")
    split = run.read_csv(f"banana/{backbone}/split.csv")
    test = split[split["split"] == "test"]
    if test.empty:
        raise ValueError(f"banana/{backbone}/split.csv has no test rows")
    size = int(info["image_size"])
    x = np.stack([read_image(p, size)[0] for p in test["path"]])
    return x, test["label"].to_numpy(dtype=np.int64), list(info["class_names"])


def explain_best_model(run, row, n_images: int = 4, alpha: float = 0.4, seed: int | None = 0) -> dict:
    """Grad-CAM figures (right and wrong test predictions) for one row of :func:`best_models`.

    Saves ``gradcam/<backbone>_right.png`` and ``gradcam/<backbone>_wrong.png`` in the run.

    Returns
    -------
    dict
        ``backbone``, ``mode``, ``seed``, ``n_test``, ``n_right``, ``n_wrong`` (shown),
        ``matches_stored`` (predictions equal to those 05 stored -- same split, same model),
        ``figures`` (list of Matplotlib figures) and ``files`` (saved PNGs).
    """
    import keras

    from helpers.evaluation.metrics import predict_proba
    from helpers.models.backbones import get_backbone

    spec = get_backbone(row["backbone"])
    model = keras.models.load_model(run.path / row["unit"] / "model.keras", compile=False)
    x, y, class_names = load_test_split(run, spec.name)
    pre = spec.preprocess_input(x)
    y_pred = predict_proba(model, x, spec.preprocess_input).argmax(axis=1)
    stored = run.read_csv(f"{row['unit']}/predictions.csv")
    right, wrong = select_right_wrong(y, y_pred, n_images, seed=seed)
    out = {"backbone": spec.name, "mode": row["mode"], "seed": int(row["seed"]), "n_test": int(len(y)),
           "n_right": int(len(right)), "n_wrong": int(len(wrong)),
           "matches_stored": bool(np.array_equal(stored["y_pred"].to_numpy(), y_pred)), "figures": [], "files": []}
    for kind, idx in (("right", right), ("wrong", wrong)):
        titles = [f"true: {class_names[y[i]]}\npred: {class_names[y_pred[i]]}" for i in idx]
        fig = gradcam_grid(model, x, pre, idx, spec.last_conv_layer, titles, alpha=alpha,
                           suptitle=f"{spec.name} {row['mode']} seed {row['seed']}: {kind} test predictions")
        if fig is not None:
            import matplotlib.pyplot as plt

            plt.close(fig)  # shown where the caller wants it (display(fig)), not twice
            out["figures"].append(fig)
            out["files"].append(str(run.save_figure(f"gradcam/{spec.name}_{kind}.png", fig)))
    keras.backend.clear_session()
    return out
