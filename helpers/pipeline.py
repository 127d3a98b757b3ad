"""The papermill runner: every notebook, in order, with one profile, into one run directory.

    python -m helpers.pipeline --profile demo                 # all notebooks, embedded data
    python -m helpers.pipeline --profile smoke --only 01,02   # some notebooks
    python -m helpers.pipeline --tabular-data my.csv --image-data photos/
    python -m helpers.pipeline --resume 20261121-230000-demo   # finish an interrupted run
    python -m helpers.pipeline --jobs 2                        # independent executions in parallel

    python -m helpers.pipeline report [--publish] [RUN_DIR]    # the results report (helpers.report)

Each execution is recorded in the run's ``manifest.json``; ``--resume`` skips completed ones. A
failing notebook stops the run naming the notebook, the failing cell and the partial output. What a
kernel itself prints (TensorFlow's C++ lines...) goes to ``<run>/logs/<execution>.kernel.log``
(appended on every attempt), so the terminal shows only the runner's progress and errors.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import env, layout, profiles, report, runs
from helpers.profiles import available_notebooks, notebooks_dir

__all__ = ["Execution", "plan", "execute_notebook", "run_pipeline", "main", "NotebookFailed", "available_notebooks"]

# Which notebooks must have finished before another may start (with --jobs 1 all follow the numbering).
DEPENDS_ON: dict[str, tuple[str, ...]] = {
    "02_upsampling": (),
    "04_synthesize_retrain": ("03_gridsearch",),
    "06_gradcam": ("05_banana_transfer",),
    "09_results_report": tuple(n for n in profiles.NOTEBOOKS if n != "09_results_report"),
}


class NotebookFailed(RuntimeError):
    """A notebook execution failed; the message names the notebook, the cell and the partial output."""


@dataclass
class Execution:
    """One papermill execution: a notebook with one parameter set."""

    notebook: str
    parameters: dict[str, Any]
    label: str | None = None
    depends_on: tuple[str, ...] = field(default_factory=tuple)

    @property
    def key(self) -> str:
        return runs.execution_key(self.notebook, self.label)


def parse_only(only: str | Sequence[str] | None, available: Sequence[str]) -> list[str]:
    """``"01,02"`` or ``["01", "03_gridsearch"]`` -> notebook keys; unknown numbers are errors."""
    if only is None or only == "" or only == []:
        return list(available)
    items = only.split(",") if isinstance(only, str) else list(only)
    chosen = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        matches = [n for n in available if n == item or n.split("_", 1)[0] == item.zfill(2)]
        if not matches:
            raise ValueError(f"--only: no notebook {item!r}; expected numbers or names among "
                             f"{', '.join(available) or '(none found in notebooks/)'}")
        chosen.extend(m for m in matches if m not in chosen)
    return [n for n in available if n in chosen]


def parse_set(items: Sequence[str] | None) -> dict[str, Any]:
    """``["seed=7", "epochs=[1, 2]"]`` -> {"seed": 7, "epochs": [1, 2]} (values parsed as JSON when possible)."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        key = key.strip()
        if not key.isidentifier():
            raise ValueError(f"--set: {key!r} is not a parameter name")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def plan(profile: str, only: str | Sequence[str] | None = None, tabular_data: str | None = None,
         image_data: str | None = None, overrides: dict[str, Any] | None = None) -> list[Execution]:
    """The executions of one pipeline run, in order (validates every input before anything is written)."""
    profiles.check_profile(profile)
    available = available_notebooks()
    chosen = parse_only(only, available)
    if tabular_data is not None and not Path(tabular_data).expanduser().is_file():
        raise FileNotFoundError(f"--tabular-data: {Path(tabular_data).expanduser()} does not exist or is not a file "
                                "(expected a CSV)")
    if image_data is not None and not Path(image_data).expanduser().is_dir():
        raise FileNotFoundError(f"--image-data: {Path(image_data).expanduser()} does not exist or is not a folder "
                                "(expected one sub-folder per class)")
    given = {"data_path": tabular_data, "data_dir": image_data}
    given = {k: str(Path(v).expanduser().resolve()) for k, v in given.items() if v is not None}
    overrides = dict(overrides or {})
    executions = []
    used_overrides: set[str] = set()
    for notebook in chosen:
        repeated = {k for entry in profiles.REPEATS.get(notebook, {}).get(profile, []) for k in entry} - {"label"}
        skipped: dict[str, list] = {}
        for params in profiles.parameter_sets(notebook, profile):
            params = dict(params)
            label = params.pop("label", None)
            params.update({k: v for k, v in given.items() if k in params})
            selected = True
            for key, value in overrides.items():
                if key in repeated:  # a parameter the runner repeats over: the override selects executions
                    used_overrides.add(key)
                    wanted = value if isinstance(value, list) else [value]
                    if isinstance(params[key], list):
                        params[key] = [v for v in params[key] if v in wanted]
                        selected = selected and bool(params[key])
                    else:
                        selected = selected and params[key] in wanted
                elif key in params:
                    params[key] = value
                    used_overrides.add(key)
            if not selected:
                skipped.setdefault(notebook, []).append(label)
                continue
            if label:
                params["label"] = label
            deps = tuple(d for d in DEPENDS_ON.get(notebook, ()) if d in chosen)
            executions.append(Execution(notebook, params, label, deps))
        if skipped and not any(e.notebook == notebook for e in executions):
            given = {k: overrides[k] for k in repeated if k in overrides}
            raise ValueError(f"--set {given}: selects none of {notebook}'s executions "
                             f"({', '.join(map(str, skipped[notebook]))})")
    unused = set(overrides) - used_overrides
    if unused:
        raise ValueError(f"--set: no chosen notebook has the parameter(s) {', '.join(sorted(unused))}")
    return executions


def kernel_log_path(run: runs.Run, execution: Execution) -> Path:
    """Where the kernel of ``execution`` writes its own stdout/stderr (see module docstring)."""
    return run.dir("logs") / f"{execution.key}.kernel.log"


def _kernel_manager_logging_to(stream):
    """An nbclient kernel-manager class whose kernel process writes stdout/stderr to ``stream``."""
    from jupyter_client.manager import AsyncKernelManager

    class LoggingKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw):
            kw.setdefault("stdout", stream)
            kw.setdefault("stderr", stream)
            return await super().start_kernel(**kw)

    return LoggingKernelManager


def _failure_message(execution: Execution, output: Path, err: BaseException, kernel_log: Path) -> str:
    """The notebook, the failing cell (its first line, from the partial output), the error, where to look."""
    count = getattr(err, "exec_count", None)
    cell = f", cell [{count}]" if count is not None else ""
    try:
        import nbformat

        cells = enumerate(nbformat.read(str(output), as_version=4).cells)
        i, c = next((i, c) for i, c in cells if c.cell_type == "code"
                    and any(o.get("output_type") == "error" for o in c.get("outputs", [])))
        cell = f", cell #{i} [{c.get('execution_count')}] starting {(c.source.strip().splitlines() or [''])[0][:80]!r}"
    except Exception:  # noqa: BLE001 - no partial output, or no error cell in it: keep the cell number
        pass
    return (f"notebook {execution.key} failed{cell}: {getattr(err, 'ename', type(err).__name__)}: "
            f"{str(getattr(err, 'evalue', err))[:500]}\n  partial output notebook: {output}\n  kernel log: {kernel_log}")


def execute_notebook(execution: Execution, run: runs.Run, progress: bool = True,
                     timeout: int | None = None) -> Path:
    """Execute one notebook with papermill into ``<run>/notebooks/`` and record it in the manifest.

    Raises :class:`NotebookFailed` with the notebook, the failing cell and the partial output path.
    """
    import papermill as pm

    source = notebooks_dir() / f"{execution.notebook}.ipynb"
    if not source.exists():
        raise FileNotFoundError(f"notebook {source} does not exist")
    output = run.dir("notebooks") / f"{execution.key}.ipynb"
    params = {**execution.parameters, "run_dir": str(run.path)}
    if execution.label:
        params["label"] = execution.label
    os.environ.update(env.QUIET_TENSORFLOW_ENV)  # the kernel inherits it: no TF C++ log lines
    started = time.time()
    log_path = kernel_log_path(run, execution)
    run.record_notebook(execution.key, status="running", started=runs.now_iso(), parameters=params,
                        output=str(output.relative_to(run.path)), kernel_log=str(log_path.relative_to(run.path)))
    try:
        with open(log_path, "ab") as kernel_log:  # append: a resumed execution keeps the earlier log
            kernel_log.write(f"--- {runs.now_iso()} {execution.key}\n".encode())
            kernel_log.flush()
            pm.execute_notebook(str(source), str(output), parameters=params, progress_bar=progress,
                                cwd=str(runs.repo_root()), kernel_name="python3", log_output=False,
                                execution_timeout=timeout, kernel_manager_class=_kernel_manager_logging_to(kernel_log))
    except Exception as err:
        run.record_notebook(execution.key, status="failed", finished=runs.now_iso(),
                            seconds=round(time.time() - started, 1), error=f"{type(err).__name__}: {err}"[:2000])
        raise NotebookFailed(_failure_message(execution, output, err, log_path)) from err
    run.record_notebook(execution.key, status="completed", finished=runs.now_iso(),
                        seconds=round(time.time() - started, 1))
    return output


def run_pipeline(executions: Sequence[Execution], run: runs.Run, jobs: int = 1,
                 progress: bool = True, log=print) -> list[Path]:
    """Run ``executions`` (respecting dependencies), skipping those the manifest marks completed."""
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"--jobs must be a positive integer, got {jobs!r}")
    if stale := run.remove_stale_temporaries():  # left by a killed earlier attempt; the artifacts are intact
        log(f"removed {len(stale)} temporary file(s) an interrupted write left behind")
    done_keys = {k for k, v in run.manifest.get("notebooks", {}).items() if v.get("status") == "completed"}
    pending = [e for e in executions if e.key not in done_keys]
    for e in (e for e in executions if e.key in done_keys):
        log(f"= {e.key}: already completed in this run, skipped")
    outputs: list[Path] = []
    if jobs == 1:
        for e in pending:
            log(f"> {e.key}")
            outputs.append(execute_notebook(e, run, progress=progress))
        return outputs

    remaining = Counter(e.notebook for e in pending)  # executions left per notebook (touched by this thread only)
    queue, running, failures = list(pending), {}, []
    bar = env.progress_bar(total=len(pending), desc=f"notebooks (--jobs {jobs})", unit="nb", disable=not progress)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        while queue or running:
            if not failures:  # start what is ready, up to --jobs at a time
                for e in [e for e in queue if not any(remaining[d] for d in e.depends_on)][: jobs - len(running)]:
                    queue.remove(e)
                    running[pool.submit(execute_notebook, e, run, False)] = e
            if not running:
                break
            for future in wait(list(running), return_when=FIRST_COMPLETED)[0]:
                e = running.pop(future)
                try:
                    outputs.append(future.result())
                    remaining[e.notebook] -= 1
                    bar.set_postfix_str(f"done {e.key}")
                except Exception as err:  # noqa: BLE001 - reported below
                    failures.append(str(err))
                bar.update(1)
    bar.close()
    if failures:
        skipped = f"\n  not started because of the failure: {', '.join(e.key for e in queue)}" if queue else ""
        raise NotebookFailed("\n".join(failures) + skipped)
    return outputs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m helpers.pipeline",
                                     description="Execute the course notebooks with papermill into runs/<run_id>/.")
    parser.add_argument("--profile", default="demo", help=f"one of {', '.join(profiles.PROFILES)} (default demo)")
    parser.add_argument("--only", default=None, help="notebook numbers or names, comma separated (e.g. 01,02)")
    parser.add_argument("--tabular-data", default=None, metavar="CSV",
                        help="your CSV (a 'labels' column plus numeric features) for the tabular notebooks")
    parser.add_argument("--image-data", default=None, metavar="DIR",
                        help="your image folder (one sub-folder per class) for the image notebooks")
    parser.add_argument("--run-id", default=None, help="name of the new run folder (default: timestamp-profile)")
    parser.add_argument("--resume", default=None, metavar="RUN_ID",
                        help="continue this run (id or path), skipping completed executions")
    parser.add_argument("--jobs", type=int, default=1, help="independent executions run in parallel (default 1)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a parameter in every chosen notebook that has it (JSON values)")
    parser.add_argument("--list", action="store_true", help="print the planned executions and exit")
    parser.add_argument("--no-progress", action="store_true", help="hide papermill's progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "report":
        return report.main(argv[1:])
    args = build_parser().parse_args(argv)
    os.environ.update(env.QUIET_TENSORFLOW_ENV)
    try:
        if args.run_id and args.resume:
            raise ValueError("--run-id and --resume exclude each other: --resume continues an existing run")
        if args.resume:
            path = runs.resolve_run_path(args.resume)
            if not (path / runs.MANIFEST).exists():
                raise FileNotFoundError(f"--resume: {path} is not a run directory (no {runs.MANIFEST})")
            run = runs.Run(path)
            profile = args.profile if "--profile" in argv else (run.manifest.get("profile") or args.profile)
        else:
            profile = args.profile
        executions = plan(profile, args.only, args.tabular_data, args.image_data, parse_set(args.set))
        if not executions:
            raise ValueError("nothing to run: no notebooks found in notebooks/")
        if args.list:
            for e in executions:
                print(f"{e.key:32s} {json.dumps(e.parameters, default=str)}")
            return 0
        if not args.resume:
            run = runs.create_run(run_id=args.run_id, profile=profile,
                                  parameters={"argv": argv, "profile": profile})
    except (ValueError, FileNotFoundError, FileExistsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"run directory: {run.path}")
    started = time.time()
    try:
        run_pipeline(executions, run, jobs=args.jobs, progress=not args.no_progress)
    except NotebookFailed as err:
        run.finish("failed")
        print(f"\nFAILED: {err}", file=sys.stderr)
        print(f"run directory: {run.path} (resume with --resume {run.run_id})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        run.finish("interrupted")
        print(f"\ninterrupted; resume with: python -m helpers.pipeline --resume {run.run_id}", file=sys.stderr)
        return 130
    run.finish("completed")
    print(f"\ndone in {time.time() - started:.0f} s\nexecuted notebooks: {run.path / 'notebooks'}\n"
          f"artifacts:          {run.path}")
    if (run.path / layout.REPORT_MARKDOWN).exists():
        print(f"report:             {run.path / layout.REPORT_MARKDOWN}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
