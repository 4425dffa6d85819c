"""Every figure the dashboards show, as plain functions of counts and rates.

No Django here (a test checks it): queries count, this module turns counts into
figures, and views, the API and tasks only call it. Rates are fractions (0.01 = 1%).
Outputs are plain dicts so they go straight into a snapshot's JSON.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

# The 97.5% quantile of the standard normal (a two-sided 95% interval): 1.95996398454005423…
# as the nearest double. statistics.NormalDist().inv_cdf(0.975) lands one unit in the last
# place below it (a test checks both).
Z95 = 1.959963984540054
LABEL_ERRORS_WORTH_FIXING = 0.30
SPLITS = ("train", "train_dev", "dev", "test")
TEAM_RULES = ("majority", "any")


def pct(rate: float | None, digits: int = 1) -> str:
    """A rate as a person reads it: 0.006 -> '0.6%'."""
    if rate is None:
        return "n/a"
    return f"{rate * 100:.{digits}f}%"


def wilson_interval(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion k/n: honest for small n and k near 0 or n."""
    if n <= 0:
        raise ValueError("An interval needs at least one observation (n > 0).")
    if not 0 <= k <= n:
        raise ValueError(f"k must be between 0 and n (got k={k}, n={n}).")
    p = k / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    # Rounding must never push the point estimate outside its own interval.
    return max(0.0, min(centre - half, p)), min(1.0, max(centre + half, p))


def rate(k: int, n: int) -> dict:
    """k of n as a rate with its 95% interval; rate None (never 0) when n is 0."""
    if n <= 0:
        return {"k": k, "n": n, "rate": None, "low": None, "high": None}
    low, high = wilson_interval(k, n)
    return {"k": k, "n": n, "rate": k / n, "low": low, "high": high}


def category_share(k: int, n: int, error_rate: float | None) -> dict:
    """Of n reviewed errors, k carry a category: its share f (with a 95% interval), the
    *ceiling* E·f, the most error that fixing the category can remove (interval
    E·[low, high]), and the *best error if fixed* E·(1−f).

    Worked: E = 10%, 5 of 100 errors are dogs: ceiling 0.5 points, best error 9.5%.
    """
    share = rate(k, n)
    figure = {
        "k": k,
        "n": n,
        "share": share["rate"],
        "share_low": share["low"],
        "share_high": share["high"],
        "ceiling": None,
        "ceiling_low": None,
        "ceiling_high": None,
        "best_error": None,
        "best_error_low": None,
        "best_error_high": None,
    }
    if error_rate is None or share["rate"] is None:
        return figure
    ceiling = error_rate * share["rate"]
    figure.update(
        ceiling=ceiling,
        ceiling_low=error_rate * share["low"],
        ceiling_high=error_rate * share["high"],
        best_error=error_rate - ceiling,
        best_error_low=error_rate * (1 - share["high"]),
        best_error_high=error_rate * (1 - share["low"]),
    )
    return figure


def label_error_impact(
    error_rate: float | None,
    f_l: float | None = None,
    *,
    label_error_rate: float | None = None,
    threshold: float = LABEL_ERRORS_WORTH_FIXING,
) -> dict:
    """How much of a run's error comes from incorrect labels.

    Either f_l (the share of reviewed errors tagged *Incorrectly labeled*) or
    label_error_rate (incorrect labels as a rate of all examples, e.g. carried over from
    an earlier run's review, since dev labels do not change with the model) is given.
    """
    empty = {
        "error_rate": error_rate,
        "due_to_labels": None,
        "other_causes": None,
        "labels_share": None,
        "other_share": None,
        "worth_fixing_labels": False,
        "verdict": "",
    }
    if error_rate is None or (f_l is None and label_error_rate is None):
        empty["verdict"] = "Not enough data: tag reviewed errors to see the share of label errors."
        return empty
    if f_l is None:
        if error_rate == 0:
            empty["verdict"] = "This run makes no errors on this split."
            return empty
        f_l = min(1.0, label_error_rate / error_rate)
    due = error_rate * f_l
    other = error_rate - due
    worth = f_l >= threshold
    if worth:
        verdict = (
            f"Incorrect labels now cause {pct(f_l, 0)} of errors ({pct(due)} of {pct(error_rate)})"
            ": fixing dev/test labels has become worth it."
        )
    else:
        verdict = (
            f"Incorrect labels cause {pct(f_l, 0)} of errors ({pct(due)} of {pct(error_rate)}): "
            f"fixing every one would only bring the error to {pct(other)}; "
            "other causes matter more for now."
        )
    return {
        "error_rate": error_rate,
        "due_to_labels": due,
        "other_causes": other,
        "labels_share": f_l,
        "other_share": 1 - f_l,
        "worth_fixing_labels": worth,
        "verdict": verdict,
    }


GAPS = [
    {
        "key": "avoidable_bias",
        "name": "Avoidable bias",
        "formula": "train − human level",
        "needs": ("human", "train"),
        "remedies": [
            "Train a bigger model",
            "Train longer or with a better optimizer",
            "Try a better architecture or hyperparameters",
        ],
    },
    {
        "key": "variance",
        "name": "Variance",
        "formula": "train-dev − train",
        "needs": ("train", "train_dev"),
        "remedies": [
            "Get more training data",
            "Regularize (weight decay, dropout, data augmentation)",
            "Try a better architecture or hyperparameters",
        ],
    },
    {
        "key": "data_mismatch",
        "name": "Data mismatch",
        "formula": "dev − train-dev",
        "needs": ("train_dev", "dev"),
        "remedies": [
            "Do error analysis on how dev differs from training data",
            "Make training data more like dev: collect more of it",
            "Or synthesize it (e.g. artificial data synthesis)",
        ],
    },
    {
        "key": "overfitting_dev",
        "name": "Overfitting to dev",
        "formula": "test − dev",
        "needs": ("dev", "test"),
        "remedies": ["Get a bigger dev set"],
    },
]

NEGATIVE_NOTES = {
    "avoidable_bias": "Negative: training error is below the human-level estimate (the model "
    "fits its training data beyond human level, or the estimate is too high).",
    "variance": "Negative: train-dev error is below training error (noise; no variance "
    "problem to fix).",
    "data_mismatch": "Negative: dev is easier than train-dev (no mismatch problem to fix).",
    "overfitting_dev": "Negative: test error is below dev error (no sign of overfitting dev).",
}

MISSING_REASONS = {
    "human": "the dataset's human-level error is not set (a lead can enter it)",
    "train": "this run has no train examples",
    "train_dev": "this run has no train-dev examples (hold out a slice of the training "
    "distribution to separate variance from data mismatch)",
    "dev": "this run has no dev examples",
    "test": "this run has no test examples",
}


def error_decomposition(
    human: float | None,
    train: float | None,
    train_dev: float | None,
    dev: float | None,
    test: float | None = None,
) -> dict:
    """Avoidable bias, variance, data mismatch and overfitting to dev, from the errors on
    each split. A gap whose split is missing is None with the reason, never zero."""
    levels = {"human": human, "train": train, "train_dev": train_dev, "dev": dev, "test": test}
    terms = []
    for gap in GAPS:
        missing = [name for name in gap["needs"] if levels[name] is None]
        value = None if missing else levels[gap["needs"][1]] - levels[gap["needs"][0]]
        terms.append(
            {
                "key": gap["key"],
                "name": gap["name"],
                "formula": gap["formula"],
                "value": value,
                "explanation": (
                    "Not shown: " + "; ".join(MISSING_REASONS[m] for m in missing) + "."
                    if missing
                    else ""
                ),
                "note": NEGATIVE_NOTES[gap["key"]] if value is not None and value < 0 else "",
                "remedies": gap["remedies"],
            }
        )
    combined = None
    if train_dev is None and train is not None and dev is not None:
        # Without train-dev, variance and mismatch cannot be told apart: show their sum.
        combined = {
            "name": "Variance + data mismatch",
            "formula": "dev − train",
            "value": dev - train,
            "explanation": "Without a train-dev split these two cannot be separated.",
        }
    present = [t for t in terms if t["value"] is not None]
    largest = max(present, key=lambda t: t["value"], default=None)
    if largest is not None and largest["value"] <= 0:
        largest = None
    return {
        "levels": levels,
        "terms": terms,
        "combined": combined,
        "largest": largest["key"] if largest else None,
        "advice": _decomposition_advice(largest),
    }


def _decomposition_advice(largest: dict | None) -> str:
    if largest is None:
        return "No positive gap to act on with the splits available."
    return (
        f"The largest gap is {largest['name'].lower()} ({pct(largest['value'])}, "
        f"{largest['formula']}). Standard remedies: "
        + "; ".join(r[0].lower() + r[1:] for r in largest["remedies"])
        + "."
    )


def general_table(
    *,
    sources: Sequence[str],
    trained: Mapping[str, tuple[int, int]],
    not_trained: Mapping[str, tuple[int, int]],
    human_by_source: Mapping[str, float] | None = None,
) -> dict:
    """Rows: human level / error on examples trained on / error on examples not trained
    on; one column per source distribution. Counts are (errors, examples) per source;
    a cell with no examples is None, with the reason."""
    human_by_source = human_by_source or {}
    columns = []
    for source in sources:
        t_k, t_n = trained.get(source, (0, 0))
        u_k, u_n = not_trained.get(source, (0, 0))
        columns.append(
            {
                "source": source,
                "human": human_by_source.get(source),
                "trained": rate(t_k, t_n),
                "not_trained": rate(u_k, u_n),
            }
        )
    return {
        "rows": [
            "Human level",
            "Error on examples trained on",
            "Error on examples not trained on",
        ],
        "columns": columns,
    }


def is_reviewed(reviewers: int, quorum: int, rule: str) -> bool:
    """Whether the team counts an example as reviewed: under "any", once someone reviewed
    it; under "majority", once at least `quorum` people did (a majority of the annotators
    it was assigned to, or one when nobody in particular was named)."""
    if rule not in TEAM_RULES:
        raise ValueError(f"Unknown team rule {rule!r}: use 'majority' or 'any'.")
    return reviewers >= (1 if rule == "any" else max(quorum, 1))


def counts_for_team(reviewers: int, ticks: int, rule: str) -> bool:
    """Whether a category counts on a reviewed example, given how many of its reviewers
    ticked it: under "any" one tick is enough; under "majority" more than half of the
    people who reviewed the example (someone who looked and ticked nothing is a no)."""
    if ticks <= 0:
        return False
    return rule == "any" or 2 * ticks > reviewers


def review_tally(
    *,
    sampled: int,
    patterns: Iterable[tuple[int, Mapping[str, int], int]],
    rule: str,
    quorum: int = 1,
) -> dict:
    """ "k of n" for a review under a team rule: the one place that decides which examples
    count as reviewed and which categories count on them.

    `patterns` are the examples someone reviewed, grouped: (how many people reviewed the
    example, {category: how many of those people ticked it}, how many examples look like
    that). Returns n (`reviewed`, the denominator of every share), k per category, the
    examples that fit no category (`none`, the "other" row) and the counted patterns
    ({categories counted: examples}), which ceiling_ranking compares on.
    """
    reviewed = 0
    counts: dict[str, int] = {}
    none = 0
    counted: dict[tuple[str, ...], int] = {}
    for reviewers, ticks, times in patterns:
        if times <= 0 or not is_reviewed(reviewers, quorum, rule):
            continue
        reviewed += times
        kept = tuple(
            sorted(str(c) for c, n in ticks.items() if counts_for_team(reviewers, n, rule))
        )
        for category in kept:
            counts[category] = counts.get(category, 0) + times
        if not kept:
            none += times
        counted[kept] = counted.get(kept, 0) + times
    return {
        "rule": rule,
        "quorum": max(quorum, 1),
        "sampled": sampled,
        "reviewed": reviewed,
        "counts": counts,
        "none": none,
        "patterns": [[list(kept), times] for kept, times in sorted(counted.items())],
    }


# Which idea first ---------------------------------------------------------------------

# Jeffreys prior on each cell of the posterior.
PRIOR = 0.5
MORE_NEEDED_CAP = 100_000


def _log_beta(a: float, b: float) -> float:
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1 + numerator * d
            d = 1 / (d if abs(d) > tiny else tiny)
            c = 1 + numerator / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1) < 1e-15:
            break
    return h


def beta_cdf(x: float, a: float, b: float) -> float:
    """P(X <= x) for X ~ Beta(a, b): the regularized incomplete beta function I_x(a, b)."""
    if a <= 0 or b <= 0:
        raise ValueError("Beta parameters must be positive.")
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(a * math.log(x) + b * math.log1p(-x) - _log_beta(a, b))
    if x < (a + 1) / (a + b + 2):
        return front * _beta_continued_fraction(a, b, x) / a
    return 1 - front * _beta_continued_fraction(b, a, 1 - x) / b


def probability_larger(only_a: float, only_b: float, prior: float = PRIOR) -> float:
    """P(f_A > f_B) given the reviewed examples, where only_a examples carry A but not B
    and only_b carry B but not A.

    Categories overlap, so they are compared on the same examples: f_A − f_B is the share
    of examples with A and not B minus the share with B and not A. Under a Dirichlet
    posterior over (A only, B only, both, neither) with a Jeffreys prior, the fraction
    p_A¬B / (p_A¬B + p_B¬A) is Beta(only_a + ½, only_b + ½), and f_A > f_B exactly when
    it exceeds one half. Ceilings are E·f with the same E, so this is also
    P(ceiling A > ceiling B)."""
    return 1 - beta_cdf(0.5, only_a + prior, only_b + prior)


def more_needed(only_a: int, only_b: int, reviewed: int, confidence: float = 0.95) -> int | None:
    """How many more reviewed examples would make P(f_A > f_B) reach `confidence`, if the
    next examples look like those reviewed so far (the counts grow in proportion).
    0 when it is already clear; None when A is not ahead (no number of examples like
    these would tell A above B) or it would take more than MORE_NEEDED_CAP."""
    if reviewed <= 0 or only_a <= only_b:
        return None

    def clear(extra: int) -> bool:
        scale = (reviewed + extra) / reviewed
        return probability_larger(only_a * scale, only_b * scale) >= confidence

    if clear(0):
        return 0
    high = max(1, reviewed)
    while not clear(high):
        high *= 2
        if high > MORE_NEEDED_CAP:
            return None
    low = high // 2
    while high - low > 1:
        middle = (low + high) // 2
        if clear(middle):
            high = middle
        else:
            low = middle
    return high


def _discordant(patterns: Iterable[tuple[Sequence[str], int]], a: str, b: str) -> tuple[int, int]:
    only_a = only_b = 0
    for kept, times in patterns:
        has_a, has_b = a in kept, b in kept
        if has_a and not has_b:
            only_a += times
        elif has_b and not has_a:
            only_b += times
    return only_a, only_b


def ceiling_ranking(
    *,
    tally: Mapping,
    error_rate: float | None,
    categories: Sequence[str] | None = None,
    confidence: float = 0.95,
    top: int = 5,
) -> dict:
    """Which idea first, and how sure: categories ranked by ceiling (E·f), each with the
    probability that its ceiling exceeds the next one's, and how many more reviewed
    examples would make that clear at `confidence`; and the leader against every other.
    `tally` is review_tally's result; categories default to those counted."""
    counts = tally["counts"]
    n = tally["reviewed"]
    patterns = [(tuple(kept), times) for kept, times in tally["patterns"]]
    names = list(categories) if categories is not None else sorted(counts)
    order = sorted(names, key=lambda c: -counts.get(c, 0))
    ranked = []
    for position, category in enumerate(order[:top]):
        entry = {
            "category": category,
            **category_share(counts.get(category, 0), n, error_rate),
            "next": None,
            "p_above_next": None,
            "more_needed": None,
        }
        if position + 1 < len(order) and n:
            follower = order[position + 1]
            only_a, only_b = _discordant(patterns, category, follower)
            entry.update(
                next=follower,
                p_above_next=probability_larger(only_a, only_b),
                more_needed=more_needed(only_a, only_b, n, confidence),
            )
        ranked.append(entry)
    leader = order[0] if order and n and counts.get(order[0], 0) else None
    versus = []
    if leader is not None:
        for other in order[1:]:
            only_a, only_b = _discordant(patterns, leader, other)
            versus.append(
                {
                    "category": other,
                    "p_leader_larger": probability_larger(only_a, only_b),
                    "more_needed": more_needed(only_a, only_b, n, confidence),
                }
            )
    clear = leader is not None and all(v["p_leader_larger"] >= confidence for v in versus)
    return {
        "reviewed": n,
        "confidence": confidence,
        "leader": leader,
        "leader_is_clear": clear,
        "ranking": ranked,
        "leader_versus": versus,
    }


def confusion_matrix(
    cells: Iterable[tuple[str, str, int]], labels: Sequence[str] = (), limit: int | None = None
) -> dict:
    """Counts (true label, predicted label, count) as a matrix with each row normalised:
    a cell's share is the fraction of that true label's examples predicted as that label.

    With `limit`, only the classes involved in the most errors are kept (row totals and
    shares still count every prediction); `hidden` says how many classes were left out.
    """
    counts: dict[tuple[str, str], int] = {}
    seen: list[str] = list(labels)
    totals: dict[str, int] = {}
    errors: dict[str, int] = {}
    for true, predicted, count in cells:
        counts[(true, predicted)] = counts.get((true, predicted), 0) + count
        totals[true] = totals.get(true, 0) + count
        if true != predicted:
            errors[true] = errors.get(true, 0) + count
            errors[predicted] = errors.get(predicted, 0) + count
        for name in (true, predicted):
            if name not in seen:
                seen.append(name)
    shown = seen
    if limit is not None and len(seen) > limit:
        keep = set(sorted(seen, key=lambda name: -errors.get(name, 0))[:limit])
        shown = [name for name in seen if name in keep]
    rows = []
    for true in shown:
        total = totals.get(true, 0)
        rows.append(
            {
                "label": true,
                "total": total,
                "cells": [
                    {
                        "predicted": predicted,
                        "count": counts.get((true, predicted), 0),
                        "share": counts.get((true, predicted), 0) / total if total else None,
                    }
                    for predicted in shown
                ],
            }
        )
    return {"labels": shown, "rows": rows, "hidden": len(seen) - len(shown)}


def runs_comparison(runs: Sequence[Mapping]) -> list[dict]:
    """Runs oldest to newest, each with the change since the one before it.

    Each run is a mapping with "splits" ({split: rate or None}), "decomposition"
    ({gap key: value or None}) and "shares" ({category: share or None}). A delta is None
    when either side is missing; negative means the error went down.
    """
    compared = []
    previous = None
    for run in runs:
        deltas = {}
        for part in ("splits", "decomposition", "shares"):
            now = run.get(part, {})
            before = previous.get(part, {}) if previous else {}
            deltas[part] = {
                key: (value - before[key])
                if previous is not None and value is not None and before.get(key) is not None
                else None
                for key, value in now.items()
            }
        compared.append({**run, "deltas": deltas})
        previous = run
    return compared


# Precision, recall and calibration ------------------------------------------------------

# Equal-width confidence bins, as scikit-learn's calibration_curve(strategy="uniform"):
# the first bin is [0, 0.1], each next one (lo, hi].
CONFIDENCE_BINS = 10
CONFIDENCE_EDGES = tuple(i / CONFIDENCE_BINS for i in range(CONFIDENCE_BINS + 1))


def class_metrics(cells: Iterable[tuple[str, str, int]], labels: Sequence[str] = ()) -> dict:
    """Per class precision, recall and F1 with support, from (true, predicted, count).

    Precision is None for a class never predicted, recall None for a class without
    examples (never a silent 0). The macro average runs over the classes with support,
    counting an undefined precision as 0 (as scikit-learn does by default); the weighted
    average weighs each class by its support. Accuracy is over every prediction."""
    tp: dict[str, int] = {}
    predicted: dict[str, int] = {}
    support: dict[str, int] = {}
    seen: list[str] = list(labels)
    total = correct = 0
    for true, pred, count in cells:
        total += count
        support[true] = support.get(true, 0) + count
        predicted[pred] = predicted.get(pred, 0) + count
        if true == pred:
            tp[true] = tp.get(true, 0) + count
            correct += count
        for name in (true, pred):
            if name not in seen:
                seen.append(name)
    rows = []
    for name in seen:
        k, n_true, n_pred = tp.get(name, 0), support.get(name, 0), predicted.get(name, 0)
        if not n_true and not n_pred:
            continue
        precision = k / n_pred if n_pred else None
        recall = k / n_true if n_true else None
        rows.append(
            {
                "label": name,
                "support": n_true,
                "predicted": n_pred,
                "tp": k,
                "precision": precision,
                "recall": recall,
                "f1": _f1(precision, recall),
            }
        )
    return {
        "classes": rows,
        "accuracy": correct / total if total else None,
        "examples": total,
        "macro": _average(rows, weighted=False),
        "weighted": _average(rows, weighted=True),
    }


def _f1(precision: float | None, recall: float | None) -> float | None:
    if precision is None or recall is None:
        return None
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def _average(rows: list[dict], *, weighted: bool) -> dict:
    scored = [r for r in rows if r["support"]]
    weights = [r["support"] if weighted else 1 for r in scored]
    total = sum(weights)
    if not total:
        return {"precision": None, "recall": None, "f1": None}

    def mean(key):
        return sum(w * (r[key] or 0.0) for w, r in zip(weights, scored, strict=True)) / total

    precision, recall = mean("precision"), mean("recall")
    # scikit-learn's F1 average is the mean of the per-class F1, not the F1 of the means.
    return {"precision": precision, "recall": recall, "f1": mean("f1")}


def calibration(
    correct: Sequence[int], wrong: Sequence[int], confidence_sum: Sequence[float]
) -> dict:
    """The reliability diagram and expected calibration error of one split.

    Per confidence bin: predictions right and wrong, and the sum of their confidences.
    Each bin's accuracy is right / all and its confidence the mean confidence; ECE is the
    mean of |accuracy − confidence| weighted by the bin's predictions, and MCE the largest
    gap. None when no prediction carries a confidence."""
    if not len(correct) == len(wrong) == len(confidence_sum):
        raise ValueError("correct, wrong and confidence_sum need one value per bin.")
    n_bins = len(correct)
    total = sum(correct) + sum(wrong)
    bins = []
    ece = 0.0
    mce = None
    for b in range(n_bins):
        n = correct[b] + wrong[b]
        accuracy = correct[b] / n if n else None
        mean_confidence = confidence_sum[b] / n if n else None
        gap = abs(accuracy - mean_confidence) if n else None
        if n:
            ece += n / total * gap
            mce = gap if mce is None else max(mce, gap)
        bins.append(
            {
                "low": b / n_bins,
                "high": (b + 1) / n_bins,
                "correct": correct[b],
                "wrong": wrong[b],
                "n": n,
                "accuracy": accuracy,
                "confidence": mean_confidence,
                "gap": gap,
            }
        )
    return {
        "bins": bins,
        "n": total,
        "correct": sum(correct),
        "wrong": sum(wrong),
        "ece": ece if total else None,
        "mce": mce,
    }


# Multi-task ---------------------------------------------------------------------------


def coverage(known: int, unknown: int) -> dict:
    """How many examples of a task have their label: known of all (known + unknown), with
    its 95% interval. An error rate is over the known ones only: an unknown label is
    neither right nor wrong."""
    return rate(known, known + unknown)


def tasks_overview(
    *,
    tasks: Sequence[str],
    errors: Mapping[str, Mapping[str, tuple[int, int]]],
    images: Mapping[str, Mapping[str, int]],
    decompositions: Mapping[str, Mapping],
    split: str = "dev",
) -> dict:
    """A multi-task run across its tasks, per split:

    - *mean per-task error*: the unweighted mean of the tasks' error rates (each over the
      examples whose label is known), over the tasks with at least one known label on
      the split; None when none has;
    - *any task wrong*: among the images (an example_id, one example per task) of the
      split with at least one known label, the share with at least one task wrong (an
      unknown label never makes an image wrong), with its 95% interval;
    - *pooled error*: every (image, task) with a known label together (what a review of
      all tasks samples from).

    And the *worst task*: the task with the highest error on `split` (dev; ties go to the
    first in the dataset's order), with its largest gap from its own decomposition.

    `errors` is {task: {split: (errors, examples known)}}, `images` {split: {"images",
    "known", "wrong"}}, `decompositions` {task: error_decomposition(...)}.

    Worked: tasks A 1 wrong of 3 known, B 0 of 2 known on dev: mean error 16.7%; if the 3
    images all have a known label and one has A wrong, any task wrong is 1 of 3.
    """
    per_split = {}
    for name in SPLITS:
        rates = []
        k_all = n_all = 0
        for task in tasks:
            k, n = errors.get(task, {}).get(name, (0, 0))
            k_all += k
            n_all += n
            if n:
                rates.append(k / n)
        counted = images.get(name, {})
        per_split[name] = {
            "mean_error": sum(rates) / len(rates) if rates else None,
            "tasks_counted": len(rates),
            "any_wrong": rate(counted.get("wrong", 0), counted.get("known", 0)),
            "images": counted.get("images", 0),
            "pooled_error": rate(k_all, n_all),
        }
    worst = None
    worst_rate = None
    for task in tasks:
        k, n = errors.get(task, {}).get(split, (0, 0))
        if n and (worst_rate is None or k / n > worst_rate):
            worst, worst_rate = task, k / n
    largest = None
    if worst is not None:
        decomposition = decompositions.get(worst) or {}
        key = decomposition.get("largest")
        term = next((t for t in decomposition.get("terms", []) if t["key"] == key), None)
        if term is not None:
            largest = {"key": term["key"], "name": term["name"], "value": term["value"]}
    return {
        "tasks": list(tasks),
        "splits": per_split,
        "worst_split": split,
        "worst_task": worst,
        "worst_error": worst_rate,
        "worst_largest_gap": largest,
    }
