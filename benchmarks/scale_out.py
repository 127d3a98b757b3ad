"""Scale-out speed-ups, measured in one run: the notebook runner with ``--jobs 1`` vs ``--jobs N``, and
notebook 03's sklearn-engine grid search on one process vs local worker processes vs a Dask
LocalCluster.

    python benchmarks/scale_out.py                       # both parts: demo profile, then grid search
    python benchmarks/scale_out.py --part grid           # grid search only (a few minutes)
    python benchmarks/scale_out.py --part runner --profile smoke   # quick check of the runner part

Runner part: executes the whole profile twice into two new run folders (``bench-jobs1-*`` and
``bench-jobsN-*`` under ``runs/``), prints the wall time of each, the ratio, and the per-notebook
seconds from both manifests, and checks that both runs completed every execution.

Grid part: one one-vs-rest label of the embedded data, the grid below, 3 folds, the ``up`` variant;
backends ``local`` with 1 process (TensorFlow's default threads), ``local`` with N worker processes
(1 TensorFlow thread each) and ``dask`` (a LocalCluster of N single-threaded workers started by the
search). It prints seconds, ratios to the 1-process search, and whether the cross-validation results of
the N-worker backends are identical (they must be: each fit seeds itself).

Wall-clock seconds on whatever else the machine is doing: run it on an idle machine.
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

GRID = {"epochs": [15], "batch_size": [32, 64], "model__neurons": [30, 60], "model__dropout": [0.2]}


def runner(profile: str, jobs: int, only: str | None) -> dict:
    """Run the whole profile with --jobs 1 and --jobs N; return the wall times."""
    from helpers import pipeline, runs

    stamp = time.strftime("%Y%m%d-%H%M%S")
    executions = pipeline.plan(profile, only=only)
    print(f"runner: profile {profile!r}, {len(executions)} executions, --jobs 1 vs --jobs {jobs}", flush=True)
    seconds, manifests = {}, {}
    for n in (1, jobs):
        run = runs.create_run(run_id=f"bench-jobs{n}-{profile}-{stamp}", profile=profile)
        start = time.perf_counter()
        pipeline.run_pipeline(executions, run, jobs=n, progress=False, log=lambda *_: None)
        seconds[n] = time.perf_counter() - start
        run.finish("completed")
        manifests[n] = runs.Run(run.path).manifest["notebooks"]
        statuses = {v.get("status") for v in manifests[n].values()}
        assert statuses == {"completed"} and len(manifests[n]) == len(executions), statuses
        print(f"  --jobs {n}: {seconds[n]:8.1f} s  ({run.path})", flush=True)
    print(f"  speed-up of --jobs {jobs}: {seconds[1] / seconds[jobs]:.2f}x")
    print(f"  {'execution':42s} {'--jobs 1 s':>10s} {f'--jobs {jobs} s':>10s}")
    for key in manifests[1]:
        print(f"  {key:42s} {manifests[1][key].get('seconds', float('nan')):10.1f} "
              f"{manifests[jobs].get(key, {}).get('seconds', float('nan')):10.1f}")
    return {"jobs1_s": seconds[1], f"jobs{jobs}_s": seconds[jobs], "speedup": seconds[1] / seconds[jobs]}


def _scores(result) -> dict:
    return {k: np.asarray(v, dtype=float) for k, v in result.cv_results_.items()
            if k.startswith(("split", "mean_test", "rank_test"))}


def grid(label: str, fraction: float, workers: int, seed: int = 0) -> dict:
    """The same sklearn-engine search on three backends; return the seconds of each."""
    from helpers.data.breathing import make_breathing_dataset
    from helpers.training.grid import n_combinations, ovr_target
    from helpers.training.search import run_search

    frame = make_breathing_dataset(fraction=fraction, seed=seed)
    X = frame.drop(columns="labels").to_numpy(np.float32)
    y = ovr_target(frame["labels"].to_numpy(), label)
    n = n_combinations(GRID)
    print(f"grid search: {len(y)} rows, label {label!r} ({int(y.sum())} positive), variant 'up', "
          f"{n} combinations x 3 folds = {3 * n} fits + refit, sklearn engine", flush=True)
    common = dict(param_grid=GRID, cv=3, variant="up", seed=seed, progress=False, engine="sklearn")
    seconds, results = {}, {}
    for name, kw in [("local, 1 process", {"backend": "local", "n_jobs": 1}),
                     (f"local, {workers} processes", {"backend": "local", "n_jobs": workers}),
                     (f"dask LocalCluster, {workers} workers", {"backend": "dask", "n_jobs": workers})]:
        start = time.perf_counter()
        results[name] = run_search(X, y, **common, **kw)
        seconds[name] = time.perf_counter() - start
        print(f"  {name:32s} {seconds[name]:7.1f} s  (fits {results[name].n_fits_run_}, "
              f"best {results[name].best_params_})", flush=True)
    base = seconds["local, 1 process"]
    for name, s in seconds.items():
        print(f"  speed-up of {name:32s} vs 1 process: {base / s:.2f}x")
    names = list(results)
    local_n, dask_n = _scores(results[names[1]]), _scores(results[names[2]])
    same = local_n.keys() == dask_n.keys() and all(np.array_equal(local_n[k], dask_n[k]) for k in local_n)
    print(f"  dask vs local {workers} processes: Dask/local time ratio {seconds[names[2]] / seconds[names[1]]:.2f}; "
          f"cv results identical: {same}")
    one = _scores(results[names[0]])
    diff = max(float(np.nanmax(np.abs(one[k] - local_n[k]))) for k in one if k.startswith("split"))
    print(f"  1 process (default TF threads) vs {workers} processes (1 thread each): "
          f"max |difference| of a fold score {diff:.4f}")
    return {"seconds": seconds, "identical": same}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["all", "runner", "grid"], default="all")
    parser.add_argument("--profile", default="demo", help="runner part: profile to run twice (default demo)")
    parser.add_argument("--only", default=None, help="runner part: notebooks to run (default all)")
    parser.add_argument("--jobs", type=int, default=2, help="parallel executions / workers (default 2)")
    parser.add_argument("--label", default="deep", help="grid part: one-vs-rest label (default deep)")
    parser.add_argument("--fraction", type=float, default=0.1, help="grid part: fraction of the embedded data")
    args = parser.parse_args(argv)
    if args.jobs < 2:
        parser.error(f"--jobs must be at least 2 to compare with 1; got {args.jobs}")
    started = time.perf_counter()
    if args.part in ("all", "runner"):
        runner(args.profile, args.jobs, args.only)
    if args.part in ("all", "grid"):
        grid(args.label, args.fraction, args.jobs)
    print(f"total {time.perf_counter() - started:.0f} s; cores {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
