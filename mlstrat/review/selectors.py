"""Reads of the review concern: the sheet's rows, progress, shares, changes, agreement.

The sheet is read with a fixed number of queries whatever the number of rows or
categories; pages are keyset-paged (no OFFSET, no COUNT DISTINCT over big tables).
"""

import math
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from django.db.models import (
    Count,
    Exists,
    F,
    FloatField,
    OuterRef,
    PositiveIntegerField,
    Q,
    Subquery,
)
from django.urls import reverse
from django.utils import timezone

from mlstrat.analytics import figures
from mlstrat.datasets.models import Example, ModelRun, Prediction, RunStatus, Split
from mlstrat.labels.models import CorrectionStatus, LabelCorrection
from mlstrat.labels.selectors import label_score_for

from .agreement import category_agreement
from .models import (
    INCORRECT_LABEL,
    AssignmentMode,
    CategoryEvent,
    Comment,
    ErrorCategory,
    Review,
    ReviewItem,
    ReviewMark,
    SavedView,
    Tag,
    TagEvent,
)

User = get_user_model()
PAGE_SIZE = 100
SORTS = {"", "confidence", "-confidence"}
VIEWS = {"mine", "team", "agreement"}
# Events written in the last seconds are sent again: a transaction that committed after a
# later-numbered one is not missed by a poller (clients skip event ids they applied).
CHANGES_OVERLAP = timedelta(seconds=5)


class BadSheetQuery(ValueError):
    """A sheet URL parameter that makes no sense; the message says why."""


@dataclass
class SheetQuery:
    """What the sheet shows: filters, sort, cursor, view. Parsed from the URL."""

    label: str = ""
    prediction: str = ""
    source: str = ""
    # A multi-task dataset's task ("" : every task).
    task: str = ""
    category: int | None = None
    untagged: bool = False
    mine_only: bool = False
    sort: str = ""
    after: str = ""
    view: str = "mine"
    split: str = Split.DEV
    open: int | None = None
    # Ranges on measured image characteristics: {"sharpness": (low or None, high or None)},
    # from char_<name>_min / char_<name>_max (the data-mismatch app measures them).
    ranges: dict = field(default_factory=dict)

    @classmethod
    def from_params(cls, params) -> "SheetQuery":
        def as_int(name):
            value = params.get(name, "")
            if value in ("", None):
                return None
            try:
                return int(value)
            except ValueError as exc:
                raise BadSheetQuery(f"{name} must be a number.") from exc

        sort = params.get("sort", "")
        if sort not in SORTS:
            raise BadSheetQuery("sort is confidence or -confidence.")
        view = params.get("view", "") or "mine"
        if view not in VIEWS:
            raise BadSheetQuery("view is mine, team or agreement.")
        split = params.get("split", "") or Split.DEV
        if split not in Split.values:
            raise BadSheetQuery(f"split is one of {', '.join(Split.values)}.")
        return cls(
            label=params.get("label", ""),
            prediction=params.get("prediction", ""),
            source=params.get("source", ""),
            task=params.get("task", ""),
            category=as_int("category"),
            untagged=params.get("untagged", "") in ("1", "true", "yes"),
            mine_only=params.get("assignee", "") == "me",
            sort=sort,
            after=params.get("after", "") or params.get("cursor", ""),
            view=view,
            split=split,
            open=as_int("open"),
            ranges=_characteristic_ranges(params),
        )


def characteristic_names() -> list[str]:
    """The measured characteristics an example may be filtered on (the fields of the model
    behind `Example.characteristics`; read from the relation, so review needs no import
    of the app that measures them)."""
    model = Example._meta.get_field("characteristics").related_model
    return [
        f.name
        for f in model._meta.concrete_fields
        if isinstance(f, FloatField | PositiveIntegerField)
    ]


def characteristic_params() -> list[str]:
    return [f"char_{name}_{end}" for name in characteristic_names() for end in ("min", "max")]


def _characteristic_ranges(params) -> dict:
    ranges = {}
    for name in characteristic_names():
        bounds = []
        for end in ("min", "max"):
            raw = params.get(f"char_{name}_{end}", "")
            if raw in ("", None):
                bounds.append(None)
                continue
            try:
                value = float(raw)
            except ValueError as exc:
                raise BadSheetQuery(f"char_{name}_{end} must be a number.") from exc
            if not math.isfinite(value):
                raise BadSheetQuery(f"char_{name}_{end} must be a finite number.")
            bounds.append(value)
        if bounds != [None, None]:
            ranges[name] = tuple(bounds)
    return ranges


# ---------------------------------------------------------------- scope


def _run_errors(*, run: ModelRun, split: str, task: str = ""):
    errors = Prediction.objects.filter(run=run, split=split, is_error=True)
    return errors.filter(task=task) if task else errors


def scope_example_ids(
    *, run: ModelRun, review: Review | None, split: str = Split.DEV, task: str = ""
):
    """The examples a sheet is about: a review's items, or all of the run's errors on a
    split (of one task of a multi-task run with `task`)."""
    if review is not None:
        return ReviewItem.objects.filter(review=review).values("example_id")
    return _run_errors(run=run, split=split, task=task).values("example_id")


def scope_size(*, run, review, split=Split.DEV, task: str = "") -> int:
    if review is not None:
        return ReviewItem.objects.filter(review=review).count()
    return _run_errors(run=run, split=split, task=task).count()


def review_quorum(*, review: Review) -> int:
    """Under the majority rule, how many people must review an example before the team
    counts it: a majority of those it was assigned to (a split review: its one assignee;
    everyone with named annotators: all of them), else one."""
    if review.assignment == AssignmentMode.SPLIT:
        return 1
    named = review.annotators.count()
    return named // 2 + 1 if named else 1


def review_patterns(*, review: Review) -> dict:
    """What the team's "k of n" of a review is computed from: the examples someone marked
    reviewed, grouped by (how many people reviewed it, {category: how many of *those*
    people ticked it}). Two aggregate queries over the reviewed examples only (their
    number is bounded by human effort), whatever the size of the sample.

    Ticks by someone who has not reviewed the example in this review (made in another
    review or on the run's sheet) do not count here until they do."""
    tag, mark, item = Tag._meta.db_table, ReviewMark._meta.db_table, ReviewItem._meta.db_table
    sampled = ReviewItem.objects.filter(review=review).count()
    reviewers = dict(
        ReviewMark.objects.filter(review=review, reviewed=True)
        .values("item_id")
        .annotate(n=Count("id"))
        .values_list("item_id", "n")
    )
    sql = f"""
        SELECT m.item_id, t.category_id, COUNT(*)
        FROM {mark} m
        JOIN {item} i ON i.id = m.item_id
        JOIN {tag} t ON t.run_id = %s AND t.example_id = i.example_id AND t.user_id = m.user_id
        WHERE m.review_id = %s AND m.reviewed
        GROUP BY m.item_id, t.category_id
    """  # noqa: S608 - table names come from the models, values are parameters
    ticks: dict[int, dict[str, int]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [review.run_id, review.pk])
        for item_id, category_id, n in cursor.fetchall():
            ticks.setdefault(item_id, {})[str(category_id)] = int(n)
    grouped: dict[tuple, int] = {}
    for item_id, n in reviewers.items():
        key = (int(n), tuple(sorted(ticks.get(item_id, {}).items())))
        grouped[key] = grouped.get(key, 0) + 1
    return {
        "sampled": sampled,
        "quorum": review_quorum(review=review),
        "patterns": [[n, dict(pattern), times] for (n, pattern), times in sorted(grouped.items())],
    }


def tally_from_patterns(data: dict, rule: str) -> dict:
    """figures.review_tally over what review_patterns returned (or a snapshot stored)."""
    return figures.review_tally(
        sampled=data["sampled"],
        quorum=data["quorum"],
        patterns=[(n, ticks, times) for n, ticks, times in data["patterns"]],
        rule=rule,
    )


def review_tally(*, review: Review, rule: str) -> dict:
    """The one "k of n" of a review under a team rule, read live: the sheet's footer and
    the review API call it; the dashboard, runs compared and the exports call the same
    figures.review_tally on the same patterns, stored in the run's snapshot."""
    return tally_from_patterns(review_patterns(review=review), rule)


def review_shares(*, review: Review, rule: str, error_rate: float | None = None) -> dict:
    """Per category: k of n reviewed, its share with a 95% interval and, when the split's
    error E is given, its ceiling E·f and best error if fixed E·(1−f); and the "other"
    row (reviewed examples that fit no category)."""
    tally = review_tally(review=review, rule=rule)
    return shares_from_tally(
        tally=tally,
        categories=categories_for(dataset_id=review.run.dataset_id),
        error_rate=error_rate,
    )


def shares_from_tally(*, tally: dict, categories: list[dict], error_rate: float | None) -> dict:
    n = tally["reviewed"]
    rows = []
    for category in categories:
        k = tally["counts"].get(str(category["id"]), 0)
        if category["archived"] and not k:
            continue  # an archived column counts while it holds ticks of this review
        rows.append(
            {
                "id": category["id"],
                "name": category["name"],
                "color": category["color"],
                "archived": category["archived"],
                "builtin": category["builtin"],
                **figures.category_share(k, n, error_rate),
            }
        )
    return {
        "rule": tally["rule"],
        "quorum": tally["quorum"],
        "sampled": tally["sampled"],
        "reviewed": n,
        "complete": n == tally["sampled"],
        "categories": rows,
        "other": figures.category_share(tally["none"], n, error_rate),
        "ranking": _named_ranking(
            figures.ceiling_ranking(
                tally=tally, error_rate=error_rate, categories=[str(c["id"]) for c in rows]
            ),
            {str(c["id"]): c["name"] for c in rows},
        ),
    }


def _named_ranking(ranking: dict, names: dict[str, str]) -> dict:
    """The ranking with each category's name beside its id."""
    for entry in ranking["ranking"]:
        entry["name"] = names.get(entry["category"], "?")
        entry["next_name"] = names.get(entry["next"]) if entry["next"] else None
    for entry in ranking["leader_versus"]:
        entry["name"] = names.get(entry["category"], "?")
    ranking["leader_name"] = names.get(ranking["leader"]) if ranking["leader"] else None
    return ranking


def sheet_summary(
    *,
    run: ModelRun,
    review: Review | None,
    rule: str,
    split=Split.DEV,
    categories=None,
    task: str = "",
) -> dict:
    """The sheet's footer and progress, from one tally: on a review's sheet, each
    category's k of n reviewed under the team rule (the same numbers as the dashboard)
    and the "other" row; on the run's sheet, how many errors (of `task`) carry each
    category."""
    if review is None:
        total = scope_size(run=run, review=None, split=split, task=task)  # counted once
        return {
            "footer": {
                "kind": "run",
                **run_sheet_counts(run=run, split=split, task=task, total=total),
            },
            "progress": _run_sheet_progress(
                run=run,
                split=split,
                names=members_by_id(project=run.dataset.project_id),
                task=task,
                total=total,
            ),
        }
    tally = review_tally(review=review, rule=rule)
    if categories is None:
        categories = categories_for(dataset_id=run.dataset_id)
    footer = shares_from_tally(tally=tally, categories=categories, error_rate=None)
    return {
        "footer": {"kind": "review", **footer},
        "progress": progress(run=run, review=review, rule=rule, tally=tally),
    }


def run_sheet_counts(
    *, run: ModelRun, split: str = Split.DEV, total: int | None = None, task: str = ""
) -> dict:
    """The run's own sheet (every error of a split, not a review): how many errors carry
    each category. Counts only: shares and ceilings come from reviews."""
    if total is None:
        total = scope_size(run=run, review=None, split=split, task=task)
    scope = scope_example_ids(run=run, review=None, split=split, task=task)
    counts = (
        Tag.objects.filter(run=run, example_id__in=scope)
        .values("category_id")
        .annotate(n=Count("example_id", distinct=True))
    )
    return {
        "total": total,
        "categories": {row["category_id"]: {"count": row["n"]} for row in counts},
    }


def progress(
    *,
    run: ModelRun,
    review: Review | None,
    rule: str,
    split: str = Split.DEV,
    tally: dict | None = None,
    task: str = "",
) -> dict:
    """ "Reviewed 37 of 100" for the team under its rule, and per person: their marks,
    and their share of a split review. On the run's sheet (no review): errors (of `task`)
    someone ticked or commented on."""
    names = members_by_id(project=run.dataset.project_id)
    if review is None:
        return _run_sheet_progress(run=run, split=split, names=names, task=task)
    tally = tally or review_tally(review=review, rule=rule)
    reviewed = dict(
        ReviewMark.objects.filter(review=review, reviewed=True)
        .values("user_id")
        .annotate(n=Count("id"))
        .values_list("user_id", "n")
    )
    assigned = dict(
        ReviewItem.objects.filter(review=review, assignee__isnull=False)
        .values("assignee_id")
        .annotate(n=Count("id"))
        .values_list("assignee_id", "n")
    )
    people = [
        {
            "user": pk,
            "username": names.get(pk, "?"),
            "reviewed": reviewed.get(pk, 0),
            "assigned": assigned.get(pk),
        }
        for pk in set(reviewed) | set(assigned)
    ]
    people.sort(key=lambda p: p["username"])
    return {
        "kind": "reviewed",
        "rule": rule,
        "quorum": tally["quorum"],
        "total": tally["sampled"],
        "reviewed": tally["reviewed"],
        "by_user": people,
    }


def _touched(*, run: ModelRun, scope) -> dict[int, set]:
    """{example pk: people who ticked or commented on it in the run}: who looked at an
    error on the run's own sheet, where there are no reviewed marks."""
    people: dict[int, set] = {}
    for model in (Tag, Comment):
        for example_id, user_id in (
            model.objects.filter(run=run, example_id__in=scope)
            .order_by()
            .values_list("example_id", "user_id")
            .distinct()
        ):
            people.setdefault(example_id, set()).add(user_id)
    return people


def _run_sheet_progress(
    *, run: ModelRun, split: str, names: dict, task: str = "", total: int | None = None
) -> dict:
    scope = scope_example_ids(run=run, review=None, split=split, task=task)
    by_example = _touched(run=run, scope=scope)
    touched: dict[int, set] = {}
    for example_id, people in by_example.items():
        for user_id in people:
            touched.setdefault(user_id, set()).add(example_id)
    overall = set(by_example)
    people = sorted(
        (
            {"user": pk, "username": names.get(pk, "?"), "reviewed": len(ids), "assigned": None}
            for pk, ids in touched.items()
        ),
        key=lambda p: p["username"],
    )
    return {
        "kind": "tagged",
        "rule": None,
        "quorum": None,
        "total": total
        if total is not None
        else scope_size(run=run, review=None, split=split, task=task),
        "reviewed": len(overall),
        "by_user": people,
    }


def reviews_for_run(*, run: ModelRun, rule: str) -> list[Review]:
    """The run's reviews, newest first, each with `.item_count` and `.reviewed_count`
    (the team's count under `rule`, from the same tally as every other surface)."""
    reviews = list(
        Review.objects.filter(run=run)
        .select_related("created_by")
        .annotate(item_count=Count("items"))
        .order_by("-created_at", "-id")
    )
    for review in reviews:
        review.reviewed_count = review_tally(review=review, rule=rule)["reviewed"]
    return reviews


def categories_for(*, dataset_id: int) -> list[dict]:
    return [
        category_payload(c)
        for c in ErrorCategory.objects.filter(dataset_id=dataset_id).order_by("order", "id")
    ]


def category_free_key(*, dataset_id: int, name: str = "") -> str:
    """The key the new-category dialog proposes: the first letter or digit of the name
    that no active category holds and the sheet does not use for itself, then any free
    letter, then any free digit; "" when all 36 are taken."""
    from .services import RESERVED_KEYS

    taken = set(
        ErrorCategory.objects.filter(dataset_id=dataset_id, archived=False)
        .exclude(key="")
        .values_list("key", flat=True)
    )
    candidates = [c for c in name.lower() if c.isascii() and c.isalnum()]
    # Not 0: the sheet's "nothing applies" key.
    candidates += list("abcdefghijklmnopqrstuvwxyz123456789")
    candidates = [c for c in candidates if c != "0"]
    return next((c for c in candidates if c not in taken and c not in RESERVED_KEYS), "")


def category_events(*, dataset_id: int, limit: int = 200) -> list[dict]:
    """The dataset's category audit trail, newest first."""
    events = (
        CategoryEvent.objects.filter(dataset_id=dataset_id)
        .select_related("category", "user")
        .order_by("-id")[:limit]
    )
    return [
        {
            "id": e.pk,
            "category": e.category_id,
            "category_name": e.category.name,
            "user": e.user.username if e.user else None,
            "action": e.action,
            "details": e.details,
            "at": e.at,
        }
        for e in events
    ]


def category_payload(category: ErrorCategory) -> dict:
    return {
        "id": category.pk,
        "name": category.name,
        "key": category.key,
        "color": category.color,
        "description": category.description,
        "order": category.order,
        "archived": category.archived,
        "builtin": category.builtin,
        "merged_into": category.merged_into_id,
    }


# ---------------------------------------------------------------- rows


def _keyset(rows, query: SheetQuery, conf: str, key: str):
    if not query.after:
        return rows
    try:
        if query.sort:
            raw_conf, raw_key = query.after.split("~", 1)
            after_conf = None if raw_conf == "n" else float(raw_conf)
            after_key = int(raw_key)
        else:
            after_key = int(query.after)
    except ValueError as exc:
        raise BadSheetQuery("That page cursor is not valid; start from the first page.") from exc
    if not query.sort:
        return rows.filter(**{f"{key}__gt": after_key})
    is_null = Q(**{f"{conf}__isnull": True})
    tie = Q(**{conf: after_conf, f"{key}__gt": after_key})
    if query.sort == "confidence":  # nulls first, then ascending
        if after_conf is None:
            return rows.filter(is_null & Q(**{f"{key}__gt": after_key}) | ~is_null)
        return rows.filter(Q(**{f"{conf}__gt": after_conf}) | tie)
    # descending, nulls last
    if after_conf is None:
        return rows.filter(is_null & Q(**{f"{key}__gt": after_key}))
    return rows.filter(Q(**{f"{conf}__lt": after_conf}) | tie | is_null)


def _cursor(row_key, conf, query: SheetQuery) -> str:
    if not query.sort:
        return str(row_key)
    return f"{'n' if conf is None else repr(conf)}~{row_key}"


def sheet_rows(
    *,
    run: ModelRun,
    review: Review | None,
    user,
    query: SheetQuery,
    only_examples: set | None = None,
    page_size: int = PAGE_SIZE,
) -> dict:
    """One page of the sheet: rows with ticks, comments and suggestions, and the next
    cursor. A fixed number of queries whatever the page size or number of categories.
    On a multi-task dataset each row is one task's error and carries `tasks`: every task's
    label and prediction for the same image (one more query per page)."""
    tasks = run.dataset.tasks
    if query.task and query.task not in tasks:
        raise BadSheetQuery(f"task is one of {', '.join(tasks)}." if tasks else "No task here.")
    if review is not None:
        rows = ReviewItem.objects.filter(review=review).select_related("example", "prediction")
        prefix, key = "prediction__", "position"
        if query.mine_only:
            rows = rows.filter(assignee=user)
    else:
        rows = Prediction.objects.filter(run=run, split=query.split, is_error=True).select_related(
            "example"
        )
        prefix, key = "", "id"
    if query.label:
        rows = rows.filter(example__label=query.label)
    if query.prediction:
        rows = rows.filter(**{f"{prefix}predicted_label": query.prediction})
    if query.source:
        rows = rows.filter(example__source=query.source)
    if query.task:
        rows = rows.filter(**{f"{prefix}task": query.task})
    if query.category is not None:
        rows = rows.filter(
            Exists(
                Tag.objects.filter(
                    run=run, example_id=OuterRef("example_id"), category_id=query.category
                )
            )
        )
    for name, (low, high) in query.ranges.items():
        if low is not None:
            rows = rows.filter(**{f"example__characteristics__{name}__gte": low})
        if high is not None:
            rows = rows.filter(**{f"example__characteristics__{name}__lte": high})
    if query.untagged:
        rows = rows.filter(~Exists(Tag.objects.filter(run=run, example_id=OuterRef("example_id"))))
    if only_examples is not None:
        rows = rows.filter(example_id__in=only_examples)
    conf = f"{prefix}confidence"
    rows = _keyset(rows, query, conf, key)
    if query.sort == "confidence":
        rows = rows.order_by(F(conf).asc(nulls_first=True), key)
    elif query.sort == "-confidence":
        rows = rows.order_by(F(conf).desc(nulls_last=True), key)
    else:
        rows = rows.order_by(key)
    page = list(rows[: page_size + 1])
    has_more = len(page) > page_size
    page = page[:page_size]

    example_ids = [row.example_id for row in page]
    tags, comments, origins = {}, {}, {}
    for example_id, category_id, user_id, review_id in Tag.objects.filter(
        run=run, example_id__in=example_ids
    ).values_list("example_id", "category_id", "user_id", "review_id"):
        tags.setdefault(example_id, {}).setdefault(category_id, []).append(user_id)
        origins[(example_id, category_id, user_id)] = review_id
    for c in Comment.objects.filter(run=run, example_id__in=example_ids).values(
        "id", "example_id", "user_id", "text", "created_at"
    ):
        comments.setdefault(c["example_id"], []).append(
            {"id": c["id"], "user": c["user_id"], "text": c["text"], "at": c["created_at"]}
        )
    reviewed_by = _reviewed_by(review=review, example_ids=example_ids)
    suggestions, suggested_labels = _suggestions(run=run, example_ids=example_ids)
    siblings = (
        _tasks_of(run=run, example_ids=[row.example.example_id for row in page]) if tasks else {}
    )

    out = []
    for row in page:
        prediction = row.prediction if review is not None else row
        example = row.example
        out.append(
            {
                "example": example.pk,
                "example_id": example.example_id,
                "position": getattr(row, "position", None),
                "assignee": getattr(row, "assignee_id", None),
                "label": example.label,
                "prediction": prediction.predicted_label,
                "confidence": prediction.confidence,
                "source": example.source,
                "task": example.task,
                "tasks": [
                    siblings.get((example.example_id, task), {"task": task, "missing": True})
                    for task in tasks
                ],
                "thumbnail": reverse("example-image", args=[example.pk, "thumbnail"]),
                "tags": {str(k): v for k, v in tags.get(example.pk, {}).items()},
                "comments": comments.get(example.pk, []),
                "suggestions": sorted(suggestions.get(example.pk, [])),
                "suggested_label": suggested_labels.get(example.pk),
                "reviewed_by": sorted(reviewed_by.get(example.pk, ())),
                "outside": _outside_ticks(
                    review=review,
                    example_id=example.pk,
                    tags=tags.get(example.pk, {}),
                    origins=origins,
                    reviewers=reviewed_by.get(example.pk, set()),
                ),
            }
        )
    next_cursor = None
    if has_more and page:
        last = page[-1]
        last_prediction = last.prediction if review is not None else last
        next_cursor = _cursor(
            getattr(last, key if key != "id" else "pk"), last_prediction.confidence, query
        )
    return {"rows": out, "next": next_cursor}


def _tasks_of(*, run: ModelRun, example_ids: list[str]) -> dict[tuple, dict]:
    """{(example_id, task): that task's label and the run's prediction} for these images
    of a multi-task dataset (label "" when unknown, prediction None when the run made
    none), in one query."""
    predicted = Prediction.objects.filter(run=run, example=OuterRef("pk"))
    found = {}
    for example_pk, example_id, task, label, prediction, is_error in (
        Example.objects.filter(dataset_id=run.dataset_id, example_id__in=set(example_ids))
        .annotate(
            predicted=Subquery(predicted.values("predicted_label")[:1]),
            wrong=Subquery(predicted.values("is_error")[:1]),
        )
        .values_list("pk", "example_id", "task", "label", "predicted", "wrong")
    ):
        found[(example_id, task)] = {
            "task": task,
            "example": example_pk,
            "label": label,
            "prediction": prediction,
            "is_error": is_error,
        }
    return found


def _reviewed_by(*, review: Review | None, example_ids: list[int]) -> dict[int, set]:
    """{example pk: people who marked it reviewed in this review}."""
    if review is None:
        return {}
    found: dict[int, set] = {}
    for example_id, user_id in ReviewMark.objects.filter(
        review=review, reviewed=True, item__example_id__in=example_ids
    ).values_list("item__example_id", "user_id"):
        found.setdefault(example_id, set()).add(user_id)
    return found


def _outside_ticks(*, review, example_id, tags, origins, reviewers) -> list[dict]:
    """On a review's sheet: ticks shown on the row that do not count in this review yet,
    because their author has not reviewed the example here; with where they were made
    (another review, or the run's sheet when `review` is null)."""
    if review is None:
        return []
    return [
        {
            "category": category_id,
            "user": user_id,
            "review": origins.get((example_id, category_id, user_id)),
        }
        for category_id, users in tags.items()
        for user_id in users
        if user_id not in reviewers
    ]


def _suggestions(*, run: ModelRun, example_ids: list[int]) -> tuple[dict, dict]:
    """Categories ticked on these examples in earlier runs of the dataset, to accept with
    one key. *Incorrectly labeled* is suggested too while the example's label is the one
    the earlier tick doubted and the correction it proposed is still pending (neither
    accepted, which changes the label, nor rejected); it comes with that proposed label."""
    earlier = Tag.objects.filter(
        example_id__in=example_ids,
        run__dataset_id=run.dataset_id,
        run__status=RunStatus.READY,
        category__archived=False,
    ).exclude(run=run)
    if run.imported_at is not None:
        earlier = earlier.filter(run__imported_at__lt=run.imported_at)
    else:
        earlier = earlier.filter(run_id__lt=run.pk)
    suggestions: dict[int, list] = {}
    doubted = set()
    for example_id, category_id, builtin in earlier.values_list(
        "example_id", "category_id", "category__builtin"
    ).distinct():
        if builtin == INCORRECT_LABEL:
            doubted.add((example_id, category_id))
        elif builtin == "":
            suggestions.setdefault(example_id, []).append(category_id)
    labels = {}
    if doubted:
        pending = (
            LabelCorrection.objects.filter(
                example_id__in={e for e, _ in doubted},
                status=CorrectionStatus.PENDING,
                from_label=F("example__label"),
            )
            .order_by("example_id", "-proposed_at")
            .values_list("example_id", "proposed_label")
        )
        for example_id, proposed in pending:
            labels.setdefault(example_id, proposed)
        for example_id, category_id in doubted:
            if example_id in labels:
                suggestions.setdefault(example_id, []).append(category_id)
    return suggestions, labels


def members_by_id(*, project) -> dict[int, str]:
    return dict(User.objects.filter(memberships__project=project).values_list("pk", "username"))


def filter_choices(*, run: ModelRun, review: Review | None, split: str, task: str = "") -> dict:
    """Values for the sheet's filter menus: the dataset's classes (a task's, when the sheet
    shows one task of a multi-task dataset) and the sources seen."""
    dataset = run.dataset
    split = split if review is None else review.split
    task = review.task if review is not None and review.task else task

    def sources():
        # A DISTINCT over a split's examples: cached, sources change only with an import.
        return list(
            Example.objects.filter(dataset=dataset, split=split)
            .exclude(source="")
            .values_list("source", flat=True)
            .distinct()
            .order_by("source")[:50]
        )

    cached = cache.get_or_set(f"sheet-sources:{dataset.pk}:{split}", sources, timeout=300)
    labels = dataset.classes_for(task) if task else list(dataset.class_names)
    return {"labels": labels, "sources": cached}


# ---------------------------------------------------------------- live updates


def changes_since(
    *,
    run: ModelRun,
    review: Review | None,
    since: int,
    comments_since: int,
    rule: str,
    marks_since=None,
    split=Split.DEV,
    task: str = "",
) -> dict:
    """What teammates did since the caller's cursors: ticks, comments, reviewed marks,
    the categories as they are now, and the footer and progress (of `task` on a run's
    sheet filtered by task)."""
    now = timezone.now()
    recent = now - CHANGES_OVERLAP
    marks = []
    if review is not None:
        changed = ReviewMark.objects.filter(review=review)
        if marks_since is not None:
            changed = changed.filter(updated_at__gte=min(marks_since, recent))
        else:
            changed = changed.filter(updated_at__gte=recent)
        marks = [
            {"example": example_id, "user": user_id, "reviewed": reviewed}
            for example_id, user_id, reviewed in changed.order_by("updated_at").values_list(
                "item__example_id", "user_id", "reviewed"
            )[:2000]
        ]
    events = list(
        TagEvent.objects.filter(run=run, changed=True)
        .filter(Q(id__gt=since) | Q(at__gte=recent))
        .order_by("id")
        .values("id", "example_id", "category_id", "user_id", "action")[:1000]
    )
    comments = list(
        Comment.objects.filter(run=run)
        .filter(Q(id__gt=comments_since) | Q(updated_at__gte=recent))
        .order_by("id")
        .values("id", "example_id", "user_id", "text", "created_at")[:500]
    )
    return {
        "events": [
            {
                "id": e["id"],
                "example": e["example_id"],
                "category": e["category_id"],
                "user": e["user_id"],
                "action": e["action"],
            }
            for e in events
        ],
        "comments": [
            {
                "id": c["id"],
                "example": c["example_id"],
                "user": c["user_id"],
                "text": c["text"],
                "at": c["created_at"],
            }
            for c in comments
        ],
        "marks": marks,
        "since": max([since] + [e["id"] for e in events]),
        "comments_since": max([comments_since] + [c["id"] for c in comments]),
        "marks_since": now.isoformat(),
        "categories": categories_for(dataset_id=run.dataset_id),
        **sheet_summary(run=run, review=review, rule=rule, split=split, task=task),
    }


def latest_event_id(*, run: ModelRun) -> int:
    last = TagEvent.objects.filter(run=run).order_by("-id").values_list("id", flat=True).first()
    return last or 0


def latest_comment_id(*, run: ModelRun) -> int:
    last = Comment.objects.filter(run=run).order_by("-id").values_list("id", flat=True).first()
    return last or 0


# ---------------------------------------------------------------- agreement


def agreement(*, run: ModelRun, review: Review | None, split=Split.DEV) -> dict:
    """Per category: Fleiss' kappa over the examples two or more people reviewed, and the
    examples where they disagree. In a review, the raters of an example are the people
    who marked it reviewed there (someone who looked and ticked nothing said "no" to every
    category); on the run's sheet, those who ticked or commented."""
    scope = scope_example_ids(run=run, review=review, split=split)
    ticks = {}
    for example_id, category_id, user_id in Tag.objects.filter(
        run=run, example_id__in=scope
    ).values_list("example_id", "category_id", "user_id"):
        ticks.setdefault((example_id, category_id), set()).add(user_id)
    if review is None:
        raters = _touched(run=run, scope=scope)
    else:
        raters = _reviewed_by(
            review=review, example_ids=list(scope.values_list("example_id", flat=True))
        )
    shared = {ex: people for ex, people in raters.items() if len(people) >= 2}
    categories = ErrorCategory.objects.filter(dataset_id=run.dataset_id, archived=False).order_by(
        "order", "id"
    )
    per_category, disagreeing = [], set()
    for category in categories:
        answers = {
            ex: (len(people), len(ticks.get((ex, category.pk), set()) & people))
            for ex, people in shared.items()
        }
        result = category_agreement(answers)
        disagreeing |= {ex for ex, (n, yes) in answers.items() if 0 < yes < n}
        per_category.append({"category": category.pk, "name": category.name, **result})
    return {
        "shared_examples": len(shared),
        "categories": per_category,
        "disagreements": sorted(disagreeing),
    }


# ---------------------------------------------------------------- large view


def example_detail(*, run: ModelRun, example: Example) -> dict:
    """Everything the large view shows about one example."""
    prediction = Prediction.objects.filter(run=run, example=example).first()
    probabilities = (prediction.probabilities or {}) if prediction else {}
    top5 = sorted(probabilities.items(), key=lambda kv: -float(kv[1]))[:5]
    names = members_by_id(project=run.dataset.project)
    tags = [
        {"category": c, "user": u, "username": names.get(u, "?"), "at": at}
        for c, u, at in Tag.objects.filter(run=run, example=example).values_list(
            "category_id", "user_id", "created_at"
        )
    ]
    comments = [
        {"id": pk, "user": u, "username": names.get(u, "?"), "text": text, "at": at}
        for pk, u, text, at in Comment.objects.filter(run=run, example=example).values_list(
            "id", "user_id", "text", "created_at"
        )
    ]
    other_tags = {}
    for run_id, category_name in (
        Tag.objects.filter(example=example)
        .exclude(run=run)
        .values_list("run_id", "category__name")
        .distinct()
    ):
        other_tags.setdefault(run_id, []).append(category_name)
    history = [
        {
            "run": p.run_id,
            "run_name": p.run.name,
            "prediction": p.predicted_label,
            "confidence": p.confidence,
            "is_error": p.is_error,
            "current": p.run_id == run.pk,
            "tags": sorted(other_tags.get(p.run_id, [])),
        }
        for p in Prediction.objects.filter(example=example, run__status=RunStatus.READY)
        .select_related("run")
        .order_by("run__imported_at", "run_id")
    ]
    corrections = [
        {"proposed_label": c.proposed_label, "status": c.status, "by": names.get(c.proposed_by_id)}
        for c in LabelCorrection.objects.filter(example=example).exclude(
            status=CorrectionStatus.REVERTED
        )[:10]
    ]
    return {
        "example": example.pk,
        "example_id": example.example_id,
        "label": example.label,
        "original_label": example.original_label,
        "split": example.split,
        "source": example.source,
        "metadata": example.metadata,
        "image": reverse("example-image", args=[example.pk, "image"]),
        "prediction": prediction.predicted_label if prediction else None,
        "confidence": prediction.confidence if prediction else None,
        "top5": [{"label": label, "p": float(p)} for label, p in top5],
        "label_probability": (
            float(probabilities[example.label]) if example.label in probabilities else None
        ),
        "tags": tags,
        "comments": comments,
        "history": history,
        "corrections": corrections,
        "label_score": label_score_for(run=run, example=example),
    }


# ---------------------------------------------------------------- saved views


def saved_view_url(view: SavedView, *, slug: str) -> str:
    """Where a view opens: its sheet (or gallery) with its parameters and columns."""
    from urllib.parse import urlencode

    params = dict(view.params)
    gallery = params.pop("layout", "") == "gallery"
    if view.review_id:
        name = "review-gallery" if gallery else "review-sheet"
        path = reverse(name, args=[slug, view.run_id, view.review_id])
    else:
        path = reverse("run-gallery" if gallery else "run-sheet", args=[slug, view.run_id])
    if view.columns:
        params["cols"] = ",".join(str(c) for c in view.columns)
    return f"{path}?{urlencode(params)}" if params else path


def saved_views_for_run(*, run: ModelRun, slug: str | None = None) -> list[dict]:
    """The run's saved views, by name, each with where it opens (one query when the
    caller knows the project's slug)."""
    slug = slug or run.dataset.project.slug
    views = SavedView.objects.filter(run=run).select_related("created_by", "review")
    return [
        {
            "id": v.pk,
            "name": v.name,
            "review": v.review_id,
            "review_name": v.review.name if v.review else None,
            "params": v.params,
            "columns": v.columns,
            "created_by": v.created_by.username if v.created_by else None,
            "created_by_id": v.created_by_id,
            "created_at": v.created_at,
            "url": saved_view_url(v, slug=slug),
        }
        for v in views
    ]
