"""Frozen-base training: recompute the base every epoch versus cache its features once.

    python benchmarks/frozen_features.py                       # VGG16, 64 px, 90 images, 5 epochs
    python benchmarks/frozen_features.py --image-size 224 --epochs 10

Both ways train the same head (the checked copy of notebook 05's model, helpers.models.backbones) with
augmentation off; prints total seconds and the ratio.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbone", default="VGG16")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--n-images", type=int, default=90)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)

    import numpy as np

    from helpers.evaluation.metrics import device_name
    from helpers.models import backbones
    from helpers.training import transfer

    size = backbones.effective_image_size(args.backbone, args.image_size)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, size=(args.n_images, size, size, 3)).astype(np.uint8)
    y = np.arange(args.n_images) % 3
    n_val = args.n_images // 4
    splits = {"train": (x[n_val:], y[n_val:]), "val": (x[:n_val], y[:n_val])}
    common = dict(image_size=size, epochs=args.epochs, batch_size=args.batch_size, augment=False, seed=0)
    seconds = {}
    for label, cache in (("recompute base every epoch", False), ("cached base features", True)):
        start = time.perf_counter()
        transfer.train_transfer(backbones.build_transfer_model, backbones.fine_tune, args.backbone, "frozen", splits,
                                3, feature_cache=cache, **common)
        seconds[label] = time.perf_counter() - start
    print(f"device: {device_name()}; {args.backbone} {size} px, {len(x) - n_val} train + {n_val} val images, "
          f"{args.epochs} epochs")
    for label, s in seconds.items():
        print(f"{label:28s} {s:7.2f} s")
    print(f"gain: {seconds['recompute base every epoch'] / seconds['cached base features']:.1f}x faster with the cache")


if __name__ == "__main__":
    main()
