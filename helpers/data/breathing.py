"""The tabular data of notebooks 01-04: simulated chest-belt breathing windows or a user's CSV.

A row is ``window`` consecutive samples of a respiration belt (features ``f00``, ``f01``, ...); the ``labels``
column names the breathing pattern. Besides the loaders: stratified splits, count tables and EDA plots.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["CLASS_COUNTS", "CLASS_PATTERNS", "SAMPLING_RATE_HZ", "SIGNAL_RANGE", "MIN_ROWS_PER_CLASS",
           "feature_names", "scaled_counts", "make_breathing_dataset", "load_tabular_csv", "load_dataset",
           "check_class_counts", "class_count_table", "split_features_labels", "train_test_split_frame",
           "split_count_table", "row_statistics", "plot_example_windows", "plot_feature_profiles",
           "plot_row_statistics", "plot_correlation_heatmap"]

#: The brief's class counts (25,726 rows), largest first.
CLASS_COUNTS: dict[str, int] = {"normal": 19060, "quick": 2667, "hold": 2133, "deep": 1066, "deep_quick": 800}

#: Samples per second of the simulated belt signal (a 32-sample window covers 16 s).
SAMPLING_RATE_HZ = 2.0

#: Fixed signal range mapped to [0, 1] for every row (shared scale, so amplitude matters).
SIGNAL_RANGE = (-3.0, 3.0)

#: Smallest number of rows per class that ``fraction`` scales down to (enough for 5-fold CV + a test split).
MIN_ROWS_PER_CLASS = 12

#: Per-class means that every row draws its own values around: breathing rate (breaths/min, mean and sd),
#: depth (amplitude median, log-sd), chance of a pause in the window and its length range in seconds.
#: The classes overlap on purpose, so a plain MLP leaves room for the imbalance techniques of 02-04.
CLASS_PATTERNS: dict[str, dict[str, float]] = {
    name: dict(zip(("rate", "rate_sd", "depth", "depth_sd", "hold_p", "hold_min_s", "hold_max_s"), values))
    for name, values in {"normal": (14.0, 2.5, 1.0, 0.2, 0.25, 1.0, 3.5),
                         "quick": (27.0, 4.0, 0.85, 0.2, 0.10, 1.0, 2.5),
                         "hold": (14.0, 3.0, 1.0, 0.25, 1.0, 3.0, 10.0),
                         "deep": (11.0, 2.5, 1.9, 0.2, 0.20, 1.0, 3.5),
                         "deep_quick": (25.0, 4.0, 1.8, 0.2, 0.10, 1.0, 2.5)}.items()
}


def _is_int(value, low: int) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, np.integer)) and value >= low


def feature_names(window: int) -> list[str]:
    """Feature column names ``f00``, ``f01``, ... for a window of ``window`` samples."""
    width = max(2, len(str(window - 1)))
    return [f"f{i:0{width}d}" for i in range(window)]


def scaled_counts(fraction: float = 1.0, counts: Mapping[str, int] | None = None,
                  min_rows: int = MIN_ROWS_PER_CLASS) -> dict[str, int]:
    """Class name -> ``fraction`` (in (0, 1]) of ``counts`` (default :data:`CLASS_COUNTS`), each at least
    ``min_rows`` so small versions still allow stratified CV; 1.0 gives exactly ``counts``."""
    counts = dict(CLASS_COUNTS if counts is None else counts)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise ValueError(f"data fraction must be a number in (0, 1], got {fraction!r}")
    if not counts:
        raise ValueError("counts is empty: expected at least one class name with a row count")
    for name, n in counts.items():
        if not _is_int(n, 1):
            raise ValueError(f"counts[{name!r}] must be a positive integer, got {n!r}")
        if name not in CLASS_PATTERNS:
            raise ValueError(f"counts has unknown class {name!r}; the simulator knows {', '.join(CLASS_PATTERNS)}")
    if fraction == 1:
        return {k: int(v) for k, v in counts.items()}
    return {k: max(int(min_rows), int(round(v * fraction))) for k, v in counts.items()}


def make_breathing_dataset(fraction: float = 1.0, counts: Mapping[str, int] | None = None,
                           window: int = 32, seed: int = 0, label_column: str = "labels",
                           shuffle: bool = True) -> pd.DataFrame:
    """Simulate :func:`scaled_counts` windows (``window`` >= 8 samples) of a chest-belt respiration signal per
    class of :data:`CLASS_PATTERNS`: features ``f00``... (float32 in [0, 1], on the shared ``SIGNAL_RANGE`` so
    depth stays visible) and ``label_column`` (str). The same arguments and ``seed`` give the same frame."""
    if not _is_int(window, 8):
        raise ValueError(f"window must be an integer >= 8 samples, got {window!r}")
    if not _is_int(seed, 0):
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    sizes = scaled_counts(fraction, counts)
    names = list(sizes)
    rng = np.random.default_rng(seed)
    n = sum(sizes.values())
    cls = np.repeat(np.arange(len(names)), [sizes[k] for k in names])
    p = {key: np.array([CLASS_PATTERNS[k][key] for k in names])[cls] for key in CLASS_PATTERNS["normal"]}
    # Subjects (several dozen): personal belt gain, rate factor and pre-tension.
    n_subjects = max(8, n // 200)
    subject = rng.integers(n_subjects, size=n)
    subject_gain = rng.lognormal(0.0, 0.18, n_subjects)[subject]
    subject_rate = rng.lognormal(0.0, 0.12, n_subjects)[subject]
    subject_offset = rng.normal(0.0, 0.2, n_subjects)[subject]
    rate_bpm = np.clip(rng.normal(p["rate"], p["rate_sd"]) * subject_rate, 5.0, 45.0)
    depth = np.exp(rng.normal(np.log(p["depth"]), p["depth_sd"])) * subject_gain
    dt = 1.0 / SAMPLING_RATE_HZ
    idx = np.arange(window)
    # The rate wanders slowly within a window (random walk of the instantaneous frequency).
    wander = 1.0 + np.cumsum(rng.normal(0.0, 0.03, (n, window)), axis=1)
    freq = (rate_bpm / 60.0)[:, None] * np.clip(wander, 0.6, 1.4)
    # Pauses / breath-holds: the phase stops advancing while the breath is held.
    has_hold = rng.random(n) < p["hold_p"]
    hold_len = np.round(rng.uniform(p["hold_min_s"], p["hold_max_s"]) * SAMPLING_RATE_HZ).astype(int)
    hold_start = rng.integers(-(hold_len // 3), window - (2 * hold_len) // 3 + 1)
    held = has_hold[:, None] & (idx >= hold_start[:, None]) & (idx < (hold_start + hold_len)[:, None])
    phase = rng.uniform(0.0, 2 * np.pi, n)[:, None] + np.cumsum(2 * np.pi * freq * dt * ~held, axis=1)
    # Asymmetric breath (inhale quicker than exhale); -cos so phase 0 is end-expiration.
    signal = depth[:, None] * -np.cos(phase + 0.45 * np.sin(phase))
    # Baseline: subject pre-tension + row offset + linear drift; then sensor noise.
    offset = subject_offset + rng.normal(0.0, 0.1, n)
    slope = rng.normal(0.0, 0.3, n) / (window * dt)
    noise_sd = np.exp(rng.normal(np.log(0.1), 0.3, n))
    x = (signal + offset[:, None] + slope[:, None] * (idx * dt)[None, :]
         + rng.normal(0.0, 1.0, (n, window)) * noise_sd[:, None])
    low, high = SIGNAL_RANGE
    frame = pd.DataFrame(np.clip((x - low) / (high - low), 0.0, 1.0).astype(np.float32),
                         columns=feature_names(window))
    frame[label_column] = np.asarray(names, dtype=object)[cls]
    return frame.iloc[rng.permutation(n)].reset_index(drop=True) if shuffle else frame


def check_class_counts(labels, min_rows_per_class: int = 1, source: str = "the data",
                       label_column: str = "labels") -> pd.Series:
    """Counts per class (largest first) after checking there are >= 2 classes with ``min_rows_per_class``
    rows each; errors name ``source`` (the file) and ``label_column``."""
    counts = pd.Series(labels).value_counts()
    if len(counts) < 2:
        raise ValueError(f"{source}: column {label_column!r} has {len(counts)} class(es) "
                         f"({', '.join(map(str, counts.index)) or 'none'}); expected at least 2 classes to classify")
    small = counts[counts < min_rows_per_class]
    if len(small):
        details = ", ".join(f"{k!r} has {v}" for k, v in small.items())
        raise ValueError(f"{source}: column {label_column!r}: too few rows per class ({details}); every class "
                         f"needs at least {min_rows_per_class} rows (min_rows_per_class, e.g. for the CV folds "
                         "and the test split)")
    return counts


def load_tabular_csv(path, label_column: str = "labels", drop_nonfinite: bool = False,
                     min_rows_per_class: int = 1) -> pd.DataFrame:
    """Read and validate a user's CSV: numeric feature columns (-> float32) plus ``label_column`` (-> str).
    NaN/inf features raise an error naming the columns, or with ``drop_nonfinite`` their rows are dropped with
    a warning; ``attrs`` holds ``source`` and ``dropped_nonfinite``."""
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"tabular data file {p} does not exist; expected a CSV file with a "
                                f"{label_column!r} column and numeric feature columns")
    if p.is_dir():
        raise ValueError(f"tabular data path {p} is a folder; expected a CSV file")
    try:
        frame = pd.read_csv(p)
    except pd.errors.EmptyDataError:
        raise ValueError(f"{p} is empty; expected a CSV file with a header row") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ValueError(f"{p} is not a readable CSV file: {err}") from err
    if label_column not in frame.columns:
        found = ", ".join(map(str, frame.columns[:20])) + (" ..." if len(frame.columns) > 20 else "")
        raise ValueError(f"{p}: label column {label_column!r} not found; the columns are: {found}")
    features = [c for c in frame.columns if c != label_column]
    if not features:
        raise ValueError(f"{p}: only the label column {label_column!r} was found; expected at least "
                         "one numeric feature column")
    if len(frame) == 0:
        raise ValueError(f"{p} has a header but no rows")
    if non_numeric := [c for c in features if not pd.api.types.is_numeric_dtype(frame[c])]:
        examples = []
        for c in non_numeric[:3]:
            bad = pd.to_numeric(frame[c], errors="coerce").isna() & frame[c].notna()
            examples.append(f"{str(c)!r} (e.g. {(frame.loc[bad, c] if bad.any() else frame[c]).iloc[0]!r})")
        raise ValueError(f"{p}: feature column(s) {', '.join(examples)}"
                         f"{' ...' if len(non_numeric) > 3 else ''} are not numeric; expected numbers "
                         f"in every column except the label column {label_column!r}")
    if (missing_label := frame[label_column].isna()).any():
        raise ValueError(f"{p}: column {label_column!r} is empty in {int(missing_label.sum())} row(s); "
                         "expected a label in every row")
    bad = ~np.isfinite(frame[features].to_numpy(dtype=np.float64))
    bad_rows = bad.any(axis=1)
    if dropped := int(bad_rows.sum()):
        per_column = bad.sum(axis=0)
        details = ", ".join(f"{features[i]!r}: {int(per_column[i])}" for i in np.flatnonzero(per_column))
        if not drop_nonfinite:
            raise ValueError(f"{p}: NaN or infinite values in {dropped} row(s), by column {details}; expected "
                             "finite numbers (clean the file, or pass drop_nonfinite=True to drop those rows)")
        frame = frame.loc[~bad_rows].reset_index(drop=True)
        warnings.warn(f"{p}: dropped {dropped} row(s) with NaN or infinite values ({details})",
                      UserWarning, stacklevel=2)
    out = frame[features].astype(np.float32)
    out[label_column] = frame[label_column].astype(str).to_numpy()
    check_class_counts(out[label_column], min_rows_per_class, source=str(p), label_column=label_column)
    out.attrs.update(source=str(p), dropped_nonfinite=dropped)
    return out


def load_dataset(data_path=None, data_fraction: float = 1.0, label_column: str = "labels",
                 seed: int = 0, **kwargs) -> tuple[pd.DataFrame, str]:
    """``(frame, one-line description)`` of the tabular data of notebooks 01-04: the embedded breathing
    windows (``data_path`` None; ``data_fraction``, ``seed``, ``counts``, ``window``) or the CSV at
    ``data_path`` (``drop_nonfinite``); ``min_rows_per_class`` applies to both."""
    min_rows = kwargs.pop("min_rows_per_class", 1)
    if data_path is None or str(data_path) == "":
        if unknown := sorted(set(kwargs) - {"counts", "window"}):
            raise ValueError(f"load_dataset: unknown option(s) {unknown} for the embedded data; "
                             "expected counts, window or min_rows_per_class")
        frame = make_breathing_dataset(fraction=data_fraction, seed=seed, label_column=label_column, **kwargs)
        check_class_counts(frame[label_column], min_rows, source="embedded breathing data",
                           label_column=label_column)
        frame.attrs.update(source="embedded", dropped_nonfinite=0)
        what = f"embedded simulated breathing windows (fraction {data_fraction:g}, seed {seed})"
    else:
        if unknown := sorted(set(kwargs) - {"drop_nonfinite"}):
            raise ValueError(f"load_dataset: option(s) {unknown} only apply to the embedded data, "
                             f"not to the CSV {data_path}")
        frame = load_tabular_csv(data_path, label_column=label_column, min_rows_per_class=min_rows, **kwargs)
        what = f"CSV {frame.attrs['source']}"
        if frame.attrs.get("dropped_nonfinite"):
            what += f" ({frame.attrs['dropped_nonfinite']} rows with NaN/inf dropped)"
    return frame, (f"{what}: {len(frame):,} rows, {frame.shape[1] - 1} features, "
                   f"{frame[label_column].nunique()} classes in column {label_column!r}")


def _require_column(frame: pd.DataFrame, label_column: str) -> None:
    if label_column not in frame.columns:
        raise ValueError(f"label column {label_column!r} not found; the columns are: "
                         f"{', '.join(map(str, frame.columns[:20]))}")


def class_count_table(frame: pd.DataFrame, label_column: str = "labels") -> pd.DataFrame:
    """Rows per class, largest first: ``label``, ``count``, ``share`` (of all rows) and ``imbalance_ratio``
    (majority count / class count; 1.0 for the majority class)."""
    _require_column(frame, label_column)
    counts = frame[label_column].value_counts().sort_index(kind="stable").sort_values(ascending=False,
                                                                                      kind="stable")
    return pd.DataFrame({"label": counts.index.astype(str), "count": counts.to_numpy(dtype=int),
                         "share": (counts / counts.sum()).to_numpy(),
                         "imbalance_ratio": (counts.max() / counts).to_numpy()})


def split_features_labels(frame: pd.DataFrame, label_column: str = "labels"):
    """``(X, y, feature_names)``: float32 features (rows x features), str labels and the feature names."""
    _require_column(frame, label_column)
    names = [c for c in frame.columns if c != label_column]
    return frame[names].to_numpy(dtype=np.float32), frame[label_column].astype(str).to_numpy(), names


def train_test_split_frame(frame: pd.DataFrame, test_size: float = 0.2, seed: int = 0,
                           label_column: str = "labels") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified ``(train, test)`` split of a frame (index reset): class shares are kept in both parts,
    ``test_size`` is the test share in (0, 1) and ``seed`` seeds the split."""
    from sklearn.model_selection import train_test_split

    _require_column(frame, label_column)
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float)) or not 0 < test_size < 1:
        raise ValueError(f"test_size must be a share in (0, 1), got {test_size!r}")
    counts = frame[label_column].value_counts()
    if counts.min() < 2:
        raise ValueError(f"column {label_column!r}: class {counts.idxmin()!r} has {counts.min()} row; "
                         "a stratified split needs at least 2 rows per class")
    n_test = int(np.ceil(test_size * len(frame)))
    if n_test < len(counts) or len(frame) - n_test < len(counts):
        raise ValueError(f"test_size={test_size} gives {n_test} test rows of {len(frame)}; each split "
                         f"needs at least one row of each of the {len(counts)} classes")
    train, test = train_test_split(frame, test_size=test_size, random_state=seed, stratify=frame[label_column])
    return train.reset_index(drop=True), test.reset_index(drop=True)


def split_count_table(train: pd.DataFrame, test: pd.DataFrame, label_column: str = "labels") -> pd.DataFrame:
    """Rows per class in the train and test splits (largest class first, with a total row)."""
    table = pd.DataFrame({"train": train[label_column].value_counts(), "test": test[label_column].value_counts()})
    table = table.fillna(0).astype(int).sort_index(kind="stable").sort_values("train", ascending=False,
                                                                                kind="stable")
    table["test_share"] = (table["test"] / (table["train"] + table["test"])).round(3)
    n_train, n_test = table["train"].sum(), table["test"].sum()
    table.loc["total"] = [n_train, n_test, round(n_test / (n_train + n_test), 3)]
    table[["train", "test"]] = table[["train", "test"]].astype(int)
    return table.rename_axis("label").reset_index()


def row_statistics(frame: pd.DataFrame, label_column: str = "labels") -> pd.DataFrame:
    """Per-row mean level, standard deviation, range and mean |step| of a window. Std and range follow the
    depth of breathing, the mean |step| depth x rate: class differences that single features hide."""
    X, y, _ = split_features_labels(frame, label_column)
    return pd.DataFrame({
        "mean": X.mean(axis=1), "std": X.std(axis=1), "range": X.max(axis=1) - X.min(axis=1),
        "mean_abs_step": np.abs(np.diff(X, axis=1)).mean(axis=1) if X.shape[1] > 1 else 0.0, label_column: y,
    })


def plot_example_windows(frame: pd.DataFrame, label_column: str = "labels", n_per_class: int = 3,
                         seed: int = 0):
    """Figure with one panel per class showing ``n_per_class`` random rows as curves over the feature index."""
    import matplotlib.pyplot as plt

    classes = list(class_count_table(frame, label_column)["label"])
    X, y, _ = split_features_labels(frame, label_column)
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(1, len(classes), figsize=(3.2 * len(classes), 2.8), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], classes):
        rows = np.flatnonzero(y == name)
        for r in rng.choice(rows, size=min(n_per_class, len(rows)), replace=False):
            ax.plot(X[r], lw=1.2)
        ax.set(title=name, xlabel="sample (feature index)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("scaled value")
    fig.tight_layout()
    return fig


def plot_feature_profiles(frame: pd.DataFrame, label_column: str = "labels"):
    """Figure with, per class, the mean of every feature and a band of +-1 standard deviation."""
    import matplotlib.pyplot as plt

    X, y, names = split_features_labels(frame, label_column)
    fig, ax = plt.subplots(figsize=(9, 3.6))
    index = np.arange(len(names))
    for name in class_count_table(frame, label_column)["label"]:
        mean, sd = X[y == name].mean(axis=0), X[y == name].std(axis=0)
        ax.plot(index, mean, lw=1.5, label=name)
        ax.fill_between(index, mean - sd, mean + sd, alpha=0.12)
    ax.set(xlabel="feature index", ylabel="value (mean +- sd)")
    ax.legend(ncol=min(5, len(set(y))), fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_row_statistics(stats: pd.DataFrame, label_column: str = "labels",
                        columns=("std", "range", "mean_abs_step")):
    """Figure of box plots of per-row statistics (from :func:`row_statistics`) by class."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    order = list(class_count_table(stats, label_column)["label"])
    fig, axes = plt.subplots(1, len(columns), figsize=(4.2 * len(columns), 3.4), squeeze=False)
    for ax, column in zip(axes[0], columns):
        sns.boxplot(data=stats, x=label_column, y=column, order=order, ax=ax, fliersize=1)
        ax.set_xlabel("")
        ax.tick_params(axis="x", rotation=30)
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def plot_correlation_heatmap(frame: pd.DataFrame, label_column: str = "labels", max_features: int = 64):
    """Figure of the Pearson correlation between (the first ``max_features``) feature columns."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    names = split_features_labels(frame, label_column)[2][:max_features]
    fig, ax = plt.subplots(figsize=(7, 6))
    sns.heatmap(frame[names].astype(np.float64).corr(), cmap="vlag", vmin=-1, vmax=1, center=0, square=True,
                ax=ax, cbar_kws={"label": "Pearson r"})
    ax.set_title("correlation between features")
    fig.tight_layout()
    return fig
