"""Storing a dump's images in packs.

An import stores the images of its new examples in *packs* (mlstrat/datasets/images.py):
each batch of rows becomes one stored object holding the batch's accepted images one after
the other, and each example records its pack, offset and size. A million-image dump is
then a few hundred objects, written sequentially, instead of a million files; an image is
served by its byte range.

Images are checked (decoded, bounded: validation.image_check) and packed in the same
read, with their rows (rowchecks.py), in forked child processes when the dump is large
enough (checkers.py). Packs are named after the job and its attempt
(`packs/job<id>/a<attempt>/<n>.pack`): everything an attempt wrote is found, and removed,
by that prefix (a failed job, a dead worker's attempt).
"""

import os
import tempfile

from django.core.files import File
from django.core.files.storage import default_storage

from mlstrat.datasets.images import storage_is_local


def job_prefix(*, job_id: int) -> str:
    return f"packs/job{job_id}"


def attempt_prefix(*, job_id: int, attempt: int) -> str:
    return f"{job_prefix(job_id=job_id)}/a{attempt}"


def pack_name(*, job_id: int, attempt: int, number: int) -> str:
    return f"{attempt_prefix(job_id=job_id, attempt=attempt)}/{number:06d}.pack"


def delete_attempt_files(*, job_id: int, attempt: int) -> int:
    """Remove every pack an attempt wrote (finished or half-written); returns how many."""
    prefix = attempt_prefix(job_id=job_id, attempt=attempt)
    try:
        _, files = default_storage.listdir(prefix)
    except FileNotFoundError:
        return 0
    for name in files:
        default_storage.delete(f"{prefix}/{name}")
    if storage_is_local():
        for folder in (prefix, os.path.dirname(prefix)):
            try:
                os.rmdir(default_storage.path(folder))
            except OSError:
                pass
    return len(files)


class PackWriter:
    """Appends images to one pack. On local storage the pack is written in place (under
    a temporary name until closed); elsewhere in a local temporary file, saved at close."""

    def __init__(self, name: str):
        self.name = name
        self.size = 0
        if storage_is_local():
            self._final = default_storage.path(name)
            os.makedirs(os.path.dirname(self._final), exist_ok=True)
            self._path = self._final + ".part"
            self._handle = open(self._path, "wb")
        else:
            self._final = None
            self._handle = tempfile.NamedTemporaryFile(suffix=".pack")

    def add(self, data: bytes) -> tuple[int, int]:
        offset = self.size
        self._handle.write(data)
        self.size += len(data)
        return offset, len(data)

    def close(self) -> str | None:
        """Store the pack; its stored name, or None when nothing was added."""
        if self._final is not None:
            self._handle.close()
            if not self.size:
                os.remove(self._path)
                return None
            os.replace(self._path, self._final)
            return self.name
        try:
            if not self.size:
                return None
            self._handle.seek(0)
            return default_storage.save(self.name, File(self._handle))
        finally:
            self._handle.close()

    def discard(self) -> None:
        """Drop what was written so far (the pack is not stored)."""
        self._handle.close()
        if self._final is not None:
            try:
                os.remove(self._path)
            except FileNotFoundError:
                pass
