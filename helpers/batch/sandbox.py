"""Running one untrusted notebook: a separate worker process (``python -m helpers.batch.worker SPEC``) whose kernel
inherits its limits, watched by the caller for wall-clock time and memory.

* **Writes**: with Linux Landlock (kernel 5.13+, no privileges needed) the worker and its kernel may write only
  inside the submission's own batch folder (its copied working directory, run directory, home and temporary
  folders), the Keras cache (ImageNet downloads, md5-checked on use) and ``/dev``; the repository, the submissions
  folder and the other students' folders are read-only. Where Landlock is missing :func:`write_protection` says so
  and the batch's summary repeats it.
* **Time and memory**: :func:`grade_one` samples the resident memory of the worker and every process it started
  (the kernel, its children) every 0.2 s and kills them all past ``memory_mb`` or ``timeout_s``.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from helpers import env, runs
from helpers.batch.checks import code_cells, first_line

__all__ = ["landlock_abi", "restrict_writes", "write_protection", "keras_home", "grade_one", "COMPLETED", "FAILED",
           "TIMED_OUT", "MEMORY", "CRASHED"]

COMPLETED, FAILED, TIMED_OUT, MEMORY, CRASHED = "completed", "failed", "timed out", "memory limit", "crashed"
_POLL_S = 0.2

# Landlock (include/uapi/linux/landlock.h): the same syscall numbers on every architecture
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION, _RULE_PATH_BENEATH, _PR_SET_NO_NEW_PRIVS = 1, 1, 38
_WRITE_FILE, _REMOVE_DIR, _REMOVE_FILE = 1 << 1, 1 << 4, 1 << 5
_MAKE = sum(1 << k for k in range(6, 13))  # char, dir, reg, sock, fifo, block, sym
_REFER, _TRUNCATE = 1 << 13, 1 << 14  # ABI 2, ABI 3


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _syscall(*args) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    result = libc.syscall(*args)
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return result


def landlock_abi() -> int:
    """The Landlock ABI version this kernel offers (0: none, or not Linux)."""
    if not sys.platform.startswith("linux"):
        return 0
    try:
        return _syscall(_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    except (OSError, AttributeError):
        return 0


def write_protection() -> str:
    """One sentence on how submissions are kept from writing outside their folder on this machine."""
    abi = landlock_abi()
    if abi:
        return (f"Landlock (ABI {abi}): each submission may write only in its own batch folder, the Keras cache and "
                "/dev; the repository and the other students' folders are read-only to it")
    return ("NOT ENFORCED on this machine (the kernel has no Landlock): each submission works in a copy of its folder "
            "with its own home, temporary and run folders, but code that names another path can write there")


def restrict_writes(writable: list[str | os.PathLike]) -> bool:
    """Allow this process and every process it starts afterwards to write only beneath ``writable`` (folders or
    files); reading stays allowed everywhere. Irreversible. Returns False (and changes nothing) without Landlock."""
    abi = landlock_abi()
    if not abi:
        return False
    handled = _WRITE_FILE | _REMOVE_DIR | _REMOVE_FILE | _MAKE | (_REFER if abi >= 2 else 0) | (
        _TRUNCATE if abi >= 3 else 0)
    attr = _RulesetAttr(handled)
    ruleset = _syscall(_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)), ctypes.c_uint32(0))
    try:
        for path in writable:
            if not os.path.exists(path):
                continue
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            try:
                rights = handled if os.path.isdir(path) else handled & (_WRITE_FILE | _TRUNCATE)
                rule = _PathBeneath(rights, fd)
                _syscall(_ADD_RULE, ruleset, _RULE_PATH_BENEATH, ctypes.byref(rule), ctypes.c_uint32(0))
            finally:
                os.close(fd)
        if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS) failed")
        _syscall(_RESTRICT_SELF, ruleset, ctypes.c_uint32(0))
    finally:
        os.close(ruleset)
    return True


def keras_home() -> Path:
    """Keras' cache folder (``$KERAS_HOME`` or ``~/.keras``), where ImageNet weights are downloaded and looked for."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser()


def _tree(process):
    import psutil

    with contextlib.suppress(psutil.Error):
        return [process, *process.children(recursive=True)]
    return []


def _rss_mb(processes) -> float:
    import psutil

    total = 0
    for p in processes:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total / 2**20


def _kill(processes) -> None:
    import psutil

    for p in reversed(processes):  # the kernel before the worker that would restart it
        with contextlib.suppress(psutil.Error, OSError):
            p.send_signal(signal.SIGKILL)


def _where(output: Path) -> dict:
    """The code cell (1-based, as in the student's notebook, the injected parameters cell aside) that was running
    when the execution stopped, read from papermill's partial output."""
    import nbformat

    try:
        nb = nbformat.read(str(output), as_version=4)
    except Exception:  # noqa: BLE001 - no partial output: nothing to say
        return {}
    cells = code_cells(nb)
    for number, cell in enumerate(cells, start=1):
        if cell.metadata.get("papermill", {}).get("status") in ("running", "failed"):
            return {"cell": number, "cell_source": first_line(cell.source)}
    return {}


def grade_one(spec: dict) -> dict:
    """Execute one submission as ``spec`` describes (see :mod:`helpers.batch.worker`) under its time and memory
    limits; returns ``{"status", "detail", "seconds", "peak_memory_mb", ...}``. Never raises for the student's code."""
    folder = Path(spec["folder"])
    spec_path = folder / "spec.json"
    runs.write_json(spec_path, spec)
    result_path = folder / "worker.json"
    result_path.unlink(missing_ok=True)
    started = time.monotonic()
    child_env = {**os.environ, **env.QUIET_TENSORFLOW_ENV, **spec["env"]}
    with open(folder / "worker.log", "ab") as log:
        worker = subprocess.Popen([sys.executable, "-m", "helpers.batch.worker", str(spec_path)], stdout=log,
                                  stderr=subprocess.STDOUT, env=child_env, cwd=spec["work_dir"],
                                  start_new_session=True)
    import psutil

    process, stopped, peak = psutil.Process(worker.pid), None, 0.0
    while worker.poll() is None:
        tree = _tree(process)
        peak = max(peak, _rss_mb(tree))
        if spec.get("memory_mb") and peak > spec["memory_mb"]:
            stopped = {"status": MEMORY, "detail": f"used {peak:.0f} MiB, past the limit of {spec['memory_mb']} MiB"}
        elif spec.get("timeout_s") and time.monotonic() - started > spec["timeout_s"]:
            stopped = {"status": TIMED_OUT, "detail": f"still running after the limit of {spec['timeout_s']} s"}
        if stopped:
            _kill(_tree(process))
            break
        time.sleep(_POLL_S)
    worker.wait()
    seconds = round(time.monotonic() - started, 1)
    if stopped:
        where = _where(Path(spec["output"]))
        if where:
            stopped["detail"] += f", in code cell {where['cell']} ({where['cell_source']!r})"
        return {**stopped, **where, "seconds": seconds, "peak_memory_mb": round(peak)}
    try:
        result = json.loads(result_path.read_text())
    except (OSError, ValueError):
        result = {"status": CRASHED, "detail": f"the worker process ended with code {worker.returncode} without a "
                                               f"result (see {folder / 'worker.log'})"}
    return {**result, "seconds": seconds, "peak_memory_mb": round(peak)}
