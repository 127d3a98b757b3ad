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
Only a function's own source is digested: a function it calls from another cell belongs in the
unit's ``inputs`` too. Pass data as arrays/DataFrames (digested by content) or as a fingerprint.
"""

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
        return {"array_sha256": hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest(),
                "shape": list(value.shape), "dtype": str(value.dtype)}
    if isinstance(value, (pd.DataFrame, pd.Series)):
        hashed = pd.util.hash_pandas_object(value, index=True).to_numpy()
        names = list(map(str, value.columns)) if isinstance(value, pd.DataFrame) else str(value.name)
        return {"frame_sha256": hashlib.sha256(hashed.tobytes()).hexdigest(), "columns": names}
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, functools.partial):
        return {"partial": _plain(value.func), "args": _plain(value.args), "keywords": _plain(value.keywords)}
    if inspect.isfunction(value) or inspect.ismethod(value) or inspect.isclass(value):
        return {"source_sha256": hashlib.sha256(function_source(value).encode()).hexdigest()}
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
        elif (run.path / unit.folder).is_dir() and any((run.path / unit.folder).iterdir()):
            log(f"{unit.folder}: trained again, it was interrupted before its end")
        row = {**unit.labels, **train(unit)}
        run.write_json(f"{unit.folder}/{RESULT_FILE}", {"row": row, "digest": digest, "inputs": _plain(unit.inputs)})
        run.mark_complete(unit.folder, digest=digest)
        rows.append(run.read_json(f"{unit.folder}/{RESULT_FILE}")["row"])  # as a resumed run reads it back
    return pd.DataFrame(rows)


def history_frame(keras_history, epoch_seconds: list[float] | None = None, initial_epoch: int = 0) -> pd.DataFrame:
    """A Keras ``History`` (or its ``.history`` dict) as a DataFrame.

    Columns: ``epoch`` (1-based), ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy`` first (as
    far as logged; Keras' own order varies between versions), the other logs (``learning_rate`` is
    renamed ``lr``) and ``epoch_seconds`` when the timings are given.
    """
    logs = getattr(keras_history, "history", keras_history)
    frame = pd.DataFrame(logs).rename(columns={"learning_rate": "lr"})
    first = [c for c in ("loss", "accuracy", "val_loss", "val_accuracy") if c in frame]
    frame = frame[first + [c for c in frame if c not in first]]
    frame.insert(0, "epoch", np.arange(initial_epoch + 1, initial_epoch + 1 + len(frame)))
    if epoch_seconds is not None:
        frame["epoch_seconds"] = list(epoch_seconds)[: len(frame)]
    return frame


def mean_sd_table(results: pd.DataFrame, by, metrics: dict[str, str], *, digits: int = 3,
                  keep: Iterable[str] = (), numeric: bool = True) -> pd.DataFrame:
    """One row per group: ``mean ± SD`` text per metric (over seeds), ``seeds``, optional columns.

    A group with one seed shows ``0.912 (1 seed)`` (its SD is undefined: NaN in ``<metric>_sd``);
    ``seeds`` counts the rows with a result (see :func:`helpers.evaluation.metrics.summarize_mean_sd`).

    Parameters
    ----------
    results : DataFrame
        One row per (unit, seed).
    by : str or list of str
        The grouping columns (e.g. ``"variant"``).
    metrics : dict
        Column -> heading of its ``mean ± SD`` column (e.g. ``{"accuracy": "test accuracy"}``).
    keep : columns copied from each group's first row (spec, params...).
    numeric : also keep the numeric ``<metric>_mean`` / ``<metric>_sd`` / ``<metric>_n`` columns (for
        sorting, plots, verdicts).
    """
    by_cols = [by] if isinstance(by, str) else list(by)
    summary = summarize_mean_sd(results, by_cols, list(metrics))
    first = results.drop_duplicates(by_cols).set_index(by_cols)
    table = summary[by_cols].copy()
    for column in keep:
        table[column] = [first.loc[tuple(k) if len(by_cols) > 1 else k[0], column]
                         for k in summary[by_cols].itertuples(index=False)]
    for metric, heading in metrics.items():
        table[heading] = [format_mean_sd(m, s, digits, n=k) for m, s, k in
                          zip(summary[f"{metric}_mean"], summary[f"{metric}_sd"], summary[f"{metric}_n"])]
    table["seeds"] = summary["n"]
    if numeric:
        for metric in metrics:
            for part in ("mean", "sd", "n"):
                table[f"{metric}_{part}"] = summary[f"{metric}_{part}"]
    return table
