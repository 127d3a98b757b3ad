"""Benchmark: vectorised breathing-window generation vs a per-row Python loop.

Both build the same kind of rows (same per-class parameters, same signal model); the loop version
draws and builds one window at a time, as a first attempt would. Prints seconds and the ratio.

    python benchmarks/breathing_generation.py            # 2 % of the rows for the loop, extrapolated
    python benchmarks/breathing_generation.py --baseline # also: plain-MLP macro-F1 on the full set
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np

from helpers.data import breathing

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def loop_window(rng: np.random.Generator, name: str, window: int = 32) -> np.ndarray:
    """One window, built sample by sample (the naive way)."""
    p = breathing.CLASS_PATTERNS[name]
    rate = min(45.0, max(5.0, rng.normal(p["rate"], p["rate_sd"]) * rng.lognormal(0, 0.12)))
    depth = float(np.exp(rng.normal(np.log(p["depth"]), p["depth_sd"]))) * rng.lognormal(0, 0.18)
    hold_len = int(round(rng.uniform(p["hold_min_s"], p["hold_max_s"]) * breathing.SAMPLING_RATE_HZ))
    hold_start = int(rng.integers(-(hold_len // 3), window - (2 * hold_len) // 3 + 1))
    has_hold = rng.random() < p["hold_p"]
    offset = rng.normal(0, 0.2) + rng.normal(0, 0.1)
    dt = 1.0 / breathing.SAMPLING_RATE_HZ
    slope = rng.normal(0, 0.3) / (window * dt)
    noise = float(np.exp(rng.normal(np.log(0.1), 0.3)))
    phase, wander, low, high = rng.uniform(0, 2 * np.pi), 1.0, *breathing.SIGNAL_RANGE
    row = []
    for i in range(window):
        wander += rng.normal(0, 0.03)
        if not (has_hold and hold_start <= i < hold_start + hold_len):
            phase += 2 * np.pi * rate / 60.0 * min(1.4, max(0.6, wander)) * dt
        x = depth * -np.cos(phase + 0.45 * np.sin(phase)) + offset + slope * i * dt + rng.normal(0, noise)
        row.append(min(1.0, max(0.0, (x - low) / (high - low))))
    return np.asarray(row, dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loop-fraction", type=float, default=0.02,
                        help="share of the rows the loop builds (its time is extrapolated)")
    parser.add_argument("--baseline", action="store_true",
                        help="also train scikit-learn's MLPClassifier (60 units) and print test macro-F1")
    args = parser.parse_args()

    start = time.perf_counter()
    frame = breathing.make_breathing_dataset(seed=0)
    vectorised = time.perf_counter() - start

    rng = np.random.default_rng(0)
    names = [k for k, n in breathing.CLASS_COUNTS.items() for _ in range(max(1, round(n * args.loop_fraction)))]
    start = time.perf_counter()
    rows = [loop_window(rng, name) for name in names]
    loop = (time.perf_counter() - start) * len(frame) / len(rows)

    print(f"rows: {len(frame)}  (loop measured on {len(rows)} rows and extrapolated)")
    print(f"vectorised: {vectorised:.3f} s   per-row loop: {loop:.2f} s   ratio: {loop / vectorised:.0f}x")

    if args.baseline:
        from sklearn.metrics import f1_score
        from sklearn.neural_network import MLPClassifier

        train, test = breathing.train_test_split_frame(frame, test_size=0.2, seed=0)
        X_train, y_train, _ = breathing.split_features_labels(train)
        X_test, y_test, _ = breathing.split_features_labels(test)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter
            model = MLPClassifier((60,), max_iter=200, random_state=0).fit(X_train, y_train)
        score = f1_score(y_test, model.predict(X_test), average="macro")
        print(f"plain MLP (sklearn, 60 units, 200 iterations): test macro-F1 {score:.3f}")

        import keras

        from helpers import env

        classes = sorted(set(y_train))
        to_int = {c: i for i, c in enumerate(classes)}
        env.seed_everything(0)
        net = keras.Sequential([keras.Input((X_train.shape[1],)), keras.layers.Dense(60, activation="relu"),
                                keras.layers.Dropout(0.2), keras.layers.Dense(len(classes), activation="softmax")])
        net.compile("adam", "sparse_categorical_crossentropy")
        net.fit(X_train, np.array([to_int[c] for c in y_train]), epochs=20, batch_size=32, verbose=0)
        predicted = np.asarray(classes)[net.predict(X_test, verbose=0).argmax(axis=1)]
        score = f1_score(y_test, predicted, average="macro")
        print(f"plain MLP (Keras, brief's layout: Dense 60 relu, Dropout 0.2, Adam, 20 epochs, batch 32): "
              f"test macro-F1 {score:.3f}")


if __name__ == "__main__":
    main()
