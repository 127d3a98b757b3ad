"""One batch: the reference and every submission of one lesson, executed headless under limits, graded into
``<out>/<batch_id>/``::

    batch.json                      what was asked (notebook, profile, parameters, limits)
    prerequisites/                  a run of the notebooks the lesson reads (04: 03; 06: 05), copied for each
    submissions/<key>/              one per submission (and ``_reference``): work/ (a copy of the student's
                                    folder, the kernel's working directory), run/, home/, tmp/, data/,
                                    executed.ipynb, kernel.log, worker.log, result.json
    grades.csv  summary.md
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from helpers import env, profiles, runner, runs
from helpers.batch import grades, numbers, sandbox
from helpers.batch.checks import checked_against, sanitize_patterns
from helpers.batch.submissions import NO_SUBMISSIONS, READY, Submission, find_submissions, inspect

__all__ = ["run_batch", "resolve_notebook", "prerequisites", "batch_root", "REFERENCE_KEY"]

REFERENCE_KEY = "_reference"
RESULT = "result.json"


def batch_root() -> Path:
    """Where batches go by default: ``batch/`` beside the runs folder (``<repo>/batch``)."""
    return runs.runs_root().parent / "batch"


def resolve_notebook(notebook: str) -> str:
    """``"05"`` or ``"05_banana_transfer"`` -> the lesson's key; anything else is a clear error."""
    try:
        chosen = runner.parse_only(notebook, runner.available_notebooks())
    except ValueError as err:
        raise ValueError(str(err).replace("--only:", "--notebook:", 1)) from None
    if len(chosen) != 1:
        raise ValueError(f"--notebook: give one lesson, got {notebook!r} ({', '.join(chosen)})")
    return chosen[0]


def prerequisites(notebook: str) -> list[str]:
    """The notebooks whose artifacts ``notebook`` reads, transitively, in numbering order."""
    found, todo = set(), list(runner.DEPENDS_ON.get(notebook, ()))
    while todo:
        n = todo.pop()
        if n not in found and n in runner.available_notebooks():
            found.add(n)
            todo.extend(runner.DEPENDS_ON.get(n, ()))
    return [n for n in profiles.NOTEBOOKS if n in found]


def _parameters(notebook: str, profile: str, overrides: dict) -> dict:
    params = profiles.resolve(notebook, profile, **overrides)  # an unknown name is a ValueError naming it
    params.pop("label", None)  # run alone, a repeating notebook (03's variants, 05's backbones) does them all
    return params


def _prepare(submission: Submission, folder: Path, base_run: Path | None, params: dict, limits: dict,
             threads: int | None) -> dict:
    """A fresh folder for one execution (an earlier, unfinished attempt is removed) and its worker spec; its kernel
    gets ``threads`` TensorFlow / OpenMP threads (the cores shared among the batch's parallel jobs)."""
    if folder.exists():
        shutil.rmtree(folder)
    work = folder / "work"
    if submission.folder is not None:
        shutil.copytree(submission.folder, work, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        notebook = work / submission.path.relative_to(submission.folder)
    else:
        work.mkdir(parents=True)
        notebook = work / submission.path.name
        shutil.copy2(submission.path, notebook)
    for sub in ("home", "tmp", "data"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    if base_run is not None:
        shutil.copytree(base_run, folder / "run")
    keras = sandbox.keras_home()
    keras.mkdir(parents=True, exist_ok=True)
    home = folder / "home"
    return {"key": submission.key, "folder": str(folder), "notebook": str(notebook), "work_dir": str(notebook.parent),
            "output": str(folder / "executed.ipynb"), "kernel_log": str(folder / "kernel.log"),
            "parameters": {**params, "run_dir": str(folder / "run")},
            "writable": [str(folder), str(keras), "/dev"], **limits,
            "env": {"HOME": str(home), "TMPDIR": str(folder / "tmp"), "MPLCONFIGDIR": str(home / ".matplotlib"),
                    "IPYTHONDIR": str(home / ".ipython"), "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
                    "KERAS_HOME": str(keras), "DL_RUNS_DIR": str(folder), "DL_DATA_DIR": str(folder / "data"),
                    "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg", **({} if threads is None else {
                        "TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": str(threads),
                        "OMP_NUM_THREADS": str(threads)})}}


def _row(submission: Submission, result: dict) -> dict:
    return {"student_id": submission.student_id, "submission": submission.relative, "status": result["status"],
            "detail": result.get("detail", ""), "cell": result.get("cell", ""), "seconds": result.get("seconds", ""),
            "peak_memory_mb": result.get("peak_memory_mb", ""), "numbers": result.get("numbers") or {}}


def _executor(jobs: int, scheduler: str | None):
    """``submit(fn, arg) -> future`` and a closer: threads here (each starts its own worker process), or a Dask
    cluster (its workers must see the batch folder at the same path)."""
    if scheduler:
        from dask.distributed import Client

        client = Client(scheduler)
        return (lambda fn, arg: client.submit(fn, arg, pure=False)), client.close
    pool = ThreadPoolExecutor(max_workers=jobs)
    return pool.submit, pool.shutdown


def _wait(futures):
    if futures and type(next(iter(futures))).__module__.startswith("distributed"):
        from dask.distributed import wait as dask_wait

        return dask_wait(list(futures), return_when="FIRST_COMPLETED").done
    return wait(list(futures), return_when=FIRST_COMPLETED)[0]


def run_batch(submissions_dir: str | Path, notebook: str, profile: str = "smoke", jobs: int = 1,
              timeout_s: int = 1800, memory_mb: int = 4096, overrides: dict[str, Any] | None = None,
              check: bool = False, scheduler: str | None = None, out_dir: str | Path | None = None,
              batch_id: str | None = None, resume: str | Path | None = None, progress: bool = True,
              log: Callable[[str], None] = print) -> Path:
    """Execute every notebook under ``submissions_dir`` as lesson ``notebook`` (see the module docstring) and
    return the batch folder. ``resume``: a batch id or folder; its completed submissions are kept, the rest rerun.
    Raises ``ValueError``/``FileNotFoundError``/``FileExistsError`` for bad arguments, before anything runs."""
    root = Path(out_dir) if out_dir else batch_root()
    if resume:
        folder = Path(resume) if Path(resume).is_dir() else root / str(resume)
        info = runs.read_json(folder / "batch.json")  # names the file if it is missing
        notebook, profile, overrides = info["notebook"], info["profile"], info["overrides"]
        timeout_s, memory_mb, check = info["timeout_s"], info["memory_mb"], info["check"]
        submissions_dir = info["submissions_dir"]
    notebook = resolve_notebook(notebook)
    profiles.check_profile(profile)
    for name, value in (("--jobs", jobs), ("--timeout", timeout_s), ("--memory", memory_mb)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    overrides = dict(overrides or {})
    params = _parameters(notebook, profile, overrides)
    found = [inspect(s, notebook) for s in find_submissions(submissions_dir)]
    if not resume:
        batch_id = runs.validate_run_id(batch_id) if batch_id else runs.new_run_id(f"{notebook[:2]}-{profile}", root)
        folder = root / batch_id
        try:
            folder.mkdir(parents=True)
        except FileExistsError:
            raise FileExistsError(f"batch folder {folder} already exists: pass --resume {batch_id} to finish it, "
                                  "or choose another --batch-id") from None
        info = {"batch_id": batch_id, "notebook": notebook, "profile": profile, "overrides": overrides,
                "parameters": params, "timeout_s": timeout_s, "memory_mb": memory_mb, "check": check,
                "submissions_dir": str(Path(submissions_dir).expanduser().resolve()), "created": runs.now_iso(),
                "prerequisites": prerequisites(notebook), "write_protection": sandbox.write_protection()}
        runs.write_json(folder / "batch.json", info)
    log(f"batch folder: {folder}\nwrite protection: {info['write_protection']}")

    base_run = None
    if info["prerequisites"]:
        base = folder / "prerequisites"
        run = runs.Run(base) if (base / runs.MANIFEST).exists() else runs.create_run(
            "prerequisites", profile=profile, root=folder)
        usable = {k: v for k, v in overrides.items()
                  if any(k in profiles.defaults(n, profile) for n in info["prerequisites"])}
        log(f"prerequisites ({', '.join(info['prerequisites'])}), once for all submissions ...")
        runner.run_pipeline(runner.plan(profile, info["prerequisites"], overrides=usable), run, jobs=jobs,
                              progress=False, log=lambda *_: None)
        run.finish("completed")
        base_run = base

    reference = Submission(grades.REFERENCE, profiles.notebooks_dir() / f"{notebook}.ipynb", None, REFERENCE_KEY)
    limits = {"timeout_s": timeout_s, "memory_mb": memory_mb}
    results: dict[str, dict] = {}
    todo = []
    for s in [reference, *found]:
        where = folder / "submissions" / s.key
        if s.status != READY:
            results[s.key] = {"status": s.status, "detail": s.detail}
            continue
        done = where / RESULT
        if done.exists() and json.loads(done.read_text()).get("status") == sandbox.COMPLETED:
            results[s.key] = json.loads(done.read_text())
            log(f"= {s.student_id}: completed in an earlier attempt, kept")
            continue
        threads = None if scheduler or jobs == 1 else max(1, (os.cpu_count() or 1) // jobs)
        todo.append((s, _prepare(s, where, base_run, params, limits, threads)))

    submit, close = _executor(jobs, scheduler)
    by_key = {s.key: s for s, _ in todo}
    try:
        with env.progress_bar(total=len(todo), desc=f"{notebook} x {len(todo)}", unit="nb",
                              disable=not progress) as bar:
            running = {submit(sandbox.grade_one, spec): spec for _, spec in todo}
            while running:
                for future in _wait(running):
                    spec = running.pop(future)
                    try:
                        result = future.result()
                    except Exception as err:  # noqa: BLE001 - the batch's own failure for this one, not a crash
                        result = {"status": sandbox.CRASHED, "detail": f"{type(err).__name__}: {err}"[:300]}
                    if result["status"] == sandbox.COMPLETED:
                        result["numbers"] = numbers.collect(notebook, Path(spec["folder"]) / "run")
                    runs.write_json(Path(spec["folder"]) / RESULT, result)
                    results[spec["key"]] = result
                    bar.set_postfix_str(f"{by_key[spec['key']].student_id}: {result['status']}")
                    bar.update(1)
    finally:
        close()

    if check and results.get(REFERENCE_KEY, {}).get("status") == sandbox.COMPLETED:
        _check(folder, [s for s in found if results.get(s.key, {}).get("status") == sandbox.COMPLETED], results)
    rows = [_row(s, results[s.key]) | ({"checks": results[s.key].get("checks", "")}) for s in [reference, *found]]
    if not found:
        rows.append({"student_id": "", "submission": "", "status": NO_SUBMISSIONS,
                     "detail": f"no notebooks (*.ipynb) under {info['submissions_dir']}"})
    table = grades.grades_table(rows)
    grades.write_grades(folder, table)
    with runs.atomic_path(folder / "summary.md") as tmp:
        tmp.write_text(grades.summary_markdown(info, table))
    return folder


def _check(folder: Path, completed: Sequence[Submission], results: dict) -> None:
    """nbval-style checks (lax mode) of each completed submission against the reference execution."""
    import nbformat

    patterns = sanitize_patterns()
    reference = nbformat.read(str(folder / "submissions" / REFERENCE_KEY / "executed.ipynb"), as_version=4)
    for s in completed:
        executed = nbformat.read(str(folder / "submissions" / s.key / "executed.ipynb"), as_version=4)
        found = checked_against(reference, executed, patterns)
        results[s.key]["checks"] = f"{found['matched']} of {found['checked']} match"
        results[s.key]["check_problems"] = found["problems"]
        runs.write_json(folder / "submissions" / s.key / RESULT, results[s.key])
