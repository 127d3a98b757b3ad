"""One loader per track of a run's artifacts; a broken file is a message in ``problems``, never an exception."""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers import layout, runs
from helpers.evaluation.verdicts import accuracy_key, chance_table

RENAMED = {"seconds_per_epoch": "mean_epoch_seconds", "ms_per_sample": "inference_ms_per_image"}  # older names
HISTORY_COLUMNS = ("loss", "val_loss")
CLASS_COUNTS = "class_counts.csv"  # 08: images per class (rows) and split (columns train, val, test)
LAYER_SETTINGS = ("units", "activation", "filters", "kernel_size", "strides", "pool_size", "rate", "padding",
                  "input shape", "trainable")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _flat_numbers(obj: dict, prefix: str = "") -> dict[str, int | float]:
    """The numeric scalars of a JSON object, nested keys joined with '.' (lists and per_class skipped)."""
    out = {f"{prefix}{k}": v for k, v in obj.items() if _number(v)}
    for k, v in obj.items():
        if isinstance(v, dict) and k != "per_class":
            out.update(_flat_numbers(v, f"{prefix}{k}."))
    return out


def chance_from_counts(counts: dict[str, Sequence[int]], splits: Sequence[str] = ("val", "test"),
                       prior: str = "train") -> pd.DataFrame | None:
    """The chance table (:func:`~helpers.evaluation.verdicts.chance_table`) of ``splits`` from class counts per split
    (``{split: [count of class 0, class 1, ...]}``, guessing with the ``prior`` split's frequencies); None when no
    split of ``splits`` has a count."""
    def labels(split):
        return np.repeat(np.arange(len(counts[split])), np.asarray(counts[split], dtype=int))
    k = max(len(c) for c in counts.values())
    prior_labels = labels(prior) if prior in counts and sum(counts[prior]) else None
    frames = [chance_table(labels(s), k, prior=prior_labels, split=s) for s in splits if s in counts and sum(counts[s])]
    return pd.concat(frames, ignore_index=True) if frames else None


def _pngs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.png") if not p.name.startswith(".")) if folder.is_dir() else []


class _Reader:
    """Reads files under one run folder; each unreadable file adds a message to ``problems``."""

    def __init__(self, root, folder: str):
        self.root, self.problems, self.base = Path(root), [], Path(root) / folder
        self.out: dict[str, Any] = {"present": self.base.is_dir() and any(self.base.iterdir()), "folder": folder,
                                    "problems": self.problems, "figures": _pngs(self.base)}

    def rel(self, path: Path, start: Path | None = None) -> str:
        return os.path.relpath(path, start or self.root)

    def json(self, path: Path) -> Any:
        try:
            return runs.read_json(path)
        except (ValueError, OSError) as err:
            self.problems.append(f"`{self.rel(path)}`: {str(err).replace(str(self.root) + os.sep, '')}")

    def jsons(self, pattern: str) -> dict[str, dict]:
        """``{folder name: content}`` of the JSON objects in the files matching ``pattern`` (in the track's folder)."""
        return {p.parent.name: v for p in sorted(self.base.glob(pattern)) if isinstance(v := self.json(p), dict)}

    def csv(self, path: Path, required: Sequence[str] = ()):
        """The CSV at ``path``; None when it does not exist, cannot be read or lacks a ``required`` column."""
        if not path.exists():
            return None
        try:
            frame = pd.read_csv(path)
        except Exception as err:  # noqa: BLE001 - pandas raises several types for corrupt files
            self.problems.append(f"`{self.rel(path)}` could not be read as CSV (corrupt or partial artifact?): "
                                 f"{type(err).__name__}: {err}")
            return None
        if missing := [c for c in required if c not in frame.columns]:
            self.problems.append(f"`{self.rel(path)}` lacks column(s) {missing}; it has {list(frame.columns)}")
        return None if missing else frame

    def csvs(self, paths: Iterable[Path], start: Path, skip: Sequence[str] = (), max_rows: int = 10**9) -> dict:
        """``{path relative to start: frame}`` of the readable CSVs among ``paths`` (not in ``skip``, <= max_rows)."""
        frames = {p: self.csv(p) for p in paths if self.rel(p) not in skip}
        return {self.rel(p, start): f for p, f in frames.items() if f is not None and len(f) <= max_rows}

    def complete(self, folders: Iterable[Path]) -> list[Path]:
        """The folders with a completion marker; the others are reported as partial."""
        folders = sorted(p for p in folders if p.is_dir())
        self.problems += [f"`{self.rel(f)}` has no `{runs.COMPLETE_MARKER}` marker (partial or interrupted unit of "
                          "work); left out of the tables" for f in folders if not (f / runs.COMPLETE_MARKER).exists()]
        return [f for f in folders if (f / runs.COMPLETE_MARKER).exists()]

    def unit_row(self, folder: Path) -> dict[str, Any]:
        """A unit's numbers and texts (``device``, ``split``...): its ``result.json`` row, else metrics / summary."""
        name = next((n for n in (layout.RESULT, layout.METRICS, layout.SUMMARY) if (folder / n).exists()), None)
        if not isinstance(obj := self.json(folder / name) if name else None, dict):
            return {}
        row = obj["row"] if isinstance(obj.get("row"), dict) else obj
        row = {**{k: v for k, v in row.items() if isinstance(v, (str, bool))}, **_flat_numbers(row)}
        return {RENAMED.get(k, k): v for k, v in row.items()}

    def units(self, folders: Iterable[Path], names: Sequence[str], labels) -> dict[str, Any]:
        """The complete units: ``units`` (a row each), ``histories`` / ``models`` (keyed by ``names``), ``devices``."""
        rows, histories, models = [], {}, {}
        for folder in self.complete(folders):
            row = {**labels(folder), **self.unit_row(folder)}
            key = tuple(str(row[n]) for n in names)
            if (folder / layout.MODEL).exists():
                models.setdefault(key, folder / layout.MODEL)
                row.setdefault("model_mb", (folder / layout.MODEL).stat().st_size / 1e6)
            if (history := self.csv(folder / layout.HISTORY, HISTORY_COLUMNS)) is not None:
                histories.setdefault(key, []).append(history)
                if (acc := accuracy_key(history.columns)) and len(history):
                    row["train_accuracy_final"] = float(history[acc].iloc[-1])
            rows.append(row)
        return {"units": pd.DataFrame(rows), "histories": histories, "models": models,
                "devices": {r["device"] for r in rows if isinstance(r.get("device"), str)}}


def load_tabular(run_path: str | os.PathLike) -> dict:
    """Notebooks 01-04: ``class_counts``, ``eda_tables``, ``upsampling``, ``retrain``, ``search`` (one row per
    (variant, label), the key of ``histories`` / ``models``), ``best_params``, ``comparison``, ``retrain_histories``."""
    read = _Reader(run_path, layout.TABULAR)
    out, root = read.out, read.root
    if not out["present"]:
        return out
    out["class_counts"] = read.csv(root / layout.EDA_CLASS_COUNTS)
    for key, folder, skip, rows in (("eda_tables", layout.EDA, (layout.EDA_CLASS_COUNTS,), 40),
                                    ("upsampling", layout.UPSAMPLING, (), 10**9)):
        found = read.csvs(sorted((root / folder).glob("*.csv")), root, skip, rows)
        out[key] = {Path(k).stem: f for k, f in found.items()}
    search, best, out["histories"], out["models"], counts = [], [], {}, {}, {}
    for folder in read.complete((root / layout.GRIDSEARCH).glob("*/*")):
        key = variant, label = folder.parent.name, folder.name
        if (params := read.json(folder / layout.BEST_PARAMS)) is None:
            continue
        scores = (read.json(folder / layout.TEST_SCORES) if (folder / layout.TEST_SCORES).exists() else None) or {}
        scoring = params.get("scoring", "score")
        cv = (params.get("cv") or {}).get(scoring, {})
        tests = {f"test_{k}": float(v) for k, v in scores.items() if _number(v) and k not in ("n_rows", "n_positive")}
        search.append({"variant": variant, "label": label, "scoring": scoring, "val_mean": cv.get("mean", params.get(
            "best_score")), "val_sd": cv.get("std", float("nan")), "val_averaging": params.get("averaging", ""),
                       "n_test": scores.get("n_rows"), **tests})
        best.append({"variant": variant, "label": label, **(params.get("best_params") or {})})
        counts[key] = {k: v for k, v in (("train", params.get("n_train_positive")), ("train_rows", params.get(
            "n_train_rows")), ("test", scores.get("n_positive")), ("test_rows", scores.get("n_rows"))) if _number(v)}
        if (history := read.csv(folder / layout.HISTORY, HISTORY_COLUMNS)) is not None:
            out["histories"][key] = history
        if (folder / layout.MODEL).exists():
            out["models"][key] = folder / layout.MODEL
    out["search"], out["best_params"] = pd.DataFrame(search), pd.DataFrame(best)
    out["positive_rates"], out["positive_rate_source"] = _positive_rates(read, search, counts, out["class_counts"])
    out["chance"], out["chance_source"] = read.csv(root / layout.RETRAIN_CHANCE), f"`{layout.RETRAIN_CHANCE}`"
    if out["chance"] is None:  # an older run: chance on 03's test split (04 checks that it uses the same split)
        out["chance"], out["chance_source"] = _tabular_chance(counts), ("computed by the report from 03's per-label "
                                                                         "counts (`best_params.json`, `test_scores.json`)")
    tables = [p for sub in (layout.SYNTHESIS, layout.RETRAIN) for p in sorted((root / sub).glob("*.csv"))]
    skip = (layout.RETRAIN_COMPARISON, layout.RETRAIN_COMPARISON_SUMMARY, layout.SYNTHESIS_VARIANT_SCORES)
    out["retrain"] = read.csvs(tables, root / layout.TABULAR, skip, 60)
    out["comparison"] = read.csv(root / layout.RETRAIN_COMPARISON, required=("strategy", "split", "macro_f1"))
    out["retrain_histories"] = read.units((root / layout.RETRAIN).glob("*/seed*"), ["strategy"],
                                          lambda f: {"strategy": f.parent.name})["histories"]
    return out


def _positive_rates(read: _Reader, search: list[dict], counts: dict, class_counts) -> tuple[dict, str]:
    """03's positive rate per (variant, label), the average precision of a random ranking: the ``positive_rate``
    column of 03's summary, else the training split's counts in ``best_params.json``, else the test split's, else
    01's class counts of all rows; and a sentence saying where they come from."""
    rates, sources = {}, []
    for variant in dict.fromkeys(row["variant"] for row in search):
        summary = read.csv(path) if (path := read.root / layout.gridsearch_summary(variant)).exists() else None
        if summary is not None and {"label", "positive_rate"} <= set(summary.columns):
            rates.update({(variant, str(k)): float(v) for k, v in zip(summary["label"], summary["positive_rate"])})
            sources.append(f"`{layout.gridsearch_summary('<variant>')}` (03's training split)")
    all_rows = {}
    if class_counts is not None and {"label", "count"} <= set(class_counts.columns):
        total = pd.to_numeric(class_counts["count"], errors="coerce").sum()
        all_rows = {str(k): float(v) / total for k, v in zip(class_counts["label"], class_counts["count"]) if total}
    for key, c in counts.items():
        key = (key[0], str(key[1]))
        if key in rates:
            continue
        for pos, rows, where in (("train", "train_rows", "computed from 03's training split (`best_params.json`)"),
                                 ("test", "test_rows", "computed from the test split (`test_scores.json`)")):
            if c.get(rows) and pos in c:
                rates[key] = c[pos] / c[rows]
                sources.append(where)
                break
        else:
            if key[1] in all_rows:
                rates[key] = all_rows[key[1]]
                sources.append(f"computed from all rows (`{layout.EDA_CLASS_COUNTS}`)")
    return rates, "; ".join(dict.fromkeys(sources))


def _tabular_chance(counts: dict) -> pd.DataFrame | None:
    """Chance on 03's test split from its per-label counts (one variant's labels), when they cover every row."""
    per_label: dict[str, dict] = {}
    for (_variant, label), c in counts.items():
        per_label.setdefault(str(label), c)
    test = [c.get("test", 0) for c in per_label.values()]
    rows = {c.get("test_rows") for c in per_label.values()}
    if not per_label or len(rows) != 1 or sum(test) != next(iter(rows)):  # not every row has a searched label
        return None
    train = [c.get("train", 0) for c in per_label.values()]
    return chance_from_counts({"test": test, **({"train": train} if all(train) else {})}, ("test",))


def load_images(run_path: str | os.PathLike) -> dict:
    """Notebooks 05-06: ``units`` (a row per backbone x mode x seed), ``histories``, ``models``, ``devices``, per
    backbone ``data`` / ``weights`` / ``splits``, ``summaries`` (other small CSVs), ``figures``, ``gradcam`` (PNGs)."""
    read = _Reader(run_path, layout.BANANA)
    out, base = read.out, read.base
    out["gradcam"] = _pngs(read.root / layout.GRADCAM)
    if not (out["present"] or out["gradcam"]):
        return out
    out["present"] = True
    out.update(read.units(base.glob("*/*/seed*"), ["backbone", "mode"], lambda f: {
        "backbone": f.parent.parent.name, "mode": f.parent.name, "seed": f.name}))
    out["data"], out["weights"] = read.jsons(f"*/{layout.BACKBONE_DATA}"), read.jsons(f"*/{layout.BACKBONE_WEIGHTS}")
    manifest = read.json(read.root / runs.MANIFEST) if (read.root / runs.MANIFEST).exists() else None
    for backbone, choice in ((manifest or {}).get("weights") or {}).items():  # recorded there too by 05
        if isinstance(choice, dict):
            out["weights"].setdefault(backbone, choice)
    splits = {p.parent.name: read.csv(p, ("split",)) for p in sorted(base.glob(f"*/{layout.BACKBONE_SPLIT}"))}
    out["splits"] = {k: f for k, f in splits.items() if f is not None}  # one row per image: shown as counts
    small = [*sorted(base.glob("*/*.csv")), *sorted(base.glob("*.csv"))]
    out["summaries"] = read.csvs([p for p in small if p.name not in (layout.BACKBONE_SPLIT, layout.CHANCE)],
                                 read.root, max_rows=60)
    recorded = [(p, c) for p in sorted(base.glob(f"*/{layout.BACKBONE_CHANCE}")) if (c := read.csv(p)) is not None]
    out["chance"], out["chance_source"] = (recorded[0][1], f"`{read.rel(recorded[0][0])}`") if recorded else (None, "")
    if out["chance"] is None and out["splits"]:  # an older run: chance from the stored split
        backbone, split = next(iter(out["splits"].items()))
        names = (out["data"].get(backbone) or {}).get("class_names")
        if "label" in split and names and {"train", "test"} <= set(split["split"]):
            labels = {k: split.loc[split["split"] == k, "label"].to_numpy(dtype=int) for k in ("train", "val", "test")}
            out["chance"] = pd.concat([chance_table(labels[k], len(names), prior=labels["train"], split=k)
                                       for k in ("val", "test") if len(labels[k])], ignore_index=True)
            out["chance_source"] = (f"computed by the report from `{layout.backbone_dir(backbone)}/"
                                    f"{layout.BACKBONE_SPLIT}` (not recorded by this run)")
    return out


def load_family(run_path: str | os.PathLike, folder: str) -> dict:
    """Notebook 07 or 08 (``folder``: ``layout.CNN_ARCHITECTURE`` / ``IMBALANCED``), ``[<family>/]<variant>/seed<k>/``:
    ``units``, ``histories`` ({(family, variant): [frames]}), ``tables`` (the notebook's own CSVs), ``figures``."""
    read = _Reader(run_path, folder)
    out, base = read.out, read.base
    if not out["present"]:
        return out
    out.update(read.units(base.rglob("seed*"), ["family", "variant"], lambda f: {
        "family": "all" if f.parent.parent == base else read.rel(f.parent.parent, base), "variant": f.parent.name}))
    tables = [p for p in sorted(base.rglob("*.csv")) if p.name not in (layout.HISTORY, layout.SEED_RESULTS, layout.CHANCE)
              and not any(part.startswith("seed") for part in p.relative_to(base).parts[:-1])]
    out["tables"], out["root"] = read.csvs(tables, base, max_rows=80), base
    out["chance"], out["chance_source"] = read.csv(base / layout.CHANCE), f"`{folder}/{layout.CHANCE}`"
    counts = read.csv(base / CLASS_COUNTS) if out["chance"] is None else None
    if counts is not None and {"train", "test"} <= set(counts.columns):  # an older 08: chance from its class counts
        out["chance"] = chance_from_counts({s: pd.to_numeric(counts[s], errors="coerce").fillna(0).astype(int).tolist()
                                            for s in ("train", "val", "test") if s in counts})
        out["chance_source"] = f"computed by the report from `{folder}/{CLASS_COUNTS}` (not recorded by this run)"
    return out


def keras_architecture(path: str | os.PathLike) -> tuple[pd.DataFrame, dict]:
    """A saved ``.keras`` model's layers (``layer``, ``type``, ``settings``) and compile settings (``loss``,
    ``optimizer``, ``metrics``, ``learning_rate``), from its config without TensorFlow; ValueError if unreadable."""
    try:
        with zipfile.ZipFile(path) as z:
            config = json.loads(z.read("config.json"))
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as err:
        raise ValueError(f"{path} is not a readable .keras model file: {err}") from err
    rows = []
    for layer in config.get("config", {}).get("layers", []):
        cfg, kind = dict(layer.get("config", {})), layer.get("class_name", "")
        if cfg.get("batch_shape") is not None:
            cfg["input shape"] = tuple(cfg["batch_shape"][1:])
        settings = [f"{k}={tuple(v) if isinstance(v, list) else v}" for k in LAYER_SETTINGS
                    if (v := cfg.get(k)) is not None and not (k == "trainable" and v is True)]
        if isinstance(cfg.get("kernel_initializer"), dict):
            settings.append(f"init={cfg['kernel_initializer'].get('class_name')}")
        if kind in ("Functional", "Sequential", "Model"):
            settings.append(f"{len(cfg.get('layers', []))} inner layers")
        rows.append({"layer": cfg.get("name", ""), "type": kind, "settings": ", ".join(settings)})
    compiled: dict[str, Any] = {}
    if cc := config.get("compile_config") or {}:
        opt = cc.get("optimizer") or {}
        compiled = {k: v.get("class_name", str(v)) if isinstance(v, dict) else str(v)
                    for k, v in (("loss", cc.get("loss")), ("optimizer", opt))} | {"metrics": cc.get("metrics")}
        lr = (opt.get("config") or {}).get("learning_rate") if isinstance(opt, dict) else None
        if _number(lr) or isinstance(lr, dict):
            compiled["learning_rate"] = float(f"{lr:.6g}") if _number(lr) else lr.get("class_name", "schedule")
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
