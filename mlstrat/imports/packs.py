"""Checking a dump's images and storing them in packs, spread over processes.

An import stores the images of its new examples in *packs* (mlstrat/datasets/images.py):
each batch of rows becomes one stored object holding the batch's accepted images one after
the other, and each example records its pack, offset and size. A million-image dump is
then a few hundred objects, written sequentially, instead of a million files; an image is
served by its byte range.

Images are checked (decoded, bounded: validation.image_problem) and packed in the same
read, by `check_and_pack`, in forked child processes when the dump is large enough, so
both cores work while the parent parses the table. Packs are named after the job and its
attempt (`packs/job<id>/a<attempt>/<n>.pack`): everything an attempt wrote is found, and
removed, by that prefix (a failed job, a dead worker's attempt).
"""

import ctypes
import multiprocessing
import os
import signal
import tempfile
import threading
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage

from mlstrat.datasets.images import storage_is_local

from .dumps import UnreadableMember
from .validation import image_problem

# Rows per pack (and per task handed to a child process).
PACK_ROWS = 2000
# Below this many images to check, the parent checks them itself (forking costs more).
PARALLEL_MIN_IMAGES = 4000


def attempt_prefix(*, job_id: int, attempt: int) -> str:
    return f"packs/job{job_id}/a{attempt}"


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


@dataclass
class PackedBatch:
    pack: str | None
    # (line, problem or None, offset, size) per row, in the order given.
    results: list = field(default_factory=list)


def check_and_pack(dump, name: str, items: list[tuple[int, str]]) -> PackedBatch:
    """Read, check and pack the images of (line, path) items; only accepted images go in."""
    writer = PackWriter(name)
    batch = PackedBatch(pack=None)
    try:
        for line, path in items:
            try:
                data = dump.image_bytes(path)
                problem = image_problem(data)
            except UnreadableMember as exc:
                data, problem = None, str(exc)
            if problem:
                batch.results.append((line, problem, 0, 0))
                continue
            offset, size = writer.add(data)
            batch.results.append((line, None, offset, size))
    except BaseException:
        batch.pack = writer.close()
        if batch.pack:
            default_storage.delete(batch.pack)
        raise
    batch.pack = writer.close()
    return batch


# Held by the import's heartbeat thread while it talks to the database, and while the
# children are forked: a child forked while that thread held a lock (in libpq, say) would
# inherit it held. (The hang first blamed on this, a child in futex_wait with the attempt
# alive by its heartbeat, was the SIGTERM handler the children inherited: _child_start.)
FORK_LOCK = threading.Lock()

# The dump the children read, set in the parent before they are forked.
_CHILD_DUMP = None


def _child_start() -> None:
    # Die with the parent (a worker killed with SIGKILL leaves no orphan checking on);
    # Linux only, harmless elsewhere.
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Pool.terminate() stops the children with SIGTERM, and a child forked from a Celery
    # pool process inherits that process's Python handler for it, which does not exit: a
    # child waiting on the task queue's lock (which terminate() holds) then waited for ever
    # and the attempt with it, kept alive by its heartbeat (seen: the pool process in
    # do_wait joining, the child in futex_wait on the queue's SemLock, SIGTERM caught).
    # SIGTERM was blocked across the fork (ImageChecker), so one sent before this line
    # waits, and is taken as it comes once unblocked.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    # Each child reads the archive through its own file: a shared file offset would mix
    # up the reads of several processes.
    _CHILD_DUMP.reopen()


@contextmanager
def _sigterm_blocked():
    """SIGTERM held back in this thread while the children are forked: a child inherits
    the mask, so a SIGTERM reaching it before `_child_start` restored the default action
    is not lost to the inherited handler (a terminate() right after the pool started).
    This process gets any it was sent once the block ends."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _child_check(name: str, items: list[tuple[int, str]]) -> PackedBatch:
    return check_and_pack(_CHILD_DUMP, name, items)


def import_processes() -> int:
    configured = settings.MLSTRAT_IMPORT_PROCESSES
    return configured if configured > 0 else (os.cpu_count() or 1)


class ImageChecker:
    """Hands batches of (line, path) to child processes (or checks them here when the dump
    is small, or one process is configured) and yields their results in order."""

    def __init__(self, *, dump, job_id: int, attempt: int, expected_images: int):
        self.dump = dump
        self.job_id = job_id
        self.attempt = attempt
        self._numbers = 0
        self._pending = deque()
        processes = import_processes()
        self._pool = None
        if processes > 1 and expected_images >= PARALLEL_MIN_IMAGES and dump.can_reopen:
            global _CHILD_DUMP
            _CHILD_DUMP = dump
            # A Celery prefork child is a "daemonic" process, which multiprocessing lets
            # have no children of its own (they could outlive it). Ours cannot: they die
            # with their parent (`_child_start`), so the flag is lifted while they run.
            self._daemon = multiprocessing.current_process()._config.pop("daemon", None)
            context = multiprocessing.get_context("fork")
            with FORK_LOCK, _sigterm_blocked():
                self._pool = context.Pool(processes, initializer=_child_start)
            self._window = 2 * processes

    def submit(self, items: list[tuple[int, str]]):
        """Queue a batch; yields the batches finished meanwhile (oldest first)."""
        self._numbers += 1
        name = pack_name(job_id=self.job_id, attempt=self.attempt, number=self._numbers)
        if self._pool is None:
            yield check_and_pack(self.dump, name, items)
            return
        self._pending.append(self._pool.apply_async(_child_check, (name, items)))
        while len(self._pending) > self._window or (self._pending and self._pending[0].ready()):
            yield self._pending.popleft().get()

    def finish(self):
        while self._pending:
            yield self._pending.popleft().get()

    def close(self) -> None:
        global _CHILD_DUMP
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
            if self._daemon is not None:
                multiprocessing.current_process()._config["daemon"] = self._daemon
        _CHILD_DUMP = None
