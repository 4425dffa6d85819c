"""The import pipeline: validate the whole dump (streaming), then write it in one transaction.

Pass 1 reads every row, checks it, checks the images of new examples and the labels of
known ones, and collects row errors. Pass 2 (only if pass 1 allows it) reads the dump
again and writes: the run is created STAGING, examples and predictions are written in
batches (COPY on PostgreSQL, bulk_create elsewhere), and the run flips to READY at the
end of the same transaction. A job killed at any point therefore leaves nothing behind
but image files, which a retry overwrites.
"""

import hashlib
import io
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone

from mlstrat.datasets.images import sniff_content_type
from mlstrat.datasets.models import Dataset, Example, ModelRun, Prediction, RunStatus

from .dumps import Dump, DumpError, UnreadableMember
from .models import ImportJob, JobStatus
from .validation import (
    MAX_COLUMNS,
    MAX_ERRORS_KEPT,
    CleanRow,
    Header,
    RowError,
    clean_row,
    image_problem,
)

BATCH_ROWS = 20000
EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/bmp": "bmp",
}


class RunExistsError(Exception):
    """A READY run of that name exists and the user did not ask to replace it."""


class ValidationFailed(Exception):
    def __init__(self, report: "Report", message: str):
        super().__init__(message)
        self.report = report


def run_exists_message(*, run_name: str, dataset_name: str) -> str:
    return (
        f"A run named “{run_name}” already exists in dataset “{dataset_name}”. "
        "Choose another run name, or tick “replace” to replace it."
    )


class Progress:
    """Writes the job's counters where the UI can see them while the import runs.

    On PostgreSQL the write pass is one long transaction, so counters go through a
    second connection in autocommit mode. Elsewhere they are written on the main one.
    """

    MIN_INTERVAL = 0.5

    def __init__(self, *, job: ImportJob, listener: Callable[[dict], None] | None = None):
        self.job_id = job.pk
        self.listener = listener
        self.fields: dict = {}
        self._last = 0.0
        self._side = None
        if connection.vendor == "postgresql":
            main = connections[DEFAULT_DB_ALIAS]
            self._side = main.__class__(dict(main.settings_dict), alias="import-progress")

    def update(self, *, force: bool = False, **fields) -> None:
        self.fields.update(fields)
        if self.listener:
            self.listener(dict(self.fields))
        now = time.monotonic()
        if not force and now - self._last < self.MIN_INTERVAL:
            return
        self._last = now
        if self._side is None:
            ImportJob.objects.filter(pk=self.job_id).update(**self.fields)
            return
        columns = ", ".join(f'"{name}" = %s' for name in self.fields)
        with self._side.cursor() as cursor:
            cursor.execute(
                f'UPDATE "imports_importjob" SET {columns} WHERE "id" = %s',
                [*self.fields.values(), self.job_id],
            )

    def close(self) -> None:
        if self._side is not None:
            self._side.close()


class Report:
    """What validation found: the first errors, their total, and which lines are bad."""

    def __init__(self):
        self.errors: list[dict] = []
        self.error_count = 0
        self.bad_lines: set[int] = set()
        self.rows_total = 0
        self.valid_rows = 0
        self.classes: set[str] = set()
        self.header: Header | None = None

    def add(self, error: RowError) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(error.as_dict())
        self.bad_lines.add(error.line)


def _allowed_classes(*, dataset: Dataset | None, header: Header) -> set[str] | None:
    # Probability columns name the classes; without them any label may add a class.
    if not header.prob_classes:
        return None
    return set(header.prob_classes) | set(dataset.class_names if dataset else [])


def _rows(dump: Dump, report: Report | None = None) -> Iterator[tuple[int, dict | None, str]]:
    """Data rows after the header; sets report.header from the first item."""
    for line, row, problem in dump.rows():
        if row is not None and "__header__" in row:
            if report is not None:
                report.header = Header(row["__header__"])
            continue
        yield line, row, problem


def validate(*, dump: Dump, dataset: Dataset | None, progress: Progress) -> Report:
    report = Report()
    seen: dict[str, int] = {}
    batch: list[CleanRow] = []
    classes = None
    for line, row, problem in _rows(dump, report):
        if report.header is None:
            raise DumpError("The table has no header row.")
        if report.rows_total == 0:
            if len(report.header.columns) > MAX_COLUMNS:
                raise DumpError(
                    f"The table has {len(report.header.columns)} columns; "
                    f"at most {MAX_COLUMNS} are accepted."
                )
            missing = report.header.missing()
            if missing:
                for column in missing:
                    report.add(RowError(1, column, "required column is missing"))
                raise ValidationFailed(report, "The table lacks required columns.")
            classes = _allowed_classes(dataset=dataset, header=report.header)
        report.rows_total += 1
        if row is None:
            report.add(RowError(line, "", f"the line {problem}"))
            continue
        clean, errors = clean_row(line=line, row=row, header=report.header, classes=classes)
        for error in errors:
            report.add(error)
        if clean is None:
            continue
        first = seen.get(clean.example_id)
        if first is not None:
            report.add(
                RowError(line, "example_id", f"duplicate example_id (first on line {first})")
            )
            continue
        seen[clean.example_id] = line
        batch.append(clean)
        if len(batch) >= BATCH_ROWS:
            _check_batch(batch=batch, dump=dump, dataset=dataset, report=report)
            batch = []
            progress.update(rows_total=report.rows_total, rows_validated=report.rows_total)
    if report.header is None or report.rows_total == 0:
        raise DumpError("The table has no rows.")
    _check_batch(batch=batch, dump=dump, dataset=dataset, report=report)
    progress.update(rows_total=report.rows_total, rows_validated=report.rows_total, force=True)
    return report


def _check_batch(*, batch: list[CleanRow], dump: Dump, dataset: Dataset | None, report: Report):
    """Labels already stored for known examples; images of new examples."""
    stored = {}
    if dataset is not None and batch:
        stored = {
            example_id: (label, split)
            for example_id, label, split in Example.objects.filter(
                dataset=dataset, example_id__in=[row.example_id for row in batch]
            ).values_list("example_id", "original_label", "split")
        }
    for row in batch:
        known = stored.get(row.example_id)
        if known is not None:
            label, split = known
            if row.label != label:
                report.add(
                    RowError(
                        row.line,
                        "label",
                        f"{row.label!r} contradicts the label {label!r} already stored "
                        "for this example",
                    )
                )
                continue
            if row.split != split:
                report.add(
                    RowError(
                        row.line,
                        "split",
                        f"{row.split!r} differs from the split {split!r} already stored "
                        "for this example",
                    )
                )
                continue
        else:
            try:
                problem = image_problem(dump.image_bytes(row.image))
            except UnreadableMember as exc:
                problem = str(exc)
            if problem:
                report.add(RowError(row.line, "image", f"{row.image}: {problem}"))
                continue
        report.valid_rows += 1
        report.classes.add(row.label)
        report.classes.add(row.prediction)


def image_name(*, dataset: Dataset, example_id: str, content_type: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", example_id)[:80]
    digest = hashlib.sha1(example_id.encode()).hexdigest()[:10]
    return f"datasets/{dataset.pk}/images/{safe}-{digest}.{EXTENSIONS[content_type]}"


class Writer:
    """Writes batches of clean rows as examples and predictions of one run."""

    def __init__(self, *, dataset: Dataset, run: ModelRun, dump: Dump, overwrite: bool):
        self.dataset = dataset
        self.run = run
        self.dump = dump
        self.overwrite = overwrite
        self.saved_images: list[str] = []
        self.seconds_images = 0.0
        self.seconds_db = 0.0
        self.db_parts: dict[str, float] = {}
        self.copy = connection.vendor == "postgresql"
        # A dataset with no examples yet (the first import): nothing to look up.
        self.had_examples = Example.objects.filter(dataset=dataset).exists()

    def write(self, rows: list[CleanRow]) -> None:
        with self._timed("lookup_s"):
            known = self._known([row.example_id for row in rows]) if self.had_examples else {}
        new_rows = [row for row in rows if row.example_id not in known]
        images = self._store_images(new_rows)
        if new_rows:
            with self._timed("examples_s"):
                if self.copy:
                    known.update(self._copy_examples(new_rows, images))
                else:
                    self._create_examples(new_rows, images)
                    known.update(self._known([row.example_id for row in new_rows]))
        predictions = [(known[row.example_id], row) for row in rows if row.example_id in known]
        with self._timed("predictions_s"):
            if self.copy:
                self._copy_predictions(predictions)
            else:
                self._create_predictions(predictions)

    @contextmanager
    def _timed(self, name: str):
        started = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            self.seconds_db += elapsed
            self.db_parts[name] = self.db_parts.get(name, 0.0) + elapsed

    def _known(self, example_ids: list[str]) -> dict:
        if self.copy:
            # One array parameter instead of thousands: far cheaper to parse and plan.
            with connection.cursor() as cursor:
                cursor.execute(
                    f'SELECT "example_id", "id", "label", "split" FROM "{Example._meta.db_table}" '
                    'WHERE "dataset_id" = %s AND "example_id" = ANY(%s)',
                    [self.dataset.pk, example_ids],
                )
                return {row[0]: row[1:] for row in cursor.fetchall()}
        return {
            example_id: (pk, label, split)
            for example_id, pk, label, split in Example.objects.filter(
                dataset=self.dataset, example_id__in=example_ids
            ).values_list("example_id", "pk", "label", "split")
        }

    def _store_images(self, rows: list[CleanRow]) -> dict[str, str]:
        started = time.perf_counter()
        names = {}
        for row in rows:
            data = self.dump.image_bytes(row.image)
            if data is None:
                raise DumpError(f"Line {row.line}: the image {row.image} disappeared.")
            name = image_name(
                dataset=self.dataset,
                example_id=row.example_id,
                content_type=sniff_content_type(data[:16]),
            )
            if self.overwrite and default_storage.exists(name):
                # A retry after a killed attempt: the file belongs to no committed example.
                default_storage.delete(name)
            names[row.example_id] = default_storage.save(name, ContentFile(data))
            self.saved_images.append(names[row.example_id])
        self.seconds_images += time.perf_counter() - started
        return names

    def _create_examples(self, rows: list[CleanRow], images: dict[str, str]) -> None:
        Example.objects.bulk_create(
            [
                Example(
                    dataset=self.dataset,
                    example_id=row.example_id,
                    label=row.label,
                    original_label=row.label,
                    split=row.split,
                    source=row.source,
                    metadata=row.metadata,
                    image=images[row.example_id],
                )
                for row in rows
            ],
            batch_size=500,
        )

    def _create_predictions(self, predictions) -> None:
        Prediction.objects.bulk_create(
            [
                Prediction(
                    run=self.run,
                    example_id=pk,
                    split=split,
                    predicted_label=row.prediction,
                    confidence=row.confidence,
                    probabilities=row.probabilities,
                    is_error=row.prediction != label,
                )
                for (pk, label, split), row in predictions
            ],
            batch_size=500,
        )

    def _copy(self, table: str, columns: list[str], records) -> None:
        buffer = io.StringIO()
        for record in records:
            buffer.write("\t".join(_copy_value(value) for value in record))
            buffer.write("\n")
        buffer.seek(0)
        with connection.cursor() as cursor:
            cursor.cursor.copy_expert(
                f'COPY "{table}" ({", ".join(columns)}) FROM STDIN', buffer, size=1 << 20
            )

    def _copy_examples(self, rows: list[CleanRow], images: dict[str, str]) -> dict:
        """COPY new examples with ids drawn from their sequence up front (one round trip),
        so no lookup is needed afterwards to link the predictions."""
        table = Example._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, len(rows)],
            )
            ids = [pk for (pk,) in cursor.fetchall()]
        now = timezone.now()
        self._copy(
            table,
            [
                "id",
                "dataset_id",
                "example_id",
                "label",
                "original_label",
                "split",
                "source",
                "metadata",
                "image",
                "thumbnail",
                "created_at",
            ],
            (
                (
                    pk,
                    self.dataset.pk,
                    row.example_id,
                    row.label,
                    row.label,
                    row.split,
                    row.source,
                    json.dumps(row.metadata),
                    images[row.example_id],
                    "",
                    now,
                )
                for pk, row in zip(ids, rows, strict=True)
            ),
        )
        return {
            row.example_id: (pk, row.label, row.split) for pk, row in zip(ids, rows, strict=True)
        }

    def _copy_predictions(self, predictions) -> None:
        self._copy(
            Prediction._meta.db_table,
            [
                "run_id",
                "example_id",
                "split",
                "predicted_label",
                "confidence",
                "probabilities",
                "is_error",
            ],
            (
                (
                    self.run.pk,
                    pk,
                    split,
                    row.prediction,
                    row.confidence,
                    json.dumps(row.probabilities) if row.probabilities is not None else None,
                    row.prediction != label,
                )
                for (pk, label, split), row in predictions
            ),
        )

    def discard_images(self) -> None:
        for name in self.saved_images:
            default_storage.delete(name)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_value(value) -> str:
    """One value in COPY's text format (NULL is \\N; backslash, tab and newlines escaped)."""
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, str):
        return value.translate(_COPY_ESCAPES)
    if isinstance(value, int | float):
        return repr(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value).translate(_COPY_ESCAPES)


def write(
    *, job: ImportJob, dump: Dump, report: Report, progress: Progress
) -> tuple[ModelRun, Writer]:
    """Write the valid rows and swap the run in, all in one transaction."""
    from mlstrat.datasets.services import dataset_get_or_create
    from mlstrat.review.services import category_ensure_builtins

    with transaction.atomic():
        dataset, created = dataset_get_or_create(project=job.project, name=job.dataset_name)
        if created:
            category_ensure_builtins(dataset=dataset)
        if not job.replace and _ready_run(dataset=dataset, name=job.run_name).exists():
            raise RunExistsError(
                run_exists_message(run_name=job.run_name, dataset_name=dataset.name)
            )
        run = ModelRun.objects.create(
            dataset=dataset,
            name=job.run_name,
            status=RunStatus.STAGING,
            created_by=job.created_by,
            has_probabilities=bool(report.header.prob_columns),
        )
        writer = Writer(dataset=dataset, run=run, dump=dump, overwrite=job.attempts > 1)
        try:
            _write_rows(dump=dump, report=report, writer=writer, progress=progress)
            _swap(job=job, dataset=dataset, run=run, report=report)
        except BaseException:
            writer.discard_images()
            raise
    return run, writer


def _write_rows(*, dump: Dump, report: Report, writer: Writer, progress: Progress) -> None:
    classes = _allowed_classes(dataset=writer.dataset, header=report.header)
    batch: list[CleanRow] = []
    written = 0
    for line, row, _ in _rows(dump):
        if row is None or line in report.bad_lines:
            continue
        clean, errors = clean_row(line=line, row=row, header=report.header, classes=classes)
        if clean is None:
            raise DumpError(f"Line {line} changed while importing: {errors[0].message}")
        batch.append(clean)
        if len(batch) >= BATCH_ROWS:
            writer.write(batch)
            written += len(batch)
            batch = []
            progress.update(rows_written=written)
    if batch:
        writer.write(batch)
        written += len(batch)
    progress.update(rows_written=written, force=True)


def _ready_run(*, dataset: Dataset, name: str):
    return ModelRun.objects.filter(dataset=dataset, name=name, status=RunStatus.READY)


def _swap(*, job: ImportJob, dataset: Dataset, run: ModelRun, report: Report) -> None:
    from mlstrat.datasets.staleness import figures_stale

    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    older = list(_ready_run(dataset=dataset, name=job.run_name).select_for_update())
    if older and not job.replace:
        raise RunExistsError(run_exists_message(run_name=job.run_name, dataset_name=dataset.name))
    for old in older:
        old.delete()
    run.status = RunStatus.READY
    run.imported_at = timezone.now()
    run.save(update_fields=["status", "imported_at"])
    new_classes = sorted(report.classes - set(dataset.class_names), key=_class_order)
    if new_classes:
        dataset.class_names = [*dataset.class_names, *new_classes]
        dataset.save(update_fields=["class_names"])
    job.dataset = dataset
    job.run = run
    # Recorded with the swap: a job killed after this commit resumes at its thumbnails
    # instead of importing again.
    ImportJob.objects.filter(pk=job.pk).update(
        dataset=dataset, run=run, status=JobStatus.THUMBNAILS, message=""
    )
    figures_stale(run=run)


def _class_order(name: str):
    # Numeric class names sort as numbers (digits 0..9), others alphabetically.
    return (0, int(name), "") if name.isdigit() else (1, 0, name)
