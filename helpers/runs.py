"""Run directories: one folder per run, a manifest, atomic writes and resume.

A run lives in ``runs_root()/<run_id>/``. Creating a run never reuses an existing folder;
opening one by id or path continues it (that is how a notebook or the runner resumes).

Each profile has a **current run** (``runs_root()/current-<profile>.json``): the run a notebook
of that profile most recently opened. A notebook opened with ``run_dir=None`` joins it, so a
student who runs 00 -> 09 one after another (in Colab, or in Jupyter) gets one run that 04, 06
and 09 read from; ``run_dir="new"`` starts a new run, which becomes the current one.
Every file is written atomically (temporary file in the same folder, then ``os.replace``),
so a killed process never leaves a half-written artifact. A unit of work whose artifacts are
all written is marked with ``_COMPLETE.json`` (written last); ``Run.is_complete`` checks it.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from helpers import env

__all__ = [
    "Run",
    "atomic_path",
    "create_run",
    "latest_run",
    "current_run",
    "open_run",
    "require",
    "MissingPrerequisite",
    "NEW_RUN",
    "repo_root",
    "runs_root",
    "git_commit",
    "execution_key",
    "COMPLETE_MARKER",
]

COMPLETE_MARKER = "_COMPLETE.json"
MANIFEST = "manifest.json"
NEW_RUN = "new"  # run_dir="new": start a new run (it becomes the profile's current run)
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def now_iso() -> str:
    """Current UTC time, ISO 8601 with seconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def repo_root() -> Path:
    """The repository folder (the parent of the ``helpers`` package when it holds pyproject.toml)."""
    here = Path(__file__).resolve().parent.parent
    if (here / "pyproject.toml").exists():
        return here
    return Path.cwd()


def runs_root() -> Path:
    """Where runs live: ``$DL_RUNS_DIR`` if set, else ``<repo>/runs``."""
    env = os.environ.get("DL_RUNS_DIR")
    return Path(env).expanduser().resolve() if env else repo_root() / "runs"


def git_commit() -> str | None:
    """The repository's current commit (with ``+dirty`` when there are local changes), or None."""
    try:
        root = repo_root()
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, timeout=10,
        )
        return sha.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


@contextlib.contextmanager
def atomic_path(final_path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``final_path``; move it into place only on success.

    >>> with atomic_path("out.csv") as tmp:      # doctest: +SKIP
    ...     frame.to_csv(tmp)
    """
    final = Path(final_path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp" + final.suffix,
                                    dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()


# ".<final name>.<random>.tmp<final suffix>", as atomic_path names its temporary files
_TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9_]+\.tmp(\.[^.]*)?$")


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically; NumPy scalars and paths are converted."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=_json_default, sort_keys=False) + "\n")
    return Path(path)


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a missing or corrupt file raises an error that names it."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"expected the JSON file {p}, but it does not exist")
    try:
        return json.loads(p.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{p} is not valid JSON (corrupt or partial artifact?): {err}") from err


class Run:
    """One run folder. Use :func:`open_run` or :func:`create_run` to get one."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path).resolve()
        if not (self.path / MANIFEST).exists():
            raise FileNotFoundError(f"{self.path} is not a run directory: {MANIFEST} is missing")

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @property
    def run_id(self) -> str:
        return self.path.name

    # ---------------------------------------------------------------- manifest
    @property
    def manifest(self) -> dict:
        """The manifest as a dict (read fresh from disk)."""
        return read_json(self.path / MANIFEST)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.path / ".manifest.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def update_manifest(self, change: Callable[[dict], None]) -> dict:
        """Apply ``change(manifest)`` under a file lock and write it back atomically."""
        with self._locked():
            manifest = self.manifest
            change(manifest)
            write_json(self.path / MANIFEST, manifest)
        return manifest

    def record_notebook(self, key: str, **fields: Any) -> None:
        """Merge ``fields`` into ``manifest['notebooks'][key]`` (status, times, parameters...)."""

        def change(m: dict) -> None:
            m.setdefault("notebooks", {}).setdefault(key, {}).update(fields)

        self.update_manifest(change)

    def complete_notebook(self, notebook: str, label: str | None = None) -> None:
        """Record in the manifest that ``notebook`` (execution ``label``) ran to its end."""
        self.record_notebook(execution_key(notebook, label), status="completed", finished=now_iso())

    def finish(self, status: str = "completed") -> None:
        """Set the run's end time and status."""

        def change(m: dict) -> None:
            m["status"] = status
            m["finished"] = now_iso()

        self.update_manifest(change)

    # ---------------------------------------------------------------- files
    def dir(self, *parts: str) -> Path:
        """Make (if needed) and return the sub-folder ``parts`` of the run."""
        p = self.path.joinpath(*parts)
        p.mkdir(parents=True, exist_ok=True)
        return p

    def file(self, relpath: str | os.PathLike) -> Path:
        """Absolute path of ``relpath`` inside the run (its folder is created)."""
        p = self.path / relpath
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def write_json(self, relpath: str | os.PathLike, obj: Any) -> Path:
        """Atomically write JSON at ``relpath``."""
        return write_json(self.file(relpath), obj)

    def read_json(self, relpath: str | os.PathLike) -> Any:
        return read_json(self.path / relpath)

    def write_text(self, relpath: str | os.PathLike, text: str) -> Path:
        """Atomically write text at ``relpath``."""
        target = self.file(relpath)
        with atomic_path(target) as tmp:
            tmp.write_text(text)
        return target

    def write_csv(self, relpath: str | os.PathLike, frame, index: bool = False) -> Path:
        """Atomically write a pandas DataFrame as CSV at ``relpath``."""
        target = self.file(relpath)
        with atomic_path(target) as tmp:
            frame.to_csv(tmp, index=index)
        return target

    def read_csv(self, relpath: str | os.PathLike, **kwargs):
        import pandas as pd

        p = self.path / relpath
        if not p.exists():
            raise FileNotFoundError(f"expected the CSV file {p}, but it does not exist")
        try:
            return pd.read_csv(p, **kwargs)
        except Exception as err:
            raise ValueError(f"could not read {p} (corrupt or partial artifact?): {err}") from err

    def save_figure(self, relpath: str | os.PathLike, fig, dpi: int = 110) -> Path:
        """Atomically save a Matplotlib figure (format from the extension, PNG by default)."""
        target = self.file(relpath)
        if not target.suffix:
            target = target.with_suffix(".png")
        with atomic_path(target) as tmp:
            fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=target.suffix.lstrip("."))
        return target

    # ---------------------------------------------------------------- resume
    def stale_temporaries(self) -> list[Path]:
        """Temporary files of :func:`atomic_path` left by a killed process (never a finished artifact)."""
        return sorted(p for p in self.path.rglob(".*.tmp*") if p.is_file() and _TEMPORARY.match(p.name))

    def remove_stale_temporaries(self) -> list[Path]:
        """Delete :meth:`stale_temporaries` (call only when no other process writes this run)."""
        removed = self.stale_temporaries()
        for p in removed:
            p.unlink(missing_ok=True)
        return removed

    def is_complete(self, relpath: str | os.PathLike) -> bool:
        """True when the artifact at ``relpath`` is finished.

        A file is complete when it exists (files are written atomically); a folder is complete
        when :meth:`mark_complete` wrote its marker (the last thing written for that unit of work).
        """
        p = self.path / relpath
        if p.is_dir():
            return (p / COMPLETE_MARKER).exists()
        return p.is_file()

    def mark_complete(self, relpath: str | os.PathLike, **info: Any) -> Path:
        """Mark the folder ``relpath`` as complete (optionally with some summary ``info``)."""
        folder = self.dir(*Path(relpath).parts) if str(relpath) not in ("", ".") else self.path
        return write_json(folder / COMPLETE_MARKER, {"completed": now_iso(), **info})


def _validate_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise ValueError(
            f"run id {run_id!r} is not valid: expected letters, digits, '.', '_' or '-' "
            "(no spaces or slashes)"
        )
    return run_id


def new_run_id(profile: str | None = None, root: Path | None = None) -> str:
    """A fresh run id ``YYYYmmdd-HHMMSS[-profile]`` that no folder in ``root`` uses yet."""
    root = root or runs_root()
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = f"{stamp}-{profile}" if profile else stamp
    candidate, k = base, 1
    while (root / candidate).exists():
        k += 1
        candidate = f"{base}-{k}"
    return candidate


def create_run(run_id: str | None = None, profile: str | None = None,
               parameters: dict | None = None, root: str | os.PathLike | None = None) -> Run:
    """Create a new run folder with its manifest. Refuses to reuse an existing folder."""
    root = Path(root) if root else runs_root()
    root.mkdir(parents=True, exist_ok=True)
    run_id = _validate_run_id(run_id) if run_id else new_run_id(profile, root)
    path = root / run_id
    try:
        path.mkdir()
    except FileExistsError:
        raise FileExistsError(
            f"run directory {path} already exists: a new run never overwrites an earlier one; "
            "pass --resume to continue it, or choose another run id"
        ) from None
    manifest = {
        "run_id": run_id,
        "profile": profile,
        "status": "running",
        "created": now_iso(),
        "finished": None,
        "git_commit": git_commit(),
        "versions": env.versions(),
        "devices": env.devices(),
        "parameters": parameters or {},
        "notebooks": {},
    }
    write_json(path / MANIFEST, manifest)
    return Run(path)


def resolve_run_path(run_dir: str | os.PathLike) -> Path:
    """A run given as a path or as a run id (looked up in :func:`runs_root`)."""
    p = Path(run_dir).expanduser()
    if p.is_absolute() or p.exists() or len(p.parts) > 1:
        return p.resolve()
    return runs_root() / _validate_run_id(str(run_dir))


def _current_pointer(profile: str | None, root: Path | None = None) -> Path:
    name = _validate_run_id(profile) if profile else "default"
    return (root or runs_root()) / f"current-{name}.json"


def current_run(profile: str | None, root: str | os.PathLike | None = None) -> Run | None:
    """The profile's current run (the run a notebook of ``profile`` last opened), or None.

    A pointer to a run folder that was deleted or moved counts as no current run.
    """
    root = Path(root) if root else runs_root()
    pointer = _current_pointer(profile, root)
    if not pointer.is_file():
        return None
    try:
        run_id = _validate_run_id(read_json(pointer)["run_id"])
    except (ValueError, KeyError, TypeError):
        return None
    path = root / run_id
    return Run(path) if (path / MANIFEST).exists() else None


def set_current_run(run: Run, profile: str | None) -> None:
    """Make ``run`` the current run of ``profile`` (only for runs that live in :func:`runs_root`)."""
    root = runs_root()
    if run.path.parent != root.resolve():
        return  # a run elsewhere (a test's temporary folder, an explicit path) is never made current
    write_json(_current_pointer(profile, root), {"run_id": run.run_id, "profile": profile, "set": now_iso()})


def open_run(run_dir: str | os.PathLike | None = None, notebook: str | None = None,
             parameters: dict | None = None, profile: str | None = None) -> Run:
    """Open the run a notebook writes into.

    Parameters
    ----------
    run_dir : str, path or None
        None joins the profile's current run (see :func:`current_run`), creating one if there is
        none. ``"new"`` creates a new run. A path or a run id opens that run, creating it if it
        does not exist yet. Whichever run is opened becomes the profile's current run when it
        lives in :func:`runs_root`, so the notebooks that follow join it.
    notebook : str, optional
        The notebook's key in the manifest (e.g. ``"03_gridsearch-up"``); its parameters and
        start time are recorded there.
    parameters : dict, optional
        The resolved parameters to record.
    profile : str, optional
        Profile name for a new run (defaults to ``parameters['profile']``).
    """
    profile = profile or (parameters or {}).get("profile")
    if run_dir is None or str(run_dir) == "":
        run = current_run(profile) or create_run(profile=profile)
    elif str(run_dir) == NEW_RUN:
        run = create_run(profile=profile)
    else:
        path = resolve_run_path(run_dir)
        if (path / MANIFEST).exists():
            run = Run(path)
        elif path.exists() and any(path.iterdir()):
            raise FileExistsError(
                f"{path} exists but is not a run directory ({MANIFEST} is missing); "
                "refusing to write into it"
            )
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                path.rmdir()
            run = create_run(run_id=path.name, profile=profile, root=path.parent)
    set_current_run(run, profile)
    if notebook:
        key = execution_key(notebook, (parameters or {}).get("label"))
        entry = {"parameters": parameters or {}}
        existing = run.manifest.get("notebooks", {}).get(key, {})
        if existing.get("status") != "completed":
            entry.update(status="running", started=existing.get("started") or now_iso())
        run.record_notebook(key, **entry)
    return run


class MissingPrerequisite(FileNotFoundError):
    """A notebook needs results that an earlier notebook writes; the message says what to run.

    In a notebook it prints as its message alone (no traceback from inside the helpers).
    """

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [f"\x1b[1;31mMissingPrerequisite:\x1b[0m {self}"]


def require(run: Run, needed: dict[str, str], notebook: str) -> None:
    """Check that ``run`` holds every artifact ``notebook`` needs before it starts.

    Parameters
    ----------
    run : Run
        The run the notebook opened.
    needed : dict
        ``{artifact path inside the run: what to run to make it}``, e.g.
        ``{"tabular/gridsearch/down/summary.csv": "03_gridsearch with variants=['down']"}``.
    notebook : str
        The notebook asking (named in the message).

    Raises
    ------
    MissingPrerequisite
        Naming every missing artifact's notebook and parameters, and the run looked in.
    """
    missing = [todo for rel, todo in needed.items() if not run.is_complete(rel)]
    if missing:
        todo = list(dict.fromkeys(missing))
        raise MissingPrerequisite(
            f"{notebook} needs results that are not in the run {run.path} yet: run "
            + "; run ".join(todo) + " first, with the same profile, so that it writes into this run"
            + ("; in Colab keep runs on Google Drive (USE_DRIVE = True in the setup cell): every notebook "
               "gets its own machine, so only Drive carries results from one notebook to the next"
               if "google.colab" in sys.modules else "")
        )


def execution_key(notebook: str, label: str | None = None) -> str:
    """Manifest key of one execution of a notebook: ``03_gridsearch`` or ``03_gridsearch-up``."""
    return f"{notebook}-{label}" if label else notebook


def latest_run(root: str | os.PathLike | None = None, containing: str | None = None) -> Run:
    """The most recently created run (optionally one that has the file/folder ``containing``)."""
    root = Path(root) if root else runs_root()
    candidates = []
    if root.exists():
        for p in root.iterdir():
            if (p / MANIFEST).exists() and (containing is None or (p / containing).exists()):
                candidates.append(p)
    if not candidates:
        what = f" containing {containing!r}" if containing else ""
        raise FileNotFoundError(f"no run{what} found in {root}; run the earlier notebooks first")
    candidates.sort(key=lambda p: (read_json(p / MANIFEST).get("created", ""), p.name))
    return Run(candidates[-1])
