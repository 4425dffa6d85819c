"""Exports of the sheet (examples x categories, who ticked, comments) and of a run's
summary figures, as CSV or JSON, streamed row by row so size never matters."""

import csv
import json
from collections.abc import Iterable, Iterator

from django.http import StreamingHttpResponse
from django.utils.text import slugify

from mlstrat.datasets.models import ModelRun, Prediction
from mlstrat.downloads import content_disposition
from mlstrat.review.models import Comment, ErrorCategory, Review, ReviewItem, ReviewMark, Tag

CHUNK_SIZE = 2000
# What a spreadsheet may run as a formula (NUL: some readers drop it and read on).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\0")
KINDS = ("sheet", "summary")
FORMATS = ("csv", "json")


def neutralise_cell(value):
    """A CSV cell a spreadsheet will not run as a formula: text beginning with = + - @,
    a tab, a carriage return or a NUL gets a leading apostrophe. Numbers pass unchanged.
    The one neutraliser of every CSV export (labels exports use it too)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


class _Echo:
    def write(self, value):
        return value


def csv_lines(rows: Iterable[list]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    for row in rows:
        yield writer.writerow([neutralise_cell(cell) for cell in row])


def json_array(items: Iterable[dict]) -> Iterator[str]:
    yield "["
    for i, item in enumerate(items):
        yield ("," if i else "") + json.dumps(item, default=str)
    yield "]"


def _chunks(iterator, size):
    chunk = []
    for item in iterator:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _in_order(prediction_ids: list[int]) -> list[Prediction]:
    found = Prediction.objects.select_related("example").in_bulk(prediction_ids)
    return [found[pk] for pk in prediction_ids if pk in found]


def sheet_records(*, run: ModelRun, review: Review | None = None, task: str = "") -> Iterator[dict]:
    """One record per example of the review (or every error of the run): labels,
    prediction, who ticked each category, who marked it reviewed in the review, and the
    comments. Tags and comments are fetched per chunk of examples, never all at once.
    On a multi-task dataset a record is one task's error and names its task; `task`
    keeps one task's."""
    multitask = bool(run.dataset.tasks)
    categories = {c.pk: c.name for c in ErrorCategory.objects.filter(dataset_id=run.dataset_id)}
    if review is not None:
        items = ReviewItem.objects.filter(review=review)
        if task:
            items = items.filter(prediction__task=task)
        ids = (
            items.order_by("position")
            .values_list("prediction_id", flat=True)
            .iterator(chunk_size=CHUNK_SIZE)
        )
        source = (_in_order(chunk) for chunk in _chunks(ids, CHUNK_SIZE))
    else:
        errors = Prediction.objects.filter(run=run, is_error=True)
        if task:
            errors = errors.filter(task=task)
        source = _chunks(
            errors.select_related("example").order_by("id").iterator(chunk_size=CHUNK_SIZE),
            CHUNK_SIZE,
        )
    for chunk in source:
        example_ids = [p.example_id for p in chunk]
        ticks: dict[int, dict[str, list[str]]] = {}
        for example_id, category_id, username in (
            Tag.objects.filter(run=run, example_id__in=example_ids)
            .order_by("category_id", "user__username")
            .values_list("example_id", "category_id", "user__username")
        ):
            ticks.setdefault(example_id, {}).setdefault(categories[category_id], []).append(
                username
            )
        reviewed_by: dict[int, list[str]] = {}
        if review is not None:
            for example_id, username in (
                ReviewMark.objects.filter(
                    review=review, reviewed=True, item__example_id__in=example_ids
                )
                .order_by("user__username")
                .values_list("item__example_id", "user__username")
            ):
                reviewed_by.setdefault(example_id, []).append(username)
        comments: dict[int, list[dict]] = {}
        for example_id, username, text, at in (
            Comment.objects.filter(run=run, example_id__in=example_ids)
            .order_by("created_at", "id")
            .values_list("example_id", "user__username", "text", "created_at")
        ):
            comments.setdefault(example_id, []).append(
                {"user": username, "text": text, "at": at.isoformat()}
            )
        for p in chunk:
            e = p.example
            yield {
                "example_id": e.example_id,
                **({"task": e.task} if multitask else {}),
                "split": p.split,
                "source": e.source,
                "label": e.label,
                "original_label": e.original_label,
                "predicted_label": p.predicted_label,
                "confidence": p.confidence,
                "tags": ticks.get(p.example_id, {}),
                "reviewed_by": reviewed_by.get(p.example_id, []),
                "comments": comments.get(p.example_id, []),
            }


def sheet_header(*, run: ModelRun) -> tuple[list[str], list[str]]:
    names = list(
        ErrorCategory.objects.filter(dataset_id=run.dataset_id)
        .order_by("order", "id")
        .values_list("name", flat=True)
    )
    task = ["task"] if run.dataset.tasks else []
    fixed = ["example_id", *task, "split", "source", "label", "original_label", "predicted_label"]
    return fixed + ["confidence", "reviewed_by"] + names + ["comments"], names


def sheet_csv_rows(
    *, run: ModelRun, review: Review | None = None, task: str = ""
) -> Iterator[list]:
    header, names = sheet_header(run=run)
    yield header
    for record in sheet_records(run=run, review=review, task=task):
        yield [
            *(record[k] for k in header[: header.index("reviewed_by")]),
            "; ".join(record["reviewed_by"]),
            *("; ".join(record["tags"].get(name, [])) for name in names),
            " | ".join(f"{c['user']}: {c['text']}" for c in record["comments"]),
        ]


SUMMARY_HEADER = ["section", "item", "split", "value", "low", "high", "k", "n", "note"]


def summary_csv_rows(figures: dict) -> Iterator[list]:
    """A run's figures, flattened into one table a spreadsheet can chart."""
    yield SUMMARY_HEADER
    if not figures.get("ready"):
        return
    yield ["team rule", figures["team_rule"], "", "", "", "", "", "", figures["team_rule_label"]]
    if figures.get("tasks"):
        yield ["task", figures["task"], "", "", "", "", "", "", ", ".join(figures["tasks"])]
    yield ["human-level error", "overall", "", figures["human_level_error"], "", "", "", "", ""]
    for row in figures["splits"]:
        e, o = row["error"], row["original_error"]
        yield [
            "split error",
            "labels in force",
            row["split"],
            e["rate"],
            e["low"],
            e["high"],
            e["k"],
            e["n"],
            "",
        ]
        yield [
            "split error",
            "original labels",
            row["split"],
            o["rate"],
            o["low"],
            o["high"],
            o["k"],
            o["n"],
            "",
        ]
        if figures.get("tasks"):
            c = row["coverage"]
            yield [
                "coverage",
                "labels known",
                row["split"],
                c["rate"],
                c["low"],
                c["high"],
                c["k"],
                c["n"],
                "unknown labels are left out of the error",
            ]
    yield from _overview_rows(figures.get("overview"))
    for term in figures["decomposition"]["terms"]:
        yield [
            "decomposition",
            term["name"],
            "",
            term["value"],
            "",
            "",
            "",
            "",
            term["explanation"],
        ]
    for part, rows in (
        ("error per source", figures["by_source"]),
        ("error per class", figures["by_class"]),
    ):
        for row in rows:
            for split, r in row["splits"].items():
                if r["n"]:
                    yield [
                        part,
                        row["key"],
                        split,
                        r["rate"],
                        r["low"],
                        r["high"],
                        r["k"],
                        r["n"],
                        "",
                    ]
    yield from _evaluation_rows(figures)
    reference = figures.get("reference") or {}
    for review in figures["reviews"]:
        label = review["name"] + (" (reference)" if review["id"] == reference.get("id") else "")
        note = f"rule {review['rule']}; {review['reviewed']} of {review['items']} reviewed"
        yield [
            "reviewed",
            label,
            review["split"],
            review["reviewed"],
            "",
            "",
            review["reviewed"],
            review["items"],
            note,
        ]
        rows = [*review["categories"], {"name": "other (no category)", **review["other"]}]
        for c in rows:
            item = f"{label}: {c['name']}"
            yield [
                "category share",
                item,
                review["split"],
                c["share"],
                c["share_low"],
                c["share_high"],
                c["k"],
                c["n"],
                "archived" if c.get("archived") else note,
            ]
            yield [
                "ceiling",
                item,
                review["split"],
                c["ceiling"],
                c["ceiling_low"],
                c["ceiling_high"],
                c["k"],
                c["n"],
                "E x share: the most error fixing it can remove",
            ]
            yield [
                "best error if fixed",
                item,
                review["split"],
                c["best_error"],
                c["best_error_low"],
                c["best_error_high"],
                c["k"],
                c["n"],
                "E x (1 - share)",
            ]
    impact = figures["label_impact"]
    yield [
        "label-error impact",
        "due to labels",
        impact.get("split", "dev"),
        impact["due_to_labels"],
        "",
        "",
        "",
        "",
        impact["verdict"],
    ]
    yield [
        "label-error impact",
        "other causes",
        impact.get("split", "dev"),
        impact["other_causes"],
        "",
        "",
        "",
        "",
        impact.get("source", ""),
    ]


def _overview_rows(overview: dict | None) -> Iterator[list]:
    """A multi-task run across its tasks: per split the mean per-task error, the share
    of images with any task wrong (k of n images with a known label), and the worst task
    with its largest gap."""
    if not overview:
        return
    for split, o in overview["splits"].items():
        if o["tasks_counted"]:
            note = f"mean over {o['tasks_counted']} task(s)"
            yield ["overview", "mean per-task error", split, o["mean_error"], "", "", "", "", note]
        a = o["any_wrong"]
        if a["n"]:
            yield [
                "overview",
                "any task wrong",
                split,
                a["rate"],
                a["low"],
                a["high"],
                a["k"],
                a["n"],
                "images",
            ]
    gap = overview["worst_largest_gap"] or {}
    yield [
        "overview",
        f"worst task: {overview['worst_task'] or 'none'}",
        overview["worst_split"],
        overview["worst_error"],
        "",
        "",
        "",
        "",
        f"largest gap: {gap['name']} {gap['value']:.4f}" if gap else "no positive gap",
    ]


def _evaluation_rows(figures: dict) -> Iterator[list]:
    """Per split and class: precision (k = true positives of n predicted), recall and F1
    (n = support); their macro and weighted averages; ECE and the reliability bins."""
    for split, metrics in figures.get("class_metrics", {}).items():
        for c in metrics["classes"]:
            yield [
                "precision",
                c["label"],
                split,
                c["precision"],
                "",
                "",
                c["tp"],
                c["predicted"],
                "",
            ]
            yield ["recall", c["label"], split, c["recall"], "", "", c["tp"], c["support"], ""]
            yield ["f1", c["label"], split, c["f1"], "", "", "", c["support"], ""]
        if metrics["classes"]:
            for average in ("macro", "weighted"):
                for key in ("precision", "recall", "f1"):
                    value = metrics[average][key]
                    yield [key, f"{average} average", split, value, "", "", "", "", ""]
            yield ["accuracy", "all classes", split, metrics["accuracy"], "", "", "", "", ""]
    for split, calibration in figures.get("calibration", {}).items():
        if calibration is None:
            continue
        n = calibration["n"]
        yield ["calibration", "ECE", split, calibration["ece"], "", "", "", n, ""]
        yield ["calibration", "MCE", split, calibration["mce"], "", "", "", n, ""]
        for b in calibration["bins"]:
            yield [
                "reliability",
                f"confidence {b['low']:.1f}-{b['high']:.1f}",
                split,
                b["accuracy"],
                "",
                "",
                b["correct"],
                b["n"],
                "" if b["confidence"] is None else f"mean confidence {b['confidence']:.4f}",
            ]


def streaming_export(
    *,
    kind: str,
    fmt: str,
    run: ModelRun,
    figures: dict | None = None,
    review: Review | None = None,
    task: str = "",
) -> StreamingHttpResponse:
    """The response for an export: CSV or JSON, streamed, as a download (`task`: one
    task's rows of a multi-task sheet)."""
    if kind == "sheet":
        body = (
            csv_lines(sheet_csv_rows(run=run, review=review, task=task))
            if fmt == "csv"
            else json_array(sheet_records(run=run, review=review, task=task))
        )
    else:
        body = (
            csv_lines(summary_csv_rows(figures))
            if fmt == "csv"
            else iter([json.dumps(figures, default=str)])
        )
    content_type = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    response = StreamingHttpResponse(body, content_type=content_type)
    suffix = f"-review{review.pk}" if review is not None else ""
    suffix += f"-{slugify(task)}" if task and kind == "sheet" else ""
    filename = f"run{run.pk}-{kind}{suffix}.{fmt}"
    response["Content-Disposition"] = content_disposition(filename)
    return response
