"""Verdicts computed from numbers: under/over-fitting, "do two results differ?", winner per label. Pure
functions (numbers in, a :class:`Verdict` or a DataFrame out); a verdict carries the numbers it used."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from helpers.plots import history_columns

__all__ = ["Verdict", "accuracy_key", "spread", "fit_verdict", "differ_beyond_sd", "choose_best", "winner_per_label", "compare_to_baseline",
           "chance_baselines", "chance_table", "average_precision_baseline", "beats_chance"]

ACCURACY_NAMES = ("accuracy", "acc", "sparse_categorical_accuracy", "categorical_accuracy", "binary_accuracy")


@dataclass(frozen=True)
class Verdict:
    """A short conclusion (``verdict``), the sentence that explains it, and the numbers it used."""

    verdict: str
    sentence: str
    numbers: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.sentence


def accuracy_key(columns: Mapping | Any) -> str | None:
    """The accuracy metric logged with its ``val_`` twin (``accuracy``, ``sparse_categorical_accuracy``...)."""
    return next((key for key in ACCURACY_NAMES if key in columns and f"val_{key}" in columns), None)


def spread(sd) -> float:
    """An SD as a number: a missing one (None, NaN: a single run) counts as no spread, 0."""
    return 0.0 if sd is None or not math.isfinite(float(sd)) else float(sd)


def _require(table, columns, where: str, what: str = "table") -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{where}: column(s) {missing} not in the {what}; it has {list(table.columns)}")


def fit_verdict(history, *, gap_threshold: float = 0.10, rise_threshold: float = 0.10,
                chance: float | None = None, low_margin: float = 0.10, still_falling: float = 0.05,
                min_epochs: int = 3) -> Verdict:
    """``"overfitting"`` (validation loss rose > ``rise_threshold`` above its minimum as training loss fell, or a
    final accuracy gap > ``gap_threshold``), ``"underfitting"`` (accuracy within ``low_margin`` of ``chance``, or
    both losses still falling > ``still_falling``), ``"good fit"``, or ``"inconclusive"`` (< ``min_epochs``),
    from a Keras History, dict or DataFrame with ``loss``, ``val_loss`` (and accuracies)."""
    cols = history_columns(history, require=("loss", "val_loss"))
    for name, value in (("gap_threshold", gap_threshold), ("rise_threshold", rise_threshold),
                        ("low_margin", low_margin), ("still_falling", still_falling)):
        if not (isinstance(value, (int, float)) and value >= 0):
            raise ValueError(f"fit_verdict: {name} must be a number >= 0, got {value!r}")
    ok = np.isfinite(cols["loss"]) & np.isfinite(cols["val_loss"])
    loss, val_loss, n, acc_key = cols["loss"][ok], cols["val_loss"][ok], int(ok.sum()), accuracy_key(cols)
    numbers: dict[str, Any] = {"epochs": n}
    if acc_key and n:
        train_acc, val_acc = float(cols[acc_key][ok][-1]), float(cols[f"val_{acc_key}"][ok][-1])
        numbers.update(final_train_accuracy=round(train_acc, 4), final_val_accuracy=round(val_acc, 4),
                       accuracy_gap=round(train_acc - val_acc, 4))
    if n < max(min_epochs, 2):
        return Verdict("inconclusive", f"Inconclusive: only {n} epoch(s) of finite losses "
                       f"(at least {max(min_epochs, 2)} needed to judge the train-validation trend).", numbers)
    best = int(np.argmin(val_loss))
    val_min, val_end = float(val_loss[best]), float(val_loss[-1])
    rise = (val_end - val_min) / max(abs(val_min), 1e-12)
    numbers.update(final_train_loss=round(float(loss[-1]), 4), final_val_loss=round(val_end, 4),
                   min_val_loss=round(val_min, 4), min_val_loss_epoch=best + 1, val_loss_rise=round(rise, 4))
    reasons = []
    if best < n - 1 and rise > rise_threshold and loss[-1] < loss[best]:
        reasons.append(f"validation loss rose {rise:.0%} above its minimum ({val_min:.3f} at epoch {best + 1}) "
                       f"to {val_end:.3f} at epoch {n} while training loss kept falling "
                       f"({loss[best]:.3f} -> {loss[-1]:.3f})")
    gap = numbers.get("accuracy_gap")
    if gap is not None and gap > gap_threshold:
        reasons.append(f"final accuracy gap train - validation is {gap:.3f} ({numbers['final_train_accuracy']:.3f} "
                       f"vs {numbers['final_val_accuracy']:.3f}) > {gap_threshold:.2f}")
    if reasons:
        return Verdict("overfitting", "Overfitting: " + "; ".join(reasons) + ".", numbers)
    if chance is not None and acc_key:
        numbers["chance"] = round(float(chance), 4)
        if max(numbers["final_train_accuracy"], numbers["final_val_accuracy"]) < chance + low_margin:
            return Verdict("underfitting", f"Underfitting: final train and validation accuracy "
                           f"({numbers['final_train_accuracy']:.3f}, {numbers['final_val_accuracy']:.3f}) "
                           f"stay within {low_margin:.2f} of chance ({chance:.3f}).", numbers)
    drop, val_drop = ((x[-2] - x[-1]) / max(abs(x[-2]), 1e-12) for x in (loss, val_loss))
    numbers.update(last_epoch_loss_drop=round(float(drop), 4), last_epoch_val_loss_drop=round(float(val_drop), 4))
    if drop > still_falling and val_drop > still_falling:
        return Verdict("underfitting", f"Underfitting (still learning): training and validation loss both fell "
                       f"{drop:.0%} and {val_drop:.0%} in the last epoch (> {still_falling:.0%}); "
                       "more epochs should help.", numbers)
    detail = f"final losses train {loss[-1]:.3f} / validation {val_end:.3f}" + (
        f", accuracy gap {gap:.3f}" if gap is not None else "")
    return Verdict("good fit", f"Good fit: {detail}; validation loss ended {rise:.0%} above its minimum "
                   f"(epoch {best + 1}) and neither loss still fell steeply.", numbers)


def differ_beyond_sd(mean_a: float, sd_a: float, mean_b: float, sd_b: float, *,
                     n_a: int | None = None, n_b: int | None = None, alpha: float = 0.05,
                     names: Sequence[str] = ("A", "B"), metric: str = "score", digits: int = 3) -> Verdict:
    """``"differ"`` when the intervals mean ± SD do not overlap (and, with ``n_a``, ``n_b`` >= 2, Welch's t-test
    gives ``p < alpha``), else ``"no clear difference"``; ``"undetermined"`` when a side has one run (no SD).
    Numbers: diff, sd_sum, and ``t``, ``p`` when tested."""
    for key, value in {"mean_a": mean_a, "sd_a": sd_a, "mean_b": mean_b, "sd_b": sd_b}.items():
        if value is None or not isinstance(value, (int, float, np.number)) or not math.isfinite(float(value)):
            raise ValueError(f"differ_beyond_sd: {key} must be a finite number, got {value!r}")
    if sd_a < 0 or sd_b < 0:
        raise ValueError(f"differ_beyond_sd: SDs must be >= 0, got sd_a={sd_a!r}, sd_b={sd_b!r}")
    a, b = (str(x) for x in names)
    diff, sd_sum = float(mean_a) - float(mean_b), float(sd_a) + float(sd_b)
    numbers: dict[str, Any] = {"mean_a": float(mean_a), "sd_a": float(sd_a), "mean_b": float(mean_b),
                               "sd_b": float(sd_b), "diff": round(diff, 6), "sd_sum": round(sd_sum, 6)}
    beyond, f = abs(diff) > sd_sum, f".{digits}f"
    quoted = f"{a} {mean_a:{f}} ± {sd_a:{f}} vs {b} {mean_b:{f}} ± {sd_b:{f}} ({metric})"
    test, significant = "", True
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
        return Verdict("differ", f"{a if diff > 0 else b} is higher: {quoted}; the difference {abs(diff):{f}} exceeds "
                       f"the summed SDs {sd_sum:{f}}{test}.", numbers)
    why = (f"the difference {abs(diff):{f}} is within the summed SDs {sd_sum:{f}}" if not beyond
           else f"the difference {abs(diff):{f}} exceeds the summed SDs {sd_sum:{f}} but the test is not significant")
    return Verdict("no clear difference", f"No clear difference between {a} and {b}: {quoted}; {why}{test}.",
                   numbers)


def winner_per_label(table, *, label: str = "label", variant: str = "variant", score: str = "score",
                     sd: str | None = None, higher_is_better: bool = True, digits: int = 3):
    """The best variant per label of a (label, variant, ``score``) table: ``label``, ``winner``, ``score``,
    ``runner_up``, ``runner_up_score``, ``margin``, ``tie``, ``sentence`` (and with an ``sd`` column
    ``beyond_sd``, judged by :func:`differ_beyond_sd`); ``higher_is_better`` False for losses."""
    _require(table, (label, variant, score) + ((sd,) if sd else ()), "winner_per_label")
    frame = table.assign(**{score: pd.to_numeric(table[score], errors="coerce")})
    rows, nan = [], float("nan")
    for lab, group in frame.groupby(label, sort=False):
        group = group.dropna(subset=[score]).sort_values(score, ascending=not higher_is_better, kind="stable")
        row = {"label": lab, "winner": None, "score": nan, "runner_up": None, "runner_up_score": nan, "margin": nan,
               "tie": False, "sentence": f"{lab}: no variant has a {score}."}
        first = group.iloc[0] if len(group) else None
        if first is not None:
            row.update(winner=first[variant], score=float(first[score]), sentence=f"{lab}: {first[variant]} is the "
                       f"only variant ({score} {first[score]:.{digits}f}).")
        if len(group) > 1:
            second = group.iloc[1]
            margin = abs(float(first[score]) - float(second[score]))
            row.update(runner_up=second[variant], runner_up_score=float(second[score]), margin=margin, tie=margin == 0)
            text = (f"{lab}: {first[variant]} wins with {score} {first[score]:.{digits}f}, ahead of "
                    f"{second[variant]} ({second[score]:.{digits}f}) by {margin:.{digits}f}")
            if row["tie"]:
                text = f"{lab}: tie between {first[variant]} and {second[variant]} at {score} {first[score]:.{digits}f}"
            elif sd:
                v = differ_beyond_sd(float(first[score]), spread(first[sd]), float(second[score]),
                                     spread(second[sd]), names=(str(first[variant]), str(second[variant])))
                row["beyond_sd"] = v.verdict == "differ"
                text += " (beyond their SDs)" if row["beyond_sd"] else " (within their SDs: not a clear win)"
            row["sentence"] = text + "."
        rows.append(row)
    return pd.DataFrame(rows)


def compare_to_baseline(table, baseline: str, *, name: str = "name", mean: str = "mean", sd: str = "sd",
                        n: str | None = "n", metric: str = "score", digits: int = 3):
    """Each configuration of an ablation table (``name``, ``mean``, ``sd``, optional ``n``) against its
    ``baseline`` row: ``name``, ``mean``, ``sd``, ``diff_vs_baseline``, ``verdict``, ``sentence``."""
    _require(table, (name, mean, sd), "compare_to_baseline")
    names = [str(x) for x in table[name]]
    if str(baseline) not in names:
        raise ValueError(f"compare_to_baseline: baseline {baseline!r} not in column {name!r}; it has {names}")
    base = table.iloc[names.index(str(baseline))]
    rows = []
    for _, row in table.iterrows():
        m, s = float(row[mean]), spread(row[sd])
        out = {"name": row[name], "mean": m, "sd": s, "diff_vs_baseline": m - float(base[mean])}
        if str(row[name]) == str(baseline):
            out.update(verdict="baseline", sentence=f"{baseline} is the baseline ({metric} {m:.{digits}f}).")
        else:
            known = n and n in table.columns and pd.notna(row[n]) and pd.notna(base[n])
            v = differ_beyond_sd(m, s, float(base[mean]), spread(base[sd]), names=(str(row[name]), str(baseline)),
                                 metric=metric, digits=digits, **({"n_a": int(row[n]), "n_b": int(base[n])} if known else {}))
            out.update(verdict=v.verdict, sentence=v.sentence)
        rows.append(out)
    return pd.DataFrame(rows)


def chance_baselines(y_true, num_classes: int | None = None, prior=None) -> dict[str, float]:
    """Scores of two guessers that never look at an input, on the integer labels ``y_true``:
    ``majority_accuracy``/``majority_macro_f1`` (always the most frequent class of ``prior``, default
    ``y_true``'s own counts) and the expected ``stratified_accuracy``/``stratified_macro_f1`` of guessing class
    k with its ``prior`` frequency q_k (accuracy sum p_k q_k; per-class F1 2 p_k q_k / (p_k + q_k)), where p_k
    are ``y_true``'s frequencies. Macro averages run over ``num_classes`` (default: max label + 1)."""
    y = np.asarray(y_true).astype(int).ravel()
    if not len(y):
        raise ValueError("chance_baselines: y_true is empty")
    k = int(num_classes or 0) or int(y.max()) + 1
    p = np.bincount(y, minlength=k)[:k] / len(y)
    q = p if prior is None else np.bincount(np.asarray(prior).astype(int).ravel(), minlength=k)[:k].astype(float)
    q = q / q.sum()
    top = int(np.argmax(q))
    f1_major = 2 * p[top] / (1 + p[top]) if p[top] > 0 else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        f1_strat = np.where(p + q > 0, 2 * p * q / (p + q), 0.0)
    return {"majority_accuracy": float(p[top]), "majority_macro_f1": float(f1_major / k),
            "stratified_accuracy": float(np.sum(p * q)), "stratified_macro_f1": float(f1_strat.mean())}


def chance_table(y_true, num_classes: int | None = None, prior=None, split: str = "test"):
    """:func:`chance_baselines` as a small table to print beside a score table: one row per guesser
    (``model``: "chance: majority class", "chance: stratified random"), ``accuracy``, ``macro-F1`` (unrounded:
    compare with them, round to print), ``split``."""
    c = chance_baselines(y_true, num_classes, prior)
    return pd.DataFrame({"model": ["chance: majority class", "chance: stratified random"],
                         "accuracy": [c["majority_accuracy"], c["stratified_accuracy"]],
                         "macro-F1": [c["majority_macro_f1"], c["stratified_macro_f1"]], "split": split})


def average_precision_baseline(y_true) -> float:
    """The average precision of a scorer that ranks at random: the positive rate of the binary ``y_true``."""
    y = np.asarray(y_true).ravel()
    if not len(y):
        raise ValueError("average_precision_baseline: y_true is empty")
    return float(np.mean(y == 1))


def beats_chance(mean: float, sd: float | None, chance: float) -> bool:
    """True when ``mean - sd`` is above ``chance`` (one run, no SD: ``mean`` above it): only then may a score
    be called better than guessing, and only such a model may be called "best"."""
    return bool(float(mean) - spread(sd) > float(chance))


def choose_best(table: pd.DataFrame, metric: str, *, chance: float | str | None = None, name: str = "name",
                n: str | None = None, label: str | None = None, digits: int = 3) -> tuple[str, pd.Series, Verdict | None]:
    """The one rule for calling a model "best" (the notebooks' takeaways and the report use it): rank the rows of a
    mean ± SD table by ``<metric>_mean`` (highest first, missing last, ties in table order); the top row is
    ``"at chance"`` when its mean is missing or does not beat ``chance`` beyond its SD (:func:`beats_chance`;
    ``chance``: one level for all rows, a column holding each row's level, or None to skip), ``"no clear winner"``
    when it is not ahead of the runner-up beyond both SDs (:func:`differ_beyond_sd`, with the runs per row from
    column ``n``, default ``<metric>_n``), else ``"best"``. Returns (status, top row, the runner-up verdict or None);
    ``name`` is the column naming rows in that verdict, ``label`` the metric's name in its sentence."""
    if table.empty:
        raise ValueError("choose_best: no rows to choose from")
    _require(table, [f"{metric}_mean", f"{metric}_sd", name], "choose_best")
    ranked = table.assign(_rank=pd.to_numeric(table[f"{metric}_mean"], errors="coerce")).sort_values(
        "_rank", ascending=False, kind="stable", na_position="last")
    top, mean = ranked.iloc[0].drop("_rank"), float(ranked["_rank"].iloc[0])
    level = top[chance] if isinstance(chance, str) else chance
    if not math.isfinite(mean) or (level is not None and not beats_chance(mean, top[f"{metric}_sd"], level)):
        return "at chance", top, None
    if len(ranked) > 1 and math.isfinite(second_mean := float(ranked["_rank"].iloc[1])):
        second, count = ranked.iloc[1], n or f"{metric}_n"
        runs = [int(r[count]) if count in r and pd.notna(r[count]) else None for r in (top, second)]
        v = differ_beyond_sd(mean, spread(top[f"{metric}_sd"]), second_mean, spread(second[f"{metric}_sd"]),
                             n_a=runs[0], n_b=runs[1], names=(str(top[name]), str(second[name])),
                             metric=label or metric, digits=digits)
        if v.verdict != "differ":
            return "no clear winner", top, v
    return "best", top, None

