"""kill -9 of the runner (and its kernel) mid-notebook, then --resume: only unfinished work is redone."""

import os
import subprocess
import sys
import time

import killing
from tiny_notebooks import write_tiny_notebook

from helpers import pipeline, runs


def test_kill_runner_mid_notebook_then_resume(tmp_path, monkeypatch, capsys):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    # 00: counts its executions; 01: counts, then waits for a flag file (the test kills it while it waits)
    write_tiny_notebook(nbdir / "00_primer.ipynb",
              "from pathlib import Path\np = Path(run_dir) / 'n00.txt'\n"
              "p.write_text(str(int(p.read_text()) + 1) if p.exists() else '1')")
    write_tiny_notebook(nbdir / "01_breathing_eda.ipynb",
              "import time\nfrom pathlib import Path\np = Path(run_dir) / 'n01.txt'\n"
              "p.write_text(str(int(p.read_text()) + 1) if p.exists() else '1')\n"
              "while not (Path(run_dir) / 'go').exists():\n    time.sleep(0.2)")
    env = {**os.environ, "DL_NOTEBOOKS_DIR": str(nbdir), "DL_RUNS_DIR": str(tmp_path / "runs")}
    cmd = [sys.executable, "-m", "helpers.pipeline", "--profile", "smoke", "--only", "00,01",
           "--run-id", "killed", "--no-progress"]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    run_path = tmp_path / "runs" / "killed"
    deadline = time.time() + 120
    while not (run_path / "n01.txt").exists():
        assert proc.poll() is None, "the runner ended before it reached notebook 01"
        assert time.time() < deadline, "notebook 01 never started"
        time.sleep(0.2)
    killing.kill_all(proc)  # the runner and its kernel, like a Colab disconnect

    m = runs.Run(run_path).manifest
    assert m["notebooks"]["00_primer"]["status"] == "completed"
    assert m["notebooks"]["01_breathing_eda"]["status"] == "running"  # never finished
    killing.check_intact(run_path)

    (run_path / "go").write_text("")
    # the resume is the runner's own command line, called in this process (no second Python start-up)
    monkeypatch.setenv("DL_NOTEBOOKS_DIR", str(nbdir))
    monkeypatch.setenv("DL_RUNS_DIR", str(tmp_path / "runs"))
    returncode = pipeline.main(["--resume", "killed", "--no-progress"])
    out = capsys.readouterr()
    assert returncode == 0, out.err
    assert "00_primer: already completed" in out.out
    m = runs.Run(run_path).manifest
    assert m["status"] == "completed"
    assert m["notebooks"]["01_breathing_eda"]["status"] == "completed"
    assert (run_path / "n00.txt").read_text() == "1"  # not redone
    assert (run_path / "n01.txt").read_text() == "2"  # redone once
