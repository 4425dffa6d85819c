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
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.utils import timezone

from mlstrat.datasets.models import (
    Dataset,
    Example,
    ModelRun,
    Prediction,
    RunStatus,
    is_error,
)

from .checkers import PARALLEL_MIN_ROWS, RowChecker
from .dumps import Dump, DumpError, HeaderRow
from .models import ImportJob, JobStatus
from .rowchecks import (
    CHUNK_ROWS,
    EXAMPLE_ID,
    EXAMPLE_TAILS,
    PREDICTION_TAILS,
    ROW,
    SPLIT,
    UNITS,
    RowContext,
)
from .validation import (
    MAX_COLUMNS,
    MAX_ERRORS_KEPT,
    Header,
    RowError,
    example_id_of,
    shown,
)

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
        # A multi-task dump: the classes seen per task.
        self.task_classes: dict[str, set[str]] = {}
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


def _allowed_task_classes(*, dataset: Dataset | None, header: Header) -> dict:
    """Per task, as _allowed_classes: the classes its probability columns name (a binary
    task's prob:<task>: "0" and "1") and those it already has, or None (any label)."""
    allowed = {}
    for task in header.tasks:
        named = header.task_classes(task)
        known = dataset.classes_for(task) if dataset is not None else []
        allowed[task] = None if named is None else named | set(known)
    return allowed


def tasks_problem(*, dataset: Dataset | None, has_examples: bool, header: Header) -> str | None:
    """Why the dump's tasks do not fit the dataset: a later run carries the same tasks
    as the first (a single-task dataset takes single-task dumps only)."""
    if dataset is None or not has_examples:
        return None
    if dataset.tasks and not header.is_multitask:
        return (
            f"the dataset is multi-task ({', '.join(dataset.tasks)}): give "
            "label:<task> and prediction:<task> columns for each of its tasks"
        )
    if not dataset.tasks and header.is_multitask:
        return "the dataset has one label per example: a multi-task dump goes to a new dataset"
    if header.is_multitask and set(header.tasks) != set(dataset.tasks):
        missing = [t for t in dataset.tasks if t not in header.tasks]
        extra = [t for t in header.tasks if t not in dataset.tasks]
        parts = []
        if missing:
            parts.append(f"lacks task(s) {', '.join(missing)}")
        if extra:
            parts.append(f"has task(s) {', '.join(extra)} the dataset does not have")
        return (
            f"the dump {' and '.join(parts)}: every run of a dataset carries its tasks "
            f"({', '.join(dataset.tasks)})"
        )
    return None


def _rows(dump: Dump, report: Report | None = None) -> Iterator[tuple[int, dict | None, str]]:
    """Data rows after the header; sets report.header from the first item."""
    for line, row, problem in dump.rows():
        if isinstance(row, HeaderRow):
            if report is not None:
                report.header = Header(list(row))
            continue
        yield line, row, problem


def _validate_rows(*, dump, dataset, report, checks, has_examples=True) -> None:
    """Read the table once; after the header's checks, every row goes to the checks in
    line order (parsed here, checked where `checks` runs them)."""
    for line, row, problem in _rows(dump, report):
        if report.header is None:
            raise DumpError("The table has no header row.")
        if report.rows_total == 0:
            _check_header(report=report)
            _check_tasks(report=report, dataset=dataset, has_examples=has_examples)
            checks.begin(
                classes=_allowed_classes(dataset=dataset, header=report.header),
                task_classes=_allowed_task_classes(dataset=dataset, header=report.header),
            )
        report.rows_total += 1
        checks.add(line, row, problem)
    if report.header is None or report.rows_total == 0:
        raise DumpError("The table has no rows.")
    checks.finish()


def _check_header(*, report: Report) -> None:
    """A header that cannot be used refuses the dump (line 1): too many columns, a name
    PostgreSQL cannot store (it becomes a metadata key), a name given twice (a row would
    keep one of the values), a required column missing."""
    if len(report.header.columns) > MAX_COLUMNS:
        raise DumpError(
            f"The table has {len(report.header.columns)} columns; "
            f"at most {MAX_COLUMNS} are accepted."
        )
    unstorable = report.header.unstorable()
    if unstorable:
        for column, found in unstorable:
            report.add(RowError(1, shown(column), f"the column's name contains {found}"))
        raise ValidationFailed(
            report, "A column's name in the header holds a character no text can store."
        )
    twice = report.header.twice()
    if twice:
        for column in twice:
            report.add(RowError(1, column, "appears twice in the header"))
        raise ValidationFailed(report, f"The table names a column twice: {', '.join(twice)}.")
    missing = report.header.missing()
    if missing:
        for column in missing:
            report.add(RowError(1, column, "required column is missing"))
        raise ValidationFailed(report, "The table lacks required columns.")


def _check_tasks(*, report: Report, dataset, has_examples: bool) -> None:
    """A multi-task header that cannot be used, or tasks that do not fit the dataset,
    refuse the dump (line 1)."""
    for column, reason in report.header.problems():
        report.add(RowError(1, column, reason))
    if report.error_count:
        raise ValidationFailed(report, "The table's task columns cannot be used.")
    problem = tasks_problem(dataset=dataset, has_examples=has_examples, header=report.header)
    if problem:
        report.add(RowError(1, "", problem))
        raise ValidationFailed(report, f"The dump does not fit the dataset: {problem}.")


class _Checks:
    """The rows' checks, in line order: each chunk of rows goes to a RowChecker (here, or
    in child processes for a big dump: checkers.py) with what the dataset already stores
    for its example ids (one query); the results are applied in line order as they come
    back. Duplicates are found here, among clean rows. Accepted rows go to the writer in
    batches; once a row is refused (and refused rows are not to be skipped) nothing more
    is written: the transaction will roll back, the checks go on to list every problem."""

    def __init__(
        self,
        *,
        dump: Dump,
        dataset: Dataset,
        known_examples: bool,
        report: Report,
        job: ImportJob,
        writer: "Writer",
        progress: Progress,
    ):
        self.progress = progress
        self.dump = dump
        self.dataset = dataset
        # Whether the dataset had examples before this import (else none is stored).
        self.known_examples = known_examples
        self.report = report
        self.job = job
        self.writer = writer
        self.context: RowContext | None = None
        self.checker: RowChecker | None = None
        self._rows: list = []
        self._seen: dict[str, int] = {}
        self._ready: list = []

    def begin(self, *, classes, task_classes) -> None:
        self.context = RowContext(
            header=self.report.header,
            classes=classes,
            task_classes=task_classes,
            dataset_id=self.dataset.pk,
            copy=self.writer.copy,
            now=timezone.now().isoformat(),
        )

    def add(self, line: int, row: dict | None, problem: str | None) -> None:
        self._rows.append((line, row, problem))
        if self.checker is None:
            # Whether to fork is decided on the first rows: a small dump stays here.
            if len(self._rows) < PARALLEL_MIN_ROWS:
                return
            self._start(rows=len(self._rows))
        if len(self._rows) >= CHUNK_ROWS:
            self._submit()

    def finish(self) -> None:
        if self.checker is None:
            self._start(rows=len(self._rows))
        while self._rows:
            self._submit()
        for checked in self.checker.finish():
            self._apply(checked)

    def _start(self, *, rows: int) -> None:
        self.checker = RowChecker(
            dump=self.dump,
            context=self.context,
            job_id=self.job.pk,
            attempt=self.job.attempts,
            rows=rows,
        )

    def _submit(self) -> None:
        chunk, self._rows = self._rows[:CHUNK_ROWS], self._rows[CHUNK_ROWS:]
        for checked in self.checker.submit(chunk, self._stored(chunk)):
            self._apply(checked)
        self.progress.update(
            rows_total=self.report.rows_total,
            rows_validated=self.report.rows_total,
            rows_written=self.report.rows_written,
        )

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
        if self.checker is not None:
            self.checker.close()

    def _stored(self, chunk: list) -> dict:
        """{example_id: ({task: original label}, split)} of the chunk's stored examples."""
        if not self.known_examples:
            return {}
        ids = {example_id_of(row) for _line, row, _problem in chunk if row is not None}
        ids.discard(None)
        stored: dict = {}
        for example_id, task, label, split in Example.objects.filter(
            dataset=self.dataset, example_id__in=ids
        ).values_list("example_id", "task", "original_label", "split"):
            stored.setdefault(example_id, ({}, split))[0][task] = label
        return stored

    def _apply(self, checked) -> None:
        report = self.report
        seen = self._seen
        _pack, results = checked
        for line, example_id, errors, row in results:
            if example_id is not None:
                first = seen.get(example_id)
                if first is not None:
                    # (Its image may have gone into its chunk's pack: never referenced.)
                    message = f"duplicate example_id (first on line {first})"
                    report.add(RowError(line, "example_id", message))
                    continue
                seen[example_id] = line
            if errors:
                for error in errors:
                    report.add(error)
                continue
            self._accept(row)

    def _accept(self, row: tuple) -> None:
        self.report.valid_rows += 1
        if self.context.header.is_multitask:
            task_classes = self.report.task_classes
            for task, label, prediction in row[UNITS]:
                seen = task_classes.get(task)
                if seen is None:
                    seen = task_classes[task] = set()
                if label:
                    seen.add(label)
                seen.add(prediction)
        else:
            ((_task, label, prediction),) = row[UNITS]
            self.report.classes.add(label)
            self.report.classes.add(prediction)
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

    def write(self, rows: list[tuple]) -> None:
        """Examples (one per row and task, keyed (example_id, task)) for the accepted rows
        (rowchecks.accepted) not stored yet, and one prediction per example."""
        with self._timed("lookup_s"):
            known = self._known([row[EXAMPLE_ID] for row in rows]) if self.had_examples else {}
        new_rows = [row for row in rows if (row[EXAMPLE_ID], row[UNITS][0][0]) not in known]
        if new_rows:
            with self._timed("examples_s"):
                if self.copy:
                    known.update(self._copy_examples(new_rows))
                else:
                    self._create_examples([row[ROW] for row in new_rows])
                    known.update(self._known([row[EXAMPLE_ID] for row in new_rows]))
        with self._timed("predictions_s"):
            if self.copy:
                self._copy_predictions(rows, known)
            else:
                self._create_predictions(
                    [
                        (known[(row[EXAMPLE_ID], unit.task)], unit)
                        for row in rows
                        for unit in row[ROW].units()
                        if (row[EXAMPLE_ID], unit.task) in known
                    ]
                )

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
        """{(example_id, task): (pk, label in force, split, task)}."""
        if self.copy:
            # One array parameter instead of thousands: far cheaper to parse and plan.
            with connection.cursor() as cursor:
                cursor.execute(
                    f'SELECT "example_id", "task", "id", "label", "split" '
                    f'FROM "{Example._meta.db_table}" '
                    'WHERE "dataset_id" = %s AND "example_id" = ANY(%s)',
                    [self.dataset.pk, example_ids],
                )
                return {
                    (example_id, task): (pk, label, split, task)
                    for example_id, task, pk, label, split in cursor.fetchall()
                }
        return {
            (example_id, task): (pk, label, split, task)
            for example_id, task, pk, label, split in Example.objects.filter(
                dataset=self.dataset, example_id__in=example_ids
            ).values_list("example_id", "task", "pk", "label", "split")
        }

    def _create_examples(self, rows: list) -> None:
        Example.objects.bulk_create(
            [
                Example(
                    dataset=self.dataset,
                    example_id=row.example_id,
                    task=unit.task,
                    label=unit.label,
                    original_label=unit.label,
                    split=row.split,
                    source=row.source,
                    metadata=row.metadata,
                    image=row.stored[0],
                    image_offset=row.stored[1],
                    image_size=row.stored[2],
                    thumbnail=row.thumbnail[0],
                    thumbnail_offset=row.thumbnail[1],
                    thumbnail_size=row.thumbnail[2],
                )
                for row in rows
                for unit in row.units()
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
                    task=task,
                    predicted_label=unit.prediction,
                    confidence=unit.confidence,
                    probabilities=unit.probabilities,
                    is_error=is_error(label=label, predicted=unit.prediction),
                )
                for (pk, label, split, task), unit in predictions
            ],
            batch_size=500,
        )

    def _copy(self, table: str, columns: list[str], lines: list[str]) -> None:
        buffer = io.StringIO("".join(lines))
        with connection.cursor() as cursor:
            cursor.cursor.copy_expert(
                f'COPY "{table}" ({", ".join(columns)}) FROM STDIN', buffer, size=1 << 20
            )

    def _copy_examples(self, rows: list[tuple]) -> dict:
        """COPY new examples with ids drawn from their sequence up front (one round trip),
        so no lookup is needed afterwards to link the predictions. Each line is its id
        and the text the row's checks made for it (rowchecks.accepted)."""
        table = Example._meta.db_table
        units = sum(len(row[UNITS]) for row in rows)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, units],
            )
            ids = iter([pk for (pk,) in cursor.fetchall()])
        lines = []
        known = {}
        for row in rows:
            example_id, split = row[EXAMPLE_ID], row[SPLIT]
            tails = zip(row[UNITS], row[EXAMPLE_TAILS], strict=True)
            for (task, label, _prediction), tail in tails:
                pk = next(ids)
                lines.append(f"{pk}{tail}")
                known[(example_id, task)] = (pk, label, split, task)
        self._copy(
            table,
            [
                "id",
                "dataset_id",
                "example_id",
                "task",
                "label",
                "original_label",
                "split",
                "source",
                "metadata",
                "image",
                "image_offset",
                "image_size",
                "thumbnail",
                "thumbnail_offset",
                "thumbnail_size",
                "created_at",
            ],
            lines,
        )
        return known

    def _copy_predictions(self, rows: list[tuple], known: dict) -> None:
        """One line per (row, task) whose example is known: the run, the example's id,
        the text the row's checks made, and the verdict against the label in force
        (datasets.models.is_error, spelled for COPY: an unknown label has none)."""
        run = self.run.pk
        lines = []
        for row in rows:
            example_id = row[EXAMPLE_ID]
            tails = zip(row[UNITS], row[PREDICTION_TAILS], strict=True)
            for (task, _label, prediction), tail in tails:
                found = known.get((example_id, task))
                if found is None:
                    continue
                pk, label = found[0], found[1]
                error = "\\N" if not label else "f" if prediction == label else "t"
                lines.append(f"{run}\t{pk}{tail}{error}\n")
        self._copy(
            Prediction._meta.db_table,
            [
                "run_id",
                "example_id",
                "split",
                "task",
                "predicted_label",
                "confidence",
                "probabilities",
                "is_error",
            ],
            lines,
        )


def import_dump(
    *, job: ImportJob, dump: Dump, progress: Progress
) -> tuple[Report, ModelRun, Writer]:
    """Check and write the dump in one pass and swap the run in, all in one transaction;
    ValidationFailed (after listing every problem) when it must not be imported."""
    from mlstrat.analytics.counts import counts_rebuild
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
        _foreign_keys_checked(immediately=True)
        report = Report()
        started = time.perf_counter()
        checks = _Checks(
            dump=dump,
            dataset=dataset,
            known_examples=writer.had_examples,
            report=report,
            job=job,
            writer=writer,
            progress=progress,
        )
        try:
            _validate_rows(
                dump=dump,
                dataset=dataset,
                report=report,
                checks=checks,
                has_examples=writer.had_examples,
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
        _foreign_keys_checked(immediately=False)
        progress.update(rows_written=report.rows_written, force=True)
        run.has_probabilities = report.header.has_probabilities
        run.save(update_fields=["has_probabilities"])
        _swap(job=job, dataset=dataset, run=run, report=report)
        # The dashboard's counts: made once here, then kept in step with the labels.
        counted = time.perf_counter()
        run.dataset = Dataset.objects.get(pk=dataset.pk)  # with the tasks the swap set
        counts_rebuild(run=run)
        writer.db_parts["counts_s"] = time.perf_counter() - counted
        writer.seconds_db += writer.db_parts["counts_s"]
        # The deferred foreign-key checks run at commit: part of the database's work.
        commit_started = time.perf_counter()
    writer.seconds_db += time.perf_counter() - commit_started
    writer.db_parts["commit_s"] = time.perf_counter() - commit_started
    writer.timings["write_s"] = time.perf_counter() - finishing
    return report, run, writer


def _foreign_keys_checked(*, immediately: bool) -> None:
    """On PostgreSQL, the rows' foreign keys (deferred to the commit by Django) are checked
    by each COPY while the rows are written: then the checks overlap the row checks that
    run in the children, instead of all running at the commit on one core, after them."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET CONSTRAINTS ALL {'IMMEDIATE' if immediately else 'DEFERRED'}")


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
    problem = _tasks_conflict(dataset=dataset, header=report.header)
    if problem:
        # Another import of the same dataset with other tasks committed meanwhile.
        report.add(RowError(1, "", problem))
        raise ValidationFailed(report, f"The dump does not fit the dataset: {problem}.")
    run.status = RunStatus.READY
    run.imported_at = timezone.now()
    run.save(update_fields=["status", "imported_at"])
    _learn_classes(dataset=dataset, report=report)
    job.dataset = dataset
    job.run = run
    # Recorded with the swap: a job killed after this commit resumes at its thumbnails
    # instead of importing again.
    ImportJob.objects.filter(pk=job.pk).update(
        dataset=dataset, run=run, status=JobStatus.THUMBNAILS, message=""
    )
    figures_stale(run=run)


def _tasks_conflict(*, dataset: Dataset, header: Header) -> str | None:
    """Under the dataset's lock: whether an import with other tasks committed while this
    one ran (the check before the rows saw the dataset as it was then)."""
    if dataset.tasks:
        return tasks_problem(dataset=dataset, has_examples=True, header=header)
    if header.is_multitask and Example.objects.filter(dataset=dataset, task="").exists():
        return tasks_problem(dataset=dataset, has_examples=True, header=header)
    return None


def _learn_classes(*, dataset: Dataset, report: Report) -> None:
    """Classes seen in the dump join the dataset's; a multi-task dump also sets the
    dataset's tasks (first import) and each task's classes."""
    fields = []
    classes = set(report.classes)
    if report.header.is_multitask:
        if not dataset.tasks:
            dataset.tasks = list(report.header.tasks)
            fields.append("tasks")
        per_task = dict(dataset.task_class_names or {})
        for task in dataset.tasks:
            have = list(per_task.get(task, []))
            new = sorted(report.task_classes.get(task, set()) - set(have), key=_class_order)
            if new or task not in per_task:
                per_task[task] = [*have, *new]
            classes |= set(per_task[task])
        if per_task != dataset.task_class_names:
            dataset.task_class_names = per_task
            fields.append("task_class_names")
    new_classes = sorted(classes - set(dataset.class_names), key=_class_order)
    if new_classes:
        dataset.class_names = [*dataset.class_names, *new_classes]
        fields.append("class_names")
    if fields:
        dataset.save(update_fields=fields)


def _class_order(name: str):
    # Numeric class names sort as numbers (ASCII digits 0..9: "²" and "١" are digits to
    # str.isdigit but not numbers int() reads alike), others alphabetically.
    return (0, int(name), "") if name.isascii() and name.isdigit() else (1, 0, name)
