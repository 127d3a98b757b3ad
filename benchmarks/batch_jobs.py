"""Batch grading with ``--jobs 1`` vs ``--jobs 2``, measured in one run on the same constructed class folder.

    python benchmarks/batch_jobs.py [--notebook 01] [--jobs 2] [--timeout 30] [--memory 2048] [--kinds good,error]

The folder is :func:`helpers.batch.examples.make_example_submissions` of the lesson (smoke profile): a correct
copy, a bug in a middle cell, a sleeper (stopped by --timeout), a memory hog (stopped by --memory), a notebook that
writes into the repository (where Landlock confines writes), a broken file, a notebook without its parameters
cell, another lesson's notebook and a duplicate id; with the reference, 6 kernels run. It prints each batch's
wall time, the ratio, every submission's status and seconds in both batches, and checks that the statuses agree.
Wall-clock seconds on whatever else the machine is doing: run it on an idle machine.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    from helpers.batch import examples, grading, sandbox

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", default="01")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=int, default=30)
    parser.add_argument("--memory", type=int, default=2048)
    parser.add_argument("--kinds", help="comma separated kinds of submission (default: all; e.g. good,error,memory "
                                        "to leave out the sleeper, which waits without using a core)")
    args = parser.parse_args()
    notebook = grading.resolve_notebook(args.notebook)
    kinds = args.kinds.split(",") if args.kinds else [
        k for k in examples.KINDS if k != "writes_outside" or sandbox.landlock_abi()]
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as tmp:
        examples.make_example_submissions(Path(tmp) / "class", notebook, kinds)
        seconds, statuses = {}, {}
        for jobs in (1, args.jobs):
            start = time.perf_counter()
            folder = grading.run_batch(Path(tmp) / "class", notebook, jobs=jobs, timeout_s=args.timeout,
                                       memory_mb=args.memory, out_dir=Path(tmp) / "batches", progress=False,
                                       log=lambda *_: None)
            seconds[jobs] = time.perf_counter() - start
            with open(folder / "grades.csv", newline="") as f:
                statuses[jobs] = {(r["student_id"], r["submission"]): (r["status"], r["seconds"])
                                  for r in csv.DictReader(f)}
    print(f"batch of {notebook} (smoke): {len(statuses[1])} rows, timeout {args.timeout} s, memory {args.memory} MiB, "
          f"{os.cpu_count()} CPU cores")
    print(f"  {'student':8s} {'submission':32s} {'status':20s} {'--jobs 1 s':>10s} {f'--jobs {args.jobs} s':>10s}")
    for key, (status, s1) in statuses[1].items():
        print(f"  {key[0]:8s} {key[1]:32s} {status:20s} {s1 or '-':>10} {statuses[args.jobs][key][1] or '-':>10}")
    print(f"  wall time: --jobs 1 {seconds[1]:.1f} s, --jobs {args.jobs} {seconds[args.jobs]:.1f} s, "
          f"speed-up {seconds[1] / seconds[args.jobs]:.2f}x")
    same = {k: v[0] for k, v in statuses[1].items()} == {k: v[0] for k, v in statuses[args.jobs].items()}
    print(f"  same statuses in both batches: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
