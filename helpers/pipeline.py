"""The command line: the papermill runner (:mod:`helpers.runner`), the results report and batch grading.

    python -m helpers.pipeline --profile demo [--only 01,02] [--jobs 2] [--set seed=7] [--resume RUN_ID]
    python -m helpers.pipeline report [--publish] [RUN_DIR]    # the results report (helpers.report)
    python -m helpers.pipeline batch SUBMISSIONS_DIR --notebook 05 [...]  # grade students' notebooks (helpers.batch)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

from helpers import env, layout, profiles, report, runs
from helpers.batch import cli as batch_cli
from helpers.runner import (
    DEPENDS_ON,
    Execution,
    NotebookFailed,
    available_notebooks,
    execute_notebook,
    notebooks_dir,
    parse_only,
    parse_set,
    plan,
    run_pipeline,
)

__all__ = ["main", "Execution", "plan", "execute_notebook", "run_pipeline", "NotebookFailed", "available_notebooks",
           "DEPENDS_ON", "parse_only", "parse_set", "notebooks_dir"]


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (see the module docstring); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "report":
        return report.main(argv[1:])
    if argv and argv[0] == "batch":
        return batch_cli.main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m helpers.pipeline",
                                     description="Execute the course notebooks with papermill into runs/<run_id>/.")
    add = parser.add_argument
    add("--profile", default="demo", help=f"one of {', '.join(profiles.PROFILES)} (default demo)")
    add("--only", help="notebook numbers or names, comma separated (e.g. 01,02)")
    add("--tabular-data", metavar="CSV",
        help="your CSV (a 'labels' column plus numeric features) for the tabular notebooks")
    add("--image-data", metavar="DIR", help="your image folder (one sub-folder per class) for the image notebooks")
    add("--run-id", help="name of the new run folder (default: timestamp-profile)")
    add("--resume", metavar="RUN_ID", help="continue this run (id or path), skipping completed executions")
    add("--jobs", type=int, default=1, help="independent executions run in parallel (default 1)")
    add("--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a parameter in every chosen notebook that has it (JSON values)")
    add("--list", action="store_true", help="print the planned executions and exit")
    add("--no-progress", action="store_true", help="hide papermill's progress bars")
    args = parser.parse_args(argv)
    os.environ.update(env.QUIET_TENSORFLOW_ENV)
    try:
        if args.run_id and args.resume:
            raise ValueError("--run-id and --resume exclude each other: --resume continues an existing run")
        profile = args.profile
        if args.resume:
            run = runs.Run(runs.resolve_run_path(args.resume))  # raises if it is not a run directory
            if "--profile" not in argv:
                profile = run.manifest.get("profile") or profile
        executions = plan(profile, args.only, args.tabular_data, args.image_data, parse_set(args.set))
        if not executions:
            raise ValueError("nothing to run: no notebooks found in notebooks/")
        if args.list:
            print("\n".join(f"{e.key:32s} {json.dumps(e.parameters, default=str)}" for e in executions))
            return 0
        if not args.resume:
            run = runs.create_run(run_id=args.run_id, profile=profile, parameters={"argv": argv, "profile": profile})
    except (ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"run directory: {run.path}")
    started = time.time()
    try:
        run_pipeline(executions, run, jobs=args.jobs, progress=not args.no_progress)
    except NotebookFailed as err:
        run.finish("failed")
        print(f"\nFAILED: {err}\nrun directory: {run.path} (resume with --resume {run.run_id})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        run.finish("interrupted")
        print(f"\ninterrupted; resume with: python -m helpers.pipeline --resume {run.run_id}", file=sys.stderr)
        return 130
    run.finish("completed")
    report_md = run.path / layout.REPORT_MARKDOWN
    print(f"\ndone in {time.time() - started:.0f} s\nexecuted notebooks: {run.path / 'notebooks'}\n"
          f"artifacts:          {run.path}" + (f"\nreport:             {report_md}" if report_md.exists() else ""))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
