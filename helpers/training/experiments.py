"""One resumable runner for every "units x seeds" experiment (03's refits, 04's retraining, 05's backbones,
07's families, 08's ablation). A :class:`Unit` is one model to train: a folder in the run plus the inputs its
result depends on (data, settings, the notebook's build function by source). A finished unit with the same
digest is loaded; one whose inputs changed (named in the log) or that was interrupted is trained again.
A function called from another cell belongs in the inputs too; data go in as arrays/DataFrames or fingerprints."""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers.env import progress_bar
from helpers.evaluation.metrics import format_mean_sd, summarize_mean_sd
from helpers.runs import COMPLETE_MARKER, Run

__all__ = ["Unit", "fingerprint", "function_source", "run_units", "changed_parameters", "history_frame",
           "mean_sd_table"]

RESULT_FILE = "result.json"
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def function_source(function: Callable) -> str:
    """The source of ``function`` (a notebook cell's function too); its bytecode when no source exists."""
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        code = getattr(function, "__code__", None)
        text = repr(function) if code is None else code.co_code.hex() + repr(code.co_consts) + repr(code.co_names)
        return _ADDRESS.sub("", text)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _plain(value: Any) -> Any:
    """A JSON-able stand-in for ``value`` that changes whenever the value does (and only then)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True, default=str))
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        return {"array_sha256": _sha256(np.ascontiguousarray(value).tobytes()), "shape": list(value.shape),
                "dtype": str(value.dtype)}
    if isinstance(value, (pd.DataFrame, pd.Series)):
        names = list(map(str, value.columns)) if isinstance(value, pd.DataFrame) else str(value.name)
        return {"frame_sha256": _sha256(pd.util.hash_pandas_object(value, index=True).to_numpy().tobytes()),
                "columns": names}
    if value is None or isinstance(value, (str, int, float, bool, Path)):
        return str(value) if isinstance(value, Path) else value
    if isinstance(value, functools.partial):
        return {"partial": _plain(value.func), "args": _plain(value.args), "keywords": _plain(value.keywords)}
    if inspect.isfunction(value) or inspect.ismethod(value) or inspect.isclass(value):
        return {"source_sha256": _sha256(function_source(value).encode())}
    for method in ("get_config", "get_params"):  # Keras layers, losses, optimizers; scikit-learn estimators
        if hasattr(value, method):
            try:
                return {"type": type(value).__qualname__, method: _plain(getattr(value, method)())}
            except Exception:  # e.g. a subclassed Keras model without get_config
                pass
    if callable(value) and not hasattr(value, "__dict__"):  # builtins: their name says it all
        return {"callable": getattr(value, "__qualname__", repr(value))}
    return _ADDRESS.sub("", repr(value))  # "<object at 0x7f..>" differs per session: drop the address


def fingerprint(value: Any) -> str:
    """A short SHA-256 digest of ``value`` (dicts, lists, arrays, DataFrames, functions...)."""
    return _sha256(json.dumps(_plain(value), sort_keys=True, default=str).encode())[:16]


@dataclass(frozen=True)
class Unit:
    """One model to train: its ``folder`` in the run, the ``inputs`` its result depends on (digested: arrays and
    frames by content, functions by source) and the ``labels`` put in front of its result row."""

    folder: str
    inputs: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return fingerprint(self.inputs)


def changed_parameters(before: dict, after: dict) -> list[str]:
    """Names of the inputs whose stored (JSON-able) value differs between two digested inputs."""
    return [k for k in sorted(set(before) | set(after)) if before.get(k) != after.get(k)]


def run_units(run: Run, units: Iterable[Unit], train: Callable[[Unit], dict], *, desc: str = "",
              progress: bool = True, log: Callable[[str], None] = print) -> pd.DataFrame:
    """Train every unit with ``train(unit) -> dict`` (which writes its own files into its folder), then write
    ``result.json`` (row, inputs, digest) and the completion marker; a complete unit with the same digest is
    read back instead. Returns one row per unit: ``unit.labels`` followed by what ``train`` returned."""
    units = list(units)
    folders = [u.folder for u in units]
    if len(set(folders)) != len(folders):
        raise ValueError(f"two units share a folder: {sorted({f for f in folders if folders.count(f) > 1})}")
    rows = []
    for unit in progress_bar(units, desc=desc, disable=not progress or not units, leave=False):
        digest, folder = unit.digest, run.path / unit.folder
        if (folder / COMPLETE_MARKER).exists() and (folder / RESULT_FILE).exists():
            stored = run.read_json(f"{unit.folder}/{RESULT_FILE}")
            if run.read_json(f"{unit.folder}/{COMPLETE_MARKER}").get("digest") == digest:
                rows.append(stored["row"])
                continue
            changed = changed_parameters(stored.get("inputs", {}), _plain(unit.inputs))
            log(f"{unit.folder}: trained again, its inputs changed since the stored result "
                f"({', '.join(changed) or 'digest'})")
            (folder / COMPLETE_MARKER).unlink()
        elif folder.is_dir() and any(folder.iterdir()):
            log(f"{unit.folder}: trained again, it was interrupted before its end")
        row = {**unit.labels, **train(unit)}
        run.write_json(f"{unit.folder}/{RESULT_FILE}", {"row": row, "digest": digest, "inputs": _plain(unit.inputs)})
        run.mark_complete(unit.folder, digest=digest)
        rows.append(run.read_json(f"{unit.folder}/{RESULT_FILE}")["row"])  # as a resumed run reads it back
    return pd.DataFrame(rows)


def history_frame(keras_history, epoch_seconds: list[float] | None = None, initial_epoch: int = 0) -> pd.DataFrame:
    """A Keras ``History`` (or its dict) as a DataFrame: ``epoch`` (1-based), ``loss``, ``accuracy``, ``val_loss``,
    ``val_accuracy`` first (as logged), the other logs (``learning_rate`` renamed ``lr``), ``epoch_seconds``."""
    frame = pd.DataFrame(getattr(keras_history, "history", keras_history)).rename(columns={"learning_rate": "lr"})
    first = [c for c in ("loss", "accuracy", "val_loss", "val_accuracy") if c in frame]
    frame = frame[first + [c for c in frame if c not in first]]
    frame.insert(0, "epoch", np.arange(initial_epoch + 1, initial_epoch + 1 + len(frame)))
    if epoch_seconds is not None:
        frame["epoch_seconds"] = list(epoch_seconds)[: len(frame)]
    return frame


def mean_sd_table(results: pd.DataFrame, by, metrics: dict[str, str], *, digits: int = 3,
                  keep: Iterable[str] = (), numeric: bool = True) -> pd.DataFrame:
    """One row per ``by`` group of ``results``: the ``keep`` columns (first row's), per metric a ``mean ± SD``
    column headed ``metrics[metric]`` (one seed: ``0.912 (1 seed)``), ``seeds`` (rows with a result) and, when
    ``numeric``, ``<metric>_mean`` / ``_sd`` / ``_n`` (see :func:`helpers.evaluation.metrics.summarize_mean_sd`)."""
    by_cols = [by] if isinstance(by, str) else list(by)
    summary = summarize_mean_sd(results, by_cols, list(metrics))
    table = summary[by_cols].join(results.drop_duplicates(by_cols).set_index(by_cols)[list(keep)], on=by_cols)
    for metric, heading in metrics.items():
        table[heading] = [format_mean_sd(m, s, digits, n=k) for m, s, k in
                          zip(summary[f"{metric}_mean"], summary[f"{metric}_sd"], summary[f"{metric}_n"])]
    table["seeds"] = summary["n"]
    if numeric:
        table = table.join(summary[[f"{m}_{part}" for m in metrics for part in ("mean", "sd", "n")]])
    return table
