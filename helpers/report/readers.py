"""Reading one run's artifacts: one loader per track, every path from :mod:`helpers.layout`.

A loader returns a dict with ``present`` (the track's folder exists and is not empty), ``problems``
and what it read. An unreadable or partial artifact (invalid JSON/CSV, missing columns, a unit
folder without its completion marker) becomes a message naming the file -- never an exception.
A trained unit's numbers come from its ``result.json`` row (written by
:func:`helpers.training.experiments.run_units`), else from its ``metrics.json`` / ``summary.json``.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from helpers import layout, runs
from helpers.evaluation.verdicts import accuracy_key

__all__ = ["load_manifest", "load_tabular", "load_images", "load_architecture", "load_imbalanced",
           "keras_architecture", "compact_layers"]

# Names older runs wrote for a concept that now has one name.
RENAMED = {"seconds_per_epoch": "mean_epoch_seconds", "ms_per_sample": "inference_ms_per_image"}


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _flat_numbers(obj: dict, prefix: str = "") -> dict[str, int | float]:
    """The numeric scalars of a JSON object, nested keys joined with '.' (lists and per_class skipped)."""
    out: dict[str, int | float] = {}
    for key, value in obj.items():
        if _number(value):
            out[f"{prefix}{key}"] = value
        elif isinstance(value, dict) and key != "per_class":
            out.update(_flat_numbers(value, f"{prefix}{key}."))
    return out


def _pngs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.png") if not p.name.startswith(".")) if folder.is_dir() else []


class _Reader:
    """Reads files under one run folder; each unreadable file adds a message to ``problems``."""

    def __init__(self, root: Path, folder: str):
        self.root, self.problems = Path(root), []
        base = self.root / folder
        self.out: dict[str, Any] = {"present": base.is_dir() and any(base.iterdir()), "problems": self.problems,
                                    "folder": folder, "figures": _pngs(base)}

    def json(self, path: Path) -> Any:
        try:
            return runs.read_json(path)
        except (ValueError, OSError) as err:
            self.problems.append(f"`{os.path.relpath(path, self.root)}`: {str(err).replace(str(self.root) + os.sep, '')}")
            return None

    def csv(self, path: Path, required: Sequence[str] = ()):
        where = f"`{os.path.relpath(path, self.root)}`"
        try:
            frame = pd.read_csv(path)
        except Exception as err:  # noqa: BLE001 - pandas raises several types for corrupt files
            self.problems.append(f"{where} could not be read as CSV (corrupt or partial artifact?): "
                                 f"{type(err).__name__}: {err}")
            return None
        missing = [c for c in required if c not in frame.columns]
        if missing:
            self.problems.append(f"{where} lacks column(s) {missing}; it has {list(frame.columns)}")
            return None
        return frame

    def csvs(self, paths: Iterable[Path], skip: Sequence[str] = (), max_rows: int = 10**9) -> dict[Path, Any]:
        """The readable CSVs among ``paths`` (none named in ``skip``) with at most ``max_rows`` rows."""
        frames = {p: self.csv(p) for p in paths if os.path.relpath(p, self.root) not in skip}
        return {p: f for p, f in frames.items() if f is not None and len(f) <= max_rows}

    def complete(self, folders: Iterable[Path]) -> list[Path]:
        """The folders with a completion marker; the others are reported as partial."""
        done = []
        for f in sorted(p for p in folders if p.is_dir()):
            if (f / runs.COMPLETE_MARKER).exists():
                done.append(f)
            else:
                self.problems.append(f"`{os.path.relpath(f, self.root)}` has no `{runs.COMPLETE_MARKER}` marker (partial "
                                     "or interrupted unit of work); left out of the tables")
        return done

    def history(self, folder: Path):
        path = folder / layout.HISTORY
        return self.csv(path, required=("loss", "val_loss")) if path.exists() else None

    def unit_row(self, folder: Path) -> dict[str, Any]:
        """A trained unit's numbers and texts (``device``, ``split``, ``spec``...), one name per concept."""
        for name in (layout.RESULT, layout.METRICS, layout.SUMMARY):
            if (folder / name).exists():
                obj = self.json(folder / name)
                if not isinstance(obj, dict):
                    return {}
                row = obj["row"] if isinstance(obj.get("row"), dict) else obj
                row = {**{k: v for k, v in row.items() if isinstance(v, (str, bool))}, **_flat_numbers(row)}
                return {RENAMED.get(k, k): v for k, v in row.items()}
        return {}

    def units(self, folders: Iterable[Path], names: Sequence[str], labels) -> dict[str, Any]:
        """The complete units among ``folders``: ``units`` (one row each: its numbers, with ``labels(folder)`` as
        defaults), ``histories`` and ``models`` keyed by the row's ``names`` values, and the timing ``devices``."""
        rows, histories, models = [], {}, {}
        for folder in self.complete(folders):
            row = {**labels(folder), **self.unit_row(folder)}
            key = tuple(str(row[n]) for n in names)
            if (folder / layout.MODEL).exists():
                models.setdefault(key, folder / layout.MODEL)
                row.setdefault("model_mb", (folder / layout.MODEL).stat().st_size / 1e6)
            if (history := self.history(folder)) is not None:
                histories.setdefault(key, []).append(history)
                if (acc := accuracy_key(history.columns)) and len(history):
                    row["train_accuracy_final"] = float(history[acc].iloc[-1])
            rows.append(row)
        return {"units": pd.DataFrame(rows), "histories": histories, "models": models,
                "devices": {r["device"] for r in rows if isinstance(r.get("device"), str)}}

    def per_folder_json(self, pattern: str) -> dict[str, dict]:
        """``{folder name: content}`` of the JSON files matching ``pattern`` (e.g. ``banana/*/weights.json``)."""
        found = {p.parent.name: self.json(p) for p in sorted(self.root.glob(pattern))}
        return {k: v for k, v in found.items() if isinstance(v, dict)}


def load_manifest(run_path: str | os.PathLike) -> dict:
    """The run's manifest; raises FileNotFoundError/ValueError naming the file when it is missing/corrupt."""
    return runs.read_json(Path(run_path) / runs.MANIFEST)


def load_tabular(run_path: str | os.PathLike) -> dict:
    """Notebooks 01-04: ``class_counts``, ``eda_tables``, ``upsampling`` (name -> frame), ``search`` (one row
    per variant x label: CV score on val, scores on test), ``best_params``, ``histories`` and ``models``
    ({(variant, label): ...}), ``retrain`` tables, ``comparison`` (per seed and split), ``retrain_histories``."""
    read = _Reader(run_path, layout.TABULAR)
    out, root = read.out, read.root
    if not out["present"]:
        return out
    counts = root / layout.EDA_CLASS_COUNTS
    out["class_counts"] = read.csv(counts) if counts.exists() else None
    out["eda_tables"] = {p.stem: f for p, f in read.csvs(sorted((root / layout.EDA).glob("*.csv")),
                                                         skip=(layout.EDA_CLASS_COUNTS,), max_rows=40).items()}
    out["upsampling"] = {p.stem: f for p, f in read.csvs(sorted((root / layout.UPSAMPLING).glob("*.csv"))).items()}
    rows, best, out["histories"], out["models"] = [], [], {}, {}
    for folder in read.complete((root / layout.GRIDSEARCH).glob("*/*")):
        variant, label = folder.parent.name, folder.name
        params = read.json(folder / layout.BEST_PARAMS)
        if params is None:
            continue
        scores = (read.json(folder / layout.TEST_SCORES) if (folder / layout.TEST_SCORES).exists() else None) or {}
        scoring = params.get("scoring", "score")
        cv = (params.get("cv") or {}).get(scoring, {})
        rows.append({"variant": variant, "label": label, "scoring": scoring,
                     "val_mean": cv.get("mean", params.get("best_score")), "val_sd": cv.get("std", float("nan")),
                     "val_averaging": params.get("averaging", ""),
                     **{f"test_{k}": float(v) for k, v in scores.items() if _number(v) and k not in ("n_rows", "n_positive")},
                     "n_test": scores.get("n_rows")})
        best.append({"variant": variant, "label": label, **(params.get("best_params") or {})})
        history = read.history(folder)
        if history is not None:
            out["histories"][(variant, label)] = history
        if (folder / layout.MODEL).exists():
            out["models"][(variant, label)] = folder / layout.MODEL
    out["search"], out["best_params"] = pd.DataFrame(rows), pd.DataFrame(best)
    tables = [p for sub in (layout.SYNTHESIS, layout.RETRAIN) for p in sorted((root / sub).glob("*.csv"))]
    skip = (layout.RETRAIN_COMPARISON, layout.RETRAIN_COMPARISON_SUMMARY, layout.SYNTHESIS_VARIANT_SCORES)
    out["retrain"] = {os.path.relpath(p, root / layout.TABULAR): f for p, f in read.csvs(tables, skip, 60).items()}
    comparison = root / layout.RETRAIN_COMPARISON
    out["comparison"] = (read.csv(comparison, required=("strategy", "split", "macro_f1"))
                         if comparison.exists() else None)
    retrained = read.units((root / layout.RETRAIN).glob("*/seed*"), ["strategy"], lambda f: {"strategy": f.parent.name})
    out["retrain_histories"] = retrained["histories"]
    return out


def load_images(run_path: str | os.PathLike) -> dict:
    """Notebooks 05-06: ``units`` (one row per backbone x mode x seed), ``histories`` and ``models``
    ({(backbone, mode): ...}), ``devices``, per backbone ``data`` / ``weights`` / ``splits``,
    ``summaries`` (other small CSVs), ``figures`` and ``gradcam`` (PNG paths)."""
    read = _Reader(run_path, layout.BANANA)
    out, base = read.out, read.root / layout.BANANA
    out["gradcam"] = _pngs(read.root / layout.GRADCAM)
    out["present"] = out["present"] or bool(out["gradcam"])
    if not out["present"]:
        return out
    out.update(read.units(base.glob("*/*/seed*"), ["backbone", "mode"], lambda f: {
        "backbone": f.parent.parent.name, "mode": f.parent.name, "seed": f.name}))
    out["data"] = read.per_folder_json(f"{layout.BANANA}/*/{layout.BACKBONE_DATA}")
    out["weights"] = read.per_folder_json(f"{layout.BANANA}/*/{layout.BACKBONE_WEIGHTS}")
    out["splits"] = {}
    for path in sorted(base.glob(f"*/{layout.BACKBONE_SPLIT}")):  # one row per image: shown as counts
        frame = read.csv(path, required=("split",))
        if frame is not None:
            out["splits"][path.parent.name] = frame
    small = [p for p in [*sorted(base.glob("*/*.csv")), *sorted(base.glob("*.csv"))] if p.name != layout.BACKBONE_SPLIT]
    out["summaries"] = {os.path.relpath(p, read.root): f for p, f in read.csvs(small, max_rows=60).items()}
    return out


def _load_families(run_path: str | os.PathLike, folder: str) -> dict:
    """07/08: ``<folder>/[<family>/]<variant>/seed<k>/``: ``units`` (one row per unit), ``histories``
    ({(family, variant): [frames]}), ``tables`` (the notebook's own CSVs), ``figures``."""
    read = _Reader(run_path, folder)
    out, base = read.out, read.root / folder
    if not out["present"]:
        return out
    out.update(read.units(base.rglob("seed*"), ["family", "variant"], lambda f: {
        "family": "all" if f.parent.parent == base else os.path.relpath(f.parent.parent, base), "variant": f.parent.name}))
    tables = [p for p in sorted(base.rglob("*.csv")) if p.name not in (layout.HISTORY, layout.SEED_RESULTS)
              and not any(part.startswith("seed") for part in p.relative_to(base).parts[:-1])]
    out["tables"] = {os.path.relpath(p, base): f for p, f in read.csvs(tables, max_rows=80).items()}
    out["root"] = base
    return out


def load_architecture(run_path: str | os.PathLike) -> dict:
    """Notebook 07's ``cnn_architecture/`` (see :func:`_load_families` for the keys)."""
    return _load_families(run_path, layout.CNN_ARCHITECTURE)


def load_imbalanced(run_path: str | os.PathLike) -> dict:
    """Notebook 08's ``imbalanced/`` (see :func:`_load_families` for the keys)."""
    return _load_families(run_path, layout.IMBALANCED)


LAYER_SETTINGS = ("units", "activation", "filters", "kernel_size", "strides", "pool_size", "rate", "padding",
                  "batch_shape", "trainable")


def keras_architecture(path: str | os.PathLike) -> tuple[pd.DataFrame, dict]:
    """Layers and compile settings of a saved ``.keras`` model, read from its config (no TensorFlow).

    Returns one row per top-level layer (``layer``, ``type``, ``settings``) and the compile settings
    (``loss``, ``optimizer``, ``metrics``, ``learning_rate``) where the file has them.
    """
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            config = json.loads(z.read("config.json"))
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not a readable .keras model file: {err}") from err
    rows = []
    for layer in config.get("config", {}).get("layers", []):
        cfg, settings = layer.get("config", {}), []
        for k in LAYER_SETTINGS:
            v = cfg.get(k)
            if v is None or (k == "trainable" and v is True):
                continue
            if k == "batch_shape":
                k, v = "input shape", tuple(v[1:])
            settings.append(f"{k}={tuple(v) if isinstance(v, list) else v}")
        if isinstance(cfg.get("kernel_initializer"), dict):
            settings.append(f"init={cfg['kernel_initializer'].get('class_name')}")
        if layer.get("class_name") in ("Functional", "Sequential", "Model"):
            settings.append(f"{len(cfg.get('layers', []))} inner layers")
        rows.append({"layer": cfg.get("name", ""), "type": layer.get("class_name", ""), "settings": ", ".join(settings)})
    compiled: dict[str, Any] = {}
    cc = config.get("compile_config") or {}
    if cc:
        loss, opt = cc.get("loss"), cc.get("optimizer") or {}
        compiled = {"loss": loss if isinstance(loss, str) else (loss or {}).get("class_name", str(loss)),
                    "optimizer": opt.get("class_name", str(opt)) if isinstance(opt, dict) else str(opt),
                    "metrics": cc.get("metrics")}
        lr = (opt.get("config") or {}).get("learning_rate") if isinstance(opt, dict) else None
        if _number(lr):
            compiled["learning_rate"] = float(f"{lr:.6g}")
        elif isinstance(lr, dict):
            compiled["learning_rate"] = lr.get("class_name", "schedule")
    return pd.DataFrame(rows), compiled


def compact_layers(layers: pd.DataFrame, limit: int = 30, keep_last: int = 6) -> pd.DataFrame:
    """A long layer table (a whole pretrained backbone) as one summary row plus the last layers (the head)."""
    if len(layers) <= limit:
        return layers
    body, head = layers.iloc[:-keep_last], layers.iloc[-keep_last:]
    counts = body["type"].value_counts()
    frozen = int(body["settings"].str.contains("trainable=False", regex=False).sum())
    summary = {"layer": f"layers 1-{len(body)}", "type": "backbone",
               "settings": ", ".join(f"{t} x{n}" for t, n in counts.head(6).items())
               + (", ..." if len(counts) > 6 else "") + f"; {frozen} of {len(body)} frozen"}
    return pd.concat([pd.DataFrame([summary]), head], ignore_index=True)
