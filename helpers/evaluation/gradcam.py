"""Grad-CAM (Selvaraju et al., 2017): :func:`gradcam_heatmap` checks notebook 06's own cell; plumbing for the best
model of each backbone in a run, its test images as 05 split them, overlays, grids of right/wrong predictions."""

from __future__ import annotations

import numpy as np
import pandas as pd

from helpers import layout
from helpers.data.images import read_image, show_images
from helpers.evaluation.metrics import predict_proba
from helpers.models.backbones import get_backbone
from helpers.runs import COMPLETE_MARKER, MissingPrerequisite

__all__ = ["gradcam_heatmap", "overlay", "select_right_wrong", "gradcam_grid", "best_models", "load_model_and_split",
           "explain_best_model"]


def gradcam_heatmap(model, image, last_conv_layer: str, class_index: int | None = None) -> np.ndarray:
    """Grad-CAM heatmap (the conv layer's h x w, float32 in [0, 1]) of one preprocessed H x W x C image, for
    ``class_index`` (None: the predicted class); the score is the logit when the model ends in Dense softmax."""
    import keras
    import tensorflow as tf

    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3:
        raise ValueError(f"image must have shape (height, width, channels), got {image.shape}")
    names = [layer.name for layer in model.layers]
    if last_conv_layer not in names:
        raise ValueError(f"model {model.name!r} has no layer {last_conv_layer!r}; expected one of its layers, e.g. "
                         f"{', '.join(names[-4:])} (nested base models are not supported: build a flat model)")
    last = model.layers[-1]
    logits = isinstance(last, keras.layers.Dense) and getattr(last.activation, "__name__", "") == "softmax"
    grad_model = keras.Model(model.input, [model.get_layer(last_conv_layer).output,
                                            last.input if logits else model.output])
    with tf.GradientTape() as tape:
        conv, out = grad_model(tf.convert_to_tensor(image[None]), training=False)
        scores = tf.matmul(tf.cast(out, last.kernel.dtype), last.kernel) + last.bias if logits else out
        class_index = int(tf.argmax(scores[0])) if class_index is None else class_index
        if not 0 <= class_index < scores.shape[-1]:
            raise ValueError(f"class_index={class_index} out of range; the model has {scores.shape[-1]} classes")
        score = scores[:, class_index]
    weights = tf.reduce_mean(tape.gradient(score, conv), axis=(0, 1, 2))  # one weight per channel
    heat = tf.nn.relu(tf.reduce_sum(tf.cast(conv[0], weights.dtype) * weights, axis=-1)).numpy().astype(np.float32)
    return heat / heat.max() if heat.max() > 0 else heat


def overlay(image, heatmap, alpha: float = 0.4, colormap: str = "jet") -> np.ndarray:
    """Blend a heatmap (any size, values in [0, 1]) over the original uint8 RGB image; returns uint8."""
    import matplotlib
    from PIL import Image

    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"image must have shape (height, width, 3), got {img.shape}")
    heat = np.uint8(np.clip(np.asarray(heatmap, dtype=np.float32), 0, 1) * 255)
    heat = np.asarray(Image.fromarray(heat).resize((img.shape[1], img.shape[0]), Image.Resampling.BILINEAR))
    colours = matplotlib.colormaps[colormap](heat / 255.0)[..., :3] * 255
    return np.clip((1 - alpha) * img.astype(np.float32) + alpha * colours, 0, 255).astype(np.uint8)


def select_right_wrong(y_true, y_pred, n: int, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices of up to ``n`` correct and ``n`` wrong predictions (the first ones, or a seeded random
    choice when ``seed`` is given)."""
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
                 ncols: int = 4, suptitle: str | None = None, heatmap=gradcam_heatmap):
    """A figure of ``heatmap(model, image, last_conv_layer)`` overlays for ``images[indices]`` (None if empty)."""
    overlays = [overlay(images[i], heatmap(model, preprocessed[i], last_conv_layer), alpha) for i in indices]
    return show_images(np.stack(overlays), titles, ncols=ncols, size=2.2, suptitle=suptitle) if overlays else None


def best_models(run, backbones=None):
    """The model of each backbone 05 trained into ``run`` to explain: the highest VALIDATION accuracy, then the
    lowest validation loss, then the lowest seed -- test numbers are never read to choose (they may be missing). One
    row per backbone: backbone, mode, seed, weights ("random init" / "imagenet" as 05 recorded them), val_accuracy,
    val_loss, unit (then the test split's accuracy, loss, macro_f1, read after the choice and reported)."""
    root = run.path / layout.BANANA
    found = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    wanted = list(backbones) if backbones else found
    missing = [b for b in wanted if b not in found]
    if not found or missing:
        todo = ", ".join(f"backbone={b!r}" for b in missing) if missing else "its defaults"
        raise MissingPrerequisite(f"no trained models for {missing or 'any backbone'} in {root} (found "
                                  f"{found or 'none'}): run 05_banana_transfer with {todo} into this run first")
    rows = []
    for marker in sorted(m for b in wanted for m in (root / b).glob(f"*/seed*/{COMPLETE_MARKER}")):
        unit = marker.parent.relative_to(run.path)
        row = run.read_json(unit / layout.METRICS)["row"]
        if "val_accuracy" not in row:
            raise ValueError(f"{unit}/{layout.METRICS} has no val_accuracy: re-run 05_banana_transfer into this run "
                             "(the model to explain is chosen on validation, never on test)")
        rows.append({k: row[k] for k in ("backbone", "mode", "seed")}
                    | {"weights": row.get("weights", "not recorded"), "val_accuracy": row["val_accuracy"],
                       "val_loss": row.get("val_loss", float("nan")), "unit": str(unit)})
    if not rows:
        raise FileNotFoundError(f"no completed model folders under {root}; run 05_banana_transfer first")
    frame = pd.DataFrame(rows)
    frame["val_accuracy"] = pd.to_numeric(frame["val_accuracy"], errors="coerce")
    frame["val_loss"] = pd.to_numeric(frame["val_loss"], errors="coerce")
    frame = frame.sort_values(["backbone", "val_accuracy", "val_loss", "seed"],
                                           ascending=[True, False, True, True], na_position="last")
    chosen = frame.groupby("backbone", sort=False).head(1).reset_index(drop=True)
    # the chosen models' test scores, read only now, to be reported beside them
    test = [run.read_json(f"{u}/{layout.METRICS}")["row"] for u in chosen["unit"]]
    for key in ("accuracy", "loss", "macro_f1"):
        chosen[f"test_{key}"] = pd.to_numeric(pd.Series([t.get(key) for t in test], dtype=object), errors="coerce")
    return chosen.assign(chosen_on="val")


def load_model_and_split(run, row):
    """The model of one :func:`best_models` row and its backbone's test images exactly as 05 split them
    (paths from ``split.csv``): ``(model, spec, x uint8, y, class_names)``."""
    import keras

    spec = get_backbone(row["backbone"])
    folder = layout.backbone_dir(spec.name)
    info, split = run.read_json(f"{folder}/{layout.BACKBONE_DATA}"), run.read_csv(f"{folder}/{layout.BACKBONE_SPLIT}")
    test = split[split["split"] == "test"]
    if test.empty:
        raise ValueError(f"{folder}/{layout.BACKBONE_SPLIT} has no test rows")
    x = np.stack([read_image(p, int(info["image_size"]))[0] for p in test["path"]])
    model = keras.models.load_model(run.path / row["unit"] / layout.MODEL, compile=False)
    return model, spec, x, test["label"].to_numpy(dtype=np.int64), list(info["class_names"])


def explain_best_model(run, row, n_images: int = 4, alpha: float = 0.4, seed: int | None = 0,
                       heatmap=gradcam_heatmap) -> dict:
    """Grids of ``heatmap`` for right and wrong test predictions of one :func:`best_models` row, saved as
    ``gradcam/<backbone>_{right,wrong}.png``; returns counts, ``matches_stored`` (05's predictions), figures, files."""
    import keras
    import matplotlib.pyplot as plt

    model, spec, x, y, class_names = load_model_and_split(run, row)
    y_pred = predict_proba(model, x, spec.preprocess_input).argmax(axis=1)
    stored = run.read_csv(f"{row['unit']}/{layout.PREDICTIONS}")
    right, wrong = select_right_wrong(y, y_pred, n_images, seed=seed)
    weights = row.get("weights", "weights not recorded")
    out = {"backbone": spec.name, "mode": row["mode"], "seed": int(row["seed"]), "weights": weights, "n_test": int(len(y)),
           "n_right": int(len(right)), "n_wrong": int(len(wrong)),
           "matches_stored": bool(np.array_equal(stored["y_pred"].to_numpy(), y_pred)), "figures": [], "files": []}
    pre = spec.preprocess_input(x)
    for kind, idx in (("right", right), ("wrong", wrong)):
        titles = [f"true: {class_names[y[i]]}\npred: {class_names[y_pred[i]]}" for i in idx]
        fig = gradcam_grid(model, x, pre, idx, spec.last_conv_layer, titles, alpha=alpha, heatmap=heatmap,
                           suptitle=f"{spec.name} {row['mode']} seed {row['seed']} ({weights}): {kind} test predictions")
        if fig is not None:
            plt.close(fig)  # shown where the caller wants it (display(fig)), not twice
            out["figures"].append(fig)
            out["files"].append(str(run.save_figure(layout.gradcam_figure(spec.name, kind), fig)))
    keras.backend.clear_session()
    return out
