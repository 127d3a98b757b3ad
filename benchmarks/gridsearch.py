"""Naive grid search (scikeras in a GridSearchCV-style loop) vs the fast batched engine, in one run.

    python benchmarks/gridsearch.py --quick            # same data, grid subset and folds; < 5 min
    python benchmarks/gridsearch.py --full --jobs 2    # our engine on the brief's whole plan

``--quick`` trains one label on one variant twice the naive way (seeds A and B: how much two naive
runs disagree) and once our way (seed A), all on the same stratified folds, and prints the seconds of
each, the ratio, and the agreement of the primary score per combination:
|naive A - ours| against |naive A - naive B|.

``--full`` runs our engine on every label x variant of the embedded 25,726-row data with the brief's
48-combination grid, 3 folds and the refit of each best model, prints the wall time of every
(label, variant) as it finishes (with the extrapolated total) and where the time went.
Timings are wall-clock seconds on whatever else the machine is doing: run it on an idle machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

QUICK_GRID = {"epochs": [15, 20], "batch_size": [32, 64], "model__neurons": [30, 60],
              "model__dropout": [0.2], "model__kernel_initializer": ["glorot_uniform"]}


def _set_threads(threads: int | None) -> None:
    if threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(int(threads))


def _data(fraction: float, seed: int = 0):
    from helpers.data.breathing import make_breathing_dataset

    frame = make_breathing_dataset(fraction=fraction, seed=seed)
    X = frame.drop(columns="labels").to_numpy(np.float32)
    return X, frame["labels"].to_numpy()


def quick(args) -> None:
    from helpers.training.grid import make_cv, ovr_target
    from helpers.training.search import run_search

    _set_threads(args.threads)
    X, labels = _data(args.fraction)
    y = ovr_target(labels, args.label)
    cv = make_cv(3, 0)
    grid = QUICK_GRID
    n = int(np.prod([len(v) for v in grid.values()]))
    print(f"data: {len(y)} rows x {X.shape[1]} features, label {args.label!r} ({y.sum()} positive), "
          f"variant {args.variant!r}; grid: {n} combinations x 3 folds + refit")
    common = dict(param_grid=grid, cv=cv, variant=args.variant, delta=0.01, progress=False)
    times, results = {}, {}
    for name, engine, seed in (("ours A", "fast", 0), ("naive A", "sklearn", 0), ("naive B", "sklearn", 1),
                               ("ours B", "fast", 1)):
        start = time.perf_counter()
        results[name] = run_search(X, y, engine=engine, seed=seed, **common)
        times[name] = time.perf_counter() - start
        print(f"{name:8s} engine={engine:7s} seed={seed}: {times[name]:7.1f} s   best {results[name].best_params_}",
              flush=True)
    print(f"\nspeed-up (naive A / ours A, same grid, folds, data, refit included): "
          f"{times['naive A'] / times['ours A']:.1f}x")
    for metric in ("average_precision", "f1", "accuracy"):
        key = f"mean_test_{metric}"
        a, b = np.asarray(results["naive A"].cv_results_[key]), np.asarray(results["naive B"].cv_results_[key])
        o, ob = np.asarray(results["ours A"].cv_results_[key]), np.asarray(results["ours B"].cv_results_[key])
        print(f"{metric:18s} per combination (mean over folds): |naive A - ours A| mean {np.mean(np.abs(a - o)):.4f} "
              f"max {np.max(np.abs(a - o)):.4f};  |naive A - naive B| mean {np.mean(np.abs(a - b)):.4f} "
              f"max {np.max(np.abs(a - b)):.4f};  |ours A - ours B| mean {np.mean(np.abs(o - ob)):.4f}")
    for name in ("naive A", "ours A"):
        r = results[name]
        print(f"{name}: best CV average precision {r.best_score_:.4f}; mean over the grid "
              f"{np.mean(r.cv_results_['mean_test_average_precision']):.4f}")


def _one_pair(label: str, variant: str, fraction: float, threads: int | None, seed: int) -> dict:
    """One (label, variant) search of the full plan; returns its timings (runs in a worker process)."""
    _set_threads(threads)
    from helpers.training.grid import brief_param_grid, make_cv, ovr_target
    from helpers.training.search import run_search

    X, labels = _data(fraction)
    y = ovr_target(labels, label)
    start, cpu = time.perf_counter(), time.process_time()
    result = run_search(X, y, param_grid=brief_param_grid(), cv=make_cv(3, seed), variant=variant,
                        delta=0.01, engine="fast", seed=seed, progress=False)
    info = dict(result.info.get("fast_engine", result.info))
    info.update(label=label, variant=variant, seconds=time.perf_counter() - start, rows=len(y),
                cpu_s=time.process_time() - cpu,
                best=result.best_params_, best_score=result.best_score_)
    return info


def full(args) -> None:
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    from helpers.data.breathing import CLASS_COUNTS
    from helpers.data.resampling import VARIANTS, augmentation_factor

    labels = args.labels.split(",") if args.labels else list(CLASS_COUNTS)
    pairs = [(lab, var) for var in VARIANTS for lab in labels]
    pairs.sort(key=lambda p: -augmentation_factor(p[1]))  # longest first (better packing)
    weight = {p: augmentation_factor(p[1]) for p in pairs}
    total_weight = sum(weight.values())
    threads = args.threads or (1 if args.jobs > 1 else None)
    print(f"full plan: {len(labels)} labels x {len(VARIANTS)} variants x 48 combinations x 3 folds + refits; "
          f"data fraction {args.fraction}; {args.jobs} worker process(es), TF threads {threads or 'default'}",
          flush=True)
    start = time.perf_counter()
    done_weight, infos = 0, []
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(_one_pair, lab, var, args.fraction, threads, args.seed): (lab, var)
                   for lab, var in pairs}
        for future in as_completed(futures):
            info = future.result()
            infos.append(info)
            done_weight += weight[futures[future]]
            elapsed = time.perf_counter() - start
            print(f"[{elapsed:7.1f} s] {info['variant']:8s} {info['label']:10s} {info['seconds']:6.1f} s "
                  f"(cpu {info['cpu_s']:.1f}; train {info['train_s']:.1f}, score {info['score_s']:.1f}, refit {info['refit_s']:.1f}) "
                  f"best AP {info['best_score']:.3f}; extrapolated total "
                  f"{elapsed * total_weight / done_weight / 60:.1f} min", flush=True)
    wall = time.perf_counter() - start
    print(f"\nFULL PLAN WALL TIME: {wall:.1f} s = {wall / 60:.1f} min ({len(pairs)} label x variant searches, "
          f"{len(pairs) * 48 * 3} CV fits + {len(pairs)} refits)")
    cpu = sum(i["cpu_s"] for i in infos)
    print(f"CPU seconds of the searches: {cpu:.1f}; on {args.jobs} idle core(s) that is about "
          f"{cpu / args.jobs / 60:.1f} min of wall time (the wall time above includes waiting for a busy CPU)")
    worker = sum(i["seconds"] for i in infos)
    parts = {k: sum(i[k] for i in infos) for k in ("train_s", "score_s", "refit_s")}
    print("where the time goes (sum over workers, seconds):")
    for k, v in parts.items():
        print(f"  {k:8s} {v:8.1f}  ({100 * v / worker:4.1f} %)")
    other = worker - sum(parts.values())
    print(f"  other    {other:8.1f}  ({100 * other / worker:4.1f} %)  folds, augmentation, data, estimator build")
    print(f"  optimizer steps per sub-network, all groups: {sum(i['steps'] for i in infos)}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="naive vs ours on a grid subset (default)")
    mode.add_argument("--full", action="store_true", help="ours on the whole plan")
    parser.add_argument("--fraction", type=float, default=None,
                        help="share of the embedded data (quick: 0.1, full: 1.0)")
    parser.add_argument("--label", default="deep", help="quick: the one-vs-rest label")
    parser.add_argument("--variant", default="original", help="quick: the augmentation variant")
    parser.add_argument("--labels", default=None, help="full: comma-separated labels (default all)")
    parser.add_argument("--jobs", type=int, default=1, help="full: worker processes")
    parser.add_argument("--threads", type=int, default=None, help="TensorFlow threads per process")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error(f"--jobs must be a positive integer, got {args.jobs}")
    if args.full:
        args.fraction = args.fraction or 1.0
        full(args)
    else:
        args.fraction = args.fraction or 0.1
        quick(args)


if __name__ == "__main__":
    main()
