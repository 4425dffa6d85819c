"""Dumps sent in chunks, resumable on a dropped connection (the writes of ImportUpload).

The client creates an upload (its size and name), then sends the bytes in order, each
chunk with the offset it starts at (`Upload-Offset`); a chunk is stored as one object
before the upload's `received` moves past it, in one transaction. A client whose
connection dropped asks for `received` and goes on from there; a chunk sent twice is
refused (409 with the offset the server holds), never stored twice. The worker joins the
chunks into one local file when the job runs; everything is removed with the job's upload.
"""

import os
import shutil
import tempfile
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from mlstrat.accounts.models import Project
from mlstrat.datasets.images import storage_is_local

from .models import ImportUpload

# The largest chunk accepted in one request (the client sends 8 MiB).
CHUNK_MAX_BYTES = 16 * 1024 * 1024
# An upload no import was started from is removed after this long.
ABANDONED_AFTER = timedelta(days=1)


class OffsetMismatch(Exception):
    """The chunk does not start where the upload stands (a chunk resent, or one missed)."""

    def __init__(self, received: int):
        super().__init__(f"The upload holds {received} bytes: send the chunk at that offset.")
        self.received = received


class ChunkTooLarge(Exception):
    pass


def _folder(upload: ImportUpload) -> str:
    return f"imports/{upload.project_id}/uploads/{upload.pk}"


def _chunk_name(upload: ImportUpload, offset: int) -> str:
    return f"{_folder(upload)}/{offset:015d}.part"


def import_upload_create(*, project: Project, user, file_name: str, size: int) -> ImportUpload:
    file_name = os.path.basename((file_name or "").replace("\\", "/")).strip()[:200]
    errors = {}
    if not file_name:
        errors["file_name"] = "Name the file (e.g. dump.zip)."
    if size <= 0:
        errors["size"] = "An upload holds at least one byte."
    elif size > settings.MLSTRAT_IMPORT_MAX_UPLOAD_BYTES:
        errors["size"] = f"The upload is over {settings.MLSTRAT_IMPORT_MAX_UPLOAD_BYTES} bytes."
    if errors:
        raise ValidationError(errors)
    return ImportUpload.objects.create(
        project=project, created_by=user, file_name=file_name, size=size
    )


def import_upload_append(*, upload_id, offset: int, stream, length: int | None) -> ImportUpload:
    """Store the chunk of `length` bytes read from `stream` at `offset`; returns the
    upload with its new `received`."""
    if length is None or length <= 0:
        raise ValidationError({"detail": "Send the chunk with its Content-Length."})
    if length > CHUNK_MAX_BYTES:
        raise ChunkTooLarge(f"A chunk holds at most {CHUNK_MAX_BYTES} bytes.")
    with transaction.atomic():
        upload = ImportUpload.objects.select_for_update().get(pk=upload_id)
        if offset != upload.received:
            raise OffsetMismatch(upload.received)
        if offset + length > upload.size:
            raise ValidationError(
                {"detail": f"The chunk ends past the upload's size ({upload.size} bytes)."}
            )
        data = stream.read(length)
        if len(data) != length:
            raise ValidationError({"detail": "The chunk was cut short; send it again."})
        name = _chunk_name(upload, offset)
        default_storage.delete(name)  # a chunk stored by a request that did not commit
        default_storage.save(name, ContentFile(data))
        upload.received += length
        upload.save(update_fields=["received", "updated_at"])
    return upload


def import_upload_delete(*, upload: ImportUpload) -> None:
    try:
        _, files = default_storage.listdir(_folder(upload))
    except FileNotFoundError:
        files = []
    for name in files:
        default_storage.delete(f"{_folder(upload)}/{name}")
    if storage_is_local():
        try:
            os.rmdir(default_storage.path(_folder(upload)))
        except OSError:
            pass
    upload.delete()


def import_uploads_expire() -> int:
    """Remove uploads left without an import for ABANDONED_AFTER (run by beat)."""
    old = ImportUpload.objects.filter(
        updated_at__lt=timezone.now() - ABANDONED_AFTER, jobs__isnull=True
    )
    count = 0
    for upload in old:
        import_upload_delete(upload=upload)
        count += 1
    return count


@contextmanager
def joined(upload: ImportUpload):
    """A local file holding the whole upload, its chunks joined in order."""
    suffix = "-" + upload.file_name
    with tempfile.NamedTemporaryFile(suffix=suffix) as local:
        offset = 0
        while offset < upload.size:
            with default_storage.open(_chunk_name(upload, offset), "rb") as chunk:
                shutil.copyfileobj(chunk, local, 1 << 20)
            offset = local.tell()
        local.flush()
        yield local.name
