"""Import jobs: create one (from an upload, the API, a server folder) and run it.

`import_job_create` answers at once; a worker calls `import_job_run`, which validates the
whole dump, writes it all or nothing (pipeline.py) and hands thumbnails to workers in
chunks (`thumbnails_make`).
"""

import io
import logging
import os
import time
from contextlib import contextmanager

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import CharField, F, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone
from PIL import Image

from mlstrat.accounts.models import Project
from mlstrat.datasets.images import open_image
from mlstrat.datasets.models import Dataset, Example, ModelRun, RunStatus
from mlstrat.mismatch.services import CharacteristicsRecorder

from . import pipeline
from .dumps import DumpError, open_dump
from .models import ImportJob, JobStatus

logger = logging.getLogger(__name__)

THUMBNAIL_SIDE = 256
THUMBNAIL_CHUNK = 500
# Formats every browser shows: an image this small in one of them is its own thumbnail.
SHOWN_AS_IS = {"PNG", "JPEG", "GIF", "WEBP"}


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
    dataset_name = (dataset_name or "").strip()
    run_name = (run_name or "").strip()
    errors = {}
    if not dataset_name:
        errors["dataset"] = "Choose a dataset or type the name of a new one."
    elif len(dataset_name) > 200:
        errors["dataset"] = "A dataset name has at most 200 characters."
    if not run_name:
        errors["run"] = "Name the run (e.g. the model version)."
    elif len(run_name) > 200:
        errors["run"] = "A run name has at most 200 characters."
    if errors:
        raise ValidationError(errors)
    return dataset_name, run_name


def import_job_create(
    *,
    project: Project,
    user,
    dataset_name: str,
    run_name: str,
    upload=None,
    server_path: str = "",
    images_dir: str = "",
    replace: bool = False,
    skip_invalid: bool = False,
    allow_any_path: bool = False,
    enqueue: bool = True,
) -> ImportJob:
    """Record an import and hand it to a worker. Refuses at once what can be refused."""
    dataset_name, run_name = _check_names(dataset_name=dataset_name, run_name=run_name)
    if bool(upload) == bool(server_path):
        raise ValidationError({"file": "Upload a dump, or give a path on the server (not both)."})
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
    if (
        dataset
        and not replace
        and ModelRun.objects.filter(dataset=dataset, name=run_name, status=RunStatus.READY).exists()
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
        )
        if upload is not None:
            job.upload.save(os.path.basename(upload.name) or "dump.zip", upload, save=False)
        job.save()
        if enqueue:
            transaction.on_commit(lambda: _enqueue(job_id=job.pk))
    return job


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
    if job.upload:
        with default_storage.open(job.upload.name, "rb") as handle:
            with open_dump(
                fileobj=handle, images_dir=job.images_dir, file_name=job.upload.name
            ) as dump:
                yield dump
    else:
        with open_dump(path=job.server_path, images_dir=job.images_dir) as dump:
            yield dump


def import_job_run(*, job_id: int, listener=None, inline_thumbnails: bool = False) -> ImportJob:
    """Run (or re-run from the start) an import job. Safe to call again after a crash."""
    job = ImportJob.objects.select_related("project", "created_by", "run").get(pk=job_id)
    if job.is_finished:
        return job
    if job.status == JobStatus.THUMBNAILS and job.run and job.run.status == RunStatus.READY:
        return _resume(job=job, inline=inline_thumbnails)
    job.attempts += 1
    job.status = JobStatus.VALIDATING
    job.started_at = timezone.now()
    job.finished_at = None
    job.message = ""
    job.errors = []
    job.error_count = 0
    job.rows_total = job.rows_validated = job.rows_written = job.rows_skipped = 0
    job.thumbnails_total = job.thumbnails_done = 0
    job.thumbnail_chunks = []
    job.timings = {}
    job.save()
    progress = pipeline.Progress(job=job, listener=listener)
    started = time.perf_counter()
    try:
        with _open_job_dump(job) as dump:
            dataset = Dataset.objects.filter(project=job.project, name=job.dataset_name).first()
            report = pipeline.validate(dump=dump, dataset=dataset, progress=progress)
            job.timings["validate_s"] = round(time.perf_counter() - started, 3)
            job.rows_total = job.rows_validated = report.rows_total
            job.errors, job.error_count = report.errors, report.error_count
            if report.error_count and not job.skip_invalid:
                raise pipeline.ValidationFailed(report, _failed_message(report))
            if report.valid_rows == 0:
                raise pipeline.ValidationFailed(report, "No valid rows to import.")
            job.rows_skipped = report.rows_total - report.valid_rows
            job.status = JobStatus.WRITING
            job.save(update_fields=["status", "rows_total", "rows_validated", "rows_skipped"])
            write_started = time.perf_counter()
            run, writer = pipeline.write(job=job, dump=dump, report=report, progress=progress)
            job.timings.update(
                write_s=round(time.perf_counter() - write_started, 3),
                images_s=round(writer.seconds_images, 3),
                db_s=round(writer.seconds_db, 3),
                **{name: round(value, 3) for name, value in writer.db_parts.items()},
            )
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


def _failed_message(report) -> str:
    # Each door names its own way to skip them: the page's retry button or checkbox,
    # the CLI's --skip-invalid, the API's skip_invalid.
    return (
        f"Nothing was imported: {report.error_count} problem(s) in "
        f"{len(report.bad_lines)} row(s). Fix them, or import the valid rows only "
        "(skip invalid rows)."
    )


def _success_message(job: ImportJob) -> str:
    message = f"Imported {job.rows_written} rows as run “{job.run_name}”."
    if job.rows_skipped:
        message += f" Skipped {job.rows_skipped} invalid row(s), listed below."
    return message


def _fail(job: ImportJob, *, message: str, report=None, keep_upload: bool = False) -> ImportJob:
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


def _discard_upload(job: ImportJob) -> None:
    """The uploaded dump is not needed once its job is over (the data is in the database)."""
    if job.upload:
        default_storage.delete(job.upload.name)
        job.upload = ""


def _start_thumbnails(*, job: ImportJob, run: ModelRun, inline: bool) -> ImportJob:
    """Hand the run's thumbnails to workers in chunks of THUMBNAIL_CHUNK examples.

    Chunks cut the run's examples in pk order, so they are the same when a job is
    resumed; chunks already counted are not sent again."""
    from .tasks import thumbnails_make_task

    examples = Example.objects.filter(predictions__run=run)
    if not examples.filter(thumbnail="").exists():
        job.status = JobStatus.SUCCEEDED
        job.finished_at = timezone.now()
        job.save()
        return job
    job.thumbnails_total = examples.count()
    job.status = JobStatus.THUMBNAILS
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
    """A PNG at most THUMBNAIL_SIDE pixels on its longer side, or None when the image is
    already its own thumbnail (that small, in a format every browser shows): no second
    copy is stored. `seen(image, original_size)`, when given, is handed the decoded image
    (the data-mismatch characteristics are measured on it)."""
    Image.MAX_IMAGE_PIXELS = settings.MLSTRAT_IMAGE_MAX_PIXELS
    with open_image(data) as image:
        original_size = image.size
        if max(image.size) <= THUMBNAIL_SIDE and image.format in SHOWN_AS_IS:
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


def thumbnail_name(*, dataset_id: int, example_pk: int) -> str:
    return f"datasets/{dataset_id}/thumbnails/{example_pk}.png"


def _thumbnail_name_sql():
    """thumbnail_name() in SQL, so a chunk's thumbnails are recorded by one UPDATE."""
    return Concat(
        Value("datasets/"),
        Cast("dataset_id", CharField()),
        Value("/thumbnails/"),
        Cast("id", CharField()),
        Value(".png"),
        output_field=CharField(),
    )


def _thumbnail_save(*, dataset_id: int, example_pk: int, data: bytes) -> tuple[str, bool]:
    """Store a thumbnail under its own name; a file left by a killed attempt (never
    recorded) is replaced. Returns the stored name and whether it is the usual one."""
    name = thumbnail_name(dataset_id=dataset_id, example_pk=example_pk)
    default_storage.delete(name)
    saved = default_storage.save(name, ContentFile(data))
    return saved, saved == name


def thumbnails_make(*, job_id: int, example_ids: list[int]) -> int:
    """Make the missing thumbnails of these examples; idempotent. Returns how many it
    recorded (images that are their own thumbnail included)."""
    started = time.perf_counter()
    as_is, named, renamed = [], [], {}
    unreadable = 0
    examples = Example.objects.filter(pk__in=example_ids, thumbnail="").values_list(
        "pk", "dataset_id", "image"
    )
    measured = CharacteristicsRecorder()
    for pk, dataset_id, image in examples:
        try:
            with default_storage.open(image, "rb") as handle:
                data = thumbnail_for(handle, seen=measured.seen(pk))
            if data is None:
                as_is.append(pk)
                continue
            saved, usual = _thumbnail_save(dataset_id=dataset_id, example_pk=pk, data=data)
        except Exception:
            # Validated at import; a file lost since then keeps the full image as fallback.
            logger.warning("No thumbnail for example %s", pk, exc_info=True)
            unreadable += 1
            continue
        if usual:
            named.append(pk)
        else:
            renamed[pk] = saved
    # Recording the thumbnails and counting the chunk is one transaction, and a chunk is
    # counted once (by its first example): a chunk killed and run again, or examples
    # another job's chunk made meanwhile, never skew the count.
    with transaction.atomic():
        missing = Example.objects.filter(thumbnail="")
        missing.filter(pk__in=as_is).update(thumbnail=F("image"))
        missing.filter(pk__in=named).update(thumbnail=_thumbnail_name_sql())
        for pk, saved in renamed.items():
            missing.filter(pk=pk).update(thumbnail=saved)
        measured.save()
        _count_thumbnails(
            job_id=job_id,
            chunk=example_ids[0],
            done=len(example_ids),
            seconds=time.perf_counter() - started,
        )
    if unreadable:
        logger.warning("%s images of job %s had no thumbnail made", unreadable, job_id)
    return len(as_is) + len(named) + len(renamed)


def _count_thumbnails(*, job_id: int, chunk: int, done: int, seconds: float) -> None:
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().get(pk=job_id)
        if job.status != JobStatus.THUMBNAILS or chunk in job.thumbnail_chunks:
            return
        job.thumbnail_chunks.append(chunk)
        job.thumbnails_done = min(job.thumbnails_total, job.thumbnails_done + done)
        job.timings["thumbnails_s"] = round(job.timings.get("thumbnails_s", 0) + seconds, 3)
        if job.thumbnails_done >= job.thumbnails_total:
            job.status = JobStatus.SUCCEEDED
            job.finished_at = timezone.now()
        job.save(
            update_fields=[
                "thumbnails_done",
                "thumbnail_chunks",
                "timings",
                "status",
                "finished_at",
            ]
        )
