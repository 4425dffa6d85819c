"""Streamed exports of the labels in force and of the change log, for retraining.

Rows come from the database in chunks and leave as they are written, so a million
examples never sit in memory. CSV cells a spreadsheet would run as a formula are
neutralised with a leading apostrophe.
"""

import csv
import json
from collections.abc import Iterable, Iterator

from django.http import StreamingHttpResponse

from mlstrat.analytics.exports import neutralise_cell
from mlstrat.datasets.models import Dataset
from mlstrat.downloads import content_disposition

from . import selectors

KINDS = {
    "labels": (
        ["example_id", "split", "source", "original_label", "label", "last_changed_at"],
        selectors.labels_in_force,
    ),
    "changes": (
        [
            "change",
            "example_id",
            "split",
            "from_label",
            "to_label",
            "reason",
            "changed_by",
            "changed_at",
            "correction",
            "reverts",
        ],
        selectors.label_changes,
    ),
}
FORMATS = {"csv": "text/csv; charset=utf-8", "json": "application/json"}


def neutralise(value) -> str:
    """A cell as text, never a formula."""
    if value is None:
        return ""
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return neutralise_cell(text)


class _Echo:
    def write(self, value):
        return value


def csv_lines(header: list[str], rows: Iterable[tuple]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([neutralise(cell) for cell in row])


def json_chunks(header: list[str], rows: Iterable[tuple]) -> Iterator[str]:
    yield "["
    for n, row in enumerate(rows):
        record = {
            key: value.isoformat() if hasattr(value, "isoformat") else value
            for key, value in zip(header, row, strict=True)
        }
        yield ("," if n else "") + "\n" + json.dumps(record, ensure_ascii=False)
    yield "\n]\n"


def export_response(
    *, dataset: Dataset, kind: str, fmt: str, task: str | None = None
) -> StreamingHttpResponse:
    """`kind` is labels or changes, `fmt` csv or json (checked by the caller's URL). A
    multi-task dataset's rows name their task (an unknown label is ""); `task` keeps one
    task's rows (checked by the caller)."""
    header, rows_for = KINDS[kind]
    rows = rows_for(dataset=dataset, task=task)
    if dataset.tasks:  # the selectors put the task after the example id
        header = (
            [*header[:2], "task", *header[2:]]
            if kind == "changes"
            else [
                header[0],
                "task",
                *header[1:],
            ]
        )
    chunks = csv_lines(header, rows) if fmt == "csv" else json_chunks(header, rows)
    response = StreamingHttpResponse(chunks, content_type=FORMATS[fmt])
    name = f"{dataset.name}-{kind}" + (f"-{task}" if task else "")
    response["Content-Disposition"] = content_disposition(f"{name}.{fmt}")
    response["X-Content-Type-Options"] = "nosniff"
    return response
