"""Papermill smoke tests share ONE smoke run: each notebook (with all its parameter sets) is
executed at most once per session, after the notebooks it depends on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers import pipeline, runs


class SmokeRun:
    """Executes notebooks on demand into one shared smoke run directory."""

    def __init__(self):
        self.run = runs.create_run(run_id="smoke", profile="smoke")
        self.done: set[str] = set()
        self.failed: dict[str, str] = {}

    def ensure(self, notebook: str) -> runs.Run:
        """Execute ``notebook`` (and what it depends on) once; return the run."""
        for dep in pipeline.DEPENDS_ON.get(notebook, ()):
            if notebook != "09_results_report" and dep in pipeline.available_notebooks():
                self.ensure(dep)
        if notebook in self.failed:
            pytest.fail(f"{notebook} failed earlier in this session:\n{self.failed[notebook]}")
        if notebook not in self.done:
            executions = pipeline.plan("smoke", only=[notebook])
            try:
                pipeline.run_pipeline(executions, self.run, progress=False, log=lambda *_: None)
            except pipeline.NotebookFailed as err:
                self.failed[notebook] = str(err)
                pytest.fail(str(err))
            self.done.add(notebook)
        return self.run


@pytest.fixture(scope="session")
def user_csv(tmp_path_factory):
    """A small CSV with other label names, three labels (one of a dozen rows) and 6 features."""
    rng = np.random.default_rng(0)
    sizes = {"calm": 40, "panting": 16, "sigh": 12}
    labels = np.repeat(list(sizes), list(sizes.values()))
    centre = {"calm": 0.0, "panting": 1.0, "sigh": -1.0}
    X = rng.normal(0, 1, (len(labels), 6)) + np.array([centre[k] for k in labels])[:, None]
    frame = pd.DataFrame(X, columns=[f"sensor_{i}" for i in range(6)])
    frame["labels"] = labels
    path = tmp_path_factory.mktemp("user") / "my_breaths.csv"
    frame.to_csv(path, index=False)
    return path, sizes


@pytest.fixture(scope="session")
def smoke() -> SmokeRun:
    return SmokeRun()
