"""Per-image ``model.predict(x[None])`` loop versus batched inference on the same images.

    python benchmarks/inference.py                     # VGG16, 64 px, 32 images
    python benchmarks/inference.py --image-size 224 --backbones VGG16 InceptionV3

Prints milliseconds per image for both ways and their ratio (weights=None: timing only).
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backbones", nargs="+", default=["VGG16"])
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--n-images", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args(argv)

    import numpy as np

    from helpers import env
    from helpers.evaluation.metrics import device_name, inference_time_per_sample
    from helpers.models import backbones

    env.seed_everything(0)
    x = np.random.default_rng(0).integers(0, 255, size=(args.n_images, args.image_size, args.image_size, 3))
    print(f"device: {device_name()}; {args.n_images} images of {args.image_size} px")
    for name in args.backbones:
        spec = backbones.get_backbone(name)
        size = backbones.effective_image_size(name, args.image_size)
        xs = x if size == args.image_size else np.resize(x, (len(x), size, size, 3))
        model = backbones.build_transfer_model(name, 3, size)
        pre = spec.preprocess_input(xs.astype("float32"))
        model.predict(pre[:1], verbose=0)  # warm-up of the single-image path
        start = time.perf_counter()
        looped = np.concatenate([model.predict(img[None], verbose=0) for img in pre])
        loop_ms = 1000 * (time.perf_counter() - start) / len(pre)
        batched = inference_time_per_sample(model, pre, batch_size=args.batch_size)["ms_per_sample"]
        same = np.allclose(looped, model.predict(pre, batch_size=args.batch_size, verbose=0), atol=1e-5)
        print(f"{name:12s} per-image loop {loop_ms:8.2f} ms/image | batched {batched:8.2f} ms/image | "
              f"ratio {loop_ms / batched:5.1f}x | same predictions: {same}")


if __name__ == "__main__":
    main()
