"""One resumable runner for every "units x seeds" experiment (03's refits, 04's retraining, 05's
backbones, 07's families, 08's ablation).

A **unit** is one model to train: a folder in the run plus the parameters its result depends on.
Its *digest* hashes those parameters -- data fingerprint, settings, and the source of the
notebook's build function -- so that:

* a finished unit with the same digest is loaded, never retrained;
* a finished unit whose digest differs (other epochs, an edited model cell...) is trained again,
  and the notebook says which inputs changed;
* a unit interrupted before its end is trained again (its marker is the last file written).

The notebook's build function is passed in, so an edited model cell changes every repetition.
"""

from __future__ import annotations

import hashlib
import inspect
import json
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


def function_source(function: Callable) -> str:
    """The source of ``function`` (a notebook cell's function too); its bytecode when no source exists."""
    try:
        return inspect.getsource(function)
    except (OSError, TypeError):
        code = getattr(function, "__code__", None)
        if code is None:
            return repr(function)
        return code.co_code.hex() + repr(code.co_consts) + repr(code.co_names)


def _plain(value: Any) -> Any:
    """A JSON-able stand-in for ``value`` that changes whenever the value does."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        return {"array_sha256": hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest(),
                "shape": list(value.shape), "dtype": str(value.dtype)}
    if isinstance(value, pd.DataFrame):
        hashed = pd.util.hash_pandas_object(value, index=True).to_numpy()
        return {"frame_sha256": hashlib.sha256(hashed.tobytes()).hexdigest(), "columns": list(map(str, value.columns))}
    if isinstance(value, Path):
        return str(value)
    if callable(value):
        return {"source_sha256": hashlib.sha256(function_source(value).encode()).hexdigest()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def fingerprint(value: Any) -> str:
    """A short SHA-256 digest of ``value`` (dicts, lists, arrays, DataFrames, functions...)."""
    text = json.dumps(_plain(value), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Unit:
    """One model to train.

    Parameters
    ----------
    folder : str
        Its folder inside the run (e.g. ``cnn_architecture/depth/3_blocks/seed1``).
    inputs : dict
        Everything the result depends on; it is digested (arrays and frames by content,
        functions by source). Change any of it and the unit is trained again.
    labels : dict
        Columns put in front of the result row (family, variant, seed...).
    """

    folder: str
    inputs: dict = field(default_factory=dict)
    labels: dict = field(default_factory=dict)

    @property
    def digest(self) -> str:
        return fingerprint(self.inputs)


def changed_parameters(before: dict, after: dict) -> list[str]:
    """Names of the inputs whose stored (JSON-able) value differs between two digested inputs."""
    keys = sorted(set(before) | set(after))
    return [k for k in keys if before.get(k) != after.get(k)]


def _stored(run: Run, unit: Unit) -> tuple[dict | None, dict | None]:
    marker = run.path / unit.folder / COMPLETE_MARKER
    result = run.path / unit.folder / RESULT_FILE
    if not marker.exists() or not result.exists():
        return None, None
    return run.read_json(f"{unit.folder}/{COMPLETE_MARKER}"), run.read_json(f"{unit.folder}/{RESULT_FILE}")


def run_units(run: Run, units: Iterable[Unit], train: Callable[[Unit], dict], *, desc: str = "",
              progress: bool = True, log: Callable[[str], None] = print) -> pd.DataFrame:
    """Train every unit with ``train(unit) -> dict`` (numbers of one model), resuming finished ones.

    ``train`` writes its own files (history, predictions, model) into ``run / unit.folder``; this
    function then writes ``result.json`` (the row, the unit's inputs and digest) and marks the
    folder complete with the digest. A complete folder with the same digest is read back instead.

    Returns
    -------
    pandas.DataFrame
        One row per unit: ``unit.labels`` followed by what ``train`` returned.
    """
    units = list(units)
    folders = [u.folder for u in units]
    if len(set(folders)) != len(folders):
        raise ValueError(f"two units share a folder: {sorted({f for f in folders if folders.count(f) > 1})}")
    rows = []
    for unit in progress_bar(units, desc=desc, disable=not progress or not units, leave=False):
        digest = unit.digest
        marker, stored = _stored(run, unit)
        if marker is not None and marker.get("digest") == digest:
            rows.append(stored["row"])
            continue
        if marker is not None:
            changed = changed_parameters(stored.get("inputs", {}), _plain(unit.inputs))
            log(f"{unit.folder}: trained again, its inputs changed since the stored result "
                f"({', '.join(changed) or 'digest'})")
            (run.path / unit.folder / COMPLETE_MARKER).unlink()
        row = {**unit.labels, **train(unit)}
        run.write_json(f"{unit.folder}/{RESULT_FILE}", {"row": row, "digest": digest, "inputs": _plain(unit.inputs)})
        run.mark_complete(unit.folder, digest=digest)
        rows.append(row)
    return pd.DataFrame(rows)


def history_frame(keras_history, epoch_seconds: list[float] | None = None, initial_epoch: int = 0) -> pd.DataFrame:
    """A Keras ``History`` (or its ``.history`` dict) as a DataFrame.

    Columns: ``epoch`` (1-based), the logged metrics (``learning_rate`` is renamed ``lr``) and
    ``epoch_seconds`` when the timings are given.
    """
    logs = getattr(keras_history, "history", keras_history)
    frame = pd.DataFrame(logs).rename(columns={"learning_rate": "lr"})
    frame.insert(0, "epoch", np.arange(initial_epoch + 1, initial_epoch + 1 + len(frame)))
    if epoch_seconds is not None:
        frame["epoch_seconds"] = list(epoch_seconds)[: len(frame)]
    return frame


def mean_sd_table(results: pd.DataFrame, by, metrics: dict[str, str], *, digits: int = 3,
                  keep: Iterable[str] = (), numeric: bool = True) -> pd.DataFrame:
    """One row per group: ``mean ± SD`` text per metric (over seeds), ``seeds`` (n), optional columns.

    Parameters
    ----------
    results : DataFrame
        One row per (unit, seed).
    by : str or list of str
        The grouping columns (e.g. ``"variant"``).
    metrics : dict
        Column -> heading of its ``mean ± SD`` column (e.g. ``{"accuracy": "test accuracy"}``).
    keep : columns copied from each group's first row (spec, params...).
    numeric : also keep the numeric ``<metric>_mean`` / ``<metric>_sd`` columns (for sorting, plots).
    """
    by_cols = [by] if isinstance(by, str) else list(by)
    summary = summarize_mean_sd(results, by_cols, list(metrics))
    first = results.drop_duplicates(by_cols).set_index(by_cols)
    table = summary[by_cols].copy()
    for column in keep:
        table[column] = [first.loc[tuple(k) if len(by_cols) > 1 else k[0], column]
                         for k in summary[by_cols].itertuples(index=False)]
    for metric, heading in metrics.items():
        table[heading] = [format_mean_sd(m, s, digits) for m, s in zip(summary[f"{metric}_mean"], summary[f"{metric}_sd"])]
    table["seeds"] = summary["n"]
    if numeric:
        for metric in metrics:
            table[f"{metric}_mean"] = summary[f"{metric}_mean"]
            table[f"{metric}_sd"] = summary[f"{metric}_sd"]
    return table
