"""Verdicts computed from numbers: under/over-fitting, "do two results differ?", winner per label.

Every function here is pure (numbers in, a :class:`Verdict` or a DataFrame out) so the report can
quote its sentences, and the tests can check them on hand-made inputs. A verdict never says more
than its numbers support: each carries the numbers it used in ``numbers``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "Verdict",
    "fit_verdict",
    "differ_beyond_sd",
    "winner_per_label",
    "compare_to_baseline",
]


@dataclass(frozen=True)
class Verdict:
    """A short conclusion (``verdict``), the sentence that explains it, and the numbers it used."""

    verdict: str
    sentence: str
    numbers: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.sentence


def _history_columns(history) -> dict[str, np.ndarray]:
    """Keras History, dict of lists or DataFrame -> dict of float arrays."""
    if hasattr(history, "history") and isinstance(history.history, Mapping):
        history = history.history
    if hasattr(history, "columns") and hasattr(history, "to_dict"):
        return {str(c): np.asarray(history[c], dtype=float) for c in history.columns}
    if isinstance(history, Mapping):
        return {str(k): np.asarray(v, dtype=float) for k, v in history.items()}
    raise TypeError(f"history must be a Keras History, a dict or a DataFrame, got {type(history).__name__}")


def _accuracy_key(cols: Mapping[str, np.ndarray]) -> str | None:
    for key in ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy"):
        if key in cols and f"val_{key}" in cols:
            return key
    return None


def fit_verdict(history, *, gap_threshold: float = 0.10, rise_threshold: float = 0.10,
                chance: float | None = None, low_margin: float = 0.10, still_falling: float = 0.05,
                min_epochs: int = 3) -> Verdict:
    """Over-fitting, under-fitting or a good fit, from the train and validation curves.

    Rules, in this order:

    1. Fewer than ``min_epochs`` epochs: ``"inconclusive"`` (too short to see a trend).
    2. **Overfitting** when the validation loss ended more than ``rise_threshold`` (relative) above
       its minimum while the training loss kept falling after that minimum, or when the final
       train-minus-validation accuracy gap exceeds ``gap_threshold``.
    3. **Underfitting** when the final training and validation accuracy are both below
       ``chance + low_margin`` (only when ``chance`` is given), or when the training and validation
       losses both still fell by more than ``still_falling`` (relative) over the last epoch -- the
       model was still learning when training stopped.
    4. Otherwise a **good fit**.

    Parameters
    ----------
    history : keras History, dict or DataFrame
        Columns ``loss`` and ``val_loss`` (required); ``accuracy``/``val_accuracy`` (optional).
    gap_threshold : float
        Largest acceptable final accuracy gap (train - validation), in accuracy units.
    rise_threshold : float
        Largest acceptable relative rise of the final validation loss above its minimum.
    chance : float, optional
        Chance-level accuracy (e.g. 1 / n_classes, or the majority share).
    low_margin : float
        Accuracy within ``low_margin`` of chance counts as "close to chance".
    still_falling : float
        Relative drop of the loss over the last epoch that counts as "still falling steeply".
    min_epochs : int
        Minimum number of epochs for a verdict.

    Returns
    -------
    Verdict
        ``verdict`` is ``"overfitting"``, ``"underfitting"``, ``"good fit"`` or ``"inconclusive"``.
    """
    cols = _history_columns(history)
    missing = [c for c in ("loss", "val_loss") if c not in cols]
    if missing:
        raise ValueError(f"fit_verdict: history has no column(s) {missing}; it has {sorted(cols)}")
    for name, value in (("gap_threshold", gap_threshold), ("rise_threshold", rise_threshold),
                        ("low_margin", low_margin), ("still_falling", still_falling)):
        if not (isinstance(value, (int, float)) and value >= 0):
            raise ValueError(f"fit_verdict: {name} must be a number >= 0, got {value!r}")
    loss, val_loss = cols["loss"], cols["val_loss"]
    ok = np.isfinite(loss) & np.isfinite(val_loss)
    loss, val_loss = loss[ok], val_loss[ok]
    n = len(loss)
    acc_key = _accuracy_key(cols)
    numbers: dict[str, Any] = {"epochs": n}
    if acc_key:
        acc, val_acc = cols[acc_key][ok], cols[f"val_{acc_key}"][ok]
        if n:
            numbers.update(final_train_accuracy=round(float(acc[-1]), 4),
                           final_val_accuracy=round(float(val_acc[-1]), 4),
                           accuracy_gap=round(float(acc[-1] - val_acc[-1]), 4))
    if n < max(min_epochs, 2):
        return Verdict("inconclusive", f"Inconclusive: only {n} epoch(s) of finite losses "
                       f"(at least {max(min_epochs, 2)} needed to judge the train-validation trend).", numbers)

    best = int(np.argmin(val_loss))
    val_min, val_end = float(val_loss[best]), float(val_loss[-1])
    rise = (val_end - val_min) / max(abs(val_min), 1e-12)
    train_after = float(loss[-1] - loss[best])
    numbers.update(final_train_loss=round(float(loss[-1]), 4), final_val_loss=round(val_end, 4),
                   min_val_loss=round(val_min, 4), min_val_loss_epoch=best + 1,
                   val_loss_rise=round(rise, 4))

    reasons = []
    if best < n - 1 and rise > rise_threshold and train_after < 0:
        reasons.append(f"validation loss rose {rise:.0%} above its minimum ({val_min:.3f} at epoch {best + 1}) "
                       f"to {val_end:.3f} at epoch {n} while training loss kept falling "
                       f"({loss[best]:.3f} -> {loss[-1]:.3f})")
    gap = numbers.get("accuracy_gap")
    if gap is not None and gap > gap_threshold:
        reasons.append(f"final accuracy gap train - validation is {gap:.3f} "
                       f"({numbers['final_train_accuracy']:.3f} vs {numbers['final_val_accuracy']:.3f}) "
                       f"> {gap_threshold:.2f}")
    if reasons:
        return Verdict("overfitting", "Overfitting: " + "; ".join(reasons) + ".", numbers)

    if chance is not None and acc_key:
        numbers["chance"] = round(float(chance), 4)
        limit = chance + low_margin
        if numbers["final_train_accuracy"] < limit and numbers["final_val_accuracy"] < limit:
            return Verdict("underfitting",
                           f"Underfitting: final train and validation accuracy "
                           f"({numbers['final_train_accuracy']:.3f}, {numbers['final_val_accuracy']:.3f}) "
                           f"stay within {low_margin:.2f} of chance ({chance:.3f}).", numbers)
    drop = (loss[-2] - loss[-1]) / max(abs(loss[-2]), 1e-12)
    val_drop = (val_loss[-2] - val_loss[-1]) / max(abs(val_loss[-2]), 1e-12)
    numbers.update(last_epoch_loss_drop=round(float(drop), 4), last_epoch_val_loss_drop=round(float(val_drop), 4))
    if drop > still_falling and val_drop > still_falling:
        return Verdict("underfitting",
                       f"Underfitting (still learning): training and validation loss both fell "
                       f"{drop:.0%} and {val_drop:.0%} in the last epoch (> {still_falling:.0%}); "
                       f"more epochs should help.", numbers)
    detail = f"final losses train {loss[-1]:.3f} / validation {val_end:.3f}"
    if gap is not None:
        detail += f", accuracy gap {gap:.3f}"
    return Verdict("good fit", f"Good fit: {detail}; validation loss ended {rise:.0%} above its minimum "
                   f"(epoch {best + 1}) and neither loss still fell steeply.", numbers)


def differ_beyond_sd(mean_a: float, sd_a: float, mean_b: float, sd_b: float, *,
                     n_a: int | None = None, n_b: int | None = None, alpha: float = 0.05,
                     names: Sequence[str] = ("A", "B"), metric: str = "score", digits: int = 3) -> Verdict:
    """Do two results (mean ± SD over runs) differ by more than their spread?

    "Beyond SD" means the intervals ``mean ± SD`` do not overlap: ``|mean_a - mean_b| > sd_a + sd_b``.
    When both ``n_a`` and ``n_b`` are at least 2, Welch's t-test (unequal variances) is added and
    the verdict requires ``p < alpha`` too.

    Parameters
    ----------
    mean_a, sd_a, mean_b, sd_b : float
        Means and sample SDs of the two configurations.
    n_a, n_b : int, optional
        Number of runs behind each mean.
    alpha : float
        Significance level of the t-test.
    names : (str, str)
        Names of the two configurations, for the sentence.
    metric : str
        Name of the metric, for the sentence.

    Returns
    -------
    Verdict
        ``verdict`` is ``"differ"``, ``"no clear difference"`` or, when ``n_a`` or ``n_b`` is 1,
        ``"undetermined"`` (one run has no SD); numbers: diff, sd_sum, and ``t``, ``p`` when the test ran.
    """
    values = {"mean_a": mean_a, "sd_a": sd_a, "mean_b": mean_b, "sd_b": sd_b}
    for key, value in values.items():
        if value is None or not isinstance(value, (int, float, np.number)) or not math.isfinite(float(value)):
            raise ValueError(f"differ_beyond_sd: {key} must be a finite number, got {value!r}")
    if sd_a < 0 or sd_b < 0:
        raise ValueError(f"differ_beyond_sd: SDs must be >= 0, got sd_a={sd_a!r}, sd_b={sd_b!r}")
    a, b = (str(x) for x in names)
    diff = float(mean_a) - float(mean_b)
    sd_sum = float(sd_a) + float(sd_b)
    numbers: dict[str, Any] = {"mean_a": float(mean_a), "sd_a": float(sd_a), "mean_b": float(mean_b),
                               "sd_b": float(sd_b), "diff": round(diff, 6), "sd_sum": round(sd_sum, 6)}
    beyond = abs(diff) > sd_sum
    higher, lower = (a, b) if diff > 0 else (b, a)
    f = f".{digits}f"
    quoted = (f"{a} {mean_a:{f}} ± {sd_a:{f}} vs {b} {mean_b:{f}} ± {sd_b:{f}} ({metric})")
    test = ""
    significant = True
    if n_a is not None and n_b is not None:
        numbers.update(n_a=int(n_a), n_b=int(n_b))
        if n_a >= 2 and n_b >= 2 and sd_sum > 0:
            from scipy.stats import ttest_ind_from_stats

            t, p = ttest_ind_from_stats(mean_a, sd_a, n_a, mean_b, sd_b, n_b, equal_var=False)
            numbers.update(t=round(float(t), 4), p=round(float(p), 4), alpha=alpha)
            significant = bool(p < alpha)
            test = f"; Welch t-test p = {p:.3g} ({'<' if significant else '>='} {alpha})"
        elif min(n_a, n_b) < 2:
            return Verdict("undetermined",
                           f"Undetermined: {quoted}; with n = {n_a} and {n_b} run(s) there is no spread to compare "
                           f"the difference {abs(diff):{f}} with -- repeat with more seeds.", numbers)
    if beyond and significant:
        return Verdict("differ", f"{higher} is higher: {quoted}; the difference {abs(diff):{f}} exceeds "
                       f"the summed SDs {sd_sum:{f}}{test}.", numbers)
    why = (f"the difference {abs(diff):{f}} is within the summed SDs {sd_sum:{f}}" if not beyond
           else f"the difference {abs(diff):{f}} exceeds the summed SDs {sd_sum:{f}} but the test is not significant")
    return Verdict("no clear difference", f"No clear difference between {a} and {b}: {quoted}; {why}{test}.",
                   numbers)


def winner_per_label(table, *, label: str = "label", variant: str = "variant", score: str = "score",
                     sd: str | None = None, higher_is_better: bool = True, digits: int = 3):
    """The best variant for each label, with the runner-up and the margin.

    Parameters
    ----------
    table : DataFrame
        One row per (label, variant) with a numeric ``score`` column (and optionally its SD).
    label, variant, score, sd : str
        Column names.
    higher_is_better : bool
        False for losses.

    Returns
    -------
    DataFrame
        One row per label: ``label``, ``winner``, ``score``, ``runner_up``, ``runner_up_score``,
        ``margin``, ``tie`` and ``sentence`` (the verdict quoting its numbers).
    """
    import pandas as pd

    missing = [c for c in (label, variant, score) + ((sd,) if sd else ()) if c not in table.columns]
    if missing:
        raise ValueError(f"winner_per_label: column(s) {missing} not in the table; it has {list(table.columns)}")
    frame = table.copy()
    frame[score] = pd.to_numeric(frame[score], errors="coerce")
    rows = []
    for lab, group in frame.groupby(label, sort=False):
        group = group.dropna(subset=[score]).sort_values(score, ascending=not higher_is_better, kind="stable")
        if group.empty:
            rows.append({"label": lab, "winner": None, "score": float("nan"), "runner_up": None,
                         "runner_up_score": float("nan"), "margin": float("nan"), "tie": False,
                         "sentence": f"{lab}: no variant has a {score}."})
            continue
        first = group.iloc[0]
        row = {"label": lab, "winner": first[variant], "score": float(first[score])}
        if len(group) > 1:
            second = group.iloc[1]
            margin = abs(float(first[score]) - float(second[score]))
            tie = margin == 0
            row.update(runner_up=second[variant], runner_up_score=float(second[score]), margin=margin, tie=tie)
            text = (f"{lab}: {first[variant]} wins with {score} {first[score]:.{digits}f}, ahead of "
                    f"{second[variant]} ({second[score]:.{digits}f}) by {margin:.{digits}f}")
            if tie:
                text = f"{lab}: tie between {first[variant]} and {second[variant]} at {score} {first[score]:.{digits}f}"
            elif sd:
                v = differ_beyond_sd(float(first[score]), float(first[sd] or 0), float(second[score]),
                                     float(second[sd] or 0), names=(str(first[variant]), str(second[variant])))
                row["beyond_sd"] = v.verdict == "differ"
                text += " (beyond their SDs)" if row["beyond_sd"] else " (within their SDs: not a clear win)"
            row["sentence"] = text + "."
        else:
            row.update(runner_up=None, runner_up_score=float("nan"), margin=float("nan"), tie=False,
                       sentence=f"{lab}: {first[variant]} is the only variant ({score} {first[score]:.{digits}f}).")
        rows.append(row)
    return pd.DataFrame(rows)


def compare_to_baseline(table, baseline: str, *, name: str = "name", mean: str = "mean", sd: str = "sd",
                        n: str | None = "n", metric: str = "score", digits: int = 3):
    """Each configuration against a baseline row (an ablation table): difference and verdict.

    Parameters
    ----------
    table : DataFrame
        One row per configuration with columns ``name``, ``mean``, ``sd`` (and ``n`` when known).
    baseline : str
        The value of ``name`` that is the baseline.

    Returns
    -------
    DataFrame
        ``name``, ``mean``, ``sd``, ``diff_vs_baseline``, ``verdict``, ``sentence``.
    """
    import pandas as pd

    need = [c for c in (name, mean, sd) if c not in table.columns]
    if need:
        raise ValueError(f"compare_to_baseline: column(s) {need} not in the table; it has {list(table.columns)}")
    names = [str(x) for x in table[name]]
    if str(baseline) not in names:
        raise ValueError(f"compare_to_baseline: baseline {baseline!r} not in column {name!r}; it has {names}")
    base = table.iloc[names.index(str(baseline))]
    rows = []
    for _, row in table.iterrows():
        m, s = float(row[mean]), float(row[sd]) if pd.notna(row[sd]) else 0.0
        out = {"name": row[name], "mean": m, "sd": s, "diff_vs_baseline": m - float(base[mean])}
        if str(row[name]) == str(baseline):
            out.update(verdict="baseline", sentence=f"{baseline} is the baseline ({metric} {m:.{digits}f}).")
        else:
            kw = {}
            if n and n in table.columns and pd.notna(row[n]) and pd.notna(base[n]):
                kw = {"n_a": int(row[n]), "n_b": int(base[n])}
            v = differ_beyond_sd(m, s, float(base[mean]), float(base[sd]) if pd.notna(base[sd]) else 0.0,
                                 names=(str(row[name]), str(baseline)), metric=metric, digits=digits, **kw)
            out.update(verdict=v.verdict, sentence=v.sentence)
        rows.append(out)
    return pd.DataFrame(rows)
