"""Run directories (``runs_root()/<run_id>/``): a manifest, atomic writes (temporary file, then ``os.replace``),
``_COMPLETE.json`` markers written last, and per profile a *current run* (``runs_root()/current-<profile>.json``)
that a notebook opened with ``run_dir=None`` joins; ``run_dir="new"`` starts one."""

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

__all__ = ["Run", "atomic_path", "create_run", "latest_run", "current_run", "open_run", "require",
           "MissingPrerequisite", "NEW_RUN", "repo_root", "runs_root", "git_commit", "execution_key", "COMPLETE_MARKER",
           "validate_run_id", "new_run_id"]

COMPLETE_MARKER = "_COMPLETE.json"
MANIFEST = "manifest.json"
NEW_RUN = "new"  # run_dir="new": start a new run (it becomes the profile's current run)
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_TEMPORARY = re.compile(r"^\..+\.[A-Za-z0-9_]+\.tmp(\.[^.]*)?$")  # atomic_path's ".<name>.<random>.tmp<suffix>"


def now_iso() -> str:
    """Current UTC time, ISO 8601 with seconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def repo_root() -> Path:
    """The repository folder (the parent of ``helpers`` when it holds pyproject.toml), else the cwd."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").exists() else Path.cwd()


def runs_root() -> Path:
    """Where runs live: ``$DL_RUNS_DIR`` if set, else ``<repo>/runs``."""
    folder = os.environ.get("DL_RUNS_DIR")
    return Path(folder).expanduser().resolve() if folder else repo_root() / "runs"


def git_commit() -> str | None:
    """The repository's current commit (with ``+dirty`` when there are local changes), or None."""
    try:
        sha, status = (subprocess.run(["git", *args], cwd=repo_root(), capture_output=True, text=True, timeout=10)
                       for args in (["rev-parse", "HEAD"], ["status", "--porcelain", "--untracked-files=no"]))
    except (OSError, subprocess.SubprocessError):
        return None
    return sha.stdout.strip() + ("+dirty" if status.stdout.strip() else "") if sha.returncode == 0 else None


@contextlib.contextmanager
def atomic_path(final_path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``final_path``, moved into place only on success."""
    final = Path(final_path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp" + final.suffix, dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, (np.integer, np.floating, np.ndarray)):
        return value.tolist()
    return list(value) if isinstance(value, (set, tuple)) else str(value)  # paths and the rest: str


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically; NumPy scalars and paths are converted."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, default=_json_default) + "\n")
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
        """The run folder's name."""
        return self.path.name

    @property
    def manifest(self) -> dict:
        """The manifest as a dict (read fresh from disk)."""
        return read_json(self.path / MANIFEST)

    def update_manifest(self, change: Callable[[dict], None]) -> dict:
        """Apply ``change(manifest)`` under a file lock and write it back atomically."""
        with open(self.path / ".manifest.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the lock file is closed
            manifest = self.manifest
            change(manifest)
            write_json(self.path / MANIFEST, manifest)
        return manifest

    def record_notebook(self, key: str, **fields: Any) -> None:
        """Merge ``fields`` into ``manifest['notebooks'][key]`` (status, times, parameters...)."""
        self.update_manifest(lambda m: m.setdefault("notebooks", {}).setdefault(key, {}).update(fields))

    def complete_notebook(self, notebook: str, label: str | None = None) -> None:
        """Record in the manifest that ``notebook`` (execution ``label``) ran to its end."""
        self.record_notebook(execution_key(notebook, label), status="completed", finished=now_iso())

    def finish(self, status: str = "completed") -> None:
        """Set the run's end time and status."""
        self.update_manifest(lambda m: m.update(status=status, finished=now_iso()))

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

    def _write(self, relpath: str | os.PathLike, write: Callable[[Path], Any]) -> Path:
        target = self.file(relpath)
        with atomic_path(target) as tmp:
            write(tmp)
        return target

    def write_json(self, relpath: str | os.PathLike, obj: Any) -> Path:
        """Atomically write JSON at ``relpath``."""
        return write_json(self.file(relpath), obj)

    def read_json(self, relpath: str | os.PathLike) -> Any:
        """Read the JSON file at ``relpath`` (see :func:`read_json`)."""
        return read_json(self.path / relpath)

    def write_text(self, relpath: str | os.PathLike, text: str) -> Path:
        """Atomically write text at ``relpath``."""
        return self._write(relpath, lambda tmp: tmp.write_text(text))

    def write_csv(self, relpath: str | os.PathLike, frame, index: bool = False) -> Path:
        """Atomically write a pandas DataFrame as CSV at ``relpath``."""
        return self._write(relpath, lambda tmp: frame.to_csv(tmp, index=index))

    def read_csv(self, relpath: str | os.PathLike, **kwargs):
        """Read the CSV at ``relpath`` with pandas; a missing or unreadable file raises naming it."""
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
        relpath = Path(relpath) if Path(relpath).suffix else Path(relpath).with_suffix(".png")
        return self._write(relpath, lambda tmp: fig.savefig(tmp, dpi=dpi, bbox_inches="tight",
                                                             format=relpath.suffix.lstrip(".")))

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
        """True when ``relpath`` is finished: an (atomically written) file exists, or a folder has its marker."""
        p = self.path / relpath
        return (p / COMPLETE_MARKER).exists() if p.is_dir() else p.is_file()

    def mark_complete(self, relpath: str | os.PathLike, **info: Any) -> Path:
        """Mark the folder ``relpath`` as complete (optionally with some summary ``info``)."""
        return write_json(self.dir(*Path(relpath).parts) / COMPLETE_MARKER, {"completed": now_iso(), **info})


def validate_run_id(run_id: str) -> str:
    if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
        raise ValueError(f"run id {run_id!r} is not valid: expected letters, digits, '.', '_' or '-' "
                         "(no spaces or slashes)")
    return run_id


def new_run_id(profile: str | None = None, root: Path | None = None) -> str:
    """A fresh run id ``YYYYmmdd-HHMMSS[-profile]`` that no folder in ``root`` uses yet."""
    root = root or runs_root()
    base = "-".join(filter(None, [_dt.datetime.now().strftime("%Y%m%d-%H%M%S"), profile]))
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
    run_id = validate_run_id(run_id) if run_id else new_run_id(profile, root)
    try:
        (root / run_id).mkdir()
    except FileExistsError:
        raise FileExistsError(f"run directory {root / run_id} already exists: a new run never overwrites an earlier "
                              "one; pass --resume to continue it, or choose another run id") from None
    write_json(root / run_id / MANIFEST, {
        "run_id": run_id, "profile": profile, "status": "running", "created": now_iso(), "finished": None,
        "git_commit": git_commit(), "versions": env.versions(), "devices": env.devices(),
        "parameters": parameters or {}, "notebooks": {}})
    return Run(root / run_id)


def resolve_run_path(run_dir: str | os.PathLike) -> Path:
    """A run given as a path or as a run id (looked up in :func:`runs_root`)."""
    p = Path(run_dir).expanduser()
    if p.is_absolute() or p.exists() or len(p.parts) > 1:
        return p.resolve()
    return runs_root() / validate_run_id(str(run_dir))


def _current_pointer(profile: str | None, root: Path) -> Path:
    return root / f"current-{validate_run_id(profile) if profile else 'default'}.json"


def current_run(profile: str | None, root: str | os.PathLike | None = None) -> Run | None:
    """The run a notebook of ``profile`` last opened, or None (also when that run folder was deleted or moved)."""
    root = Path(root) if root else runs_root()
    try:
        path = root / validate_run_id(read_json(_current_pointer(profile, root))["run_id"])
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        return None
    return Run(path) if (path / MANIFEST).exists() else None


def set_current_run(run: Run, profile: str | None) -> None:
    """Make ``run`` the current run of ``profile`` (only for runs that live in :func:`runs_root`)."""
    root = runs_root()
    if run.path.parent == root.resolve():  # a run elsewhere (a test's tmp folder, a path) never is
        write_json(_current_pointer(profile, root), {"run_id": run.run_id, "profile": profile, "set": now_iso()})


def open_run(run_dir: str | os.PathLike | None = None, notebook: str | None = None,
             parameters: dict | None = None, profile: str | None = None) -> Run:
    """Open the run a notebook writes into (None: the profile's current run, ``"new"``: a new one, else a path or run
    id, created if missing), make it the profile's current run and record ``notebook`` with its ``parameters``."""
    parameters = parameters or {}
    profile = profile or parameters.get("profile")
    if not run_dir:
        run = current_run(profile) or create_run(profile=profile)
    elif str(run_dir) == NEW_RUN:
        run = create_run(profile=profile)
    else:
        path = resolve_run_path(run_dir)
        if (path / MANIFEST).exists():
            run = Run(path)
        elif path.exists() and any(path.iterdir()):
            raise FileExistsError(f"{path} exists but is not a run directory ({MANIFEST} is missing); "
                                  "refusing to write into it")
        else:
            if path.exists():
                path.rmdir()
            run = create_run(run_id=path.name, profile=profile, root=path.parent)
    set_current_run(run, profile)
    if notebook:
        key = execution_key(notebook, parameters.get("label"))
        old = run.manifest.get("notebooks", {}).get(key, {})
        again = {"status": "running", "started": old.get("started") or now_iso()}  # unless it completed
        run.record_notebook(key, parameters=parameters, **({} if old.get("status") == "completed" else again))
    return run


class MissingPrerequisite(FileNotFoundError):
    """A notebook needs an earlier notebook's results; the message (shown without a traceback) says what to run."""

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [f"\x1b[1;31mMissingPrerequisite:\x1b[0m {self}"]


def require(run: Run, needed: dict[str, str], notebook: str) -> None:
    """Raise :class:`MissingPrerequisite` unless ``run`` holds every artifact ``notebook`` needs; ``needed`` maps
    an artifact path in the run to what makes it (``{"tabular/x/summary.csv": "03_gridsearch with ..."}``)."""
    if todo := list(dict.fromkeys(todo for rel, todo in needed.items() if not run.is_complete(rel))):
        raise MissingPrerequisite(
            f"{notebook} needs results that are not in the run {run.path} yet: run "
            + "; run ".join(todo) + " first, with the same profile, so that it writes into this run"
            + ("; in Colab keep runs on Google Drive (USE_DRIVE = True in the setup cell): every notebook "
               "gets its own machine, so only Drive carries results from one notebook to the next"
               if "google.colab" in sys.modules else ""))


def execution_key(notebook: str, label: str | None = None) -> str:
    """Manifest key of one execution of a notebook: ``03_gridsearch`` or ``03_gridsearch-up``."""
    return f"{notebook}-{label}" if label else notebook


def latest_run(root: str | os.PathLike | None = None, containing: str | None = None) -> Run:
    """The most recently created run (optionally one that has the file/folder ``containing``)."""
    root = Path(root) if root else runs_root()
    found = [p for p in (root.iterdir() if root.exists() else ())
             if (p / MANIFEST).exists() and (containing is None or (p / containing).exists())]
    if not found:
        what = f" containing {containing!r}" if containing else ""
        raise FileNotFoundError(f"no run{what} found in {root}; run the earlier notebooks first")
    return Run(max(found, key=lambda p: (read_json(p / MANIFEST).get("created", ""), p.name)))
