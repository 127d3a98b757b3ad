"""The papermill runner: every notebook, in order, with one profile, into one run directory (its command line is
:mod:`helpers.pipeline`)."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers import env, profiles, runs
from helpers.profiles import available_notebooks, notebooks_dir

__all__ = ["Execution", "plan", "execute_notebook", "run_pipeline", "NotebookFailed", "available_notebooks", "DEPENDS_ON",
           "parse_only", "parse_set", "notebooks_dir"]

# Which notebooks must have finished before another may start (with --jobs 1 all follow the numbering).
DEPENDS_ON: dict[str, tuple[str, ...]] = {
    "02_upsampling": (), "04_synthesize_retrain": ("03_gridsearch",), "06_gradcam": ("05_banana_transfer",),
    "09_results_report": tuple(n for n in profiles.NOTEBOOKS if n != "09_results_report")}


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
        """The execution's key in the manifest (see :func:`helpers.runs.execution_key`)."""
        return runs.execution_key(self.notebook, self.label)


def parse_only(only: str | Sequence[str] | None, available: Sequence[str]) -> list[str]:
    """``"01,02"`` or ``["01", "03_gridsearch"]`` -> notebook keys; unknown numbers are errors."""
    if not only:
        return list(available)
    chosen = set()
    for item in filter(None, (i.strip() for i in (only.split(",") if isinstance(only, str) else only))):
        matches = {n for n in available if n == item or n.split("_", 1)[0] == item.zfill(2)}
        if not matches:
            raise ValueError(f"--only: no notebook {item!r}; expected numbers or names among "
                             f"{', '.join(available) or '(none found in notebooks/)'}")
        chosen |= matches
    return [n for n in available if n in chosen]


def parse_set(items: Sequence[str] | None) -> dict[str, Any]:
    """``["seed=7", "epochs=[1, 2]"]`` -> {"seed": 7, "epochs": [1, 2]} (values parsed as JSON when possible)."""
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise ValueError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        if not key.strip().isidentifier():
            raise ValueError(f"--set: {key.strip()!r} is not a parameter name")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def plan(profile: str, only: str | Sequence[str] | None = None, tabular_data: str | None = None,
         image_data: str | None = None, overrides: dict[str, Any] | None = None) -> list[Execution]:
    """The executions of one pipeline run, in order, validating every input before anything is written;
    ``overrides`` (``--set``) replace a parameter, or select executions of a parameter the runner repeats over."""
    profiles.check_profile(profile)
    chosen = parse_only(only, available_notebooks())
    data = {"data_path": ("--tabular-data", tabular_data, Path.is_file, "a file (expected a CSV)"),
            "data_dir": ("--image-data", image_data, Path.is_dir, "a folder (expected one sub-folder per class)")}
    for flag, path, is_ok, what in data.values():
        if path is not None and not is_ok(Path(path).expanduser()):
            raise FileNotFoundError(f"{flag}: {Path(path).expanduser()} does not exist or is not {what}")
    given = {k: str(Path(path).expanduser().resolve()) for k, (_, path, _, _) in data.items() if path is not None}
    overrides = dict(overrides or {})
    executions, used = [], set()
    for notebook in chosen:
        repeated = {k for entry in profiles.REPEATS.get(notebook, {}).get(profile, []) for k in entry} - {"label"}
        deps = tuple(d for d in DEPENDS_ON.get(notebook, ()) if d in chosen)
        skipped = []
        for params in profiles.parameter_sets(notebook, profile):
            label = params.pop("label", None)
            params.update({k: v for k, v in given.items() if k in params})
            selected = True
            for key in overrides.keys() & params.keys():
                used.add(key)
                wanted = overrides[key] if isinstance(overrides[key], list) else [overrides[key]]
                if key not in repeated:
                    params[key] = overrides[key]
                elif isinstance(params[key], list):  # the runner repeats over it: the override selects executions
                    params[key] = [v for v in params[key] if v in wanted]
                    selected = selected and bool(params[key])
                else:
                    selected = selected and params[key] in wanted
            if selected:
                executions.append(Execution(notebook, {**params, "label": label} if label else params, label, deps))
            else:
                skipped.append(label)
        if skipped and not any(e.notebook == notebook for e in executions):
            raise ValueError(f"--set {({k: overrides[k] for k in repeated if k in overrides})}: selects none of "
                             f"{notebook}'s executions ({', '.join(map(str, skipped))})")
    if unused := set(overrides) - used:
        raise ValueError(f"--set: no chosen notebook has the parameter(s) {', '.join(sorted(unused))}")
    return executions


def execute_notebook(execution: Execution, run: runs.Run, progress: bool = True,
                     timeout: int | None = None) -> Path:
    """Execute one notebook with papermill into ``<run>/notebooks/`` (kernel output: ``<run>/logs/<key>.kernel.log``)
    and record it in the manifest. Raises :class:`NotebookFailed` naming the notebook, cell, output and log."""
    import papermill as pm

    source = notebooks_dir() / f"{execution.notebook}.ipynb"
    if not source.exists():
        raise FileNotFoundError(f"notebook {source} does not exist")
    output = run.dir("notebooks") / f"{execution.key}.ipynb"
    log_path = run.dir("logs") / f"{execution.key}.kernel.log"
    params = {**execution.parameters, "run_dir": str(run.path),
              **({"label": execution.label} if execution.label else {})}
    os.environ.update(env.QUIET_TENSORFLOW_ENV)  # the kernel inherits it: no TF C++ log lines
    started = time.time()
    run.record_notebook(execution.key, status="running", started=runs.now_iso(), parameters=params,
                        output=str(output.relative_to(run.path)), kernel_log=str(log_path.relative_to(run.path)))
    try:
        with open(log_path, "ab", buffering=0) as kernel_log:  # unbuffered: the kernel appends to the same file
            kernel_log.write(f"--- {runs.now_iso()} {execution.key}\n".encode())
            pm.execute_notebook(str(source), str(output), parameters=params, progress_bar=progress,
                                cwd=str(runs.repo_root()), kernel_name="python3", log_output=False,
                                execution_timeout=timeout, kernel_manager_class=env.kernel_manager_logging_to(kernel_log))
    except Exception as err:
        run.record_notebook(execution.key, status="failed", finished=runs.now_iso(),
                            seconds=round(time.time() - started, 1), error=f"{type(err).__name__}: {err}"[:2000])
        source = getattr(err, "source", None)  # papermill's error names the failing cell
        cell = (f", cell #{err.cell_index} [{err.exec_count}] starting {(source.strip().splitlines() or [''])[0][:80]!r}"
                if source is not None else "")
        raise NotebookFailed(f"notebook {execution.key} failed{cell}: {getattr(err, 'ename', type(err).__name__)}: "
                             f"{str(getattr(err, 'evalue', err))[:500]}\n  partial output notebook: {output}\n"
                             f"  kernel log: {log_path}") from err
    run.record_notebook(execution.key, status="completed", finished=runs.now_iso(),
                        seconds=round(time.time() - started, 1))
    return output


def run_pipeline(executions: Sequence[Execution], run: runs.Run, jobs: int = 1,
                 progress: bool = True, log=print) -> list[Path]:
    """Run ``executions`` (``jobs`` at a time, respecting dependencies), skipping those the run's manifest marks
    completed (that is how ``--resume`` finishes an interrupted run)."""
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"--jobs must be a positive integer, got {jobs!r}")
    if stale := run.remove_stale_temporaries():  # left by a killed earlier attempt; the artifacts are intact
        log(f"removed {len(stale)} temporary file(s) an interrupted write left behind")
    done = {k for k, v in run.manifest.get("notebooks", {}).items() if v.get("status") == "completed"}
    for key in [e.key for e in executions if e.key in done]:
        log(f"= {key}: already completed in this run, skipped")
    queue = [e for e in executions if e.key not in done]
    outputs: list[Path] = []
    if jobs == 1:
        for e in queue:
            log(f"> {e.key}")
            outputs.append(execute_notebook(e, run, progress=progress))
        return outputs
    remaining = Counter(e.notebook for e in queue)  # executions left per notebook
    running, failures = {}, []
    with ThreadPoolExecutor(max_workers=jobs) as pool, env.progress_bar(
            total=len(queue), desc=f"notebooks (--jobs {jobs})", unit="nb", disable=not progress) as bar:
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
    if failures:
        skipped = f"\n  not started because of the failure: {', '.join(e.key for e in queue)}" if queue else ""
        raise NotebookFailed("\n".join(failures) + skipped)
    return outputs
