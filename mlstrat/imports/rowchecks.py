"""The checks of a chunk of a dump's rows, wherever they run: in the import's process for
a small dump, in forked children for a big one (checkers.py), so the rows' own Python work
(cleaning, image decoding, COPY text) is spread over the cores and the import's process
keeps only what needs every row in order: duplicates, the report, the writes.

`check_rows` takes (line, row, parse problem) items and what the dataset already stores
for their example ids, and returns one result per item, in line order, as plain tuples
(cheap to send between processes):

    (line, example_id or None, [RowError, ...], accepted or None)

example_id is set once the row is clean, so the import's process can find duplicates
among clean rows (a duplicate's other problems are not reported, as before). A duplicate
of an earlier row of the same chunk comes back with no errors and no accepted row: the
import's process has seen its first row by then. `accepted`
is what the writer needs (see `Accepted`): the COPY text of the row's examples and
predictions is made here, all but the parts known only when written (ids, the label in
force, and so the prediction's verdict).
"""

import json
from dataclasses import dataclass

from django.core.files.storage import default_storage

from mlstrat.datasets.images import is_own_thumbnail

from .dumps import UnreadableMember
from .packs import PackWriter
from .validation import CleanRow, Header, RowError, clean_row, cut, image_check

# Rows per chunk (one pack of images per chunk).
CHUNK_ROWS = 2000

# The fields of an accepted row.
EXAMPLE_ID, SPLIT, UNITS, EXAMPLE_TAILS, PREDICTION_TAILS, ROW = range(6)

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


@dataclass(frozen=True)
class RowContext:
    """What every row's checks need besides the row, fixed once the header is read."""

    header: Header
    # The allowed labels, or None when any goes (validation.clean_row).
    classes: set[str] | None
    task_classes: dict[str, set[str] | None]
    dataset_id: int
    # COPY text is made (PostgreSQL); elsewhere the clean row goes to the ORM.
    copy: bool
    # created_at of the examples, as COPY reads it.
    now: str


def check_rows(*, dump, context: RowContext, pack: str, items: list, stored: dict):
    """(pack name or None, results) for (line, row, problem) items. `stored`:
    {example_id: ({task: original label}, split)} of those the dataset already has; their
    labels and split must agree, their image is not read again. Other rows' images are
    read, checked (decoded, bounded) and, when accepted, added to the pack."""
    header, classes, task_classes = context.header, context.classes, context.task_classes
    writer = PackWriter(pack)
    results = []
    # (index in results, clean row, offset, size): rows whose image went in the pack,
    # made into accepted rows once the pack is stored under its final name.
    packed = []
    chunk_ids = set()
    try:
        for line, row, problem in items:
            if row is None:
                results.append((line, None, [RowError(line, "", f"the line {problem}")], None))
                continue
            clean, errors = clean_row(
                line=line, row=row, header=header, classes=classes, task_classes=task_classes
            )
            if clean is None:
                results.append((line, None, errors, None))
                continue
            if clean.example_id in chunk_ids:
                # A duplicate of a clean row before it in this chunk: the import's process
                # refuses it as such; nothing else about it is checked (nor its image).
                results.append((line, clean.example_id, [], None))
                continue
            chunk_ids.add(clean.example_id)
            known = stored.get(clean.example_id)
            if known is not None:
                error = stored_disagreement(clean, known)
                if error is not None:
                    results.append((line, clean.example_id, [error], None))
                else:
                    results.append((line, clean.example_id, [], accepted(clean, context)))
                continue
            try:
                data = dump.image_bytes(clean.image)
                problem, image_format, size = image_check(data)
            except UnreadableMember as exc:
                data, problem = None, str(exc)
            if problem:
                error = RowError(line, "image", f"{cut(clean.image)}: {problem}")
                results.append((line, clean.example_id, [error], None))
                continue
            clean.own_thumbnail = is_own_thumbnail(image_format, size)
            packed.append((len(results), clean, *writer.add(data)))
            results.append(None)
    except BaseException:
        name = writer.close()
        if name:
            default_storage.delete(name)
        raise
    # The storage may choose another name than asked (a key kept unique).
    name = writer.close()
    for index, clean, offset, size in packed:
        clean.stored = (name, offset, size)
        results[index] = (clean.line, clean.example_id, [], accepted(clean, context))
    return name, results


def stored_disagreement(row: CleanRow, known: tuple) -> RowError | None:
    """Why a row of an example the dataset already has contradicts it: another label (an
    unknown one, in the dump or as stored, contradicts nothing) or another split."""
    labels, split = known
    for unit in row.units():
        label = labels.get(unit.task, "")
        if row.tasks is not None and not (label and unit.label):
            continue
        if unit.label != label:
            column = f"label:{unit.task}" if unit.task else "label"
            return RowError(
                row.line,
                column,
                f"{unit.label!r} contradicts the label {label!r} already stored for this example",
            )
    if row.split != split:
        return RowError(
            row.line,
            "split",
            f"{row.split!r} differs from the split {split!r} already stored for this example",
        )
    return None


def accepted(row: CleanRow, context: RowContext) -> tuple:
    """An accepted row as the writer takes it (fields: EXAMPLE_ID ... ROW).

    UNITS: (task, label, prediction) per example the row makes (each task of a multi-task
    row, or the one label, task ""). With COPY, per unit the text of its example line
    after the id (None when the image was not stored: a known example) and of its
    prediction line between the example's id and the verdict; ROW is then None.
    Otherwise ROW is the clean row, for the ORM."""
    units = tuple((unit.task, unit.label, unit.prediction) for unit in row.units())
    if not context.copy:
        return (row.example_id, row.split, units, None, None, row)
    esc = _COPY_ESCAPES
    split = row.split
    example_tails = None
    if row.stored is not None:
        image, offset, size = row.stored
        stored = f"{image.translate(esc)}\t{offset}\t{size}"
        # The thumbnail: the image itself when small enough, else none yet.
        thumbnail = stored if row.own_thumbnail else "\t\\N\t\\N"
        shared = (
            f"{split}\t{row.source.translate(esc)}\t{json.dumps(row.metadata).translate(esc)}\t"
            f"{stored}\t{thumbnail}\t{context.now}\n"
        )
        head = f"\t{context.dataset_id}\t{row.example_id.translate(esc)}\t"
        example_tails = tuple(
            f"{head}{unit.task.translate(esc)}\t{unit.label.translate(esc)}\t"
            f"{unit.label.translate(esc)}\t{shared}"
            for unit in row.units()
        )
    prediction_tails = []
    for unit in row.units():
        confidence = "\\N" if unit.confidence is None else repr(unit.confidence)
        probabilities = (
            "\\N" if unit.probabilities is None else json.dumps(unit.probabilities).translate(esc)
        )
        prediction_tails.append(
            f"\t{split}\t{unit.task.translate(esc)}\t{unit.prediction.translate(esc)}\t"
            f"{confidence}\t{probabilities}\t"
        )
    return (row.example_id, split, units, example_tails, tuple(prediction_tails), None)
