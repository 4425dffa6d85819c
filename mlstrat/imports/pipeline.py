"""The import pipeline: one pass over the dump that checks every row and writes the rows
it accepts, in one transaction that commits only when the whole dump is good.

Each row is checked on its own (validation.py), against the dataset (labels already
stored for known examples), and for a new example its image is decoded (bounded) and
stored in a pack as it is read, by child processes for a big dump (packs.py), so both
cores work while this process parses the table and writes. Accepted rows are written in
batches as their checks come back (COPY on PostgreSQL, bulk_create elsewhere) into a run
created STAGING; at the end, if any row was refused (and skipping was not asked for) the
transaction rolls back and nothing is written; else the run flips to READY in the same
transaction. A job killed at any point therefore leaves nothing behind but its attempt's
packs, which the next attempt (or the lease check, services.py) removes.
"""

import io
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone

from mlstrat.datasets.models import Dataset, Example, ModelRun, Prediction, RunStatus

from .dumps import Dump, DumpError
from .models import ImportJob, JobStatus
from .packs import PACK_ROWS, ImageChecker
from .validation import (
    MAX_COLUMNS,
    MAX_ERRORS_KEPT,
    CleanRow,
    Header,
    RowError,
    clean_row,
)

BATCH_ROWS = 20000
# Accepted rows are written (COPY) in batches of this many.
WRITE_ROWS = 10000


class RunExistsError(Exception):
    """A READY run of that name exists and the user did not ask to replace it."""


class AttemptSuperseded(Exception):
    """The job's lease expired and a newer attempt owns it now."""


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
        # Counters land only while this attempt owns the job (a newer one fences it off).
        self.attempt = job.attempts
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
            ImportJob.objects.filter(pk=self.job_id, attempts=self.attempt).update(**self.fields)
            return
        columns = ", ".join(f'"{name}" = %s' for name in self.fields)
        with self._side.cursor() as cursor:
            cursor.execute(
                f'UPDATE "imports_importjob" SET {columns} WHERE "id" = %s AND "attempts" = %s',
                [*self.fields.values(), self.job_id, self.attempt],
            )

    def close(self) -> None:
        if self._side is not None:
            self._side.close()


class LineSet:
    """A set of line numbers in one bit each: a table of a million bad rows costs 125 KB."""

    def __init__(self):
        self._bits = bytearray()
        self._count = 0

    def add(self, line: int) -> None:
        byte, bit = divmod(line, 8)
        if byte >= len(self._bits):
            self._bits.extend(bytes(byte + 1 - len(self._bits) + len(self._bits) // 2))
        if not self._bits[byte] & (1 << bit):
            self._bits[byte] |= 1 << bit
            self._count += 1

    def __contains__(self, line: int) -> bool:
        byte, bit = divmod(line, 8)
        return byte < len(self._bits) and bool(self._bits[byte] & (1 << bit))

    def __len__(self) -> int:
        return self._count


class Report:
    """What validation found: the first errors, their total, and which lines are bad."""

    def __init__(self):
        self.errors: list[dict] = []
        self.error_count = 0
        self.bad_lines = LineSet()
        self.rows_total = 0
        self.valid_rows = 0
        self.classes: set[str] = set()
        self.header: Header | None = None
        self.rows_written = 0

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


def _validate_rows(*, dump, dataset, report, checker, progress) -> None:
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
            checker.check(batch, last=False)
            batch = []
            progress.update(
                rows_total=report.rows_total,
                rows_validated=report.rows_total,
                rows_written=report.rows_written,
            )
    if report.header is None or report.rows_total == 0:
        raise DumpError("The table has no rows.")
    checker.check(batch, last=True)
    checker.finish()


class _Checks:
    """The checks of a batch of clean rows that need more than the row: labels already
    stored for known examples (one query), and the images of new examples, checked and
    packed by an ImageChecker (in child processes for a big dump) whose results are
    applied in line order as they come back. Accepted rows go to the writer in batches;
    once a row is refused (and refused rows are not to be skipped) nothing more is
    written: the transaction will roll back, the checks go on to list every problem."""

    def __init__(
        self,
        *,
        dump: Dump,
        dataset: Dataset | None,
        report: Report,
        job: ImportJob,
        writer: "Writer",
        progress: Progress,
    ):
        self.progress = progress
        self.dump = dump
        self.dataset = dataset
        self.report = report
        self.job = job
        self.writer = writer
        self.images: ImageChecker | None = None
        # Rows whose image is being checked, by line.
        self._waiting: dict[int, CleanRow] = {}
        self._ready: list[CleanRow] = []

    def check(self, batch: list[CleanRow], *, last: bool) -> None:
        stored = self._stored(batch)
        new = []
        for row in batch:
            known = stored.get(row.example_id)
            if known is None:
                new.append(row)
            elif self._label_agrees(row, *known):
                self._accept(row)
        if not new:
            return
        if self.images is None:
            self.images = ImageChecker(
                dump=self.dump,
                job_id=self.job.pk,
                attempt=self.job.attempts,
                expected_images=len(new) if last else BATCH_ROWS,
            )
        for start in range(0, len(new), PACK_ROWS):
            items = []
            for row in new[start : start + PACK_ROWS]:
                self._waiting[row.line] = row
                items.append((row.line, row.image))
            for packed in self.images.submit(items):
                self._apply(packed)

    def finish(self) -> None:
        if self.images is not None:
            for packed in self.images.finish():
                self._apply(packed)

    def flush(self) -> None:
        """Write the rows accepted and not written yet."""
        if self._ready and self._writing:
            self.writer.write(self._ready)
            self.report.rows_written += len(self._ready)
            self.progress.update(rows_written=self.report.rows_written, force=True)
        self._ready = []

    @property
    def _writing(self) -> bool:
        return self.job.skip_invalid or not self.report.error_count

    def close(self) -> None:
        if self.images is not None:
            self.images.close()

    def _stored(self, batch: list[CleanRow]) -> dict:
        if self.dataset is None or not batch:
            return {}
        return {
            example_id: (label, split)
            for example_id, label, split in Example.objects.filter(
                dataset=self.dataset, example_id__in=[row.example_id for row in batch]
            ).values_list("example_id", "original_label", "split")
        }

    def _label_agrees(self, row: CleanRow, label: str, split: str) -> bool:
        if row.label != label:
            self.report.add(
                RowError(
                    row.line,
                    "label",
                    f"{row.label!r} contradicts the label {label!r} already stored "
                    "for this example",
                )
            )
            return False
        if row.split != split:
            self.report.add(
                RowError(
                    row.line,
                    "split",
                    f"{row.split!r} differs from the split {split!r} already stored "
                    "for this example",
                )
            )
            return False
        return True

    def _apply(self, packed) -> None:
        for line, problem, offset, size in packed.results:
            row = self._waiting.pop(line)
            if problem:
                self.report.add(RowError(line, "image", f"{row.image}: {problem}"))
                continue
            row.stored = (packed.pack, offset, size)
            self._accept(row)

    def _accept(self, row: CleanRow) -> None:
        self.report.valid_rows += 1
        self.report.classes.add(row.label)
        self.report.classes.add(row.prediction)
        if self._writing:
            self._ready.append(row)
            if len(self._ready) >= WRITE_ROWS:
                self.flush()


class Writer:
    """Writes batches of clean rows as examples and predictions of one run."""

    def __init__(self, *, dataset: Dataset, run: ModelRun):
        self.dataset = dataset
        self.run = run
        self.seconds_db = 0.0
        self.db_parts: dict[str, float] = {}
        self.timings: dict[str, float] = {}
        self.copy = connection.vendor == "postgresql"
        # A dataset with no examples yet (the first import): nothing to look up.
        self.had_examples = Example.objects.filter(dataset=dataset).exists()

    def write(self, rows: list[CleanRow]) -> None:
        with self._timed("lookup_s"):
            known = self._known([row.example_id for row in rows]) if self.had_examples else {}
        new_rows = [row for row in rows if row.example_id not in known]
        images = {row.example_id: row.stored for row in new_rows}
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
                    image=images[row.example_id][0],
                    image_offset=images[row.example_id][1],
                    image_size=images[row.example_id][2],
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

    def _copy(self, table: str, columns: list[str], lines: list[str]) -> None:
        buffer = io.StringIO("".join(lines))
        with connection.cursor() as cursor:
            cursor.cursor.copy_expert(
                f'COPY "{table}" ({", ".join(columns)}) FROM STDIN', buffer, size=1 << 20
            )

    def _copy_examples(self, rows: list[CleanRow], images: dict[str, str]) -> dict:
        """COPY new examples with ids drawn from their sequence up front (one round trip),
        so no lookup is needed afterwards to link the predictions. Each line is one
        f-string (text escaped for COPY by one `str.translate`): no call per value."""
        table = Example._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, len(rows)],
            )
            ids = [pk for (pk,) in cursor.fetchall()]
        now = timezone.now().isoformat()
        dataset = self.dataset.pk
        esc = _COPY_ESCAPES
        dumps = json.dumps
        lines = []
        for pk, row in zip(ids, rows, strict=True):
            image, offset, size = images[row.example_id]
            label = row.label.translate(esc)
            lines.append(
                f"{pk}\t{dataset}\t{row.example_id.translate(esc)}\t{label}\t{label}\t"
                f"{row.split}\t{row.source.translate(esc)}\t{dumps(row.metadata).translate(esc)}\t"
                f"{image.translate(esc)}\t{offset}\t{size}\t\t{now}\n"
            )
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
                "image_offset",
                "image_size",
                "thumbnail",
                "created_at",
            ],
            lines,
        )
        return {
            row.example_id: (pk, row.label, row.split) for pk, row in zip(ids, rows, strict=True)
        }

    def _copy_predictions(self, predictions) -> None:
        run = self.run.pk
        esc = _COPY_ESCAPES
        dumps = json.dumps
        lines = []
        for (pk, label, split), row in predictions:
            confidence = "\\N" if row.confidence is None else repr(row.confidence)
            probabilities = (
                "\\N" if row.probabilities is None else dumps(row.probabilities).translate(esc)
            )
            error = "f" if row.prediction == label else "t"
            lines.append(
                f"{run}\t{pk}\t{split}\t{row.prediction.translate(esc)}\t{confidence}\t"
                f"{probabilities}\t{error}\n"
            )
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
            lines,
        )


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def import_dump(
    *, job: ImportJob, dump: Dump, progress: Progress
) -> tuple[Report, ModelRun, Writer]:
    """Check and write the dump in one pass and swap the run in, all in one transaction;
    ValidationFailed (after listing every problem) when it must not be imported."""
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
            dataset=dataset, name=job.run_name, status=RunStatus.STAGING, created_by=job.created_by
        )
        writer = Writer(dataset=dataset, run=run)
        report = Report()
        started = time.perf_counter()
        checks = _Checks(
            dump=dump,
            dataset=None if created else dataset,
            report=report,
            job=job,
            writer=writer,
            progress=progress,
        )
        try:
            _validate_rows(
                dump=dump, dataset=dataset, report=report, checker=checks, progress=progress
            )
        finally:
            checks.close()
        progress.update(rows_total=report.rows_total, rows_validated=report.rows_total, force=True)
        if report.error_count and not job.skip_invalid:
            raise ValidationFailed(report, failed_message(report))
        if report.valid_rows == 0:
            raise ValidationFailed(report, "No valid rows to import.")
        writer.timings["validate_s"] = time.perf_counter() - started
        progress.update(status=JobStatus.WRITING, force=True)
        finishing = time.perf_counter()
        checks.flush()
        progress.update(rows_written=report.rows_written, force=True)
        run.has_probabilities = bool(report.header.prob_columns)
        run.save(update_fields=["has_probabilities"])
        _swap(job=job, dataset=dataset, run=run, report=report)
        # The deferred foreign-key checks run at commit: part of the database's work.
        commit_started = time.perf_counter()
    writer.seconds_db += time.perf_counter() - commit_started
    writer.db_parts["commit_s"] = time.perf_counter() - commit_started
    writer.timings["write_s"] = time.perf_counter() - finishing
    return report, run, writer


def failed_message(report: Report) -> str:
    return (
        f"Nothing was imported: {report.error_count} problem(s) in "
        f"{len(report.bad_lines)} row(s). Fix them, or import the valid rows only "
        "(skip invalid rows)."
    )


def _ready_run(*, dataset: Dataset, name: str):
    return ModelRun.objects.filter(dataset=dataset, name=name, status=RunStatus.READY)


def _swap(*, job: ImportJob, dataset: Dataset, run: ModelRun, report: Report) -> None:
    from mlstrat.datasets.staleness import figures_stale

    current = ImportJob.objects.select_for_update().filter(pk=job.pk).values_list("attempts")
    if current.first() != (job.attempts,):
        # This attempt was taken for dead (its lease expired) and another one started:
        # its work must not land beside the other's.
        raise AttemptSuperseded(f"Attempt {job.attempts} was superseded by a newer attempt.")
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
    # Numeric class names sort as numbers (ASCII digits 0..9: "²" and "١" are digits to
    # str.isdigit but not numbers int() reads alike), others alphabetically.
    return (0, int(name), "") if name.isascii() and name.isdigit() else (1, 0, name)
