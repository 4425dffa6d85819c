"""Reads for the dashboards: a run's figures from its snapshot, runs compared, exports."""

from types import SimpleNamespace

from mlstrat.datasets import staleness
from mlstrat.datasets.models import SPLIT_ORDER, Dataset, ModelRun, RunStatus
from mlstrat.review.models import INCORRECT_LABEL, ReferenceReview
from mlstrat.review.selectors import shares_from_tally, tally_from_patterns

from . import figures, queries
from .models import AnalysisSettings, AnalysisSnapshot, TeamRule
from .snapshot import SCHEMA

OTHER_COLOR = "#9aa0a6"
SPLIT_NAMES = {"train": "train", "train_dev": "train-dev", "dev": "dev", "test": "test"}


class UnknownTask(ValueError):
    """A task the dataset does not have (the message says which it has)."""


def task_for(*, dataset: Dataset, task: str | None) -> str:
    """The task a figure is about: the one asked for, else a multi-task dataset's first
    task ("" for a single-task dataset). UnknownTask for a task the dataset lacks."""
    tasks = list(dataset.tasks or [])
    if not task:
        return tasks[0] if tasks else ""
    if not tasks:
        raise UnknownTask(f"Dataset “{dataset.name}” has one label per example: it has no tasks.")
    if task not in tasks:
        raise UnknownTask(
            f"Dataset “{dataset.name}” has no task “{task}”: choose one of {', '.join(tasks)}."
        )
    return task


def team_rule_for(*, dataset: Dataset) -> str:
    settings = AnalysisSettings.objects.filter(dataset=dataset).first()
    return settings.team_rule if settings else TeamRule.MAJORITY


def split_error(*, run: ModelRun, split: str, task: str = "") -> float | None:
    """A run's error on one split, counted now (the review API's E; the dashboard reads
    the same count from its snapshot): of one task, or ("") of every task together (a
    multi-task review of all tasks samples from them all). Unknown labels left out."""
    c = queries.split_counts(run=run, split=split, task=task or None)
    return figures.rate(c["errors"], c["examples"])["rate"]


def _split_rows(counts: dict) -> list[dict]:
    """Per split: the error over the examples whose label is known (in force, and as
    imported) and the coverage, known of all."""
    rows = []
    for split in SPLIT_ORDER:
        c = counts["splits"].get(str(split), {})
        n = c.get("examples", 0)
        rows.append(
            {
                "split": str(split),
                "name": SPLIT_NAMES[str(split)],
                "examples": n,
                "unknown": c.get("unknown", 0),
                "coverage": figures.coverage(n, c.get("unknown", 0)),
                "error": figures.rate(c.get("errors", 0), n),
                "original_error": figures.rate(
                    c.get("original_errors", 0), c.get("original_examples", n)
                ),
            }
        )
    return rows


def counts_for_task(counts: dict, task: str) -> dict:
    """A snapshot's counts seen as one task's (a single-task snapshot as it is)."""
    if not counts.get("tasks"):
        return counts
    return {**counts, **counts["by_task"].get(task, {})}


def tasks_overview(*, counts: dict, dataset: Dataset, rule: str) -> dict | None:
    """A multi-task run across its tasks (figures.tasks_overview: mean per-task error,
    the share of images with any task wrong, the worst task and its largest gap), each
    task's error and coverage per split, and the reviews of all tasks together (their E:
    the pooled error). None for a single-task run."""
    tasks = counts.get("tasks") or []
    if not tasks:
        return None
    human = dataset.human_level_error
    rows = {task: _split_rows(counts["by_task"].get(task, {"splits": {}})) for task in tasks}
    decompositions = {task: _decomposition(rows[task], human, "error") for task in tasks}
    overview = figures.tasks_overview(
        tasks=tasks,
        errors={
            task: {r["split"]: (r["error"]["k"], r["error"]["n"]) for r in rows[task]}
            for task in tasks
        },
        images=counts.get("images", {}),
        decompositions=decompositions,
    )
    overview["per_task"] = [
        {
            "task": task,
            "splits": {
                r["split"]: {"error": r["error"], "coverage": r["coverage"]} for r in rows[task]
            },
            "largest_gap": decompositions[task]["largest"],
        }
        for task in tasks
    ]
    pooled = [
        {"split": split, "error": overview["splits"][split]["pooled_error"]}
        for split in overview["splits"]
    ]
    categories = counts.get("categories", [])
    overview["reviews"] = [
        _review_figures(r, pooled, rule, categories)
        for r in counts.get("reviews", [])
        if not r.get("task")
    ]
    return overview


def _decomposition(splits: list[dict], human: float | None, key: str) -> dict:
    by_split = {row["split"]: row[key]["rate"] for row in splits}
    return figures.error_decomposition(
        human, by_split["train"], by_split["train_dev"], by_split["dev"], by_split["test"]
    )


def _general_table(counts: dict, dataset: Dataset) -> dict:
    trained: dict[str, list[int]] = {}
    not_trained: dict[str, list[int]] = {}
    for split, per_source in counts["split_source"].items():
        target = trained if split == "train" else not_trained
        for source, c in per_source.items():
            cell = target.setdefault(source, [0, 0])
            cell[0] += c["errors"]
            cell[1] += c["examples"]
    return figures.general_table(
        sources=counts["sources"],
        trained={s: tuple(v) for s, v in trained.items()},
        not_trained={s: tuple(v) for s, v in not_trained.items()},
        human_by_source=dataset.human_level_error_by_source or {},
    )


def _breakdown(per_split: dict, keys: list[str]) -> list[dict]:
    """Rows (source or class) x columns (splits): error rate with its interval."""
    return [
        {
            "key": key,
            "splits": {
                str(split): figures.rate(
                    per_split.get(str(split), {}).get(key, {}).get("errors", 0),
                    per_split.get(str(split), {}).get(key, {}).get("examples", 0),
                )
                for split in SPLIT_ORDER
            },
        }
        for key in keys
    ]


def _review_figures(review: dict, splits: list[dict], rule: str, categories: list[dict]) -> dict:
    """One review's figures under a rule: the tally (review_tally, the one "k of n"),
    each category's share, ceiling and best error if fixed, the "other" row, which idea
    first, and the label-error impact on its split."""
    error = next(row["error"] for row in splits if row["split"] == review["split"])
    tally = tally_from_patterns(review, rule)
    shares = shares_from_tally(tally=tally, categories=categories, error_rate=error["rate"])
    incorrect = next((c for c in shares["categories"] if c["builtin"] == INCORRECT_LABEL), None)
    n = shares["reviewed"]
    impact = figures.label_error_impact(
        error["rate"], incorrect["share"] if incorrect and n else None
    )
    if incorrect and incorrect["share"] is not None and error["rate"] is not None:
        impact["label_error_rate"] = error["rate"] * incorrect["share"]
    return {
        **{k: review[k] for k in ("id", "name", "split", "filters", "created_at")},
        "split_name": SPLIT_NAMES.get(review["split"], review["split"]),
        "error": error,
        "rule": rule,
        "items": shares["sampled"],
        "reviewed": n,
        "complete": shares["complete"],
        "categories": shares["categories"],
        "other": shares["other"],
        "ranking": shares["ranking"],
        "label_impact": impact,
    }


def _calibration(counts: dict) -> dict:
    """Per split: the reliability diagram, ECE and right/wrong confidence histograms
    (None for a split whose predictions carry no confidence, or none at all)."""
    out = {}
    for split in SPLIT_ORDER:
        c = counts.get("calibration", {}).get(str(split))
        figure = c and figures.calibration(c["correct"], c["wrong"], c["confidence_sum"])
        out[str(split)] = figure if figure and figure["n"] else None
    return out


def default_reference(reviews: list[dict]) -> dict | None:
    """The review that drives a run's headlines when no lead chose one: the unfiltered dev
    review with the most reviewed examples (the oldest among equals). Starting another
    review never changes it: a new review has nothing reviewed yet."""
    candidates = [r for r in reviews if r["split"] == "dev" and not r["filters"] and r["reviewed"]]
    if not candidates:
        return None
    return max(candidates, key=lambda r: (r["reviewed"], -r["id"]))


def reference_review(*, run: ModelRun, reviews: list[dict]) -> tuple[dict | None, bool]:
    """(the run's reference review among `reviews`, whether a lead chose it)."""
    chosen = ReferenceReview.objects.filter(run=run).values_list("review_id", flat=True).first()
    if chosen is not None:
        found = next((r for r in reviews if r["id"] == chosen), None)
        if found is not None:
            return found, True
    return default_reference(reviews), False


def reference_summary(review: dict | None, chosen: bool) -> dict | None:
    """How every headline names its review: "“Dev sample” · 71 of 75 reviewed"."""
    if review is None:
        return None
    return {
        "id": review["id"],
        "name": review["name"],
        "split": review["split"],
        "split_name": review["split_name"],
        "reviewed": review["reviewed"],
        "items": review["items"],
        "complete": review["complete"],
        "rule": review["rule"],
        "chosen": chosen,
        "label": (
            f"“{review['name']}” ({review['split_name']}) · {review['reviewed']} of "
            f"{review['items']} reviewed" + ("" if review["complete"] else ", still moving")
        ),
    }


def figures_from_counts(
    *,
    counts: dict,
    dataset: Dataset,
    rule: str,
    confusion_splits: list[str] | None = None,
    confusion_limit: int | None = None,
    task: str = "",
) -> dict:
    """Every figure of a run, from its stored counts and the dataset's current settings,
    for one task of a multi-task run (its reviews only; `task` from task_for). Pages ask
    for one split's confusion matrix, limited to the classes with most errors."""
    counts = counts_for_task(counts, task)
    splits = _split_rows(counts)
    human = dataset.human_level_error
    categories = counts.get("categories", [])
    reviews = [
        _review_figures(r, splits, rule, categories)
        for r in counts["reviews"]
        if r.get("task", "") == task
    ]
    confusion = {
        split: figures.confusion_matrix(cells, counts["classes"], limit=confusion_limit)
        for split, cells in counts["confusion"].items()
        if confusion_splits is None or split in confusion_splits
    }
    return {
        "task": task,
        "tasks": list(counts.get("tasks") or []),
        "team_rule": rule,
        "team_rule_label": TeamRule(rule).label,
        "human_level_error": human,
        "human_level_error_by_source": dataset.human_level_error_by_source or {},
        "labels_corrected": counts["corrected_examples"],
        "splits": splits,
        "decomposition": _decomposition(splits, human, "error"),
        "decomposition_original": _decomposition(splits, human, "original_error"),
        "general_table": _general_table(counts, dataset),
        "sources": counts["sources"],
        "classes": counts["classes"],
        "by_source": _breakdown(counts["split_source"], counts["sources"]),
        "by_class": _breakdown(counts["split_class"], counts["classes"]),
        "confusion": confusion,
        "class_metrics": {
            str(split): figures.class_metrics(
                counts["confusion"].get(str(split), []), counts["classes"]
            )
            for split in SPLIT_ORDER
        },
        "calibration": _calibration(counts),
        "reviews": reviews,
    }


def run_figures(
    *,
    run: ModelRun,
    rule: str | None = None,
    confusion_splits: list[str] | None = None,
    confusion_limit: int | None = None,
    task: str | None = None,
) -> dict:
    """A run's dashboard: its snapshot's figures with "as of" and whether a recompute is
    pending, and the reference review that drives the headlines. Empty figures
    (computing) when the snapshot was never computed.

    A multi-task run's figures are one task's (`task`, by default the first) with the
    overview across tasks beside them (`overview`); UnknownTask for a task it lacks."""
    dataset = run.dataset
    task = task_for(dataset=dataset, task=task)
    rule = rule or team_rule_for(dataset=dataset)
    snap = AnalysisSnapshot.objects.filter(run=run).first()
    header = {
        "run": {"id": run.pk, "name": run.name, "dataset": dataset.pk},
        "dataset": {"id": dataset.pk, "name": dataset.name},
        "as_of": snap.computed_at.isoformat() if snap and snap.computed_at else None,
        "stale": snap.is_stale if snap else True,
        "compute_seconds": snap.compute_seconds if snap else None,
    }
    counts = snap.figures if snap and snap.computed_at else None
    if not counts or counts.get("schema") != SCHEMA:
        return {**header, "ready": False}
    figs = figures_from_counts(
        counts=counts,
        dataset=dataset,
        rule=rule,
        confusion_splits=confusion_splits,
        confusion_limit=confusion_limit,
        task=task,
    )
    reference, chosen = reference_review(run=run, reviews=figs["reviews"])
    figs["reference"] = reference_summary(reference, chosen)
    figs["label_impact"] = _label_impact(
        run=run, figs=figs, reference=reference, rule=rule, task=task
    )
    figs["overview"] = tasks_overview(counts=counts, dataset=dataset, rule=rule)
    return {**header, "ready": True, **figs}


def _label_impact(
    *, run: ModelRun, figs: dict, reference: dict | None, rule: str, task: str = ""
) -> dict:
    """Label-error impact on the reference review's split: from that review, or when this
    run has none, carried over from the latest earlier run's reference review on dev (dev
    labels do not change with the model)."""
    if reference is not None:
        return {
            **reference["label_impact"],
            "split": reference["split"],
            "source": f"reference review “{reference['name']}” of this run",
        }
    dev_error = next(r["error"]["rate"] for r in figs["splits"] if r["split"] == "dev")
    if run.imported_at is None:
        return {**figures.label_error_impact(dev_error, None), "split": "dev", "source": ""}
    earlier = (
        AnalysisSnapshot.objects.filter(
            run__dataset_id=run.dataset_id,
            run__status=RunStatus.READY,
            run__imported_at__lt=run.imported_at,
            computed_at__isnull=False,
        )
        .select_related("run")
        .order_by("-run__imported_at")
    )
    for snap in earlier[:10]:
        if snap.figures.get("schema") != SCHEMA:
            continue
        older = figures_from_counts(
            counts=snap.figures, dataset=run.dataset, rule=rule, confusion_splits=[], task=task
        )
        theirs, _ = reference_review(run=snap.run, reviews=older["reviews"])
        rate = theirs["label_impact"].get("label_error_rate") if theirs else None
        if theirs and theirs["split"] == "dev" and rate is not None:
            impact = figures.label_error_impact(dev_error, label_error_rate=rate)
            return {
                **impact,
                "split": "dev",
                "source": f"carried over from “{theirs['name']}” of run “{snap.run.name}”",
            }
    return {**figures.label_error_impact(dev_error, None), "split": "dev", "source": ""}


def runs_compared(*, dataset: Dataset, rule: str | None = None, task: str | None = None) -> dict:
    """The dataset's runs oldest to newest: split errors, decomposition, and category
    shares from each run's reference review (named, with its completeness), each with the
    change since the run before. A multi-task dataset's runs are compared on one task
    (`task`, by default the first), each with its overview across tasks (mean per-task
    error and any task wrong per split); UnknownTask for a task it lacks."""
    task = task_for(dataset=dataset, task=task)
    rule = rule or team_rule_for(dataset=dataset)
    runs = list(
        ModelRun.objects.filter(dataset=dataset, status=RunStatus.READY)
        .select_related("snapshot")
        .order_by("imported_at", "id")
    )
    entries = []
    carried = None  # (label error rate, run name): dev labels do not change with the model
    colors: dict[str, str] = {}
    for run in runs:
        snap = getattr(run, "snapshot", None)
        base = {
            "run": {"id": run.pk, "name": run.name, "imported_at": run.imported_at},
            "as_of": snap.computed_at.isoformat() if snap and snap.computed_at else None,
        }
        if not snap or not snap.computed_at or snap.figures.get("schema") != SCHEMA:
            entries.append(
                {**base, "ready": False, "splits": {}, "decomposition": {}, "shares": {}}
            )
            continue
        figs = figures_from_counts(
            counts=snap.figures, dataset=dataset, rule=rule, confusion_splits=[], task=task
        )
        overview = tasks_overview(counts=snap.figures, dataset=dataset, rule=rule)
        review, chosen = reference_review(run=run, reviews=figs["reviews"])
        dev_error = next(r["error"]["rate"] for r in figs["splits"] if r["split"] == "dev")
        rate = review["label_impact"].get("label_error_rate") if review else None
        if review and review["split"] == "dev" and rate is not None:
            impact = {**review["label_impact"], "source": "own reference review"}
            carried = (rate, run.name)
        elif carried:
            impact = {
                **figures.label_error_impact(dev_error, label_error_rate=carried[0]),
                "source": f"carried over from {carried[1]}",
            }
        else:
            impact = {**figures.label_error_impact(dev_error, None), "source": ""}
        shares = {}
        if review:
            for c in review["categories"]:
                shares[c["name"]] = c["share"]
                colors.setdefault(c["name"], c["color"])
            shares["other (no category)"] = review["other"]["share"]
        entries.append(
            {
                **base,
                "ready": True,
                "splits": {r["split"]: r["error"]["rate"] for r in figs["splits"]},
                "decomposition": {t["key"]: t["value"] for t in figs["decomposition"]["terms"]},
                "largest_gap": figs["decomposition"]["largest"],
                "reference": reference_summary(review, chosen),
                "review": review["name"] if review else None,
                "shares": shares,
                "label_impact": impact,
                "overview": overview
                and {
                    split: {"mean_error": o["mean_error"], "any_wrong": o["any_wrong"]["rate"]}
                    for split, o in overview["splits"].items()
                },
            }
        )
    compared = figures.runs_comparison(entries)
    names = sorted({name for e in entries for name in e["shares"]} - {"other (no category)"})
    if any("other (no category)" in e["shares"] for e in entries):
        names.append("other (no category)")
        colors["other (no category)"] = OTHER_COLOR
    return {
        "dataset": {"id": dataset.pk, "name": dataset.name},
        "task": task,
        "tasks": list(dataset.tasks or []),
        "team_rule": rule,
        "runs": compared,
        "categories": names,
        "colors": colors,
        "gaps": [{"key": g["key"], "name": g["name"]} for g in figures.GAPS],
    }


def _tasks_dev(*, tasks: list[str], task_splits: dict, images: dict) -> dict:
    """A multi-task run's dev figures across tasks (figures.tasks_overview), without the
    decompositions (no worst gap): mean per-task error and any task wrong."""
    overview = figures.tasks_overview(
        tasks=tasks,
        errors={
            task: {
                split: (c.get("errors", 0), c.get("examples", 0))
                for split, c in task_splits.get(task, {}).items()
            }
            for task in tasks
        },
        images=images,
        decompositions={},
    )
    dev = overview["splits"]["dev"]
    return {
        "tasks": len(tasks),
        "mean_error": dev["mean_error"],
        "any_wrong": dev["any_wrong"],
        "worst_task": overview["worst_task"],
        "worst_error": overview["worst_error"],
    }


def runs_overview(*, runs: list[ModelRun]) -> dict[int, dict]:
    """For a list of runs (the project page): the dev error with its interval and errors,
    and the reference review's progress, from each run's snapshot, reading only those
    parts of the stored counts (never the confusion matrices)."""
    rows = AnalysisSnapshot.objects.filter(run__in=runs).values(
        "run_id",
        "computed_at",
        "run__figure_state__requested_at",
        "figures__schema",
        "figures__splits",
        "figures__reviews",
        "figures__categories",
        "figures__tasks",
        "figures__task_splits",
        "figures__images",
    )
    by_id = {run.pk: run for run in runs}
    rules: dict[int, str] = {}
    overview = {}
    for row in rows:
        run = by_id[row["run_id"]]
        # The run's figure state as read in the same query (staleness.is_stale reads it).
        state = SimpleNamespace(requested_at=row["run__figure_state__requested_at"])
        entry = {
            "dev_error": None,
            "tasks_dev": None,
            "reference": None,
            "stale": staleness.is_stale(state=state, computed_at=row["computed_at"]),
        }
        overview[run.pk] = entry
        if row["computed_at"] is None or row["figures__schema"] != SCHEMA:
            continue
        splits = _split_rows({"splits": row["figures__splits"]})
        entry["dev_error"] = next(r["error"] for r in splits if r["split"] == "dev")
        if row["figures__tasks"]:
            # A multi-task run: dev_error is its first task's; beside it, across tasks.
            entry["tasks_dev"] = _tasks_dev(
                tasks=row["figures__tasks"],
                task_splits=row["figures__task_splits"] or {},
                images=row["figures__images"] or {},
            )
        if run.dataset_id not in rules:
            rules[run.dataset_id] = team_rule_for(dataset=run.dataset)
        reviews = [
            _review_figures(r, splits, rules[run.dataset_id], row["figures__categories"] or [])
            for r in row["figures__reviews"] or []
        ]
        entry["reference"] = reference_summary(*reference_review(run=run, reviews=reviews))
    return overview
