"""What a snapshot stores: a run's counts, aggregated in SQL, grouped for the dashboard.

Figures that depend on what a lead sets later (human-level error, team rule) are not
stored: selectors.run_figures derives them from these counts when read, so changing
them shows at once.
"""

from mlstrat.datasets.models import SPLIT_ORDER, ModelRun
from mlstrat.review.selectors import review_patterns

from . import counts, queries
from .figures import CONFIDENCE_BINS

# 2: reviews store reviewed patterns (explicit reviewed marks), categories once.
# 3: per split, predictions right and wrong and their summed confidence per confidence bin.
# 4: multi-task (#15): predictions whose label is unknown are left out of every count
#    ("unknown" beside them for the coverage), original-label counts have their own n,
#    per task counts under "by_task" (the first task's also at the top level), the images
#    per split under "images", and each review's task.
SCHEMA = 4

COUNTED = ("examples", "unknown", "errors", "original_examples", "original_errors")


def _add(target: dict, row: dict) -> None:
    for field in COUNTED:
        target[field] = target.get(field, 0) + row[field]


def _add_confidence(target: dict, row: dict) -> None:
    """Right and wrong predictions per confidence bin, and their summed confidence."""
    if not any(row["confidence_bins"]):
        return
    if not target:
        target.update(
            correct=[0] * CONFIDENCE_BINS,
            wrong=[0] * CONFIDENCE_BINS,
            confidence_sum=[0.0] * CONFIDENCE_BINS,
        )
    outcome = target["correct" if row["label"] == row["predicted_label"] else "wrong"]
    for b in range(CONFIDENCE_BINS):
        outcome[b] += row["confidence_bins"][b]
        target["confidence_sum"][b] += row["confidence_sums"][b]


def task_counts(rows: list[dict], class_names: list[str]) -> dict:
    """One task's counts (a single-task run: its only task) from prediction_counts rows.
    A row whose label is unknown adds to its split's and source's `unknown` only: no
    class, no confusion cell, no calibration bin."""
    splits: dict[str, dict] = {str(s): {} for s in SPLIT_ORDER}
    split_source: dict[str, dict] = {}
    split_class: dict[str, dict] = {}
    confusion: dict[str, list] = {}
    calibration: dict[str, dict] = {}
    sources: set[str] = set()
    labels: set[str] = set()
    corrected = 0
    for row in rows:
        split, source, label = row["split"], row["source"], row["label"]
        sources.add(source)
        corrected += row["corrected"]
        _add(splits.setdefault(split, {}), row)
        _add(split_source.setdefault(split, {}).setdefault(source, {}), row)
        if not row["examples"]:
            continue
        labels.update((label, row["predicted_label"]))
        _add(split_class.setdefault(split, {}).setdefault(label, {}), row)
        confusion.setdefault(split, []).append([label, row["predicted_label"], row["examples"]])
        _add_confidence(calibration.setdefault(split, {}), row)
    classes = class_names + sorted(labels - set(class_names))
    return {
        "splits": splits,
        "split_source": split_source,
        "split_class": split_class,
        "confusion": confusion,
        "calibration": {split: c for split, c in calibration.items() if c},
        "sources": sorted(sources),
        "classes": classes,
        "corrected_examples": corrected,
    }


def run_counts(*, run: ModelRun, rebuild: bool = False) -> dict:
    """The run's counts, every task at once, from the counts kept in step with its labels
    (analytics/counts.py; `rebuild`: counted again from scratch first). A multi-task run
    keeps each task's counts under "by_task" (the first task's also at the top level,
    where single-task readers look) and its images per split."""
    if rebuild:
        counts.counts_rebuild(run=run)
    rows, images = counts.counts_read(run=run)
    dataset = run.dataset
    tasks = list(dataset.tasks or [])
    if not tasks:
        return {**task_counts(rows, dataset.classes_for("")), "tasks": []}
    by_task_rows: dict[str, list] = {task: [] for task in tasks}
    for row in rows:
        by_task_rows.setdefault(row["task"], []).append(row)
    by_task = {
        task: task_counts(task_rows, dataset.classes_for(task))
        for task, task_rows in by_task_rows.items()
    }
    return {
        **by_task[tasks[0]],
        "tasks": tasks,
        "by_task": by_task,
        # Each task's split counts alone: the project page reads these, not by_task.
        "task_splits": {task: counts["splits"] for task, counts in by_task.items()},
        "images": _images(counted=images, first=by_task[tasks[0]]),
    }


def _images(*, counted: dict, first: dict) -> dict[str, dict]:
    """Per split: the images (as many as the first task's examples: each image has one
    per task), those with at least one known label, and those with a task wrong
    (`counted`: queries.image_counts)."""
    images = {}
    for split, c in first["splits"].items():
        total = c.get("examples", 0) + c.get("unknown", 0)
        if not total:
            continue
        seen = counted.get(split, {})
        images[split] = {
            "images": total,
            "known": total - seen.get("all_unknown", 0),
            "wrong": seen.get("wrong", 0),
        }
    return images


def review_counts(*, run: ModelRun) -> list[dict]:
    """Each review's sample size and reviewed patterns (review.selectors.review_patterns):
    the team's tally under either rule is derived from them when read."""
    return [
        {
            "id": review.pk,
            "name": review.name,
            "split": review.split,
            "task": review.task,
            "filters": review.filters or {},
            "assignment": review.assignment,
            "created_at": review.created_at.isoformat(),
            **review_patterns(review=review),
        }
        for review in queries.run_reviews(run=run)
    ]


COUNT_KEYS = (
    "splits",
    "split_source",
    "split_class",
    "confusion",
    "calibration",
    "sources",
    "classes",
    "corrected_examples",
    "tasks",
    "by_task",
    "task_splits",
    "images",
)


def build(*, run: ModelRun, previous: dict | None = None, rebuild: bool = False) -> dict:
    """The snapshot's counts. After a burst of ticks only the reviews are counted again:
    the prediction counts of `previous` are reused while their fingerprint holds.
    `rebuild`: the prediction counts are counted again from scratch."""
    fingerprint = queries.prediction_fingerprint(run=run)
    reusable = (
        previous and previous.get("schema") == SCHEMA and previous.get("fingerprint") == fingerprint
    )
    kept = (
        {k: previous[k] for k in COUNT_KEYS if k in previous}
        if reusable
        else run_counts(run=run, rebuild=rebuild)
    )
    return {
        "schema": SCHEMA,
        "fingerprint": fingerprint,
        **kept,
        "categories": queries.dataset_categories(run=run),
        "reviews": review_counts(run=run),
    }
