import uuid

from django.conf import settings
from django.db import models

from mlstrat.accounts.models import Project
from mlstrat.datasets.models import Dataset, ModelRun


class JobStatus(models.TextChoices):
    QUEUED = "queued", "queued"
    VALIDATING = "validating", "validating"
    WRITING = "writing", "writing"
    THUMBNAILS = "thumbnails", "making thumbnails"
    SUCCEEDED = "succeeded", "succeeded"
    FAILED = "failed", "failed"


FINISHED = {JobStatus.SUCCEEDED, JobStatus.FAILED}


def upload_to(job, filename):
    return f"imports/{job.project_id}/{filename}"


class ImportUpload(models.Model):
    """A dump sent in chunks (`mlstrat.client`, `mlstrat push`): each chunk is stored as it
    arrives, so a dropped connection resumes from `received` instead of starting over.
    An import job is then started from the complete upload (uploads.py)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_uploads")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    file_name = models.CharField(max_length=200)
    size = models.BigIntegerField()
    received = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"upload {self.file_name} ({self.received}/{self.size})"

    @property
    def is_complete(self) -> bool:
        return self.received == self.size


class ImportJob(models.Model):
    """One import of a prediction dump, run by a worker; its state is what the UI shows."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_jobs")
    dataset = models.ForeignKey(
        Dataset, null=True, blank=True, on_delete=models.SET_NULL, related_name="import_jobs"
    )
    dataset_name = models.CharField(max_length=200)
    run_name = models.CharField(max_length=200)
    run = models.ForeignKey(
        ModelRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="import_jobs"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    upload = models.FileField(max_length=500, upload_to=upload_to, blank=True)
    # Or a dump sent in chunks (its chunks are joined by the worker).
    chunked_upload = models.ForeignKey(
        ImportUpload, null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    server_path = models.CharField(max_length=1000, blank=True)
    # A folder on the server holding the images when the dump is a table alone.
    images_dir = models.CharField(max_length=1000, blank=True)
    replace = models.BooleanField(default=False)
    skip_invalid = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED)
    message = models.TextField(blank=True)
    rows_total = models.PositiveIntegerField(default=0)
    rows_validated = models.PositiveIntegerField(default=0)
    rows_written = models.PositiveIntegerField(default=0)
    rows_skipped = models.PositiveIntegerField(default=0)
    thumbnails_total = models.PositiveIntegerField(default=0)
    thumbnails_done = models.PositiveIntegerField(default=0)
    # Thumbnails that could not be made (the image went missing or no longer decodes):
    # those examples show their full image; never counted as done.
    thumbnails_failed = models.PositiveIntegerField(default=0)
    # Thumbnail chunks already counted (by their first example's id), so a retried
    # chunk task is never counted twice.
    thumbnail_chunks = models.JSONField(default=list, blank=True)
    # The first 100 row-level errors: [{"line": 12, "column": "split", "message": "..."}].
    errors = models.JSONField(default=list, blank=True)
    error_count = models.PositiveIntegerField(default=0)
    timings = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    # The lease of the running attempt: its worker writes `heartbeat_at` every few
    # seconds; an attempt silent for MLSTRAT_IMPORT_LEASE_SECONDS is taken for dead
    # (services.import_job_check_lease). Null: no attempt holds a lease.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=200, blank=True)
    # Attempts whose worker died under them (noticed by the lease check).
    lost_attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "created_at"], name="import_job_project_idx")]

    def __str__(self):
        return f"import {self.run_name} into {self.dataset_name} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in FINISHED

    @property
    def can_retry_skipping_invalid(self) -> bool:
        """Failed on invalid rows with its dump still at hand (the upload is kept for
        that, or the server path): it can import the valid rows without a new upload."""
        return (
            self.status == JobStatus.FAILED
            and not self.skip_invalid
            and self.error_count > 0
            and self.rows_total > 0
            and bool(self.upload or self.chunked_upload_id or self.server_path)
        )
