"""Import jobs: create one (from an upload, the API, a server folder) and run it.

`import_job_create` answers at once; a worker calls `import_job_run`, which validates the
whole dump, writes it all or nothing (pipeline.py) and hands thumbnails to workers in
chunks (`thumbnails_make`).
"""

import io
import logging
import os
import platform
import secrets
import shutil
import tempfile
import threading
import time
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.storage import default_storage
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from PIL import Image

from mlstrat.accounts.models import Project
from mlstrat.datasets.images import (
    THUMBNAIL_SIDE,
    StoredReader,
    is_own_thumbnail,
    open_image,
    storage_is_local,
)
from mlstrat.datasets.models import Dataset, Example, ModelRun, RunStatus
from mlstrat.mismatch.services import CharacteristicsRecorder
from mlstrat.names import normalise_name, refuse_look_alike
from mlstrat.sqltext import array_literal

from . import checkers, packs, pipeline, uploads
from .dumps import DumpError, is_zip, not_a_zip_message, open_dump
from .models import ImportJob, JobStatus

logger = logging.getLogger(__name__)

THUMBNAIL_CHUNK = 500
# What the thumbnail pass has still to do for an example: its thumbnail, or the measure of
# its characteristics (an image that is its own thumbnail was recorded so at import).
_THUMBNAIL_PASS_DUE = Q(thumbnail="") | Q(characteristics__isnull=True)


RunExistsError = pipeline.RunExistsError


def path_is_allowed(path: str) -> bool:
    """Server paths must sit under one of settings.MLSTRAT_IMPORT_ROOTS."""
    real = os.path.realpath(path)
    for root in settings.MLSTRAT_IMPORT_ROOTS:
        root = os.path.realpath(root)
        if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
            return True
    return False


def _check_names(*, dataset_name: str, run_name: str) -> tuple[str, str]:
    names, errors = {}, {}
    for field, name, empty in (
        ("dataset", dataset_name, "Choose a dataset or type the name of a new one."),
        ("run", run_name, "Name the run (e.g. the model version)."),
    ):
        if not isinstance(name, str) or not name.strip():
            errors[field] = empty
            continue
        try:
            names[field] = normalise_name(name, max_length=200, field=field)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return names["dataset"], names["run"]


def _refuse_look_alike_names(*, project: Project, dataset, dataset_name: str, run_name: str):
    """A new dataset or run may not look like an existing one (same name is the same one)."""
    if dataset is None:
        existing = Dataset.objects.filter(project=project).values_list("name", flat=True)
        refuse_look_alike(dataset_name, existing=existing, what="dataset", field="dataset")
        return
    runs = dataset.runs.filter(status=RunStatus.READY).exclude(name=run_name)
    names = runs.values_list("name", flat=True)
    refuse_look_alike(run_name, existing=names, what="run", field="run")


def import_job_create(
    *,
    project: Project,
    user,
    dataset_name: str,
    run_name: str,
    upload=None,
    chunked_upload=None,
    server_path: str = "",
    images_dir: str = "",
    replace: bool = False,
    skip_invalid: bool = False,
    allow_any_path: bool = False,
    enqueue: bool = True,
) -> ImportJob:
    """Record an import and hand it to a worker. Refuses at once what can be refused."""
    dataset_name, run_name = _check_names(dataset_name=dataset_name, run_name=run_name)
    if sum(map(bool, (upload, chunked_upload, server_path))) != 1:
        raise ValidationError({"file": "Upload a dump, or give a path on the server (not both)."})
    if chunked_upload is not None and not chunked_upload.is_complete:
        raise ValidationError(
            {
                "upload": f"The upload holds {chunked_upload.received} of its "
                f"{chunked_upload.size} bytes: send the rest first."
            }
        )
    if upload is not None and upload.size > settings.MLSTRAT_IMPORT_MAX_UPLOAD_BYTES:
        raise ValidationError(
            {"file": f"The upload is over {settings.MLSTRAT_IMPORT_MAX_UPLOAD_BYTES} bytes."}
        )
    for field, path in (("server_path", server_path), ("images_dir", images_dir)):
        if path and not allow_any_path and not path_is_allowed(path):
            raise ValidationError(
                {
                    field: f"{path} is not under a folder the server imports from "
                    "(MLSTRAT_IMPORT_ROOTS)."
                }
            )
        if path and not os.path.exists(path):
            raise ValidationError({field: f"No such file or folder on the server: {path}"})
    dataset = Dataset.objects.filter(project=project, name=dataset_name).first()
    _refuse_look_alike_names(
        project=project, dataset=dataset, dataset_name=dataset_name, run_name=run_name
    )
    if not replace and run_name_taken(
        project=project, dataset_name=dataset_name, run_name=run_name
    ):
        raise RunExistsError(
            pipeline.run_exists_message(run_name=run_name, dataset_name=dataset_name)
        )
    with transaction.atomic():
        job = ImportJob(
            project=project,
            dataset=dataset,
            dataset_name=dataset_name,
            run_name=run_name,
            created_by=user,
            server_path=os.path.abspath(server_path) if server_path else "",
            images_dir=os.path.abspath(images_dir) if images_dir else "",
            replace=replace,
            skip_invalid=skip_invalid,
            chunked_upload=chunked_upload,
        )
        if upload is not None:
            job.upload.save(os.path.basename(upload.name) or "dump.zip", upload, save=False)
        job.save()
        if enqueue:
            transaction.on_commit(lambda: _enqueue(job_id=job.pk))
    return job


def run_name_taken(*, project: Project, dataset_name: str, run_name: str) -> bool:
    return ModelRun.objects.filter(
        dataset__project=project,
        dataset__name=dataset_name.strip(),
        name=run_name.strip(),
        status=RunStatus.READY,
    ).exists()


class QueueUnavailable(Exception):
    """The job was saved but could not be queued (the broker is down). It is marked
    failed with this message, never left queued; callers answer 503."""


def _enqueue(*, job_id: int) -> None:
    from .tasks import import_job_run_task

    try:
        import_job_run_task.delay(job_id)
    except Exception as exc:  # the broker is down: say so on the job instead of hiding it
        logger.exception("Could not enqueue import job %s", job_id)
        message = f"The task queue is unavailable ({exc}); try again shortly."
        ImportJob.objects.filter(pk=job_id).update(
            status=JobStatus.FAILED, message=message, finished_at=timezone.now()
        )
        # Runs in on_commit right after the job's transaction: this reaches the caller.
        raise QueueUnavailable(message) from exc


@contextmanager
def _open_job_dump(job: ImportJob):
    if job.upload or job.chunked_upload_id:
        local = (
            uploads.joined(job.chunked_upload)
            if job.chunked_upload_id
            else _local_upload(job.upload.name)
        )
        with local as path:
            if not job.images_dir and not is_zip(path):
                name = job.chunked_upload.file_name if job.chunked_upload_id else job.upload.name
                raise DumpError(not_a_zip_message(name))
            with open_dump(path=path, images_dir=job.images_dir) as dump:
                yield dump
    else:
        with open_dump(path=job.server_path, images_dir=job.images_dir) as dump:
            yield dump


@contextmanager
def _local_upload(name: str):
    """A path on this machine holding the uploaded dump: the stored file itself on local
    storage, else a temporary copy (a zip is read at random, and by several processes)."""
    if storage_is_local():
        yield default_storage.path(name)
        return
    suffix = "-" + os.path.basename(name)
    with (
        default_storage.open(name, "rb") as remote,
        tempfile.NamedTemporaryFile(suffix=suffix) as local,
    ):
        shutil.copyfileobj(remote, local, 1 << 20)
        local.flush()
        yield local.name


def import_job_run(*, job_id: int, listener=None, inline_thumbnails: bool = False) -> ImportJob:
    """Run (or re-run from the start) an import job. Safe to call again after a crash."""
    job = ImportJob.objects.select_related("project", "created_by", "run").get(pk=job_id)
    if job.is_finished:
        return job
    if job.status == JobStatus.THUMBNAILS and job.run and job.run.status == RunStatus.READY:
        return _resume(job=job, inline=inline_thumbnails)
    job = _claim_attempt(job_id=job_id)
    if job is None:
        return ImportJob.objects.get(pk=job_id)
    # Packs written by earlier attempts belong to no committed example (an attempt that
    # committed would have left the job at its thumbnails): remove them.
    for attempt in range(1, job.attempts):
        packs.delete_attempt_files(job_id=job.pk, attempt=attempt)
    with Heartbeat(job=job):
        return _run_attempt(job=job, listener=listener, inline_thumbnails=inline_thumbnails)


def _claim_attempt(*, job_id: int) -> ImportJob | None:
    """Start a new attempt: its number is taken under the job's row lock, so two attempts
    never share one (a newer attempt fences an older one off: pipeline._swap)."""
    with transaction.atomic():
        job = (
            ImportJob.objects.select_for_update(of=("self",))
            .select_related("project", "created_by", "run")
            .get(pk=job_id)
        )
        if job.is_finished or job.status == JobStatus.THUMBNAILS:
            return None
        job.attempts += 1
        job.status = JobStatus.VALIDATING
        job.started_at = timezone.now()
        job.finished_at = None
        job.message = ""
        job.errors = []
        job.error_count = 0
        job.rows_total = job.rows_validated = job.rows_written = job.rows_skipped = 0
        job.thumbnails_total = job.thumbnails_done = job.thumbnails_failed = 0
        job.thumbnail_chunks = []
        job.timings = {}
        if _leases_kept():
            job.heartbeat_at = timezone.now()
            job.worker = f"{platform.node()}:{os.getpid()}"
        job.save()
    return job


def _run_attempt(*, job: ImportJob, listener, inline_thumbnails: bool) -> ImportJob:
    progress = pipeline.Progress(job=job, listener=listener)
    started = time.perf_counter()
    try:
        with _open_job_dump(job) as dump:
            report, run, writer = pipeline.import_dump(job=job, dump=dump, progress=progress)
        job.rows_total = job.rows_validated = report.rows_total
        job.errors, job.error_count = report.errors, report.error_count
        job.rows_skipped = report.rows_total - report.valid_rows
        job.timings.update(
            check_and_write_s=round(time.perf_counter() - started, 3),
            db_s=round(writer.seconds_db, 3),
            **{name: round(value, 3) for name, value in writer.timings.items()},
            **{name: round(value, 3) for name, value in writer.db_parts.items()},
        )
    except pipeline.AttemptSuperseded:
        # Taken for dead while it was only slow: the newer attempt owns the job now.
        logger.warning("Import job %s: attempt %s was superseded", job.pk, job.attempts)
        packs.delete_attempt_files(job_id=job.pk, attempt=job.attempts)
        return ImportJob.objects.get(pk=job.pk)
    except pipeline.ValidationFailed as exc:
        # Kept for "retry skipping the invalid rows" when some rows were valid.
        keep = not job.skip_invalid and exc.report.valid_rows > 0
        return _fail(job, message=str(exc), report=exc.report, keep_upload=keep)
    except (DumpError, pipeline.RunExistsError) as exc:
        return _fail(job, message=str(exc))
    except IntegrityError:
        logger.exception("Import job %s conflicted with concurrent writes", job.pk)
        return _fail(
            job,
            message="Another import wrote the same examples at the same time; "
            "nothing of this one was kept. Run it again.",
        )
    except Exception as exc:
        # Nothing was committed (one transaction); say so instead of leaving it "writing".
        logger.exception("Import job %s failed", job.pk)
        return _fail(
            job, message=f"The import stopped on an unexpected error ({exc}); nothing was imported."
        )
    finally:
        progress.close()
    job.rows_written = report.valid_rows
    job.status = JobStatus.THUMBNAILS
    job.message = _success_message(job)
    _discard_upload(job)
    return _start_thumbnails(job=job, run=run, inline=inline_thumbnails)


# ---------------------------------------------------------------------- leases


RUNNING = [JobStatus.VALIDATING, JobStatus.WRITING, JobStatus.THUMBNAILS]


def _leases_kept() -> bool:
    """Leases need a database other processes can read while an import writes: on
    SQLite (the embedded, single-process mode) no lease is kept and none expires."""
    return connection.vendor == "postgresql"


class Heartbeat:
    """While an attempt runs, a thread writes the job's `heartbeat_at` every
    MLSTRAT_IMPORT_HEARTBEAT_SECONDS through its own connection (the attempt's own
    connection sits in one long transaction while it writes). A worker killed with
    SIGKILL stops beating with it; `import_job_check_lease` notices the silence."""

    def __init__(self, *, job: ImportJob):
        self.job_id = job.pk
        self.attempt = job.attempts
        self._stop = threading.Event()
        self._thread = None

    def __enter__(self):
        if _leases_kept():
            self._thread = threading.Thread(
                target=self._beat, name=f"import-{self.job_id}-heartbeat", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(self, *exc_info):
        if self._thread is not None:
            self._stop.set()
            self._thread.join()

    def _beat(self) -> None:
        from django.db import connection as own  # this thread's connection

        try:
            while not self._stop.wait(settings.MLSTRAT_IMPORT_HEARTBEAT_SECONDS):
                try:
                    with checkers.FORK_LOCK:  # never mid-query while the row checkers fork
                        ImportJob.objects.filter(
                            pk=self.job_id, attempts=self.attempt, status__in=RUNNING
                        ).update(heartbeat_at=timezone.now())
                except Exception:  # a database gone for a moment: beat again later
                    logger.warning("Import job %s: heartbeat failed", self.job_id, exc_info=True)
                    own.close()
        finally:
            own.close()


def import_job_check_lease(*, job_id: int) -> bool:
    """If the job's running attempt has been silent past MLSTRAT_IMPORT_LEASE_SECONDS, its
    worker is dead (killed, out of memory, machine lost): remove the files it wrote and
    queue the job again, or fail it honestly after MLSTRAT_IMPORT_MAX_ATTEMPTS; at the
    thumbnails, send its missing chunks again. True when it did something.

    Run by Celery beat every 30 s (`imports.check_leases`) and by every read of an
    unfinished job (its page, the API), so a dead attempt is noticed within minutes even
    where beat does not run."""
    expired = timezone.now() - timedelta(seconds=settings.MLSTRAT_IMPORT_LEASE_SECONDS)
    with transaction.atomic():
        job = (
            ImportJob.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("run")
            .filter(pk=job_id, status__in=RUNNING, heartbeat_at__lt=expired)
            .first()
        )
        if job is None:
            return False
        if job.status == JobStatus.THUMBNAILS:
            job.heartbeat_at = timezone.now()
            job.save(update_fields=["heartbeat_at"])
            transaction.on_commit(lambda: _resend_thumbnails(job_id=job_id))
            return True
        lost = job.attempts
        job.lost_attempts += 1
        job.heartbeat_at = timezone.now()
        silent = int(settings.MLSTRAT_IMPORT_LEASE_SECONDS)
        if job.attempts >= settings.MLSTRAT_IMPORT_MAX_ATTEMPTS:
            job.status = JobStatus.FAILED
            job.finished_at = timezone.now()
            job.message = (
                f"The worker running attempt {lost} stopped answering (no heartbeat for "
                f"{silent} s), and {lost} attempts is the most tried: nothing was imported. "
                "Start the import again."
            )
            _discard_upload(job)
        else:
            job.status = JobStatus.QUEUED
            job.message = (
                f"The worker running attempt {lost} stopped answering (no heartbeat for "
                f"{silent} s): its files were removed and the import was queued again."
            )
            transaction.on_commit(lambda: _enqueue(job_id=job_id))
        job.save()
    packs.delete_attempt_files(job_id=job_id, attempt=lost)
    logger.warning("Import job %s: attempt %s lost with its worker", job_id, lost)
    return True


def import_jobs_check_leases() -> int:
    """The lease check of every running job whose heartbeat is overdue."""
    expired = timezone.now() - timedelta(seconds=settings.MLSTRAT_IMPORT_LEASE_SECONDS)
    overdue = ImportJob.objects.filter(status__in=RUNNING, heartbeat_at__lt=expired)
    return sum(import_job_check_lease(job_id=pk) for pk in overdue.values_list("pk", flat=True))


def _resend_thumbnails(*, job_id: int) -> None:
    job = ImportJob.objects.select_related("run").get(pk=job_id)
    if job.status == JobStatus.THUMBNAILS and job.run is not None:
        _start_thumbnails(job=job, run=job.run, inline=False)


def _success_message(job: ImportJob) -> str:
    message = f"Imported {job.rows_written} rows as run “{job.run_name}”."
    if job.rows_skipped:
        message += f" Skipped {job.rows_skipped} invalid row(s), listed below."
    return message


def _fail(job: ImportJob, *, message: str, report=None, keep_upload: bool = False) -> ImportJob:
    packs.delete_attempt_files(job_id=job.pk, attempt=job.attempts)
    job.status = JobStatus.FAILED
    job.message = message
    if report is not None:
        job.errors, job.error_count = report.errors, report.error_count
        job.rows_total = job.rows_validated = report.rows_total
    job.rows_written = 0
    job.finished_at = timezone.now()
    if not keep_upload:
        _discard_upload(job)
    job.save()
    return job


def import_job_retry_skipping_invalid(*, job: ImportJob) -> ImportJob:
    """Run a job that failed on invalid rows again, importing the valid ones, from the
    dump it kept: nothing is uploaded again. Refused (ValidationError) otherwise."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job.pk)
        if not job.can_retry_skipping_invalid:
            raise ValidationError(
                {"job": "Only an import that failed on invalid rows, and kept its dump, retries."}
            )
        job.skip_invalid = True
        job.status = JobStatus.QUEUED
        job.message = ""
        job.finished_at = None
        job.save(update_fields=["skip_invalid", "status", "message", "finished_at"])
        transaction.on_commit(lambda: _enqueue(job_id=job.pk))
    return job


def kept_dump_expires_at(job: ImportJob):
    """When the dump a failed job kept for a retry is removed (None: nothing kept)."""
    if not (job.can_retry_skipping_invalid and (job.upload or job.chunked_upload_id)):
        return None
    return job.finished_at + timedelta(days=settings.MLSTRAT_IMPORT_KEEP_FAILED_DAYS)


def import_jobs_discard_kept_dumps() -> int:
    """Remove the dumps failed jobs kept for "import the valid rows only" once
    MLSTRAT_IMPORT_KEEP_FAILED_DAYS have passed (run by beat); the job stays, with its
    report, and can no longer be retried without a new upload."""
    cutoff = timezone.now() - timedelta(days=settings.MLSTRAT_IMPORT_KEEP_FAILED_DAYS)
    kept = ImportJob.objects.filter(status=JobStatus.FAILED, finished_at__lt=cutoff).filter(
        Q(chunked_upload__isnull=False) | ~Q(upload="")
    )
    count = 0
    for job in kept:
        with transaction.atomic():
            locked = ImportJob.objects.select_for_update().get(pk=job.pk)
            if locked.status != JobStatus.FAILED:
                continue  # a retry took it meanwhile
            _discard_upload(locked)
            locked.save(update_fields=["upload", "chunked_upload"])
        count += 1
    return count


def _discard_upload(job: ImportJob) -> None:
    """The uploaded dump is not needed once its job is over (the data is in the database)."""
    if job.upload:
        default_storage.delete(job.upload.name)
        job.upload = ""
    if job.chunked_upload_id:
        upload = job.chunked_upload
        job.chunked_upload = None
        ImportJob.objects.filter(pk=job.pk).update(chunked_upload=None)
        uploads.import_upload_delete(upload=upload)


def _start_thumbnails(*, job: ImportJob, run: ModelRun, inline: bool) -> ImportJob:
    """Hand the run's thumbnails to workers in chunks of THUMBNAIL_CHUNK examples.

    Chunks cut the run's examples in pk order, so they are the same when a job is
    resumed; chunks already counted are not sent again."""
    from .tasks import thumbnails_make_task

    examples = Example.objects.filter(predictions__run=run)
    if not examples.filter(_THUMBNAIL_PASS_DUE).exists():
        job.status = JobStatus.SUCCEEDED
        job.finished_at = timezone.now()
        job.save()
        return job
    job.thumbnails_total = examples.count()
    job.status = JobStatus.THUMBNAILS
    if _leases_kept():
        # Chunks beat for the job from here (thumbnails_make); a lease that expires
        # means its chunks were lost with a worker, and they are sent again.
        job.heartbeat_at = timezone.now()
    job.save()
    counted = set(job.thumbnail_chunks)
    chunk = []
    ids = examples.order_by("pk").values_list("pk", flat=True)
    for pk in ids.iterator(chunk_size=THUMBNAIL_CHUNK * 4):
        chunk.append(pk)
        if len(chunk) == THUMBNAIL_CHUNK:
            _send_chunk(
                job=job, ids=chunk, counted=counted, inline=inline, task=thumbnails_make_task
            )
            chunk = []
    if chunk:
        _send_chunk(job=job, ids=chunk, counted=counted, inline=inline, task=thumbnails_make_task)
    job.refresh_from_db()
    return job


def _send_chunk(*, job, ids, counted, inline, task) -> None:
    if ids[0] in counted:
        return
    if inline:
        thumbnails_make(job_id=job.pk, example_ids=ids)
    else:
        task.delay(job.pk, ids)


def _resume(*, job: ImportJob, inline: bool) -> ImportJob:
    """The run was already swapped in: only the thumbnails may be missing."""
    _discard_upload(job)
    return _start_thumbnails(job=job, run=job.run, inline=inline)


def thumbnail_for(data, seen=None) -> bytes | None:
    """The thumbnail of an image given as bytes or a binary file (see `thumbnail_of`).
    `seen(image, original_size)`, when given, is handed the decoded image (the
    data-mismatch characteristics are measured on it)."""
    Image.MAX_IMAGE_PIXELS = settings.MLSTRAT_IMAGE_MAX_PIXELS
    if isinstance(data, bytes | bytearray):
        data = io.BytesIO(data)
    with open_image(data) as image:
        return thumbnail_of(image, seen=seen)


def thumbnail_of(image: Image.Image, seen=None) -> bytes | None:
    """The thumbnail pass over one opened image: a PNG at most THUMBNAIL_SIDE pixels on its
    longer side, or None when the image is already its own thumbnail (that small, in a
    format every browser shows): no second copy is stored. Anything to learn from every
    imported image belongs here, one call per image: `seen(image, original_size)` gets the
    decoded image (mismatch's characteristics recorder)."""
    original_size = image.size
    if is_own_thumbnail(image.format, image.size):
        if seen is not None:
            image.load()
            seen(image, original_size)
        return None
    image.draft("RGB", (THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    if seen is not None:
        seen(image, original_size)
    if image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def thumbnail_pack_name(*, job_id: int, first_pk: int) -> str:
    """Where a chunk's thumbnails are packed: under its job's packs, named after the
    chunk's first example and a token of its own, so a chunk run again (or twice at once,
    a task delivered again) never writes over a pack another run recorded."""
    return f"{packs.job_prefix(job_id=job_id)}/thumbnails/{first_pk}-{secrets.token_hex(4)}.pack"


def thumbnails_make(*, job_id: int, example_ids: list[int]) -> int:
    """Make the missing thumbnails of these examples; idempotent. Returns how many it
    recorded (images that are their own thumbnail included). The chunk's new thumbnails
    are stored one after the other in one pack (packs.py), each example recording its
    byte range, as its image does: one object written per chunk, not one file per
    thumbnail."""
    started = time.perf_counter()
    if _leases_kept():
        ImportJob.objects.filter(pk=job_id, status=JobStatus.THUMBNAILS).update(
            heartbeat_at=timezone.now()
        )
    as_is, made = [], {}
    recorded_already = set()
    unreadable = 0
    examples = (
        Example.objects.filter(_THUMBNAIL_PASS_DUE, pk__in=example_ids)
        .order_by("pk")
        .values_list("pk", "image", "image_offset", "image_size", "thumbnail")
    )
    measured = CharacteristicsRecorder()
    # The examples of one image (a multi-task dump: one per task, their pks in a row)
    # share its thumbnail: made once, recorded for each.
    first_of: dict[tuple, int] = {}
    shared: dict[int, list[int]] = {}
    writer = None  # opened with the chunk's first thumbnail that is not its image
    try:
        with StoredReader() as stored:
            for pk, image, offset, size, thumbnail in examples:
                if thumbnail:
                    # Its thumbnail is recorded already (its own image, by the import): it
                    # is here to be measured.
                    recorded_already.add(pk)
                if offset is not None:
                    first = first_of.setdefault((image, offset, size), pk)
                    if first != pk:
                        shared.setdefault(first, []).append(pk)
                        measured.same_as(pk, first)
                        continue
                try:
                    data = thumbnail_for(stored.read(image, offset, size), seen=measured.seen(pk))
                except Exception:
                    # Checked at import; a file lost or damaged since keeps the full image as
                    # the fallback, and the job counts it as failed, not done.
                    logger.warning("No thumbnail for example %s", pk, exc_info=True)
                    unreadable += 1
                    continue
                if data is None:
                    as_is.append(pk)
                    continue
                if writer is None:
                    name = thumbnail_pack_name(job_id=job_id, first_pk=example_ids[0])
                    writer = packs.PackWriter(name)
                made[pk] = writer.add(data)
        pack = writer.close() if writer else None
    except BaseException:
        if writer:
            writer.discard()
        raise
    made_as_is = set(as_is)
    for first, others in shared.items():
        if first in made_as_is:
            as_is.extend(others)
        elif first in made:
            made.update(dict.fromkeys(others, made[first]))
        else:
            unreadable += len(others)
    # Recording the thumbnails and counting the chunk is one transaction, and a chunk is
    # counted once (by its first example): a chunk killed and run again, or examples
    # another job's chunk made meanwhile, never skew the count.
    with transaction.atomic():
        Example.objects.filter(
            pk__in=[pk for pk in as_is if pk not in recorded_already], thumbnail=""
        ).update(
            thumbnail=F("image"), thumbnail_offset=F("image_offset"), thumbnail_size=F("image_size")
        )
        recorded = _thumbnails_record(pack, made) if pack else 0
        if pack and not recorded:
            # Another run of the chunk recorded every one of them first: this pack is
            # nobody's (removed once this transaction is over, whatever its outcome).
            transaction.on_commit(lambda: default_storage.delete(pack))
        measured.save()
        _count_thumbnails(
            job_id=job_id,
            chunk=example_ids[0],
            done=len(example_ids) - unreadable,
            failed=unreadable,
            seconds=time.perf_counter() - started,
        )
    if unreadable:
        logger.warning("%s images of job %s had no thumbnail made", unreadable, job_id)
    return len(as_is) + len(made)


def _thumbnails_record(pack: str, made: dict[int, tuple[int, int]]) -> int:
    """Point the examples still without a thumbnail at their range of `pack`: one UPDATE
    on PostgreSQL (the ranges as arrays), one per example elsewhere. How many it
    recorded."""
    missing = Example.objects.filter(thumbnail="")
    if connection.vendor != "postgresql":
        return sum(
            missing.filter(pk=pk).update(
                thumbnail=pack, thumbnail_offset=offset, thumbnail_size=size
            )
            for pk, (offset, size) in made.items()
        )
    table = Example._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE "{table}" e SET "thumbnail" = %s, "thumbnail_offset" = v."offset", '
            '"thumbnail_size" = v."size" '
            'FROM unnest(%s::bigint[], %s::bigint[], %s::integer[]) AS v("pk", "offset", "size") '
            """WHERE e."id" = v."pk" AND e."thumbnail" = ''""",
            [
                pack,
                array_literal(list(made)),
                array_literal([offset for offset, _ in made.values()]),
                array_literal([size for _, size in made.values()]),
            ],
        )
        return cursor.rowcount


def _count_thumbnails(*, job_id: int, chunk: int, done: int, failed: int, seconds: float) -> None:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if job.status != JobStatus.THUMBNAILS or chunk in job.thumbnail_chunks:
            return
        job.thumbnail_chunks.append(chunk)
        job.thumbnails_done = min(job.thumbnails_total, job.thumbnails_done + done)
        job.thumbnails_failed = min(job.thumbnails_total, job.thumbnails_failed + failed)
        job.timings["thumbnails_s"] = round(job.timings.get("thumbnails_s", 0) + seconds, 3)
        job.heartbeat_at = timezone.now()
        if job.thumbnails_done + job.thumbnails_failed >= job.thumbnails_total:
            job.status = JobStatus.SUCCEEDED
            job.finished_at = timezone.now()
            if job.thumbnails_failed:
                job.message = (
                    f"{job.message} {job.thumbnails_failed} thumbnail(s) could not be made: "
                    "those examples show their full image."
                ).strip()
        job.save(
            update_fields=[
                "thumbnails_done",
                "thumbnails_failed",
                "thumbnail_chunks",
                "timings",
                "status",
                "finished_at",
                "message",
                "heartbeat_at",
            ]
        )
