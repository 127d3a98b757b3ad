"""``python -m helpers.pipeline batch ...``: the command line of :func:`helpers.batch.grading.run_batch`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from helpers import env, profiles
from helpers.batch.grading import REFERENCE_KEY, run_batch
from helpers.runner import parse_set

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run one batch; 0 when the batch and its reference ran (students' failures are rows, not errors), 1 when
    the reference itself did not complete, 2 for bad arguments."""
    parser = argparse.ArgumentParser(
        prog="python -m helpers.pipeline batch",
        description="Execute every student notebook (*.ipynb) under SUBMISSIONS_DIR as one lesson, headless, each "
                    "in its own process and folder, and write batch/<batch_id>/grades.csv and summary.md.")
    add = parser.add_argument
    add("submissions", nargs="?", metavar="SUBMISSIONS_DIR",
        help="one notebook per student, or one sub-folder per student (the id is the file or folder name)")
    add("--notebook", help="the lesson: a number or name (e.g. 05 or 05_banana_transfer)")
    add("--profile", default="smoke", help=f"parameters injected into each notebook: {', '.join(profiles.PROFILES)} "
                                           "(default smoke)")
    add("--jobs", type=int, default=1, help="submissions executed at the same time (default 1)")
    add("--timeout", type=int, default=1800, help="wall-clock limit per submission in seconds (default 1800)")
    add("--memory", type=int, default=4096, help="memory limit per submission in MiB (default 4096)")
    add("--set", action="append", default=[], metavar="KEY=VALUE", help="override a parameter (JSON values)")
    add("--check", action="store_true",
        help="compare the outputs of the cells the reference marks '# NBVAL_CHECK_OUTPUT' (nbval's lax mode)")
    add("--scheduler", metavar="ADDRESS", help="a Dask scheduler (tcp://host:8786) whose workers share this "
                                               "folder; --jobs is then ignored")
    add("--out", metavar="DIR", help="where batches go (default: batch/ beside runs/)")
    add("--batch-id", help="name of the new batch folder (default: timestamp)")
    add("--resume", metavar="BATCH_ID", help="finish this batch: completed submissions are kept, the rest rerun")
    add("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    os.environ.update(env.QUIET_TENSORFLOW_ENV)
    try:
        if args.resume and (args.submissions or args.notebook):
            raise ValueError("--resume takes its folder and lesson from the batch; give neither SUBMISSIONS_DIR "
                             "nor --notebook")
        if not args.resume and not (args.submissions and args.notebook):
            raise ValueError("give SUBMISSIONS_DIR and --notebook (or --resume BATCH_ID)")
        folder = run_batch(args.submissions, args.notebook, profile=args.profile, jobs=args.jobs,
                           timeout_s=args.timeout, memory_mb=args.memory, overrides=parse_set(args.set),
                           check=args.check, scheduler=args.scheduler, out_dir=args.out, batch_id=args.batch_id,
                           resume=args.resume, progress=not args.no_progress)
    except (ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"\ngrades:  {folder / 'grades.csv'}\nsummary: {folder / 'summary.md'}")
    reference = (folder / "submissions" / REFERENCE_KEY / "result.json")
    if '"status": "completed"' not in (reference.read_text() if reference.exists() else ""):
        print(f"the reference notebook did not complete: see {reference.parent}", file=sys.stderr)
        return 1
    return 0
