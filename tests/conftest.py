"""Test-wide settings: quiet TensorFlow, and runs/data written to temporary folders.

The variables are set when pytest configures itself, so the kernels that papermill and nbval
start inherit them too.
"""

from __future__ import annotations

import os
import shutil
import tempfile

_TMP = None


def pytest_configure(config):
    global _TMP
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    os.environ.setdefault("MPLBACKEND", "Agg")
    os.environ.setdefault("PYTHONHASHSEED", "0")
    _TMP = tempfile.mkdtemp(prefix="dl-course-tests-")
    os.environ["DL_RUNS_DIR"] = os.path.join(_TMP, "runs")
    os.environ.setdefault("DL_DATA_DIR", os.path.join(_TMP, "data"))


def pytest_unconfigure(config):
    if _TMP and not os.environ.get("DL_KEEP_TEST_RUNS"):
        shutil.rmtree(_TMP, ignore_errors=True)
