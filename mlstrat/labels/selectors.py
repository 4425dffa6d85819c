"""Reads of the labels concern: the review queue, histories, the dev/test balance, the
estimate of bad labels among correct predictions, likely-bad-label rankings, exports."""

import math

from django.db.models import (
    Count,
    Exists,
    F,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    prefetch_related_objects,
)

from mlstrat.analytics import figures
from mlstrat.datasets.models import Dataset, Example, ModelRun, Prediction, RunStatus, Split

from . import ranking
from .models import (
    CheckOutcome,
    CorrectionStatus,
    CorrectSample,
    CorrectSampleItem,
    LabelChange,
    LabelCheck,
    LabelCorrection,
    LabelScore,
)

# A split examined this many times more deeply than the other gets a warning.
BALANCE_RATIO = 1.5
BALANCED_SPLITS = (Split.DEV, Split.TEST)


def corrections_for_project(*, project) -> QuerySet[LabelCorrection]:
    return LabelCorrection.objects.filter(example__dataset__project=project)


def queue_examples(
    *,
    dataset: Dataset,
    status: str = CorrectionStatus.PENDING,
    split: str = "",
    proposed_by=None,
    task: str = "",
) -> QuerySet[Example]:
    """Examples with proposals of `status` (all statuses when empty), oldest first; each
    carries its matching proposals in `.queue_corrections`, shown together."""
    corrections = LabelCorrection.objects.filter(example__dataset=dataset)
    if status:
        corrections = corrections.filter(status=status)
    if proposed_by is not None:
        corrections = corrections.filter(proposed_by=proposed_by)
    examples = dataset.examples.filter(pk__in=corrections.values("example_id"))
    if split:
        examples = examples.filter(split=split)
    if task:
        examples = examples.filter(task=task)
    first = Min("corrections__proposed_at", filter=Q(corrections__in=corrections))
    return examples.annotate(first_proposed=first).order_by("first_proposed", "pk")


def with_queue_details(*, examples, status: str = "", proposed_by=None) -> list[Example]:
    """Attach proposals, and the latest run's prediction with p(current), p(proposed)."""
    corrections = LabelCorrection.objects.select_related("proposed_by", "reviewed_by", "run")
    if status:
        corrections = corrections.filter(status=status)
    if proposed_by is not None:
        corrections = corrections.filter(proposed_by=proposed_by)
    examples = list(examples)
    if not examples:
        return examples
    prefetch_related_objects(
        examples,
        Prefetch(
            "corrections",
            queryset=corrections.order_by("proposed_at", "id"),
            to_attr="queue_corrections",
        ),
    )
    run = latest_run(dataset=examples[0].dataset)
    predictions = {}
    if run:
        predictions = {
            p.example_id: p
            for p in Prediction.objects.filter(run=run, example__in=examples).only(
                "example_id", "predicted_label", "confidence", "probabilities", "is_error"
            )
        }
    for example in examples:
        example.latest_prediction = predictions.get(example.pk)
        probabilities = getattr(example.latest_prediction, "probabilities", None) or {}
        example.p_current = probabilities.get(example.label)
        for correction in example.queue_corrections:
            correction.p_proposed = probabilities.get(correction.proposed_label)
    return examples


def latest_run(*, dataset: Dataset) -> ModelRun | None:
    return dataset.runs.filter(status=RunStatus.READY).order_by("-imported_at", "-id").first()


def example_history(*, example: Example) -> dict:
    """Everything that happened to an example's label, oldest first."""
    changes = list(
        LabelChange.objects.filter(example=example)
        .select_related("changed_by", "correction")
        .annotate(reverted=Exists(LabelChange.objects.filter(reverts=OuterRef("pk"))))
        .order_by("changed_at", "id")
    )
    if changes:
        latest = changes[-1]
        latest.revertable = not latest.reverted and latest.to_label == example.label
    return {
        "changes": changes,
        "corrections": list(
            LabelCorrection.objects.filter(example=example)
            .select_related("proposed_by", "reviewed_by")
            .order_by("proposed_at", "id")
        ),
        "checks": list(
            LabelCheck.objects.filter(example=example)
            .select_related("checked_by")
            .order_by("checked_at", "id")
        ),
    }


def sibling_tasks(*, example: Example) -> list[Example]:
    """The same image's examples for every task of a multi-task dataset, in the dataset's
    task order ([] for a single-task dataset)."""
    tasks = example.dataset.tasks
    if not tasks:
        return []
    same_image = Example.objects.filter(
        dataset_id=example.dataset_id, example_id=example.example_id
    )
    found = {e.task: e for e in same_image}
    return [found[task] for task in tasks if task in found]


def _checked_examples(dataset: Dataset) -> QuerySet[Example]:
    """Examples whose label someone looked at: a check, a proposal, or a tag in an
    error review (tagging a reviewed error means its label was seen and, unless
    *Incorrectly labeled* was ticked, found right). Starts from those small tables, so
    a dataset of a million examples is not walked row by row."""
    from mlstrat.review.models import Tag

    looked_at = (
        LabelCheck.objects.filter(example__dataset=dataset)
        .order_by()
        .values("example_id")
        .union(
            LabelCorrection.objects.filter(example__dataset=dataset)
            .order_by()
            .values("example_id"),
            Tag.objects.filter(run__dataset=dataset).order_by().values("example_id"),
        )
    )
    return dataset.examples.filter(pk__in=looked_at)


def correction_balance(*, dataset: Dataset, task: str | None = None) -> dict:
    """Per split (dev and test): examples, how many were checked and corrected, and a
    warning when one split was examined more deeply than the other (checked-rate ratio
    above 1.5, or a two-proportion z-test significant at 5%), which would make the two
    distributions differ. With `task`, one task of a multi-task dataset (its labels are
    corrected, and filled in, separately from the others')."""
    examples = dataset.examples.all() if task is None else dataset.examples.filter(task=task)
    checked_examples = _checked_examples(dataset)
    if task is not None:
        checked_examples = checked_examples.filter(task=task)
    per_split = {
        row["split"]: row
        for row in examples.filter(split__in=BALANCED_SPLITS)
        .values("split")
        .annotate(n=Count("pk"), corrected=Count("pk", filter=~Q(label=F("original_label"))))
        .order_by()
    }
    totals = {split: row["n"] for split, row in per_split.items()}
    corrected = {split: row["corrected"] for split, row in per_split.items()}
    checked = dict(
        checked_examples.filter(split__in=BALANCED_SPLITS)
        .values_list("split")
        .annotate(n=Count("pk"))
        .values_list("split", "n")
        .order_by()
    )
    splits = []
    for split in BALANCED_SPLITS:
        n = totals.get(split, 0)
        c = checked.get(split, 0)
        k = corrected.get(split, 0)
        splits.append(
            {
                "split": split.value,
                "examples": n,
                "checked": c,
                "corrected": k,
                "checked_rate": c / n if n else None,
                "corrected_rate": k / n if n else None,
                "corrected_of_checked": k / c if c else None,
            }
        )
    dev, test = splits
    result = {"splits": splits, "ratio": None, "z": None, "warning": False, "message": ""}
    if task is not None:
        result["task"] = task
    if not dev["examples"] or not test["examples"]:
        result["message"] = (
            "Dev and test both need examples to compare how deeply each was checked."
        )
        return result
    rates = sorted([dev["checked_rate"], test["checked_rate"]])
    if rates[1] == 0:
        result["message"] = "No dev or test label has been checked yet."
        return result
    # None when one split was not checked at all (infinitely deeper).
    result["ratio"] = rates[1] / rates[0] if rates[0] else None
    result["z"] = _two_proportion_z(
        dev["checked"], dev["examples"], test["checked"], test["examples"]
    )
    significant = result["z"] is not None and abs(result["z"]) > 1.96
    if result["ratio"] is None or result["ratio"] > BALANCE_RATIO or significant:
        deeper = dev if dev["checked_rate"] > test["checked_rate"] else test
        other = test if deeper is dev else dev
        result["warning"] = True
        result["message"] = (
            f"{deeper['split']} was checked more deeply "
            f"({deeper['checked_rate']:.1%} of examples) than {other['split']} "
            f"({other['checked_rate']:.1%}): correct {other['split']} labels too, or the "
            "two splits stop coming from the same distribution."
        )
    else:
        result["message"] = "Dev and test were checked about equally deeply."
    return result


def correction_balance_per_task(*, dataset: Dataset) -> list[dict]:
    """The dev/test balance of each task of a multi-task dataset, in the dataset's order
    ([] for a single-task dataset)."""
    return [correction_balance(dataset=dataset, task=task) for task in dataset.tasks]


def _two_proportion_z(k1: int, n1: int, k2: int, n2: int) -> float | None:
    pooled = (k1 + k2) / (n1 + n2)
    variance = pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if variance <= 0:
        return None
    return (k1 / n1 - k2 / n2) / math.sqrt(variance)


def _sample_items_checked(*, samples) -> tuple[int, int]:
    """(checked, bad) over sampled items: an item is bad when the reviewer proposed a
    correction that a lead has not rejected."""
    checks = LabelCheck.objects.filter(sample_item__sample__in=samples)
    bad = Q(outcome=CheckOutcome.CORRECTED) & ~Q(correction__status=CorrectionStatus.REJECTED)
    counts = checks.aggregate(n=Count("pk"), k=Count("pk", filter=bad))
    return counts["n"], counts["k"]


def correct_sample_estimate(*, run: ModelRun, split: str | None = None) -> dict:
    """The rate of bad labels among the run's correct predictions, from its samples of
    correct predictions, with a 95% Wilson interval (rate None until something is
    checked)."""
    samples = CorrectSample.objects.filter(run=run)
    if split:
        samples = samples.filter(split=split)
    n, k = _sample_items_checked(samples=samples)
    figure = figures.rate(k, n)
    figure.update(
        {
            "run": run.pk,
            "split": split or "",
            "samples": samples.count(),
            "sampled": CorrectSampleItem.objects.filter(sample__in=samples).count(),
        }
    )
    return figure


def sample_estimate(*, sample: CorrectSample) -> dict:
    n, k = _sample_items_checked(samples=[sample])
    return figures.rate(k, n)


def sample_items(*, sample: CorrectSample) -> QuerySet[CorrectSampleItem]:
    return sample.items.select_related(
        "example", "label_check__checked_by", "label_check__correction"
    ).order_by("position")


def samples_for_dataset(*, dataset: Dataset) -> QuerySet[CorrectSample]:
    return (
        CorrectSample.objects.filter(run__dataset=dataset)
        .select_related("run", "created_by")
        .annotate(checked=Count("items__label_check"))
    )


def label_scores(
    *, run: ModelRun, split: str = "", method: str = ranking.SELF_CONFIDENCE
) -> QuerySet[LabelScore]:
    """Examples of a run, least likely label first."""
    if method not in ranking.METHODS:
        raise ValueError(f"Rank by one of {', '.join(ranking.METHODS)}.")
    scores = LabelScore.objects.filter(run=run).select_related("example")
    if split:
        scores = scores.filter(split=split)
    return scores.order_by(method, "example_id")


def label_score_for(*, run: ModelRun | None, example: Example) -> dict | None:
    """One example's score under one run, computed from its stored probabilities (so it
    is right even before the run's ranking was computed)."""
    if run is None or not run.has_probabilities:
        return None
    probabilities = (
        Prediction.objects.filter(run=run, example=example)
        .values_list("probabilities", flat=True)
        .first()
    )
    if not isinstance(probabilities, dict):
        return None
    confidence, margin = ranking.label_quality(probabilities, example.label)
    rank = None
    stored = LabelScore.objects.filter(run=run, split=example.split)
    if stored.filter(example=example).exists():
        ahead = Q(self_confidence__lt=confidence) | Q(
            self_confidence=confidence, example_id__lt=example.pk
        )
        rank = stored.filter(ahead).count() + 1
    return {
        "label": example.label,
        "self_confidence": confidence,
        "margin": margin,
        "rank": rank,
        "ranked": stored.count() if rank else None,
        "likely_bad": margin < 0,
    }


def correction_patterns(*, dataset: Dataset) -> list[dict]:
    """Corrections in force grouped by (original label, label in force), per split, most
    frequent first: a pair that keeps coming back is a systematic labelling error. On a
    multi-task dataset a pair is of one task (and names it: `task`); filling an unknown
    label in is a pair from ""."""
    rows = (
        dataset.examples.exclude(label=F("original_label"))
        .values("task", "original_label", "label", "split")
        .annotate(n=Count("pk"))
    )
    pairs: dict[tuple[str, str, str], dict] = {}
    for row in rows:
        pair = pairs.setdefault(
            (row["task"], row["original_label"], row["label"]),
            {
                **({"task": row["task"]} if dataset.tasks else {}),
                "from": row["original_label"],
                "to": row["label"],
                "total": 0,
                "by_split": {},
            },
        )
        pair["by_split"][row["split"]] = row["n"]
        pair["total"] += row["n"]
    return sorted(
        pairs.values(), key=lambda p: (-p["total"], p.get("task", ""), p["from"], p["to"])
    )


def labels_in_force(*, dataset: Dataset, task: str | None = None):
    """Rows for the retraining export, streamed in primary-key order. A multi-task
    dataset's rows carry their task after the example id (an unknown label is "");
    `task` keeps one task's."""
    last_change = LabelChange.objects.filter(example=OuterRef("pk")).order_by("-changed_at", "-id")
    examples = dataset.examples.all() if not task else dataset.examples.filter(task=task)
    task_column = ["task"] if dataset.tasks else []
    return (
        examples.order_by("pk")
        .annotate(last_changed_at=Subquery(last_change.values("changed_at")[:1]))
        .values_list(
            "example_id",
            *task_column,
            "split",
            "source",
            "original_label",
            "label",
            "last_changed_at",
        )
        .iterator(chunk_size=5000)
    )


def label_changes(*, dataset: Dataset, task: str | None = None):
    changes = LabelChange.objects.filter(example__dataset=dataset)
    if task:
        changes = changes.filter(example__task=task)
    task_column = ["example__task"] if dataset.tasks else []
    return (
        changes.order_by("changed_at", "id")
        .values_list(
            "pk",
            "example__example_id",
            *task_column,
            "example__split",
            "from_label",
            "to_label",
            "reason",
            "changed_by__username",
            "changed_at",
            "correction_id",
            "reverts_id",
        )
        .iterator(chunk_size=5000)
    )


def last_changed(*, dataset: Dataset):
    return LabelChange.objects.filter(example__dataset=dataset).aggregate(at=Max("changed_at"))[
        "at"
    ]
