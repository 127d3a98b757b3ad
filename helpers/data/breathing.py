"""The embedded breathing dataset and the loader for a user's tabular CSV.

The course's tabular notebooks (01-04) work on windows of a chest-belt respiration signal: each row
is ``window`` consecutive samples of the belt's stretch (features ``f00``, ``f01``, ...), and the
``labels`` column says which breathing pattern the window shows. The real recordings are not public,
so :func:`make_breathing_dataset` simulates them with the brief's exact class counts (25,726 rows,
heavily imbalanced). A student with real data passes a CSV instead; :func:`load_tabular_csv`
validates it and :func:`load_dataset` is the one entry point every tabular notebook calls.

How the simulation works (all NumPy, no Python loop over rows):

* A *subject* (one of several dozen) has a personal belt gain, breathing-rate factor and belt
  pre-tension, so rows of the same class differ from person to person.
* Each class draws a breathing rate (breaths/min) and a depth (amplitude) from overlapping
  distributions: ``normal`` 15/min, ``quick`` 25/min and a little shallower, ``deep`` 11/min and about
  twice as deep, ``deep_quick`` fast and deep, ``hold`` normal breathing interrupted by a breath-hold
  of 3-10 s. Normal breathing also has short end-expiratory pauses, so short holds look normal.
* The waveform is an asymmetric cycle (inhale faster than exhale) whose rate wanders a little;
  on top come sensor noise, a baseline offset and a slow linear drift.
* Every row is mapped to [0, 1] with the SAME fixed scale (``SIGNAL_RANGE``), not per row, so the
  depth of breathing is still visible in the features.

The classes overlap on purpose: a plain MLP does not separate them perfectly, which leaves room for
the imbalance techniques of notebooks 02-04.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = [
    "CLASS_COUNTS",
    "CLASS_PATTERNS",
    "SAMPLING_RATE_HZ",
    "SIGNAL_RANGE",
    "MIN_ROWS_PER_CLASS",
    "feature_names",
    "scaled_counts",
    "make_breathing_dataset",
    "load_tabular_csv",
    "load_dataset",
    "check_class_counts",
    "class_count_table",
    "split_features_labels",
    "train_test_split_frame",
    "split_count_table",
    "row_statistics",
    "plot_example_windows",
    "plot_feature_profiles",
    "plot_row_statistics",
    "plot_correlation_heatmap",
]

#: The brief's class counts (25,726 rows), largest first.
CLASS_COUNTS: dict[str, int] = {"normal": 19060, "quick": 2667, "hold": 2133, "deep": 1066, "deep_quick": 800}

#: Samples per second of the simulated belt signal (a 32-sample window covers 16 s).
SAMPLING_RATE_HZ = 2.0

#: Fixed signal range mapped to [0, 1] for every row (shared scale, so amplitude matters).
SIGNAL_RANGE = (-3.0, 3.0)

#: Smallest number of rows per class that ``fraction`` scales down to (enough for 5-fold CV + a test split).
MIN_ROWS_PER_CLASS = 12

# Per-class generating parameters (means; every row draws its own values around them).
#   rate: breaths per minute (mean, sd); depth: amplitude (median, log-sd);
#   hold: probability of a pause in the window and its length range in seconds.
CLASS_PATTERNS: dict[str, dict[str, float]] = {
    "normal": {"rate": 14.0, "rate_sd": 2.5, "depth": 1.0, "depth_sd": 0.2,
               "hold_p": 0.25, "hold_min_s": 1.0, "hold_max_s": 3.5},
    "quick": {"rate": 27.0, "rate_sd": 4.0, "depth": 0.85, "depth_sd": 0.2,
              "hold_p": 0.10, "hold_min_s": 1.0, "hold_max_s": 2.5},
    "hold": {"rate": 14.0, "rate_sd": 3.0, "depth": 1.0, "depth_sd": 0.25,
             "hold_p": 1.0, "hold_min_s": 3.0, "hold_max_s": 10.0},
    "deep": {"rate": 11.0, "rate_sd": 2.5, "depth": 1.9, "depth_sd": 0.2,
             "hold_p": 0.20, "hold_min_s": 1.0, "hold_max_s": 3.5},
    "deep_quick": {"rate": 25.0, "rate_sd": 4.0, "depth": 1.8, "depth_sd": 0.2,
                   "hold_p": 0.10, "hold_min_s": 1.0, "hold_max_s": 2.5},
}


def feature_names(window: int) -> list[str]:
    """Feature column names ``f00``, ``f01``, ... for a window of ``window`` samples."""
    width = max(2, len(str(window - 1)))
    return [f"f{i:0{width}d}" for i in range(window)]


def scaled_counts(fraction: float = 1.0, counts: Mapping[str, int] | None = None,
                  min_rows: int = MIN_ROWS_PER_CLASS) -> dict[str, int]:
    """Class counts scaled by ``fraction``, each at least ``min_rows``.

    Parameters
    ----------
    fraction : float
        Share of the full counts, in (0, 1]; 1.0 gives exactly ``counts``.
    counts : mapping, optional
        Class name -> row count; defaults to :data:`CLASS_COUNTS`.
    min_rows : int
        Floor per class, so small versions still allow stratified CV.

    Returns
    -------
    dict
        Class name -> scaled count, in the order of ``counts``.
    """
    counts = dict(CLASS_COUNTS if counts is None else counts)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= 1:
        raise ValueError(f"data fraction must be a number in (0, 1], got {fraction!r}")
    if not counts:
        raise ValueError("counts is empty: expected at least one class name with a row count")
    for name, n in counts.items():
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"counts[{name!r}] must be a positive integer, got {n!r}")
        if name not in CLASS_PATTERNS:
            raise ValueError(
                f"counts has unknown class {name!r}; the simulator knows {', '.join(CLASS_PATTERNS)}"
            )
    if fraction == 1:
        return {k: int(v) for k, v in counts.items()}
    return {k: max(int(min_rows), int(round(v * fraction))) for k, v in counts.items()}


def make_breathing_dataset(fraction: float = 1.0, counts: Mapping[str, int] | None = None,
                           window: int = 32, seed: int = 0, label_column: str = "labels",
                           shuffle: bool = True) -> pd.DataFrame:
    """Simulate windows of a chest-belt respiration signal, one row per window.

    Parameters
    ----------
    fraction : float
        Share of every class count in (0, 1] (at least :data:`MIN_ROWS_PER_CLASS` rows per class);
        1.0 gives exactly the brief's counts (or ``counts``).
    counts : mapping, optional
        Class name -> number of rows; defaults to :data:`CLASS_COUNTS`. Names must be classes of
        :data:`CLASS_PATTERNS`.
    window : int
        Samples per window (features), at least 8. At 2 Hz, 32 samples are 16 seconds.
    seed : int
        Random seed; the same arguments and seed give the same frame.
    label_column : str
        Name of the label column.
    shuffle : bool
        Shuffle the rows (True) or keep them grouped by class.

    Returns
    -------
    pandas.DataFrame
        Columns ``f00`` .. ``f{window-1}`` (float32 in [0, 1]) and ``label_column`` (str).
    """
    if isinstance(window, bool) or not isinstance(window, (int, np.integer)) or window < 8:
        raise ValueError(f"window must be an integer >= 8 samples, got {window!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    sizes = scaled_counts(fraction, counts)
    names = list(sizes)
    rng = np.random.default_rng(seed)
    n = sum(sizes.values())
    cls = np.repeat(np.arange(len(names)), [sizes[k] for k in names])
    table = {key: np.array([CLASS_PATTERNS[k][key] for k in names]) for key in CLASS_PATTERNS["normal"]}
    p = {key: values[cls] for key, values in table.items()}  # per-row class parameters

    # Subjects: personal belt gain, rate factor and pre-tension.
    n_subjects = max(8, n // 200)
    subject = rng.integers(n_subjects, size=n)
    subject_gain = rng.lognormal(0.0, 0.18, n_subjects)[subject]
    subject_rate = rng.lognormal(0.0, 0.12, n_subjects)[subject]
    subject_offset = rng.normal(0.0, 0.2, n_subjects)[subject]

    # Breathing rate (Hz) and depth per row.
    rate_bpm = np.clip(rng.normal(p["rate"], p["rate_sd"]) * subject_rate, 5.0, 45.0)
    depth = np.exp(rng.normal(np.log(p["depth"]), p["depth_sd"])) * subject_gain

    dt = 1.0 / SAMPLING_RATE_HZ
    idx = np.arange(window)
    # Rate wanders slowly within a window (random walk of the instantaneous frequency).
    wander = 1.0 + np.cumsum(rng.normal(0.0, 0.03, (n, window)), axis=1)
    freq = (rate_bpm / 60.0)[:, None] * np.clip(wander, 0.6, 1.4)

    # Pauses / breath-holds: the phase stops advancing while the breath is held.
    has_hold = rng.random(n) < p["hold_p"]
    hold_len = np.round(rng.uniform(p["hold_min_s"], p["hold_max_s"]) * SAMPLING_RATE_HZ).astype(int)
    hold_start = rng.integers(-(hold_len // 3), window - (2 * hold_len) // 3 + 1)
    held = has_hold[:, None] & (idx >= hold_start[:, None]) & (idx < (hold_start + hold_len)[:, None])

    phase0 = rng.uniform(0.0, 2 * np.pi, n)
    phase = phase0[:, None] + np.cumsum(2 * np.pi * freq * dt * ~held, axis=1)
    # Asymmetric breath: inhale quicker than exhale; -cos so phase 0 is end-expiration.
    breath = -np.cos(phase + 0.45 * np.sin(phase))
    signal = depth[:, None] * breath

    # Baseline: subject pre-tension + row offset + linear drift; then sensor noise.
    t = idx * dt
    offset = subject_offset + rng.normal(0.0, 0.1, n)
    slope = rng.normal(0.0, 0.3, n) / (window * dt)
    noise_sd = np.exp(rng.normal(np.log(0.1), 0.3, n))
    x = (signal + offset[:, None] + slope[:, None] * t[None, :]
         + rng.normal(0.0, 1.0, (n, window)) * noise_sd[:, None])

    low, high = SIGNAL_RANGE
    features = np.clip((x - low) / (high - low), 0.0, 1.0).astype(np.float32)
    frame = pd.DataFrame(features, columns=feature_names(window))
    frame[label_column] = np.asarray(names, dtype=object)[cls]
    if shuffle:
        frame = frame.iloc[rng.permutation(n)].reset_index(drop=True)
    return frame


# ---------------------------------------------------------------------------- validation / loading

def check_class_counts(labels, min_rows_per_class: int = 1, source: str = "the data",
                       label_column: str = "labels") -> pd.Series:
    """Check there are at least 2 classes and each has ``min_rows_per_class`` rows.

    Parameters
    ----------
    labels : array-like
        One label per row.
    min_rows_per_class : int
        Rows every class needs (e.g. the number of CV folds plus a test row).
    source, label_column : str
        Named in the error message (the file and the column).

    Returns
    -------
    pandas.Series
        Counts per class, largest first.
    """
    counts = pd.Series(labels).value_counts()
    if len(counts) < 2:
        found = ", ".join(map(str, counts.index)) or "none"
        raise ValueError(
            f"{source}: column {label_column!r} has {len(counts)} class(es) ({found}); "
            "expected at least 2 classes to classify"
        )
    small = counts[counts < min_rows_per_class]
    if len(small):
        details = ", ".join(f"{k!r} has {v}" for k, v in small.items())
        raise ValueError(
            f"{source}: column {label_column!r}: too few rows per class ({details}); every class "
            f"needs at least {min_rows_per_class} rows (min_rows_per_class, e.g. for the CV folds "
            "and the test split)"
        )
    return counts


def load_tabular_csv(path, label_column: str = "labels", drop_nonfinite: bool = False,
                     min_rows_per_class: int = 1) -> pd.DataFrame:
    """Read and validate a user's CSV: one label column plus numeric feature columns.

    Parameters
    ----------
    path : str or path
        The CSV file (header row required).
    label_column : str
        Column with the class labels (read as strings).
    drop_nonfinite : bool
        False: NaN or infinite feature values raise an error naming the columns and counts.
        True: rows with such values are dropped, a warning says how many, and the number is kept in
        ``frame.attrs["dropped_nonfinite"]``.
    min_rows_per_class : int
        Rows every class needs (e.g. CV folds + 1 for the test split).

    Returns
    -------
    pandas.DataFrame
        Feature columns (float32) followed by ``label_column`` (str); ``attrs`` holds ``source`` and
        ``dropped_nonfinite``.
    """
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
    non_numeric = [str(c) for c in features if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        examples = []
        for c in non_numeric[:3]:
            bad = pd.to_numeric(frame[c], errors="coerce").isna() & frame[c].notna()
            value = frame.loc[bad, c].iloc[0] if bad.any() else frame[c].iloc[0]
            examples.append(f"{c!r} (e.g. {value!r})")
        raise ValueError(f"{p}: feature column(s) {', '.join(examples)}"
                         f"{' ...' if len(non_numeric) > 3 else ''} are not numeric; expected numbers "
                         f"in every column except the label column {label_column!r}")
    missing_label = frame[label_column].isna()
    if missing_label.any():
        raise ValueError(f"{p}: column {label_column!r} is empty in {int(missing_label.sum())} row(s); "
                         "expected a label in every row")
    values = frame[features].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    dropped = 0
    if bad.any():
        per_column = bad.sum(axis=0)
        details = ", ".join(f"{features[i]!r}: {int(per_column[i])}" for i in np.flatnonzero(per_column))
        bad_rows = bad.any(axis=1)
        if not drop_nonfinite:
            raise ValueError(f"{p}: NaN or infinite values in {int(bad_rows.sum())} row(s), by column "
                             f"{details}; expected finite numbers (clean the file, or pass "
                             "drop_nonfinite=True to drop those rows)")
        dropped = int(bad_rows.sum())
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
    """The tabular data of notebooks 01-04: the embedded breathing windows or a user's CSV.

    Parameters
    ----------
    data_path : str, path or None
        None: simulate the embedded dataset; otherwise the CSV to load with :func:`load_tabular_csv`.
    data_fraction : float
        Size of the embedded dataset as a share of the brief's counts (ignored for a CSV).
    label_column : str
        The label column.
    seed : int
        Seed of the simulation (ignored for a CSV).
    **kwargs
        ``min_rows_per_class`` (both), ``drop_nonfinite`` (CSV only), ``counts``/``window``
        (embedded only).

    Returns
    -------
    (pandas.DataFrame, str)
        The frame and a one-line description of where it came from and its size.
    """
    min_rows = kwargs.pop("min_rows_per_class", 1)
    if data_path is None or str(data_path) == "":
        unknown = sorted(set(kwargs) - {"counts", "window"})
        if unknown:
            raise ValueError(f"load_dataset: unknown option(s) {unknown} for the embedded data; "
                             "expected counts, window or min_rows_per_class")
        frame = make_breathing_dataset(fraction=data_fraction, seed=seed, label_column=label_column,
                                       **kwargs)
        check_class_counts(frame[label_column], min_rows, source="embedded breathing data",
                           label_column=label_column)
        frame.attrs.update(source="embedded", dropped_nonfinite=0)
        what = f"embedded simulated breathing windows (fraction {data_fraction:g}, seed {seed})"
    else:
        unknown = sorted(set(kwargs) - {"drop_nonfinite"})
        if unknown:
            raise ValueError(f"load_dataset: option(s) {unknown} only apply to the embedded data, "
                             f"not to the CSV {data_path}")
        frame = load_tabular_csv(data_path, label_column=label_column, min_rows_per_class=min_rows,
                                 **kwargs)
        what = f"CSV {frame.attrs['source']}"
        if frame.attrs.get("dropped_nonfinite"):
            what += f" ({frame.attrs['dropped_nonfinite']} rows with NaN/inf dropped)"
    n_classes = frame[label_column].nunique()
    description = (f"{what}: {len(frame):,} rows, {frame.shape[1] - 1} features, {n_classes} classes "
                   f"in column {label_column!r}")
    return frame, description


# ---------------------------------------------------------------------------- tables and splits

def class_count_table(frame: pd.DataFrame, label_column: str = "labels") -> pd.DataFrame:
    """Rows per class, largest first, with share and imbalance ratio.

    Returns
    -------
    pandas.DataFrame
        Columns ``label``, ``count``, ``share`` (fraction of all rows) and ``imbalance_ratio``
        (majority count / class count; 1.0 for the majority class).
    """
    _require_column(frame, label_column)
    counts = frame[label_column].value_counts()
    counts = counts.sort_index(kind="stable").sort_values(ascending=False, kind="stable")
    return pd.DataFrame({
        "label": counts.index.astype(str),
        "count": counts.to_numpy(dtype=int),
        "share": (counts / counts.sum()).to_numpy(),
        "imbalance_ratio": (counts.max() / counts).to_numpy(),
    })


def _require_column(frame: pd.DataFrame, label_column: str) -> None:
    if label_column not in frame.columns:
        raise ValueError(f"label column {label_column!r} not found; the columns are: "
                         f"{', '.join(map(str, frame.columns[:20]))}")


def split_features_labels(frame: pd.DataFrame, label_column: str = "labels"):
    """Split a frame into features and labels.

    Returns
    -------
    (numpy.ndarray, numpy.ndarray, list)
        ``X`` (float32, rows x features), ``y`` (str labels) and the feature names.
    """
    _require_column(frame, label_column)
    names = [c for c in frame.columns if c != label_column]
    X = frame[names].to_numpy(dtype=np.float32)
    y = frame[label_column].astype(str).to_numpy()
    return X, y, names


def train_test_split_frame(frame: pd.DataFrame, test_size: float = 0.2, seed: int = 0,
                           label_column: str = "labels") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Stratified train/test split of a frame (class shares kept in both parts).

    Parameters
    ----------
    test_size : float
        Share of rows in the test split, in (0, 1).
    seed : int
        Random seed of the split.

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame)
        Train and test frames (index reset).
    """
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
    train, test = train_test_split(frame, test_size=test_size, random_state=seed,
                                   stratify=frame[label_column])
    return train.reset_index(drop=True), test.reset_index(drop=True)


def split_count_table(train: pd.DataFrame, test: pd.DataFrame, label_column: str = "labels") -> pd.DataFrame:
    """Rows per class in the train and test splits (largest class first, with a total row)."""
    tr = train[label_column].value_counts()
    te = test[label_column].value_counts()
    table = pd.DataFrame({"train": tr, "test": te}).fillna(0).astype(int)
    table = table.sort_index(kind="stable").sort_values("train", ascending=False, kind="stable")
    table["test_share"] = (table["test"] / (table["train"] + table["test"])).round(3)
    table.loc["total"] = [table["train"].sum(), table["test"].sum(),
                          round(table["test"].sum() / (table["train"].sum() + table["test"].sum()), 3)]
    table[["train", "test"]] = table[["train", "test"]].astype(int)
    table.index.name = "label"
    return table.reset_index()


# ---------------------------------------------------------------------------- EDA plots

def row_statistics(frame: pd.DataFrame, label_column: str = "labels") -> pd.DataFrame:
    """Per-row summaries of a window: mean level, standard deviation, range, mean |step|.

    For breathing windows the standard deviation and range follow the depth of breathing and the
    mean absolute step follows depth x rate; they make class differences visible that single
    features (which depend on the breath's phase) hide.
    """
    X, y, _ = split_features_labels(frame, label_column)
    return pd.DataFrame({
        "mean": X.mean(axis=1),
        "std": X.std(axis=1),
        "range": X.max(axis=1) - X.min(axis=1),
        "mean_abs_step": np.abs(np.diff(X, axis=1)).mean(axis=1) if X.shape[1] > 1 else 0.0,
        label_column: y,
    })


def _class_order(frame: pd.DataFrame, label_column: str) -> list[str]:
    return list(class_count_table(frame, label_column)["label"])


def plot_example_windows(frame: pd.DataFrame, label_column: str = "labels", n_per_class: int = 3,
                         seed: int = 0):
    """One panel per class with ``n_per_class`` random rows drawn as curves over the feature index.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    classes = _class_order(frame, label_column)
    X, y, _ = split_features_labels(frame, label_column)
    rng = np.random.default_rng(seed)
    fig, axes = plt.subplots(1, len(classes), figsize=(3.2 * len(classes), 2.8), sharey=True,
                             squeeze=False)
    for ax, name in zip(axes[0], classes):
        rows = np.flatnonzero(y == name)
        for r in rng.choice(rows, size=min(n_per_class, len(rows)), replace=False):
            ax.plot(X[r], lw=1.2)
        ax.set_title(name)
        ax.set_xlabel("sample (feature index)")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("scaled value")
    fig.tight_layout()
    return fig


def plot_feature_profiles(frame: pd.DataFrame, label_column: str = "labels"):
    """Per class, the mean of every feature with a band of +-1 standard deviation.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    X, y, names = split_features_labels(frame, label_column)
    fig, ax = plt.subplots(figsize=(9, 3.6))
    index = np.arange(len(names))
    for name in _class_order(frame, label_column):
        rows = X[y == name]
        mean, sd = rows.mean(axis=0), rows.std(axis=0)
        ax.plot(index, mean, lw=1.5, label=name)
        ax.fill_between(index, mean - sd, mean + sd, alpha=0.12)
    ax.set_xlabel("feature index")
    ax.set_ylabel("value (mean +- sd)")
    ax.legend(ncol=min(5, len(set(y))), fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_row_statistics(stats: pd.DataFrame, label_column: str = "labels",
                        columns=("std", "range", "mean_abs_step")):
    """Box plots of per-row statistics (from :func:`row_statistics`) by class.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    order = _class_order(stats, label_column)
    fig, axes = plt.subplots(1, len(columns), figsize=(4.2 * len(columns), 3.4), squeeze=False)
    for ax, column in zip(axes[0], columns):
        sns.boxplot(data=stats, x=label_column, y=column, order=order, ax=ax, fliersize=1)
        ax.set_xlabel("")
        ax.tick_params(axis="x", rotation=30)
        ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


def plot_correlation_heatmap(frame: pd.DataFrame, label_column: str = "labels", max_features: int = 64):
    """Pearson correlation between feature columns as a seaborn heatmap.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    _, _, names = split_features_labels(frame, label_column)
    names = names[:max_features]
    corr = frame[names].astype(np.float64).corr()
    fig, ax = plt.subplots(figsize=(7, 6))
    sns.heatmap(corr, cmap="vlag", vmin=-1, vmax=1, center=0, square=True, ax=ax,
                cbar_kws={"label": "Pearson r"})
    ax.set_title("correlation between features")
    fig.tight_layout()
    return fig
