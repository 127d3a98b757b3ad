"""Google Colab: install what the notebooks need without touching Colab's runtime, and keep runs on Drive.

Standard library only: every notebook's setup cell (``tools/notebook.py::COLAB_CELL``) imports it before
anything is installed. :func:`install` pins :data:`PROTECTED` to the installed versions with a pip constraints
file; :func:`configure` quiets TensorFlow and points ``DL_RUNS_DIR`` / ``DL_DATA_DIR`` at Google Drive."""

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
_PIP = ("-m", "pip")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _version_key(version: str) -> tuple:
    """Orders release numbers without ``packaging`` (not importable before the install)."""
    return tuple(int(part) if part.isdigit() else -1 for part in re.findall(r"\d+|[a-z]+", version.lower()))


def installed_versions(python: str = sys.executable) -> dict[str, str]:
    """``{canonical name: version}`` of every distribution installed for ``python`` (``pip list``)."""
    out = subprocess.run([python, *_PIP, "list", "--format=json", "--disable-pip-version-check"],
                         capture_output=True, text=True, check=True).stdout
    return {_canonical(p["name"]): p["version"] for p in json.loads(out)}


def constraints_text(versions: dict[str, str], protected=PROTECTED) -> str:
    """The pip constraints file keeping Colab's runtime: ``name==version`` per installed ``protected`` package."""
    return "".join(f"{n}=={versions[_canonical(n)]}\n" for n in protected if _canonical(n) in versions) or "\n"


def describe_changes(before: dict[str, str], after: dict[str, str], protected=PROTECTED,
                     ignore=(THIS_PACKAGE,)) -> str:
    """One line saying what an install added, upgraded, downgraded and removed, and which ``protected``
    packages it left alone, e.g. ``installed: scikeras 0.13.0; upgraded: scikit-learn 1.6.1 -> 1.9.1;
    TensorFlow, NumPy unchanged``. ``ignore``: packages left out (this repository's own)."""
    names = sorted((set(before) | set(after)) - {_canonical(n) for n in ignore})
    common = [n for n in names if n in before and n in after and before[n] != after[n]]
    up = [n for n in common if _version_key(after[n]) > _version_key(before[n])]
    groups = (("installed", [f"{n} {after[n]}" for n in names if n not in before]),
              ("upgraded", [f"{n} {before[n]} -> {after[n]}" for n in up]),
              ("downgraded", [f"{n} {before[n]} -> {after[n]}" for n in common if n not in up]),
              ("removed", [f"{n} {before[n]}" for n in names if n not in after]))
    parts = [f"{what}: {', '.join(items)}" for what, items in groups if items] or ["nothing to install"]
    kept = [_DISPLAY.get(n, n) for n in protected
            if _canonical(n) in before and before[_canonical(n)] == after.get(_canonical(n))]
    return "; ".join(parts + ([", ".join(kept) + " unchanged"] if kept else []))


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


def conflict_lines(pip_check_output: str, changed: list[str]) -> list[str]:
    """The lines of ``pip check``'s output whose requirement names one of ``changed`` (for scikit-learn:
    ``yellowbrick 1.5 has requirement scikit-learn<1.7, but you have scikit-learn 1.9.1.``)."""
    names = {_canonical(n) for n in changed}
    matches = ((line, re.search(r"(?:has requirement|requires) ([A-Za-z0-9._-]+)", line))
               for line in pip_check_output.splitlines())
    return [line.strip() for line, m in matches if m and _canonical(m.group(1)) in names]


def install(repo: str | os.PathLike, python: str = sys.executable, quiet: bool = True,
            runner: bool = False) -> InstallReport:
    """Install ``requirements.txt`` (and ``requirements-runner.txt`` with ``runner``) under constraints pinning
    :data:`PROTECTED`, then ``pip install --no-deps -e repo``; print and return what changed. Raises
    FileNotFoundError without ``requirements.txt``, RuntimeError when pip fails or a protected package changed."""
    repo = Path(repo).resolve()
    requirements = repo / "requirements.txt"
    if not requirements.is_file():
        raise FileNotFoundError(f"{requirements} does not exist: {repo} is not a copy of the course repository")
    before = installed_versions(python)
    pip = [python, *_PIP, "install", *(["-q"] if quiet else []), "--disable-pip-version-check"]
    with tempfile.TemporaryDirectory() as tmp:
        constraints = Path(tmp) / "colab-constraints.txt"
        constraints.write_text(constraints_text(before))
        files = [requirements] + ([repo / "requirements-runner.txt"] if runner else [])
        commands = [[*pip, "-c", str(constraints), *(arg for f in files for arg in ("-r", str(f)))],
                    [*pip, "--no-deps", "-e", str(repo)]]
        for command in commands:
            done = subprocess.run(command, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"pip failed ({' '.join(command[3:])}):\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    after = installed_versions(python)
    report = InstallReport(before, after, describe_changes(before, after), commands)
    check = subprocess.run([python, *_PIP, "check", "--disable-pip-version-check"], capture_output=True, text=True)
    if conflicts := conflict_lines(check.stdout, report.changed()):
        report.conflicts = conflicts
        report.summary += f"; pip check: {'; '.join(conflicts)} (preinstalled packages the notebooks do not use)"
    print(report.summary)
    if broken := report.changed_protected():
        changes = ", ".join(f"{n} {before[n]} -> {after.get(n, 'removed')}" for n in broken)
        raise RuntimeError(f"the install changed Colab's own packages ({changes}): restart the runtime "
                           "(Runtime > Disconnect and delete runtime) and report this as a bug of the course")
    return report


def configure(use_drive: bool = True, root: str | os.PathLike = DRIVE_ROOT, mount: str = DRIVE_MOUNT) -> Path | None:
    """Quiet TensorFlow's C++ logs and, with ``use_drive``, mount Drive (in Colab) and set
    ``DL_RUNS_DIR=<root>/runs``, ``DL_DATA_DIR=<root>/data``: Colab gives every notebook its own machine, so only
    Drive carries results from one to the next. Returns ``root``, or None without Drive.
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
    os.environ.update(DL_RUNS_DIR=str(path / "runs"), DL_DATA_DIR=str(path / "data"))
    print(f"runs and data are kept on Google Drive: {path}")
    return path
