"""Writes of the review concern: reviews, categories, ticks and comments.

A tick on the wire is an idempotent *set* or *clear*: sending the same one twice
changes the data once, and every request is written to the TagEvent audit trail
with whether it changed anything.
"""

import functools
import re
import time

from django.core.exceptions import ValidationError
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Exists, Max, OuterRef
from django.utils import timezone

from mlstrat.datasets.models import (
    Dataset,
    Example,
    ModelRun,
    Prediction,
    RunStatus,
    Split,
)
from mlstrat.datasets.sampling import SeedOutOfRange, sample_key, seed_or_new
from mlstrat.datasets.staleness import dataset_figures_stale, figures_stale
from mlstrat.labels.services import InvalidLabel, correction_propose
from mlstrat.names import clean_text, normalise_name, refuse_look_alike

from .models import (
    INCORRECT_LABEL,
    AssignmentMode,
    CategoryAction,
    CategoryEvent,
    Comment,
    ErrorCategory,
    ReferenceReview,
    Review,
    ReviewItem,
    ReviewMark,
    SavedView,
    Tag,
    TagAction,
    TagEvent,
)

# Keys the sheet uses for itself; a category cannot take them (0: "nothing applies").
RESERVED_KEYS = set("jkcxauz?0")
FILTER_KEYS = {"label", "prediction", "source", "confidence_min", "confidence_max", "metadata"}
METADATA_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
RETRY_SQLSTATES = {"40P01", "40001"}  # deadlock detected, serialization failure


def _is_transient(exc: OperationalError) -> bool:
    code = getattr(getattr(exc, "__cause__", None), "pgcode", None)
    if code in RETRY_SQLSTATES:
        return True
    # SQLite (embedded mode): another writer holds the lock a moment longer than the timeout.
    return connection.vendor == "sqlite" and "locked" in str(exc)


def retry_on_conflict(func, attempts=4):
    """Run a transactional write again when PostgreSQL aborts it for a deadlock or a
    serialization failure; the caller must not already be inside a transaction."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        # Inside someone else's transaction a retry cannot help: the whole thing is aborted.
        tries = 1 if connection.in_atomic_block else attempts
        for attempt in range(tries):
            try:
                with transaction.atomic():
                    return func(*args, **kwargs)
            except OperationalError as exc:
                if not _is_transient(exc) or attempt == tries - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")

    return wrapper


# ---------------------------------------------------------------- reviews


def clean_filters(filters) -> dict:
    """Validate a review or sheet filter; raise ValidationError with a reason."""
    if filters is not None and not isinstance(filters, dict):
        raise ValidationError(
            {"filters": 'Filters are an object of filter to values, e.g. {"label": ["cat"]}.'}
        )
    filters = dict(filters or {})
    unknown = set(filters) - FILTER_KEYS
    if unknown:
        raise ValidationError(
            {"filters": f"Unknown filter {', '.join(sorted(unknown))}; use {sorted(FILTER_KEYS)}."}
        )
    clean = {}
    for key in ("label", "prediction", "source"):
        value = filters.get(key)
        if value in (None, "", []):
            continue
        values = value if isinstance(value, list) else [value]
        if not all(isinstance(v, str | int) for v in values):
            raise ValidationError({"filters": f"{key}: a value or a list of values."})
        clean[key] = [str(v) for v in values]
    for key in ("confidence_min", "confidence_max"):
        value = filters.get(key)
        if value in (None, ""):
            continue
        try:
            value = float(value)
        except (TypeError, ValueError) as exc:
            raise ValidationError({"filters": f"{key}: a number between 0 and 1."}) from exc
        if not 0 <= value <= 1:
            raise ValidationError({"filters": f"{key}: a number between 0 and 1."})
        clean[key] = value
    metadata = filters.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ValidationError({"filters": "metadata: an object of key to value."})
    for key, value in metadata.items():
        if not METADATA_KEY.match(key) or "__" in key:
            raise ValidationError({"filters": f"metadata key {key!r}: letters, digits, - and _."})
        if not isinstance(value, str | int | float | bool):
            raise ValidationError({"filters": f"metadata {key}: a single value."})
    if metadata:
        clean["metadata"] = dict(metadata)
    return clean


def clean_task(*, dataset: Dataset, task: str | None) -> str:
    """A review (or a sheet) of a multi-task dataset is for one of its tasks, or for all
    of them (""); a single-task dataset has no task to name."""
    task = (task or "").strip()
    if task and task not in (dataset.tasks or []):
        if not dataset.tasks:
            raise ValidationError({"task": "This dataset has a single task; name none."})
        raise ValidationError({"task": f"Pick one of {', '.join(dataset.tasks)} (or none)."})
    return task


def _candidate_errors(*, review: Review):
    predictions = Prediction.objects.filter(run=review.run, split=review.split, is_error=True)
    if review.task:
        predictions = predictions.filter(task=review.task)
    filters = review.filters
    if "label" in filters:
        predictions = predictions.filter(example__label__in=filters["label"])
    if "prediction" in filters:
        predictions = predictions.filter(predicted_label__in=filters["prediction"])
    if "source" in filters:
        predictions = predictions.filter(example__source__in=filters["source"])
    if "confidence_min" in filters:
        predictions = predictions.filter(confidence__gte=filters["confidence_min"])
    if "confidence_max" in filters:
        predictions = predictions.filter(confidence__lte=filters["confidence_max"])
    for key, value in filters.get("metadata", {}).items():
        predictions = predictions.filter(**{f"example__metadata__{key}": value})
    return predictions


def _add_items(*, review: Review, count: int | None) -> int:
    taken = set(ReviewItem.objects.filter(review=review).values_list("example_id", flat=True))
    candidates = [
        row
        for row in _candidate_errors(review=review).values_list("pk", "example_id")
        if row[1] not in taken
    ]
    # Extending a review continues down the same order.
    candidates.sort(key=lambda row: sample_key(review.seed, row[0]))
    if count is not None:
        candidates = candidates[:count]
    start = (ReviewItem.objects.filter(review=review).aggregate(m=Max("position"))["m"] or 0) + 1
    annotators = sorted(review.annotators.all(), key=lambda u: u.username)
    load = {u.pk: 0 for u in annotators}
    if review.assignment == AssignmentMode.SPLIT and annotators:
        for assignee_id in ReviewItem.objects.filter(review=review).values_list(
            "assignee_id", flat=True
        ):
            if assignee_id in load:
                load[assignee_id] += 1
    items = []
    for offset, (prediction_id, example_id) in enumerate(candidates):
        assignee_id = None
        if review.assignment == AssignmentMode.SPLIT and annotators:
            # The least loaded annotator gets the next example: shares stay even on extension.
            assignee_id = min(load, key=lambda pk: (load[pk], pk))
            load[assignee_id] += 1
        items.append(
            ReviewItem(
                review=review,
                prediction_id=prediction_id,
                example_id=example_id,
                position=start + offset,
                assignee_id=assignee_id,
            )
        )
    ReviewItem.objects.bulk_create(items, batch_size=2000)
    return len(items)


# What a review's columns hold (a positive integer, a bigint).
MAX_SAMPLE_SIZE = 2**31 - 1


@transaction.atomic
def review_create(
    *,
    run: ModelRun,
    created_by,
    name: str,
    split: str = Split.DEV,
    task: str = "",
    sample_size: int | None = 100,
    seed: int | None = None,
    filters: dict | None = None,
    assignment: str = AssignmentMode.EVERYONE,
    annotators=(),
) -> Review:
    """Start a review: a reproducible random sample of the run's errors on a split (of one
    task of a multi-task dataset, or of all its tasks when `task` is "")."""
    if not (name or "").strip():
        raise ValidationError({"name": "A review needs a name."})
    name = normalise_name(name, max_length=200)
    if run.status != RunStatus.READY:
        raise ValidationError({"run": "This run is not imported yet."})
    if split not in Split.values:
        raise ValidationError({"split": f"Pick one of {', '.join(Split.values)}."})
    task = clean_task(dataset=run.dataset, task=task)
    if sample_size is not None and not 1 <= sample_size <= MAX_SAMPLE_SIZE:
        raise ValidationError(
            {
                "sample_size": f"At least one example, at most {MAX_SAMPLE_SIZE} "
                "(or none for all errors)."
            }
        )
    try:
        seed = seed_or_new(seed)
    except SeedOutOfRange as exc:
        raise ValidationError({"seed": str(exc)}) from exc
    if assignment not in AssignmentMode.values:
        raise ValidationError({"assignment": "Either everyone or split."})
    annotators = list(annotators)
    project = run.dataset.project
    outsiders = [u.username for u in annotators if not project.memberships.filter(user=u).exists()]
    if outsiders:
        raise ValidationError({"annotators": f"Not members: {', '.join(outsiders)}."})
    if assignment == AssignmentMode.SPLIT and not annotators:
        raise ValidationError({"annotators": "Name who shares the work."})
    review = Review.objects.create(
        run=run,
        name=name[:200],
        split=split,
        task=task,
        sample_size=sample_size,
        seed=seed,
        filters=clean_filters(filters),
        assignment=assignment,
        created_by=created_by,
    )
    review.annotators.set(annotators)
    if not _add_items(review=review, count=sample_size):
        of_task = f" “{task}”" if task else ""
        raise ValidationError(
            {"filters": f"No misclassified{of_task} {split} example matches; nothing to review."}
        )
    category_ensure_builtins(dataset=run.dataset)
    figures_stale(run=run)
    return review


@transaction.atomic
def review_extend(*, review: Review, by: int | None) -> int:
    """Add `by` more errors (None: all remaining) in the same seeded order; tags are kept."""
    if by is not None and by < 1:
        raise ValidationError({"by": "Add at least one example."})
    review = Review.objects.select_for_update().get(pk=review.pk)
    added = _add_items(review=review, count=by)
    total = ReviewItem.objects.filter(review=review).count()
    review.sample_size = None if by is None else total
    review.save(update_fields=["sample_size"])
    figures_stale(run=review.run)
    return added


@transaction.atomic
def review_delete(*, review: Review) -> None:
    """Delete a review, its sample and its reviewed marks. Ticks and comments belong to
    the run and stay (other reviews and the run's sheet still show them)."""
    run = review.run
    review.delete()
    figures_stale(run=run)


# ---------------------------------------------------------------- reviewed marks


def _items_of(*, review: Review, examples) -> dict[int, int]:
    """{example pk: item pk} for these examples; every one must be in the review."""
    example_ids = [e if isinstance(e, int) else e.pk for e in examples]
    items = dict(
        ReviewItem.objects.filter(review=review, example_id__in=example_ids).values_list(
            "example_id", "pk"
        )
    )
    missing = [pk for pk in example_ids if pk not in items]
    if missing:
        raise TagError(f"Not in review “{review.name}”: example(s) {missing[:5]}.")
    return items


def _marks_write(*, review: Review, items: dict[int, int], user, reviewed: bool) -> dict:
    """Set (or take back) one person's reviewed marks; {example pk: changed}."""
    current = dict(
        ReviewMark.objects.filter(item_id__in=items.values(), user=user).values_list(
            "item_id", "reviewed"
        )
    )
    changed = {
        example_id: current.get(item_id, False) != reviewed for example_id, item_id in items.items()
    }
    if reviewed:
        ReviewMark.objects.bulk_create(
            [
                ReviewMark(review=review, item_id=item_id, user=user)
                for item_id in items.values()
                if item_id not in current
            ],
            ignore_conflicts=True,
        )
    flip = [items[ex] for ex, did in changed.items() if did and items[ex] in current]
    if flip:
        ReviewMark.objects.filter(item_id__in=flip, user=user).update(
            reviewed=reviewed, updated_at=timezone.now()
        )
    if any(changed.values()):
        figures_stale(run=review.run)
    return changed


@retry_on_conflict
def marks_apply(*, review: Review, examples, user, reviewed: bool = True) -> dict[int, bool]:
    """Mark examples of a review as reviewed by `user` ("nothing applies" when they tick
    nothing), or take the mark back. Returns {example pk: changed}. Ticks are untouched:
    a person's ticks count in this review only while they marked the example reviewed."""
    if not examples:
        raise TagError("Pick at least one example.")
    items = _items_of(review=review, examples=examples)
    return _marks_write(review=review, items=items, user=user, reviewed=reviewed)


# ---------------------------------------------------------------- reference review


@transaction.atomic
def reference_review_set(*, run: ModelRun, review: Review | None, user) -> None:
    """A lead picks the review that drives the run's headlines; None goes back to the
    default (the unfiltered dev review with the most reviewed examples)."""
    if review is None:
        ReferenceReview.objects.filter(run=run).delete()
    else:
        if review.run_id != run.pk:
            raise ValidationError({"review": "That review belongs to another run."})
        ReferenceReview.objects.update_or_create(
            run=run, defaults={"review": review, "chosen_by": user}
        )
    figures_stale(run=run)


# ---------------------------------------------------------------- categories


def _clean_category_fields(*, dataset, name=None, key=None, color=None, exclude_pk=None):
    if name is not None:
        if isinstance(name, str) and not name.strip():
            raise ValidationError({"name": "A category needs a name."})
        name = normalise_name(name, max_length=100)
        clash = ErrorCategory.objects.filter(dataset=dataset, name__iexact=name)
        if clash.exclude(pk=exclude_pk).exists():
            raise ValidationError({"name": f"There is already a category “{name}”."})
        others = ErrorCategory.objects.filter(dataset=dataset).exclude(pk=exclude_pk)
        refuse_look_alike(name, existing=others.values_list("name", flat=True), what="category")
    if key is not None:
        key = key.strip().lower()
        if key and (len(key) != 1 or not key.isalnum()):
            raise ValidationError({"key": "One letter or digit."})
        if key in RESERVED_KEYS:
            reserved = " ".join(sorted(RESERVED_KEYS))
            raise ValidationError({"key": f"“{key}” is a sheet shortcut; reserved: {reserved}."})
        clash = ErrorCategory.objects.filter(dataset=dataset, key=key, archived=False)
        if key and clash.exclude(pk=exclude_pk).exists():
            raise ValidationError({"key": f"“{key}” is taken by another active category."})
    if color is not None and not re.fullmatch(r"#[0-9a-fA-F]{6}", color):
        raise ValidationError({"color": "A colour like #4e79a7."})
    return name, key, color


@transaction.atomic
def category_create(
    *,
    dataset: Dataset,
    name: str,
    created_by,
    key: str = "",
    color: str = "#4e79a7",
    description: str = "",
) -> ErrorCategory:
    """Add a column to every sheet of the dataset, at the end."""
    name, key, color = _clean_category_fields(dataset=dataset, name=name, key=key, color=color)
    order = (dataset.categories.aggregate(m=Max("order"))["m"] or 0) + 1
    try:
        with transaction.atomic():
            category = ErrorCategory.objects.create(
                dataset=dataset,
                name=name,
                key=key,
                color=color,
                description=clean_text(description, field="description", max_length=2000),
                order=order,
                created_by=created_by,
            )
    except IntegrityError as exc:
        raise ValidationError({"name": "That name or key was just taken; try another."}) from exc
    _category_event(category=category, user=created_by, action=CategoryAction.CREATED)
    dataset_figures_stale(dataset=dataset)
    return category


_UNSET = object()


@transaction.atomic
def category_update(
    *,
    category: ErrorCategory,
    name=_UNSET,
    key=_UNSET,
    color=_UNSET,
    description=_UNSET,
    archived=_UNSET,
    user=None,
) -> ErrorCategory:
    """Rename, re-key, recolour, describe, archive or restore. Archiving hides the
    column and keeps every tick; restoring brings them back. Renames, archives and
    restores are written to the category's audit trail."""
    category = ErrorCategory.objects.select_for_update().get(pk=category.pk)
    if category.builtin and archived is True:
        raise ValidationError({"archived": "The built-in category cannot be archived."})
    restoring = archived is False and category.archived
    if restoring and category.merged_into_id:
        raise ValidationError(
            {"archived": f"“{category.name}” was merged into another: its ticks are there."}
        )
    before = {"name": category.name, "archived": category.archived}
    name_, key_, color_ = _clean_category_fields(
        dataset=category.dataset,
        name=None if name is _UNSET else name,
        key=(category.key if restoring else None) if key is _UNSET else key,
        color=None if color is _UNSET else color,
        exclude_pk=category.pk,
    )
    if name_ is not None:
        category.name = name_
    if key_ is not None:
        category.key = key_
    if color_ is not None:
        category.color = color_
    if description is not _UNSET:
        category.description = clean_text(description, field="description", max_length=2000)
    if archived is not _UNSET:
        category.archived = bool(archived)
    try:
        with transaction.atomic():
            category.save()
    except IntegrityError as exc:
        raise ValidationError({"key": "That name or key is taken by another category."}) from exc
    _category_update_events(category=category, before=before, user=user)
    dataset_figures_stale(dataset=category.dataset)
    return category


def _category_event(*, category: ErrorCategory, user, action: str, **details) -> None:
    CategoryEvent.objects.create(
        dataset_id=category.dataset_id, category=category, user=user, action=action, details=details
    )


def _category_update_events(*, category: ErrorCategory, before: dict, user) -> None:
    if category.name != before["name"]:
        _category_event(
            category=category,
            user=user,
            action=CategoryAction.RENAMED,
            old=before["name"],
            new=category.name,
        )
    if category.archived != before["archived"]:
        action = CategoryAction.ARCHIVED if category.archived else CategoryAction.RESTORED
        _category_event(category=category, user=user, action=action)


@transaction.atomic
def category_merge(*, source: ErrorCategory, target: ErrorCategory, user) -> dict:
    """Merge `source` into `target`: every tick of `source` becomes a tick of `target`
    by the same person on the same example of the same run (one already ticked with
    `target` stays, once), `source` is archived and points at `target`, and the audit
    trail says who merged what and how many ticks moved. All or nothing.

    Both categories are locked first (in id order); a tick of `source` locks it for
    share (see _tags_apply), so a tick in flight lands before the merge moves the ticks,
    and one sent after is refused with the category it went to: no tick is lost."""
    if source.pk == target.pk:
        raise ValidationError({"into": "Pick another category to merge into."})
    locked = {
        c.pk: c
        for c in ErrorCategory.objects.select_for_update()
        .filter(pk__in=[source.pk, target.pk])
        .order_by("pk")
    }
    source, target = locked[source.pk], locked[target.pk]
    if source.dataset_id != target.dataset_id:
        raise ValidationError({"into": "Both categories must belong to the same dataset."})
    if source.builtin or target.builtin:
        raise ValidationError(
            {"into": "“Incorrectly labeled” carries label proposals: it is never merged."}
        )
    if source.archived or target.archived:
        raise ValidationError({"into": "Restore an archived category before merging it."})
    ticks = Tag.objects.filter(category=source)
    on_target = Tag.objects.filter(
        category=target,
        run_id=OuterRef("run_id"),
        example_id=OuterRef("example_id"),
        user_id=OuterRef("user_id"),
    )
    duplicates = ticks.filter(Exists(on_target))
    doubled = list(duplicates.values_list("run_id", "example_id", "user_id"))
    duplicates.delete()
    moving = list(ticks.values_list("run_id", "example_id", "user_id"))
    ticks.update(category=target)

    # Each tick's own trail says it left the source (and arrived on the target unless it
    # was there already), so the audit log still replays to the ticks, and every open
    # sheet's live feed moves them to the target's column.
    def event(tick, category, action):
        run_id, example_id, user_id = tick
        return TagEvent(
            run_id=run_id,
            example_id=example_id,
            category=category,
            user_id=user_id,
            action=action,
            changed=True,
        )

    events = [event(tick, source, TagAction.CLEAR) for tick in moving + doubled]
    events += [event(tick, target, TagAction.SET) for tick in moving]
    TagEvent.objects.bulk_create(events, batch_size=2000)
    already = len(doubled)
    source.archived = True
    source.merged_into = target
    source.save(update_fields=["archived", "merged_into"])
    summary = {
        "into": target.pk,
        "into_name": target.name,
        "from_name": source.name,
        "moved": len(moving),
        "already_on_target": already,
    }
    _category_event(category=source, user=user, action=CategoryAction.MERGED, **summary)
    dataset_figures_stale(dataset=source.dataset)
    return summary


@transaction.atomic
def category_reorder(*, dataset: Dataset, order: list[int]) -> list[ErrorCategory]:
    """Put the dataset's columns in the given order of ids (others keep theirs, after)."""
    categories = {c.pk: c for c in dataset.categories.select_for_update()}
    unknown = [pk for pk in order if pk not in categories]
    if unknown:
        raise ValidationError({"order": f"Not categories of this dataset: {unknown}."})
    if len(set(order)) != len(order):
        raise ValidationError({"order": "Each category once."})
    rest = sorted(
        (c for pk, c in categories.items() if pk not in order), key=lambda c: (c.order, c.pk)
    )
    ordered = [categories[pk] for pk in order] + rest
    for position, category in enumerate(ordered, start=1):
        category.order = position
    ErrorCategory.objects.bulk_update(ordered, ["order"])
    dataset_figures_stale(dataset=dataset)
    return ordered


# ---------------------------------------------------------------- ticks


class TagError(ValueError):
    """A tick that cannot be applied; the message says why."""


def _category_for_tick(*, category: ErrorCategory) -> ErrorCategory:
    """The category as it is now, locked for share on PostgreSQL: ticks never wait on
    each other, but a merge (which locks it for update) waits for ticks in flight, and a
    tick sent during a merge sees that it was merged."""
    if connection.vendor != "postgresql":
        return ErrorCategory.objects.select_related("merged_into").get(pk=category.pk)
    table = ErrorCategory._meta.db_table
    found = list(
        ErrorCategory.objects.raw(
            f"SELECT * FROM {table} WHERE id = %s FOR SHARE",  # noqa: S608 - model's table
            [category.pk],
        )
    )
    return found[0]


def _tags_apply(*, run, examples, category, user, action, proposed_label="", review=None):
    if review is not None and review.run_id != run.pk:
        raise TagError("That review belongs to another run.")
    if action not in TagAction.values:
        raise TagError("action is “set” or “clear”.")
    if category.dataset_id != run.dataset_id:
        raise TagError("This category belongs to another dataset.")
    category = _category_for_tick(category=category)
    if category.merged_into_id and action == TagAction.SET:
        raise TagError(
            f"“{category.name}” was merged into “{category.merged_into.name}”: tick that."
        )
    if category.archived and action == TagAction.SET:
        raise TagError(f"“{category.name}” is archived; restore it to tick it.")
    example_ids = [e.pk for e in examples]
    if not example_ids:
        raise TagError("Pick at least one example.")
    # Lock the examples' predictions (in one order, so writers never deadlock on them):
    # two ticks of the same example then run one after the other, and the second sees
    # the first's tick, so the audit log's order is the order the ticks took effect.
    errors = set(
        Prediction.objects.filter(run=run, example_id__in=example_ids, is_error=True)
        .select_for_update()
        .order_by("example_id")
        .values_list("example_id", flat=True)
    )
    missing = [e.example_id for e in examples if e.pk not in errors]
    if missing:
        raise TagError(f"Not misclassified in this run: {', '.join(missing[:5])}.")
    items = _items_of(review=review, examples=example_ids) if review is not None else {}
    if category.builtin == INCORRECT_LABEL and action == TagAction.SET:
        if not proposed_label:
            raise TagError("Say which label the example should have (proposed_label).")
        for example in examples:
            try:
                correction_propose(
                    example=example,
                    proposed_label=proposed_label,
                    proposed_by=user,
                    reason="",
                    run=run,
                )
            except InvalidLabel as exc:
                raise TagError(str(exc)) from exc
    if connection.vendor == "postgresql":
        # One person's ticks of one category are written one request at a time (two tabs,
        # a retried request): what we read below is then still true when we write, so
        # `changed` is exact and the audit log replays to the ticks. Other people and other
        # categories never wait on this lock.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)", [category.pk % 2**31, user.pk % 2**31]
            )
    existing = set(
        Tag.objects.filter(
            run=run, example_id__in=example_ids, category=category, user=user
        ).values_list("example_id", flat=True)
    )
    if action == TagAction.SET:
        changed = [pk for pk in example_ids if pk not in existing]
        Tag.objects.bulk_create(
            [
                Tag(run=run, example_id=pk, category=category, user=user, review=review)
                for pk in changed
            ],
            ignore_conflicts=True,
        )
    else:
        changed = list(existing)
        Tag.objects.filter(run=run, example_id__in=changed, category=category, user=user).delete()
    changed_set = set(changed)
    events = TagEvent.objects.bulk_create(
        [
            TagEvent(
                run=run,
                example_id=pk,
                category=category,
                user=user,
                action=action,
                changed=pk in changed_set,
                review=review,
            )
            for pk in example_ids
        ]
    )
    if items:
        # Ticking or unticking on a review's sheet means the person looked at the example.
        _marks_write(review=review, items=items, user=user, reviewed=True)
    figures_stale(run=run)
    return {e.example_id: e.changed for e in events}


def tags_apply(
    *,
    run: ModelRun,
    examples: list[Example],
    category: ErrorCategory,
    user,
    action: str,
    proposed_label: str = "",
    review: Review | None = None,
) -> dict[int, bool]:
    """Set or clear one person's tick of a category on several examples, all or nothing.

    Returns {example pk: changed}. Ticking *Incorrectly labeled* proposes
    `proposed_label` for each example (the label-correction workflow). With `review`
    (a tick on that review's sheet), the examples must be in it, and the person is
    marked as having reviewed them there."""
    apply = retry_on_conflict(_tags_apply)
    return apply(
        run=run,
        examples=examples,
        category=category,
        user=user,
        action=action,
        proposed_label=proposed_label,
        review=review,
    )


def tag_set(*, run, example, category, user, proposed_label: str = "", review=None) -> bool:
    result = tags_apply(
        run=run,
        examples=[example],
        category=category,
        user=user,
        action=TagAction.SET,
        proposed_label=proposed_label,
        review=review,
    )
    return result[example.pk]


def tag_clear(*, run, example, category, user, review=None) -> bool:
    result = tags_apply(
        run=run,
        examples=[example],
        category=category,
        user=user,
        action=TagAction.CLEAR,
        review=review,
    )
    return result[example.pk]


# ---------------------------------------------------------------- comments


def _clean_text(text) -> str:
    text = clean_text(text, field="text", max_length=5000).strip()
    if not text:
        raise ValidationError({"text": "A comment needs some text."})
    return text


@transaction.atomic
def comment_add(
    *, run: ModelRun, example: Example, user, text: str, review: Review | None = None
) -> Comment:
    """A comment on an example of the run; on a review's sheet it also marks the example
    reviewed by its author there."""
    if example.dataset_id != run.dataset_id:
        raise ValidationError({"example": "This example belongs to another dataset."})
    if review is not None and review.run_id != run.pk:
        raise ValidationError({"review": "That review belongs to another run."})
    text = _clean_text(text)
    items = {}
    if review is not None:
        try:
            items = _items_of(review=review, examples=[example])
        except TagError as exc:
            raise ValidationError({"example": str(exc)}) from exc
    comment = Comment.objects.create(run=run, example=example, user=user, text=text)
    if items:
        _marks_write(review=review, items=items, user=user, reviewed=True)
    return comment


@transaction.atomic
def comment_edit(*, comment: Comment, user, text: str) -> Comment:
    if comment.user_id != user.pk:
        raise PermissionError("Only its author edits a comment.")
    comment.text = _clean_text(text)
    comment.save(update_fields=["text", "updated_at"])
    return comment


@transaction.atomic
def comment_delete(*, comment: Comment, user) -> None:
    if comment.user_id != user.pk:
        raise PermissionError("Only its author deletes a comment.")
    comment.delete()


@transaction.atomic
def category_ensure_builtins(*, dataset: Dataset) -> ErrorCategory:
    category, _ = ErrorCategory.objects.get_or_create(
        dataset=dataset,
        builtin=INCORRECT_LABEL,
        defaults={
            "name": "Incorrectly labeled",
            "description": "The given label is wrong: propose the label it should have.",
            "color": "#e15759",
            "key": "l",
            "order": 0,
        },
    )
    return category


# ---------------------------------------------------------------- saved views

# The sheet's URL state a view keeps (never the page cursor or the open example);
# "layout": "gallery" opens it as the gallery.
SAVED_VIEW_PARAMS = (
    "label",
    "prediction",
    "source",
    "task",
    "category",
    "untagged",
    "assignee",
    "sort",
    "view",
    "split",
    "layout",
)


def _clean_view_params(*, params, review) -> dict:
    from .selectors import BadSheetQuery, SheetQuery, characteristic_params

    if not isinstance(params, dict):
        raise ValidationError({"params": "An object of sheet parameters."})
    # Ranges on measured characteristics (char_<name>_min / _max) are kept too.
    unknown = sorted(set(params) - set(SAVED_VIEW_PARAMS) - set(characteristic_params()))
    if unknown:
        kept = ", ".join(SAVED_VIEW_PARAMS)
        raise ValidationError({"params": f"Unknown {', '.join(unknown)}; a view keeps {kept}."})
    clean = {k: str(v) for k, v in params.items() if v not in (None, "", False)}
    if clean.get("view") == "mine":
        del clean["view"]  # the default: a view shows it to each person as their own
    if clean.get("layout", "gallery") != "gallery":
        raise ValidationError({"params": "layout is gallery, or left out for the sheet."})
    if review is not None:
        clean.pop("split", None)  # a review has its own split
    try:
        SheetQuery.from_params(clean)
    except BadSheetQuery as exc:
        raise ValidationError({"params": str(exc)}) from exc
    return clean


def saved_view_create(
    *, run: ModelRun, review: Review | None, name: str, params: dict, columns: list, user
) -> SavedView:
    """Save the sheet's filters, sort and columns under a name the whole project sees."""
    if not (name or "").strip():
        raise ValidationError({"name": "A view needs a name."})
    name = normalise_name(name, max_length=100)
    if review is not None and review.run_id != run.pk:
        raise ValidationError({"review": "That review belongs to another run."})
    if not isinstance(columns, list) or not all(
        isinstance(c, int) and not isinstance(c, bool) for c in columns
    ):
        raise ValidationError({"columns": "A list of category ids."})
    known = set(
        ErrorCategory.objects.filter(dataset_id=run.dataset_id).values_list("pk", flat=True)
    )
    if set(columns) - known:
        raise ValidationError({"columns": "Some columns are not categories of this dataset."})
    if SavedView.objects.filter(run=run, name__iexact=name).exists():
        raise ValidationError({"name": f"There is already a view “{name}” of this run."})
    names = SavedView.objects.filter(run=run).values_list("name", flat=True)
    refuse_look_alike(name, existing=names, what="view of this run")
    try:
        with transaction.atomic():
            return SavedView.objects.create(
                run=run,
                review=review,
                name=name,
                params=_clean_view_params(params=params, review=review),
                columns=list(dict.fromkeys(columns)),
                created_by=user,
            )
    except IntegrityError as exc:
        raise ValidationError({"name": f"There is already a view “{name}” of this run."}) from exc


def saved_view_delete(*, view: SavedView, user, is_lead: bool) -> None:
    """Its author or a lead removes a view."""
    if view.created_by_id != user.pk and not is_lead:
        raise PermissionError("Only its author or a lead deletes a view.")
    view.delete()
