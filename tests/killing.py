"""Start a real smoke run in its own process group and kill -9 it (runner and kernel together, like a
Colab disconnect) when a file appears; used by the kill-and-resume tests.

A kernel runs in a session of its own (jupyter_client starts it so), so killing the runner's process
group alone leaves the kernel working for up to a second until it notices its parent is gone;
:func:`kill_all` kills the kernel itself first."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

SCRIPT = """
import sys
from helpers import pipeline, runs
run_id, only, label = sys.argv[1], sys.argv[2], sys.argv[3]
path = runs.runs_root() / run_id
run = runs.Run(path) if path.exists() else runs.create_run(run_id=run_id, profile="smoke")
executions = [e for e in pipeline.plan("smoke", only=only) if not label or e.label == label]
pipeline.run_pipeline(executions, run, progress=False)
print("DONE")
"""


def start(runs_dir: Path, run_id: str, only: str, label: str = "") -> subprocess.Popen:
    """Start (or resume) smoke run ``run_id`` of notebook ``only`` (one ``label``) in a new session."""
    env = {**os.environ, "DL_RUNS_DIR": str(runs_dir)}
    return subprocess.Popen([sys.executable, "-c", SCRIPT, run_id, only, label], env=env,
                            start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_notebook(drive: Path, notebook: str, output: Path) -> subprocess.Popen:
    """Execute ``notebooks/<notebook>.ipynb`` alone as a student does: papermill with only
    ``profile="smoke"`` (no run_dir), runs and embedded data kept in ``drive`` (a simulated Google Drive)."""
    env = {**os.environ, "DL_RUNS_DIR": str(drive / "runs"), "DL_DATA_DIR": str(drive / "data")}
    source = Path(__file__).resolve().parent.parent / "notebooks" / f"{notebook}.ipynb"
    with open(output.with_suffix(".log"), "wb") as log:  # papermill's messages, read when it fails
        return subprocess.Popen([sys.executable, "-m", "papermill", str(source), str(output), "-p", "profile",
                                 "smoke", "--log-level", "ERROR"], env=env, start_new_session=True,
                                stdout=log, stderr=subprocess.STDOUT)


def kill_when(proc: subprocess.Popen, ready, what: str, after: float = 0.0, timeout: float = 300) -> None:
    """Wait until ``ready()`` is true, sleep ``after`` seconds, then SIGKILL the whole process group."""
    deadline = time.time() + timeout
    while not ready():
        assert proc.poll() is None, f"the run ended before {what}"
        assert time.time() < deadline, f"no {what} in {timeout:.0f} s"
        time.sleep(0.05)
    time.sleep(after)
    assert proc.poll() is None, f"the run ended within {after} s after {what}; nothing was interrupted"
    kill_all(proc)


def kill_all(proc: subprocess.Popen) -> None:
    """SIGKILL every process ``proc`` started (kernels first: they write the artifacts), then its
    process group, and wait until all are gone."""
    import psutil

    try:
        family = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    for child in reversed(family):  # deepest first
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    _, alive = psutil.wait_procs(family, timeout=30)
    assert not alive, f"processes still alive after SIGKILL: {alive}"


def finish(runs_dir: Path, run_id: str, only: str, label: str = "") -> None:
    """Resume ``run_id`` to the end in a fresh process; fail with its stderr if it does not finish."""
    env = {**os.environ, "DL_RUNS_DIR": str(runs_dir)}
    done = subprocess.run([sys.executable, "-c", SCRIPT, run_id, only, label], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0 and "DONE" in done.stdout, done.stderr[-3000:]


def check_intact(root: Path) -> None:
    """Every JSON/CSV artifact under ``root`` reads completely (a kill may leave only temporaries)."""
    import pandas as pd

    for path in root.rglob("*"):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".csv":
            pd.read_csv(path)


def leftovers(root: Path) -> list[Path]:
    """Temporary files of interrupted atomic writes (a resume removes them)."""
    return [p for p in root.rglob(".*") if ".tmp" in p.name]
