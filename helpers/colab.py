"""Google Colab: install what the notebooks need without touching Colab's own runtime, and keep
runs on Google Drive.

Standard library only: every notebook's setup cell (``tools/notebook.py::COLAB_CELL``, which finds a
copy of the repository or clones it) imports this module before anything is installed.

* :func:`install` installs ``requirements.txt`` with a pip *constraints* file that pins the
  packages Colab's runtime is built on (:data:`PROTECTED`: TensorFlow, Keras, NumPy, ipykernel,
  IPython, jupyter-client, ...) to the versions already installed, so pip may add or upgrade only
  what the notebooks need (scikeras; scikit-learn >= 1.7 together with imbalanced-learn >= 0.14,
  which works with it), then installs this repository itself without dependencies. It prints one
  line saying what changed and raises if a protected package changed anyway.
* :func:`configure` keeps TensorFlow's C++ log lines quiet and, with ``use_drive=True``, mounts
  Google Drive and points ``DL_RUNS_DIR`` / ``DL_DATA_DIR`` (read by :func:`helpers.runs.runs_root`
  and :func:`helpers.data.images.data_root`) at folders under :data:`DRIVE_ROOT`: Colab gives every
  notebook its own machine, so only Drive carries one notebook's results to the next, and a
  disconnect loses only the unit of work in flight.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from helpers.env import quiet_tensorflow  # standard library only at import, like this module

__all__ = ["PROTECTED", "DRIVE_MOUNT", "DRIVE_ROOT", "InstallReport", "installed_versions", "constraints_text",
           "describe_changes", "install", "configure"]

# Colab's runtime: the kernel, its front-end protocol and the numeric core the runtime is built against,
# plus what Colab's own `google-colab` package pins exactly (pandas, requests, notebook, jupyter-server).
PROTECTED = ("tensorflow", "keras", "numpy", "ipykernel", "ipython", "jupyter-client", "jupyter-core",
             "traitlets", "tornado", "pyzmq", "pandas", "requests", "notebook", "jupyter-server", "google-colab")
DRIVE_MOUNT = "/content/drive"
DRIVE_ROOT = "/content/drive/MyDrive/deep-learning-course-runs"
THIS_PACKAGE = "dl-course-helpers"  # pyproject's [project] name: installed last, with --no-deps
_DISPLAY = {"tensorflow": "TensorFlow", "keras": "Keras", "numpy": "NumPy", "ipython": "IPython"}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _version_key(version: str) -> tuple:
    """Orders release numbers without ``packaging`` (not importable before the install)."""
    return tuple(int(part) if part.isdigit() else -1 for part in re.findall(r"\d+|[a-z]+", version.lower()))


def installed_versions(python: str = sys.executable) -> dict[str, str]:
    """Every distribution installed for ``python``.

    Parameters
    ----------
    python : str
        The interpreter whose packages are listed (``python -m pip list --format=json``).

    Returns
    -------
    dict
        ``{canonical name: version}``, names lower-case with ``-`` (``scikit-learn``, ``jupyter-client``).
    """
    out = subprocess.run([python, "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
                         capture_output=True, text=True, check=True).stdout
    return {_canonical(p["name"]): p["version"] for p in json.loads(out)}


def constraints_text(versions: dict[str, str], protected=PROTECTED) -> str:
    """The pip constraints file that keeps Colab's runtime as it is.

    Parameters
    ----------
    versions : dict
        Installed versions, as :func:`installed_versions` returns them.
    protected : sequence of str
        The packages to pin; those not installed are left out (pip may then install them).

    Returns
    -------
    str
        One ``name==version`` line per installed protected package.
    """
    lines = [f"{name}=={versions[_canonical(name)]}" for name in protected if _canonical(name) in versions]
    return "\n".join(lines) + "\n"


def describe_changes(before: dict[str, str], after: dict[str, str], protected=PROTECTED,
                     ignore=(THIS_PACKAGE,)) -> str:
    """One line saying what an install added, upgraded and downgraded, and what it left alone.

    Parameters
    ----------
    before, after : dict
        Versions before and after, as :func:`installed_versions` returns them.
    protected : sequence of str
        Packages named at the end as unchanged (when they are).
    ignore : sequence of str
        Packages left out of the line (this repository's own package).

    Returns
    -------
    str
        e.g. ``installed: scikeras 0.13.0; upgraded: scikit-learn 1.6.1 -> 1.9.1; TensorFlow, NumPy unchanged``.
    """
    skip = {_canonical(n) for n in ignore}
    names = sorted((set(before) | set(after)) - skip)
    added = [f"{n} {after[n]}" for n in names if n not in before]
    removed = [f"{n} {before[n]}" for n in names if n not in after]
    common = [n for n in names if n in before and n in after and before[n] != after[n]]
    up = [f"{n} {before[n]} -> {after[n]}" for n in common if _version_key(after[n]) > _version_key(before[n])]
    down = [f"{n} {before[n]} -> {after[n]}" for n in common if _version_key(after[n]) <= _version_key(before[n])]
    parts = [f"{what}: {', '.join(items)}" for what, items in
             (("installed", added), ("upgraded", up), ("downgraded", down), ("removed", removed)) if items]
    if not parts:
        parts.append("nothing to install")
    kept = [_DISPLAY.get(n, n) for n in protected if _canonical(n) in before
            and before[_canonical(n)] == after.get(_canonical(n))]
    if kept:
        parts.append(", ".join(kept) + " unchanged")
    return "; ".join(parts)


@dataclass
class InstallReport:
    """What :func:`install` did: versions before and after, its one-line summary and the pip commands."""

    before: dict[str, str]
    after: dict[str, str]
    summary: str
    commands: list[list[str]] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)

    def changed(self) -> list[str]:
        """Packages whose version changed or that were added."""
        return [n for n in self.after if self.before.get(n) != self.after[n]]

    def changed_protected(self, protected=PROTECTED) -> list[str]:
        """Protected packages whose version changed or that disappeared (must be empty)."""
        return [n for n in protected
                if _canonical(n) in self.before and self.before[_canonical(n)] != self.after.get(_canonical(n))]


def conflicts_with(changed: list[str], python: str = sys.executable) -> list[str]:
    """Lines of ``pip check`` about another installed package's requirement on one of ``changed``."""
    done = subprocess.run([python, "-m", "pip", "check", "--disable-pip-version-check"], capture_output=True, text=True)
    return conflict_lines(done.stdout, changed)


def conflict_lines(pip_check_output: str, changed: list[str]) -> list[str]:
    """The lines of ``pip check``'s output whose requirement names one of ``changed``.

    >>> conflict_lines("yellowbrick 1.5 has requirement scikit-learn<1.7, but you have scikit-learn 1.9.1.",
    ...                ["scikit-learn"])
    ['yellowbrick 1.5 has requirement scikit-learn<1.7, but you have scikit-learn 1.9.1.']
    """
    names = {_canonical(n) for n in changed}
    out = []
    for line in pip_check_output.splitlines():
        match = re.search(r"(?:has requirement|requires) ([A-Za-z0-9._-]+)", line)
        if match and _canonical(match.group(1)) in names:
            out.append(line.strip())
    return out


def install(repo: str | os.PathLike, python: str = sys.executable, quiet: bool = True,
            runner: bool = False) -> InstallReport:
    """Install the notebooks' requirements and this repository, leaving Colab's runtime packages alone.

    Runs ``python -m pip install -c <constraints> -r requirements.txt`` (pip's default upgrade strategy,
    only-if-needed, with :data:`PROTECTED` pinned to the installed versions), then
    ``python -m pip install --no-deps -e <repo>``, and prints one line (:func:`describe_changes`).

    Parameters
    ----------
    repo : path
        The repository folder (it holds ``requirements.txt`` and ``pyproject.toml``).
    python : str
        The interpreter to install for (the running kernel's by default).
    quiet : bool
        Pass ``-q`` to pip.
    runner : bool
        Also install ``requirements-runner.txt`` (papermill, Dask: ``python -m helpers.pipeline``
        in Colab), under the same constraints.

    Returns
    -------
    InstallReport
        Its ``summary`` is the printed line.

    Raises
    ------
    FileNotFoundError
        ``repo`` has no ``requirements.txt``.
    RuntimeError
        pip failed (its output is quoted), or a package of :data:`PROTECTED` changed version anyway.
    """
    repo = Path(repo).resolve()
    requirements = repo / "requirements.txt"
    if not requirements.is_file():
        raise FileNotFoundError(f"{requirements} does not exist: {repo} is not a copy of the course repository")
    before = installed_versions(python)
    flags = ["-q"] if quiet else []
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "colab-constraints.txt"
        constraints.write_text(constraints_text(before))
        files = [requirements] + ([repo / "requirements-runner.txt"] if runner else [])
        commands = [
            [python, "-m", "pip", "install", *flags, "--disable-pip-version-check", "-c", str(constraints),
             *(arg for f in files for arg in ("-r", str(f)))],
            [python, "-m", "pip", "install", *flags, "--disable-pip-version-check", "--no-deps", "-e", str(repo)],
        ]
        for command in commands:
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"pip failed ({' '.join(command[3:])}):\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    after = installed_versions(python)
    report = InstallReport(before, after, describe_changes(before, after), commands)
    report.conflicts = conflicts_with(report.changed(), python)
    if report.conflicts:
        report.summary += ("; pip check: " + "; ".join(report.conflicts)
                           + " (preinstalled packages the notebooks do not use)")
    print(report.summary)
    broken = report.changed_protected()
    if broken:
        changes = ", ".join(f"{n} {before[n]} -> {after.get(n, 'removed')}" for n in broken)
        raise RuntimeError(f"the install changed Colab's own packages ({changes}): restart the runtime "
                           "(Runtime > Disconnect and delete runtime) and report this as a bug of the course")
    return report


def configure(use_drive: bool = True, root: str | os.PathLike = DRIVE_ROOT, mount: str = DRIVE_MOUNT) -> Path | None:
    """Quiet TensorFlow's C++ logs and, with ``use_drive``, keep runs and generated data on Google Drive.

    Parameters
    ----------
    use_drive : bool
        Mount Google Drive (in Colab, when not mounted yet) and set ``DL_RUNS_DIR=<root>/runs`` and
        ``DL_DATA_DIR=<root>/data``. False leaves both unset: runs stay in the repository's ``runs/``
        on this machine.
    root : path
        The folder on Drive (default :data:`DRIVE_ROOT`). Outside Colab nothing is mounted and only
        the variables are set, which is how the tests simulate Drive.
    mount : str
        Where Drive is mounted.

    Returns
    -------
    Path or None
        ``root`` with Drive, None without.
    """
    quiet_tensorflow()
    if not use_drive:
        print("runs stay on this machine (USE_DRIVE = False): later notebooks, on other machines, will not see them")
        return None
    if "google.colab" in sys.modules and not os.path.ismount(mount):
        from google.colab import drive  # type: ignore[import-not-found]

        drive.mount(mount)
    path = Path(root)
    (path / "runs").mkdir(parents=True, exist_ok=True)
    os.environ["DL_RUNS_DIR"] = str(path / "runs")
    os.environ["DL_DATA_DIR"] = str(path / "data")
    print(f"runs and data are kept on Google Drive: {path}")
    return path
